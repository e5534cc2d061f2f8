"""Error concealment: decode every intact GOM of a damaged stream and replace the frames of a
damaged one by the last good frame (mid-grey before any), like ffmpeg's error concealment."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from uarcodec.pipeline.decoder import GomOutcome
from uarcodec.video.frames import YuvClip

MID_GREY = 128
"""The sample value (Y, U and V) of frames concealed before any good frame was decoded."""


@dataclass(frozen=True)
class ConcealedGom:
    """A GOM whose wanted frames ``first_frame .. first_frame + num_frames - 1`` were concealed.

    ``repeated_frame``: the video frame repeated in their place; None when mid-grey was used."""

    index: int
    first_frame: int
    num_frames: int
    reason: str
    repeated_frame: int | None = None


def conceal_frames(last_good: YuvClip | None, num_frames: int, width: int, height: int) -> YuvClip:
    """``num_frames`` copies of the last frame of ``last_good``, or mid-grey frames when None."""
    if last_good is None:
        clip = YuvClip.zeros(num_frames, width, height)
        for plane in (clip.y, clip.u, clip.v):
            plane.fill(MID_GREY)
        return clip
    frame = last_good[-1]
    return YuvClip(*(np.repeat(p, num_frames, axis=0) for p in (frame.y, frame.u, frame.v)))


def concealed_clips(
    outcomes: Iterable[GomOutcome], width: int, height: int, conceal: bool
) -> Iterator[tuple[YuvClip, ConcealedGom | None]]:
    """The frames of each GOM part in order, with what was concealed. Without ``conceal`` the
    first damaged GOM's error is raised."""
    last_good: YuvClip | None = None
    last_frame: int | None = None
    for part, result in outcomes:
        if isinstance(result, YuvClip):
            last_good, last_frame = result[-1], part.stop - 1
            yield result, None
        elif not conceal:
            raise result
        else:
            reason = " ".join(str(result).split())  # one line
            gom = ConcealedGom(part.index, part.first_frame, part.num_frames, reason, last_frame)
            yield conceal_frames(last_good, part.num_frames, width, height), gom
