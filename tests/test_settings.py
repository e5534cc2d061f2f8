"""Settings are declared once and validated: a wrong choice is one clear error naming the field
and its choices, through the Python API and through the CLI; the stream records every setting
that shaped it, with the precision actually used."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from conftest import tiny_settings
from uarcodec import api
from uarcodec.errors import UarSettingsError
from uarcodec.settings import (
    Device,
    LATER_TRAINING_DEFAULTS,
    EncoderSettings,
    Precision,
    QuantMode,
    TrainingOptions,
    TrainingSettings,
)
from uarcodec_cli.main import main


@pytest.mark.parametrize(
    ("build", "field", "choices"),
    [
        (lambda: TrainingSettings(quant="rqce"), "quant", "rqec, qat"),
        (lambda: TrainingSettings(precision="fp16"), "precision", "auto, fp32, bf16"),
        (lambda: TrainingSettings(distortion="yvu"), "distortion", "yuv, rgb"),
        (lambda: EncoderSettings(family="hnerf"), "family", "hnerv, hinerv"),
        (lambda: EncoderSettings(init="interp"), "init", "ii, random, direct"),
        (lambda: EncoderSettings(preset="quick"), "preset", "ultrafast"),
        (lambda: TrainingOptions(device="gpu"), "device", "auto, cpu, cuda"),
    ],
    ids=["quant", "precision", "distortion", "family", "init", "preset", "device"],
)
def test_a_misspelt_choice_through_the_api_names_the_field_and_the_choices(build, field, choices):
    with pytest.raises(UarSettingsError) as err:
        build()
    message = str(err.value)
    assert message.startswith(f"{field}: unknown value") and choices in message
    assert "\n" not in message


def test_a_string_choice_is_the_enum_member():
    t = TrainingSettings(quant="qat", precision="fp32")
    assert t.quant is QuantMode.QAT and t.precision is Precision.FP32
    assert TrainingOptions(device="cpu").device is Device.CPU


def test_a_misspelt_choice_through_the_cli_is_one_usage_error(sample, tmp_path):
    result = CliRunner().invoke(main, ["encode", str(sample), "-o", str(tmp_path / "o.uar"), "--quant", "rqce"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and "rqce" in errors[0] and "rqec" in errors[0]
    assert not (tmp_path / "o.uar").exists()


def test_the_stream_records_every_setting_and_the_precision_used(sample, tmp_path):
    settings = tiny_settings(epochs_i=1, epochs_p=1, model_size=8000)
    out = tmp_path / "s.uar"
    api.encode(sample, out, settings, frames=4, device="cpu")
    recorded = api.stream_info(out)["coding"]["encoder_settings"]
    training = {f.name for f in dataclasses.fields(TrainingSettings)}
    # the coding parameters hold p, m, the family, the scene cuts and (as architecture fields) the latent
    # context width and order, margin and motion block; whether the camera moves, the P-models' epochs
    encoder = {f.name for f in dataclasses.fields(EncoderSettings)} - {
        "training", "gop_size", "gom_size", "family", "latent_context", "latent_context_order", "latent_motion",
        "latent_motion_block", "camera_moves", "scene_cuts"}
    # None: the eps law, no target rate; the P-model epochs and lambda where the picture moves,
    # resolved into epochs_p and lambda_p_scale;
    # the fields added after 0.13.0 at the value that trains as 0.13.0 did (beta2_i at Adam's
    # default, one seed trial) are left out
    later = set(LATER_TRAINING_DEFAULTS)
    pending = {"epochs_p_moving", "lambda_p_scale_moving"}
    assert (training | encoder) - {"eps", "target_bpp"} - pending - later <= set(recorded)
    assert later == {"beta2_i", "seed_trials"} and not later & set(recorded)
    assert recorded["precision"] in ("fp32", "bf16")  # what ran, never "auto"
    assert settings.training.precision is Precision.AUTO
    assert recorded["device"] == "cpu"
    assert recorded["lmbda"] == settings.training.lmbda and recorded["min_std"] == settings.training.min_std


def test_training_options_resolve_to_the_preset_with_overrides():
    options = TrainingOptions(preset="fast", lmbda=100.0, epochs_p=7)
    settings = options.encoder_settings(30, 5, 50_000, eps=0.5)
    assert settings.training.lmbda == 100.0 and settings.training.epochs_p == 7
    assert settings.training.epochs_i == TrainingOptions(preset="fast").training(30).epochs_i
    assert settings.eps == 0.5 and settings.model_size == 50_000 and settings.preset == "fast"


def test_auto_precision_is_bf16_where_the_hardware_is_fast_at_it(monkeypatch):
    """On a CPU with fast bf16, ``auto`` trains in bf16 (faster for both families at every
    size, benchmarks/bench_models.py), elsewhere in fp32, and on CUDA in fp32 (bf16 measured
    slower there); an explicit choice stays."""
    import torch

    from uarcodec.pipeline import fit

    monkeypatch.setattr(fit, "fast_bf16", lambda device: True)
    cpu = torch.device("cpu")
    assert fit.resolve_precision(Precision.AUTO, cpu) is Precision.BF16
    assert fit.resolve_precision(Precision.FP32, cpu) is Precision.FP32
    monkeypatch.setattr(fit, "fast_bf16", lambda device: False)
    assert fit.resolve_precision(Precision.AUTO, cpu) is Precision.FP32
    assert fit.resolve_precision(Precision.BF16, cpu) is Precision.BF16
    monkeypatch.setattr(fit, "fast_bf16", lambda device: True)
    cuda = torch.device("cuda")
    assert fit.resolve_precision(Precision.AUTO, cuda) is Precision.FP32
    assert fit.resolve_precision(Precision.BF16, cuda) is Precision.BF16


def test_short_presets_train_i_models_at_their_own_learning_rate_and_an_explicit_one_wins():
    """The short presets (ultrafast to medium) train I-models at a larger learning rate than the
    paper's (measured, docs/training_speed.md) and P-models at twice the paper's; slow and
    veryslow keep the paper's; --lr still overrides."""
    from uarcodec.settings import PRESET_LR_SCALE, Preset, preset_training

    for preset in (Preset.ULTRAFAST, Preset.SUPERFAST, Preset.VERYFAST, Preset.FAST, Preset.MEDIUM):
        assert PRESET_LR_SCALE[preset] > 1
        assert preset_training(preset, 30).lr == pytest.approx(2e-3 * PRESET_LR_SCALE[preset])
        # P-models fine-tune their reference at twice the paper's rate, half the I-models'
        assert 2e-3 < preset_training(preset, 30).for_p_models().lr < preset_training(preset, 30).lr
    for preset in (Preset.SLOW, Preset.VERYSLOW):
        assert preset_training(preset, 30).lr == pytest.approx(2e-3)
        assert preset_training(preset, 30).for_p_models().lr == pytest.approx(2e-3)
    assert preset_training(Preset.FAST, 120).lr == pytest.approx(1e-3 * PRESET_LR_SCALE[Preset.FAST])
    assert preset_training(Preset.FAST, 30, lr=1e-3).lr == 1e-3


@pytest.mark.parametrize("gop", [1, 2, 4, 10, 30, 120])
def test_every_preset_trains_an_i_model_long_enough_for_a_usable_picture(gop):
    """Even ultrafast trains an I-model for MIN_STEPS_I steps (a usable picture on a short clip)
    and longer presets never train less than shorter ones; P-models get half the I-model's."""
    from uarcodec.settings import MIN_STEPS_I, Preset, preset_training

    epochs = [preset_training(p, gop).epochs_i for p in Preset]
    assert all(e * gop >= MIN_STEPS_I for e in epochs)
    assert epochs == sorted(epochs)
    assert all(preset_training(p, gop).epochs_p == max(2, round(preset_training(p, gop).epochs_i / 2)) for p in Preset)


def test_latent_p_models_train_three_quarters_of_the_i_models_epochs_where_the_grids_move():
    """The latent family's P-models get 0.75 of the I-model's epochs where its grids move (a
    motion margin) and half where they do not, at every preset; HNeRV's the same where the
    camera moves; HiNeRV's keep half; an explicit --epochs-p is every P-model's. The choice
    waits for the motion decision and is gone once it is made, so the stream records the
    epochs used."""
    import dataclasses

    from uarcodec.settings import EncoderSettings, Preset, preset_training

    for preset in Preset:
        latent, hnerv = preset_training(preset, 30, "latent"), preset_training(preset, 30, "hnerv")
        assert latent.epochs_i == hnerv.epochs_i and latent.epochs_p == hnerv.epochs_p
        assert latent.epochs_p_moving == max(2, round(0.75 * latent.epochs_i)) > hnerv.epochs_p
        assert hnerv.epochs_p_moving == latent.epochs_p_moving
        assert preset_training(preset, 30, "hinerv").epochs_p_moving is None
    for camera_moves, epochs in ((None, 30), (True, 45), (False, 30)):
        hnerv = EncoderSettings(family="hnerv", training=preset_training(Preset.FAST, 30, "hnerv"),
                                camera_moves=camera_moves)
        assert hnerv.training.epochs_p == epochs
        assert "camera_moves" not in hnerv.informational_fields()
    fast = preset_training(Preset.FAST, 30, "latent")
    assert (fast.epochs_p, fast.epochs_p_moving) == (30, 45)
    assert preset_training(Preset.FAST, 30, "latent", epochs_p=33).epochs_p_moving is None
    undecided = EncoderSettings(family="latent", training=fast)
    assert (undecided.training.epochs_p, undecided.training.epochs_p_moving) == (30, 45)
    for margin, epochs in ((16, 45), (0, 30)):
        decided = dataclasses.replace(undecided, latent_motion=margin)
        assert (decided.training.epochs_p, decided.training.epochs_p_moving) == (epochs, None)
        assert decided.informational_fields()["epochs_p"] == epochs
        assert "epochs_p_moving" not in decided.informational_fields()


def test_hnerv_p_models_before_a_moving_camera_train_at_the_i_models_lambda():
    """At every preset HNeRV's P-models train at the I-model's lambda where the camera moves
    (``MOVING_P_LAMBDA_SCALE``) and at ``lambda_p_scale`` elsewhere; the other families have no
    such rule; an explicit ``lambda_p_scale`` is every P-model's; the decided value is recorded."""
    import dataclasses

    from uarcodec.settings import EncoderSettings, Preset, TrainingSettings, preset_training

    for preset in Preset:
        assert preset_training(preset, 30, "hnerv").lambda_p_scale_moving == 1.0
        assert preset_training(preset, 30, "latent").lambda_p_scale_moving is None
        assert preset_training(preset, 30, "hinerv").lambda_p_scale_moving is None
    hnerv = preset_training(Preset.FAST, 30, "hnerv")
    for camera_moves, scale in ((None, 0.75), (True, 1.0), (False, 0.75)):
        settings = EncoderSettings(family="hnerv", training=hnerv, camera_moves=camera_moves)
        assert settings.training.lambda_p_scale == scale
        assert settings.training.for_p_models().lmbda == pytest.approx(hnerv.lmbda * scale)
        assert settings.training.motion_pending == (camera_moves is None)
        if camera_moves is not None:
            assert settings.informational_fields()["lambda_p_scale"] == scale
            assert "lambda_p_scale_moving" not in settings.informational_fields()
    given = preset_training(Preset.FAST, 30, "hnerv", lambda_p_scale=0.6)
    assert given.lambda_p_scale_moving is None
    assert EncoderSettings(family="hnerv", training=given, camera_moves=True).training.lambda_p_scale == 0.6
    with pytest.raises(UarSettingsError, match="lambda_p_scale_moving must be positive"):
        TrainingSettings(lambda_p_scale_moving=0.0).validate()
    assert dataclasses.replace(hnerv, epochs_p_moving=None).motion_pending


def test_i_models_of_fast_presets_train_with_a_faster_adam_second_moment_and_p_models_with_the_default(
        sample, tmp_path, monkeypatch):
    """Every family's I-models fit with Adam's beta2 at 0.995 at the presets up to fast
    (docs/training_speed.md, "Adam's second moment in every family's I-models"); P-models, and
    I-models from medium up, at torch's 0.999; the stream records the I-models' value, and a
    value outside (0, 1) is refused."""
    from uarcodec.pipeline import fit
    from uarcodec.settings import ADAM_BETA2, Preset, preset_training
    from uarcodec.sizing import default_model_size

    short = (Preset.ULTRAFAST, Preset.SUPERFAST, Preset.VERYFAST, Preset.FAST)
    for preset in Preset:
        for family in ("hnerv", "hinerv", "latent"):
            training = preset_training(preset, 30, family)
            assert training.beta2_i == (0.995 if preset in short else 0.999)
            assert training.for_p_models().beta2_i == 0.999
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(UarSettingsError, match="beta2_i"):
            TrainingSettings(beta2_i=bad).validate()

    used: list[float] = []
    real = fit.make_optimizer

    def spy(groups, lr, beta2=ADAM_BETA2):
        used.append(beta2)
        return real(groups, lr, beta2)

    monkeypatch.setattr(fit, "make_optimizer", spy)
    for family in ("latent", "hnerv"):
        used.clear()
        training = preset_training(Preset.ULTRAFAST, 4, family, epochs_i=1, epochs_p=1)
        settings = EncoderSettings(gop_size=4, gom_size=2, family=family, training=training,
                                   model_size=default_model_size(family, 176, 144, 4))
        out = tmp_path / f"{family}.uar"
        api.encode(sample, out, settings, frames=8, device="cpu")
        assert used == [0.995, 0.999]  # the I-model, then its P-model
        assert api.stream_info(out)["coding"]["encoder_settings"]["beta2_i"] == 0.995
