"""The calibration plot of ``uar calibrate --plot``: the samples with the fitted and the current
eps law, and each pair's RD loss against eps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from uarcodec.bench.calibration import CalibrationResult
from uarcodec.errors import UarInputError
from uarcodec.settings import EpsLaw, law_eps


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
    left.plot(curve_x, law_eps(law.a, law.b, law.c, curve_x),
              label=f"fit a={law.a:.3g}, b={law.b:.3g} (R²={_r2_text(result.fit.r2)})")
    left.plot(curve_x, law_eps(current.a, current.b, current.c, curve_x), "--",
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


__all__ = ["plot_calibration"]
