"""The XR layer's pure parts and error paths — no runtime needed."""

from __future__ import annotations

import ctypes
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from artem_vr.errors import RuntimeUnavailable, UsageError
from artem_vr.xr.actions import ACTIONS, BINDINGS, HANDS, TriggerDial
from artem_vr.xr.graphics import choose_graphics
from artem_vr.xr.handles import HandleLedger, owned
from artem_vr.xr.poses import quat_rotate, relative_position
from artem_vr.xr.presenter import XrOptions, XrOutput, XrReport
from artem_vr.xr.swapchain import GL_RGBA8, GL_SRGB8, GL_SRGB8_ALPHA8, eye_size, pick_color_format


# ---------------------------------------------------------------------------- formats and sizes
def test_color_format_prefers_srgb_and_takes_steamvr_srgb_only_lists():
    assert pick_color_format([0x805B, 0x881A, GL_SRGB8_ALPHA8, GL_RGBA8]) == (GL_SRGB8_ALPHA8, True)
    assert pick_color_format([GL_SRGB8]) == (GL_SRGB8, True)  # SteamVR on Linux: sRGB only
    assert pick_color_format([0x805B, GL_RGBA8]) == (GL_RGBA8, False)
    with pytest.raises(RuntimeUnavailable, match="colour swapchain format"):
        pick_color_format([0x805B])


def test_eye_size_scales_and_clamps():
    assert eye_size((1440, 1600), (4096, 4096), 1.0) == (1440, 1600)
    assert eye_size((1440, 1600), (4096, 4096), 0.5) == (720, 800)
    assert eye_size((1440, 1600), (2000, 2000), 1.5) == (2000, 2000)
    assert eye_size((20, 20), (100, 100), 0.1) == (16, 16)
    with pytest.raises(ValueError):
        eye_size((100, 100), (100, 100), 0.0)


def test_options_are_checked_at_start():
    for bad in (XrOptions(graphics="vulkan"), XrOptions(scale=0.0), XrOptions(space="moon"), XrOptions(max_frames=0)):
        with pytest.raises(UsageError):
            bad.check()
    XrOptions().check()


def test_graphics_choice(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":5")
    assert choose_graphics("auto", []) == "glx"
    monkeypatch.delenv("DISPLAY")
    assert choose_graphics("auto", ["XR_MNDX_egl_enable"]) == "egl"
    with pytest.raises(RuntimeUnavailable, match="XR_MNDX_egl_enable"):
        choose_graphics("auto", ["XR_KHR_opengl_enable"])
    assert choose_graphics("wgl", []) == "wgl"
    with pytest.raises(UsageError):
        choose_graphics("d3d11", [])


# ---------------------------------------------------------------------------- actions
def test_bindings_are_data_over_declared_actions():
    names = {a.name for a in ACTIONS}
    assert set(BINDINGS) == {"/interaction_profiles/valve/index_controller", "/interaction_profiles/htc/vive_controller",
                             "/interaction_profiles/oculus/touch_controller", "/interaction_profiles/khr/simple_controller"}
    for profile, table in BINDINGS.items():
        assert set(table) <= names, profile
        assert {"next_style", "prev_style", "haptic"} <= set(table), profile
        for action, paths in table.items():
            for p in paths:
                assert p.startswith(HANDS), (profile, action, p)
                kind = next(a.kind for a in ACTIONS if a.name == action)
                assert ("/output/" in p) == (kind == "haptic"), (profile, action, p)
    # one input, one meaning: no input path drives two actions in a profile
    for profile, table in BINDINGS.items():
        paths = [p for ps in table.values() for p in ps]
        assert len(paths) == len(set(paths)), profile


def test_trigger_dial_sets_strength_to_the_peak_of_each_pull():
    d = TriggerDial()
    assert d.update(0.0) is None
    assert d.update(0.5) == 0.5
    assert d.update(0.5) is None  # holding still: nothing new
    assert d.update(0.51) is None  # same 0.05 step
    assert d.update(1.0) == 1.0
    assert d.update(0.6) is None and d.update(0.0) is None  # letting go keeps 1.0
    assert d.update(0.3) == 0.3  # a new, lighter pull lowers it
    assert d.update(0.02) is None
    assert d.update(0.05) is None  # below the start threshold: not a pull


# ---------------------------------------------------------------------------- poses
def test_eye_offset_is_expressed_in_head_space():
    yaw90 = (0.0, math.sin(math.pi / 4), 0.0, math.cos(math.pi / 4))  # +90° about +y
    rx, ry, rz = quat_rotate(yaw90, (1.0, 0.0, 0.0))
    assert (round(rx, 6), round(ry, 6), round(rz, 6)) == (0.0, 0.0, -1.0)
    head_p = (1.0, 1.6, 2.0)
    right_eye_world = (head_p[0] + 0.0, head_p[1], head_p[2] - 0.032)  # head turned: +x of head is -z of world
    off = relative_position(yaw90, head_p, right_eye_world)
    assert [round(c, 6) for c in off] == [0.032, 0.0, 0.0]


# ---------------------------------------------------------------------------- ownership
def test_owned_handles_unwind_in_reverse_even_on_error():
    from contextlib import ExitStack

    ledger, destroyed = HandleLedger(), []
    with pytest.raises(RuntimeError):
        with ExitStack() as st:
            for name in ("instance", "session", "swapchain"):
                st.enter_context(owned(ledger, name, lambda n=name: n, destroyed.append))
            raise RuntimeError("half-way failure")
    assert destroyed == ["swapchain", "session", "instance"]
    assert ledger.live() == [] and ledger.destroyed_in_reverse()
    bad = HandleLedger()
    a, b = bad.created("a"), bad.created("b")
    bad.destroyed("a", a)
    assert not bad.destroyed_in_reverse() and bad.live() == [("b", b)]


# ---------------------------------------------------------------------------- lifecycle
def _state_event(xr, state):
    e = xr.EventDataSessionStateChanged()
    e.type = xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED
    e.state = state
    return e


def test_lifecycle_loss_pending_restarts_exiting_leaves_instance_loss_ends():
    from artem_vr.xr.runtime import load_xr
    from artem_vr.xr.session import SessionLifecycle

    xr = load_xr()
    view = xr.ViewConfigurationType.PRIMARY_STEREO
    lc = SessionLifecycle(xr, None, None, view)
    lc.running = True
    lc.handle_event(_state_event(xr, xr.SessionState.LOSS_PENDING))
    assert (lc.outcome, lc.running) == ("restart", False)

    lc = SessionLifecycle(xr, None, None, view)
    lc.handle_event(_state_event(xr, xr.SessionState.EXITING))
    assert lc.outcome == "exit" and lc.states == ["EXITING"]

    lc = SessionLifecycle(xr, None, None, view)
    loss = xr.EventDataInstanceLossPending()
    loss.type = xr.StructureType.EVENT_DATA_INSTANCE_LOSS_PENDING
    lc.handle_event(loss)
    assert lc.outcome == "instance_lost"

    lc = SessionLifecycle(xr, None, None, view)
    lc.request_exit()  # never began: nothing to drain, leave at once
    assert lc.outcome == "exit"


def test_missed_display_periods_from_predicted_times():
    r = XrReport(display_period_ns=50_000_000)
    r.display_times = [1_000_000_000 + 50_000_000 * i for i in (0, 1, 2, 4, 5, 8)]
    assert r.missed_periods() == 3
    assert r.periods_offered() == 9


# ---------------------------------------------------------------------------- no runtime
def test_no_runtime_is_a_clear_error(monkeypatch, tmp_path):
    from artem_vr.xr.probe import doctor_checks, xr_available

    missing = tmp_path / "nowhere" / "openxr_runtime.json"
    monkeypatch.setenv("XR_RUNTIME_JSON", str(missing))
    ok, why = xr_available()
    assert not ok and str(missing) in why
    with pytest.raises(RuntimeUnavailable) as e:
        with XrOutput(XrOptions()):
            pass
    assert "XR_RUNTIME_JSON" in str(e.value) and "SteamVR" in str(e.value)

    monkeypatch.delenv("XR_RUNTIME_JSON")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg"))
    if Path("/etc/openxr/1/active_runtime.json").exists():
        pytest.skip("this machine has a system-wide active OpenXR runtime")
    monkeypatch.setenv("ARTEM_VR_TESTING", "0")
    ok, why = xr_available()
    assert not ok and "no OpenXR runtime is configured" in why
    (check,) = doctor_checks()
    assert check.ok is False and "SteamVR" in check.fix
    monkeypatch.setenv("ARTEM_VR_TESTING", "1")  # tests never pick up a developer's runtime
    assert xr_available() == (False, "tests see an OpenXR runtime only through XR_RUNTIME_JSON")


def _manifest_of_a_missing_library(tmp_path) -> Path:
    manifest = tmp_path / "runtime.json"
    manifest.write_text(json.dumps({"file_format_version": "1.0.0",
                                    "runtime": {"library_path": str(tmp_path / "libno_runtime.so")}}))
    return manifest


def test_a_runtime_library_that_does_not_load_is_said_with_the_loaders_error(monkeypatch, tmp_path):
    """The real loader, a manifest whose library is not there: "not available", the loader's own result named."""
    from artem_vr.xr.probe import doctor_checks, xr_available

    manifest = _manifest_of_a_missing_library(tmp_path)
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    ok, why = xr_available()
    assert not ok and why == (f"the OpenXR loader could not load the runtime configured in {manifest} "
                              "(RuntimeUnavailableError: The loader was unable to find or load a runtime.)")
    check = {c.name: c for c in doctor_checks()}["OpenXR runtime"]
    assert check.ok is False and check.detail == why and "install an OpenXR runtime" in check.fix
    with pytest.raises(RuntimeUnavailable, match=r"did not answer \(RuntimeUnavailableError: The loader"):
        with XrOutput(XrOptions()):
            pass


def test_a_bug_under_the_runtime_probe_is_raised_not_called_no_runtime(monkeypatch, tmp_path):
    """Only OpenXR results (xr.XrException) mean "no runtime": a TypeError from inside the probe or the
    headset's start-up is a bug, and comes out as itself."""
    from artem_vr.xr.probe import xr_available
    from artem_vr.xr.runtime import load_xr

    xr = load_xr()
    monkeypatch.setenv("XR_RUNTIME_JSON", str(_manifest_of_a_missing_library(tmp_path)))

    def bug(*_args, **_kw):
        raise TypeError("a bug, not a missing runtime")

    monkeypatch.setattr(xr, "create_instance", bug)
    with pytest.raises(TypeError, match="a bug, not a missing runtime"):
        xr_available()
    monkeypatch.setattr(xr, "enumerate_instance_extension_properties", bug)
    with pytest.raises(TypeError, match="a bug, not a missing runtime"):
        with XrOutput(XrOptions()):
            pass


def test_no_pyopengl_is_said_as_such(tmp_path):
    """pyopenxr needs PyOpenGL: without it (hidden from a real child process) "not available", with the reason."""
    env = dict(os.environ, XR_RUNTIME_JSON=str(_manifest_of_a_missing_library(tmp_path)), ARTEM_VR_TESTING="1")
    code = ("import sys; sys.modules['OpenGL'] = None\n"
            "import json; from artem_vr.xr.runtime import xr_available; print(json.dumps(xr_available()))")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ok, why = json.loads(r.stdout)
    assert ok is False and why.startswith("PyOpenGL cannot load (ModuleNotFoundError: No module named 'OpenGL."), why


def test_struct_sizes_of_the_remote_driver_wire_format():
    """Offsets used by the remote-driver client match a ctypes layout of r_remote_data."""
    from artem_vr.xr import monado

    class Ctrl(ctypes.Structure):
        _fields_ = [("pose", ctypes.c_float * 7), ("vel", ctypes.c_float * 6), ("curl", ctypes.c_float * 5),
                    ("trigger_value", ctypes.c_float), ("squeeze_value", ctypes.c_float),
                    ("squeeze_force", ctypes.c_float), ("thumbstick", ctypes.c_float * 2),
                    ("trackpad_force", ctypes.c_float), ("trackpad", ctypes.c_float * 2)] + \
                   [(n, ctypes.c_bool) for n in monado._BOOLS] + [("pad", ctypes.c_bool * 3)]

    assert ctypes.sizeof(Ctrl) == 120
    assert 8 + 128 + 2 * 120 == monado.REMOTE_SIZE
    for name, off in {**monado._FLOATS, **monado._BOOLS}.items():
        assert getattr(Ctrl, name).offset == off, name


def test_missing_runtime_skips_with_the_reason_but_fails_under_ci(monkeypatch, tmp_path):
    from xr_harness import require_monado

    from artem_vr.xr.monado import FIX_BUILD

    monkeypatch.setenv("ARTEM_XR_DIR", str(tmp_path / "no-runtime-here"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Monado not built: run .ci/xr-setup.sh"):
        require_monado()
    assert FIX_BUILD == "Monado not built: run .ci/xr-setup.sh (needs ../shared/xr)"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the XR tests"):
        require_monado()
