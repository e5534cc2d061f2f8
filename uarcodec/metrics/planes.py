"""The frames metrics measure: 8-bit 4:2:0 planes and their checks.

``y`` is (N, H, W) and ``u``, ``v`` are (N, ceil(H/2), ceil(W/2)), all ``uint8``. A chunk of
frames is an object with ``.y``, ``.u``, ``.v`` (such as a ``YuvClip``) or a ``(y, u, v)``
tuple.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from uarcodec.errors import UarInputError


def check_same_shape(ref: np.ndarray, dec: np.ndarray, what: str) -> None:
    if ref.shape != dec.shape:
        raise UarInputError(f"{what}: reference shape {ref.shape} != decoded shape {dec.shape}")


def yuv_planes(obj: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, u, v) of an object with .y/.u/.v or of a 3-sequence."""
    if all(hasattr(obj, name) for name in ("y", "u", "v")):
        return obj.y, obj.u, obj.v
    try:
        y, u, v = obj
    except (TypeError, ValueError) as exc:
        raise UarInputError("frames must have .y/.u/.v planes or be a (y, u, v) tuple") from exc
    return y, u, v


def check_yuv420(y: np.ndarray, u: np.ndarray, v: np.ndarray, what: str) -> None:
    """Raise unless (y, u, v) are (N, H, W) uint8 planes with 4:2:0 chroma."""
    for name, plane in (("y", y), ("u", u), ("v", v)):
        if not isinstance(plane, np.ndarray) or plane.dtype != np.uint8 or plane.ndim != 3:
            raise UarInputError(f"{what} plane {name} must be a (N, H, W) uint8 array")
    n, height, width = y.shape
    chroma = (n, (height + 1) // 2, (width + 1) // 2)
    if u.shape != chroma or v.shape != chroma:
        raise UarInputError(
            f"{what} chroma planes {u.shape}/{v.shape} do not match 4:2:0 of luma {y.shape}"
        )
