"""Zero flags: a tensor's symbols coded as "is it nonzero?" flags, then the nonzero symbols.

A P-model's residual codes are mostly 0 (about 80% at the bench's rate points) with a thin
spread around it; one Laplace over all of them pays for the spike at 0 with a shape that fits
neither the zeros nor the rest. Format 1.3 (spec 6.1.3) may code such a tensor in two parts
under models that the stream already defines:

1. one flag per symbol, 1 where the symbol is nonzero, under the two-symbol QuantizedLaplace on
   [0, 1] that the record's float32 flag parameter ``a`` names: location 0 and scale ``a`` when
   ``a > 0`` (flag 0 has a probability above 1/2), location 1 and scale ``-a`` when ``a < 0``;
2. the nonzero symbols in order, each positive one lowered by 1 so that they are contiguous
   (``shift_nonzero``), under the record's own entropy model and symbol range.

This module holds the pure arithmetic of that scheme (no coder): the entropy coder
(:mod:`uarcodec.coding.entropy`) builds the models from it.
"""

from __future__ import annotations

import math

import numpy as np

MIN_FLAG_SCALE = 1e-2  # P(flag 0) at about 1 - 0.5 * exp(-50): far below 2**-24 already
MAX_FLAG_SCALE = 1e6  # P(flag 0) within 3e-7 of 1/2


def flag_location_scale(a: float) -> tuple[float, float]:
    """The flags' Laplace (location, scale) that the flag parameter ``a`` names."""
    return (0.0, a) if a > 0 else (1.0, -a)


def flag_param(zero_share: float) -> float:
    """The flag parameter whose model gives flag 0 (a zero symbol) about this probability:
    ``F(1/2) = 1 - exp(-1/(2b)) / 2`` at location 0 for shares from 1/2, ``exp(-1/(2b)) / 2``
    at location 1 below; the scale is kept in [MIN_FLAG_SCALE, MAX_FLAG_SCALE]."""
    share = min(max(float(zero_share), 1e-9), 1.0 - 1e-9)
    tail = 2.0 * (1.0 - share) if share >= 0.5 else 2.0 * share
    scale = MAX_FLAG_SCALE if tail >= 1.0 else -0.5 / math.log(tail)
    scale = min(max(scale, MIN_FLAG_SCALE), MAX_FLAG_SCALE)
    return scale if share >= 0.5 else -scale


def shift_nonzero(values: np.ndarray) -> np.ndarray:
    """Nonzero integers made contiguous: ``v - 1`` for ``v > 0``, ``v`` for ``v < 0``."""
    v = np.asarray(values)
    return np.where(v > 0, v - 1, v).astype(v.dtype, copy=False)


def unshift_nonzero(shifted: np.ndarray) -> np.ndarray:
    """The inverse of :func:`shift_nonzero`: ``m + 1`` for ``m >= 0``, ``m`` for ``m < 0``."""
    m = np.asarray(shifted)
    return np.where(m >= 0, m + 1, m).astype(m.dtype, copy=False)
