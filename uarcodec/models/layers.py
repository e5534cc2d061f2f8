"""Small building blocks shared by the INR families.

* :func:`round_up`, :func:`crop_frames`: padding a frame size to a stride multiple and cutting
  the network output back to the frame size.
* :func:`uniform_conv_bound`: PyTorch's default bound of a conv/linear layer's weights and biases.
* :func:`sample_init`: draws a tensor from an :class:`InitSpec` with a torch generator (training
  convenience; the platform-independent seeded init of the codec lives in ``coding/init.py``).
* :func:`count_macs`: multiply-accumulates of one call, from ``torch.utils.flop_counter``.
* :func:`layer_norm_last`: LayerNorm over the last dimension, computed in float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from uarcodec.errors import UarInputError, UarSettingsError
from uarcodec.vocabulary import InitKind, InitSpec


def layer_norm_last(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                    eps: float) -> torch.Tensor:
    """LayerNorm over the last dimension of ``x`` (``weight``/``bias`` of that size or None),
    computed in float32 and returned in ``x``'s dtype.

    Under bf16 autocast the maps reaching a LayerNorm are bf16, and torch's CPU LayerNorm is
    up to about 5x slower on bf16 maps of a few channels than on the same map in float32, casts
    included (forward and backward; ``benchmarks/bench_layer_norm.py``). Same function, float32
    statistics.
    """
    y = F.layer_norm(x.float(), (x.shape[-1],), None if weight is None else weight.float(),
                     None if bias is None else bias.float(), eps)
    return y.to(x.dtype)


def round_up(n: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is >= ``n``."""
    return -(-n // multiple) * multiple


def check_frame_indices(frame_idx: torch.Tensor, num_frames: int) -> None:
    """``frame_idx`` is a non-empty 1-D tensor of frame numbers in ``[0, num_frames)``. The
    range is checked only for indices in host memory: on an accelerator reading them back
    would stall every training step (an out-of-range index fails in the gather there)."""
    if frame_idx.dim() != 1 or frame_idx.numel() == 0:
        raise UarInputError(f"frame_idx must be a non-empty 1-D tensor, got shape {tuple(frame_idx.shape)}")
    if frame_idx.device.type == "cpu" and (int(frame_idx.min()) < 0 or int(frame_idx.max()) >= num_frames):
        raise UarInputError(f"frame index out of range [0, {num_frames})")


def crop_frames(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Keep the top-left ``height x width`` of ``(..., H', W')`` with ``H' >= height, W' >= width``."""
    if x.shape[-2] == height and x.shape[-1] == width:
        return x
    return x[..., :height, :width]


def uniform_conv_bound(fan_in: int) -> float:
    """Bound b of PyTorch's default ``U(-b, b)`` init of Conv/Linear weights and biases.

    ``kaiming_uniform_(a=sqrt(5))`` gives ``b = 1/sqrt(fan_in)`` for the weight and the bias uses
    the same bound; ``fan_in = in_channels / groups * kernel_h * kernel_w``.
    """
    return 1.0 / math.sqrt(fan_in)


def sample_init(spec: InitSpec, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """A float32 tensor of ``shape`` drawn by the rule ``spec`` with torch's RNG; under the
    meta device (a network's skeleton) an empty meta tensor, with nothing drawn."""
    n = math.prod(shape)
    if torch.empty(0).is_meta:
        return torch.empty(shape)
    if spec.kind == InitKind.ZEROS:
        return torch.zeros(shape)
    if spec.kind == InitKind.ONES:
        return torch.ones(shape)
    if spec.kind == InitKind.UNIFORM:
        return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * spec.bound
    if spec.kind == InitKind.SHARED_UNIFORM:
        if spec.period <= 0 or n % spec.period:
            raise UarSettingsError(f"SHARED_UNIFORM period {spec.period} does not divide {n} elements")
        code = (torch.rand(spec.period, generator=generator) * 2.0 - 1.0) * spec.bound
        noise = (torch.rand(n, generator=generator) * 2.0 - 1.0) * spec.noise
        return (code.repeat(n // spec.period) + noise).reshape(shape)
    raise UarSettingsError(f"unknown init kind {spec.kind!r}")


def count_macs(fn: Callable[..., object], *args: object) -> int:
    """Multiply-accumulates of one call ``fn(*args)`` (FLOPs counted by torch, divided by 2)."""
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops() // 2
