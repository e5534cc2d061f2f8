"""What a model of one GOP is trained towards, and the distortion term of its loss."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from uarcodec.metrics import yuv_weighted
from uarcodec.pipeline.render import output_planes
from uarcodec.video.color import yuv420_to_rgb
from uarcodec.video.frames import YuvClip
from uarcodec.vocabulary import ColorMatrix, ColorRange, OutputSpace


@dataclass
class GopTarget:
    """What a model of one GOP is trained to output, as float tensors in [0, 1]."""

    y: torch.Tensor  # (n, H, W)
    u: torch.Tensor  # (n, H/2, W/2)
    v: torch.Tensor  # (n, H/2, W/2)
    rgb: torch.Tensor | None  # (n, 3, H, W) when the network outputs RGB

    @property
    def num_frames(self) -> int:
        return int(self.y.shape[0])

    def network_input_frames(self) -> torch.Tensor:
        """(n, 3, H, W) frames in the network's output space (for content-aware inits)."""
        if self.rgb is not None:
            return self.rgb
        up = lambda c: F.interpolate(c[:, None], scale_factor=2, mode="nearest")[:, 0]  # noqa: E731
        return torch.stack([self.y, up(self.u), up(self.v)], dim=1)


def make_target(
    clip: YuvClip, space: OutputSpace, matrix: ColorMatrix, crange: ColorRange, device: torch.device
) -> GopTarget:
    to_t = lambda a: torch.from_numpy(a.astype(np.float32) / 255.0).to(device)  # noqa: E731
    rgb = None
    if space == OutputSpace.RGB:
        rgb = torch.from_numpy(np.ascontiguousarray(yuv420_to_rgb(clip, matrix, crange))).float().to(device)
    return GopTarget(to_t(clip.y), to_t(clip.u), to_t(clip.v), rgb)


def distortion_mse(out: torch.Tensor, target: GopTarget, idx: torch.Tensor) -> torch.Tensor:
    """The training distortion: PSNR-YUV-weighted (6:1:1) MSE on 4:2:0 planes, or RGB MSE."""
    out = out.float().contiguous()  # planar: a channels-last output is slow to pool per plane
    if target.rgb is not None:
        return F.mse_loss(out, target.rgb[idx])
    y, u, v = output_planes(out)
    return yuv_weighted(F.mse_loss(y, target.y[idx]), F.mse_loss(u, target.u[idx]), F.mse_loss(v, target.v[idx]))
