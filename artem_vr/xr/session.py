"""One XR session: its lifecycle state machine, its spaces and swapchains, and the frame ``with``.

* :class:`SessionLifecycle` — the one place session events are handled (``handle_event``):
  READY → xrBeginSession, STOPPING → xrEndSession, LOSS_PENDING → leave so the caller tears
  the session down and makes a new one, EXITING → leave, instance loss → leave for good.
* :class:`XrSession` — owns the session, the reference spaces (LOCAL or STAGE for the layer,
  VIEW for the head) and one swapchain per eye, created in that order and destroyed in reverse.
* :func:`xr_frame` — wait → begin → (body adds layers) → end, balanced even on errors, and
  tolerant of Monado's headless ``xrBeginFrame`` call-order error.
"""

from __future__ import annotations

import ctypes
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from artem_vr.errors import RuntimeUnavailable, UsageError
from artem_vr.xr.handles import HandleLedger, StackOwner, owned
from artem_vr.xr.swapchain import GL_RGBA8, GL_SRGB8_ALPHA8, Swapchain, eye_size, open_swapchain, pick_color_format

log = logging.getLogger(__name__)

SPACES = ("local", "stage")


class SessionLifecycle:
    """Session state machine. ``outcome`` becomes "exit", "restart" or "instance_lost"."""

    def __init__(self, xr, instance_handle, session_handle, view_type, on_profiles_changed: Callable[[], None] | None = None):
        self.xr = xr
        self.instance_handle = instance_handle
        self.session = session_handle
        self.view_type = view_type
        self.on_profiles_changed = on_profiles_changed
        self.state = xr.SessionState.UNKNOWN
        self.states: list[str] = []
        self.running = False
        self.exit_requested = False
        self.outcome: str | None = None

    @property
    def focused(self) -> bool:
        return self.state == self.xr.SessionState.FOCUSED

    def poll(self) -> None:
        """Handle every pending event."""
        xr = self.xr
        while True:
            try:
                event = xr.poll_event(self.instance_handle)
            except xr.EventUnavailable:
                return
            self.handle_event(event)

    def handle_event(self, event) -> None:
        xr = self.xr
        kind = xr.StructureType(event.type)
        if kind == xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED:
            e = ctypes.cast(ctypes.byref(event), ctypes.POINTER(xr.EventDataSessionStateChanged)).contents
            self._on_state(xr.SessionState(e.state))
        elif kind == xr.StructureType.EVENT_DATA_INSTANCE_LOSS_PENDING:
            log.warning("OpenXR instance loss pending: the runtime is going away")
            self.running = False
            self.outcome = "instance_lost"
        elif kind == xr.StructureType.EVENT_DATA_INTERACTION_PROFILE_CHANGED:
            if self.on_profiles_changed is not None:
                self.on_profiles_changed()
        elif kind == xr.StructureType.EVENT_DATA_EVENTS_LOST:
            log.warning("OpenXR events were lost (queue overflow)")
        else:
            log.debug("OpenXR event %s", kind.name)

    def _on_state(self, state) -> None:
        xr, S = self.xr, self.xr.SessionState
        self.state = state
        self.states.append(state.name)
        log.info("XR session: %s", state.name)
        if state == S.READY:
            xr.begin_session(self.session, xr.SessionBeginInfo(primary_view_configuration_type=self.view_type))
            self.running = True
        elif state == S.STOPPING:
            xr.end_session(self.session)
            self.running = False
        elif state == S.LOSS_PENDING:
            self.running = False
            self.outcome = "restart"
        elif state == S.EXITING:
            self.running = False
            self.outcome = "exit"

    def request_exit(self) -> None:
        """Ask the runtime to end the session; the events then walk it to EXITING."""
        if self.exit_requested:
            return
        self.exit_requested = True
        if self.running:
            self.xr.request_exit_session(self.session)
        else:  # never began (or already stopped): nothing to drain
            self.outcome = self.outcome or "exit"


@dataclass
class FrameTicket:
    """What the body of :func:`xr_frame` sees, and the layers it submits."""

    state: object  # xr.FrameState
    began: bool
    layers: list = field(default_factory=list)
    keep: object = None  # structures the layers point into, kept alive until xrEndFrame

    @property
    def should_render(self) -> bool:
        return self.began and bool(self.state.should_render)


@dataclass
class FrameCounters:
    waited: int = 0
    ended: int = 0
    begin_call_order_errors: int = 0
    work_ms: list = field(default_factory=list)  # per frame: xrWaitFrame returned → xrEndFrame returned


@contextmanager
def xr_frame(xr, session, blend_mode, counters: FrameCounters) -> Iterator[FrameTicket]:
    """wait → begin → yield → end with the ticket's layers. The end always runs after a begin."""
    state = xr.wait_frame(session)
    t0 = time.perf_counter()
    counters.waited += 1
    try:
        xr.begin_frame(session)
        began = True
    except xr.CallOrderInvalidError:
        # Monado 25 headless: xrWaitFrame does not register, so every xrBeginFrame fails with
        # XR_ERROR_CALL_ORDER_INVALID. Nothing to end then; input still works.
        began = False
        counters.begin_call_order_errors += 1
    ticket = FrameTicket(state, began)
    ok = False
    try:
        yield ticket
        ok = True
    finally:
        if began:
            layers = ticket.layers if ok else []
            info = xr.FrameEndInfo(display_time=state.predicted_display_time, environment_blend_mode=blend_mode,
                                   layers=layers)
            try:
                xr.end_frame(session, info)
                counters.ended += 1
                counters.work_ms.append((time.perf_counter() - t0) * 1000)
            except xr.XrException:
                if ok:
                    raise
                log.debug("xrEndFrame failed while unwinding", exc_info=True)


class XrSession(StackOwner):
    """Owns one session and what belongs to it. Use as ``with``; destroyed in reverse order."""

    VIEW_TYPE_NAME = "PRIMARY_STEREO"

    def __init__(self, instance, graphics, actions, ledger: HandleLedger, *, scale: float = 1.0, space: str = "local",
                 overlay_size: tuple[int, int] | None = None):
        if space not in SPACES:
            raise UsageError(f"unknown XR reference space {space!r}", f"choose one of: {', '.join(SPACES)}")
        self.instance = instance
        self.xr = instance.xr
        self.graphics = graphics
        self.actions = actions
        self.ledger = ledger
        self.scale = scale
        self.space_name = space
        super().__init__()
        self.handle = None
        self.app_space = None
        self.view_space = None
        self.swapchains: list[Swapchain] = []
        #: the HUD's quad-layer swapchain (RGBA, ``overlay_size``), when asked for and offered
        self.overlay_size = overlay_size
        self.overlay_swapchain: Swapchain | None = None
        self.blend_mode = None
        self.view_type = self.xr.ViewConfigurationType.PRIMARY_STEREO
        self.lifecycle: SessionLifecycle | None = None

    def __exit__(self, *exc) -> None:
        self.graphics.make_current()  # the runtime frees its GL side of the swapchains now
        self._stack.close()

    def _open(self) -> None:
        xr, inst = self.xr, self.instance
        types = list(xr.enumerate_view_configurations(inst.handle, inst.system_id))
        if self.view_type not in types:
            raise RuntimeUnavailable(f"the headset has no stereo view configuration (offers {types})",
                                     "use a stereo HMD runtime")
        self.graphics.make_current()
        info = xr.SessionCreateInfo(system_id=inst.system_id, next=self.graphics.pointer)
        self.handle = self._stack.enter_context(owned(
            self.ledger, "session", lambda: xr.create_session(inst.handle, info), xr.destroy_session))
        self.lifecycle = SessionLifecycle(xr, inst.handle, self.handle, self.view_type,
                                          on_profiles_changed=lambda: self.actions.update_profiles(self.handle))
        self.actions.attach(self.handle)
        spaces = list(xr.enumerate_reference_spaces(self.handle))
        want = xr.ReferenceSpaceType.STAGE if self.space_name == "stage" else xr.ReferenceSpaceType.LOCAL
        if want not in spaces:
            log.info("reference space %s not offered; using LOCAL", want.name)
            want = xr.ReferenceSpaceType.LOCAL
        self.app_space = self._reference_space(want)
        self.view_space = self._reference_space(xr.ReferenceSpaceType.VIEW)
        modes = list(xr.enumerate_environment_blend_modes(inst.handle, inst.system_id, self.view_type))
        self.blend_mode = xr.EnvironmentBlendMode.OPAQUE if xr.EnvironmentBlendMode.OPAQUE in modes else modes[0]
        views = xr.enumerate_view_configuration_views(inst.handle, inst.system_id, self.view_type)
        fmt, srgb = pick_color_format(list(xr.enumerate_swapchain_formats(self.handle)))
        for v in views:
            w, h = eye_size((v.recommended_image_rect_width, v.recommended_image_rect_height),
                            (v.max_image_rect_width, v.max_image_rect_height), self.scale)
            self.swapchains.append(self._stack.enter_context(
                open_swapchain(xr, self.handle, self.ledger, w, h, fmt, srgb)))
        log.info("XR swapchains: %d × %dx%d, format 0x%x (%s)", len(self.swapchains), self.swapchains[0].width,
                 self.swapchains[0].height, fmt, "sRGB" if srgb else "linear")
        if self.overlay_size is not None:
            offered = list(xr.enumerate_swapchain_formats(self.handle))
            alpha = [(f, srgb) for f, srgb in ((GL_SRGB8_ALPHA8, True), (GL_RGBA8, False)) if f in offered]
            if alpha:  # a quad layer needs alpha; without such a format the HUD goes into the eyes
                w, h = self.overlay_size
                self.overlay_swapchain = self._stack.enter_context(
                    open_swapchain(xr, self.handle, self.ledger, w, h, *alpha[0]))

    def _reference_space(self, kind):
        xr = self.xr
        info = xr.ReferenceSpaceCreateInfo(reference_space_type=kind, pose_in_reference_space=xr.Posef())
        return self._stack.enter_context(owned(
            self.ledger, f"space:{kind.name.lower()}", lambda: xr.create_reference_space(self.handle, info),
            xr.destroy_space))

    # -- per frame ------------------------------------------------------------------
    def locate(self, display_time):
        """(eye views, head pose) in the app space, or None when tracking is not valid."""
        xr = self.xr
        view_state, views = xr.locate_views(self.handle, xr.ViewLocateInfo(
            view_configuration_type=self.view_type, display_time=display_time, space=self.app_space))
        need = xr.ViewStateFlags.ORIENTATION_VALID_BIT | xr.ViewStateFlags.POSITION_VALID_BIT
        if (int(view_state.view_state_flags) & int(need)) != int(need):
            return None
        head = xr.locate_space(self.view_space, self.app_space, display_time)
        return list(views), head.pose

    def locate_head(self, xr_time: int):
        """The head (VIEW space) pose in the app space at ``xr_time``, or None when not tracked."""
        xr = self.xr
        loc = xr.locate_space(self.view_space, self.app_space, xr_time)
        need = xr.SpaceLocationFlags.ORIENTATION_VALID_BIT
        if (int(loc.location_flags) & int(need)) != int(need):
            return None
        return loc.pose
