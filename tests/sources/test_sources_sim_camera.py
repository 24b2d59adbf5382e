"""The simulated head-mounted camera: the panorama seen from the head pose at capture time,
delivered after the capture delay, stamped with the capture time."""

import math
import time

import numpy as np
import pytest

from artem_vr.errors import SourceError, UsageError
from artem_vr.pose import PoseHistory, yaw_quat
from artem_vr.sources import open_source, parse_spec
from artem_vr.sources.sim_camera import (LANDMARK_YAW_DEG, SimCameraSource, camera_rays, default_panorama,
                                         find_landmark, load_panorama, view_of_panorama)

W, H, FOV = 320, 240, 90.0
F = (W / 2) / math.tan(math.radians(FOV) / 2)


def landmark_column(yaw_deg: float) -> float:
    """Where the landmark is in the camera image when the head has turned yaw_deg (left)."""
    return (W - 1) / 2 + F * math.tan(math.radians(yaw_deg - LANDMARK_YAW_DEG))


def test_shipped_panorama_is_small_2_to_1_and_its_landmark_is_where_the_view_says():
    path = default_panorama()
    assert path.stat().st_size < 1_000_000
    pano = load_panorama(path)
    assert pano.shape[1] == 2 * pano.shape[0]
    rays = camera_rays(W, H, FOV)
    for yaw in (0.0, 20.0, -30.0):
        x, y = find_landmark(view_of_panorama(pano, rays, yaw_quat(yaw)))
        assert x == pytest.approx(landmark_column(yaw), abs=1.0) and y == pytest.approx((H - 1) / 2, abs=1.0)
    assert find_landmark(view_of_panorama(pano, rays, yaw_quat(120.0))) is None  # behind: out of view
    assert find_landmark(pano[:, : pano.shape[1] // 3]) is None  # the only magenta is the landmark


def test_frames_show_the_pose_at_capture_time_and_arrive_after_the_delay():
    poses = PoseHistory()
    rate = 90.0  # degrees per second, recorded every 5 ms in the background
    t0 = time.monotonic()
    src = SimCameraSource(poses=poses, size=(W, H), fov_deg=FOV, fps=20.0, capture_delay=0.08)
    import threading

    stop = threading.Event()

    def head():
        while not stop.is_set():
            t = time.monotonic()
            poses.record(t, yaw_quat(rate * (t - t0)))
            stop.wait(0.005)

    th = threading.Thread(target=head)
    th.start()
    try:
        with src:
            last = -1
            ages = []
            for _ in range(6):
                f = src.wait_frame(last, timeout=3.0)
                ages.append(time.monotonic() - f.t)
                last = f.index
                x, _ = find_landmark(f.image)
                want = landmark_column(rate * (f.t - t0))  # the yaw at its capture time …
                late = landmark_column(rate * (time.monotonic() - t0))  # … not at delivery
                assert x == pytest.approx(want, abs=2.0), (x, want)
                assert abs(late - want) > 10
    finally:
        stop.set()
        th.join()
    assert min(ages) >= 0.08 and np.median(ages) < 0.2, ages


def test_without_head_poses_it_pans_as_scripted():
    src = SimCameraSource(size=(W, H), fov_deg=FOV, fps=30.0, pan_deg_s=20.0)
    with src:
        a = src.wait_frame(-1, timeout=3.0)
        b = src.wait_frame(a.index + 3, timeout=3.0)
    (xa, _), (xb, _) = find_landmark(a.image), find_landmark(b.image)
    assert xa == pytest.approx(landmark_column(20.0 * (a.t - src._t0)), abs=2.0)
    assert xb > xa + 2  # turned left: the world moves right


def test_spec_and_errors(tmp_path):
    assert parse_spec("sim-camera").kind == "sim-camera"
    assert parse_spec("sim-camera:~/p.jpg").target.name == "p.jpg"
    src = open_source("sim-camera", sim={"capture_delay": 0.03, "fov_deg": 70.0})
    assert isinstance(src, SimCameraSource) and src.capture_delay == 0.03 and src.fov_deg == 70.0
    with pytest.raises(UsageError, match="mono"):
        open_source("sim-camera", stereo="sbs")
    with pytest.raises(UsageError, match="capture-delay"):
        SimCameraSource(capture_delay=5.0)
    with pytest.raises(SourceError, match="no such file"):
        open_source(f"sim-camera:{tmp_path / 'none.jpg'}").start()
    import cv2

    cv2.imwrite(str(tmp_path / "wide.png"), np.zeros((100, 300, 3), np.uint8))
    with pytest.raises(SourceError, match="not 2:1"):
        open_source(f"sim-camera:{tmp_path / 'wide.png'}").start()
