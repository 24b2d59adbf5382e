"""Replay a network's forward as a CUDA graph (one launch per frame instead of one per layer).

:class:`GraphedForward` wraps ``fn(x) -> y`` for CUDA tensors of one shape: the first call (and
any call with a new shape/dtype) warms up on a side stream and captures a graph; later calls
copy ``x`` into the graph's static input, replay, and return the static output — which the
next call overwrites, so consume (or clone) it before calling again. CPU tensors, or a machine
without CUDA, go straight to ``fn``. The NVRTC XNOR kernels launch on torch's current stream,
so they are captured like any torch op.

Autocast inside a captured function must not cache casts (``torch.autocast(...,
cache_enabled=False)``); :func:`autocast_fn` builds such a function.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.fx.experimental.proxy_tensor import make_fx


def autocast_fn(fn: Callable, dtype: torch.dtype | None) -> Callable:
    """``fn`` under CUDA autocast to ``dtype`` (None: unchanged), graph-capture safe, float32 out."""
    if dtype is None:
        return fn

    def run(x):
        with torch.autocast("cuda", dtype=dtype, cache_enabled=False):
            return fn(x).float()

    return run


class GraphedForward:
    """``fn`` replayed as a CUDA graph per input shape; eager on the CPU."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], warmup: int = 3):
        self.fn = fn
        self.warmup = warmup
        self._key = None
        self._graph = None
        self._in: torch.Tensor | None = None
        self._out: torch.Tensor | None = None
        self.captures = 0

    def _capture(self, x: torch.Tensor) -> None:
        self._graph = None
        self._in = x.detach().clone()
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup):  # cudnn autotuning, allocator warm-up, kernel loads
                self.fn(self._in)
        torch.cuda.current_stream(x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._out = self.fn(self._in)
        self._graph = graph
        self._key = (tuple(x.shape), x.dtype, x.device, x.stride())
        self.captures += 1

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_cuda:
            return self.fn(x)
        if (tuple(x.shape), x.dtype, x.device, x.stride()) != self._key:
            self._capture(x)
        self._in.copy_(x)
        self._graph.replay()
        return self._out


# ---------------------------------------------------------------------------- whole frames
class CudaGraphCapture:
    """Captures a whole frame, ``fn(x) -> y`` with any Python inside, as one CUDA graph
    (:class:`artem_vr.temporal.graphed.FrameGraphStylizer`'s backend on CUDA).

    ``capture(fn, x)`` → ``(replay, y)``: ``fn`` runs once in Python under capture (its kernels are
    recorded, not run) on a static copy of ``x``; then ``replay(x)`` copies ``x`` in, replays and
    returns a copy of the static output (the caller may keep it; the next replay would overwrite
    the original), and ``y`` is the first replay's. Every graph of one capturer shares one memory
    pool: they replay one at a time on the caller's stream. Capture errors are this thread's
    only (``thread_local``): the output thread's CUDA–GL interop may run meanwhile."""

    def __init__(self):
        self._pool = None

    def capture(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor):
        # the same kind of tensor as the frames before (an inference tensor or not): a compiled
        # function guards on it, and a recompile cannot run inside a capture
        with torch.inference_mode(x.is_inference()):
            static_in = x.clone()
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool, capture_error_mode="thread_local"):
            static_out = fn(static_in)

        def replay(t: torch.Tensor) -> torch.Tensor:
            static_in.copy_(t)
            graph.replay()
            return static_out.clone()

        return replay, replay(x)


class TracedCapture:
    """The same contract as :class:`CudaGraphCapture` on any device, by tracing instead of
    capturing: ``fn`` runs once in Python while :func:`torch.fx.experimental.proxy_tensor.make_fx`
    records the ATen ops it runs; a replay runs that recording on the new input and nothing of
    ``fn``'s Python. What a CUDA graph bakes in is baked in here alike — Python numbers and
    branches, the tensors read from outside ``fn`` (the same objects, so in-place state updates
    land where the next frame reads them) — so a stylizer that replays correctly here replays
    correctly as a CUDA graph, and the CPU tests check that (tests/temporal/test_graphed.py).
    One difference, on the strict side: a tensor made inside ``fn`` and kept by Python for the
    next frame is frozen here, where a CUDA graph would refresh it in its pool; state that
    crosses frames must live in buffers updated in place, which both see alike."""

    def capture(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor):
        box = {}

        def run(t):
            box["y"] = fn(t)
            return box["y"]

        traced = make_fx(run)(x)
        return (lambda t: traced(t)), box["y"]
