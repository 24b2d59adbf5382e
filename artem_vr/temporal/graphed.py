"""A whole frame of the stylizer as one CUDA graph: the host out of the hot loop.

Why (GPU run 5, docs/benchmarks.md): on an H200 the foveated fused generator at 2×2016×2240 ran
*slower* than the unfoveated one (23.3 against 33.3 FPS) although its network saw 39 % of the
pixels, and the comfort wrappers cost 6–12 ms a frame whatever the eye size: a frame there is
hundreds of small kernel launches (the window statistics and their estimate at every
normalization, the comfort steps between), each dispatched by Python on the host, and the GPU
waited for the host. A CUDA graph replays a frame's kernels with one host call.

``FrameGraphStylizer(stylizer)`` is itself a Stylizer. Per frame it asks the stylizer under it for
its :meth:`~artem_vr.style.base.Stylizer.graph_key`: everything decided in Python that shapes the
frame (the ops, the buffers they read, the numbers baked into them: shapes, strength, the fovea's
windows, the stereo pair's switches, the network's engine and structure, the statistics
transforms' state — :meth:`~artem_vr.temporal.normstats.NormStatsHooks.graph_token`). Frames with
one key run the same kernels on the same buffers, so:

* a key seen for the first ``warmup`` frames runs as it is (compiles, autotuning, the buffers its
  state lives in are made);
* the next frame with that key is captured (:class:`~artem_vr.cuda.graphs.CudaGraphCapture`) and
  every later one replays it (at most ``capacity`` graphs are kept, least recently used dropped);
* a stylizer that cannot be replayed (key None: ONNX Runtime, AdaIN's eager path, the OpenCV
  comfort path, a statistics filter that is not the comfort wrappers') runs as it is, and
  :attr:`stats` says why. So does a frame on the CPU, and every frame with :data:`FRAME_GRAPH_ENV` ``=0``.

What makes a stylizer replayable: its per-frame state lives in buffers it updates in place (the
temporal statistics' averages, the cut weight, the stereo pair's warped share), so a replay reads
and writes where the Python would have; the bookkeeping its ``stylize`` does in Python (counters,
the fovea's windows) is redone by :meth:`~artem_vr.style.base.Stylizer.graph_replayed`. The
temporal stabilizer runs *above* this wrapper (:func:`artem_vr.temporal.wrap_for_run`): its flow
and blend are a few compiled steps with state that changes every frame; what it changes inside
the network (the statistics' moving average) is in the key and in place.

The CPU tests replay through :class:`~artem_vr.cuda.graphs.TracedCapture` (make_fx: the same
baking-in as a CUDA graph) and compare every frame with the stylizer run as it is, over style
switches, strength changes, toggles and cuts (tests/temporal/test_graphed.py); the GPU test does
the same with CUDA graphs.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict

import torch

from artem_vr.cuda.graphs import CudaGraphCapture
from artem_vr.errors import UsageError
from artem_vr.frames import check_image
from artem_vr.style.base import Stylizer
from artem_vr.style.norm import active_filters
from artem_vr.temporal.normstats import hooks_for
from artem_vr.temporal.wrapper import WrappingStylizer, as_switch, find_wrapper

log = logging.getLogger(__name__)

#: "0" (or "off"): never capture (every frame runs as it is: the A/B reference); unset, "1" or
#: "auto": capture frames on CUDA
FRAME_GRAPH_ENV = "ARTEM_VR_FRAME_GRAPH"


def frame_graphs_allowed() -> bool:
    """False when :data:`FRAME_GRAPH_ENV` turns frame graphs off."""
    value = os.environ.get(FRAME_GRAPH_ENV, "auto").strip().lower()
    if value in ("0", "off", "false", "no"):
        return False
    if value in ("", "1", "on", "auto", "true", "yes"):
        return True
    raise UsageError(f"{FRAME_GRAPH_ENV}={value!r} is not a setting", f"use {FRAME_GRAPH_ENV}=0 (off) or auto (the default)")


def frame_graph_line(device) -> str | None:
    """`run`'s start-up line about the frame graphs on a CUDA device (None on the CPU: nothing is
    replayed there). A bad :data:`FRAME_GRAPH_ENV` is said here, before anything loads."""
    allowed = frame_graphs_allowed()
    if not str(device).startswith("cuda"):
        return None
    if not allowed:
        return f"frame graphs: off ({FRAME_GRAPH_ENV}=0: every kernel launched from Python)"
    return ("frame graphs: on (from its third frame, each frame below the temporal stabilizer — stereo, foveation, "
            f"the network — replays as one CUDA graph; {FRAME_GRAPH_ENV}=0 turns them off)")


class FrameGraphStylizer(WrappingStylizer):
    """Wrap ``stylizer`` so its frames replay as CUDA graphs. See the module docstring.

    ``capture``: the capturer (default: :class:`~artem_vr.cuda.graphs.CudaGraphCapture` for frames
    on CUDA, none on the CPU; the tests give :class:`~artem_vr.cuda.graphs.TracedCapture`).
    ``enabled``: bool or callable read per frame (``artem-vr bench --graph on off`` compares both).
    """

    def __init__(self, stylizer: Stylizer, *, capture=None, warmup: int = 2, capacity: int = 8, enabled=True):
        super().__init__(stylizer, ("on",), "on")
        self.enabled = as_switch(enabled)  # off: every frame as it is (bench --graph off, the A/B)
        if warmup < 1 or capacity < 1:
            raise UsageError(f"frame graph warmup {warmup} and capacity {capacity} must be at least 1", "e.g. 2 and 8")
        self._capture = capture
        self._cuda: CudaGraphCapture | None = None
        self.warmup = warmup
        self.capacity = capacity
        self._graphs: OrderedDict[tuple, object] = OrderedDict()
        self._seen: dict[tuple, int] = {}
        self._broken = ""  # a capture failed: graphs are off for this stylizer, and why
        #: ``replays``, ``captures``, ``frames_as_they_are``, ``graphs`` (kept), ``why`` (the last
        #: reason a frame ran as it is; "" when it replayed)
        self.stats = {"replays": 0, "captures": 0, "frames_as_they_are": 0, "graphs": 0, "why": ""}

    def _capturer(self, x: torch.Tensor):
        if self._capture is not None:
            return self._capture
        if not x.is_cuda or not frame_graphs_allowed():
            return None
        if self._cuda is None:
            self._cuda = CudaGraphCapture()
        return self._cuda

    def _key(self, x: torch.Tensor) -> tuple[tuple | None, str]:
        hooks = hooks_for(self.inner)
        filters = active_filters()
        if any(f != hooks.transform for f in filters):
            return None, "a statistics filter other than the comfort wrappers' is active"
        token = hooks.graph_token()
        if token is None:
            return None, "a statistics transform cannot be replayed"
        inner = self.inner.graph_key(x)
        if inner is None:
            return None, f"the {self.inner.method} stylizer here cannot be replayed"
        return (tuple(x.shape), x.dtype, str(x.device), x.stride(), bool(filters), token, inner), ""

    def _as_it_is(self, x: torch.Tensor, why: str) -> torch.Tensor:
        self.stats["frames_as_they_are"] += 1
        self.stats["why"] = why
        return self.inner.stylize(x)

    @torch.inference_mode()
    def stylize(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "FrameGraphStylizer input")
        if not self.enabled():
            return self._as_it_is(x, "switched off")
        capture = self._capturer(x)
        if capture is None:
            return self._as_it_is(x, "not on CUDA" if not x.is_cuda else f"{FRAME_GRAPH_ENV} is off")
        if self._broken:
            return self._as_it_is(x, self._broken)
        self.inner.graph_prepare()
        key, why = self._key(x)
        if key is None:
            return self._as_it_is(x, why)
        replay = self._graphs.get(key)
        if replay is not None:
            self._graphs.move_to_end(key)
            y = replay(x)
            self.inner.graph_replayed()
            self.stats["replays"] += 1
            self.stats["why"] = ""
            return y
        seen = self._seen.get(key, 0) + 1
        if len(self._seen) > 256:  # keys that never settle (a moving window): forget them
            self._seen.clear()
        self._seen[key] = seen
        if seen <= self.warmup:
            return self._as_it_is(x, f"warming up ({seen} of {self.warmup} frames before the capture)")
        try:
            replay, y = capture.capture(self.inner.stylize, x)
        except RuntimeError as err:  # a kernel or call that cannot be captured: said once, then as it is
            self._broken = f"capture failed: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
            log.warning("frame graphs off for the %s stylizer: %s", self.inner.method, self._broken)
            return self._as_it_is(x, self._broken)
        after, _ = self._key(x)
        if after != key:  # a switch flipped while it was captured (another thread): this frame only
            self.stats["why"] = "the frame changed while it was captured: not kept"
            return y
        self._graphs[key] = replay
        while len(self._graphs) > self.capacity:
            self._graphs.popitem(last=False)
        self.stats["captures"] += 1
        self.stats["graphs"] = len(self._graphs)
        self.stats["why"] = ""
        return y

    def drop_graphs(self) -> None:
        """Drop every captured graph, and their memory (they are captured again as frames come)."""
        self._graphs.clear()
        self._seen.clear()
        self._cuda = None  # its memory pool goes with the last graph that used it
        self.stats["graphs"] = 0
        self.inner.drop_graphs()


def find_frame_graph(stylizer) -> FrameGraphStylizer | None:
    """The FrameGraphStylizer in a chain of wrappers (``.inner``), or None."""
    return find_wrapper(stylizer, FrameGraphStylizer)
