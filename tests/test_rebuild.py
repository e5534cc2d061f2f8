"""One rebuild path: a network is either a skeleton (structure only, no values, no draw on
torch's random generator) or loaded with decoded parameters; the encoder predicts from
exactly what the decoder rebuilds from the bytes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tiny_settings
from uarcodec.bitstream import parse_model, serialize_model
from uarcodec.models.registry import family_by_name
from uarcodec.pipeline.gop_coding import GopCoder
from uarcodec.pipeline.plan import stream_header
from uarcodec.pipeline.rebuild import load_model, model_skeleton, rebuild_model
from uarcodec.video import open_video

DEV = torch.device("cpu")


@pytest.mark.parametrize("family", ["hnerv", "hinerv"])
def test_a_skeleton_holds_no_values_and_draws_nothing(family):
    cls = family_by_name(family)
    config = cls.config_for_size(20_000, 144, 176, 4)
    state = torch.random.get_rng_state()
    skeleton = model_skeleton(cls, config, 144, 176, 4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(p.is_meta for p in skeleton.parameters())
    assert sum(s.num_elements for s in skeleton.coded_specs()) == skeleton.num_coded_params()


@pytest.mark.parametrize("family", ["hnerv", "hinerv"])
def test_a_loaded_model_holds_exactly_the_given_values(family):
    cls = family_by_name(family)
    config = cls.config_for_size(20_000, 64, 96, 3)
    specs = model_skeleton(cls, config, 64, 96, 3).coded_specs()
    rng = np.random.default_rng(0)
    theta = [(rng.standard_normal(s.shape) * 0.1).astype(np.float32) for s in specs]
    model = load_model(model_skeleton(cls, config, 64, 96, 3), theta, DEV)
    for spec, value in zip(specs, theta):
        assert np.array_equal(model.get_parameter(spec.name).detach().numpy(), value)
    out = model(torch.arange(3))
    assert out.shape == (3, 3, 64, 96) and torch.isfinite(out).all()
    with pytest.raises(Exception, match="decoded tensors"):
        load_model(model_skeleton(cls, config, 64, 96, 3), theta[:-1], DEV)


def test_the_encoder_predicts_from_what_the_decoder_rebuilds(sample):
    settings = tiny_settings(epochs_i=1, epochs_p=1, model_size=8000)
    with open_video(str(sample)) as reader:
        header = stream_header(reader.info, 8, settings, DEV)
        first, second = reader.read(0, 4), reader.read(4, 4)
    coder = GopCoder(header, settings, DEV)
    i_model = coder.code(first, 0, 1.0, None)
    p_model = coder.code(second, 1, 0.0, i_model, position=1)
    decoded_i = rebuild_model(header, parse_model(serialize_model(i_model.record, 0, header), 0, header), None, DEV)
    decoded_p = rebuild_model(
        header, parse_model(serialize_model(p_model.record, 1, header), 1, header), decoded_i.theta_hat, DEV
    )
    for mine, theirs in zip(p_model.theta_hat, decoded_p.theta_hat):
        assert np.array_equal(mine, theirs)
    assert p_model.record.kind.name == "P"
