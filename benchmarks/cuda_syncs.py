"""Host synchronisations of a CUDA encode: how often the training loop waits for the GPU.

Encodes the first frames of a clip on CUDA with ``torch.cuda.set_sync_debug_mode("warn")``, so
that torch reports every operation that makes the host wait for the device (``.item()``, a
device-to-host copy, a size that depends on device data), and prints how many there were
against the number of training steps. A step that syncs costs the GPU its queue: the whole
step then runs at the speed of Python. No thresholds; part of ``benchmarks/gpu_check.sh``::

    python benchmarks/cuda_syncs.py ../shared/data/vtest_cif_120f.y4m --frames 8 -p 4 -m 2
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from uarcodec.api import encode
from uarcodec.settings import Preset, TrainingOptions


def count_syncs(clip: Path, frames: int, gop: int, gom: int, size: int, preset: str) -> dict[str, object]:
    """Encode ``frames`` frames on CUDA and count the syncs torch reports, by source line."""
    user = TrainingOptions(preset=Preset(preset), device="cuda")
    settings = user.encoder_settings(gop, gom, size)
    steps = sum(
        (settings.training.epochs_i if k % gom == 0 else settings.training.epochs_p) * gop
        for k in range(-(-frames // gop))
    ) // settings.training.batch_size
    torch.cuda.set_sync_debug_mode("warn")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encode(clip, Path(tmp) / "s.uar", settings, frames=frames, device="cuda")
    torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    where = collections.Counter(f"{Path(w.filename).name}:{w.lineno}" for w in syncs)
    return {"syncs": len(syncs), "training_steps": steps, "top": where.most_common(8)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("clip", type=Path)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("-p", "--gop-size", type=int, default=4)
    p.add_argument("-m", "--gom-size", type=int, default=2)
    p.add_argument("--size", type=int, default=50_000)
    p.add_argument("--preset", default="ultrafast")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: nothing to count")
    r = count_syncs(args.clip, args.frames, args.gop_size, args.gom_size, args.size, args.preset)
    print(f"{r['syncs']} host syncs in an encode of {args.frames} frames ({r['training_steps']} training steps, "
          f"p={args.gop_size}, m={args.gom_size}, {args.size} parameters, preset {args.preset}); by source line:")
    for line, n in r["top"]:
        print(f"- {line}: {n}")


if __name__ == "__main__":
    main()
