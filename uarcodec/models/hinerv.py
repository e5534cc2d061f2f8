"""HiNeRV for one GOP: hierarchical grids in time plus an upsampling ConvNeXt decoder.

The network (after Kwan et al., "HiNeRV", NeurIPS 2023), rewritten for short GOPs:

1. **Base grids.** ``L`` learned feature grids of shape ``(F_l, C_l, h, w)`` at the base size
   ``h x w = (H_pad / S) x (W_pad / S)`` (``S`` = product of the stage scales). A frame
   ``t`` of a GOP of ``T`` frames sits at normalised time ``u = (t + 0.5) / T``; each grid is
   sampled at ``u`` by linear interpolation between its ``F_l`` cells (cell ``k`` centred at
   ``(k + 0.5) / F_l``, clamped at the ends) and the levels are concatenated on channels.
   Grid shapes never depend on ``T``: a shorter last GOP uses the same tensors, so a model can
   always be predicted from the previous one.
2. **Stem.** A ``k x k`` convolution from the base features to ``channels[0]``.
3. **Stages.** Each stage: channel LayerNorm (no affine), bilinear ``x scale`` upsampling,
   then the *local grids* are added, then ``depth`` ConvNeXt blocks. The local grids of a stage
   with scale ``s`` are ``(F'_l, c_l, s, s)`` tensors: one feature vector per frame cell and per
   position inside the ``s x s`` patch that each input pixel became; they are sampled in time
   like the base grids, concatenated over levels, projected by a linear layer to the stage's
   width and added to every patch (position ``(y mod s, x mod s)``). A ConvNeXt block is a
   depthwise ``k x k`` convolution, a channel LayerNorm, a linear layer to ``hidden``, GELU and a
   linear layer to the output width, with a residual connection when the widths agree.
4. **Head.** A linear layer to 3 channels followed by a sigmoid, so ``forward`` always
   returns values in [0, 1] (training and decoding alike, no separate clamp).

The frame is computed at ``(H_pad, W_pad)`` (multiples of ``S``) and cropped to the top-left
``H x W``. Features are kept channels-last (``B, H, W, C``) so pointwise layers are matrix
products and LayerNorm is the plain last-dimension one; only torch's standard ops are used
(``conv2d``, ``interpolate``, ``layer_norm``, ``linear``, ``gelu``), so bf16 autocast works.

Coded tensors are exactly the module's parameters, in ``named_parameters`` order. Seeded-init
rules: convolution and linear weights ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (PyTorch's default
bound), every bias zero (as HiNeRV initialises them), LayerNorm scales one, grids
``U(-grid_init_bound, grid_init_bound)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from uarcodec.errors import UarSettingsError
from uarcodec.models.base import ArchConfig, InrModel
from uarcodec.models.layers import check_frame_indices, layer_norm_last
from uarcodec.vocabulary import CodedTensorSpec, InitKind, InitSpec, TensorRole

LAYER_NORM_EPS = 1e-6
OUTPUT_CHANNELS = 3


@dataclass(frozen=True)
class HiNeRVConfig(ArchConfig):
    """Everything that fixes a HiNeRV network besides the frame size.

    Per-stage tuples (``scales``, ``channels``, ``hidden``, ``depths``, ``kernels``) have one
    entry per stage. Stage ``i`` maps ``channels[i-1]`` (``channels[0]`` for the first stage,
    which is also the stem's width) to ``channels[i]``.

    Grids: ``base_grid_frames[l]`` / ``base_grid_channels[l]`` are the temporal cells and the
    channels of base level ``l``; ``local_grid_frames[l]`` / ``local_grid_channels[l]`` the same
    for local level ``l`` of the first stage; stage ``i`` uses ``max(1, local_grid_channels[l]
    >> i)`` channels (the local grids thin out as the features do).
    """

    scales: tuple[int, ...]
    channels: tuple[int, ...]
    hidden: tuple[int, ...]
    depths: tuple[int, ...]
    kernels: tuple[int, ...]
    stem_kernel: int
    base_grid_frames: tuple[int, ...]
    base_grid_channels: tuple[int, ...]
    local_grid_frames: tuple[int, ...]
    local_grid_channels: tuple[int, ...]
    grid_init_bound: float  # keep it a power of two: exact in float32 and float64
    block_bias: bool  # biases in the ConvNeXt blocks' convolution and linear layers
    norm_affine: bool  # scale and shift in the ConvNeXt blocks' LayerNorms

    def __post_init__(self) -> None:
        problems = _config_problems(self)
        if problems:
            raise UarSettingsError("invalid HiNeRV config: " + "; ".join(problems))

    @property
    def num_stages(self) -> int:
        return len(self.scales)

    @property
    def stride(self) -> int:
        return math.prod(self.scales)

    def stage_input_channels(self, stage: int) -> int:
        return self.channels[max(stage - 1, 0)]

    def local_channels(self, stage: int) -> tuple[int, ...]:
        return tuple(max(1, c >> stage) for c in self.local_grid_channels)


def _config_problems(c: HiNeRVConfig) -> list[str]:
    problems = []
    n = len(c.scales)
    if n == 0:
        problems.append("no stage")
    for name in ("channels", "hidden", "depths", "kernels"):
        if len(getattr(c, name)) != n:
            problems.append(f"{name} has {len(getattr(c, name))} entries for {n} stages")
    int_tuples = ("scales", "channels", "hidden", "depths", "kernels", "base_grid_frames",
                  "base_grid_channels", "local_grid_frames", "local_grid_channels")
    for name in int_tuples:
        values = getattr(c, name)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            problems.append(f"{name} must hold integers")
        elif any(v < 1 for v in values):
            problems.append(f"{name} must be >= 1")
    if problems:
        return problems
    if any(k < 1 or k % 2 == 0 for k in c.kernels):
        problems.append("kernels must be odd and >= 1")
    if c.stem_kernel < 1 or c.stem_kernel % 2 == 0:
        problems.append("stem_kernel must be odd and >= 1")
    if not c.base_grid_frames or len(c.base_grid_frames) != len(c.base_grid_channels):
        problems.append("base grid frames/channels must be non-empty and of equal length")
    if not c.local_grid_frames or len(c.local_grid_frames) != len(c.local_grid_channels):
        problems.append("local grid frames/channels must be non-empty and of equal length")
    if not (math.isfinite(c.grid_init_bound) and c.grid_init_bound > 0):
        problems.append("grid_init_bound must be a positive finite number")
    return problems


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


class FeatureGrid(nn.Module):
    """A learned grid whose first axis is time cells; sampled by :func:`sample_in_time`."""

    def __init__(self, shape: tuple[int, ...], init_bound: float):
        super().__init__()
        self.init_bound = init_bound
        self.weight = nn.Parameter(torch.empty(shape))


def sample_in_time(grid: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of ``grid (F, ...)`` at normalised times ``u (B,)`` -> ``(B, ...)``.

    Cell ``k`` is centred at ``(k + 0.5) / F``; times before the first or after the last centre
    take that cell's value.
    """
    cells = grid.shape[0]
    pos = (u * cells - 0.5).clamp(0.0, cells - 1.0)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=cells - 1)
    frac = (pos - lo.to(pos.dtype)).view((-1,) + (1,) * (grid.dim() - 1))
    below = grid.index_select(0, lo)
    above = grid.index_select(0, hi)
    return below + (above - below) * frac.to(grid.dtype)


class TemporalGrids(nn.Module):
    """Multi-level grids ``(F_l, C_l, *cells)`` sampled at ``u`` and concatenated on channels."""

    def __init__(self, frames: tuple[int, ...], channels: tuple[int, ...], cells: tuple[int, int],
                 init_bound: float):
        super().__init__()
        self.levels = nn.ModuleList(
            FeatureGrid((f, c) + cells, init_bound) for f, c in zip(frames, channels, strict=True)
        )
        self.out_channels = sum(channels)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return torch.cat([sample_in_time(level.weight, u) for level in self.levels], dim=1)


def conv_channels_last(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Apply ``conv`` (same padding) to a channels-last ``(B, H, W, C)`` tensor."""
    y = conv(x.permute(0, 3, 1, 2))
    return y.permute(0, 2, 3, 1)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv, LayerNorm, linear, GELU, linear; residual when widths agree."""

    def __init__(self, in_ch: int, out_ch: int, hidden: int, kernel: int, bias: bool, affine: bool):
        super().__init__()
        self.dwconv = nn.Conv2d(in_ch, in_ch, kernel, padding=kernel // 2, groups=in_ch, bias=bias)
        self.norm = nn.LayerNorm(in_ch, eps=LAYER_NORM_EPS, elementwise_affine=affine, bias=affine)
        self.fc1 = nn.Linear(in_ch, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, out_ch, bias=bias)
        self.residual = in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = conv_channels_last(x, self.dwconv)
        y = layer_norm_last(y, self.norm.weight, self.norm.bias, self.norm.eps)
        y = self.fc2(F.gelu(self.fc1(y)))
        return x + y if self.residual else y


class LocalEncoding(nn.Module):
    """Per-frame, per-position-in-patch features added after a ``scale x`` upsampling."""

    def __init__(self, scale: int, width: int, frames: tuple[int, ...], channels: tuple[int, ...],
                 init_bound: float):
        super().__init__()
        self.scale = scale
        self.grids = TemporalGrids(frames, channels, (scale, scale), init_bound)
        self.proj = nn.Linear(self.grids.out_channels, width)

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``x (B, H*s, W*s, C)`` -> ``x`` plus the encoding of each pixel's patch position."""
        b, hs, ws, c = x.shape
        s = self.scale
        enc = self.proj(self.grids(u).permute(0, 2, 3, 1))  # (B, s, s, C)
        out = x.reshape(b, hs // s, s, ws // s, s, c) + enc.reshape(b, 1, s, 1, s, c)
        return out.reshape(b, hs, ws, c)


class Stage(nn.Module):
    """LayerNorm, bilinear upsampling, local grids, ConvNeXt blocks."""

    def __init__(self, config: HiNeRVConfig, index: int):
        super().__init__()
        c = config
        in_ch, out_ch = c.stage_input_channels(index), c.channels[index]
        self.scale = c.scales[index]
        self.local = LocalEncoding(self.scale, in_ch, c.local_grid_frames, c.local_channels(index),
                                   c.grid_init_bound)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(in_ch if j == 0 else out_ch, out_ch, c.hidden[index], c.kernels[index],
                          c.block_bias, c.norm_affine)
            for j in range(c.depths[index])
        )

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        b, h, w, ch = x.shape
        x = layer_norm_last(x, None, None, LAYER_NORM_EPS)
        x = F.interpolate(x.permute(0, 3, 1, 2), size=(h * self.scale, w * self.scale),
                          mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
        x = self.local(x, u)
        for block in self.blocks:
            x = block(x)
        return x


# --------------------------------------------------------------------------------------------
# Coded-tensor rules
# --------------------------------------------------------------------------------------------

_ZEROS = InitSpec(InitKind.ZEROS)
_ONES = InitSpec(InitKind.ONES)


def _uniform(bound: float) -> InitSpec:
    return InitSpec(InitKind.UNIFORM, bound=bound)


def _local_rules(module: nn.Module) -> dict[str, tuple[TensorRole, InitSpec]]:
    """Role and seeded-init rule of each parameter a module owns directly."""
    if isinstance(module, FeatureGrid):
        return {"weight": (TensorRole.GRID, _uniform(module.init_bound))}
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        fan_in = module.weight[0].numel()
        rules = {"weight": (TensorRole.WEIGHT, _uniform(1.0 / math.sqrt(fan_in)))}
        if module.bias is not None:
            rules["bias"] = (TensorRole.BIAS, _ZEROS)
        return rules
    if isinstance(module, nn.LayerNorm):
        rules = {}
        if module.weight is not None:
            rules["weight"] = (TensorRole.NORM, _ONES)
        if module.bias is not None:
            rules["bias"] = (TensorRole.NORM, _ZEROS)
        return rules
    return {}


def init_tensor_(tensor: torch.Tensor, init: InitSpec, generator: torch.Generator | None = None) -> None:
    """Fill ``tensor`` by ``init`` with torch's RNG (training starts; the codec's bit-exact
    seeded init lives in ``coding/init.py``)."""
    with torch.no_grad():
        if init.kind == InitKind.ZEROS:
            tensor.zero_()
        elif init.kind == InitKind.ONES:
            tensor.fill_(1.0)
        elif init.kind == InitKind.UNIFORM:
            tensor.uniform_(-init.bound, init.bound, generator=generator)
        else:
            raise UarSettingsError(f"HiNeRV does not use init kind {init.kind.name}")


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class HiNeRV(InrModel):
    """HiNeRV representation of one GOP (see the module docstring)."""

    family_id = 2
    family_name = "hinerv"
    config_type = HiNeRVConfig

    def __init__(self, config: HiNeRVConfig, height: int, width: int, num_frames: int):
        if not isinstance(config, HiNeRVConfig):
            raise UarSettingsError(f"HiNeRV needs a HiNeRVConfig, got {type(config).__name__}")
        super().__init__(config, height, width, num_frames)
        s = config.stride
        self.base_height = -(-height // s)
        self.base_width = -(-width // s)
        self.base = TemporalGrids(config.base_grid_frames, config.base_grid_channels,
                                  (self.base_height, self.base_width), config.grid_init_bound)
        k = config.stem_kernel
        self.stem = nn.Conv2d(self.base.out_channels, config.channels[0], k, padding=k // 2)
        self.stages = nn.ModuleList(Stage(config, i) for i in range(config.num_stages))
        self.head = nn.Linear(config.channels[-1], OUTPUT_CHANNELS)
        self._specs = tuple(self._collect_specs())
        self.reset_parameters()

    def _collect_specs(self) -> list[CodedTensorSpec]:
        rules: dict[str, tuple[TensorRole, InitSpec]] = {}
        for prefix, module in self.named_modules():
            for local, rule in _local_rules(module).items():
                rules[f"{prefix}.{local}" if prefix else local] = rule
        specs = []
        for name, param in self.named_parameters():
            if name not in rules:  # a parameter without a coding rule would be lost in the stream
                raise RuntimeError(f"HiNeRV parameter {name} has no coding rule")
            role, init = rules[name]
            specs.append(CodedTensorSpec(name, tuple(param.shape), role, init))
        return specs

    def coded_specs(self) -> list[CodedTensorSpec]:
        return list(self._specs)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw every coded tensor from its init rule with torch's RNG."""
        for spec in self._specs:
            init_tensor_(self.get_parameter(spec.name), spec.init, generator)

    def forward(self, frame_idx: torch.Tensor) -> torch.Tensor:
        """``(B,)`` frame indices in ``[0, num_frames)`` -> ``(B, 3, H, W)`` in [0, 1]."""
        check_frame_indices(frame_idx, self.num_frames)
        u = (frame_idx.to(torch.float32) + 0.5) / self.num_frames
        x = self.stem(self.base(u)).permute(0, 2, 3, 1)
        for stage in self.stages:
            x = stage(x, u)
        y = torch.sigmoid(self.head(x)).permute(0, 3, 1, 2)
        return y[:, :, : self.height, : self.width].float().contiguous()

    @classmethod
    def config_for_size(cls, target_params: int, height: int, width: int, num_frames: int) -> HiNeRVConfig:
        return solve_config(target_params, height, width, num_frames)


# --------------------------------------------------------------------------------------------
# Size solver
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SolverRule:
    """The fixed shape the size solver scales (see :func:`solve_config`).

    Four x2 stages (base at 1/16 of the frame) with the widest stage working at 1/8 scale: on
    carphone (8 frames, 100k parameters) it reached a higher PSNR per CPU-second than a
    (4, 2, 2) layout, which fits better per step but costs about 2.7x per step. Grids start at
    U(+-2**-6); 2**-10 (HiNeRV's 1e-3) fitted about 1 dB worse after 600 steps.
    """

    scales: tuple[int, ...] = (2, 2, 2, 2)
    depths: tuple[int, ...] = (2, 2, 2, 1)
    expansions: tuple[int, ...] = (4, 4, 4, 1)
    kernels: tuple[int, ...] = (3, 3, 3, 3)
    stem_kernel: int = 3
    min_channels: int = 8
    base_grid_channels: tuple[int, ...] = (2, 4)
    local_grid_channels: tuple[int, ...] = (2, 4, 8)
    grid_share: float = 0.1  # at most this share of the target goes to the base grids
    grid_init_bound: float = 2.0**-6
    block_bias: bool = True
    norm_affine: bool = True
    max_width: int = 2048


DEFAULT_RULE = SolverRule()


def _level_frames(first: int, levels: int) -> tuple[int, ...]:
    return tuple(max(1, -(-first // 2**lvl)) for lvl in range(levels))


def count_params(config: HiNeRVConfig, height: int, width: int) -> int:
    """Coded-parameter count of ``config`` at ``height x width`` (built on the meta device)."""
    with torch.device("meta"):
        return HiNeRV(config, height, width, 1).num_coded_params()


def _base_grid_params(rule: SolverRule, first_frames: int, height: int, width: int) -> int:
    s = math.prod(rule.scales)
    cells = (-(-height // s)) * (-(-width // s))
    frames = _level_frames(first_frames, len(rule.base_grid_channels))
    return cells * sum(f * c for f, c in zip(frames, rule.base_grid_channels))


def _build(rule: SolverRule, width0: int, extra_hidden: int, grid_frames: int) -> HiNeRVConfig:
    channels = tuple(max(width0 >> i, rule.min_channels) for i in range(len(rule.scales)))
    hidden = tuple(e * c for e, c in zip(rule.expansions, channels))
    hidden = (hidden[0] + extra_hidden,) + hidden[1:]
    return HiNeRVConfig(
        scales=rule.scales,
        channels=channels,
        hidden=hidden,
        depths=rule.depths,
        kernels=rule.kernels,
        stem_kernel=rule.stem_kernel,
        base_grid_frames=_level_frames(grid_frames, len(rule.base_grid_channels)),
        base_grid_channels=rule.base_grid_channels,
        local_grid_frames=_level_frames(grid_frames, len(rule.local_grid_channels)),
        local_grid_channels=rule.local_grid_channels,
        grid_init_bound=rule.grid_init_bound,
        block_bias=rule.block_bias,
        norm_affine=rule.norm_affine,
    )


def solve_config(target_params: int, height: int, width: int, num_frames: int,
                 rule: SolverRule = DEFAULT_RULE) -> HiNeRVConfig:
    """A config of ``rule``'s shape with ``target_params`` coded parameters (within 2%).

    The rule, in order:

    1. Grid time resolution: base and local level 0 get ``F`` cells, level ``l`` gets
       ``ceil(F / 2**l)``; ``F`` is the largest value ``<= num_frames`` whose base grids take at
       most ``rule.grid_share`` of the target (at least 1).
    2. Width: stage ``i`` has ``max(C >> i, min_channels)`` channels and an MLP of
       ``expansion[i]`` times that; ``C`` is the largest width whose network fits the target
       (bisection; the count grows with ``C``).
    3. Fine fit: the first stage's MLP gets ``n`` more hidden units, ``n`` as large as still
       fits, which brings the count within one unit's cost (a few hundred parameters) of the
       target.

    Raises :class:`UarSettingsError` when the target is below the smallest network of this
    shape or the result misses the target by more than 2%.
    """
    if target_params < 1 or height < 2 or width < 2 or num_frames < 1:
        raise UarSettingsError("size solver needs a positive target, frame size and GOP length")
    frames = num_frames
    while frames > 1 and _base_grid_params(rule, frames, height, width) > rule.grid_share * target_params:
        frames -= 1

    def size(width0: int, extra: int = 0) -> int:
        return count_params(_build(rule, width0, extra, frames), height, width)

    lo = rule.min_channels
    if size(lo) > target_params:
        raise UarSettingsError(
            f"target of {target_params} parameters is below the smallest HiNeRV for "
            f"{width}x{height} ({size(lo)} parameters)"
        )
    hi = rule.max_width
    if size(hi) <= target_params:
        lo = hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if size(mid) <= target_params:
            lo = mid
        else:
            hi = mid
    base = size(lo)
    per_unit = size(lo, 1) - base
    extra = (target_params - base) // per_unit
    config = _build(rule, lo, extra, frames)
    got = count_params(config, height, width)
    if abs(got - target_params) > 0.02 * target_params:
        raise UarSettingsError(
            f"HiNeRV size solver reached {got} parameters for a target of {target_params}"
        )
    return config
