"""Bench report: BD-rate tables (markdown) against an anchor codec and RD plots (PNG).

BD-rate uses bpp as the rate and PCHIP interpolation (:func:`uarcodec.metrics.bd_rate`);
negative numbers mean fewer bits than the anchor (x265 by default) at equal quality.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from uarcodec.bench.results import CodecResults
from uarcodec.errors import UarInputError
from uarcodec.metrics import BdMethod, bd_rate
from uarcodec.sysinfo import atomic_write_text

DEFAULT_ANCHOR = "x265"
_METRIC_TITLES = {"psnr_yuv": "PSNR-YUV", "ms_ssim": "MS-SSIM", "psnr_rgb": "PSNR-RGB",
                  "psnr_y": "PSNR-Y"}


def _gop(results: CodecResults) -> Any:
    return results.settings.get("gop")


def _curve(results: CodecResults, metric: str) -> tuple[list[float], list[float]] | None:
    points = [p for p in results.sorted_points() if getattr(p, metric) is not None]
    if len(points) < 2:
        return None
    return [p.bpp for p in points], [float(getattr(p, metric)) for p in points]


def bd_rate_against(
    anchor: CodecResults, test: CodecResults, metric: str = "psnr_yuv", method: BdMethod = "pchip"
) -> float | None:
    """BD-rate (%) of ``test`` against ``anchor`` on ``metric``; None when undefined."""
    a, b = _curve(anchor, metric), _curve(test, metric)
    if a is None or b is None:
        return None
    try:
        return bd_rate(a[0], a[1], b[0], b[1], method)
    except UarInputError:
        return None


def gop_order(gop: Any) -> tuple[int, float, str]:
    """Sort key of GOP settings: numeric sizes in increasing order (6, 30, 60), anything else after."""
    return (0, float(gop), "") if isinstance(gop, (int, float)) else (1, 0.0, str(gop))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def bd_table_markdown(
    results: Sequence[CodecResults],
    anchor: str = DEFAULT_ANCHOR,
    metrics: Sequence[str] = ("psnr_yuv", "ms_ssim"),
    method: BdMethod = "pchip",
) -> str:
    """Markdown BD-rate tables, one per GOP: a row per clip and an average row, a column per
    (codec, metric). The average is over the clips where the value is defined."""
    by_gop: dict[Any, dict[str, dict[str, CodecResults]]] = defaultdict(lambda: defaultdict(dict))
    for r in results:
        by_gop[_gop(r)][r.clip.name][r.codec] = r
    sections = []
    for gop, clips in by_gop.items():
        codecs = sorted({c for per_clip in clips.values() for c in per_clip if c != anchor})
        title = f"### BD-rate against {anchor}, GOP {gop} ({method}, rate in bpp)"
        if not any(anchor in per_clip for per_clip in clips.values()):
            sections.append(f"{title}\n\nNo {anchor} results at GOP {gop}: run the bench with {anchor} "
                            "among --codecs (into the same --out) to get BD-rates.")
            continue
        header = ["clip"] + [f"{c} {_METRIC_TITLES.get(m, m)}" for c in codecs for m in metrics]
        lines = [
            title,
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        columns: dict[tuple[str, str], list[float]] = defaultdict(list)
        for clip_name in sorted(clips):
            per_clip = clips[clip_name]
            row = [clip_name]
            for codec in codecs:
                for metric in metrics:
                    if anchor not in per_clip or codec not in per_clip:
                        row.append(NOT_RUN)
                        continue
                    value = bd_rate_against(per_clip[anchor], per_clip[codec], metric, method)
                    if value is not None:
                        columns[(codec, metric)].append(value)
                    row.append(_fmt(value))
            lines.append("| " + " | ".join(row) + " |")
        average = ["**average**"]
        for codec in codecs:
            for metric in metrics:
                values = columns[(codec, metric)]
                average.append(_fmt(sum(values) / len(values) if values else None))
        lines.append("| " + " | ".join(average) + " |")
        lines += ["", BD_NOTE]
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


NOT_RUN = "-"
BD_NOTE = (
    "Negative is better (fewer bits at equal quality). Each value is taken over the quality "
    "range both curves cover; n/a means the two curves do not overlap in that metric, "
    f"{NOT_RUN} that the codec or the anchor has no results for that clip."
)


def points_table_markdown(results: Sequence[CodecResults]) -> str:
    """Every measured point as a markdown table (bpp, PSNRs, MS-SSIM, speed)."""
    lines = [
        "| codec | clip | GOP | point | bpp | kbps | PSNR-YUV | PSNR-Y | PSNR-RGB | MS-SSIM "
        "| enc s | dec s | peak MB |",
        "|" + "---|" * 13,
    ]
    for r in results:
        for p in r.sorted_points():
            ssim = "n/a" if p.ms_ssim is None else f"{p.ms_ssim:.5f}"
            mem = "n/a" if p.peak_memory_mb is None else f"{p.peak_memory_mb:.0f}"
            lines.append(
                f"| {r.codec} | {r.clip.name} | {_gop(r)} | {p.label} | {p.bpp:.4f} | "
                f"{p.kbps:.1f} | {p.psnr_yuv:.2f} | {p.psnr_y:.2f} | {p.psnr_rgb:.2f} | {ssim} | "
                f"{p.encode_seconds:.2f} | {p.decode_seconds:.2f} | {mem} |"
            )
    return "\n".join(lines) + "\n"


def _figure_class() -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise UarInputError(
            "RD plots need matplotlib: pip install 'uarcodec[plot]' (or matplotlib)"
        ) from exc
    return Figure, FigureCanvasAgg


def codec_colors(results: Sequence[CodecResults]) -> dict[str, str]:
    """The same matplotlib colour for a codec in every plot (by sorted codec name)."""
    return {codec: f"C{i % 10}" for i, codec in enumerate(sorted({r.codec for r in results}))}


def _draw_panel(ax: Any, results: Sequence[CodecResults], metric: str, colors: dict[str, str],
                small: bool = False) -> None:
    """``metric`` against bpp on one axes, one line per codec."""
    for r in results:
        curve = _curve(r, metric)
        if curve is not None:
            ax.plot(curve[0], curve[1], marker="o", markersize=3 if small else 6, label=r.codec,
                    color=colors[r.codec])
    ax.set_xlabel("bpp")
    ax.set_ylabel(_METRIC_TITLES[metric] + (" (dB)" if metric != "ms_ssim" else ""))
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8 if small else None)


def _save(fig: Any, out_png: Path) -> Path:
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(out_png))
    return out_png


def plot_rd(results: Sequence[CodecResults], out_png: Path, title: str = "") -> Path:
    """One PNG: PSNR-YUV and MS-SSIM against bpp, one line per codec."""
    figure_cls, canvas_cls = _figure_class()
    fig = figure_cls(figsize=(11, 4.5), dpi=100)
    canvas_cls(fig)
    colors = codec_colors(results)
    for ax, metric in zip(fig.subplots(1, 2), ("psnr_yuv", "ms_ssim"), strict=True):
        _draw_panel(ax, results, metric, colors)
    if title:
        fig.suptitle(title)
    return _save(fig, out_png)


def plot_overview(results: Sequence[CodecResults], out_png: Path, metric: str = "psnr_yuv") -> Path:
    """One PNG with a panel per clip: ``metric`` against bpp, one line per codec."""
    figure_cls, canvas_cls = _figure_class()
    by_clip: dict[str, list[CodecResults]] = defaultdict(list)
    for r in results:
        by_clip[r.clip.name].append(r)
    cols = min(3, len(by_clip))
    rows = -(-len(by_clip) // cols)
    fig = figure_cls(figsize=(4.6 * cols, 3.8 * rows), dpi=100)
    canvas_cls(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    colors = codec_colors(results)
    for ax, (clip, group) in zip(axes, sorted(by_clip.items()), strict=False):
        _draw_panel(ax, group, metric, colors, small=True)
        ax.set_title(clip, fontsize=10)
    for ax in axes[len(by_clip):]:
        ax.set_visible(False)
    return _save(fig, out_png)


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    markdown: Path
    plots: list[Path]


def write_report(
    results: Sequence[CodecResults], out_dir: Path, anchor: str = DEFAULT_ANCHOR,
    aliases: Sequence[CodecResults] = (),
) -> ReportFiles:
    """``report.md`` (BD-rate tables and all points), ``rd_<clip>_gop<G>.png`` per clip and,
    when there are several clips, ``rd_overview_gop<G>.png`` (PSNR-YUV, a panel per clip).
    ``aliases``: results under a second name (``uar-auto``: the family auto picked on each
    clip), a column of the BD-rate tables only."""
    if not results:
        raise UarInputError("no results to report")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, Any], list[CodecResults]] = defaultdict(list)
    for r in results:
        groups[(r.clip.name, _gop(r))].append(r)
    plots = [
        plot_rd(group, out_dir / f"rd_{clip}_gop{gop}.png", f"{clip}, GOP {gop}")
        for (clip, gop), group in sorted(groups.items(), key=lambda kv: str(kv[0]))
    ]
    by_gop: dict[Any, list[CodecResults]] = defaultdict(list)
    for r in results:
        by_gop[_gop(r)].append(r)
    for gop, group in sorted(by_gop.items(), key=lambda kv: gop_order(kv[0])):
        if len({r.clip.name for r in group}) > 1:
            plots.append(plot_overview(group, out_dir / f"rd_overview_gop{gop}.png"))
    text = "# RD results\n\n" + bd_table_markdown([*results, *aliases], anchor) + "\n## Points\n\n"
    text += points_table_markdown(results)
    markdown = out_dir / "report.md"
    atomic_write_text(markdown, text)
    return ReportFiles(markdown, plots)


def load_results_dir(directory: Path) -> list[CodecResults]:
    """Every results JSON in a directory (as written by the bench runner)."""
    files = sorted(Path(directory).glob("*__*__gop*.json"))
    return [CodecResults.load(f) for f in files]
