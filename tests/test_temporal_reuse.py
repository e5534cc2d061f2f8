"""Temporal reuse: each way of coding a tensor's integers round-trips exactly through the
stream, a P-model of a static clip costs a fraction of its I-model, and a stream of format 1.0
still decodes to the same parameters."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_settings
from uarcodec import api
from uarcodec.bitstream import UarReader, parse_model, serialize_model
from uarcodec.bitstream.records import ModelKind, ModelRecord, RefMode
from uarcodec.pipeline.model_coding import CodingChoice, code_tensor, reconstruct_params, tensor_codes
from uarcodec.pipeline.rebuild import stream_skeleton
from uarcodec.video import open_writer
from uarcodec.video.frames import YuvClip
from uarcodec.vocabulary import EntropyModel, VideoParams

OLD_STREAM = Path(__file__).parent / "data" / "format_1_0.uar"
# sha256 of every decoded parameter (float32, little-endian, stream order) of OLD_STREAM, as
# the 1.0 decoder (commit 5efe9d5) rebuilt them.
OLD_STREAM_PARAMS_SHA256 = "55c1212b24a3cc4e02a539281b5903eb396696b82414a88ffa05bc974a393c78"
# A real stream of the format 1.2 encoder (version 0.4.4: `uar --threads 1 encode
# carphone_qcif_30f.y4m -frames 8 -p 4 -m 2 --preset ultrafast --size 20k`), and the sha256 of
# its decoded frames (Y, U, V bytes of each frame in order) as the 0.4.4 decoder wrote them.
STREAM_1_2 = Path(__file__).parent / "data" / "format_1_2.uar"
STREAM_1_2_FRAMES_SHA256 = "9184d869eefb001a842b882ff769339cfc62f80ecb295eaec327f135b21b3a4f"


def _sparse_codes(shape, seed=0, zero_channels=()):
    rng = np.random.default_rng(seed)
    q = np.where(rng.random(shape) < 0.8, 0, rng.integers(-4, 5, shape)).astype(np.int32)
    for c in zero_channels:
        q[c] = 0
    return q


CHOICES = {
    "gaussian": CodingChoice(EntropyModel.GAUSSIAN, False, None),
    "laplace": CodingChoice(EntropyModel.LAPLACE, False, None),
    "laplace-temporal": CodingChoice(EntropyModel.LAPLACE, True, None),
    "gaussian-temporal": CodingChoice(EntropyModel.GAUSSIAN, True, None),
    "laplace-flags": CodingChoice(EntropyModel.LAPLACE, False, None, zero_flags=True),
    "gaussian-flags": CodingChoice(EntropyModel.GAUSSIAN, False, None, zero_flags=True),
    "laplace-temporal-flags": CodingChoice(EntropyModel.LAPLACE, True, None, zero_flags=True),
}


@pytest.mark.parametrize("name", [*CHOICES, "laplace-mask", "laplace-temporal-mask", "laplace-mask-flags", "zero"])
def test_every_coding_choice_round_trips_exactly(name):
    shape = (6, 3, 4)
    q = _sparse_codes(shape, zero_channels=(1, 4))
    if name == "zero":
        q[:] = 0
        choice = CHOICES["laplace"]
    elif name.endswith("mask"):
        temporal = "temporal" in name
        symbols = q.copy()
        if temporal:
            symbols[1:] = q[1:] - q[:-1]
        choice = CodingChoice(EntropyModel.LAPLACE, temporal, symbols.reshape(6, -1).any(axis=1))
    elif name == "laplace-mask-flags":
        choice = CodingChoice(EntropyModel.LAPLACE, False, q.reshape(6, -1).any(axis=1), zero_flags=True)
    else:
        choice = CHOICES[name]
    record = code_tensor(q, RefMode.NONE, np.float32(0.01), choice, 0.05)
    model = ModelRecord(ModelKind.I, 2, 1, 1.0, [record])
    parsed = parse_model(serialize_model(model, 0), 0).tensors[0]
    assert np.array_equal(tensor_codes(parsed), q)
    assert parsed.is_zero == (name == "zero")
    if name != "zero":
        assert parsed.entropy_model == choice.model and parsed.temporal == choice.temporal
        assert (parsed.zero_flags is not None) == choice.zero_flags


def test_zero_flags_make_a_sparse_residual_smaller_and_the_coder_picks_them():
    """A P-model's residual codes are mostly 0: flags for the zeros, then the nonzero values,
    cost less than one Laplace over all of them, and code_model chooses that coding."""
    from uarcodec.pipeline.model_coding import ModelPlan, code_model
    from uarcodec.vocabulary import CodedTensorSpec, InitKind, InitSpec, TensorRole

    q = _sparse_codes((64, 32), seed=3)
    sizes = {n: code_tensor(q, RefMode.INTERP, np.float32(0.01), CHOICES[n], 0.05).coded_bytes
             for n in ("laplace", "laplace-flags")}
    assert sizes["laplace-flags"] < 0.95 * sizes["laplace"]
    spec = CodedTensorSpec("weight", q.shape, TensorRole.WEIGHT, InitSpec(InitKind.ZEROS))
    ref = np.zeros(q.shape, np.float32)
    plan = ModelPlan(ModelKind.P, 1, 0.0, [RefMode.INTERP], [ref], [ref], [False], EntropyModel.LAPLACE, [False])
    step = float(np.float32(0.01))
    record = code_model([spec], plan, [q * np.float32(step)], [step], [ref], 4, 0.05).tensors[0]
    assert record.zero_flags is not None
    assert np.array_equal(tensor_codes(record), q)
    # the paper's Gaussian rate model keeps its one per-layer Gaussian
    gaussian = ModelPlan(ModelKind.P, 1, 0.0, [RefMode.INTERP], [ref], [ref], [False], EntropyModel.GAUSSIAN, [False])
    record = code_model([spec], gaussian, [q * np.float32(step)], [step], [ref], 4, 0.05).tensors[0]
    assert record.zero_flags is None and record.entropy_model == EntropyModel.GAUSSIAN


def test_a_format_1_2_stream_still_decodes_to_the_same_frames():
    digest = hashlib.sha256()
    with api.open_stream(STREAM_1_2) as stream:
        assert stream.header.writer_version == stream.header.min_reader_version == (1, 2)
        frames = 0
        for clip in stream.frames(device="cpu"):
            frames += clip.num_frames
            for plane in (clip.y, clip.u, clip.v):
                digest.update(plane.tobytes())
    assert frames == 8
    assert digest.hexdigest() == STREAM_1_2_FRAMES_SHA256


def test_a_laplace_coded_sparse_residual_is_smaller_than_a_gaussian_one():
    q = _sparse_codes((64, 32), seed=3)
    sizes = {n: code_tensor(q, RefMode.NONE, np.float32(0.01), CHOICES[n], 0.05).coded_bytes
             for n in ("gaussian", "laplace")}
    assert sizes["laplace"] < 0.9 * sizes["gaussian"]


def _static_clip(frames: int) -> YuvClip:
    rng = np.random.default_rng(0)
    y = np.repeat((rng.random((1, 144, 176)) * 200 + 20).astype(np.uint8), frames, axis=0)
    u = np.full((frames, 72, 88), 110, np.uint8)
    v = np.full((frames, 72, 88), 140, np.uint8)
    return YuvClip(y, u, v)


def test_a_p_model_of_a_static_clip_costs_far_less_than_its_i_model(tmp_path):
    clip_path = tmp_path / "static.y4m"
    clip = _static_clip(8)
    with open_writer(clip_path, VideoParams(176, 144, 8, fps=Fraction(25))) as writer:
        writer.write(clip)
    out = tmp_path / "s.uar"
    api.encode(clip_path, out, tiny_settings(gop_size=4, gom_size=2, epochs_i=6, epochs_p=2, model_size=8000),
               device="cpu")
    models = api.stream_info(out)["goms"][0]["models"]
    assert [m["kind"] for m in models] == ["I", "P"]
    assert models[1]["coded_bytes"] < 0.5 * models[0]["coded_bytes"]


def test_a_format_1_0_stream_still_decodes_to_the_same_parameters():
    digest = hashlib.sha256()
    with open(OLD_STREAM, "rb") as fh:
        reader = UarReader(fh)
        header = reader.header
        assert header.writer_version == (1, 0)
        for k in range(len(reader.index)):
            prev = None
            for record in reader.read_gom(k).models:
                prev = reconstruct_params(record, stream_skeleton(header, record.num_frames).coded_specs(), prev)
                for t in prev:
                    digest.update(np.ascontiguousarray(t, dtype="<f4").tobytes())
    assert digest.hexdigest() == OLD_STREAM_PARAMS_SHA256
    with api.open_stream(OLD_STREAM) as stream:
        frames = sum(c.num_frames for c in stream.frames(device="cpu"))
    assert frames == 8


def test_a_p_model_embedding_that_barely_moved_codes_its_residual_at_a_fine_step():
    """A P-model's per-frame embeddings are tried both against their reference and on their
    own; when the step was fitted to a tiny residual, coding the values themselves at that step
    would overflow the symbol range, so the residual is coded (no error)."""
    from uarcodec.pipeline.model_coding import ModelPlan, code_model
    from uarcodec.vocabulary import CodedTensorSpec, InitKind, InitSpec, TensorRole

    shape = (4, 2, 3)
    spec = CodedTensorSpec("embeddings", shape, TensorRole.EMBEDDING, InitSpec(InitKind.ZEROS))
    ref = np.full(shape, 2.0, np.float32)
    residual = np.random.default_rng(0).integers(-3, 4, shape).astype(np.float32) * 1e-8
    theta = ref + residual
    plan = ModelPlan(ModelKind.P, 1, 0.0, [RefMode.LAST], [ref], [ref], [True], EntropyModel.LAPLACE, [True])
    step = float(np.float32(1e-8))
    record = code_model([spec], plan, [theta], [step], [ref], 4, 0.05).tensors[0]
    assert record.ref_mode == RefMode.LAST
    assert np.abs(tensor_codes(record)).max() <= 4
