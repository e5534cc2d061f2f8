"""P-models: the II start and the residual coding against it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import shared_clip, tiny_settings
from uarcodec import api
from uarcodec.bitstream.records import ModelKind, RefMode
from uarcodec.coding.init import seeded_params
from uarcodec.models.registry import family_by_name
from uarcodec.pipeline.model_coding import plan_model
from uarcodec.settings import RateModel


def _specs():
    cls = family_by_name("hnerv")
    return cls(cls.config_for_size(12_000, 144, 176, 4), 144, 176, 4).coded_specs()


def _prev(specs):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s.shape).astype(np.float32) for s in specs]


@pytest.mark.parametrize("eps", [1.0, 0.0])
def test_p_model_start_is_seed_at_eps_1_and_previous_at_eps_0(eps):
    specs = _specs()
    prev = _prev(specs)
    seeded = seeded_params(77, specs)
    plan = plan_model(specs, ModelKind.P, 77, eps, prev, True, {})
    for spec, start, mode, s, p in zip(specs, plan.init, plan.modes, seeded, prev):
        if mode == RefMode.INTERP:
            assert np.array_equal(start, s if eps == 1.0 else p)
        else:  # per-frame embeddings start from the previous GOP's last decoded frame
            assert mode == RefMode.LAST and np.array_equal(start, np.repeat(p[-1:], len(p), axis=0))


def test_i_model_and_no_ref_code_directly():
    specs = _specs()
    prev = _prev(specs)
    i_plan = plan_model(specs, ModelKind.I, 5, 1.0, prev, True, {})
    assert set(i_plan.modes) == {RefMode.NONE}
    assert all(np.array_equal(a, b) for a, b in zip(i_plan.init, seeded_params(5, specs)))
    no_ref = plan_model(specs, ModelKind.P, 5, 0.5, prev, False, {})
    assert set(no_ref.modes) == {RefMode.NONE}
    assert not any(r.any() for r in no_ref.refs)


def _p_bytes(path):
    info = api.stream_info(path)
    return [m["coded_bytes"] for g in info["goms"] for m in g["models"] if m["kind"] == "P"]


def _compare_ref(clip, tmp_path, frames, **kw):
    settings = tiny_settings(**kw)
    sizes = {}
    for use_ref in (True, False):
        out = tmp_path / f"{use_ref}.uar"
        api.encode(clip, out, dataclasses.replace(settings, use_ref=use_ref), frames=frames, device="cpu")
        sizes[use_ref] = _p_bytes(out)
    return sizes


def test_p_models_with_reference_cost_fewer_bits(sample, tmp_path):
    sizes = _compare_ref(sample, tmp_path, 12, gop_size=4, gom_size=3, epochs_i=3, epochs_p=2)
    assert sum(sizes[True]) < 0.8 * sum(sizes[False]), sizes


@pytest.mark.slow
def test_static_clip_reference_saving(tmp_path):
    clip = shared_clip("vtest_cif_120f.y4m")
    sizes = _compare_ref(clip, tmp_path, 20, gop_size=5, gom_size=4, epochs_i=20, epochs_p=10, model_size=40_000)
    assert sum(sizes[True]) < 0.8 * sum(sizes[False]), sizes


def test_the_papers_gaussian_rate_model_codes_embeddings_against_the_same_frame_of_the_previous_gop():
    specs = _specs()
    prev = _prev(specs)
    plan = plan_model(specs, ModelKind.P, 77, 0.0, prev, True, {}, RateModel.GAUSSIAN)
    assert RefMode.PREVIOUS in plan.modes and RefMode.LAST not in plan.modes
    assert not any(plan.temporal) and plan.entropy.name == "GAUSSIAN"
