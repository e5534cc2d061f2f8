"""The one way a model is rebuilt from a stream: header + parsed model record (+ the previous
decoded model of its GOM) -> a network loaded with its decoded parameters.

The encoder (for the reference of the next P-model and for its reported quality) and the
decoder both call :func:`rebuild_model`, so what the encoder predicts from is what a decoder
reads. A network is never handed out without its parameters: :func:`model_skeleton` builds
one on the meta device (no storage, no draw on torch's random generator), usable only for its
coded-tensor specs and as the structure ``torch.func.functional_call`` runs on;
:func:`load_model` turns a skeleton into a real network holding given values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from uarcodec.bitstream.records import ModelRecord, StreamHeader
from uarcodec.errors import UarFormatError
from uarcodec.models.base import ArchConfig, InrModel
from uarcodec.models.registry import family_by_id
from uarcodec.pipeline.model_coding import reconstruct_params


def model_skeleton(family: type[InrModel], config: ArchConfig, height: int, width: int, num_frames: int) -> InrModel:
    """The network's structure on the meta device: its ``coded_specs()`` and a module to
    ``functional_call`` with real parameters; it holds no values."""
    with torch.device("meta"):
        return family(config, height, width, num_frames)


def stream_skeleton(header: StreamHeader, num_frames: int) -> InrModel:
    """The skeleton of a model of ``num_frames`` frames of this stream."""
    family = family_by_id(header.coding.family_id)
    config = family.config_type.from_fields(header.coding.arch)
    return model_skeleton(family, config, header.video.height, header.video.width, num_frames)


def load_model(skeleton: InrModel, theta: list[np.ndarray], device: torch.device) -> InrModel:
    """A real network on ``device`` whose coded tensors hold ``theta`` (stream order); every
    parameter of the network must be a coded tensor."""
    specs = skeleton.coded_specs()
    if len(theta) != len(specs):
        raise UarFormatError(f"{len(theta)} decoded tensors for a network of {len(specs)}")
    coded = {spec.name for spec in specs}
    uncovered = [name for name, _ in skeleton.named_parameters() if name not in coded]
    if uncovered or any(True for _ in skeleton.buffers()):
        raise RuntimeError(f"{type(skeleton).__name__} has state outside its coded tensors: {uncovered}")
    model = skeleton.to_empty(device=device)
    with torch.no_grad():
        for spec, value in zip(specs, theta):
            param = model.get_parameter(spec.name)
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(param.device, param.dtype))
    return model.eval()


@dataclass
class RebuiltModel:
    """A decoded model: the loaded network and its coded tensors as float32 arrays (the next
    P-model's reference)."""

    model: InrModel
    theta_hat: list[np.ndarray]


def rebuild_params(
    header: StreamHeader, record: ModelRecord, previous: list[np.ndarray] | None
) -> tuple[InrModel, list[np.ndarray]]:
    """The skeleton of one model record and its decoded tensors; ``previous`` is the decoded
    tensors of the model before it in its GOM (None for an I-model)."""
    skeleton = stream_skeleton(header, record.num_frames)
    return skeleton, reconstruct_params(record, skeleton.coded_specs(), previous)


def rebuild_model(
    header: StreamHeader, record: ModelRecord, previous: list[np.ndarray] | None, device: torch.device
) -> RebuiltModel:
    """Decode one model record into a loaded network (see :func:`rebuild_params`)."""
    skeleton, theta_hat = rebuild_params(header, record, previous)
    return RebuiltModel(load_model(skeleton, theta_hat, device), theta_hat)
