"""Latent context coding: each integer of a latent grid under a Laplace whose location and scale
a small network predicts from integers decoded before it (format 1.5, spec section 16).

A model's latent grids are its :data:`~uarcodec.vocabulary.TensorRole.LATENT` tensors, finest
level first, each ``(n, C, h, w)`` integers (``n`` time samples) with every coarser grid at half
the height and width (with a motion margin, format 1.6, one more row or column of it where the
finer grid's margin is odd: :func:`coarse_offset`). Its context network is its four
:data:`~uarcodec.vocabulary.TensorRole.CONTEXT` tensors: ``w1 (H, 11)``, ``b1 (H,)``,
``w2 (2, H)``, ``b2 (2,)``.

Order: the coarsest grid first; in a grid, sample after sample; in a sample, by the grid's
``context_order`` (:class:`~uarcodec.vocabulary.ContextOrder`):

* checkerboard (format 1.5): the *anchors* (``(i + j)`` even) of every channel in C order, then
  the others;
* wavefront (format 1.10): wavefront ``t = 2 i + j`` after wavefront, ``t`` from 0 to
  ``2 (h - 1) + w - 1``; in a wavefront channel after channel, in a channel row ``i`` after row.

Every integer reads 11 features (:data:`FEATURES`), 0 where they fall outside the grid:

* checkerboard: its up, left, right and down neighbours in its own sample (only for the
  non-anchors, whose four neighbours are all anchors; 0 for the anchors), and the phase (0 for
  anchors, 1 for the others); wavefront: its neighbours left ``(i, j - 1)``, up-left
  ``(i - 1, j - 1)``, up ``(i - 1, j)``, up-right ``(i - 1, j + 1)`` and second-left
  ``(i, j - 2)``, all in wavefronts before its own;
* the previous sample's integers at its position and at its up, left, right and down
  neighbours (0 in sample 0);
* the coarser grid's integer above it, in the coarser sample nearest in time (row
  ``(i + a) div 2`` and column ``(j + b) div 2``, :func:`coarse_offset`).

A checkerboard sample decodes in two vectorised calls, a wavefront sample in ``2 h + w - 2``;
the wavefront gives every integer five decoded neighbours, where half the checkerboard's have
none (on an I-model's grids the same trained integers code about 9 to 12% smaller,
docs/latent_grids.md).

Determinism: the decoded float32 weights become integers at 2**-8 (``b2`` at 2**-16), the
network runs in integer arithmetic (no rounding before the output: every sum is exact), and its
two outputs become a location index (quarter symbols) and a scale index into the fixed table
:func:`scale_table`, whose entries are dyadic rationals. The coder takes those two exact
float64 numbers, so every machine computes the same probabilities. (The integers are held in
float64 and multiplied with BLAS: every product and partial sum stays below 2**53, so the
result is the exact integer in any summation order.)

Training prices the grids' noisy codes through the same network in float
(:func:`context_rate_bits`), its weights rounded straight-through to the integer grid.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from uarcodec.coding.column_network import column_network
from uarcodec.coding.entropy import EncodedTensor, LaplaceSymbolDecoder, encode_laplace_symbols
from uarcodec.coding.quant import laplace_bin_log2_mass, round_ste
from uarcodec.errors import UarCodingError
from uarcodec.vocabulary import CONTEXT_FEATURES, MAX_CONTEXT_HIDDEN, CodedTensorSpec, ContextOrder, TensorRole

FEATURES = CONTEXT_FEATURES
FEATURE_CLIP = 255  # features are clipped to [-255, 255]
WEIGHT_BITS = 8  # w1, b1, w2 at 2**-8
OUTPUT_BITS = 2 * WEIGHT_BITS  # b2 and the outputs at 2**-16
MAX_WEIGHT = 2**15 - 1  # |w1|, |w2| in integer units
MAX_B1 = 2**23 - 1
MAX_B2 = 2**31 - 1
MAX_HIDDEN = MAX_CONTEXT_HIDDEN
MEAN_FRACTION = 4  # locations are multiples of 1/4 symbol
MAX_MEAN_INDEX = MEAN_FRACTION * FEATURE_CLIP
SCALE_INDICES = 160
SCALE_ZERO = 64  # index of scale 1.0: the second output is log2(scale) in 1/16 steps from here


def scale_table() -> np.ndarray:
    """The 160 scales, index ``k``: ``(16 + k mod 16) * 2**(k div 16 - 8)``, 0.0625 to 62
    (about ``2**(k/16 - 4)``, exact in float64)."""
    k = np.arange(SCALE_INDICES)
    return (16 + k % 16) * np.exp2(k // 16 - 8).astype(np.float64)


_SCALES = scale_table()


@dataclass(frozen=True)
class ContextLayout:
    """Where a model's latent grids and context network are among its coded tensors."""

    grids: tuple[int, ...]  # indices of the LATENT tensors, finest first
    network: tuple[int, ...]  # indices of w1, b1, w2, b2
    order: ContextOrder = ContextOrder.CHECKERBOARD

    @classmethod
    def of(cls, specs: list[CodedTensorSpec]) -> ContextLayout | None:
        """The layout of a model with a context network, None without one."""
        network = tuple(i for i, s in enumerate(specs) if s.role == TensorRole.CONTEXT)
        if not network:
            return None
        grids = tuple(i for i, s in enumerate(specs) if s.role == TensorRole.LATENT)
        if len(network) != 4 or not grids:
            raise UarCodingError("a context network is four tensors (w1, b1, w2, b2) beside latent grids")
        return cls(grids, network, specs[network[0]].context_order)

    def coarser(self, i: int) -> int | None:
        """The index of the grid one level coarser than tensor ``i``, None for the coarsest."""
        k = self.grids.index(i)
        return self.grids[k + 1] if k + 1 < len(self.grids) else None


# ---------------------------------------------------------------------------- integer network


@dataclass(frozen=True)
class IntegerContextNet:
    """The context network in integers (held as float64, every value exact)."""

    w1: np.ndarray  # (H, 11), units 2**-8
    b1: np.ndarray  # (H,), units 2**-8
    w2: np.ndarray  # (2, H), units 2**-8
    b2: np.ndarray  # (2,), units 2**-16

    @classmethod
    def from_floats(cls, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> IntegerContextNet:
        """The integer network of the decoded float32 tensors: ``rint(v * 2**8)`` (``b2``:
        ``* 2**16``), ties to even, clipped to the limits of spec section 16."""
        hidden = np.asarray(b1).size
        shapes = {"w1": (hidden, FEATURES), "b1": (hidden,), "w2": (2, hidden), "b2": (2,)}
        if not 1 <= hidden <= MAX_HIDDEN:
            raise UarCodingError(f"a context network has 1 to {MAX_HIDDEN} hidden units, got {hidden}")
        for name, value in zip(shapes, (w1, b1, w2, b2)):
            if np.asarray(value).shape != shapes[name]:
                raise UarCodingError(f"context {name} has shape {np.asarray(value).shape}, needs {shapes[name]}")

        def fixed(v: np.ndarray, bits: int, limit: int) -> np.ndarray:
            x = np.rint(np.asarray(v, np.float32).astype(np.float64) * 2.0**bits)
            return np.clip(np.nan_to_num(x, nan=0.0), -limit, limit)

        return cls(fixed(w1, WEIGHT_BITS, MAX_WEIGHT), fixed(b1, WEIGHT_BITS, MAX_B1),
                   fixed(w2, WEIGHT_BITS, MAX_WEIGHT), fixed(b2, OUTPUT_BITS, MAX_B2))

    def indices(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Location and scale indices (int64) of feature rows ``(N, 11)`` (integers)."""
        x = np.clip(np.asarray(features, np.float64), -FEATURE_CLIP, FEATURE_CLIP)
        h = np.maximum(x @ self.w1.T + self.b1, 0.0)
        out = h @ self.w2.T + self.b2
        half_mean = 2.0 ** (OUTPUT_BITS - 3)  # outputs at 2**-16, locations at 2**-2
        mean = np.floor((out[:, 0] + half_mean) / 2.0 ** (OUTPUT_BITS - 2))
        scale = np.floor((out[:, 1] + 2.0 ** (OUTPUT_BITS - 5)) / 2.0 ** (OUTPUT_BITS - 4)) + SCALE_ZERO
        return (np.clip(mean, -MAX_MEAN_INDEX, MAX_MEAN_INDEX).astype(np.int64),
                np.clip(scale, 0, SCALE_INDICES - 1).astype(np.int64))

    def laplace(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The coder's location and scale (float64, exact) for each feature row."""
        mean, scale = self.indices(features)
        return mean / MEAN_FRACTION, _SCALES[scale]


# ---------------------------------------------------------------------------- features (numpy)


def coarse_sample(s: int, n: int, n_coarse: int) -> int:
    """The coarser grid's sample nearest in time to sample ``s`` of ``n``: 0 when ``n`` is 1,
    else ``(2 s (n' - 1) + n - 1) div (2 (n - 1))``."""
    return 0 if n == 1 else (2 * s * (n_coarse - 1) + n - 1) // (2 * (n - 1))


def _neighbours(plane: np.ndarray) -> list[np.ndarray]:
    """Up, left, right, down neighbours of every position of ``(..., h, w)``, 0 outside."""
    p = np.pad(plane, [(0, 0)] * (plane.ndim - 2) + [(1, 1), (1, 1)])
    h, w = plane.shape[-2:]
    return [p[..., 0:h, 1:w + 1], p[..., 1:h + 1, 0:w], p[..., 1:h + 1, 2:w + 2], p[..., 2:h + 2, 1:w + 1]]


@functools.lru_cache(maxsize=32)
def _phase_mask(h: int, w: int) -> np.ndarray:
    """True at the non-anchors, ``(i + j)`` odd (read-only: shared between calls)."""
    mask = (np.add.outer(np.arange(h), np.arange(w)) % 2).astype(bool)
    mask.flags.writeable = False
    return mask


def _positions(shape: tuple[int, ...], phase: int) -> np.ndarray:
    """Where the positions of ``phase`` (0 anchors, 1 the others) are in a sample ``(C, h, w)``."""
    odd = _phase_mask(*shape[-2:])
    return np.broadcast_to(odd if phase else ~odd, shape)


def coarse_offset(fine: int, coarse: int) -> int | None:
    """``a`` (or ``b``) of the coarser grid's row ``(i + a) div 2`` above row ``i``: 0 where the
    coarser side is half the finer one, 1 where it is one more (a margin of an odd number of
    samples around the finer grid, whose coarser grid holds ``ceil(margin / 2)``: it is
    centred half a coarse sample further); None for any other pair of sides."""
    twice = 2 * coarse - fine
    return twice // 2 if twice in (0, 2) and fine % 2 == 0 else None


def coarse_rows(fine: int, coarse: int) -> np.ndarray:
    """The coarser grid's row (or column) above each of the ``fine`` rows."""
    return (np.arange(fine) + coarse_offset(fine, coarse)) // 2


def _upsampled(coarse: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """The coarser sample ``(C, h', w')`` read above every position of ``shape`` ``(C, h, w)``
    (2x2 repeats where ``h' = h / 2``; zeros for none)."""
    if coarse is None:
        return np.zeros(shape, np.int64)
    rows, cols = coarse_rows(shape[-2], coarse.shape[-2]), coarse_rows(shape[-1], coarse.shape[-1])
    return coarse[..., rows[:, None], cols[None, :]]


def sample_features(current: np.ndarray, previous: np.ndarray, coarse_up: np.ndarray, phase: int) -> np.ndarray:
    """Feature rows ``(count, 11)`` of one sample's positions of ``phase`` (0 anchors, 1 the
    others), channel by channel in C order. ``current`` needs only its anchors."""
    where = _positions(current.shape, phase)
    count = int(where.sum())
    columns = ([n[where] for n in _neighbours(current)] if phase
               else [np.zeros(count, np.int64)] * 4)  # an anchor reads no neighbour of its sample
    columns.append(np.full(count, phase, np.int64))
    columns += [previous[where]] + [n[where] for n in _neighbours(previous)]
    columns.append(coarse_up[where])
    return np.stack(columns, axis=1).astype(np.int64)


def _check_pair(q_shape: tuple[int, ...], coarse: np.ndarray | None) -> None:
    if len(q_shape) != 4:
        raise UarCodingError(f"a latent grid is (samples, channels, height, width), got shape {q_shape}")
    if coarse is not None:
        n, c, h, w = q_shape
        if (coarse.ndim != 4 or coarse.shape[1] != c or coarse_offset(h, coarse.shape[2]) is None
                or coarse_offset(w, coarse.shape[3]) is None):
            raise UarCodingError(f"the coarser grid {coarse.shape} does not match the grid {q_shape}")


def _sample_inputs(q: np.ndarray, s: int, coarse: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    previous = q[s - 1] if s else np.zeros(q.shape[1:], np.int64)
    source = None if coarse is None else coarse[coarse_sample(s, q.shape[0], coarse.shape[0])]
    return previous, _upsampled(source, q.shape[1:])


# The wavefront order's neighbours in the integer's own sample, (row, column) offsets in feature
# order: left, up-left, up, up-right, second-left (all in earlier wavefronts of t = 2 i + j).
_CAUSAL = ((0, -1), (-1, -1), (-1, 0), (-1, 1), (0, -2))
# a sample padded so that every causal neighbour is inside: 1 row above, 2 columns left, 1 right
_PAD_TOP, _PAD_LEFT, _PAD_RIGHT = 1, 2, 1


def _causal_neighbours(plane: np.ndarray) -> list[np.ndarray]:
    """The :data:`_CAUSAL` neighbours of every position of ``(..., h, w)``, 0 outside."""
    p = np.pad(plane, [(0, 0)] * (plane.ndim - 2) + [(_PAD_TOP, 0), (_PAD_LEFT, _PAD_RIGHT)])
    h, w = plane.shape[-2:]
    return [p[..., _PAD_TOP + dy:_PAD_TOP + dy + h, _PAD_LEFT + dx:_PAD_LEFT + dx + w] for dy, dx in _CAUSAL]


@functools.lru_cache(maxsize=32)
def _wavefronts(c: int, h: int, w: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """Each wavefront of a sample ``(C, h, w)`` in coding order: its positions (flat indices
    into the sample, channel then row), the same positions in the padded sample
    (:data:`_PAD_TOP` ...) and their causal neighbours' there ``(count, 5)``."""
    t = np.broadcast_to(2 * np.arange(h)[:, None] + np.arange(w)[None, :], (c, h, w)).ravel()
    order = np.argsort(t, kind="stable")  # ties keep the flat order: channel, then row
    hp, wp = h + _PAD_TOP, w + _PAD_LEFT + _PAD_RIGHT
    fronts = []
    for flat in np.split(order, np.cumsum(np.bincount(t))[:-1]):
        ch, rest = np.divmod(flat, h * w)
        padded = ch * hp * wp + (rest // w + _PAD_TOP) * wp + rest % w + _PAD_LEFT
        fronts.append((flat, padded, np.stack([padded + dy * wp + dx for dy, dx in _CAUSAL], axis=1)))
    return tuple(fronts)


def _wavefront_columns(current: np.ndarray, previous: np.ndarray, coarse_up: np.ndarray) -> np.ndarray:
    """The 11 features of every position of a sample ``(C, h, w)`` in the wavefront order,
    ``(11, C * h * w)``: ``current`` decoded (the encoder's)."""
    planes = _causal_neighbours(current) + [previous] + _neighbours(previous) + [coarse_up]
    return np.stack(planes).reshape(FEATURES, -1).astype(np.int64)


def encode_latent(
    q: np.ndarray, coarse: np.ndarray | None, net: IntegerContextNet,
    order: ContextOrder = ContextOrder.CHECKERBOARD,
) -> EncodedTensor:
    """Code grid ``q`` ``(n, C, h, w)`` given its coarser grid's integers (None for the
    coarsest) in ``order`` (module docstring)."""
    q = np.asarray(q, np.int64)
    _check_pair(q.shape, coarse)
    features, symbols = [], []
    if order == ContextOrder.WAVEFRONT:
        positions = np.concatenate([front[0] for front in _wavefronts(*q.shape[1:])])
    for s in range(q.shape[0]):
        previous, coarse_up = _sample_inputs(q, s, coarse)
        if order == ContextOrder.WAVEFRONT:
            features.append(_wavefront_columns(q[s], previous, coarse_up)[:, positions].T)
            symbols.append(q[s].ravel()[positions])
            continue
        for phase in (0, 1):
            features.append(sample_features(q[s], previous, coarse_up, phase))
            symbols.append(q[s][_positions(q.shape[1:], phase)])
    means, scales = net.laplace(np.concatenate(features))
    return encode_laplace_symbols(np.concatenate(symbols), means, scales)


def decode_latent(
    words: np.ndarray, shape: tuple[int, ...], min_symbol: int, max_symbol: int,
    coarse: np.ndarray | None, net: IntegerContextNet, order: ContextOrder = ContextOrder.CHECKERBOARD,
) -> np.ndarray:
    """The integers (int32, ``shape``) :func:`encode_latent` coded in ``words``."""
    shape = tuple(int(d) for d in shape)
    _check_pair(shape, coarse)
    decoder = LaplaceSymbolDecoder(words, min_symbol, max_symbol)
    q = np.zeros(shape, np.int64)
    for s in range(shape[0]):
        previous, coarse_up = _sample_inputs(q, s, coarse)
        if order == ContextOrder.WAVEFRONT:
            q[s] = _decode_wavefront_sample(decoder, net, previous, coarse_up)
            continue
        for phase in (0, 1):
            means, scales = net.laplace(sample_features(q[s], previous, coarse_up, phase))
            q[s][_positions(shape[1:], phase)] = decoder.decode(means, scales)
    decoder.finish()
    return q.astype(np.int32)


def _decode_wavefront_sample(
    decoder: LaplaceSymbolDecoder, net: IntegerContextNet, previous: np.ndarray, coarse_up: np.ndarray
) -> np.ndarray:
    """One sample ``(C, h, w)`` of the wavefront order, a wavefront a call."""
    c, h, w = previous.shape
    known = np.stack([previous] + _neighbours(previous) + [coarse_up]).reshape(6, -1).astype(np.int64)
    padded = np.zeros(c * (h + _PAD_TOP) * (w + _PAD_LEFT + _PAD_RIGHT), np.int64)
    for flat, at, neighbours in _wavefronts(c, h, w):
        means, scales = net.laplace(np.concatenate([padded[neighbours], known[:, flat].T], axis=1))
        padded[at] = decoder.decode(means, scales)
    return padded.reshape(c, h + _PAD_TOP, -1)[:, _PAD_TOP:, _PAD_LEFT:_PAD_LEFT + w]


# ---------------------------------------------------------------------------- training (torch)


def _shifted(x: Tensor) -> list[Tensor]:
    """Up, left, right, down neighbours over the last two dimensions, 0 outside."""
    p = F.pad(x, (1, 1, 1, 1))
    h, w = x.shape[-2:]
    return [p[..., 0:h, 1:w + 1], p[..., 1:h + 1, 0:w], p[..., 1:h + 1, 2:w + 2], p[..., 2:h + 2, 1:w + 1]]


def _causal_shifted(x: Tensor) -> list[Tensor]:
    """The wavefront order's :data:`_CAUSAL` neighbours over the last two dimensions, 0 outside."""
    p = F.pad(x, (_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, 0))
    h, w = x.shape[-2:]
    return [p[..., _PAD_TOP + dy:_PAD_TOP + dy + h, _PAD_LEFT + dx:_PAD_LEFT + dx + w] for dy, dx in _CAUSAL]


def grid_features(q: Tensor, coarse: Tensor | None, order: ContextOrder = ContextOrder.CHECKERBOARD) -> Tensor:
    """Every position's 11 features ``(11, n, C, h, w)`` from the (rounded) codes ``q`` and
    the coarser grid's, as the decoder sees them in ``order`` (feature first: the network's
    products run along the long dimension, about twice as fast here as position first). The
    codes are clipped to the features' range before they are read (every feature is a code, 0
    or the phase): the same features as clipping them, on one value per code, not eleven."""
    h, w = q.shape[-2:]
    q = q.clamp(-FEATURE_CLIP, FEATURE_CLIP)
    coarse = None if coarse is None else coarse.clamp(-FEATURE_CLIP, FEATURE_CLIP)
    previous = torch.cat([torch.zeros_like(q[:1]), q[:-1]])
    up = _coarse_above(q, coarse)
    if order == ContextOrder.WAVEFRONT:
        own = _causal_shifted(q)
    else:
        odd = torch.tensor(_phase_mask(h, w), dtype=q.dtype, device=q.device)
        own = [v * odd for v in _shifted(q)] + [odd.expand_as(q)]
    return torch.stack([*own, previous, *_shifted(previous), up])


def _on_grid(w: Tensor, bits: int) -> Tensor:
    return round_ste(w * 2.0**bits) / 2.0**bits


def context_laplace(features: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> tuple[Tensor, Tensor]:
    """Location and scale of each feature column ``(11, N)``, in float, as
    :class:`IntegerContextNet` computes them before its last rounding (weights rounded
    straight-through to its grid; the scale follows the table's piecewise-linear shape). The
    two layers run in cache-sized chunks of columns on a CPU (:func:`column_network`)."""
    out = column_network(features, _on_grid(w1, WEIGHT_BITS), _on_grid(b1, WEIGHT_BITS), _on_grid(w2, WEIGHT_BITS),
                         _on_grid(b2, OUTPUT_BITS))
    mean = out[0].clamp(-FEATURE_CLIP, FEATURE_CLIP)
    u = (out[1] * 16.0 + SCALE_ZERO).clamp(0.0, SCALE_INDICES - 1.0)
    octave = torch.floor(u.detach() / 16.0)
    scale = (16.0 + u - 16.0 * octave) * torch.exp2(octave - 8.0)
    return mean, scale


def context_rate_bits(
    values: list[Tensor], codes: list[Tensor], network: list[Tensor], order: ContextOrder = ContextOrder.CHECKERBOARD
) -> Tensor:
    """Estimated bits of the grids (finest first) under the context network coding in
    ``order``: ``values`` are what is priced (noisy codes), ``codes`` the rounded codes the
    features read. In the checkerboard with features that carry no gradient (its training),
    where most values rest (:class:`RestingSplit`) and are priced as coded (no noise added),
    those are priced as one value of each phase
    times their count (:func:`_rate_apart_from_resting`): the same bits and gradients to float
    rounding, without computing every value's features or running the network on them (on a
    CPU: the split syncs with the host, and a GPU prices every value at little cost)."""
    x = torch.cat([v.reshape(-1) for v in values])
    network = [t.to(x.dtype) for t in network]
    if order == ContextOrder.CHECKERBOARD and x.device.type == "cpu" and not any(c.requires_grad for c in codes):
        split = RestingSplit.of(codes)
        priced_as_coded = not bool((split.resting & (x.detach() != 0)).any())  # no noise added
        if priced_as_coded and split.resting_count >= RESTING_SHARE * x.numel():
            return _rate_apart_from_resting(x, split, network)
    mean, scale = context_laplace(grids_features(codes, order).to(x.dtype), *network)
    return -laplace_bin_log2_mass(x, mean, scale).sum()


# The share of a model's grid values that must rest for the rate term to price them apart.
# Cockatoo's I-model (0.21.0, 490k-l150, trained in the checkerboard) ends its fit with 78% of
# its 923,972 values resting; docs/latent_grids.md, "Resting values priced once".
RESTING_SHARE = 0.5
PHASE_FEATURE = 4  # the checkerboard's phase among the features (0 anchors, 1 the others)


@dataclass(frozen=True)
class RestingSplit:
    """A model's grid values (checkerboard order, all grids' values concatenated finest first)
    split into *resting* ones, 0 and reading only zeros save their phase, whose bits and
    gradients are one of two numbers, and the *busy* others with their features."""

    busy: Tensor  # flat indices of the busy values, ascending
    features: Tensor  # (11, len(busy)): their features, as grid_features computes them
    phase: Tensor  # (N,) bool: every value's phase (True: a non-anchor)
    resting: Tensor  # (N,) bool

    @property
    def resting_count(self) -> int:
        return int(self.resting.sum())

    @classmethod
    def of(cls, codes: list[Tensor]) -> RestingSplit:
        """The split of the rounded ``codes`` (finest first, each read with the next coarser)."""
        parts, start = [], 0
        for k, q in enumerate(codes):
            parts.append(_grid_split(q, codes[k + 1] if k + 1 < len(codes) else None, start))
            start += q.numel()
        busy, features, phase, resting = (torch.cat(p, dim=-1) for p in zip(*parts))
        return cls(busy, features, phase, resting)


def _grid_split(q: Tensor, coarse: Tensor | None, start: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One grid's part of :class:`RestingSplit` (busy indices offset by ``start``): the values
    a nonzero reaches found on boolean maps, the busy ones' features gathered from the padded
    codes (the checkerboard's columns of :func:`grid_features`)."""
    n, c, h, w = q.shape
    padded = F.pad(q, (1, 1, 1, 1))
    before = torch.cat([torch.zeros_like(padded[:1]), padded[:-1]])
    odd = torch.tensor(_phase_mask(h, w), device=q.device).expand(n, c, h, w)
    up = _coarse_above(q, coarse)

    def cross(m: Tensor) -> Tensor:  # any of the four neighbours
        return m[..., :-2, 1:-1] | m[..., 1:-1, :-2] | m[..., 1:-1, 2:] | m[..., 2:, 1:-1]

    nz, nz_before = padded != 0, before != 0
    busy_map = (nz[..., 1:-1, 1:-1] | (odd & cross(nz)) | nz_before[..., 1:-1, 1:-1] | cross(nz_before)
                | (up != 0))
    busy = busy_map.reshape(-1).nonzero().squeeze(1)
    row, col = (busy // w) % h, busy % w
    at = ((busy // (h * w)) * (h + 2) + row + 1) * (w + 2) + col + 1  # in the padded codes
    flat, flat_before, phase = padded.reshape(-1), before.reshape(-1), odd.reshape(-1)[busy].to(q.dtype)
    steps = (-(w + 2), -1, 1, w + 2)  # up, left, right, down
    columns = [flat[at + d] * phase for d in steps] + [phase, flat_before[at]]
    columns += [flat_before[at + d] for d in steps] + [up.reshape(-1)[busy]]
    features = torch.stack(columns).clamp(-FEATURE_CLIP, FEATURE_CLIP)
    return busy + start, features, odd.reshape(-1), ~busy_map.reshape(-1)


def _coarse_above(q: Tensor, coarse: Tensor | None) -> Tensor:
    """The coarser grid's code above every position of ``q`` (:func:`grid_features`'s last
    feature), zeros for the coarsest grid."""
    n, _, h, w = q.shape
    if coarse is None:
        return torch.zeros_like(q)
    idx = torch.tensor([coarse_sample(s, n, coarse.shape[0]) for s in range(n)], device=q.device)
    rows = torch.from_numpy(coarse_rows(h, coarse.shape[-2])).to(q.device)
    cols = torch.from_numpy(coarse_rows(w, coarse.shape[-1])).to(q.device)
    return coarse[idx].index_select(-2, rows).index_select(-1, cols)


def _rate_apart_from_resting(x: Tensor, split: RestingSplit, network: list[Tensor]) -> Tensor:
    """:func:`context_rate_bits` in the checkerboard with the resting values priced by phase:
    the network runs on the busy values and once on each phase's features. A phase's ``count``
    resting values cost ``count`` times one value's bits; their gradients are that value's,
    carried by a term that is 0 in the forward pass."""
    mean, scale = context_laplace(split.features.to(x.dtype), *network)
    bits = -laplace_bin_log2_mass(x[split.busy], mean, scale).sum()
    grad_x = torch.zeros_like(x) if x.requires_grad else None
    for phase in (False, True):
        rows = split.resting & (split.phase == phase)
        count = int(rows.sum())
        if not count:
            continue
        at = torch.zeros(FEATURES, 1, dtype=x.dtype, device=x.device)
        at[PHASE_FEATURE] = float(phase)
        zero = torch.zeros(1, dtype=x.dtype, device=x.device, requires_grad=grad_x is not None)
        one = -laplace_bin_log2_mass(zero, *context_laplace(at, *network)).sum()
        bits = bits + count * one
        if grad_x is not None:
            (slope,) = torch.autograd.grad(one, zero, retain_graph=True)
            grad_x = grad_x + rows * slope
    if grad_x is not None:
        bits = bits + ((x - x.detach()) * grad_x).sum()
    return bits


def grids_features(codes: list[Tensor], order: ContextOrder = ContextOrder.CHECKERBOARD) -> Tensor:
    """The features ``(11, N)`` of every value of a model's grids (rounded codes, finest first,
    each read with the next coarser one), in the grids' order and C order inside each."""
    return torch.cat([grid_features(q, codes[k + 1] if k + 1 < len(codes) else None, order).reshape(FEATURES, -1)
                      for k, q in enumerate(codes)], dim=1)
