"""Fit options measured on one real GOP: loss colour space (yuv 6:1:1 vs rgb) and training
precision (fp32 vs bf16 autocast). Every variant is fitted with the same seed and epochs,
then quantized, entropy-coded and decoded exactly like the encoder does; the table gives the
decoded PSNR-YUV and PSNR-RGB, coded bytes and fit seconds (ratios on the same run).

    python benchmarks/bench_fit_options.py [--clip PATH] [--frames 8] [--size 60k] [--epochs 60]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from uarcodec.metrics import QualityAccumulator
from uarcodec.pipeline.gop_coding import GopCoder
from uarcodec.pipeline.plan import stream_header
from uarcodec.settings import EncoderSettings, TrainingSettings, parse_size
from uarcodec.video import open_video

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "carphone_qcif_120f.y4m"
DEV = torch.device("cpu")


def run_variant(clip, info, family: str, params: int, epochs: int, training: TrainingSettings) -> dict:
    """One I-model fitted, coded and decoded back by the encoder's own unit."""
    training = dataclasses.replace(training, epochs_i=epochs)
    settings = EncoderSettings(gop_size=clip.num_frames, gom_size=1, family=family, model_size=params,
                               training=training)
    coded = GopCoder(stream_header(info, clip.num_frames, settings, DEV), settings, DEV).code(clip, 0, 1.0, None)
    acc = QualityAccumulator(with_ms_ssim=False)
    acc.add(clip, coded.recon)
    q = acc.report()
    return {"psnr_yuv": q.psnr_yuv, "psnr_rgb": q.psnr_rgb, "psnr_y": q.psnr_y, "bytes": coded.coded_bytes,
            "bpp": coded.coded_bytes * 8 / (clip.width * clip.height * clip.num_frames),
            "seconds": coded.fit_seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=str(DEFAULT_CLIP))
    ap.add_argument("--family", default="hnerv")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", default="60k")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--lmbda", type=float, default=500.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["distortion", "precision"], default=None)
    args = ap.parse_args()
    if not Path(args.clip).exists():
        sys.exit(f"clip {args.clip} not found")
    torch.set_num_threads(args.threads)
    with open_video(args.clip) as reader:
        clip, info = reader.read(0, args.frames), reader.info
    base = TrainingSettings(lr=2e-3, batch_size=2, lmbda=args.lmbda, precision="bf16")
    variants = {}
    if args.only in (None, "distortion"):
        variants["yuv loss, bf16"] = base
        variants["rgb loss, bf16"] = dataclasses.replace(base, distortion="rgb")
    if args.only in (None, "precision"):
        variants["yuv loss, fp32"] = dataclasses.replace(base, precision="fp32")
        variants.setdefault("yuv loss, bf16", base)
    print(f"{Path(args.clip).name}, {args.frames} frames, {args.family} {args.size}, {args.epochs} epochs, "
          f"lambda {args.lmbda}, {args.threads} threads\n")
    print("| variant | PSNR-YUV dB | PSNR-RGB dB | PSNR-Y dB | bytes | bpp | fit s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, training in variants.items():
        r = run_variant(clip, info, args.family, parse_size(args.size), args.epochs, training)
        print(f"| {name} | {r['psnr_yuv']:.2f} | {r['psnr_rgb']:.2f} | {r['psnr_y']:.2f} | {r['bytes']} | "
              f"{r['bpp']:.4f} | {r['seconds']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
