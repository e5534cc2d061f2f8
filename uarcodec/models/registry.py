"""Stable numeric ids of the INR families. An id, once released, never changes meaning."""

from __future__ import annotations

from uarcodec.bitstream.records import FieldValue
from uarcodec.errors import UarFormatError, UarSettingsError
from uarcodec.models.base import InrModel

_FAMILIES: dict[int, type[InrModel]] = {}


def register(cls: type[InrModel]) -> type[InrModel]:
    """Class decorator adding a family under its ``family_id`` and ``family_name``."""
    if cls.family_id in _FAMILIES and _FAMILIES[cls.family_id] is not cls:
        raise ValueError(f"family id {cls.family_id} is taken by {_FAMILIES[cls.family_id].__name__}")
    _FAMILIES[cls.family_id] = cls
    return cls


def _load_builtin() -> None:
    # Imported for their @register side effect; kept here so the registry is always complete.
    from uarcodec.models import hinerv, hnerv  # noqa: F401


def families() -> dict[str, type[InrModel]]:
    _load_builtin()
    return {cls.family_name: cls for cls in _FAMILIES.values()}


def family_by_name(name: str) -> type[InrModel]:
    fams = families()
    if name not in fams:
        raise UarSettingsError(f"unknown model family {name!r} (known: {', '.join(sorted(fams))})")
    return fams[name]


def family_by_id(family_id: int) -> type[InrModel]:
    _load_builtin()
    if family_id not in _FAMILIES:
        raise UarFormatError(f"unknown model family id {family_id}")
    return _FAMILIES[family_id]


def build_model(
    family_id: int, fields: dict[str, FieldValue], height: int, width: int, num_frames: int
) -> InrModel:
    """Rebuild a family's network from the stream's architecture fields."""
    cls = family_by_id(family_id)
    config = cls.config_type.from_fields(fields)
    return cls(config, height, width, num_frames)
