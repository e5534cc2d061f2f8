"""Where a stream's bits go: bytes and bits per parameter by model kind (I/P), by tensor role
(weights, biases, embeddings, grids, norms), the share of zero symbols, and per GOM.

Roles come from the family's coded-tensor specs (the network's skeleton, rebuilt from the
header), zero shares from the entropy-decoded symbols, so a breakdown reads the whole stream.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from uarcodec.bitstream.records import GomRecord, ModelKind, StreamHeader, TensorRecord
from uarcodec.pipeline.model_coding import decode_model
from uarcodec.pipeline.rebuild import stream_skeleton
from uarcodec.vocabulary import CodedTensorSpec, TensorRole


@dataclass
class Tally:
    """Bytes, parameters and zero symbols of a set of coded tensors."""

    tensors: int = 0
    params: int = 0
    bytes: int = 0
    zeros: int = 0

    def add(self, record: TensorRecord, zeros: int) -> None:
        self.tensors += 1
        self.params += record.num_elements
        self.bytes += record.coded_bytes
        self.zeros += zeros

    def to_dict(self) -> dict[str, Any]:
        return {
            "tensors": self.tensors, "params": self.params, "bytes": self.bytes,
            "bits_per_param": self.bytes * 8 / self.params if self.params else 0.0,
            "zero_share": self.zeros / self.params if self.params else 0.0,
        }


def tensor_specs(header: StreamHeader, num_frames: int) -> list[CodedTensorSpec]:
    return stream_skeleton(header, num_frames).coded_specs()


def tensor_roles(header: StreamHeader, num_frames: int) -> list[TensorRole]:
    return [spec.role for spec in tensor_specs(header, num_frames)]


def bits_breakdown(header: StreamHeader, goms: list[GomRecord]) -> dict[str, Any]:
    """The breakdown of these GOMs (see the module docstring) as a JSON-able dict."""
    by_kind: dict[str, Tally] = defaultdict(Tally)
    by_role: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    per_gom = []
    specs_of: dict[int, list[CodedTensorSpec]] = {}
    for gom in goms:
        models = []
        prev_hat = None  # zero shares need the integers, and context-coded grids the decoded models
        for model in gom.models:
            kind = "I" if model.kind == ModelKind.I else "P"
            specs = specs_of.setdefault(model.num_frames, tensor_specs(header, model.num_frames))
            codes, prev_hat = decode_model(model, specs, prev_hat)
            tally = Tally()
            for record, spec, q in zip(model.tensors, specs, codes):
                zeros = int(np.count_nonzero(q == 0))
                tally.add(record, zeros)
                by_kind[kind].add(record, zeros)
                by_role[kind][spec.role.name.lower()].add(record, zeros)
            models.append({"kind": kind, **tally.to_dict()})
        i_bytes = models[0]["bytes"]
        per_gom.append({
            "index": gom.index, "models": models,
            "p_over_i": [m["bytes"] / i_bytes if i_bytes else 0.0 for m in models[1:]],
        })
    return {
        "by_kind": {k: t.to_dict() for k, t in sorted(by_kind.items())},
        "by_role": {k: {r: t.to_dict() for r, t in sorted(roles.items())} for k, roles in sorted(by_role.items())},
        "per_gom": per_gom,
    }
