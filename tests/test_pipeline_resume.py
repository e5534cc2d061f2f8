"""An interrupted encode leaves a resumable partial file; --resume completes it without
retraining the GOMs already done."""

from __future__ import annotations

import pytest

from conftest import tiny_settings
from uarcodec import api
from uarcodec.errors import UarFormatError, UarInputError
from uarcodec.pipeline.encoder import EncodeEvents, partial_path


class Interrupt(KeyboardInterrupt):
    pass


def test_resume_after_interrupt_completes_without_retraining(sample, tmp_path):
    out = tmp_path / "r.uar"
    settings = tiny_settings(gop_size=3, gom_size=2, epochs_i=1, epochs_p=1, model_size=8000)

    def stop_after_first_gom(gom, skipped):
        if gom.index == 0:
            raise Interrupt()

    with pytest.raises(KeyboardInterrupt):
        api.encode(sample, out, settings, frames=12, device="cpu", events=EncodeEvents(on_gom_done=stop_after_first_gom))
    assert not out.exists()
    assert partial_path(out).exists()

    trained = []
    report = api.encode(
        sample, out, settings, frames=12, device="cpu", resume=True,
        events=EncodeEvents(on_model_start=lambda gom, gop, kind, epochs: trained.append(gop.index)),
    )
    assert not partial_path(out).exists()
    assert report.resumed_goms == 1
    assert trained == [2, 3]  # GOM 0 (GOPs 0 and 1) was kept, not retrained

    uninterrupted = tmp_path / "u.uar"
    api.encode(sample, uninterrupted, settings, frames=12, device="cpu")
    assert out.read_bytes() == uninterrupted.read_bytes()  # deterministic encode: same file


def test_resume_with_other_settings_is_refused(sample, tmp_path):
    out = tmp_path / "r.uar"
    settings = tiny_settings(gop_size=3, gom_size=1, epochs_i=1, epochs_p=1, model_size=8000)

    def stop(gom, skipped):
        raise Interrupt()

    with pytest.raises(KeyboardInterrupt):
        api.encode(sample, out, settings, frames=6, device="cpu", events=EncodeEvents(on_gom_done=stop))
    other = tiny_settings(gop_size=3, gom_size=1, epochs_i=1, epochs_p=1, model_size=8000, seed=7)
    with pytest.raises(UarFormatError, match="differ"):
        api.encode(sample, out, other, frames=6, device="cpu", resume=True)
    assert partial_path(out).exists()  # the partial work is not thrown away


def test_resume_without_partial_file_is_an_input_error(sample, tmp_path):
    with pytest.raises(UarInputError, match="nothing to resume"):
        api.encode(sample, tmp_path / "x.uar", tiny_settings(), frames=4, device="cpu", resume=True)


def test_failure_before_any_gom_leaves_nothing(sample, tmp_path):
    out = tmp_path / "f.uar"

    def boom(gom, gop, kind, epochs):
        raise RuntimeError("simulated failure")

    with pytest.raises(RuntimeError):
        api.encode(sample, out, tiny_settings(), frames=4, device="cpu", events=EncodeEvents(on_model_start=boom))
    assert not out.exists() and not partial_path(out).exists()


def test_ctrl_c_exits_130_and_resume_finishes(sample, tmp_path):
    """A real SIGINT to `uar encode` after its first GOM: exit 130, a resumable partial file,
    and `--resume` completes it."""
    import signal
    import subprocess
    import sys
    import time

    from uarcodec.bitstream import UarReader

    out = tmp_path / "c.uar"
    cmd = [sys.executable, "-m", "uarcodec_cli", "-v", "quiet", "encode", str(sample), "-o", str(out),
           "-p", "2", "-m", "1", "--size", "8000", "--epochs-i", "3", "--frames", "12", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    partial = partial_path(out)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if partial.exists():
            try:
                with open(partial, "rb") as fh:
                    if len(UarReader(fh).index) >= 1:
                        break
            except Exception:
                pass
        time.sleep(0.05)
    assert proc.poll() is None, "the encode ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err
    assert partial.exists() and not out.exists()
    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert out.exists() and not partial.exists()
    with open(out, "rb") as fh:
        reader = UarReader(fh)
        assert not reader.recovered and len(reader.index) == 6
