"""Would a context model for the zero flags pay? Empirical entropies of the coded streams' flags.

A coded tensor's symbols cost mostly their zero flags (is the symbol nonzero?): in a P-model
about four fifths of the bits. Format 1.3 codes every flag of a tensor under one probability.
This reads existing ``.uar`` streams, decodes every tensor's integers (matrices and larger, at
least 200 elements) and adds up, per model kind, the flags' empirical entropy (bits, the
ideal code length with the probabilities known)

* ``tensor``: one probability per tensor (what the stream codes, less its parameter);
* ``per_out`` / ``per_in``: one per output (first dimension) / input channel (second), plus 6
  bits a channel for its probability;
* ``prev_model``: two, by whether the previous model of the GOM had a nonzero symbol at the
  same place (plus 12 bits);
* ``left``: two, by whether the previous symbol in C order is nonzero (plus 12 bits);

next to the bits the stream really spends on those tensors (``coded``: words and channel mask).
An entropy is a lower bound of what a coder of that model pays, so a context that saves little
here saves less in a stream. No thresholds: the numbers of the streams given. Example::

    python benchmarks/zero_flag_contexts.py bench_out/uar-hnerv__box_cif_120f__gop30/88k-l150.uar
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from uarcodec.bitstream.reader import UarReader
from uarcodec.bitstream.records import ModelKind
from uarcodec.pipeline.model_coding import tensor_codes

MIN_ELEMENTS = 200
CHANNEL_PARAM_BITS = 6
CONTEXT_PARAM_BITS = 12


def entropy_bits(flags: np.ndarray) -> float:
    """Empirical entropy of 0/1 ``flags`` in bits (count times the entropy of their share)."""
    n = flags.size
    ones = int(np.count_nonzero(flags))
    if ones in (0, n):
        return 0.0
    p = ones / n
    return -n * (p * np.log2(p) + (1 - p) * np.log2(1 - p))


def split_bits(flags: np.ndarray, context: np.ndarray) -> float:
    """Entropy of ``flags`` with one probability per value of the 0/1 ``context``."""
    return sum(entropy_bits(flags[context == c]) for c in (0, 1)) + CONTEXT_PARAM_BITS


def per_channel_bits(flags: np.ndarray, axis: int) -> float:
    rows = np.moveaxis(flags, axis, 0).reshape(flags.shape[axis], -1)
    return sum(entropy_bits(r) for r in rows) + CHANNEL_PARAM_BITS * rows.shape[0]


def tally_stream(path: Path, totals: dict[str, dict[str, float]]) -> None:
    with open(path, "rb") as f:
        reader = UarReader(f)
        for entry in reader.index:
            previous: list[np.ndarray] | None = None
            for model in reader.read_gom(entry.index).models:
                codes = [tensor_codes(t) for t in model.tensors]
                row = totals["I" if model.kind == ModelKind.I else "P"]
                for i, (record, q) in enumerate(zip(model.tensors, codes)):
                    if q.ndim < 2 or q.size < MIN_ELEMENTS:
                        continue
                    flags = (q != 0).astype(np.int8)
                    flat = flags.ravel()
                    row["elements"] += flat.size
                    row["coded"] += 8 * record.coded_bytes
                    row["tensor"] += entropy_bits(flat)
                    row["per_out"] += per_channel_bits(flags, 0)
                    row["per_in"] += per_channel_bits(flags, 1)
                    before = previous[i] if previous is not None and previous[i].shape == q.shape else None
                    row["prev_model"] += (entropy_bits(flat) if before is None
                                          else split_bits(flat, (before != 0).ravel().astype(np.int8)))
                    row["left"] += split_bits(flat, np.concatenate([[0], flat[:-1]]))
                previous = codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("streams", nargs="+", type=Path)
    args = parser.parse_args()
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for path in args.streams:
        tally_stream(path, totals)
    columns = ("elements", "coded", "tensor", "per_out", "per_in", "prev_model", "left")
    print("| models | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for kind in sorted(totals):
        row = totals[kind]
        cells = [f"{row['elements']:,.0f}", f"{row['coded']:,.0f}"]
        cells += [f"{row[c]:,.0f} ({100 * row[c] / row['tensor'] - 100:+.1f}%)" if c != "tensor"
                  else f"{row[c]:,.0f}" for c in columns[2:]]
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
