"""GL contexts: EGL surfaceless without a display, glfw hidden/visible under a private Xvfb."""

import numpy as np
import pytest
from OpenGL import GL

from artem_vr.errors import RuntimeUnavailable, UsageError
from artem_vr.render.context import doctor_checks, display_available, open_context


def _clear_and_read(rgb):
    """Clear an FBO of the current context to rgb (0–255) and read a pixel back: the context draws."""
    tex = GL.glGenTextures(1)
    fbo = GL.glGenFramebuffers(1)
    try:
        GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
        GL.glTexStorage2D(GL.GL_TEXTURE_2D, 1, GL.GL_RGBA8, 8, 8)  # GL 4.2 / ARB: extension-gated in PyOpenGL
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tex, 0)
        GL.glClearColor(*(c / 255 for c in rgb), 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT)
        px = np.frombuffer(GL.glReadPixels(0, 0, 1, 1, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE), np.uint8)
        return tuple(int(v) for v in px[:3])
    finally:
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        GL.glDeleteFramebuffers(1, [fbo])
        GL.glDeleteTextures([tex])


def _gl_version():
    return int(GL.glGetIntegerv(GL.GL_MAJOR_VERSION)), int(GL.glGetIntegerv(GL.GL_MINOR_VERSION))


def test_egl_surfaceless_without_display(egl_context):
    assert egl_context.kind == "egl" and egl_context.window is None
    assert _gl_version() >= (3, 3)
    info = egl_context.info()
    assert info["renderer"] and info["version"]
    assert _clear_and_read((200, 100, 50)) == (200, 100, 50)
    egl_context.swap_buffers()  # nothing to present: a no-op, not an error


def test_glfw_hidden_under_xvfb(glfw_context):
    import glfw

    assert glfw_context.kind == "glfw-hidden" and glfw_context.window is not None
    assert not glfw.get_window_attrib(glfw_context.window, glfw.VISIBLE)
    assert _gl_version() >= (3, 3)
    assert _clear_and_read((10, 220, 130)) == (10, 220, 130)


def test_glfw_window_is_visible(display):
    import glfw

    with open_context("glfw-window", 96, 48, title="t") as ctx:
        assert ctx.kind == "glfw-window"
        assert glfw.get_window_attrib(ctx.window, glfw.VISIBLE)
        assert ctx.framebuffer_size() == (96, 48)
        ctx.swap_buffers()


def test_auto_prefers_a_hidden_window_when_a_display_works(display):
    assert display_available()
    with open_context("auto", 32, 32) as ctx:
        assert ctx.kind == "glfw-hidden"


def test_auto_uses_egl_without_display(no_display):
    assert not display_available()
    with open_context("auto", 32, 32) as ctx:
        assert ctx.kind == "egl"


def test_auto_falls_back_to_egl_when_the_display_is_dead(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":239")  # nothing listens there
    assert not display_available()
    with open_context("auto", 32, 32) as ctx:
        assert ctx.kind == "egl"


def test_window_without_display_says_what_to_do(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":239")
    with pytest.raises(RuntimeUnavailable) as e:
        open_context("glfw-hidden")
    assert ":239" in e.value.what and "xvfb" in e.value.fix.lower()


def test_unknown_kind_is_a_usage_error():
    with pytest.raises(UsageError, match="glx"):
        open_context("glx")


def test_egl_and_glx_contexts_in_one_process(display):
    """Both backends, alternately, in one process (PyOpenGL chose one platform at import):
    each makes its own context current and GL — including extension-gated entry points — works."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (90, 90, 90)]
    kinds = ["egl", "glfw-hidden", "egl", "glfw-hidden"]
    with open_context("egl", 16, 16) as a, open_context("glfw-hidden", 16, 16) as b:
        for kind, rgb in zip(kinds, colours):
            ctx = a if kind == "egl" else b
            ctx.make_current()
            assert _clear_and_read(rgb) == rgb, kind


def test_closed_context_refuses_use(no_display):
    ctx = open_context("egl", 16, 16)
    ctx.close()
    ctx.close()  # idempotent
    assert ctx.closed
    with pytest.raises(UsageError):
        ctx.make_current()


def test_doctor_checks_report_display_egl_and_gl(no_display):
    checks = {c.name: c for c in doctor_checks()}
    assert set(checks) >= {"display", "EGL", "GL version", "GL renderer"}
    assert checks["display"].ok is None and "xvfb" in checks["display"].fix.lower()
    assert checks["EGL"].ok is True and "OpenGL" in checks["EGL"].detail
    assert checks["GL version"].ok is True and checks["GL renderer"].detail


def test_doctor_with_a_display(display):
    checks = {c.name: c for c in doctor_checks()}
    assert checks["display"].ok is True and display in checks["display"].detail
