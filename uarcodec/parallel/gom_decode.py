"""Decoding GOMs in a local process pool (``uar decode --workers N``).

Only plain values cross the process boundary: a worker gets the stream's path, a GOM number,
the wanted frame range and a device name, opens the stream itself and returns the decoded
frames as a :class:`YuvClip` (numpy planes). The main process gets them back in order.

Workers are spawned (never forked), so a script calling this needs the usual
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import torch

from uarcodec.bitstream import UarReader
from uarcodec.errors import UarFormatError, UarWorkerError
from uarcodec.pipeline.decoder import GomOutcome, GomPart, decode_gom_part
from uarcodec.video.frames import YuvClip


def init_worker(threads: int) -> None:
    """Each worker: ``threads`` torch threads, and Ctrl-C left to the main process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


def decode_gom(path: str, index: int, start: int, stop: int, device: str) -> YuvClip:
    """Frames ``start .. stop - 1`` (all in GOM ``index``) of the stream at ``path``.
    UarFormatError when the GOM is missing or damaged."""
    with open(path, "rb") as fh:
        reader = UarReader(fh)
        return decode_gom_part(reader, GomPart(index, start, stop - start), torch.device(device))


def parallel_outcomes(
    path: str, parts: list[GomPart], device: str, workers: int, threads: int
) -> Iterator[GomOutcome]:
    """Decode the parts in ``workers`` spawned processes and yield them in order. At most
    ``workers + 1`` parts are in flight or held (the one yielded included). Closing the
    generator early (an error, Ctrl-C) cancels what is pending and terminates the workers."""
    pool = ProcessPoolExecutor(
        min(workers, len(parts)), mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker, initargs=(threads,),
    )
    todo = iter(parts)
    pending: deque[tuple[GomPart, Future[YuvClip]]] = deque()
    try:
        _submit(pool, pending, todo, path, device, workers + 1)
        while pending:
            part, future = pending.popleft()
            result = _result(future)
            del future  # it holds the frames too
            yield part, result
            del result
            _submit(pool, pending, todo, path, device, workers + 1)
    except BaseException:
        _abandon(pool, pending)
        raise
    pool.shutdown(wait=True)


def _submit(
    pool: ProcessPoolExecutor, pending: deque[tuple[GomPart, Future[YuvClip]]], todo: Iterator[GomPart],
    path: str, device: str, limit: int,
) -> None:
    while len(pending) < limit and (part := next(todo, None)) is not None:
        pending.append((part, pool.submit(decode_gom, path, part.index, part.first_frame, part.stop, device)))


def _result(future: Future[YuvClip]) -> YuvClip | UarFormatError:
    try:
        return future.result()
    except UarFormatError as exc:
        return exc
    except BrokenProcessPool as exc:
        raise UarWorkerError(f"a decode worker process died ({exc})") from exc


def _abandon(pool: ProcessPoolExecutor, pending: deque[tuple[GomPart, Future[YuvClip]]]) -> None:
    """Cancel the pending parts and terminate the workers (running ones included)."""
    for _, future in pending:
        future.cancel()
    processes = list((getattr(pool, "_processes", None) or {}).values())
    results = getattr(pool, "_result_queue", None)  # shutdown() drops the pool's reference
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)
    if not any(process.is_alive() for process in processes):
        _close_write_end(results)


def _close_write_end(results: object) -> None:
    """Close this process's write end of the pool's result pipe once every worker is gone. A
    worker terminated while it sent a result (frames: megabytes) leaves part of it in the pipe,
    and the pool's manager thread blocks reading the rest; the interpreter joins that thread at
    exit, so the process would never end. With no writer left the read ends (EOF), the thread
    takes the pool as broken and ends. (``_result_queue`` and its ``_writer`` are CPython's own
    attributes, read on 3.11; where they are absent nothing is closed.)"""
    writer = getattr(results, "_writer", None)
    if writer is not None:
        writer.close()
