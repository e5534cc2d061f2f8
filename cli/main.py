"""`uar`: the command-line front end. Options, progress, messages and exit codes only; every
codec operation is a call into :mod:`uarcodec.api`.

Exit codes: 0 ok, 1 error (one line on stderr), 2 usage, 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import sys
import traceback
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import click

import uarcodec
from uarcodec.errors import UarError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def fail(message: str, code: int = EXIT_ERROR) -> None:
    click.echo(f"uar: error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Library errors -> one line + exit 1; Ctrl-C -> exit 130; anything else -> one line
    (the traceback only with --loglevel debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UarError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            click.echo("uar: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except OSError as exc:
            fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug: say so in one line, keep the trace for debugging
            if click.get_current_context().find_root().params.get("loglevel") == "debug":
                traceback.print_exc()
            fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --loglevel debug for details)")

    return wrapper


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
def main(loglevel: str, threads: int | None) -> None:
    """uar: the UAR-NVC neural video codec (per-GOP implicit neural representations)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def parse_wxh(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        w, h = value.lower().split("x")
        size = (int(w), int(h))
    except ValueError:
        raise click.BadParameter(f"expected WxH, e.g. 352x288, got {value!r}") from None
    if size[0] <= 0 or size[1] <= 0:
        raise click.BadParameter(f"width and height must be positive, got {value!r}")
    return size


def parse_fps(ctx: click.Context, param: click.Parameter, value: str | None) -> Fraction | None:
    if value is None:
        return None
    try:
        fps = Fraction(value) if "/" in value else Fraction(value).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise click.BadParameter(f"expected a rate like 30, 29.97 or 30000/1001, got {value!r}") from None
    if fps <= 0:
        raise click.BadParameter("the frame rate must be positive")
    return fps


def loglevel() -> str:
    return click.get_current_context().find_root().params.get("loglevel", "info")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


# The subcommands live in their own modules; importing them registers them on `main`.
from uarcodec_cli import bench_cmd, calibrate_cmd, compare_cmd, decode_cmd, encode_cmd, info_cmd  # noqa: E402,F401
