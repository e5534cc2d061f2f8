"""Quality and rate metrics: PSNR (Y, U, V, YUV 6:1:1, RGB), MS-SSIM, bpp, kbps, BD-rate.

Frames are 8-bit 4:2:0 planes: ``y`` of shape (N, H, W) and ``u``, ``v`` of shape
(N, ceil(H/2), ceil(W/2)), all ``uint8``. Every metric is computed per frame and averaged over
frames.

Conventions (stated once, used everywhere):

* PSNR uses peak 255 and is capped at :data:`PSNR_CAP_DB` (100 dB) so identical frames give a
  finite number.
* PSNR-YUV of a frame is ``(6 * PSNR_Y + PSNR_U + PSNR_V) / 8``.
* PSNR-RGB and MS-SSIM are computed on 8-bit RGB frames obtained with an explicit matrix
  (BT.601 or BT.709) and range (limited or full), nearest-neighbour chroma upsampling, and
  rounding and clipping to 0..255. PSNR-RGB pools the squared error of R, G and B.
* MS-SSIM (Wang et al. 2003): Gaussian window, K1 = 0.01, K2 = 0.03, data range 255, the five
  standard scale weights, 2x2 average-pool downsampling (an odd last row/column is dropped),
  computed per RGB channel and averaged over the channels. See :func:`ms_ssim_config` for the
  rule that picks the window and the number of scales for small frames.
* BD-rate / BD-PSNR follow Bjontegaard (VCEG-M33) on log10(rate), over the overlap interval,
  with either a piecewise cubic Hermite (PCHIP, the default) or a cubic polynomial fit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from uarcodec.errors import UarInputError

PSNR_CAP_DB = 100.0
PEAK = 255.0

Matrix = Literal["bt601", "bt709"]
Range = Literal["limited", "full"]
BdMethod = Literal["pchip", "cubic"]

# (Kr, Kb) luma coefficients of each matrix.
_MATRIX_COEFFS: dict[str, tuple[float, float]] = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
}

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_SIGMA = 1.5
MS_SSIM_K1 = 0.01
MS_SSIM_K2 = 0.03
_STANDARD_WINDOW = 11
_MIN_SHRUNK_WINDOW = 7
_MS_SSIM_BATCH = 8  # frames per torch batch, bounds memory on large frames


# --------------------------------------------------------------------------------------------
# PSNR
# --------------------------------------------------------------------------------------------


def _check_same_shape(ref: np.ndarray, dec: np.ndarray, what: str) -> None:
    if ref.shape != dec.shape:
        raise UarInputError(f"{what}: reference shape {ref.shape} != decoded shape {dec.shape}")


def mse_per_frame(ref: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Mean squared error of each frame of two (N, ...) arrays, in float64."""
    _check_same_shape(ref, dec, "mse")
    diff = ref.astype(np.float64) - dec.astype(np.float64)
    return np.mean(diff.reshape(diff.shape[0], -1) ** 2, axis=1)


def psnr_from_mse(mse: np.ndarray | float, peak: float = PEAK) -> np.ndarray:
    """PSNR in dB for peak ``peak``, capped at :data:`PSNR_CAP_DB` (also for ``mse == 0``)."""
    mse = np.asarray(mse, dtype=np.float64)
    floor = peak * peak / 10.0 ** (PSNR_CAP_DB / 10.0)
    return np.minimum(10.0 * np.log10(peak * peak / np.maximum(mse, floor)), PSNR_CAP_DB)


def psnr_per_frame(ref: np.ndarray, dec: np.ndarray, peak: float = PEAK) -> np.ndarray:
    """PSNR of each frame of two (N, H, W[, C]) arrays (peak 255, capped at 100 dB)."""
    return psnr_from_mse(mse_per_frame(ref, dec), peak)


def psnr_yuv(psnr_y: np.ndarray, psnr_u: np.ndarray, psnr_v: np.ndarray) -> np.ndarray:
    """The 6:1:1 weighted PSNR-YUV, per frame: ``(6Y + U + V) / 8``."""
    return (6.0 * np.asarray(psnr_y) + np.asarray(psnr_u) + np.asarray(psnr_v)) / 8.0


# --------------------------------------------------------------------------------------------
# Colour conversion
# --------------------------------------------------------------------------------------------


def _check_colour(matrix: str, range_: str) -> None:
    if matrix not in _MATRIX_COEFFS:
        raise UarInputError(
            f"unknown colour matrix {matrix!r}: use one of {sorted(_MATRIX_COEFFS)}"
        )
    if range_ not in ("limited", "full"):
        raise UarInputError(f"unknown colour range {range_!r}: use 'limited' or 'full'")


def upsample_chroma_nearest(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour 2x upsampling of (N, h, w) chroma to (N, height, width)."""
    up = np.repeat(np.repeat(plane, 2, axis=-2), 2, axis=-1)
    return up[..., :height, :width]


def yuv_to_rgb(
    y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: Matrix = "bt601", range_: Range = "limited"
) -> np.ndarray:
    """Y'CbCr 4:2:0 frames (N, H, W) to float64 R'G'B' in 0..255 (unclipped), shape (N, H, W, 3).

    Chroma is upsampled nearest-neighbour. Limited range maps Y 16..235 and Cb/Cr 16..240 to the
    nominal 0..1 and -0.5..0.5; full range uses Y/255 and (C-128)/255. Then
    ``R = Y + 2(1-Kr) Cr``, ``B = Y + 2(1-Kb) Cb``, ``G = (Y - Kr R - Kb B) / (1 - Kr - Kb)``.
    """
    _check_colour(matrix, range_)
    kr, kb = _MATRIX_COEFFS[matrix]
    kg = 1.0 - kr - kb
    height, width = y.shape[-2], y.shape[-1]
    luma_scale, chroma_scale = (255.0 / 219.0, 255.0 / 224.0) if range_ == "limited" else (1.0, 1.0)
    luma = (y.astype(np.float64) - (16.0 if range_ == "limited" else 0.0)) * luma_scale
    cb = (u.astype(np.float64) - 128.0) * chroma_scale
    cr = (v.astype(np.float64) - 128.0) * chroma_scale
    r_offset = 2.0 * (1.0 - kr) * cr  # computed at chroma resolution, then upsampled
    b_offset = 2.0 * (1.0 - kb) * cb
    g_offset = -(kr * r_offset + kb * b_offset) / kg
    out = np.empty(y.shape + (3,), dtype=np.float64)
    for channel, offset in enumerate((r_offset, g_offset, b_offset)):
        np.add(luma, upsample_chroma_nearest(offset, height, width), out=out[..., channel])
    return out


def yuv_to_rgb8(
    y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: Matrix = "bt601", range_: Range = "limited"
) -> np.ndarray:
    """Like :func:`yuv_to_rgb` but rounded and clipped to uint8, as an 8-bit RGB frame."""
    return np.clip(np.rint(yuv_to_rgb(y, u, v, matrix, range_)), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# MS-SSIM
# --------------------------------------------------------------------------------------------


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


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(coords**2) / (2.0 * sigma * sigma))
    return g / g.sum()


def _band_matrix(length: int, window: torch.Tensor) -> torch.Tensor:
    """(length, length - k + 1) matrix whose column j holds the window at rows j..j+k-1."""
    size = window.numel()
    columns = [F.pad(window, (j, length - size - j)) for j in range(length - size + 1)]
    return torch.stack(columns, dim=1)


def _blur_valid(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering of (..., H, W), as two banded matrix products."""
    rows = _band_matrix(x.shape[-2], window).T
    cols = _band_matrix(x.shape[-1], window)
    return torch.matmul(rows, torch.matmul(x, cols))


def _ssim_and_cs(
    x: torch.Tensor, y: torch.Tensor, window: torch.Tensor, data_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure term per (frame, channel): shapes (B, C)."""
    c1 = (MS_SSIM_K1 * data_range) ** 2
    c2 = (MS_SSIM_K2 * data_range) ** 2
    # Centre each channel on its mean so float32 keeps the variances accurate; the means are
    # added back for the luminance term.
    centre_x = x.mean(dim=(2, 3), keepdim=True)
    centre_y = y.mean(dim=(2, 3), keepdim=True)
    xc, yc = x - centre_x, y - centre_y
    stack = torch.cat([xc, yc, xc * xc, yc * yc, xc * yc], dim=1)
    mu_x, mu_y, xx, yy, xy = _blur_valid(stack, window).chunk(5, dim=1)
    var_x = xx - mu_x * mu_x
    var_y = yy - mu_y * mu_y
    cov = xy - mu_x * mu_y
    mu_x, mu_y = mu_x + centre_x, mu_y + centre_y
    cs_map = (2.0 * cov + c2) / (var_x + var_y + c2)
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    ssim = (luminance * cs_map).mean(dim=(2, 3), dtype=torch.float64)
    return ssim, cs_map.mean(dim=(2, 3), dtype=torch.float64)


def _downsample2(x: torch.Tensor) -> torch.Tensor:
    height, width = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    return F.avg_pool2d(x[..., :height, :width], kernel_size=2)


def ms_ssim_per_frame(
    ref: np.ndarray, dec: np.ndarray, data_range: float = PEAK, config: MsSsimConfig | None = None
) -> np.ndarray:
    """MS-SSIM of each frame of (N, H, W, C) or (N, H, W) arrays, averaged over channels.

    ``data_range`` is the span of the sample values (255 for 8-bit). The window and scales come
    from :func:`ms_ssim_config` unless ``config`` is given. Negative SSIM/CS terms are clamped
    to 0 before the fractional powers. Filtering runs in float32 on mean-centred samples (it
    agrees with a float64 computation to about 1e-7); per-scale means are taken in float64.
    """
    _check_same_shape(ref, dec, "ms_ssim")
    if ref.ndim == 3:
        ref, dec = ref[..., None], dec[..., None]
    if ref.ndim != 4:
        raise UarInputError(f"ms_ssim expects (N, H, W[, C]) frames, got shape {ref.shape}")
    cfg = config or ms_ssim_config(ref.shape[1], ref.shape[2])
    batches = [
        _ms_ssim_batch(ref[s : s + _MS_SSIM_BATCH], dec[s : s + _MS_SSIM_BATCH], data_range, cfg)
        for s in range(0, ref.shape[0], _MS_SSIM_BATCH)
    ]
    return np.concatenate(batches) if batches else np.zeros(0)


def _ms_ssim_batch(
    ref: np.ndarray, dec: np.ndarray, data_range: float, cfg: MsSsimConfig
) -> np.ndarray:
    window = _gaussian_window(cfg.window, cfg.sigma).to(torch.float32)
    x = torch.from_numpy(np.ascontiguousarray(ref.transpose(0, 3, 1, 2), dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(dec.transpose(0, 3, 1, 2), dtype=np.float32))
    weights = torch.tensor(cfg.weights, dtype=torch.float64)
    result = torch.ones(x.shape[:2], dtype=torch.float64)
    for scale in range(cfg.scales):
        if min(x.shape[-2:]) < cfg.window:
            raise UarInputError(
                f"MS-SSIM scale {scale + 1} is {tuple(x.shape[-2:])}, smaller than the "
                f"{cfg.window}-tap window"
            )
        ssim, cs = _ssim_and_cs(x, y, window, data_range)
        term = ssim if scale == cfg.scales - 1 else cs
        result = result * torch.clamp(term, min=0.0) ** weights[scale]
        if scale < cfg.scales - 1:
            x, y = _downsample2(x), _downsample2(y)
    return result.mean(dim=1).numpy()


# --------------------------------------------------------------------------------------------
# Per-frame report and its accumulator
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameMetrics:
    """The metrics of one frame (``index`` counts from 0 across all chunks)."""

    index: int
    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv: float
    psnr_rgb: float
    ms_ssim: float | None


@dataclass(frozen=True)
class QualityReport:
    """Per-frame metrics and their means over frames.

    ``ms_ssim`` means are ``None`` when MS-SSIM was not computed.
    """

    width: int
    height: int
    rgb_matrix: str
    rgb_range: str
    ms_ssim_method: str | None
    frames: list[FrameMetrics] = field(default_factory=list)

    @property
    def frame_count(self) -> int:
        return len(self.frames)

    def _mean(self, name: str) -> float:
        if not self.frames:
            raise UarInputError("the quality report has no frames")
        return float(np.mean([getattr(f, name) for f in self.frames]))

    @property
    def psnr_y(self) -> float:
        return self._mean("psnr_y")

    @property
    def psnr_u(self) -> float:
        return self._mean("psnr_u")

    @property
    def psnr_v(self) -> float:
        return self._mean("psnr_v")

    @property
    def psnr_yuv(self) -> float:
        return self._mean("psnr_yuv")

    @property
    def psnr_rgb(self) -> float:
        return self._mean("psnr_rgb")

    @property
    def ms_ssim(self) -> float | None:
        if self.ms_ssim_method is None:
            return None
        return self._mean("ms_ssim")

    def means(self) -> dict[str, float | None]:
        """The frame-averaged metrics by name."""
        return {
            "psnr_y": self.psnr_y,
            "psnr_u": self.psnr_u,
            "psnr_v": self.psnr_v,
            "psnr_yuv": self.psnr_yuv,
            "psnr_rgb": self.psnr_rgb,
            "ms_ssim": self.ms_ssim,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: settings, means and per-frame values."""
        return {
            "width": self.width,
            "height": self.height,
            "frames": self.frame_count,
            "rgb_matrix": self.rgb_matrix,
            "rgb_range": self.rgb_range,
            "ms_ssim_method": self.ms_ssim_method,
            "psnr_cap_db": PSNR_CAP_DB,
            "mean": self.means(),
            "per_frame": [asdict(f) for f in self.frames],
        }


def _planes(obj: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, u, v) of an object with .y/.u/.v or of a 3-sequence."""
    if all(hasattr(obj, name) for name in ("y", "u", "v")):
        return obj.y, obj.u, obj.v
    try:
        y, u, v = obj
    except (TypeError, ValueError) as exc:
        raise UarInputError("frames must have .y/.u/.v planes or be a (y, u, v) tuple") from exc
    return y, u, v


def _check_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray, what: str) -> None:
    for name, plane in (("y", y), ("u", u), ("v", v)):
        if not isinstance(plane, np.ndarray) or plane.dtype != np.uint8 or plane.ndim != 3:
            raise UarInputError(f"{what} plane {name} must be a (N, H, W) uint8 array")
    n, height, width = y.shape
    chroma = (n, (height + 1) // 2, (width + 1) // 2)
    if u.shape != chroma or v.shape != chroma:
        raise UarInputError(
            f"{what} chroma planes {u.shape}/{v.shape} do not match 4:2:0 of luma {y.shape}"
        )


class QualityAccumulator:
    """Measures a video chunk by chunk: ``add(ref, dec)`` for each chunk, then ``report()``.

    ``ref`` and ``dec`` are objects with ``.y``, ``.u``, ``.v`` (such as a ``YuvClip``) or
    ``(y, u, v)`` tuples of uint8 arrays. All chunks must have the same frame size.
    """

    def __init__(
        self, matrix: Matrix = "bt601", range_: Range = "limited", with_ms_ssim: bool = True
    ) -> None:
        _check_colour(matrix, range_)
        self.matrix = matrix
        self.range_ = range_
        self.with_ms_ssim = with_ms_ssim
        self._frames: list[FrameMetrics] = []
        self._size: tuple[int, int] | None = None

    def add(self, ref: Any, dec: Any) -> list[FrameMetrics]:
        """Measure one chunk of frames; returns the chunk's per-frame metrics."""
        ry, ru, rv = _planes(ref)
        dy, du, dv = _planes(dec)
        _check_planes(ry, ru, rv, "reference")
        _check_planes(dy, du, dv, "decoded")
        _check_same_shape(ry, dy, "luma")
        size = (ry.shape[1], ry.shape[2])
        if self._size is not None and size != self._size:
            raise UarInputError(
                f"chunk frame size {size} differs from the first chunk's {self._size}"
            )
        self._size = size
        p_y, p_u, p_v = psnr_per_frame(ry, dy), psnr_per_frame(ru, du), psnr_per_frame(rv, dv)
        p_yuv = psnr_yuv(p_y, p_u, p_v)
        ref_rgb = yuv_to_rgb8(ry, ru, rv, self.matrix, self.range_)
        dec_rgb = yuv_to_rgb8(dy, du, dv, self.matrix, self.range_)
        p_rgb = psnr_per_frame(ref_rgb, dec_rgb)
        ssim = ms_ssim_per_frame(ref_rgb, dec_rgb) if self.with_ms_ssim else [None] * len(p_y)
        start = len(self._frames)
        chunk = [
            FrameMetrics(
                start + i, float(p_y[i]), float(p_u[i]), float(p_v[i]), float(p_yuv[i]),
                float(p_rgb[i]), None if ssim[i] is None else float(ssim[i]),
            )
            for i in range(len(p_y))
        ]
        self._frames.extend(chunk)
        return chunk

    def report(self) -> QualityReport:
        """The report over every frame added so far."""
        if self._size is None:
            raise UarInputError("no frames were measured")
        method = ms_ssim_method(*self._size) if self.with_ms_ssim else None
        return QualityReport(
            width=self._size[1], height=self._size[0], rgb_matrix=self.matrix,
            rgb_range=self.range_, ms_ssim_method=method, frames=list(self._frames),
        )


def compare_clips(
    ref_y: np.ndarray, ref_u: np.ndarray, ref_v: np.ndarray,
    dec_y: np.ndarray, dec_u: np.ndarray, dec_v: np.ndarray,
    matrix: Matrix = "bt601", range_: Range = "limited", with_ms_ssim: bool = True,
    chunk_frames: int = 30,
) -> QualityReport:
    """Per-frame and mean quality of a decoded clip against its reference, in chunks."""
    if ref_y.shape[0] != dec_y.shape[0]:
        raise UarInputError(
            f"frame counts differ: reference {ref_y.shape[0]}, decoded {dec_y.shape[0]}"
        )
    acc = QualityAccumulator(matrix, range_, with_ms_ssim)
    for s in range(0, ref_y.shape[0], max(1, chunk_frames)):
        e = s + max(1, chunk_frames)
        acc.add((ref_y[s:e], ref_u[s:e], ref_v[s:e]), (dec_y[s:e], dec_u[s:e], dec_v[s:e]))
    return acc.report()


# --------------------------------------------------------------------------------------------
# Rate
# --------------------------------------------------------------------------------------------


def bits_per_pixel(file_bytes: int, width: int, height: int, frames: int) -> float:
    """bpp = file bits / (W * H * T): every byte of the file counts."""
    if width <= 0 or height <= 0 or frames <= 0:
        raise UarInputError(
            f"bpp needs a positive size and frame count, got {width}x{height}x{frames}"
        )
    return 8.0 * file_bytes / (width * height * frames)


def kilobits_per_second(file_bytes: int, frames: int, fps: float) -> float:
    """kbps = file bits / duration in seconds / 1000, with duration = T / fps."""
    if frames <= 0 or fps <= 0:
        raise UarInputError(f"kbps needs positive frames and fps, got {frames} and {fps}")
    return 8.0 * file_bytes / (frames / fps) / 1000.0


# --------------------------------------------------------------------------------------------
# Bjontegaard delta
# --------------------------------------------------------------------------------------------


def _sorted_curve(
    x: Sequence[float], y: Sequence[float], what: str
) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xa.ndim != 1 or xa.shape != ya.shape:
        raise UarInputError(f"{what}: rate and quality lists must have the same length")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise UarInputError(f"{what}: values must be finite")
    order = np.argsort(xa, kind="stable")
    xa, ya = xa[order], ya[order]
    if np.any(np.diff(xa) <= 0):
        raise UarInputError(f"{what}: the curve has repeated values {xa.tolist()}")
    return xa, ya


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Shape-preserving derivatives of the monotone piecewise cubic Hermite interpolant."""
    h = np.diff(x)
    m = np.diff(y) / h
    if len(x) == 2:
        return np.array([m[0], m[0]])
    d = np.zeros_like(x)
    for k in range(1, len(x) - 1):
        if m[k - 1] * m[k] > 0:
            w1, w2 = 2.0 * h[k] + h[k - 1], h[k] + 2.0 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / m[k - 1] + w2 / m[k])
    d[0] = _pchip_end_slope(h[0], h[1], m[0], m[1])
    d[-1] = _pchip_end_slope(h[-1], h[-2], m[-1], m[-2])
    return d


def _pchip_end_slope(h0: float, h1: float, m0: float, m1: float) -> float:
    """One-sided three-point end derivative, limited to keep the shape."""
    d = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if np.sign(d) != np.sign(m0):
        return 0.0
    if np.sign(m0) != np.sign(m1) and abs(d) > 3.0 * abs(m0):
        return 3.0 * m0
    return float(d)


def _pchip_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Exact integral of the PCHIP interpolant of (x, y) over [lo, hi] inside [x0, xn]."""
    d = _pchip_slopes(x, y)
    total = 0.0
    for k in range(len(x) - 1):
        a, b = max(lo, x[k]), min(hi, x[k + 1])
        if b <= a:
            continue
        h = x[k + 1] - x[k]
        slope = (y[k + 1] - y[k]) / h
        c2 = (3.0 * slope - 2.0 * d[k] - d[k + 1]) / h
        c3 = (d[k] + d[k + 1] - 2.0 * slope) / (h * h)

        def antiderivative(t: float) -> float:
            return y[k] * t + d[k] * t**2 / 2.0 + c2 * t**3 / 3.0 + c3 * t**4 / 4.0

        total += antiderivative(b - x[k]) - antiderivative(a - x[k])
    return total


def _cubic_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Integral over [lo, hi] of the least-squares cubic polynomial through (x, y) (VCEG-M33)."""
    antiderivative = np.polyint(np.polyfit(x, y, 3))
    return float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))


def _bd_average_difference(
    x_a: Sequence[float], y_a: Sequence[float], x_b: Sequence[float], y_b: Sequence[float],
    method: BdMethod,
) -> float:
    """Mean of (f_b - f_a) over the overlap of the two x ranges."""
    if method not in ("pchip", "cubic"):
        raise UarInputError(f"unknown BD interpolation {method!r}: use 'pchip' or 'cubic'")
    xa, ya = _sorted_curve(x_a, y_a, "anchor curve")
    xb, yb = _sorted_curve(x_b, y_b, "test curve")
    need = 4 if method == "cubic" else 2
    if len(xa) < need or len(xb) < need:
        raise UarInputError(f"BD with {method} needs at least {need} points per curve")
    lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if hi <= lo:
        raise UarInputError("the two RD curves do not overlap: BD is undefined")
    integral = _pchip_integral if method == "pchip" else _cubic_integral
    return (integral(xb, yb, lo, hi) - integral(xa, ya, lo, hi)) / (hi - lo)


def _log10_rates(rates: Sequence[float], what: str) -> np.ndarray:
    r = np.asarray(rates, dtype=np.float64)
    if np.any(~np.isfinite(r)) or np.any(r <= 0):
        raise UarInputError(f"{what}: rates must be positive and finite")
    return np.log10(r)


def bd_rate(
    rate_a: Sequence[float], psnr_a: Sequence[float], rate_b: Sequence[float],
    psnr_b: Sequence[float], method: BdMethod = "pchip",
) -> float:
    """Average rate difference of curve b against anchor a at equal quality, in percent.

    Negative means b needs fewer bits. Quality may be any metric (PSNR, MS-SSIM, ...).
    """
    log_a, log_b = _log10_rates(rate_a, "anchor"), _log10_rates(rate_b, "test")
    mean_log_diff = _bd_average_difference(psnr_a, log_a, psnr_b, log_b, method)
    return (10.0**mean_log_diff - 1.0) * 100.0


def bd_psnr(
    rate_a: Sequence[float], psnr_a: Sequence[float], rate_b: Sequence[float],
    psnr_b: Sequence[float], method: BdMethod = "pchip",
) -> float:
    """Average quality difference of curve b against anchor a at equal rate, in dB."""
    log_a, log_b = _log10_rates(rate_a, "anchor"), _log10_rates(rate_b, "test")
    return _bd_average_difference(log_a, psnr_a, log_b, psnr_b, method)


__all__ = [
    "PSNR_CAP_DB", "FrameMetrics", "QualityReport", "QualityAccumulator", "MsSsimConfig",
    "compare_clips", "mse_per_frame", "psnr_from_mse", "psnr_per_frame", "psnr_yuv",
    "yuv_to_rgb", "yuv_to_rgb8", "upsample_chroma_nearest", "ms_ssim_config", "ms_ssim_method",
    "ms_ssim_per_frame", "bits_per_pixel", "kilobits_per_second", "bd_rate", "bd_psnr",
]
