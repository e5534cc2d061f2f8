"""HNeRV: per-frame embeddings decoded by NeRV upsampling blocks (family id 1, ``"hnerv"``).

After Chen et al., "HNeRV: A Hybrid Neural Representation for Videos" (CVPR 2023); written
from the paper's description, not from its code.

Network for a GOP of T frames of H x W (both even):

* ``embeddings``: a coded parameter ``(T, E, h, w)``, one small feature map per frame, with
  ``h = ceil(H / S)``, ``w = ceil(W / S)`` and ``S = prod(strides)``. E = 16 by default.
* stem: ``Conv(E -> widths[0], stem_kernel)`` + GELU at ``h x w``.
* one NeRV block per stride ``s_i``: ``Conv(widths[i] -> widths[i+1] * s_i^2, kernel_sizes[i])``,
  ``PixelShuffle(s_i)``, GELU. Kernels are 1, 5, ..., 5, 3 (:func:`default_kernel_sizes`: a
  1x1 on the small, wide first map, 3x3 on the last, largest map, where a parameter costs the
  most MACs), widths shrink by ``reduce`` (1.2) per stage down to ``lower_width`` (12), which
  spreads the parameters evenly over the stages.
* head: ``Conv(widths[-1] -> 3, head_kernel)`` then ``(tanh(x) + 1) / 2`` (or a sigmoid), so
  the output is in [0, 1]. The network makes ``S*h x S*w`` pixels and the top-left ``H x W``
  are kept.

Strides rule (:func:`choose_strides`): the total stride S is taken from a table of 4-5 stages
of 2..4, largest first: 16 = (2,2,2,2), 24 = (3,2,2,2), 32 = (2,2,2,2,2), 48 = (3,2,2,2,2),
64 = (4,2,2,2,2), 96 = (4,3,2,2,2), 128 = (4,4,2,2,2). The largest S is chosen whose embedding
keeps at least 8 rows on the frame's short side (``min(H, W) / S >= 8``) and whose padded frame
is at most 10% larger than the frame; when none qualifies, the S with the fewest padded pixels.
176x144 -> 16 (9x11 embedding), 352x288 -> 32 (9x11), 640x352 -> 32 (11x20),
200x120 -> 24 (5x9), 1280x720 -> 64 (12x20), 1920x1080 -> 128 (9x15). Many stride-2 stages
beat fewer, larger ones on this CPU: at 352x288, 150k parameters, (2,2,2,2,2) costs 9.3k MACs
per pixel against 13.7k for (4,2,2,2), and in the same fitting time reached the higher PSNR.

Size rule (:meth:`HNeRV.config_for_size`): ``widths[i] = max(round(b / reduce**i), lower_width)``
for a real base width b found by bisection (the coded-parameter count grows with b; the floor
``lower_width`` is first lowered until the target is reachable), then every width may move by
-1, 0 or +1: the combination nearest the target is kept, except that any combination within
0.5% of the target counts as exact and then non-increasing widths and fewer moves win. The
result is within 2% of the target or the solver raises.

Embedding start: the seeded SHARED_UNIFORM rule (one code U(-4, 4) of E*h*w elements shared by
all frames, plus U(-0.2, 0.2) per element). A larger shared code beat U(-1, 1) by 1.3-2.0 dB;
independent codes per frame (no shared part) lost 3-5 dB. HNeRV's content encoder (ConvNeXt,
frames -> embeddings) with its weights *fixed* lost to this start by 0.9-1.6 dB, so
``content_init`` stays the base one (``{}``).

Trained *jointly* (:class:`HNeRVEncoder`, returned by :meth:`HNeRV.training_encoder`; the fit
codes its outputs as the embeddings) the encoder wins at equal epochs. Real fit, I-model,
8 frames, 100 epochs (400 steps), Adam 2e-3, batch 2, bf16, lambda 500, steps at 30x lr from
6 bits; decoded PSNR-YUV and coded bytes, mean of 3 seeds, off -> on:
carphone 176x144 30k params 25.79 dB 10.5 kB -> 26.00 dB 9.3 kB;
carphone 100k 27.84 dB 14.2 kB -> 28.39 dB 13.0 kB; vtest 352x288 150k 26.07 dB 23.1 kB ->
27.26 dB 21.8 kB (8 of 9 runs higher PSNR, 9 of 9 fewer bytes). It costs 1.2-1.4x the fit
time (single thread); with the extra time given to the seeded start as epochs (140 / 125 /
125) the encoder still wins at 100k and 150k (28.39 dB at 13.0 kB vs 28.39 dB at 14.4 kB;
27.26 dB at 21.8 kB vs 27.00 dB at 24.9 kB) and loses at 30k (26.00 dB at 9.3 kB vs 26.72 dB
at 10.7 kB). The encoder starts from the seeded rule's shared code plus a content part; without
that shared code (all of the spread from the content part) it went from -0.6 to +1.0 dB
against the seeded start across seeds on vtest (earlier step-rate settings).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import nn

from uarcodec.errors import UarInputError, UarSettingsError
from uarcodec.models.base import ArchConfig, InrModel
from uarcodec.vocabulary import CodedTensorSpec, InitKind, InitSpec, TensorRole
from uarcodec.models.layers import (
    check_frame_indices,
    crop_frames,
    layer_norm_last,
    round_up,
    sample_init,
    uniform_conv_bound,
)

OUTPUT_ACTIVATIONS = ("tanh", "sigmoid")

# Total stride -> per-stage strides, embedding side first (see choose_strides).
STRIDE_TABLE: dict[int, tuple[int, ...]] = {
    16: (2, 2, 2, 2),
    24: (3, 2, 2, 2),
    32: (2, 2, 2, 2, 2),
    48: (3, 2, 2, 2, 2),
    64: (4, 2, 2, 2, 2),
    96: (4, 3, 2, 2, 2),
    128: (4, 4, 2, 2, 2),
}
MIN_EMBED_SIDE = 8  # rows (or columns) the embedding keeps on the frame's short side
MAX_PAD_AREA = 1.1  # padded area / frame area

SIZE_TOLERANCE = 0.02


# Embedding channels the size solver gives a network, chosen for rate: at equal parameters,
# preset fast, 4 channels against HNeRV's 16 gave +0.87 dB for +16% bytes on box (CIF, 60
# frames, 110k), +1.13 dB for +13% on vtest, and +0.43 dB for -4.6% on carphone (QCIF, 30
# frames): the parameters the embeddings give up make the network wider, and per-frame values
# cost bits that a network weight shared by the GOP does not (docs/temporal_reuse.md).
SOLVER_EMBED_CHANNELS = 4


@dataclass(frozen=True)
class HNeRVConfig(ArchConfig):
    """Everything that fixes an HNeRV network once the frame size and frame count are known."""

    strides: tuple[int, ...]  # upsampling factor per NeRV block, embedding side first
    widths: tuple[int, ...]  # channels after the stem, then after each block: len(strides) + 1
    kernel_sizes: tuple[int, ...]  # conv kernel of each block (odd)
    embed_channels: int = 16  # the value of a stream that leaves the field out; the solver picks its own
    stem_kernel: int = 1
    head_kernel: int = 3
    output_activation: str = "tanh"
    embed_init_bound: float = 4.0  # SHARED_UNIFORM: shared code U(-bound, bound)
    embed_init_noise: float = 0.2  # ... plus U(-noise, noise) per element

    def __post_init__(self) -> None:
        for name in ("strides", "widths", "kernel_sizes"):
            if not all(type(v) is int for v in getattr(self, name)):
                raise UarSettingsError(f"HNeRV {name} must be integers, got {getattr(self, name)}")
        n = len(self.strides)
        if n == 0 or any(s < 1 for s in self.strides):
            raise UarSettingsError(f"HNeRV strides must be >= 1 and at least one: {self.strides}")
        if len(self.widths) != n + 1 or any(c < 1 for c in self.widths):
            raise UarSettingsError(f"HNeRV needs {n + 1} widths >= 1, got {self.widths}")
        kernels = (*self.kernel_sizes, self.stem_kernel, self.head_kernel)
        if len(self.kernel_sizes) != n or any(k < 1 or k % 2 == 0 for k in kernels):
            raise UarSettingsError(f"HNeRV kernels must be {n} odd sizes >= 1, got {self.kernel_sizes}")
        if self.embed_channels < 1:
            raise UarSettingsError(f"HNeRV embed_channels must be >= 1, got {self.embed_channels}")
        if self.output_activation not in OUTPUT_ACTIVATIONS:
            raise UarSettingsError(f"HNeRV output_activation must be one of {OUTPUT_ACTIVATIONS}")
        if not (self.embed_init_bound >= 0 and self.embed_init_noise >= 0):
            raise UarSettingsError("HNeRV embedding init bound and noise must be >= 0")

    @property
    def total_stride(self) -> int:
        return math.prod(self.strides)

    def embed_size(self, height: int, width: int) -> tuple[int, int]:
        """Embedding ``(h, w)`` for frames of ``height x width`` (padded up to the stride)."""
        s = self.total_stride
        return round_up(height, s) // s, round_up(width, s) // s


def choose_strides(height: int, width: int) -> tuple[int, ...]:
    """Per-stage strides for a frame size (rule in the module docstring)."""

    def padded_area(total: int) -> int:
        return round_up(height, total) * round_up(width, total)

    fits = [
        total
        for total in STRIDE_TABLE
        if min(height, width) / total >= MIN_EMBED_SIDE and padded_area(total) <= MAX_PAD_AREA * height * width
    ]
    if fits:
        return STRIDE_TABLE[max(fits)]
    return STRIDE_TABLE[min(STRIDE_TABLE, key=lambda total: (padded_area(total), total))]


# Kernels of the NeRV blocks, embedding side first: 1 on the first (small, wide) map, 5 on the
# middle ones, 3 on the last. A block's MACs per output pixel are its parameters times the area
# of its input map over the frame's, so at a fixed parameter count the last block (a quarter of
# the frame) sets the step's cost. Its 5x5 kernel (the rule was 1, 3, 5, 5, 5 before) made it the
# most expensive layer; at 3x3 the parameters it gives up widen the cheaper, coarser blocks. Preset
# fast, p = 30, at equal size and lambda (benchmarks/bench_encode_variants.py), 1, 5, 5, 5, 3
# against 1, 3, 5, 5, 5: box CIF 60 frames 88k -3.7% bytes at -0.03 dB, vtest 60 frames 88k
# +0.7% bytes at +0.26 dB, carphone QCIF 60 frames 54k -2.4% bytes at +0.41 dB; the network's
# training step 1.3x to 1.7x faster at 50k to 400k (bench_models.py, docs/training_speed.md).
FIRST_KERNEL = 1
MIDDLE_KERNEL = 5
LAST_KERNEL = 3


def default_kernel_sizes(num_stages: int) -> tuple[int, ...]:
    """Kernel of each NeRV block: 1, then 5 on the middle blocks, then 3 on the last."""
    if num_stages == 1:
        return (LAST_KERNEL,)
    return (FIRST_KERNEL,) + (MIDDLE_KERNEL,) * (num_stages - 2) + (LAST_KERNEL,)


def count_coded_params(config: HNeRVConfig, height: int, width: int, num_frames: int) -> int:
    """Coded parameters of the network (decoder weights and biases + embeddings), analytically."""
    h, w = config.embed_size(height, width)
    c = config.widths
    total = num_frames * config.embed_channels * h * w
    total += config.embed_channels * c[0] * config.stem_kernel**2 + c[0]
    for i, (s, k) in enumerate(zip(config.strides, config.kernel_sizes)):
        out = c[i + 1] * s * s
        total += c[i] * out * k * k + out
    total += c[-1] * 3 * config.head_kernel**2 + 3
    return total


class NeRVBlock(nn.Module):
    """Conv to ``out_channels * stride^2`` channels, PixelShuffle(stride), GELU.

    The shuffle is computed for channels-last maps: the conv runs with its output channels
    reordered from (channel, row, column) to (row, column, channel), so that the shuffle moves
    whole runs of ``out_channels`` values instead of single ones (PixelShuffle and its backward
    on a channels-last map were 7 to 8% of an HNeRV training step). The weights keep
    PixelShuffle's channel order (the order the stream codes), and the output is the same.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels * stride * stride, kernel_size, padding=kernel_size // 2)
        self.stride = stride
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stride
        weight, bias = self.conv.weight, self.conv.bias
        c = bias.shape[0] // (s * s)
        weight = weight.view(c, s, s, *weight.shape[1:]).permute(1, 2, 0, 3, 4, 5).reshape(weight.shape)
        bias = bias.view(c, s, s).permute(1, 2, 0).reshape(-1)
        y = nn.functional.conv2d(x, weight, bias, padding=self.conv.padding)
        n, _, h, w = y.shape
        y = y.permute(0, 2, 3, 1).reshape(n, h, w, s, s, -1)  # a view of a channels-last map
        y = y.permute(0, 1, 3, 2, 4, 5).reshape(n, h * s, w * s, -1)
        return self.act(y.permute(0, 3, 1, 2))  # channels-last (n, c, h s, w s)


# --- training-only content encoder -------------------------------------------------------------

ENCODER_SEED = 0x484E5256  # fixed: the encoder is training-only, its init is not in the stream
ENCODER_WIDTHS = (16, 24, 32, 48, 64)  # channels per stage, frame side first (capped at the last)
ENCODER_MLP_RATIO = 2  # hidden channels of a block's pointwise MLP, per channel
ENCODER_FIRST_BLOCK = 1  # first stage (frame side first) with a ConvNeXt block; before: patchify only
ENCODER_MAX_DW_KERNEL = 7
ENCODER_LAYER_SCALE = 0.1  # initial scale of a block's residual branch
ENCODER_DELTA_STD = 0.5  # initial spread of the content part of the embeddings


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of an ``(N, C, H, W)`` map, at every position."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.channels_last(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """The same normalisation of an ``(N, H, W, C)`` tensor."""
        return layer_norm_last(x, self.weight, self.bias, self.eps)


class ConvNeXtBlock(nn.Module):
    """Residual: depthwise ``k x k`` conv, LayerNorm, pointwise MLP (GELU), layer scale."""

    def __init__(self, channels: int, kernel_size: int, mlp_ratio: int = ENCODER_MLP_RATIO):
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)
        self.norm = ChannelLayerNorm(channels)
        self.mlp_in = nn.Conv2d(channels, channels * mlp_ratio, 1)
        self.act = nn.GELU()
        self.mlp_out = nn.Conv2d(channels * mlp_ratio, channels, 1)
        self.scale = nn.Parameter(torch.full((channels, 1, 1), ENCODER_LAYER_SCALE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # LayerNorm and the pointwise MLP on the channels-last map as matrix products: the
        # same function as the 1x1 convs, whose fp32 kernel here is the slow im2col fallback
        y = self.norm.channels_last(self.dwconv(x).permute(0, 2, 3, 1))
        y = nn.functional.linear(y, self.mlp_in.weight.flatten(1), self.mlp_in.bias)
        y = nn.functional.linear(self.act(y), self.mlp_out.weight.flatten(1), self.mlp_out.bias)
        return x + self.scale * y.permute(0, 3, 1, 2)


def depthwise_kernel(map_height: int, map_width: int) -> int:
    """The largest odd kernel <= 7 that fits the map's short side (at least 3)."""
    k = min(ENCODER_MAX_DW_KERNEL, min(map_height, map_width))
    return max(3, k if k % 2 else k - 1)


class HNeRVEncoder(nn.Module):
    """HNeRV's training-only content encoder: frames ``(B, 3, H, W)`` in [0, 1] ->
    ``{"embeddings": (B, E, h, w)}``, the rows of the coded ``embeddings`` tensor.

    After the ConvNeXt encoder of the original HNeRV (written from its description): the frame
    is padded (edge replication, bottom and right, as the decoder crops top-left) to the total
    stride S; then one stage per decoder stride, in reverse order: a patchify conv (kernel =
    stride = s) to :data:`ENCODER_WIDTHS` channels, followed by GELU on the first (largest) map
    and by LayerNorm and one ConvNeXt block (depthwise 7x7 or smaller on tiny maps, LayerNorm,
    pointwise MLP with GELU, layer scale) on the others; finally LayerNorm and a 1x1 conv to E
    channels. A learnable code of shape ``(E, h, w)``, shared by all frames, is added: it starts
    as the seeded rule's shared code, U(-embed_init_bound, embed_init_bound), and the content
    part starts with a spread of :data:`ENCODER_DELTA_STD` (the seeded rule's per-frame noise
    is replaced by a function of the frame). Every weight is drawn from a generator seeded with
    :data:`ENCODER_SEED`, so two encoders of the same network start identical.
    """

    def __init__(self, config: HNeRVConfig, height: int, width: int, widths: tuple[int, ...] = ENCODER_WIDTHS):
        super().__init__()
        self.height, self.width = height, width
        self.stride = config.total_stride
        strides = tuple(reversed(config.strides))
        chans = [widths[min(i, len(widths) - 1)] for i in range(len(strides))]
        layers: list[nn.Module] = []
        map_h, map_w = round_up(height, self.stride), round_up(width, self.stride)
        c_in = 3
        for i, (s, c) in enumerate(zip(strides, chans)):
            map_h, map_w = map_h // s, map_w // s
            layers.append(nn.Conv2d(c_in, c, s, stride=s))
            if i >= ENCODER_FIRST_BLOCK:
                layers += [ChannelLayerNorm(c), ConvNeXtBlock(c, depthwise_kernel(map_h, map_w))]
            else:
                layers.append(nn.GELU())
            c_in = c
        layers += [ChannelLayerNorm(c_in), nn.Conv2d(c_in, config.embed_channels, 1)]
        self.layers = nn.Sequential(*layers)
        self.shared_code = nn.Parameter(torch.empty(config.embed_channels, *config.embed_size(height, width)))
        self._init_weights(config.embed_init_bound, ENCODER_DELTA_STD)

    @torch.no_grad()
    def _init_weights(self, code_bound: float, delta_std: float) -> None:
        gen = torch.Generator().manual_seed(ENCODER_SEED)
        self.shared_code.copy_((torch.rand(self.shared_code.shape, generator=gen) * 2.0 - 1.0) * code_bound)
        convs = [m for m in self.modules() if isinstance(m, nn.Conv2d)]
        for conv in convs:
            fan_in = conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
            bound = uniform_conv_bound(fan_in)
            if conv is convs[-1]:  # unit-variance (LayerNorm) input -> output std = delta_std
                bound = delta_std * math.sqrt(3.0 / fan_in)
            conv.weight.copy_((torch.rand(conv.weight.shape, generator=gen) * 2.0 - 1.0) * bound)
            conv.bias.zero_()

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        if frames.dim() != 4 or frames.shape[1] != 3 or tuple(frames.shape[2:]) != (self.height, self.width):
            raise UarInputError(
                f"HNeRV encoder expects frames (B, 3, {self.height}, {self.width}), got {tuple(frames.shape)}"
            )
        pad_h = round_up(self.height, self.stride) - self.height
        pad_w = round_up(self.width, self.stride) - self.width
        x = frames.float()
        if pad_h or pad_w:
            x = nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        x = self.layers(x.contiguous(memory_format=torch.channels_last)).contiguous()
        return {"embeddings": self.shared_code + x}


class HNeRV(InrModel):
    family_id = 1
    family_name = "hnerv"
    config_type = HNeRVConfig
    channels_last_training = True  # 1.2x to 1.9x faster training steps (benchmarks/bench_models.py)

    config: HNeRVConfig

    def __init__(self, config: HNeRVConfig, height: int, width: int, num_frames: int):
        super().__init__(config, height, width, num_frames)
        h, w = config.embed_size(height, width)
        c = config.widths
        self.embeddings = nn.Parameter(torch.empty(num_frames, config.embed_channels, h, w))
        self.stem = nn.Conv2d(config.embed_channels, c[0], config.stem_kernel, padding=config.stem_kernel // 2)
        self.stem_act = nn.GELU()
        self.blocks = nn.ModuleList(
            NeRVBlock(c[i], c[i + 1], k, s) for i, (s, k) in enumerate(zip(config.strides, config.kernel_sizes))
        )
        self.head = nn.Conv2d(c[-1], 3, config.head_kernel, padding=config.head_kernel // 2)
        self._embed_init = InitSpec(
            InitKind.SHARED_UNIFORM,
            bound=config.embed_init_bound,
            noise=config.embed_init_noise,
            period=config.embed_channels * h * w,
        )
        with torch.no_grad():
            self.embeddings.copy_(sample_init(self._embed_init, tuple(self.embeddings.shape)))

    def forward(self, frame_idx: torch.Tensor) -> torch.Tensor:
        check_frame_indices(frame_idx, self.num_frames)
        # channels-last maps: oneDNN's convolutions (forward and backward) run 1.2x to 2x faster
        # on them here than on NCHW maps (benchmarks/bench_models.py)
        x = self.embeddings[frame_idx].contiguous(memory_format=torch.channels_last)
        x = self.stem_act(self.stem(x))
        for block in self.blocks:
            x = block(x)
        x = self.head(x)
        if self.config.output_activation == "tanh":
            x = torch.tanh(x) * 0.5 + 0.5
        else:
            x = torch.sigmoid(x)
        return crop_frames(x, self.height, self.width)

    def coded_specs(self) -> list[CodedTensorSpec]:
        specs: list[CodedTensorSpec] = []
        convs = [("stem", self.stem)] + [(f"blocks.{i}.conv", b.conv) for i, b in enumerate(self.blocks)]
        convs.append(("head", self.head))
        for name, conv in convs:
            fan_in = conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
            init = InitSpec(InitKind.UNIFORM, bound=uniform_conv_bound(fan_in))
            specs.append(CodedTensorSpec(f"{name}.weight", tuple(conv.weight.shape), TensorRole.WEIGHT, init))
            specs.append(CodedTensorSpec(f"{name}.bias", tuple(conv.bias.shape), TensorRole.BIAS, init))
        embed_shape = tuple(self.embeddings.shape)
        specs.append(CodedTensorSpec("embeddings", embed_shape, TensorRole.EMBEDDING, self._embed_init))
        return specs

    def training_encoder(self) -> HNeRVEncoder:
        """A new, identically initialised content encoder for this network's frames."""
        return HNeRVEncoder(self.config, self.height, self.width)

    @classmethod
    def config_for_size(
        cls,
        target_params: int,
        height: int,
        width: int,
        num_frames: int,
        *,
        reduce: float = 1.2,
        lower_width: int = 12,
        embed_channels: int = SOLVER_EMBED_CHANNELS,
    ) -> HNeRVConfig:
        strides = choose_strides(height, width)
        kernels = default_kernel_sizes(len(strides))

        def config(widths: tuple[int, ...]) -> HNeRVConfig:
            return HNeRVConfig(strides=strides, widths=widths, kernel_sizes=kernels, embed_channels=embed_channels)

        def count(widths: tuple[int, ...]) -> int:
            return count_coded_params(config(widths), height, width, num_frames)

        floor = lower_width
        while floor > 1 and count((floor,) * (len(strides) + 1)) > target_params:
            floor -= 1

        def widths_at(base: float) -> tuple[int, ...]:
            return tuple(max(round(base / reduce**i), floor) for i in range(len(strides) + 1))

        lo, hi = 1.0, 2.0 * floor
        while count(widths_at(hi)) <= target_params:
            hi *= 2.0
            if hi > 1e6:
                raise UarSettingsError(f"HNeRV cannot reach {target_params} parameters")
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if count(widths_at(mid)) <= target_params else (lo, mid)
        # Among the moves, prefer (within 0.5% of the target) non-increasing widths, then few moves.
        good_enough = 0.005 * target_params
        best: tuple[float, bool, int, int] | None = None
        widths: tuple[int, ...] = ()
        for base in (widths_at(lo), widths_at(hi)):
            for moves in itertools.product((0, -1, 1), repeat=len(base)):
                cand = tuple(c + d for c, d in zip(base, moves))
                if min(cand) < 1:
                    continue
                err = abs(count(cand) - target_params)
                rising = any(b > a for a, b in zip(cand, cand[1:]))
                key = (max(err, good_enough), rising, sum(map(abs, moves)), err)
                if best is None or key < best:
                    best, widths = key, cand
        assert best is not None
        err = best[3]
        if err > SIZE_TOLERANCE * target_params:
            raise UarSettingsError(
                f"HNeRV cannot be sized to {target_params} parameters for {num_frames} frames of "
                f"{width}x{height} (nearest {count(widths)}; the smallest network has "
                f"{count(tuple(1 for _ in widths))})"
            )
        return config(widths)
