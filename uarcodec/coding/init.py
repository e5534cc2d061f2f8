"""Seeded, platform-independent initialisation of the coded tensors (``theta_seed``).

Every value is a pure function of (seed, tensor index, element index) through a counter-based
generator built on the SplitMix64 output function, computed with wrapping uint64 arithmetic,
then turned into float32 with a fixed operation order. Neither numpy's nor torch's random
generators are involved, so any machine (or a C decoder following ``bitstream_spec.md (sections 11-13)``)
rebuilds the very same bits.

Generator (all arithmetic modulo 2**64):

* ``mix64(z)``: ``z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB;
  z ^= z >> 31``.
* ``absorb(h, v) = mix64((h ^ v) + GOLDEN)`` with ``GOLDEN = 0x9E3779B97F4A7C15``.
* ``key(seed, t, s) = absorb(absorb(absorb(0, seed), t), s)`` for tensor index ``t`` (position
  in the model's stream order) and sub-stream ``s`` (0 = per-element values, 1 = shared code).
* ``word(seed, t, s, e) = mix64(key + (e + 1) * GOLDEN)`` for element index ``e`` (C order).
* ``u = (word >> 40) * 2**-24``: a float32 in [0, 1), exact.
"""

from __future__ import annotations

import numpy as np

from uarcodec.errors import UarSettingsError
from uarcodec.vocabulary import CodedTensorSpec, InitKind, InitSpec

GOLDEN = 0x9E3779B97F4A7C15
_MIX_1 = 0xBF58476D1CE4E5B9
_MIX_2 = 0x94D049BB133111EB
_MASK64 = (1 << 64) - 1
_MAX_SEED = (1 << 32) - 1

STREAM_ELEMENTS = 0  # per-element values (UNIFORM, and the noise of SHARED_UNIFORM)
STREAM_SHARED_CODE = 1  # the shared code of SHARED_UNIFORM

_CHUNK = 1 << 20  # elements per vectorised block (bounds the temporary memory)


def mix64_int(z: int) -> int:
    """The SplitMix64 output function on one Python int (reference form, used for keys)."""
    z &= _MASK64
    z ^= z >> 30
    z = (z * _MIX_1) & _MASK64
    z ^= z >> 27
    z = (z * _MIX_2) & _MASK64
    z ^= z >> 31
    return z


def _absorb(h: int, v: int) -> int:
    return mix64_int(((h ^ v) + GOLDEN) & _MASK64)


def stream_key(seed: int, tensor_index: int, stream: int) -> int:
    """The 64-bit key of sub-stream ``stream`` of tensor ``tensor_index`` under ``seed``."""
    return _absorb(_absorb(_absorb(0, seed), tensor_index), stream)


def _mix64_array(z: np.ndarray) -> np.ndarray:
    """``mix64`` on a uint64 array, in place (numpy uint64 arithmetic wraps modulo 2**64)."""
    z ^= z >> np.uint64(30)
    z *= np.uint64(_MIX_1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_MIX_2)
    z ^= z >> np.uint64(31)
    return z


def random_words(key: int, element_index: np.ndarray) -> np.ndarray:
    """uint64 words ``mix64(key + (e + 1) * GOLDEN)`` for a uint64 array of element indices."""
    z = element_index.astype(np.uint64, copy=True)
    z += np.uint64(1)
    z *= np.uint64(GOLDEN)
    z += np.uint64(key)
    return _mix64_array(z)


def uniform01(key: int, element_index: np.ndarray) -> np.ndarray:
    """float32 in [0, 1): the top 24 bits of each word times 2**-24 (exact)."""
    top = (random_words(key, element_index) >> np.uint64(40)).astype(np.float32)
    top *= np.float32(2.0**-24)
    return top


def _symmetric(key: int, element_index: np.ndarray, scale: np.float32) -> np.ndarray:
    """float32 ``(2u - 1) * scale``: ``2u`` and ``2u - 1`` are exact, the product rounds once."""
    u = uniform01(key, element_index)
    u *= np.float32(2.0)
    u -= np.float32(1.0)
    u *= scale
    return u


def _check_args(seed: int, tensor_index: int, spec: InitSpec, shape: tuple[int, ...]) -> None:
    if not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= _MAX_SEED:
        raise UarSettingsError(f"init seed must be an integer in [0, 2**32), got {seed!r}")
    if not isinstance(tensor_index, (int, np.integer)) or int(tensor_index) < 0:
        raise UarSettingsError(f"tensor index must be a non-negative integer, got {tensor_index!r}")
    if any(int(s) < 0 for s in shape):
        raise UarSettingsError(f"tensor shape must be non-negative, got {shape}")
    for name in ("bound", "noise"):
        value = float(getattr(spec, name))
        if not np.isfinite(value):
            raise UarSettingsError(f"init {name} must be finite, got {value}")
    if spec.kind == InitKind.SHARED_UNIFORM and int(spec.period) <= 0:
        raise UarSettingsError(f"SHARED_UNIFORM init needs period > 0, got {spec.period}")


def seeded_tensor(seed: int, tensor_index: int, spec: InitSpec, shape: tuple[int, ...]) -> np.ndarray:
    """The seeded float32 initial values of one coded tensor (C-order element indices)."""
    _check_args(seed, tensor_index, spec, shape)
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64))
    kind = InitKind(spec.kind)
    if kind == InitKind.ZEROS:
        return np.zeros(shape, dtype=np.float32)
    if kind == InitKind.ONES:
        return np.ones(shape, dtype=np.float32)

    bound = np.float32(spec.bound)
    out = np.empty(n, dtype=np.float32)
    key = stream_key(int(seed), int(tensor_index), STREAM_ELEMENTS)
    if kind == InitKind.UNIFORM:
        for start in range(0, n, _CHUNK):
            e = np.arange(start, min(n, start + _CHUNK), dtype=np.uint64)
            out[start : start + e.size] = _symmetric(key, e, bound)
        return out.reshape(shape)

    # SHARED_UNIFORM: code[e % period] + per-element noise, each term rounded, then the sum.
    period = int(spec.period)
    noise = np.float32(spec.noise)
    code_key = stream_key(int(seed), int(tensor_index), STREAM_SHARED_CODE)
    code = _symmetric(code_key, np.arange(min(period, max(n, 1)), dtype=np.uint64), bound)
    for start in range(0, n, _CHUNK):
        e = np.arange(start, min(n, start + _CHUNK), dtype=np.uint64)
        shared = code[(e % np.uint64(period)).astype(np.intp)]
        out[start : start + e.size] = shared + _symmetric(key, e, noise)
    return out.reshape(shape)


def seeded_params(seed: int, specs: list[CodedTensorSpec]) -> list[np.ndarray]:
    """``theta_seed`` of a model: one float32 array per coded tensor, in stream order."""
    return [seeded_tensor(seed, i, spec.init, spec.shape) for i, spec in enumerate(specs)]
