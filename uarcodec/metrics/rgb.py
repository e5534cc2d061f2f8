"""The 8-bit RGB frames PSNR-RGB and MS-SSIM are measured on.

The conversion itself is the codec's one YUV -> RGB conversion,
:func:`uarcodec.video.color.yuv420_to_rgb` (explicit BT.601 / BT.709 matrix, limited or full
range, nearest-neighbour chroma upsampling). This module only adds what measuring needs:
string colour names (``"bt601"``, ``"limited"``, ...), float64 arithmetic on 8-bit code values
(it feeds the converter float64 torch planes, which it keeps in float64), odd frame sizes, and
rounding and clipping to uint8.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from uarcodec.errors import UarInputError
from uarcodec.video.color import yuv420_to_rgb
from uarcodec.vocabulary import ColorMatrix, ColorRange

Matrix = Literal["bt601", "bt709"]
Range = Literal["limited", "full"]

_MATRICES: dict[str, ColorMatrix] = {"bt601": ColorMatrix.BT601, "bt709": ColorMatrix.BT709}
_RANGES: dict[str, ColorRange] = {"limited": ColorRange.LIMITED, "full": ColorRange.FULL}

_BATCH_PIXELS = 1 << 22  # luma samples converted at once, bounds memory on large chunks


def check_colour(matrix: str, range_: str) -> tuple[ColorMatrix, ColorRange]:
    """The enums of a colour matrix and range name; a clear error for unknown names."""
    if matrix not in _MATRICES:
        raise UarInputError(f"unknown colour matrix {matrix!r}: use one of {sorted(_MATRICES)}")
    if range_ not in _RANGES:
        raise UarInputError(f"unknown colour range {range_!r}: use 'limited' or 'full'")
    return _MATRICES[matrix], _RANGES[range_]


def yuv_to_rgb(
    y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: Matrix = "bt601", range_: Range = "limited"
) -> np.ndarray:
    """Y'CbCr 4:2:0 frames (N, H, W) to float64 R'G'B' in 0..255 (unclipped), shape (N, H, W, 3).

    Chroma is upsampled nearest-neighbour. Limited range maps Y 16..235 and Cb/Cr 16..240 to the
    nominal 0..1 and -0.5..0.5; full range uses Y/255 and (C-128)/255. Then
    ``R = Y + 2(1-Kr) Cr``, ``B = Y + 2(1-Kb) Cb``, ``G = (Y - Kr R - Kb B) / (1 - Kr - Kb)``.
    An odd height or width is allowed (chroma of ``ceil(H/2) x ceil(W/2)``).
    """
    colour_matrix, colour_range = check_colour(matrix, range_)
    height, width = y.shape[-2], y.shape[-1]
    # A pixel's RGB depends only on its own luma and its chroma sample, so an odd side is
    # padded to even for the converter and the extra row/column dropped afterwards.
    pad = [(0, 0)] * (y.ndim - 2) + [(0, height % 2), (0, width % 2)]
    y_even = np.pad(y, pad, mode="edge") if height % 2 or width % 2 else y
    planes = tuple(torch.from_numpy(p.astype(np.float64) / 255.0) for p in (y_even, u, v))
    rgb = yuv420_to_rgb(planes, colour_matrix, colour_range, clip=False)  # (N, 3, H', W') float64
    rgb = rgb[..., :height, :width].numpy() * 255.0
    return np.moveaxis(rgb, -3, -1)


def yuv_to_rgb8(
    y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: Matrix = "bt601", range_: Range = "limited"
) -> np.ndarray:
    """Like :func:`yuv_to_rgb` but rounded (half to even) and clipped to uint8: 8-bit RGB
    frames of shape (N, H, W, 3). Converts a few frames at a time to bound memory."""
    check_colour(matrix, range_)
    height, width = y.shape[-2], y.shape[-1]
    out = np.empty(y.shape + (3,), dtype=np.uint8)
    step = max(1, _BATCH_PIXELS // max(1, height * width))
    for s in range(0, y.shape[0], step):
        rgb = yuv_to_rgb(y[s : s + step], u[s : s + step], v[s : s + step], matrix, range_)
        np.clip(np.rint(rgb), 0, 255, out=rgb)
        out[s : s + step] = rgb
    return out
