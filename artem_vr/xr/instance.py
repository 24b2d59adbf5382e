"""The OpenXR instance, its head-mounted system, and validation messages.

:class:`XrInstance` is one ``with`` block owning, in order: the instance (application info,
extensions chosen from what the runtime offers, optionally the core validation layer), a
debug-utils messenger that collects validation messages into :class:`ValidationLog`, and the
HMD system id. Everything made here is destroyed in reverse when the block exits.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import time

from dataclasses import dataclass, field

from artem_vr import __version__
from artem_vr.errors import RuntimeUnavailable
from artem_vr.xr.handles import HandleLedger, StackOwner, owned
from artem_vr.xr.runtime import FIX_NOT_RUNNING, NOT_RUNNING, VALIDATION_LAYER, check_manifest, load_xr

log = logging.getLogger(__name__)

EXT_GL = "XR_KHR_opengl_enable"
EXT_EGL = "XR_MNDX_egl_enable"
EXT_DEBUG = "XR_EXT_debug_utils"
EXT_TIME_LINUX = "XR_KHR_convert_timespec_time"
#: eye tracking for the foveal window (artem_vr.xr.gaze); enabled where offered
EXT_EYE_GAZE = "XR_EXT_eye_gaze_interaction"


@dataclass
class ValidationMessage:
    severity: str  # "error" | "warning"
    function: str
    message: str


@dataclass
class ValidationLog:
    """Messages from the validation layer / loader / runtime via XR_EXT_debug_utils."""

    messages: list[ValidationMessage] = field(default_factory=list)

    def errors(self) -> list[ValidationMessage]:
        return [m for m in self.messages if m.severity == "error"]

    def warnings(self) -> list[ValidationMessage]:
        return [m for m in self.messages if m.severity == "warning"]

    def summary(self) -> str:
        return "; ".join(f"{m.severity} in {m.function}: {m.message}" for m in self.messages[:10])


def runtime_extensions() -> list[str]:
    """Names of the instance extensions the active runtime (and loader) offer."""
    xr = load_xr()
    return [_text(e.extension_name) for e in xr.enumerate_instance_extension_properties()]


def choose_extensions(offered: list[str], required: list[str], optional: list[str]) -> list[str]:
    """Required extensions (RuntimeUnavailable if one is missing) plus the optional ones offered."""
    missing = [e for e in required if e not in offered]
    if missing:
        raise RuntimeUnavailable(
            f"the OpenXR runtime lacks {', '.join(missing)} (it offers {len(offered)} extensions)",
            "use a runtime with OpenGL support (SteamVR, Monado), or pick another --xr-graphics")
    return list(required) + [e for e in optional if e in offered and e not in required]


class XrInstance(StackOwner):
    """Owns the instance, the validation messenger and the HMD system. Use as ``with``.

    ``required``: extensions that must be there (e.g. XR_KHR_opengl_enable); ``validation``
    enables the core validation layer that ships inside pyopenxr and collects its messages.
    """

    def __init__(self, required: list[str], *, validation: bool = False, ledger: HandleLedger | None = None,
                 app_name: str = "Art'Em VR"):
        self.required = list(required)
        self.validation = validation
        self.ledger = ledger if ledger is not None else HandleLedger()
        self.app_name = app_name
        self.log = ValidationLog()
        super().__init__()
        self.xr = None
        self.handle = None
        self.system_id = None
        self.extensions: list[str] = []
        self.runtime_name = ""
        self.runtime_version = ""
        self.system_name = ""
        self._dbg_info = None

    # -- lifecycle --------------------------------------------------------------
    def _open(self) -> None:
        check_manifest()
        xr = self.xr = load_xr()
        try:
            offered = runtime_extensions()
        except xr.XrException as e:
            raise RuntimeUnavailable(f"the OpenXR runtime is installed but did not answer ({type(e).__name__}: {e}): "
                                     f"{NOT_RUNNING}", FIX_NOT_RUNNING) from e
        optional = [EXT_TIME_LINUX if sys.platform != "win32" else "XR_KHR_win32_convert_performance_counter_time",
                    EXT_EYE_GAZE]
        if self.validation:
            optional.append(EXT_DEBUG)
        self.extensions = choose_extensions(offered, self.required, optional)
        layers: list[str] = []
        if self.validation:
            have = [_text(p.layer_name) for p in xr.enumerate_api_layer_properties()]
            if VALIDATION_LAYER not in have:
                raise RuntimeUnavailable(f"the OpenXR validation layer {VALIDATION_LAYER} was not found",
                                         "reinstall pyopenxr (it ships the layer), or run without validation")
            layers.append(VALIDATION_LAYER)
        next_ptr = None
        if EXT_DEBUG in self.extensions:
            self._dbg_info = xr.DebugUtilsMessengerCreateInfoEXT(
                message_severities=xr.DebugUtilsMessageSeverityFlagsEXT.WARNING_BIT
                | xr.DebugUtilsMessageSeverityFlagsEXT.ERROR_BIT,
                message_types=xr.DebugUtilsMessageTypeFlagsEXT.ALL,
                user_callback=self._on_message)
            next_ptr = ctypes.cast(ctypes.pointer(self._dbg_info), ctypes.c_void_p)
        info = xr.InstanceCreateInfo(
            application_info=xr.ApplicationInfo(
                application_name=self.app_name, application_version=_pack_version(__version__),
                engine_name="artem-vr", engine_version=_pack_version(__version__)),
            enabled_api_layer_names=layers, enabled_extension_names=self.extensions, next=next_ptr)

        def create():
            try:
                return xr.create_instance(info)
            except (xr.RuntimeUnavailableError, xr.RuntimeFailureError, xr.InitializationFailedError) as e:
                raise RuntimeUnavailable(f"the OpenXR runtime is installed but did not start ({type(e).__name__}: {e}): "
                                         f"{NOT_RUNNING}", FIX_NOT_RUNNING) from e

        self.handle = self._stack.enter_context(owned(self.ledger, "instance", create, xr.destroy_instance))
        if self._dbg_info is not None:
            self._stack.enter_context(owned(
                self.ledger, "debug_messenger",
                lambda: xr.create_debug_utils_messenger_ext(self.handle, self._dbg_info),
                xr.destroy_debug_utils_messenger_ext))
        props = xr.get_instance_properties(self.handle)
        self.runtime_name = _text(props.runtime_name)
        self.runtime_version = str(xr.Version(props.runtime_version))
        try:
            self.system_id = xr.get_system(self.handle, xr.SystemGetInfo(
                form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
        except xr.FormFactorUnavailableError as e:
            raise RuntimeUnavailable(f"{self.runtime_name} has no headset connected",
                                     "connect and switch on the headset (SteamVR shows it green), then retry") from e
        self.system_name = _text(xr.get_system_properties(self.handle, self.system_id).system_name)
        log.info("OpenXR runtime %s %s, system %s, extensions %s", self.runtime_name, self.runtime_version,
                 self.system_name, " ".join(self.extensions))

    # -- services -----------------------------------------------------------------
    def _on_message(self, severity, _types, data, _user) -> bool:
        xr = self.xr
        sev = "error" if severity & xr.DebugUtilsMessageSeverityFlagsEXT.ERROR_BIT else "warning"
        msg = ValidationMessage(sev, _text(data.function_name or b""), _text(data.message or b""))
        self.log.messages.append(msg)
        (log.error if sev == "error" else log.warning)("OpenXR %s in %s: %s", sev, msg.function, msg.message)
        return False

    def proc(self, name: str, pfn_type):
        """An extension function pointer, cast to its ctypes type."""
        return ctypes.cast(self.xr.get_instance_proc_addr(self.handle, name), pfn_type)

    def to_monotonic(self, xr_time: int) -> float | None:
        """An XrTime as time.monotonic() seconds (None when the runtime cannot convert)."""
        if xr_time <= 0 or EXT_TIME_LINUX not in self.extensions:
            return None
        ts = self.xr.convert_time_to_timespec_time_khr(self.handle, xr_time)
        return ts.tv_sec + ts.tv_nsec * 1e-9

    def xr_now(self) -> int | None:
        """The runtime's current XrTime (None when it cannot convert)."""
        return self.to_xr_time(None)

    def to_xr_time(self, monotonic: float | None) -> int | None:
        """A time.monotonic() time (None: now) as an XrTime (None when the runtime cannot convert)."""
        if EXT_TIME_LINUX not in self.extensions:
            return None
        xr = self.xr
        t = time.clock_gettime_ns(time.CLOCK_MONOTONIC) if monotonic is None else int(round(monotonic * 1e9))
        ts = xr.timespec(tv_sec=t // 1_000_000_000, tv_nsec=t % 1_000_000_000)
        t = xr.convert_timespec_time_to_time_khr(self.handle, ts)
        return int(getattr(t, "value", t))  # pyopenxr returns an XrTime (ctypes c_int64)

    def path(self, text: str) -> int:
        return self.xr.string_to_path(self.handle, text)


def _pack_version(text: str) -> int:
    """'0.1.0' → the 32-bit application/engine version field (8.8.16 bits)."""
    major, minor, patch = (int(p) for p in (text.split(".") + ["0", "0"])[:3])
    return ((major & 0xFF) << 24) | ((minor & 0xFF) << 16) | (patch & 0xFFFF)


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
