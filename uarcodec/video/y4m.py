"""YUV4MPEG2 (``.y4m``) files: a one-line text header, then ``FRAME`` + samples per frame.

Header: ``YUV4MPEG2`` then space-separated tags, each a letter and a value: ``W`` width, ``H``
height, ``F`` rate ``num:den``, ``I`` interlacing (``p`` progressive, ``?`` unknown, ``t``/``b``
/``m`` interlaced), ``A`` pixel aspect ``num:den``, ``C`` chroma format (``420jpeg`` by default),
``X`` free extensions (we read ``XCOLORRANGE=FULL|LIMITED``). Each frame starts with ``FRAME``,
optional space-separated parameters, and ``\\n``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

from uarcodec.vocabulary import ColorMatrix, ColorRange, PixelFormat, VideoParams
from uarcodec.errors import UarInputError
from uarcodec.video.frames import YuvClip
from uarcodec.video.options import check_even_size, check_pix_fmt, parse_fps
from uarcodec.video.planar import frame_bytes, read_planar_frames, write_planar_frame
from uarcodec.video.reader import VideoReader
from uarcodec.video.target import STDOUT, OutputTarget
from uarcodec.video.writer import VideoWriter

MAGIC = b"YUV4MPEG2"
FRAME_MARKER = b"FRAME\n"
CHROMA_420 = frozenset({"420", "420jpeg", "420paldv", "420mpeg2"})
PROGRESSIVE = frozenset({"p", "?"})
MAX_HEADER_BYTES = 1 << 16
# Frame rate assumed when the header gives none (or 0:0): ffmpeg's default.
DEFAULT_Y4M_FPS = Fraction(25)


@dataclass(frozen=True)
class Y4mHeader:
    """The parsed stream header of a .y4m file."""

    width: int
    height: int
    fps: Fraction | None  # None when absent or 0:0
    interlace: str = "?"
    aspect: tuple[int, int] | None = None  # pixel aspect ratio; None when absent or 0:0
    chroma: str | None = None  # the C tag, lower-cased; None when absent (means 420jpeg)
    color_range: ColorRange | None = None  # from XCOLORRANGE
    extensions: tuple[str, ...] = field(default_factory=tuple)  # every X tag, without the X
    length: int = 0  # bytes of the header line, its newline included


def parse_y4m_header(line: bytes, source: str) -> Y4mHeader:
    """Parse a header line (with or without its newline); refuse what we cannot read."""
    length = len(line) if line.endswith(b"\n") else len(line) + 1
    text = line.rstrip(b"\n")
    if not (text == MAGIC or text.startswith(MAGIC + b" ")):
        raise UarInputError(f"{source}: not a YUV4MPEG2 file (the header must start with YUV4MPEG2)")
    try:
        tags = text[len(MAGIC) :].decode("ascii").split()
    except UnicodeDecodeError:
        raise UarInputError(f"{source}: y4m header is not ASCII text") from None
    values: dict[str, str] = {}
    extensions: list[str] = []
    for tag in tags:
        if tag[0] == "X":
            extensions.append(tag[1:])
        else:
            values[tag[0]] = tag[1:]
    if "W" not in values or "H" not in values:
        raise UarInputError(f"{source}: y4m header lacks the W (width) or H (height) tag")
    width = _positive_int(values["W"], "W", source)
    height = _positive_int(values["H"], "H", source)
    interlace = values.get("I", "?") or "?"
    if interlace not in PROGRESSIVE:
        raise UarInputError(
            f"{source}: y4m is interlaced (I{interlace}); only progressive video (Ip) is supported"
        )
    chroma = values["C"].lower() if "C" in values else None
    if chroma is not None and chroma not in CHROMA_420:
        raise UarInputError(
            f"{source}: y4m chroma format C{values['C']} is not supported; "
            f"only 8-bit 4:2:0 (C420jpeg, C420mpeg2, C420paldv, C420) is"
        )
    fps_ratio = _ratio(values["F"], "F", source) if "F" in values else None
    fps = Fraction(*fps_ratio) if fps_ratio and fps_ratio[0] > 0 and fps_ratio[1] > 0 else None
    aspect = _ratio(values["A"], "A", source) if "A" in values else None
    return Y4mHeader(
        width=width,
        height=height,
        fps=fps,
        interlace=interlace,
        aspect=aspect if aspect and aspect[0] > 0 and aspect[1] > 0 else None,
        chroma=chroma,
        color_range=_color_range(extensions),
        extensions=tuple(extensions),
        length=length,
    )


def format_y4m_header(info: VideoParams) -> bytes:
    """The header we write: ``YUV4MPEG2 W H F Ip A1:1 C420jpeg`` (+ ``XCOLORRANGE=FULL``)."""
    fps = parse_fps(info.fps)
    rate = f"F{fps.numerator}:{fps.denominator}"
    header = f"YUV4MPEG2 W{info.width} H{info.height} {rate} Ip A1:1 C420jpeg"
    if info.color_range == ColorRange.FULL:
        header += " XCOLORRANGE=FULL"
    return header.encode("ascii") + b"\n"


class Y4mReader(VideoReader):
    """Reads a .y4m file; frames are located by arithmetic when every frame marker is a plain
    ``FRAME\\n``, otherwise by scanning the frame headers once (see ``_locate_frames``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        size: tuple[int, int] | None = None,
        fps: Fraction | None = None,
        pix_fmt: str | PixelFormat | None = None,
        color_matrix: ColorMatrix | None = None,
        color_range: ColorRange | None = None,
    ) -> None:
        self.path = Path(path)
        check_pix_fmt(pix_fmt)
        self._file = open(self.path, "rb")  # noqa: SIM115  (closed by close())
        try:
            line = _read_header_line(self._file, str(self.path))
            self.header = parse_y4m_header(line, str(self.path))
            h = self.header
            if size is not None and tuple(size) != (h.width, h.height):
                raise UarInputError(
                    f"{self.path}: the y4m header says {h.width}x{h.height}, not {size[0]}x{size[1]}"
                )
            check_even_size(h.width, h.height, str(self.path))
            self._file_size = os.fstat(self._file.fileno()).st_size
            self._offsets = self._locate_frames()
        except BaseException:
            self._file.close()
            raise
        if color_range is None:
            color_range = h.color_range if h.color_range is not None else ColorRange.LIMITED
        self.info = VideoParams(
            width=h.width,
            height=h.height,
            num_frames=len(self._offsets),
            fps=fps if fps is not None else (h.fps or DEFAULT_Y4M_FPS),
            pix_fmt=PixelFormat.YUV420P,
            color_matrix=ColorMatrix.BT601 if color_matrix is None else color_matrix,
            color_range=color_range,
        )

    @property
    def plain_frames(self) -> bool:
        """True when every frame marker is a plain ``FRAME\\n`` (offsets by arithmetic)."""
        return isinstance(self._offsets, range)

    def _read_frames(self, start: int, count: int) -> YuvClip:
        h = self.header
        return read_planar_frames(
            self._file,
            self._offsets[start : start + count],
            h.width,
            h.height,
            source=str(self.path),
            marker=FRAME_MARKER if self.plain_frames else b"",  # guards against a changed file
        )

    def _locate_frames(self) -> range | list[int]:
        """Frame sample offsets: by arithmetic when the file length fits plain ``FRAME\n``
        markers and every such marker is where arithmetic puts it (a 6-byte peek per frame),
        otherwise by scanning the frame headers."""
        per_frame = len(FRAME_MARKER) + frame_bytes(self.header.width, self.header.height)
        body = self._file_size - self.header.length
        count, rest = divmod(body, per_frame)
        if count > 0 and rest == 0:
            markers = range(self.header.length, self._file_size, per_frame)
            if all(self._marker_at(offset) for offset in markers):
                return range(self.header.length + len(FRAME_MARKER), self._file_size, per_frame)
        return self._scan_frames()

    def _marker_at(self, offset: int) -> bool:
        self._file.seek(offset)
        return self._file.read(len(FRAME_MARKER)) == FRAME_MARKER

    def _scan_frames(self) -> list[int]:
        """Offsets of every frame's samples, found by reading each frame header once."""
        samples = frame_bytes(self.header.width, self.header.height)
        offsets: list[int] = []
        position = self.header.length
        while position < self._file_size:
            self._file.seek(position)
            what = f"frame {len(offsets)} header at byte {position}"
            line = _read_line(self._file, str(self.path), what)
            if not (line == b"FRAME\n" or line.startswith(b"FRAME ")):
                raise UarInputError(
                    f"{self.path}: expected a FRAME header at byte {position} (frame {len(offsets)}), "
                    f"found {line[:16]!r}"
                )
            start = position + len(line)
            if start + samples > self._file_size:
                raise UarInputError(
                    f"{self.path}: frame {len(offsets)} is truncated: it needs {samples} bytes, "
                    f"only {self._file_size - start} remain"
                )
            offsets.append(start)
            position = start + samples
        if not offsets:
            raise UarInputError(f"{self.path}: the y4m file holds no frames")
        return offsets

    def close(self) -> None:
        self._file.close()


class Y4mWriter(VideoWriter):
    """Writes a .y4m file, or y4m to standard output when the path is ``-``."""

    def _make_target(self, overwrite: bool) -> OutputTarget | None:
        if str(self.path) == STDOUT:
            return None
        return OutputTarget(self.path, overwrite=overwrite)

    def _open(self) -> None:
        if self._target is None:
            self._file: BinaryIO = sys.stdout.buffer
        else:
            self._file = open(self._target.write_path, "wb")  # noqa: SIM115
        self._file.write(format_y4m_header(self.info))

    def _write_clip(self, clip: YuvClip) -> None:
        for i in range(clip.num_frames):
            self._file.write(FRAME_MARKER)
            write_planar_frame(self._file, clip, i)

    def _finish(self) -> None:
        if self._target is None:
            self._file.flush()
        else:
            self._file.close()

    def _drop(self) -> None:
        self._finish()


def _read_header_line(file: BinaryIO, source: str) -> bytes:
    file.seek(0)
    return _read_line(file, source, "y4m header")


def _read_line(file: BinaryIO, source: str, what: str) -> bytes:
    """Bytes up to and including the next newline (at most MAX_HEADER_BYTES)."""
    data = b""
    while len(data) < MAX_HEADER_BYTES:
        block = file.read(256)
        if not block:
            break
        cut = block.find(b"\n")
        if cut >= 0:
            return data + block[: cut + 1]
        data += block
    if not data:
        raise UarInputError(f"{source}: file ended where the {what} was expected")
    raise UarInputError(f"{source}: {what} has no end of line within {MAX_HEADER_BYTES} bytes")


def _positive_int(text: str, tag: str, source: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise UarInputError(f"{source}: bad y4m {tag} tag {tag}{text!r}: expected a positive integer")
    return int(text)


def _ratio(text: str, tag: str, source: str) -> tuple[int, int]:
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise UarInputError(f"{source}: bad y4m {tag} tag {tag}{text!r}: expected num:den")
    return int(parts[0]), int(parts[1])


def _color_range(extensions: list[str]) -> ColorRange | None:
    found = None
    for ext in extensions:
        key, _, value = ext.partition("=")
        if key.upper() == "COLORRANGE":
            if value.upper() == "FULL":
                found = ColorRange.FULL
            elif value.upper() == "LIMITED":
                found = ColorRange.LIMITED
    return found
