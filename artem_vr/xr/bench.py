"""`artem-vr bench --output xr`: does the XR loop keep the display fed while the stylizer is slow?

:func:`bench_xr` runs the real XR output for ``seconds`` against a pipeline whose stylizer
takes ``slow_ms`` per frame (default 200 ms, far slower than any display), and reports:

* display periods offered by the runtime vs frames submitted, and how many periods were
  missed (gaps in the predicted display times) — the target is none;
* the age of the stylized frame shown at each frame's predicted display time (median, p99),
  measured from capture and from the end of stylization.

When no runtime is configured and the headless Monado build exists ($ARTEM_XR_DIR), a private
monado-service is started for the run (and stopped by PID). Numbers are printed, never asserted.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from artem_vr.frames import LatestSlot
from artem_vr.xr.presenter import XrOptions, XrReport, run_xr

#: frames at the start not counted in ``missed_after_startup`` (first upload, shaders, FBOs)
STARTUP_FRAMES = 3


@dataclass
class _Frame:
    eyes: list
    seq: int
    source_t: float
    done_t: float
    style: str = "bench"
    method: str = "slow"


class _Controller:
    """Pipeline contract controller that only prints (the bench presses nothing)."""

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *a: print(f"{name}{a if a else ''}")


class SlowPipeline:
    """The Pipeline contract with a stylizer that needs ``slow_ms`` per frame, on its own thread.

    A source "captures" a new SBS-like eye pair every 1/30 s; the stylizer takes the newest
    capture, sleeps ``slow_ms`` and publishes it. ``stop_requested`` turns True ``seconds``
    after the first presented frame.
    """

    def __init__(self, seconds: float, slow_ms: float, size=(320, 240)):
        self.seconds, self.slow_ms = seconds, slow_ms
        self.controller = _Controller()
        self.frames_presented = 0
        self.t_first: float | None = None
        w, h = size
        ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
        self._base = [np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8),
                      np.broadcast_to(ramp[:, ::-1], (h, w, 3)).astype(np.uint8)]
        self._slot: LatestSlot[_Frame] = LatestSlot()
        self._stop = threading.Event()
        self.stylized = 0
        self._thread = threading.Thread(target=self._run, name="slow-stylizer", daemon=True)
        self._thread.start()

    def _run(self):
        seq = 0
        while not self._stop.is_set():
            captured = time.monotonic() - (time.monotonic() % (1 / 30))  # the newest 30 fps capture
            time.sleep(self.slow_ms / 1000.0)
            seq += 1
            eyes = [np.roll(e, seq, axis=1) for e in self._base]
            self._slot.put(_Frame(eyes, seq, captured, time.monotonic()))
            self.stylized = seq

    @property
    def stop_requested(self) -> bool:
        return self.t_first is not None and time.monotonic() - self.t_first >= self.seconds

    def latest(self):
        return self._slot.get()[1]

    def frame_presented(self, eye_images=None):
        if self.t_first is None:
            self.t_first = time.monotonic()
        self.frames_presented += 1

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)


def _stats(values: list[float]) -> dict[str, float]:
    v = [x for x in values if not math.isnan(x)]
    if not v:
        return {"median": float("nan"), "p99": float("nan")}
    return {"median": float(np.median(v)), "p99": float(np.percentile(v, 99))}


def summarize(report: XrReport, seconds: float, slow_ms: float, stylized: int) -> dict:
    """The benchmark's numbers from a run's report."""
    shown = report.shown
    return {
        "runtime": report.runtime,
        "graphics": report.graphics,
        "eye_size": list(report.eye_size),
        "seconds": seconds,
        "stylizer_ms": slow_ms,
        "display_period_ms": report.display_period_ns / 1e6,
        "periods_offered": report.periods_offered(),
        "frames_waited": report.frames_waited,
        "frames_submitted": report.frames_ended,
        "frames_with_layers": report.frames_shown,
        "missed_periods": report.missed_periods(),
        "missed_after_startup": report.missed_periods(skip=STARTUP_FRAMES),
        "stylized_frames": stylized,
        "distinct_frames_shown": len({s[0] for s in shown}),
        "frame_work_ms": _stats(report.work_ms),
        "age_from_capture_ms": _stats([s[1] for s in shown]),
        "age_from_stylized_ms": _stats([s[2] for s in shown]),
        "validation_errors": len(report.validation.errors()),
    }


def format_bench(d: dict) -> str:
    ac, ast = d["age_from_capture_ms"], d["age_from_stylized_ms"]
    return "\n".join([
        f"xr bench: {d['runtime']} ({d['graphics']}, eyes {d['eye_size'][0]}x{d['eye_size'][1]}), "
        f"{d['seconds']:.0f} s, stylizer {d['stylizer_ms']:.0f} ms/frame",
        f"  display periods offered {d['periods_offered']} ({d['display_period_ms']:.1f} ms each), "
        f"frames submitted {d['frames_submitted']}, missed {d['missed_periods']} "
        f"({d['missed_after_startup']} after the first {STARTUP_FRAMES} frames)",
        f"  stylized frames {d['stylized_frames']}, distinct shown {d['distinct_frames_shown']}; "
        f"frame work (wait → end) median {d['frame_work_ms']['median']:.1f} ms / p99 {d['frame_work_ms']['p99']:.1f} ms",
        f"  age of the frame shown: from capture median {ac['median']:.0f} ms / p99 {ac['p99']:.0f} ms; "
        f"from stylize end median {ast['median']:.0f} ms / p99 {ast['p99']:.0f} ms",
    ])


def bench_xr(pipeline_factory: Callable[[], object] | None = None, seconds: float = 60.0, slow_ms: float = 200.0,
             options: XrOptions | None = None, start_runtime: bool | None = None) -> dict:
    """Run the XR output for ``seconds`` with a ``slow_ms`` stylizer; return (and print) the numbers.

    ``pipeline_factory()`` may supply another pipeline (it must follow the Pipeline contract
    and stop by itself); by default :class:`SlowPipeline`. ``start_runtime``: None = start a
    private headless Monado only when no runtime is configured and it is built.
    """
    import os

    from artem_vr.xr.monado import MonadoService, monado_built

    options = options or XrOptions()
    if start_runtime is None:
        start_runtime = not os.environ.get("XR_RUNTIME_JSON") and monado_built()[0]
    with tempfile.TemporaryDirectory(prefix="artem-xr-bench-") as tmp:
        svc = MonadoService(tmp, port=_free_port()) if start_runtime else None
        if svc is not None:
            svc.__enter__()
        pipeline = pipeline_factory() if pipeline_factory else SlowPipeline(seconds, slow_ms)
        try:
            report = run_xr(pipeline, options)
        finally:
            if hasattr(pipeline, "close"):
                pipeline.close()
            if svc is not None:
                svc.__exit__(None, None, None)
    d = summarize(report, seconds, slow_ms, int(getattr(pipeline, "stylized", 0)))
    print(format_bench(d))
    return d


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
