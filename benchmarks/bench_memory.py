"""Peak memory of encoding N GOMs against 1 GOM at the same p (the paper's memory claim:
memory is bounded by p, not by the video's length).

Each encode runs in a fresh subprocess; its peak RSS is read from getrusage. Prints a markdown
table and the ratio; no thresholds (this is a measurement, not a test).

    python benchmarks/bench_memory.py [--clip PATH] [--gop 10] [--gom 2] [--goms 1 4] [--size 50k]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "vtest_cif_120f.y4m"

CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
import torch
torch.set_num_threads(2)
from uarcodec import api
from uarcodec.settings import EncoderSettings, TrainingSettings, parse_size
clip, p, m, goms, size, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
settings = EncoderSettings(gop_size=p, gom_size=m, model_size=parse_size(size),
                           training=TrainingSettings(epochs_i=epochs, epochs_p=epochs, batch_size=1))
with tempfile.TemporaryDirectory() as d:
    t0 = time.perf_counter()
    r = api.encode(clip, Path(d) / "o.uar", settings, frames=p * m * goms, device="cpu")
    print(json.dumps({"goms": goms, "frames": r.num_frames, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "seconds": time.perf_counter() - t0, "bpp": r.bpp, "psnr_yuv": r.psnr_yuv}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=str(DEFAULT_CLIP))
    ap.add_argument("--gop", type=int, default=10)
    ap.add_argument("--gom", type=int, default=2)
    ap.add_argument("--goms", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--size", default="50k")
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    if not Path(args.clip).exists():
        sys.exit(f"clip {args.clip} not found (the developer clips live in ../shared/data)")
    rows = []
    for n in args.goms:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, args.clip, str(args.gop), str(args.gom), str(n), args.size, str(args.epochs)],
            capture_output=True, text=True, check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = rows[0]["peak_rss_mb"]
    print(f"clip {Path(args.clip).name}, p={args.gop}, m={args.gom}, {args.size} params, {args.epochs} epochs\n")
    print("| GOMs | frames | peak RSS MB | vs first | encode s |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['goms']} | {r['frames']} | {r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] / base:.3f} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
