"""The procedural sample scene: deterministic, animated, looping, colourful, stereo with parallax."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from artem_vr.errors import UsageError
from artem_vr.sources.sample import SampleScene, SampleSource


@pytest.fixture(scope="module")
def scene():
    return SampleScene()


def test_frames_are_deterministic_and_loop(scene):
    a = scene.render(37)
    assert a.dtype == np.uint8 and a.shape == (360, 640, 3) and a.flags.c_contiguous
    assert np.array_equal(a, SampleScene().render(37))  # a fresh scene draws the same picture
    assert np.array_equal(scene.render(0), scene.render(scene.period))  # seamless loop
    assert np.array_equal(scene.render(5), scene.render(5 + 3 * scene.period))


def test_it_moves_and_the_land_moves_faster_than_the_sky(scene):
    a, b = scene.render(0).astype(int), scene.render(15).astype(int)
    diff = np.abs(a - b).sum(axis=2)
    top_band, bottom_band = diff[:30].mean(), diff[-40:].mean()  # sky top vs meadow
    assert bottom_band > 5 * max(top_band, 0.1), (top_band, bottom_band)
    assert (diff > 30).mean() > 0.2  # a good part of the picture changed in half a second


def test_it_is_colourful_and_textured(scene):
    img = scene.render(100)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    hues = np.histogram(hsv[..., 0][hsv[..., 1] > 60], bins=18, range=(0, 180))[0]
    assert (hues > img.shape[0] * img.shape[1] * 0.005).sum() >= 4  # several distinct hues
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(gray, cv2.CV_32F)
    assert np.abs(lap[-50:]).mean() > 3  # the meadow has texture, not flat colour
    assert img.min() < 60 and img.max() > 230  # dark trees to bright sun


def test_sbs_pair_has_more_disparity_near_than_far():
    s = SampleScene(sbs=True)
    pair = s.render(42)
    assert pair.shape == (360, 1280, 3)
    left, right = pair[:, :640].astype(int), pair[:, 640:].astype(int)
    assert np.array_equal(left, SampleScene().render(42))  # left eye = the mono view

    def best_shift(rows):
        errs = [np.abs(left[rows, 40 + d : 600 + d] - right[rows, 40:600]).mean() for d in range(0, 20)]
        return int(np.argmin(errs)), min(errs)

    sky_shift, sky_err = best_shift(slice(0, 20))
    meadow_shift, meadow_err = best_shift(slice(310, 360))
    # the sky is at infinity (no disparity); the meadow, nearest, is shifted 14 px:
    # the right eye sees at x what the left eye sees at x + 14
    assert (sky_shift, sky_err) == (0, 0)
    assert (meadow_shift, meadow_err) == (14, 0)


def test_size_limits():
    with pytest.raises(UsageError):
        SampleScene(width=10, height=10)


def test_non_looping_sample_ends(monkeypatch):
    src = SampleSource(loop=False, width=64, height=36, fps=1000)
    src.scene.period = 12  # a short loop for the test
    with src:
        last = None
        while (f := src.wait_frame(-1 if last is None else last.index, timeout=2)) is not None:
            last = f
        assert src.ended and last.index == 11
