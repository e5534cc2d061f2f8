"""What the `uar` subcommands share: exit codes, one-line errors, option parsers, output helpers.

Imports nothing of the CLI itself, so that every command module (and :mod:`uarcodec_cli.app`)
can import it without a cycle.

Exit codes: 0 ok, 1 error (one line on stderr), 2 usage, 3 decoded with damaged GOMs concealed
(`uar decode --conceal`; the output is written), 130 interrupted.
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

from uarcodec.errors import UarError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CONCEALED = 3  # `uar decode --conceal` wrote its output but concealed damaged GOMs
EXIT_INTERRUPTED = 130

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
"""Context settings of the `uar` group."""

COMMAND_CONTEXT = {"help_option_names": ["-h", "--help"]}
"""Context settings of each subcommand."""


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


def int_list(text: str, what: str) -> tuple[int, ...]:
    """'6,30,120' -> (6, 30, 120); positive integers only."""
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise click.BadParameter(f"{what}: expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise click.BadParameter(f"{what}: expected positive integers, got {text!r}")
    return values


def names_list(text: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    """'a,b' -> ('a', 'b'), each one of `known`."""
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise click.BadParameter(f"{what}: use a comma-separated list of {', '.join(known)} (got {text!r})")
    return names


def loglevel() -> str:
    """The group's --loglevel (quiet, info or debug)."""
    return click.get_current_context().find_root().params.get("loglevel", "info")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
