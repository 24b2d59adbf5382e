"""Capture a whole frame — ``fn(x) -> y``, any Python inside — and replay it with one call.

:class:`CudaGraphCapture` records the kernels one call of ``fn`` launches as a CUDA graph (one
launch per frame instead of hundreds, the host out of the frame loop); :class:`TracedCapture`
does the same on any device by tracing, for the CPU tests. Their user, and what a function must
be to be replayed, is :mod:`artem_vr.temporal.graphed`. The NVRTC XNOR kernels launch on torch's
current stream, so they are captured like torch's own ops (tests/cuda/test_graphs.py).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.fx.experimental.proxy_tensor import make_fx


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

        return make_fx(run)(x), box["y"]  # the traced module is the replay
