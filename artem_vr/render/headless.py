"""Headless output: no window; renders both eyes, reads them back, hands them to the pipeline.

Used when there is neither an OpenXR runtime nor a display (CI, servers), and by tests.
"""

from __future__ import annotations

import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from artem_vr.contracts import Output
from artem_vr.errors import UsageError
from artem_vr.render.context import open_context
from artem_vr.render.geometry import ViewConfig, desk_eye_offset
from artem_vr.render.hud import HUD_WIDTH_DESK, RECENTER_DESK, ViewUpkeep, show_hud
from artem_vr.render.upload import FrameUpload


@dataclass
class LoopStats:
    """What an output loop did: frames presented, uploads (new stylized frames), repeats
    (frames presented again because no newer one came in time)."""

    presented: int = 0
    uploads: int = 0
    repeats: int = 0


def check_eye_size(eye_size) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in eye_size)
    except (TypeError, ValueError):
        raise UsageError(f"eye_size must be (width, height), got {eye_size!r}") from None
    if w < 1 or h < 1:
        raise UsageError(f"eye_size {w}x{h} must be at least 1x1", "e.g. (640, 360)")
    return w, h


@contextmanager
def show_new_frame(upload, renderer, frame, w: int, h: int, view: ViewConfig, clock):
    """The desk outputs' step for a new stylized frame: ``to_texture`` (the FrameUpload), then both
    eyes drawn at w × h from their desk positions; the ``render`` stage also times the block's body
    (the output's read-back, swap or finish)."""
    with clock.span("to_texture", "cpu"):
        upload.push(frame)
    with clock.span("render", "cpu"):
        for eye in (0, 1):
            renderer.render_eye(eye, w, h, eye_offset=desk_eye_offset(view, eye))
        yield


class HeadlessOutput(Output):
    """No window: renders both eyes offscreen and reads them back for the feed (the recording);
    with ``readback=False`` (the bench) it waits for the GPU (``glFinish``) as a swap would.

    Presents every new stylized frame once. Paced to the stylizer: when ``feed.latest().seq``
    has not changed it polls every ``poll_s`` instead of re-rendering; if nothing newer comes for
    ``repeat_after_s`` seconds the last frame is presented again, so a stalled stylizer cannot
    hang a ``--frames N`` run (None: never repeat). ``context_kind``: see
    :func:`~artem_vr.render.context.open_context` (auto: hidden window, else EGL). ``hud``: draw
    the HUD into the eyes (so a recording shows it); a snapshot request writes the eyes to a PNG.
    """

    name = "headless"

    def __init__(self, eye_size=(640, 360), view: ViewConfig = ViewConfig(), context_kind: str = "auto",
                 *, repeat_after_s: float | None = 1.0, poll_s: float = 0.002, upload: str | None = None,
                 device: str = "cpu", readback: bool = True, hud: bool = False):
        super().__init__(device)
        self.hud = hud
        self.w, self.h = check_eye_size(eye_size)
        self.view, self.context_kind = view, context_kind
        self.repeat_after_s, self.poll_s = repeat_after_s, poll_s
        self._upload_kind = upload
        self.readback = readback  # False (the bench): no read-back, glFinish stands in for a swap
        self.renderer = None

    def open(self, stack: ExitStack) -> None:
        from artem_vr.render.renderer import EyeRenderer  # lazy: PyOpenGL only when this runs
        stack.enter_context(open_context(self.context_kind, self.w, self.h, title="Art'Em VR (headless)"))
        self.renderer = stack.enter_context(EyeRenderer(self.view))
        self.upload = stack.enter_context(FrameUpload(self.renderer, self.device, self._upload_kind))

    def run(self, feed) -> LoopStats:
        from OpenGL import GL

        w, h, view, renderer, clock = self.w, self.h, self.view, self.renderer, feed.clock
        stats = LoopStats()
        last_seq = None
        last_images = None
        current = None
        last_t = time.monotonic()
        upkeep = ViewUpkeep()
        while not feed.stop_requested:
            ev = upkeep.update(feed)
            if ev.hud_changed and self.hud:
                show_hud(renderer, ev.hud, HUD_WIDTH_DESK)
            if ev.recenter:
                print(RECENTER_DESK)
            if ev.snapshot and current is not None:
                feed.save_snapshot(last_images if last_images is not None
                                   else [renderer.read_eye(0, w, h), renderer.read_eye(1, w, h)])
            frame = feed.latest()
            if frame is None or frame.seq == last_seq:
                stalled = self.repeat_after_s is not None and time.monotonic() - last_t >= self.repeat_after_s
                if current is None or not stalled:
                    time.sleep(self.poll_s)
                    continue
                stats.repeats += 1
            else:
                last_seq, current = frame.seq, frame
                stats.uploads += 1
                with show_new_frame(self.upload, renderer, frame, w, h, view, clock):
                    if self.readback:
                        last_images = [renderer.read_eye(0, w, h), renderer.read_eye(1, w, h)]
                    else:
                        GL.glFinish()
            feed.frame_presented(list(last_images) if last_images is not None else None, current)
            stats.presented += 1
            last_t = time.monotonic()
        return stats


def run_headless(feed, eye_size=(640, 360), view: ViewConfig = ViewConfig(), context_kind: str = "auto",
                 *, repeat_after_s: float | None = 1.0, poll_s: float = 0.002, hud: bool = False) -> LoopStats:
    """Present ``feed`` through a :class:`HeadlessOutput` (opened and closed here)."""
    out = HeadlessOutput(eye_size, view, context_kind, repeat_after_s=repeat_after_s, poll_s=poll_s,
                         device=feed.device, hud=hud)
    with out:
        return out.run(feed)
