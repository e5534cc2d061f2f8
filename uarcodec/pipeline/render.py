"""Between pixels and network outputs: training targets from a clip, and 8-bit frames from a
network. The encoder's reconstruction and the decoder's output both go through
:func:`render_gop`, so the PSNR the encoder reports is what ``uar decode`` writes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from uarcodec.bitstream.records import ColorMatrix, ColorRange, OutputSpace
from uarcodec.video.color import rgb_to_yuv420, yuv420_to_rgb
from uarcodec.video.frames import YuvClip

# Frames rendered per forward pass when decoding.
RENDER_BATCH = 4


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


def output_planes(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, 3, H, W) YUV network output -> Y (B,H,W) and 2x2-averaged U, V (B,H/2,W/2)."""
    y = out[:, 0]
    u = F.avg_pool2d(out[:, 1:2], 2)[:, 0]
    v = F.avg_pool2d(out[:, 2:3], 2)[:, 0]
    return y, u, v


def distortion_mse(out: torch.Tensor, target: GopTarget, idx: torch.Tensor) -> torch.Tensor:
    """The training distortion: PSNR-YUV-weighted (6:1:1) MSE on 4:2:0 planes, or RGB MSE."""
    out = out.float()
    if target.rgb is not None:
        return F.mse_loss(out, target.rgb[idx])
    y, u, v = output_planes(out)
    mse_y = F.mse_loss(y, target.y[idx])
    mse_u = F.mse_loss(u, target.u[idx])
    mse_v = F.mse_loss(v, target.v[idx])
    return (6.0 * mse_y + mse_u + mse_v) / 8.0


def outputs_to_clip(out: torch.Tensor, space: OutputSpace, matrix: ColorMatrix, crange: ColorRange) -> YuvClip:
    """Network outputs in [0, 1] -> 8-bit 4:2:0 frames (round half to even, clip)."""
    out = out.detach().float().clamp(0.0, 1.0).cpu()
    if space == OutputSpace.RGB:
        return rgb_to_yuv420(out.numpy(), matrix, crange)
    y, u, v = output_planes(out)
    to_u8 = lambda t: np.clip(np.rint(t.numpy() * 255.0), 0, 255).astype(np.uint8)  # noqa: E731
    return YuvClip(to_u8(y), to_u8(u), to_u8(v))


@torch.no_grad()
def render_gop(
    model: torch.nn.Module,
    num_frames: int,
    space: OutputSpace,
    matrix: ColorMatrix,
    crange: ColorRange,
    device: torch.device,
    frames: range | None = None,
) -> YuvClip:
    """Run the network on every frame index of its GOP (or ``frames``) -> 8-bit frames."""
    model.eval()
    wanted = list(frames if frames is not None else range(num_frames))
    clips = []
    for s in range(0, len(wanted), RENDER_BATCH):
        idx = torch.tensor(wanted[s : s + RENDER_BATCH], dtype=torch.long, device=device)
        clips.append(outputs_to_clip(model(idx), space, matrix, crange))
    return YuvClip.concatenate(clips)
