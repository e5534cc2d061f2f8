"""Where a training step's time goes: the encoder's own fit (``GopCoder.code``, as ``uar
encode`` runs it: RQEC rate term, precision ``auto``, HNeRV's training encoder) of one GOP of a
real CIF clip, profiled with ``torch.profiler``, split by the phases ``pipeline/fit.py`` labels:

* ``uar.training_encoder`` (HNeRV: the content encoder that computes the embeddings),
* ``uar.quantizer`` (straight-through quantization of every coded tensor),
* ``uar.forward`` (the network, under bf16 autocast where ``auto`` picks it),
* ``uar.distortion`` (the YUV 6:1:1 MSE on 4:2:0 planes),
* ``uar.rate`` (the per-tensor rate estimate),
* ``uar.backward`` and ``uar.optimizer`` (Adam and the learning-rate schedule),

and "other": the rest of the step's wall time (Python, bookkeeping, batch selection). The
first epoch is a warm-up and is not counted. Each configuration runs in a fresh process, one
torch thread. No thresholds: the numbers of one run. Example::

    python benchmarks/profile_step.py --families hnerv hinerv --sizes 50000 150000 400000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

PHASES = ("training_encoder", "quantizer", "forward", "distortion", "rate", "backward", "optimizer")
DEFAULT_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "vtest_cif_120f.y4m"


def measure(family: str, size: int, frames: int, epochs: int, clip: str) -> dict[str, float]:
    """One configuration in this process: ms per step of each phase and of the whole step."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from uarcodec.pipeline.gop_coding import GopCoder
    from uarcodec.pipeline.plan import stream_header
    from uarcodec.settings import EncoderSettings, TrainingSettings
    from uarcodec.sysinfo import retain_freed_memory
    from uarcodec.video import open_video

    torch.set_num_threads(1)
    retain_freed_memory()  # as the encoder's GOM jobs do
    with open_video(clip) as reader:
        video, info = reader.read(0, frames), reader.info
    settings = EncoderSettings(gop_size=frames, gom_size=1, family=family, model_size=size,
                               training=TrainingSettings(epochs_i=epochs + 1, batch_size=1))
    device = torch.device("cpu")
    coder = GopCoder(stream_header(info, frames, settings, device), settings, device)
    marks: list[float] = []
    prof = profile(activities=[ProfilerActivity.CPU])

    def on_epoch(progress) -> None:
        marks.append(time.perf_counter())
        if progress.epoch == 1:  # warm-up done: profile the timed epochs
            prof.start()

    coder.code(video, 0, 1.0, None, on_epoch=on_epoch)
    prof.stop()
    steps = epochs * frames
    totals = {e.key: e.cpu_time_total for e in prof.key_averages() if e.key.startswith("uar.")}
    row = {p: totals.get(f"uar.{p}", 0.0) / 1000.0 / steps for p in PHASES}
    row["step"] = 1000.0 * (marks[-1] - marks[0]) / steps
    row["other"] = max(0.0, row["step"] - sum(row[p] for p in PHASES))
    return row


def markdown(rows: list[dict]) -> str:
    head = "| family | size | step ms | " + " | ".join(PHASES) + " | other |"
    lines = [head, "|---|---:|---:|" + "---:|" * (len(PHASES) + 1)]
    for r in rows:
        cells = " | ".join(f"{r[p]:.1f} ({100 * r[p] / r['step']:.0f}%)" for p in (*PHASES, "other"))
        lines.append(f"| {r['family']} | {r['size']:,} | {r['step']:.1f} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=["hnerv", "hinerv"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[50_000, 150_000, 400_000])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3, help="profiled epochs (after one warm-up epoch)")
    parser.add_argument("--clip", default=str(DEFAULT_CLIP))
    parser.add_argument("--json")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker[0], int(args.worker[1]), args.frames, args.epochs, args.clip)))
        return
    rows = []
    for family in args.families:
        for size in args.sizes:
            cmd = [sys.executable, __file__, "--worker", family, str(size), "--frames", str(args.frames),
                   "--epochs", str(args.epochs), "--clip", args.clip]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rows.append({"family": family, "size": size, **json.loads(done.stdout.strip().splitlines()[-1])})
            print(f"  done {family} {size}", file=sys.stderr)
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
