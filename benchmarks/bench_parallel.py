"""GOM-parallel encoding on this machine: the same encode run serially, on a local process pool
(``--workers N``) and on Ray (``--executor ray``, a local Ray started by the encode itself),
each in a fresh ``uar`` process with one torch thread per GOM job.

Per run: wall seconds of the whole ``uar encode`` process (start-up, Ray start, every GOM,
writing), the speed-up over serial, the file's bytes and SHA-256 (they must be equal), the
driver's peak memory and the largest peak of a process that coded a GOM (for serial, the same
process). No thresholds: the numbers of one run. Example::

    python benchmarks/bench_parallel.py ../shared/data/carphone_qcif_120f.y4m -p 15 -m 2 --size 70k \\
        --preset fast --out-md docs/results/parallel.md --json docs/results/parallel.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXECUTORS = {
    "serial": [],
    "process": ["--executor", "process"],
    "ray": ["--executor", "ray"],
}


def run(clip: str, args: argparse.Namespace, name: str, out: Path) -> dict[str, Any]:
    extra = EXECUTORS[name] + ([] if name == "serial" else ["--workers", str(args.workers), "--threads-per-worker", "1"])
    cmd = ["uar", "-v", "quiet", "--threads", "1", "encode", clip, "-o", str(out), "-y", "-p", str(args.p), "-m",
           str(args.m), "--size", args.size, "--preset", args.preset, "--json", *extra]
    print(f"[bench_parallel] {' '.join(cmd)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode}): {done.stderr.strip()}")
    report = json.loads(done.stdout)
    data = out.read_bytes()
    return {
        "executor": name, "workers": 1 if name == "serial" else args.workers, "command": " ".join(cmd),
        "wall_seconds": wall, "encode_seconds": report["encode_seconds"], "file_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(), "bpp": report["bpp"], "psnr_yuv": report["psnr_yuv"],
        "goms": report["num_goms"], "driver_peak_mb": report["peak_memory_mb"],
        "worker_peak_mb": report["worker_peak_memory_mb"],
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    base = rows[0]["wall_seconds"]
    lines = ["| executor | workers | wall s | speed-up | bytes | same bytes as serial | PSNR-YUV | driver peak MB | "
             "largest worker peak MB |", "|---|---:|---:|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['executor']} | {r['workers']} | {r['wall_seconds']:.1f} | {base / r['wall_seconds']:.2f}x | "
            f"{r['file_bytes']:,} | {'yes' if r['sha256'] == rows[0]['sha256'] else 'NO'} | {r['psnr_yuv']:.2f} | "
            f"{r['driver_peak_mb']:.0f} | {r['worker_peak_mb']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip")
    parser.add_argument("-p", type=int, default=15)
    parser.add_argument("-m", type=int, default=2)
    parser.add_argument("--size", default="70k")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--executors", default="serial,process,ray")
    parser.add_argument("--out-md")
    parser.add_argument("--json")
    args = parser.parse_args()
    names = args.executors.split(",")
    if names[0] != "serial":
        raise SystemExit("--executors must start with serial (the baseline)")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(args.clip, args, name, Path(tmp) / f"{name}.uar") for name in names]
    table = markdown(rows)
    print(table)
    if args.out_md:
        Path(args.out_md).write_text(table)
    if args.json:
        Path(args.json).write_text(json.dumps({"clip": args.clip, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
