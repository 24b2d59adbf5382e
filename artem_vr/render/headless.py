"""Headless output: no window; renders both eyes, reads them back, hands them to the pipeline.

Used when there is neither an OpenXR runtime nor a display (CI, servers), and by tests.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass

from artem_vr.errors import UsageError
from artem_vr.render.context import open_context
from artem_vr.render.geometry import ViewConfig, desk_eye_offset


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


def run_headless(pipeline, eye_size=(640, 360), view: ViewConfig = ViewConfig(), context_kind: str = "auto",
                 *, repeat_after_s: float | None = 1.0, poll_s: float = 0.002) -> LoopStats:
    """Present every new stylized frame once, until ``pipeline.stop_requested``.

    Each presented frame: both eyes rendered at ``eye_size`` (w, h), read back (uint8 RGB
    (h, w, 3), top row first) and passed to ``pipeline.frame_presented([left, right])``.
    Paced to the stylizer: when ``pipeline.latest().seq`` has not changed it polls every
    ``poll_s`` instead of re-rendering; if nothing newer comes for ``repeat_after_s`` seconds
    the last frame is presented again, so a stalled stylizer cannot hang a ``--frames N`` run
    (None: never repeat). Uploads only when the seq changes. ``context_kind``: see
    :func:`~artem_vr.render.context.open_context` (auto: hidden window, else EGL).
    """
    from artem_vr.render.renderer import EyeRenderer

    w, h = check_eye_size(eye_size)
    stats = LoopStats()
    with ExitStack() as stack:
        stack.enter_context(open_context(context_kind, w, h, title="Art'Em VR (headless)"))
        renderer = stack.enter_context(EyeRenderer(view))
        last_seq = None
        last_images = None
        last_t = time.monotonic()
        while not pipeline.stop_requested:
            frame = pipeline.latest()
            if frame is None or frame.seq == last_seq:
                stalled = repeat_after_s is not None and time.monotonic() - last_t >= repeat_after_s
                if last_images is None or not stalled:
                    time.sleep(poll_s)
                    continue
                stats.repeats += 1
            else:
                renderer.upload(frame.eyes)
                last_seq = frame.seq
                stats.uploads += 1
                for eye in (0, 1):
                    renderer.render_eye(eye, w, h, eye_offset=desk_eye_offset(view, eye))
                last_images = [renderer.read_eye(0, w, h), renderer.read_eye(1, w, h)]
            pipeline.frame_presented(list(last_images))
            stats.presented += 1
            last_t = time.monotonic()
    return stats
