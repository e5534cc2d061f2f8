"""What a model of one GOP is trained towards, and the distortion term of its loss."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from uarcodec.metrics import yuv_weighted
from uarcodec.pipeline.render import output_planes
from uarcodec.settings import Distortion
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


MIN_PLANE_MSE = 1e-12  # (pixels in [0, 1]) a plane fitted exactly: its log stays finite


def distortion_mse(out: torch.Tensor, target: GopTarget, idx: torch.Tensor,
                   distortion: Distortion = Distortion.YUV) -> torch.Tensor:
    """The training distortion: PSNR-YUV-weighted (6:1:1) MSE on 4:2:0 planes, or RGB MSE; with
    ``Distortion.PSNR_YUV`` each frame's 6:1:1 weighted geometric mean of its planes' MSEs
    (:func:`psnr_yuv_mse`), averaged over the frames."""
    out = out.float().contiguous()  # planar: a channels-last output is slow to pool per plane
    if target.rgb is not None:
        return F.mse_loss(out, target.rgb[idx])
    y, u, v = output_planes(out)
    if distortion == Distortion.PSNR_YUV:
        return psnr_yuv_mse(y, u, v, target.y[idx], target.u[idx], target.v[idx]).mean()
    return yuv_weighted(F.mse_loss(y, target.y[idx]), F.mse_loss(u, target.u[idx]), F.mse_loss(v, target.v[idx]))


def psnr_yuv_mse(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor,
                 ref_y: torch.Tensor, ref_u: torch.Tensor, ref_v: torch.Tensor) -> torch.Tensor:
    """Per frame ``(B,)``: ``MSE_Y**(6/8) * MSE_U**(1/8) * MSE_V**(1/8)``, the MSE whose PSNR is
    the frame's PSNR-YUV ``(6 PSNR-Y + PSNR-U + PSNR-V) / 8`` (each plane's PSNR is a log of its
    MSE). Its gradient weighs each plane's MSE by its 6:1:1 weight over that MSE, as PSNR-YUV
    does: where the chroma planes' MSEs are a fifth of the luma's, a unit of chroma MSE counts
    five times what the 6:1:1 sum of MSEs gives it. (Planes fitted exactly, an MSE of 0, count
    at 1e-12.)"""
    log_mse = [((a - b) ** 2).flatten(1).mean(dim=1).clamp(min=MIN_PLANE_MSE).log()
               for a, b in ((y, ref_y), (u, ref_u), (v, ref_v))]
    return torch.exp(yuv_weighted(*log_mse))
