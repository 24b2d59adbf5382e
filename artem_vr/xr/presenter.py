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

Here: :class:`XrOutput` (open, the sessions) and :func:`run_xr`; the per-frame work is
:class:`~artem_vr.xr.frame_loop.FrameLoop`, the options and the report :mod:`artem_vr.xr.options`.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack

from artem_vr.contracts import Output
from artem_vr.errors import RuntimeUnavailable
from artem_vr.pose import PoseHistory
from artem_vr.recording import OpenRecordings
from artem_vr.render.hud import CANVAS
from artem_vr.render.mirror import install_keys
from artem_vr.render.upload import FrameUpload
from artem_vr.text import printable
from artem_vr.xr.actions import XrActions
from artem_vr.xr.frame_loop import FrameLoop
from artem_vr.xr.graphics import XrGraphics, choose_graphics, required_extensions
from artem_vr.xr.instance import XrInstance, runtime_extensions
from artem_vr.xr.options import EyeObserver, HudObserver, XrOptions, XrReport
from artem_vr.xr.runtime import check_manifest, load_xr
from artem_vr.xr.session import XrSession
from artem_vr.xr.watchdog import RuntimeWatchdog

log = logging.getLogger(__name__)


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
                 poses: PoseHistory | None = None, recordings: OpenRecordings | None = None):
        super().__init__(device)
        #: the run's open recordings: the watchdog finishes them if the runtime hangs
        self.recordings = recordings
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
        self.watchdog = stack.enter_context(RuntimeWatchdog(options.hang_timeout, recordings=self.recordings))
        check_manifest()
        xr = load_xr()
        try:
            offered = runtime_extensions()
        except xr.XrException as e:  # the loader could not reach the runtime (an OpenXR error result)
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
        print(printable(f"xr: {inst.runtime_name} — {inst.system_name} ({kind.upper()} binding)"))  # the runtime's own names

    def run(self, feed) -> XrReport:
        report, options, inst = self.report, self.options, self.inst
        if self.poses is None:
            feed_poses = getattr(feed, "poses", None)
            self.poses = feed_poses if feed_poses is not None else PoseHistory()  # (an empty history is falsy)
        loop = FrameLoop(feed, options, inst, self.actions, self.renderer, self.upload, self.reader, self.blit,
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
