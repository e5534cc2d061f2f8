"""`uar decode`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from uarcodec.api import ConcealedGom, decode

from uarcodec_cli.common import COMMAND_CONTEXT, EXIT_CONCEALED, handle_errors, loglevel, print_json
from uarcodec_cli.progress import frame_progress, stderr


@click.command("decode", context_settings=COMMAND_CONTEXT)
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, help="Output video (.yuv/.y4m/.mp4/.mkv; '-' = y4m on stdout).")
@click.option("--gom", type=int, help="Decode only GOM K (random access).")
@click.option("-ss", "start_seconds", type=float, help="Start time in seconds (decodes from the GOM holding it).")
@click.option("-frames", "--frames", "frames", type=int, help="Decode at most N frames.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Decode GOMs in N processes (the same frames as 1).")
@click.option("--threads-per-worker", type=click.IntRange(min=1),
              help="Torch threads of each worker (default: the CPU cores divided by --workers).")
@click.option("--conceal", is_flag=True,
              help="Like ffmpeg's error concealment: decode every intact GOM, repeat the last good frame for a "
                   "damaged one (a warning each; exit code 3).")
@click.option("-y", "overwrite", is_flag=True, help="Overwrite the output.")
@click.option("--json", "as_json", is_flag=True, help="Print a summary as JSON (not with -o -).")
@handle_errors
def decode_cmd(
    input_path: Path, output: str, gom, start_seconds, frames, device, workers, threads_per_worker, conceal,
    overwrite, as_json,
) -> None:
    """Decode a .uar stream into a video file."""
    if gom is not None and start_seconds is not None:
        raise click.UsageError("give --gom or -ss, not both")
    if as_json and output == "-":
        raise click.UsageError("--json prints on stdout, which -o - already uses")
    show = loglevel() != "quiet"
    with frame_progress("decoding", show) as on_frames:
        report = decode(
            input_path, output, gom=gom, start_seconds=start_seconds, frames=frames, device=device,
            overwrite=overwrite, on_frames=on_frames, workers=workers, threads_per_worker=threads_per_worker,
            conceal=conceal,
        )
    for damaged in report.concealed:
        click.echo(f"uar: warning: {concealed_message(damaged)}", err=True)
    if as_json:
        print_json(report.to_dict())
    elif show:
        stderr.print(
            f"wrote {report.path}: frames {report.first_frame}..{report.first_frame + report.num_frames - 1} "
            f"({report.goms_read} GOM{'s' if report.goms_read != 1 else ''} read), {report.seconds:.1f} s"
        )
    if report.concealed:
        sys.exit(EXIT_CONCEALED)


def concealed_message(damaged: ConcealedGom) -> str:
    """'GOM 1 (frames 10..19) damaged (<reason>): concealed by repeating frame 9'."""
    last = damaged.first_frame + damaged.num_frames - 1
    how = "with mid-grey" if damaged.repeated_frame is None else f"by repeating frame {damaged.repeated_frame}"
    return f"GOM {damaged.index} (frames {damaged.first_frame}..{last}) damaged ({damaged.reason}): concealed {how}"
