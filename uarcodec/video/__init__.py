"""Frames in and out: raw .yuv, .y4m and anything PyAV opens; writers for .yuv/.y4m/.mp4/.mkv;
colour conversion with an explicit matrix and range."""

from uarcodec.video.color import (
    clip_to_float,
    float_to_clip,
    rgb_to_yuv420,
    yuv420_to_rgb,
)
from uarcodec.video.formats import open_video, open_writer
from uarcodec.video.frames import YuvClip, concatenate
from uarcodec.video.options import (
    parse_color_matrix,
    parse_color_range,
    parse_fps,
    parse_size,
)
from uarcodec.video.reader import VideoReader
from uarcodec.video.writer import VideoWriter

__all__ = [
    "YuvClip",
    "concatenate",
    "open_video",
    "open_writer",
    "VideoReader",
    "VideoWriter",
    "yuv420_to_rgb",
    "rgb_to_yuv420",
    "clip_to_float",
    "float_to_clip",
    "parse_size",
    "parse_fps",
    "parse_color_matrix",
    "parse_color_range",
]
