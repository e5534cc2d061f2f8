"""The INDX chunk (GOM index) and the fixed-size trailer that points to it (spec section 7)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from uarcodec.bitstream.chunks import FRAMING_BYTES, MAGIC
from uarcodec.bitstream.gom import GOM_HEADER_BYTES
from uarcodec.bitstream.primitives import PayloadBuilder, PayloadReader
from uarcodec.bitstream.records import GomIndexEntry
from uarcodec.errors import UarFormatError, UarSettingsError

ENTRY_BYTES = 28
TRAILER_MAGIC = b"UEND"
TRAILER_BYTES = 20
_TRAILER_BODY = struct.Struct("<QI4s")
_CRC = struct.Struct("<I")
_NAME = "INDX"


def serialize_index(entries: list[GomIndexEntry]) -> bytes:
    out = PayloadBuilder(UarSettingsError)
    out.u32(len(entries), "GOM count")
    for e in entries:
        out.u32(e.index, "gom_index")
        out.u64(e.offset, "offset")
        out.u64(e.length, "length")
        out.u32(e.first_frame, "first_frame")
        out.u32(e.num_frames, "num_frames")
    return out.bytes()


def parse_index(payload: bytes, offset: int) -> list[GomIndexEntry]:
    src = PayloadReader(payload, offset, _NAME)
    count = src.u32("GOM count")
    if len(payload) != 4 + ENTRY_BYTES * count:
        raise src.error(f"payload of {len(payload)} bytes does not hold {count} entries", at=offset)
    return [
        GomIndexEntry(
            index=src.u32("gom_index"),
            offset=src.u64("offset"),
            length=src.u64("length"),
            first_frame=src.u32("first_frame"),
            num_frames=src.u32("num_frames"),
        )
        for _ in range(count)
    ]


def check_index(
    entries: list[GomIndexEntry], header_end: int, index_offset: int, total_frames: int,
    min_gom_payload: int = GOM_HEADER_BYTES,
) -> None:
    """Raises UarFormatError unless the index is consistent (spec 7.1); a GOM chunk's payload
    is at least ``min_gom_payload`` bytes (its header: 16 bytes, 4 in format 1.4)."""
    pos, frame = header_end, 0
    for i, e in enumerate(entries):
        where = {"chunk": _NAME, "offset": index_offset + 8 + 4 + ENTRY_BYTES * i}
        if e.index != i:
            raise UarFormatError(f"entry {i} names GOM {e.index}", **where)
        if e.offset < pos or e.length < FRAMING_BYTES + min_gom_payload:
            raise UarFormatError(f"entry {i}: GOM chunk at {e.offset} overlaps or is too short", **where)
        pos = e.offset + e.length
        if e.first_frame != frame or e.num_frames < 1:
            raise UarFormatError(f"entry {i}: frames {e.first_frame}+{e.num_frames} out of order", **where)
        frame += e.num_frames
    if pos > index_offset:
        raise UarFormatError("the last GOM chunk runs into the index", chunk=_NAME, offset=index_offset)
    if frame != total_frames:
        raise UarFormatError(
            f"the index covers {frame} frames, the header says {total_frames}",
            chunk=_NAME,
            offset=index_offset,
        )


@dataclass(frozen=True)
class Trailer:
    index_offset: int
    index_length: int


def encode_trailer(trailer: Trailer) -> bytes:
    body = _TRAILER_BODY.pack(trailer.index_offset, trailer.index_length, TRAILER_MAGIC)
    return body + _CRC.pack(zlib.crc32(body) & 0xFFFFFFFF)


def decode_trailer(data: bytes, file_size: int) -> Trailer:
    """The trailer from the file's last 20 bytes, or UarFormatError when it is not valid."""
    at = file_size - TRAILER_BYTES
    if file_size < len(MAGIC) + TRAILER_BYTES or len(data) != TRAILER_BYTES:
        raise UarFormatError("file too short for a trailer", chunk="trailer", offset=max(at, 0))
    body = data[:16]
    index_offset, index_length, magic = _TRAILER_BODY.unpack(body)
    if magic != TRAILER_MAGIC:
        raise UarFormatError("no trailer magic", chunk="trailer", offset=at + 12)
    if _CRC.unpack(data[16:])[0] != zlib.crc32(body) & 0xFFFFFFFF:
        raise UarFormatError("trailer CRC mismatch", chunk="trailer", offset=at + 16)
    if index_offset < len(MAGIC) or index_offset + index_length != at:
        raise UarFormatError("trailer does not point to an index ending before it", chunk="trailer", offset=at)
    return Trailer(index_offset, index_length)
