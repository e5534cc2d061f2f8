"""uarcodec: the UAR-NVC neural video codec.

The public API lives in :mod:`uarcodec.api` and is re-exported here. The re-exports load on
first use, so that importing a ground-floor package (``uarcodec.video``, ``uarcodec.coding``,
...) does not load the codec, torch models or the container code.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.23.0"  # 0.23.0: --distortion psnr-yuv, training on each frame's 6:1:1 geometric mean of its planes' MSEs (the MSE PSNR-YUV stands for; an option, not the default: README bench -9.9% BD-rate on PSNR-YUV on average, +29.5% on PSNR-Y, +1.2% on MS-SSIM; no format change); 0.22.1: the context network's two layers train in cache-sized chunks of columns on a CPU (coding/column_network.py; the same numbers to float rounding; box's I-model rate term by wavefronts 19.5 -> 16.7 ms, its fit 3 to 8% shorter; no format change); 0.22.0: the training's rate term prices resting grid values (0, reading only zeros) in the checkerboard once per phase and zero codes once per tensor in the per-tensor rate, on a CPU (the same bits and gradients to float rounding; cockatoo 490k-l150 485 -> 442 s side by side; no format change); 0.21.0: the latent grids before a moving camera (per-frame offsets) train priced in the checkerboard order and are coded by wavefronts under a network fitted to their integers (format 1.10 for those streams; the same pixels); 0.20.0: an I-model of the latent family codes its grids under its context network fitted again after training to their integers, where that makes its record smaller (the same pixels; no format change); HNeRV's P-models before a moving camera train at the I-model's lambda (MOVING_P_LAMBDA_SCALE); 0.19.0: a P-model of the latent family codes its grids under a context network of its own, fitted after training to its residual integers, where that makes its record smaller (the same pixels; no format change); 0.18.0: the latent family codes its grids by wavefronts by default, the checkerboard where the camera moves (format 1.10; --latent-context-order names either); 0.17.0: format 1.10, the latent family's context network may code its grids by wavefronts, every value reading five decoded neighbours (--latent-context-order wavefront; the default stays the checkerboard, whose streams stay 1.8, byte for byte); 0.16.2: a seed trial that wins goes on from where it stopped (two trials 1.25x an I-model's fit, not 1.6x; the same streams); 0.16.1: a fit ends on its best epoch (the lowest loss) where a late epoch went wrong; --seed-trials N (no format change); 0.16.0: format 1.9, scene cuts: a new GOP and GOM (an I-model) at each cut the encoder finds in the video (--scene-cuts; a stream without cuts stays 1.8); 0.15.0: every family's I-models train with Adam's beta2 at 0.995 at presets ultrafast to fast and 0.999 from medium up (PRESET_BETA2_I; the latent family's at medium and up as at 0.13.0 again; no format change); 0.14.0: the latent family's I-models train with Adam's beta2 at 0.995 (TrainingSettings.beta2_i; no format change); 0.13.0: format 1.8, zero flags under plane contexts, a model each flag's neighbours pick (every stream is 1.8); HNeRV's P-models train 0.75 of the I-model's epochs before a moving camera; 0.12.0: the latent family's P-models train 0.75 of the I-model's epochs where its grids move (TrainingSettings.epochs_p_moving; no format change); 0.11.0: --model auto, the default of uar encode and uar bench: the latent grids before a still camera, HNeRV where the camera moves (no stream changes); 0.10.0: format 1.7, the latent grids read at a field of offsets, one per block of 32 pixels, where things move (--latent-motion-block, from the video by default); 0.9.0: format 1.6, the latent grids read at per-frame offsets of a moving camera (--latent-motion, from the video by default); 0.8.0: format 1.5, the latent grids' context entropy model (--latent-context, 8 units by default); 0.7.0: the latent-grid family (id 3, first version); 0.6.1: P-models at 0.75 of the I-model's lambda; a fit that blows up goes back to its last good epoch at half the learning rate; 0.6.0: format 1.4, varint fields, bfloat16 entropy parameters, cut words, compact field lists; 0.5.0: format 1.3, zero-flagged tensor records; CUDA trains in fp32 without host copies per step; 0.4.4: the short presets train P-models at 2x the paper's learning rate; 0.4.3: presets ultrafast to medium train I-models at 4x the learning rate too, medium's P-models at 2x; 0.4.2: preset fast trains I-models at 4x the learning rate; 0.4.1: Laplace rate gradient through its location, float32 LayerNorms (0.4: HNeRV kernels 1, 5, ..., 5, 3; 0.3: format 1.2)

# Public name -> the module that defines it.
_EXPORTS = {
    "ConcealedGom": "uarcodec.api",
    "DecodeReport": "uarcodec.api",
    "InputOptions": "uarcodec.api",
    "ParallelSettings": "uarcodec.api",
    "UarStream": "uarcodec.api",
    "compare_videos": "uarcodec.api",
    "decode": "uarcodec.api",
    "encode": "uarcodec.api",
    "open_stream": "uarcodec.api",
    "plan_encode": "uarcodec.api",
    "select_frames": "uarcodec.api",
    "stream_info": "uarcodec.api",
    "UarCodingError": "uarcodec.errors",
    "UarError": "uarcodec.errors",
    "UarFormatError": "uarcodec.errors",
    "UarInputError": "uarcodec.errors",
    "UarSettingsError": "uarcodec.errors",
    "UarVersionError": "uarcodec.errors",
    "UarWorkerError": "uarcodec.errors",
    "EncoderSettings": "uarcodec.settings",
    "TrainingSettings": "uarcodec.settings",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'uarcodec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
