"""Calibrating the eps law ``eps = 1 - a * exp(-b * MSE + c)`` (paper Section III-E, Eq. 9).

For adjacent GOP pairs of real clips at several p:

1. the first GOP is fitted and coded as an I-model, exactly as the encoder does it (seeded or
   content-aware init, RQEC fit, quantize, entropy-code, rebuild as the decoder will);
2. for each eps on a grid over [0, 1] the second GOP is fitted and coded as a P-model starting
   from ``eps * theta_seed + (1 - eps) * theta_hat_prev``; its RD loss is
   ``bpp + lambda * MSE`` with bpp from the real coded bytes of the P-model's tensors and MSE
   (6:1:1 YUV, pixels in [0, 1], the training distortion) of its decoded 8-bit frames;
3. the sample is (gap MSE between the two GOPs' original frames, best eps). The best eps is
   the vertex of a parabola through the grid minimum and its two neighbours (the grid minimum
   itself at the ends of the grid); both are recorded.

The law is fitted to the samples by least squares, with the clamp to [0, 1] the encoder applies.
``a`` and ``c`` are not separately identifiable (only ``a * exp(c)`` enters), so ``c`` is fixed
at 0 and ``a`` carries ``a * exp(c)``. The fit is a log-spaced grid search over (a, b) with
a > 0, b > 0, refined by zooming, then polished with ``scipy.optimize.least_squares`` when scipy
is installed (numpy alone otherwise); a and b are kept within wide positive bounds (1e-6..1e3
and 1e-3..1e7), so a degenerate sample set ends at a bound instead of at 0 or infinity.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uarcodec.bench.uar_runner import default_sizes
from uarcodec.bitstream.records import VideoParams
from uarcodec.errors import UarInputError, UarSettingsError
from uarcodec.models.registry import family_by_name
from uarcodec.pipeline.encoder import CodedGop as EncodedGop
from uarcodec.pipeline.encoder import EncodeEvents, GomEncoder, build_header
from uarcodec.pipeline.fit import resolve_device
from uarcodec.pipeline.interp_init import gop_gap_mse
from uarcodec.settings import DEFAULT_PRESET, EncoderSettings, EpsLaw, preset_training
from uarcodec.video import open_video
from uarcodec.video.frames import YuvClip

C_NOTE = "c is fixed at 0: a and c only enter as a*exp(c), so a carries a*exp(c)"


# --------------------------------------------------------------------------------------------
# Settings and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationSettings:
    """What a calibration run does. ``size`` None: the bench's second default rate point at each
    p (:func:`uarcodec.bench.uar_runner.default_sizes`). ``None`` training fields take the
    preset's value at each p. ``frames`` limits every clip to its first frames."""

    gops: tuple[int, ...] = (5, 10, 30)
    pairs: int = 2
    eps_steps: int = 6
    family: str = "hnerv"
    size: int | None = None
    preset: str = DEFAULT_PRESET
    lmbda: float | None = None
    epochs_i: int | None = None
    epochs_p: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    device: str = "auto"
    frames: int | None = None
    threads: int | None = None  # torch threads while calibrating (None: as set); results do not change

    def validate(self) -> None:
        if not self.gops or min(self.gops) < 1:
            raise UarSettingsError("calibration needs GOP sizes of at least 1 frame")
        if self.pairs < 1:
            raise UarSettingsError("calibration needs at least one GOP pair per clip and p")
        if self.eps_steps < 2:
            raise UarSettingsError("the eps grid needs at least 2 values")
        if self.frames is not None and self.frames < 2:
            raise UarSettingsError("calibration needs at least 2 frames per clip")
        if self.threads is not None and self.threads < 1:
            raise UarSettingsError("threads must be at least 1")

    def eps_grid(self) -> list[float]:
        """``eps_steps`` values evenly over [0, 1], rounded to float32 as the stream stores eps."""
        return [float(np.float32(e)) for e in np.linspace(0.0, 1.0, self.eps_steps)]

    def encoder_settings(self, gop_size: int, model_size: int) -> EncoderSettings:
        training = preset_training(
            self.preset, gop_size, epochs_i=self.epochs_i, epochs_p=self.epochs_p,
            batch_size=self.batch_size, lr=self.lr, lmbda=self.lmbda,
        )
        settings = EncoderSettings(gop_size=gop_size, gom_size=2, family=self.family, model_size=model_size,
                                   training=training, seed=self.seed, preset=self.preset)
        settings.validate()
        return settings


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


@dataclass(frozen=True)
class EpsLawFit:
    """Fitted law and how well it matches the samples."""

    law: EpsLaw
    rmse: float
    r2: float | None  # None when every sample has the same best eps
    points: int
    method: str  # "scipy" or "numpy"
    note: str = C_NOTE


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
SAMPLE_DEFINING_FIELDS = ("family", "preset", "lmbda", "epochs_i", "epochs_p", "batch_size", "lr", "seed")


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
        known = {f.name for f in dataclasses.fields(CalibrationSettings)}
        raw = {k: v for k, v in data["settings"].items() if k in known}
        settings = CalibrationSettings(**{**raw, "gops": tuple(raw.get("gops", ()))})
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
        mine, theirs = getattr(reference, name), getattr(run.settings, name)
        if mine != theirs:
            raise UarInputError(
                f"{run.source} was measured with {name} = {theirs!r}, {what} with {mine!r}: "
                "samples of different training settings cannot be fitted together"
            )


# --------------------------------------------------------------------------------------------
# The fit
# --------------------------------------------------------------------------------------------


def law_eps(a: float | np.ndarray, b: float | np.ndarray, mse: np.ndarray) -> np.ndarray:
    """``clamp(1 - a * exp(-b * mse), 0, 1)`` (broadcasting)."""
    return np.clip(1.0 - a * np.exp(-b * mse), 0.0, 1.0)


# Search bounds of (a, b): far beyond any useful law (MSE of pixels in [0, 1] is at most 1).
A_BOUNDS = (1e-6, 1e3)
B_BOUNDS = (1e-3, 1e7)
_LOG_A = (math.log(A_BOUNDS[0]), math.log(A_BOUNDS[1]))
_LOG_B = (math.log(B_BOUNDS[0]), math.log(B_BOUNDS[1]))


def _grid_search(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(log a, log b) minimising the clamped squared error: a coarse log grid, then zooming."""
    (lo_a, hi_a), (lo_b, hi_b) = _LOG_A, _LOG_B
    n = 161
    best = (0.0, 0.0)
    for _ in range(40):
        la = np.linspace(lo_a, hi_a, n)
        lb = np.linspace(lo_b, hi_b, n)
        pred = law_eps(np.exp(la)[:, None, None], np.exp(lb)[None, :, None], x[None, None, :])
        sse = np.sum((pred - y) ** 2, axis=2)
        i, j = np.unravel_index(int(np.argmin(sse)), sse.shape)
        best = (float(la[i]), float(lb[j]))
        step_a, step_b = la[1] - la[0], lb[1] - lb[0]
        if step_a < 1e-10 and step_b < 1e-10:
            break
        lo_a, hi_a = max(_LOG_A[0], best[0] - 4 * step_a), min(_LOG_A[1], best[0] + 4 * step_a)
        lo_b, hi_b = max(_LOG_B[0], best[1] - 4 * step_b), min(_LOG_B[1], best[1] + 4 * step_b)
        n = 41
    return best


def _scipy_polish(x: np.ndarray, y: np.ndarray, start: tuple[float, float]) -> tuple[float, float] | None:
    try:
        from scipy.optimize import least_squares
    except ImportError:
        return None
    result = least_squares(
        lambda t: law_eps(math.exp(t[0]), math.exp(t[1]), x) - y,
        np.array(start), bounds=([_LOG_A[0], _LOG_B[0]], [_LOG_A[1], _LOG_B[1]]),
        method="trf", x_scale="jac", xtol=1e-14, ftol=1e-14, gtol=1e-14,
    )
    return (float(result.x[0]), float(result.x[1])) if result.success else None


def fit_eps_law(gap_mse: Sequence[float], best_eps: Sequence[float], use_scipy: bool = True) -> EpsLawFit:
    """Least-squares fit of ``eps = clamp(1 - a * exp(-b * MSE), 0, 1)`` with c = 0 and (a, b)
    within :data:`A_BOUNDS` x :data:`B_BOUNDS` (so a > 0, b > 0)."""
    x = np.asarray(gap_mse, np.float64)
    y = np.asarray(best_eps, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise UarInputError("gap MSEs and best eps values must be two lists of the same length")
    if len(x) < 2:
        raise UarInputError(f"fitting the eps law needs at least 2 (MSE, eps) samples, got {len(x)}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))) or np.any(x < 0):
        raise UarInputError("gap MSEs must be finite and >= 0, eps values finite")

    def sse(t: tuple[float, float]) -> float:
        return float(np.sum((law_eps(math.exp(t[0]), math.exp(t[1]), x) - y) ** 2))

    best = _grid_search(x, y)
    method = "numpy"
    if use_scipy:
        polished = _scipy_polish(x, y, best)
        if polished is not None:
            method = "scipy"
            if sse(polished) <= sse(best):
                best = polished
    err = sse(best)
    sst = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - err / sst if sst > 1e-12 else None
    law = EpsLaw(a=math.exp(best[0]), b=math.exp(best[1]), c=0.0)
    return EpsLawFit(law, math.sqrt(err / len(x)), r2, len(x), method)


def refine_minimum(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The x of the smallest y, refined by the parabola through it and its two neighbours
    (kept within them); at either end of the grid the grid point itself."""
    i = int(np.argmin(ys))
    if i == 0 or i == len(xs) - 1:
        return float(xs[i])
    (x0, x1, x2), (y0, y1, y2) = xs[i - 1 : i + 2], ys[i - 1 : i + 2]
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    curv = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
    lin = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom
    if curv <= 0:
        return float(x1)
    return float(min(max(-lin / (2 * curv), x0), x2))


# --------------------------------------------------------------------------------------------
# Coding a GOP pair exactly as the encoder does
# --------------------------------------------------------------------------------------------


@dataclass
class CodedGop:
    """A GOP coded as the encoder codes it, and the MSE of its decoded frames."""

    coded: EncodedGop
    mse: float

    @property
    def coded_bytes(self) -> int:
        return self.coded.coded_bytes


class PairCoder:
    """Codes GOPs of one clip at one p and size the way ``GomEncoder.encode_gom`` does (same
    init, seeds, step warm start, training-encoder warm start, coding and decoder rebuild)."""

    def __init__(self, info: VideoParams, settings: EncoderSettings, device: torch.device) -> None:
        family = family_by_name(settings.family)
        config = family.config_for_size(settings.model_size, info.height, info.width, settings.gop_size)
        header = build_header(info, info.num_frames, settings, config.to_fields())
        self.encoder = GomEncoder(header, settings, device, EncodeEvents())
        self.settings = settings
        self.device = device

    def code(self, clip: YuvClip, gop_index: int, eps: float | None, prev: CodedGop | None) -> CodedGop:
        """I-model when ``prev`` is None, else a P-model with this ``eps``."""
        eps32 = 1.0 if prev is None else float(np.float32(eps))
        coded = self.encoder.encode_gop(clip, gop_index, eps32, None if prev is None else prev.coded)
        return CodedGop(coded, gop_gap_mse(clip, coded.recon))


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
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    try:
        return _calibrate(clips, settings, on_progress or (lambda _: None), earlier)
    finally:
        torch.set_num_threads(threads_before)


def _calibrate(
    clips: Sequence[str | Path], settings: CalibrationSettings, notify: Progress, earlier: Sequence[EarlierRun]
) -> CalibrationResult:
    device = resolve_device(settings.device) if clips else None
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
                size = settings.size or default_sizes(settings.family, info.width, info.height, p)[1]
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


# --------------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------------


def plot_calibration(result: CalibrationResult, out_png: Path, current: EpsLaw = EpsLaw()) -> Path:
    """Left: (gap MSE, best eps) per p with the fitted and the current law. Right: each pair's
    RD loss against eps (minus its minimum)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise UarInputError("the calibration plot needs matplotlib: pip install matplotlib") from exc
    fig = Figure(figsize=(11, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    xs = np.array([s.gap_mse for s in result.samples])
    for p in sorted({s.gop_size for s in result.samples}):
        pts = [s for s in result.samples if s.gop_size == p]
        left.scatter([s.gap_mse for s in pts], [s.best_eps for s in pts], label=f"p = {p}")
    curve_x = np.linspace(0.0, max(float(xs.max()) * 1.2, 1e-4), 200)
    law = result.fit.law
    left.plot(curve_x, law_eps(law.a, law.b, curve_x),
              label=f"fit a={law.a:.3g}, b={law.b:.3g} (R²={_r2_text(result.fit.r2)})")
    left.plot(curve_x, law_eps(current.a * math.exp(current.c), current.b, curve_x), "--",
              label="current default")
    left.set_xlabel("gap MSE between adjacent GOPs (6:1:1, pixels in [0, 1])")
    left.set_ylabel("best eps")
    left.set_ylim(-0.05, 1.05)
    left.grid(True, alpha=0.3)
    left.legend(fontsize=8)
    markers = "osD^v<>"
    for i, s in enumerate(result.samples):  # colour and marker together tell up to 70 pairs apart
        losses = np.array([t.loss for t in s.trials])
        right.plot([t.eps for t in s.trials], losses - losses.min(), marker=markers[(i // 10) % len(markers)],
                   color=f"C{i % 10}", label=f"{s.clip} p={s.gop_size} GOP {s.first_gop}")
    right.set_xlabel("eps")
    right.set_ylabel("RD loss - min (bpp + lambda * MSE)")
    right.grid(True, alpha=0.3)
    right.legend(fontsize=7)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(out_png))
    return out_png


def _r2_text(r2: float | None) -> str:
    return "n/a" if r2 is None else f"{r2:.3f}"


__all__ = [
    "A_BOUNDS", "B_BOUNDS", "C_NOTE", "SAMPLE_DEFINING_FIELDS", "CalibrationResult", "CalibrationSettings",
    "EarlierRun", "EpsLawFit", "EpsTrial", "PairCoder", "PairSample", "calibrate_eps_law",
    "check_same_conditions", "fit_eps_law", "law_eps", "load_earlier_run", "pair_starts",
    "plot_calibration", "refine_minimum", "sweep_pair",
]
