"""RD benchmarks: classic codecs through ffmpeg and any other codec behind ``CodecRunner``.

``run_bench(runners, clips, out_dir)`` runs (and caches) every point, ``write_report`` makes
the BD-rate tables and RD plots. See runner.py for the codec protocol and results.py for the
JSON schema.
"""

from uarcodec.bench.classic import ClassicRunner, classic_runners
from uarcodec.bench.report import bd_table_markdown, load_results_dir, plot_rd, write_report
from uarcodec.bench.results import ClipInfo, CodecResults, PointResult
from uarcodec.bench.runner import ClipSpec, CodecRunner, measure_decoded, run_bench

__all__ = [
    "ClassicRunner", "ClipInfo", "ClipSpec", "CodecResults", "CodecRunner", "PointResult",
    "bd_table_markdown", "classic_runners", "load_results_dir", "measure_decoded", "plot_rd",
    "run_bench", "write_report",
]
