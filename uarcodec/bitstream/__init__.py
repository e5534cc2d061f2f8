"""The .uar container: chunks, header, GOM records, index and trailer (see bitstream_spec.md).

Knows nothing of torch: it turns the records of ``records.py`` into bytes and back.
"""

from uarcodec.bitstream.chunks import MAGIC, encode_chunk
from uarcodec.bitstream.gom import parse_gom, parse_model, serialize_gom, serialize_model
from uarcodec.bitstream.header import FORMAT_VERSION, parse_header, serialize_header
from uarcodec.bitstream.reader import UarReader, read_header
from uarcodec.bitstream.writer import UarWriter

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "UarReader",
    "UarWriter",
    "encode_chunk",
    "parse_gom",
    "parse_header",
    "parse_model",
    "read_header",
    "serialize_gom",
    "serialize_header",
    "serialize_model",
]
