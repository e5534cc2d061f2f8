"""Walking the chunk sequence: the header, the header region, the recovery scan that rebuilds a
damaged index (spec section 9) and the walk that finds where an interrupted stream can resume
(spec section 10)."""

from __future__ import annotations

from dataclasses import dataclass, field

from uarcodec.bitstream.chunks import (
    CHUNK_GOM,
    CHUNK_HEAD,
    CHUNK_INDEX,
    KNOWN_CHUNKS,
    MAGIC,
    Chunk,
    StreamFile,
    check_magic,
    is_critical,
    unknown_critical,
)
from uarcodec.bitstream.gom import parse_gom
from uarcodec.bitstream.header import parse_header
from uarcodec.bitstream.records import GomIndexEntry, GomRecord, StreamHeader
from uarcodec.errors import UarFormatError

_RESYNC_TYPES = (CHUNK_GOM, CHUNK_INDEX)


def read_head_chunk(stream: StreamFile) -> tuple[StreamHeader, Chunk]:
    """Checks the magic and returns the parsed header with its chunk (spec 8.1 steps 1-2)."""
    check_magic(stream)
    chunk = stream.read_chunk(len(MAGIC))
    if chunk.ctype != CHUNK_HEAD:
        raise UarFormatError("the first chunk is not HEAD", chunk=chunk.name, offset=chunk.offset)
    return parse_header(chunk.payload, chunk.payload_offset), chunk


def walk_header_region(stream: StreamFile, start: int, stop: int) -> list[Chunk]:
    """The chunks tiling [start, stop) (spec 8.1 step 4). Unknown critical chunks are a
    UarVersionError; anything else wrong is a UarFormatError."""
    chunks = []
    pos = start
    while pos < stop:
        chunk = stream.read_chunk(pos, limit=stop)
        if chunk.ctype in KNOWN_CHUNKS:
            raise UarFormatError("unexpected chunk in the header region", chunk=chunk.name, offset=pos)
        if is_critical(chunk.ctype):
            raise unknown_critical(chunk)
        chunks.append(chunk)
        pos = chunk.end
    return chunks


def entry_of(chunk: Chunk, gom: GomRecord) -> GomIndexEntry:
    return GomIndexEntry(gom.index, chunk.offset, chunk.total_length, gom.first_frame, gom.num_frames)


def _parse_gom_chunk(chunk: Chunk, header: StreamHeader) -> GomRecord | None:
    try:
        return parse_gom(chunk.payload, chunk.payload_offset, header)
    except UarFormatError:
        return None


@dataclass
class ScanResult:
    """What a walk over the chunk sequence found."""

    entries: list[GomIndexEntry] = field(default_factory=list)
    chunk_bytes: dict[str, int] = field(default_factory=dict)  # bytes per accepted chunk type
    damaged: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) skipped
    end: int = 0  # offset right after the last accepted chunk

    def accept(self, chunk: Chunk) -> None:
        self.chunk_bytes[chunk.name] = self.chunk_bytes.get(chunk.name, 0) + chunk.total_length
        self.end = chunk.end


def _resync(stream: StreamFile, start: int) -> int | None:
    """Smallest q >= start where an intact GOMD or INDX chunk begins."""
    pos = start
    while True:
        q = stream.find(_RESYNC_TYPES, pos)
        if q is None:
            return None
        if stream.try_read_chunk(q) is not None:
            return q
        pos = q + 1


def recover_index(stream: StreamFile, header: StreamHeader, start: int) -> ScanResult:
    """Rebuilds the GOM index by scanning the chunks from ``start`` (spec section 9)."""
    result = ScanResult(end=start)
    found: dict[int, GomIndexEntry] = {}
    pos = start
    while stream.size - pos >= 12:
        chunk = stream.try_read_chunk(pos)
        if chunk is None:
            q = _resync(stream, pos + 1)
            result.damaged.append((pos, (stream.size if q is None else q) - pos))
            if q is None:
                break
            pos = q
            continue
        if chunk.ctype == CHUNK_INDEX:
            result.accept(chunk)
            break
        if chunk.ctype == CHUNK_GOM:
            gom = _parse_gom_chunk(chunk, header)
            if gom is None or gom.index in found:
                result.damaged.append((chunk.offset, chunk.total_length))
            else:
                found[gom.index] = entry_of(chunk, gom)
                result.accept(chunk)
        elif chunk.ctype == CHUNK_HEAD:
            result.damaged.append((chunk.offset, chunk.total_length))
        elif is_critical(chunk.ctype):
            raise unknown_critical(chunk)
        else:
            result.accept(chunk)
        pos = chunk.end
    result.entries = [found[k] for k in sorted(found)]
    return result


def resume_walk(stream: StreamFile, header: StreamHeader, start: int) -> ScanResult:
    """The GOMs of an interrupted stream that can be kept, in order (spec section 10)."""
    result = ScanResult(end=start)
    pos, frame = start, 0
    while True:
        chunk = stream.try_read_chunk(pos)
        if chunk is None or chunk.ctype in (CHUNK_INDEX, CHUNK_HEAD):
            break
        if chunk.ctype == CHUNK_GOM:
            gom = _parse_gom_chunk(chunk, header)
            if gom is None or gom.index != len(result.entries) or gom.first_frame != frame:
                break
            result.entries.append(entry_of(chunk, gom))
            frame += gom.num_frames
        elif is_critical(chunk.ctype):
            raise unknown_critical(chunk)
        result.accept(chunk)
        pos = chunk.end
    return result
