"""The bench runner: codecs x clips x rate points, cached as one results JSON per file.

A codec plugs in through :class:`CodecRunner`. ``run_point`` encodes and decodes one point and
returns its :class:`PointResult`; :func:`measure_decoded` does the shared part (quality of the
decoded frames against the reference, bpp and kbps from the real file size) so every codec is
measured the same way.

Cache: ``OUT/<codec>__<clip>__gop<G>.json`` holds the finished points. A point whose label is
already in a file with the same codec settings, clip and measurement is not run again; a file
whose settings differ is replaced.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

from uarcodec.bench.ffmpeg import YuvChunk, decode_yuv420p, probe_video, read_raw_yuv
from uarcodec.bench.results import ClipInfo, CodecResults, PointResult
from uarcodec.errors import UarInputError
from uarcodec.metrics import (
    PSNR_CAP_DB, Matrix, QualityAccumulator, QualityReport, Range, bits_per_pixel,
    kilobits_per_second, ms_ssim_method,
)


@dataclass(frozen=True)
class ClipSpec:
    """A test clip: its file, the first ``frames`` frames (all when None), its colour space.

    ``name`` defaults to the file stem, with ``_first<N>`` appended when ``frames`` is given.
    ``matrix`` and ``range_`` say how its YUV maps to RGB for PSNR-RGB and MS-SSIM.
    """

    path: Path
    frames: int | None = None
    name: str | None = None
    matrix: Matrix = "bt601"
    range_: Range = "limited"

    @property
    def clip_name(self) -> str:
        if self.name:
            return self.name
        stem = Path(self.path).stem
        return stem if self.frames is None else f"{stem}_first{self.frames}"

    def info(self) -> ClipInfo:
        """Size, fps and the number of frames that will be coded."""
        probe = probe_video(Path(self.path))
        frames = probe.frames if self.frames is None else min(self.frames, probe.frames)
        if frames <= 0:
            raise UarInputError(f"{self.path}: no frames to code")
        return ClipInfo(self.clip_name, probe.width, probe.height, frames, probe.fps)

    def measurement(self, info: ClipInfo) -> dict[str, Any]:
        """How quality is measured on this clip (stored in every results file)."""
        return {
            "rgb_matrix": self.matrix,
            "rgb_range": self.range_,
            "ms_ssim_method": ms_ssim_method(info.height, info.width),
            "psnr_cap_db": PSNR_CAP_DB,
        }


class CodecRunner(Protocol):
    """A codec the bench can run: its name, settings, rate points and one point's run."""

    name: str

    def settings(self) -> dict[str, Any]:
        """Everything the results depend on, JSON-ready, including ``"gop"``."""
        ...

    def points(self) -> list[str]:
        """Labels of the rate points, e.g. ``["qp22", "qp27"]``."""
        ...

    def run_point(self, label: str, clip: ClipSpec, workdir: Path) -> PointResult:
        """Encode and decode ``clip`` at point ``label`` (files under ``workdir``)."""
        ...


def measure_decoded(
    label: str,
    clip: ClipSpec,
    info: ClipInfo,
    decoded: Iterator[YuvChunk],
    file_bytes: int,
    encode_seconds: float,
    decode_seconds: float,
    peak_memory_mb: float | None,
) -> tuple[PointResult, QualityReport]:
    """Measure decoded chunks against the clip's first ``info.frames`` frames.

    The reference is decoded through ffmpeg; both sides are consumed chunk by chunk, so any
    chunking of ``decoded`` works. Frame counts must match exactly.
    """
    acc = QualityAccumulator(clip.matrix, clip.range_)
    reference = decode_yuv420p(Path(clip.path), info.width, info.height, info.frames)
    for ref_chunk, dec_chunk in _aligned_chunks(reference, decoded):
        acc.add(ref_chunk, dec_chunk)
    report = acc.report()
    if report.frame_count != info.frames:
        raise UarInputError(
            f"{label}: decoded {report.frame_count} frames, the clip has {info.frames}"
        )
    point = PointResult(
        label=label,
        bpp=bits_per_pixel(file_bytes, info.width, info.height, info.frames),
        kbps=kilobits_per_second(file_bytes, info.frames, info.fps),
        psnr_y=report.psnr_y, psnr_u=report.psnr_u, psnr_v=report.psnr_v,
        psnr_yuv=report.psnr_yuv, psnr_rgb=report.psnr_rgb, ms_ssim=report.ms_ssim,
        encode_seconds=encode_seconds, decode_seconds=decode_seconds,
        peak_memory_mb=peak_memory_mb, file_bytes=file_bytes,
    )
    return point, report


def _aligned_chunks(
    reference: Iterator[YuvChunk], decoded: Iterator[YuvChunk]
) -> Iterator[tuple[YuvChunk, YuvChunk]]:
    """Pairs of equally long chunks from two chunk streams of any chunking."""
    ref_buf: list[YuvChunk] = []
    dec_buf: list[YuvChunk] = []
    ref_done = dec_done = False
    while True:
        if not ref_buf and not ref_done:
            nxt = next(reference, None)
            ref_done = nxt is None
            if nxt is not None:
                ref_buf.append(nxt)
        if not dec_buf and not dec_done:
            nxt = next(decoded, None)
            dec_done = nxt is None
            if nxt is not None:
                dec_buf.append(nxt)
        if not ref_buf or not dec_buf:
            if ref_buf or dec_buf:
                raise UarInputError("decoded and reference frame counts differ")
            return
        n = min(len(ref_buf[0][0]), len(dec_buf[0][0]))
        yield _take(ref_buf, n), _take(dec_buf, n)


def _take(buf: list[YuvChunk], n: int) -> YuvChunk:
    head = buf[0]
    if len(head[0]) == n:
        buf.pop(0)
        return head
    buf[0] = (head[0][n:], head[1][n:], head[2][n:])
    return head[0][:n], head[1][:n], head[2][:n]


def measure_raw_file(
    label: str, clip: ClipSpec, info: ClipInfo, raw_yuv: Path, file_bytes: int,
    encode_seconds: float, decode_seconds: float, peak_memory_mb: float | None,
) -> PointResult:
    """:func:`measure_decoded` for decoded frames in a raw yuv420p file."""
    decoded = read_raw_yuv(raw_yuv, info.width, info.height)
    point, _ = measure_decoded(label, clip, info, decoded, file_bytes, encode_seconds,
                               decode_seconds, peak_memory_mb)
    return point


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", text)


def results_path(out_dir: Path, codec: str, clip_name: str, gop: Any) -> Path:
    """Where the results of (codec, clip, GOP) are cached."""
    return Path(out_dir) / f"{_safe(codec)}__{_safe(clip_name)}__gop{_safe(str(gop))}.json"


def _gop_of(runner: CodecRunner) -> Any:
    settings = runner.settings()
    if "gop" not in settings:
        raise UarInputError(f"codec {runner.name}: settings must include 'gop'")
    return settings["gop"]


# Settings entries that map each point's label to a value of that point alone (uarcodec's model
# sizes and lambdas): a cached point stays valid while its own entries are unchanged, whatever
# the other points are.
PER_POINT_SETTINGS = ("sizes", "lambdas")


def _common_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in PER_POINT_SETTINGS}


def _point_settings(settings: dict[str, Any], label: str) -> tuple[Any, ...]:
    return tuple((settings.get(k) or {}).get(label) for k in PER_POINT_SETTINGS)


def _load_cached(
    path: Path, runner: CodecRunner, info: ClipInfo, measurement: dict[str, Any]
) -> CodecResults:
    """The results cached at ``path`` that this runner would produce again: none when the codec,
    clip, measurement or common settings differ, else the cached points that are still among the
    runner's points with the same per-point settings (others are dropped)."""
    settings = json.loads(json.dumps(runner.settings()))  # as it reads back from JSON
    fresh = CodecResults(runner.name, settings, info, measurement)
    if not path.exists():
        return fresh
    cached = CodecResults.load(path)
    same = (cached.codec == runner.name and _common_settings(cached.settings) == _common_settings(settings)
            and cached.clip == info and cached.measurement == measurement)
    if same:
        labels = set(runner.points())
        fresh.points = [p for p in cached.points if p.label in labels
                        and _point_settings(cached.settings, p.label) == _point_settings(settings, p.label)]
    return fresh


BenchEvent = Callable[[str, str, str, str], None]
"""Progress callback: (codec, clip, label, status) with status 'cached', 'running' or 'done'."""


def run_bench(
    runners: Sequence[CodecRunner],
    clips: Sequence[ClipSpec],
    out_dir: Path,
    on_event: BenchEvent | None = None,
) -> list[CodecResults]:
    """Run every point of every codec on every clip; finished points are read from the cache.

    Returns one :class:`CodecResults` per (codec, clip), in that order. Each finished point is
    saved at once, so an interrupted bench resumes where it stopped.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    notify = on_event or (lambda *_: None)
    all_results = []
    for clip in clips:
        info = clip.info()
        for runner in runners:
            path = results_path(out_dir, runner.name, info.name, _gop_of(runner))
            results = _load_cached(path, runner, info, clip.measurement(info))
            workdir = path.with_suffix("")
            for label in runner.points():
                if results.point(label) is not None:
                    notify(runner.name, info.name, label, "cached")
                    continue
                notify(runner.name, info.name, label, "running")
                workdir.mkdir(parents=True, exist_ok=True)
                results.put(runner.run_point(label, clip, workdir))
                results.save(path)
                notify(runner.name, info.name, label, "done")
            if not path.exists():
                results.save(path)
            all_results.append(results)
    return all_results


__all__ = [
    "ClipSpec", "CodecRunner", "BenchEvent", "measure_decoded", "measure_raw_file",
    "results_path", "run_bench",
]
