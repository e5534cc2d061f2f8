"""Zero flags under plane contexts: which flag model each symbol's "is it nonzero?" flag uses.

A P-model's latent-grid residuals are mostly 0, and their nonzeros cluster where the picture
changed: a flag is far more likely 1 next to other 1s and where the plane before had 1s. Format
1.8 (spec 6.1.5) may code a tensor's zero flags under one of :data:`NUM_CLASSES` flag models,
picked per symbol from flags already decoded; the nonzero symbols follow as in format 1.3.

The symbols (after temporal differences, where the record has them) are read as planes: the
last two dimensions are a plane's rows and columns (H, W), the leading ones, in C order, count
the planes (a rank-2 tensor is one plane). Plane ``k``'s flags are decoded in two passes:

1. its *anchors*, the sites with ``(row + column)`` even, each under class
   ``min(2, n)``, ``n`` the number of 1-flags of plane ``k - 1`` at the site and its four
   neighbours (none before the first plane);
2. the other sites under class ``3 + 2 * a + b``: ``a`` (0..4) the number of the site's four
   neighbours (all anchors) whose flag is 1, ``b`` 1 where plane ``k - 1`` has a 1-flag at the
   site or one of its four neighbours, else 0.

Neighbours outside the plane count as 0. The classes of a whole pass depend only on flags
decoded before it, so each pass is one vectorised call of the coder. This module is the pure
arithmetic of the classes (no coder).
"""

from __future__ import annotations

import numpy as np

NUM_CLASSES = 13  # 3 anchor classes, then 5 neighbour counts x 2 for the other sites
ANCHOR_CLASSES = 3


def plane_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(planes, rows, columns) of a tensor of rank >= 2."""
    if len(shape) < 2:
        raise ValueError("plane contexts need a tensor of rank 2 or more")
    planes = int(np.prod(shape[:-2], dtype=np.int64)) if len(shape) > 2 else 1
    return planes, int(shape[-2]), int(shape[-1])


def anchor_mask(rows: int, cols: int) -> np.ndarray:
    """True at the sites coded first: (row + column) even."""
    r, c = np.indices((rows, cols))
    return (r + c) % 2 == 0


def cross_count(flags: np.ndarray) -> np.ndarray:
    """For each site of the last two dimensions: the 1-flags among its four neighbours
    (outside the plane: 0), as int32."""
    f = np.asarray(flags, dtype=np.int32)
    pad = np.pad(f, [(0, 0)] * (f.ndim - 2) + [(1, 1), (1, 1)])
    return pad[..., :-2, 1:-1] + pad[..., 2:, 1:-1] + pad[..., 1:-1, :-2] + pad[..., 1:-1, 2:]


def previous_plane_counts(prev: np.ndarray) -> np.ndarray:
    """1-flags of the plane before at each site and its four neighbours."""
    p = np.asarray(prev, dtype=np.int32)
    return p + cross_count(p)


def anchor_classes(prev_counts: np.ndarray) -> np.ndarray:
    """Class of each anchor from :func:`previous_plane_counts` there."""
    return np.minimum(prev_counts, 2)


def other_classes(anchor_neighbours: np.ndarray, prev_counts: np.ndarray) -> np.ndarray:
    """Class of each non-anchor site from its 1-flag anchor neighbours and the plane before."""
    return ANCHOR_CLASSES + 2 * anchor_neighbours + (prev_counts > 0)


def flag_classes(flags: np.ndarray) -> np.ndarray:
    """Every site's class (int32, shape (planes, rows, cols)) given all flags of a tensor
    (planes, rows, cols): what the decoder derives pass by pass (the encoder knows them all)."""
    f = np.asarray(flags, dtype=np.int32)
    prev = np.concatenate([np.zeros_like(f[:1]), f[:-1]], axis=0)
    counts = previous_plane_counts(prev)
    anchors = anchor_mask(*f.shape[1:])
    others = other_classes(cross_count(f * anchors), counts)
    return np.where(anchors, anchor_classes(counts), others).astype(np.int32)


def decode_order(planes: int, rows: int, cols: int) -> np.ndarray:
    """The flat (C order) indices of a tensor's flags in the order the decoder takes them:
    plane by plane, anchors then the other sites, each in C order."""
    anchors = anchor_mask(rows, cols).reshape(-1)
    site = np.arange(rows * cols)
    per_plane = np.concatenate([site[anchors], site[~anchors]])
    return (np.arange(planes)[:, None] * (rows * cols) + per_plane[None, :]).reshape(-1)
