"""The latent-grid family (models/latent.py): how frames read the grids, the size solver, and a
real encode: decodes to what the encoder reported, seeks by GOM, and a static clip's P-model
costs far less than its I-model."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from conftest import tiny_settings
from uarcodec import api
from uarcodec.coding.quant import TensorQuantizer, rate_bits_together
from uarcodec.errors import UarFormatError, UarSettingsError
from uarcodec.models.latent import LatentGrids, LatentGridsConfig, choose_levels, count_coded_params, size_bounds
from uarcodec.video import open_writer
from uarcodec.video.frames import YuvClip
from uarcodec.vocabulary import ContextOrder, EntropyModel, VideoParams


def _model(samples: tuple[int, ...], frames: int, height: int = 64, width: int = 96) -> LatentGrids:
    torch.manual_seed(0)
    return LatentGrids(LatentGridsConfig(time_samples=samples), height, width, frames)


def test_levels_follow_the_frame_size():
    assert choose_levels(288, 352) == 6  # coarsest grid 9x11
    assert choose_levels(144, 176) == 5
    assert choose_levels(1080, 1920) == 7
    assert choose_levels(8, 8) == 2  # a tiny frame still gets a coarse level


def test_with_a_sample_per_frame_each_frame_reads_only_its_own_grid_rows():
    model = _model((4,) * 5, 4)
    with torch.no_grad():
        before = model(torch.arange(4))
        model.grids[0][2].add_(1.0)
        after = model(torch.arange(4))
    changed = (after - before).abs().flatten(1).amax(1)
    assert changed[2] > 0.01 and torch.all(changed[[0, 1, 3]] == 0)


def test_shared_samples_are_read_at_the_gop_ends_exactly_and_blended_between():
    model = _model((3,) * 5, 5)  # samples at frames 0, 2 and 4
    with torch.no_grad():
        for grid in model.grids:
            grid.zero_()
            grid[0].fill_(0.0)
            grid[1].fill_(1.0)
            grid[2].fill_(2.0)
        maps = model._level_maps(torch.arange(5))
    values = [float(maps[0][t].mean()) for t in range(5)]
    assert values == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])
    assert all(m.shape == (5, 1, 64, 96) for m in maps)


def test_a_shorter_last_gop_keeps_at_most_one_sample_per_frame():
    model = _model((6, 6, 6, 6, 6), 4)
    assert [g.shape[0] for g in model.grids] == [4] * 5
    assert model.num_coded_params() == count_coded_params(model.config, 64, 96, 4)


def test_the_size_solver_lands_within_two_percent_and_grows_with_the_target():
    low, high = size_bounds(LatentGridsConfig(time_samples=(1,) * 6), 288, 352, 30)
    counts = []
    for target in np.geomspace(low, high, 25).astype(int):
        config = LatentGrids.config_for_size(int(target), 288, 352, 30)
        count = count_coded_params(config, 288, 352, 30)
        assert abs(count - target) <= 0.02 * target
        counts.append(count)
    assert counts == sorted(counts)


def test_a_size_out_of_reach_is_a_clear_error():
    with pytest.raises(UarSettingsError, match=r"hold [0-9,]+ to [0-9,]+ parameters; 50,000 is out of reach"):
        LatentGrids.config_for_size(50_000, 288, 352, 30)


def test_impossible_stream_fields_are_a_format_error():
    fields = LatentGridsConfig(time_samples=(2, 2)).to_fields()
    assert LatentGridsConfig.from_fields(fields) == LatentGridsConfig(time_samples=(2, 2))
    for bad in ({"time_samples": [0, 2]}, {"time_samples": [1] * 8}, {"refine_kernel": 2}, {"channels": 0},
                {"activation": "swish"}, {"upsampling": "nearest"}):
        with pytest.raises(UarFormatError):
            LatentGridsConfig.from_fields({**fields, **bad})


def test_weighted_rates_scale_each_tensor_s_bits():
    """A step that prices a sample of a tensor's rows weights its bits up to the whole tensor."""
    gen = torch.Generator().manual_seed(0)
    thetas = [torch.randn(6, 5, generator=gen), torch.randn(40, generator=gen)]
    refs = [torch.zeros_like(t) for t in thetas]
    quantizers = [TensorQuantizer(0.1), TensorQuantizer(0.05)]
    kw = dict(noise=False, model=EntropyModel.LAPLACE, temporal=[False, False])
    parts = [rate_bits_together([q], [t], [r], **kw) for q, t, r in zip(quantizers, thetas, refs)]
    weighted = rate_bits_together(quantizers, thetas, refs, weights=[3.0, 1.0], **kw)
    torch.testing.assert_close(weighted, 3.0 * parts[0] + parts[1])


def _write(path, clip: YuvClip) -> None:
    with open_writer(path, VideoParams(clip.y.shape[2], clip.y.shape[1], clip.num_frames, fps=Fraction(25))) as w:
        w.write(clip)


def _moving_clip(frames: int) -> YuvClip:
    yy, xx = np.mgrid[0:64, 0:96]
    y = np.stack([(128 + 80 * np.sin((xx + 3 * t) / 9.0) * np.cos(yy / 7.0)) for t in range(frames)])
    u = np.full((frames, 32, 48), 110, np.uint8)
    v = np.full((frames, 32, 48), 140, np.uint8)
    return YuvClip(y.astype(np.uint8), u, v)


def test_an_encode_decodes_to_its_report_and_seeks_by_gom(tmp_path):
    src, out = tmp_path / "moving.y4m", tmp_path / "m.uar"
    _write(src, _moving_clip(8))
    settings = tiny_settings(family="latent", gop_size=2, model_size=12_000, epochs_i=4, epochs_p=2)
    report = api.encode(src, out, settings, device="cpu")
    assert [m.kind.name for m in report.models] == ["I", "P", "I", "P"]
    decoded = api.decode(out, tmp_path / "all.y4m", device="cpu")
    assert decoded.num_frames == 8
    compared = api.compare_videos(src, tmp_path / "all.y4m", with_ms_ssim=False)
    assert compared.quality.psnr_yuv == pytest.approx(report.psnr_yuv, abs=1e-6)
    with api.open_stream(out) as stream:
        every = [c.y for c in stream.frames(device="cpu")]
        second_gom = [c.y for c in stream.frames(start=4, device="cpu")]
    assert np.array_equal(np.concatenate(second_gom), np.concatenate(every)[4:])
    assert api.stream_info(out)["coding"]["family"] == "latent"


def test_a_p_model_of_a_static_clip_costs_far_less_than_its_i_model(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat((rng.random((1, 64, 96)) * 200 + 20).astype(np.uint8), 8, axis=0)
    clip = YuvClip(y, np.full((8, 32, 48), 110, np.uint8), np.full((8, 32, 48), 140, np.uint8))
    src, out = tmp_path / "static.y4m", tmp_path / "s.uar"
    _write(src, clip)
    api.encode(src, out, tiny_settings(family="latent", model_size=12_000, epochs_i=6, epochs_p=2), device="cpu")
    models = api.stream_info(out)["goms"][0]["models"]
    assert [m["kind"] for m in models] == ["I", "P"]
    assert models[1]["coded_bytes"] < 0.5 * models[0]["coded_bytes"]


@pytest.mark.parametrize(("width", "height"), [(352, 288), (176, 144), (640, 352)])
def test_default_rate_points_are_sizes_the_grids_reach_in_ascending_order(width, height):
    from uarcodec.sizing import default_model_size, default_points, size_for_bpp

    points = default_points("latent", width, height, 30)
    sizes = [p.model_size for p in points]
    assert sizes == sorted(sizes)
    for size in sizes:
        LatentGrids.config_for_size(size, height, width, 30)  # raises when out of reach
    # a target rate keeps the default size: the grids' bits follow lambda (rate control)
    assert size_for_bpp(0.05, "latent", width, height, 30, 5) == default_model_size("latent", width, height, 30)


def test_a_p_model_refers_its_multi_sample_grids_to_the_last_decoded_sample():
    """Grids with several time samples are moments of the GOP: a P-model starts them from, and
    codes them against, the previous GOP's last decoded sample (priced along time); a grid with
    one sample for the GOP refers to the previous one (II), as the synthesis does."""
    from uarcodec.bitstream.records import ModelKind, RefMode
    from uarcodec.pipeline.model_coding import plan_model

    specs = _model((1, 2, 4, 4, 4), 4).coded_specs()
    prev = [np.full(s.shape, 0.5, np.float32) for s in specs]
    for s, p in zip(specs, prev):
        if s.name.startswith("grids.") and s.shape[0] > 1:
            p[-1] = 2.0  # the previous GOP's last sample
    plan = plan_model(specs, ModelKind.P, seed=1, eps=0.0, prev_hat=prev, use_ref=True, content={})
    modes = {s.name: (m, t) for s, m, t in zip(specs, plan.modes, plan.temporal)}
    assert modes["grids.0"] == (RefMode.INTERP, False)
    assert modes["layers.0.weight"] == (RefMode.INTERP, False)
    for level in range(1, 5):
        assert modes[f"grids.{level}"] == (RefMode.LAST, True)
        assert np.all(plan.refs[level - 5] == 2.0)


def _records(path) -> tuple[object, list]:
    from uarcodec.bitstream import UarReader

    with open(path, "rb") as f:
        reader = UarReader(f)
        return reader.header, [reader.read_gom(k) for k in range(len(reader.index))]


@pytest.mark.parametrize("order, version", [(ContextOrder.CHECKERBOARD, (1, 8)), (None, (1, 10)),
                                            (ContextOrder.WAVEFRONT, (1, 10))])
def test_with_a_context_network_a_stream_decodes_to_the_report_and_seeks_by_gom(tmp_path, order, version):
    """With a context network (whose grids the encoder codes under it where that is cheaper:
    tests/test_latent_context.py) the network is in the model; the stream is format 1.8 with the
    checkerboard order (1.5 up to 0.12.0), written without the field as 0.16 wrote it, and 1.10
    with the wavefront order, the default before a camera that holds still (since 0.18.0); it
    decodes to exactly what the encoder reported, and its second GOM alone to the same frames."""
    src, out = tmp_path / "moving.y4m", tmp_path / "m.uar"
    _write(src, _moving_clip(8))
    settings = tiny_settings(family="latent", gop_size=2, model_size=12_000, epochs_i=4, epochs_p=2,
                             latent_context=8, latent_context_order=order,
                             latent_motion=0)  # the pan's offsets: test_latent_motion.py
    report = api.encode(src, out, settings, device="cpu")
    header, goms = _records(out)
    assert header.writer_version == header.min_reader_version == version
    assert header.coding.arch["context_hidden"] == 8
    assert header.coding.arch.get("context_order", 0) == (ContextOrder.WAVEFRONT if order is None else order)
    assert [t.name for t in LatentGrids(LatentGridsConfig.from_fields(header.coding.arch), 64, 96, 2).coded_specs()
            if t.name.startswith("context.")] == ["context.0.weight", "context.0.bias", "context.1.weight",
                                                   "context.1.bias"]
    api.decode(out, tmp_path / "all.y4m", device="cpu")
    compared = api.compare_videos(src, tmp_path / "all.y4m", with_ms_ssim=False)
    assert compared.quality.psnr_yuv == pytest.approx(report.psnr_yuv, abs=1e-6)
    with api.open_stream(out) as stream:
        every = np.concatenate([c.y for c in stream.frames(device="cpu")])
        second_gom = np.concatenate([c.y for c in stream.frames(start=4, device="cpu")])
    assert np.array_equal(second_gom, every[4:])


def test_without_a_context_network_no_grid_is_context_coded(tmp_path):
    """``latent_context=0``: no context network, every grid coded on its own (a 1.4 stream up
    to 0.12.0, 1.8 like every stream since); a header without the field (0.7.0's) rebuilds the
    same network."""
    src, out = tmp_path / "moving.y4m", tmp_path / "m.uar"
    _write(src, _moving_clip(4))
    api.encode(src, out, tiny_settings(family="latent", model_size=12_000, epochs_i=2, epochs_p=1,
                                       latent_context=0, latent_motion=0), device="cpu")
    header, goms = _records(out)
    assert header.writer_version == header.min_reader_version == (1, 8)
    assert all(t.entropy_model != EntropyModel.CONTEXT for g in goms for m in g.models for t in m.tensors)
    assert "context_hidden" not in header.coding.arch  # what 0.7.0 wrote, and reads
    assert LatentGridsConfig.from_fields(header.coding.arch).context_hidden == 0


def test_a_context_order_is_named_or_numbered_and_refused_where_it_cannot_apply():
    from uarcodec.bench.settings_json import settings_from_dict, settings_to_dict

    for given in ("wavefront", "WAVEFRONT", 1, ContextOrder.WAVEFRONT):
        settings = tiny_settings(family="latent", latent_context_order=given)
        assert settings.latent_context_order is ContextOrder.WAVEFRONT
        assert settings_from_dict(settings_to_dict(settings)) == settings  # the bench's job files
    assert tiny_settings(family="latent", latent_context_order="checkerboard").latent_context_order == 0
    with pytest.raises(UarSettingsError, match="checkerboard, wavefront"):
        tiny_settings(family="latent", latent_context_order="raster")
    with pytest.raises(UarSettingsError, match="for --model latent"):
        tiny_settings(family="hnerv", latent_context_order="wavefront").validate()
    with pytest.raises(UarSettingsError, match="needs a context network"):
        tiny_settings(family="latent", latent_context=0, latent_context_order="wavefront").validate()
    with pytest.raises(UarSettingsError, match="context_order"):
        LatentGridsConfig(time_samples=(1, 2), context_order=2)


def test_the_grids_code_by_wavefronts_and_train_in_the_checkerboard_only_before_a_moving_camera():
    """``context_order_for``: the wavefront by default, a named order always;
    ``training_order_for``: the checkerboard with per-frame offsets only (a moving camera) and no
    named order, elsewhere None (the training prices in the coded order)."""
    from uarcodec.pipeline.plan import context_order_for, training_order_for

    def orders(**latent):
        settings = tiny_settings(family="latent", **latent)
        return context_order_for(settings), training_order_for(settings)

    wavefront, checkerboard = ContextOrder.WAVEFRONT, ContextOrder.CHECKERBOARD
    assert orders(latent_motion=0) == orders(latent_motion=16, latent_motion_block=32) == (wavefront, None)
    assert orders(latent_motion=40, latent_motion_block=0) == (wavefront, checkerboard)
    assert orders(latent_motion=40, latent_motion_block=0, latent_context_order="wavefront") == (wavefront, None)
    assert orders(latent_motion=40, latent_context_order="checkerboard") == (checkerboard, None)
    assert orders(latent_motion=0, latent_context_order="checkerboard") == (checkerboard, None)


def test_a_context_width_is_refused_for_other_families_and_out_of_range():
    with pytest.raises(UarSettingsError, match="latent"):
        tiny_settings(family="hnerv", latent_context=8).validate()
    with pytest.raises(UarSettingsError, match="0 to 64"):
        tiny_settings(family="latent", latent_context=65).validate()


def test_with_context_a_p_model_of_a_static_clip_costs_far_less_than_its_i_model(tmp_path):
    still = _moving_clip(1)
    clip = YuvClip(*(np.repeat(plane, 8, axis=0) for plane in (still.y, still.u, still.v)))
    src, out = tmp_path / "static.y4m", tmp_path / "s.uar"
    _write(src, clip)
    api.encode(src, out, tiny_settings(family="latent", model_size=12_000, epochs_i=16, epochs_p=2,
                                       latent_context=16), device="cpu")
    _, goms = _records(out)
    i_model, p_model = goms[0].models
    grid_bytes = [sum(t.coded_bytes for t in m.tensors if len(t.shape) == 4 and t.shape[1] == 1)
                  for m in (i_model, p_model)]  # the grids: (samples, 1 channel, h, w)
    assert grid_bytes[1] < 0.5 * grid_bytes[0]
