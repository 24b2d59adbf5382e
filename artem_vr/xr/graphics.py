"""The OpenGL side of an XR session: which binding, the GL context, the binding struct.

One code path for the three ways an OpenGL context reaches OpenXR:

* ``glx`` — a glfw window on X11 (hidden, or visible for the desktop mirror),
  ``XrGraphicsBindingOpenGLXlibKHR`` (SteamVR / Monado on Linux desktops);
* ``egl`` — an EGL context with no display at all, ``XrGraphicsBindingEGLMNDX``
  (``XR_MNDX_egl_enable``; Monado, headless machines);
* ``wgl`` — a glfw window on Windows, ``XrGraphicsBindingOpenGLWin32KHR`` (SteamVR on Windows;
  not tested here).

The GL context itself comes from :func:`artem_vr.render.context.open_context`; the binding is
read from whatever context is current (``glXGetCurrent*`` / ``eglGetCurrent*`` /
``wglGetCurrent*``), so the XR layer does not care how the context was made.
``xrGetOpenGLGraphicsRequirementsKHR`` is called before the session exists, as OpenXR demands.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

from artem_vr.errors import RuntimeUnavailable, UsageError
from artem_vr.render.context import open_context
from artem_vr.xr.instance import EXT_EGL, EXT_GL, XrInstance

log = logging.getLogger(__name__)

GRAPHICS = ("auto", "glx", "egl", "wgl")
EGL_CONFIG_ID = 0x3028
EGL_NONE = 0x3038


def choose_graphics(requested: str, offered: list[str]) -> str:
    """'auto' | 'glx' | 'egl' | 'wgl' → the binding to use, given the runtime's extensions.

    auto: WGL on Windows; on Linux GLX when an X display is set, else EGL (when the runtime
    offers XR_MNDX_egl_enable).
    """
    if requested not in GRAPHICS:
        raise UsageError(f"unknown XR graphics binding {requested!r}", f"choose one of: {', '.join(GRAPHICS)}")
    if requested != "auto":
        return requested
    if sys.platform == "win32":
        return "wgl"
    if os.environ.get("DISPLAY"):
        return "glx"
    if EXT_EGL in offered:
        return "egl"
    raise RuntimeUnavailable("no X display for a GLX context and the OpenXR runtime does not offer XR_MNDX_egl_enable",
                             "run under X11 (set DISPLAY), or use Monado, whose EGL binding needs no display")


def required_extensions(kind: str) -> list[str]:
    return [EXT_GL, EXT_EGL] if kind == "egl" else [EXT_GL]


def context_kind(kind: str, mirror: bool) -> str:
    """The render contract's context kind for an XR binding."""
    if kind == "egl":
        return "egl"
    return "glfw-window" if mirror else "glfw-hidden"


class XrGraphics:
    """Owns the GL context used by the session and the binding struct that names it. ``with``.

    ``requirements`` ((min, max) GL version the runtime accepts) are queried on entry, before any
    session; the context is checked against them.
    """

    def __init__(self, instance: XrInstance, kind: str, *, mirror: bool = False, mirror_size=(1280, 720)):
        if kind not in ("glx", "egl", "wgl"):
            raise UsageError(f"XR graphics binding {kind!r} is not glx, egl or wgl")
        self.instance = instance
        self.kind = kind
        self.mirror = mirror
        self.mirror_size = mirror_size
        self.context = None
        self.requirements = None
        self.gl_version = (0, 0)
        self._binding = None
        self.pointer = None

    def __enter__(self) -> "XrGraphics":
        self.requirements = self._requirements()
        w, h = self.mirror_size
        self.context = open_context(context_kind(self.kind, self.mirror), width=w, height=h,
                                    title="Art'Em VR — mirror")
        try:
            self.context.make_current()
            if self.context.window is not None:
                import glfw

                glfw.swap_interval(0)  # the mirror must never wait for the desktop's vsync
            self._check_version()
            self._binding = self._make_binding()
            self.pointer = ctypes.cast(ctypes.pointer(self._binding), ctypes.c_void_p)
        except BaseException:
            self.context.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.context is not None:
            self.context.close()
            self.context = None

    def make_current(self) -> None:
        self.context.make_current()

    # -- pieces ---------------------------------------------------------------------
    def _requirements(self):
        xr = self.instance.xr
        pfn = self.instance.proc("xrGetOpenGLGraphicsRequirementsKHR", xr.PFN_xrGetOpenGLGraphicsRequirementsKHR)
        req = xr.GraphicsRequirementsOpenGLKHR()
        xr.check_result(xr.Result(pfn(self.instance.handle, self.instance.system_id, ctypes.byref(req))))
        lo, hi = xr.Version(req.min_api_version_supported), xr.Version(req.max_api_version_supported)
        log.info("OpenXR GL requirements: %s … %s", lo, hi)
        return lo, hi

    def _check_version(self) -> None:
        from OpenGL import GL

        text = GL.glGetString(GL.GL_VERSION)
        text = text.decode() if isinstance(text, bytes) else str(text)
        major, minor = (int(v) for v in text.split()[0].split(".")[:2])
        self.gl_version = (major, minor)
        lo, _hi = self.requirements
        if (major, minor) < (lo.major, lo.minor):
            raise RuntimeUnavailable(f"the GL context is {major}.{minor} but the OpenXR runtime needs at least {lo}",
                                     "update the graphics driver (Mesa / NVIDIA)")

    def _make_binding(self):
        xr = self.instance.xr
        if self.kind == "glx":
            lib = _lib("GL", "libGL.so.1")
            for fn, res in (("glXGetCurrentDisplay", ctypes.c_void_p), ("glXGetCurrentDrawable", ctypes.c_ulong),
                            ("glXGetCurrentContext", ctypes.c_void_p)):
                getattr(lib, fn).restype = res
            dpy, drawable, ctx = lib.glXGetCurrentDisplay(), lib.glXGetCurrentDrawable(), lib.glXGetCurrentContext()
            if not dpy or not ctx:
                raise RuntimeUnavailable("the GL context is not a GLX context (no current GLX display)",
                                         "use --xr-graphics egl, or run under X11")
            b = xr.GraphicsBindingOpenGLXlibKHR()
            _set(b, "x_display", dpy)
            _set(b, "glx_drawable", drawable)
            _set(b, "glx_context", ctx)
            return b
        if self.kind == "egl":
            lib = _lib("EGL", "libEGL.so.1")
            lib.eglGetCurrentDisplay.restype = ctypes.c_void_p
            lib.eglGetCurrentContext.restype = ctypes.c_void_p
            lib.eglQueryContext.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32,
                                            ctypes.POINTER(ctypes.c_int32)]
            lib.eglChooseConfig.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32),
                                            ctypes.POINTER(ctypes.c_void_p), ctypes.c_int32,
                                            ctypes.POINTER(ctypes.c_int32)]
            dpy, ctx = lib.eglGetCurrentDisplay(), lib.eglGetCurrentContext()
            if not dpy or not ctx:
                raise RuntimeUnavailable("the GL context is not an EGL context (no current EGL display)",
                                         "use --xr-graphics glx/auto, or EGL_PLATFORM=surfaceless")
            config = ctypes.c_void_p(getattr(self.context, "egl_config", None))
            if not config.value:  # ask EGL which config the current context was made with
                config_id, n = ctypes.c_int32(0), ctypes.c_int32(0)
                lib.eglQueryContext(dpy, ctx, EGL_CONFIG_ID, ctypes.byref(config_id))
                attrs = (ctypes.c_int32 * 3)(EGL_CONFIG_ID, config_id.value, EGL_NONE)
                if not lib.eglChooseConfig(dpy, attrs, ctypes.byref(config), 1, ctypes.byref(n)) or n.value < 1:
                    raise RuntimeUnavailable(f"cannot find the EGLConfig (id {config_id.value}) of the GL context",
                                             "the EGL context must be made with a config (not EGL_NO_CONFIG)")
            b = xr.GraphicsBindingEGLMNDX()
            _set(b, "display", dpy)
            _set(b, "context", ctx)
            _set(b, "config", config.value)
            _set(b, "get_proc_address", ctypes.cast(lib.eglGetProcAddress, ctypes.c_void_p).value)
            return b
        # wgl (Windows): same idea through opengl32.dll
        lib = ctypes.WinDLL("opengl32")  # type: ignore[attr-defined]
        lib.wglGetCurrentDC.restype = ctypes.c_void_p
        lib.wglGetCurrentContext.restype = ctypes.c_void_p
        hdc, hglrc = lib.wglGetCurrentDC(), lib.wglGetCurrentContext()
        if not hdc or not hglrc:
            raise RuntimeUnavailable("no current WGL context", "the glfw window's context must be current")
        b = xr.GraphicsBindingOpenGLWin32KHR()
        _set(b, "h_dc", hdc)
        _set(b, "h_glrc", hglrc)
        return b


def _lib(name: str, fallback: str):
    path = ctypes.util.find_library(name) or fallback
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        raise RuntimeUnavailable(f"cannot load {path}: {e}", "install the GL/EGL driver libraries (libgl1, libegl1)") from e


def _set(struct, name: str, value) -> None:
    """Set a pointer/handle field of a ctypes struct from an integer address."""
    ftype = dict((f[0], f[1]) for f in type(struct)._fields_)[name]
    if isinstance(value, int) and not issubclass(ftype, ctypes._SimpleCData):  # noqa: SLF001
        value = ctypes.cast(ctypes.c_void_p(value), ftype)
    setattr(struct, name, value)
