"""Reading and writing video files: round trips, partial reads, atomic writes, user errors."""

from __future__ import annotations

import dataclasses
import filecmp
import io
import sys
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from uarcodec.bitstream.records import ColorMatrix, ColorRange, VideoParams
from uarcodec.errors import UarInputError
from uarcodec.video import YuvClip, open_video, open_writer
from conftest import SHARED_DATA

DATA = SHARED_DATA
CARPHONE = DATA / "carphone_qcif_120f.y4m"
needs_carphone = pytest.mark.skipif(not CARPHONE.exists(), reason=f"real clip {CARPHONE} not present")


def smooth_clip(num_frames: int, width: int = 64, height: int = 48, seed: int = 0) -> YuvClip:
    """Moving smooth patterns plus a little noise: compressible like real video."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames)[:, None, None]
    rows = np.arange(height)[None, :, None]
    cols = np.arange(width)[None, None, :]
    y = 128 + 70 * np.sin(cols / 7.0 + t / 3.0) * np.cos(rows / 5.0) + rng.normal(0, 2, (num_frames, height, width))
    rows_c, cols_c = rows[:, : height // 2, :], cols[:, :, : width // 2]
    u = 128 + 40 * np.cos(cols_c / 4.0 - t / 5.0) + 0 * rows_c
    v = 128 + 40 * np.sin(rows_c / 3.0 + t / 4.0) + 0 * cols_c
    as8 = lambda a: np.clip(np.rint(a), 0, 255).astype(np.uint8)  # noqa: E731
    return YuvClip(as8(y), as8(u), as8(v))


def info_for(clip: YuvClip, **changes: object) -> VideoParams:
    info = VideoParams(width=clip.width, height=clip.height, num_frames=clip.num_frames, fps=Fraction(25))
    return dataclasses.replace(info, **changes)


def write_clip(path: Path, clip: YuvClip, **changes: object) -> Path:
    with open_writer(path, info_for(clip, **changes)) as writer:
        writer.write(clip)
    return path


def read_all(path: Path, **options: object) -> YuvClip:
    with open_video(path, **options) as reader:
        return reader.read(0, reader.info.num_frames)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse)) if mse > 0 else float("inf")


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["clip.y4m", "clip_64x48.yuv"])
def test_synthetic_round_trip_is_byte_identical(tmp_path: Path, name: str) -> None:
    clip = smooth_clip(9)
    first = write_clip(tmp_path / name, clip)
    assert read_all(first).same_as(clip)
    second = tmp_path / f"again_{name}"
    with open_video(first) as reader, open_writer(second, reader.info) as writer:
        for chunk in reader.iter_chunks(4):
            writer.write(chunk)
    assert filecmp.cmp(first, second, shallow=False)


@needs_carphone
def test_real_y4m_read_then_written_is_byte_identical(tmp_path: Path) -> None:
    out = tmp_path / "copy.y4m"
    with open_video(CARPHONE) as reader:
        assert (reader.info.width, reader.info.height, reader.info.num_frames) == (176, 144, 120)
        assert reader.info.fps == Fraction(30000, 1001)
        with open_writer(out, reader.info) as writer:
            for chunk in reader.iter_chunks(16):
                writer.write(chunk)
    assert filecmp.cmp(CARPHONE, out, shallow=False)


@needs_carphone
def test_real_yuv_round_trip_is_byte_identical(tmp_path: Path) -> None:
    raw = tmp_path / "carphone_176x144_30000fps.yuv"
    with open_video(CARPHONE) as reader, open_writer(raw, reader.info) as writer:
        writer.write(reader.read(0, 120))
    assert raw.stat().st_size == 120 * 176 * 144 * 3 // 2
    again = tmp_path / "again.yuv"
    with open_video(raw, size=(176, 144)) as reader, open_writer(again, reader.info) as writer:
        for chunk in reader.iter_chunks(50):
            writer.write(chunk)
    assert filecmp.cmp(raw, again, shallow=False)


def test_mkv_ffv1_is_lossless_and_keeps_tags(tmp_path: Path) -> None:
    clip = smooth_clip(10)
    path = write_clip(tmp_path / "clip.mkv", clip, color_matrix=ColorMatrix.BT709, color_range=ColorRange.FULL)
    with open_video(path) as reader:
        assert reader.info.num_frames == 10
        assert reader.info.fps == 25
        assert reader.info.color_matrix == ColorMatrix.BT709
        assert reader.info.color_range == ColorRange.FULL
        assert reader.read(0, 10).same_as(clip)


@needs_carphone
def test_mp4_is_h264_with_high_psnr_on_a_real_clip(tmp_path: Path) -> None:
    import av

    with open_video(CARPHONE) as reader:
        source = reader.read(0, 30)
        info = dataclasses.replace(reader.info, num_frames=30)
    path = tmp_path / "clip.mp4"
    with open_writer(path, info) as writer:
        writer.write(source)
    with av.open(str(path)) as container:  # decode with PyAV directly, not through our reader
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.profile == "High"
        assert stream.codec_context.colorspace == 6  # smpte170m: BT.601 tagged
        assert stream.codec_context.color_range == 1  # limited (tv)
        planes = [f.to_ndarray(format="yuv420p") for f in container.decode(stream)]
    decoded = np.stack(planes)
    assert decoded.shape == (30, 144 * 3 // 2, 176)
    assert psnr(decoded[:, :144], source.y) > 40.0
    packed_u = decoded[:, 144 : 144 + 36].reshape(30, 72, 88)
    assert psnr(packed_u, source.u) > 40.0


def test_mp4_synthetic_psnr_and_tags_read_back(tmp_path: Path) -> None:
    clip = smooth_clip(8)
    path = write_clip(tmp_path / "clip.mp4", clip, color_matrix=ColorMatrix.BT709, fps=Fraction(30000, 1001))
    with open_video(path) as reader:
        assert reader.info.num_frames == 8
        assert reader.info.fps == Fraction(30000, 1001)
        assert reader.info.color_matrix == ColorMatrix.BT709
        decoded = reader.read(0, 8)
    assert psnr(decoded.y, clip.y) > 40.0


def test_stdout_dash_writes_y4m(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = smooth_clip(3)
    fake_stdout = io.TextIOWrapper(io.BytesIO())
    monkeypatch.setattr(sys, "stdout", fake_stdout)
    with open_writer("-", info_for(clip)) as writer:
        writer.write(clip)
    data = fake_stdout.buffer.getvalue()
    assert data.startswith(b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\n")
    saved = tmp_path / "saved.y4m"
    saved.write_bytes(data)
    assert read_all(saved).same_as(clip)


# --- partial reads -------------------------------------------------------------------------


def _peak_bytes_of_read(path: Path, start: int, count: int, **options: object) -> tuple[int, YuvClip]:
    with open_video(path, **options) as reader:
        tracemalloc.start()
        try:
            clip = reader.read(start, count)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return peak, clip


@pytest.mark.parametrize("name", ["clip.y4m", "clip_64x48.yuv"])
def test_reading_the_last_20_of_120_frames_reads_only_those(tmp_path: Path, name: str) -> None:
    clip = smooth_clip(120)
    path = write_clip(tmp_path / name, clip)
    peak, part = _peak_bytes_of_read(path, 100, 20)
    assert part.same_as(clip[100:120])
    assert peak < 25 * clip.frame_bytes  # 20 frames of output plus one frame of buffer, not 120


@needs_carphone
def test_reading_frames_100_to_119_of_a_real_clip_stays_small() -> None:
    peak, part = _peak_bytes_of_read(CARPHONE, 100, 20)
    assert part.num_frames == 20
    assert peak < 25 * part.frame_bytes
    with open_video(CARPHONE) as reader:
        assert reader.read(110, 1).same_as(part[10])


def test_av_reader_reads_any_range_forward_and_backward(tmp_path: Path) -> None:
    clip = smooth_clip(12)
    path = write_clip(tmp_path / "clip.mkv", clip)
    with open_video(path) as reader:
        assert reader.read(5, 3).same_as(clip[5:8])
        assert reader.read(8, 4).same_as(clip[8:12])  # continues the same decode
        assert reader.read(0, 2).same_as(clip[0:2])  # goes back
        chunks = list(reader.iter_chunks(5, start=1))
    assert [c.num_frames for c in chunks] == [5, 5, 1]
    assert YuvClip.concatenate(chunks).same_as(clip[1:])


def test_iter_chunks_covers_the_range_with_a_shorter_last_chunk(tmp_path: Path) -> None:
    clip = smooth_clip(10)
    path = write_clip(tmp_path / "clip.y4m", clip)
    with open_video(path) as reader:
        chunks = list(reader.iter_chunks(4, start=2, count=7))
        assert [c.num_frames for c in chunks] == [4, 3]
        assert YuvClip.concatenate(chunks).same_as(clip[2:9])
        assert reader.read(3, 0).num_frames == 0
        with pytest.raises(UarInputError, match="10 frame"):
            reader.read(8, 3)
        with pytest.raises(UarInputError):
            list(reader.iter_chunks(0))


# --- atomic writes -------------------------------------------------------------------------


@pytest.mark.parametrize("extension", [".yuv", ".y4m", ".mp4", ".mkv"])
def test_interrupted_writer_leaves_no_file(tmp_path: Path, extension: str) -> None:
    clip = smooth_clip(4)
    target = tmp_path / f"out{extension}"
    with pytest.raises(KeyboardInterrupt):
        with open_writer(target, info_for(clip)) as writer:
            writer.write(clip)
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_leaves_the_old_target_untouched(tmp_path: Path) -> None:
    clip = smooth_clip(4)
    target = write_clip(tmp_path / "out.y4m", clip)
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        with open_writer(target, info_for(clip), overwrite=True) as writer:
            writer.write(smooth_clip(4, seed=1))
            raise RuntimeError("stop")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.y4m"]


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    clip = smooth_clip(2)
    target = write_clip(tmp_path / "out.yuv", clip)
    with pytest.raises(UarInputError, match="already exists"):
        open_writer(target, info_for(clip))
    with open_writer(target, info_for(clip), overwrite=True) as writer:
        writer.write(clip[:1])
    assert target.stat().st_size == clip.frame_bytes


def test_file_appears_only_on_close(tmp_path: Path) -> None:
    clip = smooth_clip(2)
    target = tmp_path / "out.y4m"
    writer = open_writer(target, info_for(clip))
    writer.write(clip)
    assert not target.exists()
    writer.close()
    assert target.exists() and writer.frames_written == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out.y4m"]


# --- user errors --------------------------------------------------------------------------


def test_unknown_output_extension_lists_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(UarInputError, match=r"\.mkv.*\.mp4.*\.y4m.*\.yuv"):
        open_writer(tmp_path / "out.webm", info_for(smooth_clip(1)))


def test_odd_size_writer_is_refused(tmp_path: Path) -> None:
    info = VideoParams(width=63, height=48, num_frames=1, fps=Fraction(25))
    with pytest.raises(UarInputError, match="even"):
        open_writer(tmp_path / "out.y4m", info)
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_a_clip_of_another_size(tmp_path: Path) -> None:
    with pytest.raises(UarInputError, match="32x16"):
        with open_writer(tmp_path / "out.y4m", info_for(smooth_clip(1))) as writer:
            writer.write(smooth_clip(1, width=32, height=16))
    assert list(tmp_path.iterdir()) == []


def test_missing_and_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(UarInputError, match="no such file"):
        open_video(tmp_path / "missing.y4m")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 10)
    with pytest.raises(UarInputError, match="garbage.mp4"):
        open_video(garbage)
    fake_y4m = tmp_path / "fake.y4m"
    fake_y4m.write_bytes(b"hello\n")
    with pytest.raises(UarInputError, match="not a YUV4MPEG2"):
        open_video(fake_y4m)


def test_y4m_content_is_recognised_whatever_the_extension(tmp_path: Path) -> None:
    clip = smooth_clip(2)
    path = write_clip(tmp_path / "clip.y4m", clip)
    renamed = path.rename(tmp_path / "clip.yuv")
    with open_video(renamed) as reader:
        assert reader.info.num_frames == 2
        assert reader.read(0, 2).same_as(clip)
