"""Zero flags under plane contexts: which flag model each symbol's "is it nonzero?" flag uses.

A P-model's residuals are mostly 0, and their nonzeros cluster where the picture changed: a
flag is far more likely 1 next to other 1s and where the plane before had 1s. Format 1.8 (spec
6.1.5) may code a tensor's zero flags under one of :data:`NUM_CLASSES` flag models, picked per
symbol from flags already decoded; the nonzero symbols follow as in format 1.3.

The symbols (after temporal differences, where the record has them) are read as planes: the
last two dimensions are a plane's rows and columns (H, W), the leading ones, in C order, count
the planes (a rank-2 tensor is one plane). Plane ``k``'s flags are decoded in three passes,
``n`` being the number of 1-flags of plane ``k - 1`` at a site and its four neighbours (none
before the first plane, and none in planes of fewer than :data:`LINKED_SITES` sites):

1. the sites with even row and even column, each under class ``min(2, n)``;
2. the sites with odd row and odd column, under class ``3 + 2 * d + (n > 0)``, ``d`` (0..4) the
   1-flags among their four diagonal neighbours (all of pass 1);
3. the other sites, under class ``13 + 2 * a + (n > 0)``, ``a`` (0..4) the 1-flags among their
   four neighbours (all of passes 1 and 2).

Neighbours outside the plane count as 0. The classes of a pass depend only on flags decoded
before it, so each pass is one vectorised call of the coder: plane by plane where planes are
*linked* (at least :data:`LINKED_SITES` sites, each plane's classes depending on the one
before), and for all planes at once where they are not (small kernels: a convolution's 5 x 5
planes, thousands of them, decode in three calls instead of three per plane). This module is
the pure arithmetic of the classes (no coder).
"""

from __future__ import annotations

import numpy as np

NUM_CLASSES = 23  # 3 for pass 1, then 5 neighbour counts x 2 for each of passes 2 and 3
# Planes of at least this many sites see the plane before (n); smaller ones do not. HNeRV's
# cockatoo stream (200k-l150, 7,912 planes of 9 to 220 sites) decoded its flags in 0.53 s plane
# by plane against 0.04 s without plane contexts (docs/latent_grids.md).
LINKED_SITES = 64


def linked(rows: int, cols: int) -> bool:
    """Whether planes of this size see the plane before (and decode plane by plane)."""
    return rows * cols >= LINKED_SITES


def plane_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(planes, rows, columns) of a tensor of rank >= 2."""
    if len(shape) < 2:
        raise ValueError("plane contexts need a tensor of rank 2 or more")
    planes = int(np.prod(shape[:-2], dtype=np.int64)) if len(shape) > 2 else 1
    return planes, int(shape[-2]), int(shape[-1])


def pass_masks(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sites of passes 1, 2 and 3: (even, even), (odd, odd), the rest."""
    r, c = np.indices((rows, cols))
    first = (r % 2 == 0) & (c % 2 == 0)
    second = (r % 2 == 1) & (c % 2 == 1)
    return first, second, ~(first | second)


def _padded(flags: np.ndarray) -> np.ndarray:
    f = np.asarray(flags, dtype=np.int32)
    return np.pad(f, [(0, 0)] * (f.ndim - 2) + [(1, 1), (1, 1)])


def cross_count(flags: np.ndarray) -> np.ndarray:
    """For each site of the last two dimensions: the 1-flags among its four neighbours
    (outside the plane: 0), as int32."""
    p = _padded(flags)
    return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]


def diagonal_count(flags: np.ndarray) -> np.ndarray:
    """For each site of the last two dimensions: the 1-flags among its four diagonal
    neighbours (outside the plane: 0), as int32."""
    p = _padded(flags)
    return p[..., :-2, :-2] + p[..., :-2, 2:] + p[..., 2:, :-2] + p[..., 2:, 2:]


def previous_plane_counts(prev: np.ndarray) -> np.ndarray:
    """1-flags of the plane before at each site and its four neighbours."""
    p = np.asarray(prev, dtype=np.int32)
    return p + cross_count(p)


def pass_classes(step: int, decoded: np.ndarray, prev_counts: np.ndarray) -> np.ndarray:
    """The class of every site as pass ``step`` (0, 1, 2) sees it, from the flags ``decoded``
    before it (0 elsewhere) and :func:`previous_plane_counts`; only the pass's own sites mean
    anything."""
    before = (prev_counts > 0).astype(np.int32)
    if step == 0:
        return np.minimum(prev_counts, 2)
    if step == 1:
        return 3 + 2 * diagonal_count(decoded) + before
    return 13 + 2 * cross_count(decoded) + before


def flag_classes(flags: np.ndarray) -> np.ndarray:
    """Every site's class (int32, shape (planes, rows, cols)) given all flags of a tensor
    (planes, rows, cols): what the decoder derives pass by pass (the encoder knows them all)."""
    f = np.asarray(flags, dtype=np.int32)
    if f.ndim != 3:
        raise ValueError(f"flags must be (planes, rows, cols), got shape {f.shape}")
    prev = np.concatenate([np.zeros_like(f[:1]), f[:-1]], axis=0)
    counts = previous_plane_counts(prev) if linked(*f.shape[1:]) else np.zeros_like(f)
    first, second, third = pass_masks(*f.shape[1:])
    out = np.where(first, pass_classes(0, f, counts), 0)
    out = np.where(second, pass_classes(1, f * first, counts), out)
    return np.where(third, pass_classes(2, f * (first | second), counts), out).astype(np.int32)


def class_counts(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per class (:data:`NUM_CLASSES` entries, int64): how many sites it holds, and how many of
    them are 1-flags, given all flags of a tensor (planes, rows, cols)."""
    f = np.asarray(flags, dtype=np.int32)
    classes = flag_classes(f).reshape(-1)
    sites = np.bincount(classes, minlength=NUM_CLASSES)
    ones = np.bincount(classes, weights=f.reshape(-1), minlength=NUM_CLASSES).astype(np.int64)
    return sites, ones


def decode_order(planes: int, rows: int, cols: int) -> np.ndarray:
    """The flat (C order) indices of a tensor's flags in the order the decoder takes them:
    linked planes one by one, each in its three passes; otherwise pass by pass, each over every
    plane in turn; the sites of a pass of a plane in C order."""
    site = np.arange(rows * cols)
    starts = np.arange(planes)[:, None] * (rows * cols)
    passes = [starts + site[m.reshape(-1)][None, :] for m in pass_masks(rows, cols)]  # (planes, sites)
    if linked(rows, cols):
        return np.concatenate(passes, axis=1).reshape(-1)
    return np.concatenate([p.reshape(-1) for p in passes])
