"""Model sizes (parameters per model) and lambdas that fit the video: the bench's four rate
points (:func:`default_points`) and ``uar encode``'s default (the second of the four).

Default sizes (:func:`default_sizes`): the paper's four sizes for the p class (small p:
0.3/0.45/0.6/0.9 MB, medium: 0.6/0.9/1.8/2.7 MB, large: 3/4.5/6/9 MB; 1 MB = 10^6 parameters,
the paper's 8-bit models), scaled by the pixels one model covers here against the paper's
1920x1080 at p = 6/30/120::

    size_k = paper_size_k * (W * H * p) / (1920 * 1080 * p_paper)

rounded to two significant digits. When the smallest point is below 1.5x the family's smallest
network at this frame size and p (HNeRV's per-frame embeddings set a floor), all four are
raised by the same factor so the ratios stay the paper's.

Default rate points (:func:`default_points`): the second of those sizes at a low lambda, the
third at two higher ones and the fourth at the highest (:data:`RATE_LADDER`). At a preset's
training length a larger model at a lower lambda codes far fewer bits than a smaller one at a
higher lambda for the same quality.

For a target rate (:func:`operating_point` with ``bpp``) the size is the one whose models, at
the bits per parameter an I-model measures at preset fast (:data:`I_BITS_PER_PARAM`) and a
P-model's share of that (:data:`~uarcodec.pipeline.rate_control.P_BIT_SHARE`), spend the
target; rate control then steers lambda to land on it (``pipeline/rate_control.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from uarcodec.errors import UarSettingsError
from uarcodec.models.registry import family_by_name
from uarcodec.pipeline.rate_control import P_BIT_SHARE
from uarcodec.settings import check_target_bpp, p_class, parse_choice, parse_size
from uarcodec.vocabulary import ModelFamily

# The paper's model sizes (MB, read as millions of parameters) per p class, its p per class and
# its frame size (UVG, 1920x1080).
PAPER_SIZES_MB = ((0.3, 0.45, 0.6, 0.9), (0.6, 0.9, 1.8, 2.7), (3.0, 4.5, 6.0, 9.0))
PAPER_GOPS = (6, 30, 120)
PAPER_PIXELS = 1920 * 1080
SMALLEST_HEADROOM = 1.5  # the smallest default point is at least this times the smallest network
# Families whose frame sets their size (the latent grids: one time sample per level at the
# least) take their four sizes as these multiples of their smallest network instead of the
# paper's. The latent grids' middle points are about the doubling schedule [1, 2, 4, 8, 15, 30]
# at CIF, p = 30 (1.5x), the shape that measured best there (docs/latent_grids.md).
FLOOR_LADDERS: dict[ModelFamily, tuple[float, ...]] = {ModelFamily.LATENT: (1.0, 1.2, 1.5, 2.5)}


def round_significant(value: float, digits: int = 2) -> int:
    """``value`` rounded to ``digits`` significant digits, as an integer."""
    if value <= 0:
        raise UarSettingsError(f"size must be positive, got {value}")
    magnitude = 10 ** max(0, math.floor(math.log10(value)) - digits + 1)
    return int(round(value / magnitude) * magnitude)


def size_label(size: int) -> str:
    """The point label of a model size: ``72000 -> "72k"``, ``2400 -> "2.4k"``; it reads back
    with :func:`uarcodec.settings.parse_size`."""
    if size >= 1_000_000 and size % 100_000 == 0:
        return f"{size / 1_000_000:g}M"
    if size >= 1000 and size % 100 == 0:
        return f"{size / 1000:g}k"
    return str(size)


def smallest_model_size(family: str, width: int, height: int, gop_frames: int) -> int:
    """The fewest coded parameters the family can be sized to here (within 2%)."""
    cls = family_by_name(family)

    def fits(target: int) -> bool:
        try:
            cls.config_for_size(target, height, width, gop_frames)
        except UarSettingsError:
            return False
        return True

    lo, hi = 1000, 1000
    while not fits(hi):
        lo, hi = hi, hi * 2
        if hi > 10**9:
            raise UarSettingsError(f"{family} cannot be sized for {width}x{height}, p={gop_frames}")
    if lo == hi:
        return hi
    while hi > lo * 1.02:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def default_sizes(
    family: str, width: int, height: int, gop_size: int, gop_frames: int | None = None
) -> tuple[int, ...]:
    """The four default model sizes (rate points) for this frame size and p (module docstring).

    ``gop_frames`` is the frames one model really covers (``min(p, frames)``; default p); the
    p class is that of ``gop_size``."""
    k = p_class(gop_size)
    frames = gop_size if gop_frames is None else gop_frames
    if parse_choice(ModelFamily, family, "family") in FLOOR_LADDERS:
        floor = smallest_model_size(family, width, height, frames)
        return tuple(round_significant(f * floor) for f in FLOOR_LADDERS[ModelFamily(family)])
    scale = width * height * frames / (PAPER_PIXELS * PAPER_GOPS[k])
    raw = [mb * 1e6 * scale for mb in PAPER_SIZES_MB[k]]
    floor = SMALLEST_HEADROOM * smallest_model_size(family, width, height, frames)
    if raw[0] < floor:
        raw = [r * floor / raw[0] for r in raw]
    return tuple(max(1000, round_significant(r)) for r in raw)


@dataclass(frozen=True)
class RatePoint:
    """One rate point: parameters per model and the lambda it trains with (None: the training
    settings' lambda)."""

    model_size: int
    lmbda: float | None = None

    @property
    def label(self) -> str:
        """``"27k"``, or ``"27k-l50"`` with a lambda of its own."""
        return size_label(self.model_size) + ("" if self.lmbda is None else f"-l{self.lmbda:g}")


# The four default rate points: (index into default_sizes, lambda). At a preset's fixed
# training length lambda moves the quality further than the size does, and at equal rate a
# larger model at a lower lambda beats a smaller one at a higher lambda (docs/rate_points.md:
# carphone and box, preset fast). The top point is the largest size at lambda 500, as before, so
# the curve reaches the quality it did (x265's curve starts at QP 51: on cockatoo at 32.3 dB).
# The second point is what `uar encode` uses without --size or --lambda; its lambda is
# TrainingSettings.lmbda's default.
RATE_LADDER = ((1, 50.0), (2, 150.0), (2, 300.0), (3, 500.0))


def default_points(
    family: str, width: int, height: int, gop_size: int, gop_frames: int | None = None
) -> tuple[RatePoint, ...]:
    """The four default rate points (size and lambda) for this frame size and p: the bench's
    curve and, its second point, ``uar encode``'s default (:data:`RATE_LADDER`)."""
    sizes = default_sizes(family, width, height, gop_size, gop_frames)
    return tuple(RatePoint(sizes[i], lmbda) for i, lmbda in RATE_LADDER)


def default_model_size(
    family: str, width: int, height: int, gop_size: int, gop_frames: int | None = None
) -> int:
    """The model size an encode uses when none is given: that of the second default rate
    point (:func:`default_points`), so that it follows the frame size and p (a fixed size
    would be far too large for a few small frames and far too small for 1080p)."""
    return default_points(family, width, height, gop_size, gop_frames)[1].model_size


# Bits an I-model's coded parameter costs at preset fast on the default rate points
# (docs/rate_points.md, uar info --breakdown): carphone QCIF 27k at lambda 50/150: 1.53/2.24,
# 54k at 300: 1.92; box CIF 44k at 50/150: 1.43/2.34. (At lambda 500, the old single lambda,
# it was about 3.)
I_BITS_PER_PARAM = 2.0


@dataclass(frozen=True)
class OperatingPoint:
    """How an encode is sized: parameters per model, and the rate that rate control steers
    to (None: lambda stays as configured)."""

    model_size: int
    target_bpp: float | None = None


def size_for_bpp(
    bpp: float, family: str, width: int, height: int, gop_frames: int, models_per_gom: int
) -> int:
    """Parameters per model so that a GOM of ``models_per_gom`` models of ``gop_frames``
    frames spends about ``bpp`` (module docstring); never below the family's smallest network
    here (rate control then lowers the rate further). A family of :data:`FLOOR_LADDERS` (most
    of its values train to zero; its rate follows lambda) takes its default size."""
    check_target_bpp(bpp)
    if parse_choice(ModelFamily, family, "family") in FLOOR_LADDERS:  # bits follow lambda, not the count
        return default_model_size(family, width, height, gop_frames, gop_frames)
    k = max(1, models_per_gom)
    bits_per_gop = bpp * width * height * gop_frames * k / (1.0 + P_BIT_SHARE * (k - 1))
    size = round_significant(max(1000.0, bits_per_gop / I_BITS_PER_PARAM))
    return max(size, smallest_model_size(family, width, height, gop_frames))


def operating_point(
    family: str, width: int, height: int, gop_size: int, gop_frames: int, models_per_gom: int, *,
    bpp: float | None = None, model_size: int | None = None,
) -> OperatingPoint:
    """The model size (and target rate) of an encode, from what the user gave: a size, a
    target bpp, both (that size, steered to that rate), or neither (the default size that fits
    this frame size and p, :func:`default_model_size`)."""
    if model_size is None:
        model_size = (default_model_size(family, width, height, gop_size, gop_frames) if bpp is None
                      else size_for_bpp(bpp, family, width, height, gop_frames, models_per_gom))
    return OperatingPoint(model_size, None if bpp is None else check_target_bpp(bpp))


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"50k,100k,200k"`` -> ``(50000, 100000, 200000)``."""
    parts = [p for p in (t.strip() for t in text.split(",")) if p]
    if not parts:
        raise UarSettingsError("no model sizes given")
    sizes = tuple(parse_size(p) for p in parts)
    if len(set(sizes)) != len(sizes):
        raise UarSettingsError(f"model sizes repeat: {text!r}")
    return sizes


__all__ = [
    "I_BITS_PER_PARAM", "PAPER_GOPS", "PAPER_PIXELS", "PAPER_SIZES_MB", "SMALLEST_HEADROOM", "OperatingPoint",
    "RATE_LADDER", "RatePoint", "default_model_size", "default_points", "default_sizes", "operating_point", "parse_sizes", "round_significant", "size_for_bpp",
    "size_label", "smallest_model_size",
]
