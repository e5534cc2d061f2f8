"""The reader interface every input format implements."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from pathlib import Path

from uarcodec.vocabulary import VideoParams
from uarcodec.errors import UarInputError
from uarcodec.video.frames import YuvClip


class VideoReader(abc.ABC):
    """Random access to the frames of one video file, as 8-bit 4:2:0.

    ``info`` describes the video (size, frame count, rate, colour tags). ``read(start, count)``
    returns frames ``start .. start+count-1`` without loading the rest of the file. Use it as a
    context manager, or call ``close()``.
    """

    path: Path
    info: VideoParams

    @abc.abstractmethod
    def _read_frames(self, start: int, count: int) -> YuvClip:
        """Read a range already checked to lie inside the video (count >= 1)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the file. Idempotent."""

    def read(self, start: int, count: int) -> YuvClip:
        """Frames ``start`` to ``start + count - 1`` (0-based) as one clip."""
        self._check_range(start, count)
        if count == 0:
            return YuvClip.empty(self.info.width, self.info.height)
        return self._read_frames(start, count)

    def iter_chunks(self, chunk: int, start: int = 0, count: int | None = None) -> Iterator[YuvClip]:
        """Clips of ``chunk`` frames (the last one may be shorter) covering ``count`` frames from
        ``start`` (to the end of the video when ``count`` is None)."""
        if chunk <= 0:
            raise UarInputError(f"{self.path}: chunk size must be positive, got {chunk}")
        if count is None:
            count = max(self.info.num_frames - start, 0)
        self._check_range(start, count)
        end = start + count
        for first in range(start, end, chunk):
            yield self._read_frames(first, min(chunk, end - first))

    def _check_range(self, start: int, count: int) -> None:
        total = self.info.num_frames
        if start < 0 or count < 0 or start + count > total:
            raise UarInputError(
                f"{self.path}: cannot read {count} frame(s) from frame {start}: "
                f"the video has {total} frame(s) (0..{total - 1})"
            )

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        i = self.info
        return (
            f"{type(self).__name__}({str(self.path)!r}, {i.width}x{i.height}, "
            f"{i.num_frames} frames, {i.fps} fps)"
        )
