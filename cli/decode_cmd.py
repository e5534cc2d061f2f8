"""`uar decode`."""

from __future__ import annotations

from pathlib import Path

import click

from uarcodec.api import decode

from uarcodec_cli.common import COMMAND_CONTEXT, handle_errors, loglevel, print_json
from uarcodec_cli.progress import frame_progress, stderr


@click.command("decode", context_settings=COMMAND_CONTEXT)
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, help="Output video (.yuv/.y4m/.mp4/.mkv; '-' = y4m on stdout).")
@click.option("--gom", type=int, help="Decode only GOM K (random access).")
@click.option("-ss", "start_seconds", type=float, help="Start time in seconds (decodes from the GOM holding it).")
@click.option("-frames", "--frames", "frames", type=int, help="Decode at most N frames.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("-y", "overwrite", is_flag=True, help="Overwrite the output.")
@click.option("--json", "as_json", is_flag=True, help="Print a summary as JSON (not with -o -).")
@handle_errors
def decode_cmd(input_path: Path, output: str, gom, start_seconds, frames, device, overwrite, as_json) -> None:
    """Decode a .uar stream into a video file."""
    if gom is not None and start_seconds is not None:
        raise click.UsageError("give --gom or -ss, not both")
    if as_json and output == "-":
        raise click.UsageError("--json prints on stdout, which -o - already uses")
    show = loglevel() != "quiet"
    with frame_progress("decoding", show) as on_frames:
        report = decode(
            input_path, output, gom=gom, start_seconds=start_seconds, frames=frames, device=device,
            overwrite=overwrite, on_frames=on_frames,
        )
    if as_json:
        print_json(report.__dict__)
    elif show:
        stderr.print(
            f"wrote {report.path}: frames {report.first_frame}..{report.first_frame + report.num_frames - 1} "
            f"({report.goms_read} GOM{'s' if report.goms_read != 1 else ''} read), {report.seconds:.1f} s"
        )
