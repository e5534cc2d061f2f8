"""Entropy coding of integer tensors: lossless, near the ideal size, as specified, and safe."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uarcodec.coding.entropy import (
    CODER_ID,
    MAX_SYMBOL_SPAN,
    coder_version,
    decode_tensor,
    encode_tensor,
    ideal_bits,
    model_cumulatives,
    symbol_range,
)
from uarcodec.errors import UarCodingError
from conftest import SHARED_DATA
from uarcodec.video import open_video


def roundtrip(q: np.ndarray, mean: float, std: float) -> np.ndarray:
    enc = encode_tensor(q, mean, std)
    assert enc.words.dtype == np.uint32
    assert (enc.min_symbol, enc.max_symbol) == symbol_range(q)
    return decode_tensor(enc.words, q.size, mean, std, enc.min_symbol, enc.max_symbol)


# --- bitstream_spec.md section 12, read independently: the ANS coder in plain Python ---------


def spec_encode(q: np.ndarray, mean: float, std: float) -> np.ndarray:
    lo, hi = symbol_range(q)
    if lo == hi:
        return np.zeros(0, np.uint32)
    lefts, probs = model_cumulatives(q, mean, std, lo, hi)
    state, words = 0, []
    for left, prob in zip(reversed(lefts.tolist()), reversed(probs.tolist())):
        if (state >> 40) >= prob:
            words.append(state & 0xFFFFFFFF)
            state >>= 32
        state = ((state // prob) << 24) | (left + state % prob)
    while state:
        words.append(state & 0xFFFFFFFF)
        state >>= 32
    return np.array(words, dtype=np.uint32)


def spec_decode(words: np.ndarray, n: int, mean: float, std: float, lo: int, hi: int) -> list[int]:
    stack = [int(w) for w in words]
    state = 0
    if stack:
        state = stack.pop()
        while stack and state < (1 << 32):
            state = (state << 32) | stack.pop()
    table_symbols = np.arange(lo, hi + 1)
    lefts, probs = model_cumulatives(table_symbols, mean, std, lo, hi)
    out = []
    for _ in range(n):
        quantile = state & ((1 << 24) - 1)
        i = int(np.searchsorted(lefts, quantile, side="right")) - 1
        out.append(int(table_symbols[i]))
        state = (state >> 24) * int(probs[i]) + quantile - int(lefts[i])
        if state < (1 << 32) and stack:
            state = (state << 32) | stack.pop()
    assert state == 0 and not stack
    return out


def test_spec_test_vector():
    q = np.array([3, -2, 1, 0, 4, -5, 5], dtype=np.int32)
    enc = encode_tensor(q, 0.0, 2.0)
    assert enc.words.tolist() == [3421631704, 41045]
    assert encode_tensor(np.array([3, -5, 5], np.int32), 0.0, 2.0).words.tolist() == [3287482055, 4]
    lefts, probs = model_cumulatives(np.array([-5, 0, 3, 5]), 0.0, 2.0, -5, 5)
    assert lefts.tolist() == [0, 6732591, 15004705, 16572122]
    assert probs.tolist() == [205093, 3312033, 1100428, 205094]


def test_spec_reading_reproduces_constriction_word_for_word():
    rng = np.random.default_rng(11)
    for _ in range(60):
        std = float(np.float32(np.exp(rng.uniform(-3, 5))))
        mean = float(np.float32(rng.normal(0, 3)))
        q = np.round(rng.normal(mean, std, int(rng.integers(2, 200)))).astype(np.int32)
        words = encode_tensor(q, mean, std).words
        assert words.tolist() == spec_encode(q, mean, std).tolist()
        lo, hi = symbol_range(q)
        if lo < hi and hi - lo < 2000:
            assert spec_decode(words, q.size, mean, std, lo, hi) == q.tolist()


@pytest.mark.parametrize(
    "mean,std,n,shift",
    [(0.0, 0.05, 5000, 0), (0.0, 1.0, 5000, 0), (3.2, 40.0, 20000, 0), (-7.5, 2.0, 3000, -1000), (0.0, 3e4, 2000, 0)],
)
def test_roundtrip_random_tensors(mean, std, n, shift):
    rng = np.random.default_rng(int(std * 100) + n)
    q = (np.round(rng.normal(mean, std, n)) + shift).astype(np.int32).reshape(-1, 10)
    out = roundtrip(q, mean + shift, std)
    assert out.dtype == np.int32 and out.shape == (q.size,)
    assert np.array_equal(out, q.ravel())


def test_roundtrip_with_a_model_that_fits_badly():
    # The coder is lossless whatever the model: mean far off, std far too small or large.
    rng = np.random.default_rng(3)
    q = rng.integers(-300, 300, 4000).astype(np.int32)
    for mean, std in [(250.0, 0.01), (-1e4, 1.0), (0.0, 1e9)]:
        assert np.array_equal(roundtrip(q, mean, std), q)


def test_constant_tensor_codes_to_nothing():
    q = np.full((7, 3), -4, dtype=np.int32)
    enc = encode_tensor(q, -4.0, 0.05)
    assert enc.words.size == 0 and enc.min_symbol == enc.max_symbol == -4
    out = decode_tensor(enc.words, q.size, -4.0, 0.05, -4, -4)
    assert out.dtype == np.int32 and np.array_equal(out, q.ravel())
    assert ideal_bits(q, -4.0, 0.05, -4, -4) == 0.0


def test_single_element_and_extreme_symbols():
    for v in [0, 17, -(2**31), 2**31 - 1]:
        q = np.array([v], dtype=np.int64)
        assert np.array_equal(roundtrip(q, float(v), 1.0), q)
    lo = 2**31 - 1 - MAX_SYMBOL_SPAN
    q = np.array([lo, 2**31 - 1, lo + 5, 2**31 - 10], dtype=np.int64)  # the widest allowed span
    assert np.array_equal(roundtrip(q, 2.0**31 - 2**23, 2.0**20), q)


def test_integer_dtypes_are_accepted():
    q = np.array([-3, 0, 1, 2, 2, 5], dtype=np.int8)
    assert np.array_equal(roundtrip(q, 0.5, 2.0), q)
    assert np.array_equal(roundtrip(q.astype(np.uint16) + 1, 2.0, 2.0), q.astype(np.uint16) + 1)


def test_mean_and_std_are_used_as_float32():
    # The decoder gets the float32 values from the stream; the encoder's float64 must not matter.
    q = np.round(np.random.default_rng(5).normal(0, 3, 3000)).astype(np.int32)
    mean64, std64 = 0.1234567891234, 3.0000000123
    enc = encode_tensor(q, mean64, std64)
    out = decode_tensor(enc.words, q.size, np.float32(mean64), np.float32(std64), enc.min_symbol, enc.max_symbol)
    assert np.array_equal(out, q)


@pytest.mark.parametrize("std", [2.0, 5.0, 20.0, 50.0])
def test_coded_size_is_within_one_percent_of_ideal(std):
    rng = np.random.default_rng(int(std))
    q = np.round(rng.normal(1.3, std, 100_000)).astype(np.int32)
    enc = encode_tensor(q, 1.3, std)
    ideal = ideal_bits(q, 1.3, std, enc.min_symbol, enc.max_symbol)
    real = 32 * enc.words.size
    assert ideal <= real <= 1.01 * ideal
    assert real - ideal < 96  # the ANS overhead is a couple of words per tensor


def test_coder_identity():
    assert CODER_ID == 0
    assert coder_version().startswith("constriction 0.")


# --- invalid parameters never reach constriction ------------------------------------------------

Q = np.array([-2, 0, 1, 3], dtype=np.int32)


@pytest.mark.parametrize(
    "mean,std",
    [(0.0, 0.0), (0.0, -1.0), (0.0, float("nan")), (0.0, float("inf")), (float("nan"), 1.0),
     (float("inf"), 1.0), (0.0, 1e-50), (1e39, 1.0), (0.0, 1e39), ("x", 1.0)],
)
def test_invalid_model_parameters_raise(mean, std):
    with pytest.raises(UarCodingError):
        encode_tensor(Q, mean, std)
    with pytest.raises(UarCodingError):
        decode_tensor(np.array([5], np.uint32), 4, mean, std, -2, 3)
    with pytest.raises(UarCodingError):
        ideal_bits(Q, mean, std, -2, 3)


def test_invalid_symbols_and_ranges_raise():
    with pytest.raises(UarCodingError):
        encode_tensor(Q.astype(np.float32), 0.0, 1.0)
    with pytest.raises(UarCodingError):
        encode_tensor(np.array([0, 2**31], dtype=np.int64), 0.0, 1.0)
    with pytest.raises(UarCodingError):
        encode_tensor(np.array([0, MAX_SYMBOL_SPAN + 1], dtype=np.int64), 0.0, 1.0)
    words = encode_tensor(Q, 0.0, 1.0).words
    for lo, hi in [(3, -2), (0, MAX_SYMBOL_SPAN + 1), (-(2**31) - 1, 0), (0, 2**31), (0.5, 3)]:
        with pytest.raises(UarCodingError):
            decode_tensor(words, 4, 0.0, 1.0, lo, hi)
    with pytest.raises(UarCodingError):
        ideal_bits(Q, 0.0, 1.0, -1, 3)  # -2 lies outside the range


def test_invalid_words_and_sizes_raise():
    words = encode_tensor(Q, 0.0, 1.0).words
    for bad in [words.astype(np.int64), words.reshape(1, -1), np.array([7, 0], np.uint32)]:
        with pytest.raises(UarCodingError):
            decode_tensor(bad, 4, 0.0, 1.0, -2, 3)
    for n in [-1, 2.0, True, 2**40]:
        with pytest.raises(UarCodingError):
            decode_tensor(words, n, 0.0, 1.0, -2, 3)
    with pytest.raises(UarCodingError):  # words for a tensor that needs none
        decode_tensor(np.array([1], np.uint32), 4, 0.0, 1.0, 2, 2)


def test_wrong_element_count_or_truncated_words_are_detected():
    rng = np.random.default_rng(8)
    q = np.round(rng.normal(0, 10, 5000)).astype(np.int32)
    enc = encode_tensor(q, 0.0, 10.0)
    args = (0.0, 10.0, enc.min_symbol, enc.max_symbol)
    with pytest.raises(UarCodingError):
        decode_tensor(enc.words, q.size - 1, *args)
    with pytest.raises(UarCodingError):
        decode_tensor(enc.words[1:], q.size, *args)


@settings(max_examples=150, deadline=None)
@given(
    words=st.lists(st.integers(0, 2**32 - 1), max_size=12),
    n=st.integers(0, 300),
    mean=st.floats(-50, 50),
    std=st.floats(0.01, 1000),
    lo=st.integers(-1000, 1000),
    span=st.integers(0, 5000),
)
def test_garbage_words_decode_or_raise_coding_error(words, n, mean, std, lo, span):
    try:
        out = decode_tensor(np.array(words, dtype=np.uint32), n, mean, std, lo, lo + span)
    except UarCodingError:
        return
    assert out.dtype == np.int32 and out.shape == (n,)
    assert out.size == 0 or (out.min() >= lo and out.max() <= lo + span)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(-(2**20), 2**20), min_size=1, max_size=200),
    mean=st.floats(-1e6, 1e6),
    std=st.floats(1e-3, 1e7),
)
def test_any_integer_tensor_roundtrips(values, mean, std):
    q = np.array(values, dtype=np.int32)
    assert np.array_equal(roundtrip(q, mean, std), q)


CARPHONE = SHARED_DATA / "carphone_qcif_120f.y4m"




@pytest.mark.skipif(not CARPHONE.exists(), reason=f"real test clip {CARPHONE} absent")
def test_real_non_gaussian_data_roundtrips_near_its_model_size():
    # Frame differences of a real clip: peaky, heavy-tailed, far from Gaussian.
    with open_video(str(CARPHONE)) as reader:
        f0, f1 = reader.read(0, 2).y
    q = f1.astype(np.int32) - f0.astype(np.int32)
    mean, std = float(q.mean()), float(q.std())
    enc = encode_tensor(q, mean, std)
    assert np.array_equal(decode_tensor(enc.words, q.size, mean, std, enc.min_symbol, enc.max_symbol), q.ravel())
    ideal = ideal_bits(q, mean, std, enc.min_symbol, enc.max_symbol)
    assert ideal <= 32 * enc.words.size <= ideal + 96
