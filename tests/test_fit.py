"""Fitting one model to one GOP with RQEC: PSNR rises, the coded bits are what the loss
estimated, and lambda moves rate and distortion the right way."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uarcodec.bitstream.records import ColorMatrix, ColorRange, ModelKind, OutputSpace, RefMode
from uarcodec.coding.entropy import decode_tensor
from uarcodec.coding.quant import estimate_bits, quantize_residual
from uarcodec.metrics import QualityAccumulator
from uarcodec.models.registry import family_by_name
from uarcodec.pipeline.fit import fit_model, warmup_cosine
from uarcodec.pipeline.model_coding import code_model, plan_model
from uarcodec.pipeline.render import make_target, render_gop
from uarcodec.settings import TrainingSettings
from uarcodec.video import open_video

DEV = torch.device("cpu")


@pytest.fixture(scope="module")
def clip():
    from conftest import SAMPLE

    with open_video(str(SAMPLE)) as reader:
        return reader.read(0, 4)


def _fit(clip, family, params, epochs, **training):
    cls = family_by_name(family)
    cfg = cls.config_for_size(params, clip.height, clip.width, clip.num_frames)
    model = cls(cfg, clip.height, clip.width, clip.num_frames)
    specs = model.coded_specs()
    target = make_target(clip, OutputSpace.YUV, ColorMatrix.BT601, ColorRange.LIMITED, DEV)
    plan = plan_model(specs, ModelKind.I, 1234, 1.0, None, True, {})
    settings = TrainingSettings(lr=training.pop("lr", 5e-3), batch_size=2, **training)
    fit = fit_model(model, target, plan.init, plan.refs, settings, epochs, device=DEV, seed=1)
    record, theta_hat = code_model(specs, plan, fit.theta, fit.steps, None, clip.num_frames, settings.min_std)
    from uarcodec.pipeline.encoder import load_params

    load_params(model, specs, theta_hat)
    recon = render_gop(model, clip.num_frames, OutputSpace.YUV, ColorMatrix.BT601, ColorRange.LIMITED, DEV)
    acc = QualityAccumulator(with_ms_ssim=False)
    acc.add(clip, recon)
    return fit, plan, record, theta_hat, acc.report().psnr_yuv


@pytest.mark.parametrize(
    "family,epochs,encoder",
    [("hnerv", 40, True), ("hnerv", 20, False), ("hinerv", 20, False)],
    ids=["hnerv-joint-encoder", "hnerv-free-embeddings", "hinerv"],
)
def test_fit_raises_psnr_on_a_real_clip(clip, family, epochs, encoder):
    fit, *_ , psnr = _fit(clip, family, 20_000, epochs=epochs, use_encoder=encoder)
    first, last = fit.history[0].psnr, fit.history[-1].psnr
    assert last > first + 3.0, (first, last)
    assert psnr > first + 3.0  # the decoded (quantized, entropy-coded) model, not just training


def test_coding_gives_back_the_quantized_parameters_and_the_estimated_bits(clip):
    fit, plan, record, theta_hat, _ = _fit(clip, "hnerv", 20_000, epochs=8)
    real_bits = estimated = 0.0
    for theta, ref, rec, hat in zip(fit.theta, plan.refs, record.tensors, theta_hat):
        assert rec.ref_mode == RefMode.NONE
        q = quantize_residual(theta, ref, np.float32(rec.step))
        decoded = decode_tensor(rec.words, rec.num_elements, rec.mean, rec.std, rec.min_symbol, rec.max_symbol)
        assert np.array_equal(decoded.reshape(q.shape), q)
        assert np.array_equal(hat, ref + q.astype(np.float32) * np.float32(rec.step))
        real_bits += rec.coded_bytes * 8
        estimated += estimate_bits(q, rec.mean, rec.std)
    assert estimated == pytest.approx(real_bits, rel=0.05)


def test_lambda_moves_rate_and_distortion_monotonically(clip):
    results = []
    for lmbda in (30.0, 3000.0):
        _, _, record, _, psnr = _fit(clip, "hnerv", 20_000, epochs=40, lmbda=lmbda)
        results.append((sum(t.coded_bytes for t in record.tensors), psnr))
    (bytes_lo, psnr_lo), (bytes_hi, psnr_hi) = results
    assert bytes_hi > bytes_lo
    assert psnr_hi > psnr_lo


def test_warmup_then_cosine_schedule():
    total = 100
    factors = [warmup_cosine(s, total, 0.1) for s in range(total)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert factors[-1] < 0.01
