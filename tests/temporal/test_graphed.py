"""Frames replayed as one graph (artem_vr.temporal.graphed) give the frames the stylizer gives.

A CUDA graph replays the kernels one frame's Python launched, on the buffers it read, with the
numbers it baked in; nothing of the Python runs again. On this CPU the same thing is done by
tracing (:class:`artem_vr.cuda.graphs.TracedCapture`: make_fx records the ATen ops, a replay runs
the record), which bakes in exactly what a CUDA graph does. Each test runs two stacks built
alike — one replayed, one run as it is — over the same frames, with style switches, strength
changes, toggles and a scene cut between them, and asserts the same pictures and figures frame
for frame: so every key says what a frame depends on, and all state crosses frames in place.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from temporal_helpers import pan, texture

from artem_vr.cuda.graphs import TracedCapture
from artem_vr.errors import UsageError
from artem_vr.frames import to_tensor
from artem_vr.style.engine import EngineConfig
from artem_vr.style.fused import CONV_WAYS_ENV
from artem_vr.style.methods import make_stylizer
from artem_vr.style.norm import stats_filter
from artem_vr.temporal import (FrameGraphStylizer, StereoConsistentStylizer, TemporalStabilizer, comfort_stats,
                               wrap_for_run)
from artem_vr.temporal.foveate import FoveaRegion, FoveaSpec, FoveatedStylizer
from artem_vr.temporal.graphed import FRAME_GRAPH_ENV, find_frame_graph, frame_graph_line, frame_graphs_allowed

#: the fused engine's stages run eagerly (the same Python between stages as compiled: the
#: statistics hooks, the thin-conv choice), fp32 so the two stacks' sums agree to rounding
FUSED = EngineConfig(precision="fp32", channels_last=False, fused=True, compile=False)


def _generator(style="starry_night", engine=FUSED):
    return make_stylizer("generator", style, engine=engine)


def _pairs(n: int, w: int = 96, h: int = 64, cut_at: int | None = None) -> list[torch.Tensor]:
    """A panning stereo clip (the right eye the left shifted by 4 px); a new scene from ``cut_at``."""
    frames = pan(texture(h + 40, w + 60, seed=3), n, (w, h), step=(1.6, 0.5))
    if cut_at is not None:
        other = pan(255 - texture(h + 40, w + 60, seed=9)[::-1], n, (w, h))  # another scene, other tones
        frames = frames[:cut_at] + other[cut_at:]
    return [to_tensor([f, np.ascontiguousarray(np.roll(f, -4, axis=1))]) for f in frames]


def _comfort_stack(graphed: bool, fovea: bool = True):
    """wrap_for_run's stack on the torch path (the CUDA one), foveated, replayed or not."""
    state = SimpleNamespace(temporal=True, stereo_consistency=True)
    s = _generator()
    if fovea:
        s = FoveatedStylizer(s, FoveaRegion(), FoveaSpec(size=0.4, margin=8))
    stereo = StereoConsistentStylizer(s, mode="warp", disp_width=96, backend="torch",
                                      enabled=lambda: state.stereo_consistency)
    graph = FrameGraphStylizer(stereo, capture=TracedCapture() if graphed else None, warmup=1)
    stack = TemporalStabilizer(graph, backend="torch", enabled=lambda: state.temporal)
    return stack, graph, state


def _same(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    worst = float((a - b).abs().max())
    assert worst < 1e-5, f"{what}: replayed frame differs from the frame as it ran by {worst:.2e}"


def test_comfort_stack_replays_frame_for_frame():
    """Temporal(FrameGraph(Stereo(Foveated(generator)))): the temporal averages, the cut weight and
    the stereo pair's share cross frames in place; style, strength, toggles and a cut are keys."""
    runs = {g: _comfort_stack(g) for g in (True, False)}
    frames = _pairs(18, cut_at=8)
    plan = {5: ("style", "the_scream"), 11: ("strength", 0.6), 14: ("stereo", False), 16: ("stereo", True)}
    for i, x in enumerate(frames):
        outs = {}
        for g, (stack, _graph, state) in runs.items():
            what = plan.get(i)
            if what and what[0] == "style":
                stack.set_style(what[1])
            elif what and what[0] == "strength":
                stack.strength = what[1]
            elif what and what[0] == "stereo":
                state.stereo_consistency = what[1]
            outs[g] = stack.stylize(x)
        _same(outs[True], outs[False], f"frame {i} ({plan.get(i, '')})")
    graph = runs[True][1]
    print("frame graph", graph.stats)
    assert graph.stats["replays"] >= 6 and graph.stats["captures"] >= 3
    got, ref = comfort_stats(runs[True][0]), comfort_stats(runs[False][0])
    for name, keys in (("temporal", ("frames", "scene_cuts", "blend_fraction")),
                       ("stereo", ("pairs", "disparity_runs", "warped_fraction"))):
        for k in keys:
            assert got[name][k] == pytest.approx(ref[name][k], abs=1e-6), f"{name} {k}"
    assert ref["temporal"]["scene_cuts"] >= 1  # the cut happened (as a device weight: no reset)
    fov = runs[True][1].inner.inner
    assert fov.last_windows == runs[False][1].inner.inner.last_windows and fov.last_pixels


def test_a_style_switch_of_one_structure_reuses_the_graph():
    """Weights are copied in place on a switch (graph_prepare applies it before the replay): the
    same graph runs the new style, and its frames are the new style's."""
    graph = FrameGraphStylizer(_generator(), capture=TracedCapture(), warmup=1)
    ref = _generator("great_wave")
    x = _pairs(1)[0]
    for _ in range(3):
        graph.stylize(x)
    assert graph.stats["captures"] == 1 and graph.stats["replays"] == 1
    graph.set_style("great_wave")
    _same(graph.stylize(x), ref.stylize(x), "after the switch")
    assert graph.stats["captures"] == 1 and graph.stats["replays"] == 2


def test_keys_change_with_what_the_python_decides():
    s = FoveatedStylizer(_generator(), FoveaRegion())
    x = _pairs(1)[0]
    s.graph_prepare()
    k0 = s.graph_key(x)
    s.strength = 0.5
    k1 = s.graph_key(x)
    s.region.set_centres([(0.2, 0.3), (0.25, 0.3)])
    k2 = s.graph_key(x)
    s.enabled = lambda: False
    k3 = s.graph_key(x)
    assert None not in (k0, k1, k2, k3) and len({k0, k1, k2, k3}) == 4
    # what cannot be replayed says so: ONNX Runtime's sessions
    assert _generator(engine="ort").graph_key(x) is None


def test_xnor_replays_frame_for_frame():
    runs = {g: make_stylizer("xnor", None) for g in (True, False)}
    graph = FrameGraphStylizer(runs[True], capture=TracedCapture(), warmup=1)
    other = runs[False].styles()[-1]
    for i, x in enumerate(_pairs(7)):
        if i == 3:
            graph.set_style(other)
            runs[False].set_style(other)
        _same(graph.stylize(x), runs[False].stylize(x), f"frame {i}")
    # its eager engine runs each style's own module: a new style is another graph
    assert graph.stats["replays"] == 3 and graph.stats["captures"] == 2, graph.stats


def test_a_frame_that_cannot_be_replayed_runs_as_it_is_and_says_why():
    graph = FrameGraphStylizer(_generator(engine="ort"), capture=TracedCapture())
    x = _pairs(1)[0]
    ref = _generator(engine="ort").stylize(x)
    _same(graph.stylize(x), ref, "ort")
    assert graph.stats["frames_as_they_are"] == 1 and "cannot be replayed" in graph.stats["why"]
    # a statistics filter the comfort wrappers did not set (an evaluation's, a fit's) is not replayed
    g2 = FrameGraphStylizer(_generator(), capture=TracedCapture(), warmup=1)
    with stats_filter(lambda key, m, v: (m * 1.01, v)):
        for _ in range(3):
            g2.stylize(x)
    assert g2.stats["captures"] == 0 and "statistics filter" in g2.stats["why"]


def test_least_recently_used_graphs_are_dropped_and_frames_stay_right():
    graph = FrameGraphStylizer(_generator(), capture=TracedCapture(), warmup=1, capacity=1)
    ref = _generator()
    x = _pairs(1)[0]
    for i in range(8):
        graph.strength = ref.strength = 1.0 if i % 4 < 2 else 0.7
        _same(graph.stylize(x), ref.stylize(x), f"frame {i}")
    assert graph.stats["graphs"] == 1 and graph.stats["captures"] >= 2


class _Refusing(TracedCapture):
    def capture(self, fn, x):
        raise RuntimeError("operation not permitted when stream is capturing\nmore detail")


def test_a_failed_capture_is_said_once_and_the_frames_go_on(caplog):
    graph = FrameGraphStylizer(_generator(), capture=_Refusing(), warmup=1)
    ref = _generator()
    x = _pairs(1)[0]
    with caplog.at_level(logging.WARNING, logger="artem_vr.temporal.graphed"):
        for i in range(4):
            _same(graph.stylize(x), ref.stylize(x), f"frame {i}")
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "operation not permitted" in warnings[0] and "more detail" not in warnings[0]
    assert graph.stats["why"].startswith("capture failed") and graph.stats["frames_as_they_are"] == 4


def test_wrap_for_run_puts_the_frame_graph_under_the_temporal_stabilizer(monkeypatch):
    stack = wrap_for_run(_generator(), SimpleNamespace(temporal=True, stereo_consistency=True))
    assert isinstance(stack.inner, FrameGraphStylizer) and isinstance(stack.inner.inner, StereoConsistentStylizer)
    assert find_frame_graph(stack) is stack.inner
    x = _pairs(1)[0]
    stack.stylize(x)  # on the CPU: as it is, with the reason
    assert stack.inner.stats["why"] == "not on CUDA"
    assert set(comfort_stats(stack)) == {"temporal", "stereo"}  # the walk goes through it
    assert frame_graph_line("cpu") is None  # nothing replays on the CPU: nothing to say
    assert frame_graph_line("cuda:0").startswith("frame graphs: on (") and FRAME_GRAPH_ENV in frame_graph_line("cuda")
    monkeypatch.setenv(FRAME_GRAPH_ENV, "0")
    assert not frame_graphs_allowed()
    assert frame_graph_line("cuda") == f"frame graphs: off ({FRAME_GRAPH_ENV}=0: every kernel launched from Python)"
    monkeypatch.setenv(FRAME_GRAPH_ENV, "sometimes")
    with pytest.raises(UsageError, match=FRAME_GRAPH_ENV):
        frame_graph_line("cpu")  # said at start-up, on any device


def test_adain_fused_replays_frame_for_frame():
    """AdaIN on its fused engine (stages eager here), foveated: a new painting is new statistics, so
    another graph; a strength change is another α."""
    cfg = EngineConfig(fused=True, compile=False)
    made = {g: FoveatedStylizer(make_stylizer("adain", None, engine=cfg), FoveaRegion(), FoveaSpec(size=0.4, margin=8))
            for g in (True, False)}
    graph = FrameGraphStylizer(made[True], capture=TracedCapture(), warmup=1)
    runs = {True: graph, False: made[False]}
    other = made[False].styles()[1]
    for i, x in enumerate(_pairs(8, w=128, h=96)):
        for s in runs.values():
            if i == 3:
                s.set_style(other)
            if i == 6:
                s.strength = 0.5
        _same(runs[True].stylize(x), runs[False].stylize(x), f"frame {i}")
    assert graph.stats["captures"] >= 2 and graph.stats["replays"] >= 2, graph.stats


def test_a_method_switch_frees_the_idle_stylizers_graphs():
    """The worker's method switch drops the graphs of the stylizer it leaves (their memory goes
    back); switching back captures again, and the frames stay right."""
    from artem_vr.control import ControlState, Controller
    from artem_vr.frames import Frame
    from artem_vr.worker import StylizerWorker

    state = ControlState(method="generator", methods=["generator", "xnor"], styles=["starry_night"])
    made = {}

    def factory(method, style=None, device="cpu"):
        return make_stylizer(method, None, engine=FUSED if method == "generator" else None)

    def wrap(s, _state):
        made[s.method] = FrameGraphStylizer(s, capture=TracedCapture(), warmup=1)
        return made[s.method]

    worker = StylizerWorker(None, Controller(state, printer=lambda _l: None), factory=factory, wrap=wrap)
    img = texture(48, 64, seed=2)
    for i in range(3):
        worker.stylize_frame(Frame(img, index=i))
    assert made["generator"].stats["graphs"] == 1
    worker._apply([("method", 1)])  # noqa: SLF001 — what the controller's cycle_method queues
    assert made["generator"].stats["graphs"] == 0 and worker.stylizer is made["xnor"]
    worker._apply([("method", 1)])  # noqa: SLF001
    ref = _generator()
    for i in range(3):
        eyes, _ = worker.stylize_frame(Frame(img, index=10 + i))
        want = to_tensor(img)
        _same(to_tensor(eyes[0]), ref.stylize(want).mul(255).round().div(255), f"after switching back, frame {i}")
    assert made["generator"].stats["graphs"] == 1 and made["generator"].stats["captures"] == 2


#: ATen ops that ask the host for a device value (a sync: illegal while a CUDA graph captures) or
#: turn host data into a tensor (a host→device copy from pageable memory: illegal alike)
_HOST_OPS = ("_local_scalar_dense", "is_nonzero", "equal", "nonzero", "masked_select", "_unique2",
             "unique_consecutive", "unique_dim", "lift_fresh", "lift_fresh_copy")


class _HostAudit(TracedCapture):
    """Traces like :class:`TracedCapture`, and writes down every op in the captured frame that a
    CUDA capture would refuse; the replays are the trace's, so the frames stay what they are."""

    def __init__(self):
        self.found: list[str] = []

    def capture(self, fn, x):
        from torch.utils._python_dispatch import TorchDispatchMode

        found = self.found

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                if func.overloadpacket.__name__ in _HOST_OPS:
                    found.append(str(func))
                return func(*args, **(kwargs or {}))

        def audited(t):
            with Mode():
                return fn(t)

        return super().capture(audited, x)


_ADAIN_FUSED = EngineConfig(fused=True, compile=False)


@pytest.mark.parametrize("method, engine, comfort, ways", [
    ("generator", FUSED, True, "plain"), ("generator", FUSED, False, "s2d"), ("generator", FUSED, False, "subpixel"),
    ("generator", FUSED, False, "padded"), ("generator", None, True, "plain"), ("xnor", None, False, "plain"),
    ("adain", _ADAIN_FUSED, True, "plain")],
    ids=["fused generator, stereo", "fused generator, s2d", "fused generator, subpixel", "fused generator, padded",
         "default generator, stereo", "xnor", "fused adain, stereo"])
def test_a_captured_frame_asks_nothing_of_the_host(method, engine, comfort, ways, monkeypatch):
    """Everything under the frame graph — stereo, both foveation passes, the network — runs on the
    device alone: no value read back (``.item()``, ``bool(t)``, data-dependent shapes) and no tensor
    made from host data, which would stop a CUDA capture (the GPU run would fall back to launching
    from Python). Checked here in the trace of each capture, with switches flipped between. (XNOR's
    NVRTC kernels replace its torch reference on CUDA: tests/cuda/test_graphs.py captures those.)"""
    monkeypatch.setenv(CONV_WAYS_ENV, ways)  # the fused generator's stages run that way where it applies
    s = FoveatedStylizer(make_stylizer(method, None, engine=engine), FoveaRegion(), FoveaSpec(size=0.4, margin=8))
    state = SimpleNamespace(stereo_consistency=True)
    if comfort:
        s = StereoConsistentStylizer(s, mode="warp", disp_width=96, backend="torch",
                                     enabled=lambda: state.stereo_consistency)
    audit = _HostAudit()
    graph = FrameGraphStylizer(s, capture=audit, warmup=1)
    for i, x in enumerate(_pairs(9, w=128, h=96, cut_at=6)):
        if i == 3:
            graph.set_style(graph.styles()[-1])
        if i == 5:
            graph.strength = 0.7
            state.stereo_consistency = False
        graph.stylize(x)
    assert graph.stats["captures"] >= 2, graph.stats
    assert not audit.found, f"{method}: a CUDA capture would stop at {sorted(set(audit.found))}"


def test_the_host_audit_sees_a_read_back():
    """The audit above is not blind: a tensor made from Python numbers is caught, and a value read
    back is caught too (the trace itself refuses it, as FrameGraphStylizer's capture failure)."""

    class MakesTensor(torch.nn.Module):
        def forward(self, x):
            return x * torch.tensor([0.5, 1.0, 2.0]).view(1, 3, 1, 1)

    class ReadsBack(torch.nn.Module):
        def forward(self, x):
            return x if bool(x.max() > 0) else -x

    x = torch.rand(1, 3, 8, 8)
    audit = _HostAudit()
    audit.capture(MakesTensor(), x)
    assert "aten.lift_fresh.default" in audit.found, audit.found
    audit = _HostAudit()
    with pytest.raises(RuntimeError, match="_local_scalar_dense"):
        audit.capture(ReadsBack(), x)
    assert audit.found, "the read-back was not seen"
