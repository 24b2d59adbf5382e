"""`artem-vr bench --output xr`: does the XR loop keep the display fed while the stylizer is slow?

:func:`bench_xr` runs the app's own pipeline — :func:`artem_vr.app.build_pipeline` (the built-in
sample source, the real worker with a shipped model and the comfort wrappers, as `artem-vr run`
does) into a real :class:`~artem_vr.xr.presenter.XrOutput` — for ``seconds`` after the first
presented frame, and reports:

* display periods offered by the runtime vs frames submitted, and how many periods were
  missed (gaps in the predicted display times) — the target is none;
* the age of the stylized frame shown at each frame's predicted display time (median, p99),
  measured from capture and from the end of stylization;
* the pipeline's stage times (stylize, to_texture, render, submit).

On a CPU the stylizer is far slower than any display, which is the point of the test.
When no runtime is configured and the headless Monado build exists ($ARTEM_XR_DIR), a private
monado-service is started for the run (and stopped by PID). Numbers are printed, never asserted.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time

import numpy as np

from artem_vr.config import RunConfig
from artem_vr.cuda.device import resolve_device
from artem_vr.xr.monado import MonadoService, monado_built
from artem_vr.xr.presenter import XrOptions, XrOutput, XrReport
from artem_vr.text import say

#: frames at the start not counted in ``missed_after_startup`` (first upload, shaders, FBOs)
STARTUP_FRAMES = 3


def _stats(values: list[float]) -> dict[str, float]:
    v = [x for x in values if not math.isnan(x)]
    if not v:
        return {"median": float("nan"), "p99": float("nan")}
    return {"median": float(np.median(v)), "p99": float(np.percentile(v, 99))}


def summarize(report: XrReport, seconds: float, stylize_ms: float, stylized: int) -> dict:
    """The benchmark's numbers from a run's report."""
    shown = report.shown
    return {
        "runtime": report.runtime,
        "graphics": report.graphics,
        "eye_size": list(report.eye_size),
        "seconds": seconds,
        "stylizer_ms": stylize_ms,
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
        f"{d['seconds']:.0f} s, stylizer median {d['stylizer_ms']:.0f} ms/frame",
        f"  display periods offered {d['periods_offered']} ({d['display_period_ms']:.1f} ms each), "
        f"frames submitted {d['frames_submitted']}, missed {d['missed_periods']} "
        f"({d['missed_after_startup']} after the first {STARTUP_FRAMES} frames)",
        f"  stylized frames {d['stylized_frames']}, distinct shown {d['distinct_frames_shown']}; "
        f"frame work (wait → end) median {d['frame_work_ms']['median']:.1f} ms / p99 {d['frame_work_ms']['p99']:.1f} ms",
        f"  age of the frame shown: from capture median {ac['median']:.0f} ms / p99 {ac['p99']:.0f} ms; "
        f"from stylize end median {ast['median']:.0f} ms / p99 {ast['p99']:.0f} ms",
    ])


def bench_xr(seconds: float = 60.0, options: XrOptions | None = None, start_runtime: bool | None = None,
             method: str | None = None, source: str = "sample") -> dict:
    """Run the app's pipeline into the XR output for ``seconds``; return (and print) the numbers.

    ``start_runtime``: None = start a private headless Monado only when no runtime is configured
    and it is built."""
    import os

    from artem_vr.app import build_pipeline  # lazy: torch only when this runs
    from artem_vr.pipeline import present  # lazy: torch only when this runs
    options = options or XrOptions()
    if start_runtime is None:
        start_runtime = not os.environ.get("XR_RUNTIME_JSON") and monado_built()[0]
    device = resolve_device("auto")
    config = RunConfig(source=source, method=method, output="xr", device=device,
                       internal_scale=1.0 if device.startswith("cuda") else 0.5,
                       stylizer_options=(("adain_variant", "auto"), ("arch", None), ("preserve_color", "none")))
    with tempfile.TemporaryDirectory(prefix="artem-xr-bench-") as tmp:
        svc = MonadoService(tmp, port=_free_port()) if start_runtime else None
        if svc is not None:
            svc.__enter__()
        pipeline = build_pipeline(config, printer=lambda _line: None)

        def timer():
            while pipeline.frames_presented < 1 and not pipeline.controller.quit_requested.is_set():
                time.sleep(0.01)
            pipeline.controller.quit_requested.wait(seconds)
            pipeline.controller.quit()

        t = threading.Thread(target=timer, name="xr-bench-timer", daemon=True)
        try:
            with pipeline.source:
                t.start()
                report = present(pipeline, XrOutput(options), printer=lambda _line: None)
        finally:
            pipeline.controller.quit()
            pipeline.worker.stop()
            t.join(timeout=5)
            if svc is not None:
                svc.__exit__(None, None, None)
    if pipeline.worker.error is not None:
        raise pipeline.worker.error
    stages = pipeline.clock.summary()
    sty = stages.get("stylize") or {"median": float("nan")}
    d = summarize(report, seconds, sty["median"], pipeline.worker.frames_done)
    d["method"] = pipeline.controller.state.method
    d["stages_ms"] = stages
    say(format_bench(d))
    return d


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
