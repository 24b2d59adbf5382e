"""`artem-vr bench --profile`: where a stylizer's time goes, layer by layer (issue 19, item 2).

The stylizer is the one the app builds (:func:`artem_vr.style.base.make_stylizer` with the shipped
model and the chosen engine); its ``stylize`` runs as in the app, and every op it dispatches is
timed and sized:

* eager engines (``fast``, ``eager``; AdaIN): a :class:`~torch.utils._python_dispatch.TorchDispatchMode`
  sees each aten op after autocast — CUDA events around it on the GPU (the op's GPU time, plus
  the host's dispatch latency when the GPU is starved), the wall clock on the CPU. Module hooks
  give each op the path of the module that ran it (``res.2.body.0.1``), so a residual add, an
  upsample inside a block or the sigmoid at the end each have their own row.
* ``fused``: each compiled stage (:mod:`artem_vr.style.fused`) is one row, timed the same way;
  the glue between stages (statistics filter, per-channel affine, crop) is the ``between stages``
  row.

Per row: time (median over ``reps`` forwards after ``warmup``), bytes moved (every tensor the
op reads and writes, weights included, from shapes and dtypes — views and metadata ops move
nothing and are skipped; for a fused stage: its inputs, outputs and the padded conv input it
writes and the conv reads), achieved GB/s and GFLOP/s (convolutions: 2·MACs; pointwise and
reductions: one per output element), and the share of the summed time. ``forward_ms`` is the
same ``stylize`` uninstrumented (median), so the instrumentation's cost is visible.

With the comfort wrappers (``bench --profile DIR --comfort on``), each network's comfort steps too
(:func:`profile_comfort`: stereo consistency and temporal stabilization as `run` wraps the network,
each device-path step a row — ``kind: "comfort_profile"``), so a comfort cost over its target names
the step that binds.

Writes ``profile_layers.json`` (a list: one record per network, ``kind: "layer_profile"``, and per
comfort profile) and ``profile_layers.md`` (one table per network and a per-kind summary, one per
comfort profile) into the output folder.
"""

from __future__ import annotations

import copy
import json
import math
import time
import types
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from artem_vr.frames import to_tensor
from artem_vr.records import commit_id, device_name, now_utc as _now
from artem_vr.style.fused import FusedGenerator, StageSpec
from artem_vr.style.methods import make_stylizer
from artem_vr.temporal import comfort_wrappers, wrap_for_run
from artem_vr.temporal.cost import moving_frames
from artem_vr.temporal.graphed import find_frame_graph

#: (method, arch) profiled by default: the networks the issue names
DEFAULT_NETWORKS = (("generator", "full"), ("adain", "fast"))
#: aten op name → kind (first match of a prefix); then the module type decides norms
_KINDS = (("conv", "conv"), ("cudnn_convolution", "conv"), ("_convolution", "conv"), ("mkldnn_convolution", "conv"),
          ("native_group_norm", "norm"), ("group_norm", "norm"), ("native_batch_norm", "norm"), ("instance_norm", "norm"),
          ("pad", "pad"), ("reflection_pad", "pad"), ("replication_pad", "pad"), ("constant_pad", "pad"),
          ("upsample", "upsample"), ("_upsample", "upsample"), ("max_pool", "pool"), ("avg_pool", "pool"),
          ("relu", "activation"), ("sigmoid", "activation"), ("clamp", "activation"), ("threshold", "activation"),
          ("_to_copy", "cast/copy"), ("copy_", "cast/copy"), ("clone", "cast/copy"), ("contiguous", "cast/copy"))


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _nbytes(t) -> int:
    return t.numel() * t.element_size() if isinstance(t, torch.Tensor) else 0


_CONV_OPS = ("conv2d", "convolution", "_convolution", "cudnn_convolution", "mkldnn_convolution")


def _flops(func, args, kwargs, out) -> int:
    """2·MACs for convolutions (and what torch's FLOP counter knows: matmuls), else one per
    output element. (Under inference mode the mode sees ``conv2d`` itself, which the counter's
    registry does not list.)"""
    from torch.utils.flop_counter import flop_registry

    name = func._overloadpacket.__name__
    if name in _CONV_OPS and isinstance(out, torch.Tensor) and len(args) > 1 and isinstance(args[1], torch.Tensor):
        w = args[1]  # (O, I/groups, kh, kw): every output element is I/groups·kh·kw MACs
        return 2 * out.numel() * w.shape[1] * w.shape[2] * w.shape[3]
    f = flop_registry.get(func._overloadpacket)
    if f is not None:
        try:
            return int(f(*args, **(kwargs or {}), out_val=out))
        except (TypeError, ValueError, RuntimeError, IndexError):
            pass
    return sum(t.numel() for t in tree_leaves(out) if isinstance(t, torch.Tensor))


def op_kind(op: str, module_type: str, path: str) -> str:
    """The row's kind: conv / norm / pad / activation / upsample / residual add / pool / cast/copy / other."""
    for prefix, kind in _KINDS:
        if op.startswith(prefix):
            return kind
    if "Norm" in module_type:
        return "norm"
    if op.startswith(("add", "sub", "mul", "div", "addcmul", "lerp")) and module_type == "ResidualBlock":
        return "residual add"
    if module_type in ("Scale",):
        return "scale"
    if "adain" in path or module_type == "AdaINModel":
        return "adain"
    return "other"


class _OpRecorder(TorchDispatchMode):
    """Times and sizes every non-view aten op; ``path()`` names the module running."""

    def __init__(self, dev: torch.device, path):
        super().__init__()
        self.dev, self.path, self.ops = dev, path, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.is_view or func._overloadpacket in (torch.ops.aten.detach, torch.ops.aten.lift_fresh):
            return func(*args, **kwargs)
        cuda = self.dev.type == "cuda"
        if cuda:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            out = func(*args, **kwargs)
            b.record()
            t = (a, b)
        else:
            t0 = time.perf_counter()
            out = func(*args, **kwargs)
            t = (time.perf_counter() - t0) * 1e3
        ins = [x for x in tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor)]
        outs = [x for x in tree_leaves(out) if isinstance(x, torch.Tensor)]
        mod_path, mod_type = self.path()
        self.ops.append({
            "module": mod_path, "module_type": mod_type, "op": func._overloadpacket.__name__, "time": t,
            "in_shapes": [list(x.shape) for x in ins][:3], "out_shape": list(outs[0].shape) if outs else [],
            "dtype": str(outs[0].dtype).replace("torch.", "") if outs else "",
            "bytes": sum(_nbytes(x) for x in ins) + sum(_nbytes(x) for x in outs),
            "flops": _flops(func, args, kwargs, out),
        })
        return out


def _module_stack(root: torch.nn.Module | None):
    """Forward hooks keeping the running module's path; returns (path(), remove())."""
    stack: list[tuple[str, str]] = []
    hooks = []

    def enter(label):
        def hook(_m, _i):
            stack.append(label)  # returns None: the input is kept
        return hook

    def leave(_m, _i, _o):
        if stack:
            stack.pop()  # returns None: the output is kept

    if root is not None:
        for name, m in root.named_modules():
            hooks.append(m.register_forward_pre_hook(enter((name or "(network)", type(m).__name__))))
            hooks.append(m.register_forward_hook(leave))

    def path():
        return stack[-1] if stack else ("(stylizer)", "Stylizer")

    def remove():
        for h in hooks:
            h.remove()

    return path, remove


def _elapsed(t) -> float:
    if isinstance(t, tuple):
        t[1].synchronize()
        return t[0].elapsed_time(t[1])
    return float(t)


def _root_module(stylizer):
    eng = getattr(stylizer, "engine", None)
    if eng is not None:
        return eng.live
    return getattr(stylizer, "model", None)


def stage_bytes(spec, y_in_bytes: int, out: tuple) -> int:
    """Bytes a fused stage moves: its input (the previous conv output or the image), the residual
    it adds, its outputs, the padded conv input it writes and the conv reads (Inductor materializes
    it for the extern conv), and the conv's weights."""
    y = out[0]
    conv = spec.conv
    n, _co, ho, wo = y.shape
    k, cin = conv.kernel_size[0], conv.in_channels
    hi, wi = (ho - 1) * conv.stride[0] + k, (wo - 1) * conv.stride[0] + k
    es = y.element_size()
    total = y_in_bytes + sum(_nbytes(t) for t in out) + 2 * n * cin * hi * wi * es + _nbytes(conv.weight) + _nbytes(conv.bias)
    if spec.add:  # the residual: the block input, at the prologue's (pre-upsample) size
        total += n * cin * (hi - 2 * (k // 2)) * (wi - 2 * (k // 2)) // (4 if spec.up else 1) * es
    return total


def count_fused_bytes(net: torch.nn.Module, eyes: int, h: int, w: int, act_bytes: int = 4) -> int:
    """Bytes per frame of ``eyes`` × h × w through the fused stages of generator ``net`` (counted
    eagerly on a CPU fp32 copy at about 128 × 128 per eye, scaled by pixels and to ``act_bytes``
    per activation element)."""
    f = min(1.0, math.sqrt(128 * 128 / (h * w)))
    sh, sw = max(16, round(h * f / 8) * 8), max(16, round(w * f / 8) * 8)
    twin = FusedGenerator(copy.deepcopy(net).float().cpu().eval(), compile=False)
    total = [0, sh * sw * 3 * eyes * 4]  # bytes so far, bytes of the last stage's output

    def on_stage(spec, run):
        out = run()
        total[0] += stage_bytes(spec, total[1], out)
        total[1] = _nbytes(out[0])
        return out

    twin.on_stage = on_stage
    with torch.inference_mode():
        twin(torch.rand(eyes, 3, sh, sw))
    return int(total[0] * (h * w) / (sh * sw) * act_bytes / 4)


def _fused_rows(stylizer, x, dev, reps) -> list[list[dict]]:
    """Per-stage records of a fused engine over ``reps`` forwards."""
    fused = stylizer.engine._fused
    runs: list[list[dict]] = []

    def on_stage(spec: StageSpec, run):
        if dev.type == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            out = run()
            b.record()
            t = (a, b)
        else:
            t0 = time.perf_counter()
            out = run()
            t = (time.perf_counter() - t0) * 1e3
        y = out[0]
        conv = spec.conv
        n, co, ho, wo = y.shape
        k, cin = conv.kernel_size[0], conv.in_channels
        hi, wi = (ho - 1) * conv.stride[0] + k, (wo - 1) * conv.stride[0] + k  # the padded conv input
        args_bytes = stage_bytes(spec, runs[-1][-1]["_out_bytes"] if runs[-1] else _nbytes(x), out)
        chosen = fused.conv_chosen.get(spec.name)  # the stage's conv way, when it has a choice
        op = spec.describe() + (f" [{chosen.way}]" if chosen is not None and chosen.way != "plain" else "")
        runs[-1].append({"module": spec.name, "module_type": "fused stage", "op": op, "time": t,
                         "in_shapes": [[n, cin, hi, wi]], "out_shape": list(y.shape), "dtype": str(y.dtype).replace("torch.", ""),
                         "bytes": args_bytes, "flops": 2 * n * co * ho * wo * cin * k * k, "_out_bytes": _nbytes(y)})
        return out

    fused.on_stage = on_stage
    try:
        for _ in range(reps):
            runs.append([])
            stylizer.stylize(x)
            _sync(dev)
    finally:
        fused.on_stage = None
    return runs


def profile_stylizer(stylizer, x: torch.Tensor, reps: int = 5, warmup: int = 2) -> dict:
    """Per-op rows of ``stylizer.stylize(x)`` (see the module doc); ``x`` on the stylizer's device."""
    dev = x.device
    for _ in range(warmup):  # compile, autotune, load the style
        stylizer.stylize(x)
    _sync(dev)
    plain = []
    for _ in range(max(3, reps)):
        _sync(dev)
        t0 = time.perf_counter()
        stylizer.stylize(x)
        _sync(dev)
        plain.append((time.perf_counter() - t0) * 1e3)
    forward_ms = float(np.median(plain))
    fused = getattr(getattr(stylizer, "engine", None), "kind", None) == "fused"
    if fused:
        runs = _fused_rows(stylizer, x, dev, reps)
    else:
        path, remove = _module_stack(_root_module(stylizer))
        runs = []
        try:
            for _ in range(reps):
                rec = _OpRecorder(dev, path)
                with rec:
                    stylizer.stylize(x)
                _sync(dev)
                runs.append(rec.ops)
        finally:
            remove()
    n = min(len(r) for r in runs)
    rows = []
    for i in range(n):
        r = dict(runs[0][i])
        r.pop("_out_bytes", None)
        ms = float(np.median([_elapsed(run[i]["time"]) for run in runs if i < len(run)]))
        r["time_ms"] = round(ms, 4)
        del r["time"]
        r["gb_s"] = round(r["bytes"] / ms / 1e6, 1) if ms > 0 else None
        r["gflop_s"] = round(r["flops"] / ms / 1e6, 1) if ms > 0 else None
        r["kind"] = "fused stage" if fused else op_kind(r["op"], r["module_type"], r["module"])
        rows.append(r)
    total = sum(r["time_ms"] for r in rows)
    if fused:
        rows.append({"module": "(between stages)", "module_type": "glue", "op": "filter, affine, pad to 4, crop, cast",
                     "kind": "glue", "time_ms": round(max(0.0, forward_ms - total), 4), "bytes": 0, "flops": 0,
                     "gb_s": None, "gflop_s": None, "in_shapes": [], "out_shape": [], "dtype": ""})
        total = sum(r["time_ms"] for r in rows)
    for r in rows:
        r["share"] = round(r["time_ms"] / total, 4) if total > 0 else None
    by_kind: dict[str, dict] = {}
    for r in rows:
        k = by_kind.setdefault(r["kind"], {"time_ms": 0.0, "bytes": 0, "flops": 0, "rows": 0})
        k["time_ms"] += r["time_ms"]
        k["bytes"] += r["bytes"]
        k["flops"] += r["flops"]
        k["rows"] += 1
    for k in by_kind.values():
        k["time_ms"] = round(k["time_ms"], 4)
        k["share"] = round(k["time_ms"] / total, 4) if total > 0 else None
        k["gb_s"] = round(k["bytes"] / k["time_ms"] / 1e6, 1) if k["time_ms"] > 0 else None
    return {"forward_ms": round(forward_ms, 4), "sum_ms": round(total, 4), "rows": rows, "by_kind": by_kind,
            "bytes": sum(r["bytes"] for r in rows), "flops": sum(r["flops"] for r in rows)}


def _app_stylizer(method: str, arch: str, engine: str, dev: torch.device):
    """The app's stylizer for ``method:arch`` on its first shipped style (``engine``: generators)."""
    kw: dict = {}
    if method in ("generator", "xnor"):
        kw = {"arch": arch, "engine": engine}
    elif method == "adain":
        kw = {"variant": arch, "preserve_color": "none"}
    return make_stylizer(method, None, device=str(dev), **kw)


def profile_network(method: str, arch: str, eye_size: tuple[int, int], eyes: int, dev: torch.device, *,
                    engine: str = "auto", reps: int = 5, warmup: int = 2, bandwidth: float | None = None,
                    commit: str | None = None) -> dict:
    """Build the app's stylizer for ``method:arch`` with ``engine`` (generators) and profile it at
    ``eyes`` × ``eye_size`` (w, h); returns one ``layer_profile`` record."""
    stylizer = _app_stylizer(method, arch, engine, dev)
    w, h = eye_size
    x = torch.rand(eyes, 3, h, w, device=dev, generator=torch.Generator(device=dev).manual_seed(0))
    with torch.inference_mode():
        prof = profile_stylizer(stylizer, x, reps=reps, warmup=warmup)
    eng = getattr(stylizer, "engine", None)
    rec = {"kind": "layer_profile", "device": device_name(dev), "method": method, "arch": arch,
           "style": stylizer.style, "engine": eng.kind if eng is not None else "eager",
           "engine_config": eng.describe() if eng is not None else ("fp16 autocast" if dev.type == "cuda" else "fp32"),
           "eye_size": [w, h], "eyes": eyes, "reps": reps, **prof, "commit": commit_id(commit), "date": _now()}
    if bandwidth:
        rec["bandwidth_gbs"] = round(bandwidth, 1)
        rec["traffic_floor_ms"] = round(rec["bytes"] / (bandwidth * 1e9) * 1e3, 4)
    return rec


# ---------------------------------------------------------------------------- the comfort steps
#: the device path's steps, by the wrapper that runs them, in the order a frame runs them
COMFORT_STEPS = (("temporal", "frame_gray"), ("temporal", "motion"), ("stereo", "pair_gray"),
                 ("stereo", "stereo_match"), ("stereo", "blend_on_device"), ("temporal", "blend_on_device"))


class _StepTimer:
    """``DeviceMaths.on_step`` of one wrapper: times each step (CUDA events on the current stream,
    resolved after the frame; the wall clock on the CPU) and sizes its tensors in and out."""

    def __init__(self, wrapper: str, dev: torch.device, calls: list):
        self.wrapper, self.dev, self.calls = wrapper, dev, calls

    def _mark(self):
        if self.dev.type == "cuda":
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def __call__(self, name: str, run, args: tuple):
        a = self._mark()
        out = run()
        b = self._mark()
        moved = sum(_nbytes(t) for t in tree_leaves(args)) + sum(_nbytes(t) for t in tree_leaves(out))
        self.calls.append((self.wrapper, name, a, b, moved))
        return out


def profile_comfort(stylizer, xs: list[torch.Tensor], warmup: int = 3) -> dict:
    """The comfort wrappers around ``stylizer`` as `artem-vr run` builds them
    (:func:`artem_vr.temporal.wrap_for_run`, both switched on), step by step, over the frames ``xs``
    (a moving stereo pair; the first ``warmup`` untimed: compiles, the first frame has no history).

    The wrappers' device path (what runs on CUDA — compiled with a ``fused`` network, eager with the
    others; on the CPU the same torch steps, which `run` replaces there by OpenCV). The frame graphs
    are off here: a replayed frame runs no Python, so its steps could not be timed one by one (their
    kernels are the same). Each frame runs plain (the network alone) and wrapped, interleaved and
    synchronized around each, so ``comfort_ms`` − ``stylize_ms`` is the comfort's cost; per step: calls
    per frame, time (median over the frames of each frame's sum), bytes in + out, GB/s and the share of
    the comfort cost; ``(outside the steps)`` is the rest of that cost (the wrappers' glue: the
    stereo pair's concatenation, the blend weights, the statistics' moving average in the network)."""
    dev = xs[0].device
    state = types.SimpleNamespace(stereo_consistency=True, temporal=True)
    wrapped = wrap_for_run(stylizer, state, backend="torch")
    find_frame_graph(wrapped).enabled = lambda: False
    calls: list = []
    wrappers = comfort_wrappers(wrapped)
    for name, w in wrappers.items():
        w.maths.on_step = _StepTimer(name, dev, calls)
    plain, comfort, per_frame = [], [], []
    try:
        for i, x in enumerate(xs):
            for which in ("plain", "comfort"):
                _sync(dev)
                del calls[:]
                t0 = time.perf_counter()
                (stylizer if which == "plain" else wrapped).stylize(x)
                _sync(dev)
                ms = (time.perf_counter() - t0) * 1e3
                if i < warmup:
                    continue
                (plain if which == "plain" else comfort).append(ms)
                if which == "comfort":
                    frame: dict = {}
                    for wrapper, step, a, b, moved in calls:
                        row = frame.setdefault((wrapper, step), [0, 0.0, 0])
                        row[0] += 1
                        row[1] += a.elapsed_time(b) if dev.type == "cuda" else (b - a) * 1e3
                        row[2] += moved
                    per_frame.append(frame)
    finally:
        for w in wrappers.values():
            w.maths.on_step = None
    stylize_ms, comfort_ms = float(np.median(plain)), float(np.median(comfort))
    cost = max(0.0, comfort_ms - stylize_ms)
    order = [k for k in COMFORT_STEPS if any(k in f for f in per_frame)]
    order += sorted({k for f in per_frame for k in f} - set(order))
    rows = []
    for key in order:
        seen = [f[key] for f in per_frame if key in f]
        ms = float(np.median([c[1] for c in seen]))
        moved = int(np.median([c[2] for c in seen]))
        rows.append({"wrapper": key[0], "step": key[1], "calls": round(float(np.mean([c[0] for c in seen])), 2),
                     "time_ms": round(ms, 4), "bytes": moved, "gb_s": round(moved / ms / 1e6, 1) if ms > 0 else None})
    steps_ms = sum(r["time_ms"] for r in rows)
    rows.append({"wrapper": "both", "step": "(outside the steps)", "calls": None,
                 "time_ms": round(max(0.0, cost - steps_ms), 4), "bytes": 0, "gb_s": None})
    for r in rows:
        r["share"] = round(r["time_ms"] / max(cost, steps_ms), 4) if max(cost, steps_ms) > 0 else None
    return {"stylize_ms": round(stylize_ms, 4), "comfort_ms": round(comfort_ms, 4), "cost_ms": round(cost, 4),
            "comfort_share": round(cost / stylize_ms, 4) if stylize_ms > 0 else None,
            "steps_ms": round(steps_ms, 4), "compiled": bool(getattr(stylizer, "compiles", False)),
            "frames": len(comfort), "rows": rows}


def profile_comfort_network(method: str, arch: str, eye_size: tuple[int, int], eyes: int, dev: torch.device, *,
                            engine: str = "auto", frames: int = 6, warmup: int = 3, commit: str | None = None) -> dict:
    """Build the app's stylizer for ``method:arch`` (as :func:`profile_network`) and profile its
    comfort wrappers (:func:`profile_comfort`) on a panning stereo scene at ``eyes`` × ``eye_size``
    (w, h); returns one ``comfort_profile`` record."""
    stylizer = _app_stylizer(method, arch, engine, dev)
    w, h = eye_size
    xs = [to_tensor([f[:, k * w:(k + 1) * w] for k in range(eyes)], device=dev)
          for f in moving_frames(frames + warmup, (w, h), eyes)]
    with torch.inference_mode():
        prof = profile_comfort(stylizer, xs, warmup=warmup)
    eng = getattr(stylizer, "engine", None)
    return {"kind": "comfort_profile", "device": device_name(dev), "method": method, "arch": arch,
            "style": stylizer.style, "engine": eng.kind if eng is not None else "eager",
            "engine_config": eng.describe() if eng is not None else ("fp16 autocast" if dev.type == "cuda" else "fp32"),
            "eye_size": [w, h], "eyes": eyes, **prof, "commit": commit_id(commit), "date": _now()}


def _fmt_bytes(b: float) -> str:
    return f"{b / 1e6:.1f} MB" if b >= 1e5 else f"{b / 1e3:.1f} kB"


def markdown(records: list[dict]) -> str:
    """One table per network (rows in execution order) and a per-kind summary."""
    out = ["# Per-layer profile", ""]
    for r in records:
        if r.get("kind") == "comfort_profile":
            out += _comfort_markdown(r)
            continue
        out += [f"## {r['method']}:{r['arch']} — {r['engine']} ({r['engine_config']}), "
                f"{r['eyes']}×{r['eye_size'][0]}×{r['eye_size'][1]}, {r['device']}", "",
                f"stylize {r['forward_ms']:.3f} ms uninstrumented (median), rows sum {r['sum_ms']:.3f} ms; "
                f"{_fmt_bytes(r['bytes'])} moved"
                + (f", traffic floor {r['traffic_floor_ms']:.3f} ms at {r['bandwidth_gbs']:.0f} GB/s"
                   if r.get("traffic_floor_ms") is not None else "")
                + f"; commit {r['commit']}, {r['date']}", "",
                "| kind | time ms | share | bytes | GB/s | GFLOP/s | rows |", "|---|---:|---:|---:|---:|---:|---:|"]
        for k, v in sorted(r["by_kind"].items(), key=lambda kv: -kv[1]["time_ms"]):
            gf = v["flops"] / v["time_ms"] / 1e6 if v["time_ms"] > 0 else 0
            out.append(f"| {k} | {v['time_ms']:.3f} | {100 * (v['share'] or 0):.1f} % | {_fmt_bytes(v['bytes'])} | "
                       f"{v['gb_s'] or 0:.0f} | {gf:.0f} | {v['rows']} |")
        out += ["", "| # | module | op | kind | out shape | dtype | time ms | share | bytes | GB/s | GFLOP/s |",
                "|---:|---|---|---|---|---|---:|---:|---:|---:|---:|"]
        for i, row in enumerate(r["rows"]):
            out.append(f"| {i} | {row['module']} | {row['op']} | {row['kind']} | {'×'.join(map(str, row['out_shape']))} | "
                       f"{row['dtype']} | {row['time_ms']:.4f} | {100 * (row['share'] or 0):.1f} % | "
                       f"{_fmt_bytes(row['bytes'])} | {row['gb_s'] or 0:.0f} | {row['gflop_s'] or 0:.0f} |")
        out.append("")
    return "\n".join(out) + "\n"


def _comfort_markdown(r: dict) -> list[str]:
    """The table of one ``comfort_profile`` record (:func:`profile_comfort`)."""
    share = f"{100 * r['comfort_share']:.1f} %" if r.get("comfort_share") is not None else "n/a"
    out = [f"## comfort steps around {r['method']}:{r['arch']} — {r['engine']} ({r['engine_config']}), "
           f"{r['eyes']}×{r['eye_size'][0]}×{r['eye_size'][1]}, {r['device']}", "",
           f"stereo consistency + temporal stabilization, device path {'compiled' if r['compiled'] else 'eager'}, frame "
           f"graphs off (each step timed); {r['frames']} frames of a panning stereo scene: stylize {r['stylize_ms']:.3f} ms "
           f"alone, {r['comfort_ms']:.3f} ms wrapped — comfort {r['cost_ms']:.3f} ms, {share} of stylize "
           f"(steps {r['steps_ms']:.3f} ms); commit {r['commit']}, {r['date']}", "",
           "| wrapper | step | calls | time ms | share of comfort | bytes | GB/s |", "|---|---|---:|---:|---:|---:|---:|"]
    for row in r["rows"]:
        calls = "" if row["calls"] is None else f"{row['calls']:g}"
        out.append(f"| {row['wrapper']} | {row['step']} | {calls} | {row['time_ms']:.4f} | "
                   f"{100 * (row['share'] or 0):.1f} % | {_fmt_bytes(row['bytes'])} | {row['gb_s'] or 0:.0f} |")
    return out + [""]


def write_profile(records: list[dict], out_dir: Path, json_path: Path | None = None) -> tuple[Path, Path]:
    """``profile_layers.json`` (or ``json_path``) and ``profile_layers.md`` in ``out_dir``, each
    written beside and renamed into place (a reader never sees half a file)."""

    def write_text_atomic(path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)

    out_dir.mkdir(parents=True, exist_ok=True)
    jp = json_path or out_dir / "profile_layers.json"
    mp = out_dir / "profile_layers.md"
    write_text_atomic(jp, json.dumps(records, indent=1))
    write_text_atomic(mp, markdown(records))
    return jp, mp
