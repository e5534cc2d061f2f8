"""Synthetic streams shared by the bitstream tests, and the checks that the example streams of
bitstream_spec.md (Appendix B, format 1.0; section 6.1.1, formats 1.1 and 1.2) are what the writer
writes and the reader reads."""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from uarcodec.bitstream import UarReader, UarWriter, encode_chunk, parse_gom, serialize_gom, serialize_header
from uarcodec.errors import UarCodingError, UarFormatError
from uarcodec.bitstream.index import Trailer, encode_trailer, serialize_index
from uarcodec.bitstream.settings_baseline import ENCODER_SETTINGS_BASELINE
from uarcodec.bitstream.records import (
    CodingParams,
    ColorMatrix,
    ColorRange,
    EntropyModel,
    GomIndexEntry,
    GomRecord,
    ModelKind,
    OutputSpace,
    ModelRecord,
    RefMode,
    StreamHeader,
    TensorRecord,
    VideoParams,
)

SPEC = Path(__file__).resolve().parents[1] / "bitstream_spec.md"

# Field lists holding every value type; floats are exact in binary64 by construction.
ARCH_FIELDS = {
    "dim": 64,
    "neg": -(2**62),
    "ratio": 0.1,
    "name": "hnerv-Ω",
    "bias": True,
    "norm": False,
    "strides": [5, 2, 2, 2],
    "offsets": [-1, 0, 2**40],
    "scales": [0.5, -1.25, 1e-30],
    "empty": [],
}
BASELINE_SETTINGS = {k: list(v) if isinstance(v, tuple) else v for k, v in ENCODER_SETTINGS_BASELINE.items()}
# Encoder settings: the format 1.2 baseline (left out of a 1.2 HEAD), some of its names with
# another value or another type (written), and names that have no baseline.
SETTINGS = {
    **BASELINE_SETTINGS,
    "seed": 5,  # another value
    "batch_size": 1.0, "compile": 0, "eps_law": "mse",  # another type (1.0 is no int 1, 0 no bool False)
    "lambda": 1234.5, "preset": "fast", "steps": [300], "ref": True,
}


def sample_header(**changes) -> StreamHeader:
    video = VideoParams(
        width=352,
        height=288,
        num_frames=25,
        fps=Fraction(30000, 1001),
        color_matrix=ColorMatrix.BT709,
        color_range=ColorRange.FULL,
    )
    coding = CodingParams(
        gop_size=4,
        gom_size=3,
        family_id=1,
        arch=dict(ARCH_FIELDS),
        quantizer_id=0,
        coder_id=0,
        coder_version="constriction 0.5.0",
        init_id=0,
        output_space=OutputSpace.RGB,
        encoder_settings=dict(SETTINGS),
    )
    fields = {"video": video, "coding": coding}
    fields.update(changes)
    return StreamHeader(**fields)


def _tensor(rng: np.random.Generator, shape: tuple[int, ...], ref: RefMode, layout: int = 2,
            flag_rng: np.random.Generator | None = None) -> TensorRecord:
    """A random tensor record; with ``layout`` 1 or 2 (format 1.1, 1.2) it may also be Laplace,
    temporal, channel-masked (rank >= 1, at least one channel kept) or all zero (a ZERO record);
    with ``layout`` 2 its symbols may also need 32 bits (a record that is not SHORT); with
    ``layout`` 3 or 4 (format 1.3, 1.4) a record that is not ZERO may also be zero-flagged (drawn from
    ``flag_rng``, so that the other fields are those of layout 2)."""
    n_words = int(rng.integers(0, 12))
    lo = int(rng.integers(-40, 1))
    record = TensorRecord(
        shape=shape,
        ref_mode=ref,
        step=float(2.0 ** -int(rng.integers(2, 12))),
        mean=float(rng.integers(-8, 8)) / 16,
        std=float(rng.integers(1, 64)) / 8,
        min_symbol=lo,
        max_symbol=lo + int(rng.integers(0, 80)),
        words=rng.integers(0, 2**32, size=n_words, dtype=np.uint32),
    )
    if layout == 0:
        return record
    record.entropy_model = EntropyModel(int(rng.integers(0, 2)))
    if shape:
        record.temporal = bool(rng.integers(0, 2))
        if rng.integers(0, 3) == 0:
            mask = rng.integers(0, 2, size=shape[0]).astype(bool)
            mask[int(rng.integers(0, shape[0]))] = True
            record.channel_mask = mask
    if layout >= 2 and rng.integers(0, 4) == 0:  # below -32768: 32-bit symbols
        record.min_symbol -= 40000
    if rng.integers(0, 5) == 0:  # every integer 0: written as a ZERO record
        record.min_symbol = record.max_symbol = 0
        record.words = np.zeros(0, np.uint32)
        if record.channel_mask is not None:
            record.channel_mask[:] = False  # no channel coded: also all zero
    if layout >= 3 and flag_rng is not None and not record.is_zero and flag_rng.integers(0, 2):
        record.zero_flags = float(flag_rng.choice([-1, 1])) * float(flag_rng.integers(1, 64)) / 8
        if not record.words.size:  # the flags always take words
            record.words = flag_rng.integers(1, 2**32, size=2, dtype=np.uint32)
    return record


def _model(rng: np.random.Generator, kind: ModelKind, frames: int, layout: int = 2,
           flag_rng: np.random.Generator | None = None) -> ModelRecord:
    shapes = [(), (7,), (3, 5), (11, 3), (4, 2, 3, 3), (frames, 2, 2)]  # (11, 3): a 2-byte mask
    if kind == ModelKind.I:
        refs = [RefMode.NONE] * len(shapes)
        eps = 1.0
    else:
        # the per-frame tensor (frames, 2, 2): against the previous model's tensor of the same
        # shape (PREVIOUS) or, format 1.1, against its last row (LAST)
        per_frame = RefMode.LAST if layout >= 1 and rng.integers(0, 2) else RefMode.PREVIOUS
        refs = [RefMode.INTERP, RefMode.NONE, RefMode.INTERP, RefMode.INTERP, RefMode.INTERP, per_frame]
        eps = float(rng.integers(0, 65)) / 64
    if layout >= 2:  # a dimension above 65535: a record that is not SHORT
        shapes.append((2, 2**16))
        refs.append(refs[2])
    tensors = [_tensor(rng, s, r, layout, flag_rng) for s, r in zip(shapes, refs)]
    return ModelRecord(kind, frames, int(rng.integers(0, 2**32)), eps, tensors)


def sample_goms(seed: int = 0, layout: int = 2) -> list[GomRecord]:
    """25 frames, p = 4, m = 3: GOMs of GOPs [4, 4, 4], [4, 4, 4], [1]. ``layout`` 2: records
    using every field of format 1.1, SHORT and 32-bit records of 1.2 (for seed 0, see
    test_sample_goms_use_every_field); ``layout`` 3: the same records, some of them
    zero-flagged (format 1.3); ``layout`` 1: the same as 2 without the tensors that need
    32 bits; ``layout`` 0: what format 1.0 can hold (Gaussian, no flags, no LAST)."""
    rng = np.random.default_rng(seed)
    flag_rng = np.random.default_rng(seed + 1_000_003)
    goms, first = [], 0
    for index, gops in enumerate([[4, 4, 4], [4, 4, 4], [1]]):
        models = [_model(rng, ModelKind.I if j == 0 else ModelKind.P, f, layout, flag_rng)
                  for j, f in enumerate(gops)]
        goms.append(GomRecord(index, first, sum(gops), models))
        first += sum(gops)
    return goms


def sample_goms_1_5(seed: int = 0) -> list[GomRecord]:
    """``sample_goms(seed, layout=4)`` with every second coded record (one that is not ZERO and
    does not have ``min_symbol = max_symbol = 0``) made context-coded (format 1.5): no mask,
    temporal differences or zero flags, the placeholders mean 0.0 and std 1.0, and no words
    when ``min_symbol = max_symbol``."""
    goms = sample_goms(seed, layout=4)
    coded = [t for g in goms for m in g.models for t in m.tensors
             if not t.is_zero and not t.min_symbol == t.max_symbol == 0]
    for t in coded[::2]:
        t.entropy_model, t.mean, t.std = EntropyModel.CONTEXT, 0.0, 1.0
        t.temporal, t.channel_mask, t.zero_flags = False, None, None
        if t.min_symbol == t.max_symbol:
            t.words = np.zeros(0, np.uint32)
    return goms


def sample_header_1_5(**changes) -> StreamHeader:
    """The sample header of a format 1.5 stream (one that may hold context-coded records)."""
    return sample_header(writer_version=(1, 5), min_reader_version=(1, 5), **changes)


LATENT_MOTION_ARCH = {"time_samples": [1, 2, 4, 8, 15, 30], "channels": 1, "hidden": [32, 32], "refine_kernel": 3,
                      "activation": "gelu", "upsampling": "bilinear", "context_hidden": 8, "motion_margin": 64}


def sample_header_1_6(**changes) -> StreamHeader:
    """The sample header of a format 1.6 stream: a latent network with per-frame offsets."""
    base = sample_header()
    coding = replace(base.coding, family_id=3, arch=dict(LATENT_MOTION_ARCH))
    return sample_header(writer_version=(1, 6), min_reader_version=(1, 6), coding=coding, **changes)


def sample_header_1_7(**changes) -> StreamHeader:
    """The sample header of a format 1.7 stream: a latent network with a motion field."""
    base = sample_header()
    coding = replace(base.coding, family_id=3, arch=dict(LATENT_MOTION_ARCH, motion_block=32))
    return sample_header(writer_version=(1, 7), min_reader_version=(1, 7), coding=coding, **changes)


# bfloat16 values, both signs: the 23 flag parameters of a plane-flagged record (format 1.8)
PLANE_FLAG_PARAMS = (0.5, 1.0, 2.0, -0.5, 0.25, 3.0, -1.0, 4.0, 0.125, 8.0, -2.0, 1.5, 0.75,
                     -0.25, 6.0, 0.375, -3.0, 12.0, 0.0625, -8.0, 2.5, -0.125, 5.0)


def sample_goms_1_8(seed: int = 0) -> list[GomRecord]:
    """``sample_goms_1_5(seed)`` with every third coded record of rank 2 or more that has no
    channel mask and is not context-coded made plane-flagged (format 1.8): zero flags under
    plane contexts, its 13 parameters, a Laplace or (every second) a Gaussian for its nonzero
    symbols, words always (its flags)."""
    goms = sample_goms_1_5(seed)
    candidates = [t for g in goms for m in g.models for t in m.tensors
                  if not t.is_zero and len(t.shape) >= 2 and t.channel_mask is None
                  and t.entropy_model != EntropyModel.CONTEXT and t.max_symbol < 2**31 - 1]
    for k, t in enumerate(candidates[::3]):
        t.zero_flags, t.plane_flags = None, PLANE_FLAG_PARAMS[k % 23:] + PLANE_FLAG_PARAMS[:k % 23]
        t.entropy_model = EntropyModel.GAUSSIAN if k % 2 else EntropyModel.LAPLACE
        if not t.words.size:
            t.words = np.array([7], np.uint32)
    return goms


def sample_header_1_8(**changes) -> StreamHeader:
    """The sample header of a format 1.8 stream: a latent network with a motion field, whose
    records may be plane-flagged."""
    base = sample_header_1_7()
    return sample_header(writer_version=(1, 8), min_reader_version=(1, 8), coding=base.coding, **changes)


def sample_header_1_9(**changes) -> StreamHeader:
    """The sample header of a format 1.9 stream: 1.8's, with scene cuts at frames 12 and 24,
    which the sample GOMs follow (each cut starts a GOM)."""
    base = sample_header_1_8()
    coding = replace(base.coding, scene_cuts=(12, 24))
    return sample_header(writer_version=(1, 9), min_reader_version=(1, 9), coding=coding, **changes)


def sample_header_1_10(**changes) -> StreamHeader:
    """The sample header of a format 1.10 stream: 1.9's, its latent network's context records in
    the wavefront order (``context_order`` 1)."""
    base = sample_header_1_9()
    coding = replace(base.coding, arch=dict(base.coding.arch, context_hidden=8, context_order=1))
    return sample_header(writer_version=(1, 10), min_reader_version=(1, 10), coding=coding, **changes)


def sample_header_1_0(**changes) -> StreamHeader:
    """The sample header of a format 1.0 stream (the 1.0 tensor layout)."""
    return sample_header(writer_version=(1, 0), min_reader_version=(1, 0), **changes)


def sample_header_1_1(**changes) -> StreamHeader:
    """The sample header of a format 1.1 stream (the 1.1 tensor layout, every setting written)."""
    return sample_header(writer_version=(1, 1), min_reader_version=(1, 1), **changes)


def write_stream(header: StreamHeader, goms: list[GomRecord], finish: bool = True) -> bytes:
    buf = io.BytesIO()
    writer = UarWriter(buf, header)
    for gom in goms:
        writer.append_gom(gom)
    if finish:
        writer.finish()
    return buf.getvalue()


def sample_stream() -> bytes:
    return write_stream(sample_header(), sample_goms())


def assemble(
    header: StreamHeader,
    goms: list[GomRecord],
    header_region: list[tuple[bytes, bytes]] = (),
    after_gom: dict[int, list[tuple[bytes, bytes]]] | None = None,
) -> bytes:
    """A finished stream built by hand, with extra chunks (type, payload) in the header region
    and after given GOMs: what a future writer could produce."""
    after_gom = after_gom or {}
    out = bytearray(b"\x89UAR\r\n\x1a\n")
    out += encode_chunk(b"HEAD", serialize_header(header))
    for ctype, payload in header_region:
        out += encode_chunk(ctype, payload)
    entries = []
    for gom in goms:
        chunk = encode_chunk(b"GOMD", serialize_gom(gom, header))
        entries.append(GomIndexEntry(gom.index, len(out), len(chunk), gom.first_frame, gom.num_frames))
        out += chunk
        for ctype, payload in after_gom.get(gom.index, []):
            out += encode_chunk(ctype, payload)
    index = encode_chunk(b"INDX", serialize_index(entries))
    trailer = encode_trailer(Trailer(len(out), len(index)))
    return bytes(out + index + trailer)


def rechecksum(data: bytearray, chunk_offset: int) -> None:
    """Recomputes the CRC of the chunk at ``chunk_offset`` after its payload was patched."""
    length = int.from_bytes(data[chunk_offset + 4 : chunk_offset + 8], "little")
    body = bytes(data[chunk_offset : chunk_offset + 4]) + bytes(data[chunk_offset + 8 : chunk_offset + 8 + length])
    end = chunk_offset + 8 + length
    data[end : end + 4] = (zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "little")


def assert_goms_equal(got: GomRecord, want: GomRecord, layout: int = 3) -> None:
    """``got`` (read from a stream of tensor ``layout`` 0 = format 1.0, 1 = 1.1, ... 5 = 1.5) holds
    the records ``want`` was written from. From 1.1 on a tensor whose integers are all 0 is a ZERO record:
    only its shape, ref_mode and zero-ness are stored, and it reads back in its canonical form."""
    assert (got.index, got.first_frame, got.num_frames) == (want.index, want.first_frame, want.num_frames)
    assert len(got.models) == len(want.models)
    for gm, wm in zip(got.models, want.models):
        assert (gm.kind, gm.num_frames, gm.seed, gm.eps) == (wm.kind, wm.num_frames, wm.seed, wm.eps)
        assert isinstance(gm.kind, ModelKind)
        assert len(gm.tensors) == len(wm.tensors)
        for gt, wt in zip(gm.tensors, wm.tensors):
            assert gt.shape == tuple(wt.shape)
            assert gt.ref_mode == wt.ref_mode and isinstance(gt.ref_mode, RefMode)
            assert gt.words.dtype == np.uint32
            assert gt.is_zero == wt.is_zero
            if layout >= 1 and wt.is_zero:
                assert (gt.step, gt.mean, gt.std, gt.min_symbol, gt.max_symbol) == (1.0, 0.0, 1.0, 0, 0)
                assert gt.words.size == 0 and gt.channel_mask is None and gt.zero_flags is None
                assert gt.entropy_model == EntropyModel.GAUSSIAN and gt.temporal is False
                continue
            assert (gt.step, gt.mean, gt.std) == (wt.step, wt.mean, wt.std)
            assert (gt.min_symbol, gt.max_symbol) == (wt.min_symbol, wt.max_symbol)
            assert np.array_equal(gt.words, wt.words)
            assert gt.entropy_model == wt.entropy_model and isinstance(gt.entropy_model, EntropyModel)
            assert gt.temporal is bool(wt.temporal)
            if wt.channel_mask is None:
                assert gt.channel_mask is None
            else:
                assert gt.channel_mask.dtype == bool and gt.channel_mask.shape == (gt.shape[0],)
                assert np.array_equal(gt.channel_mask, wt.channel_mask)
            assert gt.coded_elements == wt.coded_elements
            assert gt.zero_flags == wt.zero_flags
            assert gt.plane_flags == (None if wt.plane_flags is None else tuple(wt.plane_flags))


# ----------------------------------------------------------------- the spec's example streams


def spec_example_records() -> tuple[StreamHeader, GomRecord]:
    """The records of bitstream_spec.md, Appendix B: a format 1.0 stream."""
    header = StreamHeader(
        VideoParams(16, 16, 3, Fraction(25, 1)),
        CodingParams(2, 2, 1, {"dim": 8, "ks": [3, 1]}, coder_version="c0.5",
                     encoder_settings={"lambda": 0.5, "fast": True}),
        writer_version=(1, 0),
        min_reader_version=(1, 0),
    )
    i_tensor = TensorRecord((2, 3), RefMode.NONE, 0.25, 0.0, 1.5, -3, 4,
                            np.array([0x12345678], dtype=np.uint32))
    p_tensor = TensorRecord((4,), RefMode.INTERP, 0.125, -0.5, 2.0, 0, 0, np.zeros(0, np.uint32))
    gom = GomRecord(0, 0, 3, [ModelRecord(ModelKind.I, 2, 7, 1.0, [i_tensor]),
                              ModelRecord(ModelKind.P, 1, 8, 0.5, [p_tensor])])
    return header, gom


# The 1.1 example (bitstream_spec.md, section 6.1.1): the I-model's per-frame tensor (10 frames,
# 2 values) is coded as temporal differences, only the frames whose difference is not 0 (mask),
# under the Laplace model; the P-model's (1 frame) is a ZERO record against the I-model's last
# frame (LAST).
SPEC_1_1_SYMBOLS = [2, -1, 1, 0, 0, -1, -1, 1]  # the coded symbols: rows 0, 2, 3 and 9 of d
SPEC_1_1_KEPT = [0, 2, 3, 9]
SPEC_1_1_Q = [[2, -1], [2, -1], [3, -1]] + [[3, -2]] * 6 + [[2, -1]]  # the tensor's integers
SPEC_1_1_WORDS = [0xE5ED6C6A, 0x0000001D]  # Laplace(0.125, 0.90625) on [-1, 2] of SPEC_1_1_SYMBOLS


def spec_example_1_1_records() -> tuple[StreamHeader, GomRecord]:
    """The records of the format 1.1 example of bitstream_spec.md, section 6.1.1: Appendix B's
    header with versions 1.1, 11 frames and p = 10 (the HEAD payload keeps its length, so the
    GOMD chunk is at file offset 0x8e again)."""
    base, _ = spec_example_records()
    header = replace(base, video=replace(base.video, num_frames=11), coding=replace(base.coding, gop_size=10),
                     writer_version=(1, 1), min_reader_version=(1, 1))
    mask = np.array([c in SPEC_1_1_KEPT for c in range(10)])
    i_tensor = TensorRecord((10, 2), RefMode.NONE, 0.0625, 0.125, 0.90625, -1, 2,
                            np.array(SPEC_1_1_WORDS, dtype=np.uint32), EntropyModel.LAPLACE,
                            temporal=True, channel_mask=mask)
    p_tensor = TensorRecord((1, 2), RefMode.LAST, 1.0, 0.0, 1.0, 0, 0, np.zeros(0, np.uint32))
    gom = GomRecord(0, 0, 11, [ModelRecord(ModelKind.I, 10, 7, 1.0, [i_tensor]),
                               ModelRecord(ModelKind.P, 1, 8, 0.5, [p_tensor])])
    return header, gom


# The 1.2 example (bitstream_spec.md, section 6.1.2): the records of the 1.1 example in the compact
# layout (SHORT records), plus a second I-model tensor whose symbols need 32 bits (not SHORT).
SPEC_1_2_WIDE_Q = [-40000, 3, 40000]
SPEC_1_2_WIDE_WORDS = [0x1F0741F9, 0x00000A18]  # Gaussian(0, 32768) on [-40000, 40000] of SPEC_1_2_WIDE_Q


def spec_example_1_2_records() -> tuple[StreamHeader, GomRecord]:
    """The records of the format 1.2 example of bitstream_spec.md, section 6.1.2: the 1.1 example's
    header with versions 1.2 (its two encoder settings have no baseline: the HEAD payload keeps
    its length, the GOMD chunk is at 0x8e; read back, the settings hold the baseline too)."""
    base, gom = spec_example_1_1_records()
    settings = {**BASELINE_SETTINGS, **base.coding.encoder_settings}
    header = replace(base, coding=replace(base.coding, encoder_settings=settings),
                     writer_version=(1, 2), min_reader_version=(1, 2))
    wide = TensorRecord((3,), RefMode.NONE, 0.5, 0.0, 32768.0, -40000, 40000,
                        np.array(SPEC_1_2_WIDE_WORDS, dtype=np.uint32))
    gom.models[0].tensors.append(wide)
    return header, gom


def spec_hex_dump(marker: str) -> tuple[int, bytes]:
    """(file offset of the first byte, bytes) of the annotated dump between the spec's
    ``<!-- {marker}: begin -->`` and ``<!-- {marker}: end -->`` comments."""
    text = SPEC.read_text(encoding="utf-8")
    begin, end = f"<!-- {marker}: begin -->", f"<!-- {marker}: end -->"
    assert text.count(begin) == 1 and text.count(end) == 1, f"markers of {marker!r} missing or repeated"
    block = text.split(begin)[1].split(end)[0]
    start, out = None, bytearray()
    for line in block.splitlines():
        m = re.match(r"^([0-9a-f]{4}): ([0-9a-f ]+?)\s*(\||$)", line)
        if m:
            offset = int(m.group(1), 16)
            start = offset if start is None else start
            assert offset == start + len(out), f"offset column wrong at {line!r}"
            out += bytes.fromhex(m.group(2))
    assert start is not None and out, f"no bytes between the {marker!r} markers"
    return start, bytes(out)


def spec_example_bytes() -> bytes:
    """The bytes of the annotated dump in bitstream_spec.md, Appendix B (a whole stream)."""
    start, data = spec_hex_dump("example-stream-hex")
    assert start == 0
    return data


def spec_example_1_1_chunk() -> tuple[int, bytes]:
    """(file offset, bytes) of the GOMD chunk dumped in bitstream_spec.md, section 6.1.1."""
    return spec_hex_dump("example-1.1-gomd-hex")


def spec_example_1_1_stream() -> bytes:
    header, gom = spec_example_1_1_records()
    return write_stream(header, [gom])


def spec_example_1_2_chunk() -> tuple[int, bytes]:
    """(file offset, bytes) of the GOMD chunk dumped in bitstream_spec.md, section 6.1.2."""
    return spec_hex_dump("example-1.2-gomd-hex")


def spec_example_1_2_stream() -> bytes:
    header, gom = spec_example_1_2_records()
    return write_stream(header, [gom])


def test_writer_reproduces_the_spec_example_byte_for_byte():
    header, gom = spec_example_records()
    assert write_stream(header, [gom]) == spec_example_bytes()


def test_reader_returns_the_spec_example_records():
    header, gom = spec_example_records()
    reader = UarReader(io.BytesIO(spec_example_bytes()))
    assert reader.header == header
    assert reader.header.writer_version == reader.header.min_reader_version == (1, 0)
    assert reader.header.tensor_layout == 0
    assert not reader.recovered
    assert_goms_equal(reader.read_gom(0), gom, layout=0)
    # read in the 1.0 layout: the P-model's all-0 tensor keeps its stored model (no ZERO record)
    p_tensor = reader.read_gom(0).models[1].tensors[0]
    assert (p_tensor.step, p_tensor.mean, p_tensor.std) == (0.125, -0.5, 2.0)


def test_writer_reproduces_the_spec_1_1_example_byte_for_byte():
    header, gom = spec_example_1_1_records()
    offset, chunk = spec_example_1_1_chunk()
    assert encode_chunk(b"GOMD", serialize_gom(gom, header)) == chunk
    data = spec_example_1_1_stream()
    assert data[offset : offset + len(chunk)] == chunk
    assert UarReader(io.BytesIO(data)).index[0].offset == offset == 0x8E


def test_reader_returns_the_spec_1_1_example_records():
    header, gom = spec_example_1_1_records()
    offset, chunk = spec_example_1_1_chunk()
    got = parse_gom(chunk[8:-4], offset + 8, header)
    assert_goms_equal(got, gom)
    reader = UarReader(io.BytesIO(spec_example_1_1_stream()))
    assert reader.header == header and reader.header.tensor_layout == 1
    assert_goms_equal(reader.read_gom(0), gom)
    t = got.models[0].tensors[0]
    assert (t.entropy_model, t.temporal, t.coded_elements) == (EntropyModel.LAPLACE, True, 8)
    assert np.flatnonzero(t.channel_mask).tolist() == SPEC_1_1_KEPT
    z = got.models[1].tensors[0]
    assert z.is_zero and z.ref_mode == RefMode.LAST and z.coded_elements == 2


def test_spec_1_1_example_words_decode_to_the_documented_integers():
    """Cross-check with the coding layer: the example's words are real Laplace-coded symbols,
    and placing them and undoing the differences gives the integers section 6.1.1 lists."""
    from uarcodec.coding.entropy import decode_tensor
    from uarcodec.coding.symbols import place_symbols, undo_temporal_differences

    _, gom = spec_example_1_1_records()
    t = gom.models[0].tensors[0]
    symbols = decode_tensor(t.words, t.coded_elements, t.mean, t.std, t.min_symbol, t.max_symbol,
                            model=t.entropy_model)
    assert symbols.tolist() == SPEC_1_1_SYMBOLS
    q = undo_temporal_differences(place_symbols(symbols, t.shape, t.channel_mask))
    assert q.tolist() == SPEC_1_1_Q


def test_writer_reproduces_the_spec_1_2_example_byte_for_byte():
    header, gom = spec_example_1_2_records()
    offset, chunk = spec_example_1_2_chunk()
    assert encode_chunk(b"GOMD", serialize_gom(gom, header)) == chunk
    data = spec_example_1_2_stream()
    assert data[offset : offset + len(chunk)] == chunk
    assert UarReader(io.BytesIO(data)).index[0].offset == offset == 0x8E
    # the HEAD payload is section 6.1.1's but for the versions: no baseline setting is written
    head_1_1 = spec_example_1_1_stream()[: offset]
    assert data[:offset] != head_1_1 and len(serialize_header(header)) == len(head_1_1) - 8 - 12


def test_reader_returns_the_spec_1_2_example_records():
    header, gom = spec_example_1_2_records()
    offset, chunk = spec_example_1_2_chunk()
    got = parse_gom(chunk[8:-4], offset + 8, header)
    assert_goms_equal(got, gom)
    reader = UarReader(io.BytesIO(spec_example_1_2_stream()))
    assert reader.header == header and reader.header.tensor_layout == 2
    assert reader.header.coding.encoder_settings == {**BASELINE_SETTINGS, "lambda": 0.5, "fast": True}
    assert_goms_equal(reader.read_gom(0), gom)
    t = got.models[0].tensors[0]
    assert (t.entropy_model, t.temporal, t.coded_elements) == (EntropyModel.LAPLACE, True, 8)
    wide = got.models[0].tensors[1]
    assert (wide.shape, wide.min_symbol, wide.max_symbol, wide.std) == ((3,), -40000, 40000, 32768.0)
    z = got.models[1].tensors[0]
    assert z.is_zero and z.ref_mode == RefMode.LAST and z.coded_elements == 2


def test_spec_1_2_example_wide_words_decode_to_the_documented_integers():
    from uarcodec.coding.entropy import decode_tensor

    _, gom = spec_example_1_2_records()
    t = gom.models[0].tensors[1]
    symbols = decode_tensor(t.words, t.coded_elements, t.mean, t.std, t.min_symbol, t.max_symbol,
                            model=t.entropy_model)
    assert symbols.tolist() == SPEC_1_2_WIDE_Q


def test_sample_stream_is_deterministic():
    assert sample_stream() == sample_stream()


def test_sample_goms_use_every_field():
    """The fuzzed and round-tripped 1.1 sample exercises every field of format 1.1."""
    tensors = [t for g in sample_goms() for m in g.models for t in m.tensors]
    coded = [t for t in tensors if not t.is_zero]
    assert any(t.is_zero for t in tensors)
    assert any(t.is_zero and t.channel_mask is not None for t in tensors)  # all-False mask: ZERO too
    assert {t.entropy_model for t in coded} == {EntropyModel.GAUSSIAN, EntropyModel.LAPLACE}  # 1.5: CONTEXT
    assert any(t.temporal for t in coded) and any(not t.temporal for t in coded)
    masked = [t for t in coded if t.channel_mask is not None]
    assert any(len(t.channel_mask) > 8 for t in masked)  # a mask of more than one byte
    assert any(not t.channel_mask.all() for t in masked)
    assert any(t.temporal and t.channel_mask is not None and t.entropy_model == EntropyModel.LAPLACE
               for t in coded)
    assert set(RefMode) <= {t.ref_mode for t in tensors}
    assert any(t.ref_mode == RefMode.LAST for t in coded)
    # 1.2: SHORT records and records that need 32 bits, for a dimension or for a symbol
    wide_dim = [t for t in tensors if max(t.shape, default=0) > 65535]
    assert any(t.is_zero for t in wide_dim) and any(not t.is_zero for t in wide_dim)
    assert any(t.min_symbol < -32768 and max(t.shape, default=0) <= 65535 for t in coded)
    assert any(max(t.shape, default=0) <= 65535 and -32768 <= t.min_symbol for t in coded)
    old = [t for g in sample_goms(layout=0) for m in g.models for t in m.tensors]
    assert all(t.entropy_model == EntropyModel.GAUSSIAN and not t.temporal and t.channel_mask is None
               and t.ref_mode != RefMode.LAST for t in old)


def gom_read_error(data: bytes) -> UarFormatError:
    """The format error reading GOM 0 of ``data`` raises (its header, index and trailer intact)."""
    reader = UarReader(io.BytesIO(data))
    assert not reader.recovered
    with pytest.raises(UarFormatError) as err:
        reader.read_gom(0)
    assert err.value.chunk == "GOMD"
    return err.value


def patch_gomd(data: bytes, offset: int, new: bytes, gomd_at: int = 0x8E) -> bytes:
    """``data`` with ``new`` written at file ``offset``, the CRC of the GOMD chunk at ``gomd_at``
    recomputed (the spec examples' chunk is at 0x8E)."""
    out = bytearray(data)
    out[offset : offset + len(new)] = new
    rechecksum(out, gomd_at)
    return bytes(out)


def assert_refused_without_writing(header, gom) -> None:
    """Appending ``gom`` raises UarCodingError and writes nothing."""
    buf = io.BytesIO()
    writer = UarWriter(buf, header)
    before = buf.getvalue()
    with pytest.raises(UarCodingError):
        writer.append_gom(gom)
    assert buf.getvalue() == before and writer.entries == []
