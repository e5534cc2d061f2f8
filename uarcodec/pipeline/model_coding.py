"""One model between float tensors and its stream record.

* :func:`plan_model` decides, before training, where each coded tensor starts and what its
  integers will be a residual against (I-model: nothing; P-model: the II interpolation, or the
  previous GOP's decoded embeddings).
* :func:`code_model` quantizes and entropy-codes the trained tensors into a
  :class:`ModelRecord`.
* :func:`reconstruct_params` is the decoder's rebuild of the coded tensors from a record (the
  encoder rebuilds from its own records, parsed back from their bytes, through
  ``pipeline/rebuild.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uarcodec.bitstream.records import ModelKind, ModelRecord, RefMode, TensorRecord
from uarcodec.coding.entropy import decode_tensor, encode_tensor
from uarcodec.coding.init import seeded_tensor
from uarcodec.coding.quant import dequantize, estimate_bits, gaussian_params, quantize_residual
from uarcodec.errors import UarFormatError
from uarcodec.vocabulary import CodedTensorSpec, TensorRole
from uarcodec.pipeline.interp_init import tensor_reference


@dataclass
class ModelPlan:
    """Where each coded tensor starts and what it is coded against (stream order)."""

    kind: ModelKind
    seed: int
    eps: float
    modes: list[RefMode]
    init: list[np.ndarray]
    refs: list[np.ndarray]


def plan_model(
    specs: list[CodedTensorSpec],
    kind: ModelKind,
    seed: int,
    eps: float,
    prev_hat: list[np.ndarray] | None,
    use_ref: bool,
    content: dict[str, np.ndarray],
) -> ModelPlan:
    """Starting values and references of a model's coded tensors.

    I-model: start from theta_seed (or a content-aware start the family offers), code directly.
    P-model, per tensor with a same-shaped counterpart in the previous decoded model:
    start from ``eps * theta_seed + (1 - eps) * theta_hat_prev`` (per-frame embeddings: from the
    previous GOP's decoded embeddings) and, with ``use_ref``, code the residual against that
    start. Tensors without a counterpart (a shorter last GOP) are coded like an I-model's.
    """
    modes: list[RefMode] = []
    init: list[np.ndarray] = []
    refs: list[np.ndarray] = []
    for i, spec in enumerate(specs):
        seeded = seeded_tensor(seed, i, spec.init, spec.shape)
        prev = prev_hat[i] if prev_hat is not None and i < len(prev_hat) else None
        has_prev = kind == ModelKind.P and prev is not None and tuple(prev.shape) == spec.shape
        if not has_prev:
            mode, start = RefMode.NONE, content.get(spec.name, seeded)
        elif spec.role == TensorRole.EMBEDDING:
            mode = RefMode.PREVIOUS
            start = tensor_reference(mode, spec.shape, None, prev, eps)
        else:
            mode = RefMode.INTERP
            start = tensor_reference(mode, spec.shape, seeded, prev, eps)
        if not use_ref:
            mode = RefMode.NONE
        modes.append(mode)
        init.append(np.asarray(start, np.float32))
        refs.append(start if mode != RefMode.NONE else np.zeros(spec.shape, np.float32))
    return ModelPlan(kind, seed, eps, modes, init, refs)


def _code_tensor(theta: np.ndarray, ref: np.ndarray, step: float, mode: RefMode, min_std: float) -> TensorRecord:
    step32 = np.float32(step)
    q = quantize_residual(theta, ref, step32)
    mean, std = gaussian_params(q, min_std)
    enc = encode_tensor(q, mean, std)
    return TensorRecord(
        shape=tuple(theta.shape),
        ref_mode=mode,
        step=float(step32),
        mean=float(mean),
        std=float(std),
        min_symbol=enc.min_symbol,
        max_symbol=enc.max_symbol,
        words=enc.words,
    )


def _cheaper_embedding_mode(theta: np.ndarray, prev: np.ndarray, step: float, min_std: float) -> RefMode:
    """Per-frame embeddings: a residual against the previous GOP's, or coded directly,
    whichever the estimate says is cheaper."""
    cost = {}
    for mode, ref in ((RefMode.PREVIOUS, prev), (RefMode.NONE, np.zeros_like(theta))):
        q = quantize_residual(theta, ref, np.float32(step))
        mean, std = gaussian_params(q, min_std)
        cost[mode] = estimate_bits(q, mean, std)
    return min(cost, key=cost.get)


def code_model(
    specs: list[CodedTensorSpec],
    plan: ModelPlan,
    theta: list[np.ndarray],
    steps: list[float],
    prev_hat: list[np.ndarray] | None,
    num_frames: int,
    min_std: float,
) -> ModelRecord:
    """Quantize and entropy-code the trained tensors of one model."""
    tensors = []
    for i, spec in enumerate(specs):
        mode, ref = plan.modes[i], plan.refs[i]
        if mode == RefMode.PREVIOUS and prev_hat is not None:
            mode = _cheaper_embedding_mode(theta[i], prev_hat[i], steps[i], min_std)
            ref = prev_hat[i] if mode == RefMode.PREVIOUS else np.zeros(spec.shape, np.float32)
        tensors.append(_code_tensor(theta[i], ref, steps[i], mode, min_std))
    return ModelRecord(plan.kind, num_frames, plan.seed, float(np.float32(plan.eps)), tensors)


def reconstruct_params(
    record: ModelRecord, specs: list[CodedTensorSpec], prev_hat: list[np.ndarray] | None
) -> list[np.ndarray]:
    """The decoder's rebuild of a model's coded tensors from its record (float32, numpy)."""
    if len(record.tensors) != len(specs):
        raise UarFormatError(
            f"model record has {len(record.tensors)} tensors, the architecture needs {len(specs)}"
        )
    out = []
    for i, (spec, rec) in enumerate(zip(specs, record.tensors)):
        if tuple(rec.shape) != spec.shape:
            raise UarFormatError(f"tensor {i} has shape {rec.shape}, the architecture needs {spec.shape}")
        q = decode_tensor(rec.words, rec.num_elements, rec.mean, rec.std, rec.min_symbol, rec.max_symbol)
        q = q.reshape(spec.shape)
        prev = prev_hat[i] if prev_hat is not None and i < len(prev_hat) else None
        if rec.ref_mode != RefMode.NONE and (prev is None or tuple(prev.shape) != spec.shape):
            raise UarFormatError(f"tensor {i} refers to a previous model that has no such tensor")
        seeded = seeded_tensor(record.seed, i, spec.init, spec.shape) if rec.ref_mode == RefMode.INTERP else None
        ref = tensor_reference(rec.ref_mode, spec.shape, seeded, prev, record.eps)
        out.append(dequantize(q, ref, np.float32(rec.step)))
    return out
