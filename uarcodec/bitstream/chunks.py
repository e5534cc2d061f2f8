"""Chunk framing (spec sections 3 and 4): magic, type/length/payload/CRC, critical vs optional,
and a bounds-checked view of the stream file."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from uarcodec.errors import UarCodingError, UarFormatError, UarVersionError

MAGIC = b"\x89UAR\r\n\x1a\n"
CHUNK_HEAD = b"HEAD"
CHUNK_GOM = b"GOMD"
CHUNK_INDEX = b"INDX"
KNOWN_CHUNKS = frozenset({CHUNK_HEAD, CHUNK_GOM, CHUNK_INDEX})
FRAMING_BYTES = 12  # type (4) + length (4) + CRC (4)
MAX_PAYLOAD = 2**32 - 1

_FRAME_HEAD = struct.Struct("<4sI")
_CRC = struct.Struct("<I")


def chunk_name(ctype: bytes) -> str:
    """A printable name for a chunk type (foreign bytes shown escaped)."""
    return ctype.decode("ascii") if is_valid_type(ctype) else repr(ctype)


def is_valid_type(ctype: bytes) -> bool:
    return len(ctype) == 4 and ctype.isalpha() and ctype.isascii()


def is_critical(ctype: bytes) -> bool:
    """Uppercase first letter: a reader must understand the chunk (spec 4.2)."""
    return 65 <= ctype[0] <= 90


def chunk_crc(ctype: bytes, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(ctype)) & 0xFFFFFFFF


def encode_chunk(ctype: bytes, payload: bytes) -> bytes:
    """The framed chunk: type, u32 payload length, payload, CRC-32 of type + payload."""
    if not is_valid_type(ctype):
        raise ValueError(f"chunk type must be four ASCII letters, got {ctype!r}")
    if len(payload) > MAX_PAYLOAD:
        raise UarCodingError(f"a {chunk_name(ctype)} payload of {len(payload)} bytes does not fit a chunk")
    return _FRAME_HEAD.pack(ctype, len(payload)) + payload + _CRC.pack(chunk_crc(ctype, payload))


@dataclass(frozen=True)
class Chunk:
    """An intact chunk read from the file."""

    ctype: bytes
    offset: int  # file offset of its first type byte
    payload: bytes

    @property
    def name(self) -> str:
        return chunk_name(self.ctype)

    @property
    def payload_offset(self) -> int:
        return self.offset + 8

    @property
    def total_length(self) -> int:
        return len(self.payload) + FRAMING_BYTES

    @property
    def end(self) -> int:
        return self.offset + self.total_length


class StreamFile:
    """Reads byte ranges of a seekable stream file, never past its end."""

    def __init__(self, fileobj: BinaryIO):
        self._f = fileobj
        try:
            self.size = fileobj.seek(0, io.SEEK_END)
        except (OSError, ValueError) as exc:
            raise UarFormatError(f"the stream is not seekable: {exc}") from None

    def read_at(self, offset: int, n: int, chunk: str) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise UarFormatError(
                f"needs bytes {offset}..{offset + n} but the file has {self.size}",
                chunk=chunk,
                offset=offset,
            )
        self._f.seek(offset)
        data = self._f.read(n)
        if len(data) != n:
            raise UarFormatError("short read (file changed while reading?)", chunk=chunk, offset=offset)
        return data

    def read_chunk(self, offset: int, limit: int | None = None) -> Chunk:
        """The intact chunk at ``offset`` ending at or before ``limit`` (default: end of file);
        anything else is a UarFormatError naming the place."""
        limit = self.size if limit is None else limit
        if offset + FRAMING_BYTES > limit:
            raise UarFormatError("truncated chunk header", chunk="?", offset=offset)
        ctype, length = _FRAME_HEAD.unpack(self.read_at(offset, 8, "?"))
        name = chunk_name(ctype)
        if not is_valid_type(ctype):
            raise UarFormatError("chunk type is not four ASCII letters", chunk=name, offset=offset)
        if length > limit - offset - FRAMING_BYTES:
            raise UarFormatError(
                f"payload length {length} runs past the end ({limit})", chunk=name, offset=offset + 4
            )
        payload = self.read_at(offset + 8, length, name)
        (stored,) = _CRC.unpack(self.read_at(offset + 8 + length, 4, name))
        if stored != chunk_crc(ctype, payload):
            raise UarFormatError("CRC mismatch", chunk=name, offset=offset + 8 + length)
        return Chunk(ctype, offset, payload)

    def try_read_chunk(self, offset: int) -> Chunk | None:
        """The intact chunk at ``offset``, or None."""
        try:
            return self.read_chunk(offset)
        except UarVersionError:
            raise
        except UarFormatError:
            return None

    def find(self, needles: tuple[bytes, ...], start: int, block: int = 1 << 20) -> int | None:
        """Smallest offset >= start where one of the 4-byte ``needles`` begins."""
        pos = start
        while pos + 4 <= self.size:
            n = min(block, self.size - pos)
            data = self.read_at(pos, n, "?")
            hits = [i for i in (data.find(nd) for nd in needles) if i >= 0]
            if hits:
                return pos + min(hits)
            if pos + n >= self.size:
                return None
            pos += n - 3  # keep an overlap so a needle across blocks is found
        return None


def check_magic(stream: StreamFile) -> None:
    if stream.size < len(MAGIC):
        raise UarFormatError("not a .uar stream (file too short)", chunk="magic", offset=0)
    if stream.read_at(0, len(MAGIC), "magic") != MAGIC:
        raise UarFormatError("not a .uar stream (bad magic)", chunk="magic", offset=0)


def unknown_critical(chunk: Chunk) -> UarVersionError:
    return UarVersionError(
        f"unknown critical chunk {chunk.name}: the stream needs a newer reader",
        chunk=chunk.name,
        offset=chunk.offset,
    )
