"""A model's context network fitted to its own grid integers after training
(``pipeline/context_refit.py``): the fitted network prices a P-model's residuals in fewer bits
than the one it started from and lies on its tensors' quantization grids; the encoder codes an
I- or P-model again with only its network changed (so the same pixels: the forward pass never
runs it) and keeps that record only where it is smaller; the stream decodes to its report."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tiny_settings
from test_models_latent import _records
from uarcodec import api
from uarcodec.coding.latent_context import ContextLayout, context_rate_bits
from uarcodec.pipeline import context_refit, gop_coding
from uarcodec.pipeline.context_refit import refit_context_network, with_own_context
from uarcodec.vocabulary import ContextOrder, EntropyModel
from uarcodec.models.latent import LatentGrids, LatentGridsConfig

STEPS = [2.0**-7] * 4


def _layout(order: ContextOrder) -> tuple[list, ContextLayout]:
    config = LatentGridsConfig(time_samples=(1, 2), hidden=(8,), context_hidden=8, context_order=int(order))
    specs = LatentGrids(config, 32, 48, 4).coded_specs()
    return specs, ContextLayout.of(specs)


def _clustered_residuals(specs, layout) -> list[np.ndarray]:
    """Residual integers as a P-model's: mostly 0, the nonzeros in one patch where the picture
    changed, neighbours alike."""
    rng = np.random.default_rng(0)
    out = []
    for i in layout.grids:
        q = np.zeros(specs[i].shape, np.int32)
        h, w = q.shape[-2:]
        q[..., h // 4:h // 2, w // 4:w // 2] = rng.integers(1, 4)
        q[..., h // 4:h // 2, w // 4:w // 2] += rng.integers(-1, 2, q[..., h // 4:h // 2, w // 4:w // 2].shape)
        out.append(q)
    return out


def _bits(codes, layout, network) -> float:
    c = [torch.from_numpy(q.astype(np.float32)) for q in codes]
    return float(context_rate_bits(c, c, [torch.from_numpy(t) for t in network], layout.order))


@pytest.mark.parametrize("order", [ContextOrder.CHECKERBOARD, ContextOrder.WAVEFRONT])
def test_the_fitted_network_prices_the_residuals_in_fewer_bits_and_codes_to_itself(order):
    specs, layout = _layout(order)
    codes = _clustered_residuals(specs, layout)
    rng = np.random.default_rng(1)
    # an I-model's network: it predicts values of about 6 from their neighbours
    start = [rng.normal(0, 0.3, specs[i].shape).astype(np.float32) for i in layout.network]
    start[3] = np.array([6.0, 2.0], np.float32)
    refs = [np.round(t / s) * s + s / 3 for t, s in zip(start, STEPS)]  # a reference off the step grid
    fitted = refit_context_network(codes, layout, start, refs, STEPS, iterations=150)
    assert _bits(codes, layout, fitted) < 0.5 * _bits(codes, layout, start)
    for tensor, ref, step in zip(fitted, refs, STEPS):
        assert tensor.dtype == np.float32 and tensor.shape == ref.shape
        units = (tensor.astype(np.float64) - ref) / step
        assert np.allclose(units, np.round(units), atol=1e-3)  # on the grid the coder quantizes to


def test_a_model_without_a_context_network_or_whose_grids_did_not_move_is_kept_as_it_is():
    config = LatentGridsConfig(time_samples=(1, 2), hidden=(8,), context_hidden=0)
    specs = LatentGrids(config, 32, 48, 4).coded_specs()
    theta = [np.zeros(s.shape, np.float32) for s in specs]
    coded = object()

    def never(theta):
        raise AssertionError("nothing to code again")

    assert with_own_context(specs, theta, theta, [0.1] * len(specs), never, coded, len) is coded
    specs, layout = _layout(ContextOrder.WAVEFRONT)
    theta = [np.zeros(s.shape, np.float32) for s in specs]  # every grid at its reference
    assert with_own_context(specs, theta, theta, [0.1] * len(specs), never, coded, len) is coded


def test_the_record_coded_again_is_kept_only_where_it_is_smaller():
    specs, layout = _layout(ContextOrder.WAVEFRONT)
    theta = [np.zeros(s.shape, np.float32) for s in specs]
    for i, q in zip(layout.grids, _clustered_residuals(specs, layout)):
        theta[i] = q * np.float32(0.5)
    steps = [0.5] * len(specs)
    seen = []

    def code(refitted):
        seen.append(refitted)
        return "recoded"

    sizes = {"coded": 100, "recoded": 90}
    assert with_own_context(specs, theta, [np.zeros_like(t) for t in theta], steps, code, "coded",
                            sizes.get) == "recoded"
    assert all(np.array_equal(seen[0][i], theta[i]) for i in range(len(specs)) if i not in layout.network)
    sizes["recoded"] = 100
    assert with_own_context(specs, theta, [np.zeros_like(t) for t in theta], steps, code, "coded",
                            sizes.get) == "coded"


def test_a_network_trained_in_another_order_is_fitted_in_its_own_order_then_longer_in_the_coded_one(monkeypatch):
    """An I-model trained in the checkerboard and coded by wavefronts (a moving camera): its
    network is fitted to the integers in the checkerboard first (it read those features), then
    for more steps by wavefronts from there; in the order it trained in, one fit as before."""
    specs, layout = _layout(ContextOrder.WAVEFRONT)
    theta = [np.zeros(s.shape, np.float32) for s in specs]
    for i, q in zip(layout.grids, _clustered_residuals(specs, layout)):
        theta[i] = q * np.float32(0.5)
    fits = []

    def recording(codes, fit_layout, start, refs, steps, iterations=context_refit.REFIT_STEPS):
        fits.append((fit_layout.order, iterations, start))
        return [np.full_like(t, len(fits)) for t in start]

    monkeypatch.setattr(context_refit, "refit_context_network", recording)
    zeros = [np.zeros_like(t) for t in theta]
    with_own_context(specs, theta, zeros, [0.5] * len(specs), lambda t: "recoded", "coded", len,
                     ContextOrder.CHECKERBOARD)
    assert [(order, n) for order, n, _ in fits] == [(ContextOrder.CHECKERBOARD, context_refit.REFIT_STEPS),
                                                   (ContextOrder.WAVEFRONT, context_refit.CROSS_ORDER_REFIT_STEPS)]
    assert all((t == 1).all() for t in fits[1][2])  # the second fit starts where the first ended
    for trained in (None, ContextOrder.WAVEFRONT):
        fits.clear()
        with_own_context(specs, theta, zeros, [0.5] * len(specs), lambda t: "recoded", "coded", len, trained)
        assert [(order, n) for order, n, _ in fits] == [(ContextOrder.WAVEFRONT, context_refit.REFIT_STEPS)]


def test_an_encode_codes_p_model_grids_under_their_own_network_and_decodes_to_its_report(tmp_path, sample):
    """Eighteen frames of the bundled sample in three GOPs: the first P-model's grids moved
    enough that some code smaller under its own network (changed from the I-model's: its context
    tensors are coded residuals), the second P-model codes against that network; the stream
    decodes to exactly the frames the encoder measured."""
    out = tmp_path / "s.uar"
    settings = tiny_settings(family="latent", gop_size=6, gom_size=3, model_size=100_000, epochs_i=6, epochs_p=4,
                             latent_context=8, latent_motion=0, lmbda=2000.0)
    report = api.encode(sample, out, settings, frames=18, device="cpu")
    header, goms = _records(out)
    p_model = goms[0].models[1]
    assert any(t.entropy_model == EntropyModel.CONTEXT for t in p_model.tensors)
    specs = LatentGrids(LatentGridsConfig.from_fields(header.coding.arch), 144, 176, 6).coded_specs()
    network = [t for t, s in zip(p_model.tensors, specs) if s.name.startswith("context.")]
    assert len(network) == 4 and not all(t.is_zero for t in network)
    api.decode(out, tmp_path / "s.y4m", device="cpu")
    compared = api.compare_videos(sample, tmp_path / "s.y4m", with_ms_ssim=False)
    assert compared.quality.psnr_yuv == pytest.approx(report.psnr_yuv, abs=1e-6)


def test_an_i_model_codes_its_grids_under_a_network_fitted_to_their_integers(tmp_path, sample, monkeypatch):
    """Twelve frames, an I-model and a P-model: the I-model's record too is coded again under a
    network fitted to its grids' integers (against zero references), that record is smaller
    than the one under the network its training left, and it is the one the stream holds."""
    calls = []

    def spy(specs, theta, refs, steps, code, coded, size, trained_order=None):
        chosen = with_own_context(specs, theta, refs, steps, code, coded, size, trained_order)
        calls.append((all(not r.any() for r in refs), size(coded), size(chosen), chosen, size))
        return chosen

    monkeypatch.setattr(gop_coding, "with_own_context", spy)
    out = tmp_path / "s.uar"
    settings = tiny_settings(family="latent", gop_size=6, gom_size=2, model_size=100_000, epochs_i=6, epochs_p=4,
                             latent_context=8, latent_motion=0, lmbda=2000.0)
    report = api.encode(sample, out, settings, frames=12, device="cpu")
    assert [zero_refs for zero_refs, *_ in calls] == [True, False]  # the I-model, then the P-model
    _, before, after, chosen, size = calls[0]
    assert after < before
    _, goms = _records(out)
    written = goms[0].models[0]
    assert size(written) == after
    assert all(np.array_equal(t.words, c.words) for t, c in zip(written.tensors, chosen.tensors))
    api.decode(out, tmp_path / "s.y4m", device="cpu")
    compared = api.compare_videos(sample, tmp_path / "s.y4m", with_ms_ssim=False)
    assert compared.quality.psnr_yuv == pytest.approx(report.psnr_yuv, abs=1e-6)
