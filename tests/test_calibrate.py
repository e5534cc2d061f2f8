"""`uar calibrate`: the eps-law fit, the eps sweep on real GOP pairs, and the command."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from uarcodec import api
from uarcodec.bench.calibration import (
    CalibrationResult, CalibrationSettings, EpsTrial, PairSample, calibrate_eps_law, load_earlier_run, pair_starts,
    sweep_pair,
)
from uarcodec.bench.calibration_plot import plot_calibration
from uarcodec.bench.eps_law_fit import fit_eps_law, refine_minimum
from uarcodec.bench.pair_coder import PairCoder
from uarcodec.errors import UarInputError
from uarcodec.settings import EpsLaw, TrainingOptions, TrainingSettings, law_eps
from uarcodec.video import open_video
from uarcodec_cli.main import main

MSE = np.linspace(0.0005, 0.02, 12)




# ---------------------------------------------------------------------- the fit


@pytest.mark.parametrize("use_scipy", [True, False])
def test_fit_recovers_a_known_law(use_scipy):
    eps = 1 - 0.9 * np.exp(-160 * MSE)
    fit = fit_eps_law(MSE, eps, use_scipy=use_scipy)
    assert fit.law.a == pytest.approx(0.9, rel=1e-4) and fit.law.b == pytest.approx(160, rel=1e-4)
    assert fit.law.c == 0.0 and fit.rmse < 1e-6 and fit.r2 == pytest.approx(1.0)
    assert fit.points == 12 and fit.method == ("scipy" if use_scipy else "numpy")


def test_c_is_folded_into_a():
    a, b, c = 0.5, 80.0, 0.4
    eps = 1 - a * np.exp(-b * MSE + c)
    law = fit_eps_law(MSE, eps).law
    assert law.a == pytest.approx(a * math.exp(c), rel=1e-4) and law.b == pytest.approx(b, rel=1e-4)
    assert law.c == 0.0
    assert [law.eps(m) for m in MSE] == pytest.approx(list(eps), abs=1e-6)


def test_fit_models_the_clamp_the_encoder_applies():
    eps = np.clip(1 - 2.0 * np.exp(-100 * MSE), 0, 1)  # the smallest gaps give eps = 0
    assert (eps == 0).sum() >= 3
    fit = fit_eps_law(MSE, eps, use_scipy=False)
    assert fit.law.a == pytest.approx(2.0, rel=1e-3) and fit.law.b == pytest.approx(100, rel=1e-3)
    assert law_eps(fit.law.a, fit.law.b, fit.law.c, MSE) == pytest.approx(eps, abs=1e-6)


def test_noisy_samples_give_a_close_law_and_honest_quality():
    rng = np.random.default_rng(0)
    eps = np.clip(1 - 0.9 * np.exp(-160 * MSE) + rng.normal(0, 0.05, MSE.shape), 0, 1)
    fit = fit_eps_law(MSE, eps)
    assert fit.law.a == pytest.approx(0.9, rel=0.1) and fit.law.b == pytest.approx(160, rel=0.2)
    assert 0.01 < fit.rmse < 0.1 and 0.9 < fit.r2 < 1


def test_fit_needs_two_valid_samples():
    with pytest.raises(UarInputError, match="at least 2"):
        fit_eps_law([0.01], [0.5])
    with pytest.raises(UarInputError):
        fit_eps_law([0.01, float("nan")], [0.5, 0.6])
    with pytest.raises(UarInputError):
        fit_eps_law([0.01, 0.02], [0.5])
    same = fit_eps_law([0.01, 0.02], [0.4, 0.4])  # no spread: R^2 is undefined
    assert same.r2 is None and same.rmse < 1e-4


def test_refine_minimum_and_pair_starts():
    assert refine_minimum([0, 0.5, 1], [3, 1, 2]) == pytest.approx(7 / 12)
    assert refine_minimum([0, 0.5, 1], [1, 2, 3]) == 0.0 and refine_minimum([0, 0.5, 1], [3, 2, 1]) == 1.0
    assert pair_starts(1, 3) == [] and pair_starts(2, 3) == [0]
    assert pair_starts(3, 2) == [0, 1] and pair_starts(20, 3) == [0, 9, 18] and pair_starts(7, 1) == [2]


# ---------------------------------------------------------------------- the sweep


TINY = CalibrationSettings(gops=(4,), pairs=2, eps_steps=3, size=8000, frames=12, training=TrainingOptions(epochs_i=1, epochs_p=1, device="cpu", threads=1))


def test_tiny_calibration_returns_a_finite_law(sample, tmp_path):
    messages: list[str] = []
    threads = torch.get_num_threads()
    result = calibrate_eps_law([sample], TINY, messages.append)
    assert torch.get_num_threads() == threads  # restored
    assert [(s.gop_size, s.first_gop) for s in result.samples] == [(4, 0), (4, 1)]
    for s in result.samples:
        assert [t.eps for t in s.trials] == [0.0, 0.5, 1.0]
        assert all(t.bpp > 0 and 0 < t.mse < 1 for t in s.trials)
        assert all(t.loss == pytest.approx(t.bpp + s.lmbda * t.mse) for t in s.trials)
        assert s.lmbda == TrainingSettings().lmbda  # the RD loss at the encode's lambda
        assert s.grid_best_eps == s.trials[int(np.argmin([t.loss for t in s.trials]))].eps
        assert 0 <= s.best_eps <= 1 and s.gap_mse > 0 and s.model_size == 8000
    law = result.fit.law
    assert all(math.isfinite(v) for v in (law.a, law.b, law.c)) and law.a > 0 and law.b > 0
    assert law.c == 0.0 and result.fit.points == 2 and math.isfinite(result.fit.rmse)
    assert any("I-model" in m for m in messages)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["law"]["b"] == law.b and len(data["samples"]) == 2
    png = plot_calibration(result, tmp_path / "cal.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_sweep_point_is_what_the_encoder_writes(sample, tmp_path):
    """The P-model coded at eps = 0.5 in the sweep has exactly the bytes of the P-model of a
    real encode with --eps 0.5 (same init, seeds, fit and coding)."""
    settings = CalibrationSettings(gops=(4,), pairs=1, eps_steps=3, size=8000, frames=8, training=TrainingOptions(epochs_i=1, epochs_p=1, device="cpu"))
    with open_video(str(sample)) as reader:
        enc = settings.encoder_settings(4, 8000)
        coder = PairCoder(reader.info, enc, torch.device("cpu"))
        pair = sweep_pair(coder, "s", reader.read(0, 4), reader.read(4, 4), 0, [0.5], 176, 144, lambda _: None)
    out = tmp_path / "eps05.uar"
    api.encode(sample, out, dataclasses.replace(enc, eps=0.5), frames=8, device="cpu")
    p_model = api.stream_info(out)["goms"][0]["models"][1]
    assert p_model["kind"] == "P" and p_model["eps"] == 0.5
    assert pair.trials[0].bpp * 176 * 144 * 4 / 8 == pytest.approx(p_model["coded_bytes"])


def test_too_few_pairs_is_an_input_error(sample):
    settings = CalibrationSettings(gops=(30,), pairs=1, eps_steps=2, size=50_000, frames=30, training=TrainingOptions(device="cpu", threads=1))
    with pytest.raises(UarInputError, match="p=30 needs 60 frames"):
        calibrate_eps_law([sample], settings)


# ---------------------------------------------------------------------- the command


def _canned_result() -> CalibrationResult:
    trials = (EpsTrial(0.0, 0.3, 0.002, 1.3), EpsTrial(1.0, 0.35, 0.0015, 1.1))
    samples = [PairSample("clip", p, 0, 50_000, 500.0, gap, trials, e, e)
               for p, gap, e in ((5, 0.001, 0.12), (10, 0.004, 0.45), (30, 0.012, 0.8))]
    fit = fit_eps_law([s.gap_mse for s in samples], [s.best_eps for s in samples])
    return CalibrationResult(samples, fit, CalibrationSettings(), ["other: p=30 needs 60 frames, has 30"])


def test_command_prints_the_law_and_its_quality(sample, tmp_path, monkeypatch):
    seen = {}

    def fake(clips, settings, on_progress=None, earlier=()):
        seen["settings"] = settings
        return _canned_result()

    monkeypatch.setattr("uarcodec_cli.calibrate_cmd.calibrate_eps_law", fake)
    runner = CliRunner()
    result = runner.invoke(main, ["calibrate", str(sample), "--gops", "5,10,30", "--pairs", "3",
                                  "--eps-steps", "11", "--size", "50k", "--epochs-p", "7",
                                  "--plot", str(tmp_path / "law.png")])
    assert result.exit_code == 0, result.output
    s = seen["settings"]
    assert (s.gops, s.pairs, s.eps_steps, s.size, s.training.epochs_p) == ((5, 10, 30), 3, 11, 50_000, 7)
    fit = _canned_result().fit
    assert f"a = {fit.law.a:.6g}" in result.stdout and f"b = {fit.law.b:.6g}" in result.stdout
    assert "RMSE" in result.stdout and "R^2" in result.stdout and "c = 0" in result.stdout
    assert "skipped: other" in result.stdout
    settings_line = next(line for line in result.stdout.splitlines() if line.startswith("settings: EpsLaw("))
    printed = dict(kv.split("=") for kv in settings_line[len("settings: EpsLaw("):-1].split(", "))
    assert float(printed["a"]) == pytest.approx(fit.law.a, rel=1e-7)  # enough digits to paste as defaults
    assert float(printed["b"]) == pytest.approx(fit.law.b, rel=1e-7)
    assert (tmp_path / "law.png").read_bytes()[:4] == b"\x89PNG"

    as_json = json.loads(runner.invoke(main, ["calibrate", str(sample), "--json"]).stdout)
    assert as_json["law"]["c"] == 0.0 and as_json["fit"]["points"] == 3 and len(as_json["samples"]) == 3
    assert EpsLaw(**as_json["law"]).eps(0.004) == pytest.approx(fit.law.eps(0.004))


def test_command_rejects_bad_lists(sample):
    result = CliRunner().invoke(main, ["calibrate", str(sample), "--gops", "5,x"])
    assert result.exit_code == 2 and "--gops" in result.output


# ---------------------------------------------------------------------- refitting earlier runs


def _saved(tmp_path, result: CalibrationResult, name: str):
    path = tmp_path / name
    path.write_text(json.dumps(result.to_dict()))
    return path


def test_an_earlier_run_reads_back_and_refits_to_the_same_law(tmp_path):
    canned = _canned_result()
    run = load_earlier_run(_saved(tmp_path, canned, "a.json"))
    assert list(run.samples) == canned.samples and run.settings == canned.settings
    refit = calibrate_eps_law([], CalibrationSettings(training=TrainingOptions(preset="slow")), None, [run])  # settings: the run's
    assert refit.fit.law == canned.fit.law and refit.included == [run.source]
    assert refit.settings == canned.settings


def test_two_runs_are_fitted_together(tmp_path):
    first = _canned_result()
    far = dataclasses.replace(first.samples[0], clip="cut", gap_mse=0.05, best_eps=1.0, grid_best_eps=1.0)
    second = CalibrationResult([far, first.samples[1]], first.fit, first.settings)
    runs = [load_earlier_run(_saved(tmp_path, r, n)) for r, n in ((first, "a.json"), (second, "b.json"))]
    merged = calibrate_eps_law([], CalibrationSettings(), None, runs)
    assert [s.clip for s in merged.samples] == ["clip"] * 3 + ["cut", "clip"]
    expected = fit_eps_law([s.gap_mse for s in merged.samples], [s.best_eps for s in merged.samples])
    assert merged.fit.law == expected.law and merged.fit.points == 5


def test_runs_of_other_training_settings_are_not_mixed(tmp_path, sample):
    run = load_earlier_run(_saved(tmp_path, _canned_result(), "a.json"))  # preset medium
    with pytest.raises(UarInputError, match="preset = 'medium'.*'fast'"):
        calibrate_eps_law([sample], dataclasses.replace(TINY, training=dataclasses.replace(TINY.training, preset="fast")), None, [run])
    other = dataclasses.replace(_canned_result(), settings=CalibrationSettings(training=TrainingOptions(lmbda=100.0)))
    with pytest.raises(UarInputError, match="lmbda"):
        calibrate_eps_law([], CalibrationSettings(), None, [run, load_earlier_run(_saved(tmp_path, other, "b.json"))])


@pytest.mark.parametrize("text", ["", "[]", '{"settings": {}}', '{"settings": {"gops": [5]}, "samples": [{}]}'])
def test_a_file_that_is_no_calibration_is_an_input_error(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(UarInputError, match="not the --json output of uar calibrate"):
        load_earlier_run(path)


def test_command_refits_included_runs_without_clips(tmp_path):
    path = _saved(tmp_path, _canned_result(), "a.json")
    runner = CliRunner()
    result = runner.invoke(main, ["calibrate", "--include", str(path)])
    assert result.exit_code == 0, result.output
    assert f"included: {path}" in result.stdout and f"a = {_canned_result().fit.law.a:.6g}" in result.stdout
    as_json = json.loads(runner.invoke(main, ["calibrate", "--include", str(path), "--json"]).stdout)
    assert as_json["included"] == [str(path)] and len(as_json["samples"]) == 3
    bare = runner.invoke(main, ["calibrate"])
    assert bare.exit_code == 2 and "--include" in bare.output
