"""`artem-vr bench`: the app's own pipeline, timed per stage, per method, engine and eye size.

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

Floors: multiply-accumulates per frame (torch's FLOP counter, counted on the CPU at a small size
and scaled by pixels; XNOR layers counted as if float) × 2 over a matmul peak measured in the same
run; and bytes per frame (every op's input + output tensors, eager, at the run's activation
precision) over a copy bandwidth measured in the same run. ``binding`` says which floor is
higher; ``ratio`` = stylize median / that floor.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import threading
import time
from pathlib import Path

import numpy as np
import torch

from artem_vr.errors import UsageError
from artem_vr.frames import Frame
from artem_vr.layer_profile import DEFAULT_NETWORKS, count_fused_bytes, profile_network, write_profile
from artem_vr.records import commit_id, device_name, now_utc as _now
from artem_vr.render import import_triton_before_gl  # noqa: F401  (triton before PyOpenGL)
from artem_vr.sources.base import FrameSource
from artem_vr.text import say

GPU_EYE_SIZES = [(960, 1080), (1440, 1600), (2016, 2240)]
CPU_EYE_SIZES = [(256, 256)]
#: method → its shipped architectures (the bench measures what ships)
METHOD_ARCHS = {"generator": ("compact", "full"), "xnor": ("compact",), "adain": ("fast", "full"), "identity": ("-",)}
NA = {"submit": "no XR session in this bench (use --output xr)"}
#: the memory bandwidth of the consumer-card *estimates* printed beside each record (bytes/s).
#: Every network here is memory-bound, so on a card with 1 TB/s a frame takes at least bytes per
#: frame / 1 TB/s (``consumer_est_fps``, an upper bound on FPS); ``consumer_scaled_fps`` assumes the
#: card runs as far from its bandwidth as the measured device did (stylize ms × bandwidth / 1 TB/s).
CONSUMER_BANDWIDTH = 1e12


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", nargs="+", default=None, metavar="M",
                   help="generator, xnor, adain, identity; optionally M:ARCH (generator:compact, adain:full). "
                   "Default: generator (compact and full) on the CPU; generator, adain, xnor on CUDA")
    p.add_argument("--eye-size", nargs="+", default=None, metavar="WxH",
                   help="per-eye sizes (default on CUDA: 960x1080 1440x1600 2016x2240; on the CPU: 256x256)")
    p.add_argument("--eyes", type=int, choices=(1, 2), default=None, help="1 (mono) or 2 (stereo SBS, both eyes in one batch); default: 2 on CUDA, 1 on the CPU")
    p.add_argument("--seconds", type=float, default=3.0, help="timed seconds per configuration (default 3)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds before the timed window (model load, autotuning; default 3 on CUDA, 1 on the CPU)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--engine", nargs="+", choices=("auto", "eager", "fast", "fused", "ort"), default=None,
                   help="generator/xnor inference engine: auto (what `artem-vr run` picks for the device and "
                   "method), eager (fp32, NCHW), fast (artem_vr.style.engine: precision, layout, graphs), fused "
                   "(generators: the fast engine's network as fused stages through torch.compile; the compile "
                   "falls in the warm-up) or ort (ONNX Runtime, CPU); default on the CPU: ort, fast and eager, so "
                   "their ratios are measured in one run; on CUDA: auto")
    p.add_argument("--precision", nargs="+", choices=("auto", "fp32", "fp16", "bf16"), default=["auto"],
                   help="fast engine precision(s) (auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32)")
    p.add_argument("--layout", nargs="+", choices=("auto", "nchw", "cl"), default=["auto"],
                   help="fast engine memory format(s): NCHW or channels_last (auto: the engine's default)")
    p.add_argument("--graph", nargs="+", choices=("off", "on"), default=["off"],
                   help="CUDA: replay the network as a CUDA graph (off, on, or both)")
    p.add_argument("--compile", choices=("on", "off"), default="on",
                   help="fused engine: its stages through torch.compile (on) or the same stages eagerly (off: "
                   "the maths without the compiler, e.g. the CPU dry run of tools/gpu_check.sh)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--internal-scale", type=float, default=1.0, metavar="S",
                   help="run the network at S x the eye size (0 < S <= 1) and guided-upscale (default 1)")
    p.add_argument("--comfort", choices=["on", "off"], default="off",
                   help="run the pipeline with the comfort wrappers (temporal stabilization, stereo consistency) "
                        "on, as `artem-vr run` does by default (default off: the network path alone)")
    p.add_argument("--foveate", choices=["on", "off"], default="off",
                   help="foveated stylization (the headset default of `artem-vr run`): full resolution in a "
                        "window, half scale elsewhere; the records' network_pixels say what the network ran")
    p.add_argument("--upload", choices=("auto", "host"), default="auto",
                   help="auto: CUDA-GL interop where the GL context allows, else host; host: force the host path")
    p.add_argument("--layers", action="store_true", help="CUDA only: per-layer XNOR vs cuDNN (run first)")
    p.add_argument("--layers-only", action="store_true", help="CUDA only: the per-layer XNOR records alone")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="instead of the pipeline: the per-layer profile (artem_vr.layer_profile) of each --method "
                   "(default generator:full adain:fast) with each --engine (generators; default fast, plus fused on "
                   "CUDA) at the first --eye-size (default 1440x1600 on CUDA, 64x48 on the CPU) x --eyes; writes "
                   "DIR/profile_layers.md and the records to --json (default DIR/profile_layers.json)")
    p.add_argument("--reps", type=int, default=5, help="--profile: timed forwards per network (median; default 5)")
    p.add_argument("--json", type=Path, default=None, help="write the records (a JSON list) to this file")
    p.add_argument("--commit", default=None,
                   help="the commit to write in the records (default: $ARTEM_COMMIT, else git, else unknown)")
    p.add_argument("--output", choices=("none", "xr"), default="none", help="xr: the live XR loop bench (artem_vr.bench_xr)")


# ------------------------------------------------------------------------------- helpers
def parse_size(s: str) -> tuple[int, int]:
    from artem_vr.config import parse_size as _parse

    return _parse(s)


def parse_methods(specs: list[str]) -> list[tuple[str, str]]:
    out = []
    for s in specs:
        m, _, a = s.partition(":")
        if m not in METHOD_ARCHS:
            raise UsageError(f"unknown method {m!r} for bench", f"choose from {', '.join(METHOD_ARCHS)}")
        archs = [a] if a else [METHOD_ARCHS[m][0]] if m == "adain" else list(METHOD_ARCHS[m])
        for arch in archs:
            if arch not in METHOD_ARCHS[m]:
                raise UsageError(f"no shipped {arch!r} model for {m}", f"choose from {', '.join(METHOD_ARCHS[m])}")
            out.append((m, arch))
    return out


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def stats_ms(samples: list[float]) -> dict:
    a = np.asarray(samples, dtype=np.float64)
    return {"median": round(float(np.median(a)), 4), "p99": round(float(np.percentile(a, 99)), 4), "n": int(a.size)}


def _loadavg() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


# ------------------------------------------------------------------------------- peaks
def matmul_peak_tflops(dev: torch.device, dtype: torch.dtype, seconds: float = 0.5) -> float:
    """Measured dense matmul rate on ``dev`` in TFLOP/s (random data, after a warm-up)."""
    n = 8192 if dev.type == "cuda" else 1024
    g = torch.Generator(device=dev).manual_seed(0) if dev.type == "cuda" else torch.Generator().manual_seed(0)
    a = torch.randn(n, n, device=dev, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=dev, dtype=dtype, generator=g)
    for _ in range(2):
        a @ b
    sync(dev)
    reps, t0 = 0, time.perf_counter()
    while True:
        a @ b
        reps += 1
        sync(dev)
        if time.perf_counter() - t0 > seconds and reps >= 3:
            break
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def copy_bandwidth_gbs(dev: torch.device, seconds: float = 0.3) -> float:
    """Measured device copy rate (bytes read + written per second, GB/s)."""
    n = (1 << 28) if dev.type == "cuda" else (1 << 25)  # 1 GiB / 128 MiB of float32
    a = torch.empty(n // 4, dtype=torch.float32, device=dev).fill_(1.0)
    b = torch.empty_like(a)
    b.copy_(a)
    sync(dev)
    reps, t0 = 0, time.perf_counter()
    while True:
        b.copy_(a)
        reps += 1
        sync(dev)
        if time.perf_counter() - t0 > seconds and reps >= 3:
            break
    return 2 * a.nbytes * reps / (time.perf_counter() - t0) / 1e9


def measure_peaks(dev: torch.device) -> dict:
    peaks = {"fp32": matmul_peak_tflops(dev, torch.float32)}
    if dev.type == "cuda":
        peaks["bf16"] = matmul_peak_tflops(dev, torch.bfloat16)
        peaks["fp16"] = matmul_peak_tflops(dev, torch.float16)
    else:
        from artem_vr.style.engine import cpu_has_native_bf16

        if cpu_has_native_bf16():  # the fast engine runs bf16 here: its floor uses this rate
            peaks["bf16"] = matmul_peak_tflops(dev, torch.bfloat16)
    return peaks


# ------------------------------------------------------------------------------- work per frame
class _TrafficCounter(torch.utils._python_dispatch.TorchDispatchMode):
    """Bytes of every tensor an op reads and writes (eager, no fusion)."""

    def __init__(self):
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_leaves((args, kwargs, out)):
            if isinstance(t, torch.Tensor):
                self.bytes += t.numel() * t.element_size()
        return out


_WORK_CACHE: dict = {}


def count_work(stylizer, eyes: int, h: int, w: int) -> dict:
    """MACs and bytes moved for one frame of ``eyes`` × h × w through ``stylizer`` (its internal
    scale included), counted on a small frame (about 128 × 128 per eye) and scaled by pixels."""
    key = (stylizer.method, getattr(stylizer, "arch", None), getattr(stylizer, "variant", None),
           getattr(stylizer, "style", None), stylizer.internal_scale, eyes, h, w)
    if key in _WORK_CACHE:
        return _WORK_CACHE[key]
    from torch.utils.flop_counter import FlopCounterMode

    f = min(1.0, math.sqrt(128 * 128 / (h * w)))
    sh, sw = max(16, round(h * f / 8) * 8), max(16, round(w * f / 8) * 8)
    x = torch.rand(eyes, 3, sh, sw, device=stylizer.device)
    traffic = _TrafficCounter()
    with FlopCounterMode(display=False) as fc, traffic:
        stylizer.stylize(x)
    scale = (h * w) / (sh * sw)
    out = {"macs": int(fc.get_total_flops() / 2 * scale), "bytes": int(traffic.bytes * scale),
           "counted_at": [sw, sh]}
    _WORK_CACHE[key] = out
    return out


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
def _engine_config(dev: torch.device, engine: str, precision: str, layout: str, graph: bool, compile: bool = True):
    """What the stylizer's ``engine=`` takes: a kind name (eager, ort) or the fast/fused engine's config."""
    from artem_vr.style.engine import EngineConfig

    if engine in ("auto", "eager", "ort"):
        return engine
    return EngineConfig(precision=precision, channels_last=None if layout == "auto" else layout == "cl",
                        cuda_graph=graph and dev.type == "cuda", fused=engine == "fused", compile=compile)


def bench_config(method: str, arch: str, eye_size: tuple[int, int], eyes: int, dev: torch.device, seconds: float,
                 *, engine: str = "fast", precision: str = "auto", layout: str = "auto", graph: bool = False,
                 internal_scale: float = 1.0, comfort: bool = False, upload: str | None = None, compile: bool = True,
                 foveate: bool = False,
                 peaks: dict | None = None, bandwidth: float | None = None, commit: str | None = None,
                 warmup: float | None = None) -> dict:
    """Run the app's pipeline for one configuration; returns its record (see the module doc)."""
    from artem_vr.app import build_pipeline
    from artem_vr.config import RunConfig
    from artem_vr.pipeline import present
    from artem_vr.render.geometry import ViewConfig
    from artem_vr.render.headless import HeadlessOutput

    w, h = eye_size
    options = {"preserve_color": "none", "adain_variant": arch if method == "adain" else "auto",
               "arch": arch if method in ("generator", "xnor") else None}
    engine_cfg = None
    if method in ("generator", "xnor"):
        engine_cfg = _engine_config(dev, engine, precision, layout, graph, compile)
        options["engine"] = engine_cfg
    elif engine != "eager":
        engine = "eager"  # AdaIN runs eager (its forward also takes the style statistics)
    config = RunConfig(method=method, output="headless", eye_size=(w, h), device=str(dev),
                       internal_scale=internal_scale, stylizer_options=tuple(sorted(options.items())),
                       temporal=comfort, stereo_consistency=comfort, foveate="on" if foveate else "off")
    source = UnpacedSource(w, h, eyes)
    pipeline = build_pipeline(config, printer=lambda _line: None, source=source)
    stylizer = pipeline.worker.stylizer
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

    # the same stylizer alone, in a tight loop, same run: the reference the pipeline should reach.
    # On a thread of its own, like the worker (a thread's first torch call builds its own CPU
    # thread team; timing it from the main thread after the worker's team measured contention).
    x = torch.rand(eyes, 3, h, w, device=dev)
    net_ms: list[float] = []

    def alone():
        for i in range(3 + max(3, int(seconds * 4))):
            sync(dev)
            t0 = time.perf_counter()
            stylizer.stylize(x)
            sync(dev)
            if i >= 3:
                net_ms.append((time.perf_counter() - t0) * 1e3)
            if i > 3 and sum(net_ms) > seconds * 500:
                break

    ref = threading.Thread(target=alone, name="bench-network-alone")
    ref.start()
    ref.join()

    work = count_work(_counting_twin(method, arch, inner), eyes, h, w)
    peaks = peaks if peaks is not None else measure_peaks(dev)
    bandwidth = bandwidth if bandwidth is not None else copy_bandwidth_gbs(dev)
    eng = inner.engine if method in ("generator", "xnor") else None
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

        fused_bytes = count_fused_bytes(inner._net, eyes, h, w, act_bytes)
    est_ms = (fused_bytes or bytes_frame) / CONSUMER_BANDWIDTH * 1e3
    notes = dict(NA)
    if output.upload is not None and output.upload_kind != "cuda-gl interop":
        notes["upload"] = f"host path: {output.upload.reason}"
    return {
        "device": device_name(dev), "method": method, "arch": arch, "style": inner.style,
        "engine": eng.kind if eng is not None else engine, "engine_config": eng.describe() if eng is not None else "eager",
        "precision": prec_name, "cuda_graph": bool(prec is not None and prec.cuda_graph),
        "channels_last": bool(prec is not None and prec.channels_last),
        "internal_scale": internal_scale, "comfort": comfort, "upload": output.upload_kind,
        "eye_size": [w, h], "eyes": eyes, "foveate": foveate,
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
        "load_avg_1min": round(_loadavg(), 2), "commit": commit_id(commit), "date": _now(),
    }


def _counting_twin(method: str, arch: str, stylizer):
    """A CPU fp32 eager stylizer of the same method, architecture and style, for :func:`count_work`
    (counting on the device would disturb CUDA graphs; speed does not enter the count)."""
    from artem_vr.style.methods import make_stylizer

    kw = {}
    if method in ("generator", "xnor"):
        kw = {"arch": arch, "engine": "eager"}  # torch ops: the counters see them (ONNX Runtime's they would not)
    elif method == "adain":
        kw = {"variant": arch}
    return make_stylizer(method, stylizer.style, device="cpu", internal_scale=stylizer.internal_scale, **kw)


# ------------------------------------------------------------------------------- per-layer XNOR
def _cuda_time_ms(fn, reps: int = 50, warm: int = 10) -> float:
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return float(np.median(times))


def xnor_layer_shapes(arch: str, eye_size: tuple[int, int], eyes: int, dev: torch.device) -> list:
    """(BinaryConv2d, input shape) of each binarized layer of an XNOR generator of ``arch`` at the size."""
    from artem_vr.style.generator_net import ARCHS, TransformNet
    from artem_vr.style.xnor import BinaryConv2d, binarize_generator, freeze

    net = freeze(binarize_generator(TransformNet(ARCHS[arch]))).to(dev).eval().requires_grad_(False)
    shapes = []
    hooks = [m.register_forward_hook(lambda m, inp, out: shapes.append((m, tuple(inp[0].shape))))
             for m in net.modules() if isinstance(m, BinaryConv2d)]
    w, h = eye_size
    with torch.inference_mode():
        net(torch.rand(eyes, 3, h, w, device=dev))
    for hk in hooks:
        hk.remove()
    return shapes


def bench_layers(dev: torch.device, eye_size: tuple[int, int], eyes: int = 2, arch: str = "full",
                 commit: str | None = None) -> list[dict]:
    """CUDA: each XNOR layer vs cuDNN on the same shape and input dtype: the XNOR convolution alone
    (packed input) and the whole XNOR layer (pack + conv) on fp16 and on fp32 input, against cuDNN
    fp16 on fp16 input and cuDNN fp32 on fp32 input."""
    if dev.type != "cuda":
        raise UsageError("the per-layer XNOR bench needs CUDA", "run it on a GPU machine (tools/gpu_check.sh)")
    import torch.nn.functional as F

    from artem_vr.cuda import xnor_ops
    from artem_vr.cuda.xnor_ref import activation_scale, pack_bits, weight_alpha

    torch.backends.cudnn.benchmark = True
    records, seen = [], set()
    for m, shp in xnor_layer_shapes(arch, eye_size, eyes, dev):
        key = (shp, m.cout, m.k, m.stride)
        if key in seen:
            continue
        seen.add(key)
        n, c, hh, ww = shp
        x = torch.randn(n, c, hh, ww, device=dev)
        xh = x.half()
        wt = torch.randn(m.cout, c, m.k, m.k, device=dev)
        wp, alpha = pack_bits(wt), weight_alpha(wt)
        act = xnor_ops.pack_activations(xh)
        k = activation_scale(x, m.k, m.k, m.stride, 0)
        with torch.inference_mode():
            conv_popc = _cuda_time_ms(lambda: xnor_ops.xnor_conv_packed(act, wp, c, m.stride, 0, alpha, k, None, engine="popc"))
            mma_ok = xnor_ops.mma_supported(m.cout, m.k, m.k, act.shape[3])[0]
            conv_mma = (_cuda_time_ms(lambda: xnor_ops.xnor_conv_packed(act, wp, c, m.stride, 0, alpha, k, None, engine="mma"))
                        if mma_ok else None)
            layer_f16 = _cuda_time_ms(lambda: xnor_ops.xnor_conv2d_cuda(xh, wp, c, m.stride, 0, alpha, None, None))
            layer_f32 = _cuda_time_ms(lambda: xnor_ops.xnor_conv2d_cuda(x, wp, c, m.stride, 0, alpha, None, None))
            pack_f16 = _cuda_time_ms(lambda: xnor_ops.pack_activations(xh))
            xcl = xh.contiguous(memory_format=torch.channels_last)
            wcl = wt.half().contiguous(memory_format=torch.channels_last)
            f16 = _cuda_time_ms(lambda: F.conv2d(xcl, wcl, stride=m.stride))
            f32 = _cuda_time_ms(lambda: F.conv2d(x, wt, stride=m.stride))
        ho, wo = (hh - m.k) // m.stride + 1, (ww - m.k) // m.stride + 1
        best_conv = min(v for v in (conv_popc, conv_mma) if v is not None)
        records.append({
            "device": device_name(dev), "layer": f"res_conv{len(records)}", "shape": [n, c, hh, ww, m.cout, m.k, m.stride],
            "eye_size": list(eye_size), "eyes": eyes, "macs": n * m.cout * ho * wo * c * m.k * m.k,
            "xnor_conv_popc_ms": round(conv_popc, 4),
            "xnor_conv_mma_ms": round(conv_mma, 4) if conv_mma is not None else None,
            "xnor_pack_f16_ms": round(pack_f16, 4),
            "xnor_layer_f16_ms": round(layer_f16, 4), "xnor_layer_f32_ms": round(layer_f32, 4),
            "cudnn_fp16_ms": round(f16, 4), "cudnn_fp32_ms": round(f32, 4),
            "conv_speedup_vs_fp16": round(f16 / best_conv, 3), "layer_speedup_vs_fp16": round(f16 / layer_f16, 3),
            "layer_speedup_vs_fp32": round(f32 / layer_f32, 3),
            "commit": commit_id(commit), "date": _now(),
        })
    return records


# ------------------------------------------------------------------------------- reporting
def _print_record(r: dict) -> None:
    st = r["stages_ms"]
    parts = [f"{k} {v['median']:.2f}/{v['p99']:.2f}" for k, v in st.items() if v]
    flags = [r["engine"], r["precision"]] + (["cl"] if r["channels_last"] else []) + (["graph"] if r["cuda_graph"] else [])
    say(f"{r['method']}:{r['arch']:<8} {r['eye_size'][0]}x{r['eye_size'][1]} x{r['eyes']} {'/'.join(flags)}"
          f"{' @' + str(r['internal_scale']) if r['internal_scale'] < 1 else ''}{' +comfort' if r['comfort'] else ''}"
          f"{' +foveate' if r.get('foveate') else ''} network {r.get('network_pixels', 0) / 1e6:.2f} Mpx"
          f" [{r['upload']}]  {r['stereo_fps']:7.2f} FPS through the pipeline (network alone {r['network_fps']:.2f}); "
          f"ms median/p99: {', '.join(parts)}; floor {r['floor_ms']} ms ({r['binding']}: flop {r['flop_floor_ms']}, "
          f"traffic {r['traffic_floor_ms']}), ratio {r['ratio']}, {r['effective_gmacs']} GMAC/s; "
          f"{(r.get('fused_bytes_per_frame') or r['bytes_per_frame']) / 1e6:.0f} MB/frame -> consumer card at 1 TB/s: "
          f"at most {r['consumer_est_fps']} FPS, {r['consumer_scaled_fps']} FPS if it runs as far from its bandwidth as this "
          f"device (estimates)", flush=True)


def summary_lines(records: list[dict]) -> list[str]:
    """Same-run ratios: pipeline vs the network alone; fast vs eager; and the CUDA defaults table
    (the fastest precision / layout / graph per method, arch and eye size)."""
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
        for e, base in (("fast", "eager"), ("ort", "eager"), ("ort", "fast"), ("fused", "fast")):
            if e in by_engine and base in by_engine:
                x, y = by_engine[e], by_engine[base]
                out.append(f"{m}:{a} at {size[0]}x{size[1]}: {e} {x['stereo_fps']:.2f} vs {base} {y['stereo_fps']:.2f} FPS "
                           f"({x['stereo_fps'] / y['stereo_fps']:.2f}x; network alone {x['network_fps'] / y['network_fps']:.2f}x)")
        if len(fast) > 1:
            best = max(fast, key=lambda r: r["stereo_fps"])
            out.append(f"defaults {m}:{a} {size[0]}x{size[1]}x{eyes}: best {best['precision']} "
                       f"{'channels_last' if best['channels_last'] else 'NCHW'} graph {'on' if best['cuda_graph'] else 'off'} "
                       f"({best['stereo_fps']:.2f} FPS) of " + ", ".join(
                           f"{r['precision']}/{'cl' if r['channels_last'] else 'nchw'}/{'graph' if r['cuda_graph'] else 'eager'} "
                           f"{r['stereo_fps']:.1f}" for r in fast))
    return out


def _write_json(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    from artem_vr.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(records, indent=1), what="bench JSON")


# ------------------------------------------------------------------------------- per-layer profile
def run_profile(args, dev: torch.device) -> int:
    """``--profile DIR``: :func:`artem_vr.layer_profile.profile_network` for each method × engine;
    the files are rewritten after every network (a timeout keeps what was measured)."""

    cuda = dev.type == "cuda"
    size = parse_size(args.eye_size[0]) if args.eye_size else ((1440, 1600) if cuda else (64, 48))
    eyes = args.eyes or 2
    methods = parse_methods(args.method) if args.method else list(DEFAULT_NETWORKS)
    engines = args.engine or (["fast", "fused"] if cuda else ["fast"])
    if args.reps < 1:
        raise UsageError(f"--reps {args.reps} must be at least 1", "e.g. --reps 5")
    commit = commit_id(args.commit)
    bandwidth = copy_bandwidth_gbs(dev)
    print(f"device: {device_name(dev)}; copy bandwidth {bandwidth:.1f} GB/s; profiling at {eyes}x{size[0]}x{size[1]}",
          flush=True)
    jobs = []  # every eager engine first: the fused compile comes after the tables it is compared with
    for e in sorted(engines, key=lambda e: e == "fused"):
        for m, a in methods:
            e2 = e if m in ("generator", "xnor") else "eager"  # AdaIN has one (eager, autocast) path
            if (m == "xnor" and e2 == "fused") or (m, a, e2) in jobs:
                continue
            jobs.append((m, a, e2))
    if not jobs:
        raise UsageError("nothing to profile", "give --method generator:full adain:fast (xnor has no fused engine)")
    records: list[dict] = []
    failed = 0
    for m, a, e in jobs:
        t0 = time.perf_counter()
        print(f"--- {m}:{a} {e}" + (" (compiling the fused stages first)" if e == "fused" else ""), flush=True)
        eng = _engine_config(dev, e, "auto", "auto", False, args.compile == "on") if e == "fused" else e
        try:
            r = profile_network(m, a, size, eyes, dev, engine=eng, reps=args.reps, warmup=2, bandwidth=bandwidth,
                                commit=commit)
        except Exception as err:  # noqa: BLE001 — one failing network is reported (exit 1); the others are still profiled
            failed += 1
            print(f"{m}:{a} {e}: FAILED ({type(err).__name__}: {err})", flush=True)
            if cuda:
                torch.cuda.empty_cache()
            continue
        records.append(r)
        write_profile(records, args.profile, args.json)
        top = sorted(r["by_kind"].items(), key=lambda kv: -kv[1]["time_ms"])[:4]
        print(f"{m}:{a} {r['engine']}: stylize {r['forward_ms']:.3f} ms (rows {r['sum_ms']:.3f}); "
              + ", ".join(f"{k} {100 * (v['share'] or 0):.0f} %" for k, v in top)
              + f" [{time.perf_counter() - t0:.0f} s]", flush=True)
    print(f"wrote {args.profile / 'profile_layers.md'} and {args.json or args.profile / 'profile_layers.json'}", flush=True)
    return 1 if failed else 0


# ------------------------------------------------------------------------------- command
def run(args) -> int:
    from artem_vr.style.device import pick_device

    if args.output == "xr":
        from artem_vr.bench_xr import bench_xr

        result = bench_xr(seconds=args.seconds)
        if args.json:
            _write_json(args.json, result)
            say(f"wrote the XR bench to {args.json}", flush=True)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    if not 0.0 < args.internal_scale <= 1.0:
        raise UsageError(f"--internal-scale {args.internal_scale} is out of range", "use a value in (0, 1]")
    if args.seconds <= 0:
        raise UsageError(f"--seconds {args.seconds} must be positive", "e.g. --seconds 3")
    dev = pick_device(args.device)
    cuda = dev.type == "cuda"
    if args.profile is not None:
        return run_profile(args, dev)
    os.environ.setdefault("EGL_PLATFORM", "surfaceless")
    sizes = [parse_size(s) for s in args.eye_size] if args.eye_size else (GPU_EYE_SIZES if cuda else CPU_EYE_SIZES)
    if not cuda and not args.eye_size:
        say("no CUDA: benchmarking the CPU path at 256x256 (pass --eye-size for others)", flush=True)
    eyes = args.eyes or (2 if cuda else 1)
    methods = parse_methods(args.method or (["generator", "adain", "xnor"] if cuda else ["generator"]))
    engines = args.engine or (["auto"] if cuda else ["ort", "fast", "eager"])
    commit = commit_id(args.commit)
    records: list[dict] = []

    def save():
        if args.json:  # after every record: a crash or timeout keeps what was measured
            _write_json(args.json, records)

    if args.layers or args.layers_only:  # first: the XNOR target's only evidence
        lay = bench_layers(dev, sizes[min(1, len(sizes) - 1)], eyes, commit=commit)
        for r in lay:
            say(f"layer {r['layer']} {r['shape']}: xnor conv {r['xnor_conv_popc_ms']:.3f} ms (mma {r['xnor_conv_mma_ms']}), "
                  f"layer f16 {r['xnor_layer_f16_ms']:.3f} / f32 {r['xnor_layer_f32_ms']:.3f} | cuDNN fp16 "
                  f"{r['cudnn_fp16_ms']:.3f} / fp32 {r['cudnn_fp32_ms']:.3f}", flush=True)
        records.extend(lay)
        save()
        if args.layers_only:
            return 0
    say(f"device: {device_name(dev)}; load average {_loadavg():.2f}; measuring matmul peak and copy bandwidth ...", flush=True)
    peaks = measure_peaks(dev)
    bandwidth = copy_bandwidth_gbs(dev)
    say("matmul peak TFLOP/s: " + ", ".join(f"{k} {v:.2f}" for k, v in peaks.items())
          + f"; copy bandwidth {bandwidth:.1f} GB/s", flush=True)
    failed = 0
    for size in sizes:
        for m, a in methods:
            variants = [("eager", "auto", "auto", False)] if m not in ("generator", "xnor") else []
            if m in ("generator", "xnor"):
                for e in engines:
                    if e in ("auto", "eager", "ort"):
                        variants.append((e, "auto" if e == "auto" else "fp32", "auto" if e == "auto" else "nchw", False))
                        continue
                    for p in args.precision:
                        for lay in args.layout:
                            for g in args.graph:
                                variants.append((e, p, lay, g == "on"))
            if m == "xnor":  # binarized convolutions: no fused stages
                variants = [v for v in variants if v[0] != "fused"]
            for e, p, lay, g in variants:
                try:
                    r = bench_config(m, a, size, eyes, dev, args.seconds, engine=e, precision=p, layout=lay, graph=g,
                                     internal_scale=args.internal_scale, comfort=args.comfort == "on",
                                     upload=args.upload, peaks=peaks, bandwidth=bandwidth, commit=commit,
                                     compile=args.compile == "on",
                                     foveate=args.foveate == "on",
                                     warmup=args.warmup)
                except Exception as err:  # noqa: BLE001 — one failing configuration is recorded; the run goes on
                    failed += 1
                    say(f"{m}:{a} {size[0]}x{size[1]} {e}/{p}/{lay}/{'graph' if g else 'eager'}: FAILED "
                          f"({type(err).__name__}: {err})", flush=True)
                    records.append({"method": m, "arch": a, "eye_size": list(size), "eyes": eyes, "engine": e,
                                    "precision": p, "layout": lay, "cuda_graph": g, "failed": f"{type(err).__name__}: {err}",
                                    "device": device_name(dev), "commit": commit, "date": _now()})
                    if cuda:
                        torch.cuda.empty_cache()
                    save()
                    continue
                records.append(r)
                _print_record(r)
                save()
    for line in summary_lines(records):
        say(line, flush=True)
    save()
    if args.json:
        say(f"wrote {len(records)} records to {args.json}", flush=True)
    if failed:
        say(f"{failed} configuration(s) failed (recorded with the error)", flush=True)
    return 0
