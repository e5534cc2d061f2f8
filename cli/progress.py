"""Rich progress displays on stderr (nothing on stdout, which --json and `-o -` own)."""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from uarcodec.pipeline.encoder import EncodeEvents, ModelDone
from uarcodec.pipeline.fit import FitProgress
from uarcodec.pipeline.partition import Gom, Gop

stderr = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
        console=stderr, transient=False,
    )


@contextmanager
def encode_progress(total_frames: int, total_goms: int, enabled: bool) -> Iterator[EncodeEvents]:
    """Encode progress: overall frames, GOMs, and the current model's epochs with loss,
    PSNR and estimated bpp."""
    if not enabled:
        yield EncodeEvents()
        return
    with _progress() as progress:
        frames = progress.add_task("frames", total=total_frames, status="")
        goms = progress.add_task("GOMs  ", total=total_goms, status="")
        model = progress.add_task("model ", total=1, status="")

        def on_model_start(gom: Gom, gop: Gop, kind, epochs: int) -> None:
            progress.reset(model, total=epochs, description=f"{kind.name}-model GOP {gop.index}", status="")

        def on_epoch(p: FitProgress) -> None:
            progress.update(
                model, completed=p.epoch,
                status=f"loss {p.loss:.4g}  PSNR {p.psnr:.2f} dB  est. {p.bpp:.4f} bpp",
            )

        def on_model_done(d: ModelDone) -> None:
            progress.update(goms, status=f"last model: {d.coded_bytes} B, {d.psnr_yuv:.2f} dB decoded")

        def on_gom_done(gom: Gom, skipped: bool) -> None:
            progress.advance(goms)
            progress.advance(frames, gom.num_frames)
            if skipped:
                progress.update(goms, status=f"GOM {gom.index} kept from the partial file")

        yield EncodeEvents(on_model_start, on_epoch, on_model_done, on_gom_done)


@contextmanager
def frame_progress(description: str, enabled: bool) -> Iterator:
    """A frames-done callback (done, total) for decoding."""
    if not enabled:
        yield None
        return
    with _progress() as progress:
        task = progress.add_task(description, total=None, status="")

        def on_frames(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield on_frames
