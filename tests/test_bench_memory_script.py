"""benchmarks/bench_memory.py runs end to end: its ``steps`` and ``whole`` sections on the
bundled sample with the smallest settings, one thread, rows with the promised fields."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_memory.py"

STEPS_FIELDS = ("p", "frames", "target", "params", "batch", "macs_per_pixel", "encoder_macs_per_pixel",
                "ms_per_frame", "ms_per_step", "timed_seconds", "peak_rss_mb")
WHOLE_FIELDS = ("frames", "models", "params", "bpp", "psnr_yuv", "ms_ssim", "encode_seconds",
                "encode_peak_rss_mb", "decode_fps", "decode_peak_rss_mb")


def run_script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


def test_steps_and_whole_sections_write_rows(sample: Path, tmp_path: Path):
    out_json, out_md = tmp_path / "rows.json", tmp_path / "table.md"
    done = run_script(
        "--tables", "steps,whole", "--clip", str(sample), "--threads", "1", "--json", str(out_json),
        "--out-md", str(out_md),
        "--gops", "2", "--sizes", "6k", "--batches", "2", "--epochs", "1", "--warmup-epochs", "0",
        "--frames", "4", "--uar-gop", "2", "--uar-size", "6k", "--whole-size", "12k", "--whole-epochs", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(out_json.read_text())
    assert "176x144" in result["machine"] and "thread" in result["machine"]

    (steps,) = result["steps"]
    for field in STEPS_FIELDS:
        assert steps[field] > 0, field
    assert (steps["p"], steps["frames"], steps["batch"]) == (2, 2, 2)
    (idle,) = result["steps_idle"]
    assert 0 < idle["peak_rss_mb"] < steps["peak_rss_mb"]

    whole, uar = result["whole"]
    assert (whole["kind"], whole["p"], whole["m"], whole["models"]) == ("whole", 4, 1, 1)
    assert (uar["kind"], uar["p"], uar["m"], uar["models"]) == ("UAR", 2, 2, 2)
    for row in (whole, uar):
        assert row["frames"] == 4
        for field in WHOLE_FIELDS:
            assert row[field] > 0, field
    (pair,) = result["whole_pairs"]
    assert (pair["whole"], pair["uar"]) == (12_000, 6_000)

    text = out_md.read_text()
    assert "Training steps" in text and "Whole video" in text and "nearly equal bpp" in text
    assert "steps p=2 6k bs=2" in done.stderr


def test_missing_clip_is_a_clean_exit(tmp_path: Path):
    done = run_script("--clip", str(tmp_path / "absent.y4m"))
    assert done.returncode == 1
    assert "not found (the developer clips live in ../shared/data)" in done.stderr
    assert "Traceback" not in done.stderr
