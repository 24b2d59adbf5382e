"""`artem-vr run` with the passthrough options: bad values are one line (exit 2); the simulated
camera through the headless output end to end, with the delay stage on the stylizer's path."""

import re

import cv2
import pytest

from artem_vr.sources.sim_camera import find_landmark


@pytest.mark.parametrize("argv, needle", [
    (["--view", "passthrough", "--camera-fov", "200"], "--camera-fov 200"),
    (["--view", "passthrough", "--camera-calibration", "/nonexistent/cam.json"], "no such file"),
    (["--source", "sim-camera", "--capture-delay", "9000"], "--capture-delay 9000"),
    (["--stylize-delay", "-5"], "--stylize-delay -5"),
    (["--source", "sim-camera:/nonexistent/pano.jpg"], "no such file"),
])
def test_bad_passthrough_input_is_one_line(cli, argv, needle):
    code, out, err = cli("run", "--output", "headless", "--method", "identity", *argv)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err


@pytest.mark.parametrize("argv, said", [
    (["--camera-fov", "60"], "--camera-fov only applies with --view passthrough (or --source sim-camera), which this run "
                             "does not use — drop --camera-fov, or add --view passthrough"),
    (["--reproject", "off", "--source", "sim-camera"], "--reproject only applies with --view passthrough"),
    (["--capture-delay", "50"], "--capture-delay only applies with --source sim-camera, which this run does not use — "
                                "drop --capture-delay, or add --source sim-camera"),
    (["--sim-pan", "10", "--view", "passthrough"], "--sim-pan only applies with --source sim-camera"),
])
def test_a_camera_option_where_it_would_be_ignored_is_one_line(cli, argv, said):
    """Passthrough and simulated-camera options without their view or source would change nothing: said, exit 2."""
    code, out, err = cli("run", "--output", "headless", "--method", "identity", *argv)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and said in lines[0], err


def test_camera_options_where_they_apply_are_taken():
    from artem_vr.config import RunConfig

    assert RunConfig(source="sim-camera", camera_fov=60.0, capture_delay_ms=50.0, sim_pan=10.0).camera_fov == 60.0
    assert RunConfig(source="Sim-Camera:pano.jpg", sim_pan=5.0).sim_pan == 5.0
    assert not RunConfig(view_mode="passthrough", camera_fov=70.0, reproject=False).reproject


def test_sim_camera_passthrough_headless_with_a_calibration(tmp_path, cli):
    cam = tmp_path / "cam.json"
    cam.write_text('{"width": 320, "height": 240, "fx": 160, "fy": 160, "cx": 159.5, "cy": 119.5}')  # 90°
    code, out, err = cli("run", "--output", "headless", "--method", "identity", "--source", "sim-camera",
                         "--view", "passthrough", "--camera-calibration", cam, "--frames", "12",
                         "--eye-size", "160x120", "--capture-delay", "10", "--stylize-delay", "40",
                         "--out", tmp_path / "out")
    assert code == 0, err
    assert re.search(r"presented 12 frames", out)
    img = cv2.imread(str(tmp_path / "out" / "last.png"))[..., ::-1]
    left = img[:, :160]
    x, y = find_landmark(left)  # straight ahead, no head: the landmark in the middle of the eye
    assert abs(x - 79.5) < 3 and abs(y - 59.5) < 3


def test_stylize_delay_is_a_stage_on_the_worker_path():
    import time

    import numpy as np

    from artem_vr.app import build_pipeline
    from artem_vr.config import RunConfig
    from artem_vr.frames import Frame

    p = build_pipeline(RunConfig(source="sim-camera", method="identity", output="headless", stylize_delay_ms=60.0,
                                 device="cpu", internal_scale=1.0), printer=lambda *_: None)
    assert p.source.poses is p.poses  # the simulated camera follows the run's pose history
    frame = Frame(np.full((48, 64, 3), 100, np.uint8), time.monotonic(), 0)
    t0 = time.perf_counter()
    eyes, _ = p.worker.stylize_frame(frame)
    assert time.perf_counter() - t0 >= 0.06
    assert p.clock.summary()["delay"]["median"] >= 59.0
    assert eyes[0].shape == (48, 64, 3)


def test_capture_time_reaches_the_stylized_frame():
    """source_t of a StylizedFrame is the capture (exposure) time the source stamped, not a later one."""
    import time

    from artem_vr.app import build_pipeline
    from artem_vr.config import RunConfig

    p = build_pipeline(RunConfig(source="sim-camera", method="identity", output="headless", capture_delay_ms=50.0,
                                 device="cpu", internal_scale=1.0), printer=lambda *_: None)
    with p.source:
        p.worker.start()
        try:
            first = p.wait_first(timeout=10.0)
        finally:
            p.worker.stop()
    assert first is not None
    exposed = [t for t, _yaw in p.source.delivered]
    assert first.source_t in exposed  # exactly the exposure time, carried unchanged
    assert first.done_t - first.source_t >= 0.05  # delivered 50 ms after it
    assert first.source_t < time.monotonic()
