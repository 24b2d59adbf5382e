"""On a CUDA machine: the foveated stylizer — with the comfort wrappers, as `run --output xr` has
them by default — never waits for the host in the frame loop (CUDA's sync debug mode set to
*error*: a copy of a host tensor to the GPU, an ``.item()``, a ``float(tensor)`` would raise), and
its window matches the CPU's foveated result.

Skipped (with the reason) where there is no CUDA driver; `pytest -m gpu` runs these.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from temporal_helpers import stylize_never_waiting

from artem_vr.cuda.device import cuda_available
from artem_vr.frames import to_tensor
from artem_vr.style.methods import make_stylizer
from artem_vr.temporal import comfort_stats, wrap_for_run
from artem_vr.temporal.cost import moving_frames
from artem_vr.temporal.foveate import FoveatedStylizer
from artem_vr.temporal.graphed import find_frame_graph

CUDA_OK, CUDA_WHY = cuda_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not CUDA_OK, reason=f"needs CUDA: {CUDA_WHY}")]


def _pairs(n: int, w: int = 320, h: int = 288, device="cuda") -> list[torch.Tensor]:
    return [to_tensor([f[:, :w], f[:, w:]], device=device) for f in moving_frames(n, (w, h), eyes=2)]


@pytest.mark.parametrize("method, options", [("generator", {}), ("adain", {}),
                                             ("adain", {"preserve_color": "luminance"})])
def test_foveated_with_comfort_on_cuda_never_waits_for_the_host(method, options):
    fov = FoveatedStylizer(make_stylizer(method, None, device="cuda", **options))
    stack = wrap_for_run(fov, SimpleNamespace(temporal=True, stereo_consistency=True))
    xs = _pairs(6)
    # warm: the calibration's one copy to the GPU, and the frame graph's two frames as they are and its capture
    ys = stylize_never_waiting(stack, xs, warm=3)
    assert all(y.is_cuda and y.shape == xs[0].shape for y in ys)
    assert fov.stats_source.startswith("calibrated") and fov.last_windows
    st = comfort_stats(stack)
    assert st["temporal"]["path"] == "torch" and st["stereo"]["disparity_runs"] == len(xs)
    assert find_frame_graph(stack).stats["replays"] == len(xs) - 3  # the fused engine's frames replay


def test_foveated_window_on_cuda_matches_the_cpu():
    """The same foveated generator (fp32 eager engine) on CUDA and on the CPU: the same picture
    within float rounding — the window, the periphery, the blend and the calibrated statistics."""
    x = _pairs(1, device="cpu")[0]
    out = {}
    for device in ("cpu", "cuda"):
        fov = FoveatedStylizer(make_stylizer("generator", None, device=device, engine="eager"))
        out[device] = fov.stylize(x.to(device)).cpu()
    assert float((out["cpu"] - out["cuda"]).abs().max()) < 2e-2  # TF32 convolutions on the GPU
    assert float((out["cpu"] - out["cuda"]).abs().mean()) < 2e-3
