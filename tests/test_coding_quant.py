"""RQEC quantization: training-time behaviour and the stream-side float32 rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from uarcodec.coding.entropy import encode_tensor, ideal_bits, symbol_range
from uarcodec.coding.quant import (
    DEFAULT_MIN_STD,
    DEFAULT_STEP,
    FixedBitsQuantizer,
    TensorQuantizer,
    dequantize,
    estimate_bits,
    gaussian_bin_log2_mass,
    gaussian_params,
    initial_step,
    interpolated_reference,
    laplace_bin_log2_mass,
    laplace_params,
    quantize_residual,
    rate_bits_together,
)
from uarcodec.errors import UarCodingError
from uarcodec.vocabulary import EntropyModel

GAUSSIAN, LAPLACE = EntropyModel.GAUSSIAN, EntropyModel.LAPLACE

torch.set_num_threads(1)


def trained_like_weights(n: int, seed: int = 0, scale: float = 0.02) -> np.ndarray:
    """Heavy-tailed, zero-centred values like a fitted conv weight."""
    return (np.random.default_rng(seed).standard_t(5, n) * scale).astype(np.float32)


def concentrated_residual(n: int, seed: int = 1) -> np.ndarray:
    """Most entries barely moved from the reference, a few moved a lot (a P-model residual)."""
    rng = np.random.default_rng(seed)
    moved = rng.random(n) < 0.05
    return np.where(moved, rng.normal(0, 0.01, n), rng.normal(0, 1e-4, n)).astype(np.float32)


def coded_bits(theta: np.ndarray, ref: np.ndarray, step: float) -> tuple[float, int]:
    q = quantize_residual(theta, ref, step)
    mean, std = gaussian_params(q)
    enc = encode_tensor(q, mean, std)
    return estimate_bits(q, mean, std), 32 * enc.words.size


# --- the stream side ------------------------------------------------------------------------------


@pytest.mark.parametrize("n,step", [(10_000, 1e-3), (200_000, 2e-3), (50_000, 1e-2), (50_000, 4e-2)])
def test_estimated_bits_match_real_coded_bits_for_weights(n, step):
    w = trained_like_weights(n, seed=n)
    est, real = coded_bits(w, np.zeros_like(w), step)
    assert abs(est / real - 1.0) < 0.05


@pytest.mark.parametrize("step", [1e-4, 1e-3, 5e-3, 2e-2])
def test_estimated_bits_match_real_coded_bits_for_a_residual(step):
    ref = trained_like_weights(100_000, seed=4)
    theta = ref + concentrated_residual(ref.size)
    est, real = coded_bits(theta, ref, step)
    assert abs(est / real - 1.0) < 0.05


def test_training_rate_equals_the_stream_estimate():
    w = trained_like_weights(30_000, seed=2)
    ref = trained_like_weights(30_000, seed=3, scale=0.005)
    quantizer = TensorQuantizer(3e-3)
    rate = quantizer.rate_bits(torch.from_numpy(w), torch.from_numpy(ref), noise=False).item()
    q = quantize_residual(w, ref, quantizer.stream_step())
    assert rate == pytest.approx(estimate_bits(q, *gaussian_params(q)), rel=1e-3)


def test_quantize_residual_is_float32_round_half_to_even():
    step = np.float32(0.25)
    theta = np.array([0.125, 0.375, 0.625, -0.125, -0.375, 1.0], dtype=np.float32)
    q = quantize_residual(theta, np.zeros_like(theta), step)
    assert q.dtype == np.int32 and q.tolist() == [0, 2, 2, 0, -2, 4]
    ref = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    theta = np.array([1.3, -2.7, 0.5], dtype=np.float32)
    want = np.rint((theta - ref) / np.float32(0.1)).astype(np.int32)
    assert np.array_equal(quantize_residual(theta, ref, 0.1), want)


def test_dequantize_is_ref_plus_q_times_step_in_float32():
    rng = np.random.default_rng(9)
    ref = rng.normal(0, 0.1, 1000).astype(np.float32)
    q = rng.integers(-500, 500, 1000).astype(np.int32)
    step = np.float32(7.3e-4)
    out = dequantize(q, ref, step)
    assert out.dtype == np.float32
    want = np.array([np.float32(r + np.float32(np.float32(v) * step)) for r, v in zip(ref, q)], dtype=np.float32)
    assert out.tobytes() == want.tobytes()


@pytest.mark.parametrize("step", [1e-4, 1e-3, 3e-2])
def test_quantize_dequantize_requantize_is_idempotent(step):
    theta = trained_like_weights(50_000, seed=5, scale=0.05)
    for ref in [np.zeros_like(theta), trained_like_weights(theta.size, seed=6, scale=0.05)]:
        q = quantize_residual(theta, ref, step)
        rebuilt = dequantize(q, ref, np.float32(step))
        q2 = quantize_residual(rebuilt, ref, step)
        assert np.array_equal(q, q2)
        assert dequantize(q2, ref, np.float32(step)).tobytes() == rebuilt.tobytes()


def test_gaussian_params_are_float32_mean_and_floored_std():
    q = np.array([-1, 0, 0, 1, 2, 4], dtype=np.int32)
    mean, std = gaussian_params(q, 0.05)
    assert isinstance(mean, np.float32) and isinstance(std, np.float32)
    assert mean == np.float32(q.mean()) and std == np.float32(q.std())
    mean, std = gaussian_params(np.zeros(10, np.int32), 0.05)
    assert mean == 0 and std == np.float32(0.05)


def test_stream_side_rejects_bad_input():
    x = np.ones(4, np.float32)
    for step in [0.0, -1.0, float("nan"), float("inf"), 1e-50]:
        with pytest.raises(UarCodingError):
            quantize_residual(x, x, step)
        with pytest.raises(UarCodingError):
            dequantize(np.zeros(4, np.int32), x, step)
    with pytest.raises(UarCodingError):
        quantize_residual(x, np.ones(5, np.float32), 0.1)
    with pytest.raises(UarCodingError):
        quantize_residual(np.array([1e3], np.float32), np.zeros(1, np.float32), 1e-5)  # |q| > 2**24
    with pytest.raises(UarCodingError):
        quantize_residual(np.array([np.nan], np.float32), np.zeros(1, np.float32), 0.1)


def test_interpolated_reference_order_and_ends():
    rng = np.random.default_rng(10)
    seed = rng.normal(0, 0.1, 500).astype(np.float32)
    prev = rng.normal(0, 0.1, 500).astype(np.float32)
    assert interpolated_reference(seed, prev, 1.0).tobytes() == seed.tobytes()
    assert interpolated_reference(seed, prev, 0.0).tobytes() == prev.tobytes()
    eps = 0.3
    e = np.float32(eps)
    w = np.float32(np.float32(1) - e)
    want = np.array([np.float32(np.float32(e * s) + np.float32(w * p)) for s, p in zip(seed, prev)], np.float32)
    assert interpolated_reference(seed, prev, eps).tobytes() == want.tobytes()
    with pytest.raises(UarCodingError):
        interpolated_reference(seed, prev, 1.5)


# --- the training side ----------------------------------------------------------------------------


def test_i_model_case_is_plain_rounding_against_zero():
    theta = torch.from_numpy(trained_like_weights(1000, seed=7))
    quantizer = TensorQuantizer(1e-3)
    out = quantizer.quantize_ste(theta, torch.zeros_like(theta))
    assert torch.equal(out, torch.round(theta / quantizer.step()) * quantizer.step())
    # and the stream side agrees with what the network saw
    q = quantize_residual(theta.numpy(), np.zeros(1000, np.float32), quantizer.stream_step())
    rebuilt = dequantize(q, np.zeros(1000, np.float32), quantizer.stream_step())
    assert np.allclose(rebuilt, out.detach().numpy(), rtol=0, atol=1e-9)


def test_rate_decreases_when_the_step_grows():
    w = torch.from_numpy(trained_like_weights(20_000, seed=8))
    ref = torch.zeros_like(w)
    rates = [TensorQuantizer(step).rate_bits(w, ref, noise=False).item() for step in [1e-4, 1e-3, 4e-3, 1e-2, 5e-2]]
    assert all(a > b for a, b in zip(rates, rates[1:]))
    torch.manual_seed(0)
    noisy = [TensorQuantizer(step).rate_bits(w, ref, noise=True).item() for step in [1e-4, 1e-3, 1e-2, 5e-2]]
    assert all(a > b for a, b in zip(noisy, noisy[1:]))


@pytest.mark.parametrize("path", ["distortion", "rate_noise", "rate_round"])
def test_gradients_reach_theta_and_step(path):
    torch.manual_seed(1)
    theta = (torch.randn(4096) * 0.02).requires_grad_()
    ref = torch.randn(4096) * 0.01
    quantizer = TensorQuantizer(2e-3)
    if path == "distortion":
        target = torch.randn(4096) * 0.02
        loss = ((quantizer.quantize_ste(theta, ref) - target) ** 2).sum()
    else:
        loss = quantizer.rate_bits(theta, ref, noise=(path == "rate_noise"))
    loss.backward()
    assert theta.grad is not None and torch.isfinite(theta.grad).all() and theta.grad.abs().sum() > 0
    assert quantizer.log_step.grad is not None and torch.isfinite(quantizer.log_step.grad)
    assert quantizer.log_step.grad.abs() > 0
    if path != "distortion":
        assert quantizer.log_step.grad < 0  # a larger step lowers the rate
        assert not ref.requires_grad


def test_rate_pulls_residuals_towards_the_reference_and_lowers_bits():
    torch.manual_seed(2)
    ref = torch.randn(5000) * 0.05
    theta = (ref + torch.randn(5000) * 0.01).requires_grad_()
    quantizer = TensorQuantizer(1e-3)
    before = quantizer.rate_bits(theta, ref, noise=False).item()
    for _ in range(20):  # plain gradient descent on the rate alone
        (grad,) = torch.autograd.grad(quantizer.rate_bits(theta, ref, noise=True), theta)
        with torch.no_grad():
            theta -= 1e-7 * grad
    after = quantizer.rate_bits(theta, ref, noise=False).item()
    assert after < before


def test_rate_model_is_finite_in_extreme_cases():
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor([-1e6, -60.0, -3.0, -0.5, 0.0, 0.4, 7.0, 1e4, 1e7], dtype=dtype, requires_grad=True)
        for mean, std in [(0.0, 0.05), (0.3, 1.0), (0.0, 1e6), (-5.0, 1e-3)]:
            bits = -gaussian_bin_log2_mass(x, torch.tensor(mean, dtype=dtype), torch.tensor(std, dtype=dtype))
            assert torch.isfinite(bits).all()
            assert (bits >= -1e-6).all() and (bits <= 24.0 + 1e-3).all()  # the coder's 2**-24 leak
            (grad,) = torch.autograd.grad(bits.sum(), x)
            assert torch.isfinite(grad).all()


def test_rate_model_matches_a_direct_gaussian_bin_mass():
    x = torch.arange(-20, 21, dtype=torch.float64)
    bits = -gaussian_bin_log2_mass(x, torch.tensor(0.7, dtype=torch.float64), torch.tensor(4.0, dtype=torch.float64))

    def cdf(v: float) -> float:
        return 0.5 * math.erfc(-(v - 0.7) / (4.0 * math.sqrt(2.0)))

    want = [-math.log2((1 - 2.0**-24) * (cdf(v + 0.5) - cdf(v - 0.5)) + 2.0**-24) for v in x.tolist()]
    assert np.allclose(bits.numpy(), want, rtol=1e-9, atol=1e-9)


def test_initial_step_from_settings():
    theta = torch.linspace(-0.5, 0.5, 101)
    assert initial_step(theta, 8) == pytest.approx(1.0 / 255)
    assert initial_step(torch.zeros(10), 8) == DEFAULT_STEP
    assert initial_step(torch.full((4,), 0.6), 8) == pytest.approx(0.6 / 127)
    quantizer = TensorQuantizer(initial_step(theta, 6), min_std=0.1)
    assert quantizer.step().item() == pytest.approx(1.0 / 63, rel=1e-6) and quantizer.min_std == 0.1
    with pytest.raises(UarCodingError):
        TensorQuantizer(0.0)


def test_fixed_bits_quantizer_is_qat_without_rate():
    theta = (torch.randn(2000) * 0.1).requires_grad_()
    ref = torch.zeros(2000)
    fixed = FixedBitsQuantizer(bits=6)
    out = fixed.quantize_ste(theta, ref)
    step = fixed.step_for(theta, ref)
    assert step.item() == pytest.approx(theta.detach().abs().max().item() / 31)
    codes = torch.round(out.detach() / step)
    assert codes.abs().max() <= 31 and torch.allclose(codes * step, out.detach())
    out.sum().backward()
    assert torch.equal(theta.grad, torch.ones(2000))
    assert fixed.rate_bits(theta, ref).item() == 0.0
    assert fixed.stream_step(theta, ref) == np.float32(step.item())


# --- model 1: the quantized Laplace ---------------------------------------------------------------


def sparse_codes(shape, seed: int, zeros: float = 0.9, scale: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = np.round(rng.laplace(0.0, scale, shape)).astype(np.int32)
    q[rng.random(shape) < zeros] = 0
    return q


def test_laplace_params_are_float32_mean_and_floored_mean_absolute_deviation():
    q = np.array([-1, 0, 0, 1, 2, 4], dtype=np.int32)
    loc, scale = laplace_params(q, 0.05)
    assert isinstance(loc, np.float32) and isinstance(scale, np.float32)
    assert loc == np.float32(q.mean())
    assert scale == np.float32(np.mean(np.abs(q - np.float64(loc))))
    loc, scale = laplace_params(np.zeros(10, np.int32), 0.05)
    assert loc == 0 and scale == np.float32(0.05)
    assert laplace_params(np.zeros(0, np.int32)) == (np.float32(0.0), np.float32(1.0))
    # the scale is the MLE of b at that location: nearby scales fit worse
    q = sparse_codes(5000, seed=1)
    loc, b = laplace_params(q)
    def nll(scale):
        return float(np.sum(np.abs(q - np.float64(loc)) / scale + np.log(2 * scale)))
    assert nll(b) < nll(b * 1.05) and nll(b) < nll(b / 1.05)
    with pytest.raises(UarCodingError):
        laplace_params(np.zeros(4, np.int32), 0.0)


def test_laplace_rate_model_matches_a_direct_laplace_bin_mass():
    x = torch.arange(-30, 31, dtype=torch.float64) * 0.5
    for loc, b in [(0.7, 4.0), (0.0, 0.3), (-2.2, 1.0), (0.0, 500.0)]:
        bits = -laplace_bin_log2_mass(x, torch.tensor(loc, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))

        def cdf(v: float) -> float:
            return 0.5 * math.exp((v - loc) / b) if v <= loc else 1.0 - 0.5 * math.exp(-(v - loc) / b)

        want = [-math.log2((1 - 2.0**-24) * (cdf(v + 0.5) - cdf(v - 0.5)) + 2.0**-24) for v in x.tolist()]
        assert np.allclose(bits.numpy(), want, rtol=1e-9, atol=1e-9)


def test_laplace_rate_model_is_finite_in_extreme_cases():
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor([-1e6, -60.0, -3.0, -0.5, 0.0, 0.4, 0.5, 7.0, 1e4, 1e7], dtype=dtype, requires_grad=True)
        for loc, b in [(0.0, 0.05), (0.3, 1.0), (0.0, 1e6), (-5.0, 1e-3), (0.5, 1e-3), (0.0, 1e-6)]:
            bits = -laplace_bin_log2_mass(x, torch.tensor(loc, dtype=dtype), torch.tensor(b, dtype=dtype))
            assert torch.isfinite(bits).all()
            assert (bits >= -1e-6).all() and (bits <= 24.0 + 1e-3).all()  # the coder's 2**-24 leak
            (grad,) = torch.autograd.grad(bits.sum(), x)
            assert torch.isfinite(grad).all()
        scale = torch.tensor(0.7, dtype=dtype, requires_grad=True)
        bits = -laplace_bin_log2_mass(x.detach(), torch.tensor(0.1, dtype=dtype), scale).sum()
        (grad,) = torch.autograd.grad(bits, scale)
        assert torch.isfinite(grad)


@pytest.mark.parametrize("scale", [0.3, 1.0, 3.0, 20.0])
def test_laplace_estimate_matches_ideal_and_coded_bits(scale):
    q = sparse_codes(50_000, seed=int(scale * 10), zeros=0.7, scale=scale)
    loc, b = laplace_params(q)
    est = estimate_bits(q, loc, b, LAPLACE)
    lo, hi = symbol_range(q)
    ideal = ideal_bits(q, loc, b, lo, hi, model=LAPLACE)
    # the same model up to the coder's tails folded into lo/hi and its 24-bit fixed point
    # (the Gaussian estimate is off by up to ~0.3% on the same codes)
    assert abs(est - ideal) < 5e-3 * ideal
    real = 32 * encode_tensor(q, loc, b, model=LAPLACE).words.size
    assert abs(est / real - 1.0) < 0.01


def test_laplace_codes_sparse_residual_codes_in_fewer_bits_than_the_gaussian():
    q = sparse_codes(100_000, seed=3, zeros=0.9, scale=5.0)
    gauss = 32 * encode_tensor(q, *gaussian_params(q)).words.size
    lap = 32 * encode_tensor(q, *laplace_params(q), model=LAPLACE).words.size
    assert lap < 0.8 * gauss
    assert estimate_bits(q, *laplace_params(q), LAPLACE) < 0.8 * estimate_bits(q, *gaussian_params(q))


def test_laplace_training_rate_equals_the_stream_estimate():
    ref = trained_like_weights(30_000, seed=3, scale=0.005)
    q_true = sparse_codes(30_000, seed=4)
    quantizer = TensorQuantizer(3e-3)
    step = quantizer.stream_step()
    w = ref + q_true.astype(np.float32) * step
    rate = quantizer.rate_bits(torch.from_numpy(w), torch.from_numpy(ref), noise=False, model=LAPLACE).item()
    q = quantize_residual(w, ref, step)
    assert np.mean(q == 0) > 0.85
    assert rate == pytest.approx(estimate_bits(q, *laplace_params(q), LAPLACE), rel=1e-3)
    gaussian = quantizer.rate_bits(torch.from_numpy(w), torch.from_numpy(ref), noise=False, model=GAUSSIAN).item()
    assert gaussian == quantizer.rate_bits(torch.from_numpy(w), torch.from_numpy(ref), noise=False).item()
    assert rate < gaussian


@pytest.mark.parametrize("model", [GAUSSIAN, LAPLACE])
def test_temporal_rate_prices_the_first_dimension_differences(model):
    # per-frame embeddings: a slow random walk over T frames, coded as temporal differences
    rng = np.random.default_rng(5)
    steps = sparse_codes((24, 8, 16), seed=6, zeros=0.8, scale=1.5)
    steps[0] = np.round(rng.normal(0, 40, (8, 16)))
    q_true = np.cumsum(steps, axis=0).astype(np.int32)
    quantizer = TensorQuantizer(1e-2)
    step = quantizer.stream_step()
    ref = np.zeros(q_true.shape, np.float32)
    w = q_true.astype(np.float32) * step
    q = quantize_residual(w, ref, step)
    assert np.array_equal(q, q_true)
    dq = np.concatenate([q[:1], np.diff(q, axis=0)], axis=0)
    params = laplace_params if model == LAPLACE else gaussian_params
    rate = quantizer.rate_bits(torch.from_numpy(w), torch.from_numpy(ref), noise=False, model=model, temporal=True)
    assert rate.item() == pytest.approx(estimate_bits(dq, *params(dq), model), rel=1e-3)
    plain = quantizer.rate_bits(torch.from_numpy(w), torch.from_numpy(ref), noise=False, model=model).item()
    assert plain == pytest.approx(estimate_bits(q, *params(q), model), rel=1e-3)
    assert rate.item() < plain  # the differences are what make the walk cheap
    # a single frame is priced as itself
    w1, ref1 = torch.from_numpy(w[:1]), torch.from_numpy(ref[:1])
    one = quantizer.rate_bits(w1, ref1, noise=False, model=model, temporal=True)
    assert one.item() == pytest.approx(estimate_bits(q[:1], *params(q[:1]), model), rel=1e-3)
    with pytest.raises(UarCodingError):
        quantizer.rate_bits(torch.tensor(1.0), torch.tensor(0.0), model=model, temporal=True)


@pytest.mark.parametrize("temporal", [False, True])
@pytest.mark.parametrize("noise", [False, True])
def test_laplace_rate_gradients_reach_theta_and_step(noise, temporal):
    torch.manual_seed(3)
    ref = torch.randn(16, 256) * 0.01
    moved = (torch.rand(16, 256) < 0.1).float()
    theta = (ref + moved * torch.randn(16, 256) * 0.02 + torch.randn(16, 256) * 1e-4).requires_grad_()
    quantizer = TensorQuantizer(2e-3)
    loss = quantizer.rate_bits(theta, ref, noise=noise, model=LAPLACE, temporal=temporal)
    loss.backward()
    assert torch.isfinite(loss)
    assert theta.grad is not None and torch.isfinite(theta.grad).all() and theta.grad.abs().sum() > 0
    assert quantizer.log_step.grad is not None and torch.isfinite(quantizer.log_step.grad)
    assert quantizer.log_step.grad < 0  # a larger step lowers the rate


def test_laplace_rate_of_constant_and_tiny_tensors_is_finite():
    quantizer = TensorQuantizer(1e-3)
    for theta in [torch.zeros(100), torch.zeros(1), torch.zeros(0), torch.full((5, 3), 0.25)]:
        for temporal in (False, True):
            t = theta.clone().requires_grad_()
            rate = quantizer.rate_bits(t, torch.zeros_like(theta), noise=False, model=LAPLACE, temporal=temporal)
            assert torch.isfinite(rate) and rate.item() >= 0
            rate.backward()
            assert t.grad is None or torch.isfinite(t.grad).all()


def test_model_codes_are_checked_on_the_rate_side():
    q = np.array([0, 0, 1, -1], np.int32)
    assert estimate_bits(q, 0.0, 0.5, 1) == estimate_bits(q, 0.0, 0.5, LAPLACE)
    assert estimate_bits(q, 0.0, 0.5, 0) == estimate_bits(q, 0.0, 0.5)
    quantizer = TensorQuantizer(1e-3)
    for bad in [2, -1, True, "LAPLACE"]:
        with pytest.raises(UarCodingError):
            estimate_bits(q, 0.0, 0.5, bad)
        with pytest.raises(UarCodingError):
            quantizer.rate_bits(torch.zeros(4), torch.zeros(4), model=bad)


def test_fixed_bits_quantizer_accepts_and_ignores_the_rate_keywords():
    theta = torch.randn(8, 30) * 0.1
    fixed = FixedBitsQuantizer(bits=6)
    for model in (GAUSSIAN, LAPLACE):
        for temporal in (False, True):
            assert fixed.rate_bits(theta, torch.zeros_like(theta), False, model=model, temporal=temporal).item() == 0.0
    assert DEFAULT_MIN_STD == 0.05


@pytest.mark.parametrize("model", [EntropyModel.LAPLACE, EntropyModel.GAUSSIAN], ids=["laplace", "gaussian"])
@pytest.mark.parametrize("noise", [False, True], ids=["rounded", "noise"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "mostly-zero"])
def test_rate_of_all_tensors_together_is_the_sum_of_each_tensors_rate(model, noise, sparse):
    """The fit prices every coded tensor in one pass (``rate_bits_together``): the same bits,
    and the same gradients for the values and the steps, as pricing them one by one, with
    temporal differences, an empty and a one-value tensor among them; also where most codes
    are 0, as a P-model's residuals (the zeros' masses then taken once per tensor)."""
    from uarcodec.coding.quant import rate_bits_together

    gen = torch.Generator().manual_seed(0)
    shapes = [(8, 4, 3, 3), (8,), (1,), (0,), (5, 3, 2, 2), (16, 16)]
    temporal = [False, False, False, False, True, False]
    refs = [torch.randn(s, generator=gen) * 0.1 for s in shapes]
    thetas = [torch.randn(s, generator=gen) for s in shapes]
    if sparse:  # about 85% of the residuals round to 0
        thetas = [r + t * (torch.rand(t.shape, generator=gen) < 0.15) for r, t in zip(refs, thetas)]
    thetas = [t.requires_grad_() for t in thetas]
    quantizers = [TensorQuantizer(0.05 * (i + 1)) for i in range(len(shapes))]
    leaves = thetas + [q.log_step for q in quantizers]
    draws = torch.Generator().manual_seed(5)  # the same noise draws, in the same order, for both
    one_by_one = sum(q.rate_bits(t, r, noise, model=model, temporal=d, generator=draws)
                     for q, t, r, d in zip(quantizers, thetas, refs, temporal))
    together = rate_bits_together(quantizers, thetas, refs, noise=noise, model=model, temporal=temporal,
                                  generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(together, one_by_one, rtol=1e-5, atol=1e-3)
    for a, b in zip(torch.autograd.grad(one_by_one, leaves), torch.autograd.grad(together, leaves)):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("together", [False, True])
def test_laplace_rate_gradient_follows_the_real_rate_for_codes_far_from_zero(together):
    """A coarser step codes fewer bits, and the rate's gradient says so, also for a tensor
    whose values sit close together far from 0 (LayerNorm scales near 1). With the Laplace's
    location (the mean) detached, its gradient had the wrong sign there and training drove
    such steps to 0 until their codes overflowed."""
    theta = 1.0 + 0.01 * torch.randn(56, generator=torch.Generator().manual_seed(0)).exp()
    ref = torch.zeros(56)

    def bits(quantizer):
        if together:
            return rate_bits_together([quantizer], [theta], [ref], noise=False, model=EntropyModel.LAPLACE,
                                      temporal=[False])
        return quantizer.rate_bits(theta, ref, noise=False, model=EntropyModel.LAPLACE)

    for step in (1e-3, 1e-4):
        quantizer = TensorQuantizer(step)
        (grad,) = torch.autograd.grad(bits(quantizer), [quantizer.log_step])
        finer, coarser = (bits(TensorQuantizer(step * math.exp(d))).item() for d in (-0.05, 0.05))
        slope = (coarser - finer) / 0.1
        assert slope < 0
        assert grad.item() < 0 and abs(grad.item() - slope) < 0.3 * abs(slope)
