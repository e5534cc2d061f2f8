"""The in-memory form of everything a .uar stream holds.

These dataclasses are the contract between the pipeline (which fills them) and the container
reader/writer (which turns them into bytes, see ``bitstream_spec.md``). They hold plain Python
and numpy values only: the bitstream knows nothing of torch.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

from uarcodec.vocabulary import (  # noqa: F401  (re-exported: the stream's vocabulary)
    ColorMatrix,
    ColorRange,
    FieldValue,
    OutputSpace,
    PixelFormat,
    VideoParams,
)

class ModelKind(enum.IntEnum):
    """Whether a model starts a GOM (I) or is predicted from the previous model (P)."""

    I = 0  # noqa: E741  (the codec term)
    P = 1


class RefMode(enum.IntEnum):
    """What a coded tensor's integers are a residual against (spec: "reference modes")."""

    NONE = 0  # theta_hat = q * step (I-models, --no-ref, tensors without a counterpart)
    INTERP = 1  # theta_hat = (eps * theta_seed + (1 - eps) * theta_prev) + q * step
    PREVIOUS = 2  # theta_hat = theta_prev + q * step (e.g. HNeRV embeddings vs previous GOP)


@dataclass(frozen=True)
class CodingParams:
    """Everything besides the video needed to rebuild every network of the stream."""

    gop_size: int  # p
    gom_size: int  # m
    family_id: int  # models.registry id
    arch: dict[str, FieldValue]  # the family's architecture fields, rebuilds the same network
    quantizer_id: int = 0  # 0 = per-tensor uniform scalar quantizer with step (RQEC)
    coder_id: int = 0  # 0 = constriction ANS, QuantizedGaussian per tensor
    coder_version: str = ""  # version of the coder library that wrote the words
    init_id: int = 0  # 0 = the seeded initialisation of bitstream_spec.md
    output_space: OutputSpace = OutputSpace.YUV  # u8 in the header; needed to decode
    # Informational encoder settings (lambda, preset, eps law, ...): not needed to decode.
    encoder_settings: dict[str, FieldValue] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamHeader:
    video: VideoParams
    coding: CodingParams
    writer_version: tuple[int, int] = (1, 0)  # (major, minor) of the format the writer wrote
    min_reader_version: tuple[int, int] = (1, 0)


@dataclass
class TensorRecord:
    """One coded tensor: its integers are entropy-coded under QuantizedGaussian(mean, std)
    restricted to [min_symbol, max_symbol]; the decoder computes ``ref + q * step``."""

    shape: tuple[int, ...]
    ref_mode: RefMode
    step: float  # float32 in the stream
    mean: float  # float32
    std: float  # float32, > 0
    min_symbol: int  # int32
    max_symbol: int  # int32
    words: np.ndarray  # uint32 coded words (empty when min_symbol == max_symbol)

    @property
    def num_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def coded_bytes(self) -> int:
        return 4 * int(self.words.size)


@dataclass
class ModelRecord:
    kind: ModelKind
    num_frames: int  # GOP length this model was built for
    seed: int  # uint32: the seeded init theta_seed of this model
    eps: float  # float32; interpolation weight of theta_seed (1.0 for I-models)
    tensors: list[TensorRecord]


@dataclass
class GomRecord:
    index: int  # GOM number, 0-based
    first_frame: int
    num_frames: int
    models: list[ModelRecord]


@dataclass(frozen=True)
class GomIndexEntry:
    """Where GOM ``index`` lives in the file (offset of its chunk, total chunk length)."""

    index: int
    offset: int
    length: int
    first_frame: int
    num_frames: int
