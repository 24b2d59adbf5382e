"""Rendering: GL contexts, the per-eye renderer, and the mirror / headless outputs.

**The PyOpenGL platform rule.** PyOpenGL chooses its platform (GLX, EGL, ...) once, at the
first ``import OpenGL``, from ``PYOPENGL_PLATFORM`` or else from ``DISPLAY``. Importing this
package applies one rule before anything imports OpenGL:

* ``PYOPENGL_PLATFORM`` already set, or OpenGL already imported → left alone;
* not Linux (Windows: WGL, macOS) → left alone: PyOpenGL's own choice is the only one;
* no ``DISPLAY`` and no ``WAYLAND_DISPLAY`` → ``PYOPENGL_PLATFORM=egl`` (the only context we
  can make there is EGL);
* a display → PyOpenGL's own choice (GLX under X11), which the glfw backends and pyopenxr's
  Xlib graphics binding need. (pyopenxr's ``xr/platform/linux.py`` also forces GLX at import.)

Either way every backend keeps working: the EGL backend calls libEGL directly
(:mod:`artem_vr.render._egl`), not through PyOpenGL's platform, and with libglvnd (Mesa and
current NVIDIA drivers) every GL entry point is dispatched to whichever context is current,
EGL or GLX. ``tests/render`` runs both backends in one process to keep that true.

Why at import: the variable only counts before the first ``import OpenGL``, and the modules that
import OpenGL (``render.renderer``, ``xr.gltools``) are all inside this package's reach, so
importing it is the one point that always comes first. It changes nothing when the platform is
already chosen, so it never overrides a user's setting or another library's choice.

Triton is imported where a GL context is made (:class:`artem_vr.render.context.GLContext`), not
here: see :func:`import_triton_before_gl`.
"""

import logging
import os
import sys


def apply_pyopengl_platform_rule() -> str | None:
    """Apply the rule above; returns the platform now requested (None: PyOpenGL's default)."""
    if "PYOPENGL_PLATFORM" in os.environ or "OpenGL.platform" in sys.modules or not sys.platform.startswith("linux"):
        return os.environ.get("PYOPENGL_PLATFORM")
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ["PYOPENGL_PLATFORM"] = "egl"
        return "egl"
    return None


def import_triton_before_gl() -> None:
    """Import triton (if installed) before any GL context exists.

    Mesa's llvmpipe and triton each bring an LLVM; importing triton (torchvision and torch.optim
    pull it in through torch._dynamo) after a llvmpipe context has existed crashes the process
    with a segfault (seen with Mesa 22.3.6 / torch 2.14.1). Imported first, both work. Every GL
    context in the project is made by :class:`artem_vr.render.context.GLContext`, which calls this
    before making one; importing this package does not import triton.
    """
    try:
        import triton  # noqa: F401
    except ImportError as e:  # not installed (a CPU-only torch build): nothing to order
        logging.getLogger(__name__).debug("triton not imported before GL: %s", e)


apply_pyopengl_platform_rule()
