"""The training's rate term on a stream's own grid integers, one torch thread: each model's
latent grids priced (forward and backward) with every value through the network or the
per-tensor Laplace, and with the resting values (0, reading only zeros) or the zero codes priced
once per kind, as the fit does since 0.22.0 (``coding/latent_context.py: RestingSplit``,
``coding/quant.py: rate_bits_together``; docs/latent_grids.md, "Resting values priced once").

* ``context``: the grids' integers in the checkerboard under a network of ``--hidden`` units
  (seeded random weights: the time does not depend on them), as an I-model trains before a
  moving camera;
* ``wavefront``: the same integers and network by wavefronts, the features read from codes that
  carry gradients, as an I-model trains before a still camera (no value is priced apart there:
  the "apart" column is the same computation);
* ``per-tensor``: the same integers under each tensor's Laplace, as a P-model's residuals train.

Each variant is timed ``--rounds`` times after a warm-up and the median kept; the bits of the
two ways are printed side by side (the same to float rounding). No thresholds: the numbers of one
run. Example (a stream of ``uar encode --model latent`` with a context network)::

    python benchmarks/bench_rate_term.py cockatoo.uar --hidden 8 16
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

import uarcodec.coding.latent_context as latent_context
import uarcodec.coding.quant as quant
from uarcodec.bitstream import UarReader
from uarcodec.coding.quant import TensorQuantizer, rate_bits_together, round_ste
from uarcodec.pipeline.breakdown import tensor_specs
from uarcodec.pipeline.model_coding import decode_model
from uarcodec.sysinfo import retain_freed_memory
from uarcodec.vocabulary import ContextOrder, EntropyModel


def model_grids(path: str) -> list[list[np.ndarray]]:
    """The grid integers of every model of the stream's first GOM, finest first."""
    with open(path, "rb") as f:
        reader = UarReader(f)
        header, gom = reader.header, reader.read_gom(0)
    specs = tensor_specs(header, gom.num_frames // len(gom.models))
    layout = latent_context.ContextLayout.of(specs)
    if layout is None:
        raise SystemExit(f"{path}: no context network, no latent grids to price")
    grids, previous = [], None
    for record in gom.models:
        codes, previous = decode_model(record, specs, previous)
        grids.append([codes[i].astype(np.float32) for i in layout.grids])
    return grids


def timed(step: Callable[[], float], rounds: int) -> tuple[float, float]:
    """(median milliseconds, bits) of ``step`` over ``rounds`` after one warm-up call."""
    bits = step()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times), bits


def context_step(grids: list[np.ndarray], hidden: int, order: ContextOrder) -> Callable[[], float]:
    generator = torch.Generator().manual_seed(0)
    network = [torch.randn(hidden, latent_context.FEATURES, generator=generator) * 0.05,
               torch.randn(hidden, generator=generator) * 0.1,
               torch.randn(2, hidden, generator=generator) * 0.1, torch.tensor([0.0, -1.0])]

    def step() -> float:
        thetas = [torch.from_numpy(g).requires_grad_() for g in grids]
        weights = [t.clone().requires_grad_() for t in network]
        codes = ([round_ste(t) for t in thetas] if order == ContextOrder.WAVEFRONT  # as the fit reads them
                 else [torch.round(t.detach()) for t in thetas])
        bits = latent_context.context_rate_bits([round_ste(t) for t in thetas], codes, weights, order)
        bits.backward()
        return float(bits.detach())

    return step


def per_tensor_step(grids: list[np.ndarray]) -> Callable[[], float]:
    def step() -> float:
        quantizers = [TensorQuantizer(1.0) for _ in grids]
        thetas = [torch.from_numpy(g).requires_grad_() for g in grids]
        refs = [torch.zeros_like(t) for t in thetas]
        bits = rate_bits_together(quantizers, thetas, refs, noise=False, model=EntropyModel.LAPLACE,
                                  temporal=[False] * len(grids))
        bits.backward()
        return float(bits.detach())

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stream")
    parser.add_argument("--hidden", type=int, nargs="+", default=[8])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    retain_freed_memory()
    rows = []
    for k, grids in enumerate(model_grids(args.stream)):
        values = sum(g.size for g in grids)
        zero = sum(int((g == 0).sum()) for g in grids) / values
        split = latent_context.RestingSplit.of([torch.from_numpy(g) for g in grids])
        variants = [(f"context, {h} units", context_step(grids, h, ContextOrder.CHECKERBOARD)) for h in args.hidden]
        variants += [(f"wavefront, {h} units", context_step(grids, h, ContextOrder.WAVEFRONT)) for h in args.hidden]
        variants.append(("per-tensor", per_tensor_step(grids)))
        for name, step in variants:
            saved = latent_context.RESTING_SHARE, quant.ZERO_SHARE
            latent_context.RESTING_SHARE = quant.ZERO_SHARE = 2.0  # more than every value: none apart
            every_ms, every_bits = timed(step, args.rounds)
            latent_context.RESTING_SHARE, quant.ZERO_SHARE = saved
            apart_ms, apart_bits = timed(step, args.rounds)
            rows.append({"model": k, "values": values, "zero": zero, "resting": split.resting_count / values,
                         "rate": name, "every_ms": every_ms, "apart_ms": apart_ms,
                         "every_bits": every_bits, "apart_bits": apart_bits})
    print("| model | values | zero | resting | rate | every value (ms) | apart (ms) | bits, every / apart |")
    print("|---:|---:|---:|---:|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['model']} | {r['values']:,} | {r['zero']:.1%} | {r['resting']:.1%} | {r['rate']} | "
              f"{r['every_ms']:.1f} | {r['apart_ms']:.1f} | {r['every_bits']:,.0f} / {r['apart_bits']:,.0f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
