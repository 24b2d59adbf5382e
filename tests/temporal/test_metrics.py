"""The comfort metrics on cases with a known answer: real files written here, real OpenCV flow."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from temporal_helpers import pan, texture, write_video

from artem_vr.errors import ConventionError, ImageError
from artem_vr.temporal.disparity import right_view_disparity
from artem_vr.temporal.flicker import dis_flow, fb_consistent, flow_pairs, FlowPair, masked_mae, stereo_error, temporal_error, warp
from artem_vr.temporal.readers import find_stereo_pairs, load_stereo_pair, load_video, read_disparity


def test_static_video_scores_zero_flicker(tmp_path):
    img = texture(96, 128, seed=1)
    path = write_video(tmp_path / "static.avi", [img] * 6)
    frames = load_video(path, max_frames=6, width=None)
    assert len(frames) == 6 and frames[0].shape == (96, 128, 3)
    pairs = flow_pairs(frames)
    assert temporal_error(frames, pairs) == 0.0
    assert all(p.mask.mean() > 0.95 for p in pairs)  # nothing is called occluded in a still scene


def test_flicker_of_a_pan_is_small_and_noise_raises_it(tmp_path):
    frames = load_video(write_video(tmp_path / "pan.avi", pan(texture(160, 200, seed=2), 6, (128, 96))), 6, None)
    pairs = flow_pairs(frames)
    steady = temporal_error(frames, pairs)
    rng = np.random.default_rng(0)
    noisy = [np.clip(f.astype(np.int16) + rng.integers(-20, 21, f.shape), 0, 255).astype(np.uint8) for f in frames]
    flickery = temporal_error(noisy, pairs)
    still = [FlowPair(np.zeros_like(p.flow), np.ones_like(p.mask)) for p in pairs]
    uncompensated = temporal_error(frames, still)
    assert steady < 0.5 * uncompensated  # the flow follows the pan: interpolation and codec error are left
    assert flickery > steady + 5.0  # ±20 uniform noise: |a-b| averages ~13 levels


def test_flow_and_warp_conventions():
    a = texture(64, 80, seed=3)
    b = np.roll(a, 3, axis=1)  # b[y, x] = a[y, x - 3]  →  a[y, x] = b[y, x + 3]
    flow = dis_flow(a, b)
    core = (slice(8, -8), slice(8, -8))
    assert np.median(flow[core][..., 0]) == pytest.approx(3.0, abs=0.25)
    assert np.median(np.abs(flow[core][..., 1])) < 0.25
    exact = np.zeros_like(flow)
    exact[..., 0] = 3
    warped, inside = warp(b, exact)
    assert np.array_equal(warped[:, :-3].astype(np.uint8), a[:, :-3])
    assert not inside[:, -3:].any() and inside[:, :-3].all()
    # forward-backward: consistent flows pass, contradicting ones fail
    back = -exact
    assert fb_consistent(exact, back)[:, :-3].all()
    assert not fb_consistent(exact, exact)[:, :-3].any()


def _shifted_pair(d: int, h=96, w=160, seed=4):
    """left[y, x] = right[y, x - d]: a fronto-parallel plane at disparity d."""
    wide = texture(h, w + d, seed=seed)
    left, right = wide[:, :w], wide[:, d:]
    return np.ascontiguousarray(left), np.ascontiguousarray(right)


def test_known_shift_is_recovered_by_the_stereo_error():
    left, right = _shifted_pair(7)
    disp = np.full(left.shape[:2], 7.0, np.float32)
    d_r, v_r = right_view_disparity(disp)
    assert np.all(d_r[v_r] == 7.0)
    assert not v_r[:, -7:].any()  # the right view sees 7 columns the left does not
    assert v_r[:, :-7].all()
    assert stereo_error(left, right, d_r, v_r) < 0.5
    wrong_r, wrong_v = right_view_disparity(disp + 3)
    assert stereo_error(left, right, wrong_r, wrong_v) > 8.0
    zero_r, zero_v = right_view_disparity(disp * 0)
    assert stereo_error(left, right, zero_r, zero_v) > 8.0


def test_zbuffer_nearest_surface_wins_and_disocclusions_are_masked():
    h, w = 64, 96
    disp = np.full((h, w), 4.0, np.float32)
    disp[20:40, 40:60] = 12.0  # a near square in front of a far plane
    d_r, v_r = right_view_disparity(disp)
    # the square lands 12 px to the left in the right view and hides the background there
    assert np.all(d_r[25:35, 30:46] == 12.0)
    # right of the square (in the right view) is background the left eye could not see
    assert not v_r[25:35, 49:55].any()
    assert np.all(d_r[25:35, 60:90] == 4.0)
    # invalid left pixels are not splatted
    invalid = np.ones((h, w), bool)
    invalid[:, :] = False
    _, none = right_view_disparity(disp, invalid)
    assert not none.any()


def test_masked_mae_units_and_checks():
    a = np.zeros((4, 4, 3), np.uint8)
    b = np.full((4, 4, 3), 10, np.uint8)
    assert masked_mae(a, b) == pytest.approx(10.0)
    mask = np.zeros((4, 4), bool)
    assert np.isnan(masked_mae(a, b, mask))
    with pytest.raises(ConventionError, match="shapes differ"):
        masked_mae(a, b[:2])


def test_stereo_pair_files_png_npz_pfm(tmp_path):
    left, right = _shifted_pair(5, h=40, w=64)
    for side, img in (("left", left), ("right", right)):
        cv2.imwrite(str(tmp_path / f"p_{side}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    gt = np.full((40, 64), 5, np.uint8)
    gt[:4] = 0  # unknown
    cv2.imwrite(str(tmp_path / "p_disparity.png"), gt)
    assert find_stereo_pairs(tmp_path) == ["p"]
    pair = load_stereo_pair(tmp_path, "p")
    assert pair.disp.dtype == np.float32 and pair.disp[10, 10] == 5.0
    assert not pair.valid[:4].any() and pair.valid[4:].all()
    half = pair.resized(32)
    assert half.left.shape == (20, 32, 3) and half.disp[10, 10] == pytest.approx(2.5)

    d = np.full((40, 64), 5.0, np.float32)
    d[0, 0] = np.inf
    np.savez(tmp_path / "q_disparity.npz", d)
    assert np.isinf(read_disparity(tmp_path / "q_disparity.npz")[0, 0])
    with open(tmp_path / "r.pfm", "wb") as f:  # PFM stores rows bottom-up
        f.write(b"Pf\n64 40\n-1.0\n" + np.flipud(d).astype("<f4").tobytes())
    assert np.array_equal(read_disparity(tmp_path / "r.pfm"), d)
    with pytest.raises(ImageError, match="no file matching"):
        load_stereo_pair(tmp_path, "missing")


def test_load_video_errors(tmp_path):
    with pytest.raises(ImageError, match="video not found"):
        load_video(tmp_path / "nope.avi")
