"""HiNeRV family: construction at several sizes, size solver, coded tensors, round trip, fitting."""

from __future__ import annotations

import math

import pytest
import torch

from uarcodec.errors import UarFormatError, UarInputError, UarSettingsError
from uarcodec.vocabulary import InitKind, TensorRole
from uarcodec.models.hinerv import HiNeRV, HiNeRVConfig, count_params
from conftest import SHARED_DATA, yuv444_frames

CARPHONE = SHARED_DATA / "carphone_qcif_120f.y4m"

FRAME_SIZES = [(144, 176), (288, 352), (120, 200)]  # (height, width)
TARGETS = [30_000, 120_000, 400_000]


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_model(height: int = 64, width: int = 96, frames: int = 4, target: int = 20_000) -> HiNeRV:
    return HiNeRV(HiNeRV.config_for_size(target, height, width, frames), height, width, frames)




def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return -10.0 * math.log10(float(((a - b) ** 2).mean()))


# --- building and the size solver ------------------------------------------------------------


@pytest.mark.parametrize("height,width", FRAME_SIZES)
@pytest.mark.parametrize("target", TARGETS)
def test_solver_hits_target_and_model_builds(height, width, target):
    config = HiNeRV.config_for_size(target, height, width, 8)
    with torch.device("meta"):  # only built and counted, never run: shapes without storage
        model = HiNeRV(config, height, width, 8)
    assert all(p.is_meta for p in model.parameters())
    coded = sum(math.prod(s.shape) for s in model.coded_specs())
    assert coded == model.num_coded_params()
    assert abs(coded - target) <= 0.02 * target
    assert count_params(config, height, width) == model.num_coded_params()
    assert sum(p.numel() for p in model.parameters()) == model.num_coded_params()


@pytest.mark.parametrize("height,width", FRAME_SIZES)
def test_forward_gives_whole_frames_in_unit_range(height, width):
    model = HiNeRV(HiNeRV.config_for_size(30_000, height, width, 6), height, width, 6)
    with torch.no_grad():
        out = model(torch.tensor([0, 3, 5]))
    assert out.shape == (3, 3, height, width)
    assert out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_solver_scales_with_gop_length_and_rejects_tiny_targets():
    short = HiNeRV.config_for_size(150_000, 288, 352, 4)
    long = HiNeRV.config_for_size(150_000, 288, 352, 30)
    assert short.base_grid_frames[0] == 4
    assert long.base_grid_frames[0] > short.base_grid_frames[0]
    for config in (short, long):
        assert abs(count_params(config, 288, 352) - 150_000) <= 3_000
    with pytest.raises(UarSettingsError):
        HiNeRV.config_for_size(500, 288, 352, 8)


def test_odd_frame_size_and_bad_indices_are_rejected():
    config = HiNeRV.config_for_size(20_000, 64, 96, 4)
    with pytest.raises(UarInputError):
        HiNeRV(config, 63, 96, 4)
    model = HiNeRV(config, 64, 96, 4)
    with pytest.raises(UarInputError):
        model(torch.tensor([4]))
    with pytest.raises(UarInputError):
        model(torch.tensor([[0]]))


# --- coded tensors ---------------------------------------------------------------------------


def test_parameters_are_exactly_the_coded_tensors_in_stream_order():
    model = small_model()
    specs = model.coded_specs()
    params = list(model.named_parameters())
    assert [s.name for s in specs] == [n for n, _ in params]
    assert [s.shape for s in specs] == [tuple(p.shape) for _, p in params]
    assert list(model.state_dict()) == [s.name for s in specs]  # no buffers either
    roles = {s.role for s in specs}
    assert roles == {TensorRole.WEIGHT, TensorRole.BIAS, TensorRole.GRID, TensorRole.NORM}


def test_initial_values_follow_the_init_specs():
    model = small_model()
    for spec in model.coded_specs():
        value = model.get_parameter(spec.name).detach()
        if spec.init.kind == InitKind.ZEROS:
            assert torch.all(value == 0), spec.name
        elif spec.init.kind == InitKind.ONES:
            assert torch.all(value == 1), spec.name
        else:
            assert spec.init.kind == InitKind.UNIFORM
            assert 0 < spec.init.bound
            assert float(value.abs().max()) <= spec.init.bound, spec.name
            if spec.role == TensorRole.GRID:
                assert spec.init.bound <= 2**-5  # small next to the layers' bounds
            if value.numel() > 16:
                assert float(value.abs().max()) > 0.5 * spec.init.bound, spec.name
    conv = next(s for s in model.coded_specs() if s.name == "stem.weight")
    fan_in = conv.shape[1] * conv.shape[2] * conv.shape[3]
    assert conv.init.bound == pytest.approx(1 / math.sqrt(fan_in))


def test_every_coded_tensor_gets_a_gradient():
    model = small_model(frames=5)
    target = torch.rand(5, 3, 64, 96)
    # one step first so zero-initialised biases no longer hide gradients of later layers
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(2):
        opt.zero_grad()
        loss = ((model(torch.arange(5)) - target) ** 2).mean()
        loss.backward()
        opt.step()
    for spec in model.coded_specs():
        grad = model.get_parameter(spec.name).grad
        assert grad is not None and float(grad.abs().sum()) > 0, spec.name


def test_tensor_shapes_do_not_depend_on_gop_length():
    # a shorter last GOP must reuse the previous model's tensors (interpolated init)
    config = HiNeRV.config_for_size(20_000, 64, 96, 8)
    full, short = HiNeRV(config, 64, 96, 8), HiNeRV(config, 64, 96, 3)
    assert full.coded_specs() == short.coded_specs()
    short.load_state_dict(full.state_dict())
    with torch.no_grad():
        assert short(torch.arange(3)).shape == (3, 3, 64, 96)


# --- round trip through the stream fields ----------------------------------------------------


def test_fields_round_trip_rebuilds_the_same_network():
    config = HiNeRV.config_for_size(40_000, 120, 200, 6)
    model = HiNeRV(config, 120, 200, 6)
    fields = config.to_fields()
    assert all(not isinstance(v, tuple) for v in fields.values())
    rebuilt_config = HiNeRVConfig.from_fields(fields)
    assert rebuilt_config == config
    rebuilt = HiNeRV(rebuilt_config, 120, 200, 6)
    assert rebuilt.coded_specs() == model.coded_specs()
    rebuilt.load_state_dict(model.state_dict())
    idx = torch.arange(6)
    with torch.no_grad():
        assert torch.equal(rebuilt(idx), model(idx))


def test_bad_stream_fields_are_format_errors():
    fields = HiNeRV.config_for_size(20_000, 64, 96, 4).to_fields()
    with pytest.raises(UarFormatError):
        HiNeRVConfig.from_fields({**fields, "mystery": 1})
    with pytest.raises(UarFormatError):
        HiNeRVConfig.from_fields({k: v for k, v in fields.items() if k != "channels"})
    with pytest.raises(UarFormatError):  # one stage's width missing
        HiNeRVConfig.from_fields({**fields, "channels": list(fields["channels"])[:-1]})
    with pytest.raises(UarFormatError):
        HiNeRVConfig.from_fields({**fields, "kernels": [2] * len(fields["kernels"])})
    with pytest.raises(UarFormatError):
        HiNeRVConfig.from_fields({**fields, "depths": [1.5] * len(fields["depths"])})


def test_registered_as_family_2():
    from uarcodec.models import registry
    from uarcodec.pipeline.rebuild import model_skeleton

    assert registry.family_by_id(2) is HiNeRV
    assert registry.family_by_name("hinerv") is HiNeRV
    config = HiNeRV.config_for_size(20_000, 64, 96, 4)
    rebuilt = registry.family_by_id(2).config_type.from_fields(config.to_fields())
    skeleton = model_skeleton(HiNeRV, rebuilt, 64, 96, 4)
    assert skeleton.coded_specs() == HiNeRV(config, 64, 96, 4).coded_specs()


# --- running it the ways the pipeline does ---------------------------------------------------


def test_functional_call_uses_the_given_values():
    model = small_model()
    other = small_model()
    idx = torch.arange(4)
    values = dict(other.named_parameters())
    with torch.no_grad():
        out = torch.func.functional_call(model, values, (idx,))
        assert torch.equal(out, other(idx))
        assert not torch.equal(out, model(idx))


def test_bf16_autocast_forward_and_backward():
    model = small_model()
    target = torch.rand(4, 3, 64, 96)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.arange(4))
    assert out.dtype == torch.float32 and out.shape == (4, 3, 64, 96)
    assert float(out.detach().min()) >= 0.0 and float(out.detach().max()) <= 1.0
    ((out - target) ** 2).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.skipif(not CARPHONE.exists(), reason=f"real test clip {CARPHONE} is absent")
def test_short_fit_on_a_real_clip_raises_psnr():
    frames = yuv444_frames(CARPHONE, 4)
    _, _, height, width = frames.shape
    model = HiNeRV(HiNeRV.config_for_size(40_000, height, width, 4), height, width, 4)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    idx = torch.arange(4)
    with torch.no_grad():
        first = psnr(model(idx), frames)
    for _ in range(40):
        opt.zero_grad()
        loss = ((model(idx) - frames) ** 2).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        last = psnr(model(idx), frames)
    assert last > first + 3.0, (first, last)
