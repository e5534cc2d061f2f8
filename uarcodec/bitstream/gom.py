"""The GOMD chunk payload: one GOM's models and coded tensors (spec section 6).

``serialize_gom`` checks every constraint of spec 6.2 (UarCodingError) so that the writer never
writes what a reader rejects; ``parse_gom`` checks them again on the bytes (UarFormatError).
Checks against the stream header (model count <= m, GOP length <= p, frames inside the video)
are made when the header is given.
"""

from __future__ import annotations

import math

import numpy as np

from uarcodec.bitstream.primitives import PayloadBuilder, PayloadReader
from uarcodec.bitstream.records import (
    EntropyModel,
    GomRecord,
    ModelKind,
    ModelRecord,
    RefMode,
    StreamHeader,
    TensorRecord,
)
from uarcodec.errors import UarCodingError

MAX_RANK = 8
MAX_ELEMENTS = 2**31 - 1  # a tensor holds fewer than 2^31 elements
GOM_HEADER_BYTES = 16
_NAME = "GOMD"


def _layout(header: StreamHeader | None) -> int:
    """The tensor-record layout: the stream's (1.0 or 1.1), the current one without a header."""
    return 1 if header is None else header.tensor_layout


# ----------------------------------------------------------------------------- writing


def _words_bytes(words: np.ndarray, out: PayloadBuilder, what: str) -> bytes:
    arr = np.asarray(words)
    if arr.ndim != 1:
        raise out.fail(f"{what}: words must be a 1-D array, got shape {arr.shape}")
    if arr.dtype != np.uint32:
        if arr.size and (arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() > 2**32 - 1):
            raise out.fail(f"{what}: words must be uint32 values, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype="<u4").tobytes()


# Tensor-record flags (format 1.1, spec 6.1).
FLAG_ZERO = 0x01  # every integer is 0: no model, no words
FLAG_CHANNEL_MASK = 0x02  # a bit mask says which first-dimension channels are coded
FLAG_TEMPORAL = 0x04  # the symbols are differences along the first dimension
KNOWN_FLAGS = FLAG_ZERO | FLAG_CHANNEL_MASK | FLAG_TEMPORAL


def _flags(t: TensorRecord) -> int:
    if t.is_zero:
        return FLAG_ZERO
    return (FLAG_CHANNEL_MASK if t.channel_mask is not None else 0) | (FLAG_TEMPORAL if t.temporal else 0)


def mask_bytes(mask: np.ndarray) -> bytes:
    """Channel i is bit (i % 8) of byte i // 8 (least significant bit first)."""
    return np.packbits(np.asarray(mask, dtype=bool), bitorder="little").tobytes()


def _write_tensor(out: PayloadBuilder, t: TensorRecord, kind: ModelKind, what: str, layout: int) -> None:
    shape = tuple(t.shape)
    if len(shape) > MAX_RANK:
        raise out.fail(f"{what}: rank {len(shape)} > {MAX_RANK}")
    out.u8(len(shape), f"{what} rank")
    elements = 1
    for d in shape:
        out.u32(d, f"{what} dimension")
        if d < 1:
            raise out.fail(f"{what}: dimension {d} < 1")
        elements *= int(d)
    if elements > MAX_ELEMENTS:
        raise out.fail(f"{what}: {elements} elements, at most {MAX_ELEMENTS}")
    try:
        ref_mode = RefMode(t.ref_mode)
    except ValueError:
        raise out.fail(f"{what}: unknown ref_mode {t.ref_mode!r}") from None
    if kind == ModelKind.I and ref_mode != RefMode.NONE:
        raise out.fail(f"{what}: a tensor of an I-model must have ref_mode NONE, not {ref_mode.name}")
    if layout == 0 and ref_mode == RefMode.LAST:
        raise out.fail(f"{what}: format 1.0 has no ref_mode LAST")
    out.u8(ref_mode, f"{what} ref_mode")
    flags = 0
    if layout >= 1:
        flags = _flags(t)
        if flags & (FLAG_CHANNEL_MASK | FLAG_TEMPORAL) and not shape:
            raise out.fail(f"{what}: a channel mask or temporal differences need a first dimension")
        out.u8(flags, f"{what} flags")
        if flags & FLAG_ZERO:
            return
        try:
            model = EntropyModel(t.entropy_model)
        except ValueError:
            raise out.fail(f"{what}: unknown entropy model {t.entropy_model!r}") from None
        out.u8(model, f"{what} entropy_model")
    elif t.entropy_model != EntropyModel.GAUSSIAN or t.temporal or t.channel_mask is not None:
        raise out.fail(f"{what}: format 1.0 codes Gaussian tensors without flags")
    step = out.f32(t.step, f"{what} step")
    mean = out.f32(t.mean, f"{what} mean")
    std = out.f32(t.std, f"{what} std")
    if not (math.isfinite(step) and step > 0):
        raise out.fail(f"{what}: step {t.step!r} must be finite and > 0 (as float32)")
    if not math.isfinite(mean):
        raise out.fail(f"{what}: mean {t.mean!r} must be finite (as float32)")
    if not (math.isfinite(std) and std > 0):
        raise out.fail(f"{what}: std {t.std!r} must be finite and > 0 (as float32)")
    out.i32(t.min_symbol, f"{what} min_symbol")
    out.i32(t.max_symbol, f"{what} max_symbol")
    if t.min_symbol > t.max_symbol:
        raise out.fail(f"{what}: min_symbol {t.min_symbol} > max_symbol {t.max_symbol}")
    if flags & FLAG_CHANNEL_MASK:
        mask = np.asarray(t.channel_mask, dtype=bool)
        if mask.shape != (shape[0],) or not mask.any():
            raise out.fail(f"{what}: the channel mask must have {shape[0]} entries, at least one set")
        out.raw(mask_bytes(mask))
    words = _words_bytes(t.words, out, what)
    out.u32(len(words) // 4, f"{what} word_count")
    out.raw(words)


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
    out.u32(m.num_frames, f"{what} num_frames")
    if m.num_frames < 1 or (header is not None and m.num_frames > header.coding.gop_size):
        raise out.fail(f"{what}: num_frames {m.num_frames} outside 1..gop_size")
    out.u32(m.seed, f"{what} seed")
    eps = out.f32(m.eps, f"{what} eps")
    if not (math.isfinite(eps) and 0.0 <= eps <= 1.0):
        raise out.fail(f"{what}: eps {m.eps!r} must be in [0, 1]")
    if kind == ModelKind.I and eps != 1.0:
        raise out.fail(f"{what}: an I-model's eps must be 1.0, got {m.eps!r}")
    out.u32(len(m.tensors), f"{what} tensor_count")
    for i, t in enumerate(m.tensors):
        _write_tensor(out, t, kind, f"{what} tensor {i}", layout)


def serialize_model(model: ModelRecord, position: int, header: StreamHeader | None = None) -> bytes:
    """The bytes of one model record as it stands at ``position`` (0 = first) inside a GOMD
    payload; invalid records raise UarCodingError."""
    out = PayloadBuilder(UarCodingError)
    _write_model(out, model, position, header)
    return out.bytes()


def serialize_gom(gom: GomRecord, header: StreamHeader | None = None) -> bytes:
    """The GOMD payload of ``gom``; invalid records raise UarCodingError."""
    out = PayloadBuilder(UarCodingError)
    out.u32(gom.index, "GOM index")
    out.u32(gom.first_frame, "first_frame")
    out.u32(gom.num_frames, "num_frames")
    out.u32(len(gom.models), "model_count")
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


def _read_f32_checked(src: PayloadReader, what: str, positive: bool) -> float:
    at = src.offset
    value = src.f32(what)
    if not math.isfinite(value) or (positive and value <= 0):
        rule = "finite and > 0" if positive else "finite"
        raise src.error(f"{what} = {value!r} must be {rule}", at=at)
    return value


def _read_tensor(src: PayloadReader, kind: ModelKind, what: str, layout: int) -> TensorRecord:
    at = src.offset
    rank = src.u8(f"{what} rank")
    if rank > MAX_RANK:
        raise src.error(f"{what}: rank {rank} > {MAX_RANK}", at=at)
    dims = []
    elements = 1
    for _ in range(rank):
        at = src.offset
        d = src.u32(f"{what} dimension")
        elements *= d
        if d < 1 or elements > MAX_ELEMENTS:
            raise src.error(f"{what}: dimension {d} is 0 or makes too many elements", at=at)
        dims.append(d)
    at = src.offset
    code = src.u8(f"{what} ref_mode")
    if code not in RefMode._value2member_map_ or (layout == 0 and code == RefMode.LAST):
        raise src.error(f"{what}: unknown ref_mode {code}", at=at)
    ref_mode = RefMode(code)
    if kind == ModelKind.I and ref_mode != RefMode.NONE:
        raise src.error(f"{what}: a tensor of an I-model has ref_mode {ref_mode.name}", at=at)
    flags, model = 0, EntropyModel.GAUSSIAN
    if layout >= 1:
        at = src.offset
        flags = src.u8(f"{what} flags")
        if flags & ~KNOWN_FLAGS or (flags & FLAG_ZERO and flags != FLAG_ZERO):
            raise src.error(f"{what}: invalid flags {flags:#04x}", at=at)
        if flags & FLAG_CHANNEL_MASK and rank == 0:
            raise src.error(f"{what}: a channel mask needs a first dimension", at=at)
        if flags & FLAG_TEMPORAL and rank == 0:
            raise src.error(f"{what}: temporal differences need a first dimension", at=at)
        if flags & FLAG_ZERO:
            return TensorRecord(tuple(dims), ref_mode, 1.0, 0.0, 1.0, 0, 0, np.zeros(0, np.uint32))
        at = src.offset
        code = src.u8(f"{what} entropy_model")
        if code not in EntropyModel._value2member_map_:
            raise src.error(f"{what}: unknown entropy model {code}", at=at)
        model = EntropyModel(code)
    step = _read_f32_checked(src, f"{what} step", positive=True)
    mean = _read_f32_checked(src, f"{what} mean", positive=False)
    std = _read_f32_checked(src, f"{what} std", positive=True)
    min_symbol = src.i32(f"{what} min_symbol")
    at = src.offset
    max_symbol = src.i32(f"{what} max_symbol")
    if min_symbol > max_symbol:
        raise src.error(f"{what}: min_symbol {min_symbol} > max_symbol {max_symbol}", at=at)
    if layout >= 1 and min_symbol == max_symbol == 0 and not flags & FLAG_CHANNEL_MASK:
        raise src.error(f"{what}: every integer is 0: must be a ZERO record", at=at)
    mask = None
    if flags & FLAG_CHANNEL_MASK:
        at = src.offset
        packed = src.raw((dims[0] + 7) // 8, f"{what} channel mask")
        bits = np.unpackbits(np.frombuffer(packed, np.uint8), bitorder="little")
        mask = bits[: dims[0]].astype(bool)
        if bits[dims[0]:].any() or not mask.any():
            raise src.error(f"{what}: the channel mask keeps no channel or sets padding bits", at=at)
    at = src.offset
    count = src.u32(f"{what} word_count")
    if 4 * count > src.remaining:
        raise src.error(f"{what}: word_count {count} exceeds the {src.remaining} bytes left", at=at)
    words = src.u32_array(count, f"{what} words")
    return TensorRecord(tuple(dims), ref_mode, step, mean, std, min_symbol, max_symbol, words, model,
                        bool(flags & FLAG_TEMPORAL), mask)


def _read_model(src: PayloadReader, j: int, header: StreamHeader | None) -> ModelRecord:
    what = f"model {j}"
    at = src.offset
    code = src.u8(f"{what} kind")
    if code not in ModelKind._value2member_map_:
        raise src.error(f"{what}: unknown kind {code}", at=at)
    kind = ModelKind(code)
    if j == 0 and kind != ModelKind.I:
        raise src.error("the first model of a GOM is not an I-model", at=at)
    at = src.offset
    num_frames = src.u32(f"{what} num_frames")
    if num_frames < 1 or (header is not None and num_frames > header.coding.gop_size):
        raise src.error(f"{what}: num_frames {num_frames} outside 1..gop_size", at=at)
    seed = src.u32(f"{what} seed")
    at = src.offset
    eps = src.f32(f"{what} eps")
    if not (math.isfinite(eps) and 0.0 <= eps <= 1.0) or (kind == ModelKind.I and eps != 1.0):
        raise src.error(f"{what}: eps {eps!r} invalid for a {kind.name}-model", at=at)
    count = src.u32(f"{what} tensor_count")
    layout = _layout(header)
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
    index = src.u32("GOM index")
    first_frame = src.u32("first_frame")
    at = src.offset
    num_frames = src.u32("num_frames")
    if num_frames < 1:
        raise src.error(f"GOM {index} has no frame", at=at)
    if header is not None and first_frame + num_frames > header.video.num_frames:
        raise src.error(f"GOM {index}: frames run past the video's {header.video.num_frames}", at=at)
    at = src.offset
    count = src.u32("model_count")
    if count < 1 or (header is not None and count > header.coding.gom_size):
        raise src.error(f"GOM {index}: model_count {count} outside 1..gom_size", at=at)
    models = [_read_model(src, j, header) for j in range(count)]
    src.expect_end()
    if sum(m.num_frames for m in models) != num_frames:
        raise src.error(f"GOM {index}: the models' frame counts do not add up to {num_frames}", at=offset)
    return GomRecord(index, first_frame, num_frames, models)
