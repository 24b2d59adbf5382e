"""The passthrough view: the camera's field of view from --camera-fov or a calibration file,
turned with the head at capture time; GL (llvmpipe) read back against the numpy reference."""

import json
import math

import numpy as np
import pytest
from render_helpers import assert_close_image, pattern

from artem_vr.errors import UsageError
from artem_vr.render.geometry import (CameraIntrinsics, eye_uv, image_plane, load_calibration, passthrough_to_eye,
                                      PASSTHROUGH_DISTANCE)
from artem_vr.render.renderer import EyeRenderer, ViewConfig, expected_eye_image
from artem_vr.pose import yaw_quat

W, H = 160, 120


def test_fov_fills_exactly_the_camera_field_of_view():
    view = ViewConfig(mode="passthrough", camera_fov_deg=60.0)
    x0, y0, x1, y1, z = image_plane(view, 320, 240)
    assert z == -PASSTHROUGH_DISTANCE
    assert math.degrees(2 * math.atan(x1 / -z)) == pytest.approx(60.0, abs=1e-9) and x0 == pytest.approx(-x1)
    assert (y1 - y0) / (x1 - x0) == pytest.approx(240 / 320)  # square pixels
    # an eye with a 60° FOV sees exactly the image, edge to edge
    half = math.radians(30)
    u, v, inside = eye_uv(64, 48, view, 320, 240, fov=(-half, half, math.atan(math.tan(half) * 0.75),
                                                        -math.atan(math.tan(half) * 0.75)))
    assert inside.all() and u[0, 0] == pytest.approx(0.5 / 64) and v[-1, -1] == pytest.approx(1 - 0.5 / 48)


def test_calibration_intrinsics_place_the_principal_point_on_the_optical_axis(tmp_path):
    k = CameraIntrinsics(fx=400.0, fy=420.0, cx=300.0, cy=200.0, width=640, height=480)
    view = ViewConfig(mode="passthrough", camera=k)
    # the ray straight ahead hits pixel (cx, cy): u = (cx + 0.5) / width
    u, v, inside = eye_uv(1, 1, view, 640, 480, fov=(-0.01, 0.01, 0.01, -0.01))
    assert u[0, 0] == pytest.approx(300.5 / 640) and v[0, 0] == pytest.approx(200.5 / 480)
    # half-size frames (the stylizer's output may differ in size): the same camera
    assert view.intrinsics(320, 240).fx == pytest.approx(200.0)
    u2, v2, _ = eye_uv(1, 1, view, 320, 240, fov=(-0.01, 0.01, 0.01, -0.01))
    assert (u2[0, 0], v2[0, 0]) == pytest.approx((u[0, 0], v[0, 0]))
    assert CameraIntrinsics.from_fov(90, 640, 480).horizontal_fov_deg() == pytest.approx(90.0)
    f = tmp_path / "cam.json"
    f.write_text(json.dumps({"width": 640, "height": 480, "fx": 400, "fy": 420, "cx": 300, "cy": 200,
                             "distortion": [0.1, 0, 0, 0]}))
    assert load_calibration(f) == k


@pytest.mark.parametrize("text, says", [
    (None, "no such file"), ("{", "not JSON"), ("[1]", "expected a JSON object"),
    ('{"width": 640, "height": 480, "fx": 400}', "missing fy, cx, cy"),
    ('{"width": 640, "height": 480, "fx": "a", "fy": 1, "cx": 1, "cy": 1}', "must be numbers"),
    ('{"width": 640, "height": 480, "fx": -4, "fy": 1, "cx": 1, "cy": 1}', "must be positive"),
    ('{"width": 640, "height": 480, "fx": 4, "fy": 1, "cx": 900, "cy": 1}', "outside the 640x480 image"),
])
def test_bad_calibration_files_are_one_line_errors(tmp_path, text, says):
    f = tmp_path / "cam.json"
    if text is not None:
        f.write_text(text)
    with pytest.raises(UsageError) as e:
        load_calibration(f)
    assert says in str(e.value) and "cam.json" in str(e.value) and "\n" not in str(e.value)


def test_bad_fov_is_a_usage_error():
    with pytest.raises(UsageError, match="--camera-fov 200"):
        ViewConfig(mode="passthrough", camera_fov_deg=200)


def test_reprojection_turns_the_image_with_the_capture_pose():
    # captured looking 10° left; the head now looks 30° left: the image lies 20° to the right
    m = passthrough_to_eye(yaw_quat(10), yaw_quat(30))
    ahead = m[:3, :3] @ np.array([0.0, 0.0, -1.0])
    assert math.degrees(math.atan2(ahead[0], -ahead[2])) == pytest.approx(20.0)
    assert np.allclose(passthrough_to_eye(yaw_quat(30), yaw_quat(30)), np.eye(4))


def test_gl_draws_the_passthrough_plane_like_the_reference(gl_context):
    img = pattern(90, 120, seed=4)
    view = ViewConfig(mode="passthrough", camera_fov_deg=70.0)
    fov = (-0.8, 0.75, 0.65, -0.7)
    to_eye = passthrough_to_eye(yaw_quat(0), yaw_quat(12))
    with EyeRenderer(view) as r:
        r.upload([img])
        r.render_eye(0, W, H, fov=fov, to_eye=to_eye)
        got = r.read_eye(0, W, H)
    want = expected_eye_image(img, W, H, view, fov, to_eye=to_eye)
    assert_close_image(got, want)
    lit = np.abs(got.astype(int) - 26).sum(-1) > 30
    assert 0.2 < lit.mean() < 0.95  # the image, turned, does not fill the eye
