"""Reading and writing frames stored as raw planar I420 bytes (shared by .yuv and .y4m)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

import numpy as np

from uarcodec.errors import UarInputError
from uarcodec.video.frames import YuvClip


def frame_bytes(width: int, height: int) -> int:
    """Bytes of one 8-bit 4:2:0 frame."""
    return width * height * 3 // 2


def read_planar_frames(
    file: BinaryIO,
    offsets: Sequence[int],
    width: int,
    height: int,
    *,
    source: str,
    marker: bytes = b"",
) -> YuvClip:
    """Read one frame at each byte offset into a new clip, one frame in memory at a time.

    With ``marker``, each frame must be preceded by exactly these bytes (offsets point at the
    samples, after the marker); a mismatch is an error naming ``source``.
    """
    clip = YuvClip.zeros(len(offsets), width, height)
    luma, chroma = width * height, width * height // 4
    size = len(marker) + luma + 2 * chroma
    buffer = bytearray(size)
    samples = np.frombuffer(buffer, np.uint8)[len(marker) :]
    for i, offset in enumerate(offsets):
        file.seek(offset - len(marker))
        got = file.readinto(buffer)
        if got != size:
            raise UarInputError(
                f"{source}: frame at byte {offset} is truncated ({got} of {size} bytes present)"
            )
        if marker and buffer[: len(marker)] != marker:
            raise UarInputError(
                f"{source}: expected {marker!r} at byte {offset - len(marker)}, "
                f"found {bytes(buffer[: len(marker)])!r}"
            )
        clip.y[i] = samples[:luma].reshape(height, width)
        clip.u[i] = samples[luma : luma + chroma].reshape(height // 2, width // 2)
        clip.v[i] = samples[luma + chroma :].reshape(height // 2, width // 2)
    return clip


def write_planar_frame(file: BinaryIO, clip: YuvClip, index: int) -> None:
    """Write frame ``index`` of ``clip`` as raw I420 bytes."""
    for plane in (clip.y[index], clip.u[index], clip.v[index]):
        file.write(np.ascontiguousarray(plane).data)
