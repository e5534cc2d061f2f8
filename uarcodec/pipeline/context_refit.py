"""A model's context network fitted to its own latent integers after its training (encoder
only).

The context network a latent model trains beside its grids prices each step's codes, and the grids
move until the last step; after training the coder writes integers: an I-model's grid values at
their steps, a P-model's residuals against its reference (the previous decoded model's grids),
mostly 0. A P-model's network starts as the previous model's, which an I-model trained to predict
grid *values*: on residuals it predicts badly, so the coder coded a P-model's grids without it (a
Laplace with plane flags). :func:`refit_context_network` fits the four context tensors, after
training, to the integers the coder is about to write (the features as the decoder reads them; the
weights on the grid of each tensor's quantization step and on the integer network's); the coder then
weighs, grid by grid, the context coding under that network against the others, and
:class:`~uarcodec.pipeline.gop_coding.GopCoder` keeps the record only where it is smaller. The
format has always allowed it (spec section 16: the network, the features and the order are those of
the model being decoded). The pixels do not change: the forward pass never runs the context network.

Since 0.19.0 for P-models (their grids 4.6% smaller on box's P-models), since 0.20.0 for I-models
too: their network, trained beside grids that moved until the end, codes the final integers about
1.5% larger than one fitted to them (box and vtest, 60 frames, docs/latent_grids.md, "An I-model's
network fitted again"). The next P-model of the GOM starts from the network that was written (its
reference). A P-model's training still prices the grids on their own: priced through the inherited
network, its quantization steps train finer and its residuals spread (vtest, 120 frames, 200k-l150:
the second and third P-models 71% and 207% larger for 0.27 and 0.17 dB; docs/latent_grids.md, "A
P-model's own context network").

Since 0.21.0 an I-model whose grids trained priced in the checkerboard before a moving camera codes
them by wavefronts: its network is fitted in the order it trained in first, then longer in the
coded one (:func:`with_own_context`'s ``trained_order``; cockatoo 7 to 12% smaller files,
docs/latent_grids.md, "Trained in the checkerboard, coded by wavefronts").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from uarcodec.coding.latent_context import ContextLayout, context_laplace, grids_features
from uarcodec.coding.quant import laplace_bin_log2_mass, quantize_residual, round_ste
from uarcodec.bitstream.records import ModelRecord
from uarcodec.errors import UarCodingError
from uarcodec.vocabulary import CodedTensorSpec, ContextOrder

# Adam steps on the four context tensors alone, on at most FIT_VALUES of the grids' values (drawn
# once, seeded; the features are constants: the integers are fixed), from the previous model's
# network. Box, 120 frames, 200k-l300 (0.18.0's stream, its three P-models coded again; a scratch
# script, one thread): 300 steps on every value at 1e-2 -5.4% of the P-models' bytes in about 5 s
# a P-model, 100 at 3e-2 -4.9%, 200 at 2e-2 on 65,536 values -4.9% in about 1 s, 400 -5.6% in
# about 2 s (docs/latent_grids.md, "A P-model's own context network")
REFIT_STEPS = 400
# A network trained in another order than the one its model codes in (an I-model trained in the
# checkerboard before a moving camera, coded by wavefronts: pipeline/plan.py, training_order_for)
# read other features. Cockatoo, 490k-l150, its I-model's grids (43,506 B coded by its network
# fitted to them in the checkerboard) by wavefronts, from that network: 38,619 estimated bytes
# after 400 steps, 38,074 after 1,000, 38,023 after 1,500 (about 6 s), 37,638 after 3,000; in
# the encoder 3,000 coded cockatoo's 390k-l50 0.1% smaller than 1,500 (docs/latent_grids.md,
# "Trained in the checkerboard, coded by wavefronts")
CROSS_ORDER_REFIT_STEPS = 1500
REFIT_LR = 2e-2
FIT_VALUES = 65536


def residual_grid_codes(layout: ContextLayout, theta: list[np.ndarray], refs: list[np.ndarray],
                        steps: list[float]) -> list[np.ndarray] | None:
    """The integers of each latent grid (finest first) against its planned reference (zeros in an
    I-model) at its trained step, None where a step cannot code its residual (the coder then falls
    back too)."""
    try:
        return [quantize_residual(theta[i], refs[i], np.float32(steps[i])) for i in layout.grids]
    except UarCodingError:
        return None


def refit_context_network(
    codes: list[np.ndarray], layout: ContextLayout, start: list[np.ndarray], refs: list[np.ndarray],
    steps: list[float], iterations: int = REFIT_STEPS,
) -> list[np.ndarray]:
    """The four context tensors (``w1``, ``b1``, ``w2``, ``b2``, float32) that code the grids'
    integers ``codes`` (finest first) in the fewest estimated bits, fitted from ``start``, each
    kept on the grid of its step ``steps`` around its reference ``refs`` (straight through), so
    that the tensors code to what was fitted."""
    grids = [torch.from_numpy(np.asarray(q, np.float32)) for q in codes]
    features, values = grids_features(grids, layout.order), torch.cat([q.reshape(-1) for q in grids])
    if values.numel() > FIT_VALUES:  # a sample of the values: enough for 114 weights, 4x faster at CIF
        kept = torch.randperm(values.numel(), generator=torch.Generator().manual_seed(0))[:FIT_VALUES]
        features, values = features[:, kept], values[kept]
    ref_t = [torch.from_numpy(np.asarray(r, np.float32)) for r in refs]
    step_t = [float(np.float32(s)) for s in steps]
    params = [torch.nn.Parameter(torch.from_numpy(np.array(t, np.float32))) for t in start]
    optimizer = torch.optim.Adam(params, lr=REFIT_LR)

    def on_steps() -> list[torch.Tensor]:
        return [r + round_ste((p - r) / s) * s for p, r, s in zip(params, ref_t, step_t)]

    best_bits, best = float("inf"), [np.array(t, np.float32) for t in start]
    for _ in range(iterations + 1):
        weights = on_steps()
        mean, scale = context_laplace(features, *weights)
        bits = -laplace_bin_log2_mass(values, mean, scale).sum()
        if bits.item() < best_bits:  # the bits of the tensors as they are now
            best_bits, best = bits.item(), [t.detach().numpy().astype(np.float32) for t in weights]
        optimizer.zero_grad(set_to_none=True)
        bits.backward()
        optimizer.step()
    return best


def with_own_context(
    specs: list[CodedTensorSpec], theta: list[np.ndarray], refs: list[np.ndarray], steps: list[float],
    code: Callable[[list[np.ndarray]], ModelRecord], coded: ModelRecord, size: Callable[[ModelRecord], int],
    trained_order: ContextOrder | None = None,
) -> ModelRecord:
    """``coded`` (a model's record of ``theta``) or, where it is smaller by ``size``, the record
    ``code`` writes once the model's context network is fitted to its grids' integers against
    their references ``refs`` (zeros in an I-model; :func:`refit_context_network`). A network
    trained in ``trained_order``, another than the one the model codes in, is first fitted to the
    integers in its own order and then, for :data:`CROSS_ORDER_REFIT_STEPS`, in the coded one.
    Models without a context network, or whose grids are all at their reference, are returned as
    they are."""
    layout = ContextLayout.of(specs)
    codes = None if layout is None else residual_grid_codes(layout, theta, refs, steps)
    if codes is None or not any(q.any() for q in codes):
        return coded
    network = [theta[i] for i in layout.network]
    net_refs, net_steps = [refs[i] for i in layout.network], [steps[i] for i in layout.network]
    cross_order = trained_order is not None and trained_order != layout.order
    if cross_order:
        network = refit_context_network(codes, dataclasses.replace(layout, order=trained_order), network,
                                        net_refs, net_steps)
    network = refit_context_network(codes, layout, network, net_refs, net_steps,
                                    CROSS_ORDER_REFIT_STEPS if cross_order else REFIT_STEPS)
    refitted = list(theta)
    for i, tensor in zip(layout.network, network):
        refitted[i] = tensor
    recoded = code(refitted)
    return recoded if size(recoded) < size(coded) else coded
