"""The few EGL calls the EGL backend needs, straight from ``libEGL.so.1`` through ctypes.

Why not ``OpenGL.EGL``: PyOpenGL resolves EGL *extension* entry points through its
platform's ``getExtensionProcedure``; once anything has made PyOpenGL choose GLX (pyopenxr's
``xr/platform/linux.py`` forces it at import), ``eglGetPlatformDisplayEXT`` comes back from
``glXGetProcAddress`` and the display is invalid. Calling libEGL directly works whatever
platform PyOpenGL picked. GL calls made afterwards through PyOpenGL still reach the EGL
context because libglvnd dispatches every GL entry point to the thread's current context.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from ctypes import POINTER, c_char_p, c_int, c_uint, c_void_p

EGL_NONE = 0x3038
EGL_SUCCESS = 0x3000
EGL_EXTENSIONS = 0x3055
EGL_VENDOR = 0x3053
EGL_VERSION = 0x3054
EGL_SURFACE_TYPE = 0x3033
EGL_PBUFFER_BIT = 0x0001
EGL_RENDERABLE_TYPE = 0x3040
EGL_OPENGL_BIT = 0x0008
EGL_RED_SIZE, EGL_GREEN_SIZE, EGL_BLUE_SIZE, EGL_ALPHA_SIZE = 0x3024, 0x3023, 0x3022, 0x3021
EGL_OPENGL_API = 0x30A2
EGL_CONTEXT_MAJOR_VERSION = 0x3098
EGL_CONTEXT_MINOR_VERSION = 0x30FB
EGL_CONTEXT_OPENGL_PROFILE_MASK = 0x30FD
EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT = 0x1
EGL_PLATFORM_SURFACELESS_MESA = 0x31DD
EGL_PLATFORM_DEVICE_EXT = 0x313F

_ERRORS = {
    0x3001: "EGL_NOT_INITIALIZED", 0x3002: "EGL_BAD_ACCESS", 0x3003: "EGL_BAD_ALLOC",
    0x3004: "EGL_BAD_ATTRIBUTE", 0x3005: "EGL_BAD_CONFIG", 0x3006: "EGL_BAD_CONTEXT",
    0x3007: "EGL_BAD_CURRENT_SURFACE", 0x3008: "EGL_BAD_DISPLAY", 0x3009: "EGL_BAD_MATCH",
    0x300A: "EGL_BAD_NATIVE_PIXMAP", 0x300B: "EGL_BAD_NATIVE_WINDOW", 0x300C: "EGL_BAD_PARAMETER",
    0x300D: "EGL_BAD_SURFACE", 0x300E: "EGL_CONTEXT_LOST",
}


class EglLibrary:
    """Typed handles to libEGL's exported functions (and the two extension ones we use)."""

    def __init__(self):
        name = ctypes.util.find_library("EGL") or "libEGL.so.1"
        try:
            lib = ctypes.CDLL("libEGL.so.1")
        except OSError:
            lib = ctypes.CDLL(name)  # raises OSError: caller turns it into RuntimeUnavailable
        self.lib = lib
        sig = {
            "eglGetProcAddress": (c_void_p, [c_char_p]),
            "eglGetError": (c_int, []),
            "eglGetDisplay": (c_void_p, [c_void_p]),
            "eglInitialize": (c_uint, [c_void_p, POINTER(c_int), POINTER(c_int)]),
            "eglTerminate": (c_uint, [c_void_p]),
            "eglQueryString": (c_char_p, [c_void_p, c_int]),
            "eglBindAPI": (c_uint, [c_uint]),
            "eglChooseConfig": (c_uint, [c_void_p, POINTER(c_int), POINTER(c_void_p), c_int, POINTER(c_int)]),
            "eglCreateContext": (c_void_p, [c_void_p, c_void_p, c_void_p, POINTER(c_int)]),
            "eglDestroyContext": (c_uint, [c_void_p, c_void_p]),
            "eglMakeCurrent": (c_uint, [c_void_p, c_void_p, c_void_p, c_void_p]),
            "eglGetCurrentContext": (c_void_p, []),
            "eglReleaseThread": (c_uint, []),
        }
        for fname, (res, args) in sig.items():
            f = getattr(lib, fname)
            f.restype, f.argtypes = res, args
            setattr(self, fname, f)

    def error_name(self) -> str:
        code = self.eglGetError()
        return _ERRORS.get(code, hex(code)) if code != EGL_SUCCESS else "EGL_SUCCESS"

    def client_extensions(self) -> set[str]:
        s = self.eglQueryString(None, EGL_EXTENSIONS)
        self.eglGetError()  # EGL_BAD_DISPLAY when client extensions are unsupported: not an error here
        return set(s.decode().split()) if s else set()

    def proc(self, name: str, restype, *argtypes):
        """An extension entry point as a typed ctypes function, or None."""
        addr = self.eglGetProcAddress(name.encode())
        if not addr:
            return None
        return ctypes.CFUNCTYPE(restype, *argtypes)(addr)

    def get_platform_display(self, platform: int, native) -> int | None:
        f = self.proc("eglGetPlatformDisplayEXT", c_void_p, c_uint, c_void_p, POINTER(c_int))
        return f(platform, native, None) if f is not None else None

    def first_device(self) -> int | None:
        f = self.proc("eglQueryDevicesEXT", c_uint, c_int, POINTER(c_void_p), POINTER(c_int))
        if f is None:
            return None
        devs = (c_void_p * 8)()
        n = c_int(0)
        if not f(8, devs, ctypes.byref(n)) or n.value < 1:
            return None
        return devs[0]


def int_list(*values: int):
    arr = (c_int * (len(values) + 1))(*values, EGL_NONE)
    return arr
