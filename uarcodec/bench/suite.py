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
from uarcodec.errors import UarInputError
from uarcodec.pipeline.plan import choose_family
from uarcodec.sizing import default_points
from uarcodec.video import open_video
from uarcodec.vocabulary import AUTO_FAMILY, ModelFamily

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


def clip_families(
    families: Sequence[str], clip: ClipSpec, info: ClipInfo, gop: int, template: UarRunnerConfig
) -> list[str]:
    """``families`` with :data:`AUTO_FAMILY` replaced by the family ``uar encode --model auto``
    picks for this clip at this p (:func:`uarcodec.pipeline.plan.choose_family`; its runner is
    then that family's, named and cached as such), each family once."""
    chosen: list[str] = []
    for family in families:
        if family == AUTO_FAMILY:
            sizes = tuple(p.model_size for p in template.points) or tuple(
                p.model_size for p in default_points(ModelFamily.LATENT, info.width, info.height, gop,
                                                     min(gop, info.frames)))
            with open_video(str(clip.path)) as reader:
                family = choose_family(reader, gop, template.gom_size, info.frames, model_sizes=sizes,
                                       latent_options=template.training.latent_options).family.value
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
    ran: list[str] = []  # the families run, auto resolved, in order
    for clip in clips:
        info = clip.info()
        for gop in gops:
            chosen = clip_families(families, clip, info, gop, template)
            ran += [f for f in chosen if f not in ran]
            runners = runners_for_clip(info, gop, codecs, chosen, template, qps, ablation)
            event = None if on_event is None else _with_gop(on_event, gop)
            results += run_bench(runners, [clip], out_dir, event)
    report = write_report(results, out_dir)
    ablation_md = write_ablation_report(results, ran, out_dir) if ablation else None
    files = [results_path(out_dir, r.codec, r.clip.name, r.settings.get("gop")) for r in results]
    return BenchOutput(results, files, report, ablation_md)


__all__ = ["BenchOutput", "SuiteEvent", "bench_clips", "clip_families", "runners_for_clip"]
