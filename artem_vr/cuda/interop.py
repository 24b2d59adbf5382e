"""Stylized tensor → GL texture, with CUDA–GL interop when there is CUDA, else a PBO upload.

One interface, :class:`TextureUploader`, two backends chosen once by :func:`make_uploader`:

* :class:`CudaGLUploader` — a pixel buffer object (PBO) of the eye's size is registered with
  CUDA once (``cuda.core.GraphicsResource.from_gl_buffer``, write-discard). Per frame, inside
  ``with resource.map(stream=…) as buf:`` the ``float_to_rgba8`` NVRTC kernel writes the
  tensor straight into the PBO on torch's current stream; unmapping orders it before GL; then
  ``glTexSubImage2D`` copies PBO → texture on the GPU. No host round trip.
* :class:`PboUploader` — the CPU fallback: the same conversion by the torch reference
  (:func:`artem_vr.cuda.rgba.to_rgba8_reference`), ``glBufferSubData`` into the same kind of
  PBO, then the same ``glTexSubImage2D`` from it.

Input: float ``(3, H, W)`` or ``(1, 3, H, W)`` RGB 0–1 (any device). The texture (owned by the
caller: an eye texture or a swapchain image) is a ``GL_TEXTURE_2D`` of at least ``w × h`` with
an RGBA-compatible format (``GL_RGBA8`` or ``GL_SRGB8_ALPHA8``: the bytes are sRGB-encoded
already, as every image in this project is, so an sRGB texture decodes them correctly on
sampling; ``srgb_encode=True`` is for linear-light input). Rows are written top row first,
like :class:`artem_vr.render.renderer.EyeRenderer`'s uploads (``flip_y`` for bottom-up).
A GL context must be current on the calling thread; the uploader owns its PBO and CUDA
registration (not the texture) and releases them in :meth:`close` / at the end of ``with``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

import torch

from artem_vr.cuda.device import cuda_available, require_cuda
from artem_vr.cuda.launch import set_current, torch_stream
from artem_vr.cuda.rgba import to_rgba8_cuda, to_rgba8_reference
from artem_vr.errors import ConventionError, CudaUnavailable, RuntimeUnavailable

log = logging.getLogger(__name__)


class TextureUploader(ABC):
    """Writes a float RGB image into one GL texture through a PBO. Use in ``with``."""

    kind = "base"

    def __init__(self, texture: int, width: int, height: int, flip_y: bool = False, srgb_encode: bool = False):
        from OpenGL import GL

        if width < 1 or height < 1:
            raise ConventionError(f"uploader size must be positive, got {width}x{height}")
        self.texture, self.width, self.height = int(texture), int(width), int(height)
        self.flip_y, self.srgb_encode = bool(flip_y), bool(srgb_encode)
        self.nbytes = self.width * self.height * 4
        self.reason = ""
        self.pbo = int(GL.glGenBuffers(1))
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, self.pbo)
        GL.glBufferData(GL.GL_PIXEL_UNPACK_BUFFER, self.nbytes, None, GL.GL_STREAM_DRAW)
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, 0)
        self._closed = False

    def _check(self, image: torch.Tensor) -> torch.Tensor:
        if isinstance(image, torch.Tensor) and image.ndim == 4 and image.shape[0] == 1:
            image = image[0]
        if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] != 3 or not image.is_floating_point():
            got = f"{image.dtype} {tuple(image.shape)}" if isinstance(image, torch.Tensor) else type(image).__name__
            raise ConventionError(f"{self.kind} upload: expected float (3, H, W) or (1, 3, H, W) RGB 0-1, got {got}")
        if tuple(image.shape[1:]) != (self.height, self.width):
            raise ConventionError(f"{self.kind} upload: image is {image.shape[2]}x{image.shape[1]}, the texture slot is "
                                  f"{self.width}x{self.height}; resize first or make a new uploader")
        if self._closed:
            raise ConventionError(f"{self.kind} upload after close()")
        return image

    def _pbo_to_texture(self) -> None:
        """GPU-side copy PBO → texture (same for both backends)."""
        from OpenGL import GL

        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, self.pbo)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 4)
        GL.glPixelStorei(GL.GL_UNPACK_ROW_LENGTH, 0)
        GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, self.width, self.height, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, 0)

    @abstractmethod
    def upload(self, image: torch.Tensor, stream=None) -> None:
        """Write ``image`` into the texture. Call on the thread where the GL context is current.

        ``stream``: the torch CUDA stream that produced ``image`` (e.g. the stylizer thread's);
        the conversion is ordered after it. Default: torch's current stream on this thread.
        """

    def _release(self) -> None:
        pass

    def close(self) -> None:
        """Unregister from CUDA (if any) and delete the PBO. Needs the GL context current."""
        if self._closed:
            return
        self._closed = True
        try:
            self._release()
        finally:
            from OpenGL import GL

            GL.glDeleteBuffers(1, [self.pbo])

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class PboUploader(TextureUploader):
    """CPU fallback: torch conversion on the host, ``glBufferSubData`` into the PBO."""

    kind = "cpu-pbo"

    def upload(self, image: torch.Tensor, stream=None) -> None:
        from OpenGL import GL

        image = self._check(image)
        if stream is not None and image.is_cuda:
            stream.synchronize()
        rgba = to_rgba8_reference(image.detach().to("cpu"), self.flip_y, self.srgb_encode).numpy()
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, self.pbo)
        GL.glBufferData(GL.GL_PIXEL_UNPACK_BUFFER, self.nbytes, None, GL.GL_STREAM_DRAW)  # orphan: no wait on GL
        GL.glBufferSubData(GL.GL_PIXEL_UNPACK_BUFFER, 0, self.nbytes, rgba)
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, 0)
        self._pbo_to_texture()


class CudaGLUploader(TextureUploader):
    """Zero-copy path: the PBO registered with CUDA once, mapped per frame on torch's stream."""

    kind = "cuda-interop"

    def __init__(self, texture: int, width: int, height: int, flip_y: bool = False, srgb_encode: bool = False):
        require_cuda("CUDA-GL interop")
        super().__init__(texture, width, height, flip_y, srgb_encode)
        try:
            from cuda.core import GraphicsResource

            set_current()
            self.resource = GraphicsResource.from_gl_buffer(self.pbo, flags="write_discard")
        except Exception as e:
            from OpenGL import GL

            GL.glDeleteBuffers(1, [self.pbo])
            self._closed = True
            raise RuntimeUnavailable(
                f"cannot register a GL buffer with CUDA ({type(e).__name__}: {e})",
                "the GL context must be on the NVIDIA GPU (not llvmpipe); the CPU PBO path is used instead",
            ) from e

    def upload(self, image: torch.Tensor, stream=None) -> None:
        image = self._check(image)
        if not image.is_cuda:
            image = image.to("cuda", non_blocking=True)
        cs = torch_stream(stream)  # map, convert and unmap in the producer's stream order
        with self.resource.map(stream=cs) as buf:
            if buf.size < self.nbytes:
                raise ConventionError(f"mapped PBO has {buf.size} bytes, expected {self.nbytes}")
            to_rgba8_cuda(image, int(buf.handle), self.flip_y, self.srgb_encode, stream=cs)
        self._pbo_to_texture()

    def _release(self) -> None:
        self.resource.close()


def make_uploader(texture: int, width: int, height: int, prefer: str = "auto", **kw) -> TextureUploader:
    """CUDA–GL interop when CUDA is there and the GL context can share with it, else the PBO path.

    ``prefer``: "auto", "cuda" (raise if interop is impossible) or "cpu". The chosen uploader's
    ``kind`` says which; ``reason`` says why the CPU path was taken.
    """
    if prefer not in ("auto", "cuda", "cpu"):
        raise ConventionError(f"unknown uploader preference {prefer!r} (auto, cuda, cpu)")
    why = "asked for the CPU path"
    if prefer != "cpu":
        ok, why = cuda_available()
        if ok:
            try:
                return CudaGLUploader(texture, width, height, **kw)
            except RuntimeUnavailable as e:
                if prefer == "cuda":
                    raise
                why = e.what
        elif prefer == "cuda":
            raise CudaUnavailable(f"CUDA-GL interop asked for, but {why}", "use the CPU path (prefer='cpu' or 'auto')")
    up = PboUploader(texture, width, height, **kw)
    up.reason = why
    log.info("texture upload: CPU PBO path (%s)", why)
    return up
