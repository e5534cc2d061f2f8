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
first epoch is a warm-up and is not counted; the second is timed without the profiler ("step
unprofiled": the profiler's own cost per op inflates a step of many small ops, as on CUDA). Each configuration runs in a fresh process, one
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


def measure(family: str, size: int, frames: int, epochs: int, clip: str, device_name: str = "cpu",
            top: int = 0, cudnn_benchmark: bool = False, channels_last: bool = True,
            latent_motion: int | None = None, latent_motion_block: int | None = None,
            compile: bool = False) -> dict[str, object]:
    """One configuration in this process: ms per step of each phase and of the whole step (on
    CUDA: the host's time, which bounds a step of kernels this small), of a step without the
    profiler, the seconds of the GOP's coding before the timed epochs (setup and the warm-up
    epoch) and after the last (coding, decoding back), and the ``top`` ops by self time. The
    next two arguments are experiments: cuDNN's autotuner on, and the family's channels-last
    training layout (chosen for the CPU's oneDNN) off; ``latent_motion``: the latent grids'
    motion margin in pixels (none by default), ``latent_motion_block``: their motion field's
    block (none by default; the field starts from the block-matching estimate); ``compile``: the
    network's forward through ``torch.compile``, as ``uar encode --compile`` trains (compiled in
    the warm-up epoch, so its seconds are in ``seconds_before_epochs``)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from uarcodec.pipeline.gop_coding import GopCoder
    from uarcodec.pipeline.plan import stream_header
    from uarcodec.settings import EncoderSettings, TrainingSettings
    from uarcodec.sysinfo import retain_freed_memory
    from uarcodec.video import open_video

    from uarcodec.models import registry

    torch.set_num_threads(1)
    torch.backends.cudnn.benchmark = cudnn_benchmark
    if not channels_last:
        registry.family_by_name(family).channels_last_training = False
    retain_freed_memory()  # as the encoder's GOM jobs do
    with open_video(clip) as reader:
        video, info = reader.read(0, frames), reader.info
    settings = EncoderSettings(gop_size=frames, gom_size=1, family=family, model_size=size,
                               training=TrainingSettings(epochs_i=epochs + 2, batch_size=1, compile=compile),
                               latent_motion=latent_motion,
                               latent_motion_block=latent_motion_block)
    device = torch.device(device_name)
    coder = GopCoder(stream_header(info, frames, settings, device), settings, device)
    marks: list[float] = []
    prof = profile(activities=[ProfilerActivity.CPU])

    def on_epoch(progress) -> None:
        marks.append(time.perf_counter())
        if progress.epoch == 2:  # warm-up and the unprofiled epoch done: profile the rest
            prof.start()

    start = time.perf_counter()
    coder.code(video, 0, 1.0, None, on_epoch=on_epoch)
    end = time.perf_counter()
    prof.stop()
    steps = epochs * frames
    totals = {e.key: e.cpu_time_total for e in prof.key_averages() if e.key.startswith("uar.")}
    row = {p: totals.get(f"uar.{p}", 0.0) / 1000.0 / steps for p in PHASES}
    row["step"] = 1000.0 * (marks[-1] - marks[1]) / steps
    row["step_unprofiled"] = 1000.0 * (marks[1] - marks[0]) / frames
    row["other"] = max(0.0, row["step"] - sum(row[p] for p in PHASES))
    row["seconds_before_epochs"] = marks[0] - start
    row["seconds_after_epochs"] = end - marks[-1]
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    row["top"] = [
        [e.key, e.self_cpu_time_total / 1000.0 / steps, e.count / steps] for e in ops if not e.key.startswith("uar.")
    ][:top]
    return row


def markdown(rows: list[dict]) -> str:
    head = "| family | size | step ms unprofiled | step ms | " + " | ".join(PHASES) + " | other |"
    lines = [head, "|---|---:|---:|---:|" + "---:|" * (len(PHASES) + 1)]
    for r in rows:
        cells = " | ".join(f"{r[p]:.1f} ({100 * r[p] / r['step']:.0f}%)" for p in (*PHASES, "other"))
        lines.append(f"| {r['family']} | {r['size']:,} | {r['step_unprofiled']:.1f} | {r['step']:.1f} | {cells} |")
    for r in rows:
        lines.append(f"\n{r['family']} {r['size']:,}: {r['seconds_before_epochs']:.1f} s before the timed epochs "
                     f"(setup, warm-up epoch) and {r['seconds_after_epochs']:.1f} s after the last (coding, decoding back)")
        if r["top"]:
            lines.append("\n| op | self ms per step | calls per step |\n|---|---:|---:|")
            lines += [f"| `{k}` | {ms:.2f} | {n:.1f} |" for k, ms, n in r["top"]]
    return "\n".join(lines) + "\n"


def _latent_options(family: str, args: argparse.Namespace) -> list[str]:
    """The motion options, for the latent family only (the others have no such field)."""
    if family != "latent":
        return []
    return ([] if args.latent_motion is None else ["--latent-motion", str(args.latent_motion)]) \
        + ([] if args.latent_motion_block is None else ["--latent-motion-block", str(args.latent_motion_block)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=["hnerv", "hinerv"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[50_000, 150_000, 400_000])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3, help="profiled epochs (after a warm-up epoch and an unprofiled timed one)")
    parser.add_argument("--clip", default=str(DEFAULT_CLIP))
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--top", type=int, default=0, help="also list the N ops of most self time")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="experiment: cuDNN's autotuner on")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                        help="experiment: convolutions in the default layout, not channels-last")
    parser.add_argument("--latent-motion", type=int, help="--families latent: a motion margin in pixels")
    parser.add_argument("--latent-motion-block", type=int,
                        help="--families latent: a motion field's block in pixels (with --latent-motion)")
    parser.add_argument("--compile", action="store_true",
                        help="experiment: the network's forward through torch.compile (uar encode --compile)")
    parser.add_argument("--json")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker[0], int(args.worker[1]), args.frames, args.epochs, args.clip,
                                 args.device, args.top, args.cudnn_benchmark, args.channels_last,
                                 args.latent_motion, args.latent_motion_block, args.compile)))
        return
    rows = []
    for family in args.families:
        for size in args.sizes:
            cmd = [sys.executable, __file__, "--worker", family, str(size), "--frames", str(args.frames),
                   "--epochs", str(args.epochs), "--clip", args.clip, "--device", args.device,
                   "--top", str(args.top)] + (["--cudnn-benchmark"] if args.cudnn_benchmark else []) \
                + ([] if args.channels_last else ["--no-channels-last"]) \
                + (["--compile"] if args.compile else []) \
                + _latent_options(family, args)
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{family} {size} failed:\n{done.stderr.strip()}")
            rows.append({"family": family, "size": size, **json.loads(done.stdout.strip().splitlines()[-1])})
            print(f"  done {family} {size}", file=sys.stderr, flush=True)
    experiments = [e for e, on in (("cuDNN autotuner on", args.cudnn_benchmark),
                                   ("channels-last off", not args.channels_last),
                                   ("torch.compile", args.compile)) if on]
    print(f"device {args.device}" + "".join(f", {e}" for e in experiments) + "\n")
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
