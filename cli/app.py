"""The `uar` click group and its global options; the subcommands are attached in
:mod:`uarcodec_cli.main`."""

from __future__ import annotations

import click

import uarcodec
from uarcodec.api import set_threads

from uarcodec_cli.common import CONTEXT


@click.group(context_settings=CONTEXT)
@click.version_option(uarcodec.__version__, "--version", prog_name="uar")
@click.option(
    "-v", "--loglevel", type=click.Choice(["quiet", "info", "debug"]), default="info",
    help="How much to print on stderr.",
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=None,
    help="CPU threads for torch (default: torch's choice, all cores). Use 1 on a busy machine.",
)
def cli(loglevel: str, threads: int | None) -> None:
    """uar: the UAR-NVC neural video codec (per-GOP implicit neural representations)."""
    if threads is not None:
        set_threads(threads)
