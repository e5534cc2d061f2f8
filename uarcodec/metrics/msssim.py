"""MS-SSIM (Wang et al. 2003) of 8-bit frames, computed by ``pytorch-msssim``.

Gaussian window, K1 = 0.01, K2 = 0.03, data range 255, the five standard scale weights,
computed per channel (R, G, B) and averaged over the channels. Negative SSIM / CS terms are
clamped to 0 before the fractional powers. A side that is odd before a 2x2 average-pool
downsampling is zero-padded by one on each side, as ``pytorch_msssim.ms_ssim`` does (frames
whose sides are multiples of 16 never meet that case).

The filtering runs in float32 on channels-last tensors (float64 convolutions on the CPU are
10-15x slower). Its ``E[x^2] - mu^2`` variances agree with a float64 computation to about
1e-6 relative on natural content and 2e-5 at worst (flat, bright frames).

:func:`ms_ssim_config` is the rule that picks the window and the number of scales for small
frames (the library has none). Five-scale configurations are computed by
``pytorch_msssim.ms_ssim``; that function refuses fewer than five scales (it requires a side
above ``(window - 1) * 16`` whatever the weights), so for frames under 97 px a side the same
scale loop runs here on the library's single-scale ``_ssim`` and the same pooling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytorch_msssim
import torch
import torch.nn.functional as F
from pytorch_msssim.ssim import _ssim

from uarcodec.errors import UarInputError
from uarcodec.metrics.planes import check_same_shape
from uarcodec.metrics.psnr import PEAK

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_SIGMA = 1.5
MS_SSIM_K1 = 0.01
MS_SSIM_K2 = 0.03
_STANDARD_WINDOW = 11
_MIN_SHRUNK_WINDOW = 7
_BATCH_PIXELS = 1 << 20  # samples per channel in one torch batch, bounds memory on large frames


@dataclass(frozen=True)
class MsSsimConfig:
    """Window size, Gaussian sigma and scale weights used for one frame size."""

    window: int
    sigma: float
    weights: tuple[float, ...]

    @property
    def scales(self) -> int:
        return len(self.weights)

    def describe(self) -> str:
        return f"{self.scales} scales, {self.window}x{self.window} Gaussian sigma {self.sigma}"


def ms_ssim_config(height: int, width: int) -> MsSsimConfig:
    """The MS-SSIM window and scales for frames of ``height`` x ``width``.

    The standard 11x11, sigma 1.5 window at 5 scales needs a smaller side of at least 161 px
    (``(11 - 1) * 2**4 < side``). For smaller frames:

    * 97..160 px: keep 5 scales and sigma 1.5, shrink the window to the largest odd size ``w``
      with ``(w - 1) * 16 < side`` (QCIF, 144 px: 9x9);
    * 11..96 px: keep the 11x11 window, drop the coarsest scales until
      ``10 * 2**(scales - 1) < side`` and renormalise the remaining standard weights to sum 1;
    * under 11 px: an error.
    """
    side = min(height, width)
    if side >= 161:
        return MsSsimConfig(_STANDARD_WINDOW, MS_SSIM_SIGMA, MS_SSIM_WEIGHTS)
    window = _STANDARD_WINDOW
    while window > _MIN_SHRUNK_WINDOW and (window - 1) * 16 >= side:
        window -= 2
    if (window - 1) * 16 < side:
        return MsSsimConfig(window, MS_SSIM_SIGMA, MS_SSIM_WEIGHTS)
    if side < _STANDARD_WINDOW:
        raise UarInputError(f"MS-SSIM needs frames of at least 11 px a side, got {height}x{width}")
    scales = 5
    while scales > 1 and (_STANDARD_WINDOW - 1) * 2 ** (scales - 1) >= side:
        scales -= 1
    kept = MS_SSIM_WEIGHTS[:scales]
    total = sum(kept)
    return MsSsimConfig(_STANDARD_WINDOW, MS_SSIM_SIGMA, tuple(w / total for w in kept))


def ms_ssim_method(height: int, width: int) -> str:
    """A one-line statement of how MS-SSIM is measured on frames of this size."""
    return f"RGB 8-bit, data range 255, {ms_ssim_config(height, width).describe()}, mean of R, G, B"


def ms_ssim_per_frame(
    ref: np.ndarray, dec: np.ndarray, data_range: float = PEAK, config: MsSsimConfig | None = None
) -> np.ndarray:
    """MS-SSIM of each frame of (N, H, W, C) or (N, H, W) arrays, averaged over channels.

    ``data_range`` is the span of the sample values (255 for 8-bit). The window and scales come
    from :func:`ms_ssim_config` unless ``config`` is given.
    """
    check_same_shape(ref, dec, "ms_ssim")
    if ref.ndim == 3:
        ref, dec = ref[..., None], dec[..., None]
    if ref.ndim != 4:
        raise UarInputError(f"ms_ssim expects (N, H, W[, C]) frames, got shape {ref.shape}")
    height, width = ref.shape[1], ref.shape[2]
    cfg = config or ms_ssim_config(height, width)
    if min(height, width) <= (cfg.window - 1) * 2 ** (cfg.scales - 1):
        raise UarInputError(
            f"MS-SSIM with {cfg.describe()} needs a side above "
            f"{(cfg.window - 1) * 2 ** (cfg.scales - 1)} px, got {height}x{width}"
        )
    step = max(1, _BATCH_PIXELS // (height * width))
    batches = [
        _ms_ssim_batch(ref[s : s + step], dec[s : s + step], data_range, cfg)
        for s in range(0, ref.shape[0], step)
    ]
    return np.concatenate(batches) if batches else np.zeros(0)


def _gaussian_window(size: int, sigma: float, channels: int) -> torch.Tensor:
    """The 1-D Gaussian window in the (C, 1, 1, size) layout ``pytorch_msssim`` takes.

    Normalised in float64, then rounded to float32: a window normalised in float32 (the
    library's own) sums to 1 only to ~1e-7.
    """
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(coords**2) / (2.0 * sigma * sigma))
    return (g / g.sum()).to(torch.float32).view(1, 1, 1, size).repeat(channels, 1, 1, 1)


def _to_nchw32(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(frames)).permute(0, 3, 1, 2).to(torch.float32)


def _ms_ssim_batch(
    ref: np.ndarray, dec: np.ndarray, data_range: float, cfg: MsSsimConfig
) -> np.ndarray:
    x, y = _to_nchw32(ref), _to_nchw32(dec)
    win = _gaussian_window(cfg.window, cfg.sigma, x.shape[1])
    if cfg.scales == len(MS_SSIM_WEIGHTS):
        result = pytorch_msssim.ms_ssim(
            x, y, data_range=data_range, size_average=False, win=win,
            weights=list(cfg.weights), K=(MS_SSIM_K1, MS_SSIM_K2),
        )
    else:
        result = _ms_ssim_few_scales(x, y, data_range, win, cfg.weights)
    return result.to(torch.float64).numpy()


def _ms_ssim_few_scales(
    x: torch.Tensor, y: torch.Tensor, data_range: float, win: torch.Tensor,
    weights: tuple[float, ...],
) -> torch.Tensor:
    """``pytorch_msssim.ms_ssim``'s scale loop for any number of scales: (N,) channel means."""
    terms = []
    for scale in range(len(weights)):
        ssim, cs = _ssim(x, y, data_range=data_range, win=win, size_average=False,
                         K=(MS_SSIM_K1, MS_SSIM_K2))
        if scale < len(weights) - 1:
            terms.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=padding)
            y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    terms.append(torch.relu(ssim))
    powers = torch.tensor(weights, dtype=x.dtype).view(-1, 1, 1)
    return torch.prod(torch.stack(terms) ** powers, dim=0).mean(dim=1)
