"""Fitting one model to one GOP with RQEC: PSNR rises, the coded bits are what the loss
estimated, and lambda moves rate and distortion the right way."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from conftest import SAMPLE, code_sample_as_i_model
from uarcodec.bitstream.records import RefMode
from uarcodec.coding.symbols import kept_symbols, temporal_differences
from uarcodec.coding.quant import dequantize, estimate_bits
from uarcodec.pipeline.fit import warmup_cosine
from uarcodec.pipeline.model_coding import tensor_codes
from uarcodec.errors import UarSettingsError
from uarcodec.video import open_video

DEV = torch.device("cpu")


@pytest.fixture(scope="module")
def clip():
    with open_video(str(SAMPLE)) as reader:
        return reader.read(0, 4)


_fit = code_sample_as_i_model


@pytest.mark.parametrize(
    "family,epochs,encoder",
    [("hnerv", 40, True), ("hnerv", 20, False), ("hinerv", 20, False)],
    ids=["hnerv-joint-encoder", "hnerv-free-embeddings", "hinerv"],
)
def test_fit_raises_psnr_on_a_real_clip(clip, family, epochs, encoder):
    coded, psnr = _fit(clip, family, 20_000, epochs=epochs, use_encoder=encoder)
    first, last = coded.history[0].psnr, coded.history[-1].psnr
    assert last > first + 3.0, (first, last)
    assert psnr > first + 3.0  # the decoded (quantized, entropy-coded) model, not just training


def test_coding_gives_back_the_quantized_parameters_and_the_estimated_bits(clip):
    coded, _ = _fit(clip, "hnerv", 20_000, epochs=8)
    real_bits = estimated = 0.0
    for rec, hat in zip(coded.record.tensors, coded.theta_hat):
        assert rec.ref_mode == RefMode.NONE
        q = tensor_codes(rec)
        assert np.array_equal(hat, dequantize(q, np.zeros(rec.shape, np.float32), np.float32(rec.step)))
        if rec.is_zero:
            continue
        symbols = kept_symbols(temporal_differences(q) if rec.temporal else q, rec.channel_mask)
        real_bits += rec.coded_bytes * 8
        estimated += estimate_bits(symbols, rec.mean, rec.std, rec.entropy_model)
        estimated += 0 if rec.channel_mask is None else 8 * ((len(rec.channel_mask) + 7) // 8)
    assert estimated == pytest.approx(real_bits, rel=0.05)


def test_lambda_moves_rate_and_distortion_monotonically(clip):
    results = []
    for lmbda in (30.0, 3000.0):
        coded, psnr = _fit(clip, "hnerv", 20_000, epochs=40, lmbda=lmbda)
        results.append((coded.coded_bytes, psnr))
    (bytes_lo, psnr_lo), (bytes_hi, psnr_hi) = results
    assert bytes_hi > bytes_lo
    assert psnr_hi > psnr_lo


def test_warmup_then_cosine_schedule():
    total = 100
    factors = [warmup_cosine(s, total, 0.1) for s in range(total)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert factors[-1] < 0.01


def test_training_with_rate_noise_is_reproducible_whatever_the_global_rng(clip):
    """The rate term's noise comes from the fit's seeded generator, so a GOM job gives the same
    bytes in any process (a fresh worker's global RNG differs from the driver's)."""
    torch.manual_seed(1)
    first, _ = _fit(clip, "hnerv", 8000, epochs=2, rate_noise=True)
    torch.manual_seed(2)
    second, _ = _fit(clip, "hnerv", 8000, epochs=2, rate_noise=True)
    assert [t.coded_bytes for t in first.record.tensors] == [t.coded_bytes for t in second.record.tensors]
    assert all(np.array_equal(a, b) for a, b in zip(first.theta_hat, second.theta_hat))


def test_a_failing_torch_compile_warns_once_and_trains_as_without_it(clip, monkeypatch):
    """--compile where compiling fails (no compiler, an unsupported backend): the encode goes
    on eagerly, with one warning, and codes the same model as without --compile."""
    eager, _ = _fit(clip, "hnerv", 20_000, epochs=3)

    def broken_compile(fn, *args, **kwargs):
        def run(*a, **k):
            raise RuntimeError("no C++ compiler found\nmore detail")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(RuntimeWarning, match="torch.compile failed .RuntimeError: no C\\+\\+ compiler found.") as seen:
        fallback, _ = _fit(clip, "hnerv", 20_000, epochs=3, compile=True)
    assert len(seen) == 1
    assert all(np.array_equal(a, b) for a, b in zip(eager.theta_hat, fallback.theta_hat))


@pytest.mark.slow
def test_a_compiled_forward_trains_the_network_as_eager_does(clip):
    """torch.compile really compiles here (the slow suite) and trains to about the same model."""
    eager, eager_psnr = _fit(clip, "hnerv", 20_000, epochs=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback would hide a broken compile
        compiled, compiled_psnr = _fit(clip, "hnerv", 20_000, epochs=6, compile=True)
    assert abs(compiled_psnr - eager_psnr) < 0.5


def test_a_diverging_training_stops_with_one_clear_error(clip):
    """A learning rate far too large makes the loss overflow: the encode stops at once with
    a settings error that names the way out, instead of failing later in the coder."""
    with pytest.raises(UarSettingsError, match=r"training diverged in epoch \d+ of 4 .*lower --lr"):
        _fit(clip, "hnerv", 20_000, epochs=4, lr=1e6)
