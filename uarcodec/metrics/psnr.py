"""PSNR: mean squared error per frame, PSNR from an MSE (capped), the 6:1:1 YUV weighting.

The one home of two conventions the whole codec shares:

* :data:`YUV_WEIGHTS` — PSNR-YUV (and the training / GOP-gap distortion) weight the Y, U and V
  planes 6:1:1: ``(6 Y + U + V) / 8`` (:func:`yuv_weighted`).
* :func:`psnr_from_mse` — ``10 log10(peak^2 / MSE)`` capped at :data:`PSNR_CAP_DB` (100 dB),
  i.e. an MSE of at most ``peak^2 * 1e-10`` (``1e-10`` for pixels in [0, 1]) gives exactly
  100 dB, so identical frames give a finite number.

Frame metrics use 8-bit code values, peak :data:`PEAK` (255), and are computed per frame.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from uarcodec.metrics.planes import check_same_shape

PSNR_CAP_DB = 100.0
PEAK = 255.0  # peak of 8-bit code values

# Weights of the Y, U and V planes in PSNR-YUV and in every 6:1:1 YUV distortion.
YUV_WEIGHTS = (6, 1, 1)

T = TypeVar("T")


def yuv_weighted(y: T, u: T, v: T) -> T:
    """The 6:1:1 weighted mean ``(6 y + u + v) / 8`` of per-plane values.

    Works on anything with arithmetic: floats, numpy arrays, torch tensors (it keeps a torch
    graph). Used for per-plane PSNRs (PSNR-YUV) and per-plane MSEs (the YUV distortion).
    """
    w_y, w_u, w_v = YUV_WEIGHTS
    return (w_y * y + w_u * u + w_v * v) / sum(YUV_WEIGHTS)


def mse_per_frame(ref: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Mean squared error of each frame of two (N, ...) arrays, in float64."""
    check_same_shape(ref, dec, "mse")
    diff = ref.astype(np.float64) - dec.astype(np.float64)
    return np.mean(diff.reshape(diff.shape[0], -1) ** 2, axis=1)


def psnr_from_mse(mse: Any, peak: float = 1.0) -> Any:
    """PSNR in dB of an MSE for samples of peak ``peak``, capped at :data:`PSNR_CAP_DB`.

    ``10 log10(peak^2 / mse)``, and exactly 100 dB when ``mse <= peak^2 * 1e-10`` (also for
    ``mse == 0``). The default peak 1.0 is for pixels in [0, 1]; pass ``peak=PEAK`` for 8-bit
    code values. A scalar gives a ``float``, an array a float64 array of the same shape.
    """
    mse = np.asarray(mse, dtype=np.float64)
    floor = peak * peak / 10.0 ** (PSNR_CAP_DB / 10.0)
    psnr = np.minimum(10.0 * np.log10(peak * peak / np.maximum(mse, floor)), PSNR_CAP_DB)
    return float(psnr) if psnr.ndim == 0 else psnr


def psnr_per_frame(ref: np.ndarray, dec: np.ndarray, peak: float = PEAK) -> np.ndarray:
    """PSNR of each frame of two (N, H, W[, C]) arrays (peak 255, capped at 100 dB)."""
    return np.asarray(psnr_from_mse(mse_per_frame(ref, dec), peak))


def psnr_yuv(psnr_y: np.ndarray, psnr_u: np.ndarray, psnr_v: np.ndarray) -> np.ndarray:
    """The 6:1:1 weighted PSNR-YUV, per frame: ``(6Y + U + V) / 8``."""
    return yuv_weighted(np.asarray(psnr_y), np.asarray(psnr_u), np.asarray(psnr_v))
