"""The codec end to end: what the encoder reports is what the decoder produces, the file size
is the bpp, random access gives the same frames, every partition decodes."""

from __future__ import annotations

import pytest

from conftest import tiny_settings
from uarcodec import api
from uarcodec.metrics import QualityAccumulator
from uarcodec.video import open_video
from uarcodec.video.frames import concatenate


def _decode_all(path, start=0, count=None):
    with api.open_stream(path) as stream:
        return concatenate(list(stream.frames(start, count, device="cpu")))


def _psnr_yuv(ref_path, decoded, start=0):
    with open_video(str(ref_path)) as reader:
        ref = reader.read(start, decoded.num_frames)
    acc = QualityAccumulator(with_ms_ssim=False)
    acc.add(ref, decoded)
    return acc.report().psnr_yuv


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, request):
    from conftest import SAMPLE

    out = tmp_path_factory.mktemp("rt") / "sample.uar"
    report = api.encode(SAMPLE, out, tiny_settings(gop_size=4, gom_size=2), frames=16, device="cpu")
    return out, report


def test_decoded_psnr_equals_encoder_report(encoded, sample):
    path, report = encoded
    decoded = _decode_all(path)
    assert decoded.num_frames == 16
    assert _psnr_yuv(sample, decoded) == pytest.approx(report.psnr_yuv, abs=0.01)


def test_bpp_is_the_file_size(encoded):
    path, report = encoded
    assert report.bpp * report.width * report.height * report.num_frames / 8 == pytest.approx(
        path.stat().st_size, abs=1e-6
    )
    assert report.file_bytes == path.stat().st_size


def test_gom_decode_is_bit_identical_to_full_decode(encoded):
    path, _ = encoded
    full = _decode_all(path)
    with api.open_stream(path) as stream:
        goms = stream.partition.goms
        assert len(goms) == 2
        for gom in goms:
            part = concatenate(list(stream.frames(gom.first_frame, gom.num_frames, device="cpu")))
            assert part.same_as(full[gom.first_frame : gom.stop])


def test_gom_decodes_when_every_other_gom_is_corrupted(encoded, tmp_path):
    path, _ = encoded
    full = _decode_all(path)
    data = bytearray(path.read_bytes())
    with api.open_stream(path) as stream:
        entries = stream.reader.index
    keep = 1
    for e in entries:
        if e.index != keep:
            for off in range(e.offset + 20, e.offset + e.length - 8, 97):
                data[off] ^= 0x5A
    broken = tmp_path / "broken.uar"
    broken.write_bytes(bytes(data))
    with api.open_stream(broken) as stream:
        gom = stream.partition.goms[keep]
        part = concatenate(list(stream.frames(gom.first_frame, gom.num_frames, device="cpu")))
    assert part.same_as(full[gom.first_frame : gom.stop])


def test_frame_range_inside_a_gom(encoded):
    path, _ = encoded
    full = _decode_all(path)
    part = _decode_all(path, start=5, count=6)
    assert part.same_as(full[5:11])


@pytest.mark.parametrize(
    "frames,p,m",
    [(10, 4, 2), (7, 3, 3), (3, 4, 2), (6, 2, 1)],
    ids=["T-not-multiple-of-p", "T-not-multiple-of-pm", "T-below-p", "m-is-1"],
)
def test_partition_edge_cases_encode_and_decode(sample, tmp_path, frames, p, m):
    out = tmp_path / "edge.uar"
    report = api.encode(sample, out, tiny_settings(gop_size=p, gom_size=m, epochs_i=1, epochs_p=1,
                                                   model_size=8000), frames=frames, device="cpu")
    decoded = _decode_all(out)
    assert decoded.num_frames == frames
    assert _psnr_yuv(sample, decoded) == pytest.approx(report.psnr_yuv, abs=0.01)
    info = api.stream_info(out)
    assert sum(g["frames"] for g in info["goms"]) == frames
    assert all(g["models"][0]["kind"] == "I" for g in info["goms"])
