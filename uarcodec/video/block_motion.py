"""Local motion of a clip's frames: per block of pixels, where each frame's content sits in one
reference frame of the clip (block matching, coarse to fine).

Encoder-side only: the latent family starts its coded motion field (``motion_block``, format
1.7) from this estimate and trains it; a decoder reads the field from the stream.

Frame t's field gives, per block, the offset at which the grids' picture shows what the frame
shows there. The picture is the reference frame's (the middle one), placed by the global
translation (``video/global_motion.py``): a block's offset is the reference frame's global
offset plus the displacement ``d`` that best explains the block by the reference frame read at
``d`` (the least sum of squared differences, searched around the global displacement at a
quarter of the size, then refined pixel by pixel at full size). A displacement counts only
where it cuts the block's difference by :data:`MIN_BLOCK_GAIN` against the global one (a flat
or noisy block has a best displacement too); each field is then smoothed by a 3 x 3 median.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COARSE = 4  # the first search runs at 1/COARSE of the size
COARSE_REACH = 6  # samples of the coarse search either way around the global displacement
FINE_REACH = 2  # pixels of the full-size refinement either way
MIN_BLOCK_GAIN = 0.2  # a local displacement must cut the block's difference by a fifth


@dataclass(frozen=True)
class BlockField:
    """A GOP's estimated local motion: per frame and block the offset ``(dy, dx)`` in whole
    pixels (``offsets``, (T, 2, fh, fw) float32), and how much of the blocks' differences to the
    reference frame under the global offsets the local ones explain (``gain``, 0 to 1)."""

    offsets: np.ndarray
    gain: float


def estimate_block_offsets(luma: np.ndarray, block: int, field_shape: tuple[int, int],
                           path: np.ndarray) -> BlockField:
    """The offsets of ``luma`` (T, H, W) per block of ``block`` pixels (``field_shape``
    blocks, covering the frame from its top-left corner; blocks past the frame's edge read its
    last rows and columns), around the global offsets ``path`` (T, 2) (module docstring)."""
    frames = np.asarray(luma, np.float64)
    count = frames.shape[0]
    ref_index = count // 2
    ref = frames[ref_index]
    ref_small = _shrink(ref, COARSE)
    path = np.asarray(path, np.float64)
    field = np.zeros((count, 2, *field_shape), np.float32)
    before = after = 0.0
    for t in range(count):
        base = np.rint(path[t] - path[ref_index]).astype(np.int64)
        everywhere = np.broadcast_to(base, (*field_shape, 2))
        coarse = np.rint(everywhere / COARSE).astype(np.int64)
        found, _ = _match(_shrink(frames[t], COARSE), ref_small, block // COARSE, coarse, COARSE_REACH)
        found, cost = _match(frames[t], ref, block, found * COARSE, FINE_REACH)
        _, global_cost = _match(frames[t], ref, block, everywhere, 0)
        better = cost <= (1.0 - MIN_BLOCK_GAIN) * global_cost
        kept = np.where(better[..., None], found, everywhere)
        before += float(global_cost.sum())
        after += float(np.where(better, cost, global_cost).sum())
        smooth = np.stack([_median3(kept[..., axis].astype(np.float64)) for axis in range(2)])
        field[t] = smooth + path[ref_index][:, None, None]
    return BlockField(field, 0.0 if before <= 0 else 1.0 - after / before)


def _shrink(image: np.ndarray, factor: int) -> np.ndarray:
    """Means of ``factor x factor`` pixels (the last partial rows and columns dropped)."""
    h, w = image.shape[0] // factor * factor, image.shape[1] // factor * factor
    return image[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def _blocks(image: np.ndarray, block: int, shape: tuple[int, int]) -> np.ndarray:
    """``image`` cut into ``shape`` blocks of ``block`` pixels, ``(fh, fw, block, block)`` (its
    last rows and columns repeated past its edge, as the grids' border reads)."""
    fh, fw = shape
    rows = np.minimum(np.arange(fh * block), image.shape[0] - 1)
    cols = np.minimum(np.arange(fw * block), image.shape[1] - 1)
    return image[rows[:, None], cols[None, :]].reshape(fh, block, fw, block).transpose(0, 2, 1, 3)


def _match(frame: np.ndarray, ref: np.ndarray, block: int, centre: np.ndarray,
           reach: int) -> tuple[np.ndarray, np.ndarray]:
    """Per block, the displacement within ``reach`` of its ``centre`` (fh, fw, 2) whose read of
    ``ref`` (edges repeated outside) differs least from ``frame`` in the sum of squared
    differences (ties: the first in row-major order of the search), and that sum."""
    shape = centre.shape[:2]
    pieces = _blocks(frame, block, shape)
    base_rows = np.arange(shape[0])[:, None, None] * block + np.arange(block)  # (fh, 1, block)
    base_cols = np.arange(shape[1])[None, :, None] * block + np.arange(block)  # (1, fw, block)
    h, w = ref.shape
    best = np.full(shape, np.inf)
    found = centre.copy()
    for dy in range(-reach, reach + 1):
        rows = np.clip(base_rows + (centre[..., 0] + dy)[..., None], 0, h - 1)  # (fh, fw, block)
        for dx in range(-reach, reach + 1):
            cols = np.clip(base_cols + (centre[..., 1] + dx)[..., None], 0, w - 1)
            read = ref[rows[..., :, None], cols[..., None, :]]
            cost = np.square(pieces - read).sum(axis=(2, 3))
            better = cost < best
            best[better] = cost[better]
            found[better] = centre[better] + (dy, dx)
    return found, best


def _median3(plane: np.ndarray) -> np.ndarray:
    """3 x 3 median, edges repeated."""
    h, w = plane.shape
    padded = np.pad(plane, 1, mode="edge")
    return np.median(np.stack([padded[i:i + h, j:j + w] for i in range(3) for j in range(3)]), axis=0)
