"""`uar bench` with uarcodec as a codec: rate points, the measured results in the shared schema,
the cache, the report, and the ablation variants (paper Table III)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from uarcodec.bench.ablation import (
    VARIANTS, ablation_keys, ablation_markdown, variant_config, variant_name,
)
from uarcodec.bench.classic import ClassicRunner
from uarcodec.bench.ffmpeg import available_encoders
from uarcodec.bench.results import ClipInfo, CodecResults, PointResult
from uarcodec.bench.runner import ClipSpec
from uarcodec.bench.encode_child import encode_job
from uarcodec.sizing import (
    PAPER_SIZES_MB, RatePoint, default_model_size, default_points, default_sizes, parse_sizes, round_significant, size_label, smallest_model_size,
)
from uarcodec.bench.settings_json import settings_to_dict
from uarcodec.bench.uar_runner import UarRunner, UarRunnerConfig, uar_runner_for_clip
from uarcodec.errors import UarInputError, UarSettingsError
from uarcodec.settings import TrainingOptions, TrainingSettings, parse_size
from uarcodec_cli.main import main

TINY = ["--frames", "8", "-p", "4", "-m", "2", "--sizes", "8k,12k", "--epochs-i", "1", "--epochs-p", "1",
        "--threads", "1", "--device", "cpu"]
PIXELS = 176 * 144 * 8
needs_x265 = pytest.mark.skipif("libx265" not in available_encoders(), reason="this ffmpeg lacks libx265")




def run(*args: str):
    return CliRunner().invoke(main, list(args))


# ---------------------------------------------------------------------- rate points


def test_default_sizes_scale_the_papers_sizes_by_pixels_per_model():
    # HiNeRV at CIF, p = 30: no floor, the paper's medium-p sizes times (352*288*30)/(1920*1080*30).
    scale = 352 * 288 / (1920 * 1080)
    expected = tuple(round_significant(mb * 1e6 * scale) for mb in PAPER_SIZES_MB[1])
    assert default_sizes("hinerv", 352, 288, 30) == expected == (29000, 44000, 88000, 130000)
    # Small p uses the small-p sizes at p = 6 and scales with p.
    assert default_sizes("hinerv", 640, 352, 6) == (33000, 49000, 65000, 98000)


def test_default_sizes_are_raised_above_the_smallest_network_keeping_ratios():
    # HNeRV's per-frame embeddings make its smallest network at p = 30 larger than the scaled sizes.
    smallest = smallest_model_size("hnerv", 176, 144, 30)
    sizes = default_sizes("hnerv", 176, 144, 30)
    assert sizes[0] >= 1.4 * smallest  # 1.5x, then rounded to two significant digits
    ratios = [s / sizes[0] for s in sizes]
    assert ratios == pytest.approx([1.0, 1.5, 3.0, 4.5], rel=0.05)
    # Every default size is reachable by the family.
    uar_runner_for_clip(UarRunnerConfig(gop_size=30), ClipInfo("c", 176, 144, 30, 30.0))


def test_default_rate_points_pair_sizes_with_lambdas_and_the_second_is_encodes_default():
    sizes = default_sizes("hnerv", 352, 288, 30)
    points = default_points("hnerv", 352, 288, 30)
    assert len(points) == 4 and {p.model_size for p in points} <= set(sizes)
    lambdas = [p.lmbda for p in points]
    assert lambdas == sorted(lambdas) and len(set(lambdas)) == 4  # one rate each, low to high
    # `uar encode` with neither --size nor --lambda encodes at the second point.
    assert points[1] == RatePoint(default_model_size("hnerv", 352, 288, 30), TrainingSettings().lmbda)
    assert points[1].label == f"{size_label(points[1].model_size)}-l{TrainingSettings().lmbda:g}"


def test_bench_points_follow_the_ladder_unless_lambda_is_fixed():
    info = ClipInfo("c", 176, 144, 30, 30.0)
    ladder = uar_runner_for_clip(UarRunnerConfig(gop_size=30), info)
    assert ladder.points() == [p.label for p in default_points("hnerv", 176, 144, 30)]
    fixed = uar_runner_for_clip(UarRunnerConfig(gop_size=30, training=TrainingOptions(lmbda=500.0)), info)
    assert fixed.points() == [size_label(s) for s in default_sizes("hnerv", 176, 144, 30)]
    assert {fixed.config.encoder_settings(fixed.rate_point(label)).training.lmbda for label in fixed.points()} == {500.0}


def test_size_labels_read_back_and_sizes_parse():
    for size in (8000, 2400, 72000, 1_400_000, 1234):
        assert parse_size(size_label(size)) == size
    assert parse_sizes("50k, 100k,1.5M") == (50_000, 100_000, 1_500_000)
    with pytest.raises(UarSettingsError):
        parse_sizes("50k,50k")
    with pytest.raises(UarSettingsError):
        UarRunner(UarRunnerConfig(points=()))


def test_unreachable_sizes_are_refused_before_encoding():
    with pytest.raises(UarSettingsError):
        uar_runner_for_clip(UarRunnerConfig(gop_size=30, points=(RatePoint(2000),)), ClipInfo("c", 176, 144, 30, 30.0))


def test_runner_settings_cover_what_results_depend_on():
    runner = UarRunner(UarRunnerConfig(gop_size=4, gom_size=2, points=(RatePoint(8000), RatePoint(12000, 40.0)), training=TrainingOptions(epochs_i=3, threads=1)))
    settings = runner.settings()
    assert settings["gop"] == 4 and settings["gom"] == 2 and settings["sizes"] == {"8k": 8000, "12k-l40": 12000}
    assert settings["lambdas"] == {"8k": TrainingSettings().lmbda, "12k-l40": 40.0}
    assert settings["encoder"]["training"]["epochs_i"] == 3 and settings["encoder"]["init"] == "ii"
    json.dumps(settings)  # JSON-ready
    other = UarRunner(UarRunnerConfig(gop_size=4, gom_size=2, points=(RatePoint(8000), RatePoint(12000, 40.0)), training=TrainingOptions(epochs_i=3, threads=2)))
    assert other.settings() == settings  # threads do not change results
    assert runner.points() == ["8k", "12k-l40"] and runner.rate_point("12k-l40") == RatePoint(12000, 40.0)


# ---------------------------------------------------------------------- end to end


@needs_x265
def test_tiny_bench_end_to_end_is_measured_cached_and_reported(sample, tmp_path, monkeypatch):
    out = tmp_path / "bench"
    result = run("-v", "quiet", "bench", str(sample), *TINY, "--codecs", "x265,uar", "--qps", "27,37",
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    listed = result.stdout.split()
    uar_json = out / "uar-hnerv__carphone_qcif_30f_first8__gop4.json"
    x265_json = out / "x265__carphone_qcif_30f_first8__gop4.json"
    assert str(uar_json) in listed and str(x265_json) in listed and str(out / "report.md") in listed

    uar = CodecResults.load(uar_json)  # the shared schema, validated on load
    x265 = CodecResults.load(x265_json)
    assert uar.clip == x265.clip == ClipInfo("carphone_qcif_30f_first8", 176, 144, 8, 30000 / 1001)
    assert uar.measurement == x265.measurement
    assert uar.settings["gop"] == x265.settings["gop"] == 4
    assert [p.label for p in uar.points] == ["8k", "12k"]
    for p in uar.points:
        stream = out / uar_json.stem / f"{p.label}.uar"
        assert stream.stat().st_size == p.file_bytes
        assert p.bpp == pytest.approx(p.file_bytes * 8 / PIXELS)
        assert p.kbps == pytest.approx(p.file_bytes * 8 / 8 * (30000 / 1001) / 1000)
        assert all(math.isfinite(v) for v in (p.psnr_yuv, p.psnr_y, p.psnr_rgb, p.ms_ssim))
        assert p.encode_seconds > 0 and p.decode_seconds > 0 and p.peak_memory_mb > 50
        # What the bench measured on the decoded frames is what the encoder reported.
        report = json.loads((out / uar_json.stem / f"{p.label}.encode.json").read_text())
        assert report["file_bytes"] == p.file_bytes
        assert report["psnr_yuv"] == pytest.approx(p.psnr_yuv, abs=1e-6)
    assert uar.point("8k").file_bytes < uar.point("12k").file_bytes

    report_md = (out / "report.md").read_text()
    assert "uar-hnerv PSNR-YUV" in report_md and "| uar-hnerv | carphone_qcif_30f_first8 | 4 | 8k |" in report_md
    assert (out / "rd_carphone_qcif_30f_first8_gop4.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def no_encoding(*args, **kwargs):
        raise AssertionError("a cached point was encoded again")

    monkeypatch.setattr(UarRunner, "run_point", no_encoding)
    monkeypatch.setattr(ClassicRunner, "run_point", no_encoding)
    before = uar_json.read_text()
    again = run("-v", "quiet", "bench", str(sample), *TINY, "--codecs", "x265,uar", "--qps", "27,37",
                "--out", str(out))
    assert again.exit_code == 0, again.output
    assert uar_json.read_text() == before


def test_a_failed_encode_is_a_one_line_input_error(tmp_path):
    runner = UarRunner(UarRunnerConfig(gop_size=4, gom_size=2, points=(RatePoint(8000),), training=TrainingOptions(epochs_i=1, epochs_p=1, device="cpu", threads=1)))
    clip = tmp_path / "broken.y4m"
    clip.write_bytes(b"not a video")

    class Broken(ClipSpec):
        def info(self):  # skip probing: the encode process itself must fail and say why
            return ClipInfo("broken", 176, 144, 1, 30.0)

    with pytest.raises(UarInputError, match="uar-hnerv encoding broken at 8k failed"):
        runner.run_point("8k", Broken(clip), tmp_path / "work")


def _job(tmp_path, sample, name: str, epochs_i: int) -> Path:
    settings = UarRunnerConfig(gop_size=4, gom_size=1, points=(RatePoint(8000),), training=TrainingOptions(epochs_i=epochs_i, epochs_p=1))
    job = {"input": str(sample), "output": str(tmp_path / f"{name}.uar"), "report": str(tmp_path / f"{name}.json"),
           "frames": 8, "device": "cpu", "threads": None,
           "settings": settings_to_dict(settings.encoder_settings(RatePoint(8000)))}
    path = tmp_path / f"{name}.job.json"
    path.write_text(json.dumps(job))
    return path


def test_an_interrupted_point_resumes_from_its_complete_goms(sample, tmp_path):
    encode_job(_job(tmp_path, sample, "a", 1))
    first = json.loads((tmp_path / "a.json").read_text())
    assert first["resumed_goms"] == 0 and first["num_goms"] == 2
    # A partial file of this point (here: both GOMs complete) is continued, not re-trained.
    shutil.copy(tmp_path / "a.uar", tmp_path / "a.uar.partial")
    encode_job(_job(tmp_path, sample, "a", 1))
    again = json.loads((tmp_path / "a.json").read_text())
    assert again["resumed_goms"] == 2 and again["file_bytes"] == first["file_bytes"]
    assert not (tmp_path / "a.uar.partial").exists()
    # A partial file made with other settings is discarded.
    shutil.copy(tmp_path / "a.uar", tmp_path / "b.uar.partial")
    encode_job(_job(tmp_path, sample, "b", 2))
    assert json.loads((tmp_path / "b.json").read_text())["resumed_goms"] == 0


def test_curves_cached_before_the_i_models_adam_setting_match_only_where_it_trains_as_before():
    """``beta2_i`` (0.14.0) at Adam's default is left out of a curve's settings, so a curve cached
    before it existed keeps matching where the I-models still train so (from preset medium up);
    at 0.995 it is in (the latent family at the presets up to fast since 0.14.0, HNeRV and
    HiNeRV since 0.15.0), so their curves cached before are encoded again; read back, a missing
    value is the default."""
    from uarcodec.bench.settings_json import settings_from_dict

    def curve(family: str, preset: str, size: int):
        return UarRunnerConfig(gop_size=30, points=(RatePoint(size),),
                               training=TrainingOptions(family=family, preset=preset)).encoder_settings(RatePoint(size))

    medium, fast = curve("hnerv", "medium", 88_000), curve("hnerv", "fast", 88_000)
    latent_medium, latent_fast = curve("latent", "medium", 200_000), curve("latent", "fast", 200_000)
    for settings in (medium, latent_medium):
        assert "beta2_i" not in settings_to_dict(settings)["training"]
    for settings in (fast, latent_fast):
        assert settings_to_dict(settings)["training"]["beta2_i"] == 0.995
    for settings in (medium, fast, latent_medium, latent_fast):
        assert settings_from_dict(settings_to_dict(settings)) == settings


# ---------------------------------------------------------------------- ablation


def test_ablation_variants_map_to_the_papers_table_iii():
    base = UarRunnerConfig(gop_size=30, points=(RatePoint(70_000),), eps=0.3)
    settings = {v.key: variant_config(base, v.key).encoder_settings(RatePoint(70_000)) for v in VARIANTS}
    v0, v1, v2, v3 = (settings[k] for k in ("V0", "V1", "V2", "V3"))
    assert (v0.init, v0.use_ref, v0.training.quant, v0.eps) == ("ii", True, "rqec", 0.3)
    assert (v1.init, v1.use_ref, v1.training.quant, v1.eps) == ("random", False, "rqec", None)
    assert (v2.init, v2.use_ref, v2.training.quant, v2.eps) == ("direct", False, "qat", None)
    assert (v3.init, v3.use_ref, v3.training.quant, v3.eps) == ("ii", False, "rqec", 0.3)
    # V0 is the default encoder, and its curve is the plain bench curve (no second encode).
    plain = UarRunnerConfig(gop_size=30, points=(RatePoint(70_000),)).encoder_settings(RatePoint(70_000))
    assert variant_config(UarRunnerConfig(gop_size=30, points=(RatePoint(70_000),)), "V0").encoder_settings(RatePoint(70_000)) == plain
    assert variant_name("hnerv", "V0") == "uar-hnerv" and variant_name("hinerv", "V2") == "uar-hinerv-V2"
    assert ablation_keys(0) == ("V0", "V1", "V2", "V3") and ablation_keys(1) == ("V0", "V2")
    with pytest.raises(UarInputError):
        variant_config(base, "V9")


def _fake_point(runner: UarRunner, label: str, clip: ClipSpec) -> PointResult:
    """A synthetic RD point: worse for the weaker variants, better with size."""
    c = runner.config
    point = runner.rate_point(label)
    size = point.model_size
    quant = c.encoder_settings(point).training.quant
    penalty = {("ii", True, "rqec"): 0.0, ("random", False, "rqec"): 0.3, ("direct", False, "qat"): 0.8,
               ("ii", False, "rqec"): 0.2}[(c.init, c.use_ref, quant)]
    bpp = size * 4 / PIXELS * (1 + penalty)
    psnr = 20 + 8 * math.log10(size / 1000) - 2 * penalty + (1.0 if c.family == "hinerv" else 0.0)
    ssim = 1 - 10 ** (-psnr / 20)
    return PointResult(label, bpp, bpp * 30, psnr, psnr, psnr, psnr, psnr, ssim, 1.0, 0.1, 100.0,
                       int(bpp * PIXELS / 8))


def test_bench_ablation_runs_each_variant_once_and_writes_the_table(sample, tmp_path, monkeypatch):
    calls: list[tuple[str, str]] = []

    def fake_run_point(self, label, clip, workdir):
        calls.append((self.name, label))
        return _fake_point(self, label, clip)

    monkeypatch.setattr(UarRunner, "run_point", fake_run_point)
    out = tmp_path / "abl"
    result = run("-v", "quiet", "bench", str(sample), "--frames", "8", "-p", "4", "-m", "2", "--sizes",
                 "8k,12k,16k", "--model", "hnerv,hinerv", "--codecs", "uar", "--ablation", "--out", str(out))
    assert result.exit_code == 0, result.output
    names = sorted({n for n, _ in calls})
    assert names == ["uar-hinerv", "uar-hinerv-V2", "uar-hnerv", "uar-hnerv-V1", "uar-hnerv-V2", "uar-hnerv-V3"]
    assert len(calls) == len(set(calls)) == 6 * 3  # V0 (= the plain curve) is not encoded twice
    text = (out / "ablation.md").read_text()
    assert str(out / "ablation.md") in result.stdout.split()
    v0_row = next(line for line in text.splitlines() if line.startswith("| V0 "))
    assert "+0.0%" in v0_row and "8k bpp / dB" in text
    v2_row = next(line for line in text.splitlines() if line.startswith("| V2 "))
    assert float(v2_row.split("|")[2].strip().rstrip("%")) > 0  # base costs more bits than V0
    assert "| hnerv |" in text and "| hinerv |" in text  # base vs ours per family
    assert "Average BD-rate against V0" in text


def test_a_changed_ladder_reencodes_only_the_points_it_changed(sample, tmp_path, monkeypatch):
    """Cached points stay valid when other points of the curve change: a ladder that keeps two
    points and changes the lambda of a third encodes only the changed and the new ones, and drops
    the points it no longer has from the results."""
    calls: list[str] = []

    def fake_run_point(self, label, clip, workdir):
        calls.append(label)
        return _fake_point(self, label, clip)

    monkeypatch.setattr(UarRunner, "run_point", fake_run_point)
    out = tmp_path / "bench"
    first = ("--sizes", "8k,12k", "--lambda", "40")
    for args in (first, first):
        result = run("-v", "quiet", "bench", str(sample), "--frames", "8", "-p", "4", "-m", "2", *args,
                     "--codecs", "uar", "--out", str(out))
        assert result.exit_code == 0, result.output
    assert calls == ["8k", "12k"]  # the second run is all cached
    ladder = (RatePoint(8000), RatePoint(12000, 40.0), RatePoint(16000, 90.0))
    monkeypatch.setattr("uarcodec.bench.uar_runner.default_points", lambda *a, **k: ladder)
    result = run("-v", "quiet", "bench", str(sample), "--frames", "8", "-p", "4", "-m", "2", "--codecs", "uar",
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    # "8k" now trains at the default lambda (not 40): encoded again; "12k-l40" and "16k-l90" are new.
    assert calls == ["8k", "12k", "8k", "12k-l40", "16k-l90"]
    saved = CodecResults.load(next(out.glob("uar-hnerv__*.json")))
    assert sorted(p.label for p in saved.points) == ["12k-l40", "16k-l90", "8k"]


def test_ablation_markdown_skips_clips_without_variants():
    assert "##" not in ablation_markdown([], ["hnerv"]).split("\n", 1)[1]


def test_ablation_sections_go_by_increasing_p():
    def curve(codec: str, gop: int, penalty: float) -> CodecResults:
        points = [PointResult(f"{k}k", k * (1 + penalty) / 100, k, 30 + k / 10, 30, 30, 30 + k / 10 - penalty,
                              30, None, 1.0, 0.1, None, 1000) for k in (10, 20, 40)]
        return CodecResults(codec, {"gop": gop}, ClipInfo("c", 176, 144, 120, 30.0), {}, points)

    results = [curve(name, gop, penalty) for gop in (60, 30, 6)
               for name, penalty in (("uar-hnerv", 0.0), ("uar-hnerv-V1", 0.5))]
    text = ablation_markdown(results, ["hnerv"])
    assert [line for line in text.splitlines() if line.startswith("## c, p =")] == [
        "## c, p = 6", "## c, p = 30", "## c, p = 60"]
    average = text.split("## Average BD-rate against V0")[1]
    assert [line.split(" | ")[0] for line in average.splitlines() if line[2:3].isdigit()] == ["| 6", "| 30", "| 60"]


@pytest.mark.parametrize(("args", "message"), [
    (["--codecs", "x265,foo"], "--codecs"), (["-p", "0"], "-p"), (["-p", "4,x"], "-p"),
    (["--model", "nerv"], "--model"), (["--sizes", "8k,8k"], "repeat"),
])
def test_bench_usage_errors_are_one_line(sample, tmp_path, args, message):
    result = run("bench", str(sample), "--out", str(tmp_path / "o"), "--frames", "8", *args)
    assert result.exit_code in (1, 2) and message in result.output and "Traceback" not in result.output
