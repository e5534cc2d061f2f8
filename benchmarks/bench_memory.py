"""Memory and speed of uarcodec: the paper's Table II, its memory claim, and one whole-video model
against per-GOP UAR models (paper Section IV-C).

Every measurement runs in a fresh subprocess of this script (``--worker``), so its peak
resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) belongs to that configuration
alone and includes starting Python and importing torch. Every worker calls
``torch.set_num_threads(--threads)`` and runs on the CPU; precision is the encoder's
``--precision auto`` (bf16 autocast on CPUs with AMX or AVX512-BF16, else fp32).

Three sections, chosen by ``--tables steps,gops,whole`` (default all):

* **steps** (Table II): for each p, model size and batch size, the worker reads the first p
  frames of the clip and codes them as one I-model with the encoder's own code
  (:meth:`uarcodec.pipeline.gop_coding.GopCoder.code`, as ``uar encode`` does: RQEC rate
  term, bf16 autocast as ``auto`` resolves, the HNeRV training encoder trained jointly; the
  default preset's training settings with ``epochs_i = warm-up + timed epochs`` and the batch
  size). *What is timed*: the wall time between the fit's progress callback at the end of the
  last warm-up epoch and the one at the end of the last epoch, i.e. whole epochs of real
  training steps (training encoder forward, fake quantization, network forward, rate and
  distortion, backward, Adam, learning-rate schedule); with ``--warmup-epochs 0`` the span
  starts at the ``GopCoder.code`` call and so also holds the fit's set-up (content init, the
  training encoder over all frames). ms/frame = timed seconds / (timed epochs * p), ms/step =
  timed seconds / (timed epochs * ceil(p / batch)). Peak RSS is that of the whole worker
  (set-up, warm-up, training, then coding and rendering the model). MACs per pixel are counted
  by ``uarcodec.models.layers.count_macs`` on one frame: the network's forward (what a decoder
  runs; the paper's MACs) and, separately, the training encoder's. An idle worker per p (imports
  torch and uarcodec, reads the p frames) gives the RSS to subtract.
* **gops** (the memory claim): encode 1 GOM against N GOMs of the same p and m with
  ``uarcodec.api.encode``; peak RSS and its ratio to the first row.
* **whole**: ``--frames`` frames coded as one model (p = frames, m = 1, ``--whole-size``) against
  per-GOP UAR models (p = ``--uar-gop``, m = ceil(frames / p), ``--uar-size``), both with the
  training of ``--preset``. Per encode: bpp (file size), PSNR-YUV and MS-SSIM of the decoded
  frames (the encoder's report), encode seconds (inside ``api.encode``), peak RSS of the encode
  process; then the ``.uar`` is decoded by a separate process through
  ``uarcodec.api.open_stream(...).frames()``: frames per second (opening the stream and
  producing the frames, nothing written) and its peak RSS.

Prints markdown (``--out-md PATH`` also writes it, ``--json PATH`` writes every row) and
progress lines on stderr. No thresholds: numbers of one run on this machine. Example::

    python benchmarks/bench_memory.py --tables steps --gops 6 30 --batches 1 2 --json steps.json
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "vtest_cif_120f.y4m"
TABLES = ("steps", "gops", "whole")
FAMILY = "hnerv"

Row = dict[str, Any]


# --------------------------------------------------------------------------------------------
# Workers (each runs in its own process)
# --------------------------------------------------------------------------------------------


def max_rss_mb() -> float:
    """This worker's peak RSS, as the encoder reports it (imported here: workers import lazily)."""
    from uarcodec.sysinfo import peak_rss_mb

    return peak_rss_mb()


def read_clip(path: str, count: int):
    from uarcodec.video import open_video

    with open_video(path) as reader:
        return reader.info, reader.read(0, min(count, reader.info.num_frames))


def work_idle(spec: Row) -> Row:
    """RSS of a process that imports torch and uarcodec and reads (and converts) p frames."""
    import torch

    from uarcodec.pipeline.training_target import make_target

    info, clip = read_clip(spec["clip"], spec["p"])
    make_target(clip, _yuv_space(), info.color_matrix, info.color_range, torch.device("cpu"))
    return {"p": spec["p"], "frames": clip.num_frames, "peak_rss_mb": max_rss_mb()}


def _yuv_space():
    from uarcodec.bitstream.records import OutputSpace

    return OutputSpace.YUV


def work_steps(spec: Row) -> Row:
    """One I-model fitted by the encoder's own code; timed from the fit's epoch callbacks."""
    import torch

    from uarcodec.models.registry import family_by_name
    from uarcodec.pipeline.gop_coding import GopCoder
    from uarcodec.pipeline.plan import stream_header
    from uarcodec.settings import DEFAULT_PRESET, EncoderSettings, preset_training

    info, clip = read_clip(spec["clip"], spec["p"])
    n, warmup, epochs, batch = clip.num_frames, spec["warmup_epochs"], spec["epochs"], spec["batch"]
    training = preset_training(DEFAULT_PRESET, spec["p"], epochs_i=warmup + epochs, batch_size=batch)
    settings = EncoderSettings(gop_size=spec["p"], gom_size=1, family=FAMILY, model_size=spec["size"],
                               training=training, preset=DEFAULT_PRESET)
    config = family_by_name(FAMILY).config_for_size(spec["size"], info.height, info.width, n)
    coder = GopCoder(stream_header(info, n, settings, torch.device("cpu")), settings, torch.device("cpu"))
    marks: list[float] = []
    start = time.perf_counter()
    coded = coder.code(clip, 0, 1.0, None, on_epoch=lambda _: marks.append(time.perf_counter()))
    peak = max_rss_mb()
    seconds = marks[-1] - (marks[warmup - 1] if warmup else start)
    model = family_by_name(FAMILY)(config, info.height, info.width, n)
    pixels = info.width * info.height
    return {
        "p": spec["p"], "frames": n, "target": spec["size"], "params": model.num_coded_params(),
        "batch": batch, "macs_per_pixel": _macs(model, torch.tensor([0])) / pixels,
        "encoder_macs_per_pixel": _macs(model.training_encoder(), torch.rand(1, 3, info.height, info.width)) / pixels,
        "warmup_epochs": warmup, "timed_epochs": epochs, "timed_seconds": seconds,
        "ms_per_frame": 1000.0 * seconds / (epochs * n),
        "ms_per_step": 1000.0 * seconds / (epochs * math.ceil(n / batch)),
        "encode_gop_seconds": time.perf_counter() - start, "coded_bytes": coded.coded_bytes,
        "peak_rss_mb": peak,
    }


def _macs(module, *args) -> int:
    import torch

    from uarcodec.models.layers import count_macs

    with torch.no_grad():
        return count_macs(module, *args)


def work_encode(spec: Row) -> Row:
    """One ``uarcodec.api.encode`` of ``spec["frames"]`` frames into ``spec["output"]``."""
    from uarcodec import api
    from uarcodec.settings import DEFAULT_PRESET, EncoderSettings, TrainingSettings, parse_size, preset_training

    p, m, size = spec["p"], spec["m"], parse_size(str(spec["size"]))
    if spec.get("preset"):  # the preset's training; else its label stays the default, epochs as given
        training, preset = preset_training(spec["preset"], p), spec["preset"]
    else:
        training, preset = TrainingSettings(epochs_i=spec["epochs"], epochs_p=spec["epochs"], batch_size=1), DEFAULT_PRESET
    settings = EncoderSettings(gop_size=p, gom_size=m, family=FAMILY, model_size=size,
                               training=training, preset=preset)
    report = api.encode(spec["clip"], spec["output"], settings, frames=spec["frames"], device="cpu", overwrite=True)
    peak = max_rss_mb()
    models = [model for g in api.stream_info(spec["output"])["goms"] for model in g["models"]]
    return {
        "frames": report.num_frames, "goms": report.num_goms, "models": len(models),
        "params": sum(model["params"] for model in models),
        "epochs_i": training.epochs_i, "epochs_p": training.epochs_p,
        "bpp": report.bpp, "psnr_yuv": report.psnr_yuv, "ms_ssim": report.ms_ssim,
        "encode_seconds": report.encode_seconds, "peak_rss_mb": peak,
    }


def work_decode(spec: Row) -> Row:
    """Decode a whole .uar through the API, frames kept in memory only."""
    from uarcodec import api

    start = time.perf_counter()
    frames = 0
    with api.open_stream(spec["stream"]) as stream:
        for clip in stream.frames(device="cpu"):
            frames += clip.num_frames
    seconds = time.perf_counter() - start
    return {"frames": frames, "decode_seconds": seconds, "decode_fps": frames / seconds,
            "peak_rss_mb": max_rss_mb()}


WORKERS = {"idle": work_idle, "steps": work_steps, "encode": work_encode, "decode": work_decode}


def worker_main(kind: str, spec_json: str) -> None:
    import torch

    spec = json.loads(spec_json)
    torch.set_num_threads(spec["threads"])
    print(json.dumps(WORKERS[kind](spec)))


def run_worker(kind: str, spec: Row) -> Row:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, json.dumps(spec)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{kind} worker failed ({json.dumps(spec)}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# Sections (in the parent process)
# --------------------------------------------------------------------------------------------


def progress(text: str, end: str = "\n") -> None:
    print(text, end=end, file=sys.stderr, flush=True)


def label(size: int) -> str:
    from uarcodec.sizing import size_label

    return size_label(size)


def steps_sizes(args: argparse.Namespace, info, p: int) -> list[int]:
    from uarcodec.sizing import default_sizes
    from uarcodec.settings import parse_size

    if args.sizes:
        return [parse_size(s) for s in args.sizes]
    return list(default_sizes(FAMILY, info.width, info.height, p, min(p, info.num_frames)))


def run_steps(args: argparse.Namespace, info) -> tuple[list[Row], list[Row]]:
    base = {"clip": str(args.clip), "threads": args.threads}
    rows, idle = [], []
    for p in args.gops:
        sizes = steps_sizes(args, info, p)
        progress(f"steps p={p}: sizes {', '.join(label(s) for s in sizes)}")
        idle.append(run_worker("idle", {**base, "p": p}))
        for size in sizes:
            for batch in args.batches:
                progress(f"steps p={p} {label(size)} bs={batch} ...", end="")
                spec = {**base, "p": p, "size": size, "batch": batch, "epochs": args.epochs,
                        "warmup_epochs": args.warmup_epochs}
                row = run_worker("steps", spec)
                progress(f" {row['ms_per_frame']:.1f} ms/frame, {row['peak_rss_mb']:.0f} MB")
                rows.append(row)
    return rows, idle


def steps_markdown(rows: list[Row], idle: list[Row], args: argparse.Namespace) -> str:
    lines = [
        f"Training cost of one I-model (the encoder's fit): {args.epochs} timed epoch(s) after "
        f"{args.warmup_epochs} warm-up epoch(s).\n",
        "| p | frames | target | params | batch | MACs/px | train-encoder MACs/px | ms/frame | ms/step "
        "| peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['p']} | {r['frames']} | {label(r['target'])} | {r['params']:,} | {r['batch']} "
            f"| {r['macs_per_pixel']:,.0f} | {r['encoder_macs_per_pixel']:,.0f} | {r['ms_per_frame']:.1f} "
            f"| {r['ms_per_step']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    idle_text = ", ".join(f"p={r['p']}: {r['peak_rss_mb']:.0f} MB" for r in idle)
    lines.append(f"\nRSS of a process that only imports torch and uarcodec and reads the frames: {idle_text}.")
    return "\n".join(lines)


def run_gops(args: argparse.Namespace) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.goms:
            progress(f"gops p={args.gom_p} m={args.gom_m} goms={n} {args.gom_model_size} ...", end="")
            spec = {"clip": str(args.clip), "threads": args.threads, "p": args.gom_p, "m": args.gom_m,
                    "size": args.gom_model_size, "epochs": args.gom_epochs,
                    "frames": args.gom_p * args.gom_m * n, "output": str(Path(tmp) / f"goms{n}.uar")}
            row = {"goms_asked": n, **run_worker("encode", spec)}
            progress(f" {row['peak_rss_mb']:.0f} MB, {row['encode_seconds']:.1f} s")
            rows.append(row)
    for r in rows:
        r["rss_vs_first"] = r["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    return rows


def gops_markdown(rows: list[Row], args: argparse.Namespace) -> str:
    lines = [
        f"Encoding N GOMs at p={args.gom_p}, m={args.gom_m}, {args.gom_model_size} parameters per model, "
        f"{args.gom_epochs} epochs per model.\n",
        "| GOMs | frames | peak RSS MB | vs first | encode s | bpp | PSNR-YUV |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['goms']} | {r['frames']} | {r['peak_rss_mb']:.0f} | {r['rss_vs_first']:.3f} "
            f"| {r['encode_seconds']:.1f} | {r['bpp']:.4f} | {r['psnr_yuv']:.2f} |"
        )
    return "\n".join(lines)


def whole_sizes(args: argparse.Namespace, info) -> tuple[list[int], list[int]]:
    from uarcodec.sizing import default_sizes, parse_sizes

    frames = min(args.frames, info.num_frames)
    gops = math.ceil(frames / args.uar_gop)
    if args.uar_size:
        uar = list(parse_sizes(args.uar_size))
    else:
        uar = [default_sizes(FAMILY, info.width, info.height, args.uar_gop, min(args.uar_gop, frames))[1]]
    whole = list(parse_sizes(args.whole_size)) if args.whole_size else [gops * uar[0]]
    return whole, uar


def run_whole(args: argparse.Namespace, info) -> list[Row]:
    frames = min(args.frames, info.num_frames)
    whole, uar = whole_sizes(args, info)
    configs = [("whole", frames, 1, s) for s in whole]
    configs += [("UAR", args.uar_gop, math.ceil(frames / args.uar_gop), s) for s in uar]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, p, m, size in configs:
            rows.append(whole_row(args, Path(tmp), kind, p, m, size, frames))
    return rows


def _training_label(args: argparse.Namespace) -> str:
    return f"{args.whole_epochs} epochs per model" if args.whole_epochs else f"preset {args.preset}"


def whole_row(args: argparse.Namespace, tmp: Path, kind: str, p: int, m: int, size: int, frames: int) -> Row:
    out = tmp / f"{kind}_{size}.uar"
    base = {"clip": str(args.clip), "threads": args.threads}
    progress(f"whole {kind} p={p} m={m} {label(size)} encode ...", end="")
    training = {"epochs": args.whole_epochs} if args.whole_epochs else {"preset": args.preset}
    enc = run_worker("encode", {**base, "p": p, "m": m, "size": size, **training,
                                "frames": frames, "output": str(out)})
    progress(f" {enc['bpp']:.4f} bpp, {enc['psnr_yuv']:.2f} dB, {enc['encode_seconds']:.1f} s; decode ...", end="")
    dec = run_worker("decode", {**base, "stream": str(out)})
    progress(f" {dec['decode_fps']:.1f} fps")
    encode_rss = enc.pop("peak_rss_mb")
    return {
        "kind": kind, "p": p, "m": m, "target": size, "preset": _training_label(args), **enc,
        "encode_peak_rss_mb": encode_rss, "decode_fps": dec["decode_fps"],
        "decode_seconds": dec["decode_seconds"], "decode_peak_rss_mb": dec["peak_rss_mb"],
    }


def nearest_pairs(rows: list[Row]) -> list[Row]:
    """For each whole-video row, the UAR row nearest in bpp."""
    uar = [r for r in rows if r["kind"] == "UAR"]
    pairs = []
    for w in (r for r in rows if r["kind"] == "whole"):
        u = min(uar, key=lambda r: abs(math.log(r["bpp"] / w["bpp"])))
        pairs.append({"whole": w["target"], "uar": u["target"], "whole_bpp": w["bpp"], "uar_bpp": u["bpp"],
                      "bpp_diff": u["bpp"] / w["bpp"] - 1.0})
    return pairs


def whole_markdown(rows: list[Row], pairs: list[Row], args: argparse.Namespace) -> str:
    lines = [
        f"One whole-video model against per-GOP UAR models, {rows[0]['frames']} frames, {_training_label(args)}.\n",
        "| model | p | m | models | params/model | total params | bpp | PSNR-YUV | MS-SSIM | encode s "
        "| encode peak RSS MB | decode fps | decode peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ssim = "-" if r["ms_ssim"] is None else f"{r['ms_ssim']:.4f}"
        lines.append(
            f"| {r['kind']} | {r['p']} | {r['m']} | {r['models']} | {label(r['target'])} | {r['params']:,} "
            f"| {r['bpp']:.4f} | {r['psnr_yuv']:.2f} | {ssim} | {r['encode_seconds']:.1f} "
            f"| {r['encode_peak_rss_mb']:.0f} | {r['decode_fps']:.1f} | {r['decode_peak_rss_mb']:.0f} |"
        )
    notes = "; ".join(
        f"whole {label(q['whole'])} ({q['whole_bpp']:.4f} bpp) with UAR {label(q['uar'])} "
        f"({q['uar_bpp']:.4f} bpp, {100 * q['bpp_diff']:+.1f}%)"
        for q in pairs
    )
    lines.append(f"\nRows to compare at nearly equal bpp: {notes}.")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine_meta(args: argparse.Namespace, info) -> Row:
    import torch

    from uarcodec.pipeline.fit import resolve_precision
    from uarcodec.settings import Precision

    return {
        "clip": Path(args.clip).name, "width": info.width, "height": info.height, "clip_frames": info.num_frames,
        "threads": args.threads, "precision": resolve_precision(Precision.AUTO, torch.device("cpu")).value,
        "torch": torch.__version__, "cpu": cpu_name(),
    }


def machine_line(meta: Row) -> str:
    precision = "bf16 autocast" if meta["precision"] == "bf16" else "fp32"
    return (f"clip {meta['clip']} ({meta['width']}x{meta['height']}, {meta['clip_frames']} frames), "
            f"{meta['threads']} thread(s), precision auto -> {precision}, torch {meta['torch']}, CPU {meta['cpu']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", default=",".join(TABLES), help="comma list of steps, gops, whole")
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="y4m clip (default vtest_cif_120f.y4m)")
    p.add_argument("--threads", type=int, default=1, help="torch threads in every worker")
    p.add_argument("--json", type=Path, help="write every row here")
    p.add_argument("--out-md", type=Path, help="write the markdown here")
    g = p.add_argument_group("steps (Table II)")
    g.add_argument("--gops", type=int, nargs="+", default=[6, 30, 120], help="p values")
    g.add_argument("--sizes", nargs="+", help="model sizes, e.g. 50k 150k (default: default_sizes at each p)")
    g.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4], help="batch sizes")
    g.add_argument("--epochs", type=int, default=1, help="timed epochs")
    g.add_argument("--warmup-epochs", type=int, default=1, help="untimed epochs first (same fit)")
    g = p.add_argument_group("gops (1 GOM against N GOMs)")
    g.add_argument("--gom-p", type=int, default=10, help="p")
    g.add_argument("--gom-m", type=int, default=2, help="m")
    g.add_argument("--goms", type=int, nargs="+", default=[1, 4], help="GOM counts")
    g.add_argument("--gom-model-size", default="50k", help="parameters per model")
    g.add_argument("--gom-epochs", type=int, default=2, help="epochs per model (I and P)")
    g = p.add_argument_group("whole (whole-video model against UAR models)")
    g.add_argument("--frames", type=int, default=120, help="frames coded")
    g.add_argument("--uar-gop", type=int, default=30, help="p of the UAR encode")
    g.add_argument("--uar-size", help="comma list (default: second default size at --uar-gop)")
    g.add_argument("--whole-size", help="comma list (default: GOPs x the first UAR size, equal total parameters)")
    g.add_argument("--preset", default="fast", help="training preset of both encodes")
    g.add_argument("--whole-epochs", type=int, help="epochs of every model of both encodes (instead of --preset)")
    p.add_argument("--worker", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    if not tables or any(t not in TABLES for t in tables):
        p.error(f"--tables takes a comma list of {', '.join(TABLES)}")
    args.tables = tables
    if args.epochs < 1 or args.warmup_epochs < 0:
        p.error("--epochs must be >= 1 and --warmup-epochs >= 0")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker_main(*args.worker)
        return
    if not args.clip.is_file():
        sys.exit(f"clip {args.clip} not found (the developer clips live in ../shared/data)")
    from uarcodec.sysinfo import atomic_write_text
    from uarcodec.video import open_video

    with open_video(str(args.clip)) as reader:
        info = reader.info
    meta = machine_meta(args, info)
    head = machine_line(meta)
    result: dict[str, Any] = {"machine": head, "meta": meta}
    parts = []
    if "steps" in args.tables:
        result["steps"], result["steps_idle"] = run_steps(args, info)
        parts.append(("Training steps (Table II)", steps_markdown(result["steps"], result["steps_idle"], args)))
    if "gops" in args.tables:
        result["gops"] = run_gops(args)
        parts.append(("1 GOM against N GOMs", gops_markdown(result["gops"], args)))
    if "whole" in args.tables:
        result["whole"] = run_whole(args, info)
        result["whole_pairs"] = nearest_pairs(result["whole"])
        parts.append(("Whole video against UAR", whole_markdown(result["whole"], result["whole_pairs"], args)))
    text = "\n\n".join(f"## {title}\n\n{head}\n\n{body}" for title, body in parts)
    print(text)
    if args.out_md:
        atomic_write_text(args.out_md, text + "\n")
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
