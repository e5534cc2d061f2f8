"""Scene cuts (format 1.9): the encoder finds where the picture changes at once (and nowhere
else: not at a flash, not on the bench's other clips), a cut starts a new GOM whose I-model
codes the new scene, the stream records the cuts and decodes and seeks by them, a stream
without cuts stays 1.8, and a 1.8 reader refuses a 1.9 stream with a one-line version error."""

from __future__ import annotations

import dataclasses
import io
from fractions import Fraction

import numpy as np
import pytest

from conftest import shared_clip, tiny_settings
from test_bitstream_samples import sample_goms_1_8, sample_header_1_9, write_stream
from uarcodec import api
from uarcodec.bitstream import UarReader, header as header_module, parse_header, serialize_header
from uarcodec.bitstream.records import ModelKind
from uarcodec.errors import UarFormatError, UarSettingsError, UarVersionError
from uarcodec.pipeline.encoder import EncodeEvents
from uarcodec.video import open_video, open_writer
from uarcodec.video.frames import YuvClip
from uarcodec.video.scene_cuts import find_scene_cuts, frame_differences
from uarcodec.vocabulary import VideoParams


def _scene(seed: int, frames: int, height: int = 64, width: int = 96) -> np.ndarray:
    """``frames`` frames of one scene: a smooth random picture drifting by a pixel a frame,
    with a little noise (frame differences of a few levels)."""
    rng = np.random.default_rng(seed)
    picture = rng.normal(0.0, 1.0, (height, width + frames))
    for _ in range(40):
        picture = (picture + np.roll(picture, 1, 0) + np.roll(picture, 1, 1)) / 3
    picture = 128.0 + 50.0 * picture / picture.std()
    luma = [picture[:, t:t + width] + rng.normal(0.0, 2.0, (height, width)) for t in range(frames)]
    return np.clip(np.stack(luma), 0, 255)


def _clip(luma: np.ndarray) -> YuvClip:
    n, h, w = luma.shape
    return YuvClip(luma.astype(np.uint8), np.full((n, h // 2, w // 2), 110, np.uint8),
                   np.full((n, h // 2, w // 2), 140, np.uint8))


def _write(path, luma: np.ndarray) -> None:
    clip = _clip(luma)
    with open_writer(path, VideoParams(clip.y.shape[2], clip.y.shape[1], clip.num_frames, fps=Fraction(25))) as w:
        w.write(clip)


def _cuts(luma: np.ndarray) -> tuple[int, ...]:
    return find_scene_cuts(frame_differences([_clip(luma)]))


def test_a_cut_is_found_at_the_first_frame_of_the_new_scene():
    assert _cuts(np.concatenate([_scene(1, 9), _scene(2, 7)])) == (9,)
    assert _cuts(np.concatenate([_scene(1, 6), _scene(2, 6), _scene(3, 6)])) == (6, 12)
    assert _cuts(_scene(1, 20)) == ()


def test_a_flash_or_a_scene_too_short_for_a_gop_is_not_a_cut():
    flash = _scene(1, 12)
    flash[6] = 255 - flash[6]  # one frame unlike both its neighbours
    assert _cuts(flash) == ()
    short = np.concatenate([_scene(1, 2), _scene(2, 10)])  # a cut two frames in
    assert _cuts(short) == ()


def test_on_the_bench_clips_only_megamind_has_a_cut():
    """megamind is one scene cut (frame 97, MANIFEST.md); the handheld camera of cockatoo and
    the moving box and people of the others are not cuts."""
    found = {}
    for name in ("megamind_cif_120f.y4m", "box_cif_120f.y4m", "vtest_cif_120f.y4m",
                 "carphone_qcif_120f.y4m", "cockatoo_640x352_60f.y4m"):
        with open_video(shared_clip(name)) as reader:
            found[name] = find_scene_cuts(frame_differences(reader.iter_chunks(30)))
    assert found.pop("megamind_cif_120f.y4m") == (97,)
    assert set(found.values()) == {()}


def test_the_header_holds_the_cuts_and_a_reader_checks_them():
    header = sample_header_1_9()
    assert header.coding.scene_cuts == (12, 24)
    payload = serialize_header(header)
    assert parse_header(payload, 0) == header
    assert payload.endswith(bytes([2, 12, 24]))  # count and frames, uvars, after the settings
    for bad in ((2, 24, 12), (2, 12, 25), (2, 0, 12), (30, 12, 24), (2, 12)):
        with pytest.raises(UarFormatError, match="scene") as err:
            parse_header(payload[:-3] + bytes(bad), 0)
        assert err.value.chunk == "HEAD"
    with pytest.raises(UarSettingsError, match="scene cuts need format 1.9"):
        serialize_header(dataclasses.replace(header, writer_version=(1, 8), min_reader_version=(1, 8)))


def test_a_1_8_reader_refuses_a_stream_with_cuts_in_one_line(monkeypatch):
    data = write_stream(sample_header_1_9(), sample_goms_1_8())
    assert UarReader(io.BytesIO(data)).header.coding.scene_cuts == (12, 24)
    monkeypatch.setattr(header_module, "FORMAT_VERSION", (1, 8))
    with pytest.raises(UarVersionError, match="1.9") as err:
        UarReader(io.BytesIO(data))
    assert "\n" not in str(err.value)


def test_an_encode_starts_a_gom_at_the_cut_and_decodes_and_seeks_by_it(tmp_path):
    """Scene A of 7 frames, scene B of 5, p = 4, m = 2: GOPs [4, 3] and [4, 1], two GOMs, the
    second an I-model of scene B; decoded, the stream matches the encoder's report, and its
    second GOM decodes alone to the same frames."""
    src = tmp_path / "two_scenes.y4m"
    _write(src, np.concatenate([_scene(1, 7), _scene(2, 5)]))
    out = tmp_path / "cut.uar"
    report = api.encode(src, out, tiny_settings(epochs_i=1, epochs_p=1), device="cpu")
    plan = api.plan_encode(src, tmp_path / "other.uar", tiny_settings())
    assert plan.settings.scene_cuts == (7,) and plan.num_goms == 2
    with api.open_stream(out) as stream:
        header = stream.header
        assert header.min_reader_version == (1, 9) and header.coding.scene_cuts == (7,)
        assert [(g.first_frame, [p.num_frames for p in g.gops]) for g in stream.partition.goms] == \
            [(0, [4, 3]), (7, [4, 1])]
        kinds = [m.kind for k in range(2) for m in stream.reader.read_gom(k).models]
        every = np.concatenate([c.y for c in stream.frames(device="cpu")])
        later = np.concatenate([c.y for c in stream.frames(start=7, device="cpu")])
    assert kinds == [ModelKind.I, ModelKind.P, ModelKind.I, ModelKind.P]
    assert np.array_equal(later, every[7:])
    decoded = tmp_path / "cut.y4m"
    api.decode(out, decoded, device="cpu")
    compared = api.compare_videos(src, decoded, with_ms_ssim=False)
    assert compared.quality.psnr_yuv == pytest.approx(report.psnr_yuv, abs=1e-6)
    assert api.stream_info(out)["coding"]["scene_cuts"] == [7]


def test_without_cuts_the_stream_stays_1_8_and_given_cuts_are_kept(tmp_path):
    src = tmp_path / "two_scenes.y4m"
    _write(src, np.concatenate([_scene(1, 7), _scene(2, 5)]))
    for cuts, version, goms in (((), (1, 8), [(0, [4, 4]), (8, [4])]), ((5,), (1, 9), [(0, [4, 1]), (5, [4, 3])])):
        out = tmp_path / f"cuts{len(cuts)}.uar"
        api.encode(src, out, tiny_settings(epochs_i=1, epochs_p=1, scene_cuts=cuts), device="cpu")
        with api.open_stream(out) as stream:
            assert stream.header.min_reader_version == version and stream.header.coding.scene_cuts == cuts
            assert [(g.first_frame, [p.num_frames for p in g.gops]) for g in stream.partition.goms] == goms
    with pytest.raises(UarSettingsError, match=r"scene cuts must be increasing frames of 1..11, got \[12\]"):
        api.encode(src, tmp_path / "late.uar", tiny_settings(scene_cuts=(12,)), device="cpu")


def test_an_encode_interrupted_after_the_first_scene_resumes_into_the_same_file(tmp_path):
    """The cut found again on --resume: the first scene's GOM is kept, only the second scene's
    models train, and the file is the uninterrupted encode's."""
    src = tmp_path / "two_scenes.y4m"
    _write(src, np.concatenate([_scene(1, 7), _scene(2, 5)]))
    out, settings = tmp_path / "r.uar", tiny_settings(epochs_i=1, epochs_p=1)

    def stop_after_first_gom(gom, skipped):
        if gom.index == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.encode(src, out, settings, device="cpu", events=EncodeEvents(on_gom_done=stop_after_first_gom))
    trained = []
    report = api.encode(src, out, settings, device="cpu", resume=True,
                        events=EncodeEvents(on_model_start=lambda gom, gop, kind, epochs: trained.append(gop.first_frame)))
    assert report.resumed_goms == 1 and trained == [7, 11]
    uninterrupted = tmp_path / "u.uar"
    api.encode(src, uninterrupted, settings, device="cpu")
    assert out.read_bytes() == uninterrupted.read_bytes()
