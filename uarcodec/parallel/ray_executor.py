"""GOM jobs as Ray tasks (``uarcodec[ray]``, ``ray>=2.60,<3``).

The executor joins a running cluster (``ray_address``, else ``RAY_ADDRESS``), reuses a Ray
already started in this process, or starts a local one without dashboard and with usage stats
off. Each GOM is one task asking for ``threads`` CPUs, the GPUs given and the memory its
p-bounded peak needs; Ray's own retries are off so that every retry of a GOM whose worker died
is the driver's, and is logged. Progress comes back through a Ray queue actor.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from uarcodec.errors import UarSettingsError
from uarcodec.parallel.executors import GomExecutor, JobDied, JobFinished, JobOutcome
from uarcodec.parallel.gom_job import EventSink, GomJob, GomResult, ThrottledSink, run_gom_job

RAY_REQUIREMENT = "ray>=2.60,<3"
POLL_SECONDS = 0.2


def import_ray() -> Any:
    """The ``ray`` module, or a one-line UarSettingsError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UarSettingsError(
            f"the Ray executor needs the ray package: pip install 'uarcodec[ray]' (or '{RAY_REQUIREMENT}')"
        ) from None
    return ray


def install_interrupt_handler() -> None:
    """Ctrl-C raises KeyboardInterrupt in the driver again (``ray.init`` installs its own
    handlers): called after Ray has started."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


class RayExecutor(GomExecutor):
    """GOM jobs as Ray tasks; see the module docstring."""

    def __init__(self, sink: EventSink, *, threads: int, gpus: float, memory_bytes: int,
                 address: str | None, workers: int | None):
        ray = self._ray = import_ray()
        self._started_here = _ensure_ray(ray, address)
        install_interrupt_handler()
        self._sink = sink
        from ray.util.queue import Queue

        self._events = Queue(actor_options={"num_cpus": 0})
        options: dict[str, Any] = {"num_cpus": threads, "max_retries": 0, "retry_exceptions": False}
        if gpus:
            options["num_gpus"] = gpus
        if memory_bytes:
            options["memory"] = memory_bytes
        self._task = ray.remote(_ray_gom_task).options(**options)
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        self.capacity = workers or max(1, cluster_cpus // max(1, threads))
        self._in_flight: dict[Any, GomJob] = {}

    def submit(self, job: GomJob) -> None:
        self._in_flight[self._task.remote(job, self._events)] = job

    def next_outcome(self) -> JobOutcome:
        ray = self._ray
        while True:
            self._drain_events()
            ready, _ = ray.wait(list(self._in_flight), num_returns=1, timeout=POLL_SECONDS)
            if ready:
                self._drain_events()
                return self._outcome(ready[0])

    def _outcome(self, ref: Any) -> JobOutcome:
        ray = self._ray
        job = self._in_flight.pop(ref)
        try:
            result: GomResult = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the job raised: its own error, as if local
            cause = getattr(exc, "cause", None)
            raise (cause if isinstance(cause, Exception) else exc) from None
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.OutOfMemoryError, ray.exceptions.ObjectLostError,
                ray.exceptions.LocalRayletDiedError) as exc:
            return JobDied(job, f"Ray lost its worker ({type(exc).__name__})")
        return JobFinished(job, result)

    def _drain_events(self) -> None:
        while not self._events.empty():
            for event in self._events.get_nowait_batch(self._events.qsize()):
                self._sink(event)

    def cancel(self) -> None:
        for ref in self._in_flight:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # already finished or gone: nothing to cancel
                pass
        self._in_flight.clear()

    def close(self) -> None:
        try:
            self._events.shutdown()
        except Exception:  # the actor may be gone with a failed cluster
            pass
        if self._started_here:
            self._ray.shutdown()


def _ensure_ray(ray: Any, address: str | None) -> bool:
    """Connect to Ray; True when this call started a local instance (to shut down after)."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
            return False
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise UarSettingsError(f"could not start or join {where}: {exc}") from None
    return True


def _ray_gom_task(job: GomJob, events: Any) -> GomResult:
    """The Ray task: one GOM job, its progress put on the queue actor (never blocking on it)."""

    def put(event: Any) -> None:
        try:
            events.put_nowait(event)
        except Exception:  # a full or gone queue costs a progress line, never the GOM
            pass

    return run_gom_job(job, ThrottledSink(put, interval=1.0))
