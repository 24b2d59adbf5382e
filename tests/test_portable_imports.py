"""Nothing Linux-only is imported at module level: every module of the package imports with the
EGL, GLX and X11 (Xlib, mss's X11 backend, pyopenxr's Linux platform) modules and libraries made
unimportable, as on Windows. In a subprocess, so this process's GL state is untouched.

PyOpenGL itself is cross-platform (WGL on Windows); here its GL module is imported once before
the blocker goes up, standing in for the platform Windows would load, and every Linux-only
module it pulled in is dropped from ``sys.modules`` so that a later import of one by our code
still meets the blocker."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(r'''
    import ctypes, importlib, json, os, pkgutil, sys

    os.environ.pop("DISPLAY", None)
    os.environ.pop("WAYLAND_DISPLAY", None)
    import OpenGL.GL  # the platform's GL (WGL on Windows; EGL here) - not ours to judge

    BLOCK = ("Xlib", "OpenGL.EGL", "OpenGL.raw.EGL", "OpenGL.GLX", "OpenGL.raw.GLX", "OpenGL.platform.egl",
             "OpenGL.platform.glx", "OpenGL.platform.baseplatform_linux", "mss.linux", "xr.platform.linux")
    LIBS = ("EGL", "GLX", "X11", "Xrandr", "Xfixes")

    def blocked(name):
        return any(name == b or name.startswith(b + ".") for b in BLOCK)

    for name in [m for m in sys.modules if blocked(m)]:
        del sys.modules[name]

    attempts = []

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if blocked(name):
                attempts.append(name)
                raise ModuleNotFoundError(f"No module named {name!r} (blocked: Linux-only)", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    _CDLL = ctypes.CDLL

    class CDLL(_CDLL):
        def __init__(self, name, *a, **k):
            if name and any(s in os.path.basename(str(name)) for s in LIBS):
                attempts.append(str(name))
                raise OSError(f"{name}: cannot open shared object file (blocked: Linux-only)")
            super().__init__(name, *a, **k)

    ctypes.CDLL = CDLL
    import artem_vr

    failed = {}
    names = []
    for m in pkgutil.walk_packages(artem_vr.__path__, "artem_vr."):
        if m.name == "artem_vr.__main__":
            continue  # runs the CLI
        names.append(m.name)
        try:
            importlib.import_module(m.name)
        except BaseException as e:
            failed[m.name] = f"{type(e).__name__}: {e}"
    print(json.dumps({"modules": names, "failed": failed, "attempts": attempts}))
''')


@pytest.mark.timeout(300)
def test_every_module_imports_without_egl_glx_or_x11():
    import json

    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=280)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(res["modules"]) > 50, res["modules"]  # the whole package was walked
    for must in ("artem_vr.app", "artem_vr.render.renderer", "artem_vr.render.mirror", "artem_vr.xr.presenter",
                 "artem_vr.xr.graphics", "artem_vr.sources.screen", "artem_vr.render.context", "artem_vr.style.catalog"):
        assert must in res["modules"]
    assert res["failed"] == {}, res["failed"]
    assert res["attempts"] == [], f"module-level use of Linux-only modules/libraries: {res['attempts']}"


def test_the_egl_platform_rule_is_linux_only(monkeypatch):
    """On Windows (no DISPLAY there, ever) PyOpenGL must keep its own platform (WGL), not be sent to EGL."""
    from artem_vr import render

    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delitem(sys.modules, "OpenGL.platform", raising=False)  # as before the first GL import (restored after)
    monkeypatch.setattr(sys, "platform", "win32")
    assert render.apply_pyopengl_platform_rule() is None
    import os

    assert "PYOPENGL_PLATFORM" not in os.environ
    monkeypatch.setattr(sys, "platform", "linux")
    assert render.apply_pyopengl_platform_rule() == "egl"
