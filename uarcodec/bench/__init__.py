"""RD benchmarks: classic codecs through ffmpeg and any other codec behind ``CodecRunner``.

``run_bench(runners, clips, out_dir)`` runs (and caches) every point, ``write_report`` makes
the BD-rate tables and RD plots. See runner.py for the codec protocol and results.py for the
JSON schema. uar_runner.py is uarcodec as a bench codec (and ``bench_clips``, the whole
``uar bench``), ablation.py the paper's Table III variants, calibrate.py the eps-law fit.
"""

from uarcodec.bench.classic import ClassicRunner, classic_runners
from uarcodec.bench.report import bd_table_markdown, load_results_dir, plot_rd, write_report
from uarcodec.bench.results import ClipInfo, CodecResults, PointResult
from uarcodec.bench.runner import ClipSpec, CodecRunner, measure_decoded, run_bench
from uarcodec.bench.uar_runner import (
    BenchOutput, UarRunner, UarRunnerConfig, bench_clips, default_sizes, uar_runner_for_clip,
)
from uarcodec.bench.ablation import VARIANTS, Variant, variant_config, write_ablation_report
from uarcodec.bench.calibrate import (
    CalibrationResult, CalibrationSettings, EpsLawFit, calibrate_eps_law, fit_eps_law, plot_calibration,
)

__all__ = [
    "BenchOutput", "CalibrationResult", "CalibrationSettings", "ClassicRunner", "ClipInfo", "ClipSpec",
    "CodecResults", "CodecRunner", "EpsLawFit", "PointResult", "UarRunner", "UarRunnerConfig", "VARIANTS",
    "Variant", "bd_table_markdown", "bench_clips", "calibrate_eps_law", "classic_runners", "default_sizes",
    "fit_eps_law", "load_results_dir", "measure_decoded", "plot_calibration", "plot_rd", "run_bench",
    "uar_runner_for_clip", "variant_config", "write_ablation_report", "write_report",
]
