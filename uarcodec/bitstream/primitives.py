"""Little-endian primitive types of the .uar format (spec section 1): a checked payload reader
and a checked payload builder.

``PayloadReader`` never reads past its buffer: every overrun is a ``UarFormatError`` naming the
chunk and the absolute file offset. ``PayloadBuilder`` range-checks every value and raises the
error class it was given (settings errors for the header, coding errors for GOM records).
"""

from __future__ import annotations

import math
import struct

import numpy as np

from uarcodec.errors import UarError, UarFormatError

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I16 = struct.Struct("<h")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")

U16_MAX = 2**16 - 1
U32_MAX = 2**32 - 1
I16_MIN, I16_MAX = -(2**15), 2**15 - 1
I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def to_f32(value: float) -> float:
    """The binary32 value nearest to ``value`` (as a Python float); raises OverflowError."""
    return _F32.unpack(_F32.pack(float(value)))[0]


def to_bf16(value: float) -> float:
    """The bfloat16 value nearest to ``value`` (round to nearest, ties to even, from its
    binary32 value), as a Python float: what a format 1.4 ``bf16`` field stores exactly. Raises
    OverflowError where the binary32 value or the rounding overflows."""
    bits = _U32.unpack(_F32.pack(float(value)))[0]
    if (bits >> 23) & 0xFF == 0xFF:
        raise OverflowError(f"{value!r} is not finite")
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    if (bits >> 7) & 0xFF == 0xFF:
        raise OverflowError(f"{value!r} overflows bfloat16")
    return _F32.unpack(_U32.pack(bits << 16))[0]


def uvar_bytes(value: int) -> bytes:
    """``value`` >= 0 as an unsigned LEB128 varint (format 1.4 ``uvar``): seven bits a byte,
    the lowest group first, bit 7 set on every byte but the last."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def zigzag(value: int) -> int:
    """The ``svar`` mapping of a signed integer to an unsigned one: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ..."""
    return 2 * value if value >= 0 else -2 * value - 1


class PayloadReader:
    """A cursor over one chunk payload; ``base`` is the payload's offset in the file."""

    def __init__(self, data: bytes, base: int, chunk: str):
        self._data = data
        self._pos = 0
        self.base = base
        self.chunk = chunk

    @property
    def offset(self) -> int:
        """File offset of the next unread byte."""
        return self.base + self._pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def error(self, message: str, at: int | None = None) -> UarFormatError:
        return UarFormatError(message, chunk=self.chunk, offset=self.offset if at is None else at)

    def _need(self, n: int, what: str) -> None:
        if n > self.remaining:
            raise self.error(f"truncated payload: {what} needs {n} bytes, {self.remaining} left")

    def _unpack(self, st: struct.Struct, what: str):
        self._need(st.size, what)
        (value,) = st.unpack_from(self._data, self._pos)
        self._pos += st.size
        return value

    def u8(self, what: str) -> int:
        return self._unpack(_U8, what)

    def u16(self, what: str) -> int:
        return self._unpack(_U16, what)

    def u32(self, what: str) -> int:
        return self._unpack(_U32, what)

    def u64(self, what: str) -> int:
        return self._unpack(_U64, what)

    def i16(self, what: str) -> int:
        return self._unpack(_I16, what)

    def i32(self, what: str) -> int:
        return self._unpack(_I32, what)

    def i64(self, what: str) -> int:
        return self._unpack(_I64, what)

    def f32(self, what: str) -> float:
        return self._unpack(_F32, what)

    def f64(self, what: str) -> float:
        return self._unpack(_F64, what)

    def bf16(self, what: str) -> float:
        """A format 1.4 ``bf16``: the upper 16 bits of a binary32 (the lower 16 are 0)."""
        return _F32.unpack(_U32.pack(self._unpack(_U16, what) << 16))[0]

    def uvar(self, what: str, max_value: int = U32_MAX) -> int:
        """A format 1.4 ``uvar`` (unsigned LEB128) in its one shortest encoding, at most
        ``max_value``."""
        at = self.offset
        value = shift = 0
        while True:
            byte = self.u8(what)
            value |= (byte & 0x7F) << shift
            shift += 7
            if value > max_value or (byte & 0x80 and shift >= max_value.bit_length()):
                raise self.error(f"{what}: varint value exceeds {max_value}", at=at)
            if not byte & 0x80:
                break
        if byte == 0 and shift > 7:
            raise self.error(f"{what}: varint is not in its shortest form", at=at)
        return value

    def svar(self, what: str, lo: int, hi: int) -> int:
        """A format 1.4 ``svar`` (zigzag, then ``uvar``) in [lo, hi]."""
        at = self.offset
        z = self.uvar(what, max(zigzag(lo), zigzag(hi)))
        value = z >> 1 if not z & 1 else -(z >> 1) - 1
        if not lo <= value <= hi:
            raise self.error(f"{what} = {value} is outside [{lo}, {hi}]", at=at)
        return value

    def raw(self, n: int, what: str) -> bytes:
        self._need(n, what)
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return bytes(out)

    def string(self, what: str, length: str = "u16", max_bytes: int = U16_MAX) -> str:
        """UTF-8 after a byte count: ``u16`` (a ``str``), or (format 1.4) ``uvar`` up to
        ``max_bytes`` or ``u8``."""
        at = self.offset
        if length == "uvar":
            n = self.uvar(f"{what} length", max_bytes)
        else:
            n = self.u8(f"{what} length") if length == "u8" else self.u16(f"{what} length")
        data = self.raw(n, what)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(f"{what} is not valid UTF-8", at=at) from None

    def u32_array(self, count: int, what: str) -> np.ndarray:
        self._need(4 * count, what)
        arr = np.frombuffer(self._data, dtype="<u4", count=count, offset=self._pos)
        self._pos += 4 * count
        return arr.astype(np.uint32)

    def i64_list(self, count: int, what: str) -> list[int]:
        self._need(8 * count, what)
        values = struct.unpack_from(f"<{count}q", self._data, self._pos)
        self._pos += 8 * count
        return list(values)

    def f64_list(self, count: int, what: str) -> list[float]:
        self._need(8 * count, what)
        values = struct.unpack_from(f"<{count}d", self._data, self._pos)
        self._pos += 8 * count
        return list(values)

    def expect_end(self) -> None:
        if self.remaining:
            raise self.error(f"{self.remaining} unexpected bytes after the last field")


class PayloadBuilder:
    """Appends range-checked little-endian values; ``error`` is the class raised on bad values."""

    def __init__(self, error: type[UarError]):
        self._parts: list[bytes] = []
        self._error = error

    def bytes(self) -> bytes:
        return b"".join(self._parts)

    def fail(self, message: str) -> UarError:
        return self._error(message)

    def spawn(self) -> PayloadBuilder:
        """An empty builder raising the same error class."""
        return PayloadBuilder(self._error)

    def integer(self, value: int, lo: int, hi: int, what: str) -> int:
        """``value`` as an int after checking it is an integer in [lo, hi] (nothing appended)."""
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise self.fail(f"{what} must be an integer, got {value!r}")
        value = int(value)
        if not lo <= value <= hi:
            raise self.fail(f"{what} = {value} is outside [{lo}, {hi}]")
        return value

    def float32(self, value: float, what: str) -> float:
        """The binary32 value nearest to ``value`` (nothing appended); unrepresentable values fail."""
        try:
            return to_f32(value)
        except (OverflowError, TypeError, ValueError):
            raise self.fail(f"{what} = {value!r} is not representable as float32") from None

    def _int(self, st: struct.Struct, lo: int, hi: int, value: int, what: str) -> None:
        self._parts.append(st.pack(self.integer(value, lo, hi, what)))

    def u8(self, value: int, what: str) -> None:
        self._int(_U8, 0, 2**8 - 1, value, what)

    def u16(self, value: int, what: str) -> None:
        self._int(_U16, 0, U16_MAX, value, what)

    def u32(self, value: int, what: str) -> None:
        self._int(_U32, 0, U32_MAX, value, what)

    def u64(self, value: int, what: str) -> None:
        self._int(_U64, 0, 2**64 - 1, value, what)

    def i16(self, value: int, what: str) -> None:
        self._int(_I16, I16_MIN, I16_MAX, value, what)

    def i32(self, value: int, what: str) -> None:
        self._int(_I32, I32_MIN, I32_MAX, value, what)

    def i64(self, value: int, what: str) -> None:
        self._int(_I64, -(2**63), 2**63 - 1, value, what)

    def f32(self, value: float, what: str) -> float:
        """Stores the binary32 value nearest to ``value`` and returns it (for range checks)."""
        stored = self.float32(value, what)
        self._parts.append(_F32.pack(stored))
        return stored

    def f64(self, value: float, what: str) -> None:
        if not isinstance(value, (float, np.floating)) or not math.isfinite(value):
            raise self.fail(f"{what} must be a finite float, got {value!r}")
        self._parts.append(_F64.pack(float(value)))

    def bf16(self, value: float, what: str) -> float:
        """Stores ``value``, which must be a bfloat16 value exactly (:func:`to_bf16`: the coder
        computed with it), and returns it."""
        stored = self.float32(value, what)
        try:
            exact = math.isfinite(stored) and to_bf16(stored) == stored
        except OverflowError:
            exact = False
        if not exact:
            raise self.fail(f"{what} = {value!r} is not a finite bfloat16 value")
        self._parts.append(_U16.pack(_U32.unpack(_F32.pack(stored))[0] >> 16))
        return stored

    def uvar(self, value: int, what: str, max_value: int = U32_MAX) -> None:
        self._parts.append(uvar_bytes(self.integer(value, 0, max_value, what)))

    def svar(self, value: int, what: str, lo: int, hi: int) -> None:
        self._parts.append(uvar_bytes(zigzag(self.integer(value, lo, hi, what))))

    def raw(self, data: bytes) -> None:
        self._parts.append(bytes(data))

    def string(self, value: str, what: str, max_bytes: int = 2**16 - 1, length: str = "u16") -> None:
        """UTF-8 after a byte count: ``u16`` (a ``str``), or (format 1.4) ``uvar`` or ``u8``."""
        if not isinstance(value, str):
            raise self.fail(f"{what} must be a string, got {value!r}")
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.fail(f"{what} cannot be encoded as UTF-8") from None
        if len(data) > max_bytes:
            raise self.fail(f"{what} is {len(data)} bytes long, at most {max_bytes} allowed")
        if length == "uvar":
            self.uvar(len(data), f"{what} length", max_bytes)
        else:
            (self.u8 if length == "u8" else self.u16)(len(data), f"{what} length")
        self._parts.append(data)
