"""GOP/GOM partition: any T works, the last GOP and GOM may be shorter."""

import pytest

from uarcodec.errors import UarSettingsError
from uarcodec.pipeline.partition import GopPartition


@pytest.mark.parametrize(
    "t,p,m,gop_lengths,gom_models",
    [
        (120, 30, 5, [30, 30, 30, 30], [4]),
        (120, 30, 2, [30] * 4, [2, 2]),
        (100, 30, 2, [30, 30, 30, 10], [2, 2]),  # T not a multiple of p
        (70, 10, 3, [10] * 7, [3, 3, 1]),  # T not a multiple of p*m
        (7, 30, 5, [7], [1]),  # T < p
        (9, 4, 1, [4, 4, 1], [1, 1, 1]),  # m = 1
        (1, 1, 1, [1], [1]),
    ],
)
def test_partition_covers_every_frame_once(t, p, m, gop_lengths, gom_models):
    part = GopPartition(t, p, m)
    assert [g.num_frames for g in part.gops] == gop_lengths
    assert [len(g.gops) for g in part.goms] == gom_models
    frames = [f for gom in part.goms for gop in gom.gops for f in range(gop.first_frame, gop.stop)]
    assert frames == list(range(t))
    assert sum(g.num_frames for g in part.goms) == t


def test_goms_for_frames_selects_only_overlapping_goms():
    part = GopPartition(100, 10, 2)  # GOMs of 20 frames
    assert [g.index for g in part.goms_for_frames(0, 1)] == [0]
    assert [g.index for g in part.goms_for_frames(19, 2)] == [0, 1]
    assert [g.index for g in part.goms_for_frames(45, 50)] == [2, 3, 4]
    assert part.goms_for_frames(100, 5) == []


@pytest.mark.parametrize("t,p,m", [(0, 10, 2), (10, 0, 2), (10, 5, 0)])
def test_bad_partition_is_a_settings_error(t, p, m):
    with pytest.raises(UarSettingsError):
        GopPartition(t, p, m)


@pytest.mark.parametrize(
    "t,p,m,cuts,gop_lengths,gom_models",
    [
        (120, 30, 5, (97,), [30, 30, 30, 7, 23], [4, 1]),  # megamind's cut: a new GOM at 97
        (120, 30, 2, (97,), [30, 30, 30, 7, 23], [2, 2, 1]),
        (20, 4, 2, (5, 6), [4, 1, 1, 4, 4, 4, 2], [2, 1, 2, 2]),  # a one-frame scene
        (10, 4, 3, (), [4, 4, 2], [3]),
    ],
)
def test_a_scene_cut_starts_a_gop_and_a_gom(t, p, m, cuts, gop_lengths, gom_models):
    part = GopPartition(t, p, m, cuts)
    assert [g.num_frames for g in part.gops] == gop_lengths
    assert [len(g.gops) for g in part.goms] == gom_models
    assert [g.index for g in part.gops] == list(range(len(gop_lengths)))
    assert set(cuts) <= {g.first_frame for g in part.goms}
    frames = [f for gom in part.goms for gop in gom.gops for f in range(gop.first_frame, gop.stop)]
    assert frames == list(range(t))


@pytest.mark.parametrize("cuts", [(0,), (10,), (5, 5), (6, 5), (3, 12)])
def test_scene_cuts_outside_the_video_or_out_of_order_are_a_settings_error(cuts):
    with pytest.raises(UarSettingsError, match="scene cuts"):
        GopPartition(10, 4, 2, cuts)
