"""What the XR output takes and gives back: :class:`XrOptions` (how to run it, checked once) and
:class:`XrReport` (what a run did: the tests and the benchmark read it), and the observers a test
or the benchmark can hang on the eyes and the HUD (:mod:`artem_vr.xr.presenter` runs it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from artem_vr.errors import UsageError, shown
from artem_vr.render.geometry import ViewConfig
from artem_vr.xr.graphics import GRAPHICS
from artem_vr.xr.handles import HandleLedger
from artem_vr.xr.instance import ValidationLog
from artem_vr.xr.session import SPACES

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
            raise UsageError(f"--xr-hang-timeout {shown(self.hang_timeout)} is out of range", "use 1–600 seconds (default 10)")
        if self.pose_source not in POSE_SOURCES:
            raise UsageError(f"unknown pose source {self.pose_source!r}", f"choose one of: {', '.join(POSE_SOURCES)}")
        if self.hud_mode not in HUD_MODES:
            raise UsageError(f"unknown HUD mode {self.hud_mode!r}", f"choose one of: {', '.join(HUD_MODES)}")
        if self.graphics not in GRAPHICS:
            raise UsageError(f"unknown XR graphics binding {self.graphics!r}", f"choose one of: {', '.join(GRAPHICS)}")
        if not (0.1 <= self.scale <= 4.0):
            raise UsageError(f"XR swapchain scale {shown(self.scale)} is outside 0.1–4", "e.g. 1.0 (the runtime's size)")
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
