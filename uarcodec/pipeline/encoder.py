"""The UAR-NVC encoder (paper Algorithm 1): one GOP in memory at a time, one model per GOP,
models grouped into GOMs, each GOM chunk appended and flushed as soon as it is done.

The output is written to ``<output>.partial`` and renamed when complete; an interrupted encode
leaves that file behind and ``resume=True`` continues from its complete GOMs (GOMs are
independent, so nothing before the first missing GOM is trained again).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from uarcodec.bitstream import UarReader, UarWriter
from uarcodec.bitstream.records import (
    CodingParams,
    GomRecord,
    ModelKind,
    ModelRecord,
    OutputSpace,
    StreamHeader,
    VideoParams,
)
from uarcodec.coding.entropy import CODER_ID, coder_version
from uarcodec.errors import UarError, UarInputError
from uarcodec.metrics import QualityAccumulator
from uarcodec.models.base import InrModel
from uarcodec.models.registry import family_by_name
from uarcodec.pipeline.fit import FitProgress, fit_model, resolve_device
from uarcodec.pipeline.interp_init import choose_eps, gop_gap_mse
from uarcodec.pipeline.model_coding import code_model, plan_model
from uarcodec.pipeline.partition import Gom, Gop, GopPartition
from uarcodec.pipeline.render import make_target, render_gop
from uarcodec.settings import EncoderSettings, derive_seed
from uarcodec.video import VideoReader
from uarcodec.video.frames import YuvClip

QUANTIZER_ID = 0  # per-tensor uniform scalar quantizer with a trained step (bitstream_spec.md)


@dataclass(frozen=True)
class ModelDone:
    gom: int
    gop: int
    kind: ModelKind
    eps: float
    coded_bytes: int
    psnr_yuv: float  # decoder-side reconstruction of this GOP
    fit_seconds: float


@dataclass
class EncodeEvents:
    """Callbacks for progress display; every one is optional."""

    on_model_start: Callable[[Gom, Gop, ModelKind, int], None] | None = None  # epochs
    on_epoch: Callable[[FitProgress], None] | None = None
    on_model_done: Callable[[ModelDone], None] | None = None
    on_gom_done: Callable[[Gom, bool], None] | None = None  # (gom, skipped because resumed)


@dataclass
class EncodeReport:
    path: str
    file_bytes: int
    width: int
    height: int
    num_frames: int
    num_goms: int
    bpp: float
    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv: float
    psnr_rgb: float
    ms_ssim: float | None
    encode_seconds: float
    peak_memory_mb: float
    resumed_goms: int
    models: list[ModelDone] = field(default_factory=list)


def partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_header(info: VideoParams, num_frames: int, settings: EncoderSettings, arch: dict) -> StreamHeader:
    family = family_by_name(settings.family)
    space = OutputSpace.RGB if settings.training.distortion == "rgb" else OutputSpace.YUV
    video = VideoParams(
        width=info.width, height=info.height, num_frames=num_frames, fps=info.fps,
        pix_fmt=info.pix_fmt, color_matrix=info.color_matrix, color_range=info.color_range,
    )
    coding = CodingParams(
        gop_size=settings.gop_size, gom_size=settings.gom_size, family_id=family.family_id,
        arch=arch, quantizer_id=QUANTIZER_ID, coder_id=CODER_ID, coder_version=coder_version(),
        output_space=space, encoder_settings=settings.informational_fields(),
    )
    return StreamHeader(video=video, coding=coding)


@dataclass
class CodedGop:
    """One GOP's model as coded: its record, what the next P-model is predicted from (the
    decoder-side parameters, the trained steps, the training encoder) and the decoded frames."""

    record: ModelRecord
    theta_hat: list[np.ndarray]
    steps: list[float]
    encoder_state: dict | None
    recon: YuvClip
    fit_seconds: float

    @property
    def coded_bytes(self) -> int:
        return sum(t.coded_bytes for t in self.record.tensors)


class GomEncoder:
    """Encodes the GOMs of one stream; holds what every model of the stream shares."""

    def __init__(self, header: StreamHeader, settings: EncoderSettings, device: torch.device, events: EncodeEvents):
        self.header = header
        self.settings = settings
        self.device = device
        self.events = events
        self.family = family_by_name(settings.family)
        self.config = self.family.config_type.from_fields(header.coding.arch)
        self.min_std = settings.training.min_std

    def _build(self, num_frames: int) -> InrModel:
        v = self.header.video
        return self.family(self.config, v.height, v.width, num_frames)

    def encode_gom(self, gom: Gom, reader: VideoReader, quality: QualityAccumulator) -> tuple[GomRecord, list[ModelDone]]:
        prev: CodedGop | None = None
        prev_clip: YuvClip | None = None
        records, done = [], []
        for gop in gom.gops:
            clip = reader.read(gop.first_frame, gop.num_frames)
            eps = 1.0 if prev is None else choose_eps(self.settings, gop_gap_mse(prev_clip, clip))
            coded = self.encode_gop(clip, gop.index, eps, prev, on_start=lambda kind, epochs, g=gop: (
                self.events.on_model_start and self.events.on_model_start(gom, g, kind, epochs)))
            frame_quality = float(np.mean([f.psnr_yuv for f in quality.add(clip, coded.recon)]))
            info = ModelDone(gom.index, gop.index, coded.record.kind, coded.record.eps, coded.coded_bytes,
                             frame_quality, coded.fit_seconds)
            if self.events.on_model_done:
                self.events.on_model_done(info)
            records.append(coded.record)
            done.append(info)
            prev, prev_clip = coded, clip
        return GomRecord(gom.index, gom.first_frame, gom.num_frames, records), done

    def encode_gop(
        self, clip: YuvClip, gop_index: int, eps: float, prev: "CodedGop | None",
        on_start: Callable[[ModelKind, int], None] | None = None,
    ) -> "CodedGop":
        """Fit, code and rebuild (as the decoder will) the model of one GOP: an I-model when
        ``prev`` is None, else a P-model predicted from ``prev`` with this ``eps``."""
        v, s = self.header.video, self.settings
        kind = ModelKind.I if prev is None else ModelKind.P
        prev_hat = None if prev is None else prev.theta_hat
        model = self._build(clip.num_frames)
        specs = model.coded_specs()
        target = make_target(clip, self.header.coding.output_space, v.color_matrix, v.color_range, self.device)
        content = {name: t.detach().cpu().numpy() for name, t in model.content_init(target.network_input_frames()).items()}
        seed = derive_seed(s.seed, gop_index)
        plan = plan_model(specs, kind, seed, eps, prev_hat, s.use_ref, content)
        epochs = s.training.epochs_i if prev is None else s.training.epochs_p
        if on_start:
            on_start(kind, epochs)
        fit = fit_model(
            model, target, plan.init, plan.refs, s.training, epochs,
            init_steps=None if prev is None else _matching_steps(prev.steps, specs, prev_hat),
            device=self.device, seed=seed, progress=self.events.on_epoch,
            encoder_state=None if prev is None else prev.encoder_state,
        )
        record, theta_hat = code_model(specs, plan, fit.theta, fit.steps, prev_hat, clip.num_frames, self.min_std)
        recon = self.render(model, specs, theta_hat, clip.num_frames)
        return CodedGop(record, theta_hat, fit.steps, fit.encoder_state, recon, fit.seconds)

    def render(self, model: InrModel, specs, theta_hat: list[np.ndarray], num_frames: int) -> YuvClip:
        load_params(model, specs, theta_hat)
        v = self.header.video
        return render_gop(model, num_frames, self.header.coding.output_space, v.color_matrix, v.color_range, self.device)


def _matching_steps(prev_steps, specs, prev_hat) -> list[float | None] | None:
    """A P-model's quantizers start from the previous model's trained steps (same tensor)."""
    if prev_steps is None or prev_hat is None:
        return None
    return [
        prev_steps[i] if i < len(prev_hat) and tuple(prev_hat[i].shape) == spec.shape else None
        for i, spec in enumerate(specs)
    ]


def load_params(model: InrModel, specs, theta: list[np.ndarray]) -> None:
    """Copy decoded coded tensors into the network's parameters."""
    with torch.no_grad():
        for spec, value in zip(specs, theta):
            param = model.get_parameter(spec.name)
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(param.device, param.dtype))


def encode_stream(
    reader: VideoReader,
    output: Path,
    settings: EncoderSettings,
    *,
    frames: int | None = None,
    device: str = "auto",
    overwrite: bool = False,
    resume: bool = False,
    events: EncodeEvents | None = None,
) -> EncodeReport:
    settings.validate()
    start_time = time.perf_counter()
    events = events or EncodeEvents()
    info = reader.info
    num_frames = info.num_frames if frames is None else min(frames, info.num_frames)
    if num_frames < 1:
        raise UarInputError("there are no frames to encode")
    if output.exists() and not overwrite:
        raise UarInputError(f"{output} exists (use -y to overwrite)")
    if not output.parent.exists() or not os.access(output.parent, os.W_OK):
        raise UarInputError(f"cannot write to {output.parent}")
    dev = resolve_device(device)
    family = family_by_name(settings.family)
    config = family.config_for_size(settings.model_size, info.height, info.width, min(settings.gop_size, num_frames))
    header = build_header(info, num_frames, settings, config.to_fields())
    partition = GopPartition(num_frames, settings.gop_size, settings.gom_size)
    encoder = GomEncoder(header, settings, dev, events)
    quality = QualityAccumulator(info.color_matrix.name.lower(), info.color_range.name.lower())
    tmp = partial_path(output)
    writer, done_entries, fh = _open_output(tmp, header, resume)
    report_models: list[ModelDone] = []
    try:
        kept = partition.goms[: len(done_entries)]
        if kept:
            _score_kept_goms(encoder, tmp, kept, reader, quality)
        for gom in kept:
            if events.on_gom_done:
                events.on_gom_done(gom, True)
        for gom in partition.goms[len(kept) :]:
            record, models = encoder.encode_gom(gom, reader, quality)
            writer.append_gom(record)
            report_models.extend(models)
            if events.on_gom_done:
                events.on_gom_done(gom, False)
        writer.finish()
        fh.close()
    except BaseException:
        fh.close()
        if not done_entries and _complete_goms(tmp) == 0:  # nothing worth resuming
            tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, output)
    size = output.stat().st_size
    q = quality.report()
    return EncodeReport(
        path=str(output), file_bytes=size, width=info.width, height=info.height, num_frames=num_frames,
        num_goms=len(partition.goms), bpp=size * 8 / (info.width * info.height * num_frames),
        psnr_y=q.psnr_y, psnr_u=q.psnr_u, psnr_v=q.psnr_v, psnr_yuv=q.psnr_yuv,
        psnr_rgb=q.psnr_rgb, ms_ssim=q.ms_ssim,
        encode_seconds=time.perf_counter() - start_time, peak_memory_mb=peak_rss_mb(),
        resumed_goms=len(done_entries), models=report_models,
    )


def _open_output(tmp: Path, header: StreamHeader, resume: bool):
    if resume and tmp.exists():
        fh = open(tmp, "r+b")
        try:
            writer, entries = UarWriter.resume(fh, header)
        except BaseException:
            fh.close()
            raise
        return writer, entries, fh
    if resume:
        raise UarInputError(f"nothing to resume: {tmp} does not exist")
    fh = open(tmp, "wb")
    return UarWriter(fh, header), [], fh


def _complete_goms(tmp: Path) -> int:
    """How many complete GOM chunks a partial file holds (0 if it cannot be read)."""
    try:
        with open(tmp, "rb") as fh:
            return len(UarReader(fh).index)
    except (OSError, UarError):
        return 0


def _score_kept_goms(encoder: GomEncoder, tmp: Path, goms: list[Gom], reader: VideoReader, quality) -> None:
    """Decode the GOMs a resumed encode keeps from the partial file, to count their quality
    in the report (the partial file is opened once)."""
    from uarcodec.pipeline.decoder import decode_gom_clips  # the decoder imports this module

    with open(tmp, "rb") as fh:
        stream = UarReader(fh)
        for gom in goms:
            record = stream.read_gom(gom.index)
            for gop, recon in zip(gom.gops, decode_gom_clips(encoder.header, record, encoder.device)):
                quality.add(reader.read(gop.first_frame, gop.num_frames), recon)
