"""The user's commands and the state they change: :class:`Controller` implements
:class:`~artem_vr.contracts.Commands` (queued, applied by the stylizer thread between frames);
:func:`controller_status` turns its state and the measured rates into a
:class:`~artem_vr.contracts.Status`."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

from artem_vr.contracts import Status


@dataclass
class ControlState:
    method: str
    methods: list[str]
    styles: list[str]
    index: int = 0
    strength: float = 1.0
    stylize: bool = True
    temporal: bool = True
    stereo_consistency: bool = True
    fovea_outline: bool = False


class Controller:
    """Implements :class:`Commands`. Thread-safe: commands are queued and applied by the stylizer
    thread between frames, so nothing races a running network; each change prints one line.

    The view commands (recenter, HUD toggle, help, snapshot) are counted instead: the output reads
    the counts in :meth:`Pipeline.status` and acts when one grew (an output owns its view)."""

    def __init__(self, state: ControlState, printer=print):
        self.state = state
        self._q: "queue.SimpleQueue[tuple[str, object]]" = queue.SimpleQueue()
        self._print = printer
        self.quit_requested = threading.Event()
        self.recenter_count = 0
        self.hud_toggles = 0
        self.help_requests = 0
        self.snapshot_requests = 0

    def next_style(self):
        self._q.put(("step", +1))

    def prev_style(self):
        self._q.put(("step", -1))

    def pick(self, i: int):
        self._q.put(("pick", int(i)))

    def set_strength(self, v: float):
        self._q.put(("strength", float(v)))

    def change_strength(self, d: float):
        self._q.put(("strength_delta", float(d)))

    def toggle_stylize(self):
        self._q.put(("toggle", "stylize"))

    def toggle_temporal(self):
        self._q.put(("toggle", "temporal"))

    def toggle_stereo_consistency(self):
        self._q.put(("toggle", "stereo_consistency"))

    def toggle_fovea_outline(self):
        self._q.put(("toggle", "fovea_outline"))

    def cycle_method(self):
        self._q.put(("method", +1))

    def recenter(self):
        self.recenter_count += 1
        self._print("recenter")

    def toggle_hud(self):
        self.hud_toggles += 1

    def show_help(self):
        self.help_requests += 1

    def snapshot(self):
        self.snapshot_requests += 1

    def quit(self):
        self.quit_requested.set()

    # applied by the worker -------------------------------------------------------
    def pending(self) -> list[tuple[str, object]]:
        out = []
        while True:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                return out

    def say(self, line: str):
        self._print(line)

    def style_line(self) -> str:
        s = self.state
        name = s.styles[s.index] if s.styles else "none"
        return f"style: {name} ({s.index + 1}/{max(1, len(s.styles))})"



def controller_status(controller: "Controller", *, stylized_fps: float = 0.0, display_fps: float = 0.0,
                      age_ms: float | None = None, source: tuple[str, float | None] = ("live", None),
                      network_pixels: tuple[int, int] | None = None) -> Status:
    """A :class:`Status` from a controller's state and counts and the measured figures."""
    st, c = controller.state, controller
    return Status(style=st.styles[st.index] if st.styles else None, index=st.index, styles=len(st.styles),
                  method=st.method, strength=st.strength, stylize=st.stylize, stylized_fps=stylized_fps,
                  display_fps=display_fps, age_ms=age_ms, source=source[0], source_s=source[1],
                  recenters=c.recenter_count, hud_toggles=c.hud_toggles, help_requests=c.help_requests,
                  snapshots=c.snapshot_requests, network_pixels=network_pixels)
