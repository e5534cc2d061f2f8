"""Synthetic streams shared by the bitstream tests, and the check that the example stream of
bitstream_spec.md (Appendix B) is what the writer writes and the reader reads."""

from __future__ import annotations

import io
import re
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np

from uarcodec.bitstream import UarReader, UarWriter, encode_chunk, serialize_gom, serialize_header
from uarcodec.bitstream.index import Trailer, encode_trailer, serialize_index
from uarcodec.bitstream.records import (
    CodingParams,
    ColorMatrix,
    ColorRange,
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
SETTINGS = {"lambda": 1234.5, "preset": "fast", "eps_law": "mse", "steps": [300], "ref": True}


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


def _tensor(rng: np.random.Generator, shape: tuple[int, ...], ref: RefMode) -> TensorRecord:
    n_words = int(rng.integers(0, 12))
    lo = int(rng.integers(-40, 1))
    return TensorRecord(
        shape=shape,
        ref_mode=ref,
        step=float(2.0 ** -int(rng.integers(2, 12))),
        mean=float(rng.integers(-8, 8)) / 16,
        std=float(rng.integers(1, 64)) / 8,
        min_symbol=lo,
        max_symbol=lo + int(rng.integers(0, 80)),
        words=rng.integers(0, 2**32, size=n_words, dtype=np.uint32),
    )


def _model(rng: np.random.Generator, kind: ModelKind, frames: int) -> ModelRecord:
    shapes = [(), (7,), (3, 5), (4, 2, 3, 3), (frames, 2, 2)]
    if kind == ModelKind.I:
        refs = [RefMode.NONE] * len(shapes)
        eps = 1.0
    else:
        refs = [RefMode.INTERP, RefMode.NONE, RefMode.INTERP, RefMode.INTERP, RefMode.PREVIOUS]
        eps = float(rng.integers(0, 65)) / 64
    tensors = [_tensor(rng, s, r) for s, r in zip(shapes, refs)]
    return ModelRecord(kind, frames, int(rng.integers(0, 2**32)), eps, tensors)


def sample_goms(seed: int = 0) -> list[GomRecord]:
    """25 frames, p = 4, m = 3: GOMs of GOPs [4, 4, 4], [4, 4, 4], [1]."""
    rng = np.random.default_rng(seed)
    goms, first = [], 0
    for index, gops in enumerate([[4, 4, 4], [4, 4, 4], [1]]):
        models = [_model(rng, ModelKind.I if j == 0 else ModelKind.P, f) for j, f in enumerate(gops)]
        goms.append(GomRecord(index, first, sum(gops), models))
        first += sum(gops)
    return goms


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


def assert_goms_equal(got: GomRecord, want: GomRecord) -> None:
    assert (got.index, got.first_frame, got.num_frames) == (want.index, want.first_frame, want.num_frames)
    assert len(got.models) == len(want.models)
    for gm, wm in zip(got.models, want.models):
        assert (gm.kind, gm.num_frames, gm.seed, gm.eps) == (wm.kind, wm.num_frames, wm.seed, wm.eps)
        assert isinstance(gm.kind, ModelKind)
        assert len(gm.tensors) == len(wm.tensors)
        for gt, wt in zip(gm.tensors, wm.tensors):
            assert gt.shape == tuple(wt.shape)
            assert gt.ref_mode == wt.ref_mode and isinstance(gt.ref_mode, RefMode)
            assert (gt.step, gt.mean, gt.std) == (wt.step, wt.mean, wt.std)
            assert (gt.min_symbol, gt.max_symbol) == (wt.min_symbol, wt.max_symbol)
            assert gt.words.dtype == np.uint32
            assert np.array_equal(gt.words, wt.words)


# ----------------------------------------------------------------- the spec's example stream


def spec_example_records() -> tuple[StreamHeader, GomRecord]:
    """The records of bitstream_spec.md, Appendix B."""
    header = StreamHeader(
        VideoParams(16, 16, 3, Fraction(25, 1)),
        CodingParams(2, 2, 1, {"dim": 8, "ks": [3, 1]}, coder_version="c0.5",
                     encoder_settings={"lambda": 0.5, "fast": True}),
    )
    i_tensor = TensorRecord((2, 3), RefMode.NONE, 0.25, 0.0, 1.5, -3, 4,
                            np.array([0x12345678], dtype=np.uint32))
    p_tensor = TensorRecord((4,), RefMode.INTERP, 0.125, -0.5, 2.0, 0, 0, np.zeros(0, np.uint32))
    gom = GomRecord(0, 0, 3, [ModelRecord(ModelKind.I, 2, 7, 1.0, [i_tensor]),
                              ModelRecord(ModelKind.P, 1, 8, 0.5, [p_tensor])])
    return header, gom


def spec_example_bytes() -> bytes:
    """The bytes of the annotated dump in bitstream_spec.md, Appendix B."""
    text = SPEC.read_text(encoding="utf-8")
    block = text.split("<!-- example-stream-hex: begin -->")[1].split("<!-- example-stream-hex: end -->")[0]
    out = bytearray()
    for line in block.splitlines():
        m = re.match(r"^([0-9a-f]{4}): ([0-9a-f ]+?)\s*(\||$)", line)
        if m:
            assert int(m.group(1), 16) == len(out), f"offset column wrong at {line!r}"
            out += bytes.fromhex(m.group(2))
    return bytes(out)


def test_writer_reproduces_the_spec_example_byte_for_byte():
    header, gom = spec_example_records()
    assert write_stream(header, [gom]) == spec_example_bytes()


def test_reader_returns_the_spec_example_records():
    header, gom = spec_example_records()
    reader = UarReader(io.BytesIO(spec_example_bytes()))
    assert reader.header == header
    assert not reader.recovered
    assert_goms_equal(reader.read_gom(0), gom)


def test_sample_stream_is_deterministic():
    assert sample_stream() == sample_stream()
