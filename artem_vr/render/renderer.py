"""Draws the stylized eye images into eye targets (own textures, XR swapchain images, or FBOs).

Needs a current OpenGL >= 3.3 core context (:func:`artem_vr.render.context.open_context`).
The geometry (virtual screen / full view) is in :mod:`artem_vr.render.geometry`, whose
:func:`expected_eye_image` is the CPU reference the tests compare pixels with.

Colour: eye images are sRGB-encoded uint8 RGB. They are uploaded into ``GL_SRGB8`` textures
(sampling gives linear light) and written either encoded by the shader (``srgb_target=False``)
or linear with ``GL_FRAMEBUFFER_SRGB`` on (``srgb_target=True``, for sRGB swapchain formats).
Either way the stored bytes are the source's sRGB values, so the displayed colour equals the
source colour.

Per frame nothing is allocated: uploads of an unchanged size use ``glTexSubImage2D``, caller
textures are attached to one internal FBO, and shaders are compiled once. (No PBO: with
PyOpenGL the upload is one synchronous copy of a contiguous array either way.)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from OpenGL import GL

from artem_vr.errors import RuntimeUnavailable, UsageError
from artem_vr.frames import check_rgb8
from artem_vr.paths import shader_path
from artem_vr.render.geometry import (  # noqa: F401  (re-exported: the render contract names them here)
    BACKGROUND_RGB8,
    ViewConfig,
    check_fov,
    cover_uv_rect,
    default_fov,
    expected_eye_image,
    image_plane,
    projection_fov,
    screen_half_size,
    srgb_to_linear,
    translation,
)

_IDENTITY = np.eye(4, dtype=np.float32)


def _compile_program(vert_name: str, frag_name: str) -> int:
    """Compile and link a program from shaders/; raises RuntimeUnavailable with the driver's log."""
    shaders = []
    try:
        for name, kind in ((vert_name, GL.GL_VERTEX_SHADER), (frag_name, GL.GL_FRAGMENT_SHADER)):
            sh = GL.glCreateShader(kind)
            shaders.append(sh)
            GL.glShaderSource(sh, shader_path(name).read_text())
            GL.glCompileShader(sh)
            if not GL.glGetShaderiv(sh, GL.GL_COMPILE_STATUS):
                log = GL.glGetShaderInfoLog(sh)
                raise RuntimeUnavailable(f"shader {name} does not compile: {log!r}",
                                         "the GL driver needs GLSL 3.30; update it (or Mesa)")
        prog = GL.glCreateProgram()
        for sh in shaders:
            GL.glAttachShader(prog, sh)
        GL.glLinkProgram(prog)
        if not GL.glGetProgramiv(prog, GL.GL_LINK_STATUS):
            log = GL.glGetProgramInfoLog(prog)
            GL.glDeleteProgram(prog)
            raise RuntimeUnavailable(f"shaders {vert_name}+{frag_name} do not link: {log!r}",
                                     "update the GL driver (or Mesa)")
        for sh in shaders:
            GL.glDetachShader(prog, sh)
        return prog
    finally:
        for sh in shaders:
            GL.glDeleteShader(sh)


class _Texture:
    """An sRGB source texture; reallocated only when the image size changes."""

    def __init__(self):
        self.name = int(GL.glGenTextures(1))
        self.size: tuple[int, int] | None = None
        self.fmt = ""  # "rgb" (host uploads) or "rgba" (written through a PBO by a texture uploader)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.name)
        for p, v in ((GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR), (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
                     (GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE), (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE),
                     (GL.GL_TEXTURE_BASE_LEVEL, 0), (GL.GL_TEXTURE_MAX_LEVEL, 0)):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, p, v)

    def upload(self, image: np.ndarray, stats: dict) -> None:
        h, w = image.shape[:2]
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.name)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glPixelStorei(GL.GL_UNPACK_ROW_LENGTH, 0)
        if self.size == (w, h) and self.fmt == "rgb":
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, image)
            stats["tex_sub_image"] += 1
        else:
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_SRGB8, w, h, 0, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, image)
            stats["tex_image"] += 1
            self.size, self.fmt = (w, h), "rgb"

    def allocate_rgba(self, w: int, h: int, stats: dict) -> None:
        """Storage for RGBA8 bytes written by a texture uploader (sRGB-encoded, like every image)."""
        if self.size == (w, h) and self.fmt == "rgba":
            return
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.name)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_SRGB8_ALPHA8, w, h, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None)
        stats["tex_image"] += 1
        self.size, self.fmt = (w, h), "rgba"


class _Target:
    """The renderer's own RGBA8 colour target for one eye (texture + FBO)."""

    def __init__(self, width: int, height: int):
        self.texture = int(GL.glGenTextures(1))
        self.fbo = int(GL.glGenFramebuffers(1))
        self.size = (0, 0)
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, width, height, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None)
        for p, v in ((GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR), (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
                     (GL.GL_TEXTURE_MAX_LEVEL, 0)):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, p, v)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, self.texture, 0)
        _check_complete(f"eye target {width}x{height}")
        self.size = (width, height)


def _check_complete(what: str) -> None:
    status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
    if status != GL.GL_FRAMEBUFFER_COMPLETE:
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        raise UsageError(f"{what}: framebuffer incomplete (status {int(status):#x})",
                         "render into a GL_TEXTURE_2D with a colour-renderable format (RGBA8, SRGB8_ALPHA8)")


class _Overlay:
    """The overlay's program (eye.vert + hud.frag) and RGBA texture (mipmapped)."""

    def __init__(self):
        self.program = _compile_program("eye.vert", "hud.frag")
        self.uniforms = {n: GL.glGetUniformLocation(self.program, n)
                         for n in ("u_mvp", "u_rect", "u_uv", "u_z", "u_image", "u_encode_srgb")}
        self.texture = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        for p, v in ((GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR_MIPMAP_LINEAR), (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
                     (GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE), (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, p, v)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        self.size: tuple[int, int] | None = None
        self.rect = (0.0, 0.0, 0.0, 0.0)
        self.distance = 1.0


class EyeRenderer:
    """Uploads 1 (mono) or 2 (left, right) eye images and draws each eye.

    Create, use and close with the same GL context current. ``close()`` (or ``with``) deletes
    every GL object it made. ``stats`` counts uploads (``tex_image``: (re)allocations,
    ``tex_sub_image``: in-place updates) and draws.
    """

    def __init__(self, view: ViewConfig = ViewConfig()):
        if not isinstance(view, ViewConfig):
            raise UsageError(f"view must be a ViewConfig, got {type(view).__name__}")
        if not GL.glGetString(GL.GL_VERSION):
            raise RuntimeUnavailable("EyeRenderer needs a current OpenGL context and none is current",
                                     "open one first: artem_vr.render.context.open_context()")
        self.view = view
        self.stats = {"tex_image": 0, "tex_sub_image": 0, "draws": 0}
        self._program = _compile_program("eye.vert", "eye.frag")
        loc = lambda n: GL.glGetUniformLocation(self._program, n)  # noqa: E731
        self._u = {n: loc(n) for n in ("u_mvp", "u_rect", "u_uv", "u_z", "u_image", "u_encode_srgb")}
        self._vao = int(GL.glGenVertexArrays(1))
        self._fbo = int(GL.glGenFramebuffers(1))  # caller-owned target textures are attached here
        self._complete: set[int] = set()
        self._sources: list[_Texture] = []
        self._n_eyes = 0
        self._targets: dict[int, _Target] = {}
        self._hud: _Overlay | None = None  # made on the first set_overlay
        self._overlay_on = False
        self._closed = False

    # ---------------------------------------------------------------------------- upload
    def upload(self, eyes: Sequence[np.ndarray]) -> None:
        """eyes: 1 (mono: both eyes see it) or 2 (left, right) uint8 (H, W, 3) RGB arrays."""
        self._check_open()
        if isinstance(eyes, np.ndarray) or not 1 <= len(eyes) <= 2:
            got = f"an array of shape {eyes.shape}" if isinstance(eyes, np.ndarray) else f"{len(eyes)} images"
            raise UsageError(f"upload takes a list of 1 or 2 eye images, got {got}", "pass [image] or [left, right]")
        checked = [check_rgb8(e, f"eye image {i}") for i, e in enumerate(eyes)]
        while len(self._sources) < len(checked):
            self._sources.append(_Texture())
        for tex, img in zip(self._sources, checked):
            tex.upload(img, self.stats)
        self._n_eyes = len(checked)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)

    def source_textures(self, n: int, width: int, height: int) -> list[int]:
        """Make the ``n`` (1 mono, 2 stereo) source textures ``width`` × ``height`` RGBA8 sRGB and
        return their names, for a :class:`~artem_vr.cuda.interop.TextureUploader` to write the
        eye images into (on the GPU, no host copy). They are what :meth:`render_eye` draws next."""
        self._check_open()
        if not 1 <= n <= 2 or width < 1 or height < 1:
            raise UsageError(f"source_textures takes 1 or 2 eyes of at least 1x1, got {n} x {width}x{height}")
        while len(self._sources) < n:
            self._sources.append(_Texture())
        for tex in self._sources[:n]:
            tex.allocate_rgba(width, height, self.stats)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        self._n_eyes = n
        return [t.name for t in self._sources[:n]]

    def source_size(self, eye: int) -> tuple[int, int]:
        """(width, height) of the image eye ``eye`` shows."""
        if not self._n_eyes:
            raise UsageError("no eye image uploaded yet", "call upload([image]) or upload([left, right]) first")
        return self._sources[min(eye, self._n_eyes - 1)].size

    # ---------------------------------------------------------------------------- draw
    def render_eye(self, eye: int, width: int, height: int, *, target_texture: int | None = None,
                   fbo: int | None = None, fov: Sequence[float] | None = None,
                   eye_offset: Sequence[float] = (0.0, 0.0, 0.0), srgb_target: bool = False,
                   to_eye: np.ndarray | None = None, overlay: bool = True) -> None:
        """Draw eye ``eye`` (0 left, 1 right) at width × height.

        Into ``target_texture`` (a GL_TEXTURE_2D the caller owns, e.g. an OpenXR swapchain
        image), or framebuffer ``fbo``, or (both None) this renderer's own target for that eye
        (see :meth:`read_eye`, :meth:`eye_target`). ``fov``: (angleLeft, angleRight, angleUp,
        angleDown) in radians; None: symmetric ``view.default_fov_deg``. ``eye_offset``: the
        eye's position in head space (m). ``srgb_target``: the target has an sRGB format.
        ``to_eye``: the screen → eye transform (4×4, :func:`~artem_vr.render.geometry.screen_to_eye`)
        of a world-locked screen; replaces ``eye_offset`` (which places a head-locked one).
        ``overlay``: draw the overlay (the HUD, :meth:`set_overlay`) over the eye, head-locked.
        Leaves framebuffer 0 bound.
        """
        self._check_open()
        if eye not in (0, 1):
            raise UsageError(f"eye must be 0 (left) or 1 (right), got {eye!r}")
        width, height = int(width), int(height)
        if width < 1 or height < 1:
            raise UsageError(f"eye size {width}x{height} must be at least 1x1")
        if target_texture is not None and fbo is not None:
            raise UsageError("render_eye takes target_texture or fbo, not both")
        iw, ih = self.source_size(eye)
        src = self._sources[min(eye, self._n_eyes - 1)]
        if len(eye_offset) != 3:
            raise UsageError(f"eye_offset must be (x, y, z) in metres, got {eye_offset!r}")
        if self.view.mode == "full":
            mvp = _IDENTITY
            rect = (-1.0, -1.0, 1.0, 1.0)
            z = 0.0
            u0, v0, u1, v1 = cover_uv_rect(width, height, iw, ih)
        else:
            f = check_fov(fov) if fov is not None else default_fov(self.view, width, height)
            if to_eye is not None:
                to_eye = np.asarray(to_eye, dtype=np.float32)
                if to_eye.shape != (4, 4):
                    raise UsageError(f"to_eye must be a 4x4 transform, got shape {to_eye.shape}")
                mvp = projection_fov(f) @ to_eye
            else:
                mvp = projection_fov(f) @ translation([-float(c) for c in eye_offset])
            x0, y0, x1, y1, z = image_plane(self.view, iw, ih)
            rect = (x0, y0, x1, y1)
            u0, v0, u1, v1 = 0.0, 0.0, 1.0, 1.0
        # everything above validated before anything is bound or allocated

        if target_texture is not None:
            # attached every call (cheap, no allocation): a caller may delete a texture and get
            # its name back for a new one, e.g. when an XR swapchain is recreated
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fbo)
            GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D,
                                      int(target_texture), 0)
            if int(target_texture) not in self._complete:
                _check_complete(f"target texture {target_texture}")
                self._complete.add(int(target_texture))
        elif fbo is not None:
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, int(fbo))
        else:
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._own_target(eye, width, height).fbo)

        was_srgb = GL.glIsEnabled(GL.GL_FRAMEBUFFER_SRGB)
        try:
            (GL.glEnable if srgb_target else GL.glDisable)(GL.GL_FRAMEBUFFER_SRGB)
            for cap in (GL.GL_DEPTH_TEST, GL.GL_BLEND, GL.GL_SCISSOR_TEST, GL.GL_CULL_FACE, GL.GL_STENCIL_TEST):
                GL.glDisable(cap)
            GL.glColorMask(True, True, True, True)
            GL.glViewport(0, 0, width, height)
            bg = np.asarray(BACKGROUND_RGB8, dtype=np.float64) / 255.0
            if srgb_target:
                bg = srgb_to_linear(bg)  # cleared colours are encoded on write too
            GL.glClearColor(float(bg[0]), float(bg[1]), float(bg[2]), 1.0)
            GL.glClear(GL.GL_COLOR_BUFFER_BIT)

            # bottom-left corner shows (u0, v1), top-right (u1, v0): v grows downwards in the image
            self._quad(self._program, self._u, mvp, rect, (u0, v1, u1, v0), z, srgb_target, src.name)
            if overlay and self._overlay is not None:
                o = self._overlay
                f = check_fov(fov) if fov is not None else default_fov(self.view, width, height)
                hud_mvp = projection_fov(f) @ translation([-float(c) for c in eye_offset])  # head-locked
                GL.glEnable(GL.GL_BLEND)
                GL.glBlendFuncSeparate(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA, GL.GL_ONE, GL.GL_ONE_MINUS_SRC_ALPHA)
                self._quad(o.program, o.uniforms, hud_mvp, o.rect, (0.0, 1.0, 1.0, 0.0), -o.distance, srgb_target,
                           o.texture)
                GL.glDisable(GL.GL_BLEND)
        finally:
            GL.glBindVertexArray(0)
            GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
            GL.glUseProgram(0)
            (GL.glEnable if was_srgb else GL.glDisable)(GL.GL_FRAMEBUFFER_SRGB)
            if target_texture is not None:  # do not keep the caller's texture alive in our FBO
                GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, 0, 0)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    def _quad(self, program, uniforms, mvp, rect, uv, z, srgb_target, texture) -> None:
        GL.glUseProgram(program)
        GL.glUniformMatrix4fv(uniforms["u_mvp"], 1, GL.GL_TRUE, np.ascontiguousarray(mvp, dtype=np.float32))
        GL.glUniform4f(uniforms["u_rect"], *rect)
        GL.glUniform4f(uniforms["u_uv"], *uv)
        GL.glUniform1f(uniforms["u_z"], z)
        GL.glUniform1i(uniforms["u_image"], 0)
        GL.glUniform1i(uniforms["u_encode_srgb"], 0 if srgb_target else 1)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, texture)
        GL.glBindVertexArray(self._vao)
        GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
        self.stats["draws"] += 1

    # ---------------------------------------------------------------------------- overlay
    def set_overlay(self, image: np.ndarray | None, *, width_m: float = 0.9, distance: float = 1.2,
                    y: float = -0.28) -> None:
        """A head-locked overlay (the HUD) drawn over every eye from now on: ``image`` uint8
        (H, W, 4) sRGB RGBA with straight alpha, on a quad ``width_m`` wide (its height from the
        image's aspect) centred ``y`` metres up at ``distance`` in front of the head. None hides it.
        Uploads (and mipmaps) the image; call only when it changed."""
        self._check_open()
        if image is None:
            self._overlay_on = False
            return
        img = np.ascontiguousarray(image)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 4:
            raise UsageError(f"overlay must be uint8 (H, W, 4) RGBA, got {img.dtype} {img.shape}")
        if not (width_m > 0 and distance > 0):
            raise UsageError(f"overlay width {width_m} m and distance {distance} m must be positive")
        if self._hud is None:
            self._hud = _Overlay()
        o = self._hud
        h, w = img.shape[:2]
        GL.glBindTexture(GL.GL_TEXTURE_2D, o.texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        if o.size == (w, h):
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, img)
        else:
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_SRGB8_ALPHA8, w, h, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, img)
            o.size = (w, h)
        GL.glGenerateMipmap(GL.GL_TEXTURE_2D)  # the text is minified on small eyes
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        hw, hh = width_m / 2, width_m * h / w / 2
        o.rect, o.distance = (-hw, y - hh, hw, y + hh), float(distance)
        self._overlay_on = True

    @property
    def _overlay(self):
        return self._hud if self._overlay_on else None

    def _own_target(self, eye: int, width: int, height: int) -> _Target:
        t = self._targets.get(eye)
        if t is None:
            t = self._targets[eye] = _Target(width, height)
        elif t.size != (width, height):
            t.resize(width, height)
        return t

    def eye_target(self, eye: int) -> tuple[int, int, tuple[int, int]]:
        """(texture, fbo, (width, height)) of this renderer's own target for ``eye``."""
        t = self._targets.get(eye)
        if t is None:
            raise UsageError(f"eye {eye} has not been rendered into the renderer's own target",
                             "call render_eye(eye, w, h) without target_texture/fbo first")
        return t.texture, t.fbo, t.size

    def blit_eye(self, eye: int, dst_fbo: int, dst_rect: tuple[int, int, int, int]) -> None:
        """Copy eye ``eye``'s own target into ``dst_fbo`` at (x0, y0, x1, y1) (GL window coordinates,
        bottom-left origin), linear filtering when the sizes differ."""
        tex, src_fbo, (w, h) = self.eye_target(eye)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, src_fbo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, int(dst_fbo))
        x0, y0, x1, y1 = (int(v) for v in dst_rect)
        filt = GL.GL_NEAREST if (x1 - x0, y1 - y0) == (w, h) else GL.GL_LINEAR
        GL.glBlitFramebuffer(0, 0, w, h, x0, y0, x1, y1, GL.GL_COLOR_BUFFER_BIT, filt)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    # ---------------------------------------------------------------------------- read back
    def read_eye(self, eye: int, width: int, height: int) -> np.ndarray:
        """The own target of ``eye`` as uint8 (height, width, 3) RGB, top row first."""
        self._check_open()
        tex, fbo, size = self.eye_target(eye)
        if size != (int(width), int(height)):
            raise UsageError(f"eye {eye} was rendered at {size[0]}x{size[1]}, not {width}x{height}",
                             "read back at the size it was rendered")
        return read_framebuffer(fbo, size[0], size[1])

    # ---------------------------------------------------------------------------- teardown
    def gl_objects(self) -> dict[str, list[int]]:
        """Every GL object this renderer owns, by type (names), e.g. to check none leaks."""
        hud = [self._hud] if self._hud is not None and not self._closed else []
        return {
            "programs": ([self._program] if not self._closed else []) + [o.program for o in hud],
            "vertex_arrays": [self._vao] if not self._closed else [],
            "framebuffers": ([self._fbo] + [t.fbo for t in self._targets.values()]) if not self._closed else [],
            "textures": [s.name for s in self._sources] + [t.texture for t in self._targets.values()]
                        + [o.texture for o in hud],
        }

    def close(self) -> None:
        """Delete every GL object (the same context must be current)."""
        if self._closed:
            return
        fbos = [self._fbo] + [t.fbo for t in self._targets.values()]
        texs = [s.name for s in self._sources] + [t.texture for t in self._targets.values()]
        if self._hud is not None:
            texs.append(self._hud.texture)
            GL.glDeleteProgram(self._hud.program)
            self._hud = None
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        GL.glDeleteFramebuffers(len(fbos), fbos)
        if texs:
            GL.glDeleteTextures(texs)
        GL.glDeleteVertexArrays(1, [self._vao])
        GL.glDeleteProgram(self._program)
        self._sources.clear()
        self._targets.clear()
        self._closed = True

    def _check_open(self):
        if self._closed:
            raise UsageError("this EyeRenderer is closed", "make a new one")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_framebuffer(fbo: int, width: int, height: int) -> np.ndarray:
    """Colour attachment 0 of ``fbo`` as uint8 (height, width, 3) RGB, top row first."""
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, int(fbo))
    GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0 if fbo else GL.GL_BACK)
    GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
    data = GL.glReadPixels(0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
    img = np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
    return np.ascontiguousarray(img[::-1])
