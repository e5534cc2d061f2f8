"""RD benchmarks: classic codecs through ffmpeg and any other codec behind ``CodecRunner``.

``run_bench(runners, clips, out_dir)`` runs (and caches) every point, ``write_report`` makes
the BD-rate tables and RD plots. See runner.py for the codec protocol and results.py for the
JSON schema. uar_runner.py is uarcodec as a bench codec (:mod:`uarcodec.sizing` its model sizes,
encode_child.py the process that encodes one point, settings_json.py its job files),
ablation.py the paper's Table III variants, suite.py the whole ``uar bench`` (``bench_clips``).
calibration.py is ``uar calibrate``: eps_law_fit.py the fit, pair_coder.py the coding of GOP
pairs, calibration_plot.py the plot.
"""

from uarcodec.bench.classic import ClassicRunner, classic_runners
from uarcodec.bench.report import bd_table_markdown, load_results_dir, plot_rd, write_report
from uarcodec.bench.results import ClipInfo, CodecResults, PointResult
from uarcodec.bench.runner import ClipSpec, CodecRunner, measure_decoded, run_bench
from uarcodec.sizing import default_sizes
from uarcodec.bench.uar_runner import UarRunner, UarRunnerConfig, uar_runner_for_clip
from uarcodec.bench.ablation import VARIANTS, Variant, variant_config, write_ablation_report
from uarcodec.bench.suite import BenchOutput, bench_clips
from uarcodec.bench.eps_law_fit import EpsLawFit, fit_eps_law
from uarcodec.bench.calibration import CalibrationResult, CalibrationSettings, calibrate_eps_law
from uarcodec.bench.calibration_plot import plot_calibration

__all__ = [
    "BenchOutput", "CalibrationResult", "CalibrationSettings", "ClassicRunner", "ClipInfo", "ClipSpec",
    "CodecResults", "CodecRunner", "EpsLawFit", "PointResult", "UarRunner", "UarRunnerConfig", "VARIANTS",
    "Variant", "bd_table_markdown", "bench_clips", "calibrate_eps_law", "classic_runners", "default_sizes",
    "fit_eps_law", "load_results_dir", "measure_decoded", "plot_calibration", "plot_rd", "run_bench",
    "uar_runner_for_clip", "variant_config", "write_ablation_report", "write_report",
]
