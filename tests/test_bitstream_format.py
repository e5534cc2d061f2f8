"""Round trips, versioning, chunk rules and field checks of the .uar container (formats 1.0,
1.1 and 1.2)."""

from __future__ import annotations

import io
import math
import random
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from test_bitstream_samples import (
    assert_refused_without_writing,
    patch_gomd,
    gom_read_error,
    ARCH_FIELDS,
    SETTINGS,
    assemble,
    assert_goms_equal,
    rechecksum,
    sample_goms,
    sample_header,
    sample_header_1_0,
    spec_example_1_1_records,
    spec_example_1_1_stream,
    spec_example_bytes,
    spec_example_records,
    write_stream,
)
from uarcodec.bitstream import (
    FORMAT_VERSION,
    MAGIC,
    UarReader,
    UarWriter,
    parse_gom,
    read_header,
    serialize_gom,
    serialize_model,
)
from uarcodec.bitstream.records import BASE_FORMAT_VERSION, EntropyModel, ModelKind, RefMode, TensorRecord
from uarcodec.errors import (
    UarCodingError,
    UarFormatError,
    UarSettingsError,
    UarVersionError,
)

# ------------------------------------------------------------------------------ round trips


def test_stream_round_trips_field_for_field_in_random_order():
    header, goms = sample_header(), sample_goms()
    data = write_stream(header, goms)
    reader = UarReader(io.BytesIO(data))
    assert reader.header == header
    assert reader.header.coding.arch == ARCH_FIELDS
    assert reader.header.coding.encoder_settings == SETTINGS
    assert not reader.recovered
    assert reader.file_size == len(data)
    assert [(e.index, e.first_frame, e.num_frames) for e in reader.index] == [
        (0, 0, 12), (1, 12, 12), (2, 24, 1)
    ]
    order = [2, 0, 1, 1, 0, 2]
    random.Random(3).shuffle(order)
    for k in order:
        assert_goms_equal(reader.read_gom(k), goms[k])


def test_field_values_keep_their_types():
    reader = UarReader(io.BytesIO(write_stream(sample_header(), sample_goms())))
    arch = reader.header.coding.arch
    assert type(arch["bias"]) is bool and type(arch["dim"]) is int and type(arch["ratio"]) is float
    assert arch["strides"] == [5, 2, 2, 2] and all(type(v) is int for v in arch["strides"])
    assert all(type(v) is float for v in arch["scales"])
    assert arch["empty"] == [] and isinstance(arch["empty"], list)


def test_reals_are_stored_as_nearest_float32():
    header, goms = sample_header(), sample_goms()
    i = next(i for i, t in enumerate(goms[0].models[0].tensors) if not t.is_zero)  # a ZERO record has no step
    goms[0].models[0].tensors[i].step = 0.1  # not exact in binary32
    reader = UarReader(io.BytesIO(write_stream(header, goms)))
    assert reader.read_gom(0).models[0].tensors[i].step == float(np.float32(0.1))


def test_format_1_0_stream_round_trips_in_the_1_0_layout():
    header, goms = sample_header_1_0(), sample_goms(layout=0)
    assert header.tensor_layout == 0
    reader = UarReader(io.BytesIO(write_stream(header, goms)))
    assert reader.header == header and not reader.recovered
    for k in range(3):
        assert_goms_equal(reader.read_gom(k), goms[k], layout=0)


def test_read_header_alone_and_chunk_sizes_add_up():
    data = write_stream(sample_header(), sample_goms())
    assert read_header(io.BytesIO(data)) == sample_header()
    sizes = UarReader(io.BytesIO(data)).chunk_sizes()
    assert set(sizes) == {"magic", "HEAD", "GOMD", "INDX", "trailer"}
    assert sum(sizes.values()) == len(data)
    assert sizes["INDX"] == 12 + 4 + 28 * 3 and sizes["trailer"] == 20


def test_file_starts_with_magic_and_ends_with_trailer():
    data = write_stream(sample_header(), sample_goms())
    assert data[:8] == MAGIC == b"\x89UAR\r\n\x1a\n"
    assert data[-8:-4] == b"UEND"


def test_writer_flushes_each_gom_so_a_partial_file_is_readable():
    header, goms = sample_header(), sample_goms()
    buf = io.BytesIO()
    writer = UarWriter(buf, header)
    entry = writer.append_gom(goms[0])
    assert entry.offset + entry.length == len(buf.getvalue())
    reader = UarReader(io.BytesIO(buf.getvalue()))  # no index yet: recovered by scanning
    assert reader.recovered and [e.index for e in reader.index] == [0]
    assert_goms_equal(reader.read_gom(0), goms[0])


def test_not_a_uar_file():
    for data in [b"", b"\x89UAR", b"RIFF0000WAVEfmt " * 4, MAGIC]:
        with pytest.raises(UarFormatError):
            UarReader(io.BytesIO(data))


# ------------------------------------------------------------------------------ versions


def test_newer_min_reader_version_is_a_version_error():
    assert FORMAT_VERSION == (1, 10)
    for version in [(2, 0), (1, 11), (300, 0)]:
        header = sample_header(writer_version=version, min_reader_version=version)
        data = write_stream(header, sample_goms())
        with pytest.raises(UarVersionError, match=f"{version[0]}.{version[1]}") as err:
            UarReader(io.BytesIO(data))
        assert err.value.chunk == "HEAD"
        with pytest.raises(UarVersionError):
            read_header(io.BytesIO(data))


def test_newer_writer_with_old_min_reader_is_read():
    for min_reader, layout in [((1, 0), 0), ((1, 1), 1), ((1, 2), 2), ((1, 3), 3), ((1, 4), 4), ((1, 5), 5),
                               ((1, 6), 5), ((1, 7), 5), ((1, 8), 6)]:  # 1.6 and 1.7 changed no record layout
        header = sample_header(writer_version=(1, 10), min_reader_version=min_reader)
        goms = sample_goms(layout=layout)
        reader = UarReader(io.BytesIO(write_stream(header, goms)))
        assert reader.header.writer_version == (1, 10)
        assert reader.header.tensor_layout == layout
        for k in range(3):
            assert_goms_equal(reader.read_gom(k), goms[k], layout=layout)


def test_stream_versions_default_to_the_format_version():
    """The default header is that of a stream without context-coded tensors: a 1.4 stream
    (spec 5.2: a 1.5 writer writes 1.5 only where a stream may hold CONTEXT records)."""
    header = sample_header()
    assert header.writer_version == header.min_reader_version == BASE_FORMAT_VERSION == (1, 4)
    assert header.tensor_layout == 4
    data = write_stream(header, sample_goms())
    assert data[16:24] == bytes([1, 0, 4, 0, 1, 0, 4, 0])  # HEAD payload: versions 1.4, 1.4


# A real stream of the 1.0 encoder (uar encode before format 1.1), kept as it was written.
FORMAT_1_0_FILE = Path(__file__).resolve().parent / "data" / "format_1_0.uar"


def test_the_1_1_reader_reads_a_stream_of_the_1_0_encoder():
    data = FORMAT_1_0_FILE.read_bytes()
    reader = UarReader(io.BytesIO(data))
    header = reader.header
    assert header.writer_version == header.min_reader_version == (1, 0)
    assert header.tensor_layout == 0
    assert not reader.recovered and reader.index
    assert sum(e.num_frames for e in reader.index) == header.video.num_frames
    goms = [reader.read_gom(e.index) for e in reader.index]
    tensor_counts = set()
    for gom in goms:
        assert 1 <= len(gom.models) <= header.coding.gom_size
        assert gom.models[0].kind == ModelKind.I
        for model in gom.models:
            assert model.tensors
            tensor_counts.add(len(model.tensors))
            for t in model.tensors:
                assert t.entropy_model == EntropyModel.GAUSSIAN
                assert t.temporal is False and t.channel_mask is None
                assert t.ref_mode in (RefMode.NONE, RefMode.INTERP, RefMode.PREVIOUS)
                assert model.kind == ModelKind.P or t.ref_mode == RefMode.NONE
                assert t.words.dtype == np.uint32 and (t.words.size > 0) == (t.min_symbol != t.max_symbol)
    assert len(tensor_counts) == 1  # every model of the family codes the same tensors
    assert {m.kind for g in goms for m in g.models} == set(ModelKind)
    # the records written again with the stream's own (1.0) header give the very same file
    assert write_stream(header, goms) == data


def test_version_check_comes_before_the_rest_of_the_header():
    """A future major version may change everything after the versions."""
    data = bytearray(write_stream(sample_header(min_reader_version=(2, 0)), sample_goms()))
    data[8 + 8 + 8 : 8 + 8 + 40] = b"\xff" * 32  # garbage after the versions
    rechecksum(data, 8)
    with pytest.raises(UarVersionError):
        UarReader(io.BytesIO(bytes(data)))


def test_unknown_critical_chunk_is_a_version_error():
    data = assemble(sample_header(), sample_goms(), header_region=[(b"XTRA", b"future")])
    with pytest.raises(UarVersionError, match="XTRA"):
        UarReader(io.BytesIO(data))
    # also when the index is gone and the reader scans
    with pytest.raises(UarVersionError, match="XTRA"):
        UarReader(io.BytesIO(data[:-20]))


def test_unknown_optional_chunks_are_skipped():
    header, goms = sample_header(), sample_goms()
    data = assemble(header, goms, header_region=[(b"meta", b"x" * 10)],
                    after_gom={0: [(b"note", b"hello")], 1: [(b"tImE", b"")]})
    for blob, recovered in [(data, False), (data[:-20], True)]:
        reader = UarReader(io.BytesIO(blob))
        assert reader.recovered == recovered
        assert reader.header == header
        for k in (2, 0, 1):
            assert_goms_equal(reader.read_gom(k), goms[k])
    sizes = UarReader(io.BytesIO(data)).chunk_sizes()
    assert sizes["meta"] == 22 and sum(sizes.values()) == len(data)


# ------------------------------------------------------------------------------ writer checks


def _bad_gom(change):
    goms = sample_goms()
    assert not goms[0].models[0].tensors[0].is_zero  # a ZERO record stores no step, mean, std, symbols
    change(goms[0])
    return goms[0]


@pytest.mark.parametrize(
    "change",
    [
        lambda g: setattr(g.models[0].tensors[0], "std", 0.0),
        lambda g: setattr(g.models[0].tensors[0], "std", 1e-50),  # 0 as float32
        lambda g: setattr(g.models[0].tensors[0], "step", -0.5),
        lambda g: setattr(g.models[0].tensors[0], "step", math.inf),
        lambda g: setattr(g.models[0].tensors[0], "mean", math.nan),
        lambda g: setattr(g.models[0].tensors[0], "mean", 1e40),
        lambda g: setattr(g.models[0].tensors[0], "min_symbol", 10**6),
        lambda g: setattr(g.models[0].tensors[0], "max_symbol", 2**31),
        lambda g: setattr(g.models[0].tensors[0], "shape", (2,) * 9),
        lambda g: setattr(g.models[0].tensors[0], "shape", (3, 0)),
        lambda g: setattr(g.models[0].tensors[0], "shape", (2**16, 2**16)),
        lambda g: setattr(g.models[0].tensors[0], "words", np.array([1.5])),
        lambda g: setattr(g.models[0].tensors[0], "words", np.array([-1])),
        lambda g: setattr(g.models[0].tensors[0], "words", np.zeros((2, 2), np.uint32)),
        lambda g: setattr(g.models[0].tensors[0], "ref_mode", RefMode.INTERP),  # I-model
        lambda g: setattr(g.models[0].tensors[0], "ref_mode", RefMode.LAST),  # I-model
        lambda g: setattr(g.models[0].tensors[0], "ref_mode", 7),
        lambda g: setattr(g.models[0], "kind", ModelKind.P),  # first model must be I
        lambda g: setattr(g.models[0], "eps", 0.5),  # I-model eps is 1
        lambda g: setattr(g.models[1], "eps", 1.5),
        lambda g: setattr(g.models[1], "seed", 2**32),
        lambda g: setattr(g.models[1], "num_frames", 5),  # > p
        lambda g: setattr(g.models[1], "num_frames", 3),  # does not add up
        lambda g: g.models.append(g.models[1]),  # > m models
        lambda g: g.models.clear(),
    ],
)
def test_writer_rejects_invalid_gom_records_and_writes_nothing(change):
    buf = io.BytesIO()
    writer = UarWriter(buf, sample_header())
    before = buf.getvalue()
    with pytest.raises(UarCodingError):
        writer.append_gom(_bad_gom(change))
    assert buf.getvalue() == before and writer.entries == []


def test_writer_enforces_gom_order_and_full_coverage():
    header, goms = sample_header(), sample_goms()
    writer = UarWriter(io.BytesIO(), header)
    with pytest.raises(UarCodingError, match="out of order"):
        writer.append_gom(goms[1])
    writer.append_gom(goms[0])
    writer.append_gom(goms[1])
    with pytest.raises(UarSettingsError, match="cover 24 frames"):
        writer.finish()
    writer.append_gom(goms[2])
    writer.finish()
    with pytest.raises(UarSettingsError, match="finished"):
        writer.append_gom(goms[2])


@pytest.mark.parametrize(
    "fields",
    [
        {"x": [1, 2.5]},
        {"x": math.nan},
        {"x": [math.inf]},
        {"x": {"nested": 1}},
        {"x": None},
        {"x": 2**63},
        {"": 1},
        {"k" * 256: 1},
    ],
)
def test_writer_rejects_unserialisable_fields(fields):
    header = sample_header()
    header = replace(header, coding=replace(header.coding, arch=fields))
    with pytest.raises(UarSettingsError):
        UarWriter(io.BytesIO(), header)


@pytest.mark.parametrize(
    "video_change",
    [{"width": 0}, {"height": 70000}, {"num_frames": 0}, {"pix_fmt": 5}],
)
def test_writer_rejects_invalid_headers(video_change):
    header = sample_header()
    header = replace(header, video=replace(header.video, **video_change))
    with pytest.raises(UarSettingsError):
        UarWriter(io.BytesIO(), header)


# ------------------------------------------------------------------------------ reader checks
# Patches of the spec's example stream (bitstream_spec.md, Appendix B) at documented offsets,
# with the chunk CRC recomputed so that only the field check can catch them.

HEAD_AT, GOMD_AT = 0x08, 0x8E


def _patched(offset: int, new: bytes, chunk_at: int) -> bytes:
    data = bytearray(spec_example_bytes())
    data[offset : offset + len(new)] = new
    rechecksum(data, chunk_at)
    return bytes(data)


F32 = struct.Struct("<f").pack
U32 = struct.Struct("<I").pack


@pytest.mark.parametrize(
    "offset, new, error_at",
    [
        (0xA6, b"\x02", 0xA6),  # kind 2
        (0xA6, b"\x01", 0xA6),  # first model is P
        (0xA7, U32(3), 0xA7),  # model frames > p
        (0xAF, F32(0.5), 0xAF),  # I-model eps != 1
        (0xB7, b"\x09", 0xB7),  # rank 9
        (0xB8, U32(0), 0xB8),  # zero dimension
        (0xB8, U32(2**20) + U32(2**20), 0xBC),  # 2^40 elements
        (0xC0, b"\x01", 0xC0),  # I-model tensor with INTERP
        (0xC0, b"\x03", 0xC0),  # I-model tensor with LAST (and no LAST in 1.0)
        (0xC0, b"\x04", 0xC0),  # unknown ref mode
        (0xF3, b"\x03", 0xF3),  # LAST (3) in a 1.0 stream: 1.0 allows ref_mode 0..2 only
        (0xF3, b"\x04", 0xF3),  # unknown ref mode, P-model
        (0xC1, F32(0.0), 0xC1),  # step 0
        (0xC5, F32(math.nan), 0xC5),  # mean NaN
        (0xC9, F32(-1.0), 0xC9),  # std < 0
        (0xC9, F32(math.inf), 0xC9),  # std inf
        (0xCD, struct.pack("<i", 5), 0xD1),  # min > max
        (0xD5, U32(0xFFFFFFFF), 0xD5),  # word count beyond the chunk
        (0xE6, F32(1.5), 0xE6),  # P eps > 1
        (0xA2, U32(3), 0xA2),  # more models than m
        (0x9E, U32(4), 0x9E),  # frames past the video
    ],
)
def test_reader_rejects_bad_gom_fields_naming_chunk_and_offset(offset, new, error_at):
    reader = UarReader(io.BytesIO(_patched(offset, new, GOMD_AT)))
    with pytest.raises(UarFormatError) as err:
        reader.read_gom(0)
    assert err.value.chunk == "GOMD"
    assert err.value.offset == error_at


@pytest.mark.parametrize(
    "offset, new, error_at",
    [
        (0x18, U32(0), 0x18),  # width 0
        (0x2C, b"\x07", 0x2C),  # pix_fmt 7
        (0x2E, b"\x02", 0x2E),  # color range 2
        (0x2F, U32(0), 0x2F),  # p = 0
        (0x40, b"\x07", 0x40),  # unknown field tag
        (0x3D, b"zzz", 0x49),  # keys out of order ("zzz" > "ks")
        (0x4E, U32(0xFFFFFFFF), 0x4E),  # list length beyond the payload
        (0x68, b"\xff\xfe", 0x66),  # coder version not UTF-8
        (0x6E, b"\x02", 0x6E),  # output space 2
        (0x78, b"\x02", 0x78),  # bool byte 2
        (0x82, struct.pack("<d", math.nan), 0x82),  # NaN float field
    ],
)
def test_reader_rejects_bad_header_fields_naming_chunk_and_offset(offset, new, error_at):
    with pytest.raises(UarFormatError) as err:
        UarReader(io.BytesIO(_patched(offset, new, HEAD_AT)))
    assert err.value.chunk == "HEAD"
    assert err.value.offset == error_at


def test_huge_length_fields_are_rejected_without_allocating():
    data = bytearray(spec_example_bytes())
    data[HEAD_AT + 4 : HEAD_AT + 8] = U32(0xFFFFFFF0)
    with pytest.raises(UarFormatError) as err:
        UarReader(io.BytesIO(bytes(data)))
    assert err.value.chunk == "HEAD"


def test_crc_mismatch_names_the_chunk():
    data = bytearray(spec_example_bytes())
    data[0xC1] ^= 0x40
    reader = UarReader(io.BytesIO(bytes(data)))
    with pytest.raises(UarFormatError, match="CRC") as err:
        reader.read_gom(0)
    assert err.value.chunk == "GOMD"


# ------------------------------------------------------------------------------ format 1.1 tensor records
# Patches of the 1.1 example (bitstream_spec.md, section 6.1.1: its GOMD chunk at 0x8E, the
# I-model's tensor flags at 0xC1, entropy_model 0xC2, mask 0xD7..0xD8, the P-model's ZERO
# record's ref_mode at 0xFF and flags at 0x100), CRC recomputed: spec 6.2, checks 8 and 8a.


def _patched_1_1(offset: int, new: bytes, data: bytes | None = None) -> bytes:
    return patch_gomd(spec_example_1_1_stream() if data is None else data, offset, new, GOMD_AT)


def test_the_1_1_example_offsets_are_the_documented_ones():
    data = spec_example_1_1_stream()
    assert data[GOMD_AT : GOMD_AT + 4] == b"GOMD"
    assert data[0xC0:0xC3] == b"\x00\x06\x01"  # ref_mode NONE, CHANNEL_MASK | TEMPORAL, Laplace
    assert data[0xD7:0xD9] == b"\x0d\x02"
    assert data[0xFF:0x101] == b"\x03\x01"  # LAST, ZERO


@pytest.mark.parametrize(
    "offset, new",
    [
        (0xC1, b"\x0e"),  # unknown flag bit 3
        (0xC1, b"\x86"),  # unknown flag bit 7
        (0xC1, b"\x07"),  # ZERO with CHANNEL_MASK and TEMPORAL
        (0x100, b"\x03"),  # ZERO with CHANNEL_MASK
        (0x100, b"\x05"),  # ZERO with TEMPORAL
        (0x100, b"\x09"),  # ZERO with an unknown bit
    ],
)
def test_reader_rejects_invalid_flags(offset, new):
    assert gom_read_error(_patched_1_1(offset, new)).offset == offset


@pytest.mark.parametrize("model", [b"\x02", b"\xff"])
def test_reader_rejects_an_unknown_entropy_model(model):
    assert gom_read_error(_patched_1_1(0xC2, model)).offset == 0xC2


def test_reader_rejects_a_mask_that_keeps_no_channel():
    assert gom_read_error(_patched_1_1(0xD7, b"\x00\x00")).offset == 0xD7


@pytest.mark.parametrize("mask", [b"\x0d\x06", b"\x0d\x82", b"\x0d\xfe"])  # channel 10, 15, 9..15 of 10
def test_reader_rejects_a_mask_with_a_padding_bit_set(mask):
    assert gom_read_error(_patched_1_1(0xD7, mask)).offset == 0xD7


@pytest.mark.parametrize(
    "offset, new",
    [
        (0xFF, b"\x04"),  # unknown ref mode
        (0xC0, b"\x03"),  # LAST in an I-model
        (0xC0, b"\x02"),  # PREVIOUS in an I-model
    ],
)
def test_reader_rejects_bad_ref_modes_in_1_1(offset, new):
    assert gom_read_error(_patched_1_1(offset, new)).offset == offset


@pytest.mark.parametrize(
    "offset, new",
    [
        (0xC3, F32(0.0)),  # step 0 (the 1.1 layout moves the fields by 2 bytes)
        (0xC7, F32(math.inf)),  # location inf
        (0xCB, F32(0.0)),  # Laplace scale 0
        (0xCF, struct.pack("<i", 3)),  # min_symbol > max_symbol, found at max_symbol
        (0xD9, U32(0xFFFFFFFF)),  # word count beyond the chunk
    ],
)
def test_reader_checks_the_old_fields_at_their_1_1_offsets(offset, new):
    error_at = 0xD3 if offset == 0xCF else offset
    assert gom_read_error(_patched_1_1(offset, new)).offset == error_at


def _rank_0_stream() -> bytes:
    """The 1.1 example with the I-model's tensor replaced by a coded scalar: its rank at 0xB7,
    ref_mode 0xB8, flags 0xB9."""
    header, gom = spec_example_1_1_records()
    gom.models[0].tensors[0] = TensorRecord((), RefMode.NONE, 0.25, 0.0, 1.5, -3, 4,
                                            np.array([0x12345678], np.uint32), EntropyModel.LAPLACE)
    data = write_stream(header, [gom])
    assert data[0xB7:0xBB] == b"\x00\x00\x00\x01"
    return data


@pytest.mark.parametrize("flags", [b"\x02", b"\x04", b"\x06"])  # CHANNEL_MASK, TEMPORAL, both
def test_reader_rejects_mask_or_temporal_on_a_rank_0_tensor(flags):
    assert gom_read_error(_patched_1_1(0xB9, flags, _rank_0_stream())).offset == 0xB9


def test_a_1_0_stream_has_no_flags_byte():
    """The 1.0 layout has no flags or entropy_model: the step follows ref_mode; the 1.1 layout
    of the same records adds the two bytes (and makes the all-0 P-model tensor a ZERO record)."""
    header, gom = spec_example_records()
    assert header.tensor_layout == 0
    payload = serialize_gom(gom, header)
    tensor_at = 16 + 17 + 1 + 8  # GOM header, model header, rank, dims: ref_mode
    assert payload[tensor_at : tensor_at + 5] == b"\x00" + struct.pack("<f", 0.25)
    # the same records in a 1.1 GOM: flags 0 and entropy model 0 after ref_mode
    header_1_1 = replace(header, writer_version=(1, 1), min_reader_version=(1, 1))
    payload_1_1 = serialize_gom(gom, header_1_1)
    assert payload_1_1[tensor_at : tensor_at + 3] == b"\x00\x00\x00"
    assert len(payload_1_1) == len(payload) + 2 - ((26 + 4) - 7)  # I tensor: +2; P tensor: a ZERO record
    assert_goms_equal(parse_gom(payload_1_1, 0, header_1_1), gom)
    with pytest.raises(UarFormatError):  # bytes of one layout are not a record of the other
        parse_gom(payload, 0, header_1_1)


# ------------------------------------------------------------------------------ 1.1 writer checks
# The writer refuses (UarCodingError, nothing written) every record the reader would reject.


def _mask(*kept, n=10):
    return np.array([c in kept for c in range(n)])


def _coded_scalar(**changes):
    fields = dict(shape=(), ref_mode=RefMode.NONE, step=0.25, mean=0.0, std=1.5, min_symbol=-3, max_symbol=4,
                  words=np.array([0x12345678], np.uint32))
    fields.update(changes)
    return TensorRecord(**fields)


def _i_tensor(gom):
    return gom.models[0].tensors[0]


@pytest.mark.parametrize(
    "change",
    [
        lambda g: setattr(_i_tensor(g), "channel_mask", _mask(0, n=9)),  # mask too short
        lambda g: setattr(_i_tensor(g), "channel_mask", _mask(0, n=11)),  # mask too long
        lambda g: setattr(_i_tensor(g), "channel_mask", _mask(0, 3).reshape(2, 5)),  # not 1-D
        lambda g: setattr(_i_tensor(g), "channel_mask", _mask()),  # keeps no channel, symbols not all 0
        lambda g: setattr(_i_tensor(g), "entropy_model", 2),
        lambda g: setattr(_i_tensor(g), "ref_mode", RefMode.LAST),  # I-model
        lambda g: setattr(_i_tensor(g), "ref_mode", 4),
        lambda g: setattr(g.models[1].tensors[0], "ref_mode", 4),  # also on a ZERO record
        lambda g: g.models[0].tensors.__setitem__(0, _coded_scalar(temporal=True)),  # rank 0
        lambda g: g.models[0].tensors.__setitem__(0, _coded_scalar(channel_mask=np.array([True]))),  # rank 0
    ],
    ids=["mask-short", "mask-long", "mask-2d", "mask-empty", "model-2", "last-in-I", "ref-4", "zero-ref-4",
         "temporal-rank-0", "mask-rank-0"],
)
def test_writer_refuses_invalid_1_1_records_and_writes_nothing(change):
    header, gom = spec_example_1_1_records()
    change(gom)
    assert_refused_without_writing(header, gom)


@pytest.mark.parametrize(
    "change",
    [
        lambda t: setattr(t, "entropy_model", EntropyModel.LAPLACE),
        lambda t: setattr(t, "temporal", True),
        lambda t: setattr(t, "channel_mask", np.array([True, False, True, True])),
        lambda t: setattr(t, "ref_mode", RefMode.LAST),  # 1.0 allows ref_mode 0..2 only
    ],
    ids=["laplace", "temporal", "mask", "last"],
)
def test_writer_refuses_1_1_fields_in_a_1_0_stream(change):
    header, gom = spec_example_records()  # the P-model's tensor has shape (4,)
    assert header.tensor_layout == 0
    change(gom.models[1].tensors[0])
    gom.models[1].tensors[0].min_symbol = -1  # not all 0, so that nothing hides the field
    assert_refused_without_writing(header, gom)


# ------------------------------------------------------------------------------ ZERO records and sizes


def _tensor_bytes(t: TensorRecord, layout: int) -> int:
    """The size of a tensor record, field by field as spec 6.1 lists them: rank (1), dims
    (4 each), ref_mode (1), [1.1: flags (1), entropy_model (1)], step, mean, std, min_symbol,
    max_symbol, word_count (4 each), [mask], words (4 each); a 1.1 ZERO record stops after
    flags. (Appendix B agrees: its I-model tensor, rank 2 and one word, is 0xdd - 0xb7 = 38
    bytes.) 1.2: head (1), rank (1), dims (2 each when SHORT, else 4), a ZERO record stops
    there; step, mean, std (4 each), min_symbol, max_symbol and word_count (2 each when SHORT,
    else 4), [mask], words (4 each). 1.4: head (1), rank (1), dims (uvar), a ZERO record stops
    there; step (4), mean, std (2 each), min_symbol, max_symbol (svar), [mask], byte_count
    (uvar), the words' bytes up to the last nonzero one."""
    rank, words = len(t.shape), int(np.asarray(t.words).size)
    if layout == 4:
        return _tensor_bytes_1_4(t)
    if layout == 0:
        return 26 + 4 * rank + 4 * words
    mask = 0 if t.channel_mask is None else (t.shape[0] + 7) // 8
    if layout == 1:
        return 3 + 4 * rank if t.is_zero else 28 + 4 * rank + 4 * words + mask
    width = 2 if max(t.shape, default=0) <= 65535 else 4
    if t.is_zero:
        return 2 + width * rank
    if width == 2 and -32768 <= t.min_symbol and t.max_symbol <= 32767 and words <= 65535:
        return 20 + 2 * rank + 4 * words + mask
    return 26 + 4 * rank + 4 * words + mask


def _uvar_bytes(v: int) -> int:
    return max(1, math.ceil(v.bit_length() / 7))


def _svar_bytes(v: int) -> int:
    return _uvar_bytes(2 * v if v >= 0 else -2 * v - 1)


def _tensor_bytes_1_4(t: TensorRecord) -> int:
    head = 2 + sum(_uvar_bytes(d) for d in t.shape)
    if t.is_zero:
        return head
    mask = 0 if t.channel_mask is None else (t.shape[0] + 7) // 8
    words = np.asarray(t.words)
    stored = 0 if not words.size else 4 * (words.size - 1) + math.ceil(int(words[-1]).bit_length() / 8)
    return (head + 4 + 2 + 2 + (2 if t.zero_flags is not None else 0) + _svar_bytes(t.min_symbol)
            + _svar_bytes(t.max_symbol) + mask + _uvar_bytes(stored) + stored)


def _model_header_bytes(model, layout: int) -> int:
    if layout < 4:
        return 17
    return 1 + _uvar_bytes(model.num_frames) + 4 + 4 + _uvar_bytes(len(model.tensors))


def _gom_header_bytes(gom, layout: int) -> int:
    if layout < 4:
        return 16
    return sum(_uvar_bytes(v) for v in (gom.index, gom.first_frame, gom.num_frames, len(gom.models)))


@pytest.mark.parametrize("layout", [0, 1, 2, 4])
def test_record_sizes_are_those_of_the_spec(layout):
    version = (1, layout)
    header = sample_header(writer_version=version, min_reader_version=version)
    for gom in sample_goms(layout=layout):
        for j, model in enumerate(gom.models):
            want = _model_header_bytes(model, layout) + sum(_tensor_bytes(t, layout) for t in model.tensors)
            assert len(serialize_model(model, j, header)) == want
        assert len(serialize_gom(gom, header)) == _gom_header_bytes(gom, layout) + sum(
            _model_header_bytes(m, layout) + sum(_tensor_bytes(t, layout) for t in m.tensors) for m in gom.models)


@pytest.mark.parametrize(
    "zero",
    [
        dict(),
        dict(temporal=True, entropy_model=EntropyModel.LAPLACE),
        dict(channel_mask=np.zeros(3, bool)),  # no channel coded
        dict(step=0.1, mean=-3.5, std=9.0),  # the model of a ZERO record is not stored
    ],
)
def test_an_all_zero_tensor_is_a_zero_record_in_1_1(zero):
    fields = dict(shape=(3, 4), ref_mode=RefMode.INTERP, step=0.5, mean=0.25, std=2.0, min_symbol=0,
                  max_symbol=0, words=np.zeros(0, np.uint32))
    fields.update(zero)
    t = TensorRecord(**fields)
    assert t.is_zero
    header, gom = spec_example_1_1_records()
    gom.models[1].tensors[0] = t
    gom.models[1].num_frames = 1
    payload = serialize_gom(gom, header)
    tensor_at = len(payload) - (3 + 4 * 2)
    assert payload[tensor_at:] == b"\x02" + U32(3) + U32(4) + b"\x01\x01"  # rank, dims, INTERP, ZERO
    got = parse_gom(payload, 0, header).models[1].tensors[0]
    assert (got.shape, got.ref_mode, got.is_zero) == ((3, 4), RefMode.INTERP, True)
    assert (got.step, got.mean, got.std, got.min_symbol, got.max_symbol) == (1.0, 0.0, 1.0, 0, 0)
    assert got.words.size == 0 and got.words.dtype == np.uint32 and got.channel_mask is None
    assert got.coded_elements == 12


def test_a_masked_tensor_whose_kept_symbols_are_all_0_is_not_a_zero_record():
    t = TensorRecord((3, 4), RefMode.INTERP, 0.5, 0.25, 2.0, 0, 0, np.zeros(0, np.uint32),
                     channel_mask=np.array([False, True, False]))
    assert not t.is_zero and t.coded_elements == 4
    header, gom = spec_example_1_1_records()
    gom.models[1].tensors[0] = t
    payload = serialize_gom(gom, header)
    assert_goms_equal(parse_gom(payload, 0, header), gom)


@pytest.mark.parametrize("flags", [0x00, 0x04])  # no flag, TEMPORAL
def test_a_parsed_1_1_record_with_all_symbols_0_is_rejected_or_written_back_identically(flags):
    """The fuzz property of test_bitstream_fuzz.py (a GOM payload that parses is canonical:
    writing its records gives the same bytes), on the one all-0 record the writer never
    produces: not ZERO, no mask, min_symbol = max_symbol = 0."""
    header, gom = spec_example_1_1_records()
    gom.models[0].tensors[0] = TensorRecord((4,), RefMode.NONE, 0.25, 0.0, 1.0, -1, 0, np.zeros(0, np.uint32))
    payload = bytearray(serialize_gom(gom, header))
    flags_at = 16 + 17 + 1 + 4 + 1
    min_at = flags_at + 2 + 12
    assert payload[flags_at] == 0x00 and payload[min_at : min_at + 4] == struct.pack("<i", -1)
    payload[flags_at] = flags
    payload[min_at : min_at + 4] = struct.pack("<i", 0)
    try:
        parsed = parse_gom(bytes(payload), 0, header)
    except UarFormatError:
        return
    assert serialize_gom(parsed, header) == bytes(payload)
