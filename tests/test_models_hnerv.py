"""HNeRV family: architecture rules, coded tensors, initialisation, fitting a real clip."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from uarcodec.errors import UarFormatError, UarInputError, UarSettingsError
from uarcodec.vocabulary import InitKind, TensorRole
from uarcodec.models.hnerv import ConvNeXtBlock, HNeRV, HNeRVConfig, NeRVBlock, choose_strides, count_coded_params
from conftest import SHARED_DATA, yuv444_frames

CARPHONE = SHARED_DATA / "carphone_qcif_120f.y4m"






def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1.0 / torch.mean((a - b) ** 2).item())


@pytest.mark.parametrize(
    ("width", "height", "strides", "embed"),
    [
        (176, 144, (2, 2, 2, 2), (9, 11)),
        (352, 288, (2, 2, 2, 2, 2), (9, 11)),
        (640, 352, (2, 2, 2, 2, 2), (11, 20)),
        (200, 120, (3, 2, 2, 2), (5, 9)),
        (1920, 1080, (4, 4, 2, 2, 2), (9, 15)),
    ],
)
def test_strides_and_embedding_size_follow_the_documented_rule(width, height, strides, embed):
    assert choose_strides(height, width) == strides
    config = HNeRV.config_for_size(200_000, height, width, 4)
    assert config.strides == strides
    assert config.embed_size(height, width) == embed
    assert config.kernel_sizes == (1,) + (5,) * (len(strides) - 2) + (3,)


def test_size_solver_widths_shrink_by_about_the_reduce_factor():
    config = HNeRV.config_for_size(400_000, 288, 352, 8)
    w = config.widths
    assert len(w) == len(config.strides) + 1
    for a, b in zip(w, w[1:]):
        assert b <= a and 1.0 <= a / b <= 1.5


@pytest.mark.parametrize("target", [20_000, 75_000, 600_000])
def test_coded_parameter_count_matches_the_module_and_the_target(target):
    config = HNeRV.config_for_size(target, 144, 176, 6)
    with torch.device("meta"):  # only built and counted, never run: shapes without storage
        model = HNeRV(config, 144, 176, 6)
    assert all(p.is_meta for p in model.parameters())
    assert sum(math.prod(s.shape) for s in model.coded_specs()) == model.num_coded_params()
    n_module = sum(p.numel() for p in model.parameters())
    assert count_coded_params(config, 144, 176, 6) == n_module == model.num_coded_params()
    assert abs(n_module - target) <= 0.02 * target


def test_target_below_the_smallest_network_is_a_settings_error():
    with pytest.raises(UarSettingsError, match="cannot be sized"):
        HNeRV.config_for_size(2_000, 288, 352, 8)  # the embeddings alone are 3,168


def test_padded_sizes_are_cropped_back_to_the_frame():
    config = HNeRV.config_for_size(30_000, 66, 98, 3)
    model = HNeRV(config, 66, 98, 3)
    out = model(torch.tensor([2, 0]))
    assert out.shape == (2, 3, 66, 98)


@pytest.mark.parametrize("stride", [2, 3])
def test_nerv_block_is_conv_then_pixel_shuffle_then_gelu(stride):
    # the weights keep PixelShuffle's channel order (the order the stream codes them in); the
    # block's reordered conv and channels-last shuffle must give the same frames
    torch.manual_seed(0)
    block = NeRVBlock(7, 5, 3, stride)
    x = torch.randn(2, 7, 6, 9).contiguous(memory_format=torch.channels_last)
    reference = torch.nn.functional.gelu(torch.nn.functional.pixel_shuffle(block.conv(x), stride))
    out = block(x)
    assert out.shape == (2, 5, 6 * stride, 9 * stride)
    assert torch.allclose(out, reference, rtol=0, atol=1e-6)
    assert torch.allclose(block(x.contiguous()), reference, rtol=0, atol=1e-6)


def test_convnext_block_mlp_is_the_pointwise_convs_it_holds():
    torch.manual_seed(0)
    block = ConvNeXtBlock(8, 5)
    x = torch.randn(1, 8, 10, 12).contiguous(memory_format=torch.channels_last)
    conv_form = x + block.scale * block.mlp_out(block.act(block.mlp_in(block.norm(block.dwconv(x)))))
    assert torch.allclose(block(x), conv_form, atol=1e-5)


def test_coded_specs_in_stream_order_with_roles_and_init_rules():
    config = HNeRV.config_for_size(60_000, 144, 176, 4)
    model = HNeRV(config, 144, 176, 4)
    specs = model.coded_specs()
    names = [s.name for s in specs]
    expected = ["stem.weight", "stem.bias"]
    for i in range(len(config.strides)):
        expected += [f"blocks.{i}.conv.weight", f"blocks.{i}.conv.bias"]
    expected += ["head.weight", "head.bias", "embeddings"]
    assert names == expected
    for spec in specs:
        param = model.get_parameter(spec.name)
        assert tuple(param.shape) == spec.shape
        if spec.name == "embeddings":
            assert spec.role == TensorRole.EMBEDDING
            assert spec.init.kind == InitKind.SHARED_UNIFORM
            assert spec.init.period == config.embed_channels * 9 * 11
            assert spec.shape == (4, config.embed_channels, 9, 11)
        else:
            assert spec.role == (TensorRole.WEIGHT if spec.name.endswith("weight") else TensorRole.BIAS)
            assert spec.init.kind == InitKind.UNIFORM
            conv = model.get_submodule(spec.name.rsplit(".", 1)[0])
            fan_in = conv.weight[0].numel()
            assert spec.init.bound == pytest.approx(1 / math.sqrt(fan_in))
            # The module's own start draws from the same law.
            assert param.abs().max().item() <= spec.init.bound


def test_embeddings_start_near_one_shared_code():
    config = HNeRV.config_for_size(60_000, 144, 176, 5)
    model = HNeRV(config, 144, 176, 5)
    emb = model.embeddings.detach()
    spread = (emb - emb[0:1]).abs().max().item()
    assert spread <= 2 * config.embed_init_noise + 1e-6
    assert emb.abs().max().item() <= config.embed_init_bound + config.embed_init_noise + 1e-6
    assert emb[0].std().item() > config.embed_init_bound / 4  # the shared code is not degenerate


def test_functional_call_runs_the_network_on_other_values():
    config = HNeRV.config_for_size(30_000, 144, 176, 2)
    model = HNeRV(config, 144, 176, 2)
    zeros = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    out = torch.func.functional_call(model, zeros, (torch.tensor([1]),))
    assert torch.allclose(out, torch.full_like(out, 0.5))
    own = torch.func.functional_call(model, dict(model.named_parameters()), (torch.tensor([1]),))
    assert torch.equal(own, model(torch.tensor([1])))


def test_sigmoid_output_activation_stays_in_range():
    config = dataclasses.replace(HNeRV.config_for_size(30_000, 144, 176, 2), output_activation="sigmoid")
    model = HNeRV(config, 144, 176, 2)
    with torch.no_grad():
        model.head.bias.fill_(50.0)
        out = model(torch.tensor([0, 1]))
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0


def test_bf16_autocast_forward_and_backward():
    config = HNeRV.config_for_size(50_000, 144, 176, 2)
    model = HNeRV(config, 144, 176, 2)
    with torch.no_grad():
        ref = model(torch.tensor([0, 1]))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.tensor([0, 1]))
    assert out.shape == ref.shape
    assert (out.float() - ref).abs().mean().item() < 0.02
    out.float().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize(
    "change",
    [
        {"widths": [8, 8]},
        {"kernel_sizes": [1, 3, 4, 5]},
        {"strides": [2, 0, 2, 2]},
        {"output_activation": "relu"},
        {"embed_channels": 0},
        {"strides": [2.0, 2.0, 2.0, 2.0]},
    ],
)
def test_impossible_stream_fields_are_format_errors(change):
    fields = HNeRV.config_for_size(50_000, 144, 176, 4).to_fields()
    fields.update(change)
    with pytest.raises(UarFormatError):
        HNeRVConfig.from_fields(fields)


def test_odd_frame_size_and_bad_frame_indices_are_input_errors():
    config = HNeRV.config_for_size(50_000, 144, 176, 4)
    with pytest.raises(UarInputError, match="even"):
        HNeRV(config, 143, 176, 4)
    model = HNeRV(config, 144, 176, 4)
    for bad in (torch.tensor([4]), torch.tensor([-1]), torch.tensor([[0]])):
        with pytest.raises(UarInputError):
            model(bad)


@pytest.mark.skipif(not CARPHONE.exists(), reason=f"real clip {CARPHONE} absent")
def test_short_fit_on_a_real_clip_learns_the_frames():
    torch.manual_seed(0)
    frames = yuv444_frames(CARPHONE, 2)
    config = HNeRV.config_for_size(50_000, 144, 176, 2)
    model = HNeRV(config, 144, 176, 2)
    idx = torch.arange(2)
    with torch.no_grad():
        before = psnr(model(idx), frames)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(60):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(idx)
        loss = torch.mean((out.float() - frames) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = psnr(model(idx), frames)
    assert after > before + 6.0
    assert after > 22.0
