"""`uar encode`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from uarcodec.api import InputOptions, encode
from uarcodec.pipeline.encoder import EncodeReport, partial_path
from uarcodec.pipeline.partition import GopPartition
from uarcodec.settings import PRESET_DIVISORS, DEFAULT_PRESET, EncoderSettings, parse_size, preset_training, size_for_bpp
from uarcodec.video import open_video

from uarcodec_cli.main import handle_errors, loglevel, main, parse_fps, parse_wxh, print_json
from uarcodec_cli.progress import encode_progress, stderr


@main.command("encode", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output .uar file.")
@click.option("-s", "size", callback=parse_wxh, metavar="WxH", help="Frame size of raw .yuv input.")
@click.option("-r", "fps", callback=parse_fps, metavar="FPS", help="Frame rate of raw .yuv input (default 25).")
@click.option("-pix_fmt", "pix_fmt", metavar="FMT", help="Pixel format of raw input (yuv420p).")
@click.option("-p", "--gop-size", type=int, default=30, show_default=True, help="Frames per GOP (per model).")
@click.option("-m", "--gom-size", type=int, default=5, show_default=True, help="Models per GOM (random-access unit).")
@click.option("--model", "family", type=click.Choice(["hnerv", "hinerv"]), default="hnerv", show_default=True)
@click.option("--size", "model_size", metavar="N", help="Parameters per model, e.g. 150k.")
@click.option("--bpp", type=float, help="Target bits per pixel (sets --size).")
@click.option("--lambda", "lmbda", type=float, help="Rate-distortion trade-off: loss = bpp + lambda * MSE.")
@click.option("--preset", type=click.Choice(list(PRESET_DIVISORS)), default=DEFAULT_PRESET, show_default=True,
              help="Training length (veryslow = the paper's epochs).")
@click.option("--epochs-i", type=int, help="Epochs of I-models (overrides the preset).")
@click.option("--epochs-p", type=int, help="Epochs of P-models (overrides the preset).")
@click.option("--lr", type=float, help="Learning rate.")
@click.option("--batch-size", type=int, help="Frames per training step.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]),
              help="Training precision: bf16 autocast, fp32, or auto (bf16 where the hardware is fast at it; the default).")
@click.option("--distortion", type=click.Choice(["yuv", "rgb"]), help="Loss colour space (yuv: 6:1:1 on 4:2:0).")
@click.option("--quant", type=click.Choice(["rqec", "qat"]), help="rqec (entropy-constrained) or qat (paper's base).")
@click.option("--train-encoder/--no-train-encoder", "use_encoder", default=None,
              help="HNeRV: compute embeddings with its ConvNeXt encoder trained jointly (on by default).")
@click.option("--init", "init_mode", type=click.Choice(["ii", "random", "direct"]), default="ii", show_default=True,
              help="P-model initialisation.")
@click.option("--eps", type=float, help="Fixed interpolation weight eps for every P-model.")
@click.option("--ref/--no-ref", "use_ref", default=True, show_default=True, help="Code P-models as residuals.")
@click.option("--frames", "-frames", "frames", type=int, help="Encode only the first N frames.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-y", "overwrite", is_flag=True, help="Overwrite the output.")
@click.option("--resume", is_flag=True, help="Continue an interrupted encode from its complete GOMs.")
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as JSON on stdout.")
@handle_errors
def encode_cmd(input_path: Path, output: Path, size, fps, pix_fmt, gop_size, gom_size, family, model_size, bpp,
               lmbda, preset, epochs_i, epochs_p, lr, batch_size, precision, distortion, quant, use_encoder, init_mode, eps,
               use_ref, frames, device, seed, overwrite, resume, as_json) -> None:
    """Encode INPUT (.yuv, .y4m, or anything ffmpeg/PyAV reads) into a .uar stream."""
    if gop_size < 1 or gom_size < 1:
        raise click.BadParameter("-p and -m must be at least 1")
    if frames is not None and frames < 1:
        raise click.BadParameter("--frames must be at least 1")
    if model_size and bpp:
        raise click.UsageError("give --size or --bpp, not both")
    options = InputOptions(size=size, fps=fps, pix_fmt=pix_fmt)
    with open_video(str(input_path), size=size, fps=fps, pix_fmt=pix_fmt) as reader:
        info = reader.info
    num_frames = info.num_frames if frames is None else min(frames, info.num_frames)
    if model_size:
        params = parse_size(model_size)
    elif bpp:
        params = size_for_bpp(bpp, info.width, info.height, min(gop_size, num_frames))
    else:
        params = 100_000
    training = preset_training(
        preset, gop_size, epochs_i=epochs_i, epochs_p=epochs_p, lr=lr, batch_size=batch_size,
        lmbda=lmbda, precision=precision, distortion=distortion, quant=quant, use_encoder=use_encoder,
    )
    settings = EncoderSettings(
        gop_size=gop_size, gom_size=gom_size, family=family, model_size=params, training=training,
        init=init_mode, eps=eps, use_ref=use_ref, seed=seed, preset=preset,
    )
    settings.validate()
    goms = len(GopPartition(num_frames, gop_size, gom_size).goms)
    show = loglevel() != "quiet"
    if show:
        stderr.print(
            f"[bold]uar encode[/] {input_path} -> {output}: {info.width}x{info.height}, {num_frames} frames, "
            f"p={gop_size} m={gom_size} ({goms} GOM{'s' if goms != 1 else ''}), {family} {params} params, "
            f"preset {preset} (I {training.epochs_i} / P {training.epochs_p} epochs)"
        )
    try:
        with encode_progress(num_frames, goms, show) as events:
            report = encode(
                input_path, output, settings, input_options=options, frames=frames, device=device,
                overwrite=overwrite, resume=resume, events=events,
            )
    except KeyboardInterrupt:
        partial = partial_path(output)
        if partial.exists():
            stderr.print(f"interrupted: the complete GOMs are kept in {partial}; "
                         "run the same command with --resume to finish")
        raise
    if as_json:
        print_json(_summary(report))
    elif show:
        stderr.print(
            f"wrote {report.path}: {report.file_bytes} bytes, {report.bpp:.4f} bpp, "
            f"PSNR-YUV {report.psnr_yuv:.2f} dB (Y {report.psnr_y:.2f}), {report.encode_seconds:.1f} s, "
            f"peak memory {report.peak_memory_mb:.0f} MB"
        )


def _summary(report: EncodeReport) -> dict:
    data = dataclasses.asdict(report)
    for m in data["models"]:
        m["kind"] = "I" if m["kind"] == 0 else "P"
    return data
