"""GOM-parallel encoding: whatever runs the GOMs (this process, a local process pool, Ray), the
file is byte-identical; a GOM whose worker dies is retried; GOMs that finish early wait their
turn; an interrupted encode resumes without refitting any GOM that finished.

Four GOMs of two frames of the bundled sample, one torch thread per GOM job."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import tiny_settings
from uarcodec import api
from uarcodec.errors import UarWorkerError
from uarcodec.parallel.executors import JobDied, JobFinished, ProcessExecutor, SerialExecutor, run_jobs
from uarcodec.parallel.gom_job import GomJob, JobFaults, run_gom_job
from uarcodec.pipeline import encoder
from uarcodec.pipeline.encoder import EncodeEvents, partial_path
from uarcodec.pipeline.partition import GopPartition
from uarcodec_cli.main import main

ENCODE = ["-v", "quiet", "encode", "-p", "2", "-m", "1", "--size", "8000", "--epochs-i", "1", "--epochs-p", "1",
          "--frames", "8", "--device", "cpu"]


def uar(sample: Path, out: Path, *extra: str):
    return CliRunner().invoke(main, [*ENCODE, str(sample), "-o", str(out), *extra])


@pytest.fixture(scope="module")
def serial_bytes(tmp_path_factory) -> bytes:
    from conftest import SAMPLE

    out = tmp_path_factory.mktemp("serial") / "serial.uar"
    result = uar(SAMPLE, out)
    assert result.exit_code == 0, result.output
    return out.read_bytes()


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray for the test session (2 CPUs, no dashboard, no usage stats)."""
    import os

    ray = pytest.importorskip("ray", reason="the Ray executor needs the ray extra: pip install -e '.[ray]'")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def decodes(path: Path, tmp_path: Path) -> bool:
    y4m = tmp_path / "d.y4m"
    api.decode(path, str(y4m), device="cpu", overwrite=True)
    return y4m.stat().st_size > 0 and not api.stream_info(path)["index_recovered"]


def test_process_pool_writes_the_serial_file(sample, tmp_path, serial_bytes):
    out = tmp_path / "pool.uar"
    result = uar(sample, out, "--workers", "2", "--threads-per-worker", "1", "--json")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == serial_bytes
    assert decodes(out, tmp_path)


def test_ray_writes_the_serial_file(sample, tmp_path, serial_bytes, local_ray):
    out = tmp_path / "ray.uar"
    result = uar(sample, out, "--executor", "ray", "--threads-per-worker", "1")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == serial_bytes
    assert decodes(out, tmp_path)


def test_a_gom_whose_ray_worker_dies_is_retried_and_logged(sample, tmp_path, serial_bytes, monkeypatch, local_ray):
    monkeypatch.setenv("UAR_TEST_CRASH_GOM", "1")  # GOM 1's worker exits abruptly on its first attempt
    out = tmp_path / "retried.uar"
    result = CliRunner().invoke(main, [*ENCODE[2:], str(sample), "-o", str(out), "--executor", "ray",
                                       "--threads-per-worker", "1"])
    assert result.exit_code == 0, result.output
    assert "GOM 1: Ray lost its worker (WorkerCrashedError); retrying (attempt 2)" in " ".join(result.stderr.split())
    assert out.read_bytes() == serial_bytes


def test_a_gom_whose_pool_worker_dies_is_retried(sample, tmp_path, monkeypatch):
    monkeypatch.setenv("UAR_TEST_CRASH_GOM", "2")
    settings = tiny_settings(gop_size=2, gom_size=1, epochs_i=1, epochs_p=1, model_size=8000)
    retries = []
    report = api.encode(
        sample, tmp_path / "r.uar", settings, frames=8, device="cpu",
        events=EncodeEvents(on_retry=lambda gom, attempt, why: retries.append((gom.index, attempt, why))),
        parallel=api.ParallelSettings("process", workers=2, threads_per_worker=1),
    )
    assert retries == [(2, 2, "worker process exited with code 86")]
    assert [s.attempts for s in report.goms] == [1, 1, 2, 1]
    api.encode(sample, tmp_path / "s.uar", settings, frames=8, device="cpu")
    assert (tmp_path / "r.uar").read_bytes() == (tmp_path / "s.uar").read_bytes()


def test_no_retry_left_fails_in_one_line_and_resumes(sample, tmp_path, serial_bytes, monkeypatch):
    monkeypatch.setenv("UAR_TEST_CRASH_GOM", "2")
    out = tmp_path / "failed.uar"
    failed = uar(sample, out, "--workers", "2", "--threads-per-worker", "1", "--max-retries", "0")
    assert failed.exit_code == 1
    error = [line for line in failed.stderr.splitlines() if line.startswith("uar: error:")]
    assert len(error) == 1 and "GOM 2" in error[0] and "no retry is left" in error[0]
    assert not out.exists() and partial_path(out).exists()

    monkeypatch.delenv("UAR_TEST_CRASH_GOM")
    done = uar(sample, out, "--resume")
    assert done.exit_code == 0, done.output
    assert out.read_bytes() == serial_bytes


def test_a_slow_first_gom_still_gives_an_ordered_file(sample, tmp_path, serial_bytes, monkeypatch):
    monkeypatch.setenv("UAR_TEST_DELAY_GOM", "0:2")  # GOM 0 starts 2 s late: later GOMs finish first
    out = tmp_path / "slow.uar"
    result = uar(sample, out, "--workers", "2", "--threads-per-worker", "1")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == serial_bytes
    assert not partial_path(out).exists()
    assert not (tmp_path / "slow.uar.partial.goms").exists()  # the waiting room is cleaned up


class ReversedExecutor(SerialExecutor):
    """Takes every job at once and finishes them last-submitted first (in this process)."""

    capacity = 4

    def next_outcome(self):
        job = self._queue.pop()
        return JobFinished(job, run_gom_job(job, self._sink, self._reader))


def test_resume_after_goms_finished_out_of_order_refits_only_the_missing(sample, tmp_path, monkeypatch):
    out = tmp_path / "ooo.uar"
    settings = tiny_settings(gop_size=2, gom_size=1, epochs_i=1, epochs_p=1, model_size=8000)
    with monkeypatch.context() as patch:
        patch.setattr(encoder, "_executor", lambda parallel, sink, reader, header: ReversedExecutor(sink, reader))
        finished = []

        def interrupt_after_two(gom, kept):
            finished.append(gom.index)
            if len(finished) == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            api.encode(sample, out, settings, frames=8, device="cpu",
                       events=EncodeEvents(on_gom_done=interrupt_after_two))
    assert finished == [3, 2]
    assert sorted(p.name for p in (tmp_path / "ooo.uar.partial.goms").glob("gom-*")) == [
        "gom-000002.bin", "gom-000003.bin"]

    fitted, kept = [], []
    resumed = api.encode(
        sample, out, settings, frames=8, device="cpu", resume=True,
        events=EncodeEvents(on_model_start=lambda gom, gop, kind, epochs: fitted.append(gom.index),
                            on_gom_done=lambda gom, was_kept: was_kept and kept.append(gom.index)),
    )
    assert fitted == [0, 1] and kept == [2, 3] and resumed.resumed_goms == 2
    assert not (tmp_path / "ooo.uar.partial.goms").exists()
    uninterrupted = api.encode(sample, tmp_path / "u.uar", settings, frames=8, device="cpu")
    assert out.read_bytes() == (tmp_path / "u.uar").read_bytes()
    assert resumed.psnr_yuv == pytest.approx(uninterrupted.psnr_yuv)  # kept GOMs are measured too


def test_run_jobs_retries_a_dead_worker_then_gives_up():
    class DiesOnce(SerialExecutor):
        def next_outcome(self):
            job = self._queue.popleft()
            return JobDied(job, "killed") if job.attempt == 1 else JobFinished(job, job.gom.index)

    header_free = [GomJob(None, None, None, gom) for gom in GopPartition(4, 1, 1).goms]
    retried = []
    results = list(run_jobs(DiesOnce(lambda e: None), header_free, 1, lambda job, why: retried.append(job.gom.index)))
    assert results == [0, 1, 2, 3] and retried == [0, 1, 2, 3]
    with pytest.raises(UarWorkerError, match="no retry is left"):
        list(run_jobs(DiesOnce(lambda e: None), header_free, 0))


def test_a_pool_worker_that_died_holding_a_job_is_not_reused_before_its_death_is_reported():
    """A worker dies with its GOM while the driver is busy elsewhere (another GOM finished
    first); the next submit must go to another worker, and the dead one's GOM must come back
    as died, so it is retried and not lost."""
    crashes = JobFaults(crash_on_first_attempt=True)
    first, second = (GomJob(None, None, None, gom, faults=crashes) for gom in GopPartition(2, 1, 1).goms)
    with ProcessExecutor(workers=2, threads=1, sink=lambda event: None) as pool:
        pool.submit(first)
        pool._slots[0].process.join(timeout=120)  # its worker is gone, its death not yet seen
        assert pool._slots[0].process.exitcode == 86
        pool.submit(second)
        outcomes = [pool.next_outcome(), pool.next_outcome()]
    assert all(isinstance(o, JobDied) for o in outcomes)
    assert sorted(o.job.gom.index for o in outcomes) == [0, 1]


def test_missing_ray_is_a_one_line_error(sample, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if not installed
    result = uar(sample, tmp_path / "x.uar", "--executor", "ray")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "uar: error: the Ray executor needs the ray package: pip install 'uarcodec[ray]' (or 'ray>=2.60,<3')"]
    assert not (tmp_path / "x.uar.partial").exists()


def test_parallel_options_are_checked_before_any_work(sample, tmp_path):
    result = uar(sample, tmp_path / "x.uar", "--gpus-per-gom", "0.5")
    assert result.exit_code == 2 and "Ray executor" in result.stderr
