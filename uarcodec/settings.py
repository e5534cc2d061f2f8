"""Encoder settings and presets, declared once.

Everything an encode depends on lives in :class:`EncoderSettings`; the fields a decoder needs
go into the stream's coding parameters, all the others into its informational encoder settings
(:meth:`EncoderSettings.informational_fields`, derived from the dataclasses).
:class:`TrainingOptions` is what a user picks for training (``None``: the preset's value at
each p); the CLI's encode, bench and calibrate commands and the bench's runners share it.

Every choice is an enum; a string is accepted where the enum is expected and a wrong one
raises :class:`UarSettingsError` naming the field and the choices.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np

from uarcodec.errors import UarSettingsError
from uarcodec.vocabulary import (
    MAX_CONTEXT_HIDDEN, MAX_MOTION_BLOCK, MAX_MOTION_MARGIN, MIN_MOTION_BLOCK, ChoiceEnum, ContextOrder, FieldValue,
    ModelFamily, scene_cuts_in_order,
)


class Preset(ChoiceEnum):
    """Named training lengths (veryslow = the paper's epochs)."""

    ULTRAFAST = "ultrafast"
    SUPERFAST = "superfast"
    VERYFAST = "veryfast"
    FAST = "fast"
    MEDIUM = "medium"
    SLOW = "slow"
    VERYSLOW = "veryslow"


class InitMode(ChoiceEnum):
    """Where a P-model starts: II (interpolation), the seeded init, or the previous model."""

    II = "ii"
    RANDOM = "random"
    DIRECT = "direct"


class Precision(ChoiceEnum):
    AUTO = "auto"  # bf16 autocast where the hardware is fast at it, else fp32
    FP32 = "fp32"
    BF16 = "bf16"


class Distortion(ChoiceEnum):
    YUV = "yuv"  # 6:1:1 weighted MSE on the 4:2:0 planes
    RGB = "rgb"
    # per frame the 6:1:1 weighted geometric mean of the three planes' MSEs: the MSE that
    # PSNR-YUV, (6 PSNR-Y + PSNR-U + PSNR-V) / 8, stands for (pipeline/training_target.py)
    PSNR_YUV = "psnr-yuv"


class QuantMode(ChoiceEnum):
    RQEC = "rqec"  # rate-constrained quantization with an entropy model (the paper's method)
    QAT = "qat"  # fixed-bit quantization-aware training without a rate term (the paper's base)


class RateModel(ChoiceEnum):
    """How coded tensors are priced in training and entropy-coded."""

    LAPLACE = "laplace"  # Laplace rate (sparse residuals), per tensor the cheaper of Laplace and
    # Gaussian, temporal differences for per-frame embeddings, channel skip masks
    GAUSSIAN = "gaussian"  # the paper's per-layer Gaussian for every tensor


class Device(ChoiceEnum):
    AUTO = "auto"  # CUDA when available, else CPU
    CPU = "cpu"
    CUDA = "cuda"


E = TypeVar("E", bound=ChoiceEnum)


def parse_choice(enum_type: type[E], value: object, field_name: str) -> E:
    """``value`` (an ``enum_type`` member or its string) as the enum member; anything else
    raises UarSettingsError naming ``field_name`` and the choices."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        raise UarSettingsError(
            f"{field_name}: unknown value {value!r} (choices: {', '.join(enum_type.choices())})"
        ) from None


def _coerce_choices(obj: object) -> None:
    """Turn the string values of ``obj``'s enum-typed fields into members (validated)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        enum_type = _ENUM_FIELDS.get(f.name)
        if enum_type is not None and value is not None:
            object.__setattr__(obj, f.name, parse_choice(enum_type, value, f.name))


# Field name -> the enum its values come from (the same name means the same concept everywhere).
_ENUM_FIELDS: dict[str, type[ChoiceEnum]] = {
    "family": ModelFamily,
    "preset": Preset,
    "init": InitMode,
    "precision": Precision,
    "distortion": Distortion,
    "quant": QuantMode,
    "rate_model": RateModel,
    "device": Device,
}


# Training length of the paper (Section IV-A): epochs for (small, medium, large) p. The paper's
# P-model epochs (2000, 2000, 1000) train each P-model about as long as a fresh fit; a P-model
# here is a fine-tune of its decoded reference and gets P_EPOCH_FRACTION of the I-model's
# epochs (NIRVANA gives later groups 1/5 to 1/8 of the first group's iterations; the value is
# measured in docs/temporal_reuse.md). --epochs-p sets the paper's lengths back.
PAPER_EPOCHS_I = (3000, 1500, 1500)
P_EPOCH_FRACTION = 0.5

# Named training lengths as a divisor of the paper's epochs (veryslow = the paper). A preset is
# a time budget: when the training step got 1.3x faster (docs/training_speed.md) every preset
# below veryslow got about 1.33x the epochs, keeping its encode time (the divisors were 500,
# 250, 100, 40, 15, 5); at preset fast this gave +0.8 dB on box and vtest in the same time.
# When HNeRV's step got another 1.2x faster (kernels 1, 5, ..., 5, 3 and the channels-last
# shuffle) the presets from ultrafast to medium got 1.2x the epochs again (the divisors were
# 375, 190, 75, 30, 11); slow, 4, stays: 3 would be 1.33x.
PRESET_DIVISORS: dict[Preset, int] = {
    Preset.ULTRAFAST: 310,
    Preset.SUPERFAST: 160,
    Preset.VERYFAST: 62,
    Preset.FAST: 25,
    Preset.MEDIUM: 9,
    Preset.SLOW: 4,
    Preset.VERYSLOW: 1,
}
DEFAULT_PRESET = Preset.MEDIUM

# The learning rate of a preset over the paper's (2e-3 at p <= 60, 1e-3 above): a short
# training gains from a larger one. At preset fast, 60 frames at 88k (docs/training_speed.md,
# "A larger learning rate at preset fast"), x4 against x1: box +1.22 dB for +12% bytes, vtest
# +1.47 dB for +2%, carphone (54k) +1.47 dB for +12%, megamind +1.11 dB for +14%; x1.5, x2 and
# x3 gained less, x6 on carphone no more. On the bundled sample (carphone QCIF, 30 frames, 54k,
# lambda 150; docs/training_speed.md, "The learning rate of the other presets") x4 against x1
# gave ultrafast +1.63 dB for +12% bytes, veryfast +1.43 dB for +9.5%, medium +0.98 dB for +5%;
# superfast lies between ultrafast and veryfast. slow and veryslow keep the paper's (not measured).
# It is the I-models' rate. P-models fine-tune their reference (PRESET_LR_P_SCALE): at x4 the
# README bench's P-models fell 1 to 10 dB behind their I-model on box; at x2 they do better:
# at fast (120 frames of box and vtest at 88k) the three P-models gained 0.25 to 0.51 dB for 3
# to 10% more of their bytes, and the README bench measured the change on the five clips
# (docs/temporal_reuse.md: -2.8% to -8.3% BD-rate); the demo's setting at medium (p = 10,
# m = 3, 30k) coded 9,965 bytes at 31.44 dB with P-models at x2 and 11,450 at 31.54 with them
# at x1 (0.5 dB below the x2 stream at equal rate). ultrafast to veryfast follow fast (not
# measured on their own).
_SHORT_PRESETS = (Preset.ULTRAFAST, Preset.SUPERFAST, Preset.VERYFAST, Preset.FAST, Preset.MEDIUM)
PRESET_LR_SCALE: dict[Preset, float] = {p: 4.0 for p in _SHORT_PRESETS}
PRESET_LR_P_SCALE: dict[Preset, float] = {p: 2.0 / PRESET_LR_SCALE[p] for p in _SHORT_PRESETS}

# Adam's second-moment decay in the I-models' fits of the presets up to fast: torch's 0.999
# averages squared gradients over about 1,000 steps, more than half of an I-model's fit at
# preset fast (60 epochs of 30 frames); 0.995 forgets them over 200. At preset fast, 60 frames,
# p = 30, one I- and one P-model, lambda 150, 0.995 against 0.999 (docs/training_speed.md,
# "Adam's second moment in every family's I-models"; docs/latent_grids.md): latent (200k,
# carphone 53k, cockatoo 490k) box -3.5% bytes +0.13 dB, megamind -3.4% +0.14 dB, carphone -1.4%
# +0.20 dB, vtest +2.2% +0.03 dB, cockatoo +2.9% +0.06 dB; HNeRV (88k, carphone 54k) box +0.1%
# +0.32 dB, vtest -4.0% +0.05 dB, megamind -0.4% +0.48 dB, carphone +3.1% +0.35 dB, and its
# cockatoo curve -7.4% BD-rate; HiNeRV box (88k) +4.1% +0.39 dB. HNeRV's carphone at ultrafast
# +2.2% +0.38 dB, veryfast +7.3% +0.63 dB. At medium (5,000 steps) it loses: HNeRV carphone +6.7%
# +0.08 dB, latent carphone -5.4% -0.33 dB, latent box +7.1% -0.26 dB; medium and up keep 0.999.
# P-models keep 0.999 (TrainingSettings.for_p_models; latent box and vtest lost bytes with 0.995).
_FAST_PRESETS = (Preset.ULTRAFAST, Preset.SUPERFAST, Preset.VERYFAST, Preset.FAST)
PRESET_BETA2_I: dict[Preset, float] = {p: 0.995 for p in _FAST_PRESETS}

# Every preset trains an I-model for at least this many steps, so that even the shortest ones
# give a usable picture on a short clip: carphone QCIF, 30 frames, at 27k parameters and lambda
# 500, gives 25.6 dB PSNR-YUV at 300 steps, 26.7 at 450 (13 s) and 27.3 at 600; at 110k with 16
# channels, 23.9 at 120 steps (docs/training_speed.md). At today's default point (54k, lambda
# 150; docs/rate_points.md) 450 steps give 27.5 dB at 0.102 bpp.
MIN_STEPS_I = 450


def p_class(gop_size: int) -> int:
    """0, 1, 2 for small (<= 10), medium (<= 60) and large p, as the paper's 6/30/120."""
    if gop_size <= 10:
        return 0
    return 1 if gop_size <= 60 else 2


@dataclass(frozen=True)
class EpsLaw:
    """``eps = clamp(1 - a * exp(-b * MSE + c), 0, 1)``, MSE between corresponding frames of
    adjacent GOPs, pixel values in [0, 1] (PSNR-YUV weighting, see bitstream_spec.md).

    Defaults fitted by ``uar calibrate`` on the five developer clips (docs/evaluation.md, "eps
    law"): at every one of 12 sampled pairs (p = 10, 16 and 30, gap MSE 0.0026..0.0406, up to
    and across a scene cut, preset fast) the best RD loss was at eps = 0, i.e. the P-model
    starts from the previous decoded model. The fit (a = 1.0000406, b = 1e-3, the lower bound
    of b) gives eps = 0 up to MSE 0.0406 and at most 0.001 at any MSE; the seed init enters a
    P-model only through ``--eps`` or ``--init``.
    """

    a: float = 1.0000406
    b: float = 0.001
    c: float = 0.0

    def eps(self, mse: float) -> float:
        return float(law_eps(self.a, self.b, self.c, mse))


def law_eps(a: Any, b: Any, c: Any, mse: Any) -> Any:
    """``clamp(1 - a * exp(-b * mse + c), 0, 1)``, broadcasting over numpy arrays (the law's one
    definition: the encoder evaluates it, the calibration fits it)."""
    return np.clip(1.0 - a * np.exp(-b * mse + c), 0.0, 1.0)


# Adam's second-moment decay (torch's default): P-models, and I-models from preset medium up
# (PRESET_BETA2_I)
ADAM_BETA2 = 0.999


@dataclass(frozen=True)
class TrainingSettings:
    epochs_i: int = 30
    epochs_p: int = 20
    # P-model epochs where the picture moves (the latent family with a motion margin, HNeRV before a
    # moving camera), until the encoder knows whether it does (EncoderSettings: latent_motion or
    # camera_moves decided); None: epochs_p
    epochs_p_moving: int | None = None
    lr: float = 2e-3
    batch_size: int = 1
    warmup: float = 0.1  # fraction of steps with a linear warm-up, then cosine decay
    lmbda: float = 150.0  # loss = bits per pixel + lmbda * MSE (pixels in [0, 1]); sizing.RATE_LADDER
    precision: Precision = Precision.AUTO  # auto: bf16 autocast where the hardware has fast bf16
    distortion: Distortion = Distortion.YUV
    quant: QuantMode = QuantMode.RQEC
    qat_bits: int = 8  # bit width of the base (QAT) variant
    init_bits: int = 6  # initial quantization step: the tensor's range in 2^init_bits steps
    step_lr_scale: float = 30.0  # learning rate of the log quantization steps / lr
    grid_lr_scale: float = 1.0  # learning rate of feature grids (HiNeRV) / lr
    min_std: float = 0.05  # floor of the per-tensor Gaussian std, in quantization steps
    rate_noise: bool = False  # rate on codes + uniform noise (paper) or on rounded codes (STE)
    rate_model: RateModel = RateModel.LAPLACE
    # P-models are fine-tunes of their reference: their own learning rate (lr * lr_p_scale),
    # warm-up fraction and rate-distortion trade-off (lmbda * lambda_p_scale).
    # measured: docs/temporal_reuse.md (0.3 until P-models got 30 epochs at fast); the presets
    # ultrafast to medium, whose I-models train at 4x the rate, set 0.5 (PRESET_LR_P_SCALE)
    lr_p_scale: float = 1.0
    warmup_p: float = 0.0
    lambda_p_scale: float = 0.75  # measured: docs/temporal_reuse.md (0.6.1: 0.75 for 0.5, fewer bits at equal quality)
    # Adam's second-moment decay in an I-model's fit; P-models keep ADAM_BETA2 (for_p_models)
    beta2_i: float = ADAM_BETA2
    # I-model fits started from different seeds, each trained a quarter of its schedule, before
    # the one of lowest loss goes on to the end (pipeline/seed_trials.py); 1: one fit, no trial
    seed_trials: int = 1
    use_encoder: bool = True  # train a family's training-only encoder jointly (HNeRV embeddings; see hnerv.py)
    compile: bool = False  # torch.compile the network's forward (off: slower on this CPU, docs/training_speed.md)
    # lambda_p_scale where the picture moves (HNeRV before a moving camera), until the encoder
    # knows whether it does, as epochs_p_moving; None: lambda_p_scale
    lambda_p_scale_moving: float | None = None

    def __post_init__(self) -> None:
        _coerce_choices(self)

    def for_p_models(self) -> "TrainingSettings":
        """The settings a P-model trains with: its learning rate, warm-up and lambda, and
        Adam's default second-moment decay (:data:`ADAM_BETA2`)."""
        return dataclasses.replace(
            self, lr=self.lr * self.lr_p_scale, warmup=self.warmup_p, lmbda=self.lmbda * self.lambda_p_scale,
            beta2_i=ADAM_BETA2,
        )

    @property
    def motion_pending(self) -> bool:
        """Whether the P-models' settings wait on whether the picture moves."""
        return self.epochs_p_moving is not None or self.lambda_p_scale_moving is not None

    def for_motion(self, moving: bool) -> "TrainingSettings":
        """These settings once it is known whether the model's grids move: ``epochs_p`` and
        ``lambda_p_scale`` are :attr:`epochs_p_moving` and :attr:`lambda_p_scale_moving` where
        they do (each if set), and those two are gone."""
        if not self.motion_pending:
            return self
        return dataclasses.replace(
            self,
            epochs_p=self.epochs_p_moving if moving and self.epochs_p_moving is not None else self.epochs_p,
            lambda_p_scale=(self.lambda_p_scale_moving if moving and self.lambda_p_scale_moving is not None
                            else self.lambda_p_scale),
            epochs_p_moving=None, lambda_p_scale_moving=None,
        )

    def validate(self) -> None:
        if self.epochs_i < 1 or self.epochs_p < 1 or (self.epochs_p_moving is not None and self.epochs_p_moving < 1):
            raise UarSettingsError("epochs must be at least 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UarSettingsError(f"learning rate must be positive, got {self.lr}")
        if self.batch_size < 1:
            raise UarSettingsError("batch size must be at least 1")
        if not 0 <= self.warmup < 1:
            raise UarSettingsError("warm-up fraction must be in [0, 1)")
        if not (self.lmbda > 0 and math.isfinite(self.lmbda)):
            raise UarSettingsError(f"lambda must be positive, got {self.lmbda}")
        if not 2 <= self.qat_bits <= 16:
            raise UarSettingsError("QAT bits must be in 2..16")
        for name in ("lr_p_scale", "lambda_p_scale", "lambda_p_scale_moving"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise UarSettingsError(f"{name} must be positive, got {value}")
        if not 0 <= self.warmup_p < 1:
            raise UarSettingsError("P-model warm-up fraction must be in [0, 1)")
        if not 2 <= self.init_bits <= 24:
            raise UarSettingsError("init bits must be in 2..24")
        if not (self.min_std > 0 and math.isfinite(self.min_std)):
            raise UarSettingsError(f"min_std must be positive, got {self.min_std}")
        for name in ("step_lr_scale", "grid_lr_scale"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise UarSettingsError(f"{name} must be positive, got {value}")
        if not 0 < self.beta2_i < 1:
            raise UarSettingsError(f"beta2_i must be in (0, 1), got {self.beta2_i}")
        if self.seed_trials < 1:
            raise UarSettingsError(f"seed trials must be at least 1, got {self.seed_trials}")


@dataclass(frozen=True)
class EncoderSettings:
    gop_size: int = 30  # p
    gom_size: int = 5  # m
    family: ModelFamily = ModelFamily.HNERV
    model_size: int = 100_000  # coded parameters per model
    training: TrainingSettings = field(default_factory=TrainingSettings)
    init: InitMode = InitMode.II
    eps: float | None = None  # fixed eps for every P-model (ablations); None: the eps law
    eps_law: EpsLaw = field(default_factory=EpsLaw)
    use_ref: bool = True  # code P-models as residuals against their initialisation
    seed: int = 0  # base seed; model k of the stream uses derive_seed(seed, k)
    preset: Preset = DEFAULT_PRESET
    target_bpp: float | None = None  # rate control: lambda steered to this rate (pipeline/rate_control.py)
    # latent family: hidden units of its grids' context entropy model (0: off); None: the
    # family's default. The architecture fields record it (``context_hidden``).
    latent_context: int | None = None
    # latent family: the order in which that network codes the grids (checkerboard, format 1.5's,
    # or wavefront, format 1.10: docs/latent_grids.md, "The wavefront order"), and in which the
    # training prices them; None: coded by wavefronts, priced in the checkerboard where the
    # grids follow a moving camera (pipeline/plan.py, ``context_order_for`` and
    # ``training_order_for``). The architecture fields record the coded order
    # (``context_order``, absent: checkerboard).
    latent_context_order: ContextOrder | None = None
    # latent family: pixels of grid beyond each edge of the frame for the per-frame offsets of
    # a moving camera (0: no offsets); None: from the video's own global motion
    # (pipeline/plan.py). The architecture fields record it (``motion_margin``).
    latent_motion: int | None = None
    # latent family: the offsets as a field of one (dy, dx) per block of this many pixels (local
    # motion, format 1.7; 0: one offset per frame); None: the encoder's choice (pipeline/plan.py).
    # The architecture fields record it (``motion_block``).
    latent_motion_block: int | None = None
    # other families: whether the camera moves (the motion survey's verdict,
    # pipeline/plan.py: plan_motion), where the training's P-model epochs depend on it
    # (TrainingSettings.epochs_p_moving); None: not decided yet. Not recorded: the stream
    # records the P-models' epochs it led to.
    camera_moves: bool | None = None
    # the frames that start a new scene, and so a new GOP and GOM (format 1.9); None: the
    # encoder finds them in the video (pipeline/plan.py: plan_scene_cuts), () for none. The
    # stream's coding parameters hold them.
    scene_cuts: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        _coerce_choices(self)
        if self.scene_cuts is not None:  # a list read back from JSON
            object.__setattr__(self, "scene_cuts", tuple(int(c) for c in self.scene_cuts))
        if self.latent_context_order is not None:  # a name, or a number read back from JSON
            object.__setattr__(self, "latent_context_order", parse_context_order(self.latent_context_order))
        # the P-models' epochs and lambda, once it is decided whether the picture moves
        # (pipeline/plan.py: plan_motion decides latent_motion, or camera_moves, from the video);
        # the stream records the epochs and lambda scale used
        moving = (None if self.latent_motion is None else bool(self.latent_motion)) \
            if self.family == ModelFamily.LATENT else self.camera_moves
        if moving is not None or not self.training.motion_pending:
            object.__setattr__(self, "training", self.training.for_motion(bool(moving)))

    def validate(self) -> None:
        if self.gop_size < 1:
            raise UarSettingsError(f"GOP size p must be at least 1, got {self.gop_size}")
        if self.gom_size < 1:
            raise UarSettingsError(f"GOM size m must be at least 1, got {self.gom_size}")
        if self.model_size < 1000:
            raise UarSettingsError(f"model size must be at least 1000 parameters, got {self.model_size}")
        if self.eps is not None and not 0.0 <= self.eps <= 1.0:
            raise UarSettingsError(f"eps must be in [0, 1], got {self.eps}")
        if not 0 <= self.seed < 2**32:
            raise UarSettingsError("seed must fit in 32 bits")
        if self.target_bpp is not None:
            check_target_bpp(self.target_bpp)
        _check_latent_setting(self.family, self.latent_context, "latent context width", MAX_CONTEXT_HIDDEN)
        if self.latent_context_order is not None:
            if self.family != ModelFamily.LATENT:
                raise UarSettingsError(f"a latent context order is for --model latent, not {self.family}")
            if self.latent_context == 0:
                raise UarSettingsError("a latent context order needs a context network: not with a latent context of 0")
        _check_latent_setting(self.family, self.latent_motion, "latent motion margin", MAX_MOTION_MARGIN)
        _check_latent_setting(self.family, self.latent_motion_block, "latent motion block", MAX_MOTION_BLOCK)
        if self.latent_motion_block and not MIN_MOTION_BLOCK <= self.latent_motion_block:
            raise UarSettingsError(
                f"the latent motion block must be 0 or {MIN_MOTION_BLOCK} to {MAX_MOTION_BLOCK} pixels, "
                f"got {self.latent_motion_block}")
        if self.latent_motion_block and self.latent_motion == 0:
            raise UarSettingsError("a latent motion block needs offsets: not with a latent motion margin of 0")
        if self.scene_cuts and not scene_cuts_in_order(self.scene_cuts):
            raise UarSettingsError(f"scene cuts must be increasing frames after frame 0, got {list(self.scene_cuts)}")
        self.training.validate()

    def informational_fields(self, **resolved: Any) -> dict[str, FieldValue]:
        """What the stream records about how it was made (not needed to decode): every field
        of these settings and of their training settings, by field name, except those the
        coding parameters already hold (p, m, family). ``resolved`` overrides a value with the
        one actually used (e.g. ``precision="bf16"`` where the settings say ``auto``) or adds
        one (``device="cpu"``). ``None`` values (e.g. no fixed eps) are left out, and so are
        the settings added after 0.13.0 at the value that trains as before
        (:data:`LATER_TRAINING_DEFAULTS`): a stream they do not touch is 0.13.0's byte for byte."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in _CODING_FIELDS:
                continue
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value) and f.name == "training":
                values.update({t.name: getattr(value, t.name) for t in dataclasses.fields(value)})
            else:
                values[f.name] = value
        values.update(resolved)
        return {k: _field_value(k, v) for k, v in values.items() if not _left_out(k, v)}


def parse_context_order(value: ContextOrder | int | str) -> ContextOrder:
    """The latent context order a setting names: a :class:`ContextOrder`, its number or its
    name (``"checkerboard"``, ``"wavefront"``)."""
    try:
        return ContextOrder[value.upper()] if isinstance(value, str) else ContextOrder(value)
    except (KeyError, ValueError):
        names = ", ".join(o.name.lower() for o in ContextOrder)
        raise UarSettingsError(f"the latent context order must be one of {names}, got {value!r}") from None


def _check_latent_setting(family: ModelFamily, value: int | None, name: str, limit: int) -> None:
    """A latent family option: only with ``--model latent``, and 0 to ``limit``."""
    if value is None:
        return
    if family != ModelFamily.LATENT:
        raise UarSettingsError(f"a {name} is for --model latent, not {family}")
    if not 0 <= value <= limit:
        raise UarSettingsError(f"the {name} must be 0 to {limit}, got {value}")


# Training settings added after 0.13.0, with the value that trains as 0.13.0 did: at that value
# the stream leaves them out (spec 5.1.1: absent means that value), and so does a bench curve's
# cache key (bench/settings_json.py).
LATER_TRAINING_DEFAULTS: dict[str, object] = {"beta2_i": ADAM_BETA2, "seed_trials": 1}


def _left_out(name: str, value: Any) -> bool:
    """Whether the stream leaves setting ``name`` out (:meth:`EncoderSettings.informational_fields`)."""
    return value is None or (name in LATER_TRAINING_DEFAULTS and value == LATER_TRAINING_DEFAULTS[name])


# Settings the stream's coding parameters hold already (and camera_moves, which the P-models'
# epochs record).
_CODING_FIELDS = frozenset({"gop_size", "gom_size", "family", "latent_context", "latent_context_order", "latent_motion",
                            "latent_motion_block", "camera_moves", "scene_cuts"})


def _field_value(name: str, value: Any) -> FieldValue:
    """A setting as a stream field value: enums by value, small dataclasses as float lists."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if dataclasses.is_dataclass(value):
        return [float(getattr(value, f.name)) for f in dataclasses.fields(value)]
    if isinstance(value, (bool, int, float, str)):
        return value
    raise UarSettingsError(f"setting {name!r} has no stream representation ({type(value).__name__})")


# Training settings a family trains with unless told otherwise (applied before explicit
# overrides). The latent grids learn at 16x the rate of their synthesis network: vtest CIF, 30
# frames, preset fast, lambda 150, 6 time samples per level: x4 28.84 dB at 35,802 bytes, x16
# 29.77 dB at 42,436, x64 30.04 dB at 48,915 (docs/latent_grids.md). Their P-models train
# at the I-models' learning rate: 60 frames, p = 30, m = 2, the P-model coded 13,821 bytes at
# 31.75 dB against 15,939 at 31.30 at half the rate (the short presets' rule for HNeRV).
FAMILY_TRAINING: dict[ModelFamily, dict[str, object]] = {
    ModelFamily.LATENT: {"grid_lr_scale": 16.0, "lr_p_scale": 1.0},
}

# Families whose P-models train another fraction of the I-model's epochs where the picture moves
# (the latent family with a motion margin: per-frame offsets or a field; HNeRV before a moving
# camera, as the motion survey finds it), TrainingSettings.epochs_p_moving. Such a latent
# P-model moves its grids, its offsets and its synthesis from the previous model's and keeps
# gaining past half the I-model's steps: the README bench at preset
# fast with P-models at 0.75 (45 epochs) against 0.5, BD-rate box -7.2%, carphone -5.9%,
# megamind -14.7% (a field), cockatoo -9.5% (per-frame offsets), in about a fifth more seconds a
# point; on vtest (no offsets) -0.5%, on its own curve, where HNeRV given the same seconds coded
# 14% fewer bytes (docs/latent_grids.md, "The epochs of I- and P-models"). HNeRV on cockatoo
# (a handheld camera, the README bench's moving clip): -5.4% BD-rate against its curve at 30 P
# epochs (+517.7% against x265 with format 1.8, from +541.8%), and at equal time better than 70
# and 35 epochs (docs/temporal_reuse.md, "HNeRV's P-models at 0.75 of the I-model's epochs").
MOVING_P_EPOCH_FRACTION: dict[ModelFamily, float] = {ModelFamily.LATENT: 0.75, ModelFamily.HNERV: 0.75}

# Families whose P-models train at another share of the I-model's lambda where the picture moves
# (TrainingSettings.lambda_p_scale_moving; elsewhere TrainingSettings.lambda_p_scale, 0.75). HNeRV
# before a moving camera (cockatoo, the README bench's points, preset fast): P-models at the
# I-model's lambda code -4.1% BD-rate on PSNR-YUV (-3.2% MS-SSIM) against 0.75 over the range the
# two curves share, at 0.5 worse than 0.75 at both points measured (docs/temporal_reuse.md, "HNeRV's
# P-models at the I-model's lambda before a moving camera").
MOVING_P_LAMBDA_SCALE: dict[ModelFamily, float] = {ModelFamily.HNERV: 1.0}


def preset_training(
    preset: Preset | str, gop_size: int, family: ModelFamily | str = ModelFamily.HNERV, **overrides: object
) -> TrainingSettings:
    """Training settings of a named preset at this p for ``family``
    (:data:`FAMILY_TRAINING`, :data:`MOVING_P_EPOCH_FRACTION`), with explicit overrides applied."""
    chosen = parse_choice(Preset, preset, "preset")
    model_family = parse_choice(ModelFamily, family, "family")
    overrides = {key: v for key, v in overrides.items() if v is not None}
    div = PRESET_DIVISORS[chosen]
    k = p_class(gop_size)
    floor = math.ceil(MIN_STEPS_I / gop_size)  # batch-1 steps: one per frame and epoch
    epochs_i = max(2, floor, round(PAPER_EPOCHS_I[k] / div))
    moving = MOVING_P_EPOCH_FRACTION.get(model_family)
    moving_lambda = MOVING_P_LAMBDA_SCALE.get(model_family)
    base = TrainingSettings(
        epochs_i=epochs_i,
        epochs_p=max(2, round(P_EPOCH_FRACTION * epochs_i)),
        # an explicit --epochs-p is every P-model's
        epochs_p_moving=None if moving is None or "epochs_p" in overrides else max(2, round(moving * epochs_i)),
        # an explicit --lambda-p-scale is every P-model's
        lambda_p_scale_moving=None if "lambda_p_scale" in overrides else moving_lambda,
        lr=(2e-3, 2e-3, 1e-3)[k] * PRESET_LR_SCALE.get(chosen, 1.0),
        lr_p_scale=PRESET_LR_P_SCALE.get(chosen, TrainingSettings.lr_p_scale),
        beta2_i=PRESET_BETA2_I.get(chosen, ADAM_BETA2),
    )
    base = dataclasses.replace(base, **FAMILY_TRAINING.get(model_family, {}))
    return dataclasses.replace(base, **overrides)


@dataclass(frozen=True)
class TrainingOptions:
    """What a user picks for training and where it runs: the options ``uar encode``, ``uar
    bench`` and ``uar calibrate`` share (one click decorator in the CLI) and the bench's runners
    and calibration take. ``None`` training values take the preset's value at each p
    (:func:`preset_training`). ``device`` and ``threads`` change where and how fast torch runs,
    not what the settings ask for."""

    # None: not chosen yet (``uar encode --model auto``: the API picks it from the video,
    # ``uarcodec.api.choose_family``); the training and encoder settings need it chosen
    family: ModelFamily | None = ModelFamily.HNERV
    preset: Preset = DEFAULT_PRESET
    lmbda: float | None = None
    epochs_i: int | None = None
    epochs_p: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    precision: Precision | None = None
    distortion: Distortion | None = None
    quant: QuantMode | None = None
    use_encoder: bool | None = None
    rate_model: RateModel | None = None
    lambda_p_scale: float | None = None
    compile: bool | None = None
    seed_trials: int | None = None
    seed: int = 0
    device: Device = Device.AUTO
    threads: int | None = None  # torch threads (None: torch's choice)
    latent_context: int | None = None  # EncoderSettings.latent_context
    latent_context_order: ContextOrder | str | None = None  # EncoderSettings.latent_context_order
    latent_motion: int | None = None  # EncoderSettings.latent_motion
    latent_motion_block: int | None = None  # EncoderSettings.latent_motion_block
    scene_cuts: tuple[int, ...] | None = None  # EncoderSettings.scene_cuts (None: found in the video)

    # The fields that decide what is trained (all but where and how fast it runs).
    RESULT_FIELDS: ClassVar[tuple[str, ...]] = (
        "family", "preset", "lmbda", "epochs_i", "epochs_p", "batch_size", "lr", "precision", "distortion",
        "quant", "use_encoder", "rate_model", "lambda_p_scale", "compile", "seed", "latent_context",
        "latent_context_order", "latent_motion", "latent_motion_block", "seed_trials",
    )

    def __post_init__(self) -> None:
        _coerce_choices(self)
        if self.threads is not None and self.threads < 1:
            raise UarSettingsError(f"threads must be at least 1, got {self.threads}")

    @property
    def latent_options(self) -> bool:
        """Whether an option of the latent family's is given."""
        return any(v is not None for v in (self.latent_context, self.latent_context_order, self.latent_motion,
                                           self.latent_motion_block))

    def _chosen_family(self) -> ModelFamily:
        if self.family is None:
            raise UarSettingsError("the model family is not chosen yet (auto: uarcodec.api.choose_family)")
        return self.family

    def training(self, gop_size: int) -> TrainingSettings:
        """The training settings at this p: the preset's, with the values given here."""
        family = self._chosen_family()
        overrides = {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainingSettings)
                     if hasattr(self, f.name)}
        return preset_training(self.preset, gop_size, family, **overrides)

    def encoder_settings(self, gop_size: int, gom_size: int, model_size: int, **coding: Any) -> EncoderSettings:
        """Validated encoder settings at this p, m and size; ``coding`` sets the remaining
        :class:`EncoderSettings` fields (init, eps, eps_law, use_ref)."""
        settings = EncoderSettings(
            gop_size=gop_size, gom_size=gom_size, family=self._chosen_family(), model_size=model_size,
            training=self.training(gop_size), seed=self.seed, preset=self.preset,
            latent_context=self.latent_context, latent_context_order=self.latent_context_order,
            latent_motion=self.latent_motion,
            latent_motion_block=self.latent_motion_block, scene_cuts=self.scene_cuts, **coding,
        )
        settings.validate()
        return settings


def check_target_bpp(bpp: float) -> float:
    """``bpp`` as a float when it is a usable target rate, else a settings error."""
    if not (bpp > 0 and math.isfinite(bpp)):
        raise UarSettingsError(f"target bpp must be positive, got {bpp}")
    return float(bpp)


def derive_seed(base_seed: int, model_index: int) -> int:
    """The seed of the ``model_index``-th model of the stream (stored per model anyway)."""
    x = (base_seed * 0x9E3779B1 + model_index * 0x85EBCA77 + 0x165667B1) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    return x


def parse_size(text: str) -> int:
    """'150k' -> 150000, '1.5M' -> 1500000, '90000' -> 90000."""
    t = text.strip().lower()
    mult = 1
    if t.endswith("k"):
        mult, t = 1_000, t[:-1]
    elif t.endswith("m"):
        mult, t = 1_000_000, t[:-1]
    try:
        value = float(t) * mult
    except ValueError:
        raise UarSettingsError(f"cannot read model size {text!r} (use e.g. 150k or 1.2M)") from None
    if not math.isfinite(value) or value <= 0:
        raise UarSettingsError(f"model size must be positive, got {text!r}")
    return int(round(value))
