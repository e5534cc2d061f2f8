"""Stable numeric ids of the INR families. An id, once released, never changes meaning.

The table names each family's module and class; a family's module is imported only when the
family is used, so the registry itself imports no model (and no model imports the registry).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from uarcodec.errors import UarFormatError
from uarcodec.settings import parse_choice
from uarcodec.vocabulary import ModelFamily

if TYPE_CHECKING:
    from uarcodec.models.base import InrModel


@dataclass(frozen=True)
class FamilyEntry:
    family: ModelFamily
    family_id: int  # written in the stream header
    module: str
    class_name: str


FAMILY_TABLE: tuple[FamilyEntry, ...] = (
    FamilyEntry(ModelFamily.HNERV, 1, "uarcodec.models.hnerv", "HNeRV"),
    FamilyEntry(ModelFamily.HINERV, 2, "uarcodec.models.hinerv", "HiNeRV"),
    FamilyEntry(ModelFamily.LATENT, 3, "uarcodec.models.latent", "LatentGrids"),
)


def _load(entry: FamilyEntry) -> type[InrModel]:
    cls = getattr(importlib.import_module(entry.module), entry.class_name)
    if cls.family_id != entry.family_id or cls.family_name != entry.family.value:
        raise RuntimeError(f"{entry.module}.{entry.class_name} does not match its registry entry")
    return cls


def families() -> dict[str, type[InrModel]]:
    """Every family by name, in id order."""
    return {e.family.value: _load(e) for e in FAMILY_TABLE}


def family_by_name(name: ModelFamily | str) -> type[InrModel]:
    family = parse_choice(ModelFamily, name, "family")
    return _load(next(e for e in FAMILY_TABLE if e.family == family))


def family_by_id(family_id: int) -> type[InrModel]:
    for entry in FAMILY_TABLE:
        if entry.family_id == family_id:
            return _load(entry)
    raise UarFormatError(f"unknown model family id {family_id}")
