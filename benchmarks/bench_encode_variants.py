"""Variants of an encode at one rate point: HNeRV's size-solver kernels (docs/training_speed.md,
"Kernels chosen for the step's cost") and training settings such as the P-models' learning rate
(docs/temporal_reuse.md, "A lead: P-models at the full learning rate") or HiNeRV's grid learning
rate (``--model hinerv``).

One encode per variant (``uarcodec.api.encode``, p = 30 and m = 5 unless ``-p``/``-m`` say
otherwise, the preset given, one thread)
of the first ``--frames`` frames. A variant is one argument of ``NAME=VALUE`` items separated by
spaces: ``kernels=1,5,5,5,3`` forces the solver's block kernels (one per block, embedding side
first: 5 for CIF and 640x352, 4 for QCIF), any other name replaces that field of the preset's
:class:`~uarcodec.settings.TrainingSettings`; an empty variant is the defaults. Prints one JSON
line per variant: the network's kernels and widths, the file, and each model's bytes and
PSNR-YUV on its GOP (the I-model first)::

    python benchmarks/bench_encode_variants.py ../shared/data/box_cif_120f.y4m --frames 60 --size 88000 --lambda 150 --variants "kernels=1,3,5,5,5" "kernels=1,5,5,5,3"
    python benchmarks/bench_encode_variants.py ../shared/data/box_cif_120f.y4m --frames 60 --size 88000 --lambda 150 --variants "" "lr_p_scale=1.0"
    python benchmarks/bench_encode_variants.py ../shared/data/box_cif_120f.y4m --model hinerv --variants "" "grid_lr_scale=5"

With ``--seeds N`` every variant is encoded N times, seeds 0 to N - 1 (the models'
initialisation and the frame order), and one more JSON line per variant gives the mean file
bytes and PSNR-YUV and their spread (largest minus smallest): float rounding alone moves a
60-frame latent file by 1 to 2% of its bytes or 0.1 dB, another seed by up to a quarter of its
bytes (docs/latent_grids.md, "How far one run is from the next"), so a variant that moves it by
a few percent needs several seeds::

    python benchmarks/bench_encode_variants.py ../shared/data/vtest_cif_120f.y4m --model latent --size 200000 --seeds 3 --variants "" "step_lr_scale=10"

The encodes run one after another; run clips side by side in separate processes, one per core.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from uarcodec.api import encode
from uarcodec.models import hnerv, registry
from uarcodec.settings import TrainingOptions, TrainingSettings


@dataclasses.dataclass(frozen=True)
class Variant:
    kernels: tuple[int, ...] | None  # the solver's block kernels, None: its own rule
    training: dict[str, object]  # TrainingSettings fields replaced


def parse_variant(text: str) -> Variant:
    """``"kernels=1,5,5,5,3 lr_p_scale=1.0"`` -> the variant it names."""
    types = {f.name: f.type for f in dataclasses.fields(TrainingSettings)}
    kernels, training = None, {}
    for item in text.split():
        name, value = item.split("=", 1)
        if name == "kernels":
            kernels = tuple(int(k) for k in value.split(","))
        elif name in types:
            training[name] = int(value) if types[name] in (int, "int") else float(value)
        else:
            raise SystemExit(f"unknown variant item {name!r}: kernels or a TrainingSettings field")
    return Variant(kernels, training)


@contextmanager
def solver_kernels(kernels: tuple[int, ...] | None) -> Iterator[None]:
    """HNeRV's size solver builds networks with these block kernels inside the block."""
    saved = hnerv.default_kernel_sizes
    if kernels is not None:
        hnerv.default_kernel_sizes = lambda num_stages: kernels
    try:
        yield
    finally:
        hnerv.default_kernel_sizes = saved


def network_shape(family: str, size: int, height: int, width: int, frames: int) -> dict[str, object]:
    """The widths (and HNeRV's kernels) the size solver gives ``family`` for one GOP."""
    config = registry.family_by_name(family).config_for_size(size, height, width, frames)
    if isinstance(config, hnerv.HNeRVConfig):
        return {"kernels": config.kernel_sizes, "widths": config.widths}
    return {"widths": getattr(config, "channels", None)}


def run(args: argparse.Namespace, text: str, out: Path, seed: int = 0) -> dict:
    variant = parse_variant(text)
    if variant.kernels is not None and args.model != "hnerv":
        raise SystemExit("kernels=... is a variant of HNeRV's size solver only")
    settings = TrainingOptions(family=args.model, preset=args.preset, lmbda=args.lmbda, seed=seed).encoder_settings(
        args.gop_size, args.gom_size, args.size)
    settings = dataclasses.replace(settings, training=dataclasses.replace(settings.training, **variant.training))
    start = time.perf_counter()
    with solver_kernels(variant.kernels):
        report = encode(args.clip, str(out), settings, frames=args.frames, overwrite=True)
        shape = network_shape(args.model, args.size, report.height, report.width, min(args.gop_size, report.num_frames))
    return {
        "clip": Path(args.clip).name, "frames": report.num_frames, "model": args.model, "size": args.size,
        "lambda": args.lmbda, "variant": text, "seed": seed, **shape, "bytes": report.file_bytes,
        "bpp": round(report.bpp, 5), "psnr_yuv": round(report.psnr_yuv, 3),
        "models": [(m.coded_bytes, round(m.psnr_yuv, 2)) for m in report.models],
        "seconds": round(time.perf_counter() - start, 1),
    }  # fmt: skip


def summary(text: str, runs: list[dict]) -> dict:
    """The mean and spread (largest minus smallest) of a variant's runs over seeds."""
    sizes, psnrs = [r["bytes"] for r in runs], [r["psnr_yuv"] for r in runs]
    mean_bytes = sum(sizes) / len(sizes)
    return {
        "variant": text, "runs": len(runs), "bytes_mean": round(mean_bytes),
        "bytes_spread_percent": round(100.0 * (max(sizes) - min(sizes)) / mean_bytes, 2),
        "psnr_yuv_mean": round(sum(psnrs) / len(psnrs), 3), "psnr_yuv_spread": round(max(psnrs) - min(psnrs), 3),
        "seconds_mean": round(sum(r["seconds"] for r in runs) / len(runs), 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", type=int, default=88_000)
    parser.add_argument("--lambda", dest="lmbda", type=float, default=150.0)
    parser.add_argument("-p", "--gop-size", type=int, default=30)
    parser.add_argument("-m", "--gom-size", type=int, default=5)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--model", default="hnerv", help="INR family (hnerv, hinerv, latent)")
    parser.add_argument("--variants", nargs="+", default=[""], help='e.g. "kernels=1,5,5,5,3" or "lr_p_scale=1.0"')
    parser.add_argument("--seeds", type=int, default=1, help="encodes per variant, seeds 0 to N - 1")
    parser.add_argument("--out", type=Path, default=Path("variants_out"))
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(args.variants):
        runs = []
        for seed in range(args.seeds):
            stream = args.out / f"{Path(args.clip).stem}_{args.model}_{args.size}_{i}_s{seed}.uar"
            runs.append(run(args, text, stream, seed))
            print(json.dumps(runs[-1]), flush=True)
        if args.seeds > 1:
            print(json.dumps(summary(text, runs)), flush=True)


if __name__ == "__main__":
    main()
