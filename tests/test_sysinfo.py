"""Process-level helpers of ``uarcodec.sysinfo``."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys

import pytest

from uarcodec import sysinfo


def _has_mallopt() -> bool:
    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallopt")
    except (OSError, TypeError):
        return False


@pytest.mark.skipif(not _has_mallopt(), reason="this C library has no mallopt (not glibc)")
def test_freed_feature_maps_are_reused_without_new_page_faults():
    """After retain_freed_memory, steps that allocate a few 8 MiB maps and free them all (as
    training steps do) stop taking page faults for them; run in a fresh process so the
    allocator starts from its defaults."""
    script = """
import resource, sys
import numpy as np
from uarcodec.sysinfo import retain_freed_memory
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def churn():
    before = faults()
    for _ in range(10):  # a step: a few maps alive together, then all freed
        maps = [np.ones(2 * 1024 * 1024, dtype=np.float32) for _ in range(5)]
        del maps
    return faults() - before
churn()
default = churn()
assert retain_freed_memory() is True
churn()
print(default, churn())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    default, retained = map(int, out.stdout.split())
    assert default >= 10 * 1000  # glibc hands pages back and faults them in again each step
    assert retained < 500


def test_retain_freed_memory_is_a_no_op_without_mallopt(monkeypatch):
    def no_libc(name):
        raise OSError("no C library here")

    monkeypatch.setattr(sysinfo.ctypes, "CDLL", no_libc)
    assert sysinfo.retain_freed_memory() is False
