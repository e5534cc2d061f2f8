"""Executors run :class:`~uarcodec.parallel.gom_job.GomJob` values and hand back their outcomes
in completion order, behind one small interface (:class:`GomExecutor`):

- :class:`SerialExecutor`: in this process, one job at a time (the default);
- :class:`ProcessExecutor`: a local pool of spawned worker processes (never forked), each with
  its own torch thread count; a worker that dies is noticed at once and replaced;
- ``RayExecutor`` (:mod:`uarcodec.parallel.ray_executor`): tasks on a Ray cluster.

:func:`run_jobs` drives any of them: it keeps at most ``capacity`` jobs in flight, retries a job
whose worker died (up to ``max_retries`` times) and yields results as they finish.
"""

from __future__ import annotations

import abc
import dataclasses
import multiprocessing
import os
import signal
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from uarcodec.errors import UarSettingsError, UarWorkerError
from uarcodec.parallel.gom_job import EventSink, GomJob, GomResult, ThrottledSink, run_gom_job
from uarcodec.settings import parse_choice
from uarcodec.video import VideoReader
from uarcodec.vocabulary import ChoiceEnum


class ExecutorKind(ChoiceEnum):
    SERIAL = "serial"
    PROCESS = "process"
    RAY = "ray"


@dataclass(frozen=True)
class ParallelSettings:
    """How GOMs are spread: the executor, how many jobs run at once (``workers``; for Ray the
    default is the cluster's CPUs over ``threads_per_worker``), torch threads per job, the Ray
    cluster to join and the GPUs each GOM asks for, and how often a GOM whose worker died is
    retried. None of it changes the bytes written."""

    executor: ExecutorKind = ExecutorKind.SERIAL
    workers: int | None = None
    threads_per_worker: int | None = None
    ray_address: str | None = None
    gpus_per_gom: float = 0.0
    max_retries: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "executor", parse_choice(ExecutorKind, self.executor, "executor"))

    def validate(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise UarSettingsError(f"workers must be at least 1, got {self.workers}")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise UarSettingsError(f"threads per worker must be at least 1, got {self.threads_per_worker}")
        if self.max_retries < 0:
            raise UarSettingsError(f"max retries must be at least 0, got {self.max_retries}")
        if self.gpus_per_gom < 0:
            raise UarSettingsError(f"GPUs per GOM must be at least 0, got {self.gpus_per_gom}")
        if self.gpus_per_gom and self.executor != ExecutorKind.RAY:
            raise UarSettingsError("GPUs per GOM are a Ray resource request: use it with the Ray executor")
        if self.ray_address and self.executor != ExecutorKind.RAY:
            raise UarSettingsError("a Ray address needs the Ray executor")

    def worker_threads(self) -> int:
        """Torch threads per job in a worker: as given, else the cores shared among the workers."""
        if self.threads_per_worker is not None:
            return self.threads_per_worker
        return cores_per_worker(self.workers or 1)


def cores_per_worker(workers: int) -> int:
    """This machine's cores shared among ``workers`` processes (at least one each)."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


@dataclass(frozen=True)
class JobFinished:
    job: GomJob
    result: GomResult


@dataclass(frozen=True)
class JobDied:
    """The process (or node) running ``job`` went away without an answer."""

    job: GomJob
    reason: str


JobOutcome = JobFinished | JobDied


class GomExecutor(abc.ABC):
    """Runs jobs; ``next_outcome`` blocks until one of those submitted finishes or dies, and
    passes their progress events to the sink given at creation meanwhile. A job that raises
    re-raises its error from ``next_outcome``."""

    capacity: int  # jobs worth keeping in flight

    @abc.abstractmethod
    def submit(self, job: GomJob) -> None: ...

    @abc.abstractmethod
    def next_outcome(self) -> JobOutcome: ...

    @abc.abstractmethod
    def cancel(self) -> None:
        """Drop every job in flight at once (Ctrl-C, a failure): their work is lost."""

    def close(self) -> None:
        """Release the workers (after the last outcome or a cancel)."""

    def __enter__(self) -> "GomExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(GomExecutor):
    """Runs each job in this process when its outcome is asked for, in submission order,
    reading frames through ``reader`` (already open) when given."""

    capacity = 1

    def __init__(self, sink: EventSink, reader: VideoReader | None = None):
        self._sink = sink
        self._reader = reader
        self._queue: deque[GomJob] = deque()

    def submit(self, job: GomJob) -> None:
        self._queue.append(job)

    def next_outcome(self) -> JobOutcome:
        job = self._queue.popleft()
        return JobFinished(job, run_gom_job(job, self._sink, self._reader))

    def cancel(self) -> None:
        self._queue.clear()


class ProcessExecutor(GomExecutor):
    """A local pool of ``workers`` spawned processes, each holding one job at a time over its
    own pipe. A worker that exits without an answer is reported as :class:`JobDied` (its
    sentinel fires) and replaced on the next submit; SIGINT is ignored in the workers, so
    Ctrl-C reaches only this process, which then terminates them."""

    def __init__(self, workers: int, threads: int, sink: EventSink):
        self.capacity = workers
        self._threads = threads
        self._sink = sink
        self._context = multiprocessing.get_context("spawn")
        self._slots: list[_WorkerSlot | None] = [None] * workers

    def submit(self, job: GomJob) -> None:
        """Give ``job`` to a free worker, starting one where a slot is empty or its worker
        exited idle. A slot whose worker died holding a job stays as it is until
        :meth:`next_outcome` reports that job as :class:`JobDied`: replacing it here would
        lose the job."""
        for i, slot in enumerate(self._slots):
            if slot is not None and slot.job is not None:
                continue
            if slot is None or not slot.process.is_alive():
                if slot is not None:
                    slot.stop(terminate=True)
                self._slots[i] = slot = _WorkerSlot.start(self._context, self._threads)
            slot.give(job)
            return
        raise UarSettingsError("every worker is busy: wait for an outcome before submitting")

    def next_outcome(self) -> JobOutcome:
        busy = [s for s in self._slots if s is not None and s.job is not None]
        if not busy:
            raise UarSettingsError("no job is in flight")
        while True:
            ready = set(wait([s.conn for s in busy] + [s.process.sentinel for s in busy]))
            for slot in busy:
                if slot.conn in ready:
                    outcome = slot.receive(self._sink)
                    if outcome is not None:
                        return outcome
                elif slot.process.sentinel in ready:
                    return slot.died()

    def cancel(self) -> None:
        for slot in self._slots:
            if slot is not None:
                slot.stop(terminate=True)
        self._slots = [None] * len(self._slots)

    def close(self) -> None:
        for slot in self._slots:
            if slot is not None:
                slot.stop(terminate=slot.job is not None)
        self._slots = [None] * len(self._slots)


@dataclass
class _WorkerSlot:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    job: GomJob | None = None

    @classmethod
    def start(cls, context, threads: int) -> "_WorkerSlot":
        here, there = context.Pipe(duplex=True)
        process = context.Process(target=_worker_main, args=(there, threads), daemon=True,
                                  name="uar-gom-worker")
        process.start()
        there.close()
        return cls(process, here)

    def give(self, job: GomJob) -> None:
        """Send ``job`` to the worker; if it has just died, the job stays here and its death
        is reported by the sentinel like any other."""
        self.job = job
        try:
            self.conn.send(job)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def receive(self, sink: EventSink) -> JobOutcome | None:
        """One message from the worker: an event (passed on; None returned) or the outcome."""
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            return self.died()
        if kind == "event":
            sink(value)
            return None
        job, self.job = self.job, None
        if kind == "error":
            raise value
        return JobFinished(job, value)

    def died(self) -> JobDied:
        self.process.join(timeout=5)
        job, self.job = self.job, None
        return JobDied(job, f"worker process exited with code {self.process.exitcode}")

    def stop(self, terminate: bool) -> None:
        try:
            if terminate:
                self.process.terminate()
            else:
                self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def _worker_main(conn: Connection, threads: int) -> None:
    """A pool worker: runs the jobs it is sent, one at a time, until it is sent None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)
    sink = ThrottledSink(lambda event: conn.send(("event", event)))
    while (job := conn.recv()) is not None:
        try:
            conn.send(("done", run_gom_job(job, sink)))
        except Exception as exc:  # the driver re-raises it; a bare message if it cannot travel
            conn.send(("error", _portable(exc)))


def _portable(exc: Exception) -> Exception:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")


RetryCallback = Callable[[GomJob, str], None]  # (job about to be retried, why the last try died)


def run_jobs(
    executor: GomExecutor, jobs: Iterable[GomJob], max_retries: int, on_retry: RetryCallback | None = None,
) -> Iterator[GomResult]:
    """Results of ``jobs`` in completion order, at most ``executor.capacity`` in flight,
    submitted in the order given. A job whose worker died is retried first thing, with its
    attempt count raised, up to ``max_retries`` times; then :class:`UarWorkerError`."""
    pending = deque(jobs)
    in_flight = 0
    while pending or in_flight:
        while pending and in_flight < executor.capacity:
            executor.submit(pending.popleft())
            in_flight += 1
        outcome = executor.next_outcome()
        in_flight -= 1
        if isinstance(outcome, JobFinished):
            yield outcome.result
            continue
        job = outcome.job
        if job.attempt > max_retries:
            raise UarWorkerError(
                f"GOM {job.gom.index} (frames {job.gom.first_frame}..{job.gom.stop - 1}) failed: "
                f"{outcome.reason} on attempt {job.attempt}, and no retry is left (max retries {max_retries})"
            )
        if on_retry:
            on_retry(job, outcome.reason)
        pending.appendleft(dataclasses.replace(job, attempt=job.attempt + 1))
