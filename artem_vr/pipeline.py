"""One frame's path, top to bottom: config → source → worker → Output.

    RunConfig (frozen, validated once from the command line)
      → a FrameSource (capture thread, newest frame only)
      → StylizerWorker (own thread: capture wait, upload, stylize — both eyes in one batch)
      → Pipeline (the FrameFeed an Output reads: newest StylizedFrame, commands, stop, timings)
      → an Output (headless | mirror | xr): owns its GL context, renderer and FrameUpload
        (CUDA–GL interop or host, chosen once) in one ExitStack; to-texture, render, submit.

`artem-vr run`, `artem-vr bench` and the tests all build this same chain; the bench only
swaps the source for an unpaced one and reads :attr:`Pipeline.clock`.

Contracts (written here, checked in tests):

* :class:`Commands` — every user command by meaning. Its method names *are* the XR action names
  (:data:`artem_vr.xr.actions.ACTIONS`) and the targets of the mirror keys
  (:data:`artem_vr.render.mirror.KEY_BINDINGS`); :data:`COMMANDS` lists them.
* :class:`FrameFeed` — what an Output reads and reports to.
* :class:`Output` — an output's lifecycle: ``with output:`` opens its resources, ``run(feed)``
  presents until the feed asks to stop.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from artem_vr.errors import ArtemError, UsageError
from artem_vr.frames import LatestSlot, check_size, to_rgb8_batch, to_tensor

log = logging.getLogger(__name__)

OUTPUTS = ("auto", "xr", "mirror", "headless")
#: the stages of one frame, in order (the bench reports these; ``readback`` only on the host path)
STAGES = ("capture_wait", "upload", "stylize", "readback", "to_texture", "render", "submit")


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' → (w, h), each 16–8192; anything else is a UsageError."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"eye size {text!r} is not WxH", "write it like 1440x1600") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise UsageError(f"eye size {text!r} is out of range", "each side must be 16–8192 pixels")
    return w, h


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
            import torch

            cur = torch.cuda.current_stream(self.tensor.device)
            cur.wait_event(self.ready)
            self.tensor.record_stream(cur)


# ---------------------------------------------------------------------------- timing
class StageClock:
    """Per-stage durations (ms) of the running pipeline, newest ``keep`` of each, thread-safe.

    ``span(name, device)`` times a block: on the CPU with the wall clock; on CUDA with a pair of
    CUDA events on the current stream, resolved later without a host synchronisation (``sync``:
    synchronise the device around the block instead)."""

    def __init__(self, keep: int = 600, sync: bool = False):
        self._lock = threading.Lock()
        self._samples: dict[str, deque] = {}
        self._pending: list = []
        self.sync = sync

    def add(self, name: str, ms: float) -> None:
        with self._lock:
            self._samples.setdefault(name, deque(maxlen=600)).append(float(ms))

    @contextmanager
    def span(self, name: str, device: str = "cpu"):
        cuda = str(device).startswith("cuda")
        if cuda and not self.sync:
            import torch

            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            yield
            b.record()
            with self._lock:
                self._pending.append((name, a, b))
            self._resolve()
            return
        if cuda:
            import torch

            torch.cuda.synchronize()
        t0 = time.perf_counter()
        yield
        if cuda:
            import torch

            torch.cuda.synchronize()
        self.add(name, (time.perf_counter() - t0) * 1e3)

    def _resolve(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        keep = []
        for name, a, b in pending:
            if b.query():
                self.add(name, a.elapsed_time(b))
            else:
                keep.append((name, a, b))
        with self._lock:
            self._pending = keep + self._pending

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()
            self._pending.clear()

    def summary(self) -> dict[str, dict | None]:
        """``{stage: {median, p99, n} | None}`` for every stage in :data:`STAGES` and any other seen."""
        if self._pending:
            import torch

            torch.cuda.synchronize()
            self._resolve()
        with self._lock:
            data = {k: list(v) for k, v in self._samples.items()}
        out: dict[str, dict | None] = {}
        for k in list(STAGES) + [k for k in data if k not in STAGES]:
            v = data.get(k)
            if v:
                a = np.asarray(v)
                out[k] = {"median": round(float(np.median(a)), 4), "p99": round(float(np.percentile(a, 99)), 4),
                          "n": int(a.size)}
            else:
                out[k] = None
        return out


class RateMeter:
    """Events per second over the last ``window`` seconds (thread-safe)."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self._t: deque = deque()
        self._lock = threading.Lock()
        self.total = 0

    def tick(self, t: float | None = None) -> None:
        t = time.monotonic() if t is None else t
        with self._lock:
            self._t.append(t)
            self.total += 1
            while self._t and t - self._t[0] > self.window:
                self._t.popleft()

    def rate(self) -> float:
        with self._lock:
            if len(self._t) < 2:
                return 0.0
            span = max(self._t[-1] - self._t[0], time.monotonic() - self._t[-1])
            return (len(self._t) - 1) / span if span > 0 else 0.0


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

    def line(self) -> str:
        """One terminal line with every figure."""
        age = f"{self.age_ms:.0f} ms" if self.age_ms is not None else "–"
        return (f"style {self.index + 1}/{max(1, self.styles)} {self.style_name} · {self.method} · "
                f"strength {self.strength:.2f} · stylize {'on' if self.stylize else 'off'} · "
                f"stylized {self.stylized_fps:.1f} fps · display {self.display_fps:.0f} fps · "
                f"frame age {age} · source {self.source_text()}")


def controller_status(controller: "Controller", *, stylized_fps: float = 0.0, display_fps: float = 0.0,
                      age_ms: float | None = None, source: tuple[str, float | None] = ("live", None)) -> Status:
    """A :class:`Status` from a controller's state and counts and the measured figures."""
    st, c = controller.state, controller
    return Status(style=st.styles[st.index] if st.styles else None, index=st.index, styles=len(st.styles),
                  method=st.method, strength=st.strength, stylize=st.stylize, stylized_fps=stylized_fps,
                  display_fps=display_fps, age_ms=age_ms, source=source[0], source_s=source[1],
                  recenters=c.recenter_count, hud_toggles=c.hud_toggles, help_requests=c.help_requests,
                  snapshots=c.snapshot_requests)


class StatusPrinter:
    """Prints ``feed.status().line()`` every ``period`` seconds on its own thread, so no run is
    silent (before the first frame it says it is waiting). ``with StatusPrinter(feed):``."""

    def __init__(self, feed, period: float = 5.0, printer=print):
        self.feed, self.period, self._print = feed, period, printer
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lines = 0

    def _run(self):
        while not self._stop.wait(self.period):
            st = self.feed.status()
            if st.age_ms is None:
                self._print(f"[status] waiting for the first stylized frame ({st.method} on "
                            f"{self.feed.device}) · source {st.source_text()}")
            else:
                self._print(f"[status] {st.line()}")
            self.lines += 1

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, name="status", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


# ---------------------------------------------------------------------------- recording time
def retime(timestamps, fps: float) -> list[int]:
    """Presentation times (s, increasing) → which presented frame each slot of a fixed ``fps``
    timeline shows: slot k (at ``t0 + k / fps``) shows the last frame presented at or before it.
    Frames faster than the timeline are dropped, slower ones repeated, so the clip lasts as long
    as the run did: frames presented over 45 s make ``45 × fps + 1`` slots (the last slot, at or
    just after the last frame, shows it)."""
    t = [float(x) for x in timestamps]
    if not t:
        return []
    if not fps > 0:
        raise UsageError(f"timeline rate {fps} must be positive")
    out, i = [], 0
    n = _ceil_slot(t[-1] - t[0], fps) + 1
    for k in range(n):
        slot = t[0] + k / fps
        while i + 1 < len(t) and t[i + 1] <= slot + 1e-9:
            i += 1
        out.append(i)
    return out


def _ceil_slot(dt: float, fps: float) -> int:
    """The first slot at or after ``dt`` seconds (a hair of float error tolerated)."""
    return max(0, int(math.ceil(dt * fps - 1e-6)))


class Timeline:
    """:func:`retime` as frames come: ``add(t)`` says how many times to write the *previous*
    frame now (0: it was dropped), ``finish()`` how many times the last one (always 1).
    Writing accordingly gives exactly ``retime(all_times, fps)``."""

    def __init__(self, fps: float):
        if not fps > 0:
            raise UsageError(f"timeline rate {fps} must be positive")
        self.fps = float(fps)
        self.t0: float | None = None
        self.written = 0  # slots filled so far

    def add(self, t: float) -> int:
        if self.t0 is None:
            self.t0 = float(t)
            return 0
        # the slots before this frame's first slot belong to the previous frame
        n = max(0, _ceil_slot(float(t) - self.t0, self.fps) - self.written)
        self.written += n
        return n

    def finish(self) -> int:
        if self.t0 is None:
            return 0
        self.written += 1
        return 1


# ---------------------------------------------------------------------------- commands
#: every user command: XR actions, mirror keys and the tests resolve to these methods
COMMANDS = ("next_style", "prev_style", "pick", "set_strength", "change_strength", "toggle_stylize",
            "toggle_temporal", "toggle_stereo_consistency", "cycle_method", "recenter", "toggle_hud",
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
    def cycle_method(self) -> None: ...
    def recenter(self) -> None: ...
    def toggle_hud(self) -> None: ...
    def show_help(self) -> None: ...
    def snapshot(self) -> None: ...
    def quit(self) -> None: ...


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


# ---------------------------------------------------------------------------- stylizing
class StylizerWorker:
    """Stylizes the newest source frame on its own thread; publishes the newest result.

    Stages timed into ``clock``: ``capture_wait`` (waiting for a frame newer than the last),
    ``upload`` (host uint8 → device float tensor; pinned + non-blocking on CUDA), ``stylize``
    (both eyes in one batch), ``readback`` (device → host uint8; only when the output takes host
    images, i.e. not with CUDA–GL interop: see :attr:`keep_on_device`)."""

    def __init__(self, source, controller: Controller, device: str = "cpu", factory=None,
                 wrap=None, initial_style: str | None = None, clock: StageClock | None = None):
        from artem_vr.style.base import make_stylizer

        self.source = source
        self.controller = controller
        self.device = device
        self._factory = factory or make_stylizer
        self._wrap = wrap  # callable(stylizer, state) -> stylizer (temporal / stereo wrappers)
        self._stylizers: dict[str, object] = {}
        self.out: LatestSlot[StylizedFrame] = LatestSlot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self.frames_done = 0
        self.rate = RateMeter()
        self.clock = clock or StageClock()
        #: True when the output uploads device tensors (CUDA–GL interop): no host copy here
        self.keep_on_device = False
        st = controller.state
        self._active = self._stylizer(st.method)
        if initial_style is not None and initial_style not in st.styles:
            self._active.set_style(initial_style)  # a file path: validated here, in the caller's thread
            st.styles = [initial_style] + st.styles
            st.index = 0
        elif st.styles:
            self._active.set_style(st.styles[st.index])
        self._active.strength = st.strength

    def _stylizer(self, method: str):
        if method not in self._stylizers:
            base = self._factory(method, None, device=self.device)
            self._stylizers[method] = self._wrap(base, self.controller.state) if self._wrap else base
        return self._stylizers[method]

    @property
    def stylizer(self):
        return self._active

    def start(self):
        self._thread = threading.Thread(target=self._run, name="stylizer", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.out.close()

    def _apply(self, cmds):
        st, c = self.controller.state, self.controller
        for kind, arg in cmds:
            if kind in ("step", "pick"):
                if not st.styles:
                    continue
                i = (st.index + arg) % len(st.styles) if kind == "step" else arg
                if not 0 <= i < len(st.styles):
                    c.say(f"style {i + 1}: there are {len(st.styles)} styles (1–{len(st.styles)})")
                    continue
                st.index = i
                self._active.set_style(st.styles[i])
                self._active.reset_temporal()
                c.say(c.style_line())
            elif kind in ("strength", "strength_delta"):
                v = arg if kind == "strength" else st.strength + arg
                st.strength = float(min(1.0, max(0.0, v)))
                self._active.strength = st.strength
                c.say(f"strength: {st.strength:.2f}")
            elif kind == "toggle":
                setattr(st, arg, not getattr(st, arg))
                if arg == "temporal":
                    self._active.reset_temporal()
                c.say(f"{arg.replace('_', ' ')}: {'on' if getattr(st, arg) else 'off'}")
            elif kind == "method":
                if len(st.methods) < 2:
                    c.say(f"method: {st.method} (the only one with models here)")
                    continue
                st.method = st.methods[(st.methods.index(st.method) + arg) % len(st.methods)]
                self._active = self._stylizer(st.method)
                current = st.styles[st.index] if st.styles else None
                st.styles = self._active.styles() or st.styles
                st.index = st.styles.index(current) if current in st.styles else 0
                if st.styles:
                    self._active.set_style(st.styles[st.index])
                self._active.strength = st.strength
                self._active.reset_temporal()
                c.say(f"method: {st.method}")
                c.say(c.style_line())

    def stylize_frame(self, frame):
        """Stylize one source Frame (both eyes in one batch) → (host eyes | None, device tensor | None)."""
        st = self.controller.state
        left, right = frame.eyes()
        eyes = [left] if frame.stereo is None else [left, right]
        if not st.stylize:
            return eyes, None
        dev = self._active.device
        with self.clock.span("upload", dev):
            x = to_tensor(eyes, device=dev)
        with self.clock.span("stylize", dev):
            y = self._active.stylize(x)
        if self.keep_on_device and y.is_cuda:
            return None, y
        with self.clock.span("readback", "cpu"):
            return to_rgb8_batch(y), None

    def _run(self):
        if str(self.device).startswith("cuda"):
            import torch

            # its own stream: a consumer (the output's upload) waits for one frame's event, not
            # for every frame the worker has queued after it (the default stream would serialise
            # the GL interop behind all of them)
            with torch.cuda.stream(torch.cuda.Stream(device=self.device)):
                self._loop(cuda=True)
        else:
            self._loop(cuda=False)

    def _loop(self, cuda: bool):
        last = -1
        in_flight = None  # the previous frame's event: at most one frame queued on the GPU
        try:
            while not self._stop.is_set():
                self._apply(self.controller.pending())
                t0 = time.perf_counter()
                frame = self.source.wait_frame(last, timeout=0.1)
                if frame is None:
                    if self.source.ended:
                        if self.source.error is not None:
                            raise self.source.error
                        break
                    continue
                t1 = time.perf_counter()
                self.clock.add("capture_wait", (t1 - t0) * 1e3)
                if last < 0:  # the first frame: a source too small to stylize is one clear error
                    left, _right = frame.eyes()
                    check_size(left.shape[1], left.shape[0], self.source.label)
                last = frame.index
                eyes, tensor = self.stylize_frame(frame)
                ready = None
                if cuda and tensor is not None:
                    import torch

                    ready = torch.cuda.Event()
                    ready.record()
                if in_flight is not None:
                    in_flight.synchronize()  # bound the queue: newest-frame semantics, no latency build-up
                in_flight = ready
                dt = (time.perf_counter() - t1) * 1000
                self.frames_done += 1
                self.rate.tick()
                st = self.controller.state
                self.out.put(StylizedFrame(eyes, self.frames_done, frame.index, frame.t, time.monotonic(),
                                           st.styles[st.index] if st.styles else None, st.method, dt, tensor, ready))
        except BaseException as e:  # handed to the pipeline, re-raised in the main thread
            self.error = e
        finally:
            self.finished.set()


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


class Pipeline:
    """The :class:`FrameFeed` of a run: a source, its worker, the controller, an optional recorder."""

    def __init__(self, source, worker: StylizerWorker, controller: Controller,
                 max_frames: int | None = None, recorder=None, snapshot_dir: Path = Path("out")):
        self.source = source
        self.worker = worker
        self.controller = controller
        self.max_frames = max_frames
        self.recorder = recorder
        self.frames_presented = 0
        self.started = time.monotonic()
        self.display_rate = RateMeter()
        self.shown_age_ms: deque = deque(maxlen=600)  # capture → present of each presented frame
        self.snapshot_dir = Path(snapshot_dir)
        self._timeline: Timeline | None = None
        self._held: list[np.ndarray] | None = None  # the last presented images, not yet written

    @property
    def device(self) -> str:
        return str(self.worker.device)

    @property
    def clock(self) -> StageClock:
        return self.worker.clock

    def set_upload(self, kind: str) -> None:
        """The output's upload path, chosen once when it opened: interop keeps frames on the device."""
        from artem_vr.render.upload import INTEROP

        self.worker.keep_on_device = kind == INTEROP

    @property
    def wants_images(self) -> bool:
        return self.recorder is not None

    @property
    def stop_requested(self) -> bool:
        if self.controller.quit_requested.is_set():
            return True
        if self.max_frames is not None and self.frames_presented >= self.max_frames:
            return True
        # A finished (ended or failed) stylizer thread with nothing newer to show ends the run.
        return self.worker.finished.is_set()

    def latest(self) -> StylizedFrame | None:
        return self.worker.out.get()[1]

    def wait_first(self, timeout: float = 30.0) -> StylizedFrame | None:
        """Block until the first stylized frame exists (start-up only, never in the frame loop)."""
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end and not self.worker.finished.is_set():
            seq, f = self.worker.out.wait_newer(0, timeout=0.2)
            if f is not None:
                return f
        return self.latest()

    def frame_presented(self, eye_images: list[np.ndarray] | None = None, shown: StylizedFrame | None = None) -> None:
        now = time.monotonic()
        self.frames_presented += 1
        self.display_rate.tick(now)
        if shown is not None:
            self.shown_age_ms.append((now - shown.source_t) * 1e3)
        if self.recorder is not None and eye_images:
            self._record(eye_images, now)

    # recording in real time: each presented frame is written for as many slots of the
    # recorder's fixed-rate timeline as it stayed on screen (see :func:`retime`)
    def _record(self, eye_images: list[np.ndarray], t: float) -> None:
        if self._timeline is None:
            self._timeline = Timeline(self.recorder.fps)
        for _ in range(self._timeline.add(t)):
            self.recorder.add(self._held)
        self._held = list(eye_images)

    def finish_recording(self) -> None:
        """Write the last presented frame (held until the next one says how long it stayed).
        Call before ``recorder.close()``."""
        if self.recorder is not None and self._timeline is not None and self._held is not None:
            for _ in range(self._timeline.finish()):
                self.recorder.add(self._held)
            self._held = None

    def close_recording(self) -> None:
        """Finish the recording: the last presented frame for as long as it stayed, then the file
        (verified, renamed into place). Idempotent; nothing to do without a recorder."""
        if self.recorder is not None:
            self.finish_recording()
            self.recorder.close()

    def status(self) -> Status:
        age = self.shown_age_ms[-1] if self.shown_age_ms else None
        return controller_status(self.controller, stylized_fps=self.worker.rate.rate(),
                                 display_fps=self.display_rate.rate(), age_ms=age, source=self.source.state())

    def save_snapshot(self, eye_images: list[np.ndarray]) -> Path:
        """The eye images side by side → a new PNG in :attr:`snapshot_dir` (written to a temporary
        name, then renamed); prints and returns its path."""
        path = write_snapshot(self.snapshot_dir, eye_images)
        self.controller.say(f"snapshot: {path}")
        return path


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


# ---------------------------------------------------------------------------- config
@dataclass(frozen=True)
class RunConfig:
    """`artem-vr run`, parsed and validated once. Nothing downstream reads argparse."""

    source: str = "sample"
    stereo: str | None = None
    loop: bool = True
    style: str | None = None
    method: str | None = None
    strength: float = 1.0
    output: str = "auto"
    eye_size: tuple[int, int] = (640, 360)
    view_mode: str = "screen"
    ipd_mm: float = 63.0
    frames: int | None = None
    record: Path | None = None
    out_dir: Path = Path("out")
    temporal: bool = True
    stereo_consistency: bool = True
    device: str = "auto"
    internal_scale: float | None = None
    stylizer_options: tuple = ()  # (key, value) pairs for the stylizer factory, per method
    xr_graphics: str = "auto"
    xr_mirror: bool = False
    xr_scale: float = 1.0
    xr_space: str = "local"
    xr_validation: bool = False
    xr_hang_timeout: float = 10.0
    extra: tuple = field(default=())

    def __post_init__(self):
        if self.output not in OUTPUTS:
            raise UsageError(f"unknown output {self.output!r}", f"choose one of: {', '.join(OUTPUTS)}")
        if not 0.0 <= self.strength <= 1.0:
            raise UsageError(f"--strength {self.strength} is outside 0–1", "use e.g. --strength 0.7")
        if self.frames is not None and self.frames < 1:
            raise UsageError(f"--frames {self.frames} must be at least 1", "e.g. --frames 30")
        if self.internal_scale is not None and not 0.0 < self.internal_scale <= 1.0:
            raise UsageError(f"--internal-scale {self.internal_scale} is out of range", "use a value in (0, 1], e.g. 0.5")
        if not 0.1 <= self.xr_scale <= 4.0:
            raise UsageError(f"--xr-scale {self.xr_scale} is out of range", "use 0.1–4.0, e.g. 0.8")
        self.view()  # the view's own checks (mode, IPD)

    def view(self):
        from artem_vr.render.geometry import ViewConfig

        return ViewConfig(mode=self.view_mode, desk_ipd=self.ipd_mm / 1000.0)

    def options(self) -> dict:
        return dict(self.stylizer_options)


def resolve_device(text: str) -> str:
    """``auto`` → cuda when a CUDA driver and device answer, else cpu; ``cuda…`` without one → error."""
    from artem_vr.cuda.device import cuda_available

    if text != "auto":
        if text.startswith("cuda"):
            ok, why = cuda_available()
            if not ok:
                raise UsageError(f"--device {text}: {why}", "use --device cpu (or auto) on this machine")
        return text
    ok, _ = cuda_available()
    return "cuda" if ok else "cpu"


def choose_output(requested: str, printer=print) -> str:
    """xr when an OpenXR runtime answers, else mirror when a display works, else headless."""
    if requested not in OUTPUTS:
        raise UsageError(f"unknown output {requested!r}", f"choose one of: {', '.join(OUTPUTS)}")
    if requested != "auto":
        return requested
    from artem_vr.xr.probe import xr_available

    ok, why = xr_available()
    if ok:
        printer("output: xr (an OpenXR runtime answered)")
        return "xr"
    if display_works():
        printer(f"output: mirror (no OpenXR runtime: {why})")
        return "mirror"
    printer(f"output: headless (no OpenXR runtime: {why}; no display)")
    return "headless"


def display_works() -> bool:
    """A desktop to open the mirror window on (Linux: $DISPLAY / $WAYLAND_DISPLAY and an answer)."""
    import sys

    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return False
    from artem_vr.render.context import display_available

    return bool(display_available())


def make_output(kind: str, config: RunConfig) -> Output:
    """The Output for ``kind`` (xr | mirror | headless) with the run's options."""
    if kind == "xr":
        from artem_vr.xr.presenter import XrOptions, XrOutput

        return XrOutput(XrOptions(graphics=config.xr_graphics, scale=config.xr_scale, view=config.view(),
                                  mirror=config.xr_mirror, validation=config.xr_validation,
                                  max_frames=config.frames, space=config.xr_space, hud=True,
                                  hang_timeout=config.xr_hang_timeout))
    if kind == "mirror":
        from artem_vr.render.mirror import MirrorOutput

        return MirrorOutput(config.eye_size, config.view(), max_fps=30.0 if config.record is not None else 60.0,
                            hud=True)
    if kind == "headless":
        from artem_vr.render.headless import HeadlessOutput

        return HeadlessOutput(config.eye_size, config.view(), hud=True)
    raise UsageError(f"unknown output {kind!r}", "choose xr, mirror or headless")


def present(pipeline: Pipeline, output: Output, printer=print):
    """Open ``output``, start the worker, present until the pipeline stops; re-raise a worker error.

    The order matters: the output opens first (its upload path decides whether the worker keeps
    frames on the device), then the worker starts, then the first frame is awaited."""
    output.device = pipeline.device
    with output:
        pipeline.set_upload(output.upload_kind)
        printer(f"upload: {output.upload_kind}" + (f" ({output.upload.reason})" if output.upload is not None
                                                    and output.upload_kind != "cuda-gl interop" else ""))
        pipeline.worker.start()
        pipeline.wait_first()
        return output.run(pipeline)


def write_snapshot(folder: Path, eye_images: list[np.ndarray]) -> Path:
    """Eye images side by side → ``folder/snapshot-<date>-<time>[-n].png``, atomically (a
    temporary file in the same folder, renamed once written); a name taken gets ``-2``, ``-3``…"""
    from artem_vr.sources.imageio import write_image

    img = eye_images[0] if len(eye_images) == 1 else np.concatenate(list(eye_images), axis=1)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = time.strftime("snapshot-%Y%m%d-%H%M%S")
    path, n = folder / f"{stem}.png", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.png"
    tmp = folder / f".{path.stem}.tmp-{os.getpid()}.png"
    try:
        write_image(tmp, img)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def worker_error(pipeline: Pipeline) -> BaseException | None:
    return pipeline.worker.error or pipeline.source.error


def as_artem_error(err: BaseException) -> ArtemError:
    from artem_vr.errors import SourceError

    if isinstance(err, ArtemError):
        return err
    e = SourceError(f"the run stopped: {type(err).__name__}: {err}",
                    "what was recorded so far is kept; run with --debug for details")
    e.__cause__ = err
    return e
