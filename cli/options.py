"""The training options `uar encode`, `uar bench` and `uar calibrate` share, declared once:
one click decorator that hands the command a :class:`uarcodec.settings.TrainingOptions`; and
the GOM-parallel options of `uar encode` (:func:`parallel_options`)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import click

from uarcodec.errors import UarSettingsError
from uarcodec.api import ExecutorKind, ParallelSettings
from uarcodec.settings import (
    DEFAULT_PRESET,
    Device,
    Distortion,
    Precision,
    Preset,
    QuantMode,
    RateModel,
    TrainingOptions,
    TrainingSettings,
)
from uarcodec.vocabulary import (
    AUTO_FAMILY, MAX_CONTEXT_HIDDEN, MAX_MOTION_BLOCK, MAX_MOTION_MARGIN, MIN_MOTION_BLOCK, ModelFamily,
    scene_cuts_in_order,
)

from uarcodec_cli.common import names_list


def _choice(enum_type: type) -> click.Choice:
    return click.Choice(enum_type.choices())


def _scene_cuts(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    """``--scene-cuts``: auto (None: the encoder finds them), none, or frames F1,F2,..."""
    if value is None or value.strip().lower() == "auto":
        return None
    if value.strip().lower() == "none":
        return ()
    try:
        cuts = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: use auto, none or increasing frame numbers such as 97,240") from None
    if not scene_cuts_in_order(cuts):
        raise click.BadParameter(f"{value!r}: scene cuts must be increasing frames after frame 0")
    return cuts


# Every option names the TrainingOptions field it sets (its click parameter name).
_OPTIONS: tuple[Callable[[Callable[..., Any]], Callable[..., Any]], ...] = (
    click.option("--preset", type=_choice(Preset), default=DEFAULT_PRESET.value, show_default=True,
                 help="Training length (veryslow = the paper's I-model epochs; P-models get half)."),
    click.option("--lambda", "lmbda", type=float, help="Rate-distortion trade-off: loss = bpp + lambda * MSE."),
    click.option("--epochs-i", type=click.IntRange(min=1), help="Epochs of I-models (overrides the preset)."),
    click.option("--epochs-p", type=click.IntRange(min=1), help="Epochs of P-models (overrides the preset)."),
    click.option("--lr", type=float, help="Learning rate."),
    click.option("--batch-size", type=click.IntRange(min=1), help="Frames per training step."),
    click.option("--precision", type=_choice(Precision),
                 help="Training precision: bf16 autocast, fp32, or auto (bf16 where the hardware is fast at it; "
                      "the default). The stream records the one used."),
    click.option("--distortion", type=_choice(Distortion),
                 help="Training distortion: yuv (the 6:1:1 sum of the 4:2:0 planes' MSEs), psnr-yuv (per frame "
                      "their 6:1:1 geometric mean: the MSE that PSNR-YUV stands for) or rgb."),
    click.option("--quant", type=_choice(QuantMode), help="rqec (entropy-constrained) or qat (paper's base)."),
    click.option("--rate-model", type=_choice(RateModel),
                 help="laplace (sparse residuals, temporal embedding differences, skip masks; the default) or "
                      "gaussian (the paper's per-layer Gaussian)."),
    click.option("--lambda-p-scale", type=float,
                 help="P-models train with lambda times this (I/P bit allocation; default "
                      f"{TrainingSettings.lambda_p_scale:g})."),
    click.option("--train-encoder/--no-train-encoder", "use_encoder", default=None,
                 help="HNeRV: compute embeddings with its ConvNeXt encoder trained jointly (on by default)."),
    click.option("--compile/--no-compile", "compile", default=None,
                 help="torch.compile the network's forward pass (off by default: slower on the CPUs measured; "
                      "falls back to eager, with a warning, where compiling fails)."),
    click.option("--latent-context", "latent_context", type=click.IntRange(0, MAX_CONTEXT_HIDDEN),
                 help="--model latent: hidden units of the grids' context entropy model (stream format 1.5; "
                      "0: off, format 1.4). Default: the family's."),
    click.option("--latent-context-order", "latent_context_order", type=click.Choice(["checkerboard", "wavefront"]),
                 help="--model latent: the order in which the context network codes the grids: wavefront "
                      "(every value reads five decoded neighbours; stream format 1.10) or checkerboard (half "
                      "the values read no neighbour of their own sample; format 1.8), trained and coded in that order. "
                      "Default: the wavefront (where the camera moves, trained in the checkerboard and coded by "
                      "wavefronts: docs/latent_grids.md, 'Trained in the checkerboard, coded by wavefronts')."),
    click.option("--latent-motion", "latent_motion", type=click.IntRange(0, MAX_MOTION_MARGIN),
                 help="--model latent: pixels of grid beyond each edge of the frame, read at a coded offset "
                      "per frame (a moving camera; stream format 1.6; 0: off). Default: from the video's "
                      "global motion (0 for a still camera)."),
    click.option("--latent-motion-block", "latent_motion_block", type=click.IntRange(0, MAX_MOTION_BLOCK),
                 help=f"--model latent: the offsets as a field of one per block of this many pixels ({MIN_MOTION_BLOCK} "
                      f"to {MAX_MOTION_BLOCK}; local motion, stream format 1.7; 0: one offset per frame). "
                      "Default: the encoder's choice."),
    click.option("--scene-cuts", "scene_cuts", metavar="auto|none|F1,F2,...", callback=_scene_cuts,
                 help="Frames that start a new scene, each a new GOP and GOM (an I-model), as a classic "
                      "encoder starts an intra frame (stream format 1.9). auto (the default): found in the "
                      "video; none: the GOPs of p frames alone."),
    click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
                 help="Base seed of the models' initialisation."),
    click.option("--seed-trials", "seed_trials", type=click.IntRange(1, 8),
                 help="I-models: start this many fits from different seeds, train each a quarter of its "
                      "epochs, then finish the one of lowest loss (default 1: one fit). A bad start can cost "
                      "a quarter of the bytes; N trials cost about 1 + (N - 1) / 4 times an I-model's seconds."),
    click.option("--device", type=_choice(Device), default=Device.AUTO.value, show_default=True),
    click.option("--threads", type=click.IntRange(min=1),
                 help="Torch threads of the training (default: torch's; 1 is faster on a busy machine)."),
)
_FIELDS = tuple(f.name for f in dataclasses.fields(TrainingOptions))


_AUTO_HELP = (f"{AUTO_FAMILY}: the latent grids before a still camera, HNeRV where the camera moves (and "
              "where the latent grids cannot take the --size); latent options imply latent.")


def training_options(
    *, several_families: bool = False, auto: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the training options (and ``--model``) to a command; it receives them as one
    ``training: TrainingOptions`` argument. With ``several_families``, ``--model`` takes a
    comma-separated list, the command also receives ``families`` and ``training.family`` is
    the first of them. With ``auto``, ``--model`` also takes (and defaults to)
    :data:`AUTO_FAMILY`: the family is picked per video, and until then ``training.family``
    is None (``uarcodec.api.choose_family``)."""
    known = (*ModelFamily.choices(), *((AUTO_FAMILY,) if auto else ()))
    default = AUTO_FAMILY if auto else ModelFamily.HNERV.value

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in _FIELDS}
            if several_families:
                kwargs["families"] = names_list(values["family"], known, "--model")
                values["family"] = kwargs["families"][0]
            if values["family"] == AUTO_FAMILY:
                values["family"] = None
            try:
                kwargs["training"] = TrainingOptions(**values)
            except UarSettingsError as exc:
                raise click.BadParameter(str(exc)) from None
            return command(*args, **kwargs)

        model = (
            click.option("--model", "family", default=default, show_default=True,
                         help=f"INR famil(y/ies), comma-separated: {', '.join(known)}."
                              + (f" {_AUTO_HELP}" if auto else ""))
            if several_families else
            click.option("--model", "family", type=click.Choice(known), default=default,
                         show_default=True, help="INR family." + (f" {_AUTO_HELP}" if auto else ""))
        )
        for option in reversed((model, *_OPTIONS)):
            wrapper = option(wrapper)
        return wrapper

    return decorate


_PARALLEL_OPTIONS: tuple[Callable[[Callable[..., Any]], Callable[..., Any]], ...] = (
    click.option("--executor", type=_choice(ExecutorKind),
                 help="Where GOMs are coded: serial (this process; the default), process (a local pool, "
                      "the default with --workers > 1) or ray (a Ray cluster; needs uarcodec[ray]). "
                      "The file is the same whichever."),
    click.option("--workers", type=click.IntRange(min=1),
                 help="GOMs coded at once (process: pool size, default the cores; ray: default the cluster's "
                      "CPUs over --threads-per-worker)."),
    click.option("--threads-per-worker", type=click.IntRange(min=1),
                 help="Torch threads of each GOM job (default: cores / workers)."),
    click.option("--ray-address", metavar="ADDR",
                 help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray)."),
    click.option("--gpus-per-gom", type=click.FloatRange(min=0), default=0.0, show_default=True,
                 help="GPUs each GOM asks Ray for (fractions share a GPU); with it, --device auto trains on CUDA."),
    click.option("--max-retries", type=click.IntRange(min=0), default=2, show_default=True,
                 help="Times a GOM whose worker died is run again (each retry is logged)."),
)


def parallel_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the GOM-parallel options to a command; it receives them as one
    ``parallel: ParallelSettings`` argument."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        executor, workers = kwargs.pop("executor"), kwargs.pop("workers")
        if executor is None:
            executor = ExecutorKind.PROCESS if workers and workers > 1 else ExecutorKind.SERIAL
        parallel = ParallelSettings(
            executor=executor, workers=workers, threads_per_worker=kwargs.pop("threads_per_worker"),
            ray_address=kwargs.pop("ray_address"), gpus_per_gom=kwargs.pop("gpus_per_gom"),
            max_retries=kwargs.pop("max_retries"),
        )
        try:
            parallel.validate()
        except UarSettingsError as exc:
            raise click.UsageError(str(exc)) from None
        kwargs["parallel"] = parallel
        return command(*args, **kwargs)

    for option in reversed(_PARALLEL_OPTIONS):
        wrapper = option(wrapper)
    return wrapper
