"""GOMs that finished before their turn, kept on disk beside the partial stream.

Only the driver writes the output, in GOM order. A GOM that finishes early is saved atomically in
the folder ``<output>.partial.goms/`` (one file per GOM: its chunk payload) until every GOM
before it is in the partial file; an encode resumed after a crash or Ctrl-C takes these GOMs
back instead of fitting them again. The folder's ``HEAD`` file holds the stream header they
were coded under, so GOMs of other settings are never mixed in.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from uarcodec.bitstream import parse_gom
from uarcodec.bitstream.header import serialize_header
from uarcodec.bitstream.records import GomRecord, StreamHeader
from uarcodec.errors import UarFormatError
from uarcodec.pipeline.partition import GopPartition
from uarcodec.sysinfo import atomic_write_bytes


class FinishedGomStore:
    """The side folder of GOMs finished out of order; see the module docstring."""

    def __init__(self, partial: Path, header: StreamHeader):
        self.folder = partial.with_name(partial.name + ".goms")
        self.header = header
        self._head = serialize_header(header)

    def _file(self, index: int) -> Path:
        return self.folder / f"gom-{index:06d}.bin"

    def start(self, keep: bool) -> None:
        """Ready the folder for this header: with ``keep`` (a resume) GOMs saved under the same
        header stay; anything else there is removed."""
        head = self.folder / "HEAD"
        if not (keep and head.is_file() and head.read_bytes() == self._head):
            self.remove()
        self.folder.mkdir(exist_ok=True)
        atomic_write_bytes(head, self._head)

    def save(self, index: int, payload: bytes) -> None:
        atomic_write_bytes(self._file(index), payload)

    def load(self, index: int) -> GomRecord:
        return parse_gom(self._file(index).read_bytes(), 0, self.header)

    def discard(self, index: int) -> None:
        self._file(index).unlink(missing_ok=True)

    def saved(self, partition: GopPartition, first: int) -> list[int]:
        """The GOMs from ``first`` on saved here that read back whole and fit the partition
        (a damaged or foreign file is deleted)."""
        goms = partition.goms
        found = []
        for k in range(first, len(goms)):
            if not self._file(k).is_file():
                continue
            try:
                record = self.load(k)
                good = (record.index, record.first_frame, record.num_frames) == (k, goms[k].first_frame, goms[k].num_frames)
            except (OSError, UarFormatError):
                good = False
            if good:
                found.append(k)
            else:
                self.discard(k)
        return found

    def count(self) -> int:
        return len(list(self.folder.glob("gom-*.bin"))) if self.folder.is_dir() else 0

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
