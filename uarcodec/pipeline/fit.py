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
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.autograd.profiler import record_function
from torch.func import functional_call

from uarcodec.coding.latent_context import ContextLayout, context_rate_bits
from uarcodec.coding.quant import FixedBitsQuantizer, TensorQuantizer, initial_step, rate_bits_together, round_ste
from uarcodec.errors import UarSettingsError
from uarcodec.metrics import psnr_from_mse
from uarcodec.models.base import InrModel
from uarcodec.pipeline.divergence import LR_CUT, MAX_ROLLBACKS, TrainingSnapshot, is_spike
from uarcodec.pipeline.rate_control import steer_lambda, steers_after
from uarcodec.pipeline.training_target import GopTarget, distortion_mse
from uarcodec.settings import ADAM_BETA2, Device, Precision, QuantMode, TrainingSettings, parse_choice
from uarcodec.vocabulary import CodedTensorSpec, ContextOrder, EntropyModel, TensorRole


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
    on features read from the rounded codes, as the coder will. In the checkerboard order the
    features are constants of the step (no gradient through a value's neighbours: at CIF a
    step's rate term took 35.0 ms with their gradient, 17.6 ms without, docs/latent_grids.md);
    in the wavefront order they carry gradients, straight through the rounding, so that a
    value's gradient includes what it does to the bits of the values that read it (detached,
    patches of nonzero values predict themselves and the grids train dense: docs/latent_grids.md,
    "The wavefront order")."""
    values, codes = [], []
    for i in layout.grids:
        values.append(quantizers[i].priced_values(current[i], refs[i], noise, generator=generator))
        unrounded = quantizers[i].codes(current[i], refs[i])
        codes.append(round_ste(unrounded) if layout.order == ContextOrder.WAVEFRONT
                     else torch.round(unrounded.detach()))
    return context_rate_bits(values, codes, network, layout.order)


class ModelFit:
    """One model's fit, run epoch by epoch: :meth:`run` trains its next epochs and :meth:`result`
    ends it. Setting up draws nothing; a fit run for ``k`` epochs and then for the rest is the
    same fit, step for step, as one run for all of them (a seed trial is a fit's first epochs,
    and the trial that wins goes on from where it stopped: pipeline/seed_trials.py).

    The fit trains the coded tensors of ``model`` (a skeleton: only its structure is used,
    through ``functional_call``) from ``init`` towards ``target``; the rate is measured on
    ``theta - ref`` per tensor under the ``entropy`` model (on first-dimension differences of
    the codes where ``temporal`` says so; with ``context_rate``, a model's latent grids through
    its context network instead, where it has one: ``coding/latent_context.py``; in the order
    ``context_order`` where given, else the one the model codes in). Its result is
    the float tensors and steps; quantizing and coding them is the encoder's job (numpy,
    exactly as the decoder rebuilds).

    With ``target_bpp`` (this model's share of a target rate, over its GOP's pixels) lambda
    starts at ``settings.lmbda`` and is steered after every epoch so that the rate settles on
    the target (:func:`~uarcodec.pipeline.rate_control.steer_lambda`): the rate as coded,
    from ``rate_probe``, where given (the coder picks cheaper codings than training prices,
    and adds per-tensor fields), else the training estimate."""

    def __init__(
        self,
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
        encoder_state: dict[str, torch.Tensor] | None = None,
        target_bpp: float | None = None,
        rate_probe: RateProbe | None = None,
        context_rate: bool = True,
        context_order: ContextOrder | None = None,
    ):
        self.model, self.target, self.settings, self.epochs = model, target, settings, epochs
        self.entropy, self.temporal, self.device, self.seed = entropy, temporal, device, seed
        self.target_bpp, self.rate_probe = target_bpp, rate_probe
        self.specs = specs = model.coded_specs()
        self.names = [s.name for s in specs]
        layout = conv_layout if model.channels_last_training else (lambda t: t)
        thetas = [torch.nn.Parameter(layout(torch.from_numpy(np.array(t, np.float32)).to(device))) for t in init]
        self.ref_t = [layout(torch.from_numpy(np.asarray(r, np.float32)).to(device)) for r in refs]
        self.quantizers = [
            q.to(device)
            for q in _make_quantizers(specs, init, refs, init_steps or [None] * len(specs), settings)
        ]
        encoder = model.training_encoder() if settings.use_encoder else None
        computed: dict[int, str] = {}
        self.frames_all: torch.Tensor | None = None
        if encoder is not None:
            encoder = encoder.to(device)
            if encoder_state is not None:
                encoder.load_state_dict(encoder_state)
            self.frames_all = target.network_input_frames()
            with torch.no_grad():
                rows = encoder(self.frames_all)
            computed = {i: s.name for i, s in enumerate(specs) if s.name in rows}
            for i, name in computed.items():
                thetas[i] = torch.nn.Parameter(rows[name].detach().float().clone(), requires_grad=False)
        self.thetas, self.encoder, self.computed = thetas, encoder, computed
        trainable = [t for i, t in enumerate(thetas) if i not in computed and specs[i].role not in GRID_ROLES]
        groups = [{"params": trainable + ([] if encoder is None else list(encoder.parameters()))}]
        grids = [t for i, t in enumerate(thetas) if i not in computed and specs[i].role in GRID_ROLES]
        if grids:  # feature grids move on their own learning rate
            groups.append({"params": grids, "lr": settings.lr * settings.grid_lr_scale})
        step_params = [p for q in self.quantizers for p in q.parameters()]
        if step_params:  # log-steps move on their own (faster) learning rate
            groups.append({"params": step_params, "lr": settings.lr * settings.step_lr_scale})
        self.optimizer = make_optimizer(groups, settings.lr, settings.beta2_i)

        n = target.num_frames
        self.pixels = float(target.y.shape[1] * target.y.shape[2] * n)
        self.batches_per_epoch = math.ceil(n / settings.batch_size)
        total_steps = epochs * self.batches_per_epoch
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: warmup_cosine(s, total_steps, settings.warmup)
        )
        self.gen = torch.Generator().manual_seed(seed)  # frame order: the same on every device
        # the rate term's noise is drawn where the codes live (no host copy per step on CUDA)
        self.noise_gen = self.gen if device.type == "cpu" else torch.Generator(device=device).manual_seed(seed)
        self.autocast = resolve_precision(settings.precision, device) == Precision.BF16
        self.history: list[FitProgress] = []
        self.context = ContextLayout.of(specs) if settings.quant == QuantMode.RQEC and context_rate else None
        if self.context is not None and context_order is not None:  # priced in another order than coded
            self.context = dataclasses.replace(self.context, order=context_order)
        # priced on their own
        self.alone = [i for i in range(len(specs)) if self.context is None or i not in self.context.grids]
        self.priced = _frame_rows_priced(model, specs, n, computed, temporal).intersection(self.alone)
        self.forward = NetworkForward(model, settings.compile)
        self.lmbda = settings.lmbda
        self.kept = [*self.quantizers] + ([] if encoder is None else [encoder])  # modules a rollback restores
        self.snapshot = TrainingSnapshot.take(thetas, self.kept, self.optimizer)
        self.good: FitProgress | None = None
        self.best: tuple[FitProgress, TrainingSnapshot] | None = None  # the late good epoch of lowest loss
        self.rollbacks = 0

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    def run(self, epochs: int, progress: ProgressCallback | None = None) -> ModelFit:
        """Train the fit's next ``epochs`` epochs (no further than its last), reporting each."""
        self.model.train()
        for _ in range(min(epochs, self.epochs - self.epochs_run)):
            report = self._epoch()
            if progress is not None:
                progress(report)
        self.model.eval()
        return self

    def _epoch(self) -> FitProgress:
        """One epoch over the GOP's frames in a random order; undone if it blew up."""
        settings, epoch = self.settings, self.epochs_run
        order = torch.randperm(self.target.num_frames, generator=self.gen).to(self.device)
        sums = torch.zeros(3, device=self.device)
        for b in range(self.batches_per_epoch):
            sums += self._step(order[b * settings.batch_size : (b + 1) * settings.batch_size])
        sum_loss, sum_mse, sum_bpp = sums.tolist()
        finite = math.isfinite(sum_loss)
        if not finite and self.rollbacks == MAX_ROLLBACKS:
            raise UarSettingsError(
                f"training diverged in epoch {epoch + 1} of {self.epochs} (the loss is not finite); "
                f"try a lower --lr (now {settings.lr:g}) or --lambda (now {self.lmbda:g})"
            )
        report = FitProgress(
            epoch=epoch + 1,
            epochs=self.epochs,
            loss=sum_loss / self.batches_per_epoch,
            psnr=psnr_from_mse(sum_mse / self.batches_per_epoch) if finite else float("nan"),
            bpp=sum_bpp / self.batches_per_epoch,
            lmbda=self.lmbda,
        )
        good = self.good
        blew_up = not finite or (good is not None and is_spike(report.loss, report.psnr, good.loss, good.psnr))
        if blew_up and self.rollbacks < MAX_ROLLBACKS:
            _roll_back(self.snapshot, self.thetas, self.kept, self.optimizer, self.schedule)
            self.rollbacks += 1
            report = dataclasses.replace(report, rolled_back=True)
            self.history.append(report)
            return report
        self.good = report
        self.snapshot = TrainingSnapshot.take(self.thetas, self.kept, self.optimizer)
        if epoch + 1 > LATE_EPOCHS * self.epochs and (
                self.best is None or epoch_objective(report, self.lmbda) <= epoch_objective(self.best[0], self.lmbda)):
            self.best = (report, self.snapshot)
        self.history.append(report)
        if self.target_bpp is not None and settings.quant == QuantMode.RQEC and steers_after(epoch + 1, self.epochs):
            rate = report.bpp
            if self.rate_probe is not None:
                with torch.no_grad():
                    rate = self.rate_probe(_floats(self.thetas), _steps(self.quantizers, self.thetas, self.ref_t))
                    rate /= self.pixels
            self.lmbda = steer_lambda(self.lmbda, rate, self.target_bpp, settings.lmbda)
        return report

    def _step(self, idx: torch.Tensor) -> torch.Tensor:
        """One optimiser step on the frames ``idx``; returns (loss, MSE, bpp), not synced to the host."""
        settings, device = self.settings, self.device
        current = list(self.thetas)
        if self.computed:
            with record_function("uar.training_encoder"):
                rows = self.encoder(self.frames_all[idx])
                for i, name in self.computed.items():
                    current[i] = self.thetas[i].detach().index_put((idx,), rows[name].float())
                    self.thetas[i].data[idx] = rows[name].detach().float()
        with record_function("uar.quantizer"):
            quantized = {
                name: q.quantize_ste(t, r) for name, q, t, r in zip(self.names, self.quantizers, current, self.ref_t)
            }
        with record_function("uar.forward"), torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.autocast):
            out = self.forward(quantized, idx)
        with record_function("uar.distortion"):
            mse = distortion_mse(out, self.target, idx, settings.distortion)
        with record_function("uar.rate"):
            bpp = self._rate(current, quantized, idx) if settings.quant == QuantMode.RQEC \
                else torch.zeros((), device=device)
        loss = bpp + self.lmbda * mse
        with record_function("uar.backward"):
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        with record_function("uar.optimizer"):
            self.optimizer.step()
            self.schedule.step()
        return torch.stack([loss.detach(), mse.detach(), bpp.detach()]).float()

    def _rate(self, current: list[torch.Tensor], quantized: dict[str, torch.Tensor], idx: torch.Tensor) -> torch.Tensor:
        """The step's estimated bits per pixel of every coded tensor (the per-frame ones priced
        on the batch's rows, weighted up to all rows)."""
        n, alone, priced, ref_t = self.target.num_frames, self.alone, self.priced, self.ref_t
        values, centres, weights = current, ref_t, None
        if priced:
            values = [t[idx] if i in priced else t for i, t in enumerate(current)]
            centres = [r[idx] if i in priced else r for i, r in enumerate(ref_t)]
            weights = [n / len(idx) if i in priced else 1.0 for i in range(len(self.specs))]
        flags = self.temporal or [False] * len(self.specs)
        bits = rate_bits_together([self.quantizers[i] for i in alone], [values[i] for i in alone],
                                  [centres[i] for i in alone], noise=self.settings.rate_noise, model=self.entropy,
                                  temporal=[flags[i] for i in alone], generator=self.noise_gen,
                                  weights=None if weights is None else [weights[i] for i in alone])
        if self.context is not None:
            network = [quantized[self.names[i]] for i in self.context.network]
            bits = bits + _context_bits(self.context, self.quantizers, current, ref_t, network,
                                        self.settings.rate_noise, self.noise_gen)
        return bits / self.pixels

    def result(self) -> FitResult:
        """The fit as it ends: on its best late epoch where the last one is more than
        :data:`WORSE_THAN_BEST` worse; the training encoder's rows computed once more."""
        good, lmbda = self.good, self.lmbda
        if self.best is not None and good is not None \
                and epoch_objective(good, lmbda) > WORSE_THAN_BEST * epoch_objective(self.best[0], lmbda):
            self.best[1].restore(self.thetas, self.kept, self.optimizer)  # a late epoch went wrong: back to the best
            good = self.best[0]
        if self.computed:
            self.encoder.eval()
            with torch.no_grad():
                for i, name in self.computed.items():
                    self.thetas[i].data = torch.cat(
                        [self.encoder(self.frames_all[s : s + 8])[name].float()
                         for s in range(0, self.target.num_frames, 8)]
                    )
        if good is None:  # no epoch, or every epoch undone: nothing was trained
            raise UarSettingsError(
                "a fit needs at least one epoch" if not self.history else
                f"training blew up in each of its {self.epochs_run} epochs; try a lower --lr (now "
                f"{self.settings.lr:g}) or --lambda (now {self.settings.lmbda:g})"
            )
        return FitResult(
            theta=_floats(self.thetas),
            steps=_steps(self.quantizers, self.thetas, self.ref_t),
            psnr=good.psnr,
            bpp=good.bpp,
            history=list(self.history),
            encoder_state=None if self.encoder is None
            else {k: v.detach().clone() for k, v in self.encoder.state_dict().items()},
        )

