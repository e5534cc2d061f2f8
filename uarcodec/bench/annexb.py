"""H.264 / H.265 Annex-B elementary streams: split into NAL units, drop encoder-info SEI.

x264 and x265 write their version string and full option list as a "user data unregistered"
SEI message (x265 repeats about 2.3 kB of it at every key frame). It is not video data, so the
bench counts the stream without it, as MEASUREMENTS.md does. An SEI NAL unit is dropped only
when *every* message in it is user data unregistered; other SEI (recovery point, hashes, ...)
is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from uarcodec.errors import UarInputError

Codec = Literal["h264", "hevc"]

_USER_DATA_UNREGISTERED = 5
_H264_SEI = 6
_HEVC_PREFIX_SEI = 39
_HEVC_SUFFIX_SEI = 40


@dataclass(frozen=True)
class NalUnit:
    """One NAL unit: ``data`` includes its start code; ``header`` is at ``data[prefix:]``."""

    data: bytes
    prefix: int

    @property
    def payload(self) -> bytes:
        return self.data[self.prefix :]


def split_nal_units(stream: bytes) -> list[NalUnit]:
    """Split an Annex-B byte stream into units that concatenate back to the stream.

    Each unit starts at its start code, with the zero bytes just before it (a 4-byte start
    code's zero_byte or trailing zeros), so dropping a unit drops all of its bytes.
    """
    codes = []
    i = stream.find(b"\x00\x00\x01")
    while i >= 0:
        codes.append(i)
        i = stream.find(b"\x00\x00\x01", i + 3)
    if not codes:
        if stream:
            raise UarInputError("not an Annex-B stream: no start code found")
        return []
    begins = [0]
    for k in range(1, len(codes)):
        begin = codes[k]
        while begin > codes[k - 1] + 3 and stream[begin - 1] == 0:
            begin -= 1
        begins.append(begin)
    ends = begins[1:] + [len(stream)]
    return [
        NalUnit(stream[b:e], code + 3 - b) for b, e, code in zip(begins, ends, codes, strict=True)
    ]


def nal_type(unit: NalUnit, codec: Codec) -> int:
    """The nal_unit_type of a unit."""
    payload = unit.payload
    if not payload:
        raise UarInputError("empty NAL unit")
    return payload[0] & 0x1F if codec == "h264" else (payload[0] >> 1) & 0x3F


def _rbsp(payload: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    out = bytearray()
    zeros = 0
    for byte in payload:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def sei_payload_types(unit: NalUnit, codec: Codec) -> list[int]:
    """The payloadType of every SEI message in an SEI NAL unit."""
    header = 1 if codec == "h264" else 2
    rbsp = _rbsp(unit.payload[header:])
    types = []
    pos = 0
    while pos < len(rbsp) and not (rbsp[pos] == 0x80 and pos == len(rbsp) - 1):
        payload_type, pos = _read_ff_coded(rbsp, pos)
        size, pos = _read_ff_coded(rbsp, pos)
        types.append(payload_type)
        pos += size
    if pos > len(rbsp):
        raise UarInputError("truncated SEI message")
    return types


def _read_ff_coded(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while pos < len(data) and data[pos] == 0xFF:
        value += 255
        pos += 1
    if pos >= len(data):
        raise UarInputError("truncated SEI header")
    return value + data[pos], pos + 1


def is_encoder_info_sei(unit: NalUnit, codec: Codec) -> bool:
    """True for an SEI NAL unit made only of user-data-unregistered messages."""
    kind = nal_type(unit, codec)
    sei_types = (_H264_SEI,) if codec == "h264" else (_HEVC_PREFIX_SEI, _HEVC_SUFFIX_SEI)
    if kind not in sei_types:
        return False
    types = sei_payload_types(unit, codec)
    return bool(types) and all(t == _USER_DATA_UNREGISTERED for t in types)


def strip_encoder_info(stream: bytes, codec: Codec) -> bytes:
    """The stream without its encoder-info SEI NAL units (every other byte kept in order)."""
    kept = [u.data for u in split_nal_units(stream) if not is_encoder_info_sei(u, codec)]
    return b"".join(kept)
