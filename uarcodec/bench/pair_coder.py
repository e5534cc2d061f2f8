"""Fitting and coding the GOPs of a calibration pair exactly as the encoder does (the same
:class:`~uarcodec.pipeline.gop_coding.GopCoder` as ``uar encode``): the first GOP as an I-model, the second as a P-model that
starts from ``eps * theta_seed + (1 - eps) * theta_hat_prev``, each with the MSE of its decoded
frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from uarcodec.bitstream.records import VideoParams
from uarcodec.pipeline.gop_coding import CodedGop as EncodedGop
from uarcodec.pipeline.gop_coding import GopCoder
from uarcodec.pipeline.interp_init import gop_gap_mse
from uarcodec.pipeline.plan import stream_header
from uarcodec.settings import EncoderSettings
from uarcodec.video.frames import YuvClip


@dataclass
class CodedGop:
    """A GOP coded as the encoder codes it, and the MSE of its decoded frames."""

    coded: EncodedGop
    mse: float

    @property
    def coded_bytes(self) -> int:
        return self.coded.coded_bytes


class PairCoder:
    """Codes GOPs of one clip at one p and size the way the encoder does (same init, seeds,
    step warm start, training-encoder warm start, coding and decoder rebuild)."""

    def __init__(self, info: VideoParams, settings: EncoderSettings, device: torch.device) -> None:
        self.coder = GopCoder(stream_header(info, info.num_frames, settings, device), settings, device)
        self.settings = settings
        self.device = device

    def code(self, clip: YuvClip, gop_index: int, eps: float | None, prev: CodedGop | None) -> CodedGop:
        """I-model when ``prev`` is None, else a P-model with this ``eps``."""
        eps32 = 1.0 if prev is None else float(np.float32(eps))
        coded = self.coder.code(clip, gop_index, eps32, None if prev is None else prev.coded,
                                position=0 if prev is None else 1)
        return CodedGop(coded, gop_gap_mse(clip, coded.recon))


__all__ = ["CodedGop", "PairCoder"]
