"""HNeRV's training-only ConvNeXt encoder: shapes, separation from the coded tensors,
deterministic init, and the joint fit that codes its outputs as the embeddings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from uarcodec.bitstream.records import ModelKind, OutputSpace
from uarcodec.errors import UarInputError
from uarcodec.models.hnerv import HNeRV, HNeRVEncoder
from uarcodec.pipeline.fit import ModelFit
from uarcodec.pipeline.model_coding import plan_model
from uarcodec.pipeline.training_target import distortion_mse, make_target
from uarcodec.settings import TrainingSettings
from uarcodec.video import open_video
from conftest import SHARED_DATA

CARPHONE = SHARED_DATA / "carphone_qcif_120f.y4m"




def small_hnerv(width: int, height: int, frames: int = 4, params: int = 20_000) -> HNeRV:
    return HNeRV(HNeRV.config_for_size(params, height, width, frames), height, width, frames)


@pytest.mark.parametrize(("width", "height"), [(176, 144), (352, 288), (200, 120)])
def test_encoder_output_has_the_shape_of_the_embedding_rows(width, height):
    model = small_hnerv(width, height)
    encoder = model.training_encoder()
    assert isinstance(encoder, HNeRVEncoder)
    with torch.no_grad():
        rows = encoder(torch.rand(2, 3, height, width))
    assert set(rows) == {"embeddings"}
    assert tuple(rows["embeddings"].shape) == (2, *model.embeddings.shape[1:])
    assert rows["embeddings"].dtype == torch.float32
    assert torch.isfinite(rows["embeddings"]).all()


def test_encoder_rejects_frames_of_another_size():
    encoder = small_hnerv(176, 144).training_encoder()
    with pytest.raises(UarInputError):
        encoder(torch.rand(1, 3, 144, 160))


def test_encoder_is_not_part_of_the_model_or_its_coded_tensors():
    model = small_hnerv(176, 144)
    coded_before = model.num_coded_params()
    model_params = dict(model.named_parameters())
    encoder = model.training_encoder()
    coded_names = {spec.name for spec in model.coded_specs()}
    assert coded_names == set(dict(model.named_parameters()))  # the model holds only coded tensors
    assert model.num_coded_params() == coded_before
    assert dict(model.named_parameters()).keys() == model_params.keys()
    model_ids = {id(p) for p in model.parameters()}
    assert all(id(p) not in model_ids for p in encoder.parameters())
    assert sum(p.numel() for p in encoder.parameters()) > 0


def test_every_call_gives_a_new_encoder_with_identical_initial_weights():
    model = small_hnerv(352, 288)
    first, second = model.training_encoder(), model.training_encoder()
    assert first is not second
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # ... and the same for a separately built network of the same configuration
    other = HNeRV(model.config, 288, 352, 4).training_encoder().state_dict()
    assert all(torch.equal(a[k], other[k]) for k in a)
    frames = torch.rand(1, 3, 288, 352)
    with torch.no_grad():
        assert torch.equal(first(frames)["embeddings"], second(frames)["embeddings"])


def test_initial_embeddings_differ_per_frame_and_have_the_seeded_spread():
    model = small_hnerv(176, 144)
    frames = torch.rand(2, 3, 144, 176)
    frames[1] = 1.0 - frames[1]
    with torch.no_grad():
        rows = model.training_encoder()(frames)["embeddings"]
    assert not torch.allclose(rows[0], rows[1])
    seeded_std = model.config.embed_init_bound / math.sqrt(3.0)
    assert 0.25 * seeded_std < float(rows.std()) < 4.0 * seeded_std


def decoded_psnr(model: HNeRV, theta: list[np.ndarray], target) -> float:
    """PSNR (6:1:1 YUV, float) of the network loaded with ``theta`` on every frame of ``target``."""
    params = {spec.name: torch.from_numpy(t) for spec, t in zip(model.coded_specs(), theta)}
    idx = torch.arange(target.num_frames)
    with torch.no_grad():
        out = torch.func.functional_call(model, params, (idx,))
        mse = float(distortion_mse(out, target, idx))
    return 10.0 * math.log10(1.0 / mse)


@pytest.mark.skipif(not CARPHONE.exists(), reason=f"developer clip {CARPHONE} is absent")
def test_joint_fit_trains_the_encoder_and_codes_its_outputs():
    frames = 4
    with open_video(CARPHONE) as reader:
        info = reader.info
        clip = reader.read(0, frames)
    model = HNeRV(HNeRV.config_for_size(20_000, info.height, info.width, frames), info.height, info.width, frames)
    specs = model.coded_specs()
    target = make_target(clip, OutputSpace.YUV, info.color_matrix, info.color_range, torch.device("cpu"))
    plan = plan_model(specs, ModelKind.I, seed=1, eps=1.0, prev_hat=None, use_ref=True, content={})
    settings = TrainingSettings(lr=2e-3, batch_size=2, precision="fp32", use_encoder=True)

    embed = next(i for i, s in enumerate(specs) if s.name == "embeddings")
    start_encoder = model.training_encoder()
    with torch.no_grad():
        start_rows = start_encoder(target.network_input_frames())["embeddings"].numpy()
    start_theta = list(plan.init)
    start_theta[embed] = start_rows
    before = decoded_psnr(model, start_theta, target)

    fit = ModelFit(model, target, plan.init, plan.refs, settings, 40, seed=1).run(40).result()
    after = decoded_psnr(model, fit.theta, target)
    assert after > before + 4.0, (before, after)

    # the encoder was trained, and its state is returned for the next model's warm start
    assert fit.encoder_state is not None
    trained = model.training_encoder()
    trained.load_state_dict(fit.encoder_state)
    assert any(not torch.equal(v, start_encoder.state_dict()[k]) for k, v in fit.encoder_state.items())

    # the coded embeddings are exactly the trained encoder's output on the GOP's frames
    trained.eval()
    with torch.no_grad():
        rows = trained(target.network_input_frames())["embeddings"].numpy()
    assert fit.theta[embed].shape == specs[embed].shape
    np.testing.assert_allclose(fit.theta[embed], rows, rtol=0, atol=1e-5)
