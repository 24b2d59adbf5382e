"""A frozen OpenXR runtime (its service stopped with SIGSTOP, not killed) cannot hang the app.

A real `artem-vr run --output xr --record` child against a real monado-service: the service is
frozen mid-run; the app says the runtime stopped responding, exits non-zero, and the recording
plays. Ctrl-C while the runtime is frozen ends the run too (exit 130), recording kept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import cv2
import pytest

pytestmark = pytest.mark.xr


def _start(tmp_path, monado, timeout_s: float):
    env = dict(os.environ, EGL_PLATFORM="surfaceless", PYTHONUNBUFFERED="1")
    env.pop("DISPLAY", None)
    env.pop("ARTEM_VR_TESTING", None)
    cmd = [sys.executable, "-m", "artem_vr", "run", "--output", "xr", "--xr-graphics", "egl", "--quiet",
           "--method", "identity", "--record", str(tmp_path / "rec.mp4"), "--xr-hang-timeout", str(timeout_s)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:  # wait until frames are being recorded
        time.sleep(0.5)
        if any(p.name.startswith(".rec.partial-") for p in tmp_path.iterdir()):
            time.sleep(1.5)
            return proc
    out, err = proc.communicate(timeout=10)
    pytest.fail(f"the XR run did not start recording: {out[-1500:]} {err[-1500:]}")


def _frames(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def _frozen(monado):
    os.kill(monado.proc.pid, signal.SIGSTOP)
    return monado.proc.pid


def test_frozen_runtime_ends_the_run_with_a_message(tmp_path, monado):
    proc = _start(tmp_path, monado, timeout_s=3)
    pid = _frozen(monado)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert proc.returncode == 2, (out[-2000:], err[-2000:])
    assert "stopped responding" in err
    assert _frames(tmp_path / "rec.mp4") >= 1


def test_ctrl_c_works_while_the_runtime_is_frozen(tmp_path, monado):
    proc = _start(tmp_path, monado, timeout_s=120)
    pid = _frozen(monado)
    try:
        time.sleep(1.0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        os.kill(pid, signal.SIGCONT)
    assert proc.returncode == 130, (out[-2000:], err[-2000:])
    assert took < 15, took
    assert _frames(tmp_path / "rec.mp4") >= 1
