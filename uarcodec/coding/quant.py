"""RQEC: per-tensor scalar quantization of parameter residuals and their rate.

Training side (torch): :class:`TensorQuantizer` holds one trainable step per coded tensor
(paper Eq. 4-7). The distortion path rounds ``(theta - ref) / step`` with a straight-through
estimator; the rate path prices the codes under a discretised Gaussian (or Laplace, for sparse
residuals) fitted to the tensor's own codes, the same model the entropy coder uses.

Stream side (numpy, float32, fixed operation order): :func:`quantize_residual`,
:func:`gaussian_params`, :func:`laplace_params`, :func:`dequantize` are the single source of
truth both the encoder and the decoder call; ``bitstream_spec.md (sections 11-13)`` specifies
the reconstruction normatively.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from uarcodec.coding.entropy import entropy_model
from uarcodec.errors import UarCodingError
from uarcodec.vocabulary import EntropyModel

DEFAULT_MIN_STD = 0.05  # floor of the Gaussian std (and the Laplace scale), in symbol (step) units
DEFAULT_STEP = 2.0**-10  # initial step of a tensor with no spread (all-zero biases, ...)
# The coder gives every symbol of the range at least 2**-24 of probability mass (24-bit leaky
# quantizer); the rate model adds that floor so a far outlier costs about 24 bits, as coded.
LEAK_PROBABILITY = 2.0**-24
_SQRT1_2 = math.sqrt(0.5)
MAX_ABS_SYMBOL = 1 << 24  # |q| beyond this is refused (float32(q) must be exact)


def initial_step(theta: Tensor | np.ndarray, bits: int) -> float:
    """A starting step for a tensor: ``(max - min) / (2**bits - 1)`` of its values, so that
    the values span ``bits`` bits of codes; ``max|theta| / (2**(bits-1) - 1)`` when the range is
    zero but the values are not; :data:`DEFAULT_STEP` for an all-equal-zero tensor."""
    if bits < 2 or bits > 24:
        raise UarCodingError(f"init bits must be in [2, 24], got {bits}")
    t = torch.as_tensor(theta).detach().to(torch.float64)
    if t.numel() == 0 or not bool(torch.isfinite(t).all()):
        return DEFAULT_STEP
    span = float(t.max() - t.min())
    if span > 0.0:
        return span / (2**bits - 1)
    peak = float(t.abs().max())
    return peak / (2 ** (bits - 1) - 1) if peak > 0.0 else DEFAULT_STEP


def round_ste(x: Tensor) -> Tensor:
    """Round half to even forward, identity gradient backward."""
    return x + (torch.round(x) - x).detach()


def gaussian_bin_log2_mass(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """``log2((1 - 2**-24) * p + 2**-24)`` where ``p`` is the Gaussian mass on
    ``[x - 1/2, x + 1/2]``: the coder's 2**-24 leak keeps every code at most 24 bits.

    Numerically safe: the bin is reflected to the right of the mean; a bin in the tail uses a
    difference of ``erfc`` (accurate where ``erf`` would cancel), a bin across the mean a sum of
    ``erf`` (no cancellation). Tail masses too small for ``erfc`` are far below the leak, so the
    result stays exact to float precision; both branches have finite gradients everywhere.
    """
    d = torch.abs(x - mean)
    a = (d - 0.5) / std * _SQRT1_2  # bin edges in erf units, a < b
    b = (d + 0.5) / std * _SQRT1_2
    tail = 0.5 * (torch.erfc(a) - torch.erfc(b))
    central = 0.5 * (torch.erf(b) + torch.erf(-a))
    mass = torch.clamp(torch.where(a >= 0.0, tail, central), min=0.0)
    return torch.log2(mass * (1.0 - LEAK_PROBABILITY) + LEAK_PROBABILITY)


def laplace_bin_log2_mass(x: Tensor, mean: Tensor, scale: Tensor) -> Tensor:
    """``log2((1 - 2**-24) * p + 2**-24)`` where ``p`` is the mass of Laplace(``mean``,
    ``scale``) on ``[x - 1/2, x + 1/2]``: the Laplace counterpart of
    :func:`gaussian_bin_log2_mass` (same 2**-24 leak).

    Numerically safe: the bin is reflected to the right of the location (``d = |x - mean|``).
    A bin entirely on one side (near edge ``a = d - 1/2 >= 0``) has mass
    ``0.5 * exp(-a/b) * (1 - exp(-1/b))``, the second factor as ``-expm1(-1/b)`` (no
    cancellation for a large scale); a bin across the location (edge distances ``u = 1/2 - d``
    and ``c = d + 1/2``) has ``1 - exp(-u/b)/2 - exp(-c/b)/2 = -(expm1(-u/b) + expm1(-c/b)) / 2``
    (no cancellation for a large scale either). Each branch sees its arguments clamped to its
    own domain, so neither overflows where it is not selected and the gradients stay finite
    everywhere.
    """
    d = torch.abs(x - mean)
    a = torch.clamp(d - 0.5, min=0.0)  # near edge of a one-sided bin
    u = torch.clamp(0.5 - d, min=0.0)  # left edge distance of a straddling bin
    c = d + 0.5  # far edge
    one_sided = 0.5 * torch.exp(-a / scale) * -torch.expm1(-1.0 / scale)
    straddling = -0.5 * (torch.expm1(-u / scale) + torch.expm1(-c / scale))
    mass = torch.clamp(torch.where(d >= 0.5, one_sided, straddling), min=0.0, max=1.0)
    return torch.log2(mass * (1.0 - LEAK_PROBABILITY) + LEAK_PROBABILITY)


def bin_log2_mass(x: Tensor, mean: Tensor, std: Tensor, model: EntropyModel = EntropyModel.GAUSSIAN) -> Tensor:
    """:func:`gaussian_bin_log2_mass` or :func:`laplace_bin_log2_mass` (``std`` = scale)."""
    if entropy_model(model) == EntropyModel.GAUSSIAN:
        return gaussian_bin_log2_mass(x, mean, std)
    return laplace_bin_log2_mass(x, mean, std)


def temporal_differences(x: Tensor) -> Tensor:
    """``x[0]`` and ``x[t] - x[t-1]`` for ``t >= 1`` along the first dimension (same shape as
    ``x``): what the stream codes for per-frame values coded as temporal differences."""
    if x.dim() == 0:
        raise UarCodingError("temporal differences need a tensor with a first (time) dimension")
    if x.shape[0] <= 1:
        return x
    return torch.cat([x[:1], x[1:] - x[:-1]], dim=0)


def _fit_laplace(x: Tensor, min_scale: float) -> tuple[Tensor, Tensor]:
    """Location (mean) and scale (mean absolute deviation from it) of the codes, scale floored
    at ``min_scale``: the same fit as :func:`laplace_params` on the stream side.

    The scale is detached (at the fitted scale the rate's derivative with respect to it is
    ~0). The location is not: the mean is not the Laplace's best location (the median is), so
    the rate does depend on it, and with it detached a tensor of codes far from 0 and close to
    each other (LayerNorm scales near 1) got a rate gradient of the wrong sign that drove its
    step towards 0."""
    if x.numel() == 0:
        return x.detach().new_tensor(0.0), x.detach().new_tensor(min_scale)
    loc = x.mean()
    return loc, torch.clamp((x.detach() - loc.detach()).abs().mean(), min=min_scale)


def _fit_gaussian(x: Tensor, min_std: float) -> tuple[Tensor, Tensor]:
    """Mean and population std of the codes, detached, std floored at ``min_std``.

    Detached: at the fitted parameters the rate's derivative with respect to them is ~0, so the
    gradient through them would add cost and noise but no signal.
    """
    xd = x.detach()
    mean = xd.mean()
    std = torch.clamp(xd.std(correction=0), min=min_std) if xd.numel() > 1 else xd.new_tensor(min_std)
    return mean, std


class TensorQuantizer(nn.Module):
    """The RQEC quantizer of one coded tensor: a trainable step ``exp(log_step)``."""

    def __init__(self, init_step: float, min_std: float = DEFAULT_MIN_STD):
        super().__init__()
        if not (math.isfinite(init_step) and init_step > 0.0):
            raise UarCodingError(f"initial step must be finite and > 0, got {init_step}")
        if not (math.isfinite(min_std) and min_std > 0.0):
            raise UarCodingError(f"min_std must be finite and > 0, got {min_std}")
        self.log_step = nn.Parameter(torch.tensor(math.log(init_step), dtype=torch.float32))
        self.min_std = float(min_std)

    def step(self) -> Tensor:
        return torch.exp(self.log_step)

    def step_for(self, theta: Tensor | None = None, ref: Tensor | None = None) -> Tensor:
        """The step in use (same interface as :class:`FixedBitsQuantizer`)."""
        return self.step()

    def stream_step(self, theta: Tensor | None = None, ref: Tensor | None = None) -> np.float32:
        """The float32 step written to the stream (``theta``/``ref`` unused: same interface as
        :class:`FixedBitsQuantizer`)."""
        return np.float32(self.step().detach().item())

    def codes(self, theta: Tensor, ref: Tensor) -> Tensor:
        """Unrounded codes ``(theta - ref) / step``; ``ref`` is a constant (detached)."""
        return (theta - ref.detach()) / self.step()

    def quantize_ste(self, theta: Tensor, ref: Tensor) -> Tensor:
        """``ref + round((theta - ref) / step) * step``: the parameters the forward pass uses.
        Gradients reach ``theta`` (straight through) and the step (``round(x) - x``, LSQ)."""
        return ref.detach() + round_ste(self.codes(theta, ref)) * self.step()

    def rate_bits(
        self,
        theta: Tensor,
        ref: Tensor,
        noise: bool = True,
        *,
        model: EntropyModel = EntropyModel.GAUSSIAN,
        temporal: bool = False,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Estimated coded size of the tensor's residual, in bits (scalar, differentiable).

        ``x = (theta - ref) / step`` plus U(-1/2, 1/2) noise drawn from ``generator``
        (``noise=True``, training; a seeded generator keeps the fit reproducible) or
        rounded straight-through (``noise=False``). With ``temporal=True`` the priced values are
        ``x[0]`` and ``x[t] - x[t-1]`` along the first dimension (per-frame values coded as
        temporal differences) instead of ``x``. They are priced under the discretised Gaussian
        (``model=GAUSSIAN``: detached mean/std fitted to them, std floored at ``min_std``) or
        Laplace (``LAPLACE``: detached location = mean, scale = mean absolute deviation, floored
        at ``min_std``), as :func:`gaussian_params` / :func:`laplace_params` fit the stream's.
        """
        kind = entropy_model(model)
        x = self.priced_values(theta, ref, noise, temporal=temporal, generator=generator)
        if kind == EntropyModel.GAUSSIAN:
            mean, std = _fit_gaussian(x, self.min_std)
            return -gaussian_bin_log2_mass(x, mean, std).sum()
        loc, scale = _fit_laplace(x, self.min_std)
        return -laplace_bin_log2_mass(x, loc, scale).sum()

    def priced_values(
        self, theta: Tensor, ref: Tensor, noise: bool, *, temporal: bool = False,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The values :meth:`rate_bits` prices: the codes with noise or rounded straight
        through, as temporal differences where asked (float32 at least)."""
        x = self.codes(theta, ref)
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        if noise:
            x = x + (_uniform(x.shape, generator, x.device) - 0.5)
        else:
            x = round_ste(x)
        return temporal_differences(x) if temporal else x


def rate_bits_together(
    quantizers: Sequence[nn.Module], thetas: Sequence[Tensor], refs: Sequence[Tensor], *, noise: bool,
    model: EntropyModel, temporal: Sequence[bool], generator: torch.Generator | None = None,
    weights: Sequence[float] | None = None,
) -> Tensor:
    """``sum(q.rate_bits(theta, ref, ...))`` over the coded tensors, computed in one pass over
    all their values: each tensor's location and spread are fitted as sums over its segment of
    one concatenated vector, and the bin masses of every value are taken in one call. The same
    bits as the per-tensor sum to float rounding, in a few dozen operations instead of about
    twenty per tensor (HiNeRV codes over a hundred tensors).

    ``weights`` (one per tensor, default 1) multiply each tensor's bits: a fit that prices a
    sample of a tensor's rows weights them by the tensor's rows over the sample's."""
    scale = [1.0] * len(thetas) if weights is None else list(weights)
    if not all(isinstance(q, TensorQuantizer) for q in quantizers):
        return sum(w * q.rate_bits(t, r, noise, model=model, temporal=d, generator=generator)
                   for q, t, r, d, w in zip(quantizers, thetas, refs, temporal, scale))
    values = [q.priced_values(t, r, noise, temporal=d, generator=generator).reshape(-1)
              for q, t, r, d in zip(quantizers, thetas, refs, temporal)]
    x = torch.cat(values)
    counts, segment, floor = _segments(tuple(v.numel() for v in values), tuple(q.min_std for q in quantizers),
                                       x.device, x.dtype)
    n = counts.clamp(min=1).to(x.dtype)
    xd = x.detach()
    laplace = entropy_model(model) == EntropyModel.LAPLACE  # its location's gradient flows (_fit_laplace)
    loc = torch.zeros(len(values), device=x.device, dtype=x.dtype).index_add_(0, segment, x if laplace else xd)
    loc = loc / n
    centred = xd - loc.detach()[segment]
    if entropy_model(model) == EntropyModel.GAUSSIAN:
        spread = torch.sqrt(torch.zeros_like(loc).index_add_(0, segment, centred * centred) / n)
        spread = torch.where(counts > 1, spread, floor)
    else:
        spread = torch.zeros_like(loc).index_add_(0, segment, centred.abs()) / n
    spread = torch.maximum(spread, floor)
    zero = xd == 0 if x.device.type == "cpu" else None  # counting them is a host sync on a GPU
    if zero is not None and int(zero.sum()) >= ZERO_SHARE * x.numel():
        per_tensor = _log2_mass_apart_from_zeros(x, zero, loc, spread, segment, counts, model)
    else:
        log2_mass = bin_log2_mass(x, loc[segment], spread[segment], model)
        if weights is None:
            return -log2_mass.sum()
        per_tensor = torch.zeros_like(loc).index_add_(0, segment, log2_mass)
    if weights is None:
        return -per_tensor.sum()
    return -(per_tensor * torch.tensor(scale, dtype=x.dtype, device=x.device)).sum()


# The share of the priced values that must be exactly 0 for their bin masses to be taken once per
# tensor (:func:`_log2_mass_apart_from_zeros`): a P-model's residuals are mostly 0 (cockatoo's latent
# P-model 93%); docs/latent_grids.md, "Resting values priced once".
ZERO_SHARE = 0.5


def _log2_mass_apart_from_zeros(
    x: Tensor, zero: Tensor, loc: Tensor, spread: Tensor, segment: Tensor, counts: Tensor, model: EntropyModel
) -> Tensor:
    """Each tensor's sum of its values' log2 bin masses under (``loc``, ``spread``) of its
    segment, its zeros (``zero``: where ``x`` is exactly 0) taken as one zero's mass times their
    count, their gradients as that zero's slope (carried by a term that is 0 in the forward
    pass): the same sums and gradients as every value's mass, to float rounding, with the masses
    of the other values alone. (On a CPU only: counting the zeros is a host sync, and a GPU
    takes every value's mass at once at little cost.)"""
    busy = (~zero).nonzero().squeeze(1)
    at = segment[busy]
    per_tensor = torch.zeros_like(loc).index_add_(0, at, bin_log2_mass(x[busy], loc[at], spread[at], model))
    zeros = (counts - torch.bincount(at, minlength=len(counts))).to(x.dtype)
    origin = torch.zeros_like(loc, requires_grad=x.requires_grad)
    at_zero = bin_log2_mass(origin, loc, spread, model)
    per_tensor = per_tensor + zeros * at_zero
    if x.requires_grad:
        (slope,) = torch.autograd.grad(at_zero.sum(), origin, retain_graph=True)
        carried = (x - x.detach()) * (zero * slope[segment])  # 0, with the zeros' gradients
        per_tensor = per_tensor + torch.zeros_like(loc).index_add_(0, segment, carried)
    return per_tensor


def _uniform(shape: torch.Size, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """U(0, 1) values on ``device``, drawn from ``generator``: on the generator's own device
    (a CUDA fit passes a CUDA generator, so no host copy per step), else on the CPU and moved."""
    if generator is None or generator.device == device:
        return torch.rand(shape, generator=generator, device=device)
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


@functools.lru_cache(maxsize=64)
def _segments(
    sizes: tuple[int, ...], floors: tuple[float, ...], device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-tensor value counts, each value's tensor index and the spread floors, built once per
    layout and device: a fit reuses them at every step (on CUDA a rebuild would be a host copy
    and a sync per step). Read-only: callers never write into them."""
    counts = torch.tensor(sizes, device=device)
    segment = torch.repeat_interleave(torch.arange(len(sizes), device=device), counts, output_size=sum(sizes))
    floor = torch.tensor(floors, device=device, dtype=dtype)
    return counts, segment, floor


class FixedBitsQuantizer(nn.Module):
    """The paper's *base* variant: QAT at a fixed bit width without a rate term.

    The step is ``max|theta - ref| / (2**(bits-1) - 1)`` of the current values (recomputed at
    every call, not trained), so the codes lie in ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]``.
    ``rate_bits`` returns 0 (same interface as :class:`TensorQuantizer`).
    """

    def __init__(self, bits: int = 8):
        super().__init__()
        if not 2 <= bits <= 24:
            raise UarCodingError(f"fixed bit width must be in [2, 24], got {bits}")
        self.bits = int(bits)

    def step_for(self, theta: Tensor, ref: Tensor) -> Tensor:
        peak = (theta.detach() - ref.detach()).abs().max() if theta.numel() else theta.new_tensor(0.0)
        step = peak / (2 ** (self.bits - 1) - 1)
        return torch.where(step > 0, step, torch.full_like(step, DEFAULT_STEP))

    def stream_step(self, theta: Tensor, ref: Tensor) -> np.float32:
        return np.float32(self.step_for(theta, ref).item())

    def quantize_ste(self, theta: Tensor, ref: Tensor) -> Tensor:
        step = self.step_for(theta, ref)
        return ref.detach() + round_ste((theta - ref.detach()) / step) * step

    def rate_bits(
        self,
        theta: Tensor,
        ref: Tensor,
        noise: bool = True,
        *,
        model: EntropyModel = EntropyModel.GAUSSIAN,
        temporal: bool = False,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """0: the base variant has no rate term (``model``/``temporal``/``generator`` accepted
        and ignored)."""
        return theta.new_zeros(())


# --- numpy side: what goes into the stream ----------------------------------------------------


def _check_step(step: float) -> np.float32:
    s = np.float32(step)
    if not (np.isfinite(s) and s > 0):
        raise UarCodingError(f"quantization step must be finite and > 0 as float32, got {step!r}")
    return s


def quantize_residual(theta: np.ndarray, ref: np.ndarray, step: float) -> np.ndarray:
    """int32 codes ``rint((theta - ref) / step)``: float32 subtraction, float32 division by the
    float32 step, rounding half to even. Raises when a code is not finite or exceeds 2**24."""
    s = _check_step(step)
    theta = np.asarray(theta, dtype=np.float32)
    ref = np.asarray(ref, dtype=np.float32)
    if theta.shape != ref.shape:
        raise UarCodingError(f"theta {theta.shape} and reference {ref.shape} differ in shape")
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.rint(np.subtract(theta, ref, dtype=np.float32) / s)
    if x.size and not (np.isfinite(x).all() and np.abs(x).max() <= MAX_ABS_SYMBOL):
        raise UarCodingError(f"residual codes out of range (|q| > 2**24 or not finite) at step {s}")
    return x.astype(np.int32)


def gaussian_params(q: np.ndarray, min_std: float = DEFAULT_MIN_STD) -> tuple[np.float32, np.float32]:
    """Mean and population std of the codes (float64 sums), std floored at ``min_std``, both
    rounded to the float32 values that the stream stores and the coder uses."""
    q64 = np.asarray(q, dtype=np.float64).reshape(-1)
    if q64.size == 0:
        return np.float32(0.0), np.float32(max(min_std, 1.0))
    mean = q64.mean()
    std = max(float(np.sqrt(np.mean((q64 - mean) ** 2))), float(min_std))
    std32 = np.float32(std)
    if not std32 > 0:
        raise UarCodingError(f"min_std must be > 0, got {min_std}")
    return np.float32(mean), std32


def laplace_params(q: np.ndarray, min_scale: float = DEFAULT_MIN_STD) -> tuple[np.float32, np.float32]:
    """Location and scale of the quantized Laplace (model 1) for the codes ``q``, as the float32
    values the stream stores and the coder uses.

    The location is the mean of the codes (float64 sum) rounded to float32, as in
    :func:`gaussian_params`. The scale is the mean absolute deviation of the codes from that
    float32 location (float64 sum), floored at ``min_scale``, rounded to float32: for a fixed
    location ``m`` the maximum-likelihood scale of a Laplace is ``b = mean|q - m|`` (the
    log-likelihood ``-n log(2b) - sum|q - m| / b`` peaks there), and it is measured from the
    float32 location the coder really uses. The location is the mean rather than the median
    (the MLE) so that the rate model of training (:meth:`TensorQuantizer.rate_bits`) stays a
    smooth function of the codes; for a sparse, nearly symmetric residual both are ~0.
    """
    q64 = np.asarray(q, dtype=np.float64).reshape(-1)
    if q64.size == 0:
        return np.float32(0.0), np.float32(max(min_scale, 1.0))
    loc32 = np.float32(q64.mean())
    scale = max(float(np.mean(np.abs(q64 - np.float64(loc32)))), float(min_scale))
    scale32 = np.float32(scale)
    if not (np.isfinite(scale32) and scale32 > 0):
        raise UarCodingError(f"min_scale must be > 0, got {min_scale}")
    return loc32, scale32


def dequantize(q: np.ndarray, ref: np.ndarray, step: np.float32) -> np.ndarray:
    """float32 ``ref + (float32(q) * step)``, exactly this order (normative, both sides)."""
    s = _check_step(step)
    q = np.asarray(q)
    ref = np.asarray(ref, dtype=np.float32)
    if q.shape != ref.shape:
        raise UarCodingError(f"codes {q.shape} and reference {ref.shape} differ in shape")
    return ref + q.astype(np.float32) * s


def interpolated_reference(theta_seed: np.ndarray, theta_prev: np.ndarray, eps: float) -> np.ndarray:
    """The INTERP reference ``eps * theta_seed + (1 - eps) * theta_prev`` in float32 with the
    spec's order: ``e = float32(eps)``, ``w = 1 - e`` (float32), ``(e * seed) + (w * prev)``."""
    e = np.float32(eps)
    if not (np.isfinite(e) and 0.0 <= e <= 1.0):
        raise UarCodingError(f"eps must be in [0, 1], got {eps!r}")
    w = np.float32(1.0) - e
    seed = np.asarray(theta_seed, dtype=np.float32)
    prev = np.asarray(theta_prev, dtype=np.float32)
    if seed.shape != prev.shape:
        raise UarCodingError(f"seed {seed.shape} and previous {prev.shape} differ in shape")
    return e * seed + w * prev


def estimate_bits(q: np.ndarray, mean: float, std: float, model: EntropyModel = EntropyModel.GAUSSIAN) -> float:
    """What ``rate_bits(noise=False, model=model)`` computes for these codes and model
    (``std`` is the Laplace scale for ``LAPLACE``), in float64."""
    kind = entropy_model(model)
    q = np.asarray(q)
    if q.size == 0:
        return 0.0
    values, counts = np.unique(q.reshape(-1), return_counts=True)
    x = torch.from_numpy(values.astype(np.float64))
    log2_mass = bin_log2_mass(
        x, torch.tensor(float(mean), dtype=torch.float64), torch.tensor(float(std), dtype=torch.float64), kind
    )
    return float(-(log2_mass * torch.from_numpy(counts.astype(np.float64))).sum())
