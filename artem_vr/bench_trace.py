"""`artem-vr bench --trace`: where one stylized frame's time goes, op by op, for the whole stylizer stack.

:mod:`artem_vr.layer_profile` (``--profile``) times the network's layers; the comfort wrappers
(:mod:`artem_vr.temporal.stabilize`, :mod:`~artem_vr.temporal.stereo`, :mod:`~artem_vr.temporal.devflow`)
and foveation (:mod:`artem_vr.temporal.foveate`: periphery pass, window pass, guided upscale,
statistics estimate) run outside those layers. :func:`trace_frames` runs ``torch.profiler`` over
a few calls of the stylizer the pipeline ran — the same object, wrappers and all, on the caller's
thread — and reduces the trace to a small record:

* ``ops``: the top :data:`TOP_OPS` ops (aten ops, CUDA runtime calls, compiled regions, triton
  launches) by device time on CUDA (the kernels each launched itself), by host self time on the
  CPU; each with calls, device ms and host (self CPU) ms per frame. One row,
  :data:`OUTSIDE`, is the frame's host time outside every torch op (Python, OpenCV, waits) and
  the device work launched there (a CUDA graph's replay).
* ``kernels`` (CUDA): the top :data:`TOP_KERNELS` device kernels by time, with launches per frame;
  ``host_ops`` (CUDA): the top :data:`TOP_HOST_OPS` ops by host self time (a wait for the device,
  ``aten::item`` or a copy to the host, ranks low by device time); both empty on the CPU.
* per frame: ``wall_ms`` (synchronized around each frame), ``device_ms`` (summed device kernels,
  copies and sets: the GPU busy; ``None`` on the CPU), ``host_ms`` (the host's time in the frame:
  every op's self time plus :data:`OUTSIDE`) and ``launches`` (CUDA: device kernels, copies and
  sets; CPU: top-level torch ops).

The profiler costs host time (a few µs an op), so ``wall_ms`` and ``host_ms`` here are above the
record's untraced ``network_fps``; the device times are the kernels' own.

Each traced frame runs inside a ``record_function`` marker (:data:`FRAME`): only what runs inside
one counts (not the synchronizations between frames, nor another thread's ops). A marker is a
user annotation, and on CUDA the profiler also gives it a device-side copy spanning the kernels
inside it (``gpu_user_annotation``), which ``key_averages`` counts in the annotation's own device
time (pytorch issues 60783, 130730): the kernels here are therefore summed from the device
events that are not user annotations (as torch's own table total does), and an annotation's own
device time leaves out its same-named copy.
"""

from __future__ import annotations

import time

import torch
from torch.autograd import DeviceType

#: the record_function marker around each traced frame
FRAME = "artem_vr.bench.frame"
#: the ops row for the frame's time outside every torch op
OUTSIDE = "(outside torch ops)"
#: untraced frames first (caches, allocator), then the profiler's own warm-up frame, then the traced ones
WARM_FRAMES = 2
TRACED_FRAMES = 3
TOP_OPS = 25
TOP_KERNELS = 10
TOP_HOST_OPS = 8


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _self_device_us(row) -> float:
    """A key_averages row's (or an event's) self device time, µs: ``self_device_time_total`` in the
    torches that renamed it (2.11 on the GPU machine, 2.14 here), ``self_cuda_time_total`` in older
    ones (deprecated in the newer, so asked only where the new name is missing)."""
    if hasattr(row, "self_device_time_total"):
        return float(row.self_device_time_total)
    return float(row.self_cuda_time_total)


def _is_annotation(evt) -> bool:
    """A ``record_function`` range (or its device-side copy), not an op or a kernel. Torches
    without the flag (before 2.1) have no device-side copies to leave out either."""
    return bool(evt.is_user_annotation) if hasattr(evt, "is_user_annotation") else False


def _in_frame(evt, frames: set[int]) -> bool:
    parent = evt.cpu_parent
    while parent is not None:
        if id(parent) in frames:
            return True
        parent = parent.cpu_parent
    return False


def trace_frames(stylizer, x: torch.Tensor, dev: torch.device) -> dict:
    """Profile ``stylizer.stylize(x)`` (the pipeline's stylizer, already warm) and reduce it; see the module doc.
    Runs on the calling thread: call it where the stylizer runs (the bench's own thread)."""
    from torch.profiler import ProfilerActivity, profile, record_function, schedule

    cuda = dev.type == "cuda"
    for _ in range(WARM_FRAMES):
        stylizer.stylize(x)
    _sync(dev)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    walls: list[float] = []
    with profile(activities=activities, schedule=schedule(wait=0, warmup=1, active=TRACED_FRAMES, repeat=1)) as prof:
        for i in range(1 + TRACED_FRAMES):
            _sync(dev)
            t0 = time.perf_counter()
            with record_function(FRAME):
                stylizer.stylize(x)
            _sync(dev)
            if i >= 1:
                walls.append((time.perf_counter() - t0) * 1e3)
            prof.step()
    events = prof.events()
    frames = [e for e in events if e.name == FRAME and e.device_type == DeviceType.CPU]
    if len(frames) != TRACED_FRAMES:
        raise RuntimeError(f"the profiler recorded {len(frames)} traced frames, not {TRACED_FRAMES}")
    # the device events (kernels, copies, sets; and the markers' device-side copies, left out there)
    device_rows = [r for r in prof.key_averages() if r.device_type != DeviceType.CPU] if cuda else []
    return reduce_trace(events, frames, walls, cuda, device_rows)


def prime_profiler(dev: torch.device) -> None:
    """Start the profiler once on this thread (the main one): its library (kineto) initializes on
    the first start, and started first on another thread it skips its client's set-up and says so
    on stderr ("External init callback must run in same thread as registerClient")."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])):
        pass


def reduce_trace(events, frames: list, walls: list[float], cuda: bool, device_rows=()) -> dict:
    """The record of :func:`trace_frames` from the profiler's events, the frames' markers and (CUDA)
    ``key_averages`` of the device events. The ops are summed here by name, as ``key_averages`` sums
    them, from the events inside a marker only."""
    n = len(frames)
    marks = {id(f) for f in frames}
    inside = [e for e in events if e.device_type == DeviceType.CPU and _in_frame(e, marks)]
    by_name: dict[str, dict] = {}
    for e in inside:
        # an annotation's own kernels, without its device-side copy (same name); an op's self device time
        dev_us = (sum(k.duration for k in e.kernels if k.name != e.name) if _is_annotation(e)
                  else _self_device_us(e) if cuda else 0.0)
        row = by_name.setdefault(e.name, {"name": e.name, "calls": 0.0, "device_ms": 0.0, "host_ms": 0.0})
        row["calls"] += 1 / n
        row["device_ms"] += dev_us / 1e3 / n
        row["host_ms"] += e.self_cpu_time_total / 1e3 / n
    outside_ms = sum(f.self_cpu_time_total for f in frames) / 1e3 / n
    outside_dev = sum(k.duration for f in frames for k in f.kernels if k.name != f.name) / 1e3 / n
    ops = list(by_name.values()) + [{"name": OUTSIDE, "calls": 1.0, "device_ms": outside_dev, "host_ms": outside_ms}]
    host_ms = sum(o["host_ms"] for o in ops)  # every op's self time and the time outside them: the frame's host time
    kernels = []
    device_ms = None
    if cuda:
        rows = [r for r in device_rows if not _is_annotation(r)]
        device_ms = sum(_self_device_us(r) for r in rows) / 1e3 / n
        launches = sum(r.count for r in rows) / n
        kernels = [{"name": r.key, "launches": r.count / n, "device_ms": _self_device_us(r) / 1e3 / n}
                   for r in sorted(rows, key=lambda r: -_self_device_us(r))[:TOP_KERNELS]]
    else:
        launches = sum(1 for e in inside if id(e.cpu_parent) in marks) / n
    by_host = sorted(ops, key=lambda o: -o["host_ms"])
    host_ops = by_host[:TOP_HOST_OPS] if cuda else []
    ops = sorted(ops, key=lambda o: (-o["device_ms"], -o["host_ms"]))[:TOP_OPS] if cuda else by_host[:TOP_OPS]
    return {
        "device": "cuda" if cuda else "cpu", "torch": torch.__version__, "frames": n,
        "ranked_by": "device self time" if cuda else "host self time",
        "wall_ms": round(sum(walls) / len(walls), 3), "device_ms": None if device_ms is None else round(device_ms, 3),
        "host_ms": round(host_ms, 3), "outside_ops_ms": round(outside_ms, 3), "launches": round(launches, 1),
        "launches_are": "device kernels, copies and sets" if cuda else "top-level torch ops",
        "ops": [_rounded(o) for o in ops], "kernels": [_rounded(k) for k in kernels],
        "host_ops": [_rounded(o) for o in host_ops],
    }


def _rounded(d: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


def trace_note(r: dict) -> str:
    """The printed line's trace: GPU busy (CUDA), wall, host, launches, the top 3 ops."""
    t = r.get("trace")
    if not t:
        return ""
    top = ", ".join(f"{_short(o['name'])} {o['device_ms' if t['device'] == 'cuda' else 'host_ms']:.2f} ms"
                    for o in t["ops"][:3])
    busy = f"GPU busy {t['device_ms']:.2f} ms of " if t["device_ms"] is not None else ""
    return (f"; trace: {busy}{t['wall_ms']:.2f} ms wall, host {t['host_ms']:.2f} ms, "
            f"{t['launches']:.0f} {'launches' if t['device'] == 'cuda' else 'top-level ops'}/frame; top: {top}")


def _short(name: str, width: int = 48) -> str:
    return name if len(name) <= width else name[:width - 1] + "…"
