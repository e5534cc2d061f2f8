"""Random access to one GOM, recovery of a damaged index, and resuming an interrupted stream."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from test_bitstream_samples import (
    assemble,
    assert_goms_equal,
    sample_goms,
    sample_header,
    sample_header_1_0,
    write_stream,
)
from uarcodec.bitstream import UarReader, UarWriter, encode_chunk
from uarcodec.bitstream.index import Trailer, encode_trailer, serialize_index
from uarcodec.errors import UarFormatError, UarVersionError


def _entries(data: bytes):
    return UarReader(io.BytesIO(data)).index


def _smash_payloads(data: bytes, keep: int) -> bytes:
    """Overwrites the middle of every GOM chunk but GOM ``keep``."""
    out = bytearray(data)
    for e in _entries(data):
        if e.index != keep:
            mid = e.offset + e.length // 2
            out[mid : mid + 16] = bytes(b ^ 0xA5 for b in out[mid : mid + 16])
    return bytes(out)


def _smash_framing(data: bytes, keep: int) -> bytes:
    """Destroys the type and length fields of every GOM chunk but GOM ``keep``."""
    out = bytearray(data)
    for e in _entries(data):
        if e.index != keep:
            out[e.offset : e.offset + 8] = b"\xff\x00GARBAGE"[:8]
    return bytes(out)


def _destroy_trailer(data: bytes) -> bytes:
    return data[:-20] + b"\x00" * 20


def _destroy_index(data: bytes) -> bytes:
    out = bytearray(data)
    index_at = int.from_bytes(data[-20:-12], "little")
    out[index_at : index_at + 12] = b"\x00" * 12
    return bytes(out)


@pytest.mark.parametrize("keep", [0, 1, 2])
@pytest.mark.parametrize("smash", [_smash_payloads, _smash_framing])
def test_one_gom_reads_when_all_others_are_corrupted(keep, smash):
    goms = sample_goms()
    data = smash(write_stream(sample_header(), goms), keep)
    reader = UarReader(io.BytesIO(data))
    assert not reader.recovered
    assert_goms_equal(reader.read_gom(keep), goms[keep])
    for k in {0, 1, 2} - {keep}:
        with pytest.raises(UarFormatError) as err:
            reader.read_gom(k)
        assert err.value.offset is not None


@pytest.mark.parametrize("keep", [0, 1, 2])
@pytest.mark.parametrize("damage", [_destroy_trailer, _destroy_index, lambda d: d[:-20], lambda d: d[:-30]])
@pytest.mark.parametrize("smash", [_smash_payloads, _smash_framing])
def test_recovery_scan_finds_the_intact_gom(keep, damage, smash):
    goms = sample_goms()
    data = damage(smash(write_stream(sample_header(), goms), keep))
    reader = UarReader(io.BytesIO(data))
    assert reader.recovered
    assert [e.index for e in reader.index] == [keep]
    assert reader.damaged  # the smashed GOMs are reported
    assert_goms_equal(reader.read_gom(keep), goms[keep])
    for k in {0, 1, 2} - {keep}:
        with pytest.raises(UarFormatError, match="missing"):
            reader.read_gom(k)
    sizes = reader.chunk_sizes()
    assert sum(sizes.values()) == len(data) and sizes["damaged"] > 0


def test_recovery_of_an_intact_stream_without_trailer_matches_the_index():
    data = write_stream(sample_header(), sample_goms())
    assert UarReader(io.BytesIO(data[:-20])).index == UarReader(io.BytesIO(data)).index


def test_inconsistent_index_falls_back_to_scanning():
    """An index whose CRC is right but whose entries are wrong is not trusted."""
    goms = sample_goms()
    data = write_stream(sample_header(), goms)
    entries = _entries(data)
    wrong = [replace(entries[0], offset=entries[0].offset + 1)] + entries[1:]
    index_at = int.from_bytes(data[-20:-12], "little")
    index = encode_chunk(b"INDX", serialize_index(wrong))
    forged = data[:index_at] + index + encode_trailer(Trailer(index_at, len(index)))
    reader = UarReader(io.BytesIO(forged))
    assert reader.recovered and reader.index == entries
    for k in range(3):
        assert_goms_equal(reader.read_gom(k), goms[k])


def test_truncated_stream_keeps_the_goms_before_the_cut():
    goms = sample_goms()
    data = write_stream(sample_header(), goms)
    cut = _entries(data)[2].offset + 7
    reader = UarReader(io.BytesIO(data[:cut]))
    assert reader.recovered and [e.index for e in reader.index] == [0, 1]
    assert_goms_equal(reader.read_gom(1), goms[1])


def test_a_gom_read_touches_only_its_own_bytes():
    goms = sample_goms()
    data = write_stream(sample_header(), goms)
    entries = _entries(data)

    class Spy(io.BytesIO):
        reads: list[tuple[int, int]] = []

        def read(self, n=-1):
            start = self.tell()
            out = super().read(n)
            self.reads.append((start, start + len(out)))
            return out

    f = Spy(data)
    reader = UarReader(f)
    f.reads.clear()
    reader.read_gom(1)
    e = entries[1]
    assert all(e.offset <= a and b <= e.offset + e.length for a, b in f.reads)


# ------------------------------------------------------------------------------ resume


def _resume_and_finish(path, header, goms, start: int):
    with open(path, "r+b") as f:
        writer, entries = UarWriter.resume(f, header)
        for gom in goms[start:]:
            writer.append_gom(gom)
        writer.finish()
    return entries


@pytest.mark.parametrize("cut_into_third", [0, 5, 40, -1])
def test_resume_after_a_cut_gives_the_uninterrupted_file(tmp_path, cut_into_third):
    header, goms = sample_header(), sample_goms()
    full = write_stream(header, goms)
    partial = write_stream(header, goms[:2], finish=False)
    third = full[len(partial) : _entries(full)[2].offset + _entries(full)[2].length]
    cut = len(third) + cut_into_third if cut_into_third < 0 else cut_into_third
    path = tmp_path / "cut.uar"
    path.write_bytes(partial + third[:cut])
    entries = _resume_and_finish(path, header, goms, start=2)
    assert entries == _entries(full)[:2]
    assert path.read_bytes() == full


def test_resume_of_a_file_with_only_its_header(tmp_path):
    header, goms = sample_header(), sample_goms()
    full = write_stream(header, goms)
    path = tmp_path / "head.uar"
    path.write_bytes(write_stream(header, [], finish=False) + b"GOM")
    assert _resume_and_finish(path, header, goms, start=0) == []
    assert path.read_bytes() == full


def test_resume_of_a_finished_file_is_idempotent(tmp_path):
    header, goms = sample_header(), sample_goms()
    full = write_stream(header, goms)
    path = tmp_path / "done.uar"
    path.write_bytes(full)
    assert len(_resume_and_finish(path, header, goms, start=3)) == 3
    assert path.read_bytes() == full


def test_resume_stops_at_a_damaged_gom(tmp_path):
    header, goms = sample_header(), sample_goms()
    full = write_stream(header, goms)
    damaged = bytearray(full)
    e1 = _entries(full)[1]
    damaged[e1.offset + 30] ^= 1
    path = tmp_path / "bad.uar"
    path.write_bytes(bytes(damaged))
    assert len(_resume_and_finish(path, header, goms, start=1)) == 1
    assert path.read_bytes() == full


def test_resume_with_other_settings_is_refused_and_leaves_the_file(tmp_path):
    header, goms = sample_header(), sample_goms()
    partial = write_stream(header, goms[:1], finish=False)
    path = tmp_path / "p.uar"
    path.write_bytes(partial)
    other = replace(header, coding=replace(header.coding, gop_size=8))
    with open(path, "r+b") as f, pytest.raises(UarFormatError, match="settings differ"):
        UarWriter.resume(f, other)
    assert path.read_bytes() == partial


def test_resume_of_a_stream_begun_in_another_format_version_says_so(tmp_path):
    """A partial stream of an older encoder (format 1.3) is not continued in 1.4: the error
    names both versions, and the file is left as it was."""
    header = sample_header()
    old = replace(header, writer_version=(1, 3), min_reader_version=(1, 3))
    partial = write_stream(old, sample_goms(layout=3)[:1], finish=False)
    path = tmp_path / "p.uar"
    path.write_bytes(partial)
    with open(path, "r+b") as f, pytest.raises(UarFormatError, match="started in format 1.3 .* writes 1.4"):
        UarWriter.resume(f, header)
    assert path.read_bytes() == partial


def test_resume_refuses_foreign_files_and_unknown_critical_chunks(tmp_path):
    path = tmp_path / "x.uar"
    path.write_bytes(b"not a stream at all")
    with open(path, "r+b") as f, pytest.raises(UarFormatError):
        UarWriter.resume(f, sample_header())
    header, goms = sample_header(), sample_goms()
    path.write_bytes(assemble(header, goms, after_gom={0: [(b"ZZZZ", b"")]}))
    with open(path, "r+b") as f, pytest.raises(UarVersionError, match="ZZZZ"):
        UarWriter.resume(f, header)


def test_recovery_and_resume_of_a_format_1_0_stream(tmp_path):
    """Scanning and resuming parse the GOMs in the stream's own (1.0) tensor layout."""
    header, goms = sample_header_1_0(), sample_goms(layout=0)
    full = write_stream(header, goms)
    cut = _entries(full)[2].offset + 7
    reader = UarReader(io.BytesIO(full[:cut]))
    assert reader.recovered and [e.index for e in reader.index] == [0, 1]
    for k in (0, 1):
        assert_goms_equal(reader.read_gom(k), goms[k], layout=0)
    path = tmp_path / "old.uar"
    path.write_bytes(full[:cut])
    assert len(_resume_and_finish(path, header, goms, start=2)) == 2
    assert path.read_bytes() == full
