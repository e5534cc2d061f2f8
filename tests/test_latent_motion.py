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
from uarcodec.coding.latent_context import IntegerContextNet, coarse_rows, context_rate_bits, decode_latent, encode_latent
from uarcodec.errors import UarFormatError, UarSettingsError, UarVersionError
from uarcodec.models.latent import LatentGrids, LatentGridsConfig, continue_path
from uarcodec.pipeline import fit as fit_module
from uarcodec.pipeline.plan import plan_encode, plan_motion
from uarcodec.video import open_video, open_writer
from uarcodec.video.frames import YuvClip
from uarcodec.video.global_motion import MIN_CLIP_GAIN, estimate_translation
from uarcodec.vocabulary import ContextOrder, VideoParams

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
    assert translation.gain > 0.9
    assert np.abs(translation.offsets).max() == 9.0  # 6 frames of 3 pixels, centred


def test_a_still_clip_and_a_flickering_one_do_not_move():
    still = np.repeat(_texture(64, 96)[None], 5, axis=0)
    assert not estimate_translation(still).offsets.any() and estimate_translation(still).gain == 0
    rng = np.random.default_rng(1)
    noise = rng.normal(128, 40, (5, 64, 96))  # no step explains one noise frame by another
    assert estimate_translation(noise).gain < MIN_CLIP_GAIN


def test_at_zero_offsets_and_edge_margins_the_frames_are_those_of_the_still_network():
    """The spec's positions: with every offset 0 and margins that repeat each grid's edge, the
    network with a margin renders what the one without renders."""
    torch.manual_seed(0)
    still = LatentGrids(LatentGridsConfig(time_samples=(1, 2, 3)), 32, 48, 3)
    moving = LatentGrids(LatentGridsConfig(time_samples=(1, 2, 3), motion_margin=7), 32, 48, 3)
    with torch.no_grad():
        for level, grid in enumerate(still.grids):
            grid.normal_()
            pad = -(-7 // 2**level)  # 7, 4, 2 samples
            moving.grids[level].copy_(torch.nn.functional.pad(grid, (pad, pad, pad, pad), mode="replicate"))
        moving.load_state_dict({k: v for k, v in still.state_dict().items() if not k.startswith("grids.")},
                               strict=False)
        idx = torch.arange(3)
        assert torch.allclose(moving(idx), still(idx), atol=1e-5)


def test_a_frame_reads_each_level_at_its_offset():
    """A whole-pixel offset reads the finest grid's samples themselves; an offset of 2**l
    pixels reads level l one sample further, as the still network reads it one sample on."""
    model = LatentGrids(LatentGridsConfig(time_samples=(2, 1), motion_margin=5), 16, 20, 2)
    with torch.no_grad():
        for grid in model.grids:
            grid.copy_(torch.randn_like(grid))
        model.motion.copy_(torch.tensor([[3.0, -2.0], [-4.0, 4.0]]))
        maps = model._level_maps(torch.tensor([0, 1]))
        for b, (dy, dx) in enumerate([(3, -2), (-4, 4)]):
            expected = model.grids[0][b, 0, 5 + dy:5 + dy + 16, 5 + dx:5 + dx + 20]
            assert torch.allclose(maps[0][b, 0], expected, atol=1e-4)  # float32 positions
        shifted = model.grids[1][:, :, 1:-5, 5:-1]  # the same, 2 samples up and 2 right
        still = torch.nn.functional.interpolate(shifted, size=(16, 20), mode="bilinear", align_corners=False)
        assert torch.allclose(maps[1][1, 0, 2:-2, 2:-2], still[0, 0, 2:-2, 2:-2], atol=1e-4)


def test_each_level_s_margin_is_the_pixels_in_its_samples_rounded_up():
    config = LatentGridsConfig(time_samples=(1, 1, 1, 1), motion_margin=5)
    assert [config.grid_shape(level, 32, 48, 1)[2:] for level in range(4)] == [(42, 58), (22, 30), (12, 16), (6, 8)]
    with pytest.raises(UarSettingsError, match="0 to 256"):
        LatentGridsConfig(time_samples=(1,) * 6, motion_margin=257)
    with pytest.raises(UarFormatError, match="motion_margin"):
        LatentGridsConfig.from_fields({"time_samples": [1, 1, 1], "motion_margin": -1})


def test_with_an_odd_margin_the_coarser_grid_is_read_half_a_sample_on_and_codes_exactly():
    """Level 0 with a margin of 5 samples around 8 rows (18), level 1 with 3 around 4 (10): fine
    row i lies over coarse row (i + 1) div 2 (spec 16, feature 10); the grid round-trips."""
    config = LatentGridsConfig(time_samples=(2, 1), motion_margin=5)
    fine, coarse = config.grid_shape(0, 8, 12, 2), config.grid_shape(1, 8, 12, 2)
    assert (fine[2], coarse[2]) == (18, 10)
    assert coarse_rows(18, 10).tolist() == [(i + 1) // 2 for i in range(18)]
    assert coarse_rows(16, 8).tolist() == [i // 2 for i in range(16)]  # no margin: as format 1.5
    rng = np.random.default_rng(3)
    q = rng.integers(-3, 4, fine)
    q_coarse = rng.integers(-3, 4, coarse)
    net = IntegerContextNet.from_floats(rng.normal(0, 0.3, (4, 11)), rng.normal(0, 0.3, 4),
                                        rng.normal(0, 0.3, (2, 4)), np.array([0.0, 1.0]))
    encoded = encode_latent(q, q_coarse, net)
    assert np.array_equal(decode_latent(encoded.words, q.shape, encoded.min_symbol, encoded.max_symbol, q_coarse, net), q)


def test_a_p_model_s_offsets_start_where_the_previous_model_s_last_frame_was():
    path = np.array([[0.0, 3.0], [0.0, 0.0], [0.0, -3.0]])
    assert np.array_equal(continue_path(path, np.array([1.0, 2.0]), 8), [[1, 2], [1, -1], [1, -4]])
    assert np.array_equal(continue_path(path, np.array([1.0, -7.0]), 8), [[1, -2], [1, -5], [1, -8]])  # back in
    assert np.array_equal(continue_path(path, np.array([0.0, 0.0]), 2), path)  # wider than the margin
    model = LatentGrids(LatentGridsConfig(time_samples=(4,), motion_margin=16), 64, 96, 4)
    frames = torch.from_numpy(_panning_luma(4) / 255.0).float()[:, None].expand(-1, 3, -1, -1)
    start = model.content_init(frames, {"motion": np.array([[0.0, 0.0], [5.0, -4.0]], np.float32)})["motion"]
    assert start[0].tolist() == [5.0, -4.0] and (start[1] - start[0]).tolist() == [-2.0, 3.0]


def test_a_panning_clip_codes_offsets_decodes_to_its_report_and_seeks(tmp_path, monkeypatch):
    """Offsets follow the pan; the grids train priced in the checkerboard order and code by
    wavefronts (1.10; the checkerboard, 1.8, up to 0.20.0)."""
    src, out = tmp_path / "pan.y4m", tmp_path / "pan.uar"
    _write(src, _clip(_panning_luma(8)))
    priced = []
    monkeypatch.setattr(fit_module, "context_rate_bits",
                        lambda *args: priced.append(args[3]) or context_rate_bits(*args))
    settings = tiny_settings(family="latent", gop_size=4, gom_size=1, model_size=12_000, epochs_i=3, epochs_p=2)
    report = api.encode(src, out, settings, device="cpu")
    with open(out, "rb") as f:
        header = UarReader(f).header
    assert header.writer_version == header.min_reader_version == (1, 10)  # 1.6 up to 0.12.0, 1.8 up to 0.20.0
    assert header.coding.arch["motion_margin"] == 5  # the pan's reach, either way
    assert header.coding.arch["context_order"] == ContextOrder.WAVEFRONT
    assert priced and set(priced) == {ContextOrder.CHECKERBOARD}  # every I-model step
    assert_decodes_to_report_seeks_and_needs(src, out, report.psnr_yuv, 4, (1, 10), tmp_path)


def assert_decodes_to_report_seeks_and_needs(src, out, psnr_yuv: float, second_gom: int,
                                             version: tuple[int, int], tmp_path) -> None:
    """``out`` decodes to the encoder's reported quality, its second GOM (from frame
    ``second_gom``) decodes alone to the same frames, and a reader of the version before
    ``version`` refuses it with a one-line version error."""
    decoded = tmp_path / "all.y4m"
    api.decode(out, decoded, device="cpu")
    compared = api.compare_videos(src, decoded, with_ms_ssim=False)
    assert compared.quality.psnr_yuv == pytest.approx(psnr_yuv, abs=1e-6)
    with api.open_stream(out) as stream:
        every = np.concatenate([c.y for c in stream.frames(device="cpu")])
        later = np.concatenate([c.y for c in stream.frames(start=second_gom, device="cpu")])
    assert np.array_equal(later, every[second_gom:])
    monkey = pytest.MonkeyPatch()
    monkey.setattr(header_module, "FORMAT_VERSION", (version[0], version[1] - 1))
    try:
        with pytest.raises(UarVersionError, match=f"{version[0]}.{version[1]}") as err:
            api.stream_info(out)
        assert "\n" not in str(err.value)
    finally:
        monkey.undo()


def test_the_margin_holds_the_path_chained_along_a_gom(tmp_path):
    """A P-model's offsets continue its predecessor's, so the margin covers the pan over the
    whole GOM (two GOPs of 4 frames: 14 pixels), not one GOP's centred path (5 pixels)."""
    src = tmp_path / "pan.y4m"
    _write(src, _clip(_panning_luma(8)))
    margins = {}
    for gom_size in (1, 2):
        settings = tiny_settings(family="latent", gop_size=4, gom_size=gom_size)
        with open_video(src) as reader:
            margins[gom_size] = plan_motion(reader, plan_encode(reader.info, settings)).settings.latent_motion
    assert margins == {1: 5, 2: 14}


def test_a_still_clip_or_an_explicit_zero_keeps_the_stream_without_offsets(tmp_path):
    src = tmp_path / "still.y4m"
    _write(src, _clip(np.repeat(_texture(64, 96)[None], 4, axis=0)))
    for motion in (None, 0):
        out = tmp_path / f"still-{motion}.uar"
        api.encode(src, out, tiny_settings(family="latent", latent_motion=motion, epochs_i=1, epochs_p=1),
                   device="cpu")
        with open(out, "rb") as f:
            header = UarReader(f).header
        # 1.8 with every latent stream since 0.13.0 (1.5 before), 1.10 since the wavefront order
        # is the default before a still camera (0.18.0)
        assert header.min_reader_version == (1, 10) and header.coding.arch["context_order"] == 1
        assert "motion_margin" not in header.coding.arch


def test_a_margin_is_refused_for_other_families_and_out_of_range():
    with pytest.raises(UarSettingsError, match="latent"):
        tiny_settings(family="hnerv", latent_motion=32).validate()
    with pytest.raises(UarSettingsError, match="0 to 256"):
        tiny_settings(family="latent", latent_motion=300).validate()


def test_p_models_train_longer_only_where_the_grids_move(tmp_path):
    """The latent family's P-models train ``epochs_p_moving`` epochs where the encoder gives
    the grids offsets (a pan) and ``epochs_p`` where it does not (a still camera); each stream
    records the epochs its P-models trained."""
    import dataclasses

    from uarcodec.api import EncodeEvents

    clips = {"pan": _clip(_panning_luma(8)), "still": _clip(np.repeat(_texture(64, 96)[None], 8, axis=0))}
    trained = {}
    for name, clip in clips.items():
        src, out = tmp_path / f"{name}.y4m", tmp_path / f"{name}.uar"
        _write(src, clip)
        settings = tiny_settings(family="latent", gop_size=4, gom_size=2, epochs_i=1, epochs_p=1)
        settings = dataclasses.replace(settings, training=dataclasses.replace(settings.training, epochs_p_moving=2))
        epochs = []
        api.encode(src, out, settings, device="cpu",
                   events=EncodeEvents(on_model_start=lambda gom, gop, kind, n: epochs.append(n)))
        trained[name] = (epochs, api.stream_info(out)["coding"]["encoder_settings"]["epochs_p"])
    assert trained == {"pan": ([1, 2], 2), "still": ([1, 1], 1)}  # (I, P) epochs; the P-models' recorded


def test_hnerv_p_models_train_longer_and_at_their_own_lambda_only_before_a_moving_camera(tmp_path):
    """HNeRV's P-models train ``epochs_p_moving`` epochs at ``lambda_p_scale_moving`` times the
    I-model's lambda where the motion survey finds the camera moving (a pan), ``epochs_p`` at
    ``lambda_p_scale`` before a still one, and the stream records what they trained with."""
    import dataclasses

    from uarcodec.api import EncodeEvents

    clips = {"pan": _clip(_panning_luma(8)), "still": _clip(np.repeat(_texture(64, 96)[None], 8, axis=0))}
    trained = {}
    for name, clip in clips.items():
        src, out = tmp_path / f"{name}.y4m", tmp_path / f"{name}.uar"
        _write(src, clip)
        settings = tiny_settings(family="hnerv", gop_size=4, gom_size=2, epochs_i=1, epochs_p=1, model_size=8000)
        settings = dataclasses.replace(settings, training=dataclasses.replace(
            settings.training, epochs_p_moving=2, lambda_p_scale=0.75, lambda_p_scale_moving=1.0))
        epochs = []
        api.encode(src, out, settings, device="cpu",
                   events=EncodeEvents(on_model_start=lambda gom, gop, kind, n: epochs.append(n)))
        recorded = api.stream_info(out)["coding"]["encoder_settings"]
        trained[name] = (epochs, recorded["epochs_p"], recorded["lambda_p_scale"], "camera_moves" in recorded,
                         "lambda_p_scale_moving" in recorded)
    assert trained == {"pan": ([1, 2], 2, 1.0, False, False), "still": ([1, 1], 1, 0.75, False, False)}
