"""Encode one clip at a grid of (model size, lambda) points and rate candidate rate ladders by
their BD-rate against x265 (docs/rate_points.md).

Each point is one ``uar encode`` of the whole clip (``-p 30 -m 5`` by default) in its own
process, one torch thread; its ``--json`` report is kept in ``--out`` and reused when present.
x265's curve is read from a bench results folder (``x265__CLIP__gopP.json``, written by
``uar bench``); extra points may come from that folder's uarcodec curve (``--bench-points``,
each at the size and lambda its settings record).

    python benchmarks/rate_ladder_grid.py ../shared/data/carphone_qcif_120f.y4m \\
        --points 27k:50,27k:150,54k:150,54k:300 --ladders "27k:50,54k:150,54k:300,54k:500" \\
        --results docs/results/bench --out grid_out -j 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from uarcodec.bench.report import bd_rate_against
from uarcodec.bench.results import CodecResults
from uarcodec.bench.runner import results_path
from uarcodec.settings import parse_size
from uarcodec.sizing import size_label

Point = tuple[int, float]


def parse_points(text: str) -> list[Point]:
    """``"27k:50,54k:150"`` -> ``[(27000, 50.0), (54000, 150.0)]``."""
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        size, _, lmbda = item.partition(":")
        out.append((parse_size(size), float(lmbda)))
    return out


def point_name(clip: Path, point: Point) -> str:
    return f"{clip.stem}_{size_label(point[0])}_l{point[1]:g}"


def encode_point(clip: Path, point: Point, out: Path, gop: int, gom: int, preset: str) -> dict:
    report = out / f"{point_name(clip, point)}.json"
    if not report.is_file():
        cmd = ["uar", "-v", "quiet", "--threads", "1", "encode", str(clip), "-p", str(gop), "-m", str(gom),
               "--preset", preset, "--size", str(point[0]), "--lambda", f"{point[1]:g}",
               "-o", str(out / f"{point_name(clip, point)}.uar"), "-y", "--json"]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        report.write_text(done.stdout, encoding="utf-8")
    return json.loads(report.read_text(encoding="utf-8"))


def curve(results: Path, codec: str, clip: Path, gop: int) -> CodecResults | None:
    path = results_path(results, codec, clip.stem, gop)
    return CodecResults.load(path) if path.is_file() else None


def bench_points(results: CodecResults) -> dict[Point, tuple[float, float]]:
    """A uarcodec bench curve's points by (size, lambda), read from its settings (points of a
    bench before per-point lambdas trained at the encoder's one lambda)."""
    sizes, lambdas = results.settings["sizes"], results.settings.get("lambdas", {})
    default = results.settings["encoder"]["training"].get("lmbda")
    return {(sizes[p.label], float(lambdas.get(p.label, default))): (p.bpp, p.psnr_yuv) for p in results.points}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("--points", required=True, help="size:lambda,... to encode")
    ap.add_argument("--ladders", nargs="*", default=[], help="candidate ladders, each size:lambda,...")
    ap.add_argument("--results", type=Path, required=True, help="bench results folder with x265's curve")
    ap.add_argument("--bench-points", action="store_true",
                    help="also use that folder's uar-hnerv points (at their recorded size and lambda)")
    ap.add_argument("--out", type=Path, default=Path("grid_out"))
    ap.add_argument("-p", type=int, default=30)
    ap.add_argument("-m", type=int, default=5)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("-j", type=int, default=1, help="encodes at once (one per core at most)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    points = parse_points(args.points)
    with ThreadPoolExecutor(args.j) as pool:
        reports = list(pool.map(lambda pt: encode_point(args.clip, pt, args.out, args.p, args.m, args.preset), points))
    rd: dict[Point, tuple[float, float]] = {pt: (r["bpp"], r["psnr_yuv"]) for pt, r in zip(points, reports)}
    print("| size | lambda | bpp | PSNR-YUV | model bytes | encode s |")
    print("|---:|---:|---:|---:|---|---:|")
    for pt, r in sorted(zip(points, reports)):
        models = " / ".join(f"{m['coded_bytes']:,}" for m in r["models"])
        print(f"| {size_label(pt[0])} | {pt[1]:g} | {r['bpp']:.4f} | {r['psnr_yuv']:.2f} | {models} | "
              f"{r['encode_seconds']:.0f} |")
    bench = curve(args.results, "uar-hnerv", args.clip, args.p) if args.bench_points else None
    for pt, rate_quality in ({} if bench is None else bench_points(bench)).items():
        rd.setdefault(pt, rate_quality)
    anchor = curve(args.results, "x265", args.clip, args.p)
    if anchor is None:
        sys.exit(f"no x265 curve for {args.clip.stem} in {args.results}")
    for text in args.ladders:
        ladder = sorted(rd[pt] for pt in parse_points(text))
        test = CodecResults("ladder", {}, anchor.clip, {}, [
            dataclasses.replace(anchor.points[0], label=str(i), bpp=b, psnr_yuv=q) for i, (b, q) in enumerate(ladder)])
        bd = bd_rate_against(anchor, test)
        print(f"ladder {text}: BD-rate against x265 (PSNR-YUV) " + ("n/a" if bd is None else f"{bd:+.1f}%"))


if __name__ == "__main__":
    main()
