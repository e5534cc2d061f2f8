"""Inputs read through PyAV: formats other than yuv420p are converted, colour tags read."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from uarcodec.bitstream.records import ColorMatrix, ColorRange
from uarcodec.errors import UarInputError
from uarcodec.video import open_video, rgb_to_yuv420

WIDTH, HEIGHT, FRAMES = 32, 16, 6


def smooth_rgb(num_frames: int = FRAMES) -> np.ndarray:
    """(N, H, W, 3) uint8 smooth colour gradients that move."""
    t = np.arange(num_frames)[:, None, None]
    rows = np.arange(HEIGHT)[None, :, None]
    cols = np.arange(WIDTH)[None, None, :]
    red = 128 + 90 * np.sin(cols / 6.0 + t / 2.0) + 0 * rows
    green = 128 + 90 * np.cos(rows / 4.0 + t / 3.0) + 0 * cols
    blue = 128 + 60 * np.sin((rows + cols) / 8.0) + 0 * t
    return np.clip(np.rint(np.stack([red, green, blue], axis=-1)), 0, 255).astype(np.uint8)


def encode(path: Path, frames: list[av.VideoFrame], codec: str, pix_fmt: str, container_format: str,
           colorspace: int | None = None, color_range: int | None = None) -> Path:  # fmt: skip
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, pix_fmt
        if colorspace is not None:
            stream.codec_context.colorspace = colorspace
        if color_range is not None:
            stream.codec_context.color_range = color_range
        for i, frame in enumerate(frames):
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def rgb_frames() -> list[av.VideoFrame]:
    return [av.VideoFrame.from_ndarray(rgb, format="rgb24") for rgb in smooth_rgb()]


def test_rgb_source_becomes_limited_bt601_yuv420(tmp_path: Path) -> None:
    path = encode(tmp_path / "rgb.mkv", rgb_frames(), "ffv1", "bgr0", "matroska")
    expected = rgb_to_yuv420(smooth_rgb().transpose(0, 3, 1, 2) / 255.0, ColorMatrix.BT601, ColorRange.LIMITED)
    with open_video(path) as reader:
        assert reader.info.num_frames == FRAMES  # Matroska gives no count: found by demuxing
        assert reader.info.fps == 10
        assert reader.info.color_matrix == ColorMatrix.BT601
        assert reader.info.color_range == ColorRange.LIMITED
        clip = reader.read(0, FRAMES)
    assert np.abs(clip.y.astype(int) - expected.y).max() <= 2
    assert np.abs(clip.u.astype(int) - expected.u).mean() < 2.0


def test_444_source_keeps_luma_and_downsamples_chroma(tmp_path: Path) -> None:
    frames = [f.reformat(format="yuv444p") for f in rgb_frames()]
    planes = [f.to_ndarray(format="yuv444p") for f in frames]  # (3, H, W) each
    path = encode(tmp_path / "c444.mkv", frames, "ffv1", "yuv444p", "matroska")
    with open_video(path) as reader:
        clip = reader.read(2, 3)
    luma = np.stack([p[0] for p in planes[2:5]])
    assert np.array_equal(clip.y, luma)
    cb = np.stack([p[1] for p in planes[2:5]]).astype(float)
    cb_avg = cb.reshape(3, HEIGHT // 2, 2, WIDTH // 2, 2).mean(axis=(2, 4))
    assert np.abs(clip.u - cb_avg).mean() < 2.0


def test_full_range_jpeg_source_is_tagged_full_and_kept_full(tmp_path: Path) -> None:
    frames = [f.reformat(format="yuvj420p") for f in rgb_frames()]
    luma = np.stack([f.to_ndarray(format="yuvj420p")[:HEIGHT] for f in frames])
    path = encode(tmp_path / "mjpeg.avi", frames, "mjpeg", "yuvj420p", "avi")
    with open_video(path) as reader:
        assert reader.info.color_range == ColorRange.FULL
        clip = reader.read(0, FRAMES)
    slope, _ = np.polyfit(luma.ravel().astype(float), clip.y.ravel().astype(float), 1)
    assert slope > 0.95  # samples kept full range; squeezing to 16..235 would give 219/255


def test_bt709_tag_is_read(tmp_path: Path) -> None:
    frames = [f.reformat(format="yuv420p") for f in rgb_frames()]
    path = encode(tmp_path / "709.mkv", frames, "ffv1", "yuv420p", "matroska", colorspace=1, color_range=1)
    with open_video(path) as reader:
        assert reader.info.color_matrix == ColorMatrix.BT709
        assert reader.info.color_range == ColorRange.LIMITED
    with open_video(path, color_matrix="bt601", fps="30000/1001") as reader:
        assert reader.info.color_matrix == ColorMatrix.BT601
        assert reader.info.fps == Fraction(30000, 1001)


def test_odd_sized_container_video_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.mkv"
    with av.open(str(path), mode="w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 31, 16, "yuv444p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 31, 3), np.uint8), format="rgb24")
        container.mux(stream.encode(frame.reformat(format="yuv444p")))
        container.mux(stream.encode(None))
    with pytest.raises(UarInputError, match=r"odd\.mkv.*31x16.*even"):
        open_video(path)


def test_file_without_video_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audio.wav"
    with av.open(str(path), mode="w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(UarInputError, match=r"audio\.wav.*no video"):
        open_video(path)
