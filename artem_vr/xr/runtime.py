"""Finding the OpenXR runtime, and importing pyopenxr without side effects.

* :func:`load_xr` imports pyopenxr. pyopenxr forces PyOpenGL's platform to GLX when it is
  imported; we put back whatever platform PyOpenGL had chosen (e.g. EGL for a surfaceless
  render context), so importing the XR layer never changes how the rest of the program talks GL.
* :func:`runtime_manifest` says which runtime the OpenXR loader will pick (the same search
  order as the loader: ``XR_RUNTIME_JSON``, then ``active_runtime.json`` in the XDG config
  folders, or the Windows registry).
* :func:`xr_available` answers "can ``--output xr`` work here?" with a reason, and
  :func:`require_runtime` raises :class:`~artem_vr.errors.RuntimeUnavailable` saying what to do.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from artem_vr.errors import RuntimeUnavailable

#: the validation layer shipped inside pyopenxr
VALIDATION_LAYER = "XR_APILAYER_LUNARG_core_validation"

FIX_NO_RUNTIME = (
    "install an OpenXR runtime and make it active: SteamVR (Settings → OpenXR → "
    "'Set SteamVR as OpenXR runtime', or on Linux export XR_RUNTIME_JSON="
    "~/.steam/steam/steamapps/common/SteamVR/steamxr_linux64.json), or Monado; "
    "for the headless test runtime run .ci/xr-setup.sh and export "
    "XR_RUNTIME_JSON=/var/cache/artem-xr/install/share/openxr/1/openxr_monado.json "
    "(with monado-service running)"
)


#: what a runtime that is installed but does not answer usually means
NOT_RUNNING = "its service is probably not running"
FIX_NOT_RUNNING = (
    "start the runtime: SteamVR (launch SteamVR and wait for the headset), Monado (start monado-service; "
    "for the headless test runtime `. /var/cache/artem-xr/env.sh && monado-service &`), then try again"
)


def load_xr():
    """Import and return the pyopenxr module, keeping PyOpenGL's platform as it was."""
    if "xr" in sys.modules:
        return sys.modules["xr"]
    # pyopenxr imports PyOpenGL's platform itself: whatever stops that here stops pyopenxr too
    try:
        import OpenGL.platform as glplat
    except ImportError as e:  # no PyOpenGL, or no GL library for its platform ("Unable to load EGL library")
        raise RuntimeUnavailable(f"PyOpenGL cannot load ({type(e).__name__}: {e})",
                                 "pip install PyOpenGL, and install the system's GL libraries (libGL, libEGL)") from e
    before = glplat.PLATFORM
    try:
        import xr
    except ModuleNotFoundError as e:
        if e.name and e.name.partition(".")[0] != "xr":  # a dependency of pyopenxr
            raise RuntimeUnavailable(f"pyopenxr cannot load: it needs {e.name} ({e})", f"pip install {e.name}") from e
        raise RuntimeUnavailable(f"pyopenxr is not installed ({e})", "pip install pyopenxr") from e
    except (ImportError, OSError) as e:  # e.g. its bundled OpenXR loader library does not load
        raise RuntimeUnavailable(f"pyopenxr cannot load ({type(e).__name__}: {e})",
                                 "reinstall it: pip install --force-reinstall pyopenxr") from e
    if glplat.PLATFORM is not before:
        glplat.PLATFORM = before
    return xr


def _linux_manifest_candidates() -> list[Path]:
    home = Path(os.environ.get("HOME", "~")).expanduser()
    dirs = [Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")]
    dirs += [Path(d) for d in (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":") if d]
    dirs.append(Path("/etc"))
    return [d / "openxr" / "1" / "active_runtime.json" for d in dirs]


def _windows_manifest() -> str | None:
    try:
        import winreg  # type: ignore[import-not-found]

        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Khronos\OpenXR\1") as k:
            return str(winreg.QueryValueEx(k, "ActiveRuntime")[0])
    except OSError:
        return None


def runtime_manifest() -> tuple[str | None, str]:
    """(manifest path or None, where it came from) — the loader's own search order."""
    env = os.environ.get("XR_RUNTIME_JSON")
    if env:
        return env, "XR_RUNTIME_JSON"
    if sys.platform == "win32":
        m = _windows_manifest()
        return (m, "registry HKLM\\SOFTWARE\\Khronos\\OpenXR\\1\\ActiveRuntime") if m else (None, "")
    for p in _linux_manifest_candidates():
        if p.is_file():
            return str(p), "active_runtime.json"
    return None, ""


def check_manifest() -> str:
    """The active runtime manifest; RuntimeUnavailable when there is none or it is missing."""
    path, origin = runtime_manifest()
    if path is None:
        raise RuntimeUnavailable("no OpenXR runtime is configured (XR_RUNTIME_JSON is unset and there is no "
                                 "active_runtime.json)", FIX_NO_RUNTIME)
    if not Path(path).is_file():
        raise RuntimeUnavailable(f"the OpenXR runtime manifest {path} (from {origin}) does not exist",
                                 "point XR_RUNTIME_JSON at an existing runtime json; " + FIX_NO_RUNTIME)
    return path


def xr_available() -> tuple[bool, str]:
    """Can an OpenXR session be made here? (ok, reason). Never opens a window.

    "No" is said for a missing runtime, pyopenxr or PyOpenGL, and for an OpenXR error result
    (``xr.XrException``) from the loader or runtime — with the reason; any other exception is a
    bug and is raised, not reported as "not available".

    Creates an instance with no extensions, asks for a head-mounted system and destroys the
    instance again. Under the test suite (``ARTEM_VR_TESTING=1``) only a runtime given
    explicitly through ``XR_RUNTIME_JSON`` counts, so a developer's SteamVR is not picked up.
    """
    if os.environ.get("ARTEM_VR_TESTING") == "1" and not os.environ.get("XR_RUNTIME_JSON"):
        return False, "tests see an OpenXR runtime only through XR_RUNTIME_JSON"
    try:
        path = check_manifest()
        xr = load_xr()
    except RuntimeUnavailable as e:
        return False, e.what
    try:
        instance = xr.create_instance(xr.InstanceCreateInfo(
            application_info=xr.ApplicationInfo(application_name="artem-vr probe", engine_name="artem-vr")))
        try:
            props = xr.get_instance_properties(instance)
            name = _text(props.runtime_name)
            try:
                xr.get_system(instance, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
            except xr.FormFactorUnavailableError:
                return False, f"{name} answered but no headset is connected (turn it on / plug it in)"
        finally:
            xr.destroy_instance(instance)
        return True, f"{name} ({path})"
    except xr.RuntimeUnavailableError as e:  # the manifest's runtime library is missing or does not load
        return False, f"the OpenXR loader could not load the runtime configured in {path} ({type(e).__name__}: {e})"
    except xr.XrException as e:  # an OpenXR result the loader or runtime returned; anything else is a bug
        return False, (f"the OpenXR runtime configured in {path} is installed but did not answer "
                       f"({type(e).__name__}: {e}): {NOT_RUNNING}")


def require_runtime() -> str:
    """Raise RuntimeUnavailable (with what to do) unless a runtime manifest is configured."""
    return check_manifest()


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
