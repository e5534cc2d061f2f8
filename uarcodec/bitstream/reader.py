"""UarReader: opens a .uar stream and reads any GOM on its own (spec sections 8 and 9)."""

from __future__ import annotations

from typing import BinaryIO

from uarcodec.bitstream.chunks import CHUNK_GOM, CHUNK_INDEX, MAGIC, StreamFile
from uarcodec.bitstream.gom import min_gom_header_bytes, parse_gom
from uarcodec.bitstream.index import TRAILER_BYTES, check_index, decode_trailer, parse_index
from uarcodec.bitstream.records import GomIndexEntry, GomRecord, StreamHeader
from uarcodec.bitstream.scan import read_head_chunk, recover_index, walk_header_region
from uarcodec.errors import UarFormatError, UarVersionError


def read_header(fileobj: BinaryIO) -> StreamHeader:
    """The stream header alone (magic and HEAD chunk)."""
    header, _ = read_head_chunk(StreamFile(fileobj))
    return header


class UarReader:
    """Random access to a stream's GOMs.

    Opening reads the magic, the header, the trailer and the index; when the trailer or index
    is missing or damaged, the index is rebuilt by scanning the chunks and ``recovered`` is
    True (``damaged`` then lists the skipped byte spans as (offset, length)). ``read_gom(k)``
    reads only GOM k's bytes. The reader does not own ``fileobj``.
    """

    def __init__(self, fileobj: BinaryIO):
        self._stream = StreamFile(fileobj)
        self.file_size: int = self._stream.size
        self.header: StreamHeader
        self.header, head = read_head_chunk(self._stream)
        self.recovered = False
        self.damaged: list[tuple[int, int]] = []
        self.index_error: UarFormatError | None = None  # why the index had to be recovered
        self._chunk_bytes: dict[str, int] = {"magic": len(MAGIC), "HEAD": head.total_length}
        try:
            self.index = self._read_index(head.end)
        except UarVersionError:
            raise
        except UarFormatError as exc:
            self.index_error = exc
            self._recover(head.end)
        self._by_gom = {e.index: e for e in self.index}

    def _read_index(self, header_end: int) -> list[GomIndexEntry]:
        stream = self._stream
        at = self.file_size - TRAILER_BYTES
        trailer = decode_trailer(stream.read_at(max(at, 0), min(TRAILER_BYTES, self.file_size), "trailer"),
                                 self.file_size)
        chunk = stream.read_chunk(trailer.index_offset, limit=at)
        if chunk.ctype != CHUNK_INDEX or chunk.total_length != trailer.index_length:
            raise UarFormatError("the trailer does not point to the index", chunk=chunk.name,
                                 offset=chunk.offset)
        entries = parse_index(chunk.payload, chunk.payload_offset)
        check_index(entries, header_end, chunk.offset, self.header.video.num_frames,
                    min_gom_header_bytes(self.header))
        region_end = entries[0].offset if entries else chunk.offset
        sizes = dict(self._chunk_bytes)
        for extra in walk_header_region(stream, header_end, region_end):
            sizes[extra.name] = sizes.get(extra.name, 0) + extra.total_length
        sizes["GOMD"] = sum(e.length for e in entries)
        sizes["INDX"] = chunk.total_length
        sizes["trailer"] = TRAILER_BYTES
        self._chunk_bytes = sizes
        return entries

    def _recover(self, header_end: int) -> None:
        result = recover_index(self._stream, self.header, header_end)
        self.recovered = True
        self.damaged = result.damaged
        self.index = result.entries
        for name, n in result.chunk_bytes.items():
            self._chunk_bytes[name] = self._chunk_bytes.get(name, 0) + n
        if result.damaged:
            self._chunk_bytes["damaged"] = sum(length for _, length in result.damaged)

    def read_gom(self, k: int) -> GomRecord:
        """GOM ``k`` (its GOM number), read and checked from its own bytes only."""
        entry = self._by_gom.get(k)
        if entry is None:
            raise UarFormatError(f"GOM {k} is missing from the stream (the index has no entry for it)",
                                 chunk="GOMD")
        chunk = self._stream.read_chunk(entry.offset, limit=entry.offset + entry.length)
        if chunk.ctype != CHUNK_GOM or chunk.total_length != entry.length:
            raise UarFormatError(f"GOM {k}: the index points to a {chunk.name} chunk of "
                                 f"{chunk.total_length} bytes", chunk=chunk.name, offset=entry.offset)
        gom = parse_gom(chunk.payload, chunk.payload_offset, self.header)
        if (gom.index, gom.first_frame, gom.num_frames) != (k, entry.first_frame, entry.num_frames):
            raise UarFormatError(f"GOM {k}: chunk and index disagree on GOM number or frames",
                                 chunk="GOMD", offset=chunk.payload_offset)
        return gom

    def chunk_sizes(self) -> dict[str, int]:
        """Bytes per part of the file: magic, HEAD, GOMD, INDX, trailer, other chunk types,
        'damaged' (recovery) and 'other' (anything not accounted for). Adds up to file_size."""
        sizes = dict(self._chunk_bytes)
        rest = self.file_size - sum(sizes.values())
        if rest > 0:
            sizes["other"] = rest
        return sizes
