"""Stylized frame → the renderer's source textures: CUDA–GL interop or a host upload, chosen once.

Every output (headless, mirror, XR) owns one :class:`FrameUpload` beside its
:class:`~artem_vr.render.renderer.EyeRenderer`, created with the output's GL context current:

* ``cuda-gl interop`` — the stylizer runs on CUDA and the GL context can share buffers with it
  (an NVIDIA GL driver): the stylized tensor stays on the GPU; per eye a
  :class:`~artem_vr.cuda.interop.CudaGLUploader` (a PBO registered with CUDA once, mapped per
  frame inside ``with resource.map(stream)``, written by the ``to_rgba8.cu`` kernel) fills the
  renderer's RGBA source texture. No host copy.
* ``host`` — everything else (the CPU, or a GL context CUDA cannot share with, e.g. llvmpipe):
  the worker hands host uint8 eye images and :meth:`EyeRenderer.upload` copies them.

:meth:`FrameUpload.choose` decides once, with the reason; :attr:`FrameUpload.kind` is what the
app prints (``upload: cuda-gl interop`` / ``upload: host (…)``) and what the worker reads to
know whether to keep its output on the device.
"""

from __future__ import annotations

import logging

from artem_vr.checks import Check
from artem_vr.contracts import HOST, INTEROP
from artem_vr.cuda.device import resolve_device
from artem_vr.errors import RuntimeUnavailable
from artem_vr.render.context import open_context

log = logging.getLogger(__name__)


def choose_upload(device: str) -> tuple[str, str]:
    """(kind, reason) for a stylizer on ``device`` with the current GL context.

    Interop is tried for real: a 16×16 texture's PBO is registered with CUDA and released.
    Needs the GL context current. A registration failure is the reason for ``host``; any
    other error propagates."""
    if not str(device).startswith("cuda"):
        return HOST, "the stylizer runs on the CPU"
    from OpenGL import GL

    from artem_vr.cuda.interop import CudaGLUploader  # lazy: torch only when this runs

    tex = int(GL.glGenTextures(1))
    try:
        GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, 16, 16, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        try:
            CudaGLUploader(tex, 16, 16).close()
        except RuntimeUnavailable as e:
            return HOST, e.what
        return INTEROP, "CUDA can write this GL context's buffers"
    finally:
        GL.glDeleteTextures(1, [tex])


class FrameUpload:
    """Puts each new :class:`~artem_vr.contracts.StylizedFrame` into ``renderer``'s source textures.

    Create and close with the output's GL context current (the output's ExitStack does both).
    """

    def __init__(self, renderer, device: str, kind: str | None = None):
        self.renderer = renderer
        self.device = str(device)
        if kind is None:
            kind, self.reason = choose_upload(self.device)
        else:
            self.reason = "asked for"
        self.kind = kind
        self._uploaders: list = []
        self._size: tuple[int, int, int] | None = None
        self.frames = 0

    @property
    def interop(self) -> bool:
        return self.kind == INTEROP

    def push(self, frame) -> None:
        """Upload ``frame``: its device tensor through interop when it has one, else its host eyes."""
        t = frame.tensor
        if t is not None and self.interop:
            frame.wait_on_current_stream()
            n, _, h, w = t.shape
            if self._size != (n, w, h):
                self._close_uploaders()
                from artem_vr.cuda.interop import CudaGLUploader  # lazy: torch only when this runs

                names = self.renderer.source_textures(n, w, h)
                self._uploaders = [CudaGLUploader(name, w, h) for name in names]
                self._size = (n, w, h)
            else:
                self.renderer.source_textures(n, w, h)  # marks them current (cheap: no reallocation)
            for i, up in enumerate(self._uploaders):
                up.upload(t[i])
        else:
            self.renderer.upload(frame.host_eyes())
        self.frames += 1

    def _close_uploaders(self) -> None:
        for up in self._uploaders:
            up.close()
        self._uploaders = []
        self._size = None

    def close(self) -> None:
        self._close_uploaders()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def doctor_checks():
    """`artem-vr doctor`: which upload path `artem-vr run` takes here (tried for real on an EGL context)."""
    device = resolve_device("auto")
    try:
        ctx = open_context("egl", 16, 16)
    except RuntimeUnavailable as e:
        return [Check("upload", None, f"no GL context to try it on ({e.what}); the output's own context decides")]
    with ctx:
        ctx.make_current()
        kind, why = choose_upload(device)
    if kind == INTEROP:
        return [Check("upload", True, f"{INTEROP}: stylized frames go to the eye textures on the GPU ({why})")]
    fix = ("a GL context on the NVIDIA GPU (its EGL vendor library, __EGL_VENDOR_LIBRARY_FILENAMES)"
           if device.startswith("cuda") else "")
    return [Check("upload", None if not fix else False, f"{HOST}: {why}", fix)]
