"""Format 1.5 (bitstream_spec.md, sections 5.2 and 6.1): context-coded tensor records. Bit 6 of
a record's head byte is CONTEXT in a 1.5 stream; such a record stores step, the symbols' range,
byte_count and the words (no mean, std, flag parameter or mask). The spec's example record, byte
for byte; the record sizes of section 6.1; the reader and writer checks; and the version rule of
section 5.2: only a stream that may hold CONTEXT records is written as 1.5, any other one is a
1.4 stream byte for byte."""

from __future__ import annotations

import io
import math
import re
import struct
from dataclasses import replace

import numpy as np
import pytest

from test_bitstream_samples import (
    SPEC,
    assert_goms_equal,
    assert_refused_without_writing,
    gom_read_error,
    patch_gomd,
    sample_goms,
    sample_goms_1_5,
    sample_header,
    sample_header_1_5,
    spec_hex_dump,
    write_stream,
)
from uarcodec.bitstream import (
    FORMAT_VERSION,
    UarReader,
    parse_gom,
    parse_model,
    serialize_gom,
    serialize_model,
)
from uarcodec.bitstream.records import (
    BASE_FORMAT_VERSION,
    CONTEXT_FORMAT_VERSION,
    EntropyModel,
    GomRecord,
    ModelKind,
    ModelRecord,
    RefMode,
    StreamHeader,
    TensorRecord,
    tensor_layout,
    word_byte_count,
)
from uarcodec.errors import UarCodingError, UarFormatError, UarVersionError

RECORD_MARKER = "example-1.5-record-hex"
MODEL_HEADER = 11  # a P-model's header in 1.4 and 1.5 (kind, num_frames, seed, eps, tensor_count)
HEAD = 0x40  # bit 6: CONTEXT in 1.5


def _header(**changes) -> StreamHeader:
    return sample_header_1_5(**changes)


def _context(shape=(3, 4), ref_mode=RefMode.INTERP, step=0.25, lo=-3, hi=70, words=(0x12345678, 0x1D),
             **changes) -> TensorRecord:
    """A context-coded record (mean and std the placeholders a reader gives)."""
    fields = dict(shape=shape, ref_mode=ref_mode, step=step, mean=0.0, std=1.0, min_symbol=lo, max_symbol=hi,
                  words=np.array(words, dtype=np.uint32), entropy_model=EntropyModel.CONTEXT)
    fields.update(changes)
    return TensorRecord(**fields)


def _p_model(*tensors: TensorRecord) -> ModelRecord:
    return ModelRecord(ModelKind.P, 1, 8, 0.5, list(tensors))


def _record_bytes(t: TensorRecord, header: StreamHeader | None = None) -> bytes:
    """The bytes of ``t`` as the only tensor of a P-model at position 1."""
    data = serialize_model(_p_model(t), 1, header or _header())
    assert len(serialize_model(_p_model(), 1, header or _header())) == MODEL_HEADER
    return data[MODEL_HEADER:]


def _gom(*tensors: TensorRecord) -> GomRecord:
    """An I-model with a context-coded tensor, then a P-model holding ``tensors``."""
    i_model = ModelRecord(ModelKind.I, 1, 7, 1.0, [_context(ref_mode=RefMode.NONE, shape=(5,), lo=-1, hi=1,
                                                            words=(0x2A,))])
    return GomRecord(0, 0, 2, [i_model, _p_model(*tensors)])


def _uvar_len(v: int) -> int:
    return next(n for n in range(1, 6) if v < 2 ** (7 * n))


def _svar_len(v: int) -> int:
    return _uvar_len(2 * v if v >= 0 else -2 * v - 1)


def _spec_size(t: TensorRecord) -> int:
    """Section 6.1, sizes of a CONTEXT record in 1.5."""
    count = word_byte_count(t.words)
    return (6 + sum(_uvar_len(d) for d in t.shape) + _svar_len(t.min_symbol) + _svar_len(t.max_symbol)
            + _uvar_len(count) + count)


# ------------------------------------------------------------------------------ versions (section 5.2)


def test_the_version_constants():
    assert CONTEXT_FORMAT_VERSION == (1, 5) and FORMAT_VERSION == (1, 10)  # 1.6, 1.7: test_latent_motion*.py; 1.8: test_plane_flags.py; 1.9: test_scene_cuts.py; 1.10: test_bitstream_format_1_10.py
    assert BASE_FORMAT_VERSION == (1, 4)
    assert [tensor_layout(v) for v in [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 7), (1, 8), (2, 0)]] == \
        [0, 1, 2, 3, 4, 5, 5, 6, 6]
    assert _header().tensor_layout == 5


def test_a_default_header_still_writes_a_1_4_stream_byte_for_byte():
    """Defaults are those of a stream without CONTEXT records: versions 1.4, layout 4; the 1.5
    layout writes such records with the very same bytes."""
    header = sample_header()
    assert header.writer_version == header.min_reader_version == BASE_FORMAT_VERSION
    assert header.tensor_layout == 4
    goms = sample_goms(layout=4)
    data = write_stream(header, goms)
    assert data[16:24] == bytes([1, 0, 4, 0, 1, 0, 4, 0])  # HEAD payload: versions 1.4, 1.4
    assert data == write_stream(sample_header(writer_version=(1, 4), min_reader_version=(1, 4)), goms)
    for gom in goms:
        assert serialize_gom(gom, _header()) == serialize_gom(gom, header) == serialize_gom(gom)
    reader = UarReader(io.BytesIO(data))
    assert reader.header == header and reader.header.tensor_layout == 4
    for k, gom in enumerate(goms):
        assert_goms_equal(reader.read_gom(k), gom, layout=4)


def test_a_1_4_reader_refuses_a_1_5_stream(monkeypatch):
    """Section 5.2: a stream that may hold CONTEXT records is written with writer = min_reader =
    (1, 5): a 1.4 reader gives its version error before it parses anything else."""
    import uarcodec.bitstream.header as header_module

    data = write_stream(_header(), sample_goms_1_5())
    assert data[16:24] == bytes([1, 0, 5, 0, 1, 0, 5, 0])
    monkeypatch.setattr(header_module, "FORMAT_VERSION", (1, 4))
    with pytest.raises(UarVersionError) as err:
        UarReader(io.BytesIO(data))
    assert err.value.chunk == "HEAD" and "1.5" in str(err.value) and "1.4" in str(err.value)
    UarReader(io.BytesIO(write_stream(sample_header(), sample_goms(layout=4))))  # 1.4 streams still read


def test_a_1_5_stream_round_trips():
    header, goms = _header(), sample_goms_1_5()
    data = write_stream(header, goms)
    reader = UarReader(io.BytesIO(data))
    assert reader.header == header and reader.header.tensor_layout == 5
    for k, gom in enumerate(goms):
        got = reader.read_gom(k)
        assert_goms_equal(got, gom, layout=5)
        assert serialize_gom(got, header) == serialize_gom(gom, header)
    assert write_stream(header, [reader.read_gom(k) for k in range(len(goms))]) == data


# ------------------------------------------------------------------------------ the record (section 6.1)


def test_a_context_record_round_trips_with_placeholder_mean_and_std():
    header = _header()
    zero = TensorRecord((8,), RefMode.LAST, 1.0, 0.0, 1.0, 0, 0, np.zeros(0, np.uint32))
    laplace = TensorRecord((2, 3), RefMode.PREVIOUS, 0.5, 0.125, 0.90625, -2, 3, np.array([0x1D], np.uint32),
                           EntropyModel.LAPLACE, temporal=True)
    gom = _gom(_context(), zero, laplace, _context(shape=(), ref_mode=RefMode.NONE, lo=-40000, hi=2**31 - 1))
    payload = serialize_gom(gom, header)
    got = parse_gom(payload, 0, header)
    assert_goms_equal(got, gom, layout=5)
    assert serialize_gom(got, header) == payload
    t = got.models[1].tensors[0]
    assert t.entropy_model == EntropyModel.CONTEXT and isinstance(t.entropy_model, EntropyModel)
    assert (t.mean, t.std, t.temporal, t.channel_mask, t.zero_flags) == (0.0, 1.0, False, None, None)
    assert (t.step, t.min_symbol, t.max_symbol, t.words.tolist()) == (0.25, -3, 70, [0x12345678, 0x1D])
    assert t.coded_elements == 12 and not t.is_zero
    assert got.models[1].tensors[2].entropy_model == EntropyModel.LAPLACE  # a 1.4 record, as in 1.4
    model = parse_model(serialize_model(gom.models[1], 1, header), 1, header)
    assert_goms_equal(GomRecord(0, 0, 1, [model]), GomRecord(0, 0, 1, [gom.models[1]]), layout=5)


def test_the_spec_example_record_byte_for_byte():
    """Section 6.1's 1.5 example: head 0x41 (INTERP, bit 6), rank, uvar dims, f32 step, svar
    min_symbol and max_symbol, uvar byte_count, the words cut as in 1.4; 17 bytes."""
    at, dumped = spec_hex_dump(RECORD_MARKER)
    data = _record_bytes(_context())
    assert at == 0 and data == dumped
    assert data == (bytes([0x41, 2, 3, 4]) + struct.pack("<f", 0.25) + bytes([5, 0x8C, 0x01, 5])
                    + bytes.fromhex("785634121d"))
    assert data[0] & HEAD and data[0] & 0xBC == 0 and data[0] & 0x03 == RefMode.INTERP
    assert len(data) == _spec_size(_context()) == 17
    text = SPEC.read_text(encoding="utf-8")
    block = text.split(f"<!-- {RECORD_MARKER}: begin -->")[1].split(f"<!-- {RECORD_MARKER}: end -->")[0]
    assert "head 0x41: ref_mode 1 (INTERP), CONTEXT (bit 6)" in block
    assert "is these 17 bytes" in text
    got = parse_model(serialize_model(_p_model(_context()), 1, _header()), 1, _header()).tensors[0]
    assert (got.shape, got.ref_mode, got.step, got.min_symbol, got.max_symbol) == ((3, 4), RefMode.INTERP, 0.25,
                                                                                  -3, 70)


def test_every_line_of_the_1_5_example_says_what_its_bytes_are():
    """The explanations, read as section 1 and 6.1 say (the 1.4 example's rules), and the head
    byte: ref_mode in bits 0-1, CONTEXT the only other bit."""
    from test_bitstream_format_1_4 import _check_line, _spec_lines

    at, dumped = spec_hex_dump(RECORD_MARKER)
    lines = _spec_lines(RECORD_MARKER)
    assert sum(len(b) for _, b, _ in lines) == len(dumped) == 17
    (offset, head, text), *rest = lines
    m = re.fullmatch(r"head 0x([0-9a-f]{2}): ref_mode (\d) \(INTERP\), CONTEXT \(bit 6\)", text)
    assert m and offset == 0 and head == bytes([int(m.group(1), 16)]) == bytes([HEAD | int(m.group(2))])
    assert [text for offset, b, text in rest if not _check_line(offset, b, text, dumped, at, lines)] == []


def test_the_spec_states_the_context_record_size():
    text = " ".join(SPEC.read_text(encoding="utf-8").split())
    assert ("A CONTEXT record is `6 + |dims[0]| + … + |dims[rank−1]| + |min_symbol| + |max_symbol| + "
            "|byte_count| + byte_count` bytes") in text
    assert text.startswith("# The `.uar` bitstream, version 1.10 ")  # 1.6 to 1.10 kept 1.5's records
    assert "This document is format version **(1, 10)**" in text
    assert "section 16" in text


SIZE_CASES = {
    "small": _context(),
    "scalar": _context(shape=(), ref_mode=RefMode.NONE),
    "dim-128": _context(shape=(128, 1)),
    "dim-max": _context(shape=(2**31 - 1,)),
    "symbols-i32": _context(lo=-(2**31), hi=2**31 - 1),
    "symbols-65": _context(lo=-65, hi=64),
    "equal-symbols": _context(lo=5, hi=5, words=()),
    "equal-negative": _context(lo=-1, hi=-1, words=()),
    "last-word-4-bytes": _context(words=(0x01000000,)),
    "byte-count-128": _context(words=tuple(range(1, 34))),
    "rank-8": _context(shape=(1, 2, 1, 2, 1, 2, 1, 2)),
}


@pytest.mark.parametrize("name", sorted(SIZE_CASES))
def test_context_records_have_the_sizes_of_section_6_1(name):
    t = SIZE_CASES[name]
    data = _record_bytes(t)
    assert len(data) == _spec_size(t)
    # 4 bytes fewer than the same record as a 1.4 Laplace record (bf16 mean and std)
    laplace = replace(t, entropy_model=EntropyModel.LAPLACE)
    if not t.min_symbol == t.max_symbol == 0:
        assert len(_record_bytes(laplace, sample_header())) == len(data) + 4
    gom = _gom(t)
    payload = serialize_gom(gom, _header())
    got = parse_gom(payload, 0, _header())
    assert_goms_equal(got, gom, layout=5)
    assert serialize_gom(got, _header()) == payload


def test_mean_and_std_of_a_context_record_are_not_written():
    """They are placeholders in memory: the writer ignores them, the reader gives 0.0 and 1.0."""
    data = _record_bytes(_context())
    assert _record_bytes(_context(mean=0.3, std=7.0)) == data
    assert _record_bytes(_context(mean=math.nan, std=-1.0)) == data


def test_an_all_zero_context_tensor_is_a_zero_record():
    """As in 1.4: a tensor whose integers are all 0 is a ZERO record (bit 6 clear), which reads
    back in its canonical (Gaussian) form."""
    t = _context(lo=0, hi=0, words=())
    assert t.is_zero
    data = _record_bytes(t)
    assert data == bytes([RefMode.INTERP | 0x04, 2, 3, 4])
    got = parse_model(serialize_model(_p_model(t), 1, _header()), 1, _header()).tensors[0]
    assert got.is_zero and got.entropy_model == EntropyModel.GAUSSIAN


# ------------------------------------------------------------------------------ reader checks


def _payload_and_head(t: TensorRecord | None = None) -> tuple[bytes, int]:
    """A 1.5 GOMD payload whose P-model holds ``t``, and the offset of ``t``'s head byte."""
    t = t or _context()
    payload = serialize_gom(_gom(t), _header())
    record = _record_bytes(t)
    assert payload.endswith(record)
    return payload, len(payload) - len(record)


def _with_head(payload: bytes, at: int, head: int) -> bytes:
    return payload[:at] + bytes([head]) + payload[at + 1 :]


@pytest.mark.parametrize(
    "bit, name",
    [(2, "ZERO"), (3, "CHANNEL_MASK"), (4, "TEMPORAL"), (5, "Laplace"), (7, "ZERO_FLAGS")],
)
def test_the_reader_rejects_context_with_another_bit(bit, name):
    payload, at = _payload_and_head()
    head = payload[at]
    assert head == 0x41
    with pytest.raises(UarFormatError) as err:
        parse_gom(_with_head(payload, at, head | 1 << bit), 1000, _header())
    assert err.value.offset == 1000 + at and err.value.chunk == "GOMD"
    assert re.search(r"head byte 0x[0-9a-f]{2}|invalid flags", str(err.value))


def test_the_reader_rejects_a_zero_record_with_bit_6():
    zero = TensorRecord((8,), RefMode.INTERP, 1.0, 0.0, 1.0, 0, 0, np.zeros(0, np.uint32))
    payload, at = _payload_and_head(zero)
    assert payload[at] == 0x05 and len(payload) - at == 3
    with pytest.raises(UarFormatError, match="ZERO record is not context-coded") as err:
        parse_gom(_with_head(payload, at, 0x45), 0, _header())
    assert err.value.offset == at


def test_a_1_4_stream_still_rejects_bit_6():
    """The same bytes in a stream whose min_reader_version is (1, 4) (or without a header: a
    default, 1.4 one): bit 6 is an error there, at the first record that sets it."""
    payload, _ = _payload_and_head()
    i_head = 4 + MODEL_HEADER  # the GOM header, the I-model's header: its context record's head
    assert payload[i_head] == HEAD
    for header in (sample_header(), None):
        with pytest.raises(UarFormatError, match="bit 6, which is 0 in format 1.4") as err:
            parse_gom(payload, 0, header)
        assert err.value.offset == i_head


def test_a_1_4_stream_patched_with_bit_6_is_rejected_through_the_reader():
    header = sample_header(video=replace(sample_header().video, num_frames=2))
    laplace = TensorRecord((3, 4), RefMode.INTERP, 0.25, 0.0, 1.0, -3, 70, np.array([0x12345678, 0x1D], np.uint32),
                           EntropyModel.LAPLACE)
    i_model = ModelRecord(ModelKind.I, 1, 7, 1.0, [replace(laplace, ref_mode=RefMode.NONE)])
    data = write_stream(header, [GomRecord(0, 0, 2, [i_model, _p_model(laplace)])])
    gomd_at = data.index(b"GOMD")
    head_at = gomd_at + 8 + 4 + MODEL_HEADER
    assert data[head_at] == 0x20  # the I-model's Laplace record
    assert gom_read_error(patch_gomd(data, head_at, b"\x40", gomd_at)).offset == head_at


def test_the_reader_rejects_what_a_context_record_never_holds():
    # min_symbol = max_symbol = 0: must be a ZERO record (at max_symbol)
    t = _context(lo=-1, hi=0, words=())
    payload, at = _payload_and_head(t)
    min_at = at + 1 + 1 + 2 + 4
    assert payload[min_at : min_at + 2] == bytes([1, 0])
    with pytest.raises(UarFormatError, match="must be a ZERO record") as err:
        parse_gom(payload[:min_at] + b"\x00" + payload[min_at + 1 :], 0, _header())
    assert err.value.offset == min_at + 1
    # min_symbol = max_symbol with words (at byte_count)
    t = _context(lo=5, hi=5, words=())
    payload, at = _payload_and_head(t)
    count_at = len(payload) - 1
    assert payload[count_at] == 0
    with pytest.raises(UarFormatError, match="min_symbol = max_symbol has words") as err:
        parse_gom(payload[:count_at] + b"\x01\x07", 0, _header())
    assert err.value.offset == count_at
    # the 1.4 word rules: a last byte 00, a byte_count past the payload
    payload, at = _payload_and_head()
    assert payload.endswith(bytes([5]) + bytes.fromhex("785634121d"))
    with pytest.raises(UarFormatError, match="last byte is 0"):
        parse_gom(payload[:-6] + bytes([6]) + bytes.fromhex("785634121d00"), 0, _header())
    with pytest.raises(UarFormatError, match="exceeds"):
        parse_gom(payload[:-6] + bytes([7]) + bytes.fromhex("785634121d"), 0, _header())
    # step 0 (the record has no mean and std: step is followed by the symbols)
    step_at = at + 4
    assert payload[step_at : step_at + 4] == struct.pack("<f", 0.25)
    with pytest.raises(UarFormatError, match="step") as err:
        parse_gom(payload[:step_at] + bytes(4) + payload[step_at + 4 :], 0, _header())
    assert err.value.offset == step_at


def test_a_1_1_record_with_entropy_model_2_is_rejected():
    """CONTEXT (2) exists only as head bit 6 of 1.5: 1.1's entropy_model field knows 0 and 1."""
    header = sample_header(writer_version=(1, 1), min_reader_version=(1, 1))
    laplace = TensorRecord((3,), RefMode.NONE, 0.25, 0.0, 1.0, -3, 7, np.array([9], np.uint32), EntropyModel.LAPLACE)
    gom = GomRecord(0, 0, 1, [ModelRecord(ModelKind.I, 1, 7, 1.0, [laplace])])
    payload = bytearray(serialize_gom(gom, header))
    tensor_at = 16 + 1 + 4 + 4 + 4 + 4  # GOM header, then kind, num_frames, seed, eps, tensor_count
    em_at = tensor_at + 1 + 4 + 1 + 1  # rank, dim, ref_mode, flags
    assert payload[em_at] == 1
    payload[em_at] = 2
    with pytest.raises(UarFormatError, match="unknown entropy model 2") as err:
        parse_gom(bytes(payload), 0, header)
    assert err.value.offset == em_at


# ------------------------------------------------------------------------------ writer checks


@pytest.mark.parametrize("version", [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4)])
def test_the_writer_refuses_context_below_1_5(version):
    header = sample_header(writer_version=version, min_reader_version=version,
                           video=replace(sample_header().video, num_frames=2))
    with pytest.raises(UarCodingError, match="context-coded tensors need format 1.5"):
        serialize_gom(_gom(_context()), header)
    with pytest.raises(UarCodingError, match="need format 1.5"):
        serialize_model(_p_model(_context()), 1, header)
    with pytest.raises(UarCodingError, match="need format 1.5"):  # even one that would be ZERO
        serialize_model(_p_model(_context(lo=0, hi=0, words=())), 1, header)
    i_only = GomRecord(0, 0, 1, [ModelRecord(ModelKind.I, 1, 7, 1.0, [_context(ref_mode=RefMode.NONE)])])
    assert_refused_without_writing(header, i_only)
    with pytest.raises(UarCodingError, match="need format 1.5"):
        serialize_model(_p_model(_context()), 1)  # no header: a default (1.4) one


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(temporal=True), "no channel mask, temporal differences or zero flags"),
        (dict(channel_mask=np.array([True, False, True])), "no channel mask"),
        (dict(zero_flags=0.5), "no channel mask"),
        (dict(lo=5, hi=5), "min_symbol = max_symbol has no words"),
        (dict(words=(5, 0)), "last coded word is 0"),
        (dict(step=0.0), "step"),
        (dict(lo=3, hi=2), "min_symbol 3 > max_symbol 2"),
        (dict(lo=-(2**31) - 1), "min_symbol"),
    ],
    ids=["temporal", "mask", "zero-flags", "equal-with-words", "last-word-0", "step-0", "lo-above-hi", "lo-i32"],
)
def test_the_writer_refuses_invalid_context_records(changes, match):
    with pytest.raises(UarCodingError, match=match):
        serialize_model(_p_model(_context(**changes)), 1, _header())
    i_only = GomRecord(0, 0, 1, [ModelRecord(ModelKind.I, 1, 7, 1.0, [_context(ref_mode=RefMode.NONE, **changes)])])
    assert_refused_without_writing(_header(), i_only)
