"""`uar bench`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from uarcodec.bench import ClipSpec
from uarcodec.sizing import RatePoint, parse_sizes
from uarcodec.bench.suite import bench_clips
from uarcodec.bench.uar_runner import UarRunnerConfig
from uarcodec.settings import TrainingOptions

from uarcodec_cli.common import COMMAND_CONTEXT, handle_errors, int_list, loglevel, names_list, print_json
from uarcodec_cli.options import training_options
from uarcodec_cli.progress import stderr

CODECS = ("x264", "x265", "svtav1", "uar")


@click.command("bench", context_settings=COMMAND_CONTEXT)
@click.argument("clips", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("-p", "--gop-size", "gops", default="30", show_default=True,
              help="GOP size(s) p, comma-separated (e.g. 6,30,120); classic codecs use the same GOP.")
@click.option("-m", "--gom-size", type=int, default=5, show_default=True, help="Models per GOM.")
@click.option("--sizes", help="Model sizes (rate points, at --lambda or its default), e.g. 50k,100k,200k,400k. "
              "Default: four points for this frame size and p, each with its own lambda (with --lambda: "
              "the paper's four sizes scaled to this frame size and p, at that lambda).")
@training_options(several_families=True, auto=True)
@click.option("--codecs", default=",".join(CODECS), show_default=True,
              help="Codecs to run (svtav1 is skipped when this ffmpeg lacks it).")
@click.option("--qps", help="QPs of x264/x265, comma-separated (default 22,27,32,37,42).")
@click.option("--frames", "-frames", "frames", type=int, help="Use only the first N frames of each clip.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench_out"),
              show_default=True, help="Results, streams, report and plots (finished points are reused).")
@click.option("--ablation", is_flag=True,
              help="Also run the Table III variants V0-V3 (first --model) and base vs ours (every --model).")
@click.option("--json", "as_json", is_flag=True, help="Print the written files as JSON on stdout.")
@handle_errors
def bench_cmd(clips, gops, gom_size, sizes, training: TrainingOptions, families, codecs, qps, frames,
              out_dir, ablation, as_json) -> None:
    """RD bench of CLIPS: x264/x265/SVT-AV1 and uarcodec at the same GOP, measured alike from
    the real output files and the decoded 8-bit frames. Writes one results JSON per codec, clip
    and GOP, RD plots and report.md (BD-rate against x265); with --ablation also ablation.md."""
    if gom_size < 1:
        raise click.BadParameter("-m must be at least 1")
    if frames is not None and frames < 1:
        raise click.BadParameter("--frames must be at least 1")
    gop_list = int_list(gops, "-p")
    codec_list = names_list(codecs, CODECS, "--codecs")
    qp_map = None
    if qps:
        qp_list = int_list(qps, "--qps")
        qp_map = {"x264": qp_list, "x265": qp_list}
    points = tuple(RatePoint(s) for s in parse_sizes(sizes)) if sizes else ()
    template = UarRunnerConfig(gom_size=gom_size, points=points, training=training)
    show = loglevel() != "quiet"
    started: dict[tuple[str, str, int, str], float] = {}

    def on_event(codec: str, clip: str, gop: int, label: str, status: str) -> None:
        key = (codec, clip, gop, label)
        if status == "running":
            started[key] = time.perf_counter()
            if show:
                stderr.print(f"{codec} {clip} p={gop} {label}: running ...")
        elif show and status == "done":
            stderr.print(f"{codec} {clip} p={gop} {label}: done in {time.perf_counter() - started[key]:.1f} s")
        elif loglevel() == "debug":
            stderr.print(f"{codec} {clip} p={gop} {label}: cached")

    out = bench_clips(
        [ClipSpec(c, frames=frames) for c in clips], gop_list, out_dir, codecs=codec_list,
        families=families, template=template, qps=qp_map, ablation=ablation, on_event=on_event,
    )
    files = [*out.result_files, out.report.markdown, *out.report.plots]
    if out.ablation is not None:
        files.append(out.ablation)
    if as_json:
        print_json({
            "results": [str(f) for f in out.result_files], "report": str(out.report.markdown),
            "plots": [str(p) for p in out.report.plots],
            "ablation": None if out.ablation is None else str(out.ablation),
        })
        return
    for f in files:
        click.echo(str(f))
