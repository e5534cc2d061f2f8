"""Feasibility probe for a latent-grid family (issue 14) on this CPU: how far per-GOP latent
grids with a tiny synthesis network get in a given training time.

Per GOP of ``--frames`` frames: ``--levels`` single-channel latent grids over (time, height,
width), level l at 1/2^l of the frame size, levels from ``--tdown`` on also halved in time
per level; each is upsampled trilinearly to the full size, the levels are stacked and a
1x1-convolution synthesis (``--width`` channels, GELU) plus one 3x3 refinement gives Y, U, V
(chroma averaged 2x2). Rate: a factorised quantized Laplace (mean 0, one learned scale per
level) of the latents; no context model, no network coding (the synthesis is counted at 8
bits a parameter). Training: Adam with cosine decay, additive uniform noise for the first 80%
of the steps and straight-through rounding after, ``--batch`` random frames a step.

Not part of the codec: it prints the fake-quantized PSNR-YUV and estimated bpp every 50
steps and, at the end, those of the hard-rounded latents. Example (one torch thread)::

    python benchmarks/probe_latent_grid.py --clip ../shared/data/box_cif_120f.y4m --steps 300 --batch 6 --lr 2e-2 --lmbda 2000
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from uarcodec.video import open_video


@dataclass(frozen=True)
class Planes:
    y: torch.Tensor  # (T, 1, H, W) in [0, 1]
    u: torch.Tensor  # (T, 1, H/2, W/2)
    v: torch.Tensor

    @property
    def shape(self) -> tuple[int, int, int]:
        t, _, h, w = self.y.shape
        return t, h, w


def read_planes(path: str, frames: int) -> Planes:
    with open_video(path) as reader:
        clip = reader.read(0, frames)
    def plane(a) -> torch.Tensor:
        return torch.from_numpy(a.astype("float32") / 255.0).unsqueeze(1)
    return Planes(plane(clip.y), plane(clip.u), plane(clip.v))


def level_shapes(t: int, h: int, w: int, levels: int, tdown: int) -> list[tuple[int, int, int]]:
    return [(t if lvl < tdown else max(1, t // 2 ** (lvl - tdown + 1)), math.ceil(h / 2**lvl), math.ceil(w / 2**lvl))
            for lvl in range(levels)]


def laplace_bits(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Bits of integers ``x`` under a zero-mean Laplace of ``scale`` integrated over unit bins."""
    def cdf(v: torch.Tensor) -> torch.Tensor:
        return 0.5 + 0.5 * torch.sign(v) * (1 - torch.exp(-v.abs() / scale))
    return -torch.log2((cdf(x + 0.5) - cdf(x - 0.5)).clamp_min(2**-16)).sum()


class LatentGridGop(nn.Module):
    def __init__(self, t: int, h: int, w: int, levels: int, width: int, tdown: int):
        super().__init__()
        self.size = (t, h, w)
        self.latents = nn.ParameterList([nn.Parameter(torch.zeros(1, 1, *s)) for s in level_shapes(t, h, w, levels, tdown)])
        self.synthesis = nn.Sequential(nn.Conv2d(levels, width, 1), nn.GELU(), nn.Conv2d(width, width, 1), nn.GELU(),
                                       nn.Conv2d(width, 3, 1))
        self.refine = nn.Conv2d(3, 3, 3, padding=1)
        nn.init.zeros_(self.refine.weight)
        nn.init.zeros_(self.refine.bias)
        self.log_scale = nn.Parameter(torch.zeros(levels))

    def network_params(self) -> int:
        return sum(p.numel() for p in [*self.synthesis.parameters(), *self.refine.parameters()])

    def forward(self, idx: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        feats, bits = [], torch.zeros(())
        for lvl, g in enumerate(self.latents):
            if mode == "noise":
                q = g + (torch.rand_like(g) - 0.5)
            elif mode == "ste":
                q = g + (torch.round(g) - g).detach()
            else:
                q = torch.round(g)
            bits = bits + laplace_bits(q, torch.exp(self.log_scale[lvl]) + 0.01)
            up = q if q.shape[2:] == self.size else F.interpolate(q, size=self.size, mode="trilinear", align_corners=False)
            feats.append(up[0, 0, idx])
        y = self.synthesis(torch.stack(feats, 1))
        return y + self.refine(y), bits


def yuv_mse(out: torch.Tensor, target: Planes, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
    uv = F.avg_pool2d(out[:, 1:], 2)
    return (F.mse_loss(out[:, :1], target.y[idx]), F.mse_loss(uv[:, :1], target.u[idx]),
            F.mse_loss(uv[:, 1:], target.v[idx]))


def psnr(mse: float) -> float:
    return -10 * math.log10(mse)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", required=True)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lmbda", type=float, default=1000.0)
    ap.add_argument("--levels", type=int, default=7)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--tdown", type=int, default=2, help="first level also downsampled in time")
    a = ap.parse_args()
    torch.set_num_threads(1)
    target = read_planes(a.clip, a.frames)
    t, h, w = target.shape
    model = LatentGridGop(t, h, w, a.levels, a.width, a.tdown)
    print(f"latents per frame {sum(p.numel() for p in model.latents) / t:.0f}, synthesis {model.network_params()} params")
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    pixels, gen, start = t * h * w, torch.Generator().manual_seed(0), time.time()
    for step in range(a.steps):
        frac = step / a.steps
        for group in opt.param_groups:
            group["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * frac))
        idx = torch.randperm(t, generator=gen)[: a.batch]
        out, bits = model(idx, "noise" if frac < 0.8 else "ste")
        my, mu, mv = yuv_mse(out, target, idx)
        mse = (6 * my + mu + mv) / 8
        loss = bits / pixels + a.lmbda * mse
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == a.steps - 1:
            print(f"step {step} {time.time() - start:.1f}s PSNR-YUV {psnr(mse.item()):.2f} est. {bits.item() / pixels:.4f} bpp",
                  flush=True)
    with torch.no_grad():
        out, bits = model(torch.arange(t), "round")
        p = [psnr(m.item()) for m in yuv_mse(out, target, torch.arange(t))]
    total = (bits.item() + 8 * model.network_params()) / pixels
    print(f"final: {a.steps} steps in {time.time() - start:.1f}s, PSNR-YUV {(6 * p[0] + p[1] + p[2]) / 8:.2f} dB, "
          f"latents {bits.item() / pixels:.4f} bpp, with the synthesis at 8 bits {total:.4f} bpp")


if __name__ == "__main__":
    main()
