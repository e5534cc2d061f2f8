"""Entropy coding of one integer tensor with constriction's ANS coder (coder id 0).

The symbols of a tensor (its integers in C order) are coded i.i.d. under one per-tensor model
(:class:`~uarcodec.vocabulary.EntropyModel`): ``QuantizedGaussian(min_symbol, max_symbol, mean,
std)`` (model 0, the default) or ``QuantizedLaplace(min_symbol, max_symbol, mean, scale)``
(model 1, peaked, for sparse residuals; ``std`` then carries the Laplace scale ``b``):
constriction's leaky quantizer at 24 bits of precision over a distribution whose two parameters
are float32 values stored in the stream. ``bitstream_spec.md (sections 11-13)`` specifies the
probability models and the word production exactly. With zero flags (format 1.3,
:mod:`uarcodec.coding.zero_flags`) the same words hold the flags first, then the nonzero symbols.

Every parameter is checked here before it reaches constriction: a Rust panic surfaces in Python
as ``pyo3_runtime.PanicException``, which derives from ``BaseException`` and would slip past
``except Exception``. Whatever constriction still raises is turned into :class:`UarCodingError`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from importlib import metadata

import constriction
import numpy as np

from uarcodec.coding import plane_flags
from uarcodec.coding.zero_flags import flag_location_scale, shift_nonzero, unshift_nonzero
from uarcodec.errors import UarCodingError
from uarcodec.vocabulary import EntropyModel

CODER_ID = 0  # constriction ANS (stack) coder with one quantized Gaussian or Laplace per tensor

PRECISION = 24  # bits of the fixed-point probabilities
MAX_SYMBOL_SPAN = (1 << PRECISION) - 1  # max_symbol - min_symbol must not exceed this
_INT32_MIN = -(1 << 31)
_INT32_MAX = (1 << 31) - 1
MAX_ELEMENTS = 1 << 31  # more symbols than this in one tensor is refused

_QuantizedGaussian = constriction.stream.model.QuantizedGaussian
_QuantizedLaplace = constriction.stream.model.QuantizedLaplace
_AnsCoder = constriction.stream.stack.AnsCoder


def coder_version() -> str:
    """The coder library that writes and reads the words, e.g. ``"constriction 0.5.0"``."""
    try:
        return f"constriction {metadata.version('constriction')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - installed without metadata
        return "constriction unknown"


@dataclass
class EncodedTensor:
    """The coded words of one tensor and the symbol range its model was built on."""

    words: np.ndarray  # uint32, in the order constriction's ``get_compressed`` returns them
    min_symbol: int
    max_symbol: int


def symbol_range(q: np.ndarray) -> tuple[int, int]:
    """(min, max) of the integers; (0, 0) for an empty tensor."""
    q = np.asarray(q)
    if q.size == 0:
        return 0, 0
    return int(q.min()), int(q.max())


def _as_float32(value: float, name: str) -> float:
    """The float32 value of ``value`` as a Python float (exactly what the stream stores)."""
    try:
        with np.errstate(over="ignore"):
            f = float(np.float32(value))
    except (TypeError, ValueError, OverflowError) as exc:
        raise UarCodingError(f"{name} must be a real number, got {value!r}") from exc
    if not math.isfinite(f):
        raise UarCodingError(f"{name} must be finite as float32, got {value!r}")
    return f


def entropy_model(model) -> EntropyModel:
    """The :class:`EntropyModel` of a model code; an unknown code is a :class:`UarCodingError`."""
    if isinstance(model, bool) or not isinstance(model, (int, np.integer)):
        raise UarCodingError(f"entropy model must be an EntropyModel code, got {model!r}")
    try:
        kind = EntropyModel(int(model))
    except ValueError as exc:
        raise UarCodingError(f"unknown entropy model code {int(model)}") from exc
    if kind == EntropyModel.CONTEXT:  # coding/latent_context.py: a grid with its model, not one tensor
        raise UarCodingError("entropy model 2 (context) codes a latent grid with its model's context network")
    return kind


def _param_names(model: EntropyModel) -> tuple[str, str]:
    return ("mean", "std") if model == EntropyModel.GAUSSIAN else ("location", "scale")


def _check_model(
    mean: float, std: float, min_symbol: int, max_symbol: int, model=EntropyModel.GAUSSIAN
) -> tuple[float, float]:
    """Validate the model code, its two float32 parameters and the symbol range; return the
    parameters as the exactly equal Python floats. Nothing invalid may reach constriction."""
    kind = entropy_model(model)
    mean_name, std_name = _param_names(kind)
    mean32 = _as_float32(mean, mean_name)
    std32 = _as_float32(std, std_name)
    if not std32 > 0.0:
        raise UarCodingError(f"{std_name} must be > 0, got {std!r}")
    for name, v in (("min_symbol", min_symbol), ("max_symbol", max_symbol)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise UarCodingError(f"{name} must be an integer, got {v!r}")
        if not _INT32_MIN <= int(v) <= _INT32_MAX:
            raise UarCodingError(f"{name} must fit in int32, got {v}")
    if int(min_symbol) > int(max_symbol):
        raise UarCodingError(f"min_symbol {min_symbol} > max_symbol {max_symbol}")
    if int(max_symbol) - int(min_symbol) > MAX_SYMBOL_SPAN:
        raise UarCodingError(
            f"symbol range [{min_symbol}, {max_symbol}] spans more than {MAX_SYMBOL_SPAN} + 1 values"
        )
    return mean32, std32


def _model(mean32: float, std32: float, min_symbol: int, max_symbol: int, model: EntropyModel):
    cls = _QuantizedGaussian if model == EntropyModel.GAUSSIAN else _QuantizedLaplace
    return cls(int(min_symbol), int(max_symbol), mean32, std32)


def _checked_symbols(q: np.ndarray) -> np.ndarray:
    """``q`` as an array of at most MAX_ELEMENTS integers, else UarCodingError."""
    q = np.asarray(q)
    if not np.issubdtype(q.dtype, np.integer):
        raise UarCodingError(f"symbols must be integers, got dtype {q.dtype}")
    if q.size > MAX_ELEMENTS:
        raise UarCodingError(f"too many symbols in one tensor ({q.size})")
    return q


def _checked_count(num_elements: int, minimum: int) -> int:
    """``num_elements`` as an int in [minimum, MAX_ELEMENTS], else UarCodingError."""
    if not isinstance(num_elements, (int, np.integer)) or isinstance(num_elements, bool):
        raise UarCodingError(f"num_elements must be an integer, got {num_elements!r}")
    n = int(num_elements)
    if not minimum <= n <= MAX_ELEMENTS:
        raise UarCodingError(f"num_elements out of range: {n}")
    return n


def checked_words(words: np.ndarray) -> np.ndarray:
    """``words`` as a flat uint32 array, else UarCodingError."""
    words = np.asarray(words)
    if words.ndim != 1 or words.dtype != np.uint32:
        raise UarCodingError(f"coded words must be a flat uint32 array, got {words.dtype} {words.shape}")
    return words


def _is_panic(exc: BaseException) -> bool:
    return type(exc).__name__ == "PanicException"


def check_flag_param(a: float) -> float:
    """The zero-flag parameter as the exactly equal Python float: finite and nonzero as float32."""
    a32 = _as_float32(a, "zero-flag parameter")
    if a32 == 0.0:
        raise UarCodingError("the zero-flag parameter must not be 0")
    return a32


def _flag_model(a32: float):
    loc, scale = flag_location_scale(a32)
    return _QuantizedLaplace(0, 1, loc, scale)


def run_coder(action: str, work):
    """``work()``, with whatever constriction raises (a Rust panic too) as UarCodingError."""
    try:
        return work()
    except Exception as exc:
        raise UarCodingError(f"entropy {action} failed: {exc}") from exc
    except BaseException as exc:
        if _is_panic(exc):
            raise UarCodingError(f"entropy {action} failed: {exc}") from exc
        raise


def encode_zero_flagged(
    q: np.ndarray, mean: float, std: float, flag_param: float, *, model: EntropyModel = EntropyModel.LAPLACE
) -> EncodedTensor:
    """Code the integers of ``q`` (C order) with zero flags (spec 6.1.3): their flags under
    the flag model of ``flag_param``, then their nonzero values, shifted, under ``model``
    (``mean``, ``std``) on the shifted values' own range, which is returned ((0, 0) when every
    integer is 0). The decoder takes the flags first, so they are pushed last."""
    q = _checked_symbols(q)
    symbols = np.ascontiguousarray(q.reshape(-1), dtype=np.int64)
    shifted = shift_nonzero(symbols[symbols != 0])
    lo, hi = symbol_range(shifted)
    mean32, std32 = _check_model(mean, std, lo, hi, model)
    a32 = check_flag_param(flag_param)
    kind = entropy_model(model)
    flags = (symbols != 0).astype(np.int32)

    def work() -> np.ndarray:
        coder = _AnsCoder()
        if lo < hi:
            coder.encode_reverse(shifted.astype(np.int32), _model(mean32, std32, lo, hi, kind))
        coder.encode_reverse(flags, _flag_model(a32))
        return np.asarray(coder.get_compressed(), dtype=np.uint32)

    return EncodedTensor(run_coder("coding", work), lo, hi)


def decode_zero_flagged(
    words: np.ndarray, num_elements: int, mean: float, std: float, flag_param: float,
    min_symbol: int, max_symbol: int, *, model: EntropyModel = EntropyModel.LAPLACE,
) -> np.ndarray:
    """The ``num_elements`` integers (int32, flat) that :func:`encode_zero_flagged` coded in
    ``words``; untrusted words decode to something or raise UarCodingError, and must be used
    up exactly."""
    n = _checked_count(num_elements, 1)
    a32 = check_flag_param(flag_param)
    return _decode_flagged(words, n, lambda coder: np.asarray(coder.decode(_flag_model(a32), n)),
                           mean, std, min_symbol, max_symbol, model)


def _decode_flagged(words: np.ndarray, n: int, decode_flags, mean: float, std: float, min_symbol: int,
                    max_symbol: int, model: EntropyModel) -> np.ndarray:
    """The ``n`` integers of a zero-flagged record: its flags (``decode_flags(coder)``, flat),
    then its nonzero values, shifted, under ``model``; the words must be used up exactly."""
    mean32, std32 = _check_model(mean, std, min_symbol, max_symbol, model)
    if int(max_symbol) >= _INT32_MAX:
        raise UarCodingError(f"shifted symbols must stay below {_INT32_MAX}, got max_symbol {max_symbol}")
    kind = entropy_model(model)
    words = checked_words(words)
    if words.size == 0 or words[-1] == 0:
        raise UarCodingError("corrupt coded words: zero-flagged data is never empty and never ends in a zero word")

    def work() -> tuple[np.ndarray, np.ndarray, bool]:
        coder = _AnsCoder(np.ascontiguousarray(words))
        flags = decode_flags(coder)
        k = int(np.count_nonzero(flags))
        if k and min_symbol < max_symbol:
            values = np.asarray(coder.decode(_model(mean32, std32, min_symbol, max_symbol, kind), k))
        else:
            values = np.full(k, int(min_symbol), dtype=np.int64)
        return flags, values, coder.is_empty()

    flags, values, exhausted = run_coder("decoding", work)
    if not exhausted:
        raise UarCodingError("corrupt coded words: data left over after the last symbol")
    out = np.zeros(n, dtype=np.int32)
    out[flags != 0] = unshift_nonzero(values.astype(np.int64))
    return out


def encode_tensor(
    q: np.ndarray, mean: float, std: float, *, model: EntropyModel = EntropyModel.GAUSSIAN
) -> EncodedTensor:
    """Code the integers of ``q`` (C order) on their own range under QuantizedGaussian(mean, std)
    (``model=GAUSSIAN``) or QuantizedLaplace(location ``mean``, scale ``std``) (``LAPLACE``).

    ``mean`` and ``std`` are rounded to float32 first: the stream stores float32 and the decoder
    must build the identical model.
    """
    q = _checked_symbols(q)
    lo, hi = symbol_range(q)
    mean32, std32 = _check_model(mean, std, lo, hi, model)
    kind = entropy_model(model)
    if lo == hi:
        return EncodedTensor(np.zeros(0, dtype=np.uint32), lo, hi)
    symbols = np.ascontiguousarray(q.reshape(-1), dtype=np.int32)

    def work() -> np.ndarray:
        coder = _AnsCoder()
        coder.encode_reverse(symbols, _model(mean32, std32, lo, hi, kind))
        return np.asarray(coder.get_compressed(), dtype=np.uint32)

    return EncodedTensor(run_coder("coding", work), lo, hi)


def decode_tensor(
    words: np.ndarray,
    num_elements: int,
    mean: float,
    std: float,
    min_symbol: int,
    max_symbol: int,
    *,
    model: EntropyModel = EntropyModel.GAUSSIAN,
) -> np.ndarray:
    """The ``num_elements`` integers (int32, flat, C order) coded in ``words`` under ``model``
    (its parameters ``mean``, ``std`` as in :func:`encode_tensor`).

    Words from an untrusted file either decode to something or raise :class:`UarCodingError`;
    words that are not entirely consumed by exactly ``num_elements`` symbols are an error too
    (a correctly coded tensor always returns the coder to its empty state).
    """
    num_elements = _checked_count(num_elements, 0)
    mean32, std32 = _check_model(mean, std, min_symbol, max_symbol, model)
    kind = entropy_model(model)
    words = checked_words(words)
    if min_symbol == max_symbol or num_elements == 0:
        if words.size:
            raise UarCodingError("coded words present for a tensor that needs none")
        return np.full(num_elements, int(min_symbol), dtype=np.int32)
    if words.size and words[-1] == 0:
        raise UarCodingError("corrupt coded words: ANS data never ends in a zero word")

    def work() -> tuple[np.ndarray, bool]:
        coder = _AnsCoder(np.ascontiguousarray(words))
        decoded = np.asarray(coder.decode(_model(mean32, std32, min_symbol, max_symbol, kind), num_elements))
        return decoded, coder.is_empty()

    out, exhausted = run_coder("decoding", work)
    if not exhausted:
        raise UarCodingError("corrupt coded words: data left over after the last symbol")
    return out.astype(np.int32, copy=False)


# --- the probability model, in Python: ideal code lengths and the spec's reference -------------


def _gaussian_cdf(x: float, mean: float, std: float) -> float:
    """F(x) in float64 with constriction's operation order: (1 + erf((x - m) / (s * sqrt2))) / 2."""
    return (1.0 + math.erf((x - mean) / (std * math.sqrt(2.0)))) / 2.0


# exp of FreeBSD msun e_exp.c (fdlibm), as ported by the Rust ``libm`` crate 0.2 that
# constriction 0.5 reaches through the ``probability`` and ``special`` crates. It is not
# correctly rounded, and in a few percent of arguments its last bit differs from glibc's
# (Python's ``math.exp``); such a difference can move a ``floor`` of the fixed-point rule, so the
# Laplace model is computed with this exact function. Constants as their bit patterns.
_EXP_LN2HI = float.fromhex("0x1.62e42fee00000p-1")
_EXP_LN2LO = float.fromhex("0x1.a39ef35793c76p-33")
_EXP_INVLN2 = float.fromhex("0x1.71547652b82fep+0")
_EXP_P1 = float.fromhex("0x1.555555555553ep-3")
_EXP_P2 = float.fromhex("-0x1.6c16c16bebd93p-9")
_EXP_P3 = float.fromhex("0x1.1566aaf25de2cp-14")
_EXP_P4 = float.fromhex("-0x1.bbd41c5d26bf1p-20")
_EXP_P5 = float.fromhex("0x1.6376972bea4d0p-25")


def fdlibm_exp(x: float) -> float:
    """``exp(x)`` in float64, bit for bit as msun/fdlibm ``e_exp.c`` (Rust ``libm::exp``).

    CPython float arithmetic is IEEE binary64 with one rounding per operation (no fused
    multiply-add), so the operations below reproduce the C/Rust code exactly.
    """
    x = float(x)
    hx = (struct.unpack("<Q", struct.pack("<d", x))[0] >> 32) & 0xFFFFFFFF
    sign = hx >> 31
    hx &= 0x7FFFFFFF
    if hx >= 0x4086232B:  # |x| >= 708.39...
        if x != x:
            return x
        if x > 709.782712893383973096:
            return math.inf
        if x < -745.13321910194110842:
            return 0.0
    if hx > 0x3FD62E42:  # |x| > 0.5 ln2: argument reduction x = k ln2 + r
        if hx >= 0x3FF0A2B2:  # |x| >= 1.5 ln2
            k = int(_EXP_INVLN2 * x + (-0.5 if sign else 0.5))  # truncation toward zero
        else:
            k = 1 - sign - sign
        hi = x - k * _EXP_LN2HI
        lo = k * _EXP_LN2LO
        x = hi - lo
    elif hx > 0x3E300000:  # |x| > 2**-28
        k, hi, lo = 0, x, 0.0
    else:
        return 1.0 + x
    xx = x * x
    c = x - xx * (_EXP_P1 + xx * (_EXP_P2 + xx * (_EXP_P3 + xx * (_EXP_P4 + xx * _EXP_P5))))
    y = 1.0 + (x * c / (2.0 - c) - lo + hi)
    return y if k == 0 else math.ldexp(y, k)  # scalbn: exact, one rounding into subnormals


def _laplace_cdf(x: float, loc: float, scale: float) -> float:
    """F(x) in float64 with the operation order of the ``probability`` crate that constriction
    calls: ``0.5 * exp((x - m) / b)`` for ``x <= m``, else ``1 - 0.5 * exp(-(x - m) / b)``,
    with :func:`fdlibm_exp`. The argument of ``exp`` is never positive (at most ``-inf``)."""
    if x <= loc:
        return 0.5 * fdlibm_exp((x - loc) / scale)
    return 1.0 - 0.5 * fdlibm_exp(-(x - loc) / scale)


def model_cumulatives(
    symbols: np.ndarray,
    mean: float,
    std: float,
    min_symbol: int,
    max_symbol: int,
    *,
    model: EntropyModel = EntropyModel.GAUSSIAN,
) -> tuple[np.ndarray, np.ndarray]:
    """Left cumulative and probability (integers out of 2**24) that coder 0 assigns to each of
    ``symbols`` under ``model`` (Python reimplementation of the spec; used for ideal code
    lengths and tests)."""
    mean32, std32 = _check_model(mean, std, min_symbol, max_symbol, model)
    cdf = _gaussian_cdf if entropy_model(model) == EntropyModel.GAUSSIAN else _laplace_cdf
    lo, hi = int(min_symbol), int(max_symbol)
    if lo == hi:
        raise UarCodingError("a one-symbol range has no coded model")
    free_weight = float(MAX_SYMBOL_SPAN - (hi - lo))

    def fixed(x: float) -> int:
        v = free_weight * cdf(x, mean32, std32)
        return int(v) if v == v else 0  # truncation toward zero; NaN -> 0 (never for valid input)

    lefts, probs = [], []
    for s in (int(v) for v in np.asarray(symbols).reshape(-1)):
        if not lo <= s <= hi:
            raise UarCodingError(f"symbol {s} outside [{lo}, {hi}]")
        left = 0 if s == lo else fixed(s - 0.5) + (s - lo)
        right = (1 << PRECISION) if s == hi else fixed(s + 0.5) + (s - lo) + 1
        lefts.append(left)
        probs.append(right - left)
    return np.array(lefts, dtype=np.int64), np.array(probs, dtype=np.int64)


def ideal_bits(
    q: np.ndarray,
    mean: float,
    std: float,
    min_symbol: int,
    max_symbol: int,
    *,
    model: EntropyModel = EntropyModel.GAUSSIAN,
) -> float:
    """Sum of ``-log2 p(symbol)`` under the model coder 0 really uses: the float32 Gaussian
    (or Laplace), its tails folded into ``min_symbol``/``max_symbol``, probabilities in 24-bit
    fixed point with every symbol of the range at least 2**-24. The coded size exceeds this by
    the ANS overhead only (at most about 64 bits per tensor)."""
    q = np.asarray(q)
    if not np.issubdtype(q.dtype, np.integer):
        raise UarCodingError(f"symbols must be integers, got dtype {q.dtype}")
    _check_model(mean, std, min_symbol, max_symbol, model)
    if q.size == 0 or min_symbol == max_symbol:
        if q.size and (int(q.min()) != min_symbol or int(q.max()) != max_symbol):
            raise UarCodingError("symbols outside the one-symbol range")
        return 0.0
    values, counts = np.unique(q.reshape(-1), return_counts=True)
    _, probs = model_cumulatives(values, mean, std, min_symbol, max_symbol, model=model)
    return float(np.sum(counts * (PRECISION - np.log2(probs.astype(np.float64)))))


def flag_bits(zeros: int, nonzeros: int, flag_param: float) -> float:
    """Ideal bits of ``zeros`` flags 0 and ``nonzeros`` flags 1 under the flag model of
    ``flag_param`` (exact fixed-point probabilities, as :func:`ideal_bits`)."""
    loc, scale = flag_location_scale(check_flag_param(flag_param))
    _, probs = model_cumulatives(np.array([0, 1]), loc, scale, 0, 1, model=EntropyModel.LAPLACE)
    p0, p1 = (float(p) for p in probs)
    return zeros * (PRECISION - math.log2(p0)) + nonzeros * (PRECISION - math.log2(p1))


# --- one Laplace per symbol (format 1.5 CONTEXT records, spec section 16) ----------------------


def _checked_laplace_params(means: np.ndarray, scales: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-symbol locations and scales as float64 arrays of ``count`` entries: finite, scales > 0."""
    means = np.ascontiguousarray(means, dtype=np.float64).reshape(-1)
    scales = np.ascontiguousarray(scales, dtype=np.float64).reshape(-1)
    if means.size != count or scales.size != count:
        raise UarCodingError(f"need {count} locations and scales, got {means.size} and {scales.size}")
    if not (np.isfinite(means).all() and np.isfinite(scales).all() and (scales > 0).all()):
        raise UarCodingError("per-symbol Laplace parameters must be finite, scales > 0")
    return means, scales


def encode_laplace_symbols(symbols: np.ndarray, means: np.ndarray, scales: np.ndarray) -> EncodedTensor:
    """Code ``symbols`` (flat, in the order a decoder takes them) on their own range, symbol
    ``k`` under QuantizedLaplace(location ``means[k]``, scale ``scales[k]``): the per-symbol
    form of :func:`encode_tensor`'s Laplace (same leaky quantizer, same 24-bit precision). No
    words when every symbol is equal."""
    q = _checked_symbols(symbols).reshape(-1)
    lo, hi = symbol_range(q)
    _check_model(0.0, 1.0, lo, hi, EntropyModel.LAPLACE)
    means, scales = _checked_laplace_params(means, scales, q.size)
    if lo == hi:
        return EncodedTensor(np.zeros(0, dtype=np.uint32), lo, hi)

    def work() -> np.ndarray:
        coder = _AnsCoder()
        coder.encode_reverse(np.ascontiguousarray(q, dtype=np.int32), _QuantizedLaplace(lo, hi), means, scales)
        return np.asarray(coder.get_compressed(), dtype=np.uint32)

    return EncodedTensor(run_coder("coding", work), lo, hi)


class LaplaceSymbolDecoder:
    """Takes the symbols :func:`encode_laplace_symbols` coded, a batch at a time, each batch
    with the locations and scales its decoder computed from the symbols before it."""

    def __init__(self, words: np.ndarray, min_symbol: int, max_symbol: int):
        _check_model(0.0, 1.0, min_symbol, max_symbol, EntropyModel.LAPLACE)
        words = checked_words(words)
        if words.size and words[-1] == 0:
            raise UarCodingError("corrupt coded words: ANS data never ends in a zero word")
        self._lo, self._hi = int(min_symbol), int(max_symbol)
        self._coder = None if self._lo == self._hi else run_coder(
            "decoding", lambda: _AnsCoder(np.ascontiguousarray(words)))
        if self._coder is None and words.size:
            raise UarCodingError("coded words present for a tensor that needs none")

    def decode(self, means: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """The next ``len(means)`` symbols (int64)."""
        means, scales = _checked_laplace_params(means, scales, np.asarray(means).size)
        if self._coder is None or means.size == 0:
            return np.full(means.size, self._lo, dtype=np.int64)
        coder = self._coder
        return np.asarray(run_coder("decoding", lambda: coder.decode(_QuantizedLaplace(self._lo, self._hi),
                                                                   means, scales)), dtype=np.int64)

    def finish(self) -> None:
        """Every word used up, else UarCodingError (a correct record always empties the coder)."""
        if self._coder is not None and not run_coder("decoding", self._coder.is_empty):
            raise UarCodingError("corrupt coded words: data left over after the last symbol")


# --- zero flags under plane contexts (format 1.8, spec 6.1.5) ---------------------------------


def check_flag_params(params) -> tuple[float, ...]:
    """The NUM_CLASSES flag parameters of a plane-flagged record, each as :func:`check_flag_param`."""
    values = tuple(params)
    if len(values) != plane_flags.NUM_CLASSES:
        raise UarCodingError(f"need {plane_flags.NUM_CLASSES} flag parameters, got {len(values)}")
    return tuple(check_flag_param(a) for a in values)


def _class_locations_scales(params: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [flag_location_scale(a) for a in params]
    return np.array([p[0] for p in pairs], np.float64), np.array([p[1] for p in pairs], np.float64)


def encode_plane_flagged(
    q: np.ndarray, mean: float, std: float, flag_params, *, model: EntropyModel = EntropyModel.LAPLACE
) -> EncodedTensor:
    """Code the integers of ``q`` (rank >= 2) with zero flags under plane contexts (spec
    6.1.5): every flag under the flag model its class names (:mod:`uarcodec.coding.plane_flags`),
    in the decoder's order, then the nonzero values in C order, shifted, under ``model``
    (``mean``, ``std``) on their own range, which is returned."""
    q = _checked_symbols(q)
    planes, rows, cols = plane_flags.plane_shape(q.shape)
    symbols = np.ascontiguousarray(q.reshape(-1), dtype=np.int64)
    shifted = shift_nonzero(symbols[symbols != 0])
    lo, hi = symbol_range(shifted)
    mean32, std32 = _check_model(mean, std, lo, hi, model)
    locs, scales = _class_locations_scales(check_flag_params(flag_params))
    kind = entropy_model(model)
    flags = (symbols != 0).astype(np.int32).reshape(planes, rows, cols)
    order = plane_flags.decode_order(planes, rows, cols)
    classes = plane_flags.flag_classes(flags).reshape(-1)[order]
    ordered = np.ascontiguousarray(flags.reshape(-1)[order])

    def work() -> np.ndarray:
        coder = _AnsCoder()
        if lo < hi:
            coder.encode_reverse(shifted.astype(np.int32), _model(mean32, std32, lo, hi, kind))
        coder.encode_reverse(ordered, _QuantizedLaplace(0, 1), locs[classes], scales[classes])
        return np.asarray(coder.get_compressed(), dtype=np.uint32)

    return EncodedTensor(run_coder("coding", work), lo, hi)


def _decode_plane_flags(coder, planes: int, rows: int, cols: int, locs: np.ndarray,
                        scales: np.ndarray) -> np.ndarray:
    """The flags (planes, rows, cols): linked planes one by one, each in its vectorised passes;
    other planes pass by pass, each pass over every plane in one call."""
    masks = plane_flags.pass_masks(rows, cols)
    family = _QuantizedLaplace(0, 1)
    flags = np.zeros((planes, rows, cols), dtype=np.int32)
    if not plane_flags.linked(rows, cols):
        none_before = np.zeros_like(flags)
        for step, sites in enumerate(masks):
            classes = plane_flags.pass_classes(step, flags, none_before)[:, sites].reshape(-1)
            flags[:, sites] = np.asarray(coder.decode(family, locs[classes], scales[classes])).reshape(planes, -1)
        return flags
    prev = np.zeros((rows, cols), dtype=np.int32)
    for k in range(planes):
        counts = plane_flags.previous_plane_counts(prev)
        plane = flags[k]
        for step, sites in enumerate(masks):
            if not sites.any():
                continue
            classes = plane_flags.pass_classes(step, plane, counts)[sites]
            plane[sites] = np.asarray(coder.decode(family, locs[classes], scales[classes]))
        prev = plane
    return flags


def decode_plane_flagged(
    words: np.ndarray, shape: tuple[int, ...], mean: float, std: float, flag_params,
    min_symbol: int, max_symbol: int, *, model: EntropyModel = EntropyModel.LAPLACE,
) -> np.ndarray:
    """The integers (int32, flat, C order) of a tensor of ``shape`` that
    :func:`encode_plane_flagged` coded in ``words``; untrusted words decode to something or
    raise UarCodingError, and must be used up exactly."""
    planes, rows, cols = plane_flags.plane_shape(tuple(shape))
    n = _checked_count(planes * rows * cols, 1)
    locs, scales = _class_locations_scales(check_flag_params(flag_params))
    return _decode_flagged(
        words, n, lambda coder: _decode_plane_flags(coder, planes, rows, cols, locs, scales).reshape(-1),
        mean, std, min_symbol, max_symbol, model)


def plane_flag_bits(sites: np.ndarray, ones: np.ndarray, flag_params) -> float:
    """Ideal bits of a tensor's flags under plane contexts, given per class its sites and
    1-flags (:func:`uarcodec.coding.plane_flags.class_counts`) and the class parameters (the
    coder's fixed-point probabilities)."""
    return sum(flag_bits(int(n) - int(k), int(k), a)
               for n, k, a in zip(sites, ones, check_flag_params(flag_params)) if n)
