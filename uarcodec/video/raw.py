"""Raw planar ``.yuv`` files: 8-bit 4:2:0 frames back to back, with no header."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from uarcodec.vocabulary import ColorMatrix, ColorRange, PixelFormat, VideoParams
from uarcodec.errors import UarInputError
from uarcodec.video.frames import YuvClip
from uarcodec.video.naming import NameHints, hints_from_name
from uarcodec.video.options import check_even_size, check_pix_fmt
from uarcodec.video.planar import frame_bytes, read_planar_frames, write_planar_frame
from uarcodec.video.reader import VideoReader
from uarcodec.video.writer import VideoWriter

# Frame rate assumed when neither the caller nor the file name gives one (ffmpeg's default).
DEFAULT_RAW_FPS = Fraction(25)

_SIZE_HOW_TO = (
    "give it with -s WxH (size=(width, height)) or put it in the file name, "
    "e.g. clip_352x288_30fps_420_8bit.yuv"
)


class RawYuvReader(VideoReader):
    """Reads a raw yuv420p file. Size and rate come from the arguments, else from the name."""

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
        hints = hints_from_name(self.path)
        if pix_fmt is not None:
            check_pix_fmt(pix_fmt)
        else:
            _check_name_format(self.path, hints)
        width, height = _resolve_size(self.path, size, hints)
        check_even_size(width, height, str(self.path))
        num_frames = _count_frames(self.path, width, height)
        self.info = VideoParams(
            width=width,
            height=height,
            num_frames=num_frames,
            fps=fps if fps is not None else (hints.fps or DEFAULT_RAW_FPS),
            pix_fmt=PixelFormat.YUV420P,
            color_matrix=ColorMatrix.BT601 if color_matrix is None else color_matrix,
            color_range=ColorRange.LIMITED if color_range is None else color_range,
        )
        self._file = open(self.path, "rb")  # noqa: SIM115  (closed by close())

    def _read_frames(self, start: int, count: int) -> YuvClip:
        size = frame_bytes(self.info.width, self.info.height)
        offsets = [(start + i) * size for i in range(count)]
        return read_planar_frames(
            self._file, offsets, self.info.width, self.info.height, source=str(self.path)
        )

    def close(self) -> None:
        self._file.close()


class RawYuvWriter(VideoWriter):
    """Writes frames as raw yuv420p bytes (no header: size and rate are not stored)."""

    def _open(self) -> None:
        assert self._target is not None
        self._file = open(self._target.write_path, "wb")  # noqa: SIM115

    def _write_clip(self, clip: YuvClip) -> None:
        for i in range(clip.num_frames):
            write_planar_frame(self._file, clip, i)

    def _finish(self) -> None:
        self._file.close()

    def _drop(self) -> None:
        self._file.close()


def _check_name_format(path: Path, hints: NameHints) -> None:
    if not hints.is_yuv420p_8bit:
        said = ", ".join(
            s for s in (
                f"chroma {hints.chroma}" if hints.chroma not in (None, "420") else "",
                f"{hints.bit_depth}-bit" if hints.bit_depth not in (None, 8) else "",
            ) if s
        )  # fmt: skip
        raise UarInputError(
            f"{path}: the file name announces {said}; only 8-bit planar 4:2:0 (yuv420p) is "
            f"supported (pass pix_fmt yuv420p if the name is wrong)"
        )


def _resolve_size(path: Path, size: tuple[int, int] | None, hints: NameHints) -> tuple[int, int]:
    if size is not None:
        return size
    if hints.size is not None:
        return hints.size
    raise UarInputError(f"{path}: frame size of a raw .yuv file is unknown; {_SIZE_HOW_TO}")


def _count_frames(path: Path, width: int, height: int) -> int:
    total = path.stat().st_size
    per_frame = frame_bytes(width, height)
    if total == 0:
        raise UarInputError(f"{path}: file is empty")
    if total % per_frame:
        raise UarInputError(
            f"{path}: {total} bytes is not a whole number of {width}x{height} yuv420p frames "
            f"({per_frame} bytes each: {total / per_frame:.3f} frames); check the size"
        )
    return total // per_frame
