"""Stereo consistency with a real instance-norm network on pairs with known disparity."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from temporal_helpers import NetStylizer, texture

from artem_vr.frames import to_rgb8, to_tensor
from artem_vr.temporal import StereoConsistentStylizer, TemporalStabilizer, comfort_stats, wrap_for_run
from artem_vr.temporal.disparity import right_view_disparity
from artem_vr.temporal.flicker import masked_mae, stereo_error, to_gray8
from artem_vr.temporal.metrics import stylize_pair
from artem_vr.temporal.normstats import pooled_pair_stats
from artem_vr.temporal.stereo import DisparityEstimator, fill_disparity_holes


@pytest.fixture(scope="module")
def net():
    return NetStylizer()


def pair_with_disparity(d: int, h=96, w=160, seed=11, bright_right_edge=False):
    """left[y, x] = right[y, x - d] (a plane at disparity d); optionally a bright object only the
    right camera sees (at its right edge), as happens at the borders of real stereo views."""
    wide = texture(h, w + d, seed=seed)
    if bright_right_edge:
        wide[h // 4: 3 * h // 4, w:] = 250
    left, right = np.ascontiguousarray(wide[:, :w]), np.ascontiguousarray(wide[:, d:])
    disp = np.full((h, w), float(d), np.float32)
    return left, right, right_view_disparity(disp)


def stereo_err(stylizer, left, right, gt, joint=True):
    yl, yr = stylize_pair(stylizer, left, right, joint=joint)
    return stereo_error(yl, yr, *gt)


def test_pooled_statistics_are_those_of_both_images_together():
    torch.manual_seed(2)
    a, b = torch.rand(1, 4, 6, 8) * 2, torch.rand(1, 4, 6, 8) + 1
    var, mean = torch.var_mean(torch.cat([a, b]), dim=(2, 3), unbiased=False)
    pm, pv = pooled_pair_stats(mean, var)
    jv, jm = torch.var_mean(torch.cat([a, b], dim=3), dim=(2, 3), unbiased=False)
    assert torch.allclose(pm, jm.expand(2, 4)) and torch.allclose(pv, jv.expand(2, 4), atol=1e-5)


def test_shared_statistics_agree_better_than_independent_eyes(net):
    # A disparity that is a multiple of the network's stride (4) keeps the convolutions aligned
    # between the eyes, so what is left to disagree is the normalization: the right eye sees a
    # bright object the left does not, which shifts its own statistics.
    left, right, gt = pair_with_disparity(16, bright_right_edge=True)
    indep = stereo_err(net, left, right, gt, joint=False)
    shared = stereo_err(StereoConsistentStylizer(net, mode="shared-stats"), left, right, gt)
    print(f"stereo error independent {indep:.2f}  shared stats {shared:.2f}")
    assert shared < 0.6 * indep
    # identical eyes: pooled statistics are the eyes' own, so nothing changes
    s = StereoConsistentStylizer(net, mode="shared-stats")
    same = to_tensor([left, left])
    assert torch.allclose(s.stylize(same), net.stylize(same), atol=1e-5)


def test_online_disparity_recovers_a_known_shift():
    left, right, _ = pair_with_disparity(8, h=96, w=192)
    g = [to_gray8(i) for i in (left, right)]
    d, valid = DisparityEstimator(192)(*g)
    core = valid[8:-8, 40:-8]
    assert core.mean() > 0.8
    assert np.median(d[8:-8, 40:-8][core]) == pytest.approx(8.0, abs=0.5)


def test_warp_mode_meets_half_of_independent_error(net):
    left, right, gt = pair_with_disparity(6, w=192)
    indep = stereo_err(net, left, right, gt, joint=False)
    s = StereoConsistentStylizer(net, mode="warp", disp_width=192)
    warp = stereo_err(s, left, right, gt)
    print(f"stereo error independent {indep:.2f}  warp {warp:.2f}  warped {s.stats['warped_fraction']:.2f}")
    assert warp < 0.5 * indep
    assert s.stats["warped_fraction"] > 0.5 and s.stats["cost_ms"] > 0
    # the left eye is the plain stylization of the left view (shared stats aside): still the style
    yl, _ = stylize_pair(s, left, right, joint=True)
    assert masked_mae(yl, to_rgb8(net.stylize(to_tensor(left)))) < 10


def test_mono_and_off_pass_through(net):
    x = to_tensor(texture(64, 96, seed=12))
    assert torch.equal(StereoConsistentStylizer(net).stylize(x), net.stylize(x))
    pair = to_tensor([texture(64, 96, seed=12), texture(64, 96, seed=13)])
    assert torch.equal(StereoConsistentStylizer(net, mode="off").stylize(pair), net.stylize(pair))
    assert torch.equal(StereoConsistentStylizer(net, enabled=False).stylize(pair), net.stylize(pair))


def test_fill_disparity_holes_takes_the_farther_neighbour():
    d = np.array([[0, 5, 0, 0, 9, 0], [0, 0, 0, 0, 0, 0]], np.float32)
    filled = fill_disparity_holes(d, d > 0)
    assert filled[0].tolist() == [5, 5, 5, 5, 9, 9]
    assert filled[1].tolist() == [0] * 6


def test_wrap_for_run_switches_live(net):
    state = SimpleNamespace(temporal=True, stereo_consistency=True)
    s = wrap_for_run(net, state)
    assert isinstance(s, TemporalStabilizer) and isinstance(s.inner.inner, StereoConsistentStylizer)  # a frame graph between
    left, right, _ = pair_with_disparity(6)
    pair = to_tensor([left, right])
    s.stylize(pair)
    st = comfort_stats(s)
    assert st["temporal"]["frames"] == 1 and st["stereo"]["pairs"] == 1
    state.temporal = state.stereo_consistency = False
    assert torch.equal(s.stylize(pair), net.stylize(pair))
    assert comfort_stats(s)["stereo"]["pairs"] == 1  # off: not run
