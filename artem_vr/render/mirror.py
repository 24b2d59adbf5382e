"""Mirror output: a desktop window showing both eyes side by side, with keyboard control.

Keys (bindings are data, :mod:`artem_vr.render.keys`: :data:`~artem_vr.render.keys.KEY_BINDINGS`, by meaning →
controller method; :data:`~artem_vr.render.keys.KEYS_HELP` is the text `run --help` and the README show):

    ←/→ previous/next style · 1–9 pick a style · +/− strength · space stylization on/off ·
    m next method · t temporal smoothing · c stereo consistency · r recenter (headset, --view world) ·
    h HUD on/off · f foveal window outline · s snapshot (PNG) · ? key list in the HUD · q/Esc quit

The XR output's desktop mirror window takes the same keys (:func:`install_keys`).
"""

from __future__ import annotations

import time
from contextlib import ExitStack

from artem_vr.contracts import Output
from artem_vr.render.context import open_context
from artem_vr.render.geometry import ViewConfig, desk_eye_offset
from artem_vr.render.headless import LoopStats, check_eye_size, show_new_frame
from artem_vr.render.hud import HUD_WIDTH_DESK, RECENTER_DESK, ViewUpkeep, show_hud
from artem_vr.render.keys import KEY_BINDINGS, REPEATING
from artem_vr.render.upload import FrameUpload


def key_table() -> dict[int, tuple[str, str, tuple]]:
    """glfw key code → (binding name, controller method, arguments)."""
    import glfw

    return {getattr(glfw, f"KEY_{name}"): (name, meth, args) for name, (meth, args) in KEY_BINDINGS.items()}


def handle_key(controller, table, key: int, action: int) -> str | None:
    """Call the controller method bound to ``key`` on press (and repeat, for REPEATING keys).
    Returns the method name called, or None."""
    import glfw

    entry = table.get(key)
    if entry is None:
        return None
    name, meth, args = entry
    if action == glfw.PRESS or (action == glfw.REPEAT and name in REPEATING):
        getattr(controller, meth)(*args)
        return meth
    return None


def install_keys(window, controller):
    """Send ``window``'s key presses to ``controller`` (the bindings above); returns a function
    that removes the callback."""
    import glfw

    table = key_table()

    def on_key(_window, key, _scancode, action, _mods):
        handle_key(controller, table, key, action)

    glfw.set_key_callback(window, on_key)
    return lambda: glfw.set_key_callback(window, None)


def _fit(src_w: int, src_h: int, x0: int, y0: int, box_w: int, box_h: int) -> tuple[int, int, int, int]:
    """Largest src_w:src_h rectangle centred in the box, as (x0, y0, x1, y1)."""
    scale = min(box_w / src_w, box_h / src_h)
    w, h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    x, y = x0 + (box_w - w) // 2, y0 + (box_h - h) // 2
    return x, y, x + w, y + h


class MirrorOutput(Output):
    """A desktop window showing the eyes side by side (aspect kept), with keyboard control.

    Each new stylized frame (``feed.latest().seq`` changed) is uploaded and both eyes rendered
    at ``eye_size`` into the renderer's targets; every loop the two targets are blitted into the
    window and the window swapped, at most ``max_fps`` times a second. ``feed.frame_presented``
    is called once per swap, with the read-back eye images only when ``feed.wants_images``.
    Main thread only.
    """

    name = "mirror"

    def __init__(self, eye_size=(640, 360), view: ViewConfig = ViewConfig(), *, max_fps: float = 60.0,
                 title: str = "Art'Em VR — mirror", device: str = "cpu", upload: str | None = None,
                 hud: bool = False):
        super().__init__(device)
        self.hud = hud
        self.w, self.h = check_eye_size(eye_size)
        self.view, self.max_fps, self.title = view, max_fps, title
        self._upload_kind = upload
        self.ctx = self.renderer = None

    def open(self, stack: ExitStack) -> None:
        from artem_vr.render.renderer import EyeRenderer  # lazy: PyOpenGL only when this runs
        self.ctx = stack.enter_context(open_context("glfw-window", 2 * self.w, self.h, title=self.title))
        self.renderer = stack.enter_context(EyeRenderer(self.view))
        self.upload = stack.enter_context(FrameUpload(self.renderer, self.device, self._upload_kind))

    def run(self, feed) -> LoopStats:
        import glfw
        from OpenGL import GL

        w, h, view, ctx, renderer, clock = self.w, self.h, self.view, self.ctx, self.renderer, feed.clock
        stats = LoopStats()
        controller = feed.controller
        remove_keys = install_keys(ctx.window, controller)
        upkeep = ViewUpkeep()
        try:
            last_seq = None
            current = None
            period = 1.0 / self.max_fps if self.max_fps else 0.0
            next_t = time.monotonic()
            while not feed.stop_requested:
                glfw.poll_events()
                if ctx.should_close():
                    controller.quit()
                    break
                ev = upkeep.update(feed)
                if ev.recenter:
                    print(RECENTER_DESK)
                if ev.snapshot and current is not None:
                    feed.save_snapshot([renderer.read_eye(0, w, h), renderer.read_eye(1, w, h)])
                frame = feed.latest()
                if ev.hud_changed and self.hud:
                    show_hud(renderer, ev.hud, HUD_WIDTH_DESK)
                    if current is not None and (frame is None or frame.seq == last_seq):
                        for eye in (0, 1):  # the same frame with the new HUD
                            renderer.render_eye(eye, w, h, eye_offset=desk_eye_offset(view, eye))
                if frame is not None and frame.seq != last_seq:
                    last_seq, current = frame.seq, frame
                    stats.uploads += 1
                    with show_new_frame(self.upload, renderer, frame, w, h, view, clock):
                        pass
                fw, fh = ctx.framebuffer_size()
                GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
                GL.glViewport(0, 0, fw, fh)
                GL.glDisable(GL.GL_SCISSOR_TEST)
                GL.glClearColor(0.0, 0.0, 0.0, 1.0)
                GL.glClear(GL.GL_COLOR_BUFFER_BIT)
                if last_seq is not None:
                    half = fw // 2
                    renderer.blit_eye(0, 0, _fit(w, h, 0, 0, half, fh))
                    renderer.blit_eye(1, 0, _fit(w, h, half, 0, fw - half, fh))
                ctx.swap_buffers()
                if last_seq is not None:
                    images = None
                    if feed.wants_images:
                        images = [renderer.read_eye(0, w, h), renderer.read_eye(1, w, h)]
                    feed.frame_presented(images, current)
                    stats.presented += 1
                next_t += period
                delay = next_t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_t = time.monotonic()
        finally:
            remove_keys()
        return stats


def run_mirror(feed, eye_size=(640, 360), view: ViewConfig = ViewConfig(), *,
               max_fps: float = 60.0, title: str = "Art'Em VR — mirror", hud: bool = False) -> LoopStats:
    """Present ``feed`` in a :class:`MirrorOutput` window (opened and closed here)."""
    out = MirrorOutput(eye_size, view, max_fps=max_fps, title=title, device=feed.device, hud=hud)
    with out:
        return out.run(feed)
