"""The writer interface every output format implements."""

from __future__ import annotations

import abc
import os
from pathlib import Path

from uarcodec.vocabulary import VideoParams
from uarcodec.errors import UarInputError
from uarcodec.video.frames import YuvClip
from uarcodec.video.options import check_even_size, check_pix_fmt
from uarcodec.video.target import OutputTarget


class VideoWriter(abc.ABC):
    """Writes 8-bit 4:2:0 clips to one output.

    Files are written under a temporary name beside the target and renamed on a successful
    ``close()``. Used as a context manager, an exception inside the ``with`` block removes the
    temporary file and leaves the target untouched.
    """

    info: VideoParams
    path: Path

    def __init__(self, path: str | os.PathLike[str], info: VideoParams, *, overwrite: bool = False):
        self.path = Path(path)
        self.info = info
        self.frames_written = 0
        self._closed = False
        check_pix_fmt(info.pix_fmt)
        check_even_size(info.width, info.height, str(path))
        self._target = self._make_target(overwrite)
        try:
            self._open()
        except BaseException:
            self._discard_target()
            raise

    # --- what each format provides -------------------------------------------------------
    @abc.abstractmethod
    def _open(self) -> None:
        """Open the sink (the target's temporary file)."""

    @abc.abstractmethod
    def _write_clip(self, clip: YuvClip) -> None:
        """Append the frames of a clip already checked to match ``info``."""

    @abc.abstractmethod
    def _finish(self) -> None:
        """Flush and close the sink after the last frame."""

    @abc.abstractmethod
    def _drop(self) -> None:
        """Close the sink without finishing it (the output is being abandoned)."""

    def _make_target(self, overwrite: bool) -> OutputTarget | None:
        return OutputTarget(self.path, overwrite=overwrite)

    # --- public API -----------------------------------------------------------------------
    def write(self, clip: YuvClip) -> None:
        """Append the frames of ``clip`` (its size must be the writer's)."""
        if self._closed:
            raise UarInputError(f"{self.path}: write after close")
        if (clip.width, clip.height) != (self.info.width, self.info.height):
            raise UarInputError(
                f"{self.path}: clip is {clip.width}x{clip.height} but the output is "
                f"{self.info.width}x{self.info.height}"
            )
        if clip.num_frames:
            self._write_clip(clip)
            self.frames_written += clip.num_frames

    def close(self) -> None:
        """Finish the output and move it into place. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._finish()
        except BaseException:
            self._discard_target()
            raise
        if self._target is not None:
            self._target.commit()

    def abort(self) -> None:
        """Abandon the output: the temporary file is removed, the target is untouched."""
        if self._closed:
            return
        self._closed = True
        try:
            self._drop()
        finally:
            self._discard_target()

    def _discard_target(self) -> None:
        if self._target is not None:
            self._target.discard()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, {self.frames_written} frames written)"
