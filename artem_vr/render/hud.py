"""The HUD: what a person in the headset needs to see without a terminal.

* :func:`hud_lines` / :func:`help_lines` — the text, from a :class:`~artem_vr.contracts.Status`.
* :func:`render_text` — text → an RGBA uint8 image (Pillow's bundled TrueType font, a dark
  translucent box, white text), always :data:`CANVAS` big so an XR quad layer's swapchain
  keeps its size.
* :class:`HudModel` — when it shows: for :attr:`HudModel.show_s` seconds after each change
  (style, method, strength, on/off, source state) and at start; ``h`` (``toggle_hud``) hides
  what is shown or pins it on; ``?`` (``show_help``) shows the key list. Pure: the output calls
  :meth:`HudModel.update` each frame with the feed's status and gets a new image only when
  the text changed (the figures at most every :attr:`HudModel.refresh_s`).

Drawing is the output's: :meth:`~artem_vr.render.renderer.EyeRenderer.set_overlay` puts the
image on a head-locked quad in front of the screen in each eye (mirror, headless, and XR where
the runtime has no quad layers); the XR output submits it as an OpenXR quad layer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: the HUD image's size (pixels); the text is laid out inside it
CANVAS = (1024, 320)
FONT_PX = 44
#: where the HUD floats, in head space (metres): distance, height of its centre, width
HUD_DISTANCE = 1.2
HUD_Y = -0.28
HUD_WIDTH_XR = 0.9
HUD_WIDTH_DESK = 1.7  # the desk eyes are small (640 px): a larger share of the view to stay readable
#: what recenter says on the desk outputs (no head to follow there)
RECENTER_DESK = ("recenter: applies in a headset only (--output xr --view world); the mirror and headless "
                 "outputs have no head pose, so their screen is always in front")

#: the keys, as the help shows them (the HUD font has Latin-1 only: no arrows)
HELP = (
    "keys: left/right style - 1..9 pick - +/- strength",
    "space stylize on/off - m method - t temporal - c stereo",
    "r recenter - h HUD - f fovea - s snapshot - ? help - q/Esc quit",
)


def hud_lines(status) -> list[str]:
    """The HUD's lines for a :class:`~artem_vr.contracts.Status`."""
    s = status
    age = f"{s.age_ms:.0f} ms" if s.age_ms is not None else "-"
    return [
        f"style {s.index + 1}/{max(1, s.styles)}: {s.style_name}",
        f"{s.method} - strength {s.strength:.2f} - stylize {'ON' if s.stylize else 'OFF'}",
        f"stylized {s.stylized_fps:.1f} fps - display {s.display_fps:.0f} fps - age {age}",
        f"source: {s.source_text()}",
    ] + ([s.pixels_text()] if getattr(s, "network_pixels", None) else [])


def help_lines() -> list[str]:
    return list(HELP)


@lru_cache(maxsize=4)
def _font(px: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=px)  # Pillow >= 10.1: its bundled TrueType font


def render_text(lines: list[str], canvas: tuple[int, int] = CANVAS, font_px: int = FONT_PX) -> np.ndarray:
    """``lines`` → uint8 (H, W, 4) RGBA, straight alpha, top row first: a rounded dark box
    (alpha 0.75) sized to the text, centred at the canvas's bottom, white text; transparent
    elsewhere. Lines too long for the canvas are drawn smaller (the whole block is)."""
    from PIL import Image, ImageDraw

    w, h = canvas
    px = font_px
    while True:
        font = _font(px)
        asc, desc = font.getmetrics()
        step = asc + desc + px // 6
        text_w = max((font.getbbox(line)[2] for line in lines), default=0)
        pad = px // 2
        box_w, box_h = text_w + 2 * pad, step * len(lines) + 2 * pad - px // 6
        if (box_w <= w and box_h <= h) or px <= 10:
            break
        px -= 2
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    x0, y0 = (w - box_w) // 2, h - box_h
    draw.rounded_rectangle((x0, y0, x0 + box_w - 1, h - 1), radius=pad, fill=(12, 12, 16, 190))
    for i, line in enumerate(lines):
        draw.text((x0 + pad, y0 + pad + i * step), line, font=font, fill=(255, 255, 255, 255))
    return np.asarray(img, dtype=np.uint8).copy()


@dataclass
class HudFrame:
    """What the HUD shows now: its lines and image; ``version`` grows when they change."""

    version: int
    lines: list[str]
    image: np.ndarray


class HudModel:
    """When the HUD shows and what (see the module docstring). ``show_s``: seconds shown after a
    change; ``help_s``: the key list; ``refresh_s``: the figures' update interval."""

    def __init__(self, show_s: float = 3.0, help_s: float = 6.0, refresh_s: float = 0.5, clock=time.monotonic):
        self.show_s, self.help_s, self.refresh_s = show_s, help_s, refresh_s
        self._clock = clock
        self.pinned = False
        self._until = -1.0  # shown until this time (auto), after a change or at start
        self._help_until = -1.0
        self._key = None
        self._counts: tuple[int, int] | None = None
        self._lines: list[str] | None = None
        self._drawn_t = -1e9
        self.frame: HudFrame | None = None
        self.renders = 0

    def visible(self, now: float | None = None) -> bool:
        now = self._clock() if now is None else now
        return self.pinned or now < self._until or now < self._help_until

    def update(self, status, now: float | None = None) -> HudFrame | None:
        """The HUD for this frame (None: hidden). Re-renders only when the text changed."""
        now = self._clock() if now is None else now
        counts = (status.hud_toggles, status.help_requests)
        if self._counts is None:  # first frame: show what is running
            self._counts, self._key, self._until = counts, status.key(), now + self.show_s
        toggles, helps = counts[0] - self._counts[0], counts[1] - self._counts[1]
        self._counts = counts
        for _ in range(toggles):  # h: hide what is shown, else pin it on
            if self.visible(now):
                self.pinned, self._until, self._help_until = False, -1.0, -1.0
            else:
                self.pinned = True
        if helps:
            self._help_until = now + self.help_s
        key = status.key()
        changed = key != self._key
        if changed:
            self._key = key
            self._until = now + self.show_s
        if not self.visible(now):
            return None
        lines = hud_lines(status) + (help_lines() if now < self._help_until else [])
        if self.frame is None or (lines != self._lines and (changed or helps or toggles
                                                              or now - self._drawn_t >= self.refresh_s
                                                              or len(lines) != len(self._lines))):
            self._lines, self._drawn_t = lines, now
            self.frame = HudFrame((self.frame.version + 1) if self.frame else 1, lines, render_text(lines))
            self.renders += 1
        return self.frame


@dataclass
class ViewEvents:
    """What one frame's :meth:`ViewUpkeep.update` found: the HUD (None: hidden) and whether it
    changed, and whether a snapshot or a recenter was asked for since the last frame."""

    hud: HudFrame | None
    hud_changed: bool
    snapshot: bool
    recenter: bool


class ViewUpkeep:
    """The per-frame view work every output shares: reads ``feed.status()`` once, runs the
    :class:`HudModel`, and turns the view commands' counts into events (a count that grew)."""

    def __init__(self, model: HudModel | None = None):
        self.model = model or HudModel()
        self._shown_version: int | None = None
        self._snapshots: int | None = None
        self._recenters: int | None = None

    def update(self, feed, now: float | None = None) -> ViewEvents:
        status = feed.status()
        frame = self.model.update(status, now)
        version = frame.version if frame is not None else None
        changed, self._shown_version = version != self._shown_version, version
        snap = self._snapshots is not None and status.snapshots > self._snapshots
        rec = self._recenters is not None and status.recenters > self._recenters
        self._snapshots, self._recenters = status.snapshots, status.recenters
        return ViewEvents(frame, changed, snap, rec)


def show_hud(renderer, frame: HudFrame | None, width_m: float) -> None:
    """Put ``frame``'s image on ``renderer``'s head-locked overlay (None: hide it)."""
    renderer.set_overlay(frame.image if frame is not None else None, width_m=width_m, distance=HUD_DISTANCE, y=HUD_Y)
