"""Format 1.8 (bitstream_spec.md, sections 5.2, 6.1 and 6.1.5): zero flags under plane contexts.
The coder round-trips exactly and gives the spec's test vector; the record layout (head bits 6
and 7) round-trips in a 1.8 stream and is refused before it and where it breaks a rule; the
encoder codes a P-model's clustered grid residuals that way, in fewer bytes, only in a stream
that may hold them, and the decoder rebuilds them exactly."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import numpy as np
import pytest

from test_bitstream_samples import (
    PLANE_FLAG_PARAMS,
    SPEC,
    assert_goms_equal,
    assert_refused_without_writing,
    sample_header_1_7,
    sample_header_1_8,
    write_stream,
)
from uarcodec.bitstream import UarReader, parse_gom, serialize_gom
from uarcodec.bitstream.records import GomRecord, ModelKind, ModelRecord, RefMode, TensorRecord
from uarcodec.coding.entropy import decode_plane_flagged, encode_plane_flagged
from uarcodec.coding.plane_flags import decode_order, flag_classes
from uarcodec.coding.zero_flags import flag_param
from uarcodec.errors import UarCodingError, UarFormatError
from uarcodec.vocabulary import EntropyModel

SPEC_SYMBOLS = np.array([[[0, 2, 0, 0], [0, 0, -1, 0], [0, 0, 0, 0]],
                         [[0, 1, 0, 0], [0, 3, 0, 0], [0, 0, 0, -2]]], np.int32)
SPEC_PARAMS = (0.25, 0.5, 1.0, 0.125, 0.375, 0.75, 1.5, 3.0, 6.0, -0.5, -1.0, -2.0, -4.0,
               0.0625, 0.1875, 0.625, 1.25, 2.5, 5.0, -0.25, -0.75, -1.5, -3.0)


def _sparse(rng: np.random.Generator, shape: tuple[int, ...], share: float) -> np.ndarray:
    q = np.where(rng.random(shape) < share, rng.integers(-4, 5, shape), 0).astype(np.int32)
    q.reshape(-1)[0] = 3  # never all 0
    return q


@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (1, 7), (4, 5), (2, 3, 4), (3, 1, 6, 5), (2, 2, 1, 9)])
@pytest.mark.parametrize("model", [EntropyModel.LAPLACE, EntropyModel.GAUSSIAN])
def test_plane_flags_round_trip_exactly(shape, model):
    rng = np.random.default_rng(len(shape) * 100 + sum(shape))
    params = tuple(flag_param(s) for s in np.linspace(0.3, 0.97, 23))
    for share in (0.05, 0.5, 1.0):
        q = _sparse(rng, shape, share)
        enc = encode_plane_flagged(q, 0.0, 2.0, params, model=model)
        out = decode_plane_flagged(enc.words, shape, 0.0, 2.0, params, enc.min_symbol, enc.max_symbol, model=model)
        assert np.array_equal(out.reshape(shape), q)


def test_the_spec_test_vectors():
    classes = flag_classes((SPEC_SYMBOLS != 0).astype(np.int32))  # 12 sites a plane: not linked
    assert classes.tolist() == [[[0, 13, 0, 13], [13, 3, 13, 3], [0, 13, 0, 13]],
                                [[0, 15, 0, 13], [15, 3, 15, 3], [0, 15, 0, 13]]]
    assert decode_order(2, 3, 4).tolist() == [0, 2, 8, 10, 12, 14, 20, 22, 5, 7, 17, 19,
                                              1, 3, 4, 6, 9, 11, 13, 15, 16, 18, 21, 23]
    enc = encode_plane_flagged(SPEC_SYMBOLS, -0.5, 1.0, SPEC_PARAMS, model=EntropyModel.LAPLACE)
    assert (enc.min_symbol, enc.max_symbol) == (-2, 2)
    assert enc.words.tolist() == [2727922205, 8617928, 26350]
    k, r, c = np.indices((2, 8, 8))  # 64 sites a plane: linked
    linked = np.where((r + 2 * c + k) % 4 == 0, (k + 2 * r + 3 * c) % 5 - 2, 0).astype(np.int32)
    classes = flag_classes((linked != 0).astype(np.int32))
    assert int(classes.sum()) == 1112 and classes[1, 1].tolist() == [16, 3, 16, 4, 15, 4, 18, 4]
    enc = encode_plane_flagged(linked, -0.5, 1.0, SPEC_PARAMS)
    assert (enc.min_symbol, enc.max_symbol) == (-2, 1)
    words = [2752478167, 1640899537, 2063375809, 935509623, 209748382, 1845493496, 260293438, 3673992279,
             3929208877]
    assert enc.words.tolist() == words
    text = " ".join(SPEC.read_text(encoding="utf-8").split())
    assert "the words `[2727922205, 8617928, 26350]`" in text
    assert "`[" + ", ".join(map(str, words)) + "]`" in text


def test_small_planes_do_not_see_the_plane_before_and_decode_in_three_calls(monkeypatch):
    """Planes of fewer than 64 sites (a convolution's kernels) are not linked: their classes
    ignore the plane before, and the decoder takes every plane's pass at once."""
    import uarcodec.coding.entropy as entropy

    rng = np.random.default_rng(3)
    kernels = _sparse(rng, (40, 30, 5, 5), 0.2)
    same_first = kernels.copy()
    same_first[:-1] = kernels[1:]  # each plane's predecessor changed, the planes themselves kept
    assert np.array_equal(flag_classes((kernels[1:] != 0).astype(np.int32).reshape(-1, 5, 5)),
                          flag_classes((same_first[:-1] != 0).astype(np.int32).reshape(-1, 5, 5)))
    calls = []
    coder_type = entropy._AnsCoder

    class Counting:  # constriction's coder, counting its decode calls
        def __init__(self, *args):
            self._coder = coder_type(*args)

        def decode(self, *args):
            calls.append(1)
            return self._coder.decode(*args)

        def __getattr__(self, name):
            return getattr(self._coder, name)

    monkeypatch.setattr(entropy, "_AnsCoder", Counting)
    enc = encode_plane_flagged(kernels, 0.0, 2.0, SPEC_PARAMS)
    out = decode_plane_flagged(enc.words, kernels.shape, 0.0, 2.0, SPEC_PARAMS, enc.min_symbol, enc.max_symbol)
    assert np.array_equal(out.reshape(kernels.shape), kernels)
    assert len(calls) == 3 + 1  # three passes, then the values


def test_corrupt_words_and_bad_parameters_are_coding_errors():
    enc = encode_plane_flagged(SPEC_SYMBOLS, -0.5, 1.0, SPEC_PARAMS)
    rng = np.random.default_rng(1)
    for _ in range(200):
        words = rng.integers(1, 2**32, rng.integers(1, 4)).astype(np.uint32)
        try:
            out = decode_plane_flagged(words, (2, 3, 4), -0.5, 1.0, SPEC_PARAMS, -2, 2)
        except UarCodingError:
            continue
        assert out.shape == (24,)
    with pytest.raises(UarCodingError):
        decode_plane_flagged(enc.words, (2, 3, 4), -0.5, 1.0, SPEC_PARAMS[:22], -2, 2)
    with pytest.raises(UarCodingError):
        encode_plane_flagged(SPEC_SYMBOLS, -0.5, 1.0, SPEC_PARAMS[:-1] + (0.0,))
    with pytest.raises(ValueError):
        flag_classes(np.zeros(5, np.int32)[None][0])


def _plane_record(**changes) -> TensorRecord:
    enc = encode_plane_flagged(SPEC_SYMBOLS, -0.5, 1.0, SPEC_PARAMS)
    fields = dict(shape=(2, 3, 4), ref_mode=RefMode.INTERP, step=0.25, mean=-0.5, std=1.0,
                  min_symbol=enc.min_symbol, max_symbol=enc.max_symbol, words=enc.words,
                  entropy_model=EntropyModel.LAPLACE, plane_flags=SPEC_PARAMS)
    fields.update(changes)
    return TensorRecord(**fields)


def _gom(tensor: TensorRecord) -> GomRecord:
    i_model = ModelRecord(ModelKind.I, 4, 1, 1.0, [replace(tensor, ref_mode=RefMode.NONE)])
    p_model = ModelRecord(ModelKind.P, 4, 2, 0.5, [tensor])
    return GomRecord(0, 0, 8, [i_model, p_model])


def test_a_plane_flagged_record_round_trips_in_a_1_8_stream_and_has_the_spec_size():
    header = sample_header_1_8(video=replace(sample_header_1_8().video, num_frames=8))
    for tensor in (_plane_record(), _plane_record(temporal=True, entropy_model=EntropyModel.GAUSSIAN)):
        gom = _gom(tensor)
        payload = serialize_gom(gom, header)
        assert_goms_equal(parse_gom(payload, 0, header), gom, layout=6)
        reader = UarReader(io.BytesIO(write_stream(header, [gom])))
        assert_goms_equal(reader.read_gom(0), gom, layout=6)
        one = serialize_gom(GomRecord(0, 0, 4, gom.models[:1]), header)
        # GOM header 4, model header 11, record 56 + dims 3 + symbols 2 + byte_count 1 + 10 word bytes
        assert len(one) == 4 + 11 + 56 + 3 + 2 + 1 + 10
    head = serialize_gom(GomRecord(0, 0, 4, _gom(_plane_record()).models[:1]), header)[15]
    assert head & 0xC0 == 0xC0 and head & 0x0C == 0  # bits 6 and 7; no ZERO, no mask


def test_before_1_8_the_record_is_refused_and_its_head_byte_rejected():
    header_1_7 = sample_header_1_7(video=replace(sample_header_1_7().video, num_frames=8))
    assert_refused_without_writing(header_1_7, _gom(_plane_record()))
    header = sample_header_1_8(video=replace(sample_header_1_8().video, num_frames=8))
    payload = serialize_gom(_gom(_plane_record()), header)
    with pytest.raises(UarFormatError, match="head byte"):
        parse_gom(payload, 0, header_1_7)


@pytest.mark.parametrize("change", [
    dict(plane_flags=SPEC_PARAMS[:22]),  # 23 parameters
    dict(plane_flags=SPEC_PARAMS[:22] + (0.0,)),  # none 0
    dict(zero_flags=0.5),  # not both kinds of flags
    dict(channel_mask=np.array([True, False])),  # no mask
    dict(shape=(24,), words=np.array([5], np.uint32)),  # rank 2 or more
])
def test_the_writer_refuses_a_plane_flagged_record_that_breaks_a_rule(change):
    header = sample_header_1_8(video=replace(sample_header_1_8().video, num_frames=8))
    assert_refused_without_writing(header, _gom(_plane_record(**change)))


def test_the_reader_rejects_a_rank_1_record_and_a_zero_parameter():
    header = sample_header_1_8(video=replace(sample_header_1_8().video, num_frames=8))
    one = GomRecord(0, 0, 4, _gom(_plane_record()).models[:1])
    payload = bytearray(serialize_gom(one, header))
    assert payload[16] == 3  # rank
    rank_1 = bytes(payload[:16]) + b"\x01" + bytes(payload[17:])
    with pytest.raises(UarFormatError, match="rank"):
        parse_gom(rank_1, 0, header)
    params_at = 15 + 2 + 3 + 4 + 4  # head, rank, dims, step, mean and std
    zeroed = bytes(payload[:params_at]) + b"\x00\x00" + bytes(payload[params_at + 2:])
    with pytest.raises(UarFormatError, match="flag parameters"):
        parse_gom(zeroed, 0, header)


def _clustered_p_model():
    """A latent network's I-model and a P-model whose full-resolution grid changed only in a
    block (as where something moved), the rest as the I-model's decoded values."""
    from uarcodec.models.latent import LatentGrids, LatentGridsConfig

    model = LatentGrids(LatentGridsConfig(time_samples=(1, 2, 2), context_hidden=0), 64, 64, 2)
    specs = model.coded_specs()
    rng = np.random.default_rng(3)
    steps = [2.0**-4] * len(specs)
    i_theta = [np.rint(rng.uniform(-1, 1, s.shape) * 16).astype(np.float32) / 16 for s in specs]
    p_theta = [t.copy() for t in i_theta]
    grid = [s.name for s in specs].index("grids.0")
    block = p_theta[grid][..., 16:32, 20:36]
    p_theta[grid][..., 16:32, 20:36] = block + np.where(rng.random(block.shape) < 0.7,
                                                       rng.integers(-3, 4, block.shape), 0) / 16
    return specs, i_theta, p_theta, steps, grid


@pytest.mark.parametrize("plane_flags", [False, True])
def test_a_p_models_clustered_grid_codes_under_plane_contexts_in_fewer_bytes(plane_flags):
    from uarcodec.pipeline.model_coding import code_model, plan_model, reconstruct_params

    specs, i_theta, p_theta, steps, grid = _clustered_p_model()
    i_plan = plan_model(specs, ModelKind.I, seed=3, eps=1.0, prev_hat=None, use_ref=True, content={})
    i_record = code_model(specs, i_plan, i_theta, steps, None, 2, 0.05, plane_flags)
    i_hat = reconstruct_params(i_record, specs, None)
    p_plan = plan_model(specs, ModelKind.P, seed=4, eps=0.0, prev_hat=i_hat, use_ref=True, content={})
    p_record = code_model(specs, p_plan, p_theta, steps, i_hat, 2, 0.05, plane_flags)
    fine = p_record.tensors[grid]
    assert (fine.plane_flags is not None) == plane_flags
    header = sample_header_1_8(video=replace(sample_header_1_8().video, num_frames=4))
    gom = GomRecord(0, 0, 4, [i_record, p_record])
    parsed = parse_gom(serialize_gom(gom, header), 0, header)
    decoded = reconstruct_params(parsed.models[1], specs, reconstruct_params(parsed.models[0], specs, None))
    assert np.array_equal(decoded[grid], p_theta[grid])
    if plane_flags:
        without = code_model(specs, p_plan, p_theta, steps, i_hat, 2, 0.05, False).tensors[grid]
        assert fine.coded_bytes + 44 < without.coded_bytes  # more than pays for the record's 44 bytes more


def test_the_spec_states_the_record_layout():
    text = " ".join(SPEC.read_text(encoding="utf-8").split())
    assert re.search(r"A PLANE_FLAGS record is `56 \+ \|dims\[0\]\|", text)
    assert "#### 6.1.5 Zero flags under plane contexts (format 1.8)" in SPEC.read_text(encoding="utf-8")
    assert PLANE_FLAG_PARAMS != SPEC_PARAMS  # the fuzzed sample's parameters are other values


def test_an_encode_writes_plane_flagged_records_that_decode_to_its_report(tmp_path):
    """Through the whole pipeline: a moving object's P-model has a plane-flagged record, the
    stream (1.8 and later: 1.10 with the wavefront order) decodes to exactly the quality the
    encoder reported, and `uar info -v` names the coding."""
    from test_latent_motion_field import encode_moving_square
    from uarcodec import api

    src, out, report = encode_moving_square(tmp_path, gom_size=2)
    with open(out, "rb") as f:
        reader = UarReader(f)
        assert reader.header.min_reader_version == (1, 10)
        records = [t for e in reader.index for m in reader.read_gom(e.index).models for t in m.tensors]
    assert any(t.plane_flags is not None for t in records)
    api.decode(out, tmp_path / "all.y4m", device="cpu")
    compared = api.compare_videos(src, tmp_path / "all.y4m", with_ms_ssim=False)
    assert compared.quality.psnr_yuv == pytest.approx(report.psnr_yuv, abs=1e-6)
    codings = [t["coding"] for g in api.stream_info(out, verbose=True)["goms"] for m in g["models"]
               for t in m["tensors"]]
    assert any("planeflags" in c for c in codings)
