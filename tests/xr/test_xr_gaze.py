"""Eye gaze and the foveal window on the real runtime (headless Monado), plus the gaze maths.

Monado lists XR_EXT_eye_gaze_interaction, so the app enables it; its simulated/remote devices
have no eye tracker (``supportsEyeGazeInteraction`` is false), so no gaze action is made and the
window stays at the view centre — the path every headset without eye tracking takes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import artem_vr.render  # noqa: F401  (first: it picks PyOpenGL's platform before OpenGL is imported)
from artem_vr.render.geometry import pose_matrix
from artem_vr.xr.gaze import quat_forward, ray_in_eye, ray_on_screen


def test_gaze_on_the_screen_maths():
    head = np.eye(4)
    # straight ahead from the head's centre: the screen's centre
    assert ray_on_screen((0, 0, 0), (0, 0, -1), head, 2.0, 2.4, 1.35) == pytest.approx((0.5, 0.5))
    # towards the screen's top-left corner: (0, 0)
    assert ray_on_screen((0, 0, 0), (-1.2, 0.675, -2.0), head, 2.0, 2.4, 1.35) == pytest.approx((0.0, 0.0))
    # from the left eye (3 cm left), looking straight: 3 cm left of the centre on a 2.4 m screen
    u, v = ray_on_screen((-0.03, 0, 0), (0, 0, -1), head, 2.0, 2.4, 1.35)
    assert u == pytest.approx(0.5 - 0.03 / 2.4) and v == pytest.approx(0.5)
    # the head turned 30° left (the screen turns with it, --view screen): still the centre
    turned = pose_matrix((0, math.sin(math.radians(15)), 0, math.cos(math.radians(15))), (0, 0, 0))
    fwd = turned[:3, :3] @ np.array([0, 0, -1.0])
    assert ray_on_screen((0, 0, 0), fwd, turned, 2.0, 2.4, 1.35) == pytest.approx((0.5, 0.5))
    # a world screen straight ahead, the eyes turned 30° left: the screen's left part, clamped
    assert ray_on_screen((0, 0, 0), fwd, head, 2.0, 2.4, 1.35)[0] == pytest.approx(0.5 - 2 * math.tan(math.radians(30)) / 2.4)
    assert ray_on_screen((0, 0, 0), (0, 0, 1), head, 2.0, 2.4, 1.35) is None  # looking away


def test_gaze_in_the_eye_and_pose_forward():
    fov = (-0.9, 0.8, 0.85, -0.95)
    eye = np.eye(4)
    u, v = ray_in_eye((0, 0, -1), eye, fov)
    assert u == pytest.approx(math.tan(0.9) / (math.tan(0.8) + math.tan(0.9)))
    assert v == pytest.approx(math.tan(0.85) / (math.tan(0.85) + math.tan(0.95)))
    q = (0, math.sin(math.radians(10)), 0, math.cos(math.radians(10)))  # 20° to the left
    f = quat_forward(q)
    assert f == pytest.approx([-math.sin(math.radians(20)), 0, -math.cos(math.radians(20))])
    assert ray_in_eye(f, eye, fov)[0] < u  # looking left: the window moves left


@pytest.mark.xr
def test_monado_offers_eye_gaze_but_has_no_tracker(monado, egl_env):
    from artem_vr.xr.gaze import eye_gaze_supported
    from artem_vr.xr.graphics import required_extensions
    from artem_vr.xr.instance import EXT_EYE_GAZE, XrInstance

    with XrInstance(required_extensions("egl"), validation=True) as inst:
        assert EXT_EYE_GAZE in inst.extensions  # offered by Monado, so enabled
        assert eye_gaze_supported(inst) is False
        errors = inst.log.errors()
    assert errors == []


@pytest.mark.xr
@pytest.mark.slow
def test_foveated_run_in_the_headset_without_gaze(monado, egl_env):
    """`run --output xr` is foveated by default: the app's pipeline on Monado presents with the
    window at the view centre (no eye tracker), fewer network pixels than the eyes have, no
    validation errors."""
    from artem_vr.app import build_pipeline
    from artem_vr.config import RunConfig
    from artem_vr.pipeline import present
    from artem_vr.temporal.foveate import find_foveated
    from artem_vr.xr.presenter import XrOptions, XrOutput

    cfg = RunConfig(output="xr", device="cpu", method="generator", internal_scale=1.0, temporal=False,
                    stereo_consistency=False, frames=20,
                    stylizer_options=(("adain_variant", "auto"), ("arch", None), ("preserve_color", "none")))
    assert cfg.foveated
    p = build_pipeline(cfg, printer=lambda _l: None)
    out = XrOutput(XrOptions(graphics="egl", validation=True, max_frames=20, scale=0.3))
    try:
        with p.source:
            report = present(p, out, printer=lambda _l: None)
    finally:
        p.worker.stop()
    fov = find_foveated(p.worker.stylizer)
    assert fov is not None and fov.last_windows
    assert not p.worker.fovea_region.tracked and p.worker.fovea_region.centres(2) == [(0.5, 0.5)] * 2
    net, full = p.status().network_pixels
    assert net < full
    assert report.validation.errors() == [], report.validation.summary()
    assert report.frames_shown >= 1
