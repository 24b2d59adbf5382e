"""The per-frame work of one XR session: poll events → wait/begin frame → record the head pose →
upload the newest stylized frame if new → render each eye (screen, world-locked or passthrough
placement) → the HUD (quad layer or in the eyes) → end frame → actions → mirror. The
:class:`~artem_vr.xr.presenter.XrOutput` makes a :class:`FrameLoop` and runs it per session."""

from __future__ import annotations

import ctypes
import logging
import time

import numpy as np

from artem_vr.pose import PoseHistory, yaw_degrees
from artem_vr.render.geometry import (fov_aspect, level_pose, passthrough_to_eye, pose_matrix, screen_to_eye,
                                      square_pixels)
from artem_vr.render.hud import HUD_DISTANCE, HUD_WIDTH_XR, HUD_Y, ViewUpkeep, show_hud
from artem_vr.xr.poses import eye_offsets, fov_tuple, pose_tuple
from artem_vr.xr.session import FrameCounters, XrSession, xr_frame
from artem_vr.xr.swapchain import acquired

log = logging.getLogger(__name__)


class FrameLoop:
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
