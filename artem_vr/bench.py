"""`artem-vr bench`: per-stage milliseconds, stereo FPS and the compute floor, per method and eye size.

Stages of one frame, each timed with the device synchronised (median and p99 over the run):

* ``capture`` — n/a here: sources capture on their own thread and the stylizer takes the
  newest frame (`--output xr` measures the live loop);
* ``upload`` — host RGB uint8 eye frame(s) → float tensor (N, 3, H, W) on the device;
* ``stylize`` — the network on both eyes in one batch (N = eyes);
* ``interop`` (CUDA with a GL context on the GPU) — tensor → GL texture per eye through a
  CUDA-registered PBO; otherwise ``readback`` — tensor → host uint8 frames + the CPU PBO
  upload into the eye textures (what the CPU path does);
* ``render`` — :class:`~artem_vr.render.renderer.EyeRenderer` drawing each eye at eye size
  (glFinish), when a GL context can be made; n/a otherwise;
* ``submit`` — n/a without an XR session (``--output xr`` delegates to the XR bench).

The floor: multiply-accumulates per frame counted with forward hooks (convolutions and
linear layers; XNOR layers counted as if float), ×2 FLOP, over a matrix-multiply peak measured
in the same run on the same device (bf16 and fp32 on CUDA, fp32 on the CPU). ``ratio`` =
measured stylize median / floor. Networks use random weights: speed does not depend on them.

``--engine``: ``eager`` (the plain fp32 module; on CUDA fp16 autocast + channels_last as
before), ``fast`` (:class:`artem_vr.style.engine.InferenceEngine`: on this kind of CPU bf16
oneDNN, on CUDA fp16 weights with fp32 instance norms, channels_last, optional CUDA graph), or
both, in one run — the ratio between them is robust to machine load. ``--internal-scale S``
runs the network at S × the eye size and upsamples with the guided upscale
(:mod:`artem_vr.style.upscale`) inside the stylize stage.

``--layers`` (CUDA only) times each XNOR convolution of the generator against cuDNN fp16 and
fp32 on the generator's shapes at the given eye size.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from artem_vr.errors import UsageError

GPU_EYE_SIZES = [(960, 1080), (1440, 1600), (2016, 2240)]
CPU_EYE_SIZES = [(256, 256)]
STAGES = ("capture", "upload", "stylize", "interop", "readback", "render", "submit")
NA = {
    "capture": "sources capture on their own thread; the stylizer takes the newest frame",
    "submit": "no XR session in this bench (use --output xr)",
}
METHOD_ARCHS = {"generator": ("compact", "full"), "xnor": ("compact", "full"), "adain": ("fast", "full"), "identity": ("-",)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", nargs="+", default=None, metavar="M",
                   help="generator, xnor, adain, identity; optionally M:ARCH (generator:compact). "
                   "Default: generator (compact and full) on the CPU; generator, adain, xnor on CUDA")
    p.add_argument("--eye-size", nargs="+", default=None, metavar="WxH",
                   help="per-eye sizes (default on CUDA: 960x1080 1440x1600 2016x2240; on the CPU: 256x256)")
    p.add_argument("--eyes", type=int, choices=(1, 2), default=None, help="1 (mono) or 2 (stereo, both in one batch); default: 2 on CUDA, 1 on the CPU")
    p.add_argument("--seconds", type=float, default=3.0, help="timed seconds per configuration (default 3)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16"), default="auto",
                   help="network precision (auto: fp16 on CUDA, fp32 on the CPU)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--no-gl", action="store_true", help="skip the GL stages (render, interop)")
    p.add_argument("--engine", nargs="+", choices=("eager", "fast", "ort"), default=None,
                   help="eager: the plain module; fast: artem_vr.style.engine (bf16/fp16, channels_last, graphs); "
                   "ort: ONNX Runtime (CPU). "
                   "Default on the CPU: both (generator/xnor), so their ratio is measured in one run; on CUDA: eager")
    p.add_argument("--internal-scale", type=float, default=1.0, metavar="S",
                   help="run the network at S x the eye size (0 < S <= 1) and guided-upscale (default 1)")
    p.add_argument("--cuda-graph", action="store_true", help="CUDA: replay the network as a CUDA graph (artem_vr.cuda.graphs)")
    p.add_argument("--layers", action="store_true", help="CUDA only: per-layer XNOR vs cuDNN fp16/fp32")
    p.add_argument("--comfort", choices=["on", "off"], default="on",
                   help="also time the comfort wrappers (stereo consistency, temporal stabilization) around each "
                        "method's first preset on a stereo pair, as extra ms over plain stylize (default on)")
    p.add_argument("--json", type=Path, default=None, help="write the records (a JSON list) to this file")
    p.add_argument("--output", choices=("none", "xr"), default="none", help="xr: the live XR loop bench (artem_vr.xr.bench)")


# ------------------------------------------------------------------------------- helpers
def parse_size(s: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in s.lower().split("x"))
    except ValueError:
        raise UsageError(f"bad eye size {s!r}", "write WxH, e.g. 1440x1600") from None
    if w < 8 or h < 8:
        raise UsageError(f"eye size {s!r} is too small", "at least 8x8")
    return w, h


def parse_methods(specs: list[str]) -> list[tuple[str, str]]:
    out = []
    for s in specs:
        m, _, a = s.partition(":")
        if m not in METHOD_ARCHS:
            raise UsageError(f"unknown method {m!r} for bench", f"choose from {', '.join(METHOD_ARCHS)}")
        archs = [a] if a else [METHOD_ARCHS[m][0]] if m == "adain" else list(METHOD_ARCHS[m])
        for arch in archs:
            if arch not in METHOD_ARCHS[m]:
                raise UsageError(f"unknown architecture {arch!r} for {m}", f"choose from {', '.join(METHOD_ARCHS[m])}")
            out.append((m, arch))
    return out


def git_commit() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        r = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5)
        return r.stdout.strip() or "unknown"
    except Exception:
        return "unknown"


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    import os

    return f"CPU {platform.processor() or platform.machine()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def stats_ms(samples: list[float]) -> dict:
    a = np.asarray(samples, dtype=np.float64)
    return {"median": round(float(np.median(a)), 4), "p99": round(float(np.percentile(a, 99)), 4), "n": int(a.size)}


# ------------------------------------------------------------------------------- networks
def build_network(method: str, arch: str, dev: torch.device):
    """(module, forward(x) -> y) with random weights; x, y: (N, 3, H, W) RGB 0–1."""
    if method == "identity":
        m = torch.nn.Identity()
        return m, m
    if method in ("generator", "xnor"):
        from artem_vr.style.generator import ARCHS, TransformNet

        net = TransformNet(ARCHS[arch])
        if method == "xnor":
            from artem_vr.style.xnor import binarize_generator, freeze

            net = freeze(binarize_generator(net))
        net = net.to(dev).eval().requires_grad_(False)
        return net, net
    if method == "adain":
        from artem_vr.style.adain import AdaINModel, pad_to_multiple

        model = AdaINModel(arch, vgg_weights="random").to(dev).eval().requires_grad_(False)
        c = model.variant.channels
        g = torch.Generator().manual_seed(0)
        stats = (torch.rand(1, c, 1, 1, generator=g).to(dev), torch.rand(1, c, 1, 1, generator=g).to(dev) + 0.1)

        def fwd(x):
            xp, (h, w) = pad_to_multiple(x, model.variant.downsample)
            return model(xp, stats)[..., :h, :w]

        return model, fwd
    raise UsageError(f"unknown method {method!r}")


def count_macs(module: torch.nn.Module, fwd, x: torch.Tensor) -> dict:
    """Multiply-accumulates of one forward on ``x`` (convolutions, linear layers; XNOR separately)."""
    from artem_vr.style.xnor import BinaryConv2d

    counts = {"float": 0, "binary": 0}

    def conv_hook(m, inp, out):
        k = m.weight.shape[2] * m.weight.shape[3] if isinstance(m, torch.nn.Conv2d) else 1
        cin = m.in_channels // m.groups
        counts["float"] += out.numel() * cin * k

    def lin_hook(m, inp, out):
        counts["float"] += out.numel() * m.in_features

    def bin_hook(m, inp, out):
        counts["binary"] += out.numel() * m.cin * m.k * m.k

    hooks = []
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(lin_hook))
        elif isinstance(m, BinaryConv2d):
            hooks.append(m.register_forward_hook(bin_hook))
    try:
        with torch.inference_mode():
            fwd(x)
    finally:
        for h in hooks:
            h.remove()
    return counts


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
    dt = time.perf_counter() - t0
    return 2 * n**3 * reps / dt / 1e12


# ------------------------------------------------------------------------------- GL side
from artem_vr.render import import_triton_before_gl  # noqa: E402,F401  (kept importable from here)



@dataclass
class _Gl:
    ctx: object
    renderer: object | None = None
    textures: list | None = None
    uploaders: list | None = None
    interop: bool = False
    note: str = ""


def _open_gl(dev: torch.device, eye_w: int, eye_h: int, eyes: int, want_interop: bool) -> _Gl | None:
    import os

    os.environ.setdefault("EGL_PLATFORM", "surfaceless")
    import_triton_before_gl()
    try:
        from artem_vr.render.context import open_context

        ctx = open_context("egl", eye_w, eye_h)
        ctx.make_current()
    except Exception as e:
        return _Gl(None, note=f"no GL context ({type(e).__name__}: {e})")
    from OpenGL import GL

    gl = _Gl(ctx)
    try:
        from artem_vr.render.renderer import EyeRenderer

        gl.renderer = EyeRenderer()
    except Exception as e:
        gl.note = f"renderer unavailable ({type(e).__name__}: {e})"
    gl.textures = []
    for _ in range(eyes):
        tex = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_SRGB8_ALPHA8, eye_w, eye_h, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None)
        gl.textures.append(tex)
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    from artem_vr.cuda.interop import make_uploader

    prefer = "auto" if (want_interop and dev.type == "cuda") else "cpu"
    gl.uploaders = [make_uploader(t, eye_w, eye_h, prefer=prefer) for t in gl.textures]
    gl.interop = gl.uploaders[0].kind == "cuda-interop"
    if dev.type == "cuda" and not gl.interop:
        gl.note = (gl.note + "; " if gl.note else "") + f"interop off: {gl.uploaders[0].reason}"
    return gl


def _close_gl(gl: _Gl | None) -> None:
    if gl is None or gl.ctx is None:
        return
    from OpenGL import GL

    gl.ctx.make_current()
    for u in gl.uploaders or []:
        u.close()
    if gl.textures:
        GL.glDeleteTextures(len(gl.textures), gl.textures)
    if gl.renderer is not None:
        gl.renderer.close()
    gl.ctx.close()


# ------------------------------------------------------------------------------- benches
def bench_config(method: str, arch: str, eye_size: tuple[int, int], eyes: int, dev: torch.device, precision: str,
                 seconds: float, use_gl: bool = True, peaks: dict | None = None, cuda_graph: bool = False,
                 engine: str = "eager", internal_scale: float = 1.0) -> dict:
    """One (method, arch, eye size) record: per-stage median/p99 ms, FPS, floor, ratio.

    ``engine``: "eager" or "fast" (:class:`~artem_vr.style.engine.InferenceEngine`; generator
    and xnor only — other methods run eager). ``internal_scale`` < 1: the network runs at that
    fraction of the eye size and the guided upscale restores it (both inside ``stylize``)."""
    from artem_vr.frames import to_rgb8, to_tensor

    w, h = eye_size
    module, fwd = build_network(method, arch, dev)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        module = module.to(memory_format=torch.channels_last)
    amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(eyes)]

    from artem_vr.style.upscale import downscale, internal_size, upscale

    x0 = to_tensor(frames, dev)
    small = internal_size(h, w, internal_scale) if internal_scale < 1 else (h, w)
    macs = count_macs(module, fwd, downscale(x0, small))

    cuda_graph = cuda_graph and dev.type == "cuda"
    if engine in ("fast", "ort") and method not in ("generator", "xnor"):
        engine = "eager"  # the engine takes a module of x alone; AdaIN's forward also takes style statistics
    engine_desc = None
    if engine in ("fast", "ort"):
        from artem_vr.style.engine import EngineConfig, make_engine

        eng = make_engine(EngineConfig(precision="auto" if precision == "auto" else precision, cuda_graph=cuda_graph)
                          if engine == "fast" else engine, dev)
        eng.load(module)
        net_fn, graphed, engine_desc = eng, None, eng.describe()
        precision = eng.config.precision if engine == "fast" else "fp32"
        amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
    elif dev.type == "cuda":
        from artem_vr.cuda.graphs import GraphedForward, autocast_fn

        net_fn = autocast_fn(lambda x: fwd(x.contiguous(memory_format=torch.channels_last)), amp_dtype)
        graphed = GraphedForward(net_fn) if cuda_graph else None
    else:
        net_fn, graphed = fwd, None
    if small != (h, w):
        inner = net_fn

        def net_fn(x):
            xs = downscale(x.float(), small)
            return upscale("guided", inner(xs).float().clamp(0, 1), xs, x.float())

        if graphed is not None:
            graphed = GraphedForward(net_fn)

    def stylize(x):
        with torch.inference_mode():
            return graphed(x) if graphed is not None else net_fn(x)

    gl = _open_gl(dev, w, h, eyes, want_interop=True) if use_gl else None
    notes = {k: v for k, v in NA.items()}
    if gl is not None and gl.note:
        notes["gl"] = gl.note
    copy_stage = "interop" if (gl is not None and gl.interop) else "readback"
    samples: dict[str, list[float]] = {s: [] for s in ("upload", "stylize", copy_stage, "render")}
    frame_ms: list[float] = []

    def one_frame(record: bool):
        t = {}
        t0 = time.perf_counter()
        x = to_tensor(frames, dev)
        sync(dev)
        t1 = time.perf_counter()
        t["upload"] = t1 - t0
        y = stylize(x)
        sync(dev)
        t2 = time.perf_counter()
        t["stylize"] = t2 - t1
        if gl is not None and gl.ctx is not None:
            from OpenGL import GL

            if gl.interop:
                for i, u in enumerate(gl.uploaders):
                    u.upload(y[i])
                GL.glFinish()
                t3 = time.perf_counter()
                t["interop"] = t3 - t2
                host = None
            else:
                host = [to_rgb8(y, i) for i in range(y.shape[0])]
                for i, u in enumerate(gl.uploaders):
                    u.upload(y[i])
                GL.glFinish()
                t3 = time.perf_counter()
                t["readback"] = t3 - t2
            if gl.renderer is not None:
                if host is not None:
                    gl.renderer.upload(host)
                elif not getattr(gl, "_fed", False):
                    gl.renderer.upload(frames)
                    gl._fed = True
                for e in range(2):
                    gl.renderer.render_eye(e, w, h)
                GL.glFinish()
                t["render"] = time.perf_counter() - t3
        else:
            _ = [to_rgb8(y, i) for i in range(y.shape[0])]
            t["readback"] = time.perf_counter() - t2
        if record:
            for k, v in t.items():
                samples.setdefault(k, []).append(v * 1e3)
            frame_ms.append(sum(t.values()) * 1e3)

    try:
        warm = 10 if dev.type == "cuda" else 2
        for _ in range(warm):
            one_frame(False)
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end or len(frame_ms) < 5:
            one_frame(True)
    finally:
        _close_gl(gl)

    stages = {}
    for s in STAGES:
        if samples.get(s):
            stages[s] = stats_ms(samples[s])
        else:
            stages[s] = None
            if s not in notes:
                notes[s] = {"interop": "no CUDA-GL interop in this run (CPU path: see readback)",
                            "readback": "not needed: interop wrote the textures",
                            "render": "no GL context / renderer"}.get(s, "not measured")
    fm = stats_ms(frame_ms)
    peaks = peaks if peaks is not None else measure_peaks(dev)
    peak_key = "bf16" if (amp_dtype is not None and "bf16" in peaks) else "fp32"
    total_macs = macs["float"] + macs["binary"]
    floor_ms = 2 * total_macs / (peaks[peak_key] * 1e12) * 1e3 if peaks.get(peak_key) else None
    sty = stages["stylize"]["median"]
    return {
        "device": device_name(dev),
        "method": method,
        "arch": arch,
        "precision": precision if (dev.type == "cuda" or engine != "eager") else "fp32",
        "cuda_graph": cuda_graph,
        "engine": engine,
        "engine_config": engine_desc,
        "internal_scale": internal_scale,
        "network_size": [small[1], small[0]],
        "eye_size": [w, h],
        "eyes": eyes,
        "stereo_fps": round(1000.0 / fm["median"], 2),
        "stylize_fps": round(1000.0 / sty, 2),
        "frame_ms": fm,
        "stages_ms": stages,
        "notes": notes,
        "macs_per_frame": total_macs,
        "binary_macs_per_frame": macs["binary"],
        "peak_tflops": {k: round(v, 3) for k, v in peaks.items()},
        "floor_ms": round(floor_ms, 4) if floor_ms else None,
        "floor_peak": peak_key,
        "ratio": round(sty / floor_ms, 2) if floor_ms else None,
        "load_avg_1min": round(_loadavg(), 2),
        "commit": git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _loadavg() -> float:
    import os

    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


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


def bench_layers(dev: torch.device, eye_size: tuple[int, int], eyes: int = 2, arch: str = "full") -> list[dict]:
    """CUDA: each XNOR layer of the generator vs cuDNN fp16/fp32 on the same shape."""
    if dev.type != "cuda":
        raise UsageError("the per-layer XNOR bench needs CUDA", "run it on a GPU machine (tools/gpu_check.sh)")
    import torch.nn.functional as F

    from artem_vr.cuda import xnor_ops
    from artem_vr.cuda.xnor_ref import activation_scale, pack_bits, weight_alpha
    from artem_vr.style.xnor import BinaryConv2d

    torch.backends.cudnn.benchmark = True
    net, _ = build_network("xnor", arch, dev)
    shapes = []

    def hook(m, inp, out):
        shapes.append((m, tuple(inp[0].shape)))

    hooks = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, BinaryConv2d)]
    w, h = eye_size
    with torch.inference_mode():
        net(torch.rand(eyes, 3, h, w, device=dev))
    for hk in hooks:
        hk.remove()
    records, seen = [], set()
    for i, (m, shp) in enumerate(shapes):
        key = (shp, m.cout, m.k, m.stride)
        if key in seen:
            continue
        seen.add(key)
        n, c, hh, ww = shp
        x = torch.randn(n, c, hh, ww, device=dev)
        wt = torch.randn(m.cout, c, m.k, m.k, device=dev)
        wp, alpha = pack_bits(wt), weight_alpha(wt)
        act = xnor_ops.pack_activations(x)
        k = activation_scale(x, m.k, m.k, m.stride, 0)
        with torch.inference_mode():
            xnor_full = _cuda_time_ms(lambda: xnor_ops.xnor_conv2d_cuda(x, wp, c, m.stride, 0, alpha, None, None))
            xnor_conv = _cuda_time_ms(lambda: xnor_ops.xnor_conv_packed(act, wp, c, m.stride, 0, alpha, k, None, engine="popc"))
            mma_ok = xnor_ops.mma_supported(m.cout, m.k, m.k, act.shape[3])[0]
            xnor_mma = _cuda_time_ms(lambda: xnor_ops.xnor_conv_packed(act, wp, c, m.stride, 0, alpha, k, None, engine="mma")) if mma_ok else None
            xnor_pack = _cuda_time_ms(lambda: xnor_ops.pack_activations(x))
            xh, wh = x.half().contiguous(memory_format=torch.channels_last), wt.half().contiguous(memory_format=torch.channels_last)
            f16 = _cuda_time_ms(lambda: F.conv2d(xh, wh, stride=m.stride))
            f32 = _cuda_time_ms(lambda: F.conv2d(x, wt, stride=m.stride))
        ho, wo = (hh - m.k) // m.stride + 1, (ww - m.k) // m.stride + 1
        records.append({
            "device": device_name(dev), "layer": f"res_conv{len(records)}", "shape": [n, c, hh, ww, m.cout, m.k, m.stride],
            "eye_size": [w, h], "eyes": eyes, "macs": n * m.cout * ho * wo * c * m.k * m.k,
            "xnor_ms": round(xnor_full, 4), "xnor_conv_only_ms": round(xnor_conv, 4), "xnor_pack_ms": round(xnor_pack, 4),
            "xnor_mma_conv_only_ms": round(xnor_mma, 4) if xnor_mma is not None else None,
            "cudnn_fp16_ms": round(f16, 4), "cudnn_fp32_ms": round(f32, 4),
            "speedup_vs_fp16": round(f16 / xnor_full, 3), "commit": git_commit(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        })
    return records


def _print_record(r: dict) -> None:
    st = r["stages_ms"]
    parts = [f"{k} {v['median']:.2f}/{v['p99']:.2f}" for k, v in st.items() if v]
    na = [k for k, v in st.items() if v is None]
    print(f"{r['method']}:{r['arch']:<8} {r['eye_size'][0]}x{r['eye_size'][1]} x{r['eyes']}{' graph' if r.get('cuda_graph') else ''} {r.get('engine', 'eager')}"
          f"{' @' + str(r['internal_scale']) if r.get('internal_scale', 1) < 1 else ''}  "
          f"{r['stereo_fps']:7.2f} FPS (stylize alone {r['stylize_fps']:.2f})  "
          f"ms median/p99: {', '.join(parts)}  n/a: {', '.join(na)}  "
          f"floor {r['floor_ms']} ms ({r['floor_peak']}), ratio {r['ratio']}", flush=True)


def run(args) -> int:
    from artem_vr.style.device import pick_device

    if args.output == "xr":
        try:
            from artem_vr.xr.bench import bench_xr
        except ImportError as e:
            raise UsageError(f"the XR bench is not available ({e})", "run without --output xr") from e
        result = bench_xr(seconds=args.seconds)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1, default=str))
            print(f"wrote the XR bench to {args.json}", flush=True)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = pick_device(args.device)
    cuda = dev.type == "cuda"
    precision = args.precision if args.precision != "auto" else ("fp16" if cuda else "fp32")
    if args.eye_size:
        sizes = [parse_size(s) for s in args.eye_size]
    else:
        sizes = GPU_EYE_SIZES if cuda else CPU_EYE_SIZES
        if not cuda:
            print("no CUDA: benchmarking the CPU path at 256x256 (pass --eye-size for others)", flush=True)
    eyes = args.eyes or (2 if cuda else 1)
    methods = parse_methods(args.method or (["generator", "adain", "xnor:full"] if cuda else ["generator"]))
    import_triton_before_gl()
    records: list[dict] = []
    print(f"device: {device_name(dev)}; precision {precision}; load average {_loadavg():.2f}; measuring matmul peak ...", flush=True)
    peaks = measure_peaks(dev)
    print("matmul peak TFLOP/s: " + ", ".join(f"{k} {v:.2f}" for k, v in peaks.items()), flush=True)
    engines = args.engine or (["fast", "eager"] if not cuda else ["eager"])
    for size in sizes:
        for m, a in methods:
            for e in engines if m in ("generator", "xnor") else ["eager"]:
                try:
                    r = bench_config(m, a, size, eyes, dev, precision if e == "eager" else args.precision, args.seconds,
                                     use_gl=not args.no_gl, peaks=peaks, cuda_graph=args.cuda_graph, engine=e,
                                     internal_scale=args.internal_scale)
                except torch.cuda.OutOfMemoryError as err:
                    print(f"{m}:{a} {size}: out of memory ({err})", flush=True)
                    torch.cuda.empty_cache()
                    continue
                records.append(r)
                _print_record(r)
                if args.json:  # written after every record: a crash or timeout keeps what was measured
                    _write_json(args.json, records)
    for line in summary_lines(records, sizes):
        print(line, flush=True)
    if args.comfort == "on":
        for size in sizes:
            for m in dict.fromkeys(m for m, _a in methods if m in ("generator", "adain", "xnor")):
                r = bench_comfort(m, size, dev)
                if r is not None:
                    records.append(r)
    if args.layers:
        lay = bench_layers(dev, sizes[min(1, len(sizes) - 1)], eyes)
        for r in lay:
            print(f"layer {r['layer']} {r['shape']}: xnor {r['xnor_ms']:.3f} ms (conv {r['xnor_conv_only_ms']:.3f}, "
                  f"tensor-core conv {r['xnor_mma_conv_only_ms']}, pack "
                  f"{r['xnor_pack_ms']:.3f}) | cuDNN fp16 {r['cudnn_fp16_ms']:.3f} | fp32 {r['cudnn_fp32_ms']:.3f}", flush=True)
        records.extend(lay)
    if args.json:
        _write_json(args.json, records)
        print(f"wrote {len(records)} records to {args.json}", flush=True)
    return 0


def bench_comfort(method: str, size: tuple[int, int], dev: torch.device) -> dict | None:
    """Cost of stereo consistency and temporal stabilization around ``method`` (its first preset)
    on a moving stereo pair of ``size`` per eye: ``artem_vr.temporal.cost.measure_cost``."""
    from artem_vr.style.base import make_stylizer
    from artem_vr.temporal.cost import measure_cost

    try:
        s = make_stylizer(method, None, device=str(dev))
    except Exception as e:  # no model for this method here
        print(f"comfort {method}: skipped ({e})", flush=True)
        return None
    c = measure_cost(s, size=size, eyes=2, frames=8)
    print(f"comfort {method} at {size[0]}x{size[1]} x2: stylize {c['stylize_ms']:.1f} ms, + stereo consistency "
          f"{100 * c['stereo_fraction']:.1f}%, + temporal stabilization {100 * c['temporal_fraction']:.1f}% "
          f"(its own work {c['temporal_cost_ms']:.1f} ms)", flush=True)
    return {"kind": "comfort", "device": device_name(dev), "method": method, "style": s.style,
            "eye_size": [size[0], size[1]], "eyes": 2,
            "stages_ms": {"stylize": c["stylize_ms"], "stereo": c["stereo_ms"] - c["stylize_ms"],
                          "temporal": c["comfort_ms"] - c["stereo_ms"]},
            "stereo_fraction": c["stereo_fraction"], "temporal_fraction": c["temporal_fraction"],
            "commit": git_commit(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "load_avg_1min": round(_loadavg(), 2)}


def summary_lines(records: list[dict], sizes) -> list[str]:
    """Same-run ratios: fast vs eager engine per method/arch, and compact vs full generator
    (the compact one on its fastest engine vs the full one eager: issue 5, item 6)."""
    by = {(r["method"], r["arch"], tuple(r["eye_size"]), r.get("engine", "eager")): r for r in records if "stereo_fps" in r}
    out = []
    for size in sizes:
        tag = f"{size[0]}x{size[1]}"
        for (m, a, sz, e), r in sorted(by.items()):
            for base in ("eager", "fast") if sz == tuple(size) and e in ("fast", "ort") else ():
                if base == e or (m, a, sz, base) not in by:
                    continue
                q = by[(m, a, sz, base)]
                out.append(f"{m}:{a} at {tag}: {e} {r['stereo_fps']:.2f} vs {base} {q['stereo_fps']:.2f} FPS "
                           f"({r['stereo_fps'] / q['stereo_fps']:.2f}x whole frame, {q['stages_ms']['stylize']['median'] / r['stages_ms']['stylize']['median']:.2f}x stylize)")
        c = by.get(("generator", "compact", tuple(size), "fast")) or by.get(("generator", "compact", tuple(size), "eager"))
        f = by.get(("generator", "full", tuple(size), "eager"))
        if c and f:
            out.append(f"generator compact ({c['engine']}) vs full (eager) at {tag}: {c['stereo_fps']:.2f} vs "
                       f"{f['stereo_fps']:.2f} FPS ({c['stereo_fps'] / f['stereo_fps']:.2f}x)")
    return out


def _write_json(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(records, indent=1))
    tmp.replace(path)
