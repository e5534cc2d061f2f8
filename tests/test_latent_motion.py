"""The latent family's per-frame offsets (format 1.6): the encoder's global-motion estimate, how
a frame reads grids larger than itself at its offset, the margin the encoder picks, and a real
encode of a panning clip that decodes to its report and seeks; a still clip keeps its 1.5
stream; a 1.5 reader refuses a 1.6 stream with its version error."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from conftest import tiny_settings
from uarcodec import api
from uarcodec.bitstream import UarReader, header as header_module
from uarcodec.errors import UarFormatError, UarSettingsError, UarVersionError
from uarcodec.models.latent import LatentGrids, LatentGridsConfig, continue_path, motion_margin_for
from uarcodec.video import open_writer
from uarcodec.video.frames import YuvClip
from uarcodec.video.global_motion import MIN_CLIP_GAIN, estimate_translation
from uarcodec.vocabulary import VideoParams

PAN = (2, -3)  # (dy, dx) pixels a frame


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A random picture with detail at every scale (noise blurred by a 3x3 box, twice)."""
    picture = np.random.default_rng(seed).normal(0.0, 60.0, (height + 4, width + 4))
    for _ in range(2):
        picture = sum(np.roll(np.roll(picture, dy, 0), dx, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    return np.clip(128 + picture[2:-2, 2:-2], 0, 255)


def _panning_luma(frames: int, height: int = 64, width: int = 96) -> np.ndarray:
    """Frames of a camera panning over a larger picture: frame t at p shows the picture at
    p - t * PAN (the picture moves by PAN a frame)."""
    big = _texture(height + 2 * 40, width + 2 * 40)
    dy, dx = PAN
    return np.stack([big[40 - t * dy:40 - t * dy + height, 40 - t * dx:40 - t * dx + width] for t in range(frames)])


def _clip(luma: np.ndarray) -> YuvClip:
    n, h, w = luma.shape
    return YuvClip(luma.astype(np.uint8), np.full((n, h // 2, w // 2), 110, np.uint8),
                   np.full((n, h // 2, w // 2), 140, np.uint8))


def _write(path, clip: YuvClip) -> None:
    with open_writer(path, VideoParams(clip.y.shape[2], clip.y.shape[1], clip.num_frames, fps=Fraction(25))) as w:
        w.write(clip)


def test_a_pan_is_found_pixel_for_pixel_and_centred():
    translation = estimate_translation(_panning_luma(7))
    path = -np.arange(7)[:, None] * np.array(PAN, np.float64)  # the picture moves by PAN: offsets go back
    assert np.array_equal(translation.offsets, path - np.floor((path.max(0) + path.min(0)) / 2))
    assert translation.moving and translation.gain > 0.9
    assert translation.reach == 9.0  # 6 frames of 3 pixels, centred


def test_a_still_clip_and_a_flickering_one_do_not_move():
    still = np.repeat(_texture(64, 96)[None], 5, axis=0)
    assert not estimate_translation(still).offsets.any() and not estimate_translation(still).moving
    rng = np.random.default_rng(1)
    noise = rng.normal(128, 40, (5, 64, 96))  # no step explains one noise frame by another
    assert estimate_translation(noise).gain < MIN_CLIP_GAIN


def test_at_zero_offsets_and_edge_margins_the_frames_are_those_of_the_still_network():
    """The spec's positions: with every offset 0 and margins that repeat each grid's edge, the
    network with a margin renders what the one without renders."""
    torch.manual_seed(0)
    still = LatentGrids(LatentGridsConfig(time_samples=(1, 2, 3)), 32, 48, 3)
    moving = LatentGrids(LatentGridsConfig(time_samples=(1, 2, 3), motion_margin=8), 32, 48, 3)
    with torch.no_grad():
        for level, grid in enumerate(still.grids):
            grid.normal_()
            pad = 8 >> level
            moving.grids[level].copy_(torch.nn.functional.pad(grid, (pad, pad, pad, pad), mode="replicate"))
        moving.load_state_dict({k: v for k, v in still.state_dict().items() if not k.startswith("grids.")},
                               strict=False)
        idx = torch.arange(3)
        assert torch.allclose(moving(idx), still(idx), atol=1e-5)


def test_a_frame_reads_the_finest_grid_at_its_offset():
    model = LatentGrids(LatentGridsConfig(time_samples=(2,), motion_margin=5), 16, 20, 2)
    with torch.no_grad():
        model.grids[0].copy_(torch.randn_like(model.grids[0]))
        model.motion.copy_(torch.tensor([[3.0, -2.0], [-5.0, 4.0]]))
        maps = model._level_maps(torch.tensor([0, 1]))
    for b, (dy, dx) in enumerate([(3, -2), (-5, 4)]):
        expected = model.grids[0][b, 0, 5 + dy:5 + dy + 16, 5 + dx:5 + dx + 20]
        assert torch.allclose(maps[0][b, 0], expected, atol=1e-4)  # float32 positions


def test_the_margin_is_whole_coarse_samples_and_bounded():
    assert motion_margin_for(0.0, 6) == 0
    assert motion_margin_for(1.0, 6) == 32
    assert motion_margin_for(44.0, 7) == 64
    assert motion_margin_for(1000.0, 6) == 256
    with pytest.raises(UarSettingsError, match="multiple of 32"):
        LatentGridsConfig(time_samples=(1,) * 6, motion_margin=16)
    with pytest.raises(UarFormatError, match="motion_margin"):
        LatentGridsConfig.from_fields({"time_samples": [1, 1, 1], "motion_margin": 6})


def test_a_p_model_s_offsets_start_where_the_previous_model_s_last_frame_was():
    path = np.array([[0.0, 3.0], [0.0, 0.0], [0.0, -3.0]])
    assert np.array_equal(continue_path(path, np.array([1.0, 2.0]), 8), [[1, 2], [1, -1], [1, -4]])
    assert np.array_equal(continue_path(path, np.array([1.0, -7.0]), 8), [[1, -2], [1, -5], [1, -8]])  # back in
    assert np.array_equal(continue_path(path, np.array([0.0, 0.0]), 2), path)  # wider than the margin
    model = LatentGrids(LatentGridsConfig(time_samples=(4,), motion_margin=16), 64, 96, 4)
    frames = torch.from_numpy(_panning_luma(4) / 255.0).float()[:, None].expand(-1, 3, -1, -1)
    start = model.content_init(frames, {"motion": np.array([[0.0, 0.0], [5.0, -4.0]], np.float32)})["motion"]
    assert start[0].tolist() == [5.0, -4.0] and (start[1] - start[0]).tolist() == [-2.0, 3.0]


def test_a_panning_clip_codes_offsets_decodes_to_its_report_and_seeks(tmp_path):
    src, out = tmp_path / "pan.y4m", tmp_path / "pan.uar"
    _write(src, _clip(_panning_luma(8)))
    settings = tiny_settings(family="latent", gop_size=4, gom_size=1, model_size=12_000, epochs_i=3, epochs_p=2)
    report = api.encode(src, out, settings, device="cpu")
    with open(out, "rb") as f:
        header = UarReader(f).header
    assert header.writer_version == header.min_reader_version == (1, 6)
    assert header.coding.arch["motion_margin"] == 16  # 5 pixels at most, in 5 levels' multiples
    decoded = tmp_path / "all.y4m"
    api.decode(out, decoded, device="cpu")
    compared = api.compare_videos(src, decoded, with_ms_ssim=False)
    assert compared.quality.psnr_yuv == pytest.approx(report.psnr_yuv, abs=1e-6)
    with api.open_stream(out) as stream:
        every = np.concatenate([c.y for c in stream.frames(device="cpu")])
        second_gom = np.concatenate([c.y for c in stream.frames(start=4, device="cpu")])
    assert np.array_equal(second_gom, every[4:])
    monkey = pytest.MonkeyPatch()
    monkey.setattr(header_module, "FORMAT_VERSION", (1, 5))
    try:
        with pytest.raises(UarVersionError, match="1.6") as err:
            api.stream_info(out)
        assert "\n" not in str(err.value)
    finally:
        monkey.undo()


def test_a_still_clip_or_an_explicit_zero_keeps_the_stream_without_offsets(tmp_path):
    src = tmp_path / "still.y4m"
    _write(src, _clip(np.repeat(_texture(64, 96)[None], 4, axis=0)))
    for motion in (None, 0):
        out = tmp_path / f"still-{motion}.uar"
        api.encode(src, out, tiny_settings(family="latent", latent_motion=motion, epochs_i=1, epochs_p=1),
                   device="cpu")
        with open(out, "rb") as f:
            header = UarReader(f).header
        assert header.min_reader_version == (1, 5)
        assert "motion_margin" not in header.coding.arch


def test_a_margin_is_refused_for_other_families_and_out_of_range():
    with pytest.raises(UarSettingsError, match="latent"):
        tiny_settings(family="hnerv", latent_motion=32).validate()
    with pytest.raises(UarSettingsError, match="0 to 256"):
        tiny_settings(family="latent", latent_motion=300).validate()
