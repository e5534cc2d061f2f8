"""`uar encode`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from uarcodec.api import (
    EncodeReport, InputOptions, ParallelSettings, choose_family, encode, partial_path, plan_encode, set_threads,
)
from uarcodec.errors import UarWorkerError
from uarcodec.settings import EncoderSettings, InitMode, TrainingOptions, TrainingSettings, parse_size

from uarcodec_cli.common import COMMAND_CONTEXT, handle_errors, loglevel, parse_fps, parse_wxh, print_json
from uarcodec_cli.options import parallel_options, training_options
from uarcodec_cli.progress import encode_progress, stderr


FITTED_LATER = 100_000  # a placeholder size until the plan sizes the model for the video


@click.command("encode", context_settings=COMMAND_CONTEXT)
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output .uar file.")
@click.option("-s", "size", callback=parse_wxh, metavar="WxH", help="Frame size of raw .yuv input.")
@click.option("-r", "fps", callback=parse_fps, metavar="FPS", help="Frame rate of raw .yuv input (default 25).")
@click.option("-pix_fmt", "pix_fmt", metavar="FMT", help="Pixel format of raw input (yuv420p).")
@click.option("-p", "--gop-size", type=click.IntRange(min=1), default=30, show_default=True,
              help="Frames per GOP (per model).")
@click.option("-m", "--gom-size", type=click.IntRange(min=1), default=5, show_default=True,
              help="Models per GOM (random-access unit).")
@click.option("--size", "model_size", metavar="N",
              help="Parameters per model, e.g. 150k (default: a size that fits the frame size and p, the second "
                   "of the bench's four rate points).")
@click.option("--bpp", type=float,
              help="Target bits per pixel: sizes the models (unless --size is given) and steers the rate-"
                   "distortion trade-off while each model trains so that the file lands on it.")
@training_options(auto=True)
@click.option("--init", "init_mode", type=click.Choice(InitMode.choices()), default=InitMode.II.value,
              show_default=True, help="P-model initialisation.")
@click.option("--eps", type=float, help="Fixed interpolation weight eps for every P-model.")
@click.option("--ref/--no-ref", "use_ref", default=True, show_default=True, help="Code P-models as residuals.")
@click.option("--frames", "-frames", "frames", type=click.IntRange(min=1), help="Encode only the first N frames.")
@click.option("-y", "overwrite", is_flag=True, help="Overwrite the output.")
@click.option("--resume", is_flag=True, help="Continue an interrupted encode: no GOM that finished is fitted again.")
@parallel_options
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as JSON on stdout.")
@handle_errors
def encode_cmd(input_path: Path, output: Path, size, fps, pix_fmt, gop_size: int, gom_size: int, model_size, bpp,
               training: TrainingOptions, init_mode, eps, use_ref, frames, overwrite, resume, parallel: ParallelSettings,
               as_json) -> None:
    """Encode INPUT (.yuv, .y4m, or anything ffmpeg/PyAV reads) into a .uar stream."""
    options = InputOptions(size=size, fps=fps, pix_fmt=pix_fmt)
    asked = parse_size(model_size) if model_size else None
    training, choice = choose_family(input_path, training, gop_size, gom_size, input_options=options, frames=frames,
                                     model_sizes=() if asked is None else (asked,), bpp=bpp)
    settings = training.encoder_settings(
        gop_size, gom_size, FITTED_LATER if asked is None else asked, init=init_mode, eps=eps, use_ref=use_ref,
    )
    plan = plan_encode(input_path, output, settings, input_options=options, frames=frames, bpp=bpp,
                       fitted_size=not model_size, overwrite=overwrite)
    if training.threads is not None:
        set_threads(training.threads)
    settings, t, v = plan.settings, plan.settings.training, plan.video
    show = loglevel() != "quiet"
    if show:
        stderr.print(
            f"[bold]uar encode[/] {input_path} -> {output}: {v.width}x{v.height}, {plan.num_frames} frames, "
            f"p={gop_size} m={gom_size} ({plan.num_goms} GOM{'s' if plan.num_goms != 1 else ''}"
            f"{_cuts_note(settings.scene_cuts)}), "
            f"{settings.family}{'' if choice is None else f' (auto: {choice.reason})'} {settings.model_size} params"
            f"{'' if settings.target_bpp is None else f', target {settings.target_bpp:g} bpp'}, "
            f"preset {settings.preset} (I {t.epochs_i} / P {t.epochs_p} epochs"
            f"{_moving_note(t, settings)})"
            f"{_executor_note(parallel)}"
        )
    try:
        with encode_progress(plan.num_frames, plan.num_goms, show) as events:
            report = encode(
                input_path, output, settings, input_options=options, frames=frames, device=training.device,
                overwrite=overwrite, resume=resume, events=events, parallel=parallel,
            )
    except KeyboardInterrupt:
        partial = partial_path(output)
        if partial.exists():
            stderr.print(f"interrupted: the finished GOMs are kept in {partial}; "
                         "run the same command with --resume to finish")
        raise
    except UarWorkerError:
        if partial_path(output).exists():
            stderr.print(f"the finished GOMs are kept in {partial_path(output)}; "
                         "run the same command with --resume to finish")
        raise
    if as_json:
        print_json({**_summary(report), "family": str(settings.family),
                    "family_choice": None if choice is None else choice.reason})
    elif show:
        stderr.print(
            f"wrote {report.path}: {report.file_bytes} bytes, {report.bpp:.4f} bpp, "
            f"PSNR-YUV {report.psnr_yuv:.2f} dB (Y {report.psnr_y:.2f}), {report.encode_seconds:.1f} s, "
            f"peak memory {report.peak_memory_mb:.0f} MB"
        )


def _cuts_note(cuts: tuple[int, ...] | None) -> str:
    """The banner's word on scene cuts, where there are any."""
    if not cuts:
        return ""
    return f"; scene cut{'s' if len(cuts) > 1 else ''} at frame{'s' if len(cuts) > 1 else ''} {', '.join(map(str, cuts))}"


def _moving_note(t: TrainingSettings, settings: EncoderSettings) -> str:
    """The P-models' settings where the picture moves, while the encoder has still to find out."""
    parts = ([] if t.epochs_p_moving is None else [f"P {t.epochs_p_moving}"]) + (
        [] if t.lambda_p_scale_moving is None else [f"P lambda x{t.lambda_p_scale_moving:g}"])
    return f"; {', '.join(parts)} where {_what_moves(settings)}" if parts else ""


def _what_moves(settings) -> str:
    """What changes the P-models' settings: the latent grids' motion, else the camera's."""
    return "the grids move" if settings.family == "latent" else "the camera moves"


def _executor_note(parallel: ParallelSettings) -> str:
    if parallel.executor == "serial":
        return ""
    workers = f", {parallel.workers} workers" if parallel.workers else ""
    return f", executor {parallel.executor}{workers}, {parallel.worker_threads()} thread(s) per GOM"


def _summary(report: EncodeReport) -> dict:
    data = dataclasses.asdict(report)
    for m in data["models"]:
        m["kind"] = "I" if m["kind"] == 0 else "P"
    return data
