"""UarWriter: streams a .uar file, header first, one GOM chunk at a time (spec section 10)."""

from __future__ import annotations

from typing import BinaryIO

from uarcodec.bitstream.chunks import CHUNK_GOM, CHUNK_HEAD, CHUNK_INDEX, MAGIC, StreamFile, encode_chunk
from uarcodec.bitstream.gom import serialize_gom
from uarcodec.bitstream.header import serialize_header
from uarcodec.bitstream.index import Trailer, encode_trailer, serialize_index
from uarcodec.bitstream.records import GomIndexEntry, GomRecord, StreamHeader
from uarcodec.bitstream.scan import read_head_chunk, resume_walk
from uarcodec.errors import UarCodingError, UarFormatError, UarSettingsError


class UarWriter:
    """Writes the magic and HEAD chunk on creation, each GOM chunk on ``append_gom`` (flushed),
    and the index and trailer on ``finish``. Never seeks back, so ``fileobj`` may be a pipe.
    The stream must start at the beginning of the file: index offsets count from its first byte.
    """

    def __init__(self, fileobj: BinaryIO, header: StreamHeader):
        head = encode_chunk(CHUNK_HEAD, serialize_header(header))
        self._start(fileobj, header, position=0, entries=[])
        self._write(MAGIC + head)

    def _start(self, fileobj: BinaryIO, header: StreamHeader, position: int,
               entries: list[GomIndexEntry]) -> None:
        self._f = fileobj
        self.header = header
        self._position = position
        self._entries = list(entries)
        self._frames = sum(e.num_frames for e in entries)
        self._finished = False

    @property
    def entries(self) -> list[GomIndexEntry]:
        """Index entries of the GOMs written so far."""
        return list(self._entries)

    @property
    def position(self) -> int:
        """Bytes written so far (the offset of the next chunk)."""
        return self._position

    def _write(self, data: bytes) -> None:
        self._f.write(data)
        self._f.flush()
        self._position += len(data)

    def append_gom(self, gom: GomRecord) -> GomIndexEntry:
        """Writes GOM ``gom`` (the next in order) as one GOMD chunk and flushes the file."""
        if self._finished:
            raise UarSettingsError("the stream is already finished")
        if gom.index != len(self._entries) or gom.first_frame != self._frames:
            raise UarCodingError(
                f"GOM {gom.index} starting at frame {gom.first_frame} is out of order: expected "
                f"GOM {len(self._entries)} starting at frame {self._frames}"
            )
        chunk = encode_chunk(CHUNK_GOM, serialize_gom(gom, self.header))
        entry = GomIndexEntry(gom.index, self._position, len(chunk), gom.first_frame, gom.num_frames)
        self._write(chunk)
        self._entries.append(entry)
        self._frames += gom.num_frames
        return entry

    def finish(self) -> None:
        """Writes the INDX chunk and the trailer. The GOMs must cover every frame."""
        if self._finished:
            raise UarSettingsError("the stream is already finished")
        total = self.header.video.num_frames
        if self._frames != total:
            raise UarSettingsError(f"the GOMs cover {self._frames} frames, the header says {total}")
        index = encode_chunk(CHUNK_INDEX, serialize_index(self._entries))
        trailer = encode_trailer(Trailer(self._position, len(index)))
        self._write(index + trailer)
        self._finished = True

    @classmethod
    def resume(cls, fileobj: BinaryIO, header: StreamHeader) -> tuple["UarWriter", list[GomIndexEntry]]:
        """Continues an interrupted stream (``fileobj`` opened ``r+b``): keeps its complete,
        intact GOMs in order, truncates what follows them, and returns a writer positioned to
        append the next GOM together with the entries kept. The stored header must be exactly
        the one ``header`` serialises to."""
        expected = serialize_header(header)
        stream = StreamFile(fileobj)
        stored, head = read_head_chunk(stream)
        if (stored.writer_version, stored.min_reader_version) != (header.writer_version, header.min_reader_version):
            (major, minor), (ours, our_minor) = stored.writer_version, header.writer_version
            raise UarFormatError(
                f"the stream was started in format {major}.{minor} and this encoder writes "
                f"{ours}.{our_minor}: encode it again without resuming",
                chunk="HEAD",
                offset=head.offset,
            )
        if head.payload != expected:
            raise UarFormatError(
                "settings differ: the stream was started with another header",
                chunk="HEAD",
                offset=head.offset,
            )
        walk = resume_walk(stream, header, head.end)
        end = max(walk.end, head.end)
        fileobj.truncate(end)
        fileobj.seek(end)
        writer = cls.__new__(cls)
        writer._start(fileobj, header, position=end, entries=walk.entries)
        return writer, list(walk.entries)
