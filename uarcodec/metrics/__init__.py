"""Quality and rate metrics: PSNR (Y, U, V, YUV 6:1:1, RGB), MS-SSIM, bpp, kbps, BD-rate.

Frames are 8-bit 4:2:0 planes: ``y`` of shape (N, H, W) and ``u``, ``v`` of shape
(N, ceil(H/2), ceil(W/2)), all ``uint8``. Every metric is computed per frame and averaged over
frames. One module per concept:

* :mod:`~uarcodec.metrics.psnr` — MSE and PSNR per frame, the capped PSNR of an MSE
  (:func:`psnr_from_mse`, :data:`PSNR_CAP_DB` = 100 dB) and the 6:1:1 YUV weights
  (:data:`YUV_WEIGHTS`, :func:`yuv_weighted`, :func:`psnr_yuv`);
* :mod:`~uarcodec.metrics.rgb` — the 8-bit RGB frames PSNR-RGB and MS-SSIM use (explicit
  BT.601 / BT.709 matrix and range, via :func:`uarcodec.video.color.yuv420_to_rgb`);
* :mod:`~uarcodec.metrics.msssim` — MS-SSIM (``pytorch-msssim``) and the small-frame rule;
* :mod:`~uarcodec.metrics.accumulate` — per-frame values, :class:`QualityAccumulator`,
  :class:`QualityReport`, :func:`compare_clips`;
* :mod:`~uarcodec.metrics.rate` — bpp and kbps of a file;
* :mod:`~uarcodec.metrics.bdrate` — BD-rate / BD-PSNR (VCEG-M33; SciPy PCHIP or cubic);
* :mod:`~uarcodec.metrics.planes` — the input planes and their checks.
"""

from uarcodec.metrics.accumulate import (
    FrameMetrics,
    QualityAccumulator,
    QualityReport,
    compare_clips,
)
from uarcodec.metrics.bdrate import BdMethod, bd_psnr, bd_rate
from uarcodec.metrics.msssim import (
    MS_SSIM_WEIGHTS,
    MsSsimConfig,
    ms_ssim_config,
    ms_ssim_method,
    ms_ssim_per_frame,
)
from uarcodec.metrics.psnr import (
    PEAK,
    PSNR_CAP_DB,
    YUV_WEIGHTS,
    mse_per_frame,
    psnr_from_mse,
    psnr_per_frame,
    psnr_yuv,
    yuv_weighted,
)
from uarcodec.metrics.rate import bits_per_pixel, kilobits_per_second
from uarcodec.metrics.rgb import Matrix, Range, yuv_to_rgb, yuv_to_rgb8

__all__ = [
    "PSNR_CAP_DB", "PEAK", "YUV_WEIGHTS", "MS_SSIM_WEIGHTS", "Matrix", "Range", "BdMethod",
    "FrameMetrics", "QualityReport", "QualityAccumulator", "MsSsimConfig", "compare_clips",
    "mse_per_frame", "psnr_from_mse", "psnr_per_frame", "psnr_yuv", "yuv_weighted",
    "yuv_to_rgb", "yuv_to_rgb8", "ms_ssim_config", "ms_ssim_method", "ms_ssim_per_frame",
    "bits_per_pixel", "kilobits_per_second", "bd_rate", "bd_psnr",
]
