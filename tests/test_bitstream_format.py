"""Round trips, versioning, chunk rules and field checks of the .uar container."""

from __future__ import annotations

import io
import math
import random
import struct
from dataclasses import replace

import numpy as np
import pytest

from test_bitstream_samples import (
    ARCH_FIELDS,
    SETTINGS,
    assemble,
    assert_goms_equal,
    rechecksum,
    sample_goms,
    sample_header,
    spec_example_bytes,
    write_stream,
)
from uarcodec.bitstream import FORMAT_VERSION, MAGIC, UarReader, UarWriter, read_header
from uarcodec.bitstream.records import ModelKind, RefMode
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
    goms[0].models[0].tensors[1].step = 0.1  # not exact in binary32
    reader = UarReader(io.BytesIO(write_stream(header, goms)))
    assert reader.read_gom(0).models[0].tensors[1].step == float(np.float32(0.1))


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
    assert FORMAT_VERSION == (1, 0)
    for version in [(2, 0), (1, 1), (300, 0)]:
        header = sample_header(writer_version=version, min_reader_version=version)
        data = write_stream(header, sample_goms())
        with pytest.raises(UarVersionError, match=f"{version[0]}.{version[1]}") as err:
            UarReader(io.BytesIO(data))
        assert err.value.chunk == "HEAD"
        with pytest.raises(UarVersionError):
            read_header(io.BytesIO(data))


def test_newer_writer_with_old_min_reader_is_read():
    header = sample_header(writer_version=(1, 7), min_reader_version=(1, 0))
    reader = UarReader(io.BytesIO(write_stream(header, sample_goms())))
    assert reader.header.writer_version == (1, 7)


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
        (0xC0, b"\x03", 0xC0),  # unknown ref mode
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
