"""`artem-vr doctor` checks for OpenXR, and :func:`xr_available` for ``--output auto``."""

from __future__ import annotations

from artem_vr.checks import Check
from artem_vr.xr.instance import EXT_EGL, EXT_GL, runtime_extensions
from artem_vr.xr.runtime import FIX_NO_RUNTIME, FIX_NOT_RUNNING, NOT_RUNNING, load_xr, runtime_manifest, xr_available

__all__ = ["doctor_checks", "xr_available"]


def doctor_checks() -> list[Check]:
    """Runtime manifest (XR_RUNTIME_JSON / active_runtime.json), runtime name, headset, extensions."""
    checks: list[Check] = []
    path, origin = runtime_manifest()
    if path is None:
        return [Check("OpenXR runtime", False, "none configured (no XR_RUNTIME_JSON, no active_runtime.json)",
                      FIX_NO_RUNTIME)]
    checks.append(Check("OpenXR manifest", None, f"{path} (from {origin})"))
    ok, why = xr_available()
    # a manifest that is there but a runtime that does not answer: installed, not running
    checks.append(Check("OpenXR runtime", ok, why, "" if ok else FIX_NOT_RUNNING if NOT_RUNNING in why else FIX_NO_RUNTIME))
    if ok:
        xr = load_xr()  # loaded by xr_available already
        try:
            exts = runtime_extensions()
            gl = [e for e in (EXT_GL, EXT_EGL) if e in exts]
            checks.append(Check("OpenXR OpenGL", EXT_GL in exts,
                                f"{len(exts)} extensions; GL bindings: {', '.join(gl) or 'none'}",
                                "" if EXT_GL in exts else "this runtime cannot take OpenGL frames; use SteamVR or Monado"))
        except xr.XrException as e:  # an OpenXR error result; anything else is a bug, raised
            checks.append(Check("OpenXR OpenGL", False, f"could not list extensions ({type(e).__name__}: {e})"))
    return checks
