"""Recovery from a fit that blows up: roll back to the last good epoch at a lower learning rate.

At the short presets' large learning rates a fit can diverge without the loss becoming
non-finite: cockatoo's I-model at 200k parameters and lambda 100 (preset fast) reached 23.6 dB
in 6 epochs, jumped to 16.9 dB (4.4 times the loss) in epoch 7, the first at the full rate
after the warm-up, and never came back (14.9 dB after 60 epochs, a 2.5 kB model of a grey
picture). Such an epoch is a *spike* (:func:`is_spike`): its loss at least
:data:`SPIKE_LOSS_FACTOR` times the previous good epoch's and its PSNR at least
:data:`SPIKE_PSNR_DROP_DB` lower. A one-epoch jump of that size is no trained trade-off: rate
control moves lambda by at most 1.3x an epoch (``rate_control.MAX_EPOCH_FACTOR``).

After every good epoch the fit keeps a :class:`TrainingSnapshot` (tensors, quantization steps,
training encoder, optimiser state); after a spike it restores it and goes on with every
learning rate times :data:`LR_CUT`, at most :data:`MAX_ROLLBACKS` times per fit. A fit without
spikes takes exactly the steps it took before, so its stream is unchanged.

A late epoch can also go wrong without blowing up: a latent-grid I-model of vtest (seed 1, 30
frames, preset fast, lambda 150) trained to 32.66 dB at 0.0961 bpp by epoch 56 of 60, then fell
to 31.60 dB at 0.1163 bpp in epoch 58 as the schedule ended, with too little learning rate left
to come back. So a fit whose last epoch's loss is more than ``fit.WORSE_THAN_BEST`` times the
lowest of its last quarter's good epochs (``fit.LATE_EPOCHS``; under a target rate lambda moves
from epoch to epoch, so each comparison prices both epochs at one lambda: ``fit.epoch_objective``)
ends on that epoch, whose snapshot it keeps; any other fit, nearly every one, is unchanged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

SPIKE_LOSS_FACTOR = 2.0
SPIKE_PSNR_DROP_DB = 3.0
LR_CUT = 0.5
MAX_ROLLBACKS = 3


def is_spike(loss: float, psnr: float, good_loss: float, good_psnr: float) -> bool:
    """Whether an epoch with this mean ``loss`` and ``psnr`` blew up against the last good
    epoch's (``good_loss``, ``good_psnr``)."""
    return loss >= SPIKE_LOSS_FACTOR * good_loss and psnr <= good_psnr - SPIKE_PSNR_DROP_DB


@dataclass(frozen=True)
class TrainingSnapshot:
    """Copies of what a fit trains, taken at the end of an epoch (on the fit's device)."""

    tensors: tuple[torch.Tensor, ...]
    modules: tuple[dict[str, torch.Tensor], ...]
    optimizer: dict

    @classmethod
    def take(cls, tensors: list[torch.Tensor], modules: list[torch.nn.Module],
             optimizer: torch.optim.Optimizer) -> TrainingSnapshot:
        return cls(
            tensors=tuple(t.detach().clone() for t in tensors),
            modules=tuple({k: v.detach().clone() for k, v in m.state_dict().items()} for m in modules),
            optimizer=copy.deepcopy(optimizer.state_dict()),
        )

    def restore(self, tensors: list[torch.Tensor], modules: list[torch.nn.Module],
                optimizer: torch.optim.Optimizer) -> None:
        """Put the copies back in place (the same tensor objects, so the optimiser's
        references stay valid)."""
        with torch.no_grad():
            for t, saved in zip(tensors, self.tensors, strict=True):
                t.copy_(saved)
        for m, state in zip(modules, self.modules, strict=True):
            m.load_state_dict(state)
        optimizer.load_state_dict(copy.deepcopy(self.optimizer))


__all__ = ["LR_CUT", "MAX_ROLLBACKS", "SPIKE_LOSS_FACTOR", "SPIKE_PSNR_DROP_DB", "TrainingSnapshot", "is_spike"]
