"""The pose history (artem_vr/pose.py): interpolation, extrapolation, threads."""

import math
import threading

import pytest

from artem_vr.pose import PoseHistory, slerp, yaw_degrees, yaw_quat


def test_slerp_between_yaws_is_the_yaw_between():
    for s in (0.0, 0.25, 0.5, 1.0, 1.5):
        assert yaw_degrees(slerp(yaw_quat(10), yaw_quat(50), s)) == pytest.approx(10 + 40 * s, abs=1e-6)
    # q and -q: the short way round (170° → -170° passes 180°, not 0°)
    mid = yaw_degrees(slerp(yaw_quat(170), tuple(-c for c in yaw_quat(-170)), 0.5))
    assert abs(abs(mid) - 180) < 1e-6


def test_history_interpolates_holds_and_extrapolates():
    h = PoseHistory(capacity=8, max_extrapolate=0.1)
    assert h.at(1.0) is None
    for i in range(5):  # 90°/s, sampled every 50 ms
        h.record(1.0 + 0.05 * i, yaw_quat(4.5 * i), (0.01 * i, 0.0, 0.0))
    assert yaw_degrees(h.at(1.075).orientation) == pytest.approx(6.75, abs=1e-6)
    assert h.at(1.075).position[0] == pytest.approx(0.015)
    assert yaw_degrees(h.at(0.5).orientation) == pytest.approx(0.0, abs=1e-9)  # before: the oldest held
    assert yaw_degrees(h.at(1.25).orientation) == pytest.approx(22.5, abs=1e-6)  # after: at the last rate
    assert yaw_degrees(h.at(5.0).orientation) == pytest.approx(18 + 9.0, abs=1e-6)  # … for at most 0.1 s
    for i in range(5, 20):  # the ring keeps the newest 8
        h.record(1.0 + 0.05 * i, yaw_quat(4.5 * i))
    assert len(h) == 8 and h.span() == pytest.approx((1.6, 1.95))


def test_history_out_of_order_time_replaces_newer_and_threads_do_not_break_it():
    h = PoseHistory()
    h.record(2.0, yaw_quat(20))
    h.record(1.0, yaw_quat(10))  # the clock went back (a new session): the newer one goes
    assert len(h) == 1 and h.newest().t == 1.0
    h = PoseHistory(capacity=64)
    stop = threading.Event()

    def writer():
        t = 0.0
        while not stop.is_set():
            t += 0.001
            h.record(t, yaw_quat(math.degrees(t)))

    th = threading.Thread(target=writer)
    th.start()
    try:
        for _ in range(2000):
            s = h.at(0.01)
            assert s is None or abs(sum(c * c for c in s.orientation) - 1) < 1e-9
    finally:
        stop.set()
        th.join()
