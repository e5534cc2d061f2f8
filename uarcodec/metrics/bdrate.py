"""Bjontegaard delta rate and quality (VCEG-M33) between two rate-quality curves.

BD works on log10(rate) over the overlap of the two curves' intervals, with either a piecewise
cubic Hermite interpolant (PCHIP, SciPy's :class:`~scipy.interpolate.PchipInterpolator`, the
default) or the least-squares cubic polynomial of VCEG-M33.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

from uarcodec.errors import UarInputError

BdMethod = Literal["pchip", "cubic"]


def _sorted_curve(
    x: Sequence[float], y: Sequence[float], what: str
) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xa.ndim != 1 or xa.shape != ya.shape:
        raise UarInputError(f"{what}: rate and quality lists must have the same length")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise UarInputError(f"{what}: values must be finite")
    order = np.argsort(xa, kind="stable")
    xa, ya = xa[order], ya[order]
    if np.any(np.diff(xa) <= 0):
        raise UarInputError(f"{what}: the curve has repeated values {xa.tolist()}")
    return xa, ya


def _pchip_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Exact integral over [lo, hi] of the PCHIP interpolant of (x, y)."""
    return float(PchipInterpolator(x, y).integrate(lo, hi))


def _cubic_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Integral over [lo, hi] of the least-squares cubic polynomial through (x, y) (VCEG-M33)."""
    antiderivative = np.polyint(np.polyfit(x, y, 3))
    return float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))


def _bd_average_difference(
    x_a: Sequence[float], y_a: Sequence[float], x_b: Sequence[float], y_b: Sequence[float],
    method: BdMethod, within: tuple[float, float] | None = None,
) -> float:
    """Mean of (f_b - f_a) over the overlap of the two x ranges (and of ``within``)."""
    if method not in ("pchip", "cubic"):
        raise UarInputError(f"unknown BD interpolation {method!r}: use 'pchip' or 'cubic'")
    xa, ya = _sorted_curve(x_a, y_a, "anchor curve")
    xb, yb = _sorted_curve(x_b, y_b, "test curve")
    need = 4 if method == "cubic" else 2
    if len(xa) < need or len(xb) < need:
        raise UarInputError(f"BD with {method} needs at least {need} points per curve")
    lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if within is not None:
        lo, hi = max(lo, within[0]), min(hi, within[1])
    if hi <= lo:
        raise UarInputError("the two RD curves do not overlap: BD is undefined")
    integral = _pchip_integral if method == "pchip" else _cubic_integral
    return (integral(xb, yb, lo, hi) - integral(xa, ya, lo, hi)) / (hi - lo)


def _log10_rates(rates: Sequence[float], what: str) -> np.ndarray:
    r = np.asarray(rates, dtype=np.float64)
    if np.any(~np.isfinite(r)) or np.any(r <= 0):
        raise UarInputError(f"{what}: rates must be positive and finite")
    return np.log10(r)


def bd_rate(
    rate_a: Sequence[float], psnr_a: Sequence[float], rate_b: Sequence[float],
    psnr_b: Sequence[float], method: BdMethod = "pchip", within: tuple[float, float] | None = None,
) -> float:
    """Average rate difference of curve b against anchor a at equal quality, in percent.

    Negative means b needs fewer bits. Quality may be any metric (PSNR, MS-SSIM, ...). The
    average is over the quality range both curves cover, narrowed to ``within`` (low, high)
    when given: so that several curves are compared with one anchor over one range.
    """
    log_a, log_b = _log10_rates(rate_a, "anchor"), _log10_rates(rate_b, "test")
    mean_log_diff = _bd_average_difference(psnr_a, log_a, psnr_b, log_b, method, within)
    return (10.0**mean_log_diff - 1.0) * 100.0


def bd_psnr(
    rate_a: Sequence[float], psnr_a: Sequence[float], rate_b: Sequence[float],
    psnr_b: Sequence[float], method: BdMethod = "pchip",
) -> float:
    """Average quality difference of curve b against anchor a at equal rate, in dB."""
    log_a, log_b = _log10_rates(rate_a, "anchor"), _log10_rates(rate_b, "test")
    return _bd_average_difference(log_a, psnr_a, log_b, psnr_b, method)
