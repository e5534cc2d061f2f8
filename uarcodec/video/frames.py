"""The in-memory frame type: a run of consecutive 8-bit 4:2:0 frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uarcodec.errors import UarInputError


@dataclass(eq=False)
class YuvClip:
    """Consecutive 8-bit planar 4:2:0 frames (I420 sample order: Y, then U (Cb), then V (Cr)).

    ``y`` is (N, H, W), ``u`` and ``v`` are (N, H/2, W/2), all uint8. H and W are even.
    Slicing (``clip[a:b]``, ``clip[i]``) gives another clip that shares memory with this one.
    """

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    def __post_init__(self) -> None:
        for name in ("y", "u", "v"):
            plane = getattr(self, name)
            if not isinstance(plane, np.ndarray) or plane.dtype != np.uint8 or plane.ndim != 3:
                raise UarInputError(f"YuvClip.{name} must be a 3-D uint8 numpy array (N, rows, cols)")
        n, h, w = self.y.shape
        if h % 2 or w % 2:
            raise UarInputError(f"4:2:0 frames need an even width and height, got {w}x{h}")
        chroma = (n, h // 2, w // 2)
        if self.u.shape != chroma or self.v.shape != chroma:
            raise UarInputError(
                f"chroma planes of a {w}x{h} clip of {n} frames must be {chroma}, "
                f"got u {self.u.shape} and v {self.v.shape}"
            )

    @classmethod
    def empty(cls, width: int, height: int) -> YuvClip:
        """A clip of zero frames of the given size."""
        return cls.zeros(0, width, height)

    @classmethod
    def zeros(cls, num_frames: int, width: int, height: int) -> YuvClip:
        """A clip of ``num_frames`` frames with every sample 0 (a buffer to fill)."""
        return cls(
            np.zeros((num_frames, height, width), np.uint8),
            np.zeros((num_frames, height // 2, width // 2), np.uint8),
            np.zeros((num_frames, height // 2, width // 2), np.uint8),
        )

    @property
    def num_frames(self) -> int:
        return int(self.y.shape[0])

    @property
    def height(self) -> int:
        return int(self.y.shape[1])

    @property
    def width(self) -> int:
        return int(self.y.shape[2])

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame in planar 4:2:0 (W*H*3/2)."""
        return self.width * self.height * 3 // 2

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index: int | slice) -> YuvClip:
        if isinstance(index, slice):
            if index.step not in (None, 1):
                raise UarInputError("YuvClip slices must be contiguous (step 1)")
            return YuvClip(self.y[index], self.u[index], self.v[index])
        i = int(index)
        if i < 0:
            i += self.num_frames
        if not 0 <= i < self.num_frames:
            raise IndexError(f"frame {index} out of range for a clip of {self.num_frames} frames")
        return YuvClip(self.y[i : i + 1], self.u[i : i + 1], self.v[i : i + 1])

    def frame_to_bytes(self, index: int) -> bytes:
        """Frame ``index`` as raw planar I420 bytes (Y, then U, then V)."""
        return self.y[index].tobytes() + self.u[index].tobytes() + self.v[index].tobytes()

    def same_as(self, other: YuvClip) -> bool:
        """True when both clips hold exactly the same samples."""
        return (
            self.y.shape == other.y.shape
            and np.array_equal(self.y, other.y)
            and np.array_equal(self.u, other.u)
            and np.array_equal(self.v, other.v)
        )

    @staticmethod
    def concatenate(clips: Sequence[YuvClip]) -> YuvClip:
        return concatenate(clips)


def concatenate(clips: Sequence[YuvClip]) -> YuvClip:
    """Join clips of the same size into one, in order. Needs at least one clip."""
    if not clips:
        raise UarInputError("cannot concatenate an empty list of clips (the frame size is unknown)")
    sizes = {(c.width, c.height) for c in clips}
    if len(sizes) != 1:
        raise UarInputError(f"cannot concatenate clips of different sizes: {sorted(sizes)}")
    return YuvClip(
        np.concatenate([c.y for c in clips]),
        np.concatenate([c.u for c in clips]),
        np.concatenate([c.v for c in clips]),
    )
