"""Colour conversion between 8-bit YUV 4:2:0 and RGB, with an explicit matrix and range.

Matrices (ITU-R BT.601 and BT.709) are given by their luma weights Kr, Kb (Kg = 1 - Kr - Kb):
``Y' = Kr R + Kg G + Kb B``, ``Pb = (B - Y') / (2 (1 - Kb))``, ``Pr = (R - Y') / (2 (1 - Kr))``
with R, G, B, Y' in [0, 1] and Pb, Pr in [-0.5, 0.5]. 8-bit code values are
``Y = 16 + 219 Y'``, ``C = 128 + 224 P`` in limited (TV) range and ``Y = 255 Y'``,
``C = 128 + 255 P`` in full (PC/JPEG) range.

"Float" planes are 8-bit code values divided by 255 (``clip_to_float``): the codec's native
YUV path works on those. ``yuv420_to_rgb`` accepts numpy arrays or torch tensors (and keeps
torch tensors on their device, differentiable).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from uarcodec.vocabulary import ColorMatrix, ColorRange
from uarcodec.errors import UarInputError
from uarcodec.video.frames import YuvClip

# (Kr, Kb) of each matrix.
LUMA_WEIGHTS: dict[ColorMatrix, tuple[float, float]] = {
    ColorMatrix.BT601: (0.299, 0.114),
    ColorMatrix.BT709: (0.2126, 0.0722),
}

Planes = tuple[Any, Any, Any]  # (y, u, v): numpy arrays or torch tensors


def _range_codes(color_range: ColorRange) -> tuple[float, float, float]:
    """(luma offset, luma scale, chroma scale) in 8-bit code values for a range."""
    if color_range == ColorRange.FULL:
        return 0.0, 255.0, 255.0
    return 16.0, 219.0, 224.0


def _is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def clip_to_float(clip: YuvClip) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The planes of a clip as float32 code values / 255, i.e. in [0, 1]."""
    return _codes_to_float(clip.y), _codes_to_float(clip.u), _codes_to_float(clip.v)


def _codes_to_float(plane: np.ndarray) -> np.ndarray:
    return plane.astype(np.float32) / np.float32(255.0)


def float_to_clip(y: Any, u: Any, v: Any) -> YuvClip:
    """Planes in [0, 1] (numpy or torch, shapes (N,H,W) and (N,H/2,W/2)) back to 8-bit:
    ``x * 255`` rounded half to even, then clipped to 0..255."""
    return YuvClip(_to_uint8(y), _to_uint8(u), _to_uint8(v))


def _to_uint8(plane: Any) -> np.ndarray:
    array = _to_numpy(plane).astype(np.float32)
    if array.ndim == 2:
        array = array[None]
    return np.clip(np.rint(array * np.float32(255.0)), 0, 255).astype(np.uint8)


def _to_numpy(x: Any) -> np.ndarray:
    if _is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _as_float_planes(planes: YuvClip | Planes) -> Planes:
    """Planes as floats in [0, 1]: uint8 inputs are divided by 255, float inputs kept."""
    if isinstance(planes, YuvClip):
        return clip_to_float(planes)
    if len(planes) != 3:
        raise UarInputError("expected a YuvClip or a (y, u, v) tuple of planes")
    out = []
    for plane in planes:
        if _is_torch(plane):
            out.append(plane.float() / 255.0 if not plane.is_floating_point() else plane)
        else:
            array = np.asarray(plane)
            out.append(_codes_to_float(array) if array.dtype == np.uint8 else array)
    return out[0], out[1], out[2]


def _upsample_nearest(plane: Any) -> Any:
    if _is_torch(plane):
        return plane.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2)
    return plane.repeat(2, axis=-1).repeat(2, axis=-2)


def yuv420_to_rgb(
    planes: YuvClip | Planes,
    matrix: ColorMatrix = ColorMatrix.BT601,
    color_range: ColorRange = ColorRange.LIMITED,
    *,
    clip: bool = True,
) -> Any:
    """RGB of 4:2:0 YUV: (..., 3, H, W) float in [0, 1] (clipped unless ``clip=False``).

    ``planes`` is a YuvClip, or (y, u, v) numpy arrays / torch tensors of shapes (..., H, W)
    and (..., H/2, W/2): uint8 code values, or floats holding code values / 255. Chroma is
    upsampled by nearest neighbour (each chroma sample covers its 2x2 luma block). A YuvClip
    or numpy input gives float32 numpy, a torch input gives a torch tensor.
    """
    y, u, v = _as_float_planes(planes)
    kr, kb = LUMA_WEIGHTS[ColorMatrix(matrix)]
    kg = 1.0 - kr - kb
    y_off, y_scale, c_scale = _range_codes(ColorRange(color_range))
    luma = (y * 255.0 - y_off) / y_scale
    pb = (_upsample_nearest(u) * 255.0 - 128.0) / c_scale
    pr = (_upsample_nearest(v) * 255.0 - 128.0) / c_scale
    red = luma + (2.0 * (1.0 - kr)) * pr
    blue = luma + (2.0 * (1.0 - kb)) * pb
    green = (luma - kr * red - kb * blue) / kg
    if _is_torch(luma):
        torch = sys.modules["torch"]
        rgb = torch.stack([red, green, blue], dim=-3)
        return rgb.clamp(0.0, 1.0) if clip else rgb
    rgb = np.stack([red, green, blue], axis=-3).astype(np.float32, copy=False)
    return np.clip(rgb, 0.0, 1.0, out=rgb) if clip else rgb


def rgb_to_yuv420(
    rgb: Any,
    matrix: ColorMatrix = ColorMatrix.BT601,
    color_range: ColorRange = ColorRange.LIMITED,
) -> YuvClip:
    """8-bit 4:2:0 YUV of RGB given as (N, 3, H, W) or (3, H, W) floats in [0, 1] (numpy or
    torch; H and W even). Chroma is the average of each 2x2 block; samples are rounded half
    to even and clipped to 0..255."""
    array = _to_numpy(rgb).astype(np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[1] != 3:
        raise UarInputError(f"expected RGB of shape (N, 3, H, W), got {tuple(array.shape)}")
    height, width = array.shape[2:]
    if height % 2 or width % 2:
        raise UarInputError(f"4:2:0 needs an even width and height, got {width}x{height}")
    kr, kb = LUMA_WEIGHTS[ColorMatrix(matrix)]
    kg = 1.0 - kr - kb
    y_off, y_scale, c_scale = _range_codes(ColorRange(color_range))
    red, green, blue = array[:, 0], array[:, 1], array[:, 2]
    luma = kr * red + kg * green + kb * blue
    pb = (blue - luma) / (2.0 * (1.0 - kb))
    pr = (red - luma) / (2.0 * (1.0 - kr))
    return YuvClip(
        _round_codes(y_off + y_scale * luma),
        _round_codes(128.0 + c_scale * _average_2x2(pb)),
        _round_codes(128.0 + c_scale * _average_2x2(pr)),
    )


def _average_2x2(plane: np.ndarray) -> np.ndarray:
    n, h, w = plane.shape
    return plane.reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4))


def _round_codes(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)
