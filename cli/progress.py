"""Rich progress displays on stderr (nothing on stdout, which --json and `-o -` own)."""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from uarcodec.api import LR_CUT, EncodeEvents, FitProgress, Gom, Gop, ModelDone

stderr = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
        console=stderr, transient=False,
    )


@contextmanager
def _shown_from_first_update() -> Iterator[Callable[[], Progress]]:
    """A progress display that appears on its first update (a command that fails before any
    work leaves only its one-line error) and is closed on exit; yields the getter that starts it."""
    progress = _progress()
    started = False

    def shown() -> Progress:
        nonlocal started
        if not started:
            progress.start()
            started = True
        return progress

    try:
        yield shown
    finally:
        if started:
            progress.stop()


@contextmanager
def encode_progress(total_frames: int, total_goms: int, enabled: bool) -> Iterator[EncodeEvents]:
    """Encode progress: overall frames and GOMs (GOMs kept by --resume count as done), and one
    row per GOM being coded with its model's epoch, loss, PSNR and estimated bpp (several rows
    when GOMs run in parallel); a retried GOM is logged above the bars."""
    if not enabled:
        yield EncodeEvents()
        return
    with _shown_from_first_update() as shown:
        tasks: dict[str, int] = {}
        running: dict[int, int] = {}  # GOM index -> its row

        def bar() -> Progress:
            progress = shown()
            if not tasks:
                tasks["frames"] = progress.add_task("frames", total=total_frames, status="")
                tasks["goms"] = progress.add_task("GOMs  ", total=total_goms, status="")
            return progress

        def on_model_start(gom: Gom, gop: Gop, kind, epochs: int) -> None:
            progress = bar()
            label = f"GOM {gom.index} {kind.name}-model GOP {gop.index}"
            if gom.index not in running:
                running[gom.index] = progress.add_task(label, total=epochs, status="")
            progress.reset(running[gom.index], total=epochs, description=label, status="")

        def on_gom_epoch(gom: Gom, gop: Gop, p: FitProgress) -> None:
            if p.rolled_back:
                bar().console.print(
                    f"uar: warning: GOM {gom.index} GOP {gop.index}: training blew up in epoch {p.epoch} of "
                    f"{p.epochs} ({p.psnr:.2f} dB); went back to the epoch before at {LR_CUT:g}x the learning rate"
                )
            if gom.index in running:
                bar().update(
                    running[gom.index], completed=p.epoch,
                    status=f"loss {p.loss:.4g}  PSNR {p.psnr:.2f} dB  est. {p.bpp:.4f} bpp  lambda {p.lmbda:.4g}",
                )

        def on_model_done(d: ModelDone) -> None:
            bar().update(tasks["goms"], status=f"last model: {d.coded_bytes} B, {d.psnr_yuv:.2f} dB decoded")

        def on_gom_done(gom: Gom, kept: bool) -> None:
            progress = bar()
            progress.advance(tasks["goms"])
            progress.advance(tasks["frames"], gom.num_frames)
            if gom.index in running:
                progress.remove_task(running.pop(gom.index))
            if kept:
                progress.update(tasks["goms"], status=f"GOM {gom.index} kept from the earlier run")

        def on_retry(gom: Gom, attempt: int, reason: str) -> None:
            progress = bar()
            if gom.index in running:
                progress.remove_task(running.pop(gom.index))
            progress.console.print(f"uar: warning: GOM {gom.index}: {reason}; retrying (attempt {attempt})")

        yield EncodeEvents(on_model_start=on_model_start, on_model_done=on_model_done, on_gom_done=on_gom_done,
                           on_gom_epoch=on_gom_epoch, on_retry=on_retry)


@contextmanager
def frame_progress(description: str, enabled: bool) -> Iterator:
    """A frames-done callback (done, total) for decoding."""
    if not enabled:
        yield None
        return
    with _shown_from_first_update() as shown:
        tasks: list[int] = []

        def on_frames(done: int, total: int) -> None:
            progress = shown()
            if not tasks:
                tasks.append(progress.add_task(description, total=total, status=""))
            progress.update(tasks[0], completed=done, total=total)

        yield on_frames
