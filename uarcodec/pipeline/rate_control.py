"""Rate control for a target bpp (``uar encode --bpp``).

The model size only sets the rate roughly: the bits a parameter costs vary about threefold
between clips at one preset. What lands a stream on its target is lambda (loss = bpp + lambda
* MSE), steered while each model trains:

1. **Per GOM** (:func:`gom_bit_budget`): the GOM's frames at the target bpp, less its share of
   the stream header. GOMs are coded independently (possibly on other machines), so each one
   holds its own budget.
2. **Per model** (:func:`model_bit_target`): what the GOM has left, shared out over the models
   still to code in proportion to their frames, a P-model weighing :data:`P_BIT_SHARE` of an
   I-model. A model that overshoots or undershoots is made up by the ones after it.
3. **Per epoch** (:func:`steer_lambda`): after each epoch of a model's training from
   :data:`STEER_FROM` of its epochs on, lambda moves by the ratio of the model's target rate to
   its estimated rate (the rate term of the loss), damped and bounded, so the estimate settles
   on the target. Not earlier: a fresh model's rate falls steeply on its own in its first
   epochs (its quantization steps grow), and steering on it then would drive lambda far too
   low.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from uarcodec.bitstream.records import ModelKind
from uarcodec.settings import check_target_bpp

# A P-model's share of the bits against an I-model's of as many frames: the P/I byte ratio the
# five-clip bench measured at preset fast (0.34 to 0.63, docs/temporal_reuse.md; 0.43 to 0.52
# on box and carphone with 4 embedding channels).
P_BIT_SHARE = 0.45

# lambda moves by (target / measured) ** LAMBDA_GAIN per epoch, at most by MAX_EPOCH_FACTOR
# either way, and stays within LAMBDA_RANGE times the configured lambda. The rate of a trained
# model goes about as lambda ** 0.4 (carphone QCIF 30 frames, preset fast: lambda 125 -> 500
# took 13,057 -> 22,865 bytes), but it lags lambda by several epochs and keeps falling on its
# own while the quantization steps grow: a gain of 1 with a factor of 2 per epoch, steering
# from 30% of the epochs on the training estimate, drove lambda to 10 and landed 24% under a
# 0.10 bpp target at 110k on that clip (25.4 dB); these values, on the rate as coded, land
# 9% under it (27.1 dB), and 4% under 0.30 bpp (docs/rate_control.md).
LAMBDA_GAIN = 0.5
STEER_FROM = 0.2
MAX_EPOCH_FACTOR = 1.3
LAMBDA_RANGE = 100.0


def gom_bit_budget(target_bpp: float, width: int, height: int, gom_frames: int, header_bytes: int,
                   total_frames: int) -> float:
    """The bits one GOM of ``gom_frames`` frames may spend: its pixels at ``target_bpp``, less
    its share (by frames) of the stream header's ``header_bytes``."""
    check_target_bpp(target_bpp)
    header_share = 8.0 * header_bytes * gom_frames / max(1, total_frames)
    return max(0.0, target_bpp * width * height * gom_frames - header_share)


def model_weight(kind: ModelKind, frames: int) -> float:
    return frames * (1.0 if kind == ModelKind.I else P_BIT_SHARE)


def model_bit_target(budget_bits: float, spent_bits: float, position: int,
                     models: Sequence[tuple[ModelKind, int]]) -> float:
    """The bits the model at ``position`` of a GOM should spend: what is left of
    ``budget_bits`` after ``spent_bits`` (the models before it, as coded), shared over the
    models from ``position`` on (``models``: each one's kind and frames) by
    :func:`model_weight`. Never below 2% of its even share, so that a GOM that overspent
    early still codes every model."""
    weights = [model_weight(kind, frames) for kind, frames in models]
    mine, rest = weights[position], sum(weights[position:])
    floor = 0.02 * budget_bits * mine / sum(weights)
    return max(floor, (budget_bits - spent_bits) * mine / rest)


def steers_after(epoch: int, epochs: int) -> bool:
    """Whether lambda is steered after ``epoch`` (1-based) of ``epochs``."""
    return epoch >= max(1, math.ceil(STEER_FROM * epochs))


def steer_lambda(lmbda: float, estimated_bpp: float, target_bpp: float, base_lambda: float) -> float:
    """lambda for the next epoch, from this epoch's estimated rate against the model's target
    (module docstring): lower when the model spends too much, higher when it spends too
    little."""
    if not (estimated_bpp > 0 and math.isfinite(estimated_bpp)):
        return lmbda
    factor = (target_bpp / estimated_bpp) ** LAMBDA_GAIN
    factor = min(MAX_EPOCH_FACTOR, max(1.0 / MAX_EPOCH_FACTOR, factor))
    return min(base_lambda * LAMBDA_RANGE, max(base_lambda / LAMBDA_RANGE, lmbda * factor))


__all__ = [
    "LAMBDA_GAIN", "LAMBDA_RANGE", "MAX_EPOCH_FACTOR", "P_BIT_SHARE", "STEER_FROM", "gom_bit_budget",
    "model_bit_target", "model_weight", "steer_lambda", "steers_after",
]
