"""A fit that blows up goes back to its last good epoch at a lower learning rate instead of
coding a collapsed model (pipeline/divergence.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import SAMPLE, code_sample_as_i_model
from uarcodec.pipeline import fit as fit_module
from uarcodec.pipeline.divergence import MAX_ROLLBACKS, TrainingSnapshot, is_spike
from uarcodec.video import open_video

EPOCHS = 6
STEPS_PER_EPOCH = 2  # 4 frames, batch 2


@pytest.fixture(scope="module")
def clip():
    with open_video(str(SAMPLE)) as reader:
        return reader.read(0, 4)


def _code(clip):
    return code_sample_as_i_model(clip, "hnerv", 20_000, EPOCHS)


def _distortion_broken_in(monkeypatch, epochs: set[int], how) -> None:
    """The fit's distortion replaced by ``how(mse)`` in the steps of the given epochs (1-based)."""
    real = fit_module.distortion_mse
    calls = [0]

    def distortion(*args, **kwargs):
        mse = real(*args, **kwargs)
        epoch = calls[0] // STEPS_PER_EPOCH + 1
        calls[0] += 1
        return how(mse) if epoch in epochs else mse

    monkeypatch.setattr(fit_module, "distortion_mse", distortion)


def test_the_measured_blow_up_is_a_spike_and_a_trade_off_is_not():
    # cockatoo 200k lambda 100, preset fast: epoch 6 then epoch 7 (the module docstring)
    assert is_spike(2.0706, 16.94, good_loss=0.4740, good_psnr=23.61)
    # rate control raising lambda 1.3x, the PSNR a little lower: a trade-off, no spike
    assert not is_spike(0.4740 * 1.3, 23.1, good_loss=0.4740, good_psnr=23.61)
    # a large loss jump with the PSNR kept (a lambda jump), or a PSNR drop at a lower loss
    assert not is_spike(1.0, 23.5, good_loss=0.4740, good_psnr=23.61)
    assert not is_spike(0.40, 19.0, good_loss=0.4740, good_psnr=23.61)


def test_a_snapshot_puts_tensors_modules_and_the_optimiser_back_exactly():
    torch.manual_seed(0)
    tensors = [torch.nn.Parameter(torch.randn(3, 4)), torch.nn.Parameter(torch.randn(5))]
    module = torch.nn.Linear(4, 2)
    opt = torch.optim.Adam([*tensors, *module.parameters()], lr=0.1)

    def train_step():
        opt.zero_grad()
        (tensors[0].sum() ** 2 + tensors[1].pow(3).sum() + module(tensors[0]).sum()).backward()
        opt.step()

    train_step()
    snap = TrainingSnapshot.take(tensors, [module], opt)
    expected = [t.detach().clone() for t in [*tensors, *module.parameters()]]
    expected_state = [s["exp_avg"].clone() for s in opt.state.values()]
    for _ in range(3):
        train_step()
    snap.restore(tensors, [module], opt)
    assert all(torch.equal(a, b) for a, b in zip([*tensors, *module.parameters()], expected))
    assert all(torch.equal(s["exp_avg"], e) for s, e in zip(opt.state.values(), expected_state))
    train_step()  # the optimiser still holds the same tensors after a restore
    assert not torch.equal(tensors[0], expected[0])


def test_a_fit_that_blows_up_goes_back_and_codes_a_model_as_good_as_without(clip, monkeypatch):
    clean, clean_psnr = _code(clip)
    assert not any(p.rolled_back for p in clean.history)

    # epoch 4 sees a distortion 1000x too large: the epoch's loss and PSNR look like a blow-up
    _distortion_broken_in(monkeypatch, {4}, lambda mse: mse * 1000.0)
    rescued, rescued_psnr = _code(clip)
    assert [p.rolled_back for p in rescued.history] == [False, False, False, True, False, False]
    assert len(rescued.history) == EPOCHS
    # without the rollback the network would have trained on a 1000x distortion gradient
    assert rescued_psnr > clean_psnr - 1.0, (clean_psnr, rescued_psnr)


def test_a_non_finite_epoch_is_undone_instead_of_ending_the_encode(clip, monkeypatch):
    _distortion_broken_in(monkeypatch, {2}, lambda mse: mse * float("nan"))
    coded, psnr = _code(clip)
    assert [p.rolled_back for p in coded.history][:3] == [False, True, False]
    assert np.isfinite(psnr) and all(np.all(np.isfinite(t)) for t in coded.theta_hat)


def test_the_rollbacks_are_bounded(clip, monkeypatch):
    """Every epoch non-finite: MAX_ROLLBACKS epochs are undone, then the encode stops with
    the settings error that names the way out."""
    from uarcodec.errors import UarSettingsError

    _distortion_broken_in(monkeypatch, set(range(1, EPOCHS + 1)), lambda mse: mse * float("nan"))
    with pytest.raises(UarSettingsError, match=rf"training diverged in epoch {MAX_ROLLBACKS + 1} of {EPOCHS}"):
        _code(clip)


def test_the_command_line_says_when_an_epoch_was_undone(monkeypatch):
    """`uar encode` prints one warning line for an undone epoch, above its progress bars."""
    from rich.console import Console

    from uarcodec.bitstream.records import ModelKind
    from uarcodec.pipeline.fit import FitProgress
    from uarcodec.pipeline.partition import GopPartition
    from uarcodec_cli import progress as cli_progress

    recorded = Console(record=True, width=200, force_terminal=False)
    monkeypatch.setattr(cli_progress, "stderr", recorded)
    gom = GopPartition(num_frames=4, gop_size=2, gom_size=2).goms[0]
    with cli_progress.encode_progress(4, 1, enabled=True) as events:
        events.on_model_start(gom, gom.gops[0], ModelKind.I, 60)
        events.on_gom_epoch(gom, gom.gops[0], FitProgress(6, 60, 0.474, 23.61, 0.038, 100.0))
        events.on_gom_epoch(gom, gom.gops[0], FitProgress(7, 60, 2.071, 16.94, 0.047, 100.0, rolled_back=True))
    text = recorded.export_text()
    assert "uar: warning: GOM 0 GOP 0: training blew up in epoch 7 of 60 (16.94 dB); went back to the epoch " \
           "before at 0.5x the learning rate" in text
    assert text.count("blew up") == 1


def test_a_fit_whose_every_epoch_blew_up_codes_nothing(clip, monkeypatch):
    """With no more epochs than rollbacks, all of them undone, nothing was trained: the encode
    stops with the settings error instead of coding the untrained start."""
    from uarcodec.errors import UarSettingsError

    _distortion_broken_in(monkeypatch, set(range(1, MAX_ROLLBACKS + 1)), lambda mse: mse * float("nan"))
    with pytest.raises(UarSettingsError, match=rf"training blew up in each of its {MAX_ROLLBACKS} epochs"):
        code_sample_as_i_model(clip, "hnerv", 20_000, MAX_ROLLBACKS)


def test_an_encode_reports_each_models_undone_epochs(sample, tmp_path, monkeypatch):
    """`uar encode --json` and the API's report say which model went back and how often."""
    from conftest import tiny_settings
    from uarcodec import api

    _distortion_broken_in(monkeypatch, {2}, lambda mse: mse * float("nan"))  # the I-model's 2nd epoch
    report = api.encode(sample, tmp_path / "s.uar", tiny_settings(epochs_i=3, epochs_p=2), frames=8, device="cpu")
    assert [m.rollbacks for m in report.models] == [1, 0]  # 8 frames: one I- and one P-model


def test_a_late_epoch_that_went_wrong_is_not_the_one_coded(clip, monkeypatch):
    """An epoch late in a fit that makes the model worse without blowing up (here the last, its
    loss half again the one before, no spike) is not what the fit ends on: it goes back to the
    epoch with the lowest loss and codes that."""
    taken, restored = [], []

    class Recorded(TrainingSnapshot):
        @classmethod
        def take(cls, *args):
            taken.append(super().take(*args))
            return taken[-1]

        def restore(self, *args):
            restored.append(self)
            super().restore(*args)

    monkeypatch.setattr(fit_module, "TrainingSnapshot", Recorded)
    clean, _ = _code(clip)
    assert restored == []  # the last epoch is the best one: kept as it is
    _distortion_broken_in(monkeypatch, {EPOCHS}, lambda mse: mse * 1.5)
    taken.clear()
    coded, _ = _code(clip)
    objective = [fit_module.epoch_objective(p, p.lmbda) for p in coded.history]
    assert objective[-1] > min(objective) == objective[-2]
    assert restored == [taken[EPOCHS - 1]]  # taken before the first epoch and after each one
