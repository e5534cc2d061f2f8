"""Seed trials: start an I-model's fit from a few seeds and finish the one that starts best.

At preset fast the seed alone (the synthesis' random start and the frames' order) moves an
I-model by up to a quarter of its bytes or a dB at equal bytes, and a fit's loss a quarter of
the way through tells the good starts from the bad ones (vtest, seven seeds:
docs/training_speed.md, "A late epoch that goes wrong"). With ``seed_trials`` N > 1 an I-model
is fitted from N seeds for :data:`TRIAL_FRACTION` of its epochs each, on the whole fit's
schedule (so each trial is the first quarter of that fit, step for step), and the seed whose
trial ends at the lowest loss is fitted in full. The first candidate is the model's own seed;
the model record carries the seed that won (an I-model's tensors refer to nothing, so the
decoder does not use it). With one trial, nothing changes. Two trials on six seeds of vtest's
I-model: 2.2% fewer bytes at 0.06 dB more on average, for about 1.6 times its seconds (the
winner's first quarter is fitted twice); an option, not a default.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from uarcodec.pipeline.fit import FitResult, epoch_objective
from uarcodec.settings import derive_seed

TRIAL_FRACTION = 0.25

TrialFit = Callable[[int, int], FitResult]  # (seed, epochs) -> that fit's first epochs


def candidate_seeds(seed: int, trials: int) -> list[int]:
    """The seeds an I-model's trials start from: its own, then ``derive_seed(seed, k)``."""
    return [seed] + [derive_seed(seed, k) for k in range(1, trials)]


def trial_epochs(epochs: int) -> int:
    """How many of a fit's ``epochs`` a trial runs (at least one)."""
    return max(1, math.ceil(TRIAL_FRACTION * epochs))


def best_seed(seed: int, trials: int, epochs: int, fit: TrialFit) -> int:
    """The candidate seed whose trial (``fit(seed, trial_epochs(epochs))``) ends at the lowest
    loss, every trial's last epoch priced at one lambda (the first trial's last); ``seed``
    itself when there is one trial."""
    if trials <= 1:
        return seed
    ends = [(s, fit(s, trial_epochs(epochs)).history[-1]) for s in candidate_seeds(seed, trials)]
    lmbda = ends[0][1].lmbda
    return min(ends, key=lambda end: epoch_objective(end[1], lmbda))[0]


__all__ = ["TRIAL_FRACTION", "best_seed", "candidate_seeds", "trial_epochs"]
