"""Rate: bits per pixel and kilobits per second of a coded file (every byte counts)."""

from __future__ import annotations

from uarcodec.errors import UarInputError


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
