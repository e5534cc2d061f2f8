"""Interpolation-based initialisation (II, paper Section III-E) and the reference of each
coded tensor.

A P-model starts from ``theta' = eps * theta_seed + (1 - eps) * theta_hat_prev`` where
``theta_hat_prev`` is the previous model *as the decoder rebuilds it*. The arithmetic is numpy
float32 in exactly this order on both sides (bitstream_spec.md, "Parameter reconstruction").
"""

from __future__ import annotations

import numpy as np

from uarcodec.bitstream.records import RefMode
from uarcodec.coding.quant import interpolated_reference as interpolate
from uarcodec.metrics import yuv_weighted
from uarcodec.settings import EncoderSettings
from uarcodec.video.frames import YuvClip

def tensor_reference(
    mode: RefMode, shape: tuple[int, ...], theta_seed: np.ndarray | None, theta_prev: np.ndarray | None, eps: float
) -> np.ndarray:
    """The float32 tensor a coded tensor's integers are added to (times its step)."""
    if mode == RefMode.NONE:
        return np.zeros(shape, np.float32)
    if mode == RefMode.LAST:
        if theta_prev is None or len(shape) < 1 or tuple(theta_prev.shape[1:]) != tuple(shape[1:]):
            raise ValueError("a last-row reference needs a previous tensor with the same row shape")
        return np.repeat(theta_prev[-1:].astype(np.float32), shape[0], axis=0)
    if theta_prev is None or tuple(theta_prev.shape) != tuple(shape):
        raise ValueError("a referenced tensor needs a previous tensor of the same shape")
    if mode == RefMode.PREVIOUS:
        return theta_prev.astype(np.float32, copy=False)
    if theta_seed is None:
        raise ValueError("an interpolated reference needs the seeded tensor")
    return interpolate(theta_seed, theta_prev, eps)


def gop_gap_mse(prev: YuvClip, cur: YuvClip) -> float:
    """MSE between corresponding frames of two adjacent GOPs, pixels in [0, 1], planes
    weighted 6:1:1; frame i of ``cur`` against frame i of ``prev`` for the frames both have."""
    n = min(prev.num_frames, cur.num_frames)
    mse = [
        float(np.mean(np.square(a[:n].astype(np.float64) - b[:n].astype(np.float64)))) / (255.0 * 255.0)
        for a, b in ((prev.y, cur.y), (prev.u, cur.u), (prev.v, cur.v))
    ]
    return float(yuv_weighted(*mse))


def choose_eps(settings: EncoderSettings, gap_mse: float) -> float:
    """eps of a P-model: fixed by ``--eps`` or ``--init random|direct``, else the eps law.
    Rounded to float32, as stored."""
    if settings.eps is not None:
        eps = settings.eps
    elif settings.init == "random":
        eps = 1.0
    elif settings.init == "direct":
        eps = 0.0
    else:
        eps = settings.eps_law.eps(gap_mse)
    return float(np.float32(eps))
