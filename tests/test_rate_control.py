"""Rate control (``uar encode --bpp``): each GOM's budget is shared over its models, lambda is
steered while a model trains, and an encode lands near the rate it was asked for."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import tiny_settings
from uarcodec.api import encode, open_stream, plan_encode
from uarcodec.bitstream.records import ModelKind
from uarcodec.errors import UarSettingsError
from uarcodec.pipeline.rate_control import (
    LAMBDA_RANGE,
    MAX_EPOCH_FACTOR,
    P_BIT_SHARE,
    gom_bit_budget,
    model_bit_target,
    steer_lambda,
)
from uarcodec.sizing import size_for_bpp, smallest_model_size


def test_lambda_falls_when_the_model_spends_too_much_and_rises_when_too_little():
    assert steer_lambda(500.0, estimated_bpp=0.3, target_bpp=0.2, base_lambda=500.0) < 500.0
    assert steer_lambda(500.0, estimated_bpp=0.1, target_bpp=0.2, base_lambda=500.0) > 500.0
    assert steer_lambda(500.0, estimated_bpp=0.2, target_bpp=0.2, base_lambda=500.0) == 500.0


def test_lambda_moves_by_a_bounded_factor_per_epoch_and_stays_in_range():
    assert steer_lambda(500.0, 100.0, 0.1, 500.0) == pytest.approx(500.0 / MAX_EPOCH_FACTOR)
    assert steer_lambda(500.0 / LAMBDA_RANGE, 100.0, 0.1, 500.0) == pytest.approx(500.0 / LAMBDA_RANGE)
    assert steer_lambda(500.0 * LAMBDA_RANGE, 1e-6, 0.1, 500.0) == pytest.approx(500.0 * LAMBDA_RANGE)
    assert steer_lambda(400.0, float("nan"), 0.1, 500.0) == 400.0


def test_a_gom_budget_is_shared_by_frames_and_model_kind_and_later_models_make_up_for_earlier_ones():
    models = [(ModelKind.I, 30), (ModelKind.P, 30), (ModelKind.P, 10)]
    budget = 100_000.0
    first = model_bit_target(budget, 0.0, 0, models)
    assert first == pytest.approx(budget * 30 / (30 + P_BIT_SHARE * 40))
    on_plan = model_bit_target(budget, first, 1, models)
    assert on_plan == pytest.approx(budget * P_BIT_SHARE * 30 / (30 + P_BIT_SHARE * 40))
    assert model_bit_target(budget, first * 1.2, 1, models) < on_plan  # an I-model that overspent
    last = model_bit_target(budget, first + on_plan, 2, models)
    assert first + on_plan + last == pytest.approx(budget)
    assert model_bit_target(budget, 2 * budget, 2, models) > 0  # an overspent GOM still codes its last model


def test_a_gom_budget_is_its_pixels_at_the_target_less_its_share_of_the_header():
    assert gom_bit_budget(0.1, 100, 50, 20, 0, 40) == pytest.approx(0.1 * 100 * 50 * 20)
    assert gom_bit_budget(0.1, 100, 50, 20, 1000, 40) == pytest.approx(0.1 * 100 * 50 * 20 - 4000)
    with pytest.raises(UarSettingsError, match="target bpp"):
        gom_bit_budget(0.0, 100, 50, 20, 0, 40)


def test_the_size_for_a_target_rate_grows_with_it_and_never_goes_below_the_smallest_network():
    sizes = [size_for_bpp(b, "hnerv", 352, 288, 30, 4) for b in (0.02, 0.05, 0.1, 0.2)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert size_for_bpp(1e-5, "hnerv", 352, 288, 30, 4) == smallest_model_size("hnerv", 352, 288, 30)


def test_an_encode_plan_with_a_target_rate_sizes_the_models_unless_a_size_is_given(sample, tmp_path):
    settings = tiny_settings(gop_size=30, gom_size=1)
    planned = plan_encode(sample, tmp_path / "a.uar", settings, bpp=0.1, fitted_size=True)
    assert planned.settings.target_bpp == 0.1
    assert planned.settings.model_size == size_for_bpp(0.1, "hnerv", 176, 144, 30, 1)
    kept = plan_encode(sample, tmp_path / "b.uar", settings, bpp=0.1)
    assert (kept.settings.model_size, kept.settings.target_bpp) == (12_000, 0.1)
    assert plan_encode(sample, tmp_path / "c.uar", settings).settings.target_bpp is None


def test_a_target_rate_must_be_positive():
    with pytest.raises(UarSettingsError, match="target bpp"):
        dataclasses.replace(tiny_settings(), target_bpp=-1.0).validate()


@pytest.mark.parametrize("target", [0.09, 0.26])
def test_an_encode_lands_near_its_target_rate_at_the_same_model_size(sample, tmp_path, target):
    """The same network, asked for 0.6x and 1.7x the 0.150 bpp it takes on its own here (16
    frames, an I- and a P-model; uncontrolled, it would miss them by +66% and -42%): both land
    within 25% of the target."""
    settings = tiny_settings(gop_size=8, gom_size=2, model_size=20_000, epochs_i=30, epochs_p=20,
                             target_bpp=target)
    report = encode(sample, tmp_path / "out.uar", settings, frames=16)
    assert abs(report.bpp / target - 1) < 0.25
    with open_stream(report.path) as stream:  # the stream says what it was steered to
        assert stream.header.coding.encoder_settings["target_bpp"] == pytest.approx(target)
