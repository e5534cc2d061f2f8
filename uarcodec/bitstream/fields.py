"""Field lists: the declarative key/value records of the header (spec section 2), in the
fixed-width layout (formats 1.0 to 1.3) or the compact one (format 1.4: varint counts, lengths
and integers)."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from uarcodec.bitstream.primitives import PayloadBuilder, PayloadReader
from uarcodec.bitstream.records import FieldValue

MAX_KEY_BYTES = 255
MAX_FIELDS = 2**16 - 1


class FieldTag(enum.IntEnum):
    INT = 1
    FLOAT = 2
    STR = 3
    BOOL = 4
    INT_LIST = 5
    FLOAT_LIST = 6


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_float(v: object) -> bool:
    return isinstance(v, (float, np.floating))


I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def _write_int(out: PayloadBuilder, value: int, what: str, compact: bool) -> None:
    if compact:
        out.svar(value, what, I64_MIN, I64_MAX)
    else:
        out.i64(value, what)


def _write_length(out: PayloadBuilder, n: int, what: str, compact: bool) -> None:
    if compact:
        out.uvar(n, what)
    else:
        out.u32(n, what)


def _string_length(compact: bool) -> str:
    """The byte count of a string value: ``u16``, in the compact layout a ``uvar``."""
    return "uvar" if compact else "u16"


def _write_value(out: PayloadBuilder, key: str, value: FieldValue, compact: bool) -> None:
    what = f"field {key!r}"
    if isinstance(value, (bool, np.bool_)):
        out.u8(FieldTag.BOOL, "tag")
        out.u8(int(bool(value)), what)
    elif _is_int(value):
        out.u8(FieldTag.INT, "tag")
        _write_int(out, value, what, compact)
    elif _is_float(value):
        out.u8(FieldTag.FLOAT, "tag")
        out.f64(value, what)
    elif isinstance(value, str):
        out.u8(FieldTag.STR, "tag")
        out.string(value, what, length=_string_length(compact))
    elif isinstance(value, (list, tuple)):
        items = list(value)
        if all(_is_int(v) for v in items):
            out.u8(FieldTag.INT_LIST, "tag")
            _write_length(out, len(items), f"{what} length", compact)
            for v in items:
                _write_int(out, v, what, compact)
        elif all(_is_float(v) for v in items):
            out.u8(FieldTag.FLOAT_LIST, "tag")
            _write_length(out, len(items), f"{what} length", compact)
            for v in items:
                out.f64(v, what)
        else:
            raise out.fail(f"{what}: a list must hold only ints or only floats, got {value!r}")
    else:
        raise out.fail(f"{what}: unsupported value type {type(value).__name__}")


def _value_bytes(out: PayloadBuilder, key: str, value: FieldValue) -> bytes:
    """The tag and value bytes of one field (what makes two values of a field equal; the same
    in either layout)."""
    part = out.spawn()
    _write_value(part, key, value, compact=False)
    return part.bytes()


def _is_baseline(out: PayloadBuilder, key: str, value: FieldValue, baseline: Mapping[str, FieldValue]) -> bool:
    """``value`` has the type and value of ``key``'s baseline entry (none: False)."""
    return key in baseline and _value_bytes(out, key, value) == _value_bytes(out, key, baseline[key])


def _sort_key(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def write_fields(out: PayloadBuilder, fields: dict[str, FieldValue], what: str,
                 baseline: Mapping[str, FieldValue] = MappingProxyType({}), *, compact: bool = False) -> None:
    """Appends ``fields`` as a field list, keys sorted by their UTF-8 bytes, leaving out every
    field whose type and value equal its ``baseline`` entry (spec 5.1.1); ``compact``: the
    format 1.4 layout."""
    if not isinstance(fields, dict):
        raise out.fail(f"{what} must be a dict, got {type(fields).__name__}")
    for key in fields:
        if not isinstance(key, str) or not key:
            raise out.fail(f"{what}: field names must be non-empty strings, got {key!r}")
    kept = [k for k in sorted(fields, key=_sort_key) if not _is_baseline(out, k, fields[k], baseline)]
    if len(kept) > MAX_FIELDS:
        raise out.fail(f"{what} has {len(kept)} fields, at most {MAX_FIELDS} allowed")
    if compact:
        out.uvar(len(kept), f"{what} count", MAX_FIELDS)
    else:
        out.u16(len(kept), f"{what} count")
    for key in kept:
        out.string(key, f"{what} key", max_bytes=MAX_KEY_BYTES, length="u8" if compact else "u16")
        _write_value(out, key, fields[key], compact)


def _list_length(src: PayloadReader, what: str, compact: bool) -> int:
    """An element count; every element takes at least one byte (compact) or eight."""
    at = src.offset
    n = src.uvar(f"{what} length") if compact else src.u32(f"{what} length")
    if (1 if compact else 8) * n > src.remaining:
        raise src.error(f"{what}: {n} elements do not fit in the {src.remaining} bytes left", at=at)
    return n


def _read_int(src: PayloadReader, what: str, compact: bool) -> int:
    return src.svar(what, I64_MIN, I64_MAX) if compact else src.i64(what)


def _read_value(src: PayloadReader, tag: int, key: str, tag_at: int, compact: bool) -> FieldValue:
    what = f"field {key!r}"
    if tag == FieldTag.INT:
        return _read_int(src, what, compact)
    if tag == FieldTag.FLOAT:
        at = src.offset
        value = src.f64(what)
        if not math.isfinite(value):
            raise src.error(f"{what} is not finite", at=at)
        return value
    if tag == FieldTag.STR:
        return src.string(what, _string_length(compact))
    if tag == FieldTag.BOOL:
        at = src.offset
        byte = src.u8(what)
        if byte > 1:
            raise src.error(f"{what}: bool byte is {byte}, not 0 or 1", at=at)
        return bool(byte)
    if tag == FieldTag.INT_LIST:
        n = _list_length(src, what, compact)
        return [_read_int(src, what, compact) for _ in range(n)] if compact else src.i64_list(n, what)
    if tag == FieldTag.FLOAT_LIST:
        n = _list_length(src, what, compact)
        at = src.offset
        values = src.f64_list(n, what)
        if not all(math.isfinite(v) for v in values):
            raise src.error(f"{what} holds a non-finite float", at=at)
        return values
    raise src.error(f"{what}: unknown type tag {tag}", at=tag_at)


def _with_baseline(fields: dict[str, FieldValue], baseline: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
    """``fields`` plus every absent ``baseline`` field (lists as lists), keys in stream order."""
    if not baseline:
        return fields
    merged = {k: list(v) if isinstance(v, tuple) else v for k, v in baseline.items()}
    merged.update(fields)
    return {k: merged[k] for k in sorted(merged, key=_sort_key)}


def read_fields(src: PayloadReader, what: str,
                baseline: Mapping[str, FieldValue] = MappingProxyType({}), *,
                compact: bool = False) -> dict[str, FieldValue]:
    """A field list, plus the ``baseline`` fields it leaves out (a field written with its
    baseline value is read as written: informational fields never fail a read); ``compact``:
    the format 1.4 layout."""
    count = src.uvar(f"{what} count", MAX_FIELDS) if compact else src.u16(f"{what} count")
    fields: dict[str, FieldValue] = {}
    previous: bytes | None = None
    for _ in range(count):
        at = src.offset
        key = src.string(f"{what} key", "u8" if compact else "u16")
        raw_key = key.encode("utf-8")
        if not raw_key or len(raw_key) > MAX_KEY_BYTES:
            raise src.error(f"{what}: key length {len(raw_key)} outside 1..{MAX_KEY_BYTES}", at=at)
        if previous is not None and raw_key <= previous:
            raise src.error(f"{what}: key {key!r} repeated or out of order", at=at)
        previous = raw_key
        tag_at = src.offset
        tag = src.u8("tag")
        fields[key] = _read_value(src, tag, key, tag_at, compact)
    return _with_baseline(fields, baseline)
