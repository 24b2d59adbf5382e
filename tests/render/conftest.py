"""Fixtures for the render tests: a private Xvfb and GL contexts of both kinds.

The contexts are real (Mesa llvmpipe here); a backend this machine lacks is skipped with the
reason. Images, comparisons and the small pipeline object are in render_helpers.py.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest


# ------------------------------------------------------------------------------- X server
def _free_display() -> int:
    for n in range(90, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number in :90–:199")


@pytest.fixture(scope="session")
def xvfb():
    """A private Xvfb (1280x720x24) for the session; yields its DISPLAY string (":N")."""
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb): glfw window tests need an X server")
    n = _free_display()
    proc = subprocess.Popen([exe, f":{n}", "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sock = Path(f"/tmp/.X11-unix/X{n}")
    t_end = time.monotonic() + 15
    while not sock.exists() and proc.poll() is None and time.monotonic() < t_end:
        time.sleep(0.05)
    if not sock.exists():
        proc.kill()
        err = proc.communicate(timeout=5)[1].decode(errors="replace")[-500:]
        pytest.skip(f"Xvfb :{n} did not start: {err}")
    try:
        yield f":{n}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture
def display(xvfb, monkeypatch):
    """DISPLAY pointed at the private Xvfb for one test."""
    monkeypatch.setenv("DISPLAY", xvfb)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return xvfb


@pytest.fixture
def no_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


# ------------------------------------------------------------------------------- contexts
def _open(kind):
    from artem_vr.errors import RuntimeUnavailable
    from artem_vr.render.context import open_context

    try:
        return open_context(kind, 64, 64)
    except RuntimeUnavailable as e:
        pytest.skip(f"no {kind} GL context here: {e}")


@pytest.fixture
def egl_context(no_display):
    ctx = _open("egl")
    with ctx:
        yield ctx


@pytest.fixture
def glfw_context(display):
    ctx = _open("glfw-hidden")
    with ctx:
        yield ctx


@pytest.fixture(params=["egl", "glfw-hidden"])
def gl_context(request):
    """Each test using it runs on both backends: EGL surfaceless and a hidden glfw window (Xvfb)."""
    name = "egl_context" if request.param == "egl" else "glfw_context"
    return request.getfixturevalue(name)
