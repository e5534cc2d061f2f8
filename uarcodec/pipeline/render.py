"""From network outputs to 8-bit frames. The encoder's reconstruction and the decoder's output
both go through :func:`render_gop`, so the PSNR the encoder reports is what ``uar decode``
writes."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from uarcodec.video.color import rgb_to_yuv420
from uarcodec.video.frames import YuvClip
from uarcodec.vocabulary import ColorMatrix, ColorRange, OutputSpace

# Frames rendered per forward pass when decoding.
RENDER_BATCH = 4


def output_planes(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, 3, H, W) YUV network output -> Y (B,H,W) and 2x2-averaged U, V (B,H/2,W/2)."""
    y = out[:, 0]
    u = F.avg_pool2d(out[:, 1:2], 2)[:, 0]
    v = F.avg_pool2d(out[:, 2:3], 2)[:, 0]
    return y, u, v


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
