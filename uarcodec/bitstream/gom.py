"""The GOMD chunk payload: one GOM's models and coded tensors (spec section 6), in the tensor-record
layout of the stream's version: 1.0, 1.1 (flags, entropy model, channel mask), 1.2 (compact:
one head byte, 16-bit fields in SHORT records), 1.3 (1.2 with zero-flagged records: head bit 7
and a float32 flag parameter after std), 1.4 (varint counts, dimensions and symbols, bfloat16
entropy parameters, words cut to their last nonzero byte; also in the GOM and model headers) or
1.5 (1.4 with context-coded records: head bit 6, no mean, std or mask) or 1.8 (1.5 with zero flags
under plane contexts: head bits 6 and 7 together, 23 flag parameters).

``serialize_gom`` checks every constraint of spec 6.2 (UarCodingError) so that the writer never
writes what a reader rejects; ``parse_gom`` checks them again on the bytes (UarFormatError).
Checks against the stream header (model count <= m, GOP length <= p, frames inside the video)
are made when the header is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from uarcodec.bitstream.primitives import (
    I16_MAX,
    I16_MIN,
    I32_MAX,
    I32_MIN,
    U16_MAX,
    U32_MAX,
    PayloadBuilder,
    PayloadReader,
)
from uarcodec.bitstream.records import (
    BASE_FORMAT_VERSION,
    EntropyModel,
    GomRecord,
    ModelKind,
    ModelRecord,
    RefMode,
    StreamHeader,
    TensorRecord,
    tensor_layout,
    word_bytes,
)
from uarcodec.coding.plane_flags import NUM_CLASSES as PLANE_FLAG_CLASSES
from uarcodec.errors import UarCodingError

MAX_RANK = 8
MAX_ELEMENTS = 2**31 - 1  # a tensor holds fewer than 2^31 elements
GOM_HEADER_BYTES = 16  # formats 1.0 to 1.3; 4 to 20 in 1.4 (four uvars)
_NAME = "GOMD"


def _layout(header: StreamHeader | None) -> int:
    """The tensor-record layout: the stream's (1.0 to 1.5); without a header, that of a default
    header (1.4, :data:`~uarcodec.bitstream.records.BASE_FORMAT_VERSION`)."""
    return tensor_layout(BASE_FORMAT_VERSION) if header is None else header.tensor_layout


def min_gom_header_bytes(header: StreamHeader | None) -> int:
    """The fewest bytes a GOM header of this stream takes."""
    return 4 if _layout(header) >= 4 else GOM_HEADER_BYTES


# Tensor-record flags (format 1.1, spec 6.1; bits 2..4 of a 1.2 record's head byte).
FLAG_ZERO = 0x01  # every integer is 0: no model, no words
FLAG_CHANNEL_MASK = 0x02  # a bit mask says which first-dimension channels are coded
FLAG_TEMPORAL = 0x04  # the symbols are differences along the first dimension
KNOWN_FLAGS = FLAG_ZERO | FLAG_CHANNEL_MASK | FLAG_TEMPORAL

# The head byte of a format 1.2 tensor record (spec 6.1): ref_mode, the flags, the entropy model
# and SHORT (16-bit dims, symbols and word count).
HEAD_REF_MODE = 0x03  # bits 0-1
HEAD_FLAGS_SHIFT = 2  # bits 2-4: the flags above
HEAD_LAPLACE = 0x20  # bit 5: entropy model 1 (Laplace)
HEAD_SHORT = 0x40  # bit 6 (1.2, 1.3); 0 in 1.4, which has no fixed-width fields; in 1.5 HEAD_CONTEXT
HEAD_CONTEXT = 0x40  # bit 6 (format 1.5): the symbols are context-coded (spec 6.1, 16)
HEAD_RESERVED = 0x80  # bit 7: 0 in format 1.2; in 1.3 HEAD_ZERO_FLAGS
HEAD_ZERO_FLAGS = 0x80  # bit 7 (format 1.3): zero flags, then the nonzero symbols (spec 6.1.3)
# bits 6 and 7 together (format 1.8): zero flags under plane contexts (spec 6.1.5); the entropy
# model of the nonzero symbols is bit 5's, as in a zero-flagged record
HEAD_PLANE_FLAGS = HEAD_CONTEXT | HEAD_ZERO_FLAGS


@dataclass(frozen=True)
class _Coding:
    """What a tensor record says before its step: reference, flags, entropy model, SHORT (1.2)."""

    ref_mode: RefMode
    flags: int = 0
    model: EntropyModel = EntropyModel.GAUSSIAN
    short: bool = False
    zero_flags: bool = False  # format 1.3
    plane_flags: bool = False  # format 1.8: the zero flags under plane contexts

    @property
    def zero(self) -> bool:
        return bool(self.flags & FLAG_ZERO)

    @property
    def context(self) -> bool:
        """Context-coded (format 1.5): no mean, std or mask in the record."""
        return self.model == EntropyModel.CONTEXT

    def head(self) -> int:
        """The 1.2 (1.3, 1.4, 1.5) head byte."""
        return (int(self.ref_mode) | self.flags << HEAD_FLAGS_SHIFT
                | (HEAD_LAPLACE if self.model == EntropyModel.LAPLACE else 0) | (HEAD_SHORT if self.short else 0)
                | (HEAD_CONTEXT if self.context else 0) | (HEAD_ZERO_FLAGS if self.zero_flags else 0)
                | (HEAD_PLANE_FLAGS if self.plane_flags else 0))

    @classmethod
    def from_head(cls, head: int, layout: int = 2) -> _Coding:
        """The coding of a head byte; bit 6 is SHORT below layout 5 and CONTEXT from 5 on;
        from layout 6 on bits 6 and 7 together are zero flags under plane contexts."""
        if layout >= 6 and head & HEAD_PLANE_FLAGS == HEAD_PLANE_FLAGS:
            model = EntropyModel.LAPLACE if head & HEAD_LAPLACE else EntropyModel.GAUSSIAN
            return cls(RefMode(head & HEAD_REF_MODE), (head >> HEAD_FLAGS_SHIFT) & KNOWN_FLAGS, model,
                       plane_flags=True)
        context = layout >= 5 and bool(head & HEAD_CONTEXT)
        if context:
            model = EntropyModel.CONTEXT
        else:
            model = EntropyModel.LAPLACE if head & HEAD_LAPLACE else EntropyModel.GAUSSIAN
        return cls(RefMode(head & HEAD_REF_MODE), (head >> HEAD_FLAGS_SHIFT) & KNOWN_FLAGS, model,
                   layout < 5 and bool(head & HEAD_SHORT), bool(head & HEAD_ZERO_FLAGS))


def fits_short(dims: tuple[int, ...], min_symbol: int = 0, max_symbol: int = 0, word_count: int = 0) -> bool:
    """Every dimension, both symbols and the word count fit a SHORT 1.2 record's 16-bit fields."""
    return (all(d <= U16_MAX for d in dims) and I16_MIN <= min_symbol <= I16_MAX
            and I16_MIN <= max_symbol <= I16_MAX and word_count <= U16_MAX)


def _write_uint(out: PayloadBuilder, value: int, short: bool, what: str) -> None:
    (out.u16 if short else out.u32)(value, what)


def _write_sint(out: PayloadBuilder, value: int, short: bool, what: str) -> None:
    (out.i16 if short else out.i32)(value, what)


def _read_uint(src: PayloadReader, short: bool, what: str) -> int:
    return src.u16(what) if short else src.u32(what)


def _read_sint(src: PayloadReader, short: bool, what: str) -> int:
    return src.i16(what) if short else src.i32(what)


# ----------------------------------------------------------------------------- writing


def _checked_words(words: np.ndarray, out: PayloadBuilder, what: str) -> np.ndarray:
    """The coded words as a uint32 array, after checking they are 1-D uint32 values."""
    arr = np.asarray(words)
    if arr.ndim != 1:
        raise out.fail(f"{what}: words must be a 1-D array, got shape {arr.shape}")
    if arr.dtype != np.uint32:
        if arr.size and (arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() > 2**32 - 1):
            raise out.fail(f"{what}: words must be uint32 values, got dtype {arr.dtype}")
    out.integer(arr.size, 0, U32_MAX, f"{what} word_count")
    return arr.astype(np.uint32, copy=False)


def _flags(t: TensorRecord) -> int:
    if t.is_zero:
        return FLAG_ZERO
    return (FLAG_CHANNEL_MASK if t.channel_mask is not None else 0) | (FLAG_TEMPORAL if t.temporal else 0)


def mask_bytes(mask: np.ndarray) -> bytes:
    """Channel i is bit (i % 8) of byte i // 8 (least significant bit first)."""
    return np.packbits(np.asarray(mask, dtype=bool), bitorder="little").tobytes()


@dataclass(frozen=True)
class _Body:
    """The checked fields of a tensor record that is not ZERO, from its step on."""

    step: float
    mean: float
    std: float
    min_symbol: int
    max_symbol: int
    mask: bytes
    words: np.ndarray  # uint32
    flag_param: float | None = None  # zero-flagged records (format 1.3)
    plane_params: tuple[float, ...] | None = None  # zero flags under plane contexts (format 1.8)
    context: bool = False  # context-coded records (format 1.5): no mean and std stored

    def fits_short(self, shape: tuple[int, ...]) -> bool:
        return fits_short(shape, self.min_symbol, self.max_symbol, int(self.words.size))


def _check_shape(out: PayloadBuilder, t: TensorRecord, what: str) -> tuple[int, ...]:
    shape = tuple(t.shape)
    if len(shape) > MAX_RANK:
        raise out.fail(f"{what}: rank {len(shape)} > {MAX_RANK}")
    dims = tuple(out.integer(d, 1, U32_MAX, f"{what} dimension") for d in shape)
    if math.prod(dims) > MAX_ELEMENTS:
        raise out.fail(f"{what}: {math.prod(dims)} elements, at most {MAX_ELEMENTS}")
    return dims


def _check_coding(out: PayloadBuilder, t: TensorRecord, kind: ModelKind, shape: tuple[int, ...], what: str,
                  layout: int) -> _Coding:
    """Reference, flags and entropy model of ``t`` in this layout (SHORT is decided later)."""
    try:
        ref_mode = RefMode(t.ref_mode)
    except ValueError:
        raise out.fail(f"{what}: unknown ref_mode {t.ref_mode!r}") from None
    if kind == ModelKind.I and ref_mode != RefMode.NONE:
        raise out.fail(f"{what}: a tensor of an I-model must have ref_mode NONE, not {ref_mode.name}")
    if t.zero_flags is not None and layout < 3:
        raise out.fail(f"{what}: zero flags need format 1.3")
    if t.entropy_model == EntropyModel.CONTEXT and layout < 5:
        raise out.fail(f"{what}: context-coded tensors need format 1.5")
    if t.plane_flags is not None and layout < 6:
        raise out.fail(f"{what}: zero flags under plane contexts need format 1.8")
    if layout == 0:
        if ref_mode == RefMode.LAST:
            raise out.fail(f"{what}: format 1.0 has no ref_mode LAST")
        if t.entropy_model != EntropyModel.GAUSSIAN or t.temporal or t.channel_mask is not None:
            raise out.fail(f"{what}: format 1.0 codes Gaussian tensors without flags")
        return _Coding(ref_mode)
    flags = _flags(t)
    if flags & (FLAG_CHANNEL_MASK | FLAG_TEMPORAL) and not shape:
        raise out.fail(f"{what}: a channel mask or temporal differences need a first dimension")
    if flags & FLAG_ZERO:
        return _Coding(ref_mode, flags)
    try:
        model = EntropyModel(t.entropy_model)
    except ValueError:
        raise out.fail(f"{what}: unknown entropy model {t.entropy_model!r}") from None
    if model == EntropyModel.CONTEXT and (flags or t.flagged):
        raise out.fail(f"{what}: a context-coded tensor has no channel mask, temporal differences or zero flags")
    if t.plane_flags is not None:
        if t.zero_flags is not None or flags & FLAG_CHANNEL_MASK or len(shape) < 2:
            raise out.fail(f"{what}: zero flags under plane contexts need rank 2 or more, no channel mask "
                           "and no other flag parameter")
        return _Coding(ref_mode, flags, model, plane_flags=True)
    return _Coding(ref_mode, flags, model, zero_flags=t.zero_flags is not None)


def _check_body(out: PayloadBuilder, t: TensorRecord, shape: tuple[int, ...], coding: _Coding,
                what: str) -> _Body:
    flags = coding.flags
    step = out.float32(t.step, f"{what} step")
    if not (math.isfinite(step) and step > 0):
        raise out.fail(f"{what}: step {t.step!r} must be finite and > 0 (as float32)")
    if coding.context:  # no mean and std in the record: the placeholders of a parsed one
        mean, std = 0.0, 1.0
    else:
        mean = out.float32(t.mean, f"{what} mean")
        std = out.float32(t.std, f"{what} std")
    if not math.isfinite(mean):
        raise out.fail(f"{what}: mean {t.mean!r} must be finite (as float32)")
    if not (math.isfinite(std) and std > 0):
        raise out.fail(f"{what}: std {t.std!r} must be finite and > 0 (as float32)")
    lo = out.integer(t.min_symbol, I32_MIN, I32_MAX, f"{what} min_symbol")
    hi = out.integer(t.max_symbol, I32_MIN, I32_MAX, f"{what} max_symbol")
    if lo > hi:
        raise out.fail(f"{what}: min_symbol {lo} > max_symbol {hi}")
    mask = b""
    if flags & FLAG_CHANNEL_MASK:
        kept = np.asarray(t.channel_mask, dtype=bool)
        if kept.shape != (shape[0],) or not kept.any():
            raise out.fail(f"{what}: the channel mask must have {shape[0]} entries, at least one set")
        mask = mask_bytes(kept)
    flag_param = None
    if t.zero_flags is not None:
        flag_param = out.float32(t.zero_flags, f"{what} flag parameter")
        if not (math.isfinite(flag_param) and flag_param != 0.0):
            raise out.fail(f"{what}: flag parameter {t.zero_flags!r} must be finite and nonzero (as float32)")
    plane_params = None
    if t.plane_flags is not None:
        if len(t.plane_flags) != PLANE_FLAG_CLASSES:
            raise out.fail(f"{what}: {len(t.plane_flags)} flag parameters, plane contexts need {PLANE_FLAG_CLASSES}")
        plane_params = tuple(out.float32(a, f"{what} flag parameter") for a in t.plane_flags)
        if not all(math.isfinite(a) and a != 0.0 for a in plane_params):
            raise out.fail(f"{what}: flag parameters {t.plane_flags!r} must be finite and nonzero (as float32)")
    if t.flagged:
        if hi >= I32_MAX:
            raise out.fail(f"{what}: a zero-flagged record's max_symbol must be below {I32_MAX}")
        if not np.asarray(t.words).size:
            raise out.fail(f"{what}: a zero-flagged record always has words (its flags)")
    if coding.context and lo == hi and np.asarray(t.words).size:
        raise out.fail(f"{what}: a context-coded record with min_symbol = max_symbol has no words")
    return _Body(step, mean, std, lo, hi, mask, _checked_words(t.words, out, what), flag_param, plane_params,
                 coding.context)


def _write_prefix(out: PayloadBuilder, shape: tuple[int, ...], coding: _Coding, what: str, layout: int) -> None:
    """Everything before the step: 1.0/1.1 rank, dims, ref_mode[, flags, entropy_model]; 1.2
    head, rank, dims."""
    if layout >= 2:
        out.u8(coding.head(), f"{what} head")
    out.u8(len(shape), f"{what} rank")
    for d in shape:
        if layout >= 4:
            out.uvar(d, f"{what} dimension", MAX_ELEMENTS)
        else:
            _write_uint(out, d, coding.short, f"{what} dimension")
    if layout in (0, 1):
        out.u8(coding.ref_mode, f"{what} ref_mode")
    if layout == 1:
        out.u8(coding.flags, f"{what} flags")
        if not coding.zero:
            out.u8(coding.model, f"{what} entropy_model")


def _write_body_varint(out: PayloadBuilder, body: _Body, what: str) -> None:
    """Step to words of a 1.4 (1.5) record: bfloat16 model parameters (none in a 1.5 CONTEXT
    record), varint symbols and byte count."""
    out.f32(body.step, f"{what} step")
    if not body.context:
        out.bf16(body.mean, f"{what} mean")
        out.bf16(body.std, f"{what} std")
    if body.flag_param is not None:
        out.bf16(body.flag_param, f"{what} flag parameter")
    for a in body.plane_params or ():
        out.bf16(a, f"{what} flag parameter")
    out.svar(body.min_symbol, f"{what} min_symbol", I32_MIN, I32_MAX)
    out.svar(body.max_symbol, f"{what} max_symbol", I32_MIN, I32_MAX)
    out.raw(body.mask)
    if body.words.size and int(body.words[-1]) == 0:
        raise out.fail(f"{what}: the last coded word is 0 (the coder never ends so)")
    data = word_bytes(body.words)
    out.uvar(len(data), f"{what} byte_count")
    out.raw(data)


def _write_body(out: PayloadBuilder, body: _Body, short: bool, what: str) -> None:
    out.f32(body.step, f"{what} step")
    out.f32(body.mean, f"{what} mean")
    out.f32(body.std, f"{what} std")
    if body.flag_param is not None:
        out.f32(body.flag_param, f"{what} flag parameter")
    _write_sint(out, body.min_symbol, short, f"{what} min_symbol")
    _write_sint(out, body.max_symbol, short, f"{what} max_symbol")
    out.raw(body.mask)
    _write_uint(out, int(body.words.size), short, f"{what} word_count")
    out.raw(np.ascontiguousarray(body.words, dtype="<u4").tobytes())


def _write_tensor(out: PayloadBuilder, t: TensorRecord, kind: ModelKind, what: str, layout: int) -> None:
    shape = _check_shape(out, t, what)
    coding = _check_coding(out, t, kind, shape, what, layout)
    body = None if coding.zero else _check_body(out, t, shape, coding, what)
    if layout in (2, 3):  # SHORT exactly when every value fits (one encoding per record)
        coding = replace(coding, short=fits_short(shape) if body is None else body.fits_short(shape))
    _write_prefix(out, shape, coding, what, layout)
    if body is not None and layout >= 4:
        _write_body_varint(out, body, what)
    elif body is not None:
        _write_body(out, body, coding.short, what)


def _write_model(out: PayloadBuilder, m: ModelRecord, j: int, header: StreamHeader | None) -> None:
    layout = _layout(header)
    what = f"model {j}"
    try:
        kind = ModelKind(m.kind)
    except ValueError:
        raise out.fail(f"{what}: unknown kind {m.kind!r}") from None
    if j == 0 and kind != ModelKind.I:
        raise out.fail("the first model of a GOM must be an I-model")
    out.u8(kind, f"{what} kind")
    _count(out, m.num_frames, f"{what} num_frames", layout)
    if m.num_frames < 1 or (header is not None and m.num_frames > header.coding.gop_size):
        raise out.fail(f"{what}: num_frames {m.num_frames} outside 1..gop_size")
    out.u32(m.seed, f"{what} seed")
    eps = out.f32(m.eps, f"{what} eps")
    if not (math.isfinite(eps) and 0.0 <= eps <= 1.0):
        raise out.fail(f"{what}: eps {m.eps!r} must be in [0, 1]")
    if kind == ModelKind.I and eps != 1.0:
        raise out.fail(f"{what}: an I-model's eps must be 1.0, got {m.eps!r}")
    _count(out, len(m.tensors), f"{what} tensor_count", layout)
    for i, t in enumerate(m.tensors):
        _write_tensor(out, t, kind, f"{what} tensor {i}", layout)


def _count(out: PayloadBuilder, value: int, what: str, layout: int) -> None:
    """A count of the GOM and model headers: u32, a uvar in 1.4."""
    (out.uvar if layout >= 4 else out.u32)(value, what)


def _read_count(src: PayloadReader, what: str, layout: int) -> int:
    return src.uvar(what) if layout >= 4 else src.u32(what)


def serialize_model(model: ModelRecord, position: int, header: StreamHeader | None = None) -> bytes:
    """The bytes of one model record as it stands at ``position`` (0 = first) inside a GOMD
    payload; invalid records raise UarCodingError."""
    out = PayloadBuilder(UarCodingError)
    _write_model(out, model, position, header)
    return out.bytes()


def serialize_gom(gom: GomRecord, header: StreamHeader | None = None) -> bytes:
    """The GOMD payload of ``gom``; invalid records raise UarCodingError."""
    out = PayloadBuilder(UarCodingError)
    layout = _layout(header)
    _count(out, gom.index, "GOM index", layout)
    _count(out, gom.first_frame, "first_frame", layout)
    _count(out, gom.num_frames, "num_frames", layout)
    _count(out, len(gom.models), "model_count", layout)
    if gom.num_frames < 1:
        raise out.fail("a GOM must hold at least one frame")
    if not gom.models or (header is not None and len(gom.models) > header.coding.gom_size):
        raise out.fail(f"GOM {gom.index}: {len(gom.models)} models, must be 1..gom_size")
    if header is not None and gom.first_frame + gom.num_frames > header.video.num_frames:
        raise out.fail(f"GOM {gom.index}: frames run past the video's {header.video.num_frames}")
    for j, m in enumerate(gom.models):
        _write_model(out, m, j, header)
    if sum(m.num_frames for m in gom.models) != gom.num_frames:
        raise out.fail(f"GOM {gom.index}: the models' frame counts do not add up to {gom.num_frames}")
    return out.bytes()


# ----------------------------------------------------------------------------- reading


def _read_f32_checked(src: PayloadReader, what: str, positive: bool, bf16: bool = False) -> float:
    """A float32 (``bf16``: a format 1.4 bfloat16) that must be finite (and > 0 if ``positive``)."""
    at = src.offset
    value = src.bf16(what) if bf16 else src.f32(what)
    if not math.isfinite(value) or (positive and value <= 0):
        rule = "finite and > 0" if positive else "finite"
        raise src.error(f"{what} = {value!r} must be {rule}", at=at)
    return value


def _check_flag_bits(src: PayloadReader, flags: int, what: str, at: int, laplace: bool = False) -> None:
    """Only known flags, and ZERO alone (in 1.2 also without the Laplace bit)."""
    if flags & ~KNOWN_FLAGS or (flags & FLAG_ZERO and (flags != FLAG_ZERO or laplace)):
        raise src.error(f"{what}: invalid flags {flags:#04x}{' with the Laplace bit' if laplace else ''}", at=at)


def _check_flags_rank(src: PayloadReader, flags: int, rank: int, what: str, at: int) -> None:
    if flags & FLAG_CHANNEL_MASK and rank == 0:
        raise src.error(f"{what}: a channel mask needs a first dimension", at=at)
    if flags & FLAG_TEMPORAL and rank == 0:
        raise src.error(f"{what}: temporal differences need a first dimension", at=at)


def _check_ref_mode(src: PayloadReader, code: int, kind: ModelKind, what: str, at: int, layout: int) -> RefMode:
    if code not in RefMode._value2member_map_ or (layout == 0 and code == RefMode.LAST):
        raise src.error(f"{what}: unknown ref_mode {code}", at=at)
    ref_mode = RefMode(code)
    if kind == ModelKind.I and ref_mode != RefMode.NONE:
        raise src.error(f"{what}: a tensor of an I-model has ref_mode {ref_mode.name}", at=at)
    return ref_mode


def _read_rank(src: PayloadReader, what: str) -> int:
    at = src.offset
    rank = src.u8(f"{what} rank")
    if rank > MAX_RANK:
        raise src.error(f"{what}: rank {rank} > {MAX_RANK}", at=at)
    return rank


def _read_dims(src: PayloadReader, rank: int, short: bool, what: str, layout: int = 0) -> tuple[int, ...]:
    dims = []
    elements = 1
    for _ in range(rank):
        at = src.offset
        if layout >= 4:
            d = src.uvar(f"{what} dimension", MAX_ELEMENTS)
        else:
            d = _read_uint(src, short, f"{what} dimension")
        elements *= d
        if d < 1 or elements > MAX_ELEMENTS:
            raise src.error(f"{what}: dimension {d} is 0 or makes too many elements", at=at)
        dims.append(d)
    return tuple(dims)


def _read_classic_prefix(src: PayloadReader, kind: ModelKind, what: str,
                         layout: int) -> tuple[tuple[int, ...], _Coding]:
    """Rank, dims, ref_mode and (1.1) flags and entropy model of a 1.0 or 1.1 record."""
    rank = _read_rank(src, what)
    dims = _read_dims(src, rank, False, what)
    at = src.offset
    ref_mode = _check_ref_mode(src, src.u8(f"{what} ref_mode"), kind, what, at, layout)
    if layout == 0:
        return dims, _Coding(ref_mode)
    at = src.offset
    flags = src.u8(f"{what} flags")
    _check_flag_bits(src, flags, what, at)
    _check_flags_rank(src, flags, rank, what, at)
    if flags & FLAG_ZERO:
        return dims, _Coding(ref_mode, flags)
    at = src.offset
    code = src.u8(f"{what} entropy_model")
    if code not in (EntropyModel.GAUSSIAN, EntropyModel.LAPLACE):  # CONTEXT is a 1.5 head bit only
        raise src.error(f"{what}: unknown entropy model {code}", at=at)
    return dims, _Coding(ref_mode, flags, EntropyModel(code))


def _read_compact_prefix(src: PayloadReader, kind: ModelKind, what: str,
                         layout: int) -> tuple[tuple[int, ...], _Coding]:
    """Head byte, rank and dims of a 1.2, 1.3, 1.4 or 1.5 record."""
    at = src.offset
    head = src.u8(f"{what} head")
    if head & HEAD_RESERVED and layout < 3:
        raise src.error(f"{what}: head byte {head:#04x} sets the reserved bit 7", at=at)
    if head & HEAD_SHORT and layout == 4:
        raise src.error(f"{what}: head byte {head:#04x} sets bit 6, which is 0 in format 1.4", at=at)
    coding = _Coding.from_head(head, layout)
    _check_flag_bits(src, coding.flags, what, at, laplace=bool(head & HEAD_LAPLACE))
    if coding.zero and coding.zero_flags:
        raise src.error(f"{what}: head byte {head:#04x}: a ZERO record has no zero flags", at=at)
    if coding.context and coding.zero:
        raise src.error(f"{what}: head byte {head:#04x}: a ZERO record is not context-coded (bit 6)", at=at)
    if coding.context and (coding.flags or coding.zero_flags or head & HEAD_LAPLACE):
        raise src.error(f"{what}: head byte {head:#04x}: a context-coded record (bit 6) sets none of "
                        "bits 3, 4, 5 and 7", at=at)
    if coding.plane_flags and coding.flags & (FLAG_ZERO | FLAG_CHANNEL_MASK):
        raise src.error(f"{what}: head byte {head:#04x}: a record with zero flags under plane contexts "
                        "(bits 6 and 7) sets neither ZERO nor CHANNEL_MASK", at=at)
    _check_ref_mode(src, coding.ref_mode, kind, what, at, 2)
    rank = _read_rank(src, what)
    if coding.plane_flags and rank < 2:
        raise src.error(f"{what}: zero flags under plane contexts need rank 2 or more, got {rank}", at=at)
    _check_flags_rank(src, coding.flags, rank, what, at)
    dims = _read_dims(src, rank, coding.short, what, layout)
    if layout < 4 and coding.zero and not coding.short and fits_short(dims):
        raise src.error(f"{what}: a ZERO record whose dimensions fit 16 bits must be SHORT", at=at)
    return dims, coding


def _read_mask(src: PayloadReader, channels: int, what: str) -> np.ndarray:
    at = src.offset
    packed = src.raw((channels + 7) // 8, f"{what} channel mask")
    bits = np.unpackbits(np.frombuffer(packed, np.uint8), bitorder="little")
    mask = bits[:channels].astype(bool)
    if bits[channels:].any() or not mask.any():
        raise src.error(f"{what}: the channel mask keeps no channel or sets padding bits", at=at)
    return mask




def _read_words_varint(src: PayloadReader, what: str) -> np.ndarray:
    """A 1.4 record's byte count and bytes, as the coder's words (the cut high bytes are 0)."""
    at = src.offset
    count = src.uvar(f"{what} byte_count")
    if count > src.remaining:
        raise src.error(f"{what}: byte_count {count} exceeds the {src.remaining} bytes left", at=at)
    data = src.raw(count, f"{what} words")
    if count and data[-1] == 0:
        raise src.error(f"{what}: the words' last byte is 0 (they end at their last nonzero byte)",
                        at=at)
    padded = data + bytes(-count % 4)
    return np.frombuffer(padded, dtype="<u4").astype(np.uint32)


def _read_body(src: PayloadReader, dims: tuple[int, ...], coding: _Coding, what: str, layout: int,
               head_at: int) -> TensorRecord:
    """Step to words (spec 6.1); 16-bit symbols and word count in a SHORT 1.2 record; no mean
    and std in a 1.5 CONTEXT record (read as the placeholders 0.0 and 1.0)."""
    short, varint = coding.short, layout >= 4
    step = _read_f32_checked(src, f"{what} step", positive=True)
    if coding.context:
        mean, std = 0.0, 1.0
    else:
        mean = _read_f32_checked(src, f"{what} mean", positive=False, bf16=varint)
        std = _read_f32_checked(src, f"{what} std", positive=True, bf16=varint)
    flag_param = None
    if coding.zero_flags:
        at = src.offset
        flag_param = src.bf16(f"{what} flag parameter") if varint else src.f32(f"{what} flag parameter")
        if not (math.isfinite(flag_param) and flag_param != 0.0):
            raise src.error(f"{what}: flag parameter {flag_param!r} must be finite and nonzero", at=at)
    plane_params = None
    if coding.plane_flags:
        at = src.offset
        plane_params = tuple(src.bf16(f"{what} flag parameter") for _ in range(PLANE_FLAG_CLASSES))
        if not all(math.isfinite(a) and a != 0.0 for a in plane_params):
            raise src.error(f"{what}: flag parameters {plane_params!r} must be finite and nonzero", at=at)
    flagged = coding.zero_flags or coding.plane_flags
    if varint:
        min_symbol = src.svar(f"{what} min_symbol", I32_MIN, I32_MAX)
        at = src.offset
        max_symbol = src.svar(f"{what} max_symbol", I32_MIN, I32_MAX)
    else:
        min_symbol = _read_sint(src, short, f"{what} min_symbol")
        at = src.offset
        max_symbol = _read_sint(src, short, f"{what} max_symbol")
    if min_symbol > max_symbol:
        raise src.error(f"{what}: min_symbol {min_symbol} > max_symbol {max_symbol}", at=at)
    if flagged and max_symbol >= I32_MAX:
        raise src.error(f"{what}: a zero-flagged record's max_symbol must be below {I32_MAX}", at=at)
    if (layout >= 1 and min_symbol == max_symbol == 0 and not coding.flags & FLAG_CHANNEL_MASK
            and not flagged):
        raise src.error(f"{what}: every integer is 0: must be a ZERO record", at=at)
    mask = _read_mask(src, dims[0], what) if coding.flags & FLAG_CHANNEL_MASK else None
    at = src.offset
    if varint:
        words = _read_words_varint(src, what)
    else:
        count = _read_uint(src, short, f"{what} word_count")
        if 4 * count > src.remaining:
            raise src.error(f"{what}: word_count {count} exceeds the {src.remaining} bytes left", at=at)
        if layout >= 2 and not short and fits_short(dims, min_symbol, max_symbol, count):
            raise src.error(f"{what}: every value fits 16 bits: the record must be SHORT", at=head_at)
        words = src.u32_array(count, f"{what} words")
    if flagged and not words.size:
        raise src.error(f"{what}: a zero-flagged record has no words", at=at)
    if coding.context and min_symbol == max_symbol and words.size:
        raise src.error(f"{what}: a context-coded record with min_symbol = max_symbol has words", at=at)
    return TensorRecord(dims, coding.ref_mode, step, mean, std, min_symbol, max_symbol, words, coding.model,
                        bool(coding.flags & FLAG_TEMPORAL), mask, flag_param, plane_params)


def _read_tensor(src: PayloadReader, kind: ModelKind, what: str, layout: int) -> TensorRecord:
    head_at = src.offset  # a 1.2 record's head byte
    if layout >= 2:
        dims, coding = _read_compact_prefix(src, kind, what, layout)
    else:
        dims, coding = _read_classic_prefix(src, kind, what, layout)
    if coding.zero:
        return TensorRecord(dims, coding.ref_mode, 1.0, 0.0, 1.0, 0, 0, np.zeros(0, np.uint32))
    return _read_body(src, dims, coding, what, layout, head_at)


def _read_model(src: PayloadReader, j: int, header: StreamHeader | None) -> ModelRecord:
    what = f"model {j}"
    at = src.offset
    code = src.u8(f"{what} kind")
    if code not in ModelKind._value2member_map_:
        raise src.error(f"{what}: unknown kind {code}", at=at)
    kind = ModelKind(code)
    if j == 0 and kind != ModelKind.I:
        raise src.error("the first model of a GOM is not an I-model", at=at)
    layout = _layout(header)
    at = src.offset
    num_frames = _read_count(src, f"{what} num_frames", layout)
    if num_frames < 1 or (header is not None and num_frames > header.coding.gop_size):
        raise src.error(f"{what}: num_frames {num_frames} outside 1..gop_size", at=at)
    seed = src.u32(f"{what} seed")
    at = src.offset
    eps = src.f32(f"{what} eps")
    if not (math.isfinite(eps) and 0.0 <= eps <= 1.0) or (kind == ModelKind.I and eps != 1.0):
        raise src.error(f"{what}: eps {eps!r} invalid for a {kind.name}-model", at=at)
    count = _read_count(src, f"{what} tensor_count", layout)
    tensors = [_read_tensor(src, kind, f"{what} tensor {i}", layout) for i in range(count)]
    return ModelRecord(kind, num_frames, seed, eps, tensors)


def parse_model(data: bytes, position: int, header: StreamHeader | None = None) -> ModelRecord:
    """The ModelRecord of :func:`serialize_model`'s bytes (exactly one record, nothing after)."""
    src = PayloadReader(data, 0, _NAME)
    model = _read_model(src, position, header)
    src.expect_end()
    return model


def parse_gom(payload: bytes, offset: int, header: StreamHeader | None = None) -> GomRecord:
    """The GomRecord of a GOMD payload starting at file offset ``offset``."""
    src = PayloadReader(payload, offset, _NAME)
    layout = _layout(header)
    index = _read_count(src, "GOM index", layout)
    first_frame = _read_count(src, "first_frame", layout)
    at = src.offset
    num_frames = _read_count(src, "num_frames", layout)
    if num_frames < 1:
        raise src.error(f"GOM {index} has no frame", at=at)
    if header is not None and first_frame + num_frames > header.video.num_frames:
        raise src.error(f"GOM {index}: frames run past the video's {header.video.num_frames}", at=at)
    at = src.offset
    count = _read_count(src, "model_count", layout)
    if count < 1 or (header is not None and count > header.coding.gom_size):
        raise src.error(f"GOM {index}: model_count {count} outside 1..gom_size", at=at)
    models = [_read_model(src, j, header) for j in range(count)]
    src.expect_end()
    if sum(m.num_frames for m in models) != num_frames:
        raise src.error(f"GOM {index}: the models' frame counts do not add up to {num_frames}", at=offset)
    return GomRecord(index, first_frame, num_frames, models)
