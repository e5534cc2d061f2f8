"""Seed trials (pipeline/seed_trials.py): an I-model fitted from a few seeds for a quarter of its
epochs each, the one with the lowest loss finished; a trial is the first part of that fit."""

from __future__ import annotations

import pytest

from conftest import SAMPLE, code_sample_as_i_model
from uarcodec.pipeline import gop_coding
from uarcodec.pipeline.fit import epoch_objective
from uarcodec.pipeline.seed_trials import best_seed, candidate_seeds, trial_epochs
from uarcodec.settings import derive_seed
from uarcodec.video import open_video

EPOCHS = 8


@pytest.fixture(scope="module")
def clip():
    with open_video(str(SAMPLE)) as reader:
        return reader.read(0, 4)


def test_one_trial_is_the_models_own_seed_and_no_fit():
    assert candidate_seeds(7, 1) == [7] and candidate_seeds(7, 3) == [7, derive_seed(7, 1), derive_seed(7, 2)]
    assert best_seed(7, 1, EPOCHS, fit=lambda seed, epochs: pytest.fail("no trial runs with one trial")) == 7
    assert trial_epochs(60) == 15 and trial_epochs(2) == 1


def test_an_i_model_finishes_the_trial_that_ended_lowest(clip, monkeypatch):
    fits = []
    real = gop_coding.fit_model

    def recorded(*args, **kwargs):
        result = real(*args, **kwargs)
        fits.append((kwargs["seed"], args[5], kwargs["schedule_epochs"], result.history))
        return result

    monkeypatch.setattr(gop_coding, "fit_model", recorded)
    coded, _ = code_sample_as_i_model(clip, "hnerv", 20_000, EPOCHS, seed_trials=3)
    *trials, final = fits
    assert [(epochs, schedule) for _, epochs, schedule, _ in trials] == [(2, EPOCHS)] * 3
    assert [seed for seed, *_ in trials] == candidate_seeds(derive_seed(0, 0), 3)
    lmbda = trials[0][3][-1].lmbda
    winner = min(trials, key=lambda t: epoch_objective(t[3][-1], lmbda))[0]
    assert final[:3] == (winner, EPOCHS, EPOCHS) and coded.record.seed == winner
    # the winner's trial was the first quarter of its full fit, epoch for epoch
    won = next(history for seed, _, _, history in trials if seed == winner)
    assert [(p.loss, p.psnr, p.bpp) for p in won] == [(p.loss, p.psnr, p.bpp) for p in final[3][:2]]
