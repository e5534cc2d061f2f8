"""What the current format saves on existing streams: rewrite each ``.uar`` given (any
version this reader reads) in the current format version, the same header and the same coded
integers, check that both decode to identical frames, and print the bytes of both. Each
tensor's integers are coded again the cheapest way the current coder offers (format 1.3: zero
flags; 1.4: bfloat16 entropy parameters, varint fields, cut words, compact field lists; 1.8:
zero flags under plane contexts), against the reference
and at the step they were coded with, in the version the current encoder writes (1.8).

A rewritten stream is what the encoder would have written now from the same training (the
container's bytes do not feed back into training unless rate control probes them, and the
README bench does not use it), so its size is the size an encode in the current format gets
(the encoder also weighs coding a P-model's per-frame embeddings without their reference,
which the rewrite keeps as it was: an encode can only be smaller).

    python benchmarks/format_overhead.py STREAM.uar ... [--json out.json] [--keep DIR]
    python benchmarks/format_overhead.py --bench bench_out [--anchors DIR] [--results DIR]

With ``--bench``, every uarcodec point of a ``uar bench`` output folder is rewritten, and each
clip's BD-rate against x265 (PSNR-YUV; frames identical, so only the rate moves) is given for
the streams as written and as rewritten; ``--results`` writes the rewritten curves' results
JSON (for ``uar bench``'s report). The encoder of 0.13.0 writes a rewritten 0.12.0 latent stream
byte for byte (box, 60 frames, 200k, lambda 150: docs/latent_grids.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

from uarcodec import __version__, api
from uarcodec.bitstream import UarReader, UarWriter
from uarcodec.bitstream.records import PLANE_FLAGS_LAYOUT, EntropyModel, GomRecord, StreamHeader
from uarcodec.pipeline.breakdown import tensor_specs
from uarcodec.pipeline.model_coding import decode_model, plane_candidate, recode_tensor, temporal_candidate
from uarcodec.pipeline.plan import WRITTEN_FORMAT_VERSION
from uarcodec.bench.report import bd_rate_against
from uarcodec.bench.results import CodecResults
from uarcodec.bench.runner import results_path


def recode(header: StreamHeader, gom: GomRecord) -> GomRecord:
    """``gom`` with every tensor coded again by the current coder (the stream's rate model:
    the paper's Gaussian keeps one Gaussian per tensor); a context-coded grid is weighed
    against the other codings at its decoded integers, as the encoder does."""
    settings = header.coding.encoder_settings
    laplace = settings.get("rate_model", "laplace") == "laplace"
    entropy = EntropyModel.LAPLACE if laplace else EntropyModel.GAUSSIAN
    min_std = float(settings.get("min_std", 0.05))
    planes = header.tensor_layout >= PLANE_FLAGS_LAYOUT
    models, prev_hat = [], None
    for m in gom.models:
        specs = tensor_specs(header, m.num_frames)
        codes, prev_hat = decode_model(m, specs, prev_hat)
        tensors = [recode_tensor(t, entropy, temporal_candidate(t.shape, spec.role, entropy), min_std,
                                 planes and plane_candidate(t.shape), q)
                   for t, spec, q in zip(m.tensors, specs, codes)]
        models.append(dataclasses.replace(m, tensors=tensors))
    return dataclasses.replace(gom, models=models)


def rewrite(src: Path, dst: Path) -> tuple[int, int]:
    """``src`` in the current format version at ``dst``, its tensors coded again; returns that
    version."""
    with open(src, "rb") as fh:
        reader = UarReader(fh)
        version = WRITTEN_FORMAT_VERSION
        header = dataclasses.replace(reader.header, writer_version=version, min_reader_version=version)
        goms = [recode(header, reader.read_gom(entry.index)) for entry in reader.index]
    with open(dst, "wb") as out:
        writer = UarWriter(out, header)
        for gom in goms:
            writer.append_gom(gom)
        writer.finish()
    return version


def same_frames(a: Path, b: Path) -> bool:
    with api.open_stream(a) as sa, api.open_stream(b) as sb:
        for ca, cb in zip(sa.frames(device="cpu"), sb.frames(device="cpu"), strict=True):
            if not all(np.array_equal(x, y) for x, y in ((ca.y, cb.y), (ca.u, cb.u), (ca.v, cb.v))):
                return False
    return True


def measure(streams: list[Path], folder: Path) -> list[dict]:
    rows = []
    for i, src in enumerate(streams):
        dst = folder / f"{i:03d}_{src.parent.name}_{src.name}"
        target = rewrite(src, dst)
        with open(src, "rb") as fh:
            version = UarReader(fh).header.min_reader_version
        row = {"stream": str(src), "version": f"{version[0]}.{version[1]}", "target": f"{target[0]}.{target[1]}",
               "bytes": src.stat().st_size,
               "rewritten_bytes": dst.stat().st_size, "same_frames": same_frames(src, dst)}
        row["saved"] = 1.0 - row["rewritten_bytes"] / row["bytes"]
        rows.append(row)
        print(f"{src}: {row['version']} {row['bytes']:,} B -> {row['target']} "
              f"{row['rewritten_bytes']:,} B ({-100 * row['saved']:+.1f}%), "
              f"frames {'identical' if row['same_frames'] else 'DIFFER'}")
    return rows


def _fmt(bd: float | None) -> str:
    return "n/a" if bd is None else f"{bd:+.1f}%"


def rewritten_results(results: CodecResults, rows: list[dict]) -> CodecResults:
    """``results`` with each point's rate that of its rewritten stream (same frames, so the
    same quality; the encode and decode seconds are the original encode's)."""
    points = []
    for p, r in zip(results.points, rows):
        scale = r["rewritten_bytes"] / p.file_bytes  # the point's rate per byte stays
        points.append(dataclasses.replace(p, bpp=p.bpp * scale, kbps=p.kbps * scale, file_bytes=r["rewritten_bytes"]))
    settings = dict(results.settings, rewritten_by=f"benchmarks/format_overhead.py, uarcodec {__version__}")
    return dataclasses.replace(results, points=points, settings=settings)


def bench_bd(bench: Path, anchors: Path, folder: Path, results_out: Path | None = None) -> list[dict]:
    """Per uarcodec curve of ``bench``: BD-rate against x265 as written and as rewritten (None
    where the curves do not overlap); with ``results_out``, each rewritten curve's results JSON
    there."""
    out = []
    for path in sorted(bench.glob("uar-*__*__gop*.json")):
        results = CodecResults.load(path)
        anchor = CodecResults.load(results_path(anchors, "x265", results.clip.name, results.settings["gop"]))
        rows = measure([path.with_suffix("") / f"{p.label}.uar" for p in results.points], folder)
        rewritten = rewritten_results(results, rows)
        if results_out is not None:
            rewritten.save(results_path(results_out, results.codec, results.clip.name, results.settings["gop"]))
        row = {"codec": results.codec, "clip": results.clip.name, "bd_written": bd_rate_against(anchor, results),
               "bd_rewritten": bd_rate_against(anchor, rewritten),
               "bd_ms_ssim_written": bd_rate_against(anchor, results, "ms_ssim"),
               "bd_ms_ssim_rewritten": bd_rate_against(anchor, rewritten, "ms_ssim"),
               "same_frames": all(r["same_frames"] for r in rows), "points": rows}
        print(f"{row['codec']} {row['clip']}: BD-rate against x265 {_fmt(row['bd_written'])} as written, "
              f"{_fmt(row['bd_rewritten'])} rewritten (MS-SSIM "
              f"{_fmt(row['bd_ms_ssim_written'])}, {_fmt(row['bd_ms_ssim_rewritten'])})")
        out.append(row)
    for key in ("bd_written", "bd_rewritten", "bd_ms_ssim_written", "bd_ms_ssim_rewritten"):
        values = [r[key] for r in out if r[key] is not None]
        if values:
            print(f"average {key[3:].replace('_', ' ')} over {len(values)} clips: {sum(values) / len(values):+.1f}%")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("streams", nargs="*", type=Path)
    ap.add_argument("--bench", type=Path, help="a uar bench output folder: rewrite its uarcodec points")
    ap.add_argument("--anchors", type=Path, help="folder with the x265 results JSON (default: --bench)")
    ap.add_argument("--json", type=Path, help="write the rows here")
    ap.add_argument("--keep", type=Path, help="keep the rewritten streams in this folder")
    ap.add_argument("--results", type=Path, help="--bench: write the rewritten curves' results JSON here")
    args = ap.parse_args()
    if not args.streams and args.bench is None:
        ap.error("give streams or --bench")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        rows = measure(args.streams, folder)
        if args.bench is not None:
            rows += bench_bd(args.bench, args.anchors or args.bench, folder, args.results)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
