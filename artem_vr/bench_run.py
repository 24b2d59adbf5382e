"""One configuration of `artem-vr bench`: the app's own pipeline, timed per stage (:func:`bench_config`),
and its record printed (:func:`print_record`, :func:`summary_lines`).

Each configuration builds exactly what `artem-vr run` builds — :func:`artem_vr.app.build_pipeline`
(controller, :class:`~artem_vr.worker.StylizerWorker` with the shipped model of the method,
the comfort wrappers when ``--comfort on``) and a real :class:`~artem_vr.render.headless.HeadlessOutput`
(EGL context, eye renderer, :class:`~artem_vr.render.upload.FrameUpload`: CUDA–GL interop on
an NVIDIA GL context, else host) — and runs it for ``--seconds``. Only the source differs: an
unpaced one that hands the worker a new frame (fixed random pixels, SBS when ``--eyes 2``)
whenever it asks, so the pipeline runs as fast as its slowest stage. The output does not read
the eyes back (``readback=False``: ``glFinish`` stands in for the headset's swap).

Stages (median and p99 ms, from :class:`~artem_vr.timing.StageClock`: CUDA events on the
GPU, the wall clock on the CPU): ``capture_wait`` (the worker waiting for a frame), ``upload``
(host uint8 → device float, pinned + non-blocking on CUDA), ``stylize`` (both eyes, one batch),
``readback`` (device → host uint8, host path only), ``to_texture`` (FrameUpload.push: interop
kernel + PBO → texture, or glTexSubImage), ``render`` (both eyes drawn at eye size + glFinish),
``submit`` (n/a: no XR session here; ``--output xr`` runs the XR loop bench).

``stereo_fps`` = new stylized frames presented per second through the whole pipeline (worker and
output run concurrently, as in the app). ``network_fps`` = the same stylizer called in a tight
loop in the same run (the regression reference: the pipeline should reach it within ~10 %).
With ``--trace``, the same stylizer is then profiled op by op on that loop's thread (the record's
``trace``, :mod:`artem_vr.bench_trace`).

Floors: multiply-accumulates per frame (torch's FLOP counter, counted on the CPU at a small size
and scaled by pixels; XNOR layers counted as if float) × 2 over a matmul peak measured in the same
run; and bytes per frame (every op's input + output tensors, eager, at the run's activation
precision) over a copy bandwidth measured in the same run. ``binding`` says which floor is
higher; ``ratio`` = stylize median / that floor.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import torch

from artem_vr.app import build_pipeline
from artem_vr.bench_floors import CONSUMER_BANDWIDTH, copy_bandwidth_gbs, count_work, loadavg, measure_peaks, sync
from artem_vr.bench_trace import prime_profiler, trace_frames, trace_note
from artem_vr.config import RunConfig
from artem_vr.frames import Frame
from artem_vr.layer_profile import count_fused_bytes
from artem_vr.pipeline import present
from artem_vr.records import commit_id, device_name, now_utc as _now
from artem_vr.render import import_triton_before_gl  # noqa: F401  (triton before PyOpenGL)
from artem_vr.render.geometry import ViewConfig
from artem_vr.render.headless import HeadlessOutput
from artem_vr.sources.base import FrameSource
from artem_vr.style.engine import EngineConfig, auto_engine
from artem_vr.style.methods import make_stylizer
from artem_vr.temporal import comfort_stats
from artem_vr.temporal.foveate import find_foveated
from artem_vr.temporal.graphed import find_frame_graph
from artem_vr.text import pixel_counts, say

NA = {"submit": "no XR session in this bench (use --output xr)"}


# ------------------------------------------------------------------------------- the source
class UnpacedSource(FrameSource):
    """A new frame whenever the worker asks (fixed random pixels; SBS when stereo): the pipeline
    then runs as fast as its slowest stage. No capture thread (it would only burn a core)."""

    name = "bench"

    def __init__(self, w: int, h: int, eyes: int, seed: int = 0):
        super().__init__(stereo="sbs" if eyes == 2 else None)
        self.label = f"bench {w}x{h}x{eyes}"
        rng = np.random.default_rng(seed)
        self._image = rng.integers(0, 256, (h, w * eyes, 3), dtype=np.uint8)

    def _open(self) -> None:
        pass

    def _grab(self):
        return self._image

    def start(self):
        return self

    def stop(self) -> None:
        self.ended = True

    def wait_frame(self, after_index: int = -1, timeout: float | None = 5.0):
        if self.ended:
            return None
        self._index = max(self._index, after_index + 1)
        f = Frame(self._image, time.monotonic(), self._index, self.stereo)
        self._index += 1
        self.frames_captured += 1
        return f


# ------------------------------------------------------------------------------- one configuration
def engine_config(dev: torch.device, engine: str, precision: str, layout: str, compile: bool = True):
    """What the stylizer's ``engine=`` takes: a kind name (eager, ort) or the fast/fused engine's config."""
    if engine in ("auto", "eager", "ort"):
        return engine
    return EngineConfig(precision=precision, channels_last=None if layout == "auto" else layout == "cl",
                        fused=engine == "fused", compile=compile)


def bench_config(method: str, arch: str, eye_size: tuple[int, int], eyes: int, dev: torch.device, seconds: float,
                 *, engine: str = "fast", precision: str = "auto", layout: str = "auto", graph: bool = True,
                 internal_scale: float = 1.0, comfort: bool = False, upload: str | None = None, compile: bool = True,
                 foveate: bool = False, trace: bool = False,
                 peaks: dict | None = None, bandwidth: float | None = None, commit: str | None = None,
                 warmup: float | None = None) -> dict:
    """Run the app's pipeline for one configuration; returns its record (see the module doc).
    ``graph``: frames replayed as CUDA graphs (:mod:`artem_vr.temporal.graphed`, what ``run`` does)
    or, False, every frame launched from Python. ``trace``: the record's ``trace`` (:func:`artem_vr.bench_trace.trace_frames`) of the same stylizer,
    after the loop."""
    w, h = eye_size
    options = {"preserve_color": "none", "adain_variant": arch if method == "adain" else "auto",
               "arch": arch if method in ("generator", "xnor") else None}
    engine_cfg = None
    if engine == "auto":  # what `artem-vr run` picks for this method on this device
        engine = auto_engine(dev, method)
    if method in ("generator", "xnor") or (method == "adain" and engine == "fused"):
        engine_cfg = engine_config(dev, engine, precision, layout, compile)
        options["engine"] = engine_cfg
    elif method == "adain":
        engine = options["engine"] = "eager"  # AdaIN's other kinds are its eager path (its forward also takes the style statistics)
    config = RunConfig(method=method, output="headless", eye_size=(w, h), device=str(dev),
                       internal_scale=internal_scale, stylizer_options=tuple(sorted(options.items())),
                       temporal=comfort, stereo_consistency=comfort, foveate="on" if foveate else "off")
    source = UnpacedSource(w, h, eyes)
    pipeline = build_pipeline(config, printer=lambda _line: None, source=source)
    stylizer = pipeline.worker.stylizer
    frame_graph = find_frame_graph(stylizer)
    if frame_graph is not None:  # --graph off: every frame launched from Python (the A/B reference)
        frame_graph.enabled = lambda: graph
    inner = stylizer
    while hasattr(inner, "inner"):  # the comfort wrappers
        inner = inner.inner
    output = HeadlessOutput((w, h), ViewConfig(), "egl", repeat_after_s=None, readback=False,
                            upload=None if upload in (None, "auto") else upload)
    warmup = (3.0 if dev.type == "cuda" else 1.0) if warmup is None else warmup
    marks: dict = {}

    def counts():
        return time.perf_counter(), pipeline.worker.frames_done, output.upload.frames if output.upload else 0

    def over():
        return pipeline.worker.finished.is_set() or pipeline.controller.quit_requested.is_set()

    def timer():
        # warm-up: at least `warmup` seconds and one presented frame (model load, autotuning, GL set-up)
        t_end = time.perf_counter() + warmup
        while (time.perf_counter() < t_end or counts()[2] < 1) and not over():
            time.sleep(0.01)
        pipeline.clock.clear()
        marks["t0"] = t0 = counts()
        # timed: at least `seconds` and two more presented frames (a slow machine still gets a rate)
        t_end = t0[0] + seconds
        while ((time.perf_counter() < t_end or counts()[2] < t0[2] + 2) and not over()
               and time.perf_counter() < t0[0] + 20 * seconds + 30):
            time.sleep(0.005)
        marks["t1"] = counts()
        pipeline.controller.quit()

    t = threading.Thread(target=timer, name="bench-timer", daemon=True)
    try:
        with source:
            t.start()
            present(pipeline, output, printer=lambda _line: None)
    finally:
        pipeline.controller.quit()  # ends the timer too, whatever happened
        pipeline.worker.stop()
        t.join(timeout=5)
    if pipeline.worker.error is not None:
        raise pipeline.worker.error
    if "t1" not in marks:
        raise RuntimeError(f"{method}:{arch} {w}x{h}: the pipeline stopped before the timed window ended")
    (a_t, a_s, a_p), (b_t, b_s, b_p) = marks["t0"], marks["t1"]
    stages = pipeline.clock.summary()
    comfort_own = comfort_figures(stylizer) if comfort else None  # the pipeline's frames, before the loop below
    graph_own = frame_graph_figures(stylizer)

    # the same stylizer alone, in a tight loop, same run: the reference the pipeline should reach.
    # On a thread of its own, like the worker (a thread's first torch call builds its own CPU
    # thread team; timing it from the main thread after the worker's team measured contention).
    # With ``trace``, the profiler then runs there too, over the same stylizer (wrappers and all).
    x = torch.rand(eyes, 3, h, w, device=dev)
    net_ms: list[float] = []
    after: dict = {}

    def alone():
        try:
            for i in range(3 + max(3, int(seconds * 4))):
                sync(dev)
                t0 = time.perf_counter()
                stylizer.stylize(x)
                sync(dev)
                if i >= 3:
                    net_ms.append((time.perf_counter() - t0) * 1e3)
                if i > 3 and sum(net_ms) > seconds * 500:
                    break
            if trace:
                after["trace"] = trace_frames(stylizer, x, dev)
        except BaseException as err:  # noqa: BLE001 — raised again on the calling thread, below
            after["error"] = err

    if trace:
        prime_profiler(dev)
    ref = threading.Thread(target=alone, name="bench-network-alone")
    ref.start()
    ref.join()
    if "error" in after:
        raise after["error"]

    work = count_work(_counting_twin(method, arch, inner), eyes, h, w)
    peaks = peaks if peaks is not None else measure_peaks(dev)
    bandwidth = bandwidth if bandwidth is not None else copy_bandwidth_gbs(dev)
    eng = inner.engine if method in ("generator", "xnor", "adain") else None
    prec = eng.config if eng is not None and eng.kind in ("fast", "fused") else None
    prec_name = prec.precision if prec is not None else ("fp16" if dev.type == "cuda" and method == "adain" else "fp32")
    act_bytes = 2 if prec_name in ("fp16", "bf16") else 4
    peak_key = prec_name if prec_name in peaks else "fp32"
    flop_floor = 2 * work["macs"] / (peaks[peak_key] * 1e12) * 1e3
    traffic_floor = work["bytes"] * act_bytes / 4 / (bandwidth * 1e9) * 1e3
    sty = stages["stylize"]["median"] if stages.get("stylize") else float("nan")
    binding = "memory" if traffic_floor > flop_floor else "compute"
    floor = max(flop_floor, traffic_floor)
    bytes_frame = work["bytes"] * act_bytes // 4
    fused_bytes = None
    if eng is not None and eng.kind == "fused":
        fused_bytes = (count_fused_bytes(inner._net, eyes, h, w, act_bytes) if method == "generator"
                       else eng.bytes_per_frame(eyes, h, w, act_bytes))
    est_ms = (fused_bytes or bytes_frame) / CONSUMER_BANDWIDTH * 1e3
    notes = dict(NA)
    if output.upload is not None and output.upload_kind != "cuda-gl interop":
        notes["upload"] = f"host path: {output.upload.reason}"
    return {
        "device": device_name(dev), "method": method, "arch": arch, "style": inner.style,
        "engine": eng.kind if eng is not None else engine, "engine_config": eng.describe() if eng is not None else "eager",
        "precision": prec_name, "graph": "on" if graph else "off",
        "channels_last": bool(prec is not None and prec.channels_last),
        "internal_scale": internal_scale, "comfort": comfort, "comfort_stats": comfort_own, "frame_graph": graph_own,
        "upload": output.upload_kind,
        "eye_size": [w, h], "eyes": eyes, "foveate": foveate,
        **({"fovea_estimate": find_foveated(stylizer).estimate_note()} if find_foveated(stylizer) is not None else {}),
        "network_pixels": stylizer.network_pixels(eyes, h, w), "frame_pixels": eyes * h * w,
        "stereo_fps": round((b_p - a_p) / (b_t - a_t), 2),
        "stylized_fps": round((b_s - a_s) / (b_t - a_t), 2),
        "stylize_fps": round(1000.0 / sty, 2) if sty == sty else None,
        "network_fps": round(1000.0 / float(np.median(net_ms)), 2),
        "stages_ms": stages, "notes": notes,
        "macs_per_frame": work["macs"], "bytes_per_frame": bytes_frame, "work_counted_at": work["counted_at"],
        "fused_bytes_per_frame": fused_bytes,
        "consumer_est_ms": round(est_ms, 3), "consumer_est_fps": round(1e3 / est_ms, 1) if est_ms > 0 else None,
        "consumer_scaled_fps": (round(1e3 / (sty * bandwidth * 1e9 / CONSUMER_BANDWIDTH), 1)
                                if sty == sty and bandwidth > 0 else None),
        "peak_tflops": {k: round(v, 3) for k, v in peaks.items()}, "bandwidth_gbs": round(bandwidth, 1),
        "flop_floor_ms": round(flop_floor, 4), "traffic_floor_ms": round(traffic_floor, 4), "binding": binding,
        "floor_ms": round(floor, 4), "ratio": round(sty / floor, 2) if floor > 0 and sty == sty else None,
        "effective_gmacs": round(work["macs"] / sty / 1e6, 1) if sty == sty else None,
        "load_avg_1min": round(loadavg(), 2), "commit": commit_id(commit), "date": _now(),
        **({"trace": after["trace"]} if trace else {}),
    }


def comfort_figures(stylizer) -> dict:
    """Each comfort wrapper's own figures for a record: which path ran (``torch`` / ``opencv``),
    whether compiled (and ``compile_error`` where compiling failed and the steps ran eagerly), its
    own time a frame (ms, CUDA events on a GPU) and its count of frames."""
    out = {}
    for name, st in comfort_stats(stylizer).items():
        out[name] = {"path": st["path"], "compiled": bool(st.get("compiled")), "own_ms": round(st["cost_ms"], 3),
                     "frames": st.get("frames", st.get("pairs", 0))}
        if st.get("compile_error"):
            out[name]["compile_error"] = st["compile_error"]
    return out


def frame_graph_figures(stylizer) -> dict | None:
    """The pipeline's frames through the frame graph (:mod:`artem_vr.temporal.graphed`): how many
    were replays, captures and run as they are, and the last reason one ran as it is."""
    graph = find_frame_graph(stylizer)
    return None if graph is None else dict(graph.stats)


def frame_graph_note(r: dict) -> str:
    """`` graph replayed 97 %`` or, where no frame replayed, `` graph off (why)``."""
    g = r.get("frame_graph")
    if not g:
        return ""
    total = g["replays"] + g["captures"] + g["frames_as_they_are"]
    if not g["replays"]:
        return f" graph off ({g['why'] or 'no frame replayed'})"
    return f" graph replayed {g['replays'] / max(1, total):.0%}"


def comfort_note(r: dict) -> str:
    """`` +comfort`` with, where the record has them, the path and its own milliseconds per wrapper."""
    if not r.get("comfort"):
        return ""
    parts = [f"{k} {v['path']}{' compiled' if v['compiled'] else ''}"
             f"{' (compile failed: eager)' if v.get('compile_error') else ''} {v['own_ms']:.2f} ms"
             for k, v in (r.get("comfort_stats") or {}).items()]
    return " +comfort" + (f" ({', '.join(parts)})" if parts else "")


def _counting_twin(method: str, arch: str, stylizer):
    """A CPU fp32 eager stylizer of the same method, architecture and style, for :func:`count_work`
    (counting on the device would disturb CUDA graphs; speed does not enter the count)."""
    kw = {}
    if method in ("generator", "xnor"):
        kw = {"arch": arch, "engine": "eager"}  # torch ops: the counters see them (ONNX Runtime's they would not)
    elif method == "adain":
        kw = {"variant": arch}
    return make_stylizer(method, stylizer.style, device="cpu", internal_scale=stylizer.internal_scale, **kw)


# ------------------------------------------------------------------------------- reporting
def print_record(r: dict) -> None:
    st = r["stages_ms"]
    parts = [f"{k} {v['median']:.2f}/{v['p99']:.2f}" for k, v in st.items() if v]
    flags = [r["engine"], r["precision"]] + (["cl"] if r["channels_last"] else [])  # the graph: frame_graph_note
    say(f"{r['method']}:{r['arch']:<8} {r['eye_size'][0]}x{r['eye_size'][1]} x{r['eyes']} {'/'.join(flags)}"
          f"{' @' + str(r['internal_scale']) if r['internal_scale'] < 1 else ''}{comfort_note(r)}{frame_graph_note(r)}"
          f"{' +foveate' if r.get('foveate') else ''} network {pixel_counts(r.get('network_pixels', 0))}"
          f" [{r['upload']}]  {r['stereo_fps']:7.2f} FPS through the pipeline (network alone {r['network_fps']:.2f}); "
          f"ms median/p99: {', '.join(parts)}; floor {r['floor_ms']} ms ({r['binding']}: flop {r['flop_floor_ms']}, "
          f"traffic {r['traffic_floor_ms']}), ratio {r['ratio']}, {r['effective_gmacs']} GMAC/s; "
          f"{(r.get('fused_bytes_per_frame') or r['bytes_per_frame']) / 1e6:.0f} MB/frame -> consumer card at 1 TB/s: "
          f"at most {r['consumer_est_fps']} FPS, {r['consumer_scaled_fps']} FPS if it runs as far from its bandwidth as this "
          f"device (estimates){trace_note(r)}", flush=True)


def summary_lines(records: list[dict]) -> list[str]:
    """Same-run ratios: pipeline vs the network alone; fast vs eager; frame graphs on vs off; and the
    CUDA defaults table (the fastest precision / layout / graph per method, arch and eye size)."""
    rows = [r for r in records if "stereo_fps" in r]
    out = []
    for r in rows:
        out.append(f"{r['method']}:{r['arch']} {r['eye_size'][0]}x{r['eye_size'][1]} {r['engine']}/{r['precision']}: "
                   f"pipeline {r['stereo_fps']:.2f} FPS = {r['stereo_fps'] / r['network_fps']:.2f} x the network alone "
                   f"({r['network_fps']:.2f})")
    key = lambda r: (r["method"], r["arch"], tuple(r["eye_size"]), r["eyes"])  # noqa: E731
    groups: dict = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    for (m, a, size, eyes), rs in groups.items():
        fast = [r for r in rs if r["engine"] == "fast"]
        by_engine = {r["engine"]: r for r in rs if r["engine"] not in ("fast", "fused")}
        if fast:
            by_engine["fast"] = max(fast, key=lambda r: r["stereo_fps"])
        fused = [r for r in rs if r["engine"] == "fused"]
        if fused:
            by_engine["fused"] = max(fused, key=lambda r: r["stereo_fps"])
        for e, base in (("fast", "eager"), ("ort", "eager"), ("ort", "fast"), ("fused", "fast"),
                        *((("fused", "eager"),) if m == "adain" else ())):
            if e in by_engine and base in by_engine:
                x, y = by_engine[e], by_engine[base]
                out.append(f"{m}:{a} at {size[0]}x{size[1]}: {e} {x['stereo_fps']:.2f} vs {base} {y['stereo_fps']:.2f} FPS "
                           f"({x['stereo_fps'] / y['stereo_fps']:.2f}x; network alone {x['network_fps'] / y['network_fps']:.2f}x)")
        if len(fast) > 1:
            best = max(fast, key=lambda r: r["stereo_fps"])
            out.append(f"defaults {m}:{a} {size[0]}x{size[1]}x{eyes}: best {best['precision']} "
                       f"{'channels_last' if best['channels_last'] else 'NCHW'} graph {best.get('graph', 'on')} "
                       f"({best['stereo_fps']:.2f} FPS) of " + ", ".join(
                           f"{r['precision']}/{'cl' if r['channels_last'] else 'nchw'}/graph {r.get('graph', 'on')} "
                           f"{r['stereo_fps']:.1f}" for r in fast))
        for on in (r for r in rs if r.get("graph") == "on"):  # --graph on off: the same row both ways
            off = next((r for r in rs if r.get("graph") == "off" and all(
                r[k] == on[k] for k in ("engine", "precision", "channels_last", "comfort", "foveate"))), None)
            if off is not None:
                sty = [(r["stages_ms"].get("stylize") or {}).get("median") for r in (off, on)]
                out.append(f"{m}:{a} at {size[0]}x{size[1]} {on['engine']}: frame graphs on {on['stereo_fps']:.2f} vs off "
                           f"{off['stereo_fps']:.2f} FPS ({on['stereo_fps'] / off['stereo_fps']:.2f}x"
                           + (f"; stylize {sty[0]:.2f} -> {sty[1]:.2f} ms)" if None not in sty else ")"))
    return out
