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
