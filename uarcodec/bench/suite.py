"""A whole bench (``uar bench``): classic codecs and uarcodec on every clip at every p, cached,
then the report (BD-rate tables and RD plots) and, with ``ablation``, the ablation tables.

This module sits above the codec runners (:mod:`uarcodec.bench.classic`,
:mod:`uarcodec.bench.uar_runner`) and the ablation variants (:mod:`uarcodec.bench.ablation`);
only the command line and the tests import it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from uarcodec.bench.ablation import ablation_runners, write_ablation_report
from uarcodec.bench.classic import classic_runners
from uarcodec.bench.report import ReportFiles, write_report
from uarcodec.bench.results import ClipInfo, CodecResults
from uarcodec.bench.runner import BenchEvent, ClipSpec, CodecRunner, results_path, run_bench
from uarcodec.bench.uar_runner import UarRunner, UarRunnerConfig, uar_runner_for_clip
from uarcodec.errors import UarInputError, UarSettingsError
from uarcodec.pipeline.plan import choose_family
from uarcodec.sizing import default_points
from uarcodec.video import open_video
from uarcodec.vocabulary import AUTO_FAMILY, ModelFamily

AUTO_RUNNER = f"uar-{AUTO_FAMILY}"  # the report's column of what --model auto picked on each clip

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
    classic = [c for c in codecs if c != "uar"]
    runners: list[CodecRunner] = list(classic_runners(gop, classic, qps)) if classic else []
    configs = [
        dataclasses.replace(template, gop_size=gop, training=dataclasses.replace(template.training, family=f))
        for f in families
    ]
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


def auto_family(clip: ClipSpec, info: ClipInfo, gop: int, template: UarRunnerConfig) -> str:
    """The family ``uar encode --model auto`` picks for this clip at this p
    (:func:`uarcodec.pipeline.plan.choose_family`), for the bench's sizes."""
    try:  # the four points the bench would give the latent grids (none: choose_family finds out)
        points = template.points or default_points(ModelFamily.LATENT, info.width, info.height, gop,
                                                   min(gop, info.frames))
    except UarSettingsError:
        points = ()
    sizes = tuple(p.model_size for p in points)
    with open_video(str(clip.path)) as reader:
        return choose_family(reader, gop, template.gom_size, info.frames, model_sizes=sizes,
                             latent_options=template.training.latent_options).family.value


def clip_families(families: Sequence[str], picked: str | None) -> list[str]:
    """``families`` with :data:`AUTO_FAMILY` replaced by ``picked`` (:func:`auto_family`; its
    runner is then that family's, named and cached as such), each family once."""
    chosen: list[str] = []
    for family in families:
        family = picked if family == AUTO_FAMILY else family
        if family is None:
            raise UarInputError("--model auto needs the family it picks for the clip")
        if family not in chosen:
            chosen.append(family)
    return chosen


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
    aliases: list[CodecResults] = []  # uar-auto: the family auto picked, clip by clip
    ran: list[str] = []  # the families run, auto resolved, in order
    for clip in clips:
        info = clip.info()
        for gop in gops:
            picked = auto_family(clip, info, gop, template) if AUTO_FAMILY in families else None
            chosen = clip_families(families, picked)
            ran += [f for f in chosen if f not in ran]
            runners = runners_for_clip(info, gop, codecs, chosen, template, qps, ablation)
            event = None if on_event is None else _with_gop(on_event, gop)
            measured = run_bench(runners, [clip], out_dir, event)
            results += measured
            aliases += [dataclasses.replace(r, codec=AUTO_RUNNER) for r in measured
                        if picked is not None and r.codec == f"uar-{picked}"]
    report = write_report(results, out_dir, aliases=aliases)
    ablation_md = write_ablation_report(results, ran, out_dir) if ablation else None
    files = [results_path(out_dir, r.codec, r.clip.name, r.settings.get("gop")) for r in results]
    return BenchOutput(results, files, report, ablation_md)


__all__ = [
    "AUTO_RUNNER", "BenchOutput", "SuiteEvent", "auto_family", "bench_clips", "clip_families", "runners_for_clip",
]
