"""`uar decode --workers N` gives the serial decode's bytes; `uar decode --conceal` decodes
every intact GOM of a damaged stream, repeats the last good frame for a damaged one, warns and
exits 3; without it a damaged stream is still a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLE, tiny_settings
from test_cli import assert_one_line_error, run
from uarcodec import api
from uarcodec.bitstream import UarReader
from uarcodec.errors import UarFormatError
from uarcodec.pipeline.conceal import MID_GREY, conceal_frames, concealed_clips
from uarcodec.pipeline.decoder import GomPart
from uarcodec.video.frames import YuvClip
from uarcodec_cli.decode_cmd import concealed_message

WIDTH, HEIGHT = 176, 144
FRAME = WIDTH * HEIGHT * 3 // 2
PARALLEL = ["--workers", "2", "--threads-per-worker", "1"]


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> Path:
    """14 frames, GOPs of 2, GOMs of 2 GOPs: GOMs 0..3 hold frames 0-3, 4-7, 8-11, 12-13."""
    out = tmp_path_factory.mktemp("parallel") / "s.uar"
    api.encode(SAMPLE, out, tiny_settings(gop_size=2, gom_size=2, epochs_i=1, epochs_p=1, model_size=8000),
               frames=14, device="cpu")
    return out


@pytest.fixture(scope="module")
def clean(stream) -> list[bytes]:
    """The frames of a serial decode of the intact stream."""
    out = stream.with_name("clean.y4m")
    api.decode(stream, str(out), device="cpu")
    return y4m_frames(out)


def y4m_frames(path: Path) -> list[bytes]:
    """The frames of a 176x144 4:2:0 .y4m file as raw bytes."""
    data = path.read_bytes()
    body = data[data.index(b"\n") + 1 :]
    records = [body[i : i + 6 + FRAME] for i in range(0, len(body), 6 + FRAME)]
    assert all(r.startswith(b"FRAME\n") and len(r) == 6 + FRAME for r in records)
    return [r[6:] for r in records]


def damaged_copy(stream: Path, tmp_path: Path, how: str) -> Path:
    """The stream with GOM 1's payload flipped ("corrupt") or cut inside its last GOM ("truncate")."""
    data = bytearray(stream.read_bytes())
    with open(stream, "rb") as fh:
        entries = UarReader(fh).index
    assert [e.index for e in entries] == [0, 1, 2, 3]
    if how == "corrupt":
        mid = entries[1].offset + entries[1].length // 2
        data[mid : mid + 16] = bytes(b ^ 0xA5 for b in data[mid : mid + 16])
    else:
        data = data[: entries[3].offset + entries[3].length // 2]
    bad = tmp_path / f"{how}.uar"
    bad.write_bytes(bytes(data))
    return bad


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("uar: warning:")]


def test_two_workers_write_the_same_file_as_a_serial_decode(stream, tmp_path):
    serial, parallel = tmp_path / "serial.y4m", tmp_path / "parallel.y4m"
    assert run("--threads", "1", "decode", str(stream), "-o", str(serial)).exit_code == 0
    result = run("--threads", "1", "decode", str(stream), "-o", str(parallel), *PARALLEL)
    assert result.exit_code == 0, result.output
    assert not warnings(result.stderr)
    assert parallel.read_bytes() == serial.read_bytes()


@pytest.mark.parametrize("workers", [1, 2])
def test_conceal_repeats_the_last_good_frame_over_a_corrupted_gom(stream, clean, tmp_path, workers):
    bad, out = damaged_copy(stream, tmp_path, "corrupt"), tmp_path / "out.y4m"
    result = run("--threads", "1", "decode", str(bad), "-o", str(out), "--conceal", "--json",
                 "--workers", str(workers), "--threads-per-worker", "1")
    assert result.exit_code == 3, result.output
    frames = y4m_frames(out)
    assert len(frames) == 14
    assert frames[:4] == clean[:4] and frames[8:] == clean[8:]  # intact GOMs 0, 2, 3
    assert frames[4:8] == [clean[3]] * 4  # GOM 1 repeats frame 3
    [line] = warnings(result.stderr)
    assert line.startswith("uar: warning: GOM 1 (frames 4..7) damaged (")
    assert line.endswith("concealed by repeating frame 3")
    [concealed] = json.loads(result.stdout)["concealed"]
    assert (concealed["index"], concealed["first_frame"], concealed["num_frames"]) == (1, 4, 4)
    assert concealed["repeated_frame"] == 3 and concealed["reason"]


@pytest.mark.parametrize("workers", [1, 2])
def test_conceal_decodes_a_stream_cut_inside_its_last_gom(stream, clean, tmp_path, workers):
    bad, out = damaged_copy(stream, tmp_path, "truncate"), tmp_path / "out.y4m"
    result = run("--threads", "1", "decode", str(bad), "-o", str(out), "--conceal",
                 "--workers", str(workers), "--threads-per-worker", "1")
    assert result.exit_code == 3, result.output
    frames = y4m_frames(out)
    assert frames[:12] == clean[:12]  # GOMs 0..2 are whole
    assert frames[12:] == [clean[11]] * 2
    [line] = warnings(result.stderr)
    assert line.startswith("uar: warning: GOM 3 (frames 12..13) damaged (")
    assert line.endswith("concealed by repeating frame 11")


@pytest.mark.parametrize("workers", [1, 2])
def test_without_conceal_a_corrupted_stream_is_a_one_line_error(stream, tmp_path, workers):
    bad, out = damaged_copy(stream, tmp_path, "corrupt"), tmp_path / "out.y4m"
    result = run("--threads", "1", "-v", "quiet", "decode", str(bad), "-o", str(out),  # no progress bar
                 "--workers", str(workers), "--threads-per-worker", "1")
    assert_one_line_error(result, code=(1,))
    assert "CRC" in result.stderr
    assert not out.exists()


def _clip(values: list[int]) -> YuvClip:
    """Frames of 4x2 pixels, frame i filled with values[i]."""
    y = np.array(values, np.uint8)[:, None, None] * np.ones((1, 2, 4), np.uint8)
    return YuvClip(y, y[:, :1, :2].copy(), y[:, :1, :2].copy())


def test_conceal_frames_mid_grey_at_the_start_then_the_last_good_frame():
    grey = conceal_frames(None, 3, 4, 2)
    assert (grey.num_frames, grey.width, grey.height) == (3, 4, 2)
    assert all((p == MID_GREY).all() for p in (grey.y, grey.u, grey.v))
    repeated = conceal_frames(_clip([10, 20, 30]), 2, 4, 2)
    assert repeated.same_as(_clip([30, 30]))


def test_concealed_clips_keeps_order_names_what_was_repeated_and_raises_without_conceal():
    damage = UarFormatError("CRC mismatch", chunk="GOMD", offset=99)
    outcomes = [(GomPart(0, 0, 2), damage), (GomPart(1, 2, 2), _clip([5, 6])), (GomPart(2, 4, 1), damage)]
    out = list(concealed_clips(outcomes, 4, 2, conceal=True))
    assert [c.y[:, 0, 0].tolist() for c, _ in out] == [[MID_GREY, MID_GREY], [5, 6], [6]]
    first, last = (g for _, g in out if g)
    assert concealed_message(first).endswith("GOM 0 (frames 0..1) damaged (CRC mismatch (chunk GOMD, offset 99)): "
                                             "concealed with mid-grey")
    assert concealed_message(last).endswith("GOM 2 (frames 4..4) damaged (CRC mismatch (chunk GOMD, offset 99)): "
                                            "concealed by repeating frame 3")
    with pytest.raises(UarFormatError, match="CRC"):
        list(concealed_clips(outcomes, 4, 2, conceal=False))


ABANDON_WITH_A_HALF_SENT_RESULT = """
import struct, sys
from uarcodec.parallel import gom_decode
from uarcodec.pipeline.decoder import GomPart
parts = [GomPart(i, 4 * i, 4) for i in range(3)]
outcomes = gom_decode.parallel_outcomes(sys.argv[1], parts, "cpu", 2, 1)
next(outcomes)  # the pool is running
pool = outcomes.gi_frame.f_locals["pool"]
# a worker terminated halfway through sending a result: a length header and only part of the bytes
pool._result_queue._writer._send(struct.pack("!i", 1 << 20) + bytes(1000))
outcomes.close()  # abandoned, as on an error or Ctrl-C
print("closed")
"""


def test_an_abandoned_parallel_decode_lets_the_process_exit(stream):
    """After an error or Ctrl-C the decode's process must end, even where a terminated worker
    left half a result in the pool's pipe (the pool's thread then waited for the rest forever
    and the interpreter, which joins it at exit, hung)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", ABANDON_WITH_A_HALF_SENT_RESULT, str(stream)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "closed"
