"""The HUD: text rendered with Pillow's font, when it shows, and the real outputs drawing it
(pixels read back: they differ where the HUD is, and only there)."""

from __future__ import annotations

import numpy as np
import pytest
from render_helpers import FakePipeline, assert_close_image, pattern

from artem_vr.contracts import Status
from artem_vr.render.geometry import ViewConfig, desk_eye_offset, expected_eye_image
from artem_vr.render.headless import run_headless
from artem_vr.render.hud import CANVAS, HudModel, hud_lines, render_text

W, H = 480, 270


def _status(**kw) -> Status:
    base = dict(style="starry_night", index=1, styles=6, method="generator", strength=0.8, stylize=True,
                stylized_fps=2.4, display_fps=52.0, age_ms=380.0, source="live", source_s=0.1)
    base.update(kw)
    return Status(**base)


def test_hud_text_has_every_figure():
    lines = hud_lines(_status())
    text = "\n".join(lines)
    for needle in ("style 2/6: starry_night", "generator", "strength 0.80", "stylize ON", "stylized 2.4 fps",
                   "display 52 fps", "age 380 ms", "source: live"):
        assert needle in text, needle
    assert "reconnecting, picture 4 s old" in "\n".join(hud_lines(_status(source="reconnecting", source_s=4.2)))
    assert "source: ended" in "\n".join(hud_lines(_status(source="ended")))
    assert "style 1/1: none" in hud_lines(_status(style=None, index=0, styles=0))[0]
    line = _status().line()
    assert "stylized 2.4 fps" in line and "frame age 380 ms" in line and "\n" not in line


def test_text_is_drawn_where_the_box_is():
    img = render_text(["style 2/6: starry_night", "generator"])
    assert img.shape == (CANVAS[1], CANVAS[0], 4) and img.dtype == np.uint8
    alpha = img[..., 3]
    assert alpha[0, 0] == 0 and alpha[-1, CANVAS[0] // 2] > 150  # transparent top, box at the bottom
    white = (img[..., :3].min(-1) > 200) & (alpha > 200)  # the glyphs
    assert 500 < white.sum() < 0.2 * white.size
    rows = np.nonzero(white.any(1))[0]
    assert rows.min() > CANVAS[1] // 2  # two lines sit in the lower part
    # different text, different glyphs
    other = render_text(["style 3/6: great_wave", "generator"])
    assert not np.array_equal(img, other)
    # too long for the canvas: drawn smaller, still inside
    long = render_text(["x" * 200])
    assert long[..., 3].any() and long[:, 0, 3].max() == 0


def test_hud_shows_after_changes_and_h_toggles_it():
    t = [100.0]
    m = HudModel(show_s=3.0, help_s=6.0, refresh_s=0.5, clock=lambda: t[0])
    s = _status()
    f = m.update(s)
    assert f is not None and f.version == 1  # shown at start
    t[0] += 3.1
    assert m.update(s) is None  # gone after 3 s
    f = m.update(_status(index=2, style="great_wave"))  # a change shows it again
    assert f is not None and "style 3/6: great_wave" in f.lines[0]
    t[0] += 1.0
    assert m.update(_status(index=2, style="great_wave", hud_toggles=1)) is None  # h hides what is shown
    f = m.update(_status(index=2, style="great_wave", hud_toggles=2))  # h again pins it
    t[0] += 60
    assert m.update(_status(index=2, style="great_wave", hud_toggles=2)) is not None and m.pinned
    assert m.update(_status(index=2, style="great_wave", hud_toggles=3)) is None
    f = m.update(_status(index=2, style="great_wave", hud_toggles=3, help_requests=1))  # ? shows the keys
    assert f is not None and any("q/Esc quit" in line for line in f.lines)
    t[0] += 6.1
    assert m.update(_status(index=2, style="great_wave", hud_toggles=3, help_requests=1)) is None
    # the figures refresh at most every refresh_s (no new texture every frame)
    m2 = HudModel(refresh_s=0.5, clock=lambda: t[0])
    a = m2.update(_status(display_fps=50.0))
    t[0] += 0.1
    assert m2.update(_status(display_fps=51.0)).version == a.version
    t[0] += 0.5
    assert m2.update(_status(display_fps=51.0)).version == a.version + 1


def test_headless_draws_the_hud_into_the_eyes(no_display, tmp_path):
    """The real headless output with the HUD: read back, the eyes differ from the plain render
    only in the HUD's region (lower middle), and the text there is bright on a dark box."""
    img = pattern(90, 160, seed=4)
    view = ViewConfig()
    p = FakePipeline([img], max_frames=1)
    run_headless(p, (W, H), view, context_kind="egl", hud=True)
    left, right = p.presented[-1]
    want = expected_eye_image(img, W, H, view, eye_offset=desk_eye_offset(view, 0))
    diff = np.abs(left.astype(int) - want.astype(int)).sum(-1) > 30
    rows, cols = np.nonzero(diff)
    assert diff.sum() > 0.03 * diff.size, diff.sum()
    assert rows.min() > H // 2 - 5 and cols.min() > W * 0.05 and cols.max() < W * 0.95  # lower middle
    top = slice(0, H // 2 - 10)
    assert_close_image(left[top], want[top])  # untouched above it
    region = left[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(int).sum(-1)
    assert (region < 150).mean() > 0.3 and (region > 600).sum() > 50  # dark box, white text
    # both eyes carry it (with their parallax), and without hud nothing is drawn
    assert (np.abs(right.astype(int) - expected_eye_image(img, W, H, view, eye_offset=desk_eye_offset(view, 1))
                   .astype(int)).sum(-1) > 30).sum() > 0.03 * diff.size
    p0 = FakePipeline([img], max_frames=1)
    run_headless(p0, (W, H), view, context_kind="egl", hud=False)
    assert_close_image(p0.presented[-1][0], want)


def test_hud_toggle_hides_it_in_the_output(no_display):
    img = pattern(90, 160, seed=5)
    view = ViewConfig()
    shown = []

    def step(pipeline, images):
        shown.append(images[0])
        if len(pipeline.presented) == 1:
            pipeline.controller.toggle_hud()  # h: hide
        pipeline.publish([img])

    p = FakePipeline([img], max_frames=3, on_present=step)
    run_headless(p, (W, H), view, context_kind="egl", hud=True, repeat_after_s=None)
    want = expected_eye_image(img, W, H, view, eye_offset=desk_eye_offset(view, 0))
    with pytest.raises(AssertionError):
        assert_close_image(shown[0], want)
    assert_close_image(shown[-1], want)


def test_snapshot_key_writes_the_eyes_to_a_png(no_display, tmp_path):
    import cv2

    img = pattern(48, 64, seed=6)

    def step(pipeline, _images):
        if len(pipeline.presented) == 1:
            pipeline.controller.snapshot()
            pipeline.controller.snapshot()
        pipeline.publish([img])

    p = FakePipeline([img], max_frames=4, on_present=step, snapshot_dir=tmp_path / "snaps")
    run_headless(p, (96, 64), ViewConfig(), context_kind="egl", repeat_after_s=None)
    assert len(p.snapshots) == 1  # two presses between frames: one snapshot of that frame
    path = p.snapshots[0]
    assert path.parent == tmp_path / "snaps" and path.suffix == ".png"
    assert [f.name for f in path.parent.iterdir()] == [path.name]  # no temporary left behind
    back = cv2.imread(str(path))[..., ::-1]
    assert back.shape == (64, 192, 3)
    assert np.array_equal(back, np.concatenate(p.presented[1], axis=1))
