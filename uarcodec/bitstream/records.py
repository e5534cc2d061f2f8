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
    EntropyModel,
    ColorRange,
    FieldValue,
    OutputSpace,
    PixelFormat,
    VideoParams,
)

# The format version this package reads (and the highest it writes). 1.1: tensor records with
# flags, entropy model and channel mask; 1.2: compact tensor records and the encoder settings
# baseline (spec 5.2); 1.3: zero-flagged tensor records (spec 6.1.3); 1.4: varint fields,
# bfloat16 entropy parameters and words cut to their last nonzero byte (spec 1, 6.1), compact
# field lists (spec 2); 1.5: context-coded tensor records (head bit 6, spec 6.1 and 16); 1.6:
# the latent family's per-frame offsets (architecture field motion_margin, spec 5.1 and 5.2),
# with 1.5's record layout; 1.7: their motion field (architecture field motion_block), the
# same layout; 1.8: zero flags under plane contexts (head bits 6 and 7, spec 6.1.5); 1.9: scene
# cuts at the end of the HEAD payload (spec 3 and 5), with 1.8's record layout; 1.10: the latent
# family's context order (architecture field context_order, spec 16), the same layout.
FORMAT_VERSION = (1, 10)
# What a stream is written as (writer = min_reader version, spec 5.2): BASE_FORMAT_VERSION when
# it holds no context-coded tensor record (byte for byte what a 1.4 writer writes), and
# CONTEXT_FORMAT_VERSION when it may hold one (EntropyModel.CONTEXT needs the 1.5 layout),
# MOTION_FORMAT_VERSION when its latent network has per-frame offsets (a 1.5 reader would not
# know the architecture field), MOTION_FIELD_FORMAT_VERSION when they are a field of blocks,
# PLANE_FLAGS_FORMAT_VERSION when it may hold a record with zero flags under plane contexts
# (every stream the encoder writes since 0.13.0, pipeline/plan.py: WRITTEN_FORMAT_VERSION), and
# SCENE_CUTS_FORMAT_VERSION when its partition has scene cuts (a 1.8 reader would cut its GOPs
# elsewhere), and CONTEXT_ORDER_FORMAT_VERSION when its latent grids are coded in another order
# than the checkerboard (a 1.9 reader would read the context-coded grids wrongly).
BASE_FORMAT_VERSION = (1, 4)
CONTEXT_FORMAT_VERSION = (1, 5)
MOTION_FORMAT_VERSION = (1, 6)
MOTION_FIELD_FORMAT_VERSION = (1, 7)
PLANE_FLAGS_FORMAT_VERSION = (1, 8)
SCENE_CUTS_FORMAT_VERSION = (1, 9)
CONTEXT_ORDER_FORMAT_VERSION = (1, 10)
# Architecture fields a stream may hold only from a format version on (spec 5.1)
ARCH_FIELD_VERSIONS: dict[str, tuple[int, int]] = {"context_order": CONTEXT_ORDER_FORMAT_VERSION}

# The first format version of each GOM tensor-record layout 1 .. 6 (layout 0 is format 1.0).
_LAYOUT_VERSIONS = ((1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 8))


def tensor_layout(min_reader_version: tuple[int, int]) -> int:
    """The GOM tensor-record layout (0 to 6: format 1.0 to 1.5, 1.8) of a stream with this
    ``min_reader_version``."""
    for layout, version in enumerate(_LAYOUT_VERSIONS):
        if min_reader_version < version:
            return layout
    return len(_LAYOUT_VERSIONS)


PLANE_FLAGS_LAYOUT = tensor_layout(PLANE_FLAGS_FORMAT_VERSION)  # 6: records with zero flags under plane contexts


class ModelKind(enum.IntEnum):
    """Whether a model starts a GOM (I) or is predicted from the previous model (P)."""

    I = 0  # noqa: E741  (the codec term)
    P = 1


class RefMode(enum.IntEnum):
    """What a coded tensor's integers are a residual against (spec: "reference modes")."""

    NONE = 0  # theta_hat = q * step (I-models, --no-ref, tensors without a counterpart)
    INTERP = 1  # theta_hat = (eps * theta_seed + (1 - eps) * theta_prev) + q * step
    PREVIOUS = 2  # theta_hat = theta_prev + q * step (e.g. HNeRV embeddings vs previous GOP)
    LAST = 3  # theta_hat[t] = theta_prev[-1] + q[t] * step: every row against the previous model's last row


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
    # The frames that start a new scene, and so a new GOP and GOM (format 1.9; none before).
    scene_cuts: tuple[int, ...] = ()


@dataclass(frozen=True)
class StreamHeader:
    video: VideoParams
    coding: CodingParams
    # (major, minor) of the format the writer wrote. The defaults make a 1.4 stream, which holds
    # no context-coded tensor; a stream that may hold one is written with CONTEXT_FORMAT_VERSION
    # for both (spec 5.2).
    writer_version: tuple[int, int] = BASE_FORMAT_VERSION
    min_reader_version: tuple[int, int] = BASE_FORMAT_VERSION

    @property
    def tensor_layout(self) -> int:
        """The minor version whose GOM tensor-record layout this stream uses (0 to 5)."""
        return tensor_layout(self.min_reader_version)


@dataclass
class TensorRecord:
    """One coded tensor: its symbols are entropy-coded under ``entropy_model`` (mean and
    std: a Gaussian's, or a Laplace's location and scale) restricted to [min_symbol,
    max_symbol]; the symbols are the integers ``q`` (or, with ``temporal``, their differences
    along the first dimension) of the channels (first dimension) ``channel_mask`` keeps, the
    others being 0; the decoder computes ``ref + q * step``. A tensor whose integers are all 0
    is written as a zero record (formats 1.1 and later). With ``zero_flags`` (format 1.3 on) the
    symbols are coded in two parts: one flag per symbol (is it nonzero?) under the two-symbol
    Laplace that ``zero_flags`` describes, then the nonzero symbols, shifted to close the gap
    at 0, under ``entropy_model``; [min_symbol, max_symbol] is then their shifted range
    (:mod:`uarcodec.coding.zero_flags`).

    With ``entropy_model == EntropyModel.CONTEXT`` (format 1.5 on) the symbols are coded under
    the model's per-symbol context model (spec section 16), restricted to [min_symbol,
    max_symbol]; such a record stores no mean, std or flag parameter and has no temporal
    differences, channel mask or zero flags. ``mean`` and ``std`` are then placeholders: the
    writer ignores them and the reader sets 0.0 and 1.0.

    With ``plane_flags`` (format 1.8 on; rank 2 or more, no channel mask, ``zero_flags`` None)
    the symbols are coded as with zero flags, but each flag under one of the
    :data:`~uarcodec.coding.plane_flags.NUM_CLASSES` flag models whose float32 parameters
    ``plane_flags`` holds, the class picked from flags decoded before it (spec 6.1.5)."""

    shape: tuple[int, ...]
    ref_mode: RefMode
    step: float  # float32 in the stream
    mean: float  # float32
    std: float  # float32, > 0
    min_symbol: int  # int32
    max_symbol: int  # int32
    words: np.ndarray  # uint32 coded words (empty when min_symbol == max_symbol)
    entropy_model: EntropyModel = EntropyModel.GAUSSIAN
    temporal: bool = False  # symbols are differences along the first dimension
    channel_mask: np.ndarray | None = None  # bool per first-dimension channel: True = coded
    zero_flags: float | None = None  # float32 parameter of the flags' model; None: no zero flags
    plane_flags: tuple[float, ...] | None = None  # float32 parameters of the flag classes (1.8)

    @property
    def flagged(self) -> bool:
        """Zero flags, then the nonzero symbols (format 1.3's or under plane contexts)."""
        return self.zero_flags is not None or self.plane_flags is not None

    @property
    def is_zero(self) -> bool:
        """Every integer is 0 (nothing is coded)."""
        return self.min_symbol == 0 and self.max_symbol == 0 and not self.flagged and (
            self.channel_mask is None or not self.channel_mask.any()
        )

    @property
    def coded_elements(self) -> int:
        """How many symbols the words hold (the elements of the kept channels)."""
        if self.channel_mask is None:
            return self.num_elements
        return int(np.count_nonzero(self.channel_mask)) * (self.num_elements // max(1, self.shape[0]))

    @property
    def num_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def coded_bytes(self) -> int:
        """Bytes of the coded words as the current format stores them (:func:`word_bytes`),
        and of the channel mask."""
        mask = 0 if self.channel_mask is None else (len(self.channel_mask) + 7) // 8
        return word_byte_count(self.words) + mask


def word_byte_count(words: np.ndarray) -> int:
    """How many bytes format 1.4 stores for ``words``: all of them, little-endian, less the
    last word's high bytes that are 0 (the coder's last word is never 0)."""
    n = int(np.asarray(words).size)
    return 0 if n == 0 else 4 * (n - 1) + (int(words[-1]).bit_length() + 7) // 8


def word_bytes(words: np.ndarray) -> bytes:
    """The bytes format 1.4 stores for ``words`` (:func:`word_byte_count` of them)."""
    data = np.ascontiguousarray(words, dtype="<u4").tobytes()
    return data[: word_byte_count(words)]


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
