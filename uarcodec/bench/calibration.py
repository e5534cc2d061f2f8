"""Calibrating the eps law ``eps = 1 - a * exp(-b * MSE + c)`` (paper Section III-E, Eq. 9): the
sweep (``uar calibrate``).

For adjacent GOP pairs of real clips at several p:

1. the first GOP is fitted and coded as an I-model, exactly as the encoder does it (seeded or
   content-aware init, RQEC fit, quantize, entropy-code, rebuild as the decoder will;
   :class:`uarcodec.bench.pair_coder.PairCoder`);
2. for each eps on a grid over [0, 1] the second GOP is fitted and coded as a P-model starting
   from ``eps * theta_seed + (1 - eps) * theta_hat_prev``; its RD loss is
   ``bpp + lambda * MSE`` with bpp from the real coded bytes of the P-model's tensors and MSE
   (6:1:1 YUV, pixels in [0, 1], the training distortion) of its decoded 8-bit frames;
3. the sample is (gap MSE between the two GOPs' original frames, best eps). The best eps is
   the vertex of a parabola through the grid minimum and its two neighbours (the grid minimum
   itself at the ends of the grid); both are recorded.

The law is fitted to the samples (and to those of earlier runs, ``--include``) by
:func:`uarcodec.bench.eps_law_fit.fit_eps_law`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uarcodec.bench.eps_law_fit import EpsLawFit, fit_eps_law, refine_minimum
from uarcodec.bench.pair_coder import PairCoder
from uarcodec.sizing import default_sizes
from uarcodec.errors import UarInputError, UarSettingsError
from uarcodec.pipeline.fit import resolve_device
from uarcodec.pipeline.interp_init import gop_gap_mse
from uarcodec.settings import EncoderSettings, TrainingOptions
from uarcodec.video import open_video
from uarcodec.video.frames import YuvClip


# --------------------------------------------------------------------------------------------
# Settings and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationSettings:
    """What a calibration run does. ``size`` None: the bench's second default rate point at each
    p (:func:`uarcodec.sizing.default_sizes`). ``training``: as for ``uar encode``
    (``None`` values take the preset's value at each p). ``frames`` limits every clip to its
    first frames."""

    gops: tuple[int, ...] = (5, 10, 30)
    pairs: int = 2
    eps_steps: int = 6
    size: int | None = None
    frames: int | None = None
    training: TrainingOptions = TrainingOptions()

    def validate(self) -> None:
        if not self.gops or min(self.gops) < 1:
            raise UarSettingsError("calibration needs GOP sizes of at least 1 frame")
        if self.pairs < 1:
            raise UarSettingsError("calibration needs at least one GOP pair per clip and p")
        if self.eps_steps < 2:
            raise UarSettingsError("the eps grid needs at least 2 values")
        if self.frames is not None and self.frames < 2:
            raise UarSettingsError("calibration needs at least 2 frames per clip")

    def eps_grid(self) -> list[float]:
        """``eps_steps`` values evenly over [0, 1], rounded to float32 as the stream stores eps."""
        return [float(np.float32(e)) for e in np.linspace(0.0, 1.0, self.eps_steps)]

    def encoder_settings(self, gop_size: int, model_size: int) -> EncoderSettings:
        """The settings of the sweep's pairs: HNeRV's P-models trained as before a still camera
        (their epochs and lambda do not wait on the motion survey an encode runs), as the sweep
        has always trained them."""
        return dataclasses.replace(self.training.encoder_settings(gop_size, 2, model_size), camera_moves=False)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "CalibrationSettings":
        """Settings as ``--json`` wrote them; runs written before the training options were
        nested (flat ``family``, ``preset``, ``lmbda``, ... fields) read too."""
        own = {f.name for f in dataclasses.fields(cls)} - {"training"}
        options = {f.name for f in dataclasses.fields(TrainingOptions)}
        training = raw.get("training", {k: v for k, v in raw.items() if k in options})
        return cls(
            **{k: v for k, v in raw.items() if k in own and k != "gops"}, gops=tuple(raw.get("gops", ())),
            training=TrainingOptions(**{k: v for k, v in training.items() if k in options}),
        )


@dataclass(frozen=True)
class EpsTrial:
    """The P-model of one pair coded with one eps."""

    eps: float
    bpp: float  # coded bytes of the P-model's tensors * 8 / (W * H * frames)
    mse: float  # 6:1:1 YUV MSE of its decoded frames, pixels in [0, 1]
    loss: float  # bpp + lambda * mse


@dataclass(frozen=True)
class PairSample:
    """One adjacent GOP pair: its gap and the eps with the best RD loss."""

    clip: str
    gop_size: int
    first_gop: int  # the pair is GOPs (first_gop, first_gop + 1)
    model_size: int
    lmbda: float
    gap_mse: float
    trials: tuple[EpsTrial, ...]
    grid_best_eps: float
    best_eps: float  # parabola-refined


@dataclass
class CalibrationResult:
    samples: list[PairSample]
    fit: EpsLawFit
    settings: CalibrationSettings
    skipped: list[str] = field(default_factory=list)
    included: list[str] = field(default_factory=list)  # earlier runs whose samples were refitted

    def to_dict(self) -> dict[str, Any]:
        law = self.fit.law
        return {
            "law": {"a": law.a, "b": law.b, "c": law.c},
            "fit": {"rmse": self.fit.rmse, "r2": self.fit.r2, "points": self.fit.points,
                    "method": self.fit.method, "note": self.fit.note},
            "samples": [dataclasses.asdict(s) for s in self.samples],
            "skipped": list(self.skipped),
            "included": list(self.included),
            "settings": dataclasses.asdict(self.settings),
        }


# --------------------------------------------------------------------------------------------
# Earlier runs (``uar calibrate --include``)
# --------------------------------------------------------------------------------------------


# Settings that decide which eps wins a pair: samples are only fitted together when they agree.
SAMPLE_DEFINING_FIELDS = TrainingOptions.RESULT_FIELDS


@dataclass(frozen=True)
class EarlierRun:
    """The samples and settings of an earlier calibration's ``--json`` output."""

    source: str
    settings: CalibrationSettings
    samples: tuple[PairSample, ...]


def load_earlier_run(path: str | Path) -> EarlierRun:
    """Read a ``uar calibrate --json`` output back; :class:`UarInputError` when it is not one."""
    try:
        data = json.loads(Path(path).read_text())
        settings = CalibrationSettings.from_json(data["settings"])
        samples = tuple(
            PairSample(**{**s, "trials": tuple(EpsTrial(**t) for t in s["trials"])}) for s in data["samples"]
        )
    except OSError as exc:
        raise UarInputError(f"{path}: cannot read the calibration ({exc.strerror or exc})") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UarInputError(f"{path}: not the --json output of uar calibrate ({exc!r})") from exc
    return EarlierRun(str(path), settings, samples)


def check_same_conditions(reference: CalibrationSettings, run: EarlierRun, what: str) -> None:
    """Raise when ``run`` was measured under other :data:`SAMPLE_DEFINING_FIELDS` than ``what``."""
    for name in SAMPLE_DEFINING_FIELDS:
        mine, theirs = getattr(reference.training, name), getattr(run.settings.training, name)
        if mine != theirs:
            raise UarInputError(
                f"{run.source} was measured with {name} = {theirs!r}, {what} with {mine!r}: "
                "samples of different training settings cannot be fitted together"
            )


# --------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------


def pair_starts(full_gops: int, pairs: int) -> list[int]:
    """First GOPs of up to ``pairs`` adjacent pairs spread evenly over ``full_gops`` GOPs."""
    last = full_gops - 2
    if last < 0:
        return []
    if pairs == 1:
        return [last // 2]
    return sorted({int(round(i * last / (pairs - 1))) for i in range(pairs)})


Progress = Callable[[str], None]


def sweep_pair(coder: PairCoder, clip_name: str, first: YuvClip, second: YuvClip, j: int, grid: Sequence[float],
               width: int, height: int, notify: Progress) -> PairSample:
    """Code GOP ``j`` (clip ``first``) as an I-model, then GOP ``j + 1`` (``second``) as a
    P-model at every eps of ``grid``; the sample with the best RD loss."""
    s = coder.settings
    p = s.gop_size
    notify(f"{clip_name} p={p} GOPs {j},{j + 1}: I-model")
    i_model = coder.code(first, j, None, None)
    trials = []
    for eps in grid:
        coded = coder.code(second, j + 1, eps, i_model)
        bpp = coded.coded_bytes * 8 / (width * height * second.num_frames)
        trials.append(EpsTrial(eps, bpp, coded.mse, bpp + s.training.lmbda * coded.mse))
        notify(f"{clip_name} p={p} GOPs {j},{j + 1}: eps {eps:.3f} -> {bpp:.4f} bpp, "
               f"MSE {coded.mse:.3g}, loss {trials[-1].loss:.4f}")
    losses = [t.loss for t in trials]
    grid_best = float(grid[int(np.argmin(losses))])
    return PairSample(clip_name, p, j, s.model_size, s.training.lmbda, gop_gap_mse(first, second),
                      tuple(trials), grid_best, refine_minimum(list(grid), losses))


def calibrate_eps_law(
    clips: Sequence[str | Path],
    settings: CalibrationSettings = CalibrationSettings(),
    on_progress: Progress | None = None,
    earlier: Sequence[EarlierRun] = (),
) -> CalibrationResult:
    """Sweep eps on adjacent GOP pairs of ``clips`` at every p and fit the eps law to those
    samples and the ``earlier`` runs' (which must share the :data:`SAMPLE_DEFINING_FIELDS`; with
    no clips this is a refit of the earlier runs alone, under the first one's settings)."""
    if not clips and not earlier:
        raise UarInputError("no clips to calibrate on and no earlier run to refit")
    if not clips:
        settings = earlier[0].settings
    settings.validate()
    what = "this run" if clips else earlier[0].source
    for run in earlier:
        check_same_conditions(settings, run, what)
    threads_before = torch.get_num_threads()
    if settings.training.threads is not None:
        torch.set_num_threads(settings.training.threads)
    try:
        return _calibrate(clips, settings, on_progress or (lambda _: None), earlier)
    finally:
        torch.set_num_threads(threads_before)


def _calibrate(
    clips: Sequence[str | Path], settings: CalibrationSettings, notify: Progress, earlier: Sequence[EarlierRun]
) -> CalibrationResult:
    device = resolve_device(settings.training.device) if clips else None
    grid = settings.eps_grid()
    samples: list[PairSample] = []
    skipped: list[str] = []
    for path in clips:
        with open_video(str(path)) as reader:
            info = reader.info
            total = info.num_frames if settings.frames is None else min(settings.frames, info.num_frames)
            name = Path(path).stem
            for p in settings.gops:
                starts = pair_starts(total // p, settings.pairs)
                if not starts:
                    skipped.append(f"{name}: p={p} needs {2 * p} frames, has {total}")
                    continue
                size = settings.size or default_sizes(settings.training.family, info.width, info.height, p)[1]
                coder = PairCoder(info, settings.encoder_settings(p, size), device)
                for j in starts:
                    first, second = reader.read(j * p, p), reader.read((j + 1) * p, p)
                    samples.append(sweep_pair(coder, name, first, second, j, grid, info.width,
                                               info.height, notify))
    samples = [s for run in earlier for s in run.samples] + samples
    if len(samples) < 2:
        raise UarInputError(
            f"only {len(samples)} GOP pair(s) could be measured; the fit needs at least 2 "
            f"(more clips, --pairs or smaller --gops){'; ' + '; '.join(skipped) if skipped else ''}"
        )
    fit = fit_eps_law([s.gap_mse for s in samples], [s.best_eps for s in samples])
    return CalibrationResult(samples, fit, settings, skipped, [run.source for run in earlier])


__all__ = [
    "SAMPLE_DEFINING_FIELDS", "CalibrationResult", "CalibrationSettings", "EarlierRun", "EpsTrial", "PairSample",
    "calibrate_eps_law", "check_same_conditions", "load_earlier_run", "pair_starts", "sweep_pair",
]
