"""Format 1.2: compact tensor records (one head byte, SHORT records with 16-bit fields) and the
encoder settings baseline of the HEAD chunk (bitstream_spec.md, sections 5.1.1, 6.1, 6.2)."""

from __future__ import annotations

import io
import re
import struct
from dataclasses import replace

import numpy as np
import pytest

from test_bitstream_samples import (
    assert_refused_without_writing,
    patch_gomd,
    gom_read_error,
    BASELINE_SETTINGS,
    SETTINGS,
    SPEC,
    assert_goms_equal,
    sample_goms,
    sample_header,
    sample_header_1_1,
    spec_example_1_1_records,
    spec_example_1_2_records,
    spec_example_1_2_stream,
    write_stream,
)
from uarcodec.bitstream import (
    UarReader,
    UarWriter,
    parse_gom,
    parse_header,
    serialize_gom,
    serialize_header,
    serialize_model,
)
from uarcodec.bitstream.records import EntropyModel, ModelKind, RefMode, TensorRecord
from uarcodec.bitstream.settings_baseline import ENCODER_SETTINGS_BASELINE
from uarcodec.errors import UarCodingError, UarFormatError

GOMD_AT = 0x8E
GOM_HEADER, MODEL_HEADER = 16, 17


def _one_tensor_gom(t: TensorRecord, kind: ModelKind = ModelKind.P):
    """Section 6.1.2's GOM with ``t`` as the P-model's (``kind`` P) or the I-model's only tensor."""
    header, gom = spec_example_1_2_records()
    if kind == ModelKind.P:
        gom.models[1].tensors[0] = t
    else:
        gom.models[0].tensors[:] = [t]
    return header, gom


def _tensor_bytes_at_end(t: TensorRecord) -> tuple[bytes, bytes]:
    """(GOM payload, the P-model tensor's record: the payload's last bytes)."""
    header, gom = _one_tensor_gom(t)
    payload = serialize_gom(gom, header)
    start = GOM_HEADER + len(serialize_model(gom.models[0], 0, header)) + MODEL_HEADER
    return payload, payload[start:]


def _record(shape=(3, 4), lo=-3, hi=4, n_words=2, **changes) -> TensorRecord:
    fields = dict(shape=shape, ref_mode=RefMode.INTERP, step=0.25, mean=0.5, std=1.5, min_symbol=lo, max_symbol=hi,
                  words=np.arange(1, n_words + 1, dtype=np.uint32))
    fields.update(changes)
    return TensorRecord(**fields)


# ------------------------------------------------------------------------------ round trips

CASES = {
    "short-gaussian": (_record(), 0x41),
    "short-laplace": (_record(entropy_model=EntropyModel.LAPLACE), 0x61),
    "short-temporal": (_record(temporal=True), 0x51),
    "short-mask": (_record(channel_mask=np.array([True, False, True])), 0x49),
    "short-all": (_record(temporal=True, entropy_model=EntropyModel.LAPLACE,
                          channel_mask=np.array([False, False, True])), 0x79),
    "short-edges": (_record(shape=(65535, 1), lo=-32768, hi=32767), 0x41),
    "short-scalar": (_record(shape=(), ref_mode=RefMode.PREVIOUS), 0x42),
    "short-last": (_record(shape=(1, 4), ref_mode=RefMode.LAST), 0x43),
    "wide-dim": (_record(shape=(65536, 1)), 0x01),
    "wide-min": (_record(lo=-32769), 0x01),
    "wide-max": (_record(hi=32768, entropy_model=EntropyModel.LAPLACE, temporal=True), 0x31),
    "wide-mask": (_record(shape=(2, 70000), channel_mask=np.array([True, False])), 0x09),
    "wide-scalar": (_record(shape=(), lo=-(2**31), hi=2**31 - 1), 0x01),
    "zero": (_record(lo=0, hi=0, n_words=0), 0x45),
    "zero-masked": (_record(lo=0, hi=0, n_words=0, channel_mask=np.zeros(3, bool), temporal=True), 0x45),
    "zero-scalar": (_record(shape=(), lo=0, hi=0, n_words=0, ref_mode=RefMode.NONE), 0x44),
    "zero-wide": (_record(shape=(65536, 2), lo=0, hi=0, n_words=0, ref_mode=RefMode.LAST), 0x07),
}


def _size(t: TensorRecord, head: int) -> int:
    """Spec 6.1's sizes of a 1.2 record."""
    rank, words = len(t.shape), t.words.size
    mask = 0 if t.channel_mask is None or t.is_zero else (t.shape[0] + 7) // 8
    if t.is_zero:
        return 2 + (2 if head & 0x40 else 4) * rank
    return (20 + 2 * rank if head & 0x40 else 26 + 4 * rank) + 4 * words + mask


@pytest.mark.parametrize("name", sorted(CASES))
def test_1_2_records_round_trip_with_their_head_byte_and_size(name):
    t, head = CASES[name]
    header, gom = _one_tensor_gom(t)
    payload, record = _tensor_bytes_at_end(t)
    assert record[0] == head and record[1] == len(t.shape)
    assert len(record) == _size(t, head)
    got = parse_gom(payload, 0, header)
    assert_goms_equal(got, gom)
    assert serialize_gom(got, header) == payload


def test_a_word_count_above_65535_is_not_short():
    for n_words, head in [(65535, 0x41), (65536, 0x01)]:
        t = _record(n_words=n_words)
        payload, record = _tensor_bytes_at_end(t)
        assert record[0] == head and len(record) == _size(t, head)
        header, gom = _one_tensor_gom(t)
        assert_goms_equal(parse_gom(payload, 0, header), gom)


@pytest.mark.parametrize(
    "t, compact, old",
    [
        (_record(shape=(8, 4, 3, 3), n_words=5), 28, 44),  # a conv weight
        (_record(shape=(8,), n_words=5), 22, 32),  # a bias
        (_record(shape=(8,), lo=0, hi=0, n_words=0), 4, 7),  # a ZERO bias
    ],
    ids=["weight", "bias", "zero-bias"],
)
def test_the_usual_records_are_the_promised_sizes(t, compact, old):
    """Bytes besides the words: a rank-4 weight 28 (44 in 1.1), a bias 22 (32), a ZERO bias 4 (7)."""
    header_1_2, gom = _one_tensor_gom(t)
    header_1_1 = replace(header_1_2, writer_version=(1, 1), min_reader_version=(1, 1))
    for header, want in [(header_1_2, compact), (header_1_1, old)]:
        start = GOM_HEADER + len(serialize_model(gom.models[0], 0, header)) + MODEL_HEADER
        assert len(serialize_gom(gom, header)) - start == want + 4 * t.words.size


def test_the_sample_streams_round_trip_in_every_layout():
    goms = sample_goms()
    header_1_2 = sample_header(writer_version=(1, 2), min_reader_version=(1, 2))
    for header in (sample_header(), header_1_2, sample_header_1_1()):
        reader = UarReader(io.BytesIO(write_stream(header, goms)))
        assert reader.header == header
        for k, gom in enumerate(goms):
            assert_goms_equal(reader.read_gom(k), gom)
    flagged = sample_goms(layout=3)  # some records zero-flagged: format 1.3 only
    reader = UarReader(io.BytesIO(write_stream(sample_header(), flagged)))
    for k, gom in enumerate(flagged):
        assert_goms_equal(reader.read_gom(k), gom)
    for header in (header_1_2, sample_header_1_1()):
        with pytest.raises(UarCodingError, match="zero flags need format 1.3"):
            write_stream(header, flagged)
    assert len(write_stream(sample_header(), goms)) < len(write_stream(sample_header_1_1(), goms))


# ------------------------------------------------------------------------------ reader checks
# Patches of the 1.2 example (bitstream_spec.md, section 6.1.2): tensor 0's head byte at 0xb7,
# its min_symbol at 0xc9, mask at 0xcd, word_count at 0xcf; tensor 1's (not SHORT) head at 0xd9;
# the P-model's ZERO record's head at 0x110.


def _patched_1_2(offset: int, new: bytes, data: bytes | None = None) -> bytes:
    return patch_gomd(spec_example_1_2_stream() if data is None else data, offset, new, GOMD_AT)


def test_the_1_2_example_offsets_are_the_documented_ones():
    data = spec_example_1_2_stream()
    assert data[0xB7:0xBD] == bytes.fromhex("78 02 0a 00 02 00")
    assert data[0xC9:0xD1] == bytes.fromhex("ff ff 02 00 0d 02 02 00")
    assert data[0xD9:0xDB] == b"\x00\x01" and data[0x110:0x112] == b"\x47\x02"


@pytest.mark.parametrize(
    "offset, new",
    [
        (0xB7, b"\xf8"),  # reserved bit 7
        (0x110, b"\xc7"),  # reserved bit 7 on a ZERO record
        (0x110, b"\x4f"),  # ZERO with CHANNEL_MASK
        (0x110, b"\x57"),  # ZERO with TEMPORAL
        (0x110, b"\x67"),  # ZERO with the Laplace bit
        (0xB7, b"\x7b"),  # LAST in an I-model
        (0xB7, b"\x79"),  # INTERP in an I-model
    ],
)
def test_reader_rejects_bad_head_bytes(offset, new):
    assert gom_read_error(_patched_1_2(offset, new)).offset == offset


def test_reader_rejects_a_zero_record_that_should_have_been_short():
    """The example's ZERO record (dims 1, 2) in 32-bit dims without SHORT: rejected at its head."""
    header, gom = spec_example_1_2_records()
    payload = serialize_gom(gom, header)
    head_at = 0x110 - GOMD_AT - 8
    assert payload[head_at:] == bytes.fromhex("47 02 01 00 02 00")
    wide = payload[:head_at] + bytes.fromhex("07 02 01 00 00 00 02 00 00 00")
    with pytest.raises(UarFormatError, match="SHORT") as err:
        parse_gom(wide, 1000, header)
    assert err.value.offset == 1000 + head_at
    # dims beyond 16 bits: that is the canonical form
    gom.models[1].tensors[0].shape = (1, 65536)
    payload = serialize_gom(gom, header)
    assert payload[head_at:] == bytes.fromhex("07 02 01 00 00 00 00 00 01 00")
    assert parse_gom(payload, 0, header).models[1].tensors[0].shape == (1, 65536)


def test_reader_rejects_a_record_that_should_have_been_short():
    """Tensor 1 (not SHORT for its symbols -40000 .. 40000) with symbols that fit 16 bits: the
    same values have a SHORT encoding, so this one is rejected, at the head byte."""
    data = _patched_1_2(0xEB, struct.pack("<ii", -4, 4))
    assert gom_read_error(data).offset == 0xD9
    # one symbol beyond 16 bits: the 32-bit record is the canonical one
    for lo, hi in [(-32769, 4), (-4, 32768)]:
        reader = UarReader(io.BytesIO(_patched_1_2(0xEB, struct.pack("<ii", lo, hi))))
        t = reader.read_gom(0).models[0].tensors[1]
        assert (t.min_symbol, t.max_symbol) == (lo, hi)


@pytest.mark.parametrize("head", [b"\x58", b"\x68", b"\x48"])  # TEMPORAL, MASK | Laplace, MASK
def test_reader_rejects_mask_or_temporal_on_a_rank_0_1_2_tensor(head):
    header, gom = _one_tensor_gom(_record(shape=(), ref_mode=RefMode.NONE), ModelKind.I)
    data = write_stream(header, [gom])
    assert data[0xB7:0xB9] == b"\x40\x00"  # SHORT, rank 0
    assert gom_read_error(_patched_1_2(0xB7, head, data)).offset == 0xB7


@pytest.mark.parametrize(
    "offset, new, error_at",
    [
        (0xBD, struct.pack("<f", 0.0), 0xBD),  # step 0
        (0xC5, struct.pack("<f", -1.0), 0xC5),  # scale < 0
        (0xC9, struct.pack("<h", 3), 0xCB),  # min_symbol > max_symbol, at max_symbol
        (0xCD, b"\x00\x00", 0xCD),  # a mask that keeps no channel
        (0xCD, b"\x0d\x06", 0xCD),  # a padding bit of the mask
        (0xCF, struct.pack("<H", 0xFFFF), 0xCF),  # word count beyond the chunk
        (0xB9, struct.pack("<H", 0), 0xB9),  # a dimension 0
        (0xB8, b"\x09", 0xB8),  # rank 9
        (0xF3, struct.pack("<I", 0xFFFFFFFF), 0xF3),  # 32-bit word count beyond the chunk
    ],
)
def test_reader_checks_the_1_2_fields_at_their_offsets(offset, new, error_at):
    assert gom_read_error(_patched_1_2(offset, new)).offset == error_at


def test_reader_rejects_an_all_0_record_that_is_not_zero():
    header, gom = _one_tensor_gom(_record(lo=-1, hi=0, n_words=0))
    payload = bytearray(serialize_gom(gom, header))
    min_at = len(payload) - (2 + 2 + 2)  # min_symbol, max_symbol, word_count (SHORT)
    payload[min_at : min_at + 2] = struct.pack("<h", 0)
    with pytest.raises(UarFormatError, match="ZERO"):
        parse_gom(bytes(payload), 0, header)


# ------------------------------------------------------------------------------ writer checks


@pytest.mark.parametrize(
    "change",
    [
        lambda t: setattr(t, "channel_mask", np.array([True, False])),  # wrong length
        lambda t: setattr(t, "entropy_model", 2),
        lambda t: setattr(t, "ref_mode", 4),
        lambda t: setattr(t, "min_symbol", 2**31),
        lambda t: setattr(t, "min_symbol", 1.5),
        lambda t: setattr(t, "shape", (2**32, 1)),
        lambda t: setattr(t, "shape", (3, 0)),
        lambda t: setattr(t, "step", 0.0),
    ],
)
def test_the_1_2_writer_refuses_invalid_records_and_writes_nothing(change):
    t = _record()
    change(t)
    header, gom = _one_tensor_gom(t)
    assert_refused_without_writing(header, gom)


# ------------------------------------------------------------------------------ HEAD: the settings baseline


def _default_settings() -> dict:
    from uarcodec.settings import EncoderSettings

    return EncoderSettings().informational_fields(precision="bf16", device="cpu")


def test_the_baseline_is_the_spec_table():
    """bitstream_spec.md 5.1.1's table, name by name, type by type, value by value."""
    text = SPEC.read_text(encoding="utf-8").split("| name | tag | baseline value |")[1].split("\n\n")[0]
    rows = re.findall(r"^\| `(\w+)` \| ([a-z ]+) \| (.+) \|$", text, re.M)
    parse = {"int": int, "float": float, "bool": lambda v: {"true": True, "false": False}[v],
             "str": lambda v: v.strip("`"), "list of float": lambda v: [float(x) for x in v.strip("[]").split(",")]}
    table = {name: parse[tag](value) for name, tag, value in rows}
    assert table == BASELINE_SETTINGS
    assert {k: type(v) for k, v in table.items()} == {k: type(v) for k, v in BASELINE_SETTINGS.items()}
    assert list(ENCODER_SETTINGS_BASELINE) == sorted(ENCODER_SETTINGS_BASELINE)


def test_a_default_encode_writes_only_the_settings_off_the_baseline_and_reads_them_all_back():
    settings = _default_settings()
    assert set(ENCODER_SETTINGS_BASELINE) < set(settings)
    # the table is frozen (spec 5.1.1); a default that moved since 1.2 is written out
    moved = {k for k, v in ENCODER_SETTINGS_BASELINE.items() if settings[k] != (list(v) if isinstance(v, tuple) else v)}
    assert moved == {"lr_p_scale", "lambda_p_scale"}  # 0.3 -> 1.0, 0.5 -> 0.75 (docs/temporal_reuse.md)
    header = replace(sample_header(), coding=replace(sample_header().coding, encoder_settings=settings))
    payload = serialize_header(header)
    parsed = parse_header(payload, 16)
    assert parsed == header and parsed.coding.encoder_settings == settings
    assert serialize_header(parsed) == payload
    written = set(re.findall(rb"[a-z_]{3,}", payload))
    assert {k.encode() for k in ENCODER_SETTINGS_BASELINE} & written == {k.encode() for k in moved}
    assert {b"lmbda", b"preset", b"model_size", b"epochs_i"} <= written
    header_1_1 = replace(header, writer_version=(1, 1), min_reader_version=(1, 1))
    payload_1_1 = serialize_header(header_1_1)
    assert parse_header(payload_1_1, 16) == header_1_1
    assert len(payload) < len(payload_1_1) - 350


@pytest.mark.parametrize(
    "name, value",
    [
        ("batch_size", 1.0),  # a float, not the int 1
        ("grid_lr_scale", 1),  # an int, not the float 1.0
        ("compile", 0),  # an int, not the bool False
        ("use_ref", 1),
        ("warmup_p", -0.0),  # another f64
        ("seed", 7),
        ("device", "cuda"),
        ("eps_law", [1.0000406, 0.001]),
        ("eps_law", [1, 0, 0]),  # a list of int
    ],
)
def test_a_setting_of_another_type_or_value_is_written(name, value):
    settings = {**BASELINE_SETTINGS, name: value}
    header = replace(sample_header(), coding=replace(sample_header().coding, encoder_settings=settings))
    payload = serialize_header(header)
    assert name.encode() in payload
    parsed = parse_header(payload, 0).coding.encoder_settings
    assert parsed == settings and type(parsed[name]) is type(value)
    assert serialize_header(parse_header(payload, 0)) == payload


def test_baseline_values_of_other_python_types_are_left_out():
    """numpy scalars and a tuple have the field bytes of the baseline's int, float and list."""
    settings = {**BASELINE_SETTINGS, "seed": np.int64(0), "warmup": np.float64(0.1), "eps_law": (1.0000406, 0.001, 0.0)}
    header = replace(sample_header(), coding=replace(sample_header().coding, encoder_settings=settings))
    assert serialize_header(header) == serialize_header(
        replace(header, coding=replace(header.coding, encoder_settings=BASELINE_SETTINGS)))


def test_settings_without_a_baseline_name_read_back_with_its_value():
    """The baseline is what an absent name means: a writer given fewer settings loses nothing it
    could say, but the reader cannot tell 'absent' from 'the baseline value'."""
    header = replace(sample_header(), coding=replace(sample_header().coding, encoder_settings={"lambda": 2.0}))
    parsed = parse_header(serialize_header(header), 0)
    assert parsed.coding.encoder_settings == {**BASELINE_SETTINGS, "lambda": 2.0}
    assert list(parsed.coding.encoder_settings) == sorted(parsed.coding.encoder_settings)


def test_a_1_2_head_with_baseline_settings_written_out_is_still_read():
    """Informational settings never stop a decode: a 1.2 HEAD from another writer that writes a
    baseline field out (here the sample's 1.1 HEAD, every setting written, relabelled 1.2) reads
    with those values, and the reference writer leaves them out again."""
    header_1_1 = sample_header_1_1()
    payload = bytearray(serialize_header(header_1_1))
    payload[0:8] = struct.pack("<4H", 1, 2, 1, 2)
    parsed = parse_header(bytes(payload), 100)
    assert parsed.coding.encoder_settings == {**BASELINE_SETTINGS, **header_1_1.coding.encoder_settings}
    assert len(serialize_header(parsed)) < len(payload)


def test_a_1_1_head_is_read_without_the_baseline():
    settings = {"lambda": 2.0, "seed": 0}
    header = replace(sample_header_1_1(), coding=replace(sample_header().coding, encoder_settings=settings))
    payload = serialize_header(header)
    assert b"seed" in payload
    assert parse_header(payload, 0).coding.encoder_settings == settings


def test_the_sample_settings_round_trip_in_1_1_and_1_2():
    for header in (sample_header(), sample_header_1_1()):
        reader = UarReader(io.BytesIO(write_stream(header, sample_goms())))
        assert reader.header.coding.encoder_settings == SETTINGS


def test_resuming_a_1_2_stream_compares_the_compact_head():
    header, goms = sample_header(), sample_goms()
    data = write_stream(header, goms)
    first = UarReader(io.BytesIO(data)).index[1].offset
    f = io.BytesIO(data[:first])
    writer, entries = UarWriter.resume(f, header)
    assert len(entries) == 1
    for gom in goms[1:]:
        writer.append_gom(gom)
    writer.finish()
    assert f.getvalue() == data


def test_the_1_1_example_records_are_smaller_in_1_2():
    header_1_1, gom = spec_example_1_1_records()
    header_1_2 = replace(header_1_1, writer_version=(1, 2), min_reader_version=(1, 2))
    assert len(serialize_gom(gom, header_1_1)) - len(serialize_gom(gom, header_1_2)) == (46 - 34) + (11 - 6)
