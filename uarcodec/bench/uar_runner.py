"""uarcodec itself as a bench codec: :class:`UarRunner` (a ``CodecRunner``) and its rate points.

Rate points are model sizes (parameters per model), as in the paper (Section IV-A2). Default
sizes (:func:`default_sizes`): the paper's four sizes for the p class (small p: 0.3/0.45/0.6/0.9
MB, medium: 0.6/0.9/1.8/2.7 MB, large: 3/4.5/6/9 MB; 1 MB = 10^6 parameters, the paper's
8-bit models), scaled by the pixels one model covers here against the paper's 1920x1080 at
p = 6/30/120::

    size_k = paper_size_k * (W * H * p) / (1920 * 1080 * p_paper)

rounded to two significant digits. When the smallest point is below 1.5x the family's smallest
network at this frame size and p (HNeRV's per-frame embeddings set a floor), all four are
raised by the same factor so the ratios stay the paper's.

Each point is encoded in a fresh child process (a job file of exact encoder settings, run by
:func:`encode_job`, which calls :func:`uarcodec.api.encode`). Its wall time and its own peak
RSS (``wait4`` through the launcher of :func:`uarcodec.bench.ffmpeg.run_measured`, as for
x264/x265) are the point's encode seconds and peak memory, so both include starting Python and
importing torch (about 2 s and 300 MB); the encoder's own report is kept next to the stream.
Decoding runs in this process through :meth:`uarcodec.api.UarStream.frames`; decode seconds
count only the time spent producing frames (opening the stream included, measuring excluded).
Quality and bpp come from :func:`uarcodec.bench.runner.measure_decoded` on the decoded 8-bit
frames and the real ``.uar`` file size, exactly as for the classic codecs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uarcodec.bench.classic import classic_runners
from uarcodec.bench.ffmpeg import YuvChunk, run_measured
from uarcodec.bench.report import ReportFiles, write_report
from uarcodec.bench.results import ClipInfo, CodecResults, PointResult
from uarcodec.bench.runner import (
    BenchEvent, ClipSpec, CodecRunner, measure_decoded, results_path, run_bench,
)
from uarcodec.errors import UarError, UarInputError, UarSettingsError
from uarcodec.settings import (
    DEFAULT_PRESET,
    EncoderSettings,
    EpsLaw,
    InitMode,
    QuantMode,
    TrainingSettings,
    p_class,
    parse_size,
    preset_training,
)
from uarcodec.video.frames import YuvClip

# The paper's model sizes (MB, read as millions of parameters) per p class, its p per class and
# its frame size (UVG, 1920x1080).
PAPER_SIZES_MB = ((0.3, 0.45, 0.6, 0.9), (0.6, 0.9, 1.8, 2.7), (3.0, 4.5, 6.0, 9.0))
PAPER_GOPS = (6, 30, 120)
PAPER_PIXELS = 1920 * 1080
SMALLEST_HEADROOM = 1.5  # the smallest default point is at least this times the smallest network


# --------------------------------------------------------------------------------------------
# Rate points
# --------------------------------------------------------------------------------------------


def round_significant(value: float, digits: int = 2) -> int:
    """``value`` rounded to ``digits`` significant digits, as an integer."""
    if value <= 0:
        raise UarSettingsError(f"size must be positive, got {value}")
    magnitude = 10 ** max(0, math.floor(math.log10(value)) - digits + 1)
    return int(round(value / magnitude) * magnitude)


def size_label(size: int) -> str:
    """The point label of a model size: ``72000 -> "72k"``, ``2400 -> "2.4k"``; it reads back
    with :func:`uarcodec.settings.parse_size`."""
    if size >= 1_000_000 and size % 100_000 == 0:
        return f"{size / 1_000_000:g}M"
    if size >= 1000 and size % 100 == 0:
        return f"{size / 1000:g}k"
    return str(size)


def smallest_model_size(family: str, width: int, height: int, gop_frames: int) -> int:
    """The fewest coded parameters the family can be sized to here (within 2%)."""
    from uarcodec.models.registry import family_by_name

    cls = family_by_name(family)

    def fits(target: int) -> bool:
        try:
            cls.config_for_size(target, height, width, gop_frames)
        except UarSettingsError:
            return False
        return True

    lo, hi = 1000, 1000
    while not fits(hi):
        lo, hi = hi, hi * 2
        if hi > 10**9:
            raise UarSettingsError(f"{family} cannot be sized for {width}x{height}, p={gop_frames}")
    if lo == hi:
        return hi
    while hi > lo * 1.02:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def default_sizes(
    family: str, width: int, height: int, gop_size: int, gop_frames: int | None = None
) -> tuple[int, ...]:
    """The four default model sizes (rate points) for this frame size and p (module docstring).

    ``gop_frames`` is the frames one model really covers (``min(p, frames)``; default p); the
    p class is that of ``gop_size``."""
    k = p_class(gop_size)
    frames = gop_size if gop_frames is None else gop_frames
    scale = width * height * frames / (PAPER_PIXELS * PAPER_GOPS[k])
    raw = [mb * 1e6 * scale for mb in PAPER_SIZES_MB[k]]
    floor = SMALLEST_HEADROOM * smallest_model_size(family, width, height, frames)
    if raw[0] < floor:
        raw = [r * floor / raw[0] for r in raw]
    return tuple(max(1000, round_significant(r)) for r in raw)


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"50k,100k,200k"`` -> ``(50000, 100000, 200000)``."""
    parts = [p for p in (t.strip() for t in text.split(",")) if p]
    if not parts:
        raise UarSettingsError("no model sizes given")
    sizes = tuple(parse_size(p) for p in parts)
    if len(set(sizes)) != len(sizes):
        raise UarSettingsError(f"model sizes repeat: {text!r}")
    return sizes


# --------------------------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UarRunnerConfig:
    """Everything a uarcodec bench curve depends on, apart from the clip.

    ``sizes`` are the rate points (parameters per model); empty means :func:`default_sizes`,
    resolved per clip by :func:`uar_runner_for_clip`. ``None`` fields take the preset's value.
    ``threads`` (torch threads of the encode) is not a result setting: it changes speed (on a
    busy machine 1 thread can be many times faster than 2), not the stream.
    """

    gop_size: int = 30
    gom_size: int = 5
    family: str = "hnerv"
    sizes: tuple[int, ...] = ()
    preset: str = DEFAULT_PRESET
    lmbda: float | None = None
    epochs_i: int | None = None
    epochs_p: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    init: InitMode = "ii"
    use_ref: bool = True
    quant: QuantMode = "rqec"
    eps: float | None = None
    eps_law: EpsLaw = dataclasses.field(default_factory=EpsLaw)
    seed: int = 0
    device: str = "auto"
    threads: int | None = None

    def training(self) -> TrainingSettings:
        return preset_training(
            self.preset, self.gop_size, epochs_i=self.epochs_i, epochs_p=self.epochs_p,
            batch_size=self.batch_size, lr=self.lr, lmbda=self.lmbda, quant=self.quant,
        )

    def encoder_settings(self, model_size: int) -> EncoderSettings:
        """The encoder settings of one rate point (validated)."""
        settings = EncoderSettings(
            gop_size=self.gop_size, gom_size=self.gom_size, family=self.family,
            model_size=model_size, training=self.training(), init=self.init, eps=self.eps,
            eps_law=self.eps_law, use_ref=self.use_ref, seed=self.seed, preset=self.preset,
        )
        settings.validate()
        return settings


def settings_to_dict(settings: EncoderSettings) -> dict[str, Any]:
    """JSON-ready encoder settings (read back with :func:`settings_from_dict`)."""
    return dataclasses.asdict(settings)


def settings_from_dict(data: dict[str, Any]) -> EncoderSettings:
    values = dict(data)
    values["training"] = TrainingSettings(**values["training"])
    values["eps_law"] = EpsLaw(**values["eps_law"])
    return EncoderSettings(**values)


class UarRunner:
    """A :class:`~uarcodec.bench.runner.CodecRunner` for uarcodec at one p, m and size list."""

    def __init__(self, config: UarRunnerConfig, name: str | None = None) -> None:
        if not config.sizes:
            raise UarSettingsError("UarRunner needs explicit sizes (see uar_runner_for_clip)")
        if config.gop_size < 1 or config.gom_size < 1:
            raise UarSettingsError("p and m must be at least 1")
        self.config = config
        self.name = name or f"uar-{config.family}"
        self._sizes = {size_label(s): s for s in config.sizes}
        if len(self._sizes) != len(config.sizes):
            raise UarSettingsError(f"model sizes repeat: {config.sizes}")
        config.encoder_settings(config.sizes[0])  # validate early

    def settings(self) -> dict[str, Any]:
        import uarcodec

        c = self.config
        base = settings_to_dict(c.encoder_settings(c.sizes[0]))
        base.pop("model_size")
        return {
            "gop": c.gop_size,
            "gom": c.gom_size,
            "family": c.family,
            "sizes": dict(self._sizes),
            "encoder": base,
            "device": c.device,
            "uarcodec": uarcodec.__version__,
            "rate_points": "model sizes (parameters per model)",
            "counted": "the whole .uar file",
            "encode_timing": "wall time and peak RSS of a fresh encode process",
        }

    def points(self) -> list[str]:
        return list(self._sizes)

    def model_size(self, label: str) -> int:
        if label not in self._sizes:
            raise UarInputError(f"{self.name}: no rate point {label!r} (points: {self.points()})")
        return self._sizes[label]

    def encode_command(self, job_file: Path) -> list[str]:
        """The child process that encodes one point."""
        return [sys.executable, "-c", _CHILD, str(job_file)]

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
            "device": self.config.device,
            "threads": self.config.threads,
            "settings": settings_to_dict(self.config.encoder_settings(self.model_size(label))),
        }
        job_file.write_text(json.dumps(job, indent=2) + "\n", encoding="utf-8")
        enc = run_measured(self.encode_command(job_file), f"{self.name} encoding {info.name} at {label}")
        if not stream.is_file():
            raise UarInputError(f"{self.name} encoding {info.name} at {label} wrote no {stream}")
        return decode_and_measure(label, clip, info, stream, self.config.device, enc.seconds,
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
    """A runner whose sizes are ``config.sizes`` or, when empty, the defaults for this clip;
    every size is checked to be reachable by the family here."""
    from uarcodec.models.registry import family_by_name

    gop_frames = min(config.gop_size, info.frames)
    sizes = config.sizes or default_sizes(config.family, info.width, info.height, config.gop_size, gop_frames)
    cls = family_by_name(config.family)
    for size in sizes:
        cls.config_for_size(size, info.height, info.width, gop_frames)  # raises when unreachable
    return UarRunner(dataclasses.replace(config, sizes=tuple(sizes)), name)


# --------------------------------------------------------------------------------------------
# A whole bench: classic codecs and uarcodec on every clip at every p
# --------------------------------------------------------------------------------------------


SuiteEvent = Callable[[str, str, int, str, str], None]
"""Progress of :func:`bench_clips`: (codec, clip, GOP, point label, status), status 'cached',
'running' or 'done'."""


def _with_gop(on_event: SuiteEvent, gop: int) -> BenchEvent:
    return lambda codec, clip, label, status: on_event(codec, clip, gop, label, status)


@dataclass(frozen=True)
class BenchOutput:
    """What :func:`bench_clips` measured and wrote."""

    results: list[CodecResults]
    result_files: list[Path]  # one results JSON per (codec, clip, GOP)
    report: ReportFiles  # report.md (BD-rate tables, all points) and the RD plots
    ablation: Path | None = None  # ablation.md


def runners_for_clip(
    info: ClipInfo, gop: int, codecs: Sequence[str], families: Sequence[str], template: UarRunnerConfig,
    qps: dict[str, Sequence[int]] | None = None, ablation: bool = False,
) -> list[CodecRunner]:
    """Classic runners at GOP ``gop`` plus a uarcodec runner per family (and, with
    ``ablation``, the Table III variants and base vs ours; see :mod:`uarcodec.bench.ablation`)."""
    from uarcodec.bench.ablation import ablation_runners

    classic = [c for c in codecs if c != "uar"]
    runners: list[CodecRunner] = list(classic_runners(gop, classic, qps)) if classic else []
    configs = [dataclasses.replace(template, gop_size=gop, family=f) for f in families]
    uar: list[UarRunner] = []
    if "uar" in codecs:
        uar += [uar_runner_for_clip(c, info) for c in configs]
    if ablation:
        uar += [r for _, r in ablation_runners(configs, info)]
    seen: set[str] = set()
    for r in uar:
        if r.name not in seen:
            seen.add(r.name)
            runners.append(r)
    return runners


def bench_clips(
    clips: Sequence[ClipSpec],
    gops: Sequence[int],
    out_dir: Path,
    *,
    codecs: Sequence[str] = ("x264", "x265", "svtav1", "uar"),
    families: Sequence[str] = ("hnerv",),
    template: UarRunnerConfig = UarRunnerConfig(),
    qps: dict[str, Sequence[int]] | None = None,
    ablation: bool = False,
    on_event: SuiteEvent | None = None,
) -> BenchOutput:
    """Run (or read from the cache) every codec on every clip at every p, then write
    ``report.md`` + RD plots (BD-rate against x265) and, with ``ablation``, ``ablation.md``.
    Results are cached in ``out_dir`` (see :func:`uarcodec.bench.runner.run_bench`)."""
    unknown = set(codecs) - {"x264", "x265", "svtav1", "uar"}
    if unknown:
        raise UarInputError(f"unknown codec(s) {sorted(unknown)}: use x264, x265, svtav1, uar")
    if not clips or not gops:
        raise UarInputError("no clips or no GOP sizes to bench")
    out_dir = Path(out_dir)
    results: list[CodecResults] = []
    for clip in clips:
        info = clip.info()
        for gop in gops:
            runners = runners_for_clip(info, gop, codecs, families, template, qps, ablation)
            event = None if on_event is None else _with_gop(on_event, gop)
            results += run_bench(runners, [clip], out_dir, event)
    report = write_report(results, out_dir)
    ablation_md = None
    if ablation:
        from uarcodec.bench.ablation import write_ablation_report

        ablation_md = write_ablation_report(results, families, out_dir)
    files = [results_path(out_dir, r.codec, r.clip.name, r.settings.get("gop")) for r in results]
    return BenchOutput(results, files, report, ablation_md)


# --------------------------------------------------------------------------------------------
# The child process of one encode
# --------------------------------------------------------------------------------------------


_CHILD = "import sys; from uarcodec.bench.uar_runner import child_main; sys.exit(child_main(sys.argv[1:]))"


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
    Path(job["report"]).write_text(json.dumps(dataclasses.asdict(report), indent=2) + "\n", encoding="utf-8")


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


__all__ = [
    "BenchOutput", "SuiteEvent", "UarRunner", "UarRunnerConfig", "bench_clips", "child_main", "decode_and_measure",
    "encode_job",
    "default_sizes", "parse_sizes", "runners_for_clip", "settings_from_dict", "settings_to_dict",
    "size_label", "smallest_model_size", "uar_runner_for_clip",
]
