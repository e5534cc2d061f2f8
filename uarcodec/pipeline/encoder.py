"""The UAR-NVC encoder (paper Algorithm 1): one GOP in memory at a time, one model per GOP,
models grouped into GOMs, each GOM chunk appended and flushed as soon as it is done.

The output is written to ``<output>.partial`` and renamed when complete; an interrupted encode
leaves that file behind and ``resume=True`` continues from its complete GOMs (GOMs are
independent, so nothing before the first missing GOM is trained again).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from uarcodec.bitstream import UarReader, UarWriter, parse_gom, serialize_gom
from uarcodec.bitstream.records import GomRecord, ModelKind, StreamHeader
from uarcodec.errors import UarError, UarInputError
from uarcodec.metrics import QualityAccumulator
from uarcodec.pipeline.decoder import decode_gom_clips
from uarcodec.pipeline.fit import FitProgress, resolve_device
from uarcodec.pipeline.gop_coding import CodedGop, GopCoder
from uarcodec.pipeline.interp_init import choose_eps, gop_gap_mse
from uarcodec.pipeline.partition import Gom, Gop, GopPartition
from uarcodec.pipeline.plan import plan_encode, stream_header
from uarcodec.settings import EncoderSettings
from uarcodec.sysinfo import peak_rss_mb
from uarcodec.video import VideoReader
from uarcodec.video.frames import YuvClip

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


class GomEncoder:
    """Encodes the GOMs of one stream, one GOP in memory at a time."""

    def __init__(self, coder: GopCoder, events: EncodeEvents):
        self.coder = coder
        self.events = events

    def encode_gom(self, gom: Gom, reader: VideoReader, quality: QualityAccumulator) -> tuple[GomRecord, list[ModelDone]]:
        """Code every model of ``gom``; returns its record, parsed back from its bytes."""
        prev: CodedGop | None = None
        prev_clip: YuvClip | None = None
        records, done = [], []
        for position, gop in enumerate(gom.gops):
            clip = reader.read(gop.first_frame, gop.num_frames)
            eps = 1.0 if prev is None else choose_eps(self.coder.settings, gop_gap_mse(prev_clip, clip))
            coded = self.coder.code(
                clip, gop.index, eps, prev, position=position, on_epoch=self.events.on_epoch,
                on_start=lambda kind, epochs, g=gop: (
                    self.events.on_model_start and self.events.on_model_start(gom, g, kind, epochs)),
            )
            frame_quality = float(np.mean([f.psnr_yuv for f in quality.add(clip, coded.recon)]))
            info = ModelDone(gom.index, gop.index, coded.record.kind, coded.record.eps, coded.coded_bytes,
                             frame_quality, coded.fit_seconds)
            if self.events.on_model_done:
                self.events.on_model_done(info)
            records.append(coded.record)
            done.append(info)
            prev, prev_clip = coded, clip
        header = self.coder.header
        record = GomRecord(gom.index, gom.first_frame, gom.num_frames, records)
        return parse_gom(serialize_gom(record, header), 0, header), done


def check_output(output: Path, overwrite: bool) -> None:
    """The encode may write ``output``: it does not exist (or ``overwrite``), its folder is writable."""
    if output.exists() and not overwrite:
        raise UarInputError(f"{output} exists (use -y to overwrite)")
    if not output.parent.exists() or not os.access(output.parent, os.W_OK):
        raise UarInputError(f"cannot write to {output.parent}")


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
    start_time = time.perf_counter()
    events = events or EncodeEvents()
    info = reader.info
    plan = plan_encode(info, settings, frames=frames)
    num_frames = plan.num_frames
    check_output(output, overwrite)
    dev = resolve_device(device)
    header = stream_header(info, num_frames, settings, dev)
    partition = GopPartition(num_frames, settings.gop_size, settings.gom_size)
    encoder = GomEncoder(GopCoder(header, settings, dev), events)
    quality = QualityAccumulator(info.color_matrix.name.lower(), info.color_range.name.lower())
    tmp = partial_path(output)
    writer, done_entries, fh = _open_output(tmp, header, resume)
    report_models: list[ModelDone] = []
    try:
        kept = partition.goms[: len(done_entries)]
        if kept:
            _score_kept_goms(header, dev, tmp, kept, reader, quality)
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


def _score_kept_goms(
    header: StreamHeader, device: torch.device, tmp: Path, goms: list[Gom], reader: VideoReader,
    quality: QualityAccumulator,
) -> None:
    """Decode the GOMs a resumed encode keeps from the partial file, to count their quality
    in the report (the partial file is opened once)."""
    with open(tmp, "rb") as fh:
        stream = UarReader(fh)
        for gom in goms:
            record = stream.read_gom(gom.index)
            for gop, recon in zip(gom.gops, decode_gom_clips(header, record, device)):
                quality.add(reader.read(gop.first_frame, gop.num_frames), recon)
