"""Cutting T frames into GOPs of p frames and GOPs into GOMs of m models.

Any T works: the last GOP and the last GOM may be shorter; each model is built for its own GOP
length.
"""

from __future__ import annotations

from dataclasses import dataclass

from uarcodec.errors import UarSettingsError


@dataclass(frozen=True)
class Gop:
    index: int  # GOP number in the video
    first_frame: int
    num_frames: int

    @property
    def stop(self) -> int:
        return self.first_frame + self.num_frames


@dataclass(frozen=True)
class Gom:
    index: int
    gops: tuple[Gop, ...]

    @property
    def first_frame(self) -> int:
        return self.gops[0].first_frame

    @property
    def num_frames(self) -> int:
        return sum(g.num_frames for g in self.gops)

    @property
    def stop(self) -> int:
        return self.first_frame + self.num_frames


@dataclass(frozen=True)
class GopPartition:
    num_frames: int  # T
    gop_size: int  # p
    gom_size: int  # m

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise UarSettingsError("the video has no frames")
        if self.gop_size < 1:
            raise UarSettingsError(f"GOP size p must be at least 1, got {self.gop_size}")
        if self.gom_size < 1:
            raise UarSettingsError(f"GOM size m must be at least 1, got {self.gom_size}")

    @property
    def gops(self) -> list[Gop]:
        p, t = self.gop_size, self.num_frames
        return [Gop(k, s, min(p, t - s)) for k, s in enumerate(range(0, t, p))]

    @property
    def goms(self) -> list[Gom]:
        gops, m = self.gops, self.gom_size
        return [Gom(k, tuple(gops[s : s + m])) for k, s in enumerate(range(0, len(gops), m))]

    def goms_for_frames(self, start: int, count: int) -> list[Gom]:
        """The GOMs holding any of frames ``start .. start + count - 1``."""
        stop = start + count
        return [g for g in self.goms if g.first_frame < stop and g.stop > start]
