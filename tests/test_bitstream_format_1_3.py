"""Format 1.3: zero-flagged tensor records (head bit 7 and a float32 flag parameter, spec 6.1.3),
written and read exactly, refused in older layouts, checked field by field (in the 1.3 layout:
1.4 stores the same records in its own, tests/test_bitstream_compact.py)."""

from __future__ import annotations

import struct
from dataclasses import replace

import numpy as np
import pytest

from test_bitstream_samples import sample_header as _sample_header
from uarcodec.bitstream import parse_gom, serialize_gom
from uarcodec.bitstream.records import EntropyModel, GomRecord, ModelKind, ModelRecord, RefMode, TensorRecord
from uarcodec.coding.entropy import encode_zero_flagged
from uarcodec.coding.zero_flags import flag_param
from uarcodec.errors import UarCodingError, UarFormatError
from uarcodec.pipeline.model_coding import tensor_codes

Q = np.array([0, 0, 3, 0, -1, 0, 1], np.int32)
# offsets in the GOMD payload of the one record: GOM header 16, model header 17, then head (1),
# rank (1), one SHORT dimension (2), step, mean, std, flag parameter, min, max (2 each), word count
HEAD, FLAG_PARAM, MAX_SYMBOL, WORD_COUNT = 33, 49, 55, 57


def sample_header(**changes):
    """The sample header of a format 1.3 stream, unless ``changes`` say otherwise."""
    return _sample_header(**{"writer_version": (1, 3), "min_reader_version": (1, 3), **changes})


def _record() -> TensorRecord:
    a = float(np.float32(flag_param(4 / 7)))
    enc = encode_zero_flagged(Q, -0.5, 1.0, a, model=EntropyModel.LAPLACE)
    return TensorRecord((7,), RefMode.NONE, 0.25, -0.5, 1.0, enc.min_symbol, enc.max_symbol, enc.words,
                        EntropyModel.LAPLACE, zero_flags=a)


def _gom(t: TensorRecord) -> GomRecord:
    return GomRecord(0, 0, 4, [ModelRecord(ModelKind.I, 4, 7, 1.0, [t])])


def _parse(payload: bytes, header=None):
    return parse_gom(payload, 0, header or sample_header())


def test_a_zero_flagged_record_round_trips_with_four_more_bytes():
    header = sample_header()
    assert header.min_reader_version == (1, 3)
    t = _record()
    payload = serialize_gom(_gom(t), header)
    assert payload[HEAD] & 0x80 and payload[HEAD] & 0x20  # zero flags, Laplace
    assert struct.unpack_from("<f", payload, FLAG_PARAM)[0] == t.zero_flags
    got = _parse(payload).models[0].tensors[0]
    assert got.zero_flags == t.zero_flags and got.entropy_model == EntropyModel.LAPLACE
    assert np.array_equal(tensor_codes(got), Q)
    plain = replace(t, zero_flags=None)
    assert len(payload) == len(serialize_gom(_gom(plain), header)) + 4


def test_the_spec_test_vector():
    """bitstream_spec.md, section 6.1.3: the example's flag parameter and words."""
    t = _record()
    assert struct.pack("<f", t.zero_flags) == bytes.fromhex("cf964f40")  # 0x404F96CF
    assert t.words.tolist() == [4153308752, 6] and (t.min_symbol, t.max_symbol) == (-1, 2)


def test_older_layouts_have_no_zero_flags():
    payload = serialize_gom(_gom(_record()), sample_header())
    header_1_2 = sample_header(writer_version=(1, 2), min_reader_version=(1, 2))
    with pytest.raises(UarFormatError, match="reserved bit 7"):
        _parse(payload, header_1_2)
    with pytest.raises(UarCodingError, match="zero flags need format 1.3"):
        serialize_gom(_gom(_record()), header_1_2)


@pytest.mark.parametrize("value", [0.0, float("nan"), float("inf")])
def test_a_flag_parameter_that_names_no_model_is_refused(value):
    payload = bytearray(serialize_gom(_gom(_record()), sample_header()))
    struct.pack_into("<f", payload, FLAG_PARAM, value)
    with pytest.raises(UarFormatError, match="flag parameter"):
        _parse(bytes(payload))
    with pytest.raises(UarCodingError, match="flag parameter"):
        serialize_gom(_gom(replace(_record(), zero_flags=value)), sample_header())


def test_zero_flagged_records_are_checked():
    payload = serialize_gom(_gom(_record()), sample_header())
    no_words = bytearray(payload[:WORD_COUNT]) + b"\x00\x00"  # word count 0, no words
    with pytest.raises(UarFormatError, match="no words"):
        _parse(bytes(no_words))
    zero_and_flags = bytearray(payload)
    zero_and_flags[HEAD] = 0x80 | (0x01 << 2) | 0x40  # ZERO with zero flags
    with pytest.raises(UarFormatError, match="ZERO record has no zero flags"):
        _parse(bytes(zero_and_flags))
    # a record whose every integer is 0 is a ZERO record even in 1.3; but min = max = 0 with
    # zero flags is a real record (every nonzero value is 1)
    ones = np.array([0, 1, 0, 1], np.int32)
    enc = encode_zero_flagged(ones, 0.0, 1.0, 0.5)
    t = TensorRecord((4,), RefMode.NONE, 0.25, 0.0, 1.0, 0, 0, enc.words, EntropyModel.LAPLACE, zero_flags=0.5)
    assert not t.is_zero
    got = _parse(serialize_gom(_gom(t), sample_header())).models[0].tensors[0]
    assert np.array_equal(tensor_codes(got), ones)
    with pytest.raises(UarCodingError, match="max_symbol must be below"):
        serialize_gom(_gom(replace(t, max_symbol=2**31 - 1)), sample_header())
