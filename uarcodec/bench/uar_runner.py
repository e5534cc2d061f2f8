"""uarcodec itself as a bench codec: :class:`UarRunner`, a ``CodecRunner`` whose rate points
are model sizes, each with its own lambda by default (:mod:`uarcodec.sizing`).

Each point is encoded in a fresh child process (a job file of exact encoder settings, run by
:func:`uarcodec.bench.encode_child.encode_job`, which calls :func:`uarcodec.api.encode`). Its
wall time and its own peak RSS (``wait4`` through the launcher of
:func:`uarcodec.bench.ffmpeg.run_measured`, as for x264/x265) are the point's encode seconds and
peak memory, so both include starting Python and importing torch (about 2 s and 300 MB); the
encoder's own report is kept next to the stream. Decoding runs in this process through
:meth:`uarcodec.api.UarStream.frames`; decode seconds count only the time spent producing frames
(opening the stream included, measuring excluded). Quality and bpp come from
:func:`uarcodec.bench.runner.measure_decoded` on the decoded 8-bit frames and the real ``.uar``
file size, exactly as for the classic codecs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uarcodec
from uarcodec.bench.encode_child import encode_command
from uarcodec.bench.ffmpeg import YuvChunk, run_measured
from uarcodec.sizing import RatePoint, default_points, default_sizes
from uarcodec.bench.results import ClipInfo, PointResult
from uarcodec.bench.runner import ClipSpec, measure_decoded
from uarcodec.bench.settings_json import settings_to_dict
from uarcodec.errors import UarInputError, UarSettingsError
from uarcodec.models.registry import family_by_name
from uarcodec.settings import EncoderSettings, EpsLaw, InitMode, TrainingOptions
from uarcodec.vocabulary import ModelFamily
from uarcodec.video.frames import YuvClip


@dataclass(frozen=True)
class UarRunnerConfig:
    """Everything a uarcodec bench curve depends on, apart from the clip.

    ``points`` are the rate points (parameters per model, and a lambda of their own or the
    training's); empty means the defaults, resolved per clip by :func:`uar_runner_for_clip`.
    ``training``: as for ``uar encode``
    (``None`` values take the preset's value); its ``threads`` (torch threads of the encode)
    changes speed (on a busy machine 1 thread can be many times faster than 2), not the stream.
    """

    gop_size: int = 30
    gom_size: int = 5
    points: tuple[RatePoint, ...] = ()
    training: TrainingOptions = TrainingOptions()
    init: InitMode = InitMode.II
    use_ref: bool = True
    eps: float | None = None
    eps_law: EpsLaw = dataclasses.field(default_factory=EpsLaw)

    @property
    def family(self) -> ModelFamily:
        return self.training.family

    def encoder_settings(self, point: RatePoint) -> EncoderSettings:
        """The encoder settings of one rate point (validated)."""
        training = self.training if point.lmbda is None else dataclasses.replace(self.training, lmbda=point.lmbda)
        return training.encoder_settings(
            self.gop_size, self.gom_size, point.model_size, init=self.init, eps=self.eps, eps_law=self.eps_law,
            use_ref=self.use_ref,
        )


class UarRunner:
    """A :class:`~uarcodec.bench.runner.CodecRunner` for uarcodec at one p, m and point list."""

    def __init__(self, config: UarRunnerConfig, name: str | None = None) -> None:
        if not config.points:
            raise UarSettingsError("UarRunner needs explicit rate points (see uar_runner_for_clip)")
        if config.gop_size < 1 or config.gom_size < 1:
            raise UarSettingsError("p and m must be at least 1")
        self.config = config
        self.name = name or f"uar-{config.family}"
        self._points = {p.label: p for p in config.points}
        if len(self._points) != len(config.points):
            raise UarSettingsError(f"rate points repeat: {', '.join(p.label for p in config.points)}")
        config.encoder_settings(config.points[0])  # validate early

    def settings(self) -> dict[str, Any]:
        c = self.config
        base = settings_to_dict(c.encoder_settings(c.points[0]))
        base.pop("model_size")
        base["training"].pop("lmbda")
        return {
            "gop": c.gop_size,
            "gom": c.gom_size,
            "family": c.family,
            "sizes": {label: p.model_size for label, p in self._points.items()},
            "lambdas": {label: c.encoder_settings(p).training.lmbda for label, p in self._points.items()},
            "encoder": base,
            "device": c.training.device,
            "uarcodec": uarcodec.__version__,
            "rate_points": "model sizes (parameters per model) and lambdas",
            "counted": "the whole .uar file",
            "encode_timing": "wall time and peak RSS of a fresh encode process",
        }

    def points(self) -> list[str]:
        return list(self._points)

    def rate_point(self, label: str) -> RatePoint:
        if label not in self._points:
            raise UarInputError(f"{self.name}: no rate point {label!r} (points: {self.points()})")
        return self._points[label]

    def encode_command(self, job_file: Path) -> list[str]:
        """The child process that encodes one point."""
        return encode_command(job_file)

    def run_point(self, label: str, clip: ClipSpec, workdir: Path) -> PointResult:
        info = clip.info()
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        stream = workdir / f"{label}.uar"
        job_file = workdir / f"{label}.job.json"
        report_file = workdir / f"{label}.encode.json"
        report_file.unlink(missing_ok=True)
        job = {
            "input": str(Path(clip.path).resolve()),
            "output": str(stream.resolve()),
            "report": str(report_file.resolve()),
            "frames": info.frames,
            "device": self.config.training.device,
            "threads": self.config.training.threads,
            "settings": settings_to_dict(self.config.encoder_settings(self.rate_point(label))),
        }
        job_file.write_text(json.dumps(job, indent=2) + "\n", encoding="utf-8")
        enc = run_measured(self.encode_command(job_file), f"{self.name} encoding {info.name} at {label}")
        if not stream.is_file():
            raise UarInputError(f"{self.name} encoding {info.name} at {label} wrote no {stream}")
        return decode_and_measure(label, clip, info, stream, self.config.training.device, enc.seconds,
                                  enc.peak_memory_mb)


class _TimedFrames:
    """Decoded clips as (y, u, v) chunks, with the seconds spent producing them."""

    def __init__(self, clips: Iterator[YuvClip], seconds: float = 0.0) -> None:
        self._clips = clips
        self.seconds = seconds

    def __iter__(self) -> Iterator[YuvChunk]:
        return self

    def __next__(self) -> YuvChunk:
        start = time.perf_counter()
        try:
            clip = next(self._clips)
        finally:
            self.seconds += time.perf_counter() - start
        return clip.y, clip.u, clip.v


def decode_and_measure(
    label: str, clip: ClipSpec, info: ClipInfo, stream_path: Path, device: str,
    encode_seconds: float, peak_memory_mb: float | None,
) -> PointResult:
    """Decode a .uar with :mod:`uarcodec.api` and measure it like every other codec."""
    from uarcodec import api

    start = time.perf_counter()
    with api.open_stream(stream_path) as stream:
        frames = _TimedFrames(stream.frames(device=device), time.perf_counter() - start)
        point, _ = measure_decoded(label, clip, info, frames, stream_path.stat().st_size,
                                   encode_seconds, 0.0, peak_memory_mb)
    return dataclasses.replace(point, decode_seconds=frames.seconds)


def uar_runner_for_clip(config: UarRunnerConfig, info: ClipInfo, name: str | None = None) -> UarRunner:
    """A runner whose points are ``config.points`` or, when empty, the defaults for this clip:
    the default rate points (sizes with their lambdas, :func:`default_points`), or, where the
    training options fix lambda, the four default sizes at that lambda. Every size is checked to
    be reachable by the family here."""
    gop_frames = min(config.gop_size, info.frames)
    points = config.points
    if not points and config.training.lmbda is None:
        points = default_points(config.family, info.width, info.height, config.gop_size, gop_frames)
    elif not points:
        sizes = default_sizes(config.family, info.width, info.height, config.gop_size, gop_frames)
        points = tuple(RatePoint(s) for s in sizes)
    cls = family_by_name(config.family)
    for point in points:
        cls.config_for_size(point.model_size, info.height, info.width, gop_frames)  # raises when unreachable
    return UarRunner(dataclasses.replace(config, points=tuple(points)), name)


__all__ = ["UarRunner", "UarRunnerConfig", "decode_and_measure", "uar_runner_for_clip"]
