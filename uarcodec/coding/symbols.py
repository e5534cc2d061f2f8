"""Between a tensor's integers and the symbols its words hold (format 1.1, spec 6.1).

Two exact integer transforms, applied in this order when coding and undone in reverse when
decoding:

* temporal differences along the first dimension (per-frame embeddings: frame t is coded as
  its difference from frame t - 1, frame 0 as it is);
* a channel mask over the first dimension: channels whose symbols are all 0 are not coded.
"""

from __future__ import annotations

import numpy as np

from uarcodec.errors import UarCodingError

MAX_ABS_CODE = 1 << 24  # |q| of a tensor's integers (coding/quant.py)


def temporal_differences(q: np.ndarray) -> np.ndarray:
    """``d[0] = q[0]``, ``d[t] = q[t] - q[t - 1]`` along the first dimension (int64)."""
    q = np.asarray(q, dtype=np.int64)
    d = q.copy()
    d[1:] -= q[:-1]
    return d


def undo_temporal_differences(d: np.ndarray) -> np.ndarray:
    """The integers whose :func:`temporal_differences` are ``d`` (int32; out of range raises)."""
    q = np.cumsum(np.asarray(d, dtype=np.int64), axis=0)
    if q.size and np.abs(q).max() > MAX_ABS_CODE:
        raise UarCodingError("temporal differences sum to integers out of range")
    return q.astype(np.int32)


def nonzero_channels(symbols: np.ndarray) -> np.ndarray:
    """Per first-dimension channel: does it hold a nonzero symbol."""
    s = np.asarray(symbols)
    return s.reshape(s.shape[0], -1).any(axis=1)


def kept_symbols(symbols: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The symbols of the channels ``mask`` keeps (all of them without a mask), flat, C order."""
    s = np.asarray(symbols)
    return s.reshape(-1) if mask is None else s[np.asarray(mask, dtype=bool)].reshape(-1)


def place_symbols(coded: np.ndarray, shape: tuple[int, ...], mask: np.ndarray | None) -> np.ndarray:
    """The full symbol tensor of ``shape``: ``coded`` in the kept channels, 0 elsewhere."""
    if mask is None:
        return np.asarray(coded).reshape(shape)
    out = np.zeros(shape, dtype=np.int64)
    out[np.asarray(mask, dtype=bool)] = np.asarray(coded).reshape((-1, *shape[1:]))
    return out
