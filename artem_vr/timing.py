"""Stage timing and rates of a running pipeline (thread-safe; CUDA events on a GPU), and a
periodic background thread (:class:`PeriodicThread`)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np

#: the stages of one frame, in order (the bench reports these; ``readback`` only on the host path)
STAGES = ("capture_wait", "upload", "stylize", "readback", "to_texture", "render", "submit")


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


# ---------------------------------------------------------------------------- periodic work
class PeriodicThread:
    """Calls ``tick()`` every ``period`` seconds on a daemon thread named ``name``, from
    :meth:`start` until :meth:`stop` (which waits up to 2 s for a tick in progress to end)."""

    def __init__(self, period: float, tick: Callable[[], None], name: str):
        self.period, self._tick, self.name = period, tick, name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self._tick()

    def start(self) -> "PeriodicThread":
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
