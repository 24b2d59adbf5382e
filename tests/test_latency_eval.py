"""The latency evaluation's own maths (CPU): the injected yaw script, and where the landmark is
seen — found in a rendered eye image — against where it is in the world."""

import math

import numpy as np
import pytest

from artem_vr.latency_eval import YawScript, landmark_angle, world_angle
from artem_vr.pose import yaw_quat
from artem_vr.render.geometry import ViewConfig, expected_eye_image, passthrough_to_eye
from artem_vr.sources.sim_camera import camera_rays, default_panorama, load_panorama, view_of_panorama


def test_yaw_script_is_a_triangle_wave_at_the_rate():
    s = YawScript(rate=90.0, amplitude=30.0, t0=10.0)
    assert s.yaw(10.0) == pytest.approx(0.0)
    assert s.yaw(10.2) == pytest.approx(18.0)
    assert s.yaw(10.5) == pytest.approx(15.0)  # turned at +30 (t = 10.333)
    assert s.direction(10.1) == 1 and s.direction(10.5) == -1
    assert s.steady(10.0, 10.2) and not s.steady(10.2, 10.5)


@pytest.mark.parametrize("capture_yaw, now_yaw", [(10.0, 10.0), (0.0, 20.0), (25.0, -5.0)])
def test_landmark_seen_where_the_placement_puts_it(capture_yaw, now_yaw):
    """The reference renderer shows the camera frame placed at its capture pose: the landmark is
    where the world has it (reprojection); placed head-locked it is off by the turn since."""
    pano = load_panorama(default_panorama())
    cam = view_of_panorama(pano, camera_rays(320, 240, 90.0), yaw_quat(capture_yaw))
    view = ViewConfig(mode="passthrough", camera_fov_deg=90.0)
    fov = (-0.9, 0.85, 0.8, -0.8)
    placed = expected_eye_image(cam, 200, 180, view, fov, to_eye=passthrough_to_eye(yaw_quat(capture_yaw),
                                                                                   yaw_quat(now_yaw)))
    truth = world_angle(yaw_quat(now_yaw), 0.0)
    assert truth == pytest.approx(now_yaw)
    assert landmark_angle(placed, fov) == pytest.approx(truth, abs=0.6)
    locked = expected_eye_image(cam, 200, 180, view, fov, to_eye=np.eye(4))
    if capture_yaw != now_yaw:
        assert abs(landmark_angle(locked, fov) - truth) == pytest.approx(abs(capture_yaw - now_yaw), abs=1.0)
    assert math.isfinite(landmark_angle(locked, fov))
