"""One model between float tensors and its stream record.

* :func:`plan_model` decides, before training, where each coded tensor starts, what its
  integers will be a residual against (I-model: nothing; P-model: the II interpolation, or the
  previous GOP's last decoded embedding) and how training prices them.
* :func:`code_model` quantizes the trained tensors and entropy-codes each the cheapest way the
  format offers (Gaussian or Laplace, temporal differences, channel mask, zero flags, zero
  record) into a
  :class:`ModelRecord`; :func:`tensor_codes` undoes that for one tensor.
* :func:`reconstruct_params` is the decoder's rebuild of the coded tensors from a record (the
  encoder rebuilds from its own records, parsed back from their bytes, through
  ``pipeline/rebuild.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uarcodec.bitstream.primitives import to_bf16
from uarcodec.bitstream.records import EntropyModel, ModelKind, ModelRecord, RefMode, TensorRecord
from uarcodec.coding.entropy import (
    EncodedTensor,
    decode_plane_flagged,
    decode_tensor,
    decode_zero_flagged,
    encode_plane_flagged,
    encode_tensor,
    encode_zero_flagged,
    flag_bits,
    plane_flag_bits,
)
from uarcodec.coding.plane_flags import NUM_CLASSES as PLANE_FLAG_CLASSES
from uarcodec.coding.plane_flags import class_counts, plane_shape
from uarcodec.coding.init import seeded_tensor
from uarcodec.coding.latent_context import ContextLayout, IntegerContextNet, decode_latent, encode_latent
from uarcodec.coding.quant import dequantize, estimate_bits, gaussian_params, laplace_params, quantize_residual
from uarcodec.coding.symbols import (
    kept_symbols,
    nonzero_channels,
    place_symbols,
    temporal_differences,
    undo_temporal_differences,
)
from uarcodec.coding.zero_flags import flag_param, shift_nonzero
from uarcodec.settings import RateModel
from uarcodec.errors import UarCodingError, UarFormatError
from uarcodec.vocabulary import CodedTensorSpec, ContextOrder, TensorRole
from uarcodec.pipeline.interp_init import tensor_reference


@dataclass
class ModelPlan:
    """Where each coded tensor starts, what it is coded against, and how its rate is priced in
    training (stream order)."""

    kind: ModelKind
    seed: int
    eps: float
    modes: list[RefMode]
    init: list[np.ndarray]
    refs: list[np.ndarray]
    temporal: list[bool]  # price first-dimension differences in training (per-frame embeddings)
    entropy: EntropyModel  # the rate model of training
    temporal_candidates: list[bool]  # may be coded as first-dimension differences (embeddings, grids)
    # training prices the latent grids through the model's context network (where it has one):
    # I-models only. A P-model's grids are residuals, mostly 0, priced on their own; priced through
    # the context network (started from the I-model's, fitted to the I-model's integers) its
    # residuals spread: vtest, 60 frames, m = 2, lambda 50: the P-model 23,123 bytes against
    # 9,090 without a context network (docs/latent_grids.md)
    context_rate: bool = True


def plan_model(
    specs: list[CodedTensorSpec],
    kind: ModelKind,
    seed: int,
    eps: float,
    prev_hat: list[np.ndarray] | None,
    use_ref: bool,
    content: dict[str, np.ndarray],
    rate_model: RateModel = RateModel.LAPLACE,
) -> ModelPlan:
    """Starting values and references of a model's coded tensors.

    I-model: start from theta_seed, code directly. A content-aware start the family offers
    (``content``, by tensor name) is the start of an I- or P-model's tensor alike; the
    reference stays what the decoder computes.
    P-model, per tensor with a counterpart in the previous decoded model: start from
    ``eps * theta_seed + (1 - eps) * theta_hat_prev`` and, with ``use_ref``, code the residual
    against that start. Per-frame embeddings start from, and are coded against, the previous
    GOP's last decoded frame (``LAST``; with the Gaussian rate model of the paper: the previous
    GOP's frame of the same index, ``PREVIOUS``); so do latent grids with several time samples
    (:func:`along_time`). Tensors without a counterpart (a shorter last
    GOP) are coded like an I-model's. With the Laplace rate model per-frame embeddings are
    priced (and coded) as differences between consecutive frames.
    """
    modes: list[RefMode] = []
    init: list[np.ndarray] = []
    refs: list[np.ndarray] = []
    temporal: list[bool] = []
    candidates: list[bool] = []
    entropy = EntropyModel.LAPLACE if rate_model == RateModel.LAPLACE else EntropyModel.GAUSSIAN
    for i, spec in enumerate(specs):
        seeded = seeded_tensor(seed, i, spec.init, spec.shape)
        prev = prev_hat[i] if prev_hat is not None and i < len(prev_hat) else None
        embedding = along_time(spec)
        mode = _reference_mode(kind, spec, prev, embedding, rate_model)
        reference = seeded if mode == RefMode.NONE else tensor_reference(mode, spec.shape, seeded, prev, eps)
        start = content.get(spec.name, reference)
        if not use_ref:
            mode = RefMode.NONE
        modes.append(mode)
        init.append(np.asarray(start, np.float32))
        refs.append(reference if mode != RefMode.NONE else np.zeros(spec.shape, np.float32))
        candidate = temporal_candidate(spec.shape, spec.role, entropy)
        temporal.append(embedding and candidate)
        candidates.append(candidate)
    return ModelPlan(kind, seed, eps, modes, init, refs, temporal, entropy, candidates, kind == ModelKind.I)


def along_time(spec: CodedTensorSpec) -> bool:
    """Whether a tensor's rows are moments of the GOP, referenced (in a P-model, under the
    Laplace rate model: the previous GOP's last row) and priced as differences along time:
    per-frame embeddings, and latent grids with more than one time sample. With the
    same-index reference instead, a P-model of vtest (60 frames, m = 2, preset fast, lambda
    150) coded 15,287 bytes at 32.04 dB; with this one 13,647 bytes at 32.52 dB
    (docs/latent_grids.md)."""
    return spec.role == TensorRole.EMBEDDING or (spec.role == TensorRole.LATENT and spec.shape[0] > 1)


def temporal_candidate(shape: tuple[int, ...], role: TensorRole, entropy: EntropyModel) -> bool:
    """Whether a tensor may be coded as first-dimension differences: per-frame embeddings and
    grids with more than one row, under the Laplace rate model."""
    return (entropy == EntropyModel.LAPLACE and len(shape) > 0 and shape[0] > 1
            and role in (TensorRole.EMBEDDING, TensorRole.GRID, TensorRole.LATENT))


def _reference_mode(
    kind: ModelKind, spec: CodedTensorSpec, prev: np.ndarray | None, embedding: bool, rate_model: RateModel
) -> RefMode:
    if kind != ModelKind.P or prev is None:
        return RefMode.NONE
    if embedding and rate_model == RateModel.LAPLACE:
        return RefMode.LAST if tuple(prev.shape[1:]) == spec.shape[1:] else RefMode.NONE
    if tuple(prev.shape) != spec.shape:
        return RefMode.NONE
    return RefMode.PREVIOUS if embedding else RefMode.INTERP


@dataclass(frozen=True)
class CodingChoice:
    """How one tensor's integers become symbols and bits."""

    model: EntropyModel
    temporal: bool
    mask: np.ndarray | None
    zero_flags: bool = False  # flags for the zeros, then the nonzero symbols (format 1.3)
    plane_flags: bool = False  # the flags under plane contexts (format 1.8; implies zero_flags)


FLAG_PARAM_BITS = 16.0  # the bfloat16 flag parameter a zero-flagged record adds (format 1.4)


def plane_candidate(shape: tuple[int, ...]) -> bool:
    """Whether the encoder weighs zero flags under plane contexts for a tensor (in a stream
    that may hold them, format 1.8): every tensor of rank 2 or more. A P-model's residuals
    cluster where the picture changed (latent grids, motion fields, per-frame embeddings) and
    where a kernel or a channel moved. 0.12.0's streams coded again: the README bench's latent
    streams 0.6% to 9.1% fewer bytes (box 200k-l150: 65,369 → 61,445), HNeRV's 0.1% (carphone)
    to 2.8% (cockatoo) (docs/latent_grids.md, "Zero flags under plane contexts")."""
    return len(shape) >= 2


def _plane_counts(kept: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per plane-context class: its sites and 1-flags among the symbols ``kept`` of ``shape``."""
    return class_counts((kept != 0).astype(np.int32).reshape(plane_shape(shape)))


def plane_flag_params(sites: np.ndarray, ones: np.ndarray, zero_share: float) -> tuple[float, ...]:
    """The flag parameter of each plane-context class, as stored (bfloat16): that of the
    class's share of zeros (``zero_share``, the tensor's, where the class has no site)."""
    return tuple(to_bf16(flag_param(zero_share if n == 0 else 1.0 - float(k) / float(n)))
                 for n, k in zip(sites, ones))


def _symbol_params(symbols: np.ndarray, model: EntropyModel, min_std: float) -> tuple[np.float32, np.float32]:
    return laplace_params(symbols, min_std) if model == EntropyModel.LAPLACE else gaussian_params(symbols, min_std)


def _stored_params(symbols: np.ndarray, model: EntropyModel, min_std: float) -> tuple[float, float]:
    """The entropy model's parameters as the stream stores them (bfloat16 since format 1.4):
    the coder codes with exactly these."""
    mean, scale = _symbol_params(symbols, model, min_std)
    return to_bf16(mean), to_bf16(scale)


def _coded_symbols(q: np.ndarray, choice: CodingChoice) -> np.ndarray:
    """The integers the words hold, flat: differences where temporal, the mask's channels."""
    symbols = temporal_differences(q) if choice.temporal else q
    return np.asarray(kept_symbols(symbols, choice.mask)).reshape(-1)


def _zero_share(kept: np.ndarray) -> float:
    return float(np.count_nonzero(kept == 0)) / kept.size


def _cost(q: np.ndarray, choice: CodingChoice, min_std: float) -> float:
    """Estimated bits of coding ``q`` this way (symbols, plus one bit per channel of a mask,
    plus the flags and their parameter with zero flags)."""
    kept = _coded_symbols(q, choice)
    mask_bits = 0.0 if choice.mask is None else float(len(choice.mask))
    if not choice.zero_flags:
        mean, scale = _symbol_params(kept, choice.model, min_std)
        return estimate_bits(kept, mean, scale, choice.model) + mask_bits
    values = shift_nonzero(kept[kept != 0])
    zeros = kept.size - values.size
    mean, scale = _symbol_params(values, choice.model, min_std)
    if choice.plane_flags:
        sites, ones = _plane_counts(kept, q.shape)
        flags = plane_flag_bits(sites, ones, plane_flag_params(sites, ones, _zero_share(kept)))
        flags += FLAG_PARAM_BITS * PLANE_FLAG_CLASSES
    else:
        flags = flag_bits(zeros, values.size, flag_param(_zero_share(kept))) + FLAG_PARAM_BITS
    return estimate_bits(values, mean, scale, choice.model) + flags + mask_bits


def _choices(q: np.ndarray, entropy: EntropyModel, temporal_candidate: bool,
             planes: bool = False) -> list[CodingChoice]:
    """The codings the encoder weighs for tensor ``i``: the paper's Gaussian only, or with
    the Laplace rate model either entropy model, temporal differences for per-frame tensors, a
    channel mask where some channels are all 0, zero flags, and (``planes``, without a mask)
    zero flags under plane contexts."""
    if entropy == EntropyModel.GAUSSIAN:
        return [CodingChoice(EntropyModel.GAUSSIAN, False, None)]
    out = []
    for temporal in ((False, True) if temporal_candidate else (False,)):
        symbols = temporal_differences(q) if temporal else q
        masks: list[np.ndarray | None] = [None]
        if q.ndim > 0 and q.shape[0] > 1:
            kept = nonzero_channels(symbols)
            if kept.any() and not kept.all():
                masks.append(kept)
        for mask in masks:
            coded = np.asarray(kept_symbols(symbols, mask))
            flags = (False, True) if 0 < np.count_nonzero(coded) < coded.size else (False,)
            for zero_flags in flags:
                for model in (EntropyModel.LAPLACE, EntropyModel.GAUSSIAN):
                    out.append(CodingChoice(model, temporal, mask, zero_flags))
                    if zero_flags and planes and mask is None:
                        out.append(CodingChoice(model, temporal, mask, True, plane_flags=True))
    return out


def code_tensor(q: np.ndarray, mode: RefMode, step: np.float32, choice: CodingChoice, min_std: float) -> TensorRecord:
    shape = tuple(q.shape)
    if not q.any():
        return TensorRecord(shape, mode, float(step), 0.0, 1.0, 0, 0, np.zeros(0, np.uint32))
    kept = _coded_symbols(q, choice)
    a = planes = None
    if choice.plane_flags:
        planes = plane_flag_params(*_plane_counts(kept, shape), _zero_share(kept))
        mean, scale = _stored_params(shift_nonzero(kept[kept != 0]), choice.model, min_std)
        enc = encode_plane_flagged(kept.reshape(shape), mean, scale, planes, model=choice.model)
    elif choice.zero_flags:
        a = to_bf16(flag_param(_zero_share(kept)))
        mean, scale = _stored_params(shift_nonzero(kept[kept != 0]), choice.model, min_std)
        enc = encode_zero_flagged(kept, mean, scale, a, model=choice.model)
    else:
        mean, scale = _stored_params(kept, choice.model, min_std)
        enc = encode_tensor(kept, mean, scale, model=choice.model)
    return TensorRecord(
        shape=shape, ref_mode=mode, step=float(step), mean=float(mean), std=float(scale),
        min_symbol=enc.min_symbol, max_symbol=enc.max_symbol, words=enc.words,
        entropy_model=choice.model, temporal=choice.temporal, channel_mask=choice.mask, zero_flags=a,
        plane_flags=planes,
    )


def _best_coding(
    spec: CodedTensorSpec, plan: ModelPlan, i: int, theta: np.ndarray, step: np.float32, min_std: float,
    context: tuple[np.ndarray | None, IntegerContextNet, ContextOrder] | None, plane_flags: bool = False,
) -> tuple[np.ndarray, RefMode, np.ndarray, CodingChoice | EncodedTensor]:
    """The integers, reference mode, reference and coding of tensor ``i`` that cost the fewest
    bits: each reference it may use, each coding the format offers; with ``context`` (a latent
    grid of a model with a context network: its coarser grid's integers and the network) also
    the context coding, priced at its real words (then the words are the result's coding);
    with ``plane_flags`` (the stream may hold them) zero flags under plane contexts where
    :func:`plane_candidate` says."""
    candidates = [(plan.modes[i], plan.refs[i])]
    if plan.modes[i] in (RefMode.PREVIOUS, RefMode.LAST):
        candidates.append((RefMode.NONE, np.zeros(spec.shape, np.float32)))
    best, failure = None, None
    for mode, ref in candidates:
        try:
            q = quantize_residual(theta, ref, step)
        except UarCodingError as exc:
            # a step fitted to a small residual can be far too fine for the tensor itself
            # (a P-model tensor that barely moved): then only the residual is coded
            failure = failure or exc
            continue
        costs = [(_cost(q, c, min_std), c) for c in _choices(q, plan.entropy, plan.temporal_candidates[i],
                                                              plane_flags and plane_candidate(spec.shape))]
        if context is not None and q.any():
            encoded = encode_latent(q, *context)
            costs.append((32.0 * encoded.words.size + CONTEXT_RECORD_BITS, encoded))
        cost, choice = min(costs, key=lambda c: c[0])
        if best is None or cost < best[0]:
            best = (cost, q, mode, ref, choice)
    if best is None:
        raise UarCodingError(f"tensor {spec.name}: {failure}")
    return best[1:]


# what a context record saves against the others: no mean and scale (two bfloat16)
CONTEXT_RECORD_BITS = -32.0


def _context_record(shape: tuple[int, ...], mode: RefMode, step: np.float32, enc: EncodedTensor) -> TensorRecord:
    return TensorRecord(shape, mode, float(step), 0.0, 1.0, enc.min_symbol, enc.max_symbol, enc.words,
                        entropy_model=EntropyModel.CONTEXT)


def code_model(
    specs: list[CodedTensorSpec],
    plan: ModelPlan,
    theta: list[np.ndarray],
    steps: list[float],
    prev_hat: list[np.ndarray] | None,
    num_frames: int,
    min_std: float,
    plane_flags: bool = False,
) -> ModelRecord:
    """Quantize and entropy-code the trained tensors of one model, each the way the estimate
    says is cheapest (per-frame embeddings also weigh coding without their reference; the
    latent grids of a model with a context network also weigh the context coding, coarsest
    first, once the network is coded; with ``plane_flags``, a stream of format 1.8 or later,
    also zero flags under plane contexts)."""
    layout = ContextLayout.of(specs)
    grids = () if layout is None else layout.grids
    tensors: list[TensorRecord | None] = [None] * len(specs)
    codes: dict[int, np.ndarray] = {}
    decoded: dict[int, np.ndarray] = {}
    net = None
    for i in [j for j in range(len(specs)) if j not in grids] + list(reversed(grids)):
        step = np.float32(steps[i])
        context = None
        if i in grids:
            if net is None:  # the network's tensors come first in this order: all coded by now
                net = IntegerContextNet.from_floats(*(decoded[j] for j in layout.network))
            coarser = layout.coarser(i)
            context = (None if coarser is None else codes[coarser], net, layout.order)
        q, mode, ref, choice = _best_coding(specs[i], plan, i, theta[i], step, min_std, context, plane_flags)
        codes[i] = q
        decoded[i] = dequantize(q, ref, step)
        tensors[i] = (_context_record(specs[i].shape, mode, step, choice) if isinstance(choice, EncodedTensor)
                      else code_tensor(q, mode, step, choice, min_std))
    return ModelRecord(plan.kind, num_frames, plan.seed, float(np.float32(plan.eps)), tensors)


def recode_tensor(record: TensorRecord, entropy: EntropyModel, temporal_candidate: bool,
                  min_std: float, planes: bool = False, codes: np.ndarray | None = None) -> TensorRecord:
    """``record`` coded again from its own integers, reference and step, the cheapest way the
    current format offers: what the encoder writes now for these codes (it also weighs other
    references for per-frame embeddings, so it can only do better). A context-coded record
    stays as it is unless its integers (``codes``, :func:`decode_model`'s) are given and
    another coding is cheaper than its words, as the encoder weighs them."""
    context = record.entropy_model == EntropyModel.CONTEXT
    if record.is_zero or (context and codes is None):
        return record
    q = np.asarray(codes, dtype=np.int32) if context else tensor_codes(record)
    cost, best = min(((_cost(q, c, min_std), c) for c in _choices(q, entropy, temporal_candidate, planes)),
                     key=lambda c: c[0])
    if context and cost >= 32.0 * record.words.size + CONTEXT_RECORD_BITS:
        return record
    return code_tensor(q, record.ref_mode, np.float32(record.step), best, min_std)


def tensor_codes(record: TensorRecord) -> np.ndarray:
    """The integers of a coded tensor (int32, its shape), decoded from its record; a
    context-coded record needs its model (:func:`model_codes`)."""
    shape = tuple(record.shape)
    if record.is_zero:
        return np.zeros(shape, np.int32)
    if record.entropy_model == EntropyModel.CONTEXT:
        raise UarFormatError("a context-coded tensor decodes only with its model's other tensors")
    if record.plane_flags is not None:
        coded = decode_plane_flagged(record.words, shape, record.mean, record.std, record.plane_flags,
                                     record.min_symbol, record.max_symbol, model=record.entropy_model)
    elif record.zero_flags is not None:
        coded = decode_zero_flagged(record.words, record.coded_elements, record.mean, record.std,
                                    record.zero_flags, record.min_symbol, record.max_symbol,
                                    model=record.entropy_model)
    else:
        coded = decode_tensor(record.words, record.coded_elements, record.mean, record.std, record.min_symbol,
                              record.max_symbol, model=record.entropy_model)
    symbols = place_symbols(coded, shape, record.channel_mask)
    q = undo_temporal_differences(symbols) if record.temporal else symbols
    return np.asarray(q, dtype=np.int32).reshape(shape)


def _references(record: ModelRecord, specs: list[CodedTensorSpec], prev_hat: list[np.ndarray] | None) -> list:
    """What each tensor's integers are added to (spec section 13), after checking the record
    fits the architecture."""
    if len(record.tensors) != len(specs):
        raise UarFormatError(
            f"model record has {len(record.tensors)} tensors, the architecture needs {len(specs)}"
        )
    refs = []
    for i, (spec, rec) in enumerate(zip(specs, record.tensors)):
        if tuple(rec.shape) != spec.shape:
            raise UarFormatError(f"tensor {i} has shape {rec.shape}, the architecture needs {spec.shape}")
        prev = prev_hat[i] if prev_hat is not None and i < len(prev_hat) else None
        seeded = seeded_tensor(record.seed, i, spec.init, spec.shape) if rec.ref_mode == RefMode.INTERP else None
        try:
            refs.append(tensor_reference(rec.ref_mode, spec.shape, seeded, prev, record.eps))
        except ValueError:
            raise UarFormatError(f"tensor {i} refers to a previous model that has no such tensor") from None
    return refs


def _decode_codes(record: ModelRecord, specs: list[CodedTensorSpec], refs: list) -> list[np.ndarray]:
    """Every tensor's integers: the context-coded grids last, coarsest first, with the context
    network rebuilt from its decoded tensors (spec section 16)."""
    contextual = [i for i, rec in enumerate(record.tensors)
                  if rec.entropy_model == EntropyModel.CONTEXT and not rec.is_zero]
    codes: list[np.ndarray | None] = [None if i in contextual else tensor_codes(rec)
                                      for i, rec in enumerate(record.tensors)]
    if not contextual:
        return codes
    layout = ContextLayout.of(specs)
    if layout is None or not set(contextual) <= set(layout.grids):
        raise UarFormatError("a context-coded tensor that is not a latent grid of a model with a context network")
    net = IntegerContextNet.from_floats(*(
        dequantize(codes[j], refs[j], np.float32(record.tensors[j].step)) for j in layout.network))
    for i in reversed(layout.grids):
        if codes[i] is None:
            rec, coarser = record.tensors[i], layout.coarser(i)
            codes[i] = decode_latent(rec.words, rec.shape, rec.min_symbol, rec.max_symbol,
                                     None if coarser is None else codes[coarser], net, layout.order)
    return codes


def decode_model(
    record: ModelRecord, specs: list[CodedTensorSpec], prev_hat: list[np.ndarray] | None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The integers (int32) and the rebuilt float32 tensors of every tensor of a model record,
    stream order; ``prev_hat``: the previous decoded model of the GOM (None for an I-model)."""
    refs = _references(record, specs, prev_hat)
    codes = _decode_codes(record, specs, refs)
    return codes, [dequantize(q, ref, np.float32(rec.step)) for q, ref, rec in zip(codes, refs, record.tensors)]


def reconstruct_params(
    record: ModelRecord, specs: list[CodedTensorSpec], prev_hat: list[np.ndarray] | None
) -> list[np.ndarray]:
    """The decoder's rebuild of a model's coded tensors from its record (float32, numpy)."""
    return decode_model(record, specs, prev_hat)[1]
