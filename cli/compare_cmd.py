"""`uar compare`."""

from __future__ import annotations

from pathlib import Path

import click

from uarcodec.api import compare_videos

from uarcodec_cli.common import COMMAND_CONTEXT, handle_errors, parse_fps, parse_wxh, print_json


@click.command("compare", context_settings=COMMAND_CONTEXT)
@click.argument("reference", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("decoded", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--stream", "stream_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The coded file whose size gives bpp and kbps (.uar or any other).")
@click.option("-s", "size", callback=parse_wxh, metavar="WxH", help="Frame size of raw .yuv inputs.")
@click.option("-r", "fps", callback=parse_fps, metavar="FPS", help="Frame rate of raw .yuv inputs.")
@click.option("--no-ms-ssim", is_flag=True, help="Skip MS-SSIM (faster).")
@click.option("--per-frame", is_flag=True, help="With --json: include per-frame values.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
@handle_errors
def compare_cmd(reference, decoded, stream_path, size, fps, no_ms_ssim, per_frame, as_json) -> None:
    """Measure DECODED against REFERENCE: PSNR Y/U/V, PSNR-YUV (6:1:1), PSNR-RGB, MS-SSIM,
    and bpp/kbps from --stream's file size."""
    result = compare_videos(reference, decoded, stream_path=stream_path, size=size, fps=fps,
                            with_ms_ssim=not no_ms_ssim)
    if as_json:
        data = result.to_dict()
        if not per_frame:
            data["quality"].pop("per_frame", None)
        print_json(data)
        return
    q = result.quality
    line = (f"{q.frame_count} frames  PSNR Y {q.psnr_y:.2f}  U {q.psnr_u:.2f}  V {q.psnr_v:.2f}  "
            f"YUV(6:1:1) {q.psnr_yuv:.2f} dB  RGB({q.rgb_matrix} {q.rgb_range}) {q.psnr_rgb:.2f} dB")
    if q.ms_ssim is not None:
        line += f"  MS-SSIM {q.ms_ssim:.4f}"
    if result.bpp is not None:
        line += f"  |  {result.bpp:.4f} bpp  {result.kbps:.1f} kbps"
    click.echo(line)
