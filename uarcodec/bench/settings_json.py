"""Encoder settings to and from JSON-ready dicts: the bench's job files (read back by the encode
child process) and the ``encoder`` part of a uarcodec curve's results settings (its cache key)."""

from __future__ import annotations

import dataclasses
from typing import Any

from uarcodec.settings import EncoderSettings, EpsLaw, TrainingSettings


def settings_to_dict(settings: EncoderSettings) -> dict[str, Any]:
    """JSON-ready encoder settings (read back with :func:`settings_from_dict`)."""
    return dataclasses.asdict(settings)


def settings_from_dict(data: dict[str, Any]) -> EncoderSettings:
    values = dict(data)
    values["training"] = TrainingSettings(**values["training"])
    values["eps_law"] = EpsLaw(**values["eps_law"])
    return EncoderSettings(**values)


__all__ = ["settings_from_dict", "settings_to_dict"]
