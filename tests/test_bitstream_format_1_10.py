"""Format 1.10: the latent family's ``context_order`` field (the wavefront order, spec 5.1, 5.2 and
16): only a 1.10 stream holds it, a 1.9 reader refuses such a stream in one line, and the
encoder writes 1.10 only where it uses the wavefront order."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from test_bitstream_samples import sample_goms_1_8, sample_header_1_9, sample_header_1_10, write_stream

from uarcodec.bitstream import UarReader, parse_header, serialize_header
from uarcodec.bitstream import header as header_module
from uarcodec.bitstream.records import CONTEXT_ORDER_FORMAT_VERSION, FORMAT_VERSION
from uarcodec.errors import UarFormatError, UarSettingsError, UarVersionError

SPEC = Path(__file__).resolve().parents[1] / "bitstream_spec.md"


def test_the_format_is_1_10_and_the_spec_says_so():
    assert FORMAT_VERSION == CONTEXT_ORDER_FORMAT_VERSION == (1, 10)
    text = SPEC.read_text()
    assert "This document is format version **(1, 10)**" in text
    assert "`context_order`" in text and "wavefront" in text


def test_only_a_1_10_header_holds_the_context_order():
    header = sample_header_1_10()
    payload = serialize_header(header)
    assert parse_header(payload, 0) == header
    older = dataclasses.replace(header, writer_version=(1, 9), min_reader_version=(1, 9))
    with pytest.raises(UarSettingsError, match="context_order needs format 1.10"):
        serialize_header(older)
    # the same payload with its versions set back to 1.9 (bytes 0 to 7: writer, min_reader)
    patched = bytes([1, 0, 9, 0, 1, 0, 9, 0]) + payload[8:]
    with pytest.raises(UarFormatError, match="context_order needs format 1.10") as err:
        parse_header(patched, 0)
    assert err.value.chunk == "HEAD"
    assert "context_order" not in sample_header_1_9().coding.arch


def test_a_1_9_reader_refuses_a_wavefront_stream_in_one_line(monkeypatch):
    data = write_stream(sample_header_1_10(), sample_goms_1_8())
    assert UarReader(io.BytesIO(data)).header.coding.arch["context_order"] == 1
    monkeypatch.setattr(header_module, "FORMAT_VERSION", (1, 9))
    with pytest.raises(UarVersionError, match="1.10") as err:
        UarReader(io.BytesIO(data))
    assert "\n" not in str(err.value)
