"""One GOM as a pure job: :func:`run_gom_job` codes every model of one GOM from a
:class:`GomJob` (settings, the input's path and options, the stream header, the GOM) and
returns the GOM chunk's bytes with its stats as a :class:`GomResult`.

Nothing but plain data crosses the job boundary (no torch module, open file or closure), and
every seed derives from the settings and the GOP index, so the bytes do not depend on the
process or machine that ran the job (given the same threads and precision on the same kind of
machine). Progress goes out as small :data:`JobEvent` values through an optional sink.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from uarcodec.bitstream import parse_gom, serialize_gom, serialize_header
from uarcodec.bitstream.records import GomRecord, ModelKind, StreamHeader
from uarcodec.metrics import QualityAccumulator
from uarcodec.metrics.accumulate import FrameMetrics
from uarcodec.pipeline.fit import FitProgress
from uarcodec.pipeline.gop_coding import CodedGop, GopCoder
from uarcodec.pipeline.interp_init import choose_eps, gop_gap_mse
from uarcodec.pipeline.partition import Gom
from uarcodec.pipeline.rate_control import gom_bit_budget, model_bit_target
from uarcodec.settings import EncoderSettings
from uarcodec.sysinfo import peak_rss_mb, retain_freed_memory
from uarcodec.video import VideoReader, open_video
from uarcodec.video.frames import YuvClip


@dataclass(frozen=True)
class VideoSource:
    """Where a job reads its frames: the input file and how to read it (raw .yuv needs the size)."""

    path: str
    size: tuple[int, int] | None = None
    fps: Fraction | None = None
    pix_fmt: str | None = None

    def open(self) -> VideoReader:
        return open_video(self.path, size=self.size, fps=self.fps, pix_fmt=self.pix_fmt)


@dataclass(frozen=True)
class JobFaults:
    """Test hooks that make a job misbehave on purpose (``UAR_TEST_CRASH_GOM``,
    ``UAR_TEST_DELAY_GOM``); only executors that run jobs in other processes apply them."""

    crash_on_first_attempt: bool = False  # the worker process exits abruptly on attempt 1
    delay_seconds: float = 0.0  # the job sleeps this long before it starts

    @classmethod
    def from_env(cls, gom_index: int) -> "JobFaults":
        crash = os.environ.get("UAR_TEST_CRASH_GOM", "")
        delay = os.environ.get("UAR_TEST_DELAY_GOM", "")  # "K:SECONDS"
        crash_here = str(gom_index) in crash.split(",")
        seconds = 0.0
        if delay:
            k, _, s = delay.partition(":")
            seconds = float(s) if int(k) == gom_index else 0.0
        return cls(crash_here, seconds)


@dataclass(frozen=True)
class GomJob:
    """Everything one GOM's encode needs; ``device`` is a torch device string. Training runs in
    the precision the header records (``GopCoder`` takes it from there), so a job on another
    machine trains as the stream says."""

    source: VideoSource
    header: StreamHeader
    settings: EncoderSettings
    gom: Gom
    device: str = "cpu"
    threads: int | None = None  # torch threads in the process that runs it (None: leave as is)
    attempt: int = 1
    faults: JobFaults = field(default_factory=JobFaults)


@dataclass(frozen=True)
class ModelDone:
    gom: int
    gop: int
    kind: ModelKind
    eps: float
    coded_bytes: int
    psnr_yuv: float  # decoder-side reconstruction of this GOP
    fit_seconds: float
    rollbacks: int = 0  # epochs of its fit undone after blowing up (pipeline/divergence.py)


@dataclass(frozen=True)
class ModelStarted:
    gom: int
    gop: int
    kind: ModelKind
    epochs: int


@dataclass(frozen=True)
class EpochDone:
    gom: int
    gop: int
    progress: FitProgress


JobEvent = ModelStarted | EpochDone | ModelDone
EventSink = Callable[[JobEvent], None]


@dataclass(frozen=True)
class GomResult:
    """A coded GOM: its chunk payload (as :func:`~uarcodec.bitstream.serialize_gom` writes it),
    its models, the per-frame quality of its decoded frames (``index`` from 0 in the GOM),
    the seconds the job took, which attempt it was, and the job process's peak memory."""

    gom: int
    payload: bytes
    models: tuple[ModelDone, ...]
    quality: tuple[FrameMetrics, ...]
    seconds: float
    attempt: int
    peak_memory_mb: float

    def record(self, header: StreamHeader) -> GomRecord:
        return parse_gom(self.payload, 0, header)


class ThrottledSink:
    """Passes every event on, except that a model's epochs go out at most once per
    ``interval`` seconds (its last epoch always does): for sinks that cross processes."""

    def __init__(self, sink: EventSink, interval: float = 0.5):
        self._sink = sink
        self._interval = interval
        self._last = 0.0

    def __call__(self, event: JobEvent) -> None:
        if isinstance(event, EpochDone) and event.progress.epoch < event.progress.epochs:
            now = time.monotonic()
            if now - self._last < self._interval:
                return
            self._last = now
        self._sink(event)


def run_gom_job(job: GomJob, sink: EventSink | None = None, reader: VideoReader | None = None) -> GomResult:
    """Code GOM ``job.gom``: every model in order (an I-model, then P-models predicted from
    the previous decoded model), decoded back, the GOM serialised and parsed back once more.
    ``reader``: an open reader of ``job.source`` to use instead of opening it (in-process)."""
    start = time.perf_counter()
    _apply_faults(job)
    if job.threads is not None:
        torch.set_num_threads(job.threads)
    retain_freed_memory()  # training reallocates the same feature maps every step
    emit = sink or (lambda event: None)
    if reader is not None:
        return _code_gom(job, reader, emit, start)
    with job.source.open() as own:
        return _code_gom(job, own, emit, start)


def _bit_budget(job: GomJob) -> float | None:
    """The GOM's bits under a target rate (``settings.target_bpp``), else None."""
    if job.settings.target_bpp is None:
        return None
    v = job.header.video
    return gom_bit_budget(job.settings.target_bpp, v.width, v.height, job.gom.num_frames,
                          len(serialize_header(job.header)), v.num_frames)


def _apply_faults(job: GomJob) -> None:
    if job.faults.delay_seconds > 0:
        time.sleep(job.faults.delay_seconds)
    if job.faults.crash_on_first_attempt and job.attempt == 1:
        os._exit(86)  # as a worker killed by the OS would: no exception, no cleanup


def _code_gom(job: GomJob, reader: VideoReader, emit: EventSink, start: float) -> GomResult:
    header, gom = job.header, job.gom
    coder = GopCoder(header, job.settings, torch.device(job.device))
    v = header.video
    quality = QualityAccumulator(v.color_matrix.name.lower(), v.color_range.name.lower())
    prev: CodedGop | None = None
    prev_clip: YuvClip | None = None
    records, models = [], []
    budget = _bit_budget(job)
    kinds = [(ModelKind.I if k == 0 else ModelKind.P, g.num_frames) for k, g in enumerate(gom.gops)]
    spent = 0.0
    for position, gop in enumerate(gom.gops):
        clip = reader.read(gop.first_frame, gop.num_frames)
        eps = 1.0 if prev is None else choose_eps(job.settings, gop_gap_mse(prev_clip, clip))
        coded = coder.code(
            clip, gop.index, eps, prev, position=position,
            on_start=lambda kind, epochs, g=gop.index: emit(ModelStarted(gom.index, g, kind, epochs)),
            on_epoch=lambda p, g=gop.index: emit(EpochDone(gom.index, g, p)),
            target_bits=None if budget is None else model_bit_target(budget, spent, position, kinds),
        )
        spent += 8.0 * coded.record_bytes
        frame_quality = float(np.mean([f.psnr_yuv for f in quality.add(clip, coded.recon)]))
        done = ModelDone(gom.index, gop.index, coded.record.kind, coded.record.eps, coded.coded_bytes,
                         frame_quality, coded.fit_seconds, sum(p.rolled_back for p in coded.history))
        emit(done)
        records.append(coded.record)
        models.append(done)
        prev, prev_clip = coded, clip
    payload = serialize_gom(GomRecord(gom.index, gom.first_frame, gom.num_frames, records), header)
    parse_gom(payload, 0, header)  # what is handed on reads back
    return GomResult(gom.index, payload, tuple(models), tuple(quality.report().frames),
                     time.perf_counter() - start, job.attempt, peak_rss_mb())
