"""On a CUDA machine: frames replayed as CUDA graphs (artem_vr.temporal.graphed) are the frames
the stack gives run as it is — the comfort wrappers on, foveated, the fused engine compiled, over
a style switch and a strength change — and a replayed frame never waits for the host.

Skipped (with the reason) where there is no CUDA driver; `pytest -m gpu` runs these.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch._dynamo.utils import counters
from temporal_helpers import stylize_never_waiting

from artem_vr.cuda.device import cuda_available
from artem_vr.frames import to_tensor
from artem_vr.style.methods import make_stylizer
from artem_vr.temporal import comfort_stats, wrap_for_run
from artem_vr.temporal.cost import moving_frames
from artem_vr.temporal.foveate import FoveatedStylizer
from artem_vr.temporal.graphed import FRAME_GRAPH_ENV, find_frame_graph

CUDA_OK, CUDA_WHY = cuda_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not CUDA_OK, reason=f"needs CUDA: {CUDA_WHY}")]


def _pairs(n: int, w: int = 320, h: int = 288) -> list[torch.Tensor]:
    return [to_tensor([f[:, :w], f[:, w:]], device="cuda") for f in moving_frames(n, (w, h), eyes=2)]


def _stack(method: str):
    fov = FoveatedStylizer(make_stylizer(method, None, device="cuda"))  # engine auto: fused, compiled
    return wrap_for_run(fov, SimpleNamespace(temporal=True, stereo_consistency=True))


@pytest.mark.parametrize("method", ["generator", "adain"])
def test_replayed_frames_are_the_frames_as_they_run(method, tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEM_VR_DATA", str(tmp_path / "data"))
    xs = _pairs(10)
    outs, stacks = {}, {}
    for graphed in (False, True):
        monkeypatch.setenv(FRAME_GRAPH_ENV, "auto" if graphed else "0")
        stack = stacks[graphed] = _stack(method)
        other = stack.styles()[1]
        ys = []
        for i, x in enumerate(xs):
            if i == 5:
                stack.set_style(other)
            if i == 8:
                stack.strength = 0.7
            ys.append(stack.stylize(x).clone())
        torch.cuda.synchronize()
        outs[graphed] = ys
    g = find_frame_graph(stacks[True]).stats
    print(f"{method}: frame graph {g}")
    assert g["replays"] >= 3 and g["captures"] >= 2, g
    assert find_frame_graph(stacks[False]).stats["replays"] == 0
    worst = max(float((a - b).abs().max()) for a, b in zip(outs[True], outs[False]))
    print(f"{method}: replayed vs as-it-runs, worst pixel difference {worst:.2e}")
    assert worst < 2e-3
    st_g, st_e = comfort_stats(stacks[True]), comfort_stats(stacks[False])
    assert st_g["temporal"]["frames"] == st_e["temporal"]["frames"] == len(xs)
    assert st_g["stereo"]["disparity_runs"] == st_e["stereo"]["disparity_runs"] == len(xs)
    assert st_g["stereo"]["warped_fraction"] == pytest.approx(st_e["stereo"]["warped_fraction"], abs=2e-3)


def test_a_replayed_frame_never_waits_for_the_host(tmp_path, monkeypatch):
    """And the capture compiles nothing: what it runs in Python is what the two frames before ran,
    so every compiled graph's guards hold (a recompile inside a capture would fail it)."""
    monkeypatch.setenv("ARTEM_VR_DATA", str(tmp_path / "data"))
    stack = _stack("generator")
    xs = _pairs(7)
    for x in xs[:2]:  # as they are: the compiles, the autotuning
        stack.stylize(x)
    compiles = counters["stats"]["unique_graphs"]
    stylize_never_waiting(stack, xs[2:], warm=1)  # the capture, then replays
    assert counters["stats"]["unique_graphs"] == compiles
    g = find_frame_graph(stack).stats
    assert g["replays"] == len(xs) - 3 and g["captures"] == 1, g
