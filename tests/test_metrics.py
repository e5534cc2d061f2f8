"""Metrics a user reads off every bench and compare run: PSNR, RGB, MS-SSIM, bpp, BD-rate."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from uarcodec import metrics as M
from uarcodec.errors import UarInputError
from conftest import SHARED_DATA
from uarcodec.video import open_video

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not DATA.exists():
    DATA = SHARED_DATA
CARPHONE = DATA / "carphone_qcif_120f.y4m"




def planes(n: int, h: int, w: int, value: int = 128):
    return (np.full((n, h, w), value, np.uint8), np.full((n, h // 2, w // 2), 128, np.uint8),
            np.full((n, h // 2, w // 2), 128, np.uint8))


# ------------------------------------------------------------------------------------ PSNR


def test_psnr_of_a_known_mse():
    ref = np.zeros((1, 4, 4), np.uint8)
    dec = np.full((1, 4, 4), 5, np.uint8)  # MSE 25
    assert M.psnr_per_frame(ref, dec)[0] == pytest.approx(10 * math.log10(255**2 / 25))
    dec[0, 0, 0] = 1  # MSE (15 * 25 + 1) / 16 = 23.5
    assert M.psnr_per_frame(ref, dec)[0] == pytest.approx(10 * math.log10(255**2 / 23.5))


def test_identical_frames_cap_at_100_db():
    ref = np.arange(48, dtype=np.uint8).reshape(3, 4, 4)
    assert M.psnr_per_frame(ref, ref).tolist() == [100.0, 100.0, 100.0]
    assert M.PSNR_CAP_DB == 100.0


def test_psnr_is_averaged_over_frames_not_pooled():
    ref = np.zeros((2, 4, 4), np.uint8)
    dec = np.stack([np.full((4, 4), 1, np.uint8), np.full((4, 4), 10, np.uint8)])
    acc = M.QualityAccumulator(with_ms_ssim=False)
    u = np.zeros((2, 2, 2), np.uint8)
    acc.add((ref, u, u), (dec, u, u))
    expected = (10 * math.log10(255**2 / 1) + 10 * math.log10(255**2 / 100)) / 2
    assert acc.report().psnr_y == pytest.approx(expected)


def test_psnr_yuv_weights_luma_six_to_one_to_one():
    ref_y, ref_u, ref_v = planes(1, 4, 4)
    dec_y = ref_y + 5  # MSE 25
    dec_u = ref_u + 1  # MSE 1
    report = M.compare_clips(ref_y, ref_u, ref_v, dec_y, dec_u, ref_v.copy(), with_ms_ssim=False)
    p_y, p_u = 10 * math.log10(255**2 / 25), 10 * math.log10(255**2)
    assert report.psnr_y == pytest.approx(p_y)
    assert report.psnr_u == pytest.approx(p_u)
    assert report.psnr_v == 100.0
    assert report.psnr_yuv == pytest.approx((6 * p_y + p_u + 100.0) / 8)
    assert M.psnr_yuv(np.array([30.0]), np.array([40.0]), np.array([50.0]))[0] == 33.75


# ------------------------------------------------------------------------------- RGB


@pytest.mark.parametrize(
    ("matrix", "range_", "rgb"),
    [
        ("bt601", "limited", (212.7221, 54.1615, 21.1534)),
        ("bt601", "full", (200.9440, 61.6594, 32.6640)),
        ("bt709", "limited", (226.8856, 67.5422, 17.5370)),
        ("bt709", "full", (213.3856, 73.4134, 29.4872)),
    ],
)
def test_rgb_of_a_known_pixel(matrix, range_, rgb):
    # Y=100, Cb=90, Cr=200 worked out by hand from R = Y + 2(1-Kr)Cr, B = Y + 2(1-Kb)Cb,
    # G = (Y - Kr R - Kb B)/(1 - Kr - Kb) with (Kr, Kb) = (0.299, 0.114) / (0.2126, 0.0722).
    y = np.full((1, 2, 2), 100, np.uint8)
    u = np.full((1, 1, 1), 90, np.uint8)
    v = np.full((1, 1, 1), 200, np.uint8)
    out = M.yuv_to_rgb(y, u, v, matrix, range_)
    assert out.shape == (1, 2, 2, 3)
    np.testing.assert_allclose(out[0, 1, 1], rgb, atol=1e-3)


def test_limited_range_white_and_black_reach_the_rgb_extremes():
    y = np.array([[[235, 16]]], np.uint8).repeat(2, axis=1)
    c = np.full((1, 1, 1), 128, np.uint8)
    out = M.yuv_to_rgb(y, c, c, "bt709", "limited")
    np.testing.assert_allclose(out[0, 0, 0], [255, 255, 255], atol=1e-9)
    np.testing.assert_allclose(out[0, 0, 1], [0, 0, 0], atol=1e-9)
    assert M.yuv_to_rgb8(np.full((1, 2, 2), 250, np.uint8), c, c)[0, 0, 0].tolist() == [255] * 3


def test_chroma_is_upsampled_nearest_neighbour():
    y = np.full((1, 4, 4), 128, np.uint8)
    u = np.full((1, 2, 2), 128, np.uint8)
    v = np.full((1, 2, 2), 128, np.uint8)
    v[0, 0, 1] = 200  # the top-right 2x2 luma block only
    red = M.yuv_to_rgb(y, u, v)[0, :, :, 0]
    assert np.all(red[:2, 2:] > red[0, 0])
    assert np.all(red[2:, :] == red[0, 0]) and np.all(red[:2, :2] == red[0, 0])


def test_unknown_matrix_is_a_clear_error():
    y, u, v = planes(1, 2, 2)
    with pytest.raises(UarInputError, match="matrix"):
        M.yuv_to_rgb(y, u, v, "bt2020", "limited")
    with pytest.raises(UarInputError, match="range"):
        M.QualityAccumulator("bt601", "tv")


# ---------------------------------------------------------------------------- MS-SSIM


def smooth_rgb(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for _ in range(n):
        a = rng.uniform(0.02, 0.15, 3)
        img = [127 + 100 * np.sin(a[c] * xx + 0.7 * c) * np.cos(a[(c + 1) % 3] * yy)
               for c in range(3)]
        frames.append(np.stack(img, axis=-1))
    return np.clip(np.rint(np.stack(frames)), 0, 255).astype(np.uint8)


def add_noise(frames: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(frames + rng.normal(0, sigma, frames.shape)), 0, 255).astype(np.uint8)


def test_ms_ssim_is_one_on_identical_frames_and_falls_with_noise():
    ref = smooth_rgb(2, 176, 176)
    assert M.ms_ssim_per_frame(ref, ref).tolist() == [1.0, 1.0]
    values = [M.ms_ssim_per_frame(ref, add_noise(ref, s)).mean() for s in (2, 6, 15, 40)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert values[-1] < 0.9 < values[0]


def test_ms_ssim_of_flat_frames_is_the_hand_computed_luminance_term():
    # Constant frames: every contrast-structure term is 1, so MS-SSIM = l ** w5 with
    # l = (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01 * 255)^2, w5 = 0.1333.
    a, b = 100.0, 110.0
    ref = np.full((1, 192, 192, 3), a, np.uint8)
    dec = np.full((1, 192, 192, 3), b, np.uint8)
    c1 = (0.01 * 255) ** 2
    expected = ((2 * a * b + c1) / (a * a + b * b + c1)) ** 0.1333
    # pytorch-msssim filters in float32 without centring: E[x^2] - mu^2 of flat 100/110 frames
    # leaves ~1e-3 of variance noise, 1.7e-5 off the exact value (float64 would give 0).
    assert M.ms_ssim_per_frame(ref, dec)[0] == pytest.approx(expected, rel=3e-5)


def test_small_frame_window_rule():
    assert M.ms_ssim_config(288, 352) == M.MsSsimConfig(11, 1.5, M.MS_SSIM_WEIGHTS)
    assert M.ms_ssim_config(161, 400).window == 11
    qcif = M.ms_ssim_config(144, 176)  # the standard window would need 161 px
    assert (qcif.window, qcif.sigma, qcif.scales) == (9, 1.5, 5)
    assert M.ms_ssim_config(100, 100).window == 7
    tiny = M.ms_ssim_config(64, 80)  # 11x11 kept, 3 scales (10 * 2**2 < 64)
    assert (tiny.window, tiny.scales) == (11, 3)
    assert sum(tiny.weights) == pytest.approx(1.0)
    assert tiny.weights[0] / tiny.weights[1] == pytest.approx(0.0448 / 0.2856)
    with pytest.raises(UarInputError):
        M.ms_ssim_config(8, 100)
    # A QCIF frame is measurable end to end and the report says which window was used.
    ref = smooth_rgb(1, 144, 176)
    assert 0.9 < M.ms_ssim_per_frame(ref, add_noise(ref, 5))[0] < 1.0
    assert "9x9" in M.ms_ssim_method(144, 176)


@pytest.mark.parametrize("size", [(176, 192), (144, 176)])
def test_ms_ssim_matches_pytorch_msssim(size):
    oracle = pytest.importorskip("pytorch_msssim", reason="pytorch-msssim (test oracle) absent")
    import torch

    ref = smooth_rgb(2, *size)
    dec = add_noise(ref, 8)
    cfg = M.ms_ssim_config(*size)
    expected = oracle.ms_ssim(
        torch.from_numpy(ref).permute(0, 3, 1, 2).double(),
        torch.from_numpy(dec).permute(0, 3, 1, 2).double(),
        data_range=255, size_average=False, win_size=cfg.window, win_sigma=cfg.sigma,
        weights=list(cfg.weights),
    ).numpy()
    np.testing.assert_allclose(M.ms_ssim_per_frame(ref, dec), expected, rtol=1e-6)


def test_ms_ssim_scale_loop_for_small_frames_is_the_librarys():
    # Frames under 97 px a side (fewer than 5 scales) use metrics' own copy of the library's
    # scale loop, which pytorch_msssim.ms_ssim refuses to run; on 5 scales both must agree.
    from uarcodec.metrics import msssim

    ref = smooth_rgb(2, 176, 192)
    dec = add_noise(ref, 8)
    cfg = M.ms_ssim_config(176, 192)
    x, y = msssim._to_nchw32(ref), msssim._to_nchw32(dec)
    win = msssim._gaussian_window(cfg.window, cfg.sigma, 3)
    loop = msssim._ms_ssim_few_scales(x, y, 255.0, win, cfg.weights).numpy()
    np.testing.assert_allclose(loop, M.ms_ssim_per_frame(ref, dec), rtol=1e-6)
    assert M.ms_ssim_config(64, 80).scales == 3 and 0.9 < M.ms_ssim_per_frame(
        smooth_rgb(1, 64, 80), add_noise(smooth_rgb(1, 64, 80), 5))[0] < 1.0


# -------------------------------------------------------------------- accumulating chunks


def test_accumulator_in_chunks_equals_one_shot():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 256, (5, 32, 48), dtype=np.uint8)
    u = rng.integers(0, 256, (5, 16, 24), dtype=np.uint8)
    v = rng.integers(0, 256, (5, 16, 24), dtype=np.uint8)
    dy, du, dv = (np.clip(p.astype(int) + rng.integers(-3, 4, p.shape), 0, 255).astype(np.uint8)
                  for p in (y, u, v))
    whole = M.compare_clips(y, u, v, dy, du, dv, "bt709", "full", chunk_frames=5)
    acc = M.QualityAccumulator("bt709", "full")
    for s, e in ((0, 2), (2, 3), (3, 5)):
        acc.add((y[s:e], u[s:e], v[s:e]), (dy[s:e], du[s:e], dv[s:e]))
    parts = acc.report()
    assert [f.index for f in parts.frames] == [0, 1, 2, 3, 4]
    assert parts.frames == whole.frames
    assert parts.means() == whole.means()
    assert parts.rgb_matrix == "bt709" and parts.rgb_range == "full"
    assert parts.to_dict()["mean"]["psnr_yuv"] == whole.psnr_yuv


def test_accumulator_rejects_mismatched_frames():
    y, u, v = planes(2, 4, 4)
    acc = M.QualityAccumulator(with_ms_ssim=False)
    with pytest.raises(UarInputError):
        acc.add((y, u, v), (y[:1], u[:1], v[:1]))
    with pytest.raises(UarInputError):
        acc.add((y, u, v), (y.astype(np.int16), u, v))
    with pytest.raises(UarInputError, match="4:2:0"):
        acc.add((y, u[:, :1], v), (y, u[:, :1], v))
    with pytest.raises(UarInputError):
        acc.report()


@pytest.mark.skipif(not CARPHONE.exists(), reason="shared/data/carphone_qcif_120f.y4m absent")
def test_real_clip_against_a_direct_computation():
    with open_video(str(CARPHONE)) as reader:
        clip = reader.read(0, 4)
    y, u, v = clip.y, clip.u, clip.v
    dy, du, dv = (p // 4 * 4 for p in (y, u, v))  # drop the 2 low bits
    report = M.compare_clips(y, u, v, dy, du, dv)
    mse = ((y.astype(float) - dy) ** 2).reshape(4, -1).mean(axis=1)
    assert report.psnr_y == pytest.approx(np.mean(10 * np.log10(255**2 / mse)))
    assert 0.95 < report.ms_ssim < 1.0
    assert report.width == 176 and report.height == 144 and report.frame_count == 4


# ------------------------------------------------------------------------------ rate


def test_bpp_and_kbps_arithmetic():
    assert M.bits_per_pixel(29039, 176, 144, 120) == pytest.approx(29039 * 8 / (176 * 144 * 120))
    assert M.bits_per_pixel(1000, 10, 10, 8) == 10.0
    # 120 frames at 30000/1001 fps last 4.004 s.
    assert M.kilobits_per_second(29039, 120, 30000 / 1001) == pytest.approx(
        29039 * 8 / 4.004 / 1000)
    assert M.kilobits_per_second(1000, 25, 25.0) == 8.0
    with pytest.raises(UarInputError):
        M.bits_per_pixel(10, 0, 10, 1)
    with pytest.raises(UarInputError):
        M.kilobits_per_second(10, 10, 0.0)


# ------------------------------------------------------------------------------ BD


RATES = [0.02, 0.04, 0.08, 0.15]
PSNRS = [33.0, 35.6, 38.1, 40.9]


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_of_identical_curves_is_zero(method):
    assert M.bd_rate(RATES, PSNRS, RATES, PSNRS, method) == pytest.approx(0.0, abs=1e-9)
    assert M.bd_psnr(RATES, PSNRS, RATES, PSNRS, method) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_rate_of_a_25_percent_cheaper_curve(method):
    cheaper = [r * 0.75 for r in RATES]
    assert M.bd_rate(RATES, PSNRS, cheaper, PSNRS, method) == pytest.approx(-25.0, abs=1e-6)
    assert M.bd_rate(cheaper, PSNRS, RATES, PSNRS, method) == pytest.approx(100 / 3, abs=1e-6)
    assert M.bd_psnr(RATES, PSNRS, cheaper, PSNRS, method) > 0


def test_bd_rate_within_a_quality_range_averages_there_only():
    """Several runs compared with one anchor over one range (benchmarks/bd_common_range.py)."""
    cheaper = [r * 0.75 for r in RATES]
    assert M.bd_rate(RATES, PSNRS, cheaper, PSNRS, within=(35.0, 39.0)) == pytest.approx(-25.0, abs=1e-6)
    cheaper_low = [RATES[0] * 0.5, *RATES[1:]]  # cheaper at the lowest quality only
    full = M.bd_rate(RATES, PSNRS, cheaper_low, PSNRS)
    assert M.bd_rate(RATES, PSNRS, cheaper_low, PSNRS, within=(0.0, 99.0)) == pytest.approx(full)
    high = M.bd_rate(RATES, PSNRS, cheaper_low, PSNRS, within=(38.1, 40.9))
    assert full < -5.0 and abs(high) < 5.0
    with pytest.raises(UarInputError, match="overlap"):
        M.bd_rate(RATES, PSNRS, cheaper, PSNRS, within=(41.0, 45.0))


def test_bd_accepts_points_in_any_order():
    order = [2, 0, 3, 1]
    shuffled_r, shuffled_p = [RATES[i] for i in order], [PSNRS[i] for i in order]
    b = [r * 0.9 for r in RATES]
    expected = M.bd_rate(RATES, PSNRS, b, PSNRS)
    assert M.bd_rate(shuffled_r, shuffled_p, b, PSNRS) == pytest.approx(expected)


def random_monotone_curve(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    rates = np.sort(rng.uniform(0.005, 0.5, n))
    psnrs = np.sort(rng.uniform(28.0, 46.0, n))
    return rates, psnrs


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_matches_the_bjontegaard_package(method):
    bjontegaard = pytest.importorskip("bjontegaard")
    rng = np.random.default_rng(2024)
    checked = 0
    while checked < 40:
        n = int(rng.integers(4, 7))
        ra, pa = random_monotone_curve(rng, n)
        rb = ra * rng.uniform(0.6, 1.4) * np.sort(rng.uniform(0.95, 1.05, n))
        pb = np.sort(pa + rng.normal(0.0, 0.4, n))
        if np.any(np.diff(rb) <= 0) or np.any(np.diff(pb) <= 0):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want_rate = bjontegaard.bd_rate(ra, pa, rb, pb, method=method,
                                            require_matching_points=False)
            want_psnr = bjontegaard.bd_psnr(ra, pa, rb, pb, method=method,
                                            require_matching_points=False)
        if np.isnan(want_rate) or np.isnan(want_psnr):
            continue  # the package's "no overlap" answer
        assert M.bd_rate(ra, pa, rb, pb, method) == pytest.approx(want_rate, rel=1e-6, abs=1e-9)
        assert M.bd_psnr(ra, pa, rb, pb, method) == pytest.approx(want_psnr, rel=1e-6, abs=1e-9)
        checked += 1


def test_bd_errors_are_clear():
    with pytest.raises(UarInputError, match="overlap"):
        M.bd_rate([1, 2], [30, 31], [1, 2], [40, 41])
    with pytest.raises(UarInputError, match="at least 4"):
        M.bd_rate([1, 2, 3], [30, 31, 32], [1, 2, 3], [30, 31, 32], "cubic")
    with pytest.raises(UarInputError, match="positive"):
        M.bd_rate([0, 2], [30, 31], [1, 2], [30, 31])
    with pytest.raises(UarInputError):
        M.bd_rate(RATES, PSNRS, RATES, PSNRS, "akima")
