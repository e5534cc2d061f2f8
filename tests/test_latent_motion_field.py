"""The latent family's motion field (format 1.7): the encoder's block-matching estimate, how a
frame reads the grids at a field of offsets, the encoder's choice of a field, and a real encode
of a clip with a moving object that decodes to its report and seeks; a 1.6 reader refuses a 1.7
stream with its version error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tiny_settings
from test_latent_motion import _clip, _texture, _write, assert_decodes_to_report_seeks_and_needs
from uarcodec import api
from uarcodec.bitstream import UarReader
from uarcodec.errors import UarSettingsError
from uarcodec.models.latent import LatentGrids, LatentGridsConfig, count_coded_params, last_offset
from uarcodec.pipeline.plan import MOTION_BLOCK, MotionSurvey, field_margin, plan_encode, plan_motion
from uarcodec.video import open_video
from uarcodec.video.block_motion import estimate_block_offsets

STEP = (1, 2)  # (dy, dx) pixels a frame the object moves
SQUARE = (16, 24)  # the moving square's top row and left column at frame 0


def _moving_square_luma(frames: int, height: int = 96, width: int = 128, side: int = 64) -> np.ndarray:
    """A still background and a textured square of ``side`` pixels that moves by STEP a frame."""
    background, square = _texture(height, width, seed=1), _texture(side, side, seed=2)
    out = np.repeat(background[None], frames, axis=0)
    for t in range(frames):
        top, left = SQUARE[0] + t * STEP[0], SQUARE[1] + t * STEP[1]
        out[t, top:top + side, left:left + side] = square
    return out


def test_a_moving_object_is_found_block_by_block_and_the_background_stays():
    luma = _moving_square_luma(5)
    field = estimate_block_offsets(luma, 16, (6, 8), np.zeros((5, 2)))
    assert field.offsets.shape == (5, 2, 6, 8) and field.gain > 0.5
    middle = 2
    for t in range(5):
        # blocks of rows and columns 2..4 lie inside the square at every frame; the middle one
        # (the median keeps it) reads the middle frame's square (t - middle) * STEP back
        assert field.offsets[t][:, 3, 3].tolist() == [-(t - middle) * s for s in STEP]
        assert not field.offsets[t][:, 0].any() and not field.offsets[t][:, :, 0].any()  # the still edges
    assert not field.offsets[middle].any()


def test_a_still_clip_has_a_still_field_around_the_camera_path():
    still = np.repeat(_texture(64, 96)[None], 4, axis=0)
    path = np.array([[1.0, -2.0]] * 4)
    field = estimate_block_offsets(still, 32, (2, 3), path)
    assert np.array_equal(field.offsets, np.broadcast_to(path[:, :, None, None], (4, 2, 2, 3)))
    assert field.gain == 0.0


def test_a_field_of_equal_values_reads_the_grids_as_the_per_frame_offset():
    with_field = LatentGrids(LatentGridsConfig(time_samples=(1, 2, 4), motion_margin=8, motion_block=16), 48, 64, 6)
    per_frame = LatentGrids(LatentGridsConfig(time_samples=(1, 2, 4), motion_margin=8), 48, 64, 6)
    assert tuple(with_field.motion.shape) == (6, 2, 3, 4)
    per_frame.load_state_dict({k: v for k, v in with_field.state_dict().items() if k != "motion"}, strict=False)
    with torch.no_grad():
        for grid in with_field.grids:
            grid.normal_()
        for a, b in zip(per_frame.grids, with_field.grids):
            a.copy_(b)
        offsets = torch.tensor([[1.5, -2.0], [0.0, 3.25], [-4.0, 0.5], [2.0, 2.0], [0.0, 0.0], [-1.0, -1.0]])
        per_frame.motion.copy_(offsets)
        with_field.motion.copy_(offsets[:, :, None, None].expand_as(with_field.motion))
        frames = torch.arange(6)
        assert torch.equal(with_field(frames), per_frame(frames))
        with_field.motion[2, 1, 0, 0] += 3.0  # one block moves: its pixels change, a far corner does not
        moved = with_field(frames) - per_frame(frames)
        assert moved[2, :, :8, :8].abs().max() > 0 and moved[2, :, -8:, -8:].abs().max() == 0
        assert moved[[0, 1, 3, 4, 5]].abs().max() == 0


def test_the_field_s_values_count_and_its_settings_are_checked():
    config = LatentGridsConfig(time_samples=(1, 2), motion_margin=8, motion_block=32)
    without = LatentGridsConfig(time_samples=(1, 2), motion_margin=8)
    assert count_coded_params(config, 64, 96, 4) - count_coded_params(without, 64, 96, 4) == 4 * 2 * 2 * 3 - 4 * 2
    assert config.to_fields()["motion_block"] == 32 and "motion_block" not in without.to_fields()
    for bad in ({"motion_block": 16}, {"motion_margin": 8, "motion_block": 2}, {"motion_margin": 8, "motion_block": 300}):
        with pytest.raises(UarSettingsError, match="motion_block"):
            LatentGridsConfig(time_samples=(1,), **bad)
    with pytest.raises(UarSettingsError, match="latent"):
        tiny_settings(family="hnerv", latent_motion_block=32).validate()
    with pytest.raises(UarSettingsError, match="4 to 256"):
        tiny_settings(family="latent", latent_motion_block=3).validate()
    with pytest.raises(UarSettingsError, match="margin of 0"):
        tiny_settings(family="latent", latent_motion=0, latent_motion_block=32).validate()


def test_a_p_model_s_field_continues_from_the_mean_of_the_previous_last_frame():
    assert last_offset(np.array([[0.0, 0.0], [3.0, -1.0]])).tolist() == [3.0, -1.0]
    field = np.zeros((2, 2, 2, 2))
    field[-1, 0] = [[1.0, 3.0], [1.0, 3.0]]
    field[-1, 1] = -4.0
    assert last_offset(field).tolist() == [2.0, -4.0]


def test_the_encoder_gives_a_field_where_things_move_and_none_where_nothing_does(tmp_path):
    moving, still = tmp_path / "moving.y4m", tmp_path / "still.y4m"
    _write(moving, _clip(_moving_square_luma(8, 128, 160, side=96)))  # 28% of its blocks move
    _write(still, _clip(np.repeat(_texture(128, 160)[None], 8, axis=0)))
    settings = tiny_settings(family="latent", gop_size=4, gom_size=2)
    chosen = {}
    for src in (moving, still):
        with open_video(src) as reader:
            plan = plan_encode(reader.info, settings)
            chosen[src.stem] = plan_motion(reader, plan).settings
            survey = MotionSurvey.of(reader, plan)
        assert survey.gain == 0.0  # no camera motion in either
    assert (chosen["moving"].latent_motion, chosen["moving"].latent_motion_block) == (7, MOTION_BLOCK)  # 128 / 18
    assert (chosen["still"].latent_motion, chosen["still"].latent_motion_block) == (0, 0)
    with open_video(moving) as reader:  # an explicit choice stays
        plan = plan_encode(reader.info, tiny_settings(family="latent", gop_size=4, latent_motion_block=0))
        assert plan_motion(reader, plan).settings.latent_motion_block == 0


def test_a_moving_camera_keeps_one_offset_a_frame_even_where_things_move(tmp_path, monkeypatch):
    """The field is for things moving before a still camera: with a camera that moves, a field
    (cockatoo: 8.2 kB of 32.8 kB an I-model) cost more than it bought."""
    src = tmp_path / "square.y4m"
    _write(src, _clip(_moving_square_luma(8)))
    chosen = {}
    for gain in (0.1, 0.5):
        monkeypatch.setattr(MotionSurvey, "of", classmethod(lambda cls, reader, plan, g=gain, **_: MotionSurvey(10.0, g, 0.9)))
        with open_video(src) as reader:
            settings = plan_motion(reader, plan_encode(reader.info, tiny_settings(family="latent", gop_size=4))).settings
        chosen[gain] = (settings.latent_motion, settings.latent_motion_block)
    assert chosen == {0.1: (field_margin(128, 96), MOTION_BLOCK), 0.5: (10, 0)}
    assert (field_margin(352, 288), field_margin(176, 144)) == (16, 8)


def encode_moving_square(tmp_path, gom_size: int):
    """A small square moving over a still background, 8 frames, encoded by the latent family
    with a field of 16-pixel blocks in GOPs of 4: (source, stream, report)."""
    src, out = tmp_path / "square.y4m", tmp_path / "square.uar"
    _write(src, _clip(_moving_square_luma(8)))
    settings = tiny_settings(family="latent", gop_size=4, gom_size=gom_size, model_size=20_000, epochs_i=3,
                             epochs_p=2, latent_motion_block=16)
    return src, out, api.encode(src, out, settings, device="cpu")


def test_a_clip_with_a_moving_object_codes_a_field_decodes_to_its_report_and_seeks(tmp_path):
    src, out, report = encode_moving_square(tmp_path, gom_size=1)
    with open(out, "rb") as f:
        header = UarReader(f).header
    # 1.7 up to 0.12.0, 1.8 up to 0.17.0, 1.10 since the wavefront order is the default before a still camera
    assert header.writer_version == header.min_reader_version == (1, 10)
    assert header.coding.arch["motion_block"] == 16 and header.coding.arch["motion_margin"] == field_margin(128, 96)
    assert header.coding.arch["context_order"] == 1
    assert_decodes_to_report_seeks_and_needs(src, out, report.psnr_yuv, 4, (1, 10), tmp_path)
