"""The ffmpeg binary of imageio-ffmpeg: encoders it has, measured runs, raw yuv420p frames."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Sequence

import numpy as np

from uarcodec.errors import UarInputError

YuvChunk = tuple[np.ndarray, np.ndarray, np.ndarray]


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise UarInputError("imageio-ffmpeg is not installed: pip install imageio-ffmpeg") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.lru_cache(maxsize=None)
def available_encoders() -> frozenset[str]:
    """Names of the video encoders this ffmpeg was built with (libx264, libx265, ...)."""
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True, check=False
    ).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("V"):
            names.add(parts[1])
    return frozenset(names)


@functools.lru_cache(maxsize=None)
def ffmpeg_version() -> str:
    """The first line of ``ffmpeg -version``."""
    out = subprocess.run(
        [ffmpeg_exe(), "-version"], capture_output=True, text=True, check=False
    ).stdout
    return out.splitlines()[0].strip() if out else "unknown"


@dataclass(frozen=True)
class ProcessRun:
    """Wall time and peak resident memory of one finished child process."""

    seconds: float
    peak_memory_mb: float


# A minimal launcher process: it forks and execs the command and reports the child's own
# peak RSS. Measuring from here directly would be wrong: a child spawned by this (large)
# Python process inherits its peak RSS across exec in ru_maxrss. On Linux the launcher and the
# command are tied to their parents (PR_SET_PDEATHSIG), so killing a bench also stops the
# encode it was measuring instead of leaving it running.
_LAUNCHER = """
import os, sys

def die_with_parent(parent):
    try:
        import ctypes, signal
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        return
    if os.getppid() != parent:
        os._exit(143)

die_with_parent(int(sys.argv[1]))
launcher = os.getpid()
pid = os.fork()
if pid == 0:
    try:
        die_with_parent(launcher)
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
sys.stderr.write("\\n@@maxrss_kib %d\\n" % usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""
_MAXRSS_TAG = "@@maxrss_kib "


def run_measured(args: Sequence[str], what: str) -> ProcessRun:
    """Run a command to completion: its wall time and its own peak resident memory.

    The peak comes from ``wait4`` in a small launcher process (its own ~8 MB is a floor).
    Raises UarInputError with the tail of stderr when the command fails.
    """
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(os.getpid()), *args]
    start = time.perf_counter()
    proc = subprocess.run(launcher, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - start
    lines = proc.stderr.decode(errors="replace").splitlines()
    peaks = [line for line in lines if line.startswith(_MAXRSS_TAG)]
    if proc.returncode != 0 or not peaks:
        tail = [line for line in lines if line.strip() and not line.startswith(_MAXRSS_TAG)]
        raise UarInputError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail[-5:])}")
    return ProcessRun(seconds, int(peaks[-1][len(_MAXRSS_TAG):]) / 1024.0)


@dataclass(frozen=True)
class VideoProbe:
    """Size, rate and frame count of a video file."""

    width: int
    height: int
    fps: float
    frames: int


def probe_video(path: Path) -> VideoProbe:
    """Probe a .y4m from its header, anything else by decoding it once with ffmpeg."""
    path = Path(path)
    if not path.is_file():
        raise UarInputError(f"no such video file: {path}")
    if path.suffix.lower() == ".y4m":
        return _probe_y4m(path)
    return _probe_with_ffmpeg(path)


def _probe_y4m(path: Path) -> VideoProbe:
    with open(path, "rb") as f:
        header = f.readline(4096)
    if not header.startswith(b"YUV4MPEG2 ") or not header.endswith(b"\n"):
        raise UarInputError(f"{path}: not a YUV4MPEG2 file")
    tags = {t[:1]: t[1:] for t in header.decode("ascii", errors="replace").split()[1:]}
    try:
        width, height = int(tags["W"]), int(tags["H"])
        num, den = (int(x) for x in tags.get("F", "25:1").split(":"))
    except (KeyError, ValueError) as exc:
        raise UarInputError(f"{path}: bad y4m header {header[:80]!r}") from exc
    colour = tags.get("C", "420")
    if not colour.startswith("420") or colour.startswith("420p1"):
        raise UarInputError(f"{path}: only 8-bit 4:2:0 y4m is supported, got C{colour}")
    per_frame = 6 + frame_bytes(width, height)
    frames = (path.stat().st_size - len(header)) // per_frame
    return VideoProbe(width, height, num / den, frames)


def _probe_with_ffmpeg(path: Path) -> VideoProbe:
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
         "-f", "null", "-"],
        capture_output=True, text=True, check=False,
    )
    err = proc.stderr
    size = re.search(r"Video: .*?(\d{2,5})x(\d{2,5})", err)
    fps = re.search(r"([\d.]+) fps", err)
    frames = re.findall(r"frame=\s*(\d+)", err)
    if proc.returncode != 0 or not size or not frames:
        raise UarInputError(f"{path}: ffmpeg cannot read it as video")
    return VideoProbe(int(size.group(1)), int(size.group(2)),
                      float(fps.group(1)) if fps else 25.0, int(frames[-1]))


def frame_bytes(width: int, height: int) -> int:
    """Bytes of one 8-bit 4:2:0 frame."""
    return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)


def split_yuv420p(buf: bytes, width: int, height: int) -> YuvChunk:
    """Planes (y, u, v) of consecutive raw yuv420p frames in ``buf``."""
    cw, ch = (width + 1) // 2, (height + 1) // 2
    size = frame_bytes(width, height)
    n = len(buf) // size
    frames = np.frombuffer(buf, np.uint8, n * size).reshape(n, size)
    y = frames[:, : width * height].reshape(n, height, width)
    u = frames[:, width * height : width * height + cw * ch].reshape(n, ch, cw)
    v = frames[:, width * height + cw * ch :].reshape(n, ch, cw)
    return y, u, v


def _read_chunks(stream: IO[bytes], width: int, height: int, chunk: int) -> Iterator[YuvChunk]:
    size = frame_bytes(width, height)
    while True:
        buf = stream.read(size * chunk)
        if not buf:
            return
        if len(buf) % size:
            raise UarInputError("raw video ends with a partial frame")
        yield split_yuv420p(buf, width, height)


def read_raw_yuv(path: Path, width: int, height: int, chunk: int = 30) -> Iterator[YuvChunk]:
    """Chunks of frames of a raw yuv420p file."""
    with open(path, "rb") as f:
        yield from _read_chunks(f, width, height, chunk)


def decode_yuv420p(
    src: Path, width: int, height: int, frames: int | None = None, chunk: int = 30
) -> Iterator[YuvChunk]:
    """Decode any video ffmpeg reads to 8-bit yuv420p chunks, streamed through a pipe."""
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(src)]
    if frames is not None:
        args += ["-frames:v", str(frames)]
    args += ["-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        yield from _read_chunks(proc.stdout, width, height, chunk)
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        code = proc.wait()
    if code != 0:
        raise UarInputError(f"ffmpeg could not decode {src}: {err.strip()[-300:]}")


def decode_to_raw_file(src: Path, dst: Path, frames: int | None = None) -> ProcessRun:
    """Decode ``src`` to a raw yuv420p file, timed (the decode speed of the bench)."""
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(src)]
    if frames is not None:
        args += ["-frames:v", str(frames)]
    args += ["-f", "rawvideo", "-pix_fmt", "yuv420p", str(dst)]
    return run_measured(args, f"decoding {src.name}")
