"""Small GL helpers of the XR layer: read a swapchain texture back, and the desktop mirror blit.

Both need the session's GL context current. :class:`TextureReader` and :class:`MirrorBlit`
own one framebuffer object each and delete it in ``close()`` / on leaving ``with``.
"""

from __future__ import annotations

import contextlib

import numpy as np
from OpenGL import GL


class _ReadFramebuffer:
    """Owns one framebuffer object, deleted in ``close()`` / on leaving ``with``; inside
    ``with self._reading(texture):`` it is the read framebuffer with ``texture`` attached."""

    def __init__(self):
        self._fbo = int(GL.glGenFramebuffers(1))

    @contextlib.contextmanager
    def _reading(self, texture: int):
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo)
        GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, int(texture), 0)
        try:
            yield
        finally:
            GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, 0, 0)
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)

    def close(self) -> None:
        if self._fbo:
            GL.glDeleteFramebuffers(1, [self._fbo])
            self._fbo = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TextureReader(_ReadFramebuffer):
    """Reads a GL_TEXTURE_2D back as uint8 (H, W, 3) RGB, top row first — the stored bytes,
    with no sRGB decoding (so an sRGB swapchain image reads back as the sRGB values shown)."""

    def read(self, texture: int, width: int, height: int) -> np.ndarray:
        was_srgb = GL.glIsEnabled(GL.GL_FRAMEBUFFER_SRGB)
        GL.glDisable(GL.GL_FRAMEBUFFER_SRGB)
        with self._reading(texture):
            GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
            GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
            data = GL.glReadPixels(0, 0, int(width), int(height), GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        if was_srgb:
            GL.glEnable(GL.GL_FRAMEBUFFER_SRGB)
        img = np.frombuffer(data, dtype=np.uint8).reshape(int(height), int(width), 3)
        return np.ascontiguousarray(img[::-1])


class MirrorBlit(_ReadFramebuffer):
    """Copies each eye's swapchain image into half of a window's back buffer (left | right)."""

    def __init__(self, context):
        super().__init__()
        self.context = context

    def eye(self, eye: int, texture: int, width: int, height: int, aspect: float | None = None) -> None:
        """``aspect``: width : height the eye really sees (its FOV's, see
        :func:`~artem_vr.render.geometry.fov_aspect`; default the image's): letterboxed to it."""
        ww, wh = self.context.framebuffer_size()
        half = ww // 2
        # keep the eye's aspect ratio inside its half of the window (never stretch)
        aspect = aspect or width / height
        s = min(half / aspect, wh)
        dw, dh = int(aspect * s), int(s)
        x0 = eye * half + (half - dw) // 2
        y0 = (wh - dh) // 2
        with self._reading(texture):
            GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, 0)
            GL.glDisable(GL.GL_FRAMEBUFFER_SRGB)  # copy the stored (sRGB) bytes as they are
            GL.glBlitFramebuffer(0, 0, width, height, x0, y0, x0 + dw, y0 + dh, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR)

    def present(self) -> bool:
        """Show the mirror (never waits for vsync); False when the user closed the window."""
        import glfw

        self.context.swap_buffers()
        glfw.poll_events()
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        GL.glClearColor(0.0, 0.0, 0.0, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT)
        return not glfw.window_should_close(self.context.window)
