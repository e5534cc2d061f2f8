"""The classic-codec bench: Annex-B SEI stripping, the results schema, an end-to-end tiny run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from uarcodec.bench import annexb
from uarcodec.bench.classic import ClassicRunner, classic_runners
from uarcodec.bench.ffmpeg import available_encoders, probe_video, run_measured
from uarcodec.bench.report import bd_table_markdown, load_results_dir, write_report
from uarcodec.bench.results import SCHEMA_VERSION, ClipInfo, CodecResults, PointResult
from uarcodec.bench.runner import ClipSpec, results_path, run_bench
from uarcodec.errors import UarInputError
from conftest import SHARED_DATA

DATA = SHARED_DATA
CARPHONE = DATA / "carphone_qcif_120f.y4m"
BOX = DATA / "box_cif_120f.y4m"
needs_carphone = pytest.mark.skipif(not CARPHONE.exists(), reason="carphone clip absent")


# ------------------------------------------------------------------------- Annex B


def sei_nal(codec: str, payloads: list[tuple[int, bytes]]) -> bytes:
    header = bytes([0x06]) if codec == "h264" else bytes([39 << 1, 0x01])
    body = b"".join(bytes([t, len(p)]) + p for t, p in payloads)
    return b"\x00\x00\x00\x01" + header + body + b"\x80"


def test_strip_removes_only_encoder_info_sei():
    vps = b"\x00\x00\x00\x01" + bytes([32 << 1, 0x01]) + b"\x0c\x01\xff"
    slice_ = b"\x00\x00\x01" + bytes([1 << 1, 0x01]) + b"\xaf\x00\x00\x03\x01\x42"
    info = sei_nal("hevc", [(5, b"U" * 16 + b"x265 (build 1) - options: ...")])
    mixed = sei_nal("hevc", [(5, b"U" * 16), (132, b"\x00\x11")])  # user data + hash: kept
    stream = vps + info + slice_ + mixed + info
    units = annexb.split_nal_units(stream)
    assert b"".join(u.data for u in units) == stream
    assert [annexb.nal_type(u, "hevc") for u in units] == [32, 39, 1, 39, 39]
    assert annexb.strip_encoder_info(stream, "hevc") == vps + slice_ + mixed


def test_strip_h264_and_emulation_prevention():
    sps = b"\x00\x00\x00\x01\x67\x64\x00\x0a"
    # A user-data payload containing 00 00 03 (emulation prevention) still parses.
    info = sei_nal("h264", [(5, b"\x00\x00\x03\x01" + b"x264 - core")])
    idr = b"\x00\x00\x01\x65\x88\x84"
    assert annexb.strip_encoder_info(sps + info + idr, "h264") == sps + idr
    with pytest.raises(UarInputError):
        annexb.split_nal_units(b"not a stream")


# ---------------------------------------------------------------------- results schema


def sample_results() -> CodecResults:
    point = PointResult("qp32", 0.0764, 58.0, 36.4, 41.2, 42.0, 37.45, 32.9, 0.983, 7.5, 0.05,
                        220.0, 29039)
    return CodecResults("x265", {"gop": 30, "preset": "veryslow"},
                        ClipInfo("carphone", 176, 144, 120, 30000 / 1001),
                        {"rgb_matrix": "bt601", "rgb_range": "limited"}, [point])


def test_results_round_trip(tmp_path):
    results = sample_results()
    path = tmp_path / "r.json"
    results.save(path)
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION and data["codec"] == "x265"
    assert set(data["points"][0]) == {
        "label", "bpp", "kbps", "psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "psnr_rgb", "ms_ssim",
        "encode_seconds", "decode_seconds", "peak_memory_mb", "file_bytes"}
    again = CodecResults.load(path)
    assert again == results
    assert again.point("qp32").file_bytes == 29039 and again.point("qp99") is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("codec"), "codec"),
        (lambda d: d.update(schema_version=99), "schema_version"),
        (lambda d: d.update(schema="other"), "not a"),
        (lambda d: d["points"][0].update(bpp="small"), "bpp"),
        (lambda d: d["points"][0].update(file_bytes=1.5), "file_bytes"),
        (lambda d: d["points"][0].pop("psnr_yuv"), "psnr_yuv"),
        (lambda d: d["clip"].update(width=0), "positive"),
        (lambda d: d.update(points={}), "list"),
        (lambda d: d["points"].append(dict(d["points"][0])), "repeated"),
    ],
)
def test_malformed_results_are_input_errors(mutate, message):
    data = sample_results().to_dict()
    mutate(data)
    with pytest.raises(UarInputError, match=message):
        CodecResults.from_json(json.dumps(data))


def test_not_json_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")
    with pytest.raises(UarInputError, match="JSON"):
        CodecResults.load(bad)


# ---------------------------------------------------------------------- end to end


@needs_carphone
def test_probe_reads_the_y4m_header():
    probe = probe_video(CARPHONE)
    assert (probe.width, probe.height, probe.frames) == (176, 144, 120)
    assert probe.fps == pytest.approx(30000 / 1001)


@needs_carphone
@pytest.mark.skipif(not {"libx264", "libx265"} <= available_encoders(),
                    reason="this ffmpeg lacks libx264/libx265")
def test_tiny_bench_end_to_end_and_cached(tmp_path, monkeypatch):
    clip = ClipSpec(CARPHONE, frames=16)
    runners = classic_runners(8, codecs=("x264", "x265"), qps={"x264": (27, 37), "x265": (27, 37)})
    events: list[tuple[str, str, str, str]] = []
    results = run_bench(runners, [clip], tmp_path, on_event=lambda *e: events.append(e))

    assert [r.codec for r in results] == ["x264", "x265"]
    for r in results:
        path = results_path(tmp_path, r.codec, "carphone_qcif_120f_first16", 8)
        assert path.exists()
        loaded = CodecResults.load(path)
        assert loaded == r
        assert loaded.clip == ClipInfo("carphone_qcif_120f_first16", 176, 144, 16, 30000 / 1001)
        assert loaded.settings["gop"] == 8 and loaded.measurement["rgb_matrix"] == "bt601"
        assert "9x9" in loaded.measurement["ms_ssim_method"]
        low, high = loaded.point("qp37"), loaded.point("qp27")
        assert low.bpp < high.bpp and low.psnr_yuv < high.psnr_yuv
        assert 25 < low.psnr_yuv < high.psnr_yuv < 50 and 0.8 < low.ms_ssim < high.ms_ssim < 1
        for p in (low, high):
            stream = path.with_suffix("") / f"{p.label}.{ '264' if r.codec == 'x264' else '265'}"
            assert stream.stat().st_size == p.file_bytes
            assert p.bpp == pytest.approx(p.file_bytes * 8 / (176 * 144 * 16))
            assert p.peak_memory_mb > 1 and p.encode_seconds > 0 and p.decode_seconds > 0
            data = stream.read_bytes()
            assert b"x265 (build" not in data and b"x264 - core" not in data
    assert [e[3] for e in events].count("done") == 4

    # Rerun: every point comes from the cache and nothing is encoded.
    def no_encoding(*args, **kwargs):
        raise AssertionError("a cached point was encoded again")

    monkeypatch.setattr(ClassicRunner, "run_point", no_encoding)
    events.clear()
    again = run_bench(classic_runners(8, codecs=("x264", "x265"),
                                      qps={"x264": (27, 37), "x265": (27, 37)}),
                      [clip], tmp_path, on_event=lambda *e: events.append(e))
    assert again == results
    assert {e[3] for e in events} == {"cached"}

    files = write_report(load_results_dir(tmp_path), tmp_path / "report")
    assert files.markdown.read_text().count("carphone_qcif_120f_first16") >= 2
    assert "x264 PSNR-YUV" in files.markdown.read_text()
    assert len(files.plots) == 1
    assert files.plots[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = bd_table_markdown(results)
    x264_row = next(line for line in table.splitlines() if line.startswith("| carphone"))
    assert "%" in x264_row


def curve_results(codec: str, clip: str, scale: float) -> CodecResults:
    points = [PointResult(f"p{i}", scale * bpp, 60.0, 30, 30, 30, psnr, 30, None, 1.0, 0.1, None, 100)
              for i, (bpp, psnr) in enumerate([(0.02, 30.0), (0.05, 34.0), (0.1, 38.0)])]
    return CodecResults(codec, {"gop": 30}, ClipInfo(clip, 176, 144, 120, 30.0), {}, points)


def test_report_of_several_clips_adds_an_overview_plot_and_explains_na(tmp_path):
    results = [curve_results("x265", "a", 1.0), curve_results("uar", "a", 0.75),
               curve_results("x265", "b", 1.0), curve_results("uar", "b", 10.0)]
    results[3] = CodecResults("uar", {"gop": 30}, results[3].clip, {}, [
        PointResult(f"p{i}", 0.1 * (i + 1), 60.0, 20, 20, 20, 20.0 + i, 20, None, 1, 0.1, None, 9)
        for i in range(3)])  # 20-22 dB: no overlap with x265's 30-38 dB
    files = write_report(results, tmp_path)
    assert [p.name for p in files.plots] == ["rd_a_gop30.png", "rd_b_gop30.png", "rd_overview_gop30.png"]
    assert files.plots[-1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = bd_table_markdown(results, metrics=("psnr_yuv",))
    rows = {line.split(" | ")[0]: line for line in table.splitlines() if line.startswith("| ")}
    assert "-25.0%" in rows["| a"] and "n/a" in rows["| b"]
    assert "n/a means the two curves do not overlap" in table


def test_bd_table_says_when_the_anchor_or_a_codec_was_not_run():
    only_ours = bd_table_markdown([curve_results("uar", "a", 1.0)])
    assert "No x265 results at GOP 30" in only_ours and "n/a" not in only_ours
    partial = bd_table_markdown([curve_results("x265", "a", 1.0), curve_results("uar", "a", 0.75),
                                 curve_results("uar", "b", 1.0)], metrics=("psnr_yuv",))
    rows = {line.split(" | ")[0]: line for line in partial.splitlines() if line.startswith("| ")}
    assert rows["| b"].endswith("| - |") and "-25.0%" in rows["| **average**"]


def test_changed_settings_invalidate_the_cache(tmp_path):
    class FakeRunner:
        name = "fake"

        def __init__(self, version: int) -> None:
            self.version = version
            self.calls = 0

        def settings(self):
            return {"gop": 4, "version": self.version}

        def points(self):
            return ["a"]

        def run_point(self, label, clip, workdir):
            self.calls += 1
            return PointResult(label, 0.1, 1.0, 30, 30, 30, 30, 30, None, 0, 0, None, 10)

    if not CARPHONE.exists():
        pytest.skip("carphone clip absent")
    clip = ClipSpec(CARPHONE, frames=2)
    first, same, changed = FakeRunner(1), FakeRunner(1), FakeRunner(2)
    run_bench([first], [clip], tmp_path)
    run_bench([same], [clip], tmp_path)
    run_bench([changed], [clip], tmp_path)
    assert (first.calls, same.calls, changed.calls) == (1, 0, 1)


# ------------------------------------------------------------------ MEASUREMENTS.md


@pytest.mark.slow
@pytest.mark.skipif(not (CARPHONE.exists() and BOX.exists()), reason="clips absent")
def test_x265_reproduces_measurements_md(tmp_path):
    table = {  # clip: {qp: (bpp, PSNR-YUV)} from shared/MEASUREMENTS.md
        "carphone_qcif_120f": {32: (0.076, 37.45), 37: (0.044, 34.59)},
        "box_cif_120f": {32: (0.028, 38.60), 37: (0.016, 35.91)},
    }
    runners = classic_runners(30, codecs=("x265",), qps={"x265": (32, 37)})
    results = run_bench(runners, [ClipSpec(CARPHONE), ClipSpec(BOX)], tmp_path)
    for r in results:
        for qp, (bpp, yuv) in table[r.clip.name].items():
            p = r.point(f"qp{qp}")
            assert p.bpp == pytest.approx(bpp, abs=0.0006)
            assert p.psnr_yuv == pytest.approx(yuv, abs=0.02)


# ---------------------------------------------------------------- measured processes


def test_run_measured_reports_the_commands_own_peak_memory():
    run = run_measured([sys.executable, "-c", "b = bytearray(64 * 2**20); b[::4096] = b'x' * len(b[::4096])"],
                       "allocating 64 MiB")
    assert 64 <= run.peak_memory_mb < 200 and run.seconds > 0


def test_run_measured_failure_is_an_input_error_with_the_tail_of_stderr():
    with pytest.raises(UarInputError, match=r"failing step failed \(exit 3\): boom"):
        run_measured([sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"],
                      "failing step")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_killing_a_bench_stops_the_command_it_measures(tmp_path):
    pid_file = tmp_path / "pid"
    parent = subprocess.Popen([sys.executable, "-c", (
        "import sys; from uarcodec.bench.ffmpeg import run_measured; "
        f"run_measured(['/bin/sh', '-c', 'echo $$ > {pid_file}; exec sleep 60'], 'sleeping')")])
    try:
        deadline = time.monotonic() + 120  # importing uarcodec (torch) on a loaded machine
        while not (pid_file.exists() and pid_file.read_text().strip()):
            assert time.monotonic() < deadline, "the measured command never started"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        os.kill(child, 0)  # running
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        pytest.fail("the measured command outlived the killed bench")
    finally:
        parent.kill()
