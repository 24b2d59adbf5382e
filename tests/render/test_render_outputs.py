"""Outputs: headless (EGL / hidden window) and the mirror window under a private Xvfb —
screenshots of the X screen, real key events (xdotool), pacing to new stylized frames."""

import shutil
import subprocess
import threading

import cv2
import numpy as np
import pytest
from render_helpers import RecordingController, FakePipeline, assert_close_image, flat, pattern

from artem_vr.render.headless import run_headless
from artem_vr.render.keys import KEY_BINDINGS
from artem_vr.render.mirror import handle_key, key_table, run_mirror
from artem_vr.render.geometry import desk_eye_offset
from artem_vr.render.renderer import ViewConfig, expected_eye_image

W, H = 96, 64


# ------------------------------------------------------------------------------- keys
def test_every_binding_reaches_its_controller_method():
    import glfw

    table = key_table()
    c = RecordingController()
    for name, (meth, args) in KEY_BINDINGS.items():
        assert handle_key(c, table, getattr(glfw, f"KEY_{name}"), glfw.PRESS) == meth
        assert c.calls[-1] == (meth, *args)
    assert ("pick", 0) in c.calls and ("pick", 8) in c.calls  # keys 1 and 9
    n = len(c.calls)
    assert handle_key(c, table, glfw.KEY_Q, glfw.RELEASE) is None
    assert handle_key(c, table, glfw.KEY_M, glfw.REPEAT) is None  # toggles act once per press
    assert handle_key(c, table, glfw.KEY_RIGHT, glfw.REPEAT) == "next_style"  # held arrows repeat
    assert handle_key(c, table, glfw.KEY_Z, glfw.PRESS) is None
    assert len(c.calls) == n + 1


# ------------------------------------------------------------------------------- headless
def test_headless_presents_both_eyes_rendered(no_display):
    left, right = pattern(48, 64, seed=1), pattern(48, 64, seed=2)
    view = ViewConfig()
    p = FakePipeline([left, right], max_frames=3)
    stats = run_headless(p, (W, H), view, context_kind="egl", repeat_after_s=0.0)
    assert stats.presented == 3 and stats.uploads == 1 and stats.repeats == 2
    for images in p.presented:
        assert len(images) == 2 and images[0].shape == (H, W, 3)
        assert_close_image(images[0], expected_eye_image(left, W, H, view, eye_offset=desk_eye_offset(view, 0)))
        assert_close_image(images[1], expected_eye_image(right, W, H, view, eye_offset=desk_eye_offset(view, 1)))


def test_desk_eyes_see_the_virtual_screen_with_parallax(no_display):
    """A mono frame on the desk outputs: each eye sees the screen from its own position (half the
    IPD left/right), as in the headset; with --ipd 0 both eyes are the same picture."""
    img = pattern(48, 64, seed=3)
    view = ViewConfig(desk_ipd=0.08, screen_distance=0.8, screen_width=0.8)
    p = FakePipeline([img], max_frames=1)
    run_headless(p, (W, H), view, context_kind="egl")
    left, right = p.presented[-1]
    assert desk_eye_offset(view, 0) == (-0.04, 0.0, 0.0) and desk_eye_offset(view, 1) == (0.04, 0.0, 0.0)
    assert_close_image(left, expected_eye_image(img, W, H, view, eye_offset=(-0.04, 0.0, 0.0)))
    assert_close_image(right, expected_eye_image(img, W, H, view, eye_offset=(0.04, 0.0, 0.0)))
    # the left eye sees the screen further right than the right eye does (crossed disparity)
    cols = lambda im: np.nonzero((np.abs(im.astype(int) - 26).sum(-1) > 12).any(0))[0]  # noqa: E731
    assert cols(left).mean() > cols(right).mean() + 2, (cols(left).mean(), cols(right).mean())
    flat_view = ViewConfig(desk_ipd=0.0, screen_distance=0.8, screen_width=0.8)
    p0 = FakePipeline([img], max_frames=1)
    run_headless(p0, (W, H), flat_view, context_kind="egl")
    assert np.array_equal(p0.presented[-1][0], p0.presented[-1][1])


def test_ipd_outside_human_range_is_a_usage_error():
    from artem_vr.errors import UsageError

    with pytest.raises(UsageError, match="IPD 150 mm"):
        ViewConfig(desk_ipd=0.15)


def test_headless_presents_each_new_frame_once_in_order(no_display):
    colours = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0), (0, 250, 250)]
    view = ViewConfig(mode="full")

    def next_frame(pipeline, _images):  # the "stylizer" finishes the next frame after each present
        if len(pipeline.presented) < len(colours):
            pipeline.publish([flat(32, 32, colours[len(pipeline.presented)])])

    p = FakePipeline([flat(32, 32, colours[0])], max_frames=len(colours), on_present=next_frame)
    stats = run_headless(p, (W, H), view, context_kind="egl", repeat_after_s=None)
    assert stats.uploads == len(colours) and stats.repeats == 0
    assert p.presented_seq == [1, 2, 3, 4, 5]
    shown = [tuple(int(v) for v in imgs[1][H // 2, W // 2]) for imgs in p.presented]
    assert shown == colours


def test_headless_does_not_rerender_an_unchanged_frame(no_display):
    p = FakePipeline([flat(16, 16, (9, 9, 9))])
    timer = threading.Timer(0.4, p.stop.set)
    timer.start()
    stats = run_headless(p, (W, H), ViewConfig(), context_kind="egl", repeat_after_s=None)
    timer.join()
    assert stats.presented == 1 and stats.uploads == 1


def test_headless_returns_on_stop_without_any_frame(no_display):
    p = FakePipeline()
    timer = threading.Timer(0.2, p.stop.set)
    timer.start()
    stats = run_headless(p, (W, H), ViewConfig(), context_kind="egl")
    timer.join()
    assert stats.presented == 0 and p.presented == []


def test_headless_auto_under_xvfb_uses_a_hidden_window(display):
    import glfw

    kinds = []
    p = FakePipeline([pattern(40, 40)], max_frames=2,
                     on_present=lambda pl, _i: kinds.append(glfw.get_current_context() is not None))
    run_headless(p, (W, H), ViewConfig(), repeat_after_s=0.0)
    assert kinds == [True, True]
    assert_close_image(p.presented[-1][0], expected_eye_image(pattern(40, 40), W, H, ViewConfig(),
                                                              eye_offset=desk_eye_offset(ViewConfig(), 0)))


# ------------------------------------------------------------------------------- mirror
def _screenshot_window():
    """The mirror window's pixels on the X screen (RGB, top row first), via ImageMagick `import`."""
    import glfw

    win = glfw.get_current_context()
    x, y = glfw.get_window_pos(win)
    w, h = glfw.get_framebuffer_size(win)
    png = subprocess.run(["import", "-window", "root", "png:-"], capture_output=True, timeout=20, check=True).stdout
    screen = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(screen[y:y + h, x:x + w])


@pytest.mark.skipif(shutil.which("import") is None, reason="ImageMagick `import` is not installed "
                    "(apt-get install imagemagick): the mirror screenshot test needs it")
def test_mirror_shows_left_eye_left_and_right_eye_right(display):
    left = pattern(60, 90, seed=11)
    right = np.ascontiguousarray(pattern(60, 90, seed=12)[::-1])
    view = ViewConfig(screen_width=3.0)
    shots = []

    def on_present(pipeline, images):
        if len(pipeline.presented) == 3:
            shots.append(_screenshot_window())

    p = FakePipeline([left, right], max_frames=4, wants_images=True, on_present=on_present)
    stats = run_mirror(p, eye_size=(W, H), view=view)
    assert stats.presented == 4 and stats.uploads == 1
    shot = shots[0]
    assert shot.shape == (H, 2 * W, 3)
    want_left = expected_eye_image(left, W, H, view, eye_offset=desk_eye_offset(view, 0))
    want_right = expected_eye_image(right, W, H, view, eye_offset=desk_eye_offset(view, 1))
    assert_close_image(shot[:, :W], want_left)
    assert_close_image(shot[:, W:], want_right)
    # the halves are not interchangeable
    d = np.abs(shot[:, :W].astype(int) - want_right.astype(int)).mean()
    assert d > 5, d
    # wants_images: the read-back eyes come with every presented frame
    assert all(imgs is not None and len(imgs) == 2 for imgs in p.presented)
    assert_close_image(p.presented[-1][1], want_right)


def test_mirror_without_wants_images_passes_none(display):
    p = FakePipeline([pattern(30, 40)], max_frames=2)
    run_mirror(p, eye_size=(32, 32))
    assert p.presented == [None, None]


def test_mirror_ends_when_the_window_closes(display):
    import glfw

    def close(pipeline, _images):
        glfw.set_window_should_close(glfw.get_current_context(), True)

    p = FakePipeline([pattern(30, 40)], max_frames=100, on_present=close)
    run_mirror(p, eye_size=(32, 32))
    assert len(p.presented) == 1 and ("quit",) in p.controller.calls


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed (apt-get install xdotool): "
                    "the mirror key test sends real X key events with it")
def test_mirror_keys_from_the_x_server(display):
    import glfw

    keys = ["Right", "Left", "3", "plus", "minus", "KP_Add", "space", "m", "t", "c", "r", "q"]
    sent = []

    def type_keys(pipeline, _images):
        if not sent:
            win = glfw.get_current_context()
            glfw.focus_window(win)
            subprocess.run(["xdotool", "key", "--delay", "10", *keys], check=True, timeout=30)
            sent.append(True)

    p = FakePipeline([pattern(30, 40)], max_frames=600, on_present=type_keys)
    run_mirror(p, eye_size=(32, 32))
    assert p.controller.calls == [
        ("next_style",), ("prev_style",), ("pick", 2), ("change_strength", 0.1), ("change_strength", -0.1),
        ("change_strength", 0.1), ("toggle_stylize",), ("cycle_method",), ("toggle_temporal",),
        ("toggle_stereo_consistency",), ("recenter",), ("quit",)]
    assert len(p.presented) < 600  # q stopped it
