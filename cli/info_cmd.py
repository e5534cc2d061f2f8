"""`uar info`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from uarcodec.api import stream_info

from uarcodec_cli.common import COMMAND_CONTEXT, handle_errors, print_json


@click.command("info", context_settings=COMMAND_CONTEXT)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="Also list every coded tensor.")
@click.option("--breakdown", is_flag=True,
              help="Where the bits go: by model kind (I/P), tensor role, zero symbols, and per GOM.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@handle_errors
def info_cmd(path: Path, verbose: bool, breakdown: bool, as_json: bool) -> None:
    """Summarise a .uar stream: video, settings, GOMs, models (and tensors with -v)."""
    info = stream_info(path, verbose=verbose, breakdown=breakdown)
    if as_json:
        print_json(info)
        return
    console = Console()
    console.print(_overview(info))
    console.print(_goms(info))
    if verbose:
        for g in info["goms"]:
            for k, m in enumerate(g["models"]):
                console.print(_tensors(g["index"], k, m))
    if breakdown:
        console.print(_breakdown(info["breakdown"]))


def _overview(info: dict[str, Any]) -> Table:
    v, c = info["video"], info["coding"]
    t = Table(title=f"{info['file']}", show_header=False, title_justify="left")
    t.add_column("field", style="bold")
    t.add_column("value")
    t.add_row("format", f"{info['format_version']} (needs reader >= {info['min_reader_version']})"
              + ("  [yellow]index recovered by scanning[/]" if info["index_recovered"] else ""))
    t.add_row("video", f"{v['width']}x{v['height']}, {v['frames']} frames, {v['fps']} fps, {v['pix_fmt']}, "
              f"{v['color_matrix']} {v['color_range']}")
    t.add_row("size", f"{info['file_bytes']} bytes, {v['bpp']:.4f} bpp")
    cuts = f", scene cuts at {', '.join(map(str, c['scene_cuts']))}" if c["scene_cuts"] else ""
    t.add_row("coding", f"p={c['gop_size']} m={c['gom_size']}{cuts}, {c['family']} (id {c['family_id']}), "
              f"output {c['output_space']}, quantizer {c['quantizer_id']}, coder {c['coder_id']} ({c['coder_version']})")
    t.add_row("architecture", ", ".join(f"{k}={v}" for k, v in c["arch"].items()))
    t.add_row("encoder", ", ".join(f"{k}={v}" for k, v in c["encoder_settings"].items()))
    return t


def _goms(info: dict[str, Any]) -> Table:
    t = Table(title="GOMs and models", title_justify="left")
    for col in ("GOM", "frames", "bytes", "bpp", "model", "I/P", "seed / eps", "params", "model bytes"):
        t.add_column(col, justify="right" if col not in ("I/P", "model") else "left")
    for g in info["goms"]:
        for k, m in enumerate(g["models"]):
            first = k == 0
            tag = f"seed {m['seed']}" if m["kind"] == "I" else f"eps {m['eps']:.3f}"
            t.add_row(
                str(g["index"]) if first else "", f"{g['first_frame']}+{g['frames']}" if first else "",
                str(g["bytes"]) if first else "", f"{g['bpp']:.4f}" if first else "",
                str(k), m["kind"], tag, str(m["params"]), str(m["coded_bytes"]),
            )
    return t


def _tensors(gom: int, k: int, m: dict[str, Any]) -> Table:
    """One model's coded tensors, a row each (``uar info -v``; mean, std and the symbol range are
    in ``--json``)."""
    t = Table(title=f"GOM {gom}, model {k} ({m['kind']}): {m['coded_bytes']} bytes", title_justify="left",
              box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("tensor", "shape", "ref", "coding", "step", "bytes", "bits/value"):
        numeric = col in ("step", "bytes", "bits/value")
        t.add_column(col, justify="right" if numeric else "left", no_wrap=numeric or col in ("shape", "ref"),
                     overflow="fold", min_width=16 if col == "tensor" else None,
                     max_width=10 if col == "coding" else None)
    for i, ts in enumerate(m["tensors"]):
        t.add_row(ts["name"] or f"tensor {i}", "x".join(map(str, ts["shape"])), ts["ref"], ts["coding"].replace("+", " +"),
                  f"{ts['step']:.3g}", str(ts["bytes"]), f"{ts['bits_per_param']:.2f}")
    return t


def _breakdown(b: dict[str, Any]) -> Table:
    t = Table(title="Where the bits go", title_justify="left")
    for col in ("models", "tensors", "params", "bytes", "bits/param", "zero symbols"):
        t.add_column(col, justify="left" if col == "models" else "right")

    def row(name: str, d: dict[str, Any]) -> None:
        t.add_row(name, str(d["tensors"]), str(d["params"]), str(d["bytes"]), f"{d['bits_per_param']:.2f}",
                  f"{100 * d['zero_share']:.1f}%")

    for kind, total in b["by_kind"].items():
        row(f"{kind}-models", total)
        for role, d in b["by_role"][kind].items():
            row(f"  {role}", d)
    for g in b["per_gom"]:
        ratios = ", ".join(f"{r:.2f}" for r in g["p_over_i"]) or "-"
        t.add_row(f"GOM {g['index']}: P/I bytes {ratios}", "", "", str(sum(m["bytes"] for m in g["models"])), "", "")
    return t
