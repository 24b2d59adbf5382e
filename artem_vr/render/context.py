"""GL contexts behind one small interface: EGL surfaceless, glfw hidden window, glfw window.

Every backend gives an OpenGL >= 3.3 core context and owns it: ``close()`` (or leaving the
``with`` block) destroys it. Chosen once at start-up by :func:`open_context`; the renderer
and the frame loops only ever see :class:`GLContext`.

Threading: glfw backends must be opened, polled and closed on the main thread. A context is
current on the thread that called :meth:`GLContext.make_current`.

See :mod:`artem_vr.render` for how the PyOpenGL platform (GLX/EGL) is chosen.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

from artem_vr.render import _egl as E, apply_pyopengl_platform_rule, import_triton_before_gl

apply_pyopengl_platform_rule()

from artem_vr.checks import Check  # noqa: E402
from artem_vr.errors import RuntimeUnavailable, UsageError  # noqa: E402
from artem_vr.render._egl import EglLibrary  # noqa: E402

KINDS = ("auto", "egl", "glfw-hidden", "glfw-window")
MIN_GL = (3, 3)

_tls = threading.local()  # .current: the GLContext current on this thread (None: none of ours)

FIX_DISPLAY = ("run under an X server, or start a virtual one: apt-get install xvfb, then "
               "`Xvfb :99 -screen 0 1280x720x24 & export DISPLAY=:99` (or prefix the command with xvfb-run -a)")
FIX_EGL = ("install Mesa's EGL and software GL (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri) or the "
           "NVIDIA driver's EGL; on a machine without a GPU or display try EGL_PLATFORM=surfaceless")


def _current() -> "GLContext | None":
    return getattr(_tls, "current", None)


def _teach_pyopengl_both_apis() -> None:
    """Let PyOpenGL see an EGL *or* GLX current context, whichever platform it chose.

    PyOpenGL asks its platform's GetCurrentContext (glXGetCurrentContext under GLX,
    eglGetCurrentContext under EGL) before resolving any extension-gated entry point (e.g.
    glTexStorage2D via GL_ARB_texture_storage); with the other API's context current it sees
    "no context" and raises NullFunctionError. We install a GetCurrentContext that asks both.
    Re-applied on every make_current because pyopenxr replaces ``OpenGL.platform.PLATFORM``
    with a fresh GLXPlatform when ``xr`` is imported.
    """
    import OpenGL.platform as P

    plat = P.PLATFORM
    if getattr(plat, "_artem_any_api", False):
        return
    getters = []
    for lib_name, fn in (("libEGL.so.1", "eglGetCurrentContext"), ("libGLX.so.0", "glXGetCurrentContext"),
                         ("libGL.so.1", "glXGetCurrentContext")):
        try:
            f = getattr(ctypes.CDLL(lib_name), fn)
        except (OSError, AttributeError):
            continue
        f.restype, f.argtypes = ctypes.c_void_p, []
        getters.append(f)
        if fn.startswith("glX"):
            break  # one GLX getter is enough

    def any_current_context():
        for g in getters:
            c = g()
            if c:
                return c
        return 0

    plat.GetCurrentContext = any_current_context
    plat.CurrentContextIsValid = any_current_context
    P.GetCurrentContext = any_current_context
    P.CurrentContextIsValid = any_current_context
    plat._artem_any_api = True


class GLContext:
    """One GL context (>= 3.3 core). Usable as ``with``; ``close()`` destroys it.

    Attributes: ``kind`` ("egl" | "glfw-hidden" | "glfw-window"), ``window`` (the glfw window
    or None), ``size`` ((width, height) asked for; for windows the framebuffer may differ —
    see :meth:`framebuffer_size`).
    """

    kind: str = ""
    window = None

    def __init__(self, width: int, height: int):
        import_triton_before_gl()  # every backend makes its context after this (see the function)
        self.size = (int(width), int(height))
        self._closed = False

    # the interface --------------------------------------------------------------------
    def make_current(self) -> None:
        self._check_open()
        cur = _current()
        if cur is not None and cur is not self:
            # libglvnd refuses to make a GLX context current while an EGL one is (and vice
            # versa): release whatever of ours is current first.
            cur.release_current()
        self._make_current()
        _tls.current = self
        _teach_pyopengl_both_apis()

    def release_current(self) -> None:
        if _current() is self:
            self._release_current()
            _tls.current = None

    def swap_buffers(self) -> None:
        """Present the back buffer (windows); a no-op for EGL (nothing to present)."""

    def framebuffer_size(self) -> tuple[int, int]:
        return self.size

    def close(self) -> None:
        if self._closed:
            return
        self.release_current()
        self._destroy()
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def info(self) -> dict[str, str]:
        """GL version and renderer strings (makes this context current)."""
        from OpenGL import GL

        self.make_current()
        return {
            "version": GL.glGetString(GL.GL_VERSION).decode(errors="replace"),
            "renderer": GL.glGetString(GL.GL_RENDERER).decode(errors="replace"),
            "vendor": GL.glGetString(GL.GL_VENDOR).decode(errors="replace"),
        }

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # backends implement -----------------------------------------------------------------
    def _make_current(self) -> None:
        raise NotImplementedError

    def _release_current(self) -> None:
        raise NotImplementedError

    def _destroy(self) -> None:
        raise NotImplementedError

    def _check_open(self):
        if self._closed:
            raise UsageError(f"the {self.kind} GL context is closed", "open a new one with open_context()")

    def _check_version(self):
        from OpenGL import GL

        major = int(GL.glGetIntegerv(GL.GL_MAJOR_VERSION))
        minor = int(GL.glGetIntegerv(GL.GL_MINOR_VERSION))
        if (major, minor) < MIN_GL:
            ver = GL.glGetString(GL.GL_VERSION)
            self.close()
            raise RuntimeUnavailable(
                f"the {self.kind} context is OpenGL {major}.{minor} ({ver!r}); OpenGL 3.3 core is needed",
                "update the GPU driver or Mesa (apt-get install libgl1-mesa-dri)")


# ------------------------------------------------------------------------------- EGL
_egl_lib = None
_egl_displays: dict[int, int] = {}  # display handle → open contexts (terminate at zero)
_egl_lock = threading.Lock()


def _egl():
    global _egl_lib
    if _egl_lib is None:
        try:
            _egl_lib = EglLibrary()
        except OSError as e:
            raise RuntimeUnavailable(f"libEGL.so.1 cannot be loaded ({e})", FIX_EGL) from None
    return _egl_lib


class EglContext(GLContext):
    """A surfaceless EGL context: render into FBOs only, nothing is shown.

    Displays tried in order: Mesa's surfaceless platform, the first EGL device (NVIDIA
    headless), then ``eglGetDisplay(EGL_DEFAULT_DISPLAY)`` (honours ``EGL_PLATFORM``).
    ``egl_display``, ``egl_config`` and ``egl_context`` are the raw handles (ints), e.g. for an
    OpenXR EGL graphics binding; ``get_proc_address`` is ``eglGetProcAddress``.
    """

    kind = "egl"

    def __init__(self, width: int = 640, height: int = 360):
        super().__init__(width, height)
        lib = _egl()
        self._lib = lib
        self.egl_display = self.egl_config = self.egl_context = None
        self.platform = ""
        tried = []
        exts = lib.client_extensions()
        candidates = []
        if "EGL_MESA_platform_surfaceless" in exts:
            candidates.append(("surfaceless", lambda: lib.get_platform_display(E.EGL_PLATFORM_SURFACELESS_MESA, None)))
        if "EGL_EXT_platform_device" in exts:
            candidates.append(("device", lambda: (lambda d: d and lib.get_platform_display(E.EGL_PLATFORM_DEVICE_EXT, d))(
                lib.first_device())))
        candidates.append(("default", lambda: lib.eglGetDisplay(None)))
        for name, get in candidates:
            dpy = get()
            if not dpy:
                tried.append(f"{name}: no display ({lib.error_name()})")
                continue
            major, minor = ctypes.c_int(), ctypes.c_int()
            if not lib.eglInitialize(dpy, ctypes.byref(major), ctypes.byref(minor)):
                tried.append(f"{name}: eglInitialize failed ({lib.error_name()})")
                continue
            self.egl_display, self.platform = dpy, name
            break
        if self.egl_display is None:
            self._closed = True
            raise RuntimeUnavailable("no EGL display could be initialised: " + "; ".join(tried), FIX_EGL)
        with _egl_lock:
            _egl_displays[self.egl_display] = _egl_displays.get(self.egl_display, 0) + 1
        try:
            self._create(E)
        except BaseException:
            self._destroy()
            self._closed = True
            raise
        self.make_current()
        self._check_version()

    def _create(self, E):
        lib = self._lib
        if not lib.eglBindAPI(E.EGL_OPENGL_API):
            raise RuntimeUnavailable(f"this EGL ({self.platform}) has no desktop OpenGL ({lib.error_name()})", FIX_EGL)
        attrs = E.int_list(E.EGL_SURFACE_TYPE, E.EGL_PBUFFER_BIT, E.EGL_RENDERABLE_TYPE, E.EGL_OPENGL_BIT,
                           E.EGL_RED_SIZE, 8, E.EGL_GREEN_SIZE, 8, E.EGL_BLUE_SIZE, 8, E.EGL_ALPHA_SIZE, 8)
        cfg, n = ctypes.c_void_p(), ctypes.c_int(0)
        if lib.eglChooseConfig(self.egl_display, attrs, ctypes.byref(cfg), 1, ctypes.byref(n)) and n.value > 0:
            self.egl_config = cfg.value
        # else: configless (EGL_KHR_no_config_context); fine for FBO-only rendering
        ctx_attrs = E.int_list(E.EGL_CONTEXT_MAJOR_VERSION, MIN_GL[0], E.EGL_CONTEXT_MINOR_VERSION, MIN_GL[1],
                               E.EGL_CONTEXT_OPENGL_PROFILE_MASK, E.EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT)
        ctx = lib.eglCreateContext(self.egl_display, self.egl_config, None, ctx_attrs)
        if not ctx:
            raise RuntimeUnavailable(
                f"eglCreateContext (OpenGL 3.3 core, {self.platform} display) failed ({lib.error_name()})", FIX_EGL)
        self.egl_context = ctx

    def get_proc_address(self, name: bytes) -> int:
        return self._lib.eglGetProcAddress(name) or 0

    def _make_current(self):
        if not self._lib.eglMakeCurrent(self.egl_display, None, None, self.egl_context):
            raise RuntimeUnavailable(f"eglMakeCurrent failed ({self._lib.error_name()})",
                                     "the context may be current on another thread; use one thread per context")

    def _release_current(self):
        self._lib.eglMakeCurrent(self.egl_display, None, None, None)

    def _destroy(self):
        lib, dpy = self._lib, self.egl_display
        if dpy is None:
            return
        if self.egl_context:
            lib.eglDestroyContext(dpy, self.egl_context)
            self.egl_context = None
        with _egl_lock:
            left = _egl_displays.get(dpy, 1) - 1
            if left <= 0:
                _egl_displays.pop(dpy, None)
                lib.eglTerminate(dpy)
            else:
                _egl_displays[dpy] = left
        self.egl_display = None


# ------------------------------------------------------------------------------- glfw
_glfw_users = 0
_glfw_lock = threading.Lock()


class _GlfwErrors:
    """Collects glfw error messages while active (instead of warnings), restores the old callback."""

    def __enter__(self):
        import glfw

        self.messages: list[str] = []
        self._glfw = glfw
        self._prev = glfw.set_error_callback(self._on_error)
        return self

    def _on_error(self, code, description):
        text = description.decode(errors="replace") if isinstance(description, bytes) else str(description)
        self.messages.append(f"{text} ({code:#x})")

    def __exit__(self, *exc):
        self._glfw.set_error_callback(self._prev)

    def text(self) -> str:
        return "; ".join(self.messages) or "no message from glfw"


def _glfw_acquire() -> None:
    """glfw.init() once per process (reference counted); RuntimeUnavailable when no display."""
    global _glfw_users
    import glfw

    with _glfw_lock:
        if _glfw_users == 0:
            with _GlfwErrors() as errs:
                ok = glfw.init()
            if not ok:
                shown = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or "none"
                raise RuntimeUnavailable(f"no usable display for a window (DISPLAY={shown}): {errs.text()}",
                                         FIX_DISPLAY)
        _glfw_users += 1


def _glfw_release() -> None:
    global _glfw_users
    import glfw

    with _glfw_lock:
        _glfw_users -= 1
        if _glfw_users == 0:
            glfw.terminate()


class GlfwContext(GLContext):
    """A glfw window with its GL context (GLX under X11): hidden (``glfw-hidden``) or shown
    (``glfw-window``, the mirror). Main thread only."""

    def __init__(self, width: int = 640, height: int = 360, title: str = "Art'Em VR", visible: bool = False):
        super().__init__(width, height)
        import glfw

        self.kind = "glfw-window" if visible else "glfw-hidden"
        self._glfw = glfw
        _glfw_acquire()
        try:
            glfw.default_window_hints()
            glfw.window_hint(glfw.VISIBLE, bool(visible))
            glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, MIN_GL[0])
            glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, MIN_GL[1])
            glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
            glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
            glfw.window_hint(glfw.DOUBLEBUFFER, True)
            cur = _current()
            if cur is not None:
                # glfw makes the new context current while creating it; with an EGL context
                # current, libglvnd's glXMakeCurrent fails with BadAccess and Xlib exits the process.
                cur.release_current()
            with _GlfwErrors() as errs:
                win = glfw.create_window(int(width), int(height), title, None, None)
            if not win:
                raise RuntimeUnavailable(f"glfw could not open an OpenGL 3.3 core window: {errs.text()}",
                                         "install Mesa GL (apt-get install libgl1-mesa-dri libglx-mesa0) or the "
                                         "GPU driver; check that the X server has GLX (glxinfo -B)")
        except BaseException:
            _glfw_release()
            self._closed = True
            raise
        self.window = win
        self.make_current()
        glfw.swap_interval(1 if visible else 0)
        self._check_version()

    def _make_current(self):
        self._glfw.make_context_current(self.window)

    def _release_current(self):
        self._glfw.make_context_current(None)

    def swap_buffers(self):
        self._glfw.swap_buffers(self.window)

    def framebuffer_size(self) -> tuple[int, int]:
        w, h = self._glfw.get_framebuffer_size(self.window)
        return int(w), int(h)

    def should_close(self) -> bool:
        return bool(self._glfw.window_should_close(self.window))

    def _destroy(self):
        if self.window is not None:
            self._glfw.destroy_window(self.window)
            self.window = None
            _glfw_release()


# ------------------------------------------------------------------------------- choosing
def _display_named() -> bool:
    """A desktop to open a window on: DISPLAY / WAYLAND_DISPLAY on Linux; Windows and macOS always have one."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def display_available() -> bool:
    """True when glfw can connect to the display named by DISPLAY / WAYLAND_DISPLAY."""
    if not _display_named():
        return False
    try:
        _glfw_acquire()
    except RuntimeUnavailable:
        return False
    _glfw_release()
    return True


def open_context(kind: str = "auto", width: int = 640, height: int = 360, title: str = "Art'Em VR") -> GLContext:
    """Open and make current a GL >= 3.3 core context.

    ``kind``: "egl" (surfaceless, no display needed), "glfw-hidden" (an invisible window),
    "glfw-window" (a visible window), or "auto": glfw-hidden when a display works, else EGL.
    Raises RuntimeUnavailable (saying what to install or set) when none can be made, and
    UsageError for an unknown kind.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown GL context kind {kind!r}", f"choose one of: {', '.join(KINDS)}")
    if kind == "egl":
        return EglContext(width, height)
    if kind in ("glfw-hidden", "glfw-window"):
        return GlfwContext(width, height, title, visible=kind == "glfw-window")
    reasons = []
    if _display_named():
        try:
            return GlfwContext(width, height, title, visible=False)
        except RuntimeUnavailable as e:
            reasons.append(f"hidden window: {e.what}")
    try:
        return EglContext(width, height)
    except RuntimeUnavailable as e:
        reasons.append(f"EGL: {e.what}")
        raise RuntimeUnavailable("no OpenGL context could be made (" + "; ".join(reasons) + ")",
                                 f"{FIX_EGL}; or {FIX_DISPLAY}") from None


# ------------------------------------------------------------------------------- doctor
def doctor_checks() -> list[Check]:
    """Display, EGL, GL version and renderer — each with what to do when missing."""
    checks: list[Check] = []
    shown = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if not shown:
        checks.append(Check("display", None, "no DISPLAY: no mirror window; headless output uses EGL",
                            FIX_DISPLAY))
    else:
        ok = display_available()
        checks.append(Check("display", ok, f"{shown} {'answers' if ok else 'does not answer'}",
                            "" if ok else FIX_DISPLAY))
    try:
        with EglContext(16, 16) as ctx:
            info = ctx.info()
            checks.append(Check("EGL", True, f"{ctx.platform} display, OpenGL {info['version']}"))
    except RuntimeUnavailable as e:
        checks.append(Check("EGL", False, e.what, e.fix or FIX_EGL))
    try:
        with open_context("auto", 16, 16) as ctx:
            info = ctx.info()
        checks.append(Check("GL version", True, f"{info['version']} ({ctx.kind}); 3.3 core needed"))
        soft = "llvmpipe" in info["renderer"] or "softpipe" in info["renderer"]
        checks.append(Check("GL renderer", None, info["renderer"] + (" (software: slow at large eye sizes)"
                                                                      if soft else ""),
                            "for speed use a GPU driver" if soft else ""))
    except RuntimeUnavailable as e:
        checks.append(Check("GL version", False, e.what, e.fix or FIX_EGL))
    return checks
