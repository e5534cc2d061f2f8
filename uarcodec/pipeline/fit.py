"""Fit one model to one GOP: loss = estimated bits per pixel + lambda * MSE (RQEC, paper
Eq. 7), Adam, linear warm-up then cosine decay, per-step fake quantization of every coded
tensor against its reference.

The *base* variant of the paper (``quant="qat"``) trains with fixed-bit quantization and no
rate term.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.autograd.profiler import record_function
from torch.func import functional_call

from uarcodec.coding.latent_context import ContextLayout, context_rate_bits
from uarcodec.coding.quant import FixedBitsQuantizer, TensorQuantizer, initial_step, rate_bits_together
from uarcodec.errors import UarSettingsError
from uarcodec.metrics import psnr_from_mse
from uarcodec.models.base import InrModel
from uarcodec.pipeline.divergence import LR_CUT, MAX_ROLLBACKS, TrainingSnapshot, is_spike
from uarcodec.pipeline.rate_control import steer_lambda, steers_after
from uarcodec.pipeline.training_target import GopTarget, distortion_mse
from uarcodec.settings import ADAM_BETA2, Device, Precision, QuantMode, TrainingSettings, parse_choice
from uarcodec.vocabulary import CodedTensorSpec, EntropyModel, TensorRole


@dataclass(frozen=True)
class FitProgress:
    """Reported to the caller after every epoch."""

    epoch: int
    epochs: int
    loss: float
    psnr: float  # of the fake-quantized network on the epoch's batches (6:1:1 YUV or RGB)
    bpp: float  # estimated bits per pixel of the coded tensors
    lmbda: float = 0.0  # the lambda this epoch trained with (steered under a target rate)
    rolled_back: bool = False  # the epoch blew up and was undone (pipeline/divergence.py)


ProgressCallback = Callable[[FitProgress], None]
RateProbe = Callable[[list[np.ndarray], list[float]], float]
"""The bits a model with these float tensors and quantization steps codes to, as coded."""


@dataclass
class FitResult:
    theta: list[np.ndarray]  # trained float32 tensors, stream order
    steps: list[float]  # trained quantization step per tensor
    psnr: float
    bpp: float
    seconds: float
    history: list[FitProgress] = field(default_factory=list)  # rolled_back marks undone epochs
    encoder_state: dict[str, torch.Tensor] | None = None  # the training encoder, for warm starts


def resolve_device(name: Device | str) -> torch.device:
    device = parse_choice(Device, name, "device")
    if device == Device.AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == Device.CUDA and not torch.cuda.is_available():
        raise UarSettingsError("--device cuda was asked for but no CUDA device is available")
    return torch.device(device.value)


@functools.lru_cache(maxsize=None)
def fast_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast speeds training up on this CPU: one with AMX or AVX512-BF16
    (elsewhere CPU bf16 is emulated and slower than fp32)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: Precision, device: torch.device) -> Precision:
    """The precision training really uses on ``device``: ``auto`` becomes bf16 where the
    hardware is fast at it, else fp32. On this project's CPU (AMX) both families train faster
    under bf16 autocast at every size measured, HiNeRV since its LayerNorms compute in float32
    (benchmarks/bench_models.py, docs/training_speed.md). On CUDA ``auto`` is fp32: a step of
    models this small is bound by kernel launches, and autocast's casts only add kernels (H100:
    bf16 at 0.55x to 1.09x of fp32's speed, docs/training_speed.md "GPU")."""
    if precision != Precision.AUTO:
        return precision
    if device.type == "cuda":
        return Precision.FP32
    return Precision.BF16 if fast_bf16(device) else Precision.FP32


def warmup_cosine(step: int, total: int, warmup: float) -> float:
    """Learning-rate factor: linear warm-up over ``warmup * total`` steps, then cosine to 0."""
    w = int(round(warmup * total))
    if step < w:
        return (step + 1) / w
    t = (step - w) / max(1, total - w)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


GRID_ROLES = (TensorRole.GRID, TensorRole.LATENT)  # the roles that learn at ``grid_lr_scale``


def _make_quantizers(
    specs: list[CodedTensorSpec], init: list[np.ndarray], refs: list[np.ndarray],
    init_steps: list[float | None], settings: TrainingSettings,
) -> list[torch.nn.Module]:
    quantizers: list[torch.nn.Module] = []
    for spec, theta, ref, step in zip(specs, init, refs, init_steps):
        if settings.quant == QuantMode.QAT:
            quantizers.append(FixedBitsQuantizer(settings.qat_bits))
            continue
        if step is None:
            step = spec.init_step or initial_step(torch.from_numpy(theta), settings.init_bits)
        quantizers.append(TensorQuantizer(step, min_std=settings.min_std))
    return quantizers


def conv_layout(t: torch.Tensor) -> torch.Tensor:
    """4-D tensors (convolution weights, per-frame maps) channels-last: oneDNN's convolutions
    take such weights without a reorder at every call; other tensors as they are. Used for the
    families whose ``channels_last_training`` says it pays."""
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t


def make_optimizer(groups: list[dict], lr: float, beta2: float = ADAM_BETA2) -> torch.optim.Optimizer:
    """Adam (second-moment decay ``beta2``) with its fused kernel (one pass over every tensor
    per step, not a dozen small ops per tensor: about 7% of a CIF training step here)."""
    return torch.optim.Adam(groups, lr=lr, betas=(0.9, beta2), fused=True)


class NetworkForward:
    """The network's forward pass in training, ``(params, frame indices) -> frames``: through
    ``torch.compile`` when ``compile`` is set, else eager. Where compiling fails (no compiler,
    an unsupported op or backend) the first failure warns once and training goes on eagerly,
    so ``--compile`` never costs an encode."""

    def __init__(self, model: InrModel, compile: bool):
        self._model = model
        self._compiled = torch.compile(self._eager) if compile else None

    def _eager(self, params: dict[str, torch.Tensor], idx: torch.Tensor) -> torch.Tensor:
        return functional_call(self._model, params, (idx,), strict=True)

    def __call__(self, params: dict[str, torch.Tensor], idx: torch.Tensor) -> torch.Tensor:
        if self._compiled is not None:
            try:
                return self._compiled(params, idx)
            except Exception as exc:  # torch raises many kinds here; any of them means "not here"
                first = (str(exc).splitlines() or [""])[0][:200]
                warnings.warn(f"torch.compile failed ({type(exc).__name__}: {first}); training without it",
                              RuntimeWarning, stacklevel=2)
                self._compiled = None
        return self._eager(params, idx)


# How much worse than the best epoch the last one must be for the fit to go back to the best:
# an epoch's loss is the mean over its steps while the parameters move, so a last epoch a little
# above an earlier one is that mean's noise, not a model gone wrong (the case that made the rule:
# 8% above, pipeline/divergence.py).
WORSE_THAN_BEST = 1.05
# The epochs a fit may go back to: its last quarter, where the schedule's learning rate is low
# and the loss should only fall. Earlier a fit's loss may rise and fall again as it should (a
# P-model leaving its reference: a tiny encode's 2-epoch P-model rose 14% in its second epoch).
LATE_EPOCHS = 0.75


def epoch_objective(report: FitProgress, lmbda: float) -> float:
    """An epoch's mean loss at ``lmbda`` (under a target rate the lambda of each epoch moves;
    this prices every epoch at the same one): its bits per pixel plus ``lmbda`` times the MSE
    its PSNR stands for."""
    return report.bpp + lmbda * 10.0 ** (-report.psnr / 10.0)


def _roll_back(
    snapshot: TrainingSnapshot, thetas: list[torch.Tensor], kept: list[torch.nn.Module],
    optimizer: torch.optim.Optimizer, schedule: torch.optim.lr_scheduler.LambdaLR,
) -> None:
    """Undo an epoch that blew up (pipeline/divergence.py): the state after the last good epoch
    back in place, every learning rate from now on times LR_CUT. The epoch's progress report
    says so (``rolled_back``)."""
    snapshot.restore(thetas, kept, optimizer)
    schedule.base_lrs = [lr * LR_CUT for lr in schedule.base_lrs]
    for group, base, factor in zip(optimizer.param_groups, schedule.base_lrs, schedule.lr_lambdas):
        group["lr"] = base * factor(schedule.last_epoch)


def _floats(thetas: list[torch.Tensor]) -> list[np.ndarray]:
    return [t.detach().cpu().numpy().astype(np.float32) for t in thetas]


def _steps(quantizers: list[torch.nn.Module], thetas: list[torch.Tensor], refs: list[torch.Tensor]) -> list[float]:
    return [float(q.stream_step(t.detach(), r)) for q, t, r in zip(quantizers, thetas, refs)]


def _frame_rows_priced(
    model: InrModel, specs: list[CodedTensorSpec], num_frames: int, computed: dict[int, str],
    temporal: list[bool] | None,
) -> set[int]:
    """The coded tensors whose rate a step prices on the batch's rows only (the family's
    ``frame_rows_rate``): per-frame tensors (first dimension = frame), learnt freely, priced
    value by value (not as temporal differences)."""
    if not model.frame_rows_rate:
        return set()
    return {i for i, s in enumerate(specs)
            if len(s.shape) > 1 and s.shape[0] == num_frames and i not in computed
            and not (temporal is not None and temporal[i])}


def _context_bits(
    layout: ContextLayout, quantizers: list[torch.nn.Module], current: list[torch.Tensor],
    refs: list[torch.Tensor], network: list[torch.Tensor], noise: bool, generator: torch.Generator,
) -> torch.Tensor:
    """Estimated bits of the latent grids under the model's context network (``network``: its
    four tensors as the forward pass sees them, fake-quantized): each grid's noisy codes priced
    on features read from the rounded codes, as the coder will. The features are constants of
    the step (no gradient through a value's neighbours): at CIF a step's rate term took 35.0 ms
    with their gradient, 17.6 ms without (8 hidden units, a timing in docs/latent_grids.md)."""
    values, codes = [], []
    for i in layout.grids:
        values.append(quantizers[i].priced_values(current[i], refs[i], noise, generator=generator))
        codes.append(torch.round(quantizers[i].codes(current[i], refs[i]).detach()))
    return context_rate_bits(values, codes, network)


def fit_model(
    model: InrModel,
    target: GopTarget,
    init: list[np.ndarray],
    refs: list[np.ndarray],
    settings: TrainingSettings,
    epochs: int,
    *,
    init_steps: list[float | None] | None = None,
    entropy: EntropyModel = EntropyModel.GAUSSIAN,
    temporal: list[bool] | None = None,
    device: torch.device = torch.device("cpu"),
    seed: int = 0,
    progress: ProgressCallback | None = None,
    encoder_state: dict[str, torch.Tensor] | None = None,
    target_bpp: float | None = None,
    rate_probe: RateProbe | None = None,
    context_rate: bool = True,
    schedule_epochs: int | None = None,
) -> FitResult:
    """Train the coded tensors of ``model`` (a skeleton: only its structure is used, through
    ``functional_call``) from ``init`` towards ``target``; the rate is measured on
    ``theta - ref`` per tensor under the ``entropy`` model (on first-dimension differences of
    the codes where ``temporal`` says so; with ``context_rate``, a model's latent grids through
    its context network instead, where it has one: ``coding/latent_context.py``). Returns the
    float tensors and steps; quantizing and coding
    them is the encoder's job (numpy, exactly as the decoder rebuilds).

    With ``target_bpp`` (this model's share of a target rate, over its GOP's pixels) lambda
    starts at ``settings.lmbda`` and is steered after every epoch so that the rate settles on
    the target (:func:`~uarcodec.pipeline.rate_control.steer_lambda`): the rate as coded,
    from ``rate_probe``, where given (the coder picks cheaper codings than training prices,
    and adds per-tensor fields), else the training estimate.

    ``schedule_epochs`` (at least ``epochs``): the length of the learning-rate schedule when the
    fit runs only its first ``epochs`` (a seed trial, pipeline/seed_trials.py); its first epochs
    are then those of the whole fit, step for step."""
    start = time.perf_counter()
    specs = model.coded_specs()
    names = [s.name for s in specs]
    layout = conv_layout if model.channels_last_training else (lambda t: t)
    thetas = [torch.nn.Parameter(layout(torch.from_numpy(np.array(t, np.float32)).to(device))) for t in init]
    ref_t = [layout(torch.from_numpy(np.asarray(r, np.float32)).to(device)) for r in refs]
    quantizers = [
        q.to(device)
        for q in _make_quantizers(specs, init, refs, init_steps or [None] * len(specs), settings)
    ]
    encoder = model.training_encoder() if settings.use_encoder else None
    computed: dict[int, str] = {}
    if encoder is not None:
        encoder = encoder.to(device)
        if encoder_state is not None:
            encoder.load_state_dict(encoder_state)
        frames_all = target.network_input_frames()
        with torch.no_grad():
            rows = encoder(frames_all)
        computed = {i: s.name for i, s in enumerate(specs) if s.name in rows}
        for i, name in computed.items():
            thetas[i] = torch.nn.Parameter(rows[name].detach().float().clone(), requires_grad=False)
    trainable = [t for i, t in enumerate(thetas) if i not in computed and specs[i].role not in GRID_ROLES]
    groups = [{"params": trainable + ([] if encoder is None else list(encoder.parameters()))}]
    grids = [t for i, t in enumerate(thetas) if i not in computed and specs[i].role in GRID_ROLES]
    if grids:  # feature grids move on their own learning rate
        groups.append({"params": grids, "lr": settings.lr * settings.grid_lr_scale})
    step_params = [p for q in quantizers for p in q.parameters()]
    if step_params:  # log-steps move on their own (faster) learning rate
        groups.append({"params": step_params, "lr": settings.lr * settings.step_lr_scale})
    optimizer = make_optimizer(groups, settings.lr, settings.beta2_i)

    n = target.num_frames
    pixels = float(target.y.shape[1] * target.y.shape[2] * n)
    batches_per_epoch = math.ceil(n / settings.batch_size)
    scheduled = max(epochs, schedule_epochs or epochs)
    total_steps = scheduled * batches_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, total_steps, settings.warmup)
    )
    gen = torch.Generator().manual_seed(seed)  # frame order: the same on every device
    # the rate term's noise is drawn where the codes live (no host copy per step on CUDA)
    noise_gen = gen if device.type == "cpu" else torch.Generator(device=device).manual_seed(seed)
    autocast = resolve_precision(settings.precision, device) == Precision.BF16
    history: list[FitProgress] = []
    context = ContextLayout.of(specs) if settings.quant == QuantMode.RQEC and context_rate else None
    alone = [i for i in range(len(specs)) if context is None or i not in context.grids]  # priced on their own
    priced = _frame_rows_priced(model, specs, n, computed, temporal).intersection(alone)
    forward = NetworkForward(model, settings.compile)
    lmbda = settings.lmbda
    kept = [*quantizers] + ([] if encoder is None else [encoder])  # modules a rollback restores
    snapshot = TrainingSnapshot.take(thetas, kept, optimizer)
    good: FitProgress | None = None
    best: tuple[FitProgress, TrainingSnapshot] | None = None  # the late good epoch of lowest loss
    rollbacks = 0
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen).to(device)
        sums = torch.zeros(3, device=device)
        for b in range(batches_per_epoch):
            idx = order[b * settings.batch_size : (b + 1) * settings.batch_size]
            current = list(thetas)
            if computed:
                with record_function("uar.training_encoder"):
                    rows = encoder(frames_all[idx])
                    for i, name in computed.items():
                        current[i] = thetas[i].detach().index_put((idx,), rows[name].float())
                        thetas[i].data[idx] = rows[name].detach().float()
            with record_function("uar.quantizer"):
                quantized = {
                    name: q.quantize_ste(t, r) for name, q, t, r in zip(names, quantizers, current, ref_t)
                }
            with record_function("uar.forward"), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                out = forward(quantized, idx)
            with record_function("uar.distortion"):
                mse = distortion_mse(out, target, idx)
            with record_function("uar.rate"):
                if settings.quant == QuantMode.RQEC:
                    values, centres, weights = current, ref_t, None
                    if priced:  # the batch's rows of the per-frame tensors, weighted up to all rows
                        values = [t[idx] if i in priced else t for i, t in enumerate(current)]
                        centres = [r[idx] if i in priced else r for i, r in enumerate(ref_t)]
                        weights = [n / len(idx) if i in priced else 1.0 for i in range(len(specs))]
                    flags = temporal or [False] * len(specs)
                    bits = rate_bits_together([quantizers[i] for i in alone], [values[i] for i in alone],
                                              [centres[i] for i in alone], noise=settings.rate_noise, model=entropy,
                                              temporal=[flags[i] for i in alone], generator=noise_gen,
                                              weights=None if weights is None else [weights[i] for i in alone])
                    if context is not None:
                        network = [quantized[names[i]] for i in context.network]
                        bits = bits + _context_bits(context, quantizers, current, ref_t, network,
                                                    settings.rate_noise, noise_gen)
                    bpp = bits / pixels
                else:
                    bpp = torch.zeros((), device=device)
            loss = bpp + lmbda * mse
            with record_function("uar.backward"):
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            with record_function("uar.optimizer"):
                optimizer.step()
                schedule.step()
            sums += torch.stack([loss.detach(), mse.detach(), bpp.detach()]).float()  # no host sync per step
        sum_loss, sum_mse, sum_bpp = sums.tolist()
        finite = math.isfinite(sum_loss)
        if not finite and rollbacks == MAX_ROLLBACKS:
            raise UarSettingsError(
                f"training diverged in epoch {epoch + 1} of {epochs} (the loss is not finite); "
                f"try a lower --lr (now {settings.lr:g}) or --lambda (now {lmbda:g})"
            )
        report = FitProgress(
            epoch=epoch + 1,
            epochs=epochs,
            loss=sum_loss / batches_per_epoch,
            psnr=psnr_from_mse(sum_mse / batches_per_epoch) if finite else float("nan"),
            bpp=sum_bpp / batches_per_epoch,
            lmbda=lmbda,
        )
        blew_up = not finite or (good is not None and is_spike(report.loss, report.psnr, good.loss, good.psnr))
        if blew_up and rollbacks < MAX_ROLLBACKS:
            _roll_back(snapshot, thetas, kept, optimizer, schedule)
            rollbacks += 1
            report = dataclasses.replace(report, rolled_back=True)
            history.append(report)
            if progress is not None:
                progress(report)
            continue
        good = report
        snapshot = TrainingSnapshot.take(thetas, kept, optimizer)
        if epoch + 1 > LATE_EPOCHS * scheduled and (
                best is None or epoch_objective(report, lmbda) <= epoch_objective(best[0], lmbda)):
            best = (report, snapshot)
        history.append(report)
        if target_bpp is not None and settings.quant == QuantMode.RQEC and steers_after(epoch + 1, scheduled):
            rate = report.bpp
            if rate_probe is not None:
                with torch.no_grad():
                    rate = rate_probe(_floats(thetas), _steps(quantizers, thetas, ref_t)) / pixels
            lmbda = steer_lambda(lmbda, rate, target_bpp, settings.lmbda)
        if progress is not None:
            progress(report)
    if best is not None and epoch_objective(good, lmbda) > WORSE_THAN_BEST * epoch_objective(best[0], lmbda):
        best[1].restore(thetas, kept, optimizer)  # a late epoch went wrong: back to the best one
        good = best[0]
    model.eval()
    if computed:
        encoder.eval()
        with torch.no_grad():
            for i, name in computed.items():
                thetas[i].data = torch.cat(
                    [encoder(frames_all[s : s + 8])[name].float() for s in range(0, n, 8)]
                )
    if good is None:  # no epoch, or every epoch undone: nothing was trained
        raise UarSettingsError(
            "a fit needs at least one epoch" if not history else
            f"training blew up in each of its {epochs} epochs; try a lower --lr (now {settings.lr:g}) "
            f"or --lambda (now {settings.lmbda:g})"
        )
    return FitResult(
        theta=_floats(thetas),
        steps=_steps(quantizers, thetas, ref_t),
        psnr=good.psnr,
        bpp=good.bpp,
        seconds=time.perf_counter() - start,
        history=history,
        encoder_state=None if encoder is None else {k: v.detach().clone() for k, v in encoder.state_dict().items()},
    )
