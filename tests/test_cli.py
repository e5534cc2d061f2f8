"""The `uar` command line: one-line errors with exit codes 1/2, no broken output left behind,
`uar info` on good and bad files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import tiny_settings
from uarcodec import api
from uarcodec_cli.main import main

TINY = ["-p", "4", "-m", "2", "--size", "8000", "--epochs-i", "1", "--epochs-p", "1", "--device", "cpu"]


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def assert_one_line_stderr(stderr: str, exit_code: int) -> None:
    """What `uar` promises on failure: one non-empty line ``uar: error: ...`` on stderr; for
    a usage error (exit 2) click's own form is accepted too: its ``Usage: ...`` and
    ``Try '... -h' for help.`` lines followed by exactly one ``Error: ...`` line."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    if exit_code == 2 and not (len(lines) == 1 and lines[0].startswith("uar: error:")):
        assert [line for line in lines if line.startswith("Error:")] == lines[-1:], stderr
        assert len(lines) <= 3, stderr
        assert all(line.startswith(("Usage:", "Try ")) for line in lines[:-1]), stderr
    else:
        assert len(lines) == 1, stderr
        assert lines[0].startswith("uar: error:"), stderr


def assert_one_line_error(result, code=(1, 2)):
    assert result.exit_code in code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert_one_line_stderr(result.stderr, result.exit_code)


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    from conftest import SAMPLE

    out = tmp_path_factory.mktemp("cli") / "s.uar"
    api.encode(SAMPLE, out, tiny_settings(gop_size=4, gom_size=1, epochs_i=1, epochs_p=1, model_size=8000),
               frames=8, device="cpu")
    return out


def test_version_and_help():
    assert run("--version").exit_code == 0
    result = run("-h")
    assert result.exit_code == 0 and "encode" in result.output and "decode" in result.output
    assert run("encode", "-h").exit_code == 0


def test_encode_json_summary_and_info_json(sample, tmp_path):
    out = tmp_path / "o.uar"
    result = run("-v", "quiet", "encode", str(sample), "-o", str(out), "--frames", "4", "--json", *TINY)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["file_bytes"] == out.stat().st_size
    assert summary["num_frames"] == 4
    info = json.loads(run("info", str(out), "--json", "-v").stdout)
    assert info["video"]["frames"] == 4 and info["coding"]["gop_size"] == 4
    assert info["goms"][0]["models"][0]["tensors"][0]["step"] > 0


def test_info_table(stream):
    result = run("info", str(stream), "-v")
    assert result.exit_code == 0
    assert "hnerv" in result.stdout and "GOM" in result.stdout


def test_info_verbose_names_every_coded_tensor(stream):
    """`uar info -v` lists each model's coded tensors by the family's names, with their role in
    --json, so a user can see which tensor the bytes went to."""
    from uarcodec.pipeline.breakdown import tensor_specs
    from uarcodec.api import UarStream

    info = json.loads(run("info", str(stream), "--json", "-v").stdout)
    model = info["goms"][0]["models"][0]
    specs = tensor_specs(UarStream(stream).header, model["frames"])
    assert [(t["name"], t["role"]) for t in model["tensors"]] == [(s.name, s.role.name.lower()) for s in specs]
    assert sum(t["bytes"] for t in model["tensors"]) == model["coded_bytes"]
    table = run("info", str(stream), "-v").stdout
    assert f"GOM 0, model 0 (I): {model['coded_bytes']} bytes" in table
    biggest = max(model["tensors"], key=lambda t: t["bytes"])
    assert str(biggest["bytes"]) in table


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign", "empty"])
def test_info_on_a_damaged_or_foreign_file_is_one_line_exit_1(stream, tmp_path, damage):
    data = bytearray(stream.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[40] ^= 0xFF  # inside the header chunk
    elif damage == "foreign":
        data = bytearray(b"RIFF" + bytes(200))
    else:
        data = bytearray()
    bad = tmp_path / "bad.uar"
    bad.write_bytes(bytes(data))
    result = run("info", str(bad))
    assert_one_line_error(result, code=(1,))


def test_missing_input(tmp_path):
    out = tmp_path / "o.uar"
    result = run("encode", str(tmp_path / "nope.y4m"), "-o", str(out), *TINY)
    assert_one_line_error(result)
    assert not out.exists()


def test_wrong_raw_size(sample, tmp_path):
    raw = tmp_path / "clip.yuv"
    raw.write_bytes(bytes(176 * 144 * 3 // 2 * 3))
    out = tmp_path / "o.uar"
    result = run("encode", str(raw), "-s", "352x288", "-o", str(out), *TINY)
    assert_one_line_error(result)
    assert "frame" in result.stderr
    assert not out.exists()


def test_not_a_video(tmp_path):
    junk = tmp_path / "notes.mp4"
    junk.write_text("this is not a video\n" * 50)
    out = tmp_path / "o.uar"
    result = run("encode", str(junk), "-o", str(out), *TINY)
    assert_one_line_error(result)
    assert not out.exists()


def test_p_zero_is_a_usage_error(sample, tmp_path):
    out = tmp_path / "o.uar"
    result = run("encode", str(sample), "-o", str(out), "-p", "0")
    assert_one_line_error(result, code=(2,))
    assert not out.exists()


def test_unwritable_output(sample, tmp_path):
    out = tmp_path / "no" / "such" / "dir" / "o.uar"
    result = run("encode", str(sample), "-o", str(out), "--frames", "4", *TINY)
    assert_one_line_error(result)
    assert not out.exists()


def test_existing_output_without_y_is_refused_and_kept(sample, tmp_path):
    out = tmp_path / "o.uar"
    out.write_bytes(b"precious")
    result = run("encode", str(sample), "-o", str(out), "--frames", "4", *TINY)
    assert_one_line_error(result)
    assert out.read_bytes() == b"precious"
    dec = tmp_path / "d.y4m"
    dec.write_bytes(b"precious")
    assert_one_line_error(run("decode", str(tmp_path / "o.uar"), "-o", str(dec)))
    assert dec.read_bytes() == b"precious"


def test_decode_gom_and_frames_options(stream, tmp_path):
    whole, gom1 = tmp_path / "all.y4m", tmp_path / "g1.y4m"
    assert run("decode", str(stream), "-o", str(whole)).exit_code == 0
    assert run("decode", str(stream), "-o", str(gom1), "--gom", "1").exit_code == 0
    frame = 176 * 144 * 3 // 2 + 6
    a, b = whole.read_bytes(), gom1.read_bytes()
    header = a.index(b"\n") + 1
    assert b[header:] == a[header + 4 * frame :]
    bad = run("decode", str(stream), "-o", str(tmp_path / "x.y4m"), "--gom", "9")
    assert_one_line_error(bad)
    assert not (tmp_path / "x.y4m").exists()


def test_decode_to_stdout_is_y4m(stream):
    proc = subprocess.run(
        [sys.executable, "-m", "uarcodec_cli", "-v", "quiet", "decode", str(stream), "-o", "-", "-frames", "2"],
        capture_output=True, check=True,
    )
    assert proc.stdout.startswith(b"YUV4MPEG2 W176 H144")
    assert proc.stdout.count(b"FRAME\n") == 2


def test_real_exit_code_for_a_missing_stream(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "uarcodec_cli", "info", str(tmp_path / "none.uar")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert_one_line_stderr(proc.stderr, proc.returncode)


@pytest.mark.parametrize("gop", [2, 4])
def test_encode_without_size_fits_the_model_to_the_frame_size_and_p(sample, tmp_path, gop):
    """Without --size or --bpp the model is sized for this video (the second of the bench's
    four rate points), not a fixed 100k that dwarfs a few QCIF frames; the stream records it."""
    from uarcodec.sizing import default_model_size

    out = tmp_path / "fitted.uar"
    done = run("-v", "quiet", "encode", str(sample), "-o", str(out), "-p", str(gop), "-m", "1", "--frames", str(gop),
               "--epochs-i", "1", "--epochs-p", "1", "--device", "cpu")
    assert done.exit_code == 0, done.output
    recorded = api.stream_info(out)["coding"]["encoder_settings"]["model_size"]
    assert recorded == default_model_size("hnerv", 176, 144, gop, gop) < 100_000


@pytest.mark.parametrize("family, says", [("hnerv", "where the camera moves"), ("latent", "where the grids move")])
def test_encode_says_when_p_models_train_longer(sample, tmp_path, family, says):
    """At a preset the header line names the P-models' longer epochs and what triggers them
    (one GOP here, so nothing trains them)."""
    out = tmp_path / f"{family}.uar"
    done = run("encode", str(sample), "-o", str(out), "-p", "4", "-m", "2", "--frames", "4", "--model", family,
               "--size", "40k", "--epochs-i", "1", "--device", "cpu")
    assert done.exit_code == 0, done.output
    assert says in " ".join(done.stderr.split())


@pytest.mark.parametrize("cuts", ["5,3", "0", "abc", "4,,6"])
def test_bad_scene_cuts_are_a_usage_error(sample, tmp_path, cuts):
    result = run("encode", str(sample), "-o", str(tmp_path / "o.uar"), *TINY, "--scene-cuts", cuts)
    assert_one_line_error(result, code=(2,))
    assert "scene" in result.stderr.lower() or "scene-cuts" in result.stderr


def test_scene_cuts_beyond_the_frames_coded_are_one_line_exit_1(sample, tmp_path):
    result = run("encode", str(sample), "-o", str(tmp_path / "o.uar"), *TINY, "-frames", "8", "--scene-cuts", "9")
    assert_one_line_error(result, code=(1,))
    assert "scene cuts must be increasing frames of 1..7, got [9]" in result.stderr
    assert not (tmp_path / "o.uar").exists()


def test_encode_says_hnerv_p_models_train_at_their_own_lambda_where_the_camera_moves(sample, tmp_path):
    """At a preset HNeRV's header line names the P-models' lambda before a moving camera too
    (MOVING_P_LAMBDA_SCALE); one GOP here, so nothing trains them."""
    out = tmp_path / "hnerv.uar"
    done = run("encode", str(sample), "-o", str(out), "-p", "4", "-m", "2", "--frames", "4", "--model", "hnerv",
               "--size", "40k", "--epochs-i", "1", "--device", "cpu")
    assert done.exit_code == 0, done.output
    assert "P lambda x1 where the camera moves" in " ".join(done.stderr.split())
