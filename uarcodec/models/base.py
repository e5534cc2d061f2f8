"""The one interface every INR family implements.

A family is one module (``hnerv.py``, ``hinerv.py``) with an :class:`ArchConfig` subclass and an
:class:`InrModel` subclass, registered in ``registry.py`` under a stable numeric id.

What the rest of the codec relies on:

* ``Family(config, height, width, num_frames)`` builds the network for one GOP of
  ``num_frames`` frames of ``height x width`` (any even size: the family pads internally to its
  stride multiple and crops the output).
* ``model(frame_idx)`` maps a LongTensor of frame indices within the GOP, shape ``(B,)``, to
  frames ``(B, 3, height, width)`` in [0, 1]. The three channels are whatever the fit's colour
  space says (Y, U, V at full resolution by default). It uses only the module's parameters, so
  ``torch.func.functional_call(model, params, (frame_idx,))`` runs it on other values.
* ``model.coded_specs()`` lists, in stream order, the *coded tensors*: every parameter the
  decoder needs and nothing a training-only helper uses. Each names its parameter
  (``model.get_parameter(spec.name)``), shape, role and seeded-init rule. The forward pass uses
  every one of them except those of role ``CONTEXT``: the latent family's context network,
  which only the entropy coder runs (``coding/latent_context.py``).
* ``config.to_fields()`` / ``Config.from_fields()`` round-trip through the stream header and
  rebuild the exact same network.
* ``Family.config_for_size(target_params, height, width, num_frames)`` is the size solver: a
  config whose coded-parameter count is within 2% of the target.
"""

from __future__ import annotations

import abc
import dataclasses
import typing
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from uarcodec.errors import UarFormatError, UarInputError, UarSettingsError
from uarcodec.vocabulary import CodedTensorSpec, FieldValue


@dataclass(frozen=True)
class ArchConfig:
    """Base of every family's architecture settings. Subclasses are frozen dataclasses whose
    fields are ints, floats, strs, bools or tuples of ints/floats."""

    def to_fields(self) -> dict[str, FieldValue]:
        out: dict[str, FieldValue] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_fields(cls, fields: dict[str, FieldValue]) -> "ArchConfig":
        """Rebuild from stream fields; unknown, missing or impossible fields are a format error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(fields) - names
        if unknown:
            raise UarFormatError(f"unknown architecture fields for {cls.__name__}: {sorted(unknown)}")
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in fields:
                if f.default is not dataclasses.MISSING:
                    continue
                raise UarFormatError(f"architecture field {f.name!r} missing for {cls.__name__}")
            v = fields[f.name]
            kwargs[f.name] = tuple(v) if isinstance(v, list) else v
            _check_type(f.name, kwargs[f.name], hints[f.name])
        try:
            return cls(**kwargs)
        except UarSettingsError as exc:  # a value the family refuses: the stream is at fault
            raise UarFormatError(f"invalid {cls.__name__} architecture fields: {exc}") from exc


def _check_type(name: str, value: object, hint: object) -> None:
    origin = typing.get_origin(hint)
    if origin is tuple:
        ok = isinstance(value, tuple)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint) if isinstance(hint, type) else True
    if not ok:
        raise UarFormatError(f"architecture field {name!r} has the wrong type ({type(value).__name__})")


class InrModel(nn.Module, abc.ABC):
    """An implicit neural representation of one GOP."""

    family_id: ClassVar[int]
    family_name: ClassVar[str]
    config_type: ClassVar[type[ArchConfig]]
    # whether training keeps the 4-D coded tensors channels-last (faster convolutions for
    # NCHW convolution networks here; slower for a channels-last-by-design network)
    channels_last_training: ClassVar[bool] = False
    # whether a training step prices only the batch's rows of the per-frame coded tensors (first
    # dimension = frame), weighted up to the whole tensor: for a family whose per-frame tensors
    # hold most of its values, pricing all of them at every step costs more than the network
    frame_rows_rate: ClassVar[bool] = False

    def __init__(self, config: ArchConfig, height: int, width: int, num_frames: int):
        if height < 2 or width < 2 or height % 2 or width % 2:
            raise UarInputError(f"{self.family_name} needs an even frame size of at least 2x2, got {width}x{height}")
        if num_frames < 1:
            raise UarInputError(f"{self.family_name} needs at least one frame, got {num_frames}")
        super().__init__()
        self.config = config
        self.height = height
        self.width = width
        self.num_frames = num_frames

    @abc.abstractmethod
    def forward(self, frame_idx: torch.Tensor) -> torch.Tensor:
        """(B,) frame indices within the GOP -> (B, 3, height, width) frames in [0, 1]."""

    @abc.abstractmethod
    def coded_specs(self) -> list[CodedTensorSpec]:
        """The coded tensors in stream order."""

    def content_init(
        self, frames: torch.Tensor, previous: dict[str, np.ndarray] | None = None
    ) -> dict[str, torch.Tensor]:
        """Training-time starting values computed from the GOP's frames ``(T, 3, H, W)`` for
        coded tensors that have no useful seeded or previous-model start (the latent family:
        its per-frame offsets from the frames' global motion); ``previous`` maps the previous
        decoded model's tensors by name in a P-model. A value given here is the tensor's start
        in an I-model and in a P-model alike (references stay the decoder's). Pure: changes no
        state. Default: none."""
        return {}

    def training_encoder(self) -> nn.Module | None:
        """An optional training-only module that *computes* some per-frame coded tensors from
        the frames instead of learning them freely (HNeRV: its ConvNeXt embedding encoder).
        It maps frames ``(B, 3, H, W)`` to ``{name: rows}`` where ``rows`` are the ``B`` rows
        (first dimension = frame) of the named coded tensors. A new module on every call,
        never part of ``coded_specs``; the fit trains it jointly and codes its outputs.
        Default: none."""
        return None

    @classmethod
    @abc.abstractmethod
    def config_for_size(cls, target_params: int, height: int, width: int, num_frames: int) -> ArchConfig:
        """Size solver: a config whose coded-parameter count is within 2% of ``target_params``."""

    def num_coded_params(self) -> int:
        return sum(s.num_elements for s in self.coded_specs())
