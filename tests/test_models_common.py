"""What every registered INR family promises through the registry (see models/base.py)."""

from __future__ import annotations

import math

import pytest
import torch

from uarcodec.errors import UarFormatError, UarSettingsError
from uarcodec.models import registry
from uarcodec.pipeline.rebuild import load_model, model_skeleton
from uarcodec.models.base import InrModel
from uarcodec.models.latent import LatentGridsConfig, choose_levels, size_bounds
from uarcodec.vocabulary import TensorRole

# The families the codec ships, with the ids written into every stream. Listed here, not read
# from the registry, so that a family dropping out of the registry fails these tests instead of
# silently shrinking the parametrization.
STABLE_IDS = {"hnerv": 1, "hinerv": 2, "latent": 3}
FAMILIES = sorted(STABLE_IDS)
FRAME_SIZES = [(176, 144), (352, 288), (200, 120)]  # (width, height)
TARGETS = [60_000, 150_000, 400_000]
NUM_FRAMES = 5


def reachable(name: str, target: int, width: int, height: int) -> int:
    """``target``, or for the latent grids (whose frame sets a floor and a ceiling) the nearest
    count well inside their range here."""
    if name != "latent":
        return target
    low, high = latent_size_range(width, height)
    return min(max(target, int(1.2 * low)), int(0.8 * high))


def latent_size_range(width: int, height: int) -> tuple[int, int]:
    config = LatentGridsConfig(time_samples=(1,) * choose_levels(height, width))
    return size_bounds(config, height, width, NUM_FRAMES)


def build(name: str, target: int, width: int, height: int, device: str = "cpu", exact: bool = False) -> InrModel:
    cls = registry.family_by_name(name)
    size = target if exact else reachable(name, target, width, height)
    config = cls.config_for_size(size, height, width, NUM_FRAMES)
    with torch.device(device):
        return cls(config, height, width, NUM_FRAMES)


def spec_signature(model: InrModel) -> list[tuple]:
    return [(s.name, s.shape, s.role, s.init) for s in model.coded_specs()]


def test_known_families_are_registered_under_stable_ids():
    fams = registry.families()
    assert {name: cls.family_id for name, cls in fams.items()} == STABLE_IDS
    for name, cls in fams.items():
        assert cls.family_name == name
        assert registry.family_by_id(cls.family_id) is cls
        assert registry.family_by_name(name) is cls


def test_unknown_family_is_a_clear_error():
    with pytest.raises(UarSettingsError, match="family: unknown value 'siren' .*hnerv, hinerv"):
        registry.family_by_name("siren")
    with pytest.raises(UarFormatError):
        registry.family_by_id(250)


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize(("width", "height"), FRAME_SIZES)
@pytest.mark.parametrize("target", TARGETS)
def test_size_solver_lands_within_two_percent(name, width, height, target):
    if name == "latent":  # beyond the grids' range here: a clear error
        low, high = latent_size_range(width, height)
        if not low <= target <= high:
            with pytest.raises(UarSettingsError, match="out of reach"):
                registry.family_by_name(name).config_for_size(target, height, width, NUM_FRAMES)
            return
    # Only counted, never run: built on the meta device (shapes, no storage).
    model = build(name, target, width, height, device="meta", exact=True)
    assert all(p.is_meta for p in model.parameters())
    coded = sum(math.prod(s.shape) for s in model.coded_specs())
    assert model.num_coded_params() == coded
    assert abs(coded - target) <= 0.02 * target, f"{name} {width}x{height}: {coded} for {target}"


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize(("width", "height"), FRAME_SIZES)
def test_forward_gives_frames_of_the_gop_size_in_unit_range(name, width, height):
    model = build(name, TARGETS[0], width, height)
    with torch.no_grad():
        out = model(torch.tensor([NUM_FRAMES - 1, 0, 2]))
    assert out.shape == (3, 3, height, width)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize(("width", "height"), FRAME_SIZES)
def test_stream_fields_rebuild_the_identical_network(name, width, height):
    model = build(name, TARGETS[1], width, height)
    fields = model.config.to_fields()
    for key, value in fields.items():  # only what the stream header can carry
        assert isinstance(value, (int, float, str, bool, list)), key
        if isinstance(value, list):
            assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value), key
    family = registry.family_by_id(type(model).family_id)
    skeleton = model_skeleton(family, family.config_type.from_fields(fields), height, width, NUM_FRAMES)
    assert type(skeleton) is type(model)
    assert skeleton.config == model.config
    assert spec_signature(skeleton) == spec_signature(model)
    # Same parameters -> same frames.
    theta = [model.get_parameter(s.name).detach().numpy() for s in model.coded_specs()]
    rebuilt = load_model(skeleton, theta, torch.device("cpu"))
    idx = torch.arange(NUM_FRAMES)
    with torch.no_grad():
        assert torch.equal(rebuilt(idx), model(idx))


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize(("width", "height"), FRAME_SIZES)
def test_coded_specs_are_exactly_the_parameters_the_forward_uses(name, width, height):
    model = build(name, TARGETS[0], width, height)
    specs = model.coded_specs()
    names = [s.name for s in specs]
    assert len(names) == len(set(names))
    for spec in specs:
        assert tuple(model.get_parameter(spec.name).shape) == spec.shape
    assert model.num_coded_params() == sum(p.numel() for n, p in model.named_parameters() if n in set(names))

    out = model(torch.tensor([0, NUM_FRAMES - 1]))
    (out * torch.rand_like(out)).sum().backward()
    used = {n for n, p in model.named_parameters() if p.grad is not None}
    # the latent family's context network is the entropy coder's, never the forward pass's
    coder_only = {s.name for s in specs if s.role == TensorRole.CONTEXT}
    assert used == set(names) - coder_only
    assert {n for n, _ in model.named_parameters()} == set(names)


@pytest.mark.parametrize("name", FAMILIES)
def test_functional_call_uses_the_given_values(name):
    model = build(name, TARGETS[0], 176, 144)
    idx = torch.tensor([1])
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        same = torch.func.functional_call(model, params, (idx,))
        assert torch.allclose(same, model(idx), rtol=0, atol=1e-6)
        params = {n: p * 0.5 for n, p in params.items()}
        other = torch.func.functional_call(model, params, (idx,))
    assert (other - same).abs().max().item() > 1e-4


def test_channels_last_training_layout_gives_the_same_frames():
    """The fit lays 4-D tensors out channels-last for speed: the network's output is the same
    to float rounding as with the default layout."""
    from uarcodec.pipeline.fit import conv_layout

    model = registry.family_by_name("hnerv")(
        registry.family_by_name("hnerv").config_for_size(20_000, 64, 96, 4), 64, 96, 4)
    idx = torch.tensor([0, 3])
    with torch.no_grad():
        planar = model(idx)
        for p in model.parameters():
            p.data = conv_layout(p.data)
        assert model.stem.weight.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(model(idx), planar, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("affine", [False, True])
def test_float32_layer_norm_of_a_bf16_map_matches_torch_in_value_dtype_and_gradients(affine):
    """The families' LayerNorm computes its statistics in float32 whatever the map's dtype
    (faster on CPU under bf16 autocast); it is still torch's LayerNorm, and a bf16 map stays
    bf16 so the layers after it run as before."""
    from uarcodec.models.layers import layer_norm_last

    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 5, 7, 9, generator=gen) * 3 + 1).requires_grad_()
    weight = torch.randn(9, generator=gen).requires_grad_() if affine else None
    bias = torch.randn(9, generator=gen).requires_grad_() if affine else None
    got = layer_norm_last(x, weight, bias, 1e-6)
    want = torch.nn.functional.layer_norm(x, (9,), weight, bias, 1e-6)
    assert torch.allclose(got, want, atol=1e-6)
    g = torch.randn(want.shape, generator=gen)
    got_grads = torch.autograd.grad(got, [x] + ([weight, bias] if affine else []), g)
    want_grads = torch.autograd.grad(want, [x] + ([weight, bias] if affine else []), g)
    for a, b in zip(got_grads, want_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    low = layer_norm_last(x.detach().bfloat16(), weight, bias, 1e-6)
    assert low.dtype == torch.bfloat16
    assert torch.allclose(low.float(), want.detach(), atol=0.05)
