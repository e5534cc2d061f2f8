"""Decode speed of a stream on this machine, split into its phases, one torch thread:

* ``parse``: reading and checking every GOM's chunk (``UarReader.read_gom``);
* ``entropy``: every model's integers (context-coded grids included) and their rebuild into
  float32 tensors (``rebuild_params``);
* ``synthesis``: loading each network and rendering its frames to 8-bit 4:2:0
  (``load_model`` + ``render_gop``);

then the whole ``uar decode`` path (``uarcodec.api.decode`` to a ``.yuv`` in a temporary
folder, the writer included). Reports frames per second of each phase alone and of the sum,
and the end-to-end rate; ``--rounds`` repeats the phases and keeps the fastest round. No
thresholds: the numbers of one run. Example (a stream of ``uar encode`` of a CIF clip)::

    python benchmarks/bench_decode.py out.uar --rounds 3 --json decode.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from uarcodec.api import decode
from uarcodec.bitstream import UarReader
from uarcodec.pipeline.rebuild import load_model, rebuild_params
from uarcodec.pipeline.render import render_gop


def phase_seconds(path: Path) -> dict[str, float]:
    """Seconds of each phase over the whole stream, and its frame count."""
    seconds = {"parse": 0.0, "entropy": 0.0, "synthesis": 0.0}
    device = torch.device("cpu")
    with open(path, "rb") as f:
        reader = UarReader(f)
        header = reader.header
        v, c = header.video, header.coding
        for k in range(len(reader.index)):
            t0 = time.perf_counter()
            gom = reader.read_gom(k)
            seconds["parse"] += time.perf_counter() - t0
            prev_hat = None
            for record in gom.models:
                t0 = time.perf_counter()
                skeleton, theta_hat = rebuild_params(header, record, prev_hat)
                t1 = time.perf_counter()
                model = load_model(skeleton, theta_hat, device)
                render_gop(model, record.num_frames, c.output_space, v.color_matrix, v.color_range, device,
                           range(record.num_frames))
                t2 = time.perf_counter()
                seconds["entropy"] += t1 - t0
                seconds["synthesis"] += t2 - t1
                prev_hat = theta_hat
    return {**seconds, "frames": header.video.num_frames}


def end_to_end_seconds(path: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        decode(path, str(Path(tmp) / "out.yuv"), device="cpu", workers=1, threads_per_worker=1)
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stream", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rounds = [phase_seconds(args.stream) for _ in range(args.rounds)]
    best = min(rounds, key=lambda r: r["parse"] + r["entropy"] + r["synthesis"])
    frames = best["frames"]
    whole = min(end_to_end_seconds(args.stream) for _ in range(args.rounds))
    total = best["parse"] + best["entropy"] + best["synthesis"]
    result = {
        "stream": str(args.stream), "frames": frames, "threads": 1,
        **{f"{k}_s": round(best[k], 4) for k in ("parse", "entropy", "synthesis")},
        **{f"{k}_fps": round(frames / best[k], 1) if best[k] else None for k in ("parse", "entropy", "synthesis")},
        "phases_fps": round(frames / total, 1),
        "end_to_end_s": round(whole, 3),
        "end_to_end_fps": round(frames / whole, 1),
    }
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
