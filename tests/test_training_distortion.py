"""The training distortion (pipeline/training_target.py): ``--distortion psnr-yuv`` trains on the
MSE that each frame's PSNR-YUV stands for, weighs each plane by its 6:1:1 weight over its MSE as
PSNR-YUV does, stays finite on a plane fitted exactly, and is what the stream records."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from uarcodec import api
from uarcodec.metrics import psnr_yuv
from uarcodec.pipeline.render import output_planes
from uarcodec.pipeline.training_target import GopTarget, distortion_mse, psnr_yuv_mse
from uarcodec.settings import Distortion
from uarcodec_cli.main import main


def frames(seed: int, n: int = 3, h: int = 8, w: int = 12) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def target_of(x: torch.Tensor) -> GopTarget:
    """A target whose planes are ``x``'s Y and 2x2-averaged U, V (4:2:0)."""
    pooled = torch.nn.functional.avg_pool2d(x[:, 1:], 2)
    return GopTarget(x[:, 0], pooled[:, 0], pooled[:, 1], None)


def plane_psnrs(out: torch.Tensor, ref: torch.Tensor) -> list[np.ndarray]:
    """Each plane's PSNR per frame (peak 1), in float64, from the 4:2:0 planes."""
    return [(-10 * torch.log10(((p - q) ** 2).flatten(1).mean(1))).numpy()
            for p, q in zip(output_planes(out.double()), output_planes(ref.double()))]


def test_the_psnr_yuv_distortion_is_the_mse_each_frames_psnr_yuv_stands_for():
    ref = frames(0)
    out = (ref + 0.05 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))
           * torch.tensor([1.0, 0.3, 0.2]).view(1, 3, 1, 1))  # chroma errors smaller, as in a codec
    idx = torch.arange(3)
    target = target_of(ref)
    y, u, v = out[:, 0], *torch.nn.functional.avg_pool2d(out[:, 1:], 2).unbind(1)
    per_frame = psnr_yuv_mse(y, u, v, target.y, target.u, target.v)
    expected = psnr_yuv(*plane_psnrs(out, ref))
    np.testing.assert_allclose(-10 * np.log10(per_frame.double().numpy()), expected, atol=1e-4)
    assert float(distortion_mse(out, target, idx, Distortion.PSNR_YUV)) == pytest.approx(float(per_frame.mean()))
    # below the 6:1:1 sum of MSEs where the planes' MSEs differ (a weighted geometric mean)
    assert float(distortion_mse(out, target, idx, Distortion.PSNR_YUV)) < float(distortion_mse(out, target, idx))


def test_each_planes_mse_counts_by_its_weight_over_that_mse():
    """dD/dMSE_p = w_p * D / MSE_p: a plane whose MSE is a quarter of another's counts four times
    as much per unit of MSE (per 6:1:1 weight), where the 6:1:1 sum counts them alike."""
    errors = {"y": 0.2, "u": 0.05, "v": 0.1}  # constant errors: MSE = error**2
    planes = {k: torch.zeros(1, 4, 4) for k in errors}
    outs = {k: (planes[k] + e).requires_grad_() for k, e in errors.items()}
    d = psnr_yuv_mse(outs["y"], outs["u"], outs["v"], planes["y"], planes["u"], planes["v"])[0]
    d.backward()
    for k, w in (("y", 6 / 8), ("u", 1 / 8), ("v", 1 / 8)):
        mse = errors[k] ** 2
        # a pixel's gradient: 2 e / n * dD/dMSE
        d_mse = float(outs[k].grad[0, 0, 0]) * 16 / (2 * errors[k])
        assert d_mse == pytest.approx(w * float(d.detach()) / mse, rel=1e-4)


def test_a_plane_fitted_exactly_keeps_the_loss_and_its_gradients_finite():
    ref = frames(2, n=1)
    out = ref.clone()
    out[:, 0] += 0.1  # luma off, chroma exact
    out.requires_grad_()
    loss = distortion_mse(out, target_of(ref), torch.arange(1), Distortion.PSNR_YUV)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(out.grad).all() and out.grad.abs().sum() > 0


def test_an_encode_with_the_psnr_yuv_distortion_records_it(sample, tmp_path):
    out = tmp_path / "psnr-yuv.uar"
    done = CliRunner().invoke(main, ["-v", "quiet", "encode", str(sample), "-o", str(out), "-p", "2", "-m", "2",
                                     "--frames", "2", "--model", "latent", "--size", "40k", "--epochs-i", "1",
                                     "--epochs-p", "1", "--distortion", "psnr-yuv", "--device", "cpu"])
    assert done.exit_code == 0, done.output
    assert api.stream_info(out)["coding"]["encoder_settings"]["distortion"] == "psnr-yuv"
