"""The encoder settings baseline of format 1.2 (spec 5.1.1): a frozen table of informational
encoder settings that a 1.2 ``HEAD`` leaves out when a setting has exactly this type and value.

The table is part of the format: it never changes (a later baseline would come with a later
format version). Its values are the reference encoder's defaults when format 1.2 was made.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from uarcodec.bitstream.records import FieldValue

BASELINE_VERSION = (1, 2)  # the first format version whose HEAD leaves the baseline out

ENCODER_SETTINGS_BASELINE: Mapping[str, FieldValue] = MappingProxyType({
    "batch_size": 1,
    "compile": False,
    "device": "cpu",
    "distortion": "yuv",
    "eps_law": (1.0000406, 0.001, 0.0),  # a list of f64 in the stream (a tuple here: frozen)
    "grid_lr_scale": 1.0,
    "init": "ii",
    "init_bits": 6,
    "lambda_p_scale": 0.5,
    "lr_p_scale": 0.3,
    "min_std": 0.05,
    "precision": "bf16",
    "qat_bits": 8,
    "quant": "rqec",
    "rate_model": "laplace",
    "rate_noise": False,
    "seed": 0,
    "step_lr_scale": 30.0,
    "use_encoder": True,
    "use_ref": True,
    "warmup": 0.1,
    "warmup_p": 0.0,
})


def settings_baseline(min_reader_version: tuple[int, int]) -> Mapping[str, FieldValue]:
    """The baseline a stream needing this reader version leaves out (empty before 1.2)."""
    return ENCODER_SETTINGS_BASELINE if min_reader_version >= BASELINE_VERSION else MappingProxyType({})
