"""`uar calibrate`."""

from __future__ import annotations

from pathlib import Path

import click

from uarcodec.bench.calibration import (
    CalibrationResult,
    CalibrationSettings,
    calibrate_eps_law,
    load_earlier_run,
)
from uarcodec.bench.calibration_plot import plot_calibration
from uarcodec.settings import TrainingOptions, parse_size

from uarcodec_cli.common import COMMAND_CONTEXT, handle_errors, int_list, loglevel, print_json
from uarcodec_cli.options import training_options
from uarcodec_cli.progress import stderr


@click.command("calibrate", context_settings=COMMAND_CONTEXT)
@click.argument("clips", nargs=-1, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--gops", default="5,10,30", show_default=True, help="GOP sizes p, comma-separated.")
@click.option("--pairs", type=int, default=2, show_default=True, help="Adjacent GOP pairs per clip and p.")
@click.option("--eps-steps", type=int, default=6, show_default=True, help="eps values on [0, 1].")
@click.option("--size", "model_size", metavar="N",
              help="Parameters per model (default: the bench's second rate point at each p).")
@training_options()
@click.option("--frames", "-frames", "frames", type=int, help="Use only the first N frames of each clip.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a PNG of the samples, the fitted law and the RD loss curves.")
@click.option("--json", "as_json", is_flag=True, help="Print the fit and every sample as JSON on stdout.")
@click.option("--include", "includes", multiple=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Also fit the samples of an earlier run's --json output (same preset, lambda, epochs, "
                   "model and seed). Repeatable; with no CLIPS it only refits.")
@handle_errors
def calibrate_cmd(clips, gops, pairs, eps_steps, model_size, training: TrainingOptions, frames, plot_path, as_json,
                  includes) -> None:
    """Fit the eps law eps = 1 - a*exp(-b*MSE + c) on CLIPS: for adjacent GOP pairs at several
    p, sweep eps over [0, 1], keep the eps with the best RD loss and fit (a, b) by least squares
    (c = 0: only a*exp(c) is identifiable). --include adds the samples of earlier runs."""
    if not clips and not includes:
        raise click.UsageError("give CLIPS to measure, or --include earlier runs to refit")
    if pairs < 1 or eps_steps < 2:
        raise click.BadParameter("--pairs must be at least 1 and --eps-steps at least 2")
    settings = CalibrationSettings(
        gops=int_list(gops, "--gops"), pairs=pairs, eps_steps=eps_steps,
        size=parse_size(model_size) if model_size else None, frames=frames, training=training,
    )
    show = loglevel() != "quiet"
    earlier = [load_earlier_run(path) for path in includes]
    result = calibrate_eps_law(clips, settings, (lambda msg: stderr.print(msg)) if show else None, earlier)
    if plot_path is not None:
        plot_calibration(result, plot_path)
    if as_json:
        data = result.to_dict()
        data["plot"] = None if plot_path is None else str(plot_path)
        print_json(data)
        return
    click.echo(summary_text(result))
    if plot_path is not None:
        click.echo(f"plot: {plot_path}")


def summary_text(result: CalibrationResult) -> str:
    """The samples and the fit as plain text."""
    lines = ["clip                        p   GOPs      gap MSE   best eps (grid)"]
    for s in result.samples:
        lines.append(f"{s.clip[:26]:<26} {s.gop_size:>3}   {s.first_gop:>2},{s.first_gop + 1:<3}  "
                     f"{s.gap_mse:>10.3g}   {s.best_eps:.3f} ({s.grid_best_eps:.2f})")
    for note in result.skipped:
        lines.append(f"skipped: {note}")
    for source in result.included:
        lines.append(f"included: {source}")
    fit, law = result.fit, result.fit.law
    r2 = "n/a (every sample has the same eps)" if fit.r2 is None else f"{fit.r2:.4f}"
    lines += [
        "",
        f"eps = 1 - a * exp(-b * MSE + c):  a = {law.a:.6g}  b = {law.b:.6g}  c = {law.c:g}",
        f"  ({fit.note})",
        f"fit: {fit.points} samples, RMSE {fit.rmse:.4f}, R^2 {r2} ({fit.method})",
        f"settings: EpsLaw(a={law.a:.8g}, b={law.b:.8g}, c={law.c:g})",
    ]
    return "\n".join(lines)
