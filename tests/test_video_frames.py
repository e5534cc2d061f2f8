"""The YuvClip frame type: shapes, slicing, joining."""

from __future__ import annotations

import numpy as np
import pytest

from uarcodec.errors import UarInputError
from uarcodec.video import YuvClip, concatenate


def numbered_clip(num_frames: int, width: int = 8, height: int = 4, first: int = 0) -> YuvClip:
    """Every sample of frame i is (first + i): easy to tell frames apart."""
    values = np.arange(first, first + num_frames, dtype=np.uint8)[:, None, None]
    return YuvClip(
        np.broadcast_to(values, (num_frames, height, width)).copy(),
        np.broadcast_to(values, (num_frames, height // 2, width // 2)).copy(),
        np.broadcast_to(values, (num_frames, height // 2, width // 2)).copy(),
    )


def test_properties() -> None:
    clip = numbered_clip(5, width=8, height=4)
    assert (clip.num_frames, clip.width, clip.height, len(clip)) == (5, 8, 4, 5)
    assert clip.frame_bytes == 8 * 4 * 3 // 2
    assert len(clip.frame_to_bytes(2)) == clip.frame_bytes
    assert set(clip.frame_to_bytes(2)) == {2}


def test_slicing_gives_the_wanted_frames() -> None:
    clip = numbered_clip(6)
    part = clip[2:5]
    assert part.num_frames == 3 and part.y[:, 0, 0].tolist() == [2, 3, 4]
    assert clip[-1].num_frames == 1 and int(clip[-1].u[0, 0, 0]) == 5
    assert clip[4:].same_as(numbered_clip(2, first=4))
    with pytest.raises(IndexError):
        clip[6]
    with pytest.raises(UarInputError):
        clip[::2]


def test_concatenate_joins_in_order() -> None:
    joined = concatenate([numbered_clip(2), numbered_clip(3, first=2)])
    assert joined.same_as(numbered_clip(5))
    assert YuvClip.concatenate([numbered_clip(1)]).num_frames == 1
    with pytest.raises(UarInputError, match="different sizes"):
        concatenate([numbered_clip(1), numbered_clip(1, width=16)])
    with pytest.raises(UarInputError, match="empty"):
        concatenate([])


def test_empty_and_zero_clips() -> None:
    assert YuvClip.empty(8, 4).num_frames == 0
    zeros = YuvClip.zeros(2, 8, 4)
    assert zeros.u.shape == (2, 2, 4) and not zeros.y.any()


def test_bad_planes_are_refused() -> None:
    y = np.zeros((1, 4, 8), np.uint8)
    c = np.zeros((1, 2, 4), np.uint8)
    with pytest.raises(UarInputError, match="uint8"):
        YuvClip(y.astype(np.float32), c, c)
    with pytest.raises(UarInputError, match="chroma"):
        YuvClip(y, np.zeros((1, 4, 8), np.uint8), c)
    with pytest.raises(UarInputError, match="even"):
        YuvClip(np.zeros((1, 5, 8), np.uint8), c, c)
