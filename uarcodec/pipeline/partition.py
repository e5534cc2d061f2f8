"""Cutting T frames into GOPs of p frames and GOPs into GOMs of m models.

Any T works: the last GOP and the last GOM may be shorter; each model is built for its own GOP
length. Scene cuts (format 1.9) split the video into scenes first: each scene is cut as a video
of its own, so a cut starts a new GOP and a new GOM (an I-model), and the GOP before it may be
shorter than p (bitstream_spec.md, section 3.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from uarcodec.bitstream.records import StreamHeader
from uarcodec.errors import UarSettingsError
from uarcodec.vocabulary import scene_cuts_in_order


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
    scene_cuts: tuple[int, ...] = ()  # the frames that start a new scene, increasing, 1 .. T - 1

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise UarSettingsError("the video has no frames")
        if self.gop_size < 1:
            raise UarSettingsError(f"GOP size p must be at least 1, got {self.gop_size}")
        if self.gom_size < 1:
            raise UarSettingsError(f"GOM size m must be at least 1, got {self.gom_size}")
        object.__setattr__(self, "scene_cuts", tuple(int(c) for c in self.scene_cuts))
        check_scene_cuts(self.scene_cuts, self.num_frames)

    @property
    def scenes(self) -> list[tuple[int, int]]:
        """``(first frame, frames)`` of each scene: the whole video without cuts."""
        starts = (0, *self.scene_cuts)
        stops = (*self.scene_cuts, self.num_frames)
        return [(a, b - a) for a, b in zip(starts, stops)]

    def _scene_goms(self) -> list[list[tuple[int, int]]]:
        """Per GOM, the ``(first frame, frames)`` of its GOPs: each scene in GOPs of p frames
        (its last one shorter), its GOPs in GOMs of m."""
        p, m = self.gop_size, self.gom_size
        goms = []
        for first, length in self.scenes:
            gops = [(s, min(p, first + length - s)) for s in range(first, first + length, p)]
            goms += [gops[i : i + m] for i in range(0, len(gops), m)]
        return goms

    @property
    def gops(self) -> list[Gop]:
        return [gop for gom in self.goms for gop in gom.gops]

    @property
    def goms(self) -> list[Gom]:
        goms, first_gop = [], 0
        for index, spans in enumerate(self._scene_goms()):
            goms.append(Gom(index, tuple(Gop(first_gop + i, s, n) for i, (s, n) in enumerate(spans))))
            first_gop += len(spans)
        return goms

    def goms_for_frames(self, start: int, count: int) -> list[Gom]:
        """The GOMs holding any of frames ``start .. start + count - 1``."""
        stop = start + count
        return [g for g in self.goms if g.first_frame < stop and g.stop > start]


def check_scene_cuts(cuts: tuple[int, ...], num_frames: int) -> None:
    """Scene cuts must be increasing frames of 1 .. ``num_frames - 1``."""
    if not scene_cuts_in_order(cuts, num_frames):
        raise UarSettingsError(f"scene cuts must be increasing frames of 1..{num_frames - 1}, got {list(cuts)}")


def stream_partition(header: StreamHeader) -> GopPartition:
    """The partition a stream's header says its GOMs follow."""
    c = header.coding
    return GopPartition(header.video.num_frames, c.gop_size, c.gom_size, c.scene_cuts)
