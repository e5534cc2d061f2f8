"""Cost of the INR families on this machine: size, compute, training and decoding speed, memory.

For every registered family at a few coded-parameter targets, on one GOP of 352x288 frames (the
first frames of a real clip when present, else random frames):

* coded parameters and MACs per output pixel (``torch.utils.flop_counter``, convs and matmuls);
* milliseconds per frame of one training step (forward, MSE, backward, Adam) in fp32 and under
  ``torch.autocast("cpu", dtype=torch.bfloat16)``, and the bf16 speed-up of the same run; the
  tensors laid out and the optimiser built as the encoder's fit does
  (``uarcodec.pipeline.fit.conv_layout`` and ``make_optimizer``);
* decoding speed: frames per second of a ``no_grad`` fp32 forward, one frame at a time;
* page faults of a bf16 training step (``ru_minflt``; the encoder's GOM jobs keep freed memory,
  ``uarcodec.sysinfo.retain_freed_memory``, and so does this benchmark unless
  ``--default-allocator``);
* peak resident memory (``resource.getrusage`` max RSS) of a fresh subprocess per configuration
  and mode, next to the RSS of a process that only imports torch and reads the frames.

Prints a markdown table (and ``--json PATH`` writes the rows). No thresholds: numbers of one run,
to compare families and sizes with each other. Example::

    python benchmarks/bench_models.py --families hnerv --sizes 50000 150000 400000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from uarcodec.bitstream.records import ColorMatrix, ColorRange, OutputSpace
from uarcodec.pipeline.training_target import make_target
from uarcodec.sysinfo import atomic_write_text, peak_rss_mb, retain_freed_memory
from uarcodec.video import open_video

DEFAULT_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "vtest_cif_120f.y4m"
WIDTH, HEIGHT = 352, 288
MODES = ("train_fp32", "train_bf16", "decode", "idle")




def load_frames(clip: Path, count: int) -> tuple[torch.Tensor, str]:
    if clip.exists():
        with open_video(str(clip)) as reader:
            video = reader.read(0, count)
        space = (OutputSpace.YUV, ColorMatrix.BT601, ColorRange.LIMITED, torch.device("cpu"))
        frames = make_target(video, *space).network_input_frames()
        if frames.shape[-2:] == (HEIGHT, WIDTH):
            return frames, clip.name
    return torch.rand(count, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(0)), "random"


def measure(args: argparse.Namespace) -> dict[str, object]:
    """One configuration in one mode, run inside its own process."""
    from uarcodec.models import registry
    from uarcodec.models.layers import count_macs
    from uarcodec.pipeline.fit import conv_layout, make_optimizer

    torch.set_num_threads(args.threads)
    if not args.default_allocator:
        retain_freed_memory()  # as the encoder's GOM jobs do
    device = torch.device(args.device)
    frames, source = load_frames(Path(args.clip), args.frames)
    frames = frames.to(device)
    row: dict[str, object] = {"family": args.family, "target": args.size, "mode": args.mode, "source": source}
    if args.mode == "idle":
        row["peak_rss_mb"] = peak_rss_mb()
        return row
    cls = registry.family_by_name(args.family)
    torch.manual_seed(0)
    model = cls(cls.config_for_size(args.size, HEIGHT, WIDTH, args.frames), HEIGHT, WIDTH, args.frames)
    if model.channels_last_training:  # laid out as the encoder's fit lays out the coded tensors
        for p in model.parameters():
            p.data = conv_layout(p.data)
    model = model.to(device)
    row["params"] = model.num_coded_params()
    gen = torch.Generator().manual_seed(1)

    if args.mode == "decode":
        with torch.no_grad():
            row["macs_per_pixel"] = count_macs(model, torch.tensor([0], device=device)) / (HEIGHT * WIDTH)
            for t in range(min(2, args.frames)):
                model(torch.tensor([t], device=device))
            start = _now(device)
            for _ in range(args.decode_rounds):
                for t in range(args.frames):
                    model(torch.tensor([t], device=device))
            seconds = _now(device) - start
        row["decode_fps"] = args.decode_rounds * args.frames / seconds
    else:
        bf16 = args.mode == "train_bf16"
        opt = make_optimizer([{"params": list(model.parameters())}], 1e-3)  # as the encoder's fit

        def step() -> None:
            idx = torch.randperm(args.frames, generator=gen)[: args.batch].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out = model(idx)
            loss = torch.mean((out.float() - frames[idx]) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(args.warmup):
            step()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = _now(device)
        for _ in range(args.steps):
            step()
        seconds = _now(device) - start
        row["ms_per_frame"] = 1000.0 * seconds / (args.steps * args.batch)
        row["page_faults_per_step"] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / args.steps
    row["peak_rss_mb"] = peak_rss_mb()
    return row


def _now(device: torch.device) -> float:
    """Wall time once the device has finished the work queued so far."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def run_worker(args: argparse.Namespace, family: str, size: int, mode: str) -> dict[str, object]:
    cmd = [
        sys.executable, __file__, "--worker", "--family", family, "--size", str(size), "--mode", mode,
        "--clip", str(args.clip), "--frames", str(args.frames), "--batch", str(args.batch),
        "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads),
        "--decode-rounds", str(args.decode_rounds), "--device", args.device,
    ] + (["--default-allocator"] if args.default_allocator else [])  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{family} {size} {mode} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def merge(rows: list[dict[str, object]]) -> dict[str, object]:
    by_mode = {r["mode"]: r for r in rows}
    fp32, bf16, dec = by_mode["train_fp32"], by_mode["train_bf16"], by_mode["decode"]
    return {
        "family": fp32["family"],
        "target": fp32["target"],
        "params": fp32["params"],
        "macs_per_pixel": dec["macs_per_pixel"],
        "train_ms_per_frame_fp32": fp32["ms_per_frame"],
        "train_ms_per_frame_bf16": bf16["ms_per_frame"],
        "bf16_speedup": fp32["ms_per_frame"] / bf16["ms_per_frame"],
        "page_faults_per_step_bf16": bf16["page_faults_per_step"],
        "decode_fps": dec["decode_fps"],
        "peak_rss_mb_train_fp32": fp32["peak_rss_mb"],
        "peak_rss_mb_train_bf16": bf16["peak_rss_mb"],
        "peak_rss_mb_decode": dec["peak_rss_mb"],
    }


TABLE_HEAD = (
    "| family | target | params | MACs/px | train ms/frame fp32 | bf16 | bf16 speed-up | page faults/step bf16 "
    "| decode fps | peak RSS MB train fp32 / bf16 / decode |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def markdown_row(r: dict[str, object]) -> str:
    return (
        f"| {r['family']} | {r['target']:,} | {r['params']:,} | {r['macs_per_pixel']:,.0f} "
        f"| {r['train_ms_per_frame_fp32']:.1f} | {r['train_ms_per_frame_bf16']:.1f} "
        f"| {r['bf16_speedup']:.2f}x | {r['page_faults_per_step_bf16']:,.0f} | {r['decode_fps']:.1f} "
        f"| {r['peak_rss_mb_train_fp32']:.0f} / {r['peak_rss_mb_train_bf16']:.0f} / {r['peak_rss_mb_decode']:.0f} |"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--families", nargs="+", help="family names (default: every registered family)")
    p.add_argument("--sizes", nargs="+", type=int, default=[50_000, 150_000, 400_000], help="coded-parameter targets")
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="352x288 y4m clip (random frames if absent)")
    p.add_argument("--frames", type=int, default=8, help="frames in the GOP")
    p.add_argument("--batch", type=int, default=1, help="frames per training step")
    p.add_argument("--steps", type=int, default=10, help="timed training steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    p.add_argument("--decode-rounds", type=int, default=3, help="passes over the GOP when timing decoding")
    p.add_argument("--threads", type=int, default=1, help="torch threads in each measurement")
    p.add_argument("--device", default="cpu", help="cpu or cuda (timings wait for the device)")
    p.add_argument("--default-allocator", action="store_true",
                   help="leave the C allocator's defaults (the encoder keeps freed memory: sysinfo.retain_freed_memory)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--family", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def reachable(family: str, size: int, frames: int) -> bool:
    """Whether the family can be sized to ``size`` here; if not, says so on stderr (the latent
    grids' frame sets a floor and a ceiling on their size)."""
    from uarcodec.errors import UarSettingsError
    from uarcodec.models import registry

    try:
        registry.family_by_name(family).config_for_size(size, HEIGHT, WIDTH, frames)
    except UarSettingsError as exc:
        print(f"skipped {family} {size:,}: {exc}", file=sys.stderr, flush=True)
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args)))
        return
    from uarcodec.models import registry

    families = args.families or sorted(registry.families())
    idle = run_worker(args, families[0], 0, "idle")
    print(f"GOP: {args.frames} frames of {WIDTH}x{HEIGHT} from {idle['source']}, batch {args.batch}, "
          f"{args.threads} thread(s), device {args.device}, torch {torch.__version__}", file=sys.stderr)  # fmt: skip
    print(TABLE_HEAD, flush=True)  # each row as it is measured: a run cut short keeps its rows
    results = []
    for family in families:
        for size in args.sizes:
            if not reachable(family, size, args.frames):
                continue
            rows = [run_worker(args, family, size, mode) for mode in ("train_fp32", "train_bf16", "decode")]
            results.append(merge(rows))
            print(markdown_row(results[-1]), flush=True)
    print(f"\nRSS of a process that only imports torch and reads the frames: {float(idle['peak_rss_mb']):.0f} MB.")
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
