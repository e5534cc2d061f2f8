"""YUV4MPEG2 header parsing, per-frame parameters, and what we refuse."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from uarcodec.bitstream.records import ColorRange
from uarcodec.errors import UarInputError
from uarcodec.video import YuvClip, open_video
from uarcodec.video.y4m import parse_y4m_header


def random_clip(num_frames: int, width: int = 16, height: int = 8, seed: int = 0) -> YuvClip:
    rng = np.random.default_rng(seed)
    return YuvClip(
        rng.integers(0, 256, (num_frames, height, width), dtype=np.uint8),
        rng.integers(0, 256, (num_frames, height // 2, width // 2), dtype=np.uint8),
        rng.integers(0, 256, (num_frames, height // 2, width // 2), dtype=np.uint8),
    )


def y4m_bytes(header: str, clip: YuvClip, frame_headers: list[str] | None = None) -> bytes:
    parts = [header.encode() + b"\n"]
    for i in range(clip.num_frames):
        parts.append((frame_headers[i] if frame_headers else "FRAME").encode() + b"\n")
        parts.append(clip.frame_to_bytes(i))
    return b"".join(parts)


def test_header_tags_are_all_parsed() -> None:
    header = parse_y4m_header(
        b"YUV4MPEG2 W352 H288 F30000:1001 Ip A128:117 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=FULL\n", "x.y4m"
    )
    assert (header.width, header.height) == (352, 288)
    assert header.fps == Fraction(30000, 1001)
    assert header.interlace == "p"
    assert header.aspect == (128, 117)
    assert header.chroma == "420mpeg2"
    assert header.color_range == ColorRange.FULL
    assert header.extensions == ("YSCSS=420MPEG2", "COLORRANGE=FULL")
    assert header.length == len(b"YUV4MPEG2 W352 H288 F30000:1001 Ip A128:117 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=FULL\n")


def test_missing_optional_tags_take_defaults(tmp_path: Path) -> None:
    clip = random_clip(3)
    path = tmp_path / "bare.y4m"
    path.write_bytes(y4m_bytes("YUV4MPEG2 W16 H8", clip))
    with open_video(path) as reader:
        assert reader.info.fps == 25  # no F tag
        assert reader.plain_frames  # offsets by arithmetic
        assert reader.info.color_range == ColorRange.LIMITED
        assert reader.read(0, 3).same_as(clip)


@pytest.mark.parametrize("chroma", ["420", "420jpeg", "420paldv", "420mpeg2", "420JPEG"])
def test_every_420_chroma_tag_is_accepted(tmp_path: Path, chroma: str) -> None:
    clip = random_clip(2)
    path = tmp_path / "c.y4m"
    path.write_bytes(y4m_bytes(f"YUV4MPEG2 W16 H8 F25:1 Ip C{chroma}", clip))
    assert open_video(path).read(0, 2).same_as(clip)


@pytest.mark.parametrize("range_tag, expected", [("FULL", ColorRange.FULL), ("LIMITED", ColorRange.LIMITED)])
def test_colorrange_extension_is_honoured(tmp_path: Path, range_tag: str, expected: ColorRange) -> None:
    path = tmp_path / "r.y4m"
    path.write_bytes(y4m_bytes(f"YUV4MPEG2 W16 H8 F25:1 Ip C420jpeg XCOLORRANGE={range_tag}", random_clip(1)))
    with open_video(path) as reader:
        assert reader.info.color_range == expected
    with open_video(path, color_range="limited" if expected == ColorRange.FULL else "full") as reader:
        assert reader.info.color_range != expected  # the caller's override wins


def test_per_frame_parameters_are_skipped(tmp_path: Path) -> None:
    clip = random_clip(6)
    frame_headers = ["FRAME", "FRAME Ip", "FRAME XTIME=12345", "FRAME", "FRAME Ip XA=1 XB=22", "FRAME"]
    path = tmp_path / "params.y4m"
    path.write_bytes(y4m_bytes("YUV4MPEG2 W16 H8 F25:1 Ip C420jpeg", clip, frame_headers))
    with open_video(path) as reader:
        assert not reader.plain_frames
        assert reader.info.num_frames == 6
        assert reader.read(2, 3).same_as(clip[2:5])
        assert reader.read(0, 6).same_as(clip)


def test_parameters_that_mimic_plain_frame_lengths_are_still_read(tmp_path: Path) -> None:
    # Frame 1 carries parameters exactly one plain frame long: the file length looks like 4
    # plain frames and the first and last markers are plain, yet there are 3 frames.
    clip = random_clip(3)
    per_frame = 6 + clip.frame_bytes
    padding = "X" * (per_frame - 1)
    data = y4m_bytes("YUV4MPEG2 W16 H8 F25:1 Ip", clip, ["FRAME", f"FRAME {padding}", "FRAME"])
    path = tmp_path / "mimic.y4m"
    path.write_bytes(data)
    with open_video(path) as reader:
        assert reader.info.num_frames == 3
        assert reader.read(0, 3).same_as(clip)


@pytest.mark.parametrize("interlace", ["t", "b", "m"])
def test_interlaced_is_refused(tmp_path: Path, interlace: str) -> None:
    path = tmp_path / "i.y4m"
    path.write_bytes(y4m_bytes(f"YUV4MPEG2 W16 H8 F25:1 I{interlace} C420jpeg", random_clip(1)))
    with pytest.raises(UarInputError, match=r"i\.y4m.*interlaced"):
        open_video(path)


@pytest.mark.parametrize("chroma", ["444", "422", "420p10", "mono", "444alpha", "411"])
def test_non_420_chroma_is_refused(tmp_path: Path, chroma: str) -> None:
    path = tmp_path / "c.y4m"
    path.write_bytes(b"YUV4MPEG2 W16 H8 F25:1 Ip C" + chroma.encode() + b"\nFRAME\n" + bytes(16 * 8 * 3))
    with pytest.raises(UarInputError, match=rf"c\.y4m.*C{chroma}.*4:2:0"):
        open_video(path)


def test_odd_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.y4m"
    path.write_bytes(b"YUV4MPEG2 W15 H8 F25:1 Ip C420jpeg\nFRAME\n" + bytes(15 * 8 * 2))
    with pytest.raises(UarInputError, match=r"odd\.y4m.*15x8.*even"):
        open_video(path)


def test_truncated_last_frame_is_an_error_with_numbers(tmp_path: Path) -> None:
    data = y4m_bytes("YUV4MPEG2 W16 H8 F25:1 Ip", random_clip(3))
    path = tmp_path / "cut.y4m"
    path.write_bytes(data[:-10])
    with pytest.raises(UarInputError, match=r"cut\.y4m: frame 2 is truncated: it needs 192 bytes, only 182"):
        open_video(path)


def test_bad_or_missing_header_fields(tmp_path: Path) -> None:
    path = tmp_path / "h.y4m"
    path.write_bytes(b"YUV4MPEG2 H8 F25:1\nFRAME\n" + bytes(192))
    with pytest.raises(UarInputError, match="W"):
        open_video(path)
    path.write_bytes(b"YUV4MPEG2 W16 H8 F25\nFRAME\n" + bytes(192))
    with pytest.raises(UarInputError, match="F"):
        open_video(path)
    path.write_bytes(b"YUV4MPEG2 W16 H8 F25:1 Ip\n")
    with pytest.raises(UarInputError, match="no frames"):
        open_video(path)


def test_size_option_must_agree_with_the_header(tmp_path: Path) -> None:
    path = tmp_path / "s.y4m"
    path.write_bytes(y4m_bytes("YUV4MPEG2 W16 H8 F25:1 Ip", random_clip(1)))
    with open_video(path, size=(16, 8), fps="50") as reader:
        assert reader.info.fps == 50
    with pytest.raises(UarInputError, match="16x8"):
        open_video(path, size="32x16")
