"""YUV 4:2:0 <-> RGB with explicit matrix and range; float planes for the codec's YUV path."""

from __future__ import annotations


import numpy as np
import pytest

from uarcodec.bitstream.records import ColorMatrix, ColorRange
from uarcodec.video import YuvClip, clip_to_float, float_to_clip, open_video, rgb_to_yuv420, yuv420_to_rgb
from conftest import SHARED_DATA

CARPHONE = SHARED_DATA / "carphone_qcif_120f.y4m"
ALL_SYSTEMS = [(m, r) for m in ColorMatrix for r in ColorRange]


def flat_rgb(red: float, green: float, blue: float) -> np.ndarray:
    rgb = np.empty((1, 3, 2, 2), np.float32)
    rgb[0, 0], rgb[0, 1], rgb[0, 2] = red, green, blue
    return rgb


@pytest.mark.parametrize(
    "matrix, color_range, rgb, yuv",
    [
        (ColorMatrix.BT601, ColorRange.LIMITED, (1, 1, 1), (235, 128, 128)),
        (ColorMatrix.BT601, ColorRange.LIMITED, (0, 0, 0), (16, 128, 128)),
        (ColorMatrix.BT601, ColorRange.FULL, (1, 1, 1), (255, 128, 128)),
        (ColorMatrix.BT601, ColorRange.LIMITED, (1, 0, 0), (81, 90, 240)),
        (ColorMatrix.BT709, ColorRange.LIMITED, (1, 0, 0), (63, 102, 240)),
        (ColorMatrix.BT709, ColorRange.LIMITED, (0, 0, 1), (32, 240, 118)),
        (ColorMatrix.BT601, ColorRange.FULL, (1, 0, 0), (76, 85, 255)),
    ],
)
def test_reference_colours(matrix: ColorMatrix, color_range: ColorRange, rgb: tuple, yuv: tuple) -> None:
    clip = rgb_to_yuv420(flat_rgb(*rgb), matrix, color_range)
    assert (int(clip.y[0, 0, 0]), int(clip.u[0, 0, 0]), int(clip.v[0, 0, 0])) == yuv
    back = yuv420_to_rgb(clip, matrix, color_range)
    assert back.shape == (1, 3, 2, 2) and back.dtype == np.float32
    assert np.allclose(back[0, :, 0, 0], rgb, atol=2.5 / 255)


@pytest.mark.skipif(not CARPHONE.exists(), reason=f"real clip {CARPHONE} not present")
@pytest.mark.parametrize("matrix, color_range", ALL_SYSTEMS)
def test_real_clip_yuv_rgb_yuv_round_trip(matrix: ColorMatrix, color_range: ColorRange) -> None:
    with open_video(CARPHONE) as reader:
        clip = reader.read(40, 8)
    unclipped = rgb_to_yuv420(yuv420_to_rgb(clip, matrix, color_range, clip=False), matrix, color_range)
    for plane in ("y", "u", "v"):
        error = np.abs(getattr(unclipped, plane).astype(int) - getattr(clip, plane))
        assert error.max() <= 1, plane
    # Clipping RGB to [0, 1] only changes the few samples whose YUV lies outside the RGB cube.
    clipped = rgb_to_yuv420(yuv420_to_rgb(clip, matrix, color_range), matrix, color_range)
    for plane in ("y", "u", "v"):
        error = np.abs(getattr(clipped, plane).astype(int) - getattr(clip, plane))
        assert np.mean(error <= 2) > 0.995, plane


def test_chroma_is_upsampled_by_nearest_neighbour() -> None:
    clip = YuvClip(np.full((1, 4, 4), 128, np.uint8), np.array([[[16, 240], [128, 128]]], np.uint8),
                   np.full((1, 2, 2), 128, np.uint8))  # fmt: skip
    rgb = yuv420_to_rgb(clip, ColorMatrix.BT601, ColorRange.LIMITED)
    blue = rgb[0, 2]
    assert np.all(blue[:2, :2] == blue[0, 0]) and np.all(blue[:2, 2:] == blue[0, 2])
    assert blue[0, 0] < blue[0, 2]


def test_chroma_is_downsampled_by_2x2_average() -> None:
    rgb = np.zeros((1, 3, 2, 2), np.float32)
    rgb[0, 2, 0, 0] = 1.0  # one blue pixel out of four
    clip = rgb_to_yuv420(rgb, ColorMatrix.BT601, ColorRange.FULL)
    assert int(clip.u[0, 0, 0]) == round(128 + 255 * 0.5 / 4)


def test_torch_input_matches_numpy_and_keeps_gradients() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    y = rng.random((2, 8, 8), dtype=np.float32)
    u = rng.random((2, 4, 4), dtype=np.float32)
    v = rng.random((2, 4, 4), dtype=np.float32)
    expected = yuv420_to_rgb((y, u, v), ColorMatrix.BT709, ColorRange.FULL)
    ty = torch.tensor(y, requires_grad=True)
    got = yuv420_to_rgb((ty, torch.tensor(u), torch.tensor(v)), ColorMatrix.BT709, ColorRange.FULL)
    assert isinstance(got, torch.Tensor) and got.shape == (2, 3, 8, 8)
    assert np.allclose(got.detach().numpy(), expected, atol=1e-6)
    got.sum().backward()
    assert ty.grad is not None
    back = rgb_to_yuv420(got, ColorMatrix.BT709, ColorRange.FULL)
    assert back.num_frames == 2


def test_uint8_planes_equal_the_clip() -> None:
    rng = np.random.default_rng(4)
    clip = YuvClip(rng.integers(0, 256, (1, 4, 6), dtype=np.uint8), rng.integers(0, 256, (1, 2, 3), dtype=np.uint8),
                   rng.integers(0, 256, (1, 2, 3), dtype=np.uint8))  # fmt: skip
    assert np.array_equal(yuv420_to_rgb(clip), yuv420_to_rgb((clip.y, clip.u, clip.v)))


def test_float_planes_round_trip_exactly() -> None:
    rng = np.random.default_rng(5)
    clip = YuvClip(rng.integers(0, 256, (3, 8, 6), dtype=np.uint8), rng.integers(0, 256, (3, 4, 3), dtype=np.uint8),
                   rng.integers(0, 256, (3, 4, 3), dtype=np.uint8))  # fmt: skip
    y, u, v = clip_to_float(clip)
    assert y.dtype == np.float32 and 0.0 <= y.min() and y.max() <= 1.0
    assert float_to_clip(y, u, v).same_as(clip)


def test_float_to_clip_rounds_and_clips() -> None:
    y = np.array([[[-0.2, 1.3], [0.5 / 255, 1.5 / 255]]], np.float32)
    c = np.array([[[0.5]]], np.float32)
    clip = float_to_clip(y, c, c)
    assert clip.y.tolist() == [[[0, 255], [0, 2]]]  # half to even: 0.5 -> 0, 1.5 -> 2
    assert int(clip.u[0, 0, 0]) == 128  # 127.5 -> 128 (even)


def test_float_to_clip_accepts_torch() -> None:
    torch = pytest.importorskip("torch")
    y = torch.full((1, 2, 2), 0.5, requires_grad=True) * 1.0
    c = torch.full((1, 1, 1), 0.25)
    clip = float_to_clip(y, c, c)
    assert clip.y.dtype == np.uint8 and int(clip.u[0, 0, 0]) == 64
