"""EyeRenderer on real GL (llvmpipe), both backends: pixels read back and compared with the
numpy reference (expected_eye_image), caller-owned RGBA8 / SRGB8_ALPHA8 targets, no per-frame
allocations, and teardown."""

import numpy as np
import pytest
from OpenGL import GL
from render_helpers import assert_close_image, flat, image_differs, pattern

from artem_vr.errors import ConventionError, UsageError
from artem_vr.render.renderer import BACKGROUND_RGB8, EyeRenderer, ViewConfig, expected_eye_image

W, H = 160, 120
# an OpenXR-like pair: asymmetric, wider towards the nose side... and eyes 64 mm apart
FOVS = [(-0.85, 0.70, 0.62, -0.75), (-0.70, 0.85, 0.62, -0.75)]
OFFSETS = [(-0.032, 0.0, 0.0), (0.032, 0.0, 0.0)]


def _texture(fmt, w=W, h=H):
    tex = GL.glGenTextures(1)
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    GL.glTexStorage2D(GL.GL_TEXTURE_2D, 1, fmt, w, h)
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    return tex


def _read_texture(tex, w=W, h=H):
    """The texture's stored bytes (no sRGB conversion), RGB, top row first."""
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
    data = GL.glGetTexImage(GL.GL_TEXTURE_2D, 0, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    return np.frombuffer(data, np.uint8).reshape(h, w, 3)[::-1]


@pytest.mark.parametrize("mode", ["screen", "full"])
def test_mono_source_both_eyes_match_reference(gl_context, mode):
    img = pattern(90, 160, seed=1)
    view = ViewConfig(mode=mode, screen_distance=1.5, screen_width=2.0)
    with EyeRenderer(view) as r:
        r.upload([img])
        for eye in (0, 1):
            r.render_eye(eye, W, H, fov=FOVS[eye], eye_offset=OFFSETS[eye])
            got = r.read_eye(eye, W, H)
            assert_close_image(got, expected_eye_image(img, W, H, view, FOVS[eye], OFFSETS[eye]))
        if mode == "screen":
            # the comparison can fail: the other eye's geometry does not match this eye's pixels
            assert image_differs(got, expected_eye_image(img, W, H, view, FOVS[0], OFFSETS[0]))


@pytest.mark.parametrize("mode", ["screen", "full"])
def test_sbs_source_each_eye_gets_its_half(gl_context, mode):
    left, right = pattern(80, 96, seed=2), pattern(80, 96, seed=3)[:, ::-1].copy()
    view = ViewConfig(mode=mode)
    with EyeRenderer(view) as r:
        r.upload([left, right])
        got = []
        for eye, img in enumerate((left, right)):
            r.render_eye(eye, W, H, fov=FOVS[eye], eye_offset=OFFSETS[eye])
            got.append(r.read_eye(eye, W, H))
            assert_close_image(got[eye], expected_eye_image(img, W, H, view, FOVS[eye], OFFSETS[eye]))
        assert image_differs(got[1], expected_eye_image(left, W, H, view, FOVS[1], OFFSETS[1]))


def test_default_fov_is_symmetric_and_centred(gl_context):
    img = pattern(50, 100, seed=4)
    view = ViewConfig(default_fov_deg=100)
    with EyeRenderer(view) as r:
        r.upload([img])
        r.render_eye(0, 128, 96)
        got = r.read_eye(0, 128, 96)
    assert_close_image(got, expected_eye_image(img, 128, 96, view))
    inside = np.any(got != BACKGROUND_RGB8, axis=-1)
    rows, cols = np.nonzero(inside)
    assert abs((cols.min() + cols.max()) / 2 - 63.5) <= 1 and abs((rows.min() + rows.max()) / 2 - 47.5) <= 1


@pytest.mark.parametrize("shape", [(40, 200), (200, 40)])
def test_full_view_covers_and_crops(gl_context, shape):
    img = pattern(*shape, seed=5)
    view = ViewConfig(mode="full")
    with EyeRenderer(view) as r:
        r.upload([img])
        r.render_eye(1, 100, 100)
        got = r.read_eye(1, 100, 100)
    assert not np.any(np.all(got == BACKGROUND_RGB8, axis=-1))
    assert_close_image(got, expected_eye_image(img, 100, 100, view))


@pytest.mark.parametrize("fmt,srgb", [(GL.GL_RGBA8, False), (GL.GL_SRGB8_ALPHA8, True), (GL.GL_SRGB8_ALPHA8, False)])
def test_caller_texture_keeps_flat_colours(gl_context, fmt, srgb):
    """An XR-swapchain-like target: the stored bytes equal the source's sRGB values, so what the
    compositor shows is the source colour, for RGBA8 and SRGB8_ALPHA8 formats."""
    colour = (200, 90, 30)
    tex = _texture(fmt)
    try:
        with EyeRenderer(ViewConfig()) as r:
            r.upload([flat(64, 128, colour)])
            r.render_eye(0, W, H, target_texture=tex, srgb_target=srgb)
            got = _read_texture(tex)
        assert tuple(got[H // 2, W // 2]) == colour
        assert tuple(got[2, 2]) == BACKGROUND_RGB8  # the background too
        n_colour = np.all(got == colour, axis=-1).sum()
        assert n_colour > 0.2 * W * H
    finally:
        GL.glDeleteTextures([tex])


def test_srgb_flag_on_a_linear_target_is_visibly_wrong(gl_context):
    """The comparison above can fail: claiming an sRGB target for an RGBA8 one darkens colours."""
    tex = _texture(GL.GL_RGBA8)
    try:
        with EyeRenderer(ViewConfig()) as r:
            r.upload([flat(64, 128, (200, 90, 30))])
            r.render_eye(0, W, H, target_texture=tex, srgb_target=True)
            got = _read_texture(tex)
        assert np.all(got[H // 2, W // 2] < (190, 80, 25))
    finally:
        GL.glDeleteTextures([tex])


def test_caller_texture_matches_reference_with_two_targets(gl_context):
    """Like a swapchain cycling images: alternate between two caller textures."""
    img = pattern(72, 128, seed=6)
    view = ViewConfig()
    texs = [_texture(GL.GL_SRGB8_ALPHA8), _texture(GL.GL_SRGB8_ALPHA8)]
    try:
        with EyeRenderer(view) as r:
            r.upload([img])
            for i in range(4):
                eye = i % 2
                r.render_eye(eye, W, H, target_texture=texs[eye], fov=FOVS[eye], eye_offset=OFFSETS[eye],
                             srgb_target=True)
            for eye in (0, 1):
                assert_close_image(_read_texture(texs[eye]), expected_eye_image(img, W, H, view, FOVS[eye], OFFSETS[eye]))
    finally:
        GL.glDeleteTextures(texs)


def test_caller_framebuffer(gl_context):
    img = pattern(60, 80, seed=7)
    view = ViewConfig(mode="full")
    tex = _texture(GL.GL_RGBA8)
    fbo = GL.glGenFramebuffers(1)
    try:
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tex, 0)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        with EyeRenderer(view) as r:
            r.upload([img])
            r.render_eye(0, W, H, fbo=fbo)
        assert_close_image(_read_texture(tex), expected_eye_image(img, W, H, view))
    finally:
        GL.glDeleteFramebuffers(1, [fbo])
        GL.glDeleteTextures([tex])


def test_per_frame_path_allocates_nothing(gl_context):
    """Same-size uploads use glTexSubImage2D; GL object names stay the same frame after frame."""
    view = ViewConfig()
    tex = _texture(GL.GL_RGBA8)
    try:
        with EyeRenderer(view) as r:
            r.upload([pattern(48, 64, seed=0), pattern(48, 64, seed=1)])
            for eye in (0, 1):
                r.render_eye(eye, W, H)
            r.render_eye(0, W, H, target_texture=tex)
            before = r.gl_objects()
            assert r.stats["tex_image"] == 2
            probe = GL.glGenTextures(1)  # the next free name: nothing made after this may take a new one
            GL.glDeleteTextures([probe])
            for i in range(5):
                r.upload([pattern(48, 64, seed=10 + i), pattern(48, 64, seed=20 + i)])
                for eye in (0, 1):
                    r.render_eye(eye, W, H)
                r.render_eye(0, W, H, target_texture=tex)
            assert r.gl_objects() == before
            assert r.stats["tex_image"] == 2 and r.stats["tex_sub_image"] == 10
            assert_close_image(r.read_eye(1, W, H), expected_eye_image(pattern(48, 64, seed=24), W, H, view))
            # a new size reallocates storage in the same texture objects
            r.upload([pattern(50, 70, seed=0)])
            assert r.stats["tex_image"] == 3 and r.gl_objects() == before
    finally:
        GL.glDeleteTextures([tex])


def test_close_deletes_every_gl_object(gl_context):
    r = EyeRenderer(ViewConfig())
    r.upload([pattern(20, 30), pattern(20, 30, seed=1)])
    r.render_eye(0, 32, 32)
    r.render_eye(1, 32, 32)
    tex = _texture(GL.GL_RGBA8, 32, 32)
    r.render_eye(0, 32, 32, target_texture=tex)
    objs = r.gl_objects()
    assert len(objs["textures"]) == 4 and len(objs["framebuffers"]) == 3
    assert all(GL.glIsTexture(t) for t in objs["textures"])
    r.close()
    r.close()  # idempotent
    assert not any(GL.glIsTexture(t) for t in objs["textures"])
    assert not any(GL.glIsFramebuffer(f) for f in objs["framebuffers"])
    assert not any(GL.glIsVertexArray(v) for v in objs["vertex_arrays"])
    assert not any(GL.glIsProgram(p) for p in objs["programs"])
    assert GL.glIsTexture(tex)  # the caller's texture is the caller's
    GL.glDeleteTextures([tex])
    with pytest.raises(UsageError):
        r.upload([pattern(20, 30)])


def test_wrong_use_is_explained(gl_context):
    with EyeRenderer(ViewConfig()) as r:
        with pytest.raises(UsageError, match="upload"):
            r.render_eye(0, 32, 32)
        with pytest.raises(ConventionError):
            r.upload([np.zeros((8, 8, 3), np.float32)])
        with pytest.raises(UsageError):
            r.upload([pattern(8, 8)] * 3)
        with pytest.raises(UsageError):
            r.upload(pattern(8, 8))  # an array, not a list of eyes
        r.upload([pattern(8, 8)])
        with pytest.raises(UsageError):
            r.render_eye(2, 32, 32)
        with pytest.raises(UsageError):
            r.render_eye(0, 32, 32, fov=(0.5, -0.5, 0.5, -0.5))
        with pytest.raises(UsageError):
            r.render_eye(0, 32, 32, target_texture=1, fbo=1)
        with pytest.raises(UsageError, match="read_eye|rendered"):
            r.read_eye(0, 32, 32)
        r.render_eye(0, 32, 32)
        with pytest.raises(UsageError, match="32x32"):
            r.read_eye(0, 16, 16)


def test_renderer_without_context_says_so(no_display):
    from artem_vr.errors import RuntimeUnavailable

    with pytest.raises(RuntimeUnavailable, match="context"):
        EyeRenderer(ViewConfig())


def test_caller_texture_name_reused_after_delete(gl_context):
    """A swapchain recreated after a session restart may hand back the same texture names:
    the renderer must draw into the new texture, not a stale attachment."""
    with EyeRenderer(ViewConfig(mode="full")) as r:
        r.upload([flat(8, 8, (255, 0, 0))])
        first = _texture(GL.GL_RGBA8, 32, 32)
        r.render_eye(0, 32, 32, target_texture=first)
        GL.glDeleteTextures([first])
        second = _texture(GL.GL_RGBA8, 32, 32)
        r.upload([flat(8, 8, (0, 0, 255))])
        r.render_eye(0, 32, 32, target_texture=second)
        try:
            assert tuple(_read_texture(second, 32, 32)[16, 16]) == (0, 0, 255)
        finally:
            GL.glDeleteTextures([second])
