"""Where the bits of I- and P-models go, per clip and model size (issue: temporal reuse).

For each clip and size: ``uar encode`` of the first ``--frames`` frames at ``-p``/``-m`` and the
preset, one torch thread per encode, ``--jobs`` encodes at a time; then ``uar info
--breakdown --json`` of the stream. Prints a markdown table: per model kind its bytes, its
PSNR-YUV, the P/I byte ratio (P-model bytes over the I-model bytes of its GOM) and the bytes of
per-frame embeddings per frame; ``--json`` writes the rows.

    python benchmarks/bench_temporal_reuse.py ../shared/data/box_cif_120f.y4m ../shared/data/vtest_cif_120f.y4m \\
        --frames 90 -p 30 -m 3 --preset fast --jobs 2 --out tr_out

The sizes default to the bench's rate points for the clip (``uarcodec.sizing``).
``--uar "python -m uarcodec_cli"`` with another checkout on ``PYTHONPATH`` encodes with that
checkout (what the before/after tables in docs/ were made with); streams are always read with
this checkout's ``uar info``, which reads older formats too.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import mean

from uarcodec.sizing import default_sizes, size_label
from uarcodec.video import open_video


def encode_point(uar: list[str], clip: Path, size: int, args: argparse.Namespace) -> dict:
    out = Path(args.out) / f"{clip.stem}_{size_label(size)}.uar"
    cmd = [*uar, "--threads", "1", "-v", "quiet", "encode", str(clip), "-frames", str(args.frames), "-p", str(args.p),
           "-m", str(args.m), "--size", str(size), "--preset", args.preset, "-o", str(out), "-y", "--json",
           *shlex.split(args.extra)]
    report = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    # Read with this checkout's `uar info` (it reads older formats too).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    info = json.loads(subprocess.run([sys.executable, "-m", "uarcodec_cli", "info", "--breakdown", "--json", str(out)],
                                     capture_output=True, text=True, check=True, env=env).stdout)
    return summarise(clip, size, report, info)


def summarise(clip: Path, size: int, report: dict, info: dict) -> dict:
    models = report["models"]
    kinds = {k: [m for m in models if str(m["kind"]) in (k, str(0 if k == "I" else 1))] for k in ("I", "P")}
    breakdown = info["breakdown"]
    frames = report["num_frames"]
    emb = sum(breakdown["by_role"].get(k, {}).get("embedding", {}).get("bytes", 0) for k in ("I", "P"))
    ratios = [r for g in breakdown["per_gom"] for r in g["p_over_i"]]
    psnr_gap = [p["psnr_yuv"] - i["psnr_yuv"] for i, p in zip(kinds["I"], kinds["P"])]
    return {
        "clip": clip.stem, "size": size, "bpp": report["bpp"], "psnr_yuv": report["psnr_yuv"],
        "encode_seconds": report["encode_seconds"],
        "i_bytes": [m["coded_bytes"] for m in kinds["I"]], "p_bytes": [m["coded_bytes"] for m in kinds["P"]],
        "i_psnr": [m["psnr_yuv"] for m in kinds["I"]], "p_psnr": [m["psnr_yuv"] for m in kinds["P"]],
        "p_over_i": ratios, "p_minus_i_psnr_first_gom": psnr_gap,
        "embedding_bytes_per_frame": emb / frames,
    }


def table(rows: list[dict]) -> str:
    lines = ["| clip | size | bpp | PSNR-YUV | I bytes (dB) | P bytes (dB) | P/I | embedding B/frame | encode s |",
             "|---|---:|---:|---:|---|---|---|---:|---:|"]
    for r in rows:
        i = ", ".join(f"{b} ({p:.2f})" for b, p in zip(r["i_bytes"], r["i_psnr"]))
        p = ", ".join(f"{b} ({q:.2f})" for b, q in zip(r["p_bytes"], r["p_psnr"]))
        ratios = ", ".join(f"{x:.2f}" for x in r["p_over_i"])
        lines.append(f"| {r['clip']} | {size_label(r['size'])} | {r['bpp']:.4f} | {r['psnr_yuv']:.2f} | {i} | {p} | "
                     f"{ratios} (max {max(r['p_over_i'], default=0):.2f}) | {r['embedding_bytes_per_frame']:.0f} | "
                     f"{r['encode_seconds']:.0f} |")
    if rows:
        lines.append(f"\nmean P/I {mean(x for r in rows for x in r['p_over_i']):.3f}, "
                     f"mean embedding bytes/frame {mean(r['embedding_bytes_per_frame'] for r in rows):.0f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("-p", type=int, default=30)
    ap.add_argument("-m", type=int, default=3)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--sizes", help="comma-separated sizes (default: the bench's rate points)")
    ap.add_argument("--extra", default="", help="more `uar encode` options, quoted")
    ap.add_argument("--uar", default="uar", help="the command that runs uar")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default="temporal_reuse_out")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    uar = shlex.split(args.uar)
    points = []
    for clip in args.clips:
        if not clip.exists():
            sys.exit(f"{clip}: no such clip")
        with open_video(str(clip)) as reader:
            info = reader.info
        sizes = ([int(float(s.rstrip("k")) * 1000) for s in args.sizes.split(",")] if args.sizes
                 else default_sizes("hnerv", info.width, info.height, args.p, min(args.p, args.frames)))
        points += [(clip, s) for s in sizes]
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda cs: encode_point(uar, cs[0], cs[1], args), points))
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
