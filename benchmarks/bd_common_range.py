"""BD-rate of several bench runs against one anchor, all over one quality range per clip.

`uar bench`'s table takes each BD-rate over the range that the two curves of its pair cover,
so a run whose curve reaches higher (or lower) quality is measured over another range than the
run before it; where a codec's distance to the anchor grows with quality, that alone moves the
number. This compares runs over the same range: per clip the overlap of every run's curve and
the anchor's (the highest of their lowest qualities to the lowest of their highest), and each
run's BD-rate against the anchor there (``uarcodec.metrics.bdrate.bd_rate`` with ``within``). Reads the results JSON of ``uar bench --out``::

    python benchmarks/bd_common_range.py --anchor bench_old/x265 bench_old/uar-hnerv bench_new/uar-hnerv

(each argument is a results directory and a codec name: ``DIR/CODEC__CLIP__gopP.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from uarcodec.metrics.bdrate import bd_rate

METRICS = ("psnr_yuv", "ms_ssim")  # the default; any quality field of the points (psnr_y, psnr_u, ...)


def load_points(path: Path, metric: str) -> tuple[list[float], list[float]]:
    """(bpp, quality) of the points of a results file."""
    points = json.loads(path.read_text())["points"]
    return [p["bpp"] for p in points], [p[metric] for p in points]


def common_range_bd(anchor: Path, runs: list[Path], metric: str) -> tuple[float, float, list[float]]:
    """(lo, hi, BD-rate in % of each run against the anchor over [lo, hi])."""
    curves = [load_points(p, metric) for p in [anchor, *runs]]
    lo = max(min(quality) for _, quality in curves)
    hi = min(max(quality) for _, quality in curves)
    if not lo < hi:
        raise SystemExit(f"{anchor.name}: the curves have no quality range in common ({metric})")
    return lo, hi, [bd_rate(*curves[0], *run, within=(lo, hi)) for run in curves[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--anchor", required=True, help="DIR/CODEC of the anchor's results")
    parser.add_argument("runs", nargs="+", help="DIR/CODEC of each run to compare")
    parser.add_argument("--metrics", nargs="+", default=list(METRICS),
                        help="quality fields to compare on (default: psnr_yuv ms_ssim; also psnr_y, psnr_u, psnr_v)")
    args = parser.parse_args()
    anchor_dir, anchor_codec = Path(args.anchor).parent, Path(args.anchor).name
    clips = sorted(p.name[len(anchor_codec) + 2:] for p in anchor_dir.glob(f"{anchor_codec}__*.json"))
    for metric in args.metrics:
        print(f"\n{metric}: BD-rate against {args.anchor} over each clip's common range\n")
        print("| clip | range | " + " | ".join(args.runs) + " |")
        print("|---|---|" + "---:|" * len(args.runs))
        totals: list[list[float]] = [[] for _ in args.runs]
        for clip in clips:
            runs = [Path(r).parent / f"{Path(r).name}__{clip}" for r in args.runs]
            if not all(p.exists() for p in runs):
                continue
            lo, hi, bds = common_range_bd(anchor_dir / f"{anchor_codec}__{clip}", runs, metric)
            for total, bd in zip(totals, bds):
                total.append(bd)
            print(f"| {clip.removesuffix('.json')} | {lo:.4g} to {hi:.4g} | " + " | ".join(f"{b:+.1f}%" for b in bds) + " |")
        print("| **average** | | " + " | ".join(f"{np.mean(t):+.1f}%" for t in totals) + " |")


if __name__ == "__main__":
    main()
