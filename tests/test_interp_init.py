"""Interpolation-based initialisation (II) and the eps law."""

import numpy as np
import pytest

from uarcodec.bitstream.records import RefMode
from uarcodec.pipeline.interp_init import choose_eps, gop_gap_mse, interpolate, tensor_reference
from uarcodec.settings import EncoderSettings, EpsLaw
from uarcodec.video.frames import YuvClip


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_eps_one_reproduces_the_seeded_init_exactly():
    seed, prev = _rand((64, 3, 3), 1), _rand((64, 3, 3), 2)
    assert np.array_equal(interpolate(seed, prev, 1.0), seed)


def test_eps_zero_reproduces_the_previous_decoded_model_exactly():
    seed, prev = _rand((64, 3, 3), 1), _rand((64, 3, 3), 2)
    assert np.array_equal(interpolate(seed, prev, 0.0), prev)


def test_interpolation_is_float32_in_the_specified_order():
    seed, prev = _rand((1000,), 3), _rand((1000,), 4)
    eps = np.float32(0.3)
    expected = (eps * seed) + ((np.float32(1) - eps) * prev)
    out = interpolate(seed, prev, 0.3)
    assert out.dtype == np.float32 and np.array_equal(out, expected)


def test_reference_modes():
    seed, prev = _rand((5, 4), 1), _rand((5, 4), 2)
    assert not tensor_reference(RefMode.NONE, (5, 4), seed, prev, 0.5).any()
    assert np.array_equal(tensor_reference(RefMode.PREVIOUS, (5, 4), seed, prev, 0.5), prev)
    assert np.array_equal(tensor_reference(RefMode.INTERP, (5, 4), seed, prev, 0.25), interpolate(seed, prev, 0.25))
    with pytest.raises(ValueError):
        tensor_reference(RefMode.INTERP, (5, 4), seed, None, 0.5)


def _clip(value, n=3, h=8, w=8):
    y = np.full((n, h, w), value, np.uint8)
    c = np.full((n, h // 2, w // 2), value, np.uint8)
    return YuvClip(y, c.copy(), c.copy())


def test_gap_mse_is_zero_for_identical_gops_and_weighted_611():
    assert gop_gap_mse(_clip(100), _clip(100)) == 0.0
    a, b = _clip(100), _clip(100)
    b.y[:] = 110  # only luma differs: 6/8 of the luma MSE
    assert gop_gap_mse(a, b) == pytest.approx(6 / 8 * (10 / 255) ** 2)


def test_gap_mse_uses_the_frames_both_gops_have():
    a, b = _clip(50, n=4), _clip(50, n=2)
    assert gop_gap_mse(a, b) == 0.0


def test_eps_law_grows_with_the_gap_and_stays_in_range():
    law = EpsLaw()
    values = [law.eps(m) for m in (0.0, 1e-4, 1e-3, 1e-2, 1.0)]
    assert values == sorted(values)
    assert all(0.0 <= v <= 1.0 for v in values)
    assert EpsLaw(a=2.0, b=1.0, c=0.0).eps(0.0) == 0.0  # clamped


def test_choose_eps_overrides():
    assert choose_eps(EncoderSettings(init="random"), 0.01) == 1.0
    assert choose_eps(EncoderSettings(init="direct"), 0.01) == 0.0
    assert choose_eps(EncoderSettings(eps=0.25), 0.01) == 0.25
    law = EncoderSettings().eps_law
    assert choose_eps(EncoderSettings(), 0.002) == pytest.approx(law.eps(0.002), abs=1e-7)
