"""The context network's layers in chunks of columns (coding/column_network.py): the outputs and
every gradient of the plain two-layer network, whatever the chunk."""

from __future__ import annotations

import pytest
import torch

from uarcodec.coding.column_network import ChunkedColumnNetwork, column_network


def plain(features, w1, b1, w2, b2):
    return w2 @ torch.relu(w1 @ features + b1[:, None]) + b2[:, None]


def leaves(columns: int, features_grad: bool = True) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    tensors = [torch.randint(-4, 5, (11, columns), generator=g).float(), torch.randn(8, 11, generator=g),
               torch.randn(8, generator=g), torch.randn(2, 8, generator=g), torch.randn(2, generator=g)]
    return [t.requires_grad_(i > 0 or features_grad) for i, t in enumerate(tensors)]


@pytest.mark.parametrize("chunk", [None, 1, 7, 37, 64])
def test_chunks_give_the_outputs_and_gradients_of_the_whole_network(chunk):
    """37 columns in chunks of 7 (the last one short), of 1, of all of them and of more: the same
    outputs and the same gradients to the features and to the four weights (a weight's gradient
    summed chunk by chunk)."""
    ours, theirs = leaves(37), leaves(37)
    out = ChunkedColumnNetwork.apply(*ours, chunk)
    expected = plain(*theirs)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-5)
    upstream = torch.randn(2, 37, generator=torch.Generator().manual_seed(5))
    (out * upstream).sum().backward()
    (expected * upstream).sum().backward()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-5)


def test_features_without_gradient_get_none_and_the_weights_theirs():
    ours, theirs = leaves(20, features_grad=False), leaves(20, features_grad=False)
    column_network(*ours).pow(2).sum().backward()
    plain(*theirs).pow(2).sum().backward()
    assert ours[0].grad is None
    for a, b in zip(ours[1:], theirs[1:]):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-4)


def test_more_columns_than_a_chunk_on_the_cpu():
    """The public entry point chunks on a CPU: a matrix of several chunks gives the whole
    network's outputs."""
    from uarcodec.coding import column_network as module

    ours, theirs = leaves(3 * module.CHUNK_COLUMNS + 5), leaves(3 * module.CHUNK_COLUMNS + 5)
    torch.testing.assert_close(column_network(*ours), plain(*theirs), rtol=1e-6, atol=1e-5)
