"""Tensor → GL texture uploads with real GL (EGL surfaceless on llvmpipe here): pixels read back.

The CPU PBO path is tested here; the CUDA–GL interop round trip (bit-exact against the CPU
path) runs where CUDA and an NVIDIA GL context exist, and skips with the reason elsewhere.
"""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("EGL_PLATFORM", "surfaceless")

# Mesa's llvmpipe and triton each bring an LLVM: triton imported after a llvmpipe context has
# existed segfaults the process (later tests import it through torch.optim/torchvision). Import
# it at collection time, before this module's GL context.
from artem_vr.render import import_triton_before_gl  # noqa: E402

import_triton_before_gl()

from artem_vr.cuda.device import cuda_available  # noqa: E402
from artem_vr.cuda.rgba import to_rgba8_reference  # noqa: E402
from artem_vr.errors import ConventionError, CudaUnavailable, RuntimeUnavailable  # noqa: E402


@pytest.fixture(scope="module")
def gl():
    from artem_vr.render.context import open_context

    try:
        ctx = open_context("egl", 64, 64)
    except RuntimeUnavailable as e:
        pytest.skip(f"no EGL context: {e}")
    ctx.make_current()
    from OpenGL import GL

    yield GL
    ctx.close()


def _texture(GL, w, h, fmt):
    tex = int(GL.glGenTextures(1))
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, fmt, w, h, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None)
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    return tex


def _read(GL, tex, w, h):
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
    data = GL.glGetTexImage(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE)
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    return np.frombuffer(data, np.uint8).reshape(h, w, 4)


def _image(w, h, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g) * 1.2 - 0.1


@pytest.mark.parametrize("fmt_name", ["GL_RGBA8", "GL_SRGB8_ALPHA8"])
def test_cpu_pbo_upload_pixels_read_back(gl, fmt_name):
    from artem_vr.cuda.interop import PboUploader, make_uploader

    w, h = 37, 23  # odd sizes
    tex = _texture(gl, w, h, getattr(gl, fmt_name))
    with make_uploader(tex, w, h, prefer="cpu") as up:
        assert isinstance(up, PboUploader) and up.kind == "cpu-pbo" and up.reason
        for seed in (1, 2):  # a second frame overwrites the first
            x = _image(w, h, seed)
            up.upload(x)
            got = _read(gl, tex, w, h)
            assert np.array_equal(got, to_rgba8_reference(x[0]).numpy())
        up.upload(x[0])  # (3, H, W) accepted too
        pbo = up.pbo
        assert gl.glIsBuffer(pbo)
    assert up.closed and not gl.glIsBuffer(pbo)
    gl.glDeleteTextures(1, [tex])


def test_flip_y_writes_bottom_row_first(gl):
    from artem_vr.cuda.interop import make_uploader

    w, h = 8, 5
    tex = _texture(gl, w, h, gl.GL_RGBA8)
    x = _image(w, h, 3)
    with make_uploader(tex, w, h, prefer="cpu", flip_y=True) as up:
        up.upload(x)
    assert np.array_equal(_read(gl, tex, w, h), to_rgba8_reference(x[0]).numpy()[::-1])
    gl.glDeleteTextures(1, [tex])


def test_auto_picks_a_path_and_says_why(gl):
    from artem_vr.cuda.interop import make_uploader

    tex = _texture(gl, 4, 4, gl.GL_RGBA8)
    with make_uploader(tex, 4, 4) as up:
        if not cuda_available()[0]:
            assert up.kind == "cpu-pbo" and "CUDA" in up.reason
        up.upload(torch.rand(3, 4, 4))
    gl.glDeleteTextures(1, [tex])


def test_wrong_input_fails_with_what_arrived(gl):
    from artem_vr.cuda.interop import make_uploader

    tex = _texture(gl, 4, 4, gl.GL_RGBA8)
    with make_uploader(tex, 4, 4, prefer="cpu") as up:
        with pytest.raises(ConventionError, match="5x4"):
            up.upload(torch.rand(3, 4, 5))
        with pytest.raises(ConventionError, match="uint8"):
            up.upload(torch.zeros(3, 4, 4, dtype=torch.uint8))
    gl.glDeleteTextures(1, [tex])


@pytest.mark.skipif(cuda_available()[0], reason="CUDA present: the no-CUDA error path does not apply")
def test_cuda_interop_refused_cleanly_without_cuda(gl):
    from artem_vr.cuda.interop import make_uploader

    with pytest.raises(CudaUnavailable, match="CPU path"):
        make_uploader(1, 4, 4, prefer="cuda")


def _nvidia_gl(gl) -> bool:
    return b"NVIDIA" in (gl.glGetString(gl.GL_VENDOR) or b"")


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available()[0], reason=f"needs CUDA: {cuda_available()[1]}")
@pytest.mark.parametrize("srgb", [False, True])
def test_cuda_interop_round_trip_bit_exact_against_cpu_path(gl, srgb):
    if not _nvidia_gl(gl):
        pytest.skip(f"the EGL context is on {gl.glGetString(gl.GL_RENDERER)!r}, not the NVIDIA GPU: CUDA cannot share it")
    from artem_vr.cuda.interop import CudaGLUploader, make_uploader

    w, h = 1440, 1600
    ta, tb = _texture(gl, w, h, gl.GL_RGBA8), _texture(gl, w, h, gl.GL_RGBA8)
    with make_uploader(ta, w, h, prefer="cuda", srgb_encode=srgb) as cu, make_uploader(tb, w, h, prefer="cpu", srgb_encode=srgb) as cpu:
        assert isinstance(cu, CudaGLUploader)
        for seed in range(3):
            x = _image(w, h, seed).cuda()
            cu.upload(x)
            cpu.upload(x)
            a, b = _read(gl, ta, w, h), _read(gl, tb, w, h)
            if srgb:  # powf vs torch pow: at most one level apart
                assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
            else:
                assert np.array_equal(a, b)
    gl.glDeleteTextures(2, [ta, tb])
