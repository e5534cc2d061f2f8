"""Latent context coding (coding/latent_context.py, spec section 16): exact round trips, the
integer network's indices on a golden vector, in pure Python integers and in another process,
and the training estimate that follows the coder."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from uarcodec.coding.latent_context import (
    FEATURES,
    IntegerContextNet,
    RestingSplit,
    context_laplace,
    context_rate_bits,
    decode_latent,
    encode_latent,
    grid_features,
    grids_features,
    sample_features,
    scale_table,
)
from uarcodec.coding.quant import laplace_bin_log2_mass, round_ste
from uarcodec.errors import UarCodingError
from uarcodec.vocabulary import ContextOrder

GOLDEN_FEATURES = [
    [0] * 11,
    [1, -2, 3, 0, 1, 4, -1, 0, 2, -3, 5],
    [255, 255, -255, 7, 1, -9, 100, -100, 3, 3, 300],
    [-5, -5, -5, -5, 0, -5, -5, -5, -5, -5, -5],
]
GOLDEN_MEANS = [2, 1, -25, -1]  # quarter symbols
GOLDEN_SCALES = [54, 62, 159, 79]  # indices into scale_table()


def golden_net() -> tuple[np.ndarray, ...]:
    w1 = (np.arange(16 * 11).reshape(16, 11) % 7 - 3).astype(np.float32) / 16
    b1 = (np.arange(16) % 5 - 2).astype(np.float32) / 8
    w2 = np.stack([np.linspace(-1, 1, 16), np.linspace(0.5, -0.25, 16)]).astype(np.float32)
    b2 = np.array([0.3, -0.7], np.float32)
    return w1, b1, w2, b2


def python_indices(floats: tuple[np.ndarray, ...], features: list[list[int]]) -> tuple[list[int], list[int]]:
    """Spec section 16 in Python integers, written from the spec's words, not from the module."""
    w1, b1, w2, b2 = ([int(round(float(v) * 2**bits)) for v in np.asarray(t, np.float32).reshape(-1)]
                      for t, bits in zip(floats, (8, 8, 8, 16)))
    hidden = len(b1)
    means, scales = [], []
    for row in features:
        x = [max(-255, min(255, v)) for v in row]
        h = [max(0, sum(x[k] * w1[j * 11 + k] for k in range(11)) + b1[j]) for j in range(hidden)]
        out = [sum(h[j] * w2[o * hidden + j] for j in range(hidden)) + b2[o] for o in range(2)]
        means.append(max(-1020, min(1020, (out[0] + 2**13) >> 14)))
        scales.append(max(0, min(159, ((out[1] + 2**11) >> 12) + 64)))
    return means, scales


def test_golden_vector_indices():
    net = IntegerContextNet.from_floats(*golden_net())
    means, scales = net.indices(np.array(GOLDEN_FEATURES))
    assert means.tolist() == GOLDEN_MEANS and scales.tolist() == GOLDEN_SCALES
    assert python_indices(golden_net(), GOLDEN_FEATURES) == (GOLDEN_MEANS, GOLDEN_SCALES)


def test_indices_identical_in_another_process():
    rng = np.random.default_rng(3)
    features = rng.integers(-300, 300, (500, FEATURES)).tolist()
    floats = tuple(t * 4 for t in golden_net())
    here = [v.tolist() for v in IntegerContextNet.from_floats(*floats).indices(np.array(features))]
    code = (
        "import json, sys, numpy as np\n"
        "from uarcodec.coding.latent_context import IntegerContextNet\n"
        "d = json.load(sys.stdin)\n"
        "net = IntegerContextNet.from_floats(*(np.array(t, np.float32) for t in d['floats']))\n"
        "print(json.dumps([v.tolist() for v in net.indices(np.array(d['features']))]))\n"
    )
    payload = json.dumps({"floats": [t.tolist() for t in floats], "features": features})
    out = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == here
    assert python_indices(floats, features) == tuple(here)


def test_scale_table_is_dyadic_and_increasing():
    table = scale_table()
    assert table[0] == 0.0625 and table[64] == 1.0 and table[-1] == 62.0
    assert np.all(np.diff(table) > 0)


def _grids(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    coarse = rng.integers(-4, 5, (3, 2, 6, 8))
    fine = np.round(rng.laplace(0, 2.0, (5, 2, 12, 16))).astype(np.int64)
    return fine, coarse


@pytest.mark.parametrize("order", list(ContextOrder))
@pytest.mark.parametrize("with_coarse", [True, False])
def test_latent_round_trip_exact(with_coarse, order):
    rng = np.random.default_rng(0)
    fine, coarse = _grids(rng)
    net = IntegerContextNet.from_floats(*golden_net())
    coarse = coarse if with_coarse else None
    enc = encode_latent(fine, coarse, net, order)
    out = decode_latent(enc.words, fine.shape, enc.min_symbol, enc.max_symbol, coarse, net, order)
    assert out.dtype == np.int32 and np.array_equal(out, fine)


def test_the_orders_code_the_same_integers_in_other_words():
    """The wavefront order is another code: its words differ from the checkerboard's, and words
    of one order do not decode to the grid under the other."""
    rng = np.random.default_rng(0)
    fine, coarse = _grids(rng)
    net = IntegerContextNet.from_floats(*golden_net())
    wave = encode_latent(fine, coarse, net, ContextOrder.WAVEFRONT)
    board = encode_latent(fine, coarse, net, ContextOrder.CHECKERBOARD)
    assert not np.array_equal(wave.words, board.words)
    try:
        out = decode_latent(wave.words, fine.shape, wave.min_symbol, wave.max_symbol, coarse, net)
    except UarCodingError:
        return
    assert not np.array_equal(out, fine)


def test_a_wavefront_integer_reads_only_integers_decoded_before_it():
    """Wavefront order: changing the integers from a position on (in coding order) leaves the
    features of every position before it as they were, and the training features are the
    encoder's."""
    rng = np.random.default_rng(3)
    q = rng.integers(-3, 4, (1, 2, 5, 7))
    n_pos = q[0].size
    t = np.broadcast_to(2 * np.arange(5)[:, None] + np.arange(7)[None, :], (2, 5, 7)).ravel()
    order = np.argsort(t, kind="stable")
    features = grid_features(torch.from_numpy(q).float(), None, ContextOrder.WAVEFRONT).numpy().reshape(FEATURES, -1)
    for cut in (1, n_pos // 2, n_pos - 1):
        changed = q.copy().reshape(-1)
        changed[order[cut:]] += 9
        after = grid_features(torch.from_numpy(changed.reshape(q.shape)).float(), None, ContextOrder.WAVEFRONT)
        before = order[:cut + 1]  # position order[cut] itself reads only earlier ones too
        assert np.array_equal(after.numpy().reshape(FEATURES, -1)[:5, before], features[:5, before])
    # left, up-left, up, up-right, second-left of position (c, i, j) = (1, 2, 3)
    at = 1 * 35 + 2 * 7 + 3
    assert list(features[:5, at]) == [q[0, 1, 2, 2], q[0, 1, 1, 2], q[0, 1, 1, 3], q[0, 1, 1, 4], q[0, 1, 2, 1]]


def test_constant_grid_has_no_words():
    net = IntegerContextNet.from_floats(*golden_net())
    q = np.full((2, 1, 4, 4), 3)
    enc = encode_latent(q, None, net)
    assert enc.words.size == 0
    assert np.array_equal(decode_latent(enc.words, q.shape, 3, 3, None, net), q)


@pytest.mark.parametrize("order", list(ContextOrder))
def test_corrupt_words_raise_coding_error(order):
    rng = np.random.default_rng(1)
    fine, coarse = _grids(rng)
    net = IntegerContextNet.from_floats(*golden_net())
    enc = encode_latent(fine, coarse, net, order)
    with pytest.raises(UarCodingError):
        decode_latent(np.concatenate([enc.words, enc.words]), fine.shape, enc.min_symbol, enc.max_symbol, coarse, net,
                      order)
    with pytest.raises(UarCodingError):
        decode_latent(enc.words, fine.shape, enc.min_symbol, enc.max_symbol, coarse[:, :1], net, order)


def test_training_features_are_what_the_decoder_reads():
    rng = np.random.default_rng(2)
    fine, coarse = _grids(rng)
    feats = np.moveaxis(grid_features(torch.from_numpy(fine).float(), torch.from_numpy(coarse).float()).numpy(), 0, -1)
    for s in range(fine.shape[0]):
        previous = fine[s - 1] if s else np.zeros_like(fine[0])
        up = np.repeat(np.repeat(coarse[(2 * s * 2 + 4) // 8], 2, -2), 2, -1)
        odd = (np.add.outer(np.arange(12), np.arange(16)) % 2).astype(bool)
        for phase in (0, 1):
            where = np.broadcast_to(odd if phase else ~odd, fine.shape[1:])
            assert np.array_equal(sample_features(fine[s], previous, up, phase), feats[s][where])


@pytest.mark.parametrize("order", list(ContextOrder))
def test_training_estimate_tracks_the_coded_size(order):
    """The float network the fit prices with is the integer one before its last rounding: its
    bits on the rounded codes come within a few percent of the coded words."""
    rng = np.random.default_rng(4)
    fine, coarse = _grids(rng)
    floats = golden_net()
    net = IntegerContextNet.from_floats(*floats)
    coded = 32 * (encode_latent(fine, coarse, net, order).words.size
                  + encode_latent(coarse, None, net, order).words.size)
    grids = [torch.from_numpy(fine).float(), torch.from_numpy(coarse).float()]
    estimate = float(context_rate_bits(grids, grids, [torch.from_numpy(t) for t in floats], order))
    assert abs(estimate - coded) < 0.05 * coded


def test_context_network_gradients_reach_weights_and_values():
    floats = [torch.from_numpy(t).requires_grad_() for t in golden_net()]
    values = torch.randn(2, 1, 4, 6, requires_grad=True)
    bits = context_rate_bits([values], [torch.round(values.detach())], floats)
    bits.backward()
    assert values.grad.abs().sum() > 0 and floats[0].grad.abs().sum() > 0 and floats[3].grad.abs().sum() > 0
    mean, scale = context_laplace(torch.zeros(FEATURES, 3), *floats)
    assert torch.all(scale > 0)


def test_values_that_rest_at_zero_are_priced_with_the_bits_and_gradients_of_every_value():
    """The checkerboard training's rate term prices the values that are 0 and read only zeros
    as one value of each phase times their count, where most values rest (cockatoo's I-model):
    the same bits, the same gradients to the grids (each value's own, the resting ones'
    included) and to the network as pricing every value through it; the busy values' features
    are :func:`grid_features`' columns."""
    rng = np.random.default_rng(8)
    fine = np.where(rng.random((3, 2, 24, 32)) < 0.03, rng.integers(-3, 4, (3, 2, 24, 32)), 0)
    coarse = np.where(rng.random((2, 2, 13, 17)) < 0.1, rng.integers(-2, 3, (2, 2, 13, 17)), 0)
    fine[0, 0, 5, 7] = 400  # beyond the features' clip
    thetas = [torch.tensor(g + rng.uniform(-0.4, 0.4, g.shape), dtype=torch.float32, requires_grad=True)
              for g in (fine, coarse)]
    network = [torch.from_numpy(t).requires_grad_() for t in golden_net()]
    codes = [torch.round(t.detach()) for t in thetas]
    every_feature = grids_features(codes)

    split = RestingSplit.of(codes)
    x = torch.cat([c.reshape(-1) for c in codes])
    assert 0.5 < split.resting_count / x.numel() < 1.0
    assert not split.resting[x != 0].any()
    assert torch.equal(every_feature[:, split.busy], split.features)
    others = torch.ones(x.numel(), dtype=torch.bool)
    others[split.busy] = False
    assert torch.equal(others, split.resting)
    resting_features = every_feature[:, split.resting]
    assert torch.equal(resting_features[4], split.phase[split.resting].float())
    assert not resting_features[[0, 1, 2, 3, 5, 6, 7, 8, 9, 10]].any()

    def priced(apart: bool, noise: float = 0.0) -> tuple[float, list[torch.Tensor]]:
        values = [round_ste(t) + noise for t in thetas]
        if apart:
            bits = context_rate_bits(values, codes, network)
        else:  # every value through the network
            mean, scale = context_laplace(every_feature, *network)
            bits = -laplace_bin_log2_mass(torch.cat([v.reshape(-1) for v in values]), mean, scale).sum()
        return float(bits.detach()), list(torch.autograd.grad(bits, thetas + network))

    for noise in (0.0, 0.25):  # values priced with noise (--rate-noise) rest nowhere
        every, apart = priced(False, noise), priced(True, noise)
        assert apart[0] == pytest.approx(every[0], rel=1e-6)
        for a, b in zip(apart[1], every[1]):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


def _checkerboard_model():
    """A latent model whose finest grid is predictable only with context: random anchors, and
    every other integer the average of its four anchors; its context network says exactly that
    (mean: the neighbours' average; scale 4 at anchors, 1/8 elsewhere)."""
    from uarcodec.models.latent import LatentGrids, LatentGridsConfig

    model = LatentGrids(LatentGridsConfig(time_samples=(1, 1, 1), context_hidden=3), 16, 16, 2)
    specs = model.coded_specs()
    rng = np.random.default_rng(5)
    theta = [rng.uniform(-0.5, 0.5, s.shape).astype(np.float32) for s in specs]
    steps = [2.0**-6] * len(specs)
    w1 = np.zeros((3, FEATURES), np.float32)
    w1[0, :4], w1[1, :4], w1[2, 4] = 0.25, -0.25, 1.0
    network = {"context.0.weight": w1, "context.0.bias": np.zeros(3, np.float32),
               "context.1.weight": np.array([[1, -1, 0], [0, 0, -5]], np.float32),
               "context.1.bias": np.array([0.0, 2.0], np.float32)}
    fine = rng.integers(-8, 9, (1, 1, 16, 16))
    odd = (np.add.outer(np.arange(16), np.arange(16)) % 2).astype(bool)
    anchors = np.where(odd, 0, fine[0, 0])
    padded = np.pad(anchors, 1)
    average = (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]) / 4
    fine[0, 0][odd] = np.rint(average[odd])
    for i, spec in enumerate(specs):
        if spec.name in network:
            theta[i], steps[i] = network[spec.name], 2.0**-8
        elif spec.name == "grids.0":
            theta[i], steps[i] = fine.astype(np.float32), 1.0
    return specs, theta, steps


def test_a_model_codes_its_grids_under_context_where_that_is_cheaper_and_decodes_them_exactly():
    from uarcodec.bitstream.gom import parse_gom, serialize_gom
    from uarcodec.bitstream.records import GomRecord, ModelKind
    from uarcodec.pipeline.model_coding import code_model, plan_model, reconstruct_params
    from test_bitstream_samples import sample_header_1_5
    from uarcodec.vocabulary import EntropyModel

    specs, theta, steps = _checkerboard_model()
    plan = plan_model(specs, ModelKind.I, seed=3, eps=1.0, prev_hat=None, use_ref=True, content={})
    record = code_model(specs, plan, theta, steps, None, 2, 0.05)
    fine = [t for s, t in zip(specs, record.tensors) if s.name == "grids.0"][0]
    assert fine.entropy_model == EntropyModel.CONTEXT
    header = sample_header_1_5()
    gom = GomRecord(0, 0, 2, [record])
    parsed = parse_gom(serialize_gom(gom, header), 0, header)
    decoded = reconstruct_params(parsed.models[0], specs, None)
    expected = reconstruct_params(record, specs, None)
    assert all(np.array_equal(a, b) for a, b in zip(decoded, expected))
    index = [s.name for s in specs].index("grids.0")
    assert np.array_equal(decoded[index], theta[index])


@pytest.mark.parametrize("order", list(ContextOrder))
def test_random_words_decode_to_something_or_a_coding_error(order):
    """Words from an untrusted file never crash the decoder (no Rust panic, no numpy error)."""
    rng = np.random.default_rng(7)
    net = IntegerContextNet.from_floats(*golden_net())
    coarse = rng.integers(-4, 5, (2, 1, 3, 4))
    outcomes = set()
    for trial in range(200):
        words = rng.integers(0, 2**32, rng.integers(0, 6), dtype=np.uint64).astype(np.uint32)
        lo = int(rng.integers(-300, 5))
        hi = lo + int(rng.integers(0, 600))
        try:
            out = decode_latent(words, (2, 1, 6, 8), lo, hi, coarse, net, order)
        except UarCodingError:
            outcomes.add("error")
        else:
            assert out.shape == (2, 1, 6, 8) and out.min() >= lo and out.max() <= hi
            outcomes.add("decoded")
    assert "error" in outcomes


def test_weights_beyond_the_limits_are_clipped_and_nan_is_zero():
    w1, b1, w2, b2 = golden_net()
    w1 = w1.copy()
    w1[0, 0], w1[0, 1], w1[0, 2] = np.inf, -np.inf, np.nan
    net = IntegerContextNet.from_floats(w1, b1, w2, np.array([1e30, -1e30], np.float32))
    assert net.w1[0, :3].tolist() == [32767, -32767, 0]
    assert net.b2.tolist() == [2**31 - 1, -(2**31 - 1)]
    means, scales = net.indices(np.array(GOLDEN_FEATURES))
    assert means.min() >= -1020 and means.max() <= 1020 and scales.min() >= 0 and scales.max() <= 159


@pytest.mark.parametrize("order", list(ContextOrder))
def test_the_fit_prices_a_wavefront_value_with_the_bits_of_the_values_that_read_it(order):
    """The training's rate term (pipeline/fit.py): in the wavefront order a value's gradient
    includes how it moves the bits of the values whose features read it (straight through the
    rounding), so that patches of nonzero values do not sustain themselves; in the checkerboard
    order (the default, as 0.16 trained) the features are constants of the step."""
    from uarcodec.coding.latent_context import ContextLayout
    from uarcodec.coding.quant import TensorQuantizer
    from uarcodec.pipeline.fit import _context_bits

    rng = np.random.default_rng(5)
    grid = torch.tensor(rng.normal(0, 2, (2, 1, 6, 8)), dtype=torch.float32, requires_grad=True)
    quantizers = [TensorQuantizer(1.0)]
    network = [torch.from_numpy(t) for t in golden_net()]
    layout = ContextLayout(grids=(0,), network=(1, 2, 3, 4), order=order)
    bits = _context_bits(layout, quantizers, [grid], [torch.zeros_like(grid)], network, False, torch.Generator())
    (through_features,) = torch.autograd.grad(bits, grid)
    priced = quantizers[0].priced_values(grid, torch.zeros_like(grid), False, generator=torch.Generator())
    codes = torch.round(quantizers[0].codes(grid, torch.zeros_like(grid)).detach())
    own = context_rate_bits([priced], [codes], network, order)
    (own_only,) = torch.autograd.grad(own, grid)
    assert float(bits.detach()) == pytest.approx(float(own.detach()))  # the same estimate either way
    if order == ContextOrder.WAVEFRONT:
        assert not torch.allclose(through_features, own_only)
    else:
        assert torch.equal(through_features, own_only)


@pytest.mark.parametrize("order", list(ContextOrder))
def test_codes_beyond_the_feature_range_read_as_clipped_and_pass_no_gradient(order):
    """Codes beyond +-255 (a grid value far out early in a fit) are read as +-255 by every
    feature, and the features carry no gradient back to them, as the decoder's clipped
    features do not move with them."""
    q = torch.tensor([[[[0.0, 300.0, -2.0, 5.0], [400.0, 1.0, -500.0, 2.0]]],
                      [[[3.0, -255.0, 255.0, -1.0], [9.0, 0.0, 700.0, 4.0]]]])
    coarse = torch.tensor([[[[1000.0, -7.0]]]])
    q_in, coarse_in = q.clone().requires_grad_(), coarse.clone().requires_grad_()
    features = grid_features(q_in, coarse_in, order)
    clipped = grid_features(q.clamp(-255, 255), coarse.clamp(-255, 255), order)
    assert torch.equal(features.detach(), clipped)
    features.sum().backward()
    assert torch.all(q_in.grad[q.abs() > 255] == 0) and torch.all(coarse_in.grad[coarse.abs() > 255] == 0)
    assert q_in.grad[q.abs() < 255].abs().sum() > 0
