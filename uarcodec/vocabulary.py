"""Words several ground-floor packages share: field values, video parameters, colour enums,
coded-tensor specs. Depends on nothing but the standard library, so that ``video/``,
``models/``, ``coding/`` and ``bitstream/`` can all use it without importing each other."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from fractions import Fraction

# A value of an architecture or settings field: what the declarative key/value records can hold.
FieldValue = int | float | str | bool | list[int] | list[float]



class PixelFormat(enum.IntEnum):
    YUV420P = 0  # 8-bit planar 4:2:0


class ColorMatrix(enum.IntEnum):
    BT601 = 0
    BT709 = 1


class ColorRange(enum.IntEnum):
    LIMITED = 0
    FULL = 1


class OutputSpace(enum.IntEnum):
    """What the three output channels of every network mean (needed to decode)."""

    YUV = 0  # Y, U, V at full resolution; chroma 2x2-averaged to 4:2:0 on output
    RGB = 1  # R, G, B in the stream's colour matrix and range, converted to 4:2:0 on output


@dataclass(frozen=True)
class VideoParams:
    """The coded video: enough for a decoder to write the output file."""

    width: int
    height: int
    num_frames: int
    fps: Fraction
    pix_fmt: PixelFormat = PixelFormat.YUV420P
    color_matrix: ColorMatrix = ColorMatrix.BT601
    color_range: ColorRange = ColorRange.LIMITED


class TensorRole(enum.IntEnum):
    """What a coded tensor is; the quantizer keeps one step per tensor, weights and biases apart."""

    WEIGHT = 0
    BIAS = 1
    GRID = 2  # feature grids (HiNeRV)
    EMBEDDING = 3  # per-frame embeddings (HNeRV); no previous-model counterpart in the II sense
    NORM = 4  # normalisation scales/shifts
    LATENT = 5  # latent grids over time samples (the latent family): learn at the grids' rate and,
    # with several samples, are referenced and priced along time like per-frame embeddings
    CONTEXT = 6  # the weights and biases of a latent context network (coding/latent_context.py)


# The latent context network (coding/latent_context.py, spec section 16): its input features and
# the most hidden units a stream may give it. Here because the family that holds the network and
# the coder that runs it both need them.
CONTEXT_FEATURES = 11


class ContextOrder(enum.IntEnum):
    """The order in which a latent context network codes a grid sample's integers, and so which
    neighbours its features read (coding/latent_context.py, spec section 16): the architecture
    field ``context_order`` of the latent family (format 1.10; absent: checkerboard)."""

    CHECKERBOARD = 0  # anchors ((i + j) even) first, then the others, each phase in one call
    WAVEFRONT = 1  # by wavefront 2 i + j: every integer reads five neighbours decoded before it
MAX_CONTEXT_HIDDEN = 64
# The most pixels of latent grid beyond each edge of the frame (the latent family's per-frame
# offsets, format 1.6): the settings that choose it and the family that holds it need it.
MAX_MOTION_MARGIN = 256
# The block sizes, in pixels, of the latent family's motion field (format 1.7).
MIN_MOTION_BLOCK, MAX_MOTION_BLOCK = 4, 256


def scene_cuts_in_order(cuts: tuple[int, ...], num_frames: int | None = None) -> bool:
    """Whether scene cuts (format 1.9) are increasing frames after frame 0, and below
    ``num_frames`` where it is given: the rule the settings, the partition and the stream share."""
    stop = math.inf if num_frames is None else num_frames
    return all(before < cut < stop for before, cut in zip((0, *cuts), cuts))


class InitKind(enum.IntEnum):
    """Rules of the seeded initialisation (``coding/init.py``, ``bitstream_spec.md``)."""

    ZEROS = 0
    ONES = 1
    UNIFORM = 2  # U(-bound, bound) per element
    SHARED_UNIFORM = 3  # a code of ``period`` elements, U(-bound, bound), repeated, plus
    # independent U(-noise, noise) per element (per-frame embeddings near one shared code)


@dataclass(frozen=True)
class InitSpec:
    kind: InitKind
    bound: float = 0.0
    noise: float = 0.0
    period: int = 0


@dataclass(frozen=True)
class CodedTensorSpec:
    name: str  # parameter name inside the module
    shape: tuple[int, ...]
    role: TensorRole
    init: InitSpec
    init_step: float | None = None  # the quantization step an I-model's fit starts from (None: from the values)
    # a CONTEXT tensor's: the order in which its network codes the grids
    context_order: ContextOrder = ContextOrder.CHECKERBOARD

    @property
    def num_elements(self) -> int:
        return math.prod(self.shape)


class ChoiceEnum(str, enum.Enum):
    """A setting with a closed set of string values; compares equal to its value."""

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:  # as its value, so settings and messages read as the user wrote them
        return repr(self.value)

    @classmethod
    def choices(cls) -> list[str]:
        return [m.value for m in cls]


class ModelFamily(ChoiceEnum):
    """The INR families (``models/registry.py`` maps each to its stable stream id)."""

    HNERV = "hnerv"
    HINERV = "hinerv"
    LATENT = "latent"


# ``--model auto`` (the default of ``uar encode`` and ``uar bench``): the family is picked from
# each video (pipeline/plan.py, choose_family); never in a stream, which names the family used
AUTO_FAMILY = "auto"


class EntropyModel(enum.IntEnum):
    """The probability model a coded tensor's integers are entropy-coded under (stream code)."""

    GAUSSIAN = 0  # quantized Gaussian(mean, std): the paper's per-layer model
    LAPLACE = 1  # quantized Laplace(mean, scale b): peaked, for sparse residuals
    CONTEXT = 2  # a Laplace per symbol from the model's integer context network (format 1.5)
