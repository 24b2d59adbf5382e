"""In the headset (headless Monado, EGL): the world-locked screen against injected head motion,
recenter from a controller, the HUD as a quad layer (its swapchain read back) or in the eyes,
and snapshots. The eye images are read back and compared with the CPU reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

import artem_vr.render  # noqa: F401  (first: it picks PyOpenGL's platform before OpenGL is imported)
from artem_vr.render.geometry import pose_matrix, square_pixels, translation
from artem_vr.render.hud import hud_lines, render_text
from artem_vr.render.renderer import ViewConfig, expected_eye_image
from artem_vr.xr.presenter import XrOptions, run_xr
from test_xr_runtime import Capture, assert_clean_exit, diff_stats, read_texture

pytestmark = pytest.mark.xr
YAW = 20.0


def _yawed(offset, degrees: float) -> np.ndarray:
    """screen → eye for a screen placed straight ahead and a head since turned ``degrees`` left."""
    a = math.radians(-degrees)
    return translation([-c for c in offset]).astype(np.float64) @ pose_matrix(
        (0.0, math.sin(a / 2), 0.0, math.cos(a / 2)), (0.0, 0.0, 0.0))


def _screen_column(img: np.ndarray) -> float:
    lit = (np.abs(img.astype(int) - 26).sum(-1) > 30).any(0)
    return float(np.nonzero(lit)[0].mean())


@pytest.mark.parametrize("mode", ["world", "screen"])
def test_world_screen_stays_put_as_the_head_turns_and_recenter_brings_it_back(mode, monado, egl_env, pipeline_factory):
    remote = monado.remote()
    script = {5: lambda: remote.set_head_yaw(YAW),
              25: lambda: remote.press("thumbstick", hand="left"),  # recenter (Index: left stick click)
              28: lambda: remote.release("thumbstick", hand="left")}
    pipeline = pipeline_factory(max_frames=45, script=script)
    turned, recentered = Capture(pipeline, at=20), Capture(pipeline, at=40)
    view = ViewConfig(mode=mode)
    try:
        report = run_xr(pipeline, XrOptions(graphics="egl", view=view, validation=True),
                        on_eye=lambda *a: (turned(*a), recentered(*a)))
    finally:
        remote.close()
    assert_clean_exit(report)
    assert pipeline.controller.recenters == 1 and ("recenter", "/user/hand/left") in report.fired
    for eye in (0, 1):
        got, fov, offset, _srgb = turned.eyes[eye]
        h, w = got.shape[:2]
        head_locked = expected_eye_image(pipeline.eyes[eye], w, h, view, fov=fov, eye_offset=offset)
        if mode == "world":  # the screen stayed where it was: it moved right in the turned eye
            want = expected_eye_image(pipeline.eyes[eye], w, h, view, fov=fov, to_eye=_yawed(offset, YAW))
            assert _screen_column(got) > _screen_column(head_locked) + 0.1 * w
        else:
            want = head_locked
        mean, frac = diff_stats(got, want)
        assert mean < 2.0 and frac < 0.03, f"{mode} eye {eye} turned: mean {mean:.2f}, {frac:.1%} off"
        # after recenter (world) or anyway (screen): straight ahead of the turned head
        got, fov, offset, _srgb = recentered.eyes[eye]
        mean, frac = diff_stats(got, expected_eye_image(pipeline.eyes[eye], w, h, view, fov=fov, eye_offset=offset))
        assert mean < 2.0 and frac < 0.03, f"{mode} eye {eye} recentered: mean {mean:.2f}, {frac:.1%} off"
    if mode == "world":
        assert report.recenters == 2  # placed at start, then on the press
        assert report.screen_yaw == pytest.approx(math.radians(YAW), abs=0.01)
    else:
        assert report.recenters == 0


def test_hud_is_a_quad_layer_and_the_left_grip_hides_it(monado, egl_env, pipeline_factory):
    remote = monado.remote()
    script = {10: lambda: remote.set_value("squeeze_value", 1.0, hand="left"),  # toggle_hud
              14: lambda: remote.set_value("squeeze_value", 0.0, hand="left")}
    pipeline = pipeline_factory(max_frames=40, script=script)
    written = []

    def on_hud(texture, sc):
        written.append((read_texture(texture, sc.width, sc.height, channels=4), render_text(hud_lines(pipeline.status()))))

    cap = Capture(pipeline, at=5)
    try:
        report = run_xr(pipeline, XrOptions(graphics="egl", validation=True, hud=True), on_eye=cap, on_hud=on_hud)
    finally:
        remote.close()
    assert_clean_exit(report)
    assert report.hud_mode == "layer" and len(written) == report.hud_writes >= 1
    got, want = written[0]
    np.testing.assert_array_equal(got, want)  # the swapchain holds the HUD image, upright
    text = (got[..., :3].min(-1) > 200) & (got[..., 3] > 200)
    assert text.sum() > 2000 and got[:20, :, 3].max() == 0  # white text; transparent above the box
    # shown from the start until the grip (frame ~11), then hidden: no layer after that
    assert ("toggle_hud", "/user/hand/left") in report.fired and pipeline.controller.hud_toggles == 1
    assert 9 <= report.hud_layers <= 14, report.hud_layers
    # the eyes themselves carry no HUD in layer mode
    eye, fov, offset, _ = cap.eyes[0]
    h, w = eye.shape[:2]
    assert diff_stats(eye, expected_eye_image(pipeline.eyes[0], w, h, ViewConfig(), fov=fov, eye_offset=offset))[0] < 2.0


def test_hud_drawn_into_the_eyes_where_asked_and_snapshot_writes_them(monado, egl_env, pipeline_factory, tmp_path):
    import cv2

    pipeline = pipeline_factory(max_frames=12, snapshot_dir=tmp_path)
    pipeline.script[6] = pipeline.controller.snapshot
    cap = Capture(pipeline, at=7)
    report = run_xr(pipeline, XrOptions(graphics="egl", validation=True, hud=True, hud_mode="eye"), on_eye=cap)
    assert_clean_exit(report)
    assert report.hud_mode == "eye" and report.hud_layers == 0 and report.hud_writes >= 1
    got, fov, offset, _ = cap.eyes[0]
    h, w = got.shape[:2]
    want = expected_eye_image(pipeline.eyes[0], w, h, ViewConfig(), fov=fov, eye_offset=offset)
    diff = np.abs(got.astype(int) - want.astype(int)).sum(-1) > 30
    rows = np.nonzero(diff.any(1))[0]
    assert diff.sum() > 0.02 * diff.size and rows.min() > h // 2  # the HUD, below the centre
    assert diff_stats(got[: h // 2 - 4], want[: h // 2 - 4])[0] < 2.0  # the rest untouched
    # the snapshot: both eyes, square pixels (Monado's 4:3 swapchains see a 0.93:1 FOV)
    assert len(pipeline.snapshot_paths) == 1
    snap = cv2.imread(str(pipeline.snapshot_paths[0]))[..., ::-1]
    one = square_pixels(got, fov)
    assert snap.shape == (h, 2 * one.shape[1], 3) and one.shape[1] < w
    assert diff_stats(snap[:, : one.shape[1]], one)[0] < 3.0  # eye 0 of the next frame: same picture
