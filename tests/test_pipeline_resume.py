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


def test_ctrl_c_exits_130_and_resume_finishes(sample, tmp_path, monkeypatch):
    """Ctrl-C during `uar encode` just after GOM k (raised from the encoder's GOM-done hook, with
    the CLI run in-process: no signal, no polling, the same GOM every run): exit 130, a message
    pointing at the kept partial file and --resume, and `--resume` completes it, keeping the
    GOMs already done, into the same bytes as an uninterrupted encode."""
    import dataclasses
    import json

    from click.testing import CliRunner

    import uarcodec_cli.encode_cmd as encode_cmd
    from uarcodec.bitstream import UarReader
    from uarcodec_cli.main import main

    stop_after = 1  # GOM k: GOMs 0..k are complete when Ctrl-C arrives
    real_encode = encode_cmd.encode
    goms_done: list[int] = []

    def encode_with_ctrl_c_after_gom_k(*args, events=None, **kwargs):
        events = events if events is not None else EncodeEvents()
        shown = events.on_gom_done

        def on_gom_done(gom, skipped):
            if shown is not None:
                shown(gom, skipped)
            goms_done.append(gom.index)
            if gom.index == stop_after:
                raise KeyboardInterrupt

        return real_encode(*args, events=dataclasses.replace(events, on_gom_done=on_gom_done), **kwargs)

    def uar(*args: str):
        return CliRunner().invoke(main, list(args))

    out = tmp_path / "c.uar"
    args = ["-v", "quiet", "encode", str(sample), "-p", "2", "-m", "1", "--size", "8000",
            "--epochs-i", "1", "--epochs-p", "1", "--frames", "8", "--device", "cpu"]
    with monkeypatch.context() as patch:
        patch.setattr(encode_cmd, "encode", encode_with_ctrl_c_after_gom_k)
        interrupted = uar(*args, "-o", str(out))
    assert goms_done == list(range(stop_after + 1))
    assert interrupted.exit_code == 130, interrupted.output
    partial = partial_path(out)
    said = "".join(interrupted.stderr.split())  # rich may wrap a long path across lines
    assert "".join(str(partial).split()) in said and "--resume" in said
    assert partial.exists() and not out.exists()
    with open(partial, "rb") as fh:
        assert len(UarReader(fh).index) == stop_after + 1

    done = uar(*args, "-o", str(out), "--resume", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["resumed_goms"] == stop_after + 1
    assert out.exists() and not partial.exists()
    with open(out, "rb") as fh:
        reader = UarReader(fh)
        assert not reader.recovered and len(reader.index) == 4

    uninterrupted = tmp_path / "u.uar"
    assert uar(*args, "-o", str(uninterrupted)).exit_code == 0
    assert out.read_bytes() == uninterrupted.read_bytes()
