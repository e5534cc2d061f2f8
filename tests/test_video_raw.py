"""Raw planar .yuv input: size and rate from options or from Vooya-style names, and errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from uarcodec.bitstream.records import ColorMatrix, ColorRange
from uarcodec.errors import UarInputError
from uarcodec.video import YuvClip, open_video
from uarcodec.video.naming import hints_from_name


def raw_file(path: Path, width: int, height: int, num_frames: int, extra: int = 0) -> YuvClip:
    rng = np.random.default_rng(1)
    clip = YuvClip(
        rng.integers(0, 256, (num_frames, height, width), dtype=np.uint8),
        rng.integers(0, 256, (num_frames, height // 2, width // 2), dtype=np.uint8),
        rng.integers(0, 256, (num_frames, height // 2, width // 2), dtype=np.uint8),
    )
    path.write_bytes(b"".join(clip.frame_to_bytes(i) for i in range(num_frames)) + bytes(extra))
    return clip


@pytest.mark.parametrize(
    "name, size, fps",
    [
        ("name_352x288_30fps_420_8bit.yuv", (352, 288), Fraction(30)),
        ("name_352x288_30.yuv", (352, 288), Fraction(30)),
        ("name_352x288.yuv", (352, 288), None),
        ("BasketballDrive_1920x1080_50.yuv", (1920, 1080), Fraction(50)),
        ("clip-176x144-29.97fps.yuv", (176, 144), Fraction(2997, 100)),
        ("clip_176x144_60Hz_8bit.yuv", (176, 144), Fraction(60)),
        ("clip_352x288_420.yuv", (352, 288), None),  # 420 is the chroma format, not a rate
        ("clip_352x288_8bit.yuv", (352, 288), None),
        ("plain.yuv", None, None),
    ],
)
def test_vooya_names_give_size_and_rate(name: str, size: tuple[int, int] | None, fps: Fraction | None) -> None:
    hints = hints_from_name(name)
    assert hints.size == size
    assert hints.fps == fps
    assert hints.is_yuv420p_8bit


@pytest.mark.parametrize(
    "name", ["clip_352x288_30fps_444_8bit.yuv", "clip_352x288_420_10bit.yuv", "clip_352x288_yuv420p10le.yuv",
             "clip_352x288_nv12.yuv", "clip_352x288_422.yuv"]
)  # fmt: skip
def test_names_announcing_other_formats_are_refused(tmp_path: Path, name: str) -> None:
    assert not hints_from_name(name).is_yuv420p_8bit
    path = tmp_path / name
    path.write_bytes(bytes(352 * 288 * 3))
    with pytest.raises(UarInputError, match=r"only 8-bit planar 4:2:0"):
        open_video(path)


def test_size_and_rate_from_the_name(tmp_path: Path) -> None:
    path = tmp_path / "clip_16x8_30fps_420_8bit.yuv"
    clip = raw_file(path, 16, 8, 5)
    with open_video(path) as reader:
        assert (reader.info.width, reader.info.height, reader.info.num_frames) == (16, 8, 5)
        assert reader.info.fps == 30
        assert reader.info.color_matrix == ColorMatrix.BT601
        assert reader.info.color_range == ColorRange.LIMITED
        assert reader.read(1, 3).same_as(clip[1:4])


def test_options_override_the_name(tmp_path: Path) -> None:
    path = tmp_path / "clip_32x8_30.yuv"
    clip = raw_file(path, 16, 8, 6)  # 6 frames of 16x8 are 3 frames of 32x8
    with open_video(path, size="16x8", fps=Fraction(30000, 1001), pix_fmt="yuv420p",
                    color_matrix="bt709", color_range="full") as reader:  # fmt: skip
        assert reader.info.num_frames == 6
        assert reader.info.fps == Fraction(30000, 1001)
        assert reader.info.color_matrix == ColorMatrix.BT709
        assert reader.info.color_range == ColorRange.FULL
        assert reader.read(0, 6).same_as(clip)


def test_rate_defaults_to_25(tmp_path: Path) -> None:
    path = tmp_path / "clip.yuv"
    raw_file(path, 16, 8, 2)
    with open_video(path, size=(16, 8)) as reader:
        assert reader.info.fps == 25


def test_missing_size_says_how_to_give_it(tmp_path: Path) -> None:
    path = tmp_path / "clip.yuv"
    raw_file(path, 16, 8, 2)
    with pytest.raises(UarInputError, match=r"clip\.yuv: frame size .* unknown.*-s WxH.*352x288"):
        open_video(path)


def test_size_not_a_whole_number_of_frames_gives_the_numbers(tmp_path: Path) -> None:
    path = tmp_path / "clip_16x8.yuv"
    raw_file(path, 16, 8, 3, extra=96)
    with pytest.raises(UarInputError, match=r"clip_16x8\.yuv: 672 bytes is not a whole number .* \(192 bytes each: 3\.500"):
        open_video(path)


def test_other_pix_fmt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "clip_16x8.yuv"
    raw_file(path, 16, 8, 2)
    with pytest.raises(UarInputError, match=r"yuv444p.*only 8-bit planar 4:2:0 \(yuv420p\)"):
        open_video(path, pix_fmt="yuv444p")


@pytest.mark.parametrize("size", ["15x8", "16x9"])
def test_odd_size_is_refused(tmp_path: Path, size: str) -> None:
    path = tmp_path / "clip.yuv"
    path.write_bytes(bytes(15 * 9 * 6))
    with pytest.raises(UarInputError, match=r"clip\.yuv.*odd.*even"):
        open_video(path, size=size)


@pytest.mark.parametrize("size", ["16", "16x", "axb", "0x8", "-16x8"])
def test_malformed_size_option_is_refused(tmp_path: Path, size: str) -> None:
    path = tmp_path / "clip.yuv"
    raw_file(path, 16, 8, 1)
    with pytest.raises(UarInputError, match="size"):
        open_video(path, size=size)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "clip_16x8.yuv"
    path.write_bytes(b"")
    with pytest.raises(UarInputError, match="empty"):
        open_video(path)
