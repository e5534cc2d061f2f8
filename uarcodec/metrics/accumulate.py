"""Per-frame quality of a video measured chunk by chunk, and the report over all frames.

For each frame: PSNR of Y, U and V, PSNR-YUV (6:1:1), PSNR-RGB (squared error of R, G and B
pooled) and MS-SSIM on 8-bit RGB frames (:mod:`uarcodec.metrics.rgb`). The report's value of
a metric is the mean of its per-frame values (not a PSNR of the pooled MSE).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from uarcodec.errors import UarInputError
from uarcodec.metrics.msssim import ms_ssim_method, ms_ssim_per_frame
from uarcodec.metrics.planes import check_same_shape, check_yuv420, yuv_planes
from uarcodec.metrics.psnr import PSNR_CAP_DB, psnr_per_frame, psnr_yuv
from uarcodec.metrics.rgb import Matrix, Range, check_colour, yuv_to_rgb8


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


class QualityAccumulator:
    """Measures a video chunk by chunk: ``add(ref, dec)`` for each chunk, then ``report()``.

    ``ref`` and ``dec`` are objects with ``.y``, ``.u``, ``.v`` (such as a ``YuvClip``) or
    ``(y, u, v)`` tuples of uint8 arrays. All chunks must have the same frame size.
    """

    def __init__(
        self, matrix: Matrix = "bt601", range_: Range = "limited", with_ms_ssim: bool = True
    ) -> None:
        check_colour(matrix, range_)
        self.matrix = matrix
        self.range_ = range_
        self.with_ms_ssim = with_ms_ssim
        self._frames: list[FrameMetrics] = []
        self._size: tuple[int, int] | None = None

    def add(self, ref: Any, dec: Any) -> list[FrameMetrics]:
        """Measure one chunk of frames; returns the chunk's per-frame metrics."""
        ry, ru, rv = yuv_planes(ref)
        dy, du, dv = yuv_planes(dec)
        check_yuv420(ry, ru, rv, "reference")
        check_yuv420(dy, du, dv, "decoded")
        check_same_shape(ry, dy, "luma")
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

    def extend(self, frames: Sequence[FrameMetrics], size: tuple[int, int]) -> None:
        """Count frames measured elsewhere (by another process, on ``(height, width)``
        frames) as the next ones, in order."""
        if self._size is not None and size != self._size:
            raise UarInputError(f"chunk frame size {size} differs from the first chunk's {self._size}")
        self._size = size
        start = len(self._frames)
        self._frames.extend(replace(f, index=start + i) for i, f in enumerate(frames))

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
