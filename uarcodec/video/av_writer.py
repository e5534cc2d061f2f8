"""Compressed outputs through PyAV: ``.mp4`` (H.264, near-transparent) and ``.mkv`` (FFV1,
lossless). Both are yuv420p with the colour matrix and range tagged in the stream."""

from __future__ import annotations

import av
import numpy as np
from av.video.frame import VideoFrame

from uarcodec.vocabulary import ColorMatrix, ColorRange
from uarcodec.video.frames import YuvClip
from uarcodec.video.options import parse_fps
from uarcodec.video.writer import VideoWriter

# FFmpeg's colour tag values (AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic,
# which share numbers for these two systems): 1 = BT.709, 6 = SMPTE 170M (BT.601 525-line).
_AV_COLOR_TAG = {ColorMatrix.BT601: 6, ColorMatrix.BT709: 1}
_AV_RANGE = {ColorRange.LIMITED: 1, ColorRange.FULL: 2}  # AVCOL_RANGE_MPEG / AVCOL_RANGE_JPEG

# H.264 settings of the .mp4 writer: constant quality 12 is visually transparent (PSNR well
# above 40 dB on our test clips) and plays everywhere (High profile, yuv420p).
MP4_X264_OPTIONS = {"crf": "12", "preset": "medium", "profile": "high"}
MKV_FFV1_OPTIONS = {"level": "3", "slicecrc": "1"}


class AvWriter(VideoWriter):
    """Encodes frames with one FFmpeg encoder into one container (see the subclasses)."""

    container_format: str
    codec_name: str
    codec_options: dict[str, str]

    def _open(self) -> None:
        assert self._target is not None
        info = self.info
        self._frame_rate = parse_fps(info.fps)
        self._container = av.open(str(self._target.write_path), mode="w", format=self.container_format)
        try:
            self._stream = self._add_stream()
        except BaseException:
            self._container.close()
            raise

    def _add_stream(self) -> av.video.stream.VideoStream:
        info = self.info
        stream = self._container.add_stream(self.codec_name, rate=self._frame_rate)
        stream.width = info.width
        stream.height = info.height
        stream.pix_fmt = "yuv420p"
        stream.options = dict(self.codec_options)
        context = stream.codec_context
        context.colorspace = _AV_COLOR_TAG[info.color_matrix]
        context.color_primaries = _AV_COLOR_TAG[info.color_matrix]
        context.color_trc = _AV_COLOR_TAG[info.color_matrix]
        context.color_range = _AV_RANGE[info.color_range]
        return stream

    def _write_clip(self, clip: YuvClip) -> None:
        for i in range(clip.num_frames):
            frame = _to_av_frame(clip, i)
            frame.pts = self.frames_written + i
            frame.time_base = 1 / self._frame_rate
            frame.colorspace = _AV_COLOR_TAG[self.info.color_matrix]
            frame.color_range = _AV_RANGE[self.info.color_range]
            self._container.mux(self._stream.encode(frame))

    def _finish(self) -> None:
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()

    def _drop(self) -> None:
        try:
            self._container.close()
        except av.error.FFmpegError:
            pass  # the output is being thrown away anyway


class Mp4Writer(AvWriter):
    """H.264 (libx264, High profile, crf 12) in MP4."""

    container_format = "mp4"
    codec_name = "libx264"
    codec_options = MP4_X264_OPTIONS


class MkvWriter(AvWriter):
    """Lossless FFV1 in Matroska."""

    container_format = "matroska"
    codec_name = "ffv1"
    codec_options = MKV_FFV1_OPTIONS


def _to_av_frame(clip: YuvClip, index: int) -> VideoFrame:
    """Frame ``index`` as a yuv420p VideoFrame (planes packed in I420 order)."""
    width, height = clip.width, clip.height
    packed = np.concatenate(
        [clip.y[index].reshape(-1), clip.u[index].reshape(-1), clip.v[index].reshape(-1)]
    ).reshape(height * 3 // 2, width)
    return VideoFrame.from_ndarray(packed, format="yuv420p")
