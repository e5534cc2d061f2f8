"""The paper's ablations (Table III) and *base* vs *ours* on our clips.

Variants (each a uarcodec bench curve at the same p, m and model sizes):

* V0: II init + reference coding (RQEC): *ours*, the default encoder;
* V1: random init, no reference;
* V2: direct init, QAT (fixed-bit quantization, no rate term), no reference: the paper's *base*;
* V3: II init, no reference.

``--ablation`` runs V0-V3 for the first model family and V0 (ours) and V2 (base) for every other
one. V0 is the plain ``uar-<family>`` curve, so a bench with ``--ablation`` does not encode it
twice. ``ablation.md`` gives, per clip and p, the BD-rate (PSNR-YUV, bpp) of each variant
against V0 and bpp/PSNR-YUV at every point, and per family base against ours (and against x265
when it was run).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uarcodec.bench.report import DEFAULT_ANCHOR, bd_rate_against, gop_order
from uarcodec.bench.results import ClipInfo, CodecResults
from uarcodec.bench.uar_runner import UarRunner, UarRunnerConfig, uar_runner_for_clip
from uarcodec.errors import UarInputError
from uarcodec.settings import InitMode, QuantMode
from uarcodec.sysinfo import atomic_write_text


@dataclass(frozen=True)
class Variant:
    """One row of the paper's Table III as encoder settings."""

    key: str
    title: str
    init: InitMode
    use_ref: bool
    quant: QuantMode


VARIANTS: tuple[Variant, ...] = (
    Variant("V0", "II init + ref", InitMode.II, True, QuantMode.RQEC),
    Variant("V1", "random init, no ref", InitMode.RANDOM, False, QuantMode.RQEC),
    Variant("V2", "direct init + QAT, no ref (base)", InitMode.DIRECT, False, QuantMode.QAT),
    Variant("V3", "II init, no ref", InitMode.II, False, QuantMode.RQEC),
)
OURS, BASE = "V0", "V2"
_BY_KEY = {v.key: v for v in VARIANTS}


def variant(key: str) -> Variant:
    if key not in _BY_KEY:
        raise UarInputError(f"unknown ablation variant {key!r} (known: {', '.join(_BY_KEY)})")
    return _BY_KEY[key]


def variant_config(config: UarRunnerConfig, key: str) -> UarRunnerConfig:
    """``config`` with a variant's init, reference and quantizer. A fixed eps is kept only for
    II (random and direct init fix eps to 1 and 0 themselves)."""
    v = variant(key)
    eps = config.eps if v.init == InitMode.II else None
    training = dataclasses.replace(config.training, quant=v.quant)
    return dataclasses.replace(config, init=v.init, use_ref=v.use_ref, training=training, eps=eps)


def variant_name(family: str, key: str) -> str:
    """Codec name of a variant's results: V0 is the plain ``uar-<family>`` curve."""
    variant(key)
    return f"uar-{family}" if key == OURS else f"uar-{family}-{key}"


def ablation_keys(family_position: int) -> tuple[str, ...]:
    """V0-V3 for the first family, ours and base for the others."""
    return tuple(v.key for v in VARIANTS) if family_position == 0 else (OURS, BASE)


def ablation_runners(configs: Sequence[UarRunnerConfig], info: ClipInfo) -> list[tuple[str, UarRunner]]:
    """(variant key, runner) for every family's config (one per family, first one first)."""
    runners = []
    for position, config in enumerate(configs):
        for key in ablation_keys(position):
            runner = uar_runner_for_clip(variant_config(config, key), info, variant_name(config.family, key))
            runners.append((key, runner))
    return runners


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _fmt_bd(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def _points_cell(results: CodecResults, label: str) -> str:
    p = results.point(label)
    return "—" if p is None else f"{p.bpp:.4f} / {p.psnr_yuv:.2f}"


def _labels(curves: Sequence[CodecResults]) -> list[str]:
    """Point labels in order of increasing rate of the first curve, then any others."""
    labels: list[str] = []
    for c in curves:
        for p in c.sorted_points():
            if p.label not in labels:
                labels.append(p.label)
    return labels


def _variant_table(by_codec: dict[str, CodecResults], family: str,
                   averages: dict[tuple[Any, str], list[float]], gop: Any) -> list[str]:
    anchor = by_codec.get(variant_name(family, OURS))
    rows = [(v, by_codec.get(variant_name(family, v.key))) for v in VARIANTS]
    present = [r for _, r in rows if r is not None]
    if anchor is None or len(present) < 2:
        return []
    labels = _labels(present)
    lines = [
        "| variant | BD-rate vs V0 (PSNR-YUV) | " + " | ".join(f"{lab} bpp / dB" for lab in labels) + " |",
        "|" + "---|" * (2 + len(labels)),
    ]
    for v, res in rows:
        if res is None:
            continue
        bd = 0.0 if v.key == OURS else bd_rate_against(anchor, res, "psnr_yuv")
        if bd is not None and v.key != OURS:
            averages[(gop, v.key)].append(bd)
        cells = [_points_cell(res, lab) for lab in labels]
        lines.append(f"| {v.key} {v.title} | {_fmt_bd(bd)} | " + " | ".join(cells) + " |")
    return lines


def _base_ours_table(by_codec: dict[str, CodecResults], families: Sequence[str], anchor: str) -> list[str]:
    rows = []
    for family in families:
        ours = by_codec.get(variant_name(family, OURS))
        base = by_codec.get(variant_name(family, BASE))
        if ours is None or base is None:
            continue
        rows.append((family, base, ours))
    if not rows:
        return []
    x265 = by_codec.get(anchor)
    lines = [
        f"| family | ours vs base (PSNR-YUV) | base vs {anchor} | ours vs {anchor} "
        "| points (base → ours, bpp / dB) |",
        "|---|---|---|---|---|",
    ]
    for family, base, ours in rows:
        vs_x = [_fmt_bd(bd_rate_against(x265, r, "psnr_yuv")) if x265 else "n/a" for r in (base, ours)]
        pts = "; ".join(
            f"{lab}: {_points_cell(base, lab)} → {_points_cell(ours, lab)}" for lab in _labels([base, ours])
        )
        ours_vs_base = _fmt_bd(bd_rate_against(base, ours, "psnr_yuv"))
        lines.append(f"| {family} | {ours_vs_base} | {vs_x[0]} | {vs_x[1]} | {pts} |")
    return lines


def ablation_markdown(results: Sequence[CodecResults], families: Sequence[str],
                      anchor: str = DEFAULT_ANCHOR) -> str:
    """The ablation tables of ``results`` (every curve of a bench; others are ignored)."""
    if not families:
        raise UarInputError("no model family for the ablation report")
    groups: dict[tuple[Any, str], dict[str, CodecResults]] = defaultdict(dict)
    for r in results:
        groups[(r.settings.get("gop"), r.clip.name)][r.codec] = r
    first = families[0]
    averages: dict[tuple[Any, str], list[float]] = defaultdict(list)
    out = [
        "# Ablations (paper Table III) and base vs ours",
        "",
        "BD-rate on PSNR-YUV with bpp as the rate (PCHIP); negative = fewer bits than the "
        "reference curve at equal quality. Cells: bpp / PSNR-YUV (dB) at each model size.",
        "Variants: " + "; ".join(
            f"{v.key} = init {v.init}, {'ref' if v.use_ref else 'no ref'}, {v.quant}" for v in VARIANTS
        ) + ".",
    ]
    for (gop, clip) in sorted(groups, key=lambda k: (gop_order(k[0]), k[1])):
        by_codec = groups[(gop, clip)]
        variants = _variant_table(by_codec, first, averages, gop)
        base_ours = _base_ours_table(by_codec, families, anchor)
        if not variants and not base_ours:
            continue
        out += ["", f"## {clip}, p = {gop}"]
        if variants:
            out += ["", f"Variants ({first}):", "", *variants]
        if base_ours:
            out += ["", "Base vs ours:", "", *base_ours]
    gops = sorted({gop for gop, _ in averages}, key=gop_order)
    if gops:
        out += ["", f"## Average BD-rate against V0 over clips ({first})", "",
                "| p | " + " | ".join(v.key for v in VARIANTS[1:]) + " |", "|" + "---|" * len(VARIANTS)]
        for gop in gops:
            cells = []
            for v in VARIANTS[1:]:
                values = averages.get((gop, v.key), [])
                cells.append(_fmt_bd(sum(values) / len(values) if values else None))
            out.append(f"| {gop} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def write_ablation_report(results: Sequence[CodecResults], families: Sequence[str], out_dir: Path,
                          anchor: str = DEFAULT_ANCHOR) -> Path:
    """Write ``ablation.md`` into ``out_dir``."""
    path = Path(out_dir) / "ablation.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, ablation_markdown(results, families, anchor))
    return path


__all__ = [
    "BASE", "OURS", "VARIANTS", "Variant", "ablation_keys", "ablation_markdown", "ablation_runners",
    "variant", "variant_config", "variant_name", "write_ablation_report",
]
