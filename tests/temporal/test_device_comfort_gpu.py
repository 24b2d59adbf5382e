"""On a CUDA machine: the comfort wrappers run on the stylizer's own GPU tensors — no host
synchronisation (so no device → host copy of a frame) in the frame loop — and agree with the
same torch code on the CPU, and with the OpenCV path's flicker and stereo error within 10 %.

Skipped (with the reason) where there is no CUDA driver; `pytest -m gpu` runs these.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from temporal_helpers import NetStylizer, pan, stylize_never_waiting, texture

from artem_vr.cuda.device import cuda_available
from artem_vr.frames import to_rgb8, to_tensor
from artem_vr.style.base import IdentityStylizer
from artem_vr.temporal import StereoConsistentStylizer, TemporalStabilizer, comfort_stats, devflow, wrap_for_run
from artem_vr.temporal.disparity import right_view_disparity
from artem_vr.temporal.flicker import flow_pairs, stereo_error, temporal_error, to_gray8
from artem_vr.temporal.metrics import stylize_sequence
from artem_vr.temporal.cost import moving_frames

CUDA_OK, CUDA_WHY = cuda_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not CUDA_OK, reason=f"needs CUDA: {CUDA_WHY}")]


def _pairs(n: int, w: int = 320, h: int = 180, device="cuda") -> list[torch.Tensor]:
    return [to_tensor([f[:, :w], f[:, w:]], device=device) for f in moving_frames(n, (w, h), eyes=2)]


def test_comfort_on_cuda_never_waits_for_the_host():
    """wrap_for_run (what `run` and `bench --comfort on` build) on a CUDA stylizer takes the torch
    path by itself; with CUDA's sync debug mode set to error, any .item()/.cpu()/synchronize in
    the flow, the disparity, the checks or the blends would raise."""
    s = wrap_for_run(IdentityStylizer(device="cuda"), SimpleNamespace(temporal=True, stereo_consistency=True))
    xs = _pairs(6)
    ys = stylize_never_waiting(s, xs, warm=1)  # first frame: nothing to blend yet
    assert all(y.is_cuda and y.shape == xs[0].shape for y in ys)
    st = comfort_stats(s)  # reading the figures waits for the device: outside the loop
    assert st["temporal"]["path"] == "torch" and st["stereo"]["path"] == "torch"
    assert st["temporal"]["frames"] == len(xs) and st["stereo"]["disparity_runs"] == len(xs)
    assert st["temporal"]["cost_ms"] > 0 and st["stereo"]["cost_ms"] > 0
    assert 0 < st["temporal"]["blend_fraction"] and 0 < st["stereo"]["warped_fraction"]


def test_mono_on_cuda_runs_no_disparity_search():
    s = wrap_for_run(IdentityStylizer(device="cuda"), SimpleNamespace(temporal=True, stereo_consistency=True))
    for x in _pairs(3):
        s.stylize(x[:1])
    st = comfort_stats(s)
    assert st["temporal"]["frames"] == 3 and st["stereo"]["disparity_runs"] == 0 and st["stereo"]["pairs"] == 0


def test_cuda_flow_and_disparity_match_the_cpu_torch_path():
    a, b = (torch.from_numpy(to_gray8(f)).float()[None, None] / 255 for f in
            pan(texture(200, 240, seed=4), 2, (160, 120), step=(2.3, 0.9))[::-1])
    f_cpu = devflow.pyramid_flow(a, b)
    f_gpu = devflow.pyramid_flow(a.cuda(), b.cuda()).cpu()
    diff = (f_cpu - f_gpu).abs()
    assert float(diff.median()) < 0.02 and float(diff.quantile(0.99)) < 0.5
    x = _pairs(1, device="cpu")[0]
    g = devflow.gray_small(x, 320)
    d_cpu, v_cpu = devflow.right_disparity(g[:1], g[1:])
    d_gpu, v_gpu = (t.cpu() for t in devflow.right_disparity(g[:1].cuda(), g[1:].cuda()))
    assert float(((d_cpu - d_gpu).abs() < 0.25).float().mean()) > 0.97
    assert float((v_cpu == v_gpu).float().mean()) > 0.97


def test_cuda_quality_within_10_percent_of_the_cpu_paths():
    frames = pan(texture(200, 240, seed=5), 8, (128, 96), step=(2.3, 0.9), shake=0.4)
    pairs = flow_pairs(frames)
    flicker = {}
    for name, device, backend in (("opencv", "cpu", "opencv"), ("torch-cpu", "cpu", "torch"), ("cuda", "cuda", "auto")):
        stab = TemporalStabilizer(NetStylizer(device=device), backend=backend)
        flicker[name] = temporal_error(stylize_sequence(stab, frames)[0], pairs)
        assert stab.stats["path"] == ("opencv" if name == "opencv" else "torch")
    print("flicker", {k: round(v, 3) for k, v in flicker.items()})
    assert flicker["cuda"] <= 1.10 * flicker["opencv"]
    assert flicker["cuda"] == pytest.approx(flicker["torch-cpu"], rel=0.10)

    wide = texture(96, 198, seed=11)
    left, right = np.ascontiguousarray(wide[:, :192]), np.ascontiguousarray(wide[:, 6:])
    gt = right_view_disparity(np.full((96, 192), 6.0, np.float32))
    err = {}
    for name, device, backend in (("opencv", "cpu", "opencv"), ("cuda", "cuda", "auto")):
        s = StereoConsistentStylizer(NetStylizer(device=device), disp_width=192, backend=backend)
        y = s.stylize(to_tensor([left, right], device=device))
        assert y.device.type == device
        err[name] = stereo_error(to_rgb8(y, 0), to_rgb8(y, 1), *gt)
    print("stereo error", err)
    assert err["cuda"] <= max(1.10 * err["opencv"], err["opencv"] + 0.5)  # both near 0 levels here


def test_compiled_comfort_on_cuda_equals_eager_and_never_waits(tmp_path, monkeypatch):
    """The fused engine's comfort: the device steps compiled (Triton) give the eager steps'
    frames, and once compiled they never wait for the host either."""
    monkeypatch.setenv("ARTEM_VR_DATA", str(tmp_path / "data"))
    xs = _pairs(6)
    outs = {}
    for compile in (False, True):
        net = NetStylizer(device="cuda")
        stack = TemporalStabilizer(StereoConsistentStylizer(net, compile=compile), compile=compile)
        outs[compile] = stylize_never_waiting(stack, xs, warm=3)  # every step's first call (compiling) is in these
        st = comfort_stats(stack)
        assert st["temporal"]["compiled"] is compile and st["stereo"]["compiled"] is compile
        assert st["temporal"]["path"] == "torch" and st["stereo"]["disparity_runs"] == len(xs)
    worst = max(float((a - b).abs().max()) for a, b in zip(outs[False], outs[True]))
    print(f"compiled vs eager comfort on CUDA, worst pixel difference {worst:.2e}")
    assert worst < 5e-3


def test_compiled_steps_at_headset_size_equal_eager(tmp_path, monkeypatch):
    """At 2×1440×1600 the area resizes pool windows of over 25 pixels, which Inductor hands to
    ATen's CUDA kernel: fed a (N, 1, H, W) buffer whose channel stride a compiled graph chose, that
    kernel read past the frame (illegal memory access, H200, torch 2.11). :func:`devflow.area_resize`
    pools (N·C, H, W) planes; the compiled steps equal the eager ones on a contiguous float32 pair."""
    monkeypatch.setenv("ARTEM_VR_DATA", str(tmp_path / "data"))
    x = torch.rand(2, 3, 1600, 1440, device="cuda")
    eager = devflow.DeviceMaths(None, compile=False)
    fused = devflow.DeviceMaths(None, compile=True)
    g = devflow.gray_small(x, 640)
    for step, arg, kw in ((devflow.frame_gray, x, {"width": 320}), (devflow.pair_gray, x, {"width": 640}),
                          (devflow.stereo_match, g, {"photo_threshold": 0.3, "local_check": True})):
        want, got = eager(step, arg, **kw), fused(step, arg, **kw)
        torch.cuda.synchronize()
        want, got = (want, got) if isinstance(want, tuple) else ((want,), (got,))
        for a, b in zip(want, got):  # a disparity may round the other way where costs tie
            assert a.shape == b.shape, step.__name__
            assert float(((a - b).abs() < 0.25).float().mean()) > 0.97, step.__name__
