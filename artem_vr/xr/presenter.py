"""`--output xr`: show the newest stylized frame to each eye of an OpenXR headset.

``run_xr(pipeline, options)`` reads as its steps:

1. choose the GL binding (GLX / EGL / WGL) from the options and what the runtime offers;
2. instance (+ validation layer) → GL context and binding → actions → eye renderer;
3. a session (spaces, per-eye swapchains); the frame loop runs until the session leaves;
   LOSS_PENDING makes a new session, EXITING or instance loss ends the run;
4. everything is destroyed in reverse order by one ExitStack.

Each frame: poll events → wait/begin frame → upload the pipeline's newest stylized frame if its
``seq`` changed (never waiting for the stylizer) → per eye acquire → wait → render → release →
end frame with a projection layer (each eye's pose and FOV) and, while the HUD shows, a quad
layer → sync actions (controller presses become controller commands) → mirror window, when
asked for (it takes the mirror output's keys, and letterboxes each eye to its FOV's aspect).

Views: ``screen`` (head-locked virtual screen), ``full``, and ``world``: the screen is placed in
the reference space (LOCAL / STAGE) in front of the head — upright, at the head's heading — on
the first frame and on each recenter, and stays there as the head turns. ``passthrough``: a
head-mounted camera's image fills the camera's field of view and is turned with the head
orientation *at its capture time* (``StylizedFrame.source_t``), looked up in the run's
:class:`~artem_vr.pose.PoseHistory` — so the world stays put however late the stylized frame
arrives (rotational reprojection; translation ignored, see :mod:`artem_vr.render.geometry`).

Pose history: every frame the head pose is located at the *current* time (the monotonic clock
converted with XR_KHR_convert_timespec_time) and recorded with that time, so the history is
right on runtimes that ignore the time asked for (Monado's remote driver returns its newest
pose for any time) as on those that honour it. Where a runtime honours a past time, asking it
directly would do as well; ``XrReport.past_locate`` records, per new frame, what the history and
the runtime's own ``xrLocateSpace`` at the capture time said (docs/passthrough.md has Monado's).

HUD (``XrOptions.hud``): an OpenXR quad composition layer in VIEW space (head-locked, 1.2 m
ahead, a little low) with its own small RGBA swapchain, written only when the text changes;
drawn into the eye images instead where the runtime allows a single layer or offers no RGBA
swapchain format (``hud_mode="eye"`` forces that).
"""

from __future__ import annotations

import ctypes
import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Callable

from artem_vr.contracts import Output
from artem_vr.errors import RuntimeUnavailable, UsageError
import numpy as np

from artem_vr.pose import PoseHistory, yaw_degrees
from artem_vr.render.geometry import (ViewConfig, fov_aspect, level_pose, passthrough_to_eye, pose_matrix,
                                      screen_to_eye, square_pixels)
from artem_vr.render.hud import CANVAS, HUD_DISTANCE, HUD_WIDTH_XR, HUD_Y, ViewUpkeep, show_hud
from artem_vr.render.mirror import install_keys
from artem_vr.render.upload import FrameUpload
from artem_vr.xr.actions import XrActions
from artem_vr.xr.graphics import GRAPHICS, XrGraphics, choose_graphics, required_extensions
from artem_vr.xr.handles import HandleLedger
from artem_vr.xr.instance import ValidationLog, XrInstance, runtime_extensions
from artem_vr.xr.poses import eye_offsets, fov_tuple, pose_tuple
from artem_vr.xr.runtime import check_manifest, load_xr
from artem_vr.xr.session import SPACES, FrameCounters, XrSession, xr_frame
from artem_vr.xr.swapchain import acquired
from artem_vr.xr.watchdog import RuntimeWatchdog

log = logging.getLogger(__name__)

#: observer(eye, texture, swapchain, fov, eye_offset) — called after each eye is rendered, before
#: its image is released (the GL context is current), e.g. to read the swapchain image back
EyeObserver = Callable[[int, int, object, tuple, tuple], None]
#: observer(texture, swapchain) — called after the HUD's quad-layer image was written, before release
HudObserver = Callable[[int, object], None]
HUD_MODES = ("auto", "layer", "eye")
#: where the passthrough view gets the head pose of a frame's capture time
POSE_SOURCES = ("history", "runtime")


@dataclass
class XrOptions:
    """How to run the XR output. ``graphics``: auto | glx | egl | wgl; ``scale``: swapchain size
    × the runtime's recommended size; ``view``: head-locked screen (default) or full view;
    ``mirror``: also show what the eyes see in a desktop window (needs a display);
    ``validation``: OpenXR core validation layer; ``max_frames``: stop after N frames shown;
    ``space``: local | stage (the projection layer's reference space, where ``world`` puts the
    screen); ``hud``: show the HUD; ``hud_mode``: auto (a quad layer where the runtime can) |
    layer | eye (drawn into the eye images)."""

    graphics: str = "auto"
    scale: float = 1.0
    view: ViewConfig = field(default_factory=ViewConfig)
    mirror: bool = False
    validation: bool = False
    max_frames: int | None = None
    space: str = "local"
    hud: bool = False
    hud_mode: str = "auto"
    hang_timeout: float = 10.0  # seconds without a frame before a hung runtime ends the run
    #: passthrough: the head pose at capture time from the app's pose history (default; works on
    #: every runtime) or from the runtime's xrLocateSpace at that past time (only right on runtimes
    #: that keep a pose history; Monado's remote driver does not — the history is the fallback)
    pose_source: str = "history"

    def check(self) -> None:
        if not 1.0 <= self.hang_timeout <= 600.0:
            raise UsageError(f"--xr-hang-timeout {self.hang_timeout} is out of range", "use 1–600 seconds (default 10)")
        if self.pose_source not in POSE_SOURCES:
            raise UsageError(f"unknown pose source {self.pose_source!r}", f"choose one of: {', '.join(POSE_SOURCES)}")
        if self.hud_mode not in HUD_MODES:
            raise UsageError(f"unknown HUD mode {self.hud_mode!r}", f"choose one of: {', '.join(HUD_MODES)}")
        if self.graphics not in GRAPHICS:
            raise UsageError(f"unknown XR graphics binding {self.graphics!r}", f"choose one of: {', '.join(GRAPHICS)}")
        if not (0.1 <= self.scale <= 4.0):
            raise UsageError(f"XR swapchain scale {self.scale} is outside 0.1–4", "e.g. 1.0 (the runtime's size)")
        if self.space not in SPACES:
            raise UsageError(f"unknown XR reference space {self.space!r}", f"choose one of: {', '.join(SPACES)}")
        if self.max_frames is not None and self.max_frames < 1:
            raise UsageError(f"max_frames {self.max_frames} must be at least 1")


@dataclass
class XrReport:
    """What a run did; the tests and the benchmark read it."""

    graphics: str = ""
    runtime: str = ""
    system: str = ""
    eye_size: tuple[int, int] = (0, 0)
    color_format: int = 0
    srgb: bool = False
    frames_waited: int = 0
    frames_ended: int = 0
    frames_shown: int = 0  # ended with a projection layer
    begin_call_order_errors: int = 0
    states: list[str] = field(default_factory=list)
    sessions: int = 0
    display_period_ns: int = 0
    display_times: list[int] = field(default_factory=list)  # predicted display time of each frame waited
    shown: list[tuple[int, float, float]] = field(default_factory=list)  # (seq, age from capture ms, from stylize-end ms)
    uploads: int = 0
    work_ms: list[float] = field(default_factory=list)  # per frame: wait returned → end returned (ms)
    fired: list[tuple[str, str]] = field(default_factory=list)
    hud_mode: str = ""  # "layer" | "eye" | "" (no HUD)
    hud_writes: int = 0  # HUD images written (quad-layer swapchain or eye overlay)
    hud_layers: int = 0  # frames submitted with the HUD's quad layer
    recenters: int = 0  # world-locked screen placements (the first one included)
    screen_yaw: float | None = None  # heading (rad) of the world-locked screen, last placed
    poses_recorded: int = 0  # head poses put into the pose history
    #: passthrough: per new frame (capture time, yaw from the pose history, yaw from the runtime's
    #: xrLocateSpace at that past time or None when it refused), degrees
    past_locate: list[tuple[float, float, float | None]] = field(default_factory=list)
    #: the frame being rendered: {"source_t", "capture_q" (the orientation the image is placed
    #: at), "views": [(q, p) per eye], "display_t" (monotonic, predicted)} — for eye observers
    placement: dict = field(default_factory=dict)
    validation: ValidationLog = field(default_factory=ValidationLog)
    ledger: HandleLedger = field(default_factory=HandleLedger)

    def missed_periods(self, skip: int = 0) -> int:
        """Display periods that passed with no frame of ours (gaps in predicted display times),
        not counting the first ``skip`` frames (start-up: first upload, shader and FBO set-up)."""
        if self.display_period_ns <= 0:
            return 0
        missed = 0
        times = self.display_times[skip:]
        for a, b in zip(times, times[1:]):
            if a > 0 and b > a:
                missed += max(0, round((b - a) / self.display_period_ns) - 1)
        return missed

    def periods_offered(self) -> int:
        """Display periods between the first and the last frame (inclusive)."""
        t = [x for x in self.display_times if x > 0]
        if len(t) < 2 or self.display_period_ns <= 0:
            return len(t)
        return round((t[-1] - t[0]) / self.display_period_ns) + 1


class XrOutput(Output):
    """The headset: ``with XrOutput(options):`` loads the runtime and opens the instance, the GL
    context and binding, the actions, the eye renderer with its FrameUpload (CUDA–GL interop or
    host), the swapchain reader and the optional mirror blit — one ExitStack, torn down in reverse
    with the context current. :meth:`run` makes a session and runs the frame loop until the
    session leaves; LOSS_PENDING makes a new session, EXITING or instance loss ends the run.

    Raises RuntimeUnavailable (with what to do) when there is no runtime, headset or GL binding.
    """

    name = "xr"

    def __init__(self, options: XrOptions | None = None, *, on_eye: EyeObserver | None = None,
                 device: str = "cpu", upload: str | None = None, on_hud: HudObserver | None = None,
                 poses: PoseHistory | None = None):
        super().__init__(device)
        #: the head poses this output records every frame (else the feed's ``poses``, else its own)
        self.poses = poses
        self.options = options or XrOptions()
        self.options.check()
        self.on_eye = on_eye
        self.on_hud = on_hud
        self._upload_kind = upload
        self.report = XrReport()

    def open(self, stack: ExitStack) -> None:
        options, report = self.options, self.report
        ledger = report.ledger
        # first in, last out: it also watches the teardown (which calls into the runtime)
        self.watchdog = stack.enter_context(RuntimeWatchdog(options.hang_timeout))
        check_manifest()
        load_xr()
        try:
            offered = runtime_extensions()
        except Exception as e:  # noqa: BLE001 — the loader could not reach the runtime
            raise RuntimeUnavailable(f"the OpenXR runtime did not answer ({type(e).__name__}: {e})",
                                     "start SteamVR / monado-service, or check XR_RUNTIME_JSON") from e
        kind = choose_graphics(options.graphics, offered)
        report.graphics = kind
        mirror = options.mirror and kind != "egl"
        if options.mirror and not mirror:
            print("mirror: needs a display (EGL binding has none); running without it")
        self.inst = inst = stack.enter_context(XrInstance(required_extensions(kind), validation=options.validation,
                                                          ledger=ledger))
        report.validation = inst.log
        report.runtime, report.system = f"{inst.runtime_name} {inst.runtime_version}", inst.system_name
        self.gfx = stack.enter_context(XrGraphics(inst, kind, mirror=mirror))
        self.actions = stack.enter_context(XrActions(inst, ledger))
        from artem_vr.render.renderer import EyeRenderer  # lazy: PyOpenGL only when this runs
        from artem_vr.xr.gltools import MirrorBlit, TextureReader  # lazy: PyOpenGL only when this runs

        self.renderer = stack.enter_context(EyeRenderer(options.view))
        self.upload = stack.enter_context(FrameUpload(self.renderer, self.device, self._upload_kind))
        self.reader = stack.enter_context(TextureReader())
        self.blit = stack.enter_context(MirrorBlit(self.gfx.context)) if mirror else None
        if options.hud:
            layers = int(inst.xr.get_system_properties(inst.handle, inst.system_id).graphics_properties.max_layer_count)
            report.hud_mode = "layer" if options.hud_mode == "layer" or (options.hud_mode == "auto" and layers >= 2) else "eye"
        print(f"xr: {inst.runtime_name} — {inst.system_name} ({kind.upper()} binding)")

    def run(self, feed) -> XrReport:
        report, options, inst = self.report, self.options, self.inst
        if self.poses is None:
            feed_poses = getattr(feed, "poses", None)
            self.poses = feed_poses if feed_poses is not None else PoseHistory()  # (an empty history is falsy)
        loop = _FrameLoop(feed, options, inst, self.actions, self.renderer, self.upload, self.reader, self.blit,
                          report, self.on_eye, self.on_hud, watchdog=self.watchdog, poses=self.poses)
        remove_keys = None
        if self.blit is not None:  # the mirror window takes the mirror output's keys
            remove_keys = install_keys(self.gfx.context.window, feed.controller)
        try:
            while True:
                with XrSession(inst, self.gfx, self.actions, report.ledger, scale=options.scale, space=options.space,
                               overlay_size=CANVAS if report.hud_mode == "layer" else None) as sess:
                    report.sessions += 1
                    sc = sess.swapchains[0]
                    report.eye_size, report.color_format, report.srgb = (sc.width, sc.height), sc.format, sc.srgb
                    if report.hud_mode == "layer" and sess.overlay_swapchain is None:
                        report.hud_mode = "eye"  # no RGBA swapchain format: into the eyes
                    outcome = loop.run(sess)
                if outcome == "restart" and not loop.stopping:
                    log.warning("XR session lost; making a new one")
                    continue
                break
        finally:
            if remove_keys is not None:
                remove_keys()
        report.fired = list(self.actions.fired)
        if outcome == "instance_lost":
            raise RuntimeUnavailable("the OpenXR runtime went away during the run (instance lost)",
                                     "restart SteamVR / monado-service and run again")
        if options.validation and report.validation.messages:
            log.warning("OpenXR validation: %s", report.validation.summary())
        return report


def run_xr(feed, options: XrOptions | None = None, *, on_eye: EyeObserver | None = None,
           on_hud: HudObserver | None = None) -> XrReport:
    """Present ``feed`` in the headset through an :class:`XrOutput` (opened and closed here)."""
    out = XrOutput(options, on_eye=on_eye, device=feed.device, on_hud=on_hud)
    with out:
        return out.run(feed)


class _FrameLoop:
    """The per-frame work of one session (state lives in the report and the lifecycle)."""

    def __init__(self, pipeline, options, inst, actions, renderer, upload, reader, blit, report, on_eye, on_hud=None,
                 *, watchdog, poses: PoseHistory):
        self.pipeline, self.options, self.inst, self.xr = pipeline, options, inst, inst.xr
        self.poses = poses
        self.passthrough = options.view.mode == "passthrough"
        self.compared_seq: int | None = None  # the frame whose capture pose was last compared
        self.warned_clock = False
        self.runtime_capture_q = None  # the runtime's answer for the current frame's capture time
        self.watchdog = watchdog
        self.actions, self.renderer, self.reader, self.blit = actions, renderer, reader, blit
        self.upload = upload
        self.report, self.on_eye, self.on_hud = report, on_eye, on_hud
        self.last_seq: int | None = None
        self.stopping = False
        self.current = None  # the StylizedFrame on the GPU
        self.upkeep = ViewUpkeep()
        self.world = options.view.mode == "world"
        self.screen_pose: np.ndarray | None = None  # the world-locked screen's frame in the app space
        from artem_vr.xr.gaze import make_gaze_tracker  # the foveation maths (torch, loaded with the stylizer)

        self.gaze = make_gaze_tracker(inst, actions, pipeline)  # None without eye tracking or foveation
        self.hud_written = False  # the quad layer's swapchain holds a released image
        # view events wait here until a frame is rendered (early frames may render nothing)
        self.hud_frame = None
        self.hud_dirty = self.recenter_pending = self.snapshot_pending = False

    def _should_stop(self) -> bool:
        if self.pipeline.stop_requested:
            return True
        mf = self.options.max_frames
        return mf is not None and self.report.frames_shown >= mf

    def run(self, sess: XrSession) -> str:
        xr, lc, report = self.xr, sess.lifecycle, self.report
        counters = FrameCounters()
        self.screen_pose = None  # a new session's space: placed again on its first frame
        self.hud_written = False
        try:
            self._loop(sess, lc, counters, self.watchdog)
        except (xr.SessionLossPending, xr.SessionLostError):  # success code raised by pyopenxr / lost
            lc.outcome = "restart"
        except xr.InstanceLostError:
            lc.outcome = "instance_lost"
        finally:
            report.frames_waited += counters.waited
            report.frames_ended += counters.ended
            report.begin_call_order_errors += counters.begin_call_order_errors
            report.work_ms += counters.work_ms
            report.states += lc.states
        return lc.outcome or "exit"

    def _loop(self, sess: XrSession, lc, counters, dog) -> None:
        """The frame loop of one session; ``dog.beat()`` each turn (a hung runtime stops beats)."""
        xr, report = self.xr, self.report
        t_exit = None
        while lc.outcome is None:
            dog.beat()
            lc.poll()
            if lc.outcome is not None:
                break
            if not self.stopping and self._should_stop():
                self.stopping = True
                t_exit = time.monotonic()
                lc.request_exit()
                continue
            if t_exit is not None and time.monotonic() - t_exit > 5.0:
                log.warning("the runtime did not end the session within 5 s of the exit request")
                break
            if not lc.running:
                time.sleep(0.01)
                continue
            with xr_frame(xr, sess.handle, sess.blend_mode, counters) as frame:
                report.display_times.append(int(frame.state.predicted_display_time))
                report.display_period_ns = int(frame.state.predicted_display_period)
                self._record_pose(sess)
                self._note(self.upkeep.update(self.pipeline))
                if frame.should_render:
                    self._take_latest()
                    with self.pipeline.clock.span("render", "cpu"):
                        self._render(sess, frame)
                t_submit = time.perf_counter()
            self.pipeline.clock.add("submit", (time.perf_counter() - t_submit) * 1e3)
            self.actions.poll(sess.handle, self.pipeline.controller)
            if self.blit is not None and not self.blit.present():
                self.pipeline.controller.quit()

    def _record_pose(self, sess: XrSession) -> None:
        """The head pose now → the pose history (labelled with the monotonic time it was asked for)."""
        now = time.monotonic()
        t = self.inst.to_xr_time(now)
        if t is None:  # no clock conversion: no history (passthrough then places frames head-locked)
            if self.passthrough and not self.warned_clock:
                self.warned_clock = True
                print("passthrough: the runtime cannot convert the monotonic clock (no XR_KHR_convert_timespec_time); "
                      "frames are shown head-locked, not at their capture pose")
            return
        pose = sess.locate_head(t)
        if pose is not None:
            q, p = pose_tuple(pose)
            self.poses.record(now, q, p)
            self.report.poses_recorded += 1

    def _capture_orientation(self, sess: XrSession, head_q) -> tuple:
        """Where the current frame is placed: the head orientation at its capture time (from the
        pose history), or the current one when reprojection is off or the history is empty."""
        cur = self.current
        if not self.options.view.reproject:
            return head_q
        cap = self.poses.at(cur.source_t)
        if cur.seq != self.compared_seq:  # once per frame: what the runtime says about that past time
            self.compared_seq = cur.seq
            t = self.inst.to_xr_time(cur.source_t)
            runtime_yaw = None
            if t is not None and cap is not None:
                try:
                    past = sess.locate_head(t)
                except self.xr.XrException as e:  # e.g. XR_ERROR_TIME_INVALID for a time too old
                    log.debug("xrLocateSpace at a past time: %s", e)
                    past = None
                runtime_yaw = None if past is None else yaw_degrees(pose_tuple(past)[0])
            if cap is not None:
                self.report.past_locate.append((cur.source_t, yaw_degrees(cap.orientation), runtime_yaw))
            self.runtime_capture_q = None if runtime_yaw is None else pose_tuple(past)[0]
        if self.options.pose_source == "runtime" and self.runtime_capture_q is not None:
            return self.runtime_capture_q
        return head_q if cap is None else cap.orientation

    def _take_latest(self) -> None:
        """Upload the newest stylized frame if it is new (never waits for the stylizer)."""
        latest = self.pipeline.latest()
        if latest is not None and latest.seq != self.last_seq:
            with self.pipeline.clock.span("to_texture", "cpu"):
                self.upload.push(latest)
            self.last_seq = latest.seq
            self.current = latest
            self.report.uploads += 1

    def _note(self, events) -> None:
        self.hud_frame = events.hud
        self.hud_dirty |= events.hud_changed
        self.recenter_pending |= events.recenter
        self.snapshot_pending |= events.snapshot

    def _render(self, sess: XrSession, frame) -> None:
        xr = self.xr
        if self.current is None:
            return  # nothing stylized yet: an empty frame keeps the session alive
        located = sess.locate(frame.state.predicted_display_time)
        if located is None:
            return
        views, head = located
        if self.gaze is not None:  # the foveal window follows the eyes
            self.gaze.follow(sess.handle, sess.app_space, frame.state.predicted_display_time, views, head,
                             self.options.view, self.screen_pose, self.current)
        offsets = eye_offsets(head, [v.pose for v in views])
        recenter, self.recenter_pending = self.recenter_pending, False
        snapshot, self.snapshot_pending = self.snapshot_pending, False
        if recenter and not self.world:
            log.info("recenter: the screen is head-locked (--view %s); --view world places it in the room",
                     self.options.view.mode)
        if self.world and (self.screen_pose is None or recenter):
            q, p = pose_tuple(head)
            self.screen_pose = level_pose(q, p)  # in front of the head, upright
            self.report.recenters += 1
            self.report.screen_yaw = float(np.arctan2(self.screen_pose[0, 2], self.screen_pose[2, 2]))
        capture_q = self._capture_orientation(sess, pose_tuple(head)[0]) if self.passthrough else None
        self.report.placement = {
            "source_t": self.current.source_t, "capture_q": capture_q,
            "views": [pose_tuple(v.pose) for v in views],
            "display_t": self.inst.to_monotonic(frame.state.predicted_display_time)}
        hud_layer = self._hud(sess)
        layer_views = []
        want_images = self.pipeline.wants_images or snapshot
        shown = []
        for i, (view, sc) in enumerate(zip(views, sess.swapchains)):
            fov = fov_tuple(view.fov)
            to_eye = None
            if self.world:
                q, p = pose_tuple(view.pose)
                to_eye = screen_to_eye(self.screen_pose, pose_matrix(q, p))
            elif self.passthrough:
                to_eye = passthrough_to_eye(capture_q, pose_tuple(view.pose)[0])
            with acquired(xr, sc) as texture:
                self.renderer.render_eye(i, sc.width, sc.height, target_texture=texture, fov=fov,
                                         eye_offset=offsets[i], srgb_target=sc.srgb, to_eye=to_eye,
                                         overlay=self.report.hud_mode == "eye")
                if self.on_eye is not None:
                    self.on_eye(i, texture, sc, fov, tuple(offsets[i]))
                if want_images:  # flat pictures get square pixels: letterboxed, never stretched
                    shown.append(square_pixels(self.reader.read(texture, sc.width, sc.height), fov))
                if self.blit is not None:
                    self.blit.eye(i, texture, sc.width, sc.height, aspect=fov_aspect(fov))
            layer_views.append(xr.CompositionLayerProjectionView(
                pose=view.pose, fov=view.fov, sub_image=xr.SwapchainSubImage(
                    swapchain=sc.handle, image_rect=xr.Rect2Di(xr.Offset2Di(0, 0), xr.Extent2Di(sc.width, sc.height)))))
        proj_views = (xr.CompositionLayerProjectionView * len(layer_views))(*layer_views)
        layer = xr.CompositionLayerProjection(space=sess.app_space, views=proj_views)
        frame.layers = [ctypes.pointer(layer)]
        frame.keep = (proj_views, layer)  # alive until xrEndFrame has read them
        if hud_layer is not None:
            frame.layers.append(ctypes.cast(ctypes.pointer(hud_layer), ctypes.POINTER(xr.CompositionLayerBaseHeader)))
            frame.keep = (proj_views, layer, hud_layer)
            self.report.hud_layers += 1
        self.report.frames_shown += 1
        self._record_age(frame.state.predicted_display_time)
        if snapshot:
            self.pipeline.save_snapshot(shown)
        self.pipeline.frame_presented(shown if self.pipeline.wants_images else None, self.current)

    def _hud(self, sess: XrSession):
        """Keep the HUD up to date; returns its quad layer for this frame (None: hidden or in the eyes)."""
        from OpenGL import GL

        mode, xr = self.report.hud_mode, self.xr
        if not mode:
            return None
        hud, dirty = self.hud_frame, self.hud_dirty
        self.hud_dirty = False
        if mode == "eye":
            if dirty:
                show_hud(self.renderer, hud, HUD_WIDTH_XR)
                self.report.hud_writes += 1
            return None
        sc = sess.overlay_swapchain
        if hud is None:
            return None
        if dirty or not self.hud_written:
            img = hud.image
            with acquired(xr, sc) as texture:
                GL.glBindTexture(GL.GL_TEXTURE_2D, texture)
                GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
                # GL images are stored bottom row first; the compositor shows row 0 at the bottom
                GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, sc.width, sc.height, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE,
                                   np.ascontiguousarray(img[::-1]))
                GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
                if self.on_hud is not None:
                    self.on_hud(texture, sc)
            self.hud_written = True
            self.report.hud_writes += 1
        height = HUD_WIDTH_XR * sc.height / sc.width
        return xr.CompositionLayerQuad(
            layer_flags=xr.CompositionLayerFlags.BLEND_TEXTURE_SOURCE_ALPHA_BIT
            | xr.CompositionLayerFlags.UNPREMULTIPLIED_ALPHA_BIT,
            space=sess.view_space, eye_visibility=xr.EyeVisibility.BOTH,
            sub_image=xr.SwapchainSubImage(swapchain=sc.handle, image_rect=xr.Rect2Di(
                xr.Offset2Di(0, 0), xr.Extent2Di(sc.width, sc.height))),
            pose=xr.Posef(position=xr.Vector3f(0.0, HUD_Y, -HUD_DISTANCE)),
            size=xr.Extent2Df(HUD_WIDTH_XR, height))

    def _record_age(self, display_time: int) -> None:
        cur = self.current
        t_show = self.inst.to_monotonic(display_time) or time.monotonic()
        self.report.shown.append((int(cur.seq), (t_show - cur.source_t) * 1000, (t_show - cur.done_t) * 1000))
