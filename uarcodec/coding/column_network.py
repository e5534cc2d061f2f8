"""A two-layer ReLU network over the columns of a feature matrix, run in cache-sized chunks.

``relu(w1 @ features + b1)`` then ``w2 @ hidden + b2``, with ``features`` of shape ``(F, N)``:
the context network's float counterpart in training (``coding/latent_context.py``), where
``N`` is every value of a model's grids (197,802 at CIF, 923,972 on cockatoo's grids with
their margin). Computed by autograd on whole columns, the hidden layer ``(H, N)`` is a tensor
of several megabytes that each of about ten passes (the product, the bias, the ReLU, then
their gradients) reads or writes from memory. :class:`ChunkedColumnNetwork` runs both passes
over chunks of :data:`CHUNK_COLUMNS` columns whose hidden layer stays in the core's cache,
keeps no hidden layer between the two (the backward pass computes each chunk's again), and
accumulates the weights' gradients chunk by chunk. The outputs are the same numbers (each
column is computed on its own either way); the weights' gradients are the same sums added in
another order. On a CPU only: on an accelerator every chunk would be a few more kernel
launches for nothing, and there the whole matrix is one chunk.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Columns a chunk holds: its hidden layer (8 units: 512 KiB in float32) stays in a core's cache.
# Box's I-model grids by wavefronts (197,802 values, features with gradients; a scratch timing,
# one thread, forward and backward of the whole rate term): 28 ms on whole columns, 20 ms in
# chunks of 8,192 to 32,768 columns, 21 ms in chunks of 4,096.
CHUNK_COLUMNS = 16384


class ChunkedColumnNetwork(torch.autograd.Function):
    """``w2 @ relu(w1 @ features + b1) + b2`` for ``features (F, N)``, ``w1 (H, F)``,
    ``b1 (H,)``, ``w2 (O, H)``, ``b2 (O,)``, ``(O, N)`` out; ``chunk`` columns at a time
    (None: all of them at once)."""

    @staticmethod
    def forward(ctx, features: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor,
                chunk: int | None = None) -> Tensor:
        n = features.shape[1]
        step = max(1, n if chunk is None else chunk)
        out = features.new_empty(w2.shape[0], n)
        for start in range(0, n, step):
            hidden = torch.addmm(b1[:, None], w1, features[:, start:start + step]).clamp_(min=0.0)
            torch.addmm(b2[:, None], w2, hidden, out=out[:, start:start + step])
        ctx.save_for_backward(features, w1, b1, w2)
        ctx.step = step
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        features, w1, b1, w2 = ctx.saved_tensors
        step, n = ctx.step, features.shape[1]
        grad_out = grad_out.contiguous()
        grad_w1, grad_b1, grad_w2 = torch.zeros_like(w1), torch.zeros_like(b1), torch.zeros_like(w2)
        grad_features = torch.empty_like(features) if ctx.needs_input_grad[0] else None
        w1_t, w2_t = w1.t().contiguous(), w2.t().contiguous()  # a transposed view is 2-3x slower here
        for start in range(0, n, step):
            columns, grad = features[:, start:start + step], grad_out[:, start:start + step]
            hidden = torch.addmm(b1[:, None], w1, columns).clamp_(min=0.0)
            grad_w2.addmm_(grad, hidden.t())
            grad_hidden = (w2_t @ grad).mul_(hidden > 0)
            grad_w1.addmm_(grad_hidden, columns.t())
            grad_b1 += grad_hidden.sum(dim=1)
            if grad_features is not None:
                torch.mm(w1_t, grad_hidden, out=grad_features[:, start:start + step])
        return grad_features, grad_w1, grad_b1, grad_w2, grad_out.sum(dim=1), None


def column_network(features: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Tensor:
    """``w2 @ relu(w1 @ features + b1) + b2``, in chunks of :data:`CHUNK_COLUMNS` columns on a
    CPU, whole on an accelerator."""
    chunk = CHUNK_COLUMNS if features.device.type == "cpu" else None
    return ChunkedColumnNetwork.apply(features, w1, b1, w2, b2, chunk)
