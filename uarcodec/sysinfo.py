"""What the operating system tells or does for every layer: this process's peak resident memory and
atomic file replacement. Standard library only, so any package (``video/``, ``pipeline/``,
``bench/``) and the scripts under ``benchmarks/`` can use it without importing each other."""

from __future__ import annotations

import os
import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (``ru_maxrss``, which Linux gives in
    KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def temporary_path(path: str | Path) -> Path:
    """The sibling that :func:`atomic_write_bytes` writes before renaming: ``<name>.tmp``."""
    path = Path(path)
    return path.with_name(path.name + ".tmp")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: into :func:`temporary_path`, then ``os.replace``d
    over ``path``, so a reader sees the old file or the whole new one, never a part. The folder
    must exist. The temporary file is removed when writing it fails."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded (``\\n`` is written as is, on every OS)."""
    atomic_write_bytes(path, text.encode(encoding))


__all__ = ["atomic_write_bytes", "atomic_write_text", "peak_rss_mb", "temporary_path"]
