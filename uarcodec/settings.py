"""Encoder settings and presets.

Everything an encode depends on lives in :class:`EncoderSettings`; the fields a decoder needs
go into the stream's coding parameters, the rest into its (informational) encoder settings.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

from uarcodec.bitstream.records import FieldValue
from uarcodec.errors import UarSettingsError

InitMode = Literal["ii", "random", "direct"]
Precision = Literal["auto", "fp32", "bf16"]
Distortion = Literal["yuv", "rgb"]
QuantMode = Literal["rqec", "qat"]

# Training length of the paper (Section IV-A): epochs for (small, medium, large) p.
PAPER_EPOCHS_I = (3000, 1500, 1500)
PAPER_EPOCHS_P = (2000, 2000, 1000)

# Named training lengths as a divisor of the paper's epochs (veryslow = the paper).
PRESET_DIVISORS: dict[str, int] = {
    "ultrafast": 500,
    "superfast": 250,
    "veryfast": 100,
    "fast": 40,
    "medium": 15,
    "slow": 5,
    "veryslow": 1,
}
DEFAULT_PRESET = "medium"


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
        return min(1.0, max(0.0, 1.0 - self.a * math.exp(-self.b * mse + self.c)))


@dataclass(frozen=True)
class TrainingSettings:
    epochs_i: int = 30
    epochs_p: int = 20
    lr: float = 2e-3
    batch_size: int = 1
    warmup: float = 0.1  # fraction of steps with a linear warm-up, then cosine decay
    lmbda: float = 500.0  # loss = bits per pixel + lmbda * MSE (pixels in [0, 1])
    precision: Precision = "auto"  # auto: bf16 autocast where the hardware has fast bf16
    distortion: Distortion = "yuv"
    quant: QuantMode = "rqec"
    qat_bits: int = 8  # bit width of the base (QAT) variant
    init_bits: int = 6  # initial quantization step: the tensor's range in 2^init_bits steps
    step_lr_scale: float = 30.0  # learning rate of the log quantization steps / lr
    min_std: float = 0.05  # floor of the per-tensor Gaussian std, in quantization steps
    rate_noise: bool = False  # rate on codes + uniform noise (paper) or on rounded codes (STE)
    use_encoder: bool = True  # train a family's training-only encoder jointly (HNeRV embeddings; see hnerv.py)

    def validate(self) -> None:
        if self.epochs_i < 1 or self.epochs_p < 1:
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


@dataclass(frozen=True)
class EncoderSettings:
    gop_size: int = 30  # p
    gom_size: int = 5  # m
    family: str = "hnerv"
    model_size: int = 100_000  # coded parameters per model
    training: TrainingSettings = field(default_factory=TrainingSettings)
    init: InitMode = "ii"
    eps: float | None = None  # fixed eps for every P-model (ablations); None: the eps law
    eps_law: EpsLaw = field(default_factory=EpsLaw)
    use_ref: bool = True  # code P-models as residuals against their initialisation
    seed: int = 0  # base seed; model k of the stream uses derive_seed(seed, k)
    preset: str = DEFAULT_PRESET

    def validate(self) -> None:
        if self.gop_size < 1:
            raise UarSettingsError(f"GOP size p must be at least 1, got {self.gop_size}")
        if self.gom_size < 1:
            raise UarSettingsError(f"GOM size m must be at least 1, got {self.gom_size}")
        if self.model_size < 1000:
            raise UarSettingsError(f"model size must be at least 1000 parameters, got {self.model_size}")
        if self.init not in ("ii", "random", "direct"):
            raise UarSettingsError(f"unknown init mode {self.init!r}")
        if self.eps is not None and not 0.0 <= self.eps <= 1.0:
            raise UarSettingsError(f"eps must be in [0, 1], got {self.eps}")
        if not 0 <= self.seed < 2**32:
            raise UarSettingsError("seed must fit in 32 bits")
        self.training.validate()

    def informational_fields(self) -> dict[str, FieldValue]:
        """What the stream records about how it was made (not needed to decode)."""
        t = self.training
        return {
            "preset": self.preset,
            "model_size": self.model_size,
            "lambda": t.lmbda,
            "lr": t.lr,
            "epochs_i": t.epochs_i,
            "epochs_p": t.epochs_p,
            "batch_size": t.batch_size,
            "precision": t.precision,
            "distortion": t.distortion,
            "quant": t.quant,
            "use_encoder": t.use_encoder,
            "init": self.init,
            "eps_fixed": -1.0 if self.eps is None else self.eps,
            "eps_law": [self.eps_law.a, self.eps_law.b, self.eps_law.c],
            "use_ref": self.use_ref,
            "seed": self.seed,
        }


def preset_training(preset: str, gop_size: int, **overrides: object) -> TrainingSettings:
    """Training settings of a named preset at this p, with explicit overrides applied."""
    if preset not in PRESET_DIVISORS:
        raise UarSettingsError(f"unknown preset {preset!r} (known: {', '.join(PRESET_DIVISORS)})")
    div = PRESET_DIVISORS[preset]
    k = p_class(gop_size)
    base = TrainingSettings(
        epochs_i=max(2, round(PAPER_EPOCHS_I[k] / div)),
        epochs_p=max(2, round(PAPER_EPOCHS_P[k] / div)),
        lr=(2e-3, 2e-3, 1e-3)[k],
    )
    clean = {key: v for key, v in overrides.items() if v is not None}
    return dataclasses.replace(base, **clean)


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


# Bits per coded parameter the size-from-bpp rule assumes (RQEC I- and P-models together).
ASSUMED_BITS_PER_PARAM = 6.0


def size_for_bpp(bpp: float, width: int, height: int, gop_size: int) -> int:
    """Parameters per model so that a model of ``gop_size`` frames costs about ``bpp``."""
    if not (bpp > 0 and math.isfinite(bpp)):
        raise UarSettingsError(f"target bpp must be positive, got {bpp}")
    return max(1000, int(bpp * width * height * gop_size / ASSUMED_BITS_PER_PARAM))
