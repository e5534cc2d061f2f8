"""``--model auto`` (the default of ``uar encode`` and ``uar bench``): the latent grids before a
still camera, HNeRV where the camera moves or where the latent grids cannot take the size; the
stream names the family used."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from test_latent_motion import _clip, _panning_luma, _texture, _write
from uarcodec import api
from uarcodec.bench.results import ClipInfo
from uarcodec.bench.runner import ClipSpec
from uarcodec.bench.ffmpeg import available_encoders
from uarcodec.bench.suite import auto_family, bench_clips, clip_families
from uarcodec.bench.uar_runner import UarRunnerConfig
from uarcodec.errors import UarSettingsError
from uarcodec.pipeline.plan import choose_family
from uarcodec.settings import TrainingOptions
from uarcodec.sizing import RatePoint
from uarcodec.video import open_video
from uarcodec.vocabulary import AUTO_FAMILY, ModelFamily
from uarcodec_cli.main import main

FRAMES = 8


def _still_luma(frames: int = FRAMES, height: int = 64, width: int = 96) -> np.ndarray:
    """A still camera: one picture, a dark square crossing it."""
    luma = np.stack([_texture(height, width)] * frames)
    for t in range(frames):
        luma[t, 20:36, 10 + 4 * t:26 + 4 * t] = 30
    return luma


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    paths = {"still": folder / "still.y4m", "pan": folder / "pan.y4m"}
    _write(paths["still"], _clip(_still_luma()))
    _write(paths["pan"], _clip(_panning_luma(FRAMES)))
    return paths


def _choice(path, **kwargs):
    with open_video(str(path)) as reader:
        return choose_family(reader, FRAMES, 1, FRAMES, **kwargs)


def test_auto_picks_the_latent_grids_before_a_still_camera_and_hnerv_where_it_pans(clips):
    still, pan = _choice(clips["still"]), _choice(clips["pan"])
    assert still.family == ModelFamily.LATENT and "still camera" in still.reason
    assert pan.family == ModelFamily.HNERV and "moving camera" in pan.reason


def test_auto_takes_the_latent_grids_for_latent_options_and_hnerv_for_a_size_they_cannot_take(clips):
    assert _choice(clips["pan"], latent_options=True).family == ModelFamily.LATENT
    small = _choice(clips["still"], model_sizes=(8000,))  # below the latent grids' smallest at 96x64
    assert small.family == ModelFamily.HNERV and "cannot take this size" in small.reason
    assert _choice(clips["still"], bpp=0.1).family == ModelFamily.LATENT  # rate control works for both


def test_a_family_not_chosen_yet_gives_no_settings():
    options = TrainingOptions(family=None)
    with pytest.raises(UarSettingsError, match="not chosen"):
        options.encoder_settings(FRAMES, 1, 20_000)
    assert TrainingOptions(family=None, latent_motion=0).latent_options and not options.latent_options


def test_the_api_chooses_only_where_no_family_is_given(clips):
    given = TrainingOptions(family="hinerv")
    assert api.choose_family(clips["still"], given, FRAMES, 1) == (given, None)
    chosen, choice = api.choose_family(clips["still"], TrainingOptions(family=None), FRAMES, 1)
    assert chosen.family == ModelFamily.LATENT == choice.family


@pytest.mark.parametrize("clip, family", [("still", "latent"), ("pan", "hnerv")])
def test_uar_encode_by_default_codes_the_family_auto_picks_and_the_stream_names_it(clips, tmp_path, clip, family):
    out = tmp_path / f"{clip}.uar"
    done = CliRunner().invoke(main, ["-v", "quiet", "encode", str(clips[clip]), "-o", str(out), "-p", str(FRAMES),
                                     "-m", "1", "--preset", "ultrafast", "--epochs-i", "1", "--device", "cpu",
                                     "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["family"] == family and summary["family_choice"]
    info = CliRunner().invoke(main, ["info", str(out), "--json"])
    assert json.loads(info.stdout)["coding"]["family"] == family


def test_the_bench_runs_auto_as_the_family_it_picks_for_each_clip(clips):
    template = UarRunnerConfig(gom_size=1, training=TrainingOptions(family=None))
    for clip, expected in (("still", ["latent", "hnerv"]), ("pan", ["hnerv"])):
        picked = auto_family(ClipSpec(clips[clip]), ClipInfo(clip, 96, 64, FRAMES, 25.0), FRAMES, template)
        assert clip_families([AUTO_FAMILY, "hnerv"], picked) == expected
    one = auto_family(ClipSpec(clips["still"]), ClipInfo("still", 96, 64, FRAMES, 25.0), 1, template)
    assert one == "hnerv"  # one frame a GOP: the latent grids cannot be sized


@pytest.mark.skipif("libx265" not in available_encoders(), reason="this ffmpeg lacks libx265")
def test_the_bench_report_has_a_column_of_what_auto_picked_on_each_clip(clips, tmp_path):
    training = TrainingOptions(family=None, preset="ultrafast", epochs_i=1, device="cpu")
    out = bench_clips([ClipSpec(clips["still"]), ClipSpec(clips["pan"])], [FRAMES], tmp_path, codecs=("x265", "uar"),
                      families=(AUTO_FAMILY,), qps={"x265": (22, 37, 51)},
                      template=UarRunnerConfig(gom_size=1, points=(RatePoint(20_000, 150.0),), training=training))
    assert sorted(r.codec for r in out.results if r.codec != "x265") == ["uar-hnerv", "uar-latent"]
    assert sorted(p.name for p in out.result_files if p.name.startswith("uar")) == [
        "uar-hnerv__pan__gop8.json", "uar-latent__still__gop8.json"]  # run and cached as themselves
    table = out.report.markdown.read_text().split("## Points")[0]
    header = next(line for line in table.splitlines() if line.startswith("| clip"))
    column = header.split(" | ").index("uar-auto PSNR-YUV")
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith(("| pan", "| still"))]
    assert [row[column] != "-" for row in rows] == [True, True]  # latent on still, HNeRV on pan
