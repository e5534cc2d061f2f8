"""What the operating system tells or does for every layer: this process's peak resident memory,
atomic file replacement and the C allocator's reuse of freed memory. Standard library only, so
any package (``video/``, ``pipeline/``, ``bench/``) and the scripts under ``benchmarks/`` can
use it without importing each other."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
from pathlib import Path

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit systems
_TOP_PAD = 64 * 1024 * 1024
_TRIM_THRESHOLD = 2**31 - 1  # freed memory stays with the process


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (``ru_maxrss``, which Linux gives in
    KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def retain_freed_memory() -> bool:
    """Make the C allocator keep freed blocks of up to 32 MiB for reuse (glibc only).

    A training step allocates and frees the same few-megabyte feature maps every step. By
    default glibc maps some blocks that large fresh from the kernel and hands them back when
    freed, so a step touches their pages anew: about 1,000 (44k) to 2,800 (130k) page faults a
    bf16 step for a HiNeRV at CIF, against under 50 with this, and 3 to 6% of the step time
    here (``benchmarks/bench_models.py`` with and without ``--default-allocator``). Raising the
    allocator's mmap and trim thresholds keeps that memory in the process: the resident size
    stays at its peak, which the process reaches anyway. Process-wide and idempotent; returns
    whether it was applied (False on a C library without ``mallopt``).
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    settings = ((_M_MMAP_THRESHOLD, _MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD), (_M_TOP_PAD, _TOP_PAD))
    return all(mallopt(option, value) == 1 for option, value in settings)


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
