"""Fitting the eps law ``eps = clamp(1 - a * exp(-b * MSE + c), 0, 1)`` (paper Section III-E,
Eq. 9) to (gap MSE, best eps) samples, and locating the best eps of one eps sweep.

``a`` and ``c`` are not separately identifiable (only ``a * exp(c)`` enters), so ``c`` is fixed
at 0 and ``a`` carries ``a * exp(c)``. The fit is a least-squares fit, with the clamp to [0, 1]
the encoder applies: a log-spaced grid search over (a, b) with a > 0, b > 0, refined by zooming,
then polished with ``scipy.optimize.least_squares`` when scipy is installed (numpy alone
otherwise); a and b are kept within wide positive bounds (1e-6..1e3 and 1e-3..1e7), so a
degenerate sample set ends at a bound instead of at 0 or infinity.

The best eps of a sweep (:func:`refine_minimum`) is the vertex of a parabola through the grid
minimum and its two neighbours (the grid minimum itself at the ends of the grid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uarcodec.errors import UarInputError
from uarcodec.settings import EpsLaw, law_eps

C_NOTE = "c is fixed at 0: a and c only enter as a*exp(c), so a carries a*exp(c)"


@dataclass(frozen=True)
class EpsLawFit:
    """Fitted law and how well it matches the samples."""

    law: EpsLaw
    rmse: float
    r2: float | None  # None when every sample has the same best eps
    points: int
    method: str  # "scipy" or "numpy"
    note: str = C_NOTE


# Search bounds of (a, b): far beyond any useful law (MSE of pixels in [0, 1] is at most 1).
A_BOUNDS = (1e-6, 1e3)
B_BOUNDS = (1e-3, 1e7)
_LOG_A = (math.log(A_BOUNDS[0]), math.log(A_BOUNDS[1]))
_LOG_B = (math.log(B_BOUNDS[0]), math.log(B_BOUNDS[1]))


def _grid_search(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(log a, log b) minimising the clamped squared error: a coarse log grid, then zooming."""
    (lo_a, hi_a), (lo_b, hi_b) = _LOG_A, _LOG_B
    n = 161
    best = (0.0, 0.0)
    for _ in range(40):
        la = np.linspace(lo_a, hi_a, n)
        lb = np.linspace(lo_b, hi_b, n)
        pred = law_eps(np.exp(la)[:, None, None], np.exp(lb)[None, :, None], 0.0, x[None, None, :])
        sse = np.sum((pred - y) ** 2, axis=2)
        i, j = np.unravel_index(int(np.argmin(sse)), sse.shape)
        best = (float(la[i]), float(lb[j]))
        step_a, step_b = la[1] - la[0], lb[1] - lb[0]
        if step_a < 1e-10 and step_b < 1e-10:
            break
        lo_a, hi_a = max(_LOG_A[0], best[0] - 4 * step_a), min(_LOG_A[1], best[0] + 4 * step_a)
        lo_b, hi_b = max(_LOG_B[0], best[1] - 4 * step_b), min(_LOG_B[1], best[1] + 4 * step_b)
        n = 41
    return best


def _scipy_polish(x: np.ndarray, y: np.ndarray, start: tuple[float, float]) -> tuple[float, float] | None:
    try:
        from scipy.optimize import least_squares
    except ImportError:
        return None
    result = least_squares(
        lambda t: law_eps(math.exp(t[0]), math.exp(t[1]), 0.0, x) - y,
        np.array(start), bounds=([_LOG_A[0], _LOG_B[0]], [_LOG_A[1], _LOG_B[1]]),
        method="trf", x_scale="jac", xtol=1e-14, ftol=1e-14, gtol=1e-14,
    )
    return (float(result.x[0]), float(result.x[1])) if result.success else None


def fit_eps_law(gap_mse: Sequence[float], best_eps: Sequence[float], use_scipy: bool = True) -> EpsLawFit:
    """Least-squares fit of ``eps = clamp(1 - a * exp(-b * MSE), 0, 1)`` with c = 0 and (a, b)
    within :data:`A_BOUNDS` x :data:`B_BOUNDS` (so a > 0, b > 0)."""
    x = np.asarray(gap_mse, np.float64)
    y = np.asarray(best_eps, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise UarInputError("gap MSEs and best eps values must be two lists of the same length")
    if len(x) < 2:
        raise UarInputError(f"fitting the eps law needs at least 2 (MSE, eps) samples, got {len(x)}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))) or np.any(x < 0):
        raise UarInputError("gap MSEs must be finite and >= 0, eps values finite")

    def sse(t: tuple[float, float]) -> float:
        return float(np.sum((law_eps(math.exp(t[0]), math.exp(t[1]), 0.0, x) - y) ** 2))

    best = _grid_search(x, y)
    method = "numpy"
    if use_scipy:
        polished = _scipy_polish(x, y, best)
        if polished is not None:
            method = "scipy"
            if sse(polished) <= sse(best):
                best = polished
    err = sse(best)
    sst = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - err / sst if sst > 1e-12 else None
    law = EpsLaw(a=math.exp(best[0]), b=math.exp(best[1]), c=0.0)
    return EpsLawFit(law, math.sqrt(err / len(x)), r2, len(x), method)


def refine_minimum(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The x of the smallest y, refined by the parabola through it and its two neighbours
    (kept within them); at either end of the grid the grid point itself."""
    i = int(np.argmin(ys))
    if i == 0 or i == len(xs) - 1:
        return float(xs[i])
    (x0, x1, x2), (y0, y1, y2) = xs[i - 1 : i + 2], ys[i - 1 : i + 2]
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    curv = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
    lin = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom
    if curv <= 0:
        return float(x1)
    return float(min(max(-lin / (2 * curv), x0), x2))


__all__ = ["A_BOUNDS", "B_BOUNDS", "C_NOTE", "EpsLawFit", "fit_eps_law", "refine_minimum"]
