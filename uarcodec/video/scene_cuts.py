"""Scene cuts: the frames where the picture changes at once, found by the encoder so that a
new GOM (an I-model) starts there, as a classic encoder starts an intra frame (x265's default
``scenecut``).

A model fitted to a GOP that holds two scenes pays for both and fits neither well: megamind's
fourth GOP (frames 90 to 119, a cut at 97) cost its P-model 19,138 bytes at 32.74 dB where the
three before cost 11,877 to 18,967 bytes at 34.38 to 35.80 dB (latent family, preset fast,
lambda 150, 200k; docs/latent_grids.md, "Scene cuts").

Encoder-side only: the stream records the cuts it used (spec section 5, format 1.9) and a
decoder reads them; how they were found is not part of the stream's definition.

The measure is the mean squared difference of consecutive luma frames on a grid of every
:data:`SUBSAMPLE`-th pixel, in 8-bit units. Frame ``i`` starts a new scene where its difference
from frame ``i - 1`` is at least :data:`MIN_CUT_MSE` and :data:`MIN_CUT_RATIO` times the median
of the differences around it (``WINDOW`` frames either side), neither the frame before nor the
next one jumps too (a flash: a frame unlike both neighbours, two jumps in a row), and the scene
before it has at least :data:`MIN_SCENE_FRAMES` frames. On the five clips of the README bench this finds megamind's
cut (3,515 against a median of 62) and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from uarcodec.video.frames import YuvClip

SUBSAMPLE = 2  # every second row and column
WINDOW = 15  # frames either side whose differences make the local median
MIN_CUT_MSE = 400.0  # a root-mean-square change of 20 levels of 255 at least
MIN_CUT_RATIO = 8.0  # and eight times the differences around it
MIN_SCENE_FRAMES = 4  # no GOP of fewer frames is started by a cut


def frame_differences(clips: Iterable[YuvClip]) -> np.ndarray:
    """``d[i]``, the mean squared luma difference of frame ``i`` and frame ``i - 1`` (``d[0]``
    = 0), over clips of consecutive frames, read one at a time."""
    diffs: list[float] = []
    last: np.ndarray | None = None
    for clip in clips:
        for frame in clip.y[:, ::SUBSAMPLE, ::SUBSAMPLE]:
            current = frame.astype(np.float32)
            diffs.append(0.0 if last is None else float(np.mean(np.square(current - last))))
            last = current
    return np.asarray(diffs, dtype=np.float64)


def _jumps(diffs: np.ndarray) -> np.ndarray:
    """Per frame, whether its difference from the frame before is a jump (module docstring)."""
    jumps = np.zeros(len(diffs), dtype=bool)
    for i in range(1, len(diffs)):
        around = np.concatenate([diffs[max(1, i - WINDOW):i], diffs[i + 1:i + 1 + WINDOW]])
        local = float(np.median(around)) if len(around) else 0.0
        jumps[i] = diffs[i] >= MIN_CUT_MSE and diffs[i] >= MIN_CUT_RATIO * local
    return jumps


def find_scene_cuts(diffs: np.ndarray) -> tuple[int, ...]:
    """The frames (1 .. len - 1) that start a new scene, given the differences of
    :func:`frame_differences`."""
    jumps = _jumps(diffs)
    cuts: list[int] = []
    for i in np.flatnonzero(jumps):
        i = int(i)
        flash = jumps[i - 1] or (i + 1 < len(diffs) and jumps[i + 1])  # in or out of a flash
        if not flash and i - (cuts[-1] if cuts else 0) >= MIN_SCENE_FRAMES:
            cuts.append(i)
    return tuple(cuts)
