"""Shared fixtures: the bundled sample, the developer clips (skipped when absent), and tiny
encoder settings that make a full encode take seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from uarcodec.settings import EncoderSettings, TrainingSettings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "carphone_qcif_30f.y4m"
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_clip(name: str) -> Path:
    """A developer clip from ../shared/data, or a skip saying it is absent."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"developer clip {path} is absent (tests on real video need ../shared/data)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _two_threads():
    torch.set_num_threads(1)  # small models: one thread is as fast, and robust to a busy machine


@pytest.fixture
def sample() -> Path:
    assert SAMPLE.exists(), "the bundled sample examples/carphone_qcif_30f.y4m is part of the repo"
    return SAMPLE


def yuv444_frames(path: Path, count: int) -> torch.Tensor:
    """The first ``count`` frames of a clip as ``(count, 3, H, W)`` YUV in [0, 1], chroma
    repeated 2x2: what a network of the codec is trained to output."""
    from uarcodec.bitstream.records import ColorMatrix, ColorRange, OutputSpace
    from uarcodec.pipeline.training_target import make_target
    from uarcodec.video import open_video

    with open_video(str(path)) as reader:
        clip = reader.read(0, count)
    target = make_target(clip, OutputSpace.YUV, ColorMatrix.BT601, ColorRange.LIMITED, torch.device("cpu"))
    return target.network_input_frames()


def tiny_settings(**overrides) -> EncoderSettings:
    """A few training steps on a small HNeRV: for behaviour, not quality."""
    training = TrainingSettings(epochs_i=overrides.pop("epochs_i", 3), epochs_p=overrides.pop("epochs_p", 2),
                                lr=5e-3, lmbda=overrides.pop("lmbda", 500.0), batch_size=2)
    base = dict(gop_size=4, gom_size=2, family="hnerv", model_size=12_000, training=training)
    base.update(overrides)
    return EncoderSettings(**base)


def code_sample_as_i_model(clip, family: str, params: int, epochs: int, **training):
    """Code the first frames of the bundled sample (``clip``) as one I-model with the encoder's
    own unit (CPU, batch 2, lr 5e-3 unless given); returns the coded GOP and its decoded
    PSNR-YUV."""
    from uarcodec.metrics import QualityAccumulator
    from uarcodec.pipeline.gop_coding import GopCoder
    from uarcodec.pipeline.plan import stream_header
    from uarcodec.video import open_video

    device = torch.device("cpu")
    settings = EncoderSettings(
        gop_size=clip.num_frames, gom_size=1, family=family, model_size=params,
        training=TrainingSettings(lr=training.pop("lr", 5e-3), batch_size=2, epochs_i=epochs, **training),
    )
    with open_video(str(SAMPLE)) as reader:
        header = stream_header(reader.info, clip.num_frames, settings, device)
    coded = GopCoder(header, settings, device).code(clip, 0, 1.0, None)
    acc = QualityAccumulator(with_ms_ssim=False)
    acc.add(clip, coded.recon)
    return coded, acc.report().psnr_yuv
