"""The contracts between the parts of a run: a leaf module (it imports no other part).

* :class:`StylizedFrame` — a finished frame, from the worker to an output.
* :class:`Commands` — every user command by meaning. Its method names *are* the XR action names
  (:data:`artem_vr.xr.actions.ACTIONS`) and the targets of the mirror keys
  (:data:`artem_vr.render.keys.KEY_BINDINGS`); :data:`COMMANDS` lists them.
* :class:`Status` — what a run is doing now (HUD, terminal status line).
* :class:`FrameFeed` — what an Output reads and reports to.
* :class:`Output` — an output's lifecycle: ``with output:`` opens its resources, ``run(feed)``
  presents until the feed asks to stop.

The implementations: :class:`artem_vr.control.Controller` (Commands),
:class:`artem_vr.pipeline.Pipeline` (FrameFeed), and the outputs in ``render/`` and ``xr/``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from artem_vr.frames import to_rgb8_batch
from artem_vr.text import pixel_counts
from artem_vr.timing import StageClock

#: what ``--output`` takes
OUTPUTS = ("auto", "xr", "mirror", "headless")
#: the upload kinds an Output chooses from when it opens: CUDA–GL interop keeps frames on the device
INTEROP = "cuda-gl interop"
HOST = "host"


# ---------------------------------------------------------------------------- frames
@dataclass
class StylizedFrame:
    """A finished frame. Exactly one of ``tensor`` (float (N, 3, H, W) RGB 0–1 on the stylizer's
    CUDA device, kept there for CUDA–GL interop) or ``eyes`` (N host uint8 (H, W, 3) RGB images)
    is set. N = 1 (mono) or 2 (left, right)."""

    eyes: list[np.ndarray] | None
    seq: int
    source_index: int
    source_t: float
    done_t: float
    style: str | None
    method: str
    stylize_ms: float = 0.0
    tensor: object | None = None
    #: CUDA event recorded on the worker's stream after ``tensor`` was written: a consumer on
    #: another stream waits on it (GPU-side) before reading — never on the worker's later frames
    ready: object | None = None

    def host_eyes(self) -> list[np.ndarray]:
        """The eye images on the host (a device → host copy when the frame is on the GPU)."""
        if self.eyes is None:
            if self.ready is not None:
                self.ready.synchronize()
            self.eyes = to_rgb8_batch(self.tensor)
        return self.eyes

    def wait_on_current_stream(self) -> None:
        """Order the current CUDA stream after this frame's stylization (GPU-side, no host wait),
        and keep the tensor's memory from being reused until that stream has read it."""
        if self.ready is not None:
            import torch  # only reached with a CUDA frame: torch is loaded already

            cur = torch.cuda.current_stream(self.tensor.device)
            cur.wait_event(self.ready)
            self.tensor.record_stream(cur)


# ---------------------------------------------------------------------------- status
@dataclass(frozen=True)
class Status:
    """What a run is doing now: the HUD shows it, the terminal prints it every few seconds.

    The counts (``recenters``, ``hud_toggles``, ``help_requests``, ``snapshots``) are how many
    times each view command was given so far: an output acts when one grows."""

    style: str | None
    index: int  # 0-based
    styles: int
    method: str
    strength: float
    stylize: bool
    stylized_fps: float
    display_fps: float
    age_ms: float | None  # capture → display of the frame shown, None before the first
    source: str  # "live" | "reconnecting" | "ended"
    source_s: float | None  # seconds since the source's newest frame (None before the first)
    recenters: int = 0
    hud_toggles: int = 0
    help_requests: int = 0
    snapshots: int = 0
    #: (pixels the network processed, pixels of the frame) for the last stylized frame, all eyes
    network_pixels: tuple[int, int] | None = None

    @property
    def style_name(self) -> str:
        return Path(self.style).name if self.style else "none"

    def source_text(self) -> str:
        if self.source != "live" and self.source_s is not None:  # stalled, reconnecting, ended
            return f"{self.source}, picture {self.source_s:.0f} s old"
        return self.source

    def key(self) -> tuple:
        """What a person changes (or the source does): the HUD shows itself when this changes."""
        return (self.style, self.index, self.method, round(self.strength, 2), self.stylize, self.source)

    def pixels_text(self) -> str:
        """``network 3.5/9.0 Mpx (39 %)``, or "" before the first frame."""
        if not self.network_pixels:
            return ""
        net, full = self.network_pixels
        return f"network {pixel_counts(net, full)} ({100 * net / max(1, full):.0f} %)"

    def line(self) -> str:
        """One terminal line with every figure."""
        age = f"{self.age_ms:.0f} ms" if self.age_ms is not None else "–"
        px = f" · {self.pixels_text()}" if self.network_pixels else ""
        return (f"style {self.index + 1}/{max(1, self.styles)} {self.style_name} · {self.method} · "
                f"strength {self.strength:.2f} · stylize {'on' if self.stylize else 'off'} · "
                f"stylized {self.stylized_fps:.1f} fps · display {self.display_fps:.0f} fps · "
                f"frame age {age} · source {self.source_text()}{px}")


# ---------------------------------------------------------------------------- commands
#: every user command: XR actions, mirror keys and the tests resolve to these methods
COMMANDS = ("next_style", "prev_style", "pick", "set_strength", "change_strength", "toggle_stylize",
            "toggle_temporal", "toggle_stereo_consistency", "toggle_fovea_outline", "cycle_method", "recenter", "toggle_hud",
            "show_help", "snapshot", "quit")


@runtime_checkable
class Commands(Protocol):
    """User commands by meaning (the names are the XR action names and the mirror keys' targets)."""

    def next_style(self) -> None: ...
    def prev_style(self) -> None: ...
    def pick(self, i: int) -> None: ...
    def set_strength(self, v: float) -> None: ...
    def change_strength(self, d: float) -> None: ...
    def toggle_stylize(self) -> None: ...
    def toggle_temporal(self) -> None: ...
    def toggle_stereo_consistency(self) -> None: ...
    def toggle_fovea_outline(self) -> None: ...
    def cycle_method(self) -> None: ...
    def recenter(self) -> None: ...
    def toggle_hud(self) -> None: ...
    def show_help(self) -> None: ...
    def snapshot(self) -> None: ...
    def quit(self) -> None: ...


# ---------------------------------------------------------------------------- the feed
@runtime_checkable
class FrameFeed(Protocol):
    """What an Output reads (newest frame, commands, whether to stop) and reports to."""

    controller: Commands
    device: str
    clock: StageClock

    @property
    def stop_requested(self) -> bool: ...
    @property
    def wants_images(self) -> bool: ...
    def latest(self) -> StylizedFrame | None: ...
    def frame_presented(self, eye_images: list[np.ndarray] | None = None,
                        shown: StylizedFrame | None = None) -> None: ...
    def status(self) -> Status: ...
    def save_snapshot(self, eye_images: list[np.ndarray]) -> Path: ...


# ---------------------------------------------------------------------------- outputs
class Output(ABC):
    """An output: ``with output:`` opens its GL context, renderer and :class:`FrameUpload` (and,
    for XR, its instance and session objects) in one ExitStack, torn down in reverse order with its
    context current; :meth:`run` presents ``feed`` until it asks to stop."""

    name = "output"

    def __init__(self, device: str = "cpu"):
        self._stack: ExitStack | None = None
        self.upload = None  # the FrameUpload, once open
        #: the stylizer's device: decides the upload path when the output opens
        self.device = str(device)

    def __enter__(self):
        self._stack = ExitStack()
        try:
            self.open(self._stack)
        except BaseException:
            self._stack.close()
            self._stack = None
            raise
        return self

    def __exit__(self, *exc):
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    @property
    def upload_kind(self) -> str:
        return self.upload.kind if self.upload is not None else "none"

    @abstractmethod
    def open(self, stack: ExitStack) -> None:
        """Create the output's resources, each entered into ``stack``."""

    @abstractmethod
    def run(self, feed: FrameFeed):
        """Present until ``feed.stop_requested``; returns the output's report/stats."""
