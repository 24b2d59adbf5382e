"""Fixtures for the XR tests: a real headless Monado per test, a private Xvfb, a scripted pipeline.

The runtime is the one ``.ci/xr-setup.sh`` builds under ``$ARTEM_XR_DIR`` (default
/var/cache/artem-xr). Missing: the tests skip saying so — except under CI (``CI=true``), where a
missing runtime is a failure. Each test gets its own monado-service (own XDG_RUNTIME_DIR,
XDG_CONFIG_HOME and remote-driver port), stopped by PID when the test ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess

import pytest

from artem_vr.xr.monado import MonadoService
from xr_harness import _under_ci, require_monado
from xr_pipeline import ScriptedPipeline


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def monado_build():
    """The runtime build is there (else skip, or fail under CI)."""
    require_monado()


@pytest.fixture
def monado(tmp_path):
    """A monado-service of this test's own; os.environ points OpenXR at it while the test runs."""
    require_monado()
    with MonadoService(tmp_path / "monado", port=free_port()) as m:
        yield m


@pytest.fixture(scope="session")
def xr_xvfb(tmp_path_factory):
    """A private Xvfb for the session; yields its DISPLAY (":N"). Stopped by PID."""
    exe = shutil.which("Xvfb")
    if exe is None:
        if _under_ci():
            pytest.fail("CI must run the GLX XR test: Xvfb is not installed (apt-get install xvfb)")
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    r, w = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(w), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        num = f.readline().strip()
    if not num:
        proc.kill()
        pytest.fail("Xvfb did not report its display number")
    yield f":{num}"
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def glx_env(monkeypatch, xr_xvfb):
    monkeypatch.setenv("DISPLAY", xr_xvfb)
    return xr_xvfb


@pytest.fixture
def egl_env(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("EGL_PLATFORM", "surfaceless")


@pytest.fixture
def pipeline_factory():
    return ScriptedPipeline
