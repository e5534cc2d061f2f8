"""Latent grids: multi-resolution feature grids per GOP and a tiny synthesis network (family
id 3, ``"latent"``).

After the latent-grid codecs (Cool-chic, C3): most of the signal lives in coded grids of
latents, one set per frame (or per few frames), and a network of a few hundred
multiply-accumulates per pixel turns the upsampled grids into pixels. Written from the papers'
descriptions, not from their code.

Network for a GOP of T frames of H x W (both even), L levels:

* frames are padded to ``Hp x Wp``, multiples of ``2**(L-1)``;
* ``grids.l`` (l = 0 .. L-1): a coded tensor ``(n_l, C, Hp / 2**l, Wp / 2**l)`` with
  ``n_l = min(time_samples[l], T)`` time samples spread evenly over the GOP, the first at
  frame 0 and the last at frame T - 1; level 0 is at full resolution;
* frame t reads level l at time position ``t * (n_l - 1) / (T - 1)`` (0 when ``n_l`` or T is
  1): the sample ``lo = floor`` of it times ``1 - w`` plus the next one times ``w``, with
  ``lo`` and ``w`` from the integer division of ``t * (n_l - 1)`` by ``T - 1`` (with
  ``n_l = T`` every frame reads its own sample); upsamples it by ``2**l`` (``upsampling``:
  bilinear or bicubic, PyTorch's ``interpolate`` with ``align_corners=False``) to ``Hp x Wp``
  and stacks the L maps;
* with ``motion_margin`` M > 0 (format 1.6) each level's grid is larger than the padded frame
  by ``m_l = ceil(M / 2**l)`` samples on every side (``(Hp >> l) + 2 m_l`` rows,
  ``(Wp >> l) + 2 m_l`` columns) and a coded ``motion`` tensor ``(T, 2)`` gives frame t's offset
  ``(dy, dx)`` in pixels: every level, the finest too, is read (after the time interpolation
  above) by ``grid_sample`` (bilinear, ``padding_mode="border"``, ``align_corners=False``) at
  the padded frame's pixel ``(y, x)`` moved by the offset, in level-l samples
  ``u = (x + 0.5 + dx) / 2**l - 0.5 + m_l`` (and ``v`` from ``y``, ``dy`` alike), that is at
  the normalised ``x' = (2 u + 1) / W_l - 1``, ``y' = (2 v + 1) / H_l - 1`` of a grid of
  ``H_l x W_l`` samples, in float32 (``upsampling`` is not used; with M = 0 these are the
  positions ``interpolate`` reads); the encoder starts the offsets from the frames' global
  translation (``video/global_motion.py``) and trains them;
* with ``motion_block`` B > 0 as well (format 1.7) the offsets are a field: ``motion`` is
  ``(T, 2, ceil(Hp / B), ceil(Wp / B))``, one ``(dy, dx)`` per block of B x B pixels, and the
  offset of pixel ``(y, x)`` is the field upsampled to ``Hp x Wp`` by PyTorch's ``interpolate``
  (bilinear, ``align_corners=False``, float32), read at ``(y, x)`` (a field of equal values
  reads the grids exactly as that per-frame offset does); the encoder starts it from the
  frames' motion per block (``video/block_motion.py``) and trains it;
* synthesis: 1x1 layers to the ``hidden`` widths with ``activation`` (GELU, exact, or ReLU)
  after each, then a
  ``refine_kernel`` convolution (zero padding) to 3 channels and ``(tanh(x) + 1) / 2``; the
  top-left ``H x W`` are kept.

With ``context_hidden`` H > 0 (8 by default) the model also holds the grids' context network,
``context.0`` (11 -> H) and ``context.1`` (H -> 2): coded tensors that the forward pass never
runs; the entropy coder codes each grid value under the Laplace it predicts
(``coding/latent_context.py``, format 1.5), in the order ``context_order`` names (0:
checkerboard; 1: wavefront, format 1.10, ``--latent-context-order wavefront``).

Seeded start: grids at zero (an entry that stays at its start codes to the zero symbol),
synthesis weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default bound.

Size (:meth:`LatentGrids.config_for_size`): the levels follow the frame (:func:`choose_levels`);
a parameter target sets the time samples of each level (a coarser level never has fewer than
a finer one: its samples are the cheaper ones) and, where those leave a gap, the synthesis
width (:func:`solve_time_samples`). The grids' *rate* follows lambda: most entries train to zero.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uarcodec.errors import UarSettingsError
from uarcodec.models.base import ArchConfig, InrModel
from uarcodec.models.layers import check_frame_indices, crop_frames, round_up, uniform_conv_bound
from uarcodec.video.block_motion import estimate_block_offsets
from uarcodec.video.global_motion import estimate_translation
from uarcodec.vocabulary import (
    CONTEXT_FEATURES as FEATURES,
    MAX_CONTEXT_HIDDEN,
    MAX_MOTION_BLOCK,
    MAX_MOTION_MARGIN,
    MIN_MOTION_BLOCK,
    CodedTensorSpec,
    ContextOrder,
    FieldValue,
    InitKind,
    InitSpec,
    TensorRole,
)

MAX_LEVELS = 7
MIN_COARSE_SIDE = 4  # rows (or columns) the coarsest grid keeps on the frame's short side
MAX_PAD_AREA = 1.1  # padded area / frame area
SIZE_TOLERANCE = 0.02
DEFAULT_HIDDEN = (32, 32)
ACTIVATIONS = ("gelu", "relu")
UPSAMPLINGS = ("bilinear", "bicubic")
MIN_HIDDEN, MAX_HIDDEN = 8, 64  # synthesis widths the size solver may use
# The quantization step an I-model's grids start training from (all-zero tensors would start
# from the quantizer's 2**-10): vtest CIF, 30 frames, preset fast, lambda 150, 6 time samples
# per level, grid learning rate x16: 0.25 gave 30.06 dB at 42,705 bytes against 29.77 dB at
# 42,436 (docs/latent_grids.md).
GRID_INIT_STEP = 0.25
# The grids' context entropy model (8 units, format 1.5): the README bench at preset fast, -4.7%
# BD-rate on average against the same family without it (box -7.9%, carphone -2.9%, cockatoo
# -5.3%, megamind +5.0%, vtest -12.3%) in 0 to 20% more seconds a point (docs/latent_grids.md, "A
# context entropy model"); --latent-context 0 turns it off (a 1.4 stream, as 0.7.0 wrote).
DEFAULT_CONTEXT_HIDDEN = 8
RENDER_CHUNK = 8192  # pixels the 1x1 layers take at a time when rendering (no gradient)
# a context weight's step: finer than the integer network's 2**-8 grid would buy nothing
CONTEXT_INIT_STEP = 2.0**-6


@dataclass(frozen=True)
class LatentGridsConfig(ArchConfig):
    """Everything that fixes a latent-grid network once the frame size and frame count are known."""

    time_samples: tuple[int, ...]  # time samples of each level's grid in a full GOP, finest first
    channels: int = 1  # grid channels per level
    hidden: tuple[int, ...] = DEFAULT_HIDDEN  # widths of the 1x1 synthesis layers
    refine_kernel: int = 3  # the last convolution's kernel (odd)
    activation: str = "gelu"  # after each 1x1 layer: "gelu" (exact, erf) or "relu"
    upsampling: str = "bilinear"  # how a coarse level reaches the frame: "bilinear" or "bicubic"
    # hidden units of the grids' context network (coding/latent_context.py); 0: none, every grid
    # coded on its own (the only choice of format 1.4 streams, which have no such field)
    context_hidden: int = 0
    # global motion: pixels of grid beyond each edge of the padded frame (level l: ceil(M / 2**l)
    # samples); > 0 gives the model a coded (T, 2) per-frame offset (dy, dx) in pixels
    motion_margin: int = 0
    # local motion (format 1.7, with a margin): the offsets are a field of one (dy, dx) per block
    # of this many pixels, (T, 2, ceil(Hp / B), ceil(Wp / B)); 0: one offset per frame
    motion_block: int = 0
    # the order in which the context network codes a grid sample (format 1.10; 0, checkerboard,
    # the only order of earlier streams, which have no such field)
    context_order: int = int(ContextOrder.CHECKERBOARD)

    def __post_init__(self) -> None:
        for name in ("time_samples", "hidden"):
            if not all(type(v) is int and v >= 1 for v in getattr(self, name)):
                raise UarSettingsError(f"latent {name} must be integers >= 1, got {getattr(self, name)}")
        if not 1 <= len(self.time_samples) <= MAX_LEVELS:
            raise UarSettingsError(f"latent grids need 1 to {MAX_LEVELS} levels, got {len(self.time_samples)}")
        if self.channels < 1:
            raise UarSettingsError(f"latent channels must be >= 1, got {self.channels}")
        if self.activation not in ACTIVATIONS:
            raise UarSettingsError(f"latent activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.upsampling not in UPSAMPLINGS:
            raise UarSettingsError(f"latent upsampling must be one of {UPSAMPLINGS}, got {self.upsampling!r}")
        if not 0 <= self.context_hidden <= MAX_CONTEXT_HIDDEN:
            raise UarSettingsError(f"latent context_hidden must be 0 to {MAX_CONTEXT_HIDDEN}, got {self.context_hidden}")
        if not 0 <= self.motion_margin <= MAX_MOTION_MARGIN:
            raise UarSettingsError(f"latent motion_margin must be 0 to {MAX_MOTION_MARGIN}, got {self.motion_margin}")
        if self.motion_block and not (MIN_MOTION_BLOCK <= self.motion_block <= MAX_MOTION_BLOCK and self.motion_margin):
            raise UarSettingsError(
                f"latent motion_block must be 0 or {MIN_MOTION_BLOCK} to {MAX_MOTION_BLOCK} with a motion_margin, "
                f"got {self.motion_block} (margin {self.motion_margin})")
        if self.context_order not in {int(o) for o in ContextOrder}:
            raise UarSettingsError(f"latent context_order must be one of {[int(o) for o in ContextOrder]}, "
                                   f"got {self.context_order}")
        if self.refine_kernel < 1 or self.refine_kernel % 2 == 0:
            raise UarSettingsError(f"latent refine_kernel must be odd and >= 1, got {self.refine_kernel}")

    def to_fields(self) -> dict[str, FieldValue]:
        """The stream's fields; without a context network no ``context_hidden`` (a 1.4 stream
        exactly as 0.7.0 wrote it, which 0.7.0 reads)."""
        fields = super().to_fields()
        if not self.context_hidden:
            del fields["context_hidden"]
        if not self.motion_margin:
            del fields["motion_margin"]
        if not self.motion_block:
            del fields["motion_block"]
        if not self.context_order:
            del fields["context_order"]
        return fields

    @property
    def levels(self) -> int:
        return len(self.time_samples)

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        m = 2 ** (self.levels - 1)
        return round_up(height, m), round_up(width, m)

    def level_areas(self, height: int, width: int) -> list[int]:
        """Values in one time sample of each level's grid, finest first."""
        return [self.channels * math.prod(self.grid_shape(level, height, width, 1)[2:]) for level in range(self.levels)]

    def grid_shape(self, level: int, height: int, width: int, num_frames: int) -> tuple[int, int, int, int]:
        hp, wp = self.padded_size(height, width)
        m = self.level_margin(level)
        return (min(self.time_samples[level], num_frames), self.channels, (hp >> level) + 2 * m, (wp >> level) + 2 * m)

    def motion_shape(self, height: int, width: int, num_frames: int) -> tuple[int, ...]:
        """The coded offsets' shape: ``(T, 2)``, or with ``motion_block`` B the field
        ``(T, 2, ceil(Hp / B), ceil(Wp / B))``; ``()`` without a margin (no offsets)."""
        if not self.motion_margin:
            return ()
        if not self.motion_block:
            return (num_frames, 2)
        hp, wp = self.padded_size(height, width)
        return (num_frames, 2, -(-hp // self.motion_block), -(-wp // self.motion_block))

    def level_margin(self, level: int) -> int:
        """Samples of level ``level``'s grid beyond each edge of the frame: ``ceil(M / 2**level)``."""
        return -(-self.motion_margin // 2**level)


def chained(path: np.ndarray, last: np.ndarray) -> np.ndarray:
    """A GOP's offsets ``path`` (T, 2) moved to start where the previous GOP's last frame was
    (``last``): what a P-model's grids, started from the previous model's, see there."""
    return path - path[0] + np.asarray(last, np.float64)


def continue_path(path: np.ndarray, last: np.ndarray, margin: int) -> np.ndarray:
    """A GOP's centred offsets ``path`` :func:`chained` to the previous GOP's ``last`` offset,
    moved back, per axis, the least that keeps them within ``margin`` (the centred path where
    its span is wider than that)."""
    moved = chained(path, last)
    for axis in range(2):
        top, bottom = moved[:, axis].max(), moved[:, axis].min()
        if top - bottom > 2 * margin:
            moved[:, axis] = path[:, axis]
        elif top > margin:
            moved[:, axis] -= top - margin
        elif bottom < -margin:
            moved[:, axis] += -margin - bottom
    return moved


def last_offset(motion: np.ndarray) -> np.ndarray:
    """The last frame's offset ``(dy, dx)`` of a model's coded offsets (a field's mean)."""
    last = np.asarray(motion[-1], np.float64)
    return last if last.ndim == 1 else last.reshape(2, -1).mean(axis=1)


def choose_levels(height: int, width: int) -> int:
    """The most levels (at most :data:`MAX_LEVELS`) whose coarsest grid keeps
    :data:`MIN_COARSE_SIDE` rows on the short side and whose padded frame is at most 10% larger."""
    best = 1
    for levels in range(1, MAX_LEVELS + 1):
        m = 2 ** (levels - 1)
        hp, wp = round_up(height, m), round_up(width, m)
        if min(hp, wp) // m >= MIN_COARSE_SIDE and hp * wp <= MAX_PAD_AREA * height * width:
            best = levels
    return best


def size_bounds(base: LatentGridsConfig, height: int, width: int, num_frames: int) -> tuple[int, int]:
    """The fewest and the most coded parameters of ``base``'s levels and synthesis here: one
    time sample per level, and one per frame."""
    low = count_coded_params(base, height, width, 1)  # one sample per level
    return low, low + sum(base.level_areas(height, width)) * (num_frames - 1)


def doubling_schedule(c: float, levels: int, num_frames: int) -> tuple[int, ...]:
    """``round(c * 2**l)`` samples at level l, at least 1 and at most one per frame: each coarser
    level has about twice the samples of the level below (the shape that measured best,
    docs/latent_grids.md)."""
    return tuple(min(num_frames, max(1, round(c * 2**level))) for level in range(levels))


def solve_time_samples(
    base: LatentGridsConfig, target_params: int, height: int, width: int, num_frames: int
) -> tuple[int, ...] | None:
    """Time samples, one per level, whose grids and ``base``'s synthesis come within 2% of the
    target: the doubling schedule (:func:`doubling_schedule`) nearest the target with its
    finest level kept and the others refilled (:func:`_refill`); where that misses by more than
    2%, the first count of the finest level (fewest first) whose refill does not. None when
    nothing is within 2%."""
    area = base.level_areas(height, width)
    synth = count_coded_params(base, height, width, 1) - sum(area)

    def count(samples: tuple[int, ...]) -> int:
        return synth + sum(n * a for n, a in zip(samples, area))

    lowest = 2.0 ** (1 - base.levels)
    shapes = (doubling_schedule(lowest * (num_frames / lowest) ** (i / 1000), base.levels, num_frames)
              for i in range(1001))
    shaped = min(shapes, key=lambda s: abs(count(s) - target_params))
    candidates = [_refill(shaped, area, target_params - synth, num_frames)]
    candidates += [_refill(doubling_schedule(n0, base.levels, num_frames), area, target_params - synth, num_frames)
                   for n0 in range(1, num_frames + 1)]
    for samples in candidates:
        if abs(count(samples) - target_params) <= SIZE_TOLERANCE * target_params:
            return samples
    return None


def _refill(start: tuple[int, ...], area: list[int], grid_target: int, num_frames: int) -> tuple[int, ...]:
    """``start`` with its finest level kept and the others reset, finest first, each to the
    count (1 to ``num_frames``) that brings the grids nearest ``grid_target`` values while the
    coarser levels keep their ``start`` counts."""
    samples = list(start)
    for level in range(1, len(area)):
        others = sum(n * a for i, (n, a) in enumerate(zip(samples, area)) if i != level)
        samples[level] = min(num_frames, max(1, round((grid_target - others) / area[level])))
    return tuple(samples)


def count_coded_params(config: LatentGridsConfig, height: int, width: int, num_frames: int) -> int:
    grids = sum(math.prod(config.grid_shape(level, height, width, num_frames)) for level in range(config.levels))
    widths = (config.levels * config.channels, *config.hidden)
    synth = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    synth += widths[-1] * 3 * config.refine_kernel**2 + 3
    h = config.context_hidden
    context = (FEATURES * h + h + 2 * h + 2) if h else 0
    motion = config.motion_shape(height, width, num_frames)
    return grids + synth + context + (math.prod(motion) if motion else 0)


class LatentGrids(InrModel):
    family_id = 3
    family_name = "latent"
    config_type = LatentGridsConfig
    frame_rows_rate = True  # the grids are nearly all of the values: price the batch's frames

    config: LatentGridsConfig

    def __init__(self, config: LatentGridsConfig, height: int, width: int, num_frames: int):
        super().__init__(config, height, width, num_frames)
        self.grids = nn.ParameterList(
            nn.Parameter(torch.zeros(config.grid_shape(level, height, width, num_frames)))
            for level in range(config.levels)
        )
        widths = (config.levels * config.channels, *config.hidden)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.refine = nn.Conv2d(widths[-1], 3, config.refine_kernel, padding=config.refine_kernel // 2)
        self.act = nn.GELU() if config.activation == "gelu" else nn.ReLU()
        h = config.context_hidden
        # coded, never run by forward(): the entropy coder's model of the grids
        self.context = nn.ModuleList([nn.Linear(FEATURES, h), nn.Linear(h, 2)] if h else [])
        motion = config.motion_shape(height, width, num_frames)
        self.motion = nn.Parameter(torch.zeros(motion)) if motion else None

    def _level_maps(self, frame_idx: torch.Tensor) -> list[torch.Tensor]:
        """Each level's grid at the frames' times, upsampled to the padded frame ``(B, C, Hp, Wp)``
        (with a motion margin: read at each frame's offset)."""
        hp, wp = self.config.padded_size(self.height, self.width)
        maps = []
        span = self.num_frames - 1
        offsets = None if self.motion is None else self._pixel_offsets(frame_idx)
        for level, grid in enumerate(self.grids):
            n = grid.shape[0]
            if n == self.num_frames:
                x = grid[frame_idx]
            elif n == 1 or span == 0:
                x = grid[torch.zeros_like(frame_idx)]
            else:
                lo, rem = torch.div(frame_idx * (n - 1), span, rounding_mode="floor"), frame_idx * (n - 1) % span
                hi = (lo + 1).clamp(max=n - 1)
                w = (rem.to(torch.float32) / span).to(grid.dtype).view(-1, 1, 1, 1)
                x = grid[lo] * (1.0 - w) + grid[hi] * w
            if offsets is not None:
                warp = self._warp_grid(offsets, level).to(x.dtype)
                x = F.grid_sample(x, warp, mode="bilinear", padding_mode="border", align_corners=False)
            elif level:
                x = F.interpolate(x, size=(hp, wp), mode=self.config.upsampling, align_corners=False)
            maps.append(x)
        return maps

    def _pixel_offsets(self, frame_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The frames' offsets ``(dy, dx)`` in pixels: ``(B, 1)`` each (one per frame), or with
        a motion field ``(B, Hp, Wp)`` each, the field upsampled bilinearly to every pixel
        (``interpolate``, ``align_corners=False``, float32)."""
        off = self.motion[frame_idx]
        if off.dim() == 2:
            return off[:, :1], off[:, 1:]
        field = F.interpolate(off.float(), size=self.config.padded_size(self.height, self.width),
                              mode="bilinear", align_corners=False)
        return field[:, 0], field[:, 1]

    def _warp_grid(self, offsets: tuple[torch.Tensor, torch.Tensor], level: int) -> torch.Tensor:
        """``grid_sample``'s positions (B, Hp, Wp, 2) at which the frames read level ``level``:
        the padded frame's pixel centres moved by their offsets (:meth:`_pixel_offsets`; module
        docstring)."""
        hp, wp = self.config.padded_size(self.height, self.width)
        m, scale = self.config.level_margin(level), 2.0**-level
        dy, dx = offsets
        ys = torch.arange(hp, device=dy.device, dtype=dy.dtype) + 0.5
        xs = torch.arange(wp, device=dy.device, dtype=dy.dtype) + 0.5
        if dy.dim() == 3:  # a field: one offset per pixel
            ys, xs = ys[:, None], xs[None, :]
        v = (ys[None] + dy) * scale - 0.5 + m
        u = (xs[None] + dx) * scale - 0.5 + m
        gy = (2.0 * v + 1.0) / ((hp >> level) + 2 * m) - 1.0
        gx = (2.0 * u + 1.0) / ((wp >> level) + 2 * m) - 1.0
        if dy.dim() == 2:  # one offset per frame: rows and columns apart
            gx, gy = torch.broadcast_tensors(gx[:, None, :], gy[:, :, None])
        return torch.stack((gx, gy), dim=-1)

    def content_init(
        self, frames: torch.Tensor, previous: dict[str, np.ndarray] | None = None
    ) -> dict[str, torch.Tensor]:
        """The per-frame offsets' start (with ``motion_margin``): the frames' global translation
        (:func:`~uarcodec.video.global_motion.estimate_translation`); in a P-model, whose grids
        start from the previous model's, the same path continued from where the previous
        model's last frame was (:func:`continue_path`, :func:`last_offset`). A motion field
        (``motion_block``) starts from the frames' motion per block around that path
        (:func:`~uarcodec.video.block_motion.estimate_block_offsets`)."""
        if self.motion is None:
            return {}
        luma = frames.detach().float().mean(dim=1).cpu().numpy() * 255.0
        path = estimate_translation(luma).offsets
        margin = self.config.motion_margin
        before = None if previous is None else previous.get("motion")
        if before is not None and before.shape[1:] == tuple(self.motion.shape[1:]) and len(before):
            path = continue_path(path, last_offset(before), margin)
        start = np.clip(path, -margin, margin)
        if self.motion.dim() == 4:
            field = estimate_block_offsets(luma, self.config.motion_block, tuple(self.motion.shape[2:]), start)
            start = np.clip(field.offsets, -margin, margin)
        return {"motion": torch.from_numpy(start.astype(np.float32))}

    def forward(self, frame_idx: torch.Tensor) -> torch.Tensor:
        check_frame_indices(frame_idx, self.num_frames)
        # (B, Hp, Wp, L*C), laid out so the 1x1 layers read it without a copy each
        x = torch.cat(self._level_maps(frame_idx), dim=1).permute(0, 2, 3, 1).contiguous()
        if torch.is_grad_enabled():
            x = self._pointwise(x)
        else:  # rendering: the 1x1 layers on a few rows at a time, kept in the cache
            x = self._pointwise_in_chunks(x)
        x = self.refine(x.permute(0, 3, 1, 2))
        x = torch.tanh(x) * 0.5 + 0.5
        return crop_frames(x, self.height, self.width)

    def _pointwise(self, x: torch.Tensor) -> torch.Tensor:
        """The 1x1 layers and their activations on ``(..., L*C)``."""
        for layer in self.layers:
            x = self.act(layer(x))
        return x

    def _pointwise_in_chunks(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`_pointwise` on :data:`RENDER_CHUNK` pixels at a time: the same values, without
        the memory traffic of whole-frame intermediates (a CIF frame's 32 channels are 13 MB;
        rendering vtest CIF went from 28.3 to 54.1 frames a second: benchmarks/bench_decode.py)."""
        flat = x.reshape(-1, x.shape[-1])
        out = flat.new_empty(flat.shape[0], self.layers[-1].out_features if self.layers else flat.shape[1])
        for start in range(0, flat.shape[0], RENDER_CHUNK):
            out[start:start + RENDER_CHUNK] = self._pointwise(flat[start:start + RENDER_CHUNK])
        return out.view(*x.shape[:-1], out.shape[-1])

    def coded_specs(self) -> list[CodedTensorSpec]:
        specs: list[CodedTensorSpec] = []
        for i, layer in enumerate(self.layers):
            init = InitSpec(InitKind.UNIFORM, bound=uniform_conv_bound(layer.in_features))
            specs.append(CodedTensorSpec(f"layers.{i}.weight", tuple(layer.weight.shape), TensorRole.WEIGHT, init))
            specs.append(CodedTensorSpec(f"layers.{i}.bias", tuple(layer.bias.shape), TensorRole.BIAS, init))
        k = self.config.refine_kernel
        init = InitSpec(InitKind.UNIFORM, bound=uniform_conv_bound(self.refine.in_channels * k * k))
        specs.append(CodedTensorSpec("refine.weight", tuple(self.refine.weight.shape), TensorRole.WEIGHT, init))
        specs.append(CodedTensorSpec("refine.bias", tuple(self.refine.bias.shape), TensorRole.BIAS, init))
        zeros = InitSpec(InitKind.ZEROS)
        if self.context:
            init = InitSpec(InitKind.UNIFORM, bound=uniform_conv_bound(FEATURES))
            for name, init_kind in (("0.weight", init), ("0.bias", init), ("1.weight", zeros), ("1.bias", zeros)):
                shape = tuple(self.context.get_parameter(name).shape)
                specs.append(CodedTensorSpec(f"context.{name}", shape, TensorRole.CONTEXT, init_kind, CONTEXT_INIT_STEP,
                                             ContextOrder(self.config.context_order)))
        if self.motion is not None:
            specs.append(CodedTensorSpec("motion", tuple(self.motion.shape), TensorRole.EMBEDDING, zeros))
        for level, grid in enumerate(self.grids):
            specs.append(CodedTensorSpec(f"grids.{level}", tuple(grid.shape), TensorRole.LATENT, zeros, GRID_INIT_STEP))
        return specs

    @classmethod
    def config_for_size(
        cls, target_params: int, height: int, width: int, num_frames: int
    ) -> LatentGridsConfig:
        """Size solver (module docstring): within 2% of the target, or UarSettingsError. The
        target sizes the grids and the synthesis; the context network (an entropy model of 114
        values at 8 units) comes on top, so that a width given later (``--latent-context``)
        leaves the grids as they are."""
        levels = choose_levels(height, width)
        base = LatentGridsConfig(time_samples=(1,) * levels)
        low, high = size_bounds(base, height, width, num_frames)
        if not low * (1 - SIZE_TOLERANCE) <= target_params <= high * (1 + SIZE_TOLERANCE):
            raise UarSettingsError(
                f"latent grids for {width}x{height}, {num_frames} frames hold {low:,} to {high:,} "
                f"parameters; {target_params:,} is out of reach"
            )
        # the default synthesis width first, then the nearest others: the time samples alone
        # leave gaps where a level's grid is large against the target
        for hidden in sorted(range(MIN_HIDDEN, MAX_HIDDEN + 1), key=lambda h: (abs(h - DEFAULT_HIDDEN[0]), h)):
            config = dataclasses.replace(base, hidden=(hidden,) * len(DEFAULT_HIDDEN))
            samples = solve_time_samples(config, target_params, height, width, num_frames)
            if samples is not None:
                return dataclasses.replace(config, time_samples=samples, context_hidden=DEFAULT_CONTEXT_HIDDEN)
        raise UarSettingsError(
            f"latent grids for {width}x{height}, {num_frames} frames: no time samples and synthesis "
            f"width within 2% of {target_params:,} parameters"
        )
