"""Encoder settings to and from JSON-ready dicts: the bench's job files (read back by the encode
child process) and the ``encoder`` part of a uarcodec curve's results settings (its cache key)."""

from __future__ import annotations

import dataclasses
from typing import Any

from uarcodec.settings import LATER_TRAINING_DEFAULTS, EncoderSettings, EpsLaw, TrainingSettings


# Settings added after results were first cached, with the value that behaves as before they
# existed. At that value they are left out of the dict, so a cached curve keeps matching the
# settings that made it; read back, a missing field takes its dataclass default.
LATER_ENCODER_FIELDS: dict[str, Any] = {"target_bpp": None, "camera_moves": None, "latent_context_order": None}
LATER_TRAINING_FIELDS: dict[str, Any] = {"grid_lr_scale": 1.0, "compile": False, "epochs_p_moving": None,
                                         "lambda_p_scale_moving": None,
                                         **LATER_TRAINING_DEFAULTS}


def settings_to_dict(settings: EncoderSettings) -> dict[str, Any]:
    """JSON-ready encoder settings (read back with :func:`settings_from_dict`)."""
    data = dataclasses.asdict(settings)
    _drop_at(data, LATER_ENCODER_FIELDS)
    _drop_at(data["training"], LATER_TRAINING_FIELDS)
    return data


def _drop_at(data: dict[str, Any], fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name in data and data[name] == value:
            del data[name]


def settings_from_dict(data: dict[str, Any]) -> EncoderSettings:
    values = dict(data)
    values["training"] = TrainingSettings(**values["training"])
    values["eps_law"] = EpsLaw(**values["eps_law"])
    return EncoderSettings(**values)


__all__ = ["LATER_ENCODER_FIELDS", "LATER_TRAINING_FIELDS", "settings_from_dict", "settings_to_dict"]
