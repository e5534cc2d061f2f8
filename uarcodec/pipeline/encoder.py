"""The UAR-NVC encoder (paper Algorithm 1): one model per GOP, models grouped into GOMs, each GOM
an independent job (:mod:`uarcodec.parallel.gom_job`) run by an executor (in this process, a
local process pool or Ray); only this driver writes the output, in GOM order.

The output is written to ``<output>.partial`` and renamed when complete. A GOM that finishes
before its turn waits in :class:`~uarcodec.parallel.gom_store.FinishedGomStore` beside it. An
interrupted or failed encode leaves both behind, and ``resume=True`` continues from them: no
GOM that finished is fitted again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from uarcodec.bitstream import UarReader, UarWriter, parse_gom
from uarcodec.bitstream.records import GomRecord, ModelKind, StreamHeader
from uarcodec.errors import UarError, UarInputError
from uarcodec.metrics import QualityAccumulator
from uarcodec.metrics.accumulate import FrameMetrics
from uarcodec.parallel.executors import (
    ExecutorKind, GomExecutor, ParallelSettings, ProcessExecutor, SerialExecutor, run_jobs,
)
from uarcodec.parallel.gom_job import (
    EpochDone, GomJob, JobEvent, JobFaults, ModelDone, ModelStarted, VideoSource,
)
from uarcodec.parallel.gom_store import FinishedGomStore
from uarcodec.pipeline.decoder import decode_gom_clips
from uarcodec.pipeline.fit import FitProgress, resolve_device
from uarcodec.pipeline.partition import Gom, Gop, GopPartition, stream_partition
from uarcodec.pipeline.plan import plan_encode, plan_motion, plan_scene_cuts, stream_header
from uarcodec.settings import Device, EncoderSettings, parse_choice
from uarcodec.sysinfo import peak_rss_mb
from uarcodec.video import VideoReader

__all__ = ["EncodeEvents", "EncodeReport", "ModelDone", "VideoSource", "check_output", "encode_stream", "partial_path"]


@dataclass
class EncodeEvents:
    """Callbacks for progress display; every one is optional. With parallel executors the
    epochs of GOMs running at once interleave (throttled), so a display should use
    ``on_gom_epoch``, which says whose epoch it is."""

    on_model_start: Callable[[Gom, Gop, ModelKind, int], None] | None = None  # epochs
    on_epoch: Callable[[FitProgress], None] | None = None
    on_model_done: Callable[[ModelDone], None] | None = None
    on_gom_done: Callable[[Gom, bool], None] | None = None  # (gom, kept from an earlier run)
    on_gom_epoch: Callable[[Gom, Gop, FitProgress], None] | None = None
    on_retry: Callable[[Gom, int, str], None] | None = None  # (gom, attempt about to run, why)


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
    models: list[ModelDone] = field(default_factory=list)  # coded in this run, in GOP order
    goms: list["GomStats"] = field(default_factory=list)  # coded in this run, in GOM order
    worker_peak_memory_mb: float = 0.0  # the largest peak of a process that coded a GOM


def partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def check_output(output: Path, overwrite: bool) -> None:
    """The encode may write ``output``: it does not exist (or ``overwrite``), its folder is writable."""
    if output.exists() and not overwrite:
        raise UarInputError(f"{output} exists (use -y to overwrite)")
    if not output.parent.exists() or not os.access(output.parent, os.W_OK):
        raise UarInputError(f"cannot write to {output.parent}")


@dataclass(frozen=True)
class GomStats:
    """How one GOM coded in this run went: seconds in its job, attempts (more than 1 after a
    worker died), and the peak memory of the process that ran it."""

    gom: int
    seconds: float
    attempts: int
    peak_memory_mb: float


def gom_memory_bytes(header: StreamHeader) -> int:
    """What one GOM job may need at its peak, for a scheduler's memory request: a process with
    torch (about 600 MiB here) plus about 200 bytes per pixel of one GOP (frames, targets,
    activations), which bounds the measured peaks of ``docs/results/memory_gops.json``."""
    v, c = header.video, header.coding
    return 600 * 2**20 + 200 * v.width * v.height * min(c.gop_size, v.num_frames)


def encode_stream(
    source: VideoSource,
    output: Path,
    settings: EncoderSettings,
    *,
    frames: int | None = None,
    device: str = "auto",
    overwrite: bool = False,
    resume: bool = False,
    events: EncodeEvents | None = None,
    parallel: ParallelSettings = ParallelSettings(),
) -> EncodeReport:
    """Encode ``source`` into ``output``; GOMs run on the executor ``parallel`` names, and the
    file is byte-identical whichever it is (given the same torch threads per GOM and the same
    precision on the same machine)."""
    start_time = time.perf_counter()
    events = events or EncodeEvents()
    parallel.validate()
    with source.open() as reader:
        plan = plan_motion(reader, plan_scene_cuts(reader, plan_encode(reader.info, settings, frames=frames)))
        check_output(output, overwrite)
        dev = job_device(device, parallel)
        settings = plan.settings
        header = stream_header(reader.info, plan.num_frames, settings, dev)
        partition = stream_partition(header)
        out = _OrderedOutput(partial_path(output), header, partition, resume)
        try:
            quality = out.measure_kept(reader, dev)
            for k in sorted(quality):
                if events.on_gom_done:
                    events.on_gom_done(partition.goms[k], True)
            jobs = _jobs(source, header, settings, dev, partition, set(quality), parallel)
            stats, models = _run(jobs, out, quality, parallel, events, reader)
            out.finish()
        except BaseException:
            out.abandon()
            raise
    os.replace(out.tmp, output)
    return _report(output, header, partition, quality, models, stats, len(out.kept), start_time)


def job_device(device: str, parallel: ParallelSettings) -> torch.device:
    """The device GOM jobs train on: a Ray job asking for GPUs trains on CUDA (the driver may
    have none); otherwise ``device`` resolved here."""
    choice = parse_choice(Device, device, "device")
    if parallel.executor == ExecutorKind.RAY and (choice == Device.CUDA or (choice == Device.AUTO and parallel.gpus_per_gom)):
        return torch.device("cuda")
    return resolve_device(choice)


def _jobs(source: VideoSource, header: StreamHeader, settings: EncoderSettings, device: torch.device,
          partition: GopPartition, kept: set[int], parallel: ParallelSettings) -> list[GomJob]:
    """The GOMs still to code: in order when serial, else the largest first."""
    serial = parallel.executor == ExecutorKind.SERIAL
    threads = None if serial else parallel.worker_threads()
    todo = [g for g in partition.goms if g.index not in kept]
    if not serial:
        todo.sort(key=lambda g: (-g.num_frames, g.index))
    return [
        GomJob(source, header, settings, g, str(device), threads,
               faults=JobFaults() if serial else JobFaults.from_env(g.index))
        for g in todo
    ]


def _run(jobs: list[GomJob], out: "_OrderedOutput", quality: dict[int, tuple[FrameMetrics, ...]],
         parallel: ParallelSettings, events: EncodeEvents, reader: VideoReader,
         ) -> tuple[list[GomStats], list[ModelDone]]:
    """Run ``jobs`` on the executor ``parallel`` names, each result into ``out`` (in GOM
    order) and its frames' quality into ``quality``; the stats and models of this run."""
    partition = out.partition
    stats, models = [], []
    if not jobs:
        return stats, models

    def on_retry(job: GomJob, reason: str) -> None:
        if events.on_retry:
            events.on_retry(job.gom, job.attempt + 1, reason)

    with _executor(parallel, _relay(events, partition), reader, out.header) as executor:
        try:
            for result in run_jobs(executor, jobs, parallel.max_retries, on_retry):
                out.add(result.gom, result.payload)
                quality[result.gom] = result.quality
                stats.append(GomStats(result.gom, result.seconds, result.attempt, result.peak_memory_mb))
                models.extend(result.models)
                if events.on_gom_done:
                    events.on_gom_done(partition.goms[result.gom], False)
        except BaseException:
            executor.cancel()
            raise
    models.sort(key=lambda m: m.gop)
    stats.sort(key=lambda s: s.gom)
    return stats, models


def _executor(parallel: ParallelSettings, sink, reader: VideoReader, header: StreamHeader) -> GomExecutor:
    if parallel.executor == ExecutorKind.SERIAL:
        return SerialExecutor(sink, reader)
    threads = parallel.worker_threads()
    if parallel.executor == ExecutorKind.PROCESS:
        return ProcessExecutor(parallel.workers or os.cpu_count() or 1, threads, sink)
    from uarcodec.parallel.ray_executor import RayExecutor

    return RayExecutor(sink, threads=threads, gpus=parallel.gpus_per_gom, memory_bytes=gom_memory_bytes(header),
                       address=parallel.ray_address, workers=parallel.workers)


def _relay(events: EncodeEvents, partition: GopPartition) -> Callable[[JobEvent], None]:
    """Job events as the encode's callbacks (with the GOM and GOP they belong to)."""
    goms, gops = partition.goms, partition.gops

    def sink(event: JobEvent) -> None:
        if isinstance(event, ModelStarted):
            if events.on_model_start:
                events.on_model_start(goms[event.gom], gops[event.gop], event.kind, event.epochs)
        elif isinstance(event, EpochDone):
            if events.on_epoch:
                events.on_epoch(event.progress)
            if events.on_gom_epoch:
                events.on_gom_epoch(goms[event.gom], gops[event.gop], event.progress)
        elif events.on_model_done:
            events.on_model_done(event)

    return sink


class _OrderedOutput:
    """The partial stream and its side store: GOMs enter the stream in GOM order; one that
    finishes early waits in the store until its turn."""

    def __init__(self, tmp: Path, header: StreamHeader, partition: GopPartition, resume: bool):
        self.tmp, self.header, self.partition = tmp, header, partition
        self.writer, entries, self._fh = _open_output(tmp, header, resume)
        self.in_stream = len(entries)  # kept from an earlier run, in the stream
        self.next = self.in_stream
        self.store = FinishedGomStore(tmp, header)
        try:
            self.store.start(keep=resume)
            self.waiting = set(self.store.saved(partition, self.next))
        except BaseException:
            self._fh.close()
            raise
        self.kept = sorted(set(range(self.in_stream)) | self.waiting)

    def measure_kept(self, reader: VideoReader, device: torch.device) -> dict[int, tuple[FrameMetrics, ...]]:
        """Decode the GOMs kept from an earlier run (to count their quality in the report),
        then move those now in turn from the store into the stream."""
        quality = {}
        if self.in_stream:
            with open(self.tmp, "rb") as fh:
                stream = UarReader(fh)
                for k in range(self.in_stream):
                    quality[k] = self._measure(stream.read_gom(k), reader, device)
        for k in sorted(self.waiting):
            quality[k] = self._measure(self.store.load(k), reader, device)
        self._append_waiting()
        return quality

    def _measure(self, record: GomRecord, reader: VideoReader, device: torch.device) -> tuple[FrameMetrics, ...]:
        v = self.header.video
        acc = QualityAccumulator(v.color_matrix.name.lower(), v.color_range.name.lower())
        gom = self.partition.goms[record.index]
        for gop, recon in zip(gom.gops, decode_gom_clips(self.header, record, device)):
            acc.add(reader.read(gop.first_frame, gop.num_frames), recon)
        return tuple(acc.report().frames)

    def add(self, index: int, payload: bytes) -> None:
        """A GOM finished: into the stream if it is next (with any that waited on it), else
        into the store."""
        if index != self.next:
            self.store.save(index, payload)
            self.waiting.add(index)
            return
        self.writer.append_gom(_parse(payload, self.header))
        self.next += 1
        self._append_waiting()

    def _append_waiting(self) -> None:
        while self.next in self.waiting:
            self.writer.append_gom(self.store.load(self.next))
            self.store.discard(self.next)
            self.waiting.discard(self.next)
            self.next += 1

    def finish(self) -> None:
        self.writer.finish()
        self._fh.close()
        self.store.remove()

    def abandon(self) -> None:
        """After a failure or Ctrl-C: keep what finished for --resume; with nothing finished,
        leave nothing behind."""
        self._fh.close()
        if _complete_goms(self.tmp) == 0 and self.store.count() == 0:
            self.tmp.unlink(missing_ok=True)
            self.store.remove()


def _parse(payload: bytes, header: StreamHeader) -> GomRecord:
    return parse_gom(payload, 0, header)


def _report(output: Path, header: StreamHeader, partition: GopPartition, quality: dict[int, tuple[FrameMetrics, ...]],
            models: list[ModelDone], stats: list[GomStats], resumed: int, start_time: float) -> EncodeReport:
    v = header.video
    acc = QualityAccumulator(v.color_matrix.name.lower(), v.color_range.name.lower())
    for k in sorted(quality):
        acc.extend(quality[k], (v.height, v.width))
    q = acc.report()
    size = output.stat().st_size
    return EncodeReport(
        path=str(output), file_bytes=size, width=v.width, height=v.height, num_frames=v.num_frames,
        num_goms=len(partition.goms), bpp=size * 8 / (v.width * v.height * v.num_frames),
        psnr_y=q.psnr_y, psnr_u=q.psnr_u, psnr_v=q.psnr_v, psnr_yuv=q.psnr_yuv,
        psnr_rgb=q.psnr_rgb, ms_ssim=q.ms_ssim,
        encode_seconds=time.perf_counter() - start_time, peak_memory_mb=peak_rss_mb(),
        resumed_goms=resumed, models=models, goms=stats,
        worker_peak_memory_mb=max((s.peak_memory_mb for s in stats), default=0.0),
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
