"""P-models coded with a reference (residual against the II initialisation) against the same
encode with --no-ref: bytes per P-model and PSNR. Same clip, same settings, same seeds.

    python benchmarks/bench_reference.py [--clip PATH] [--gop 5] [--gom 4] [--size 50k] [--preset fast]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import torch

from uarcodec import api
from uarcodec.settings import EncoderSettings, parse_size, preset_training

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "vtest_cif_120f.y4m"


def run(clip: str, settings: EncoderSettings, frames: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "o.uar"
        report = api.encode(clip, out, settings, frames=frames, device="cpu")
        info = api.stream_info(out)
    models = [m for g in info["goms"] for m in g["models"]]
    p_bytes = [m["coded_bytes"] for m in models if m["kind"] == "P"]
    i_bytes = [m["coded_bytes"] for m in models if m["kind"] == "I"]
    return {"bpp": report.bpp, "psnr": report.psnr_yuv, "i_bytes": i_bytes, "p_bytes": p_bytes,
            "eps": [m["eps"] for m in models if m["kind"] == "P"], "seconds": report.encode_seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=str(DEFAULT_CLIP))
    ap.add_argument("--gop", type=int, default=5)
    ap.add_argument("--gom", type=int, default=4)
    ap.add_argument("--size", default="50k")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eps", type=float, default=None, help="fixed eps (default: the eps law)")
    args = ap.parse_args()
    if not Path(args.clip).exists():
        sys.exit(f"clip {args.clip} not found (the developer clips live in ../shared/data)")
    torch.set_num_threads(args.threads)
    base = EncoderSettings(gop_size=args.gop, gom_size=args.gom, model_size=parse_size(args.size),
                           training=preset_training(args.preset, args.gop), preset=args.preset, eps=args.eps)
    frames = args.gop * args.gom
    rows = {name: run(args.clip, dataclasses.replace(base, use_ref=ref), frames)
            for name, ref in (("ref", True), ("no-ref", False))}
    print(f"clip {Path(args.clip).name}, {frames} frames, p={args.gop}, m={args.gom}, {args.size} params, "
          f"preset {args.preset}, eps {'law' if args.eps is None else args.eps}\n")
    print("| variant | I-model bytes | P-model bytes (each) | mean P bytes | eps | bpp | PSNR-YUV dB | s |")
    print("|---|---:|---|---:|---|---:|---:|---:|")
    for name, r in rows.items():
        mean_p = sum(r["p_bytes"]) / max(1, len(r["p_bytes"]))
        print(f"| {name} | {r['i_bytes'][0]} | {', '.join(map(str, r['p_bytes']))} | {mean_p:.0f} | "
              f"{', '.join(f'{e:.2f}' for e in r['eps'])} | {r['bpp']:.4f} | {r['psnr']:.2f} | {r['seconds']:.0f} |")


if __name__ == "__main__":
    main()
