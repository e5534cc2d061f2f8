"""Fuzzing: truncated, bit-flipped and overwritten streams end in a format error or a correct
read, never in another exception (and never in a wrong GOM).

Ten streams are fuzzed: "sample", a format 1.4 stream (varint fields, bfloat16 parameters,
cut words, compact field lists) whose GOMs use every field of 1.1 (channel masks of one and two
bytes, temporal differences, Laplace and Gaussian models, ZERO records, LAST references) with
small values and with dimensions and symbols that need 32 bits, some records zero-flagged
(1.3), and whose HEAD leaves out the baseline settings but writes others; "sample_1_3", the same
records in a format 1.3 stream (SHORT and 32-bit records); "sample_1_5", the same records with
every second coded one context-coded (format 1.5: head bit 6, no mean, std or mask);
"sample_1_6", those in a format 1.6 stream of a latent network with a motion margin (its HEAD's
new architecture field); "sample_1_7", those in a format 1.7 stream of a latent network with a
motion field (another architecture field); "sample_1_8", a format 1.8 stream whose records are
those of "sample_1_5" with some made plane-flagged (head bits 6 and 7, 23 flag parameters);
"sample_1_9", those in a format 1.9 stream with two scene cuts at the end of its HEAD;
"sample_1_1", the same records
without zero flags in a format 1.1 stream; "spec_1_2", the 1.2 example of bitstream_spec.md,
section 6.1.2; and "spec", the format 1.0 stream of Appendix B (read in the 1.0 tensor layout)."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_bitstream_samples import (
    assert_goms_equal,
    sample_goms,
    sample_goms_1_5,
    sample_goms_1_8,
    sample_header,
    sample_header_1_1,
    sample_header_1_5,
    sample_header_1_6,
    sample_header_1_7,
    sample_header_1_8,
    sample_header_1_9,
    sample_header_1_10,
    spec_example_1_2_records,
    spec_example_1_2_stream,
    spec_example_bytes,
    spec_example_records,
    write_stream,
)
from uarcodec.bitstream import UarReader, UarWriter, encode_chunk, parse_gom, serialize_gom
from uarcodec.bitstream.records import EntropyModel, RefMode
from uarcodec.errors import UarFormatError

_HEADER, _GOMS, _GOMS_1_2 = sample_header(), sample_goms(layout=4), sample_goms()
_HEADER_1_3 = sample_header(writer_version=(1, 3), min_reader_version=(1, 3))
_HEADER_1_5, _GOMS_1_5 = sample_header_1_5(), sample_goms_1_5()
_HEADER_1_6, _HEADER_1_7 = sample_header_1_6(), sample_header_1_7()
_HEADER_1_8, _GOMS_1_8 = sample_header_1_8(), sample_goms_1_8()
_HEADER_1_9, _HEADER_1_10 = sample_header_1_9(), sample_header_1_10()
_STREAMS = {
    "sample": (write_stream(_HEADER, _GOMS), _HEADER, _GOMS),
    "sample_1_3": (write_stream(_HEADER_1_3, _GOMS), _HEADER_1_3, _GOMS),
    "sample_1_5": (write_stream(_HEADER_1_5, _GOMS_1_5), _HEADER_1_5, _GOMS_1_5),
    "sample_1_6": (write_stream(_HEADER_1_6, _GOMS_1_5), _HEADER_1_6, _GOMS_1_5),
    "sample_1_7": (write_stream(_HEADER_1_7, _GOMS_1_5), _HEADER_1_7, _GOMS_1_5),
    "sample_1_8": (write_stream(_HEADER_1_8, _GOMS_1_8), _HEADER_1_8, _GOMS_1_8),
    "sample_1_9": (write_stream(_HEADER_1_9, _GOMS_1_8), _HEADER_1_9, _GOMS_1_8),
    "sample_1_10": (write_stream(_HEADER_1_10, _GOMS_1_8), _HEADER_1_10, _GOMS_1_8),
    "sample_1_1": (write_stream(sample_header_1_1(), _GOMS_1_2), sample_header_1_1(), _GOMS_1_2),
    "spec_1_2": (spec_example_1_2_stream(), spec_example_1_2_records()[0], [spec_example_1_2_records()[1]]),
    "spec": (spec_example_bytes(), spec_example_records()[0], [spec_example_records()[1]]),
}


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(_STREAMS)))
    data = bytearray(_STREAMS[name][0])
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "flip", "overwrite", "delete", "insert"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "truncate":
            del data[at:]
        elif op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "overwrite":
            data[at : at + 8] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return name, bytes(data)


def test_the_fuzzed_streams_cover_every_layout_and_every_field():
    data, header, goms = _STREAMS["sample"]
    assert header.tensor_layout == 4 and header.min_reader_version == (1, 4)
    assert _STREAMS["sample_1_3"][1].tensor_layout == 3
    assert _STREAMS["sample_1_1"][1].tensor_layout == 1 and _STREAMS["spec_1_2"][1].tensor_layout == 2
    tensors = [t for g in goms for m in g.models for t in m.tensors]
    coded = [t for t in tensors if not t.is_zero]
    assert any(t.is_zero for t in tensors)
    assert any(t.channel_mask is not None and len(t.channel_mask) > 8 for t in coded)
    assert any(t.temporal for t in coded)
    assert any(t.zero_flags is not None and t.zero_flags > 0 for t in coded)
    assert any(t.zero_flags is not None and t.zero_flags < 0 for t in coded)
    assert any(t.zero_flags is None for t in coded)
    assert {t.entropy_model for t in coded} == {EntropyModel.GAUSSIAN, EntropyModel.LAPLACE}
    assert set(RefMode) <= {t.ref_mode for t in tensors}
    def wide(t):  # not SHORT in 1.3; varints of more than two bytes in 1.4
        return max(t.shape, default=0) > 65535 or t.min_symbol < -32768

    assert any(t.is_zero and wide(t) for t in tensors) and any(wide(t) for t in coded)
    assert any(not wide(t) for t in coded)
    head = data[16 : 16 + int.from_bytes(data[12:16], "little")]
    assert b"seed" in head and b"device" not in head  # a changed setting, a baseline one left out
    _, header, goms = _STREAMS["spec"]
    assert header.tensor_layout == 0 and header.min_reader_version == (1, 0)
    _, header, goms = _STREAMS["sample_1_5"]
    assert header.tensor_layout == 5 and header.min_reader_version == (1, 5)
    coded = [t for g in goms for m in g.models for t in m.tensors if not t.is_zero]
    assert {t.entropy_model for t in coded} == set(EntropyModel)
    context = [t for t in coded if t.entropy_model == EntropyModel.CONTEXT]
    assert any(t.words.size for t in context) and any(t.shape == () for t in context)
    assert any(t.min_symbol < -8192 for t in context)  # an svar of 3 bytes
    _, header, goms = _STREAMS["sample_1_6"]
    assert header.tensor_layout == 5 and header.min_reader_version == (1, 6)
    assert header.coding.arch["motion_margin"] == 64
    _, header, goms = _STREAMS["sample_1_7"]
    assert header.tensor_layout == 5 and header.min_reader_version == (1, 7)
    assert header.coding.arch["motion_block"] == 32
    _, header, goms = _STREAMS["sample_1_8"]
    assert header.tensor_layout == 6 and header.min_reader_version == (1, 8)
    planes = [t for g in goms for m in g.models for t in m.tensors if t.plane_flags is not None]
    assert {t.entropy_model for t in planes} == {EntropyModel.GAUSSIAN, EntropyModel.LAPLACE}
    assert any(t.temporal for t in planes) and any(len(t.shape) > 2 for t in planes)
    assert any(t.entropy_model == EntropyModel.CONTEXT for g in goms for m in g.models for t in m.tensors)
    _, header, goms = _STREAMS["sample_1_9"]
    assert header.tensor_layout == 6 and header.min_reader_version == (1, 9)
    assert header.coding.scene_cuts == (12, 24) == tuple(g.first_frame for g in goms[1:])
    _, header, goms = _STREAMS["sample_1_10"]
    assert header.tensor_layout == 6 and header.min_reader_version == (1, 10)
    assert header.coding.arch["context_order"] == 1
    assert any(t.entropy_model == EntropyModel.CONTEXT for g in goms for m in g.models for t in m.tensors)


def _check_read(name: str, data: bytes) -> None:
    _, header, goms = _STREAMS[name]
    try:
        reader = UarReader(io.BytesIO(data))
    except UarFormatError:
        return
    assert reader.header == header
    assert sum(reader.chunk_sizes().values()) == len(data)
    for k, gom in enumerate(goms):
        try:
            got = reader.read_gom(k)
        except UarFormatError:
            continue
        assert_goms_equal(got, gom, layout=header.tensor_layout)


def _check_resume(name: str, data: bytes) -> None:
    _, header, goms = _STREAMS[name]
    f = io.BytesIO(data)
    try:
        writer, entries = UarWriter.resume(f, header)
    except UarFormatError:
        return
    for gom in goms[len(entries) :]:
        writer.append_gom(gom)
    writer.finish()
    assert f.getvalue() == _STREAMS[name][0]


def _fuzz(case) -> None:
    name, data = case
    _check_read(name, data)
    _check_resume(name, data)


_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=300, **_SETTINGS)
@given(mutated())
def test_mutated_streams_fail_cleanly_or_read_correctly(case):
    _fuzz(case)


@pytest.mark.slow
@settings(max_examples=5000, **_SETTINGS)
@given(mutated())
def test_mutated_streams_fail_cleanly_or_read_correctly_many(case):
    _fuzz(case)


# Structure-aware fuzzing: mutate inside a chunk and fix its CRC, so that the field checks
# (not the CRC) must catch the damage. A GOM that still parses must be canonical: writing the
# parsed records gives back the very same payload bytes.


@st.composite
def patched_chunk(draw):
    name = draw(st.sampled_from(sorted(_STREAMS)))
    data = bytearray(_STREAMS[name][0])
    reader = UarReader(io.BytesIO(bytes(data)))
    targets = [8] + [e.offset for e in reader.index]  # HEAD and every GOMD chunk
    chunk_at = draw(st.sampled_from(targets))
    length = int.from_bytes(data[chunk_at + 4 : chunk_at + 8], "little")
    payload = data[chunk_at + 8 : chunk_at + 8 + length]
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(payload) - 1, 0)))
        payload[at : at + 4] = draw(st.binary(min_size=1, max_size=4))
    if draw(st.booleans()):
        del payload[draw(st.integers(0, len(payload))) :]
    framed = encode_chunk(bytes(data[chunk_at : chunk_at + 4]), bytes(payload))
    end = chunk_at + 12 + length
    return name, bytes(data[:chunk_at] + framed + data[end:]), chunk_at, bytes(payload)


def _fuzz_patched(case) -> None:
    name, data, chunk_at, payload = case
    header = _STREAMS[name][1]
    if chunk_at != 8:
        try:
            gom = parse_gom(payload, chunk_at + 8, header)
        except UarFormatError:
            pass
        else:
            assert serialize_gom(gom, header) == payload
    try:
        reader = UarReader(io.BytesIO(data))
        for e in reader.index:
            reader.read_gom(e.index)
    except UarFormatError:
        pass
    _check_resume_valid(name, data)


def _check_resume_valid(name: str, data: bytes) -> None:
    """A patched GOM may still be a valid GOM (other words, other means): resuming keeps it,
    so only ask that the resumed stream is well-formed."""
    _, header, goms = _STREAMS[name]
    f = io.BytesIO(data)
    try:
        writer, entries = UarWriter.resume(f, header)
    except UarFormatError:
        return
    for gom in goms[len(entries) :]:
        writer.append_gom(gom)
    writer.finish()
    reader = UarReader(io.BytesIO(f.getvalue()))
    assert not reader.recovered and len(reader.index) == len(goms)


@settings(max_examples=300, **_SETTINGS)
@given(patched_chunk())
def test_patched_chunks_fail_cleanly_or_parse_canonically(case):
    _fuzz_patched(case)


@pytest.mark.slow
@settings(max_examples=5000, **_SETTINGS)
@given(patched_chunk())
def test_patched_chunks_fail_cleanly_or_parse_canonically_many(case):
    _fuzz_patched(case)
