"""What a raw ``.yuv`` file name says about its content (Vooya / JCT-VC naming conventions).

Recognised parts of the name (case-insensitive, separated by ``_``, ``-`` or ``.``):

- the frame size ``WxH`` (``clip_352x288.yuv``);
- the frame rate as ``30fps``, ``29.97fps``, ``50hz`` anywhere, or as a bare number right
  after the size (``clip_352x288_30.yuv``, ``BasketballDrive_1920x1080_50.yuv``);
- the chroma format ``420``/``422``/``444``/``i420``/``yuv420p``/``nv12``/... and the bit
  depth ``8bit``/``10bit``, so that a name announcing something other than 8-bit planar
  4:2:0 is refused rather than misread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

_SIZE = re.compile(r"(?<!\d)(\d+)x(\d+)(?!\d)", re.IGNORECASE)
_FPS_WITH_UNIT = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:fps|hz)(?![a-z])", re.IGNORECASE)
_FPS_AFTER_SIZE = re.compile(r"(?<!\d)\d+x\d+[_\-.](\d+(?:\.\d+)?)(?=$|[_\-])", re.IGNORECASE)
_BIT_DEPTH = re.compile(r"(?<![a-z\d])(\d+)[-_]?bits?(?![a-z])", re.IGNORECASE)
_CHROMA_TOKEN = re.compile(r"^(?:yuv|i)?(4[0-4][0-4])p?(?:(\d+)(?:le|be)?)?$", re.IGNORECASE)
_OTHER_LAYOUTS = frozenset({"nv12", "nv21", "yv12", "yuyv", "uyvy", "yuy2", "p010", "gray", "rgb", "bgr"})
_YUV420_ALIASES = frozenset({"iyuv"})
_CHROMA_NUMBERS = frozenset({400, 411, 420, 422, 440, 444})


@dataclass(frozen=True)
class NameHints:
    """What the file name announces; ``None`` where it says nothing."""

    size: tuple[int, int] | None = None
    fps: Fraction | None = None
    chroma: str | None = None  # e.g. "420", "444", "nv12"
    bit_depth: int | None = None

    @property
    def is_yuv420p_8bit(self) -> bool:
        """False only when the name positively announces another format or depth."""
        return self.chroma in (None, "420") and self.bit_depth in (None, 8)


def hints_from_name(path: str | Path) -> NameHints:
    """Parse the size, rate, chroma format and bit depth announced by a raw video file name."""
    stem = Path(path).name
    if stem.lower().endswith(".yuv"):
        stem = stem[: -len(".yuv")]
    return NameHints(
        size=_size_from_name(stem),
        fps=_fps_from_name(stem),
        chroma=_chroma_from_name(stem),
        bit_depth=_depth_from_name(stem),
    )


def _size_from_name(stem: str) -> tuple[int, int] | None:
    match = _SIZE.search(stem)
    if match is None:
        return None
    width, height = int(match.group(1)), int(match.group(2))
    return (width, height) if width > 0 and height > 0 else None


def _fps_from_name(stem: str) -> Fraction | None:
    match = _FPS_WITH_UNIT.search(stem)
    if match is None:
        match = _FPS_AFTER_SIZE.search(stem)
        if match is not None and "." not in match.group(1) and int(match.group(1)) in _CHROMA_NUMBERS:
            match = None  # clip_352x288_420.yuv: a chroma format, not 420 fps
    if match is None:
        return None
    fps = Fraction(match.group(1))
    return fps if fps > 0 else None


def _tokens(stem: str) -> list[str]:
    return [t for t in re.split(r"[_\-.\s]+", stem.lower()) if t]


def _chroma_from_name(stem: str) -> str | None:
    for token in _tokens(stem):
        if token in _OTHER_LAYOUTS:
            return token
        if token in _YUV420_ALIASES:
            return "420"
        match = _CHROMA_TOKEN.match(token)
        if match is not None and int(match.group(1)) in _CHROMA_NUMBERS:
            return match.group(1)
    return None


def _depth_from_name(stem: str) -> int | None:
    match = _BIT_DEPTH.search(stem)
    if match is not None:
        return int(match.group(1))
    for token in _tokens(stem):  # yuv420p10le: depth written into the chroma token
        chroma = _CHROMA_TOKEN.match(token)
        if chroma is not None and chroma.group(2):
            return int(chroma.group(2))
    return None
