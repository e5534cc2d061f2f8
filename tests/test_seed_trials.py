"""Seed trials (pipeline/seed_trials.py): an I-model fitted from a few seeds for a quarter of its
epochs each, the one with the lowest loss going on from where its trial stopped; a fit run in two
parts is the same fit as one run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from conftest import SAMPLE, code_sample_as_i_model
from uarcodec.bitstream.records import ModelKind
from uarcodec.models.latent import LatentGrids
from uarcodec.pipeline import gop_coding
from uarcodec.pipeline.fit import ModelFit, epoch_objective
from uarcodec.pipeline.model_coding import plan_model
from uarcodec.pipeline.seed_trials import candidate_seeds, trial_epochs, winning_fit
from uarcodec.pipeline.training_target import make_target
from uarcodec.settings import TrainingSettings, derive_seed
from uarcodec.vocabulary import OutputSpace
from uarcodec.video import open_video

EPOCHS = 8


@pytest.fixture(scope="module")
def clip():
    with open_video(str(SAMPLE)) as reader:
        return reader.read(0, 4)


def test_one_trial_is_the_models_own_seed_not_yet_run():
    assert candidate_seeds(7, 1) == [7] and candidate_seeds(7, 3) == [7, derive_seed(7, 1), derive_seed(7, 2)]
    assert trial_epochs(60) == 15 and trial_epochs(2) == 1

    class Unrun:
        epochs_run = 0

        def run(self, epochs):
            pytest.fail("no trial runs with one trial")

    started = []
    fit = winning_fit(7, 1, lambda seed: started.append(seed) or Unrun())
    assert started == [7] and fit.epochs_run == 0


def test_an_i_model_goes_on_from_the_trial_that_ended_lowest(clip, monkeypatch):
    fits: list[ModelFit] = []

    class Recorded(ModelFit):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            fits.append(self)

    monkeypatch.setattr(gop_coding, "ModelFit", Recorded)
    trials_ended = []
    real_run = ModelFit.run

    def run(self, epochs, progress=None):
        real_run(self, epochs, progress)
        trials_ended.append((self.seed, self.epochs_run, self.history[-1]))
        return self

    monkeypatch.setattr(Recorded, "run", run)
    coded, _ = code_sample_as_i_model(clip, "hnerv", 20_000, EPOCHS, seed_trials=3)
    assert [fit.seed for fit in fits] == candidate_seeds(derive_seed(0, 0), 3)  # no fit started twice
    *trials, final = trials_ended
    assert [epochs for _, epochs, _ in trials] == [2] * 3
    lmbda = trials[0][2].lmbda
    winner = min(trials, key=lambda t: epoch_objective(t[2], lmbda))[0]
    assert final[:2] == (winner, EPOCHS) and coded.record.seed == winner
    assert len(coded.history) == EPOCHS and coded.history[1] == next(t[2] for t in trials if t[0] == winner)


def test_a_fit_run_in_two_parts_is_the_fit_run_at_once(clip):
    with open_video(str(SAMPLE)) as reader:
        info = reader.info
    config = LatentGrids.config_for_size(40_000, info.height, info.width, clip.num_frames)
    model = LatentGrids(dataclasses.replace(config, context_hidden=8), info.height, info.width, clip.num_frames)
    plan = plan_model(model.coded_specs(), ModelKind.I, seed=5, eps=1.0, prev_hat=None, use_ref=True, content={})
    target = make_target(clip, OutputSpace.YUV, info.color_matrix, info.color_range, torch.device("cpu"))
    settings = TrainingSettings(lr=5e-3, batch_size=2)
    whole = ModelFit(model, target, plan.init, plan.refs, settings, 6, seed=5).run(6).result()
    parts = ModelFit(model, target, plan.init, plan.refs, settings, 6, seed=5).run(2).run(10).result()
    assert [p.loss for p in parts.history] == [p.loss for p in whole.history] and len(parts.history) == 6
    for a, b in zip(parts.theta, whole.theta, strict=True):
        np.testing.assert_array_equal(a, b)
    assert parts.steps == whole.steps
