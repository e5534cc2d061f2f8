"""Parsing of user-given video options: frame size, frame rate, pixel format, colour tags.

Every parser accepts the already-typed value (tuple, Fraction, enum) as well as the text a
command line gives (``"352x288"``, ``"30000/1001"``, ``"bt709"``), and raises
``UarInputError`` with a one-line message on anything else.
"""

from __future__ import annotations

from fractions import Fraction

from uarcodec.vocabulary import ColorMatrix, ColorRange, PixelFormat
from uarcodec.errors import UarInputError

# Names accepted for the one supported pixel format (8-bit planar 4:2:0, I420 order).
YUV420P_NAMES = frozenset({"yuv420p", "i420", "iyuv", "yuv420", "420", "420p"})

_MATRIX_NAMES = {
    "bt601": ColorMatrix.BT601, "601": ColorMatrix.BT601, "bt470bg": ColorMatrix.BT601,
    "smpte170m": ColorMatrix.BT601, "rec601": ColorMatrix.BT601,
    "bt709": ColorMatrix.BT709, "709": ColorMatrix.BT709, "rec709": ColorMatrix.BT709,
}  # fmt: skip
_RANGE_NAMES = {
    "limited": ColorRange.LIMITED, "tv": ColorRange.LIMITED, "mpeg": ColorRange.LIMITED,
    "full": ColorRange.FULL, "pc": ColorRange.FULL, "jpeg": ColorRange.FULL,
}  # fmt: skip


def parse_size(value: tuple[int, int] | str) -> tuple[int, int]:
    """``(width, height)`` from a tuple or a ``"WxH"`` string; both must be positive."""
    if isinstance(value, str):
        parts = value.lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise UarInputError(f"bad frame size {value!r}: give it as WIDTHxHEIGHT, e.g. 352x288")
        width, height = int(parts[0]), int(parts[1])
    else:
        try:
            width, height = (int(v) for v in value)
        except (TypeError, ValueError):
            raise UarInputError(f"bad frame size {value!r}: expected (width, height)") from None
    if width <= 0 or height <= 0:
        raise UarInputError(f"bad frame size {width}x{height}: both must be positive")
    return width, height


def parse_fps(value: Fraction | int | float | str) -> Fraction:
    """A positive frame rate from a Fraction, a number, or text such as ``"30000/1001"``,
    ``"29.97"`` or ``"25"`` (kept exact: ``"29.97"`` is 2997/100)."""
    try:
        if isinstance(value, str):
            text = value.strip()
            if ":" in text:  # y4m style num:den
                text = text.replace(":", "/")
            fps = Fraction(text)
        elif isinstance(value, float):
            fps = Fraction(str(value))
        else:
            fps = Fraction(value)
    except (ValueError, ZeroDivisionError, TypeError):
        raise UarInputError(f"bad frame rate {value!r}: give e.g. 25, 29.97 or 30000/1001") from None
    if fps <= 0:
        raise UarInputError(f"bad frame rate {value!r}: it must be positive")
    return fps


def check_pix_fmt(value: str | PixelFormat | None) -> PixelFormat:
    """The pixel format, which must be 8-bit planar 4:2:0; anything else is refused."""
    if value is None or value == PixelFormat.YUV420P:
        return PixelFormat.YUV420P
    if isinstance(value, str) and value.strip().lower() in YUV420P_NAMES:
        return PixelFormat.YUV420P
    raise UarInputError(
        f"unsupported pixel format {value!r}: only 8-bit planar 4:2:0 (yuv420p) is supported"
    )


def parse_color_matrix(value: ColorMatrix | int | str) -> ColorMatrix:
    """A ColorMatrix from the enum, its integer value, or a name (``bt601``, ``bt709``, ...)."""
    if isinstance(value, str):
        key = value.strip().lower().replace(".", "").replace("-", "").replace("_", "")
        if key in _MATRIX_NAMES:
            return _MATRIX_NAMES[key]
        raise UarInputError(f"unknown colour matrix {value!r}: use bt601 or bt709")
    try:
        return ColorMatrix(int(value))
    except ValueError:
        raise UarInputError(f"unknown colour matrix {value!r}: use bt601 or bt709") from None


def parse_color_range(value: ColorRange | int | str) -> ColorRange:
    """A ColorRange from the enum, its integer value, or a name (``limited``/``tv``, ``full``/``pc``)."""
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _RANGE_NAMES:
            return _RANGE_NAMES[key]
        raise UarInputError(f"unknown colour range {value!r}: use limited or full")
    try:
        return ColorRange(int(value))
    except ValueError:
        raise UarInputError(f"unknown colour range {value!r}: use limited or full") from None


def check_even_size(width: int, height: int, source: str) -> None:
    """4:2:0 needs an even width and height; ``source`` names the file in the message."""
    if width % 2 or height % 2:
        raise UarInputError(
            f"{source}: frame size {width}x{height} is odd; 4:2:0 video needs an even width and height"
        )
