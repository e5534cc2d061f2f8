"""Format 1.4: varint fields, bfloat16 entropy parameters, words cut to their last nonzero
byte, compact field lists; 1.3 streams still decode; a stream rewritten in 1.4 decodes to the
same frames in fewer bytes."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

from test_bitstream_samples import assert_goms_equal, sample_goms, sample_header, write_stream
from uarcodec import api
from uarcodec.bitstream import UarReader, UarWriter, parse_gom, serialize_gom
from uarcodec.bitstream.fields import read_fields, write_fields
from uarcodec.bitstream.primitives import PayloadBuilder, PayloadReader, to_bf16, uvar_bytes
from uarcodec.bitstream.records import BASE_FORMAT_VERSION, EntropyModel, TensorRecord, word_byte_count, word_bytes
from uarcodec.errors import UarCodingError, UarFormatError, UarSettingsError
from uarcodec.pipeline.breakdown import tensor_roles
from uarcodec.pipeline.model_coding import recode_tensor, temporal_candidate

DATA = Path(__file__).parent / "data"
# A real stream of the format 1.3 encoder (version 0.5.0: `uar --threads 1 encode
# carphone_qcif_30f.y4m -frames 8 -p 4 -m 2 --preset ultrafast --size 20k`, four zero-flagged
# records), and the sha256 of its decoded frames (Y, U, V bytes of each frame in order) as the
# 0.5.0 decoder wrote them.
STREAM_1_3 = DATA / "format_1_3.uar"
STREAM_1_3_FRAMES_SHA256 = "9184d869eefb001a842b882ff769339cfc62f80ecb295eaec327f135b21b3a4f"


def _frames_sha256(path: Path) -> tuple[int, str]:
    digest, frames = hashlib.sha256(), 0
    with api.open_stream(path) as stream:
        for clip in stream.frames(device="cpu"):
            frames += clip.num_frames
            for plane in (clip.y, clip.u, clip.v):
                digest.update(plane.tobytes())
    return frames, digest.hexdigest()


# ----------------------------------------------------------------------------- primitives


@pytest.mark.parametrize("value, encoded", [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"),
                                            (2**32 - 1, "ffffffff0f")])
def test_uvar_is_leb128(value, encoded):
    assert uvar_bytes(value).hex() == encoded
    assert PayloadReader(bytes.fromhex(encoded), 0, "T").uvar("x") == value


@pytest.mark.parametrize("value, encoded", [(0, "00"), (-1, "01"), (1, "02"), (-64, "7f"), (64, "8001"),
                                            (-(2**31), "ffffffff0f"), (2**31 - 1, "feffffff0f")])
def test_svar_is_zigzag_leb128(value, encoded):
    out = PayloadBuilder(UarCodingError)
    out.svar(value, "s", -(2**31), 2**31 - 1)
    assert out.bytes().hex() == encoded
    assert PayloadReader(out.bytes(), 0, "T").svar("s", -(2**31), 2**31 - 1) == value


@pytest.mark.parametrize("data, why", [("8000", "shortest"), ("ff7f", "exceeds"), ("808080", "exceeds"),
                                       ("80", "truncated")])
def test_a_varint_has_one_encoding_and_a_maximum(data, why):
    with pytest.raises(UarFormatError, match=why):
        PayloadReader(bytes.fromhex(data), 0, "T").uvar("x", max_value=16000)


def test_bf16_rounds_to_nearest_even_and_is_stored_exactly():
    assert to_bf16(0.1) == 0.10009765625  # binary32 0x3DCCCCCD -> 0x3DCD
    assert to_bf16(1.0 + 2**-8) == 1.0  # a tie goes to the even mantissa
    assert to_bf16(1.0 + 3 * 2**-8) == 1.0 + 2**-6
    out = PayloadBuilder(UarCodingError)
    assert out.bf16(to_bf16(0.1), "m") == 0.10009765625
    assert out.bytes() == b"\xcd\x3d"
    assert PayloadReader(out.bytes(), 0, "T").bf16("m") == 0.10009765625
    with pytest.raises(UarCodingError, match="not a finite bfloat16"):
        PayloadBuilder(UarCodingError).bf16(0.1, "m")
    with pytest.raises(UarCodingError, match="not a finite bfloat16"):  # rounds to infinity
        PayloadBuilder(UarCodingError).bf16(3.4028235e38, "m")


# ----------------------------------------------------------------------------- field lists


def test_compact_field_lists_round_trip_and_are_shorter():
    fields = {"a": -(2**63), "b": 2**63 - 1, "c": 0.1, "d": "é", "e": True, "f": [1, -300, 2**40], "g": [0.5, -2.0],
              "h": [], "widths": [14, 11, 10, 9, 9, 9]}
    sizes = {}
    for compact in (False, True):
        out = PayloadBuilder(UarCodingError)
        write_fields(out, fields, "t", compact=compact)
        sizes[compact] = len(out.bytes())
        src = PayloadReader(out.bytes(), 0, "T")
        assert read_fields(src, "t", compact=compact) == fields
        src.expect_end()
    assert sizes[True] < sizes[False] - 60


def test_a_key_that_is_not_utf8_is_a_settings_error_in_either_layout():
    for compact in (False, True):
        with pytest.raises(UarSettingsError, match="UTF-8"):
            write_fields(PayloadBuilder(UarSettingsError), {"a\udc80": 1}, "t", compact=compact)


def test_the_header_of_a_1_4_stream_is_shorter_than_in_1_3():
    lengths = {}
    for version in ((1, 3), (1, 4)):
        data = write_stream(sample_header(writer_version=version, min_reader_version=version), [], finish=False)
        lengths[version] = int.from_bytes(data[12:16], "little")
        assert UarReader(io.BytesIO(data)).header == sample_header(writer_version=version,
                                                                   min_reader_version=version)
    assert lengths[(1, 4)] < lengths[(1, 3)]


# ----------------------------------------------------------------------------- records


def test_words_are_stored_up_to_their_last_nonzero_byte():
    words = np.array([0x01020304, 0x0000001D], np.uint32)
    assert word_byte_count(words) == 5 and word_bytes(words) == bytes.fromhex("040302011d")
    assert word_byte_count(np.zeros(0, np.uint32)) == 0


def test_a_1_4_gom_reads_back_and_is_smaller_than_in_1_3():
    header = sample_header()
    assert header.min_reader_version == BASE_FORMAT_VERSION == (1, 4)
    old = sample_header(writer_version=(1, 3), min_reader_version=(1, 3))
    for gom in sample_goms(layout=3):
        data = serialize_gom(gom, header)
        assert_goms_equal(parse_gom(data, 0, header), gom, layout=4)
        assert len(data) < len(serialize_gom(gom, old))


def _one_record_gom(record: TensorRecord) -> bytes:
    gom = sample_goms(layout=3)[2]  # one I-model of one frame
    model = dataclasses.replace(gom.models[0], tensors=[record])
    return serialize_gom(dataclasses.replace(gom, models=[model]), sample_header())


def _record(**changes) -> TensorRecord:
    base = TensorRecord((3, 4), 0, 0.25, 0.125, 0.90625, -2, 3, np.array([0x12345678, 0x1D], np.uint32),
                        EntropyModel.LAPLACE)
    return dataclasses.replace(base, **changes)


def test_the_writer_refuses_entropy_parameters_that_are_not_bfloat16():
    with pytest.raises(UarCodingError, match="mean .* not a finite bfloat16"):
        _one_record_gom(_record(mean=0.1))
    with pytest.raises(UarCodingError, match="flag parameter .* not a finite bfloat16"):
        _one_record_gom(_record(zero_flags=3.14159))
    with pytest.raises(UarCodingError, match="last coded word is 0"):
        _one_record_gom(_record(words=np.array([5, 0], np.uint32)))


def test_the_reader_refuses_what_1_4_never_writes():
    data = _one_record_gom(_record())
    header = sample_header()
    words = bytes.fromhex("785634121d")
    at = data.index(bytes([5]) + words)  # byte_count 5, then the words
    with pytest.raises(UarFormatError, match="last byte is 0"):
        parse_gom(data[:at] + bytes([6]) + words + b"\x00" + data[at + 6 :], 0, header)
    head_at = at - 1 - 1 - 2 - 2 - 4 - 2 - 1 - 1  # max, min, std, mean, step, dims, rank, head
    assert data[head_at] & 0x40 == 0
    with pytest.raises(UarFormatError, match="bit 6"):
        parse_gom(data[:head_at] + bytes([data[head_at] | 0x40]) + data[head_at + 1 :], 0, header)
    dims_at = head_at + 2
    assert data[dims_at : dims_at + 2] == b"\x03\x04"
    with pytest.raises(UarFormatError, match="shortest"):
        parse_gom(data[:dims_at] + b"\x83\x00" + data[dims_at + 1 :], 0, header)


# ----------------------------------------------------------------------------- real streams


def test_a_format_1_3_stream_still_decodes_to_the_same_frames():
    with open(STREAM_1_3, "rb") as f:
        assert UarReader(f).header.min_reader_version == (1, 3)
    assert _frames_sha256(STREAM_1_3) == (8, STREAM_1_3_FRAMES_SHA256)


def test_a_1_3_stream_rewritten_in_1_4_gives_the_same_frames_in_fewer_bytes(tmp_path):
    with open(STREAM_1_3, "rb") as f:
        reader = UarReader(f)
        header = dataclasses.replace(reader.header, writer_version=BASE_FORMAT_VERSION,
                                     min_reader_version=BASE_FORMAT_VERSION)
        goms = [reader.read_gom(k) for k in range(len(reader.index))]
    out = tmp_path / "new.uar"
    with open(out, "wb") as f:
        writer = UarWriter(f, header)
        for gom in goms:
            models = []
            for m in gom.models:
                roles = tensor_roles(header, m.num_frames)
                tensors = [recode_tensor(t, EntropyModel.LAPLACE, temporal_candidate(t.shape, r, EntropyModel.LAPLACE),
                                         0.05) for t, r in zip(m.tensors, roles)]
                models.append(dataclasses.replace(m, tensors=tensors))
            writer.append_gom(dataclasses.replace(gom, models=models))
        writer.finish()
    assert _frames_sha256(out) == (8, STREAM_1_3_FRAMES_SHA256)
    assert out.stat().st_size < STREAM_1_3.stat().st_size - 200
