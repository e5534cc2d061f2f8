"""Global translation of a clip's frames: the encoder's estimate of how far the picture moves
from frame to frame (a panning or shaking camera), by phase correlation.

Encoder-side only: the latent family starts its coded per-frame offsets from this estimate and
trains them; nothing here is part of the stream's definition (a decoder reads the offsets).

A step between two frames counts only where it explains them: shifting the earlier frame by it
must lower the mean squared difference over the overlap by :data:`MIN_STEP_GAIN`; else the step
is zero (a moving object in front of a still background, or a zoom, has a correlation peak too,
and following it moves the still parts: megamind, 30 frames, lambda 150, 18,493 bytes at
34.29 dB without motion against 24,860 at 33.59 dB with its unchecked estimate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_STEP_GAIN = 0.2  # a step must cut the frame difference by a fifth
# a clip is moving where its accepted steps cut the summed frame differences by this much
MIN_CLIP_GAIN = 0.25


@dataclass(frozen=True)
class Translation:
    """A clip's estimated global motion: per frame, the ``(dy, dx)`` in pixels at which a
    picture centred on the clip's range of positions shows what the frame shows at ``(0, 0)``
    (``offsets``, whole pixels, centred: the largest and smallest are equally far from 0, or
    the largest half a pixel nearer),
    and how much of the frame differences the motion explains (``gain``, 0 to 1)."""

    offsets: np.ndarray  # (T, 2) float64, integer-valued
    gain: float

    @property
    def reach(self) -> float:
        """The largest offset, in pixels, either way."""
        return float(np.abs(self.offsets).max()) if self.offsets.size else 0.0

    @property
    def moving(self) -> bool:
        return self.gain >= MIN_CLIP_GAIN


def estimate_translation(luma: np.ndarray) -> Translation:
    """``luma`` (T, H, W): the accepted integer step between each frame and the one before,
    accumulated along the clip and centred."""
    frames = np.asarray(luma, np.float64)
    t, h, w = frames.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    spectra = [np.fft.rfft2((f - f.mean()) * window) for f in frames]
    position = np.zeros((t, 2))
    before = after = 0.0
    for i in range(1, t):
        step = _peak(spectra[i], spectra[i - 1], h, w)
        still = _difference(frames[i], frames[i - 1], (0, 0))
        moved = _difference(frames[i], frames[i - 1], step)
        before += still
        if moved <= (1.0 - MIN_STEP_GAIN) * still:
            after += moved
            position[i] = position[i - 1] - step
        else:
            after += still
            position[i] = position[i - 1]
    offsets = position - np.floor((position.max(axis=0) + position.min(axis=0)) / 2) if t else position
    gain = 0.0 if before <= 0 else 1.0 - after / before
    return Translation(offsets, gain)


def _peak(a: np.ndarray, b: np.ndarray, h: int, w: int) -> tuple[int, int]:
    """The integer ``d`` with frame a(p) ~ frame b(p - d): the peak of the phase correlation."""
    cross = a * np.conj(b)
    corr = np.fft.irfft2(cross / (np.abs(cross) + 1e-9), s=(h, w))
    dy, dx = np.unravel_index(int(np.argmax(corr)), corr.shape)
    return (int(dy) - h if dy > h // 2 else int(dy), int(dx) - w if dx > w // 2 else int(dx))


def _difference(a: np.ndarray, b: np.ndarray, step: tuple[int, int]) -> float:
    """Mean squared difference of a(p) and b(p - step) where both exist."""
    dy, dx = step
    h, w = a.shape
    if abs(dy) >= h or abs(dx) >= w:
        return float("inf")
    pa = a[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)]
    pb = b[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return float(np.mean((pa - pb) ** 2))
