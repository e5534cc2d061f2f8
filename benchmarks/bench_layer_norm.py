"""LayerNorm over the channels of a channels-last map: torch's on a bf16 map against the same
LayerNorm computed in float32 (``uarcodec.models.layers.layer_norm_last``, casts included), on
the map shapes of a HiNeRV at CIF (docs/training_speed.md, "HiNeRV's step").

Each row: milliseconds of one forward plus backward (median of ``--repeats`` after 3 warm-up
calls), without and with an affine scale and shift, one thread. No thresholds: the numbers of
one run. Example::

    python benchmarks/bench_layer_norm.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from uarcodec.models.layers import layer_norm_last

# (height, width, channels) of the LayerNorm inputs of HiNeRV's stages at CIF, 44k to 130k
SHAPES = ((288, 352, 8), (288, 352, 17), (144, 176, 9), (144, 176, 17), (144, 176, 34), (72, 88, 34),
          (72, 88, 69), (36, 44, 69))
EPS = 1e-6

Norm = Callable[[torch.Tensor, torch.Tensor | None, torch.Tensor | None], torch.Tensor]


def torch_layer_norm(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), weight, bias, EPS)


def float32_layer_norm(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None) -> torch.Tensor:
    return layer_norm_last(x, weight, bias, EPS)


def forward_backward_ms(norm: Norm, x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                        repeats: int) -> float:
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(1)).to(x.dtype)
    times = []
    for i in range(repeats + 3):
        start = time.perf_counter()
        norm(x, weight, bias).backward(grad)
        if i >= 3:
            times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    print("| map (H x W x C) | affine | torch, bf16 map | float32 | speed-up |")
    print("|---|---|---:|---:|---:|")
    for h, w, c in SHAPES:
        x = torch.randn(1, h, w, c, generator=gen).bfloat16().requires_grad_()
        for affine in (False, True):
            weight = torch.ones(c, requires_grad=True) if affine else None
            bias = torch.zeros(c, requires_grad=True) if affine else None
            before = forward_backward_ms(torch_layer_norm, x, weight, bias, args.repeats)
            after = forward_backward_ms(float32_layer_norm, x, weight, bias, args.repeats)
            print(f"| {h} x {w} x {c} | {'yes' if affine else 'no'} | {before:.2f} ms | {after:.2f} ms "
                  f"| {before / after:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
