"""Which reader or writer handles a path: ``open_video`` and ``open_writer``."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from uarcodec.vocabulary import ColorMatrix, ColorRange, PixelFormat, VideoParams
from uarcodec.errors import UarInputError
from uarcodec.video.av_reader import AvReader
from uarcodec.video.av_writer import MkvWriter, Mp4Writer
from uarcodec.video.options import (
    check_pix_fmt,
    parse_color_matrix,
    parse_color_range,
    parse_fps,
    parse_size,
)
from uarcodec.video.raw import RawYuvReader, RawYuvWriter
from uarcodec.video.reader import VideoReader
from uarcodec.video.target import STDOUT
from uarcodec.video.writer import VideoWriter
from uarcodec.video.y4m import MAGIC, Y4mReader, Y4mWriter

WRITERS: dict[str, type[VideoWriter]] = {
    ".yuv": RawYuvWriter,
    ".y4m": Y4mWriter,
    ".mp4": Mp4Writer,
    ".mkv": MkvWriter,
}
RAW_EXTENSIONS = frozenset({".yuv"})


def open_video(
    path: str | os.PathLike[str],
    *,
    size: tuple[int, int] | str | None = None,
    fps: Fraction | int | float | str | None = None,
    pix_fmt: str | PixelFormat | None = None,
    color_matrix: ColorMatrix | int | str | None = None,
    color_range: ColorRange | int | str | None = None,
) -> VideoReader:
    """Open a video for reading, choosing the reader by content and extension.

    A file starting with ``YUV4MPEG2`` is read as y4m; ``.yuv`` is raw planar yuv420p (size
    from ``size`` or the file name, rate from ``fps``, the name, or 25); anything else goes to
    PyAV. ``fps``, ``color_matrix`` and ``color_range`` override what the file says; ``size``
    must agree with a file that states its size. Colour tags default to BT.601 limited.
    """
    source = Path(path)
    if str(path) == STDOUT:
        raise UarInputError("reading video from standard input ('-') is not supported; give a file")
    if not source.exists():
        raise UarInputError(f"{source}: no such file")
    if source.is_dir():
        raise UarInputError(f"{source}: is a folder, not a video file")
    options = {
        "size": parse_size(size) if size is not None else None,
        "fps": parse_fps(fps) if fps is not None else None,
        "pix_fmt": check_pix_fmt(pix_fmt) if pix_fmt is not None else None,
        "color_matrix": parse_color_matrix(color_matrix) if color_matrix is not None else None,
        "color_range": parse_color_range(color_range) if color_range is not None else None,
    }
    extension = source.suffix.lower()
    if _starts_with_y4m_magic(source):
        return Y4mReader(source, **options)
    if extension == ".y4m":
        raise UarInputError(f"{source}: not a YUV4MPEG2 file (the header must start with YUV4MPEG2)")
    if extension in RAW_EXTENSIONS:
        return RawYuvReader(source, **options)
    return AvReader(source, **options)


def open_writer(
    path: str | os.PathLike[str], info: VideoParams, *, overwrite: bool = False
) -> VideoWriter:
    """Open an output by extension (``.yuv``, ``.y4m``, ``.mp4``, ``.mkv``; ``-`` is y4m on
    standard output). Written to ``.name.partial`` and renamed on a successful close."""
    if str(path) == STDOUT:
        return Y4mWriter(STDOUT, info, overwrite=overwrite)
    extension = Path(path).suffix.lower()
    writer = WRITERS.get(extension)
    if writer is None:
        supported = ", ".join(sorted(WRITERS)) + ", or - (y4m to standard output)"
        raise UarInputError(
            f"{path}: unknown output extension {extension or '(none)'!r}; supported: {supported}"
        )
    return writer(path, info, overwrite=overwrite)


def _starts_with_y4m_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(len(MAGIC)) == MAGIC
    except OSError as error:
        raise UarInputError(f"{path}: cannot be read ({error.strerror})") from None
