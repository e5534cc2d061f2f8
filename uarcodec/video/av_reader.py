"""Any video PyAV (FFmpeg) can open: ``.mp4``, ``.mkv``, ``.avi``, ``.mov``, ``.webm``, ...

The frame count comes from the MP4/MOV index, otherwise from demuxing the file once (packets
that carry data). The first video stream is decoded and converted to 8-bit 4:2:0 (frames that
already are yuv420p/yuvj420p are taken as they are; others go through swscale keeping their
matrix and range). ``read(start, count)`` decodes sequentially: reading forward from where the
previous read stopped continues the same decode, reading backwards reopens the file. Only the
wanted frames are kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.format import VideoFormat
from av.video.frame import VideoFrame
from av.video.reformatter import ColorRange as AvColorRange
from av.video.reformatter import Colorspace as AvColorspace
from av.video.reformatter import VideoReformatter

from uarcodec.vocabulary import ColorMatrix, ColorRange, PixelFormat, VideoParams
from uarcodec.errors import UarInputError
from uarcodec.video.frames import YuvClip
from uarcodec.video.options import check_even_size, check_pix_fmt
from uarcodec.video.reader import VideoReader

# Frame rate assumed when the container gives none.
DEFAULT_AV_FPS = Fraction(25)
_NATIVE_420 = frozenset({"yuv420p", "yuvj420p"})
_FULL_RANGE_FORMATS = frozenset({"yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p", "yuvj411p"})


def matrix_from_av(colorspace: int | None) -> ColorMatrix:
    """Our matrix for an FFmpeg AVColorSpace value: BT.709 when tagged so, else BT.601."""
    return ColorMatrix.BT709 if colorspace == int(AvColorspace.ITU709) else ColorMatrix.BT601


def range_from_av(color_range: int | None, pix_fmt: str | None) -> ColorRange:
    """Our range for an FFmpeg AVColorRange value (or a yuvj* pixel format): full or limited.

    RGB sources give LIMITED: they are converted to limited-range YUV (the default tags)."""
    if _is_rgb(pix_fmt):
        return ColorRange.LIMITED
    if color_range == int(AvColorRange.JPEG) or (pix_fmt or "") in _FULL_RANGE_FORMATS:
        return ColorRange.FULL
    return ColorRange.LIMITED


def _is_rgb(pix_fmt: str | None) -> bool:
    return pix_fmt is not None and VideoFormat(pix_fmt).is_rgb


class AvReader(VideoReader):
    """Reads the first video stream of a file through PyAV."""

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
        container = self._open_container()
        try:
            stream = container.streams.video[0]
            context = stream.codec_context
            width, height = int(context.width), int(context.height)
            if width <= 0 or height <= 0:
                raise UarInputError(f"{self.path}: the video stream does not give its frame size")
            if size is not None and tuple(size) != (width, height):
                raise UarInputError(f"{self.path}: the video is {width}x{height}, not {size[0]}x{size[1]}")
            check_even_size(width, height, str(self.path))
            num_frames = _indexed_frame_count(container, stream) or self._count_packets()
            if num_frames == 0:
                raise UarInputError(f"{self.path}: the video stream holds no frames")
            rate = stream.guessed_rate or stream.average_rate or stream.base_rate
            pix_name = context.format.name if context.format is not None else None
            if color_matrix is None:
                color_matrix = matrix_from_av(context.colorspace)
            if color_range is None:
                color_range = range_from_av(context.color_range, pix_name)
            self.info = VideoParams(
                width=width,
                height=height,
                num_frames=num_frames,
                fps=fps if fps is not None else (Fraction(rate) if rate else DEFAULT_AV_FPS),
                pix_fmt=PixelFormat.YUV420P,
                color_matrix=color_matrix,
                color_range=color_range,
            )
        finally:
            container.close()
        self._container: av.container.InputContainer | None = None
        self._frames: Iterator[VideoFrame] | None = None
        self._next_index = 0  # index of the frame self._frames yields next
        self._reformatter = VideoReformatter()

    def _open_container(self) -> av.container.InputContainer:
        try:
            container = av.open(str(self.path), mode="r")
        except (av.error.FFmpegError, OSError) as error:
            raise UarInputError(f"{self.path}: cannot be opened as a video ({error})") from None
        if not container.streams.video:
            container.close()
            raise UarInputError(f"{self.path}: holds no video stream")
        return container

    def _count_packets(self) -> int:
        """Frame count by demuxing the video stream once (no decoding)."""
        container = self._open_container()
        try:
            stream = container.streams.video[0]
            return sum(1 for packet in container.demux(stream) if packet.size > 0)
        except av.error.FFmpegError as error:
            raise UarInputError(f"{self.path}: cannot be read ({error})") from None
        finally:
            container.close()

    def _restart(self) -> None:
        self._close_decoder()
        self._container = self._open_container()
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._frames = iter(self._container.decode(stream))
        self._next_index = 0

    def _next_frame(self) -> VideoFrame:
        assert self._frames is not None
        try:
            frame = next(self._frames)
        except StopIteration:
            raise UarInputError(
                f"{self.path}: the video ended after {self._next_index} decoded frames, "
                f"though it announced {self.info.num_frames}"
            ) from None
        except av.error.FFmpegError as error:
            raise UarInputError(
                f"{self.path}: decoding failed at frame {self._next_index} ({error})"
            ) from None
        self._next_index += 1
        return frame

    def _read_frames(self, start: int, count: int) -> YuvClip:
        if self._frames is None or start < self._next_index:
            self._restart()
        while self._next_index < start:
            self._next_frame()
        clip = YuvClip.zeros(count, self.info.width, self.info.height)
        for i in range(count):
            y, u, v = self._frame_planes(self._next_frame())
            clip.y[i], clip.u[i], clip.v[i] = y, u, v
        return clip

    def _frame_planes(self, frame: VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        width, height = self.info.width, self.info.height
        if frame.format.name not in _NATIVE_420 or (frame.width, frame.height) != (width, height):
            # Keep the source's range (swscale would otherwise squeeze yuvj* into limited
            # range); RGB is full range and becomes limited-range YUV.
            full = range_from_av(frame.color_range, frame.format.name) == ColorRange.FULL
            dst_range = AvColorRange.JPEG if full else AvColorRange.MPEG
            src_range = AvColorRange.JPEG if frame.format.is_rgb else dst_range
            frame = self._reformatter.reformat(
                frame,
                width=width,
                height=height,
                format="yuv420p",
                src_color_range=src_range,
                dst_color_range=dst_range,
            )
        return tuple(_plane_array(plane) for plane in frame.planes[:3])  # type: ignore[return-value]

    def _close_decoder(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = None
        self._frames = None

    def close(self) -> None:
        self._close_decoder()


def _indexed_frame_count(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> int:
    """The frame count an MP4/MOV index gives (exact there); 0 for other containers, whose
    counts are absent (Matroska) or may include empty "dropped frame" packets (AVI)."""
    if "mp4" in container.format.name.split(","):
        return int(stream.frames or 0)
    return 0


def _plane_array(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """The samples of one plane without its line padding."""
    rows = np.frombuffer(plane, np.uint8, plane.line_size * plane.height)
    return rows.reshape(plane.height, plane.line_size)[:, : plane.width]
