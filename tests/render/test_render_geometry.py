"""The eye geometry as pure maths (no GL): projection, cover crop, colour transfer, reference image."""

import math

import numpy as np
import pytest
from render_helpers import flat, pattern

from artem_vr.errors import ConventionError, UsageError
from artem_vr.render import geometry as G


def test_projection_maps_fov_edges_to_ndc_edges():
    fov = (-0.9, 0.5, 0.4, -0.7)
    P = G.projection_fov(fov)
    for ax, angle, want in ((0, fov[0], -1), (0, fov[1], 1), (1, fov[2], 1), (1, fov[3], -1)):
        d = [0.0, 0.0, -1.0]
        d[ax] = math.tan(angle)
        clip = P @ np.array([*(3.0 * np.array(d)), 1.0])
        assert clip[ax] / clip[3] == pytest.approx(want, abs=1e-5)
    near = P @ np.array([0, 0, -G.NEAR, 1.0])
    far = P @ np.array([0, 0, -G.FAR, 1.0])
    assert near[2] / near[3] == pytest.approx(-1, abs=1e-4) and far[2] / far[3] == pytest.approx(1, abs=1e-4)


def test_default_fov_is_symmetric_with_the_aspect():
    left, right, up, down = G.default_fov(G.ViewConfig(default_fov_deg=90), 200, 100)
    assert (left, right) == pytest.approx((-math.pi / 4, math.pi / 4))
    assert math.tan(up) == pytest.approx(0.5) and down == pytest.approx(-up)


def test_cover_crop_keeps_aspect():
    # wide image into a square view: the sides are cropped, all rows shown
    u0, v0, u1, v1 = G.cover_uv_rect(100, 100, 200, 100)
    assert (u0, u1, v0, v1) == pytest.approx((0.25, 0.75, 0.0, 1.0))
    # tall image into a wide view: top and bottom cropped
    u0, v0, u1, v1 = G.cover_uv_rect(200, 100, 100, 100)
    assert (u0, u1, v0, v1) == pytest.approx((0.0, 1.0, 0.25, 0.75))


def test_srgb_round_trip_is_exact_on_8_bits():
    x = np.arange(256) / 255.0
    back = np.rint(G.linear_to_srgb(G.srgb_to_linear(x)) * 255)
    assert np.array_equal(back, np.arange(256))
    assert G.srgb_to_linear(np.array([0.5]))[0] == pytest.approx(0.21404, abs=1e-4)


def test_bilinear_matches_gl_texel_centres():
    img = np.array([[[0.0], [1.0]]])  # 1 x 2, one channel
    u = np.array([0.25, 0.5, 0.75, 0.0, 1.0])
    got = G.bilinear(img, u, np.full_like(u, 0.5))[:, 0]
    assert got == pytest.approx([0.0, 0.5, 1.0, 0.0, 1.0])


def test_screen_reference_centre_edges_and_background():
    img = pattern(60, 120)
    view = G.ViewConfig(screen_distance=2.0, screen_width=2.0)
    out = G.expected_eye_image(img, 101, 101, view)  # 90°: the view is 4 m wide at 2 m
    assert out.shape == (101, 101, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == G.BACKGROUND_RGB8 and tuple(out[-1, -1]) == G.BACKGROUND_RGB8
    # the screen covers the middle half across and a quarter down (aspect 2:1)
    row = out[50]
    inside = np.any(row != G.BACKGROUND_RGB8, axis=-1)
    assert 24 <= inside.argmax() <= 26 and 74 <= 100 - inside[::-1].argmax() <= 76
    # the centre pixel shows the image centre: halfway between its middle 2 x 2 texels
    block = G.srgb_to_linear(img[29:31, 59:61] / 255.0).mean(axis=(0, 1))
    assert np.abs(out[50, 50] - G.linear_to_srgb(block) * 255).max() <= 1


def test_eye_offset_moves_the_screen_the_other_way():
    img = flat(50, 100, (255, 255, 255))
    view = G.ViewConfig()
    centre = G.expected_eye_image(img, 120, 80, view)
    left_eye = G.expected_eye_image(img, 120, 80, view, eye_offset=(-0.2, 0, 0))
    col = lambda im: np.nonzero(np.any(im[40] != G.BACKGROUND_RGB8, axis=-1))[0].mean()  # noqa: E731
    assert col(left_eye) > col(centre) + 2  # an eye to the left sees the screen further right


def test_full_mode_fills_the_view():
    img = pattern(90, 160)
    out = G.expected_eye_image(img, 64, 64, G.ViewConfig(mode="full"))
    assert not np.any(np.all(out == G.BACKGROUND_RGB8, axis=-1))


@pytest.mark.parametrize("kwargs", [dict(mode="dome"), dict(screen_distance=0), dict(screen_width=-1),
                                    dict(default_fov_deg=180)])
def test_view_config_rejects_bad_values(kwargs):
    with pytest.raises(UsageError):
        G.ViewConfig(**kwargs)


@pytest.mark.parametrize("fov", [(0.5, -0.5, 0.4, -0.4), (-0.5, 0.5, -0.4, 0.4), (-2.0, 0.5, 0.4, -0.4), (1, 2)])
def test_bad_fov_is_a_usage_error(fov):
    with pytest.raises(UsageError):
        G.check_fov(fov)


def test_reference_checks_its_input():
    with pytest.raises(ConventionError):
        G.expected_eye_image(np.zeros((4, 4, 3), np.float32), 8, 8, G.ViewConfig())
