"""Format 1.4 (bitstream_spec.md, sections 1, 2, 5.2, 6.1, 6.1.4, 6.2 check 8d and 7.1): the
spec's example, byte for byte in both directions and line by line; the varint and bfloat16 test
vectors; the compact field list example; the record sizes of section 6.1; the reader checks of
8d at their documented offsets; the minimum chunk length of the index."""

from __future__ import annotations

import io
import math
import re
import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest

from test_bitstream_samples import (
    BASELINE_SETTINGS,
    SPEC,
    assert_goms_equal,
    gom_read_error,
    patch_gomd,
    spec_example_1_2_records,
    spec_hex_dump,
    write_stream,
)
from uarcodec.bitstream import (
    MAGIC,
    UarReader,
    encode_chunk,
    parse_gom,
    parse_header,
    serialize_gom,
    serialize_header,
    serialize_model,
)
from uarcodec.bitstream.fields import write_fields
from uarcodec.bitstream.gom import min_gom_header_bytes
from uarcodec.bitstream.index import Trailer, check_index, encode_trailer, serialize_index
from uarcodec.bitstream.primitives import PayloadBuilder, PayloadReader, to_bf16
from uarcodec.bitstream.records import (
    EntropyModel,
    GomIndexEntry,
    GomRecord,
    ModelKind,
    ModelRecord,
    RefMode,
    TensorRecord,
)
from uarcodec.coding.entropy import encode_zero_flagged
from uarcodec.coding.zero_flags import flag_param
from uarcodec.errors import UarCodingError, UarFormatError, UarSettingsError, UarVersionError

HEAD_MARKER, GOMD_MARKER = "example-1.4-head-hex", "example-1.4-gomd-hex"
GOMD_AT = 0x70  # the 1.4 example's GOMD chunk (its HEAD payload is 92 bytes)
PAYLOAD_AT = GOMD_AT + 8
INDEX_ENTRY = GomIndexEntry(0, 112, 88, 0, 11)  # section 6.1.4's last paragraph
STREAM_BYTES = 264
I32 = (-(2**31), 2**31 - 1)


def spec_example_1_4_records():
    """The records of section 6.1.4: section 6.1.2's, the header with versions 1.4 (its means and
    scales are bfloat16 values already)."""
    header, gom = spec_example_1_2_records()
    return replace(header, writer_version=(1, 4), min_reader_version=(1, 4)), gom


def spec_example_1_4_stream() -> bytes:
    header, gom = spec_example_1_4_records()
    return write_stream(header, [gom])


def _spec_lines(marker: str) -> list[tuple[int, bytes, str]]:
    """(file offset, bytes, explanation) of every line of a marked hex dump of the spec."""
    text = SPEC.read_text(encoding="utf-8")
    block = text.split(f"<!-- {marker}: begin -->")[1].split(f"<!-- {marker}: end -->")[0]
    lines = []
    for line in block.splitlines():
        m = re.match(r"^([0-9a-f]{4}): ([0-9a-f ]+?)\s*\| (.*)$", line)
        if m:
            lines.append((int(m.group(1), 16), bytes.fromhex(m.group(2)), m.group(3)))
    return lines


def _spec_stream() -> bytes:
    """The whole stream from the spec's bytes: magic, the dumped HEAD and GOMD chunks, then the
    index entry the text gives and the trailer."""
    head_at, head = spec_hex_dump(HEAD_MARKER)
    gomd_at, gomd = spec_hex_dump(GOMD_MARKER)
    assert head_at == len(MAGIC) and gomd_at == head_at + len(head) == GOMD_AT
    body = MAGIC + head + gomd
    index = encode_chunk(b"INDX", serialize_index([INDEX_ENTRY]))
    return body + index + encode_trailer(Trailer(len(body), len(index)))


# ------------------------------------------------------------------------------ a second reading of section 1


def _uvars(data: bytes) -> list[int]:
    """The uvars of ``data``, read as section 1 says (7-bit groups, lowest first, bit 7 = more)."""
    values, value, shift = [], 0, 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            assert byte or shift == 7, "not the shortest form"
            values.append(value)
            value, shift = 0, 0
    assert shift == 0, "a varint runs past the line"
    return values


def _unzigzag(z: int) -> int:
    return z // 2 if z % 2 == 0 else -(z + 1) // 2


def _uvar_len(v: int) -> int:
    """Section 6.1, sizes: 1 byte below 2^7, 2 below 2^14, ... 5 below 2^35."""
    return next(n for n in range(1, 6) if v < 2 ** (7 * n))


def _svar_len(v: int) -> int:
    return _uvar_len(2 * v if v >= 0 else -2 * v - 1)


def _byte_count(words) -> int:
    """Section 6.1, words in 1.4."""
    n = len(words)
    return 0 if n == 0 else 4 * (n - 1) + math.ceil(int(words[-1]).bit_length() / 8)


# ------------------------------------------------------------------------------ the example, both directions


def test_the_example_records_hold_bfloat16_parameters():
    _, gom = spec_example_1_4_records()
    coded = [t for m in gom.models for t in m.tensors if not t.is_zero]
    assert [(t.mean, t.std) for t in coded] == [(0.125, 0.90625), (0.0, 32768.0)]
    assert all(to_bf16(v) == v for t in coded for v in (t.mean, t.std))


def test_writer_reproduces_the_spec_1_4_example_byte_for_byte():
    header, gom = spec_example_1_4_records()
    head_at, head = spec_hex_dump(HEAD_MARKER)
    gomd_at, gomd = spec_hex_dump(GOMD_MARKER)
    assert encode_chunk(b"HEAD", serialize_header(header)) == head
    assert encode_chunk(b"GOMD", serialize_gom(gom, header)) == gomd
    data = spec_example_1_4_stream()
    assert data[head_at : head_at + len(head)] == head and data[gomd_at : gomd_at + len(gomd)] == gomd
    assert data == _spec_stream() and len(data) == STREAM_BYTES
    assert UarReader(io.BytesIO(data)).index == [INDEX_ENTRY]


def test_reader_returns_the_spec_1_4_example_records():
    header, gom = spec_example_1_4_records()
    head_at, head = spec_hex_dump(HEAD_MARKER)
    gomd_at, gomd = spec_hex_dump(GOMD_MARKER)
    assert parse_header(head[8:-4], head_at + 8) == header
    assert_goms_equal(parse_gom(gomd[8:-4], gomd_at + 8, header), gom, layout=4)
    reader = UarReader(io.BytesIO(_spec_stream()))
    assert not reader.recovered and reader.header == header
    assert reader.header.writer_version == reader.header.min_reader_version == (1, 4)
    assert reader.header.tensor_layout == 4
    assert reader.header.coding.arch == {"dim": 8, "ks": [3, 1]}
    assert reader.header.coding.encoder_settings == {**BASELINE_SETTINGS, "lambda": 0.5, "fast": True}
    got = reader.read_gom(0)
    assert_goms_equal(got, gom, layout=4)
    t, wide = got.models[0].tensors
    assert (t.entropy_model, t.temporal, t.coded_elements) == (EntropyModel.LAPLACE, True, 8)
    assert t.words.tolist() == [0xE5ED6C6A, 0x0000001D] and wide.words.tolist() == [0x1F0741F9, 0x00000A18]
    assert (wide.min_symbol, wide.max_symbol, wide.std) == (-40000, 40000, 32768.0)
    z = got.models[1].tensors[0]
    assert z.is_zero and z.ref_mode == RefMode.LAST


def test_a_1_3_reader_refuses_the_1_4_example(monkeypatch):
    """Section 5.2: writers of 1.4 write min_reader = (1, 4): a 1.3 reader gives a version error
    (checked before anything after the versions is parsed)."""
    import uarcodec.bitstream.header as header_module

    monkeypatch.setattr(header_module, "FORMAT_VERSION", (1, 3))
    with pytest.raises(UarVersionError) as err:
        UarReader(io.BytesIO(_spec_stream()))
    assert err.value.chunk == "HEAD" and "1.4" in str(err.value)


def test_the_1_4_example_is_smaller_than_the_1_2_one_as_the_text_says():
    """Section 6.1.4: HEAD payload 92 instead of 122, GOMD payload 76 instead of 128, GOM header 4
    (16), model headers 11 (17), tensors 22 (34), 24 (38), the ZERO record 4 (6)."""
    header_1_2, gom = spec_example_1_2_records()
    header, _ = spec_example_1_4_records()
    assert (len(serialize_header(header)), len(serialize_header(header_1_2))) == (92, 122)
    assert (len(serialize_gom(gom, header)), len(serialize_gom(gom, header_1_2))) == (76, 128)
    at = {text.split(":")[0]: offset for offset, _, text in _spec_lines(GOMD_MARKER)
          if re.match(r"(model \d|tensor( \d)?): ", text)}
    end = spec_hex_dump(GOMD_MARKER)[0] + len(spec_hex_dump(GOMD_MARKER)[1]) - 4  # the CRC
    assert at["model 0"] - PAYLOAD_AT == 4
    assert at["tensor 0"] - at["model 0"] == 11 and at["tensor"] - at["model 1"] == 11
    assert at["tensor 1"] - at["tensor 0"] == 22 and at["model 1"] - at["tensor 1"] == 24
    assert end - at["tensor"] == 4


# ------------------------------------------------------------------------------ the explanations, line by line


def _check_line(offset: int, b: bytes, text: str, chunk: bytes, chunk_at: int, lines) -> int:
    """Checks what ``text`` says about ``b`` (the rules that apply); returns how many applied."""
    applied = 0

    def rule(ok: bool, what: str):
        nonlocal applied
        applied += 1
        assert ok, f"{offset:04x}: {what}: {b.hex(' ')} | {text}"

    if m := re.search(r'type "(\w{4})"', text):
        rule(b == m.group(1).encode() == chunk[:4] and offset == chunk_at, "chunk type")
    if m := re.search(r"chunk \(offset (\d+)\)", text):
        rule(int(m.group(1)) == chunk_at, "chunk offset")
    if m := re.search(r"payload length (\d+)", text):
        rule(int.from_bytes(b, "little") == int(m.group(1)) == len(chunk) - 12, "payload length")
    if m := re.search(r"(?:writer|min reader) version (\d+)\.(\d+)", text):
        rule(b == struct.pack("<HH", int(m.group(1)), int(m.group(2))), "version")
    if m := re.search(r"(-?\d+(?:, -?\d+)*) \((uvar|svar)\b", text):
        values = _uvars(b)
        if m.group(2) == "svar":
            values = [_unzigzag(z) for z in values]
        rule(values == [int(v) for v in m.group(1).split(", ")], "varint values")
    if m := re.search(r"zigzag (\d+(?:, \d+)*)", text):
        rule(_uvars(b) == [int(v) for v in m.group(1).split(", ")], "zigzag values")
        if h := re.search(r"zigzag \d+ = 0x([0-9a-f]+)", text):
            rule(_uvars(b) == [int(h.group(1), 16)], "zigzag in hexadecimal")
    if m := re.search(r"groups ((?:0x[0-9a-f]{2}(?:, )?)+)", text):
        rule([x & 0x7F for x in b] == [int(g, 16) for g in m.group(1).split(", ")], "7-bit groups")
    if m := re.search(r"(-?[\d.]+) \(bf16: binary32 0x([0-9a-f]{8})\)", text):
        bits = int(m.group(2), 16)
        value = struct.unpack("<f", struct.pack("<I", bits))[0]
        rule(bits & 0xFFFF == 0 and b == struct.pack("<H", bits >> 16) and value == float(m.group(1)), "bf16")
    if m := re.search(r"(-?[\d.]+) \((f32|f64|u32)\)", text):
        fmt = {"f32": "<f", "f64": "<d", "u32": "<I"}[m.group(2)]
        rule(len(b) == struct.calcsize(fmt) and struct.unpack(fmt, b)[0] == float(m.group(1)), m.group(2))
    if m := re.search(r'key "([^"]*)"', text):
        key = m.group(1).encode()
        rule(b == bytes([len(key)]) + key, "key")
        if n := re.search(r"u8 length (\d+)", text):
            rule(b[0] == int(n.group(1)), "key length")
    if m := re.search(r'coder_version "([^"]*)"', text):
        rule(b == struct.pack("<H", len(m.group(1))) + m.group(1).encode(), "str")
    if m := re.fullmatch(r"(?:model \d: )?(kind|rank|tag) (\d)(?: \(.*\))?", text):
        rule(b == bytes([int(m.group(2))]), m.group(1))
    if m := re.fullmatch(r"([a-z_]+) (\d+)(?: \([A-Za-z.]+\))?", text):
        rule(len(b) in (1, 2, 4) and int.from_bytes(b, "little") == int(m.group(2)), m.group(1))
    if text.startswith("pix_fmt"):
        rule(b == bytes(int(v) for v in re.findall(r"[a-z_]+ (\d+)", text)), "pix_fmt, color_matrix, color_range")
    if text in ("true", "false"):
        rule(b == bytes([text == "true"]), "bool")
    if m := re.search(r"head 0x([0-9a-f]{2}): ref_mode (\d)", text):
        head = int(m.group(1), 16)
        named = sum(1 << int(bit) for bit in re.findall(r"\(bit (\d)\)", text))
        rule(b == bytes([head]) and head & 0x03 == int(m.group(2)) and head & 0xFC == named, "head byte")
        rule(not head & 0x40, "bit 6 is 0 in 1.4")
    if text.startswith("mask: "):
        rule(b == bytes(int(x, 16) for x in re.findall(r"\((0x[0-9a-f]{2})\)", text)), "mask")
    byte_count_text = (r"byte_count (\d+) \(uvar\): 4 \* \((\d+) - 1\) words \+ (\d) bytes? "
                       r"for the last word 0x([0-9a-f]{8})")
    if m := re.search(byte_count_text, text):
        count, n, last = int(m.group(1)), int(m.group(2)), int(m.group(4), 16)
        following = next(nb for off, nb, _ in lines if off == offset + len(b))
        rule(count == 4 * (n - 1) + int(m.group(3)) == _byte_count([0] * (n - 1) + [last]) == len(following),
             "byte_count")
    if m := re.match(r"words ((?:0x[0-9a-f]{8}(?:, )?)+)", text):
        words = [int(w, 16) for w in m.group(1).split(", ")]
        padded = b + bytes(-len(b) % 4)
        rule(list(struct.unpack(f"<{len(padded) // 4}I", padded)) == words and b[-1] != 0
             and len(b) == _byte_count(words), "words")
        if c := re.search(r"(\d) zero high bytes left out", text):
            rule(int(c.group(1)) == 4 * len(words) - len(b), "bytes left out")
    if m := re.search(r"nothing else follows \(.* = (\d+) bytes\)", text):
        head_at = max(off for off, _, t in lines if off <= offset and "head 0x" in t)
        rule(offset + len(b) - head_at == int(m.group(1)), "ZERO record size")
    if "CRC-32 of type + payload" in text:
        rule(offset + 4 == chunk_at + len(chunk)
             and b == struct.pack("<I", zlib.crc32(chunk[:4] + chunk[8:-4]) & 0xFFFFFFFF), "CRC")
    return applied


@pytest.mark.parametrize("marker", [HEAD_MARKER, GOMD_MARKER])
def test_every_line_of_the_1_4_example_says_what_its_bytes_are(marker):
    """Each line's explanation, read by a second reading of section 1 (varints, bf16) and 6.1
    (byte_count): every line is checked by at least one rule."""
    chunk_at, chunk = spec_hex_dump(marker)
    lines = _spec_lines(marker)
    assert sum(len(b) for _, b, _ in lines) == len(chunk)
    unchecked = [text for offset, b, text in lines if not _check_line(offset, b, text, chunk, chunk_at, lines)]
    assert unchecked == []


# ------------------------------------------------------------------------------ section 1: test vectors


def _section_1_vectors() -> tuple[dict[int, str], dict[int, str]]:
    """The uvar and svar test vectors of section 1, as (value -> hex bytes)."""
    text = SPEC.read_text(encoding="utf-8")
    para = " ".join(text.split("Test vectors: `uvar`")[1].split(". The bytes")[0].split())
    uvar_text, svar_text = para.split("; `svar`")
    parse = {}
    for name, part in (("uvar", uvar_text), ("svar", svar_text)):
        pairs = re.findall(r"(`?[−\d^ ]+`?) = `([0-9a-f ]+)`", part)
        out = {}
        for value, hexed in pairs:
            expr = value.strip(" `").replace("−", "-").replace("^", "**")
            assert re.fullmatch(r"[-\d* ]+", expr)
            out[eval(expr)] = hexed  # noqa: S307  (digits, minus and powers only)
        parse[name] = out
    return parse["uvar"], parse["svar"]


def test_the_varint_test_vectors_of_section_1():
    uvars, svars = _section_1_vectors()
    assert uvars[300] == "ac 02" and svars[-64] == "7f" and svars[64] == "80 01"
    assert len(uvars) >= 5 and len(svars) >= 8
    for value, hexed in uvars.items():
        out = PayloadBuilder(UarCodingError)
        out.uvar(value, "v")
        assert out.bytes() == bytes.fromhex(hexed)
        assert PayloadReader(bytes.fromhex(hexed), 0, "T").uvar("v") == value
    for value, hexed in svars.items():
        out = PayloadBuilder(UarCodingError)
        out.svar(value, "v", *I32)
        assert out.bytes() == bytes.fromhex(hexed)
        assert PayloadReader(bytes.fromhex(hexed), 0, "T").svar("v", *I32) == value
        assert [_unzigzag(z) for z in _uvars(bytes.fromhex(hexed))] == [value]


@pytest.mark.parametrize(
    "data, match",
    [
        (b"\x80\x00", "shortest"),  # 0 in two bytes
        (b"\xff\xff\xff\xff\x1f", "exceeds"),  # 2^33 - 1 > 2^32 - 1
        (b"\x80\x80\x80\x80\x80", "exceeds"),  # goes on past byte 5: rejected there, not read further
    ],
)
def test_the_varint_rejections_of_section_1(data, match):
    with pytest.raises(UarFormatError, match=match) as err:
        PayloadReader(data, 100, "T").uvar("v")
    assert err.value.offset == 100  # the field's first byte


def test_the_bf16_test_vector_of_section_1():
    """0.1 (binary32 0x3DCCCCCD) rounds to bfloat16 0x3DCD = 0.10009765625, stored cd 3d; a writer
    stores only bfloat16 values."""
    text = SPEC.read_text(encoding="utf-8")
    assert "0.1\n(`0x3DCCCCCD`) rounds to the bfloat16 value `0x3DCD` = 0.10009765625, stored `cd 3d`" in text
    assert struct.pack("<f", 0.1) == bytes.fromhex("cdcccc3d")
    assert to_bf16(0.1) == 0.10009765625 and struct.pack("<f", to_bf16(0.1)) == bytes.fromhex("0000cd3d")
    out = PayloadBuilder(UarCodingError)
    out.bf16(to_bf16(0.1), "mean")
    out.bf16(1.0, "std")
    assert out.bytes() == bytes.fromhex("cd 3d 80 3f")
    src = PayloadReader(out.bytes(), 0, "T")
    assert (src.bf16("mean"), src.bf16("std")) == (0.10009765625, 1.0)
    with pytest.raises(UarCodingError, match="bfloat16"):
        PayloadBuilder(UarCodingError).bf16(0.1, "mean")
    # ties to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7
    assert to_bf16(1 + 2**-8) == 1.0 and to_bf16(1 + 3 * 2**-8) == 1 + 2**-6


def test_the_compact_field_list_example_of_section_2():
    """{"dim": 8, "ks": [3, 1]}: 14 bytes in the compact layout, 41 in the fixed-width one."""
    fields = {"dim": 8, "ks": [3, 1]}
    compact, fixed = PayloadBuilder(UarSettingsError), PayloadBuilder(UarSettingsError)
    write_fields(compact, fields, "arch", compact=True)
    write_fields(fixed, fields, "arch")
    assert compact.bytes() == bytes.fromhex("02 03 64 69 6d 01 10 02 6b 73 05 02 06 02")
    assert len(fixed.bytes()) == 41
    assert "`02 03 64 69 6d 01 10 02 6b 73 05 02 06 02` (14 bytes; 41 in\nthe fixed-width layout)" in \
        SPEC.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------ section 6.1: sizes


def _rec(shape=(3, 4), lo=-3, hi=4, words=(1, 2), **changes) -> TensorRecord:
    fields = dict(shape=shape, ref_mode=RefMode.INTERP, step=0.25, mean=0.5, std=1.5, min_symbol=lo, max_symbol=hi,
                  words=np.array(words, dtype=np.uint32))
    fields.update(changes)
    return TensorRecord(**fields)


def _record_bytes(t: TensorRecord, header) -> int:
    """The bytes of ``t`` as the only tensor of a P-model (its model header minus an empty one's)."""
    with_t = serialize_model(ModelRecord(ModelKind.P, 1, 8, 0.5, [t]), 1, header)
    return len(with_t) - len(serialize_model(ModelRecord(ModelKind.P, 1, 8, 0.5, []), 1, header))


def _spec_size(t: TensorRecord) -> int:
    """Section 6.1, sizes in 1.4."""
    dims = sum(_uvar_len(d) for d in t.shape)
    if t.is_zero:
        return 2 + dims
    count = _byte_count(t.words)
    mask = 0 if t.channel_mask is None else (t.shape[0] + 7) // 8
    flags = 0 if t.zero_flags is None else 2
    return 10 + dims + _svar_len(t.min_symbol) + _svar_len(t.max_symbol) + _uvar_len(count) + count + flags + mask


SIZE_CASES = {
    "small": _rec(),
    "dim-127": _rec(shape=(127, 1)),
    "dim-128": _rec(shape=(128, 1)),
    "dim-16384": _rec(shape=(16384, 2)),
    "dim-max": _rec(shape=(2**31 - 1,)),
    "symbols-64": _rec(lo=-64, hi=63),
    "symbols-65": _rec(lo=-65, hi=64),
    "symbols-8192": _rec(lo=-8193, hi=8192),
    "symbols-i32": _rec(shape=(), lo=-(2**31), hi=2**31 - 1),
    "no-words": _rec(words=()),
    "last-word-1-byte": _rec(words=(0xFFFFFFFF, 0x7F)),
    "last-word-2-bytes": _rec(words=(0x100,)),
    "last-word-3-bytes": _rec(words=(5, 0x10000)),
    "last-word-4-bytes": _rec(words=(0x01000000,)),
    "byte-count-128": _rec(words=tuple(range(1, 34))),  # 4 * 32 + 1 = 129 bytes: a 2-byte uvar
    "mask-laplace-temporal": _rec(shape=(10, 2), channel_mask=np.array([c in (0, 9) for c in range(10)]),
                                  temporal=True, entropy_model=EntropyModel.LAPLACE),
    "zero-flags": _rec(zero_flags=0.5, entropy_model=EntropyModel.LAPLACE),
    "zero": _rec(lo=0, hi=0, words=()),
    "zero-wide": _rec(shape=(200, 70000), lo=0, hi=0, words=()),
    "zero-scalar": _rec(shape=(), lo=0, hi=0, words=()),
}


@pytest.mark.parametrize("name", sorted(SIZE_CASES))
def test_1_4_records_have_the_sizes_of_section_6_1(name):
    t = SIZE_CASES[name]
    header, _ = spec_example_1_4_records()
    header = replace(header, coding=replace(header.coding, gop_size=4))
    assert _record_bytes(t, header) == _spec_size(t)
    gom = GomRecord(0, 0, 2, [ModelRecord(ModelKind.I, 1, 7, 1.0, []), ModelRecord(ModelKind.P, 1, 8, 0.5, [t])])
    video = replace(header.video, num_frames=2)
    header = replace(header, video=video)
    payload = serialize_gom(gom, header)
    assert_goms_equal(parse_gom(payload, 0, header), gom, layout=4)
    assert serialize_gom(parse_gom(payload, 0, header), header) == payload


@pytest.mark.parametrize(
    "t, size_1_4, size_1_2",
    [
        (_rec(shape=(8, 4, 3, 3), words=(1, 2, 3, 4, 5)), 17, 28),  # a conv weight
        (_rec(shape=(8,), words=(1, 2, 3, 4, 5)), 14, 22),  # a bias
        (_rec(shape=(8,), lo=0, hi=0, words=()), 3, 4),  # a ZERO bias
    ],
    ids=["weight", "bias", "zero-bias"],
)
def test_the_usual_records_cost_what_section_6_1_says(t, size_1_4, size_1_2):
    header_1_4, _ = spec_example_1_4_records()
    header_1_2, _ = spec_example_1_2_records()
    assert _record_bytes(t, header_1_4) == size_1_4 + _byte_count(t.words)
    assert _record_bytes(t, header_1_2) == size_1_2 + 4 * t.words.size


def test_the_1_4_gom_and_model_headers_have_the_sizes_of_section_6_1():
    header, gom = spec_example_1_4_records()
    for index, first, frames, size in [(0, 0, 11, 4), (127, 0, 11, 4), (128, 0, 11, 5), (2**32 - 1, 0, 11, 8)]:
        g = replace(gom, index=index, first_frame=first, num_frames=frames)
        models = sum(len(serialize_model(m, j, header)) for j, m in enumerate(gom.models))
        assert len(serialize_gom(g, header)) - models == size
    assert [len(serialize_model(m, j, header)) - sum(_record_bytes(t, header) for t in m.tensors)
            for j, m in enumerate(gom.models)] == [11, 11]


# ------------------------------------------------------------------------------ section 6.2, check 8d
# Offsets of the 1.4 example (section 6.1.4): GOM header at 0x78; model 0's num_frames 0x7d; tensor
# 0's head 0x87, dims 0x89, mean 0x8f, std 0x91, min_symbol 0x93, max_symbol 0x94, byte_count
# 0x97, last word byte 0x9c; tensor 1's min_symbol 0xa8, max_symbol 0xab; the ZERO record's dims 0xc2.


def _payload() -> bytearray:
    return bytearray(spec_hex_dump(GOMD_MARKER)[1][8:-4])


def _splice(offset: int, old: str, new: str) -> bytes:
    """The example's GOMD payload with the bytes ``old`` at file ``offset`` replaced by ``new``
    (any length)."""
    payload = _payload()
    at = offset - PAYLOAD_AT
    assert payload[at : at + len(bytes.fromhex(old))] == bytes.fromhex(old)
    payload[at : at + len(bytes.fromhex(old))] = bytes.fromhex(new)
    return bytes(payload)


def _parse_error(payload: bytes) -> UarFormatError:
    header, _ = spec_example_1_4_records()
    with pytest.raises(UarFormatError) as err:
        parse_gom(payload, PAYLOAD_AT, header)
    assert err.value.chunk == "GOMD"
    return err.value


@pytest.mark.parametrize(
    "offset, old, new, error_at, match",
    [
        (0x87, "38", "78", 0x87, "bit 6"),  # SHORT set in 1.4
        (0xC0, "07", "47", 0xC0, "bit 6"),  # ... on a ZERO record
        (0x78, "00", "80 00", 0x78, "shortest"),  # gom_index 0 in two bytes
        (0x7D, "0a", "8a 80 80 80 80 00", 0x7D, "exceeds"),  # num_frames goes on past 5 bytes
        (0x89, "0a", "8a 00", 0x89, "shortest"),  # a dimension in two bytes
        (0x89, "0a", "80 80 80 80 08", 0x89, "exceeds"),  # a dimension 2^31
        (0xC2, "01", "00", 0xC2, "dimension 0"),  # a dimension 0
        (0x8F, "00 3e", "80 7f", 0x8F, "mean"),  # mean +inf
        (0x91, "68 3f", "00 00", 0x91, "std"),  # std 0
        (0x91, "68 3f", "00 80", 0x91, "std"),  # std -0
        (0x91, "68 3f", "c0 7f", 0x91, "std"),  # std NaN
        (0x93, "01", "81 00", 0x93, "shortest"),  # min_symbol in two bytes
        (0xAB, "80 f1 04", "80 80 80 80 10", 0xAB, "exceeds"),  # max_symbol 2^31 (zigzag 2^32)
        (0x93, "01", "06", 0x94, "min_symbol 3 > max_symbol 2"),  # check 10: at max_symbol
        (0xA8, "ff f0 04 80 f1 04", "00 00", 0xA9, "must be a ZERO record"),  # all 0: at max_symbol
        (0x97, "05", "7f", 0x97, "byte_count 127 exceeds"),  # more bytes than the payload has
        (0x97, "05 6a 6c ed e5 1d", "05 6a 6c ed e5 00", 0x97, "last byte is 0"),
        (0x97, "05 6a 6c ed e5 1d", "06 6a 6c ed e5 1d 00", 0x97, "last byte is 0"),  # a word 0x1d, 5 bytes
    ],
)
def test_reader_checks_of_8d_at_their_offsets(offset, old, new, error_at, match):
    err = _parse_error(_splice(offset, old, new))
    assert err.offset == error_at
    assert re.search(match, str(err)), str(err)


def test_the_same_checks_through_the_reader_with_the_crc_recomputed():
    """A one-byte patch of the stream (the GOMD CRC recomputed): the bit 6 check of 8d."""
    data = patch_gomd(spec_example_1_4_stream(), 0x87, b"\x78", GOMD_AT)
    assert gom_read_error(data).offset == 0x87


def _zero_flagged_gom():
    """Section 6.1.3's example symbols as a zero-flagged 1.4 record (the I-model's only tensor)."""
    q = np.array([0, 0, 3, 0, -1, 0, 1], np.int32)
    a = to_bf16(flag_param(4 / 7))
    enc = encode_zero_flagged(q, -0.5, 1.0, a, model=EntropyModel.LAPLACE)
    t = TensorRecord((7,), RefMode.NONE, 0.25, -0.5, 1.0, enc.min_symbol, enc.max_symbol, enc.words,
                     EntropyModel.LAPLACE, zero_flags=a)
    header, gom = spec_example_1_4_records()
    gom = GomRecord(0, 0, 1, [ModelRecord(ModelKind.I, 1, 7, 1.0, [t])])
    return header, gom, t


def test_a_zero_flagged_1_4_record_and_its_checks():
    header, gom, t = _zero_flagged_gom()
    payload = serialize_gom(gom, header)
    # head, rank, dim, step (4), mean, std, flag_param (bf16 each), min, max, byte_count, bytes
    start = 4 + 11
    assert payload[start] == 0xA0 and len(payload) - start == _spec_size(t)
    flag_at = start + 3 + 4 + 2 + 2
    assert payload[flag_at : flag_at + 2] == struct.pack("<f", t.zero_flags)[2:]  # the upper 16 bits
    got = parse_gom(payload, 0, header)
    assert_goms_equal(got, gom, layout=4)
    count_at = len(payload) - _byte_count(t.words) - 1
    assert payload[count_at] == _byte_count(t.words) > 0
    for at, new, match in [
        (flag_at, b"\x00\x00", "flag parameter"),  # 0
        (flag_at, b"\x00\x80", "flag parameter"),  # -0
        (flag_at, b"\x80\x7f", "flag parameter"),  # inf
    ]:
        bad = bytearray(payload)
        bad[at : at + 2] = new
        with pytest.raises(UarFormatError, match=match) as err:
            parse_gom(bytes(bad), 1000, header)
        assert err.value.offset == 1000 + at
    with pytest.raises(UarFormatError, match="no words") as err:  # byte_count 0
        parse_gom(payload[:count_at] + b"\x00", 1000, header)
    assert err.value.offset == 1000 + count_at


def test_the_1_4_writer_refuses_what_it_could_not_store_exactly():
    """Section 1: a bf16 field takes only bfloat16 values; section 6.1: a last word 0 cannot be
    cut to its last nonzero byte. Nothing is rounded silently."""
    header, gom = spec_example_1_4_records()
    for change, match in [
        (lambda t: setattr(t, "mean", 0.1), "bfloat16"),
        (lambda t: setattr(t, "std", 0.9), "bfloat16"),
        (lambda t: setattr(t, "words", np.array([0xE5ED6C6A, 0], np.uint32)), "last coded word is 0"),
    ]:
        _, g = spec_example_1_4_records()
        change(g.models[0].tensors[0])
        with pytest.raises(UarCodingError, match=match):
            serialize_gom(g, header)
    _, g = spec_example_1_4_records()
    g.models[0].tensors[0].mean = to_bf16(0.1)
    assert parse_gom(serialize_gom(g, header), 0, header).models[0].tensors[0].mean == 0.10009765625


@pytest.mark.parametrize(
    "offset, old, new, error_at",
    [
        (0x39, "02", "82 00", 0x39),  # arch count not in its shortest form
        (0x3A, "03 64 69 6d", "00", 0x3A),  # an empty key (key length 0)
        (0x3F, "10", "90 00", 0x3F),  # an int not in its shortest form
        (0x44, "02", "7f", 0x44),  # a list longer than the bytes left... (127 elements)
    ],
)
def test_reader_checks_the_compact_field_lists(offset, old, new, error_at):
    head = bytearray(spec_hex_dump(HEAD_MARKER)[1][8:-4])
    at = offset - 0x10
    assert head[at : at + len(bytes.fromhex(old))] == bytes.fromhex(old)
    head[at : at + len(bytes.fromhex(old))] = bytes.fromhex(new)
    with pytest.raises(UarFormatError) as err:
        parse_header(bytes(head), 0x10)
    assert err.value.offset == error_at and err.value.chunk == "HEAD"


# ------------------------------------------------------------------------------ section 7.1


def test_the_index_minimum_chunk_length_is_12_plus_4_in_1_4():
    header_1_4, _ = spec_example_1_4_records()
    header_1_3 = replace(header_1_4, writer_version=(1, 3), min_reader_version=(1, 3))
    assert (min_gom_header_bytes(header_1_4), min_gom_header_bytes(header_1_3)) == (4, 16)
    for length, ok_1_4, ok_1_3 in [(12 + 4, True, False), (12 + 3, False, False), (12 + 16, True, True)]:
        entries = [GomIndexEntry(0, 100, length, 0, 11)]
        for minimum, ok in [(4, ok_1_4), (16, ok_1_3)]:
            if ok:
                check_index(entries, 100, 1000, 11, minimum)
            else:
                with pytest.raises(UarFormatError, match="too short"):
                    check_index(entries, 100, 1000, 11, minimum)
    text = SPEC.read_text(encoding="utf-8")
    assert "every `length` ≥ 12 + 16" in text and "≥ 12 + 4 from\n   (1, 4) on" in text
