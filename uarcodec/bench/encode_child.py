"""The child process that encodes one uarcodec bench point.

:class:`uarcodec.bench.uar_runner.UarRunner` writes a job file (input, output, frames, device,
threads and the exact encoder settings) and runs ``python -c`` :data:`_CHILD` on it in a fresh
process, so that the point's wall time and peak RSS are those of that process alone.
:func:`encode_job` calls :func:`uarcodec.api.encode` (resuming an interrupted encode of the same
point when it can) and writes the encoder's report next to the stream.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from uarcodec.bench.settings_json import settings_from_dict
from uarcodec.errors import UarError
from uarcodec.sysinfo import atomic_write_text

_CHILD = "import sys; from uarcodec.bench.encode_child import child_main; sys.exit(child_main(sys.argv[1:]))"


def encode_command(job_file: Path) -> list[str]:
    """The command line of the child process that encodes ``job_file``."""
    return [sys.executable, "-c", _CHILD, str(job_file)]


def encode_job(job_file: Path) -> None:
    """Encode one point as a job file says; write the encoder's report next to it."""
    from uarcodec import api
    from uarcodec.pipeline.encoder import partial_path

    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    if job.get("threads"):
        import torch

        torch.set_num_threads(int(job["threads"]))
    settings = settings_from_dict(job["settings"])
    output = Path(job["output"])

    def encode(resume: bool) -> Any:
        return api.encode(job["input"], output, settings, frames=job["frames"], device=job["device"],
                          overwrite=True, resume=resume)

    report = None
    if partial_path(output).exists():  # an interrupted run of this point: keep its GOMs
        try:
            report = encode(resume=True)
        except UarError:
            partial_path(output).unlink(missing_ok=True)  # made with other settings
    if report is None:
        report = encode(resume=False)
    atomic_write_text(job["report"], json.dumps(dataclasses.asdict(report), indent=2) + "\n")


def child_main(argv: list[str]) -> int:
    """Entry point of the encode process: ``child_main([job_file])`` -> exit code."""
    if len(argv) != 1:
        sys.stderr.write("usage: child_main([JOB.json])\n")
        return 2
    try:
        encode_job(Path(argv[0]))
    except UarError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    return 0


__all__ = ["child_main", "encode_command", "encode_job"]
