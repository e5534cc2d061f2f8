"""HNeRV's per-frame embedding channels against rate, quality and step time
(docs/temporal_reuse.md, "Embedding channels chosen for rate").

``encode``: one encode (``uarcodec.api.encode``, preset fast, p = 30, m = 5, one thread) at a
fixed size with the size solver's embedding channels forced to each value given; prints one
JSON line per run (bytes, bpp, PSNR-YUV, and each model's bytes and PSNR-YUV)::

    python benchmarks/bench_embed_channels.py encode ../shared/data/box_cif_120f.y4m --frames 60 --size 110000 --channels 16 8 4

``step``: milliseconds a frame of one training step (forward, MSE, backward, Adam; bf16, batch
1, the first 8 frames) of the network the solver builds at that size, the channel counts
interleaved over ``--repeats`` rounds; prints the median of each::

    python benchmarks/bench_embed_channels.py step ../shared/data/box_cif_120f.y4m --size 110000 --channels 16 8 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import contextmanager
from collections.abc import Iterator

import torch

from uarcodec.api import encode
from uarcodec.bitstream.records import ColorMatrix, ColorRange, OutputSpace
from uarcodec.models import hnerv
from uarcodec.pipeline.fit import conv_layout, make_optimizer
from uarcodec.pipeline.training_target import make_target
from uarcodec.settings import TrainingOptions
from uarcodec.video import open_video


@contextmanager
def solver_channels(channels: int) -> Iterator[None]:
    """HNeRV's size solver gives networks ``channels`` embedding channels inside the block."""
    saved = hnerv.SOLVER_EMBED_CHANNELS
    defaults = hnerv.HNeRV.config_for_size.__func__.__kwdefaults__
    hnerv.SOLVER_EMBED_CHANNELS = defaults["embed_channels"] = channels
    try:
        yield
    finally:
        hnerv.SOLVER_EMBED_CHANNELS = defaults["embed_channels"] = saved


def run_encode(clip: str, frames: int, size: int, channels: int, out: str) -> dict:
    settings = TrainingOptions(family="hnerv", preset="fast").encoder_settings(30, 5, size)
    with solver_channels(channels):
        report = encode(clip, out, settings, frames=frames, overwrite=True)
    return {"channels": channels, "size": size, "bytes": report.file_bytes, "bpp": report.bpp,
            "psnr_yuv": report.psnr_yuv, "models": [(m.coded_bytes, round(m.psnr_yuv, 2)) for m in report.models]}


def step_ms(frames: torch.Tensor, size: int, channels: int) -> float:
    n, _, height, width = frames.shape
    with solver_channels(channels):
        config = hnerv.HNeRV.config_for_size(size, height, width, 30)
    model = hnerv.HNeRV(config, height, width, n)
    for p in model.parameters():
        p.data = conv_layout(p.data)
    optimizer = make_optimizer([{"params": list(model.parameters())}], 1e-3)
    start = time.perf_counter()
    for i in range(n):
        idx = torch.tensor([i])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(idx)
        loss = ((out.float() - frames[idx]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("encode", "step"))
    ap.add_argument("clip")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", type=int, default=110_000)
    ap.add_argument("--channels", type=int, nargs="+", default=[16, 8, 4])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="embed_channels.uar")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.mode == "encode":
        for channels in a.channels:
            print(json.dumps(run_encode(a.clip, a.frames, a.size, channels, a.out)), flush=True)
        return
    with open_video(a.clip) as reader:
        clip = reader.read(0, 8)
    frames = make_target(clip, OutputSpace.YUV, ColorMatrix.BT601, ColorRange.LIMITED,
                         torch.device("cpu")).network_input_frames()
    times: dict[int, list[float]] = {c: [] for c in a.channels}
    for _ in range(a.repeats):
        for channels in a.channels:
            times[channels].append(step_ms(frames, a.size, channels))
    for channels, values in times.items():
        print(f"{channels} channels: {statistics.median(values):.1f} ms a frame (runs {[round(v, 1) for v in values]})")


if __name__ == "__main__":
    main()
