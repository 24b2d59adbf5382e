"""What a frame of the bench costs at the least: the device's measured peaks (dense matmul rate,
copy bandwidth), the work per frame (multiply-accumulates from torch's FLOP counter; bytes every op
reads and writes, eager) and the timing helpers the bench's records are built with.

The floors of a record (:mod:`artem_vr.bench_run`) are the work over the peaks, both measured in
the same run: ``flop_floor`` = 2 × MACs / matmul peak, ``traffic_floor`` = bytes / copy bandwidth.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from artem_vr.style.engine import cpu_has_native_bf16

#: the memory bandwidth of the consumer-card *estimates* printed beside each record (bytes/s).
#: Every network here is memory-bound, so on a card with 1 TB/s a frame takes at least bytes per
#: frame / 1 TB/s (``consumer_est_fps``, an upper bound on FPS); ``consumer_scaled_fps`` assumes the
#: card runs as far from its bandwidth as the measured device did (stylize ms × bandwidth / 1 TB/s).
CONSUMER_BANDWIDTH = 1e12


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def stats_ms(samples: list[float]) -> dict:
    a = np.asarray(samples, dtype=np.float64)
    return {"median": round(float(np.median(a)), 4), "p99": round(float(np.percentile(a, 99)), 4), "n": int(a.size)}


def loadavg() -> float:
    """The 1-minute load average (NaN where the platform has none): the records say the machine's load."""
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
    elif cpu_has_native_bf16():  # the fast engine runs bf16 here: its floor uses this rate
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


def count_macs(net: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of one forward of ``net`` on ``x`` (torch's FLOP counter / 2)."""
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        net(x)
    return int(fc.get_total_flops() // 2)


_WORK_CACHE: dict = {}


def count_work(stylizer, eyes: int, h: int, w: int) -> dict:
    """MACs and bytes moved for one frame of ``eyes`` × h × w through ``stylizer`` (its internal
    scale included), counted on a small frame (about 128 × 128 per eye) and scaled by pixels."""
    key = (stylizer.method, getattr(stylizer, "arch", None), getattr(stylizer, "variant", None),
           getattr(stylizer, "style", None), stylizer.internal_scale, eyes, h, w)
    if key in _WORK_CACHE:
        return _WORK_CACHE[key]
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
