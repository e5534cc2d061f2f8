"""Seed trials: start an I-model's fit from a few seeds and finish the one that starts best.

At preset fast the seed alone (the synthesis' random start and the frames' order) moves an
I-model by up to a quarter of its bytes or a dB at equal bytes, and a fit's loss a quarter of
the way through tells the good starts from the bad ones (vtest, seven seeds:
docs/training_speed.md, "A late epoch that goes wrong"). With ``seed_trials`` N > 1 an I-model
is fitted from N seeds for :data:`TRIAL_FRACTION` of its epochs each, on the whole fit's
schedule (each trial is the first part of that fit, step for step: :class:`ModelFit`), and the
trial that ends at the lowest loss goes on from where it stopped to the end of its fit, so N
trials cost ``1 + (N - 1) * TRIAL_FRACTION`` of an I-model's fit. The first candidate is the
model's own seed; the model record carries the seed that won (an I-model's tensors refer to
nothing, so the decoder does not use it). With one trial, nothing changes. Two trials on six
seeds of vtest's I-model: 2.2% fewer bytes at 0.06 dB more on average; an option, not a default.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from uarcodec.pipeline.fit import ModelFit, epoch_objective
from uarcodec.settings import derive_seed

TRIAL_FRACTION = 0.25

StartFit = Callable[[int], ModelFit]  # seed -> the model's fit set up from it, no epoch run yet


def candidate_seeds(seed: int, trials: int) -> list[int]:
    """The seeds an I-model's trials start from: its own, then ``derive_seed(seed, k)``."""
    return [seed] + [derive_seed(seed, k) for k in range(1, trials)]


def trial_epochs(epochs: int) -> int:
    """How many of a fit's ``epochs`` a trial runs (at least one)."""
    return max(1, math.ceil(TRIAL_FRACTION * epochs))


def winning_fit(seed: int, trials: int, start: StartFit) -> ModelFit:
    """The fit (``start(s)``) of the candidate seed whose trial ends at the lowest loss, left
    where its trial stopped, every trial's last epoch priced at one lambda (the first trial's);
    with one trial, the fit from ``seed`` itself, not yet run. Only the best trial so far is
    kept while the next one runs."""
    best = start(seed)
    if trials <= 1:
        return best
    epochs = trial_epochs(best.epochs)
    best.run(epochs)
    lmbda = best.history[-1].lmbda
    for other in candidate_seeds(seed, trials)[1:]:
        fit = start(other).run(epochs)
        if epoch_objective(fit.history[-1], lmbda) < epoch_objective(best.history[-1], lmbda):
            best = fit
    return best


__all__ = ["TRIAL_FRACTION", "StartFit", "candidate_seeds", "trial_epochs", "winning_fit"]
