"""The torch comfort path (artem_vr/temporal/devflow.py): its maths against references, its
flicker and stereo error against the OpenCV path on the same inputs (≤ 10 % worse), and the
mono case that must not pay for a disparity search. Runs on the CPU (``backend="torch"``);
tests/temporal/test_device_comfort_gpu.py runs it on CUDA."""

from __future__ import annotations

import re
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from temporal_helpers import NetStylizer, pan, stylize_all, texture, write_video

from artem_vr.errors import UsageError
from artem_vr.frames import Frame, to_tensor
from artem_vr.style import fused
from artem_vr.style.engine import EngineConfig
from artem_vr.style.methods import make_stylizer
from artem_vr.temporal import StereoConsistentStylizer, TemporalStabilizer, comfort_stats, devflow, wrap_for_run
from artem_vr.temporal.disparity import right_view_disparity
from artem_vr.temporal.flicker import dis_flow, flow_pairs, stereo_error, temporal_error, to_gray8, warp
from artem_vr.temporal.metrics import eval_stereo, eval_temporal, stylize_pair
from artem_vr.temporal.readers import load_video, VIDEO_EXTS
from artem_vr.temporal.stereo import fill_disparity_holes

QUALITY_BOUND = 1.10  # the torch path's flicker / stereo error may exceed the OpenCV path's by 10 % at most


@pytest.fixture(scope="module")
def net():
    return NetStylizer()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """8 frames of a shaky hand-held pan over a textured scene, through a real MJPG codec."""
    d = tmp_path_factory.mktemp("clip")
    frames = pan(texture(200, 240, seed=5), 8, (128, 96), step=(2.3, 0.9), shake=0.4)
    return load_video(write_video(d / "pan.avi", frames), 8, None)


def gray(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(to_gray8(img)).float()[None, None] / 255.0


def pair_with_disparity(d: int, h=96, w=192, seed=11):
    """left[y, x] = right[y, x - d] (a plane at disparity d)."""
    wide = texture(h, w + d, seed=seed)
    left, right = np.ascontiguousarray(wide[:, :w]), np.ascontiguousarray(wide[:, d:])
    return left, right, right_view_disparity(np.full((h, w), float(d), np.float32))


# ---------------------------------------------------------------------------- maths
@pytest.mark.parametrize("k", [1, 3, 5, 13, (3, 7)])
def test_box_is_the_border_aware_mean(k):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 17, 23)
    kh, kw = (k, k) if isinstance(k, int) else k
    ref = F.avg_pool2d(x, (kh, kw), stride=1, padding=(kh // 2, kw // 2), count_include_pad=False)
    assert torch.allclose(devflow.box(x, k), ref, atol=1e-6)  # the CPU's running sums
    assert torch.allclose(devflow.box_pooled(x, kh, kw), ref, atol=1e-6)  # CUDA's poolings


def test_erode_and_warp_match_opencv():
    rng = np.random.default_rng(1)
    m = rng.random((20, 30)).astype(np.float32)
    got = devflow.erode3(torch.from_numpy(m)[None, None])[0, 0].numpy()
    assert np.array_equal(got, cv2.erode(m, np.ones((3, 3), np.uint8)))
    img = texture(40, 50, seed=2).astype(np.float32) / 255
    flow = (rng.random((40, 50, 2)).astype(np.float32) - 0.5) * 6
    want, _ = warp(img, flow)
    t = devflow.warp(torch.from_numpy(img).permute(2, 0, 1)[None], torch.from_numpy(flow).permute(2, 0, 1)[None])
    assert np.abs(t[0].permute(1, 2, 0).numpy() - want).max() < 1e-3


def test_fill_holes_is_the_numpy_twin():
    rng = np.random.default_rng(3)
    d = (rng.random((6, 40)) * 20).astype(np.float32)
    valid = rng.random((6, 40)) > 0.6
    valid[2] = False  # a row without a valid pixel
    want = fill_disparity_holes(d, valid)
    got = devflow.fill_holes(torch.from_numpy(d)[None, None], torch.from_numpy(valid)[None, None])[0, 0].numpy()
    assert np.array_equal(got, want)


def test_flow_recovers_a_sub_pixel_pan_as_well_as_dis():
    frames = pan(texture(200, 240, seed=4), 2, (160, 120), step=(2.3, 0.9))
    a, b = frames[1], frames[0]  # flow this → previous: a[y, x] ≈ b[(y, x) + (2.3, 0.9)]
    f = devflow.pyramid_flow(gray(a), gray(b))[0]
    core = (slice(None), slice(12, -12), slice(12, -12))
    assert float(f[core][0].median()) == pytest.approx(2.3, abs=0.1)
    assert float(f[core][1].median()) == pytest.approx(0.9, abs=0.1)
    ga, gb = to_gray8(a).astype(np.float32), to_gray8(b).astype(np.float32)
    err_t = np.abs(warp(gb, f.permute(1, 2, 0).numpy())[0] - ga)[12:-12, 12:-12].mean()
    err_dis = np.abs(warp(gb, dis_flow(a, b, "ultrafast"))[0] - ga)[12:-12, 12:-12].mean()
    print(f"warping error (gray levels): torch {err_t:.2f}  DIS ultrafast {err_dis:.2f}")
    assert err_t <= QUALITY_BOUND * err_dis


def test_disparity_recovers_two_depths_and_flags_the_occlusion():
    # a background plane at disparity 6 and a nearer square at 16: the right view sees the
    # background left of the square that the left view does not (that strip must fail the check)
    h, w = 96, 192
    bg, fg = texture(h, w + 32, seed=21), texture(h, w + 32, seed=22)
    left, right = bg[:, :w].copy(), bg[:, 6: w + 6].copy()
    y0, y1, x0, x1 = 30, 70, 90, 140  # the square, in right-view pixels
    right[y0:y1, x0:x1] = fg[y0:y1, x0:x1]
    left[y0:y1, x0 + 16: x1 + 16] = fg[y0:y1, x0:x1]
    d, valid = devflow.right_disparity(gray(left), gray(right))
    d, valid = d[0, 0].numpy(), valid[0, 0].numpy()
    assert np.median(d[y0 + 4: y1 - 4, x0 + 4: x1 - 4]) == pytest.approx(16, abs=0.5)
    assert np.median(d[10:25, 20:160]) == pytest.approx(6, abs=0.5)
    assert valid[10:25, 20:160].mean() > 0.9
    # right-view pixels just right of the square's right edge: their left-view match (x + 6)
    # lies under the square there (the square covers left x0+16..x1+16): occluded in the left view
    assert valid[y0 + 4: y1 - 4, x1 + 1: x1 + 8].mean() < 0.5


# ---------------------------------------------------------------------------- the wrappers
def test_backend_is_chosen_by_device_and_selectable(net):
    x = to_tensor(texture(64, 96, seed=9))
    auto, forced = TemporalStabilizer(net), TemporalStabilizer(net, backend="torch")
    for _ in range(2):
        auto.stylize(x)
        forced.stylize(x)
    assert auto.stats["path"] == "opencv" and forced.stats["path"] == "torch"  # CPU frames: OpenCV by default
    wants = TemporalStabilizer(net, compile=True)  # compiled comfort asked for, but a CPU frame takes OpenCV
    wants.stylize(x)
    assert wants.stats["path"] == "opencv" and wants.stats["compiled"] is False
    with pytest.raises(UsageError, match="backend"):
        StereoConsistentStylizer(net, backend="cuda-opencv")


def test_torch_flicker_within_10_percent_of_opencv(clip, net):
    pairs = flow_pairs(clip)
    plain = temporal_error(stylize_all(net, clip), pairs)
    errs, stabs = {}, {}
    for backend in ("opencv", "torch"):
        stabs[backend] = TemporalStabilizer(net, backend=backend)
        errs[backend] = temporal_error(stylize_all(stabs[backend], clip), pairs)
    print(f"flicker per-frame {plain:.2f}  opencv {errs['opencv']:.2f}  torch {errs['torch']:.2f}")
    assert errs["torch"] <= QUALITY_BOUND * errs["opencv"]
    assert errs["torch"] < 0.8 * plain
    st = stabs["torch"].stats
    assert st["path"] == "torch" and st["frames"] == len(clip) and st["scene_cuts"] == 0
    assert 0 < st["blend_fraction"] <= stabs["torch"].blend and st["cost_ms"] > 0


def test_torch_stereo_error_within_10_percent_of_opencv(net):
    left, right, gt = pair_with_disparity(6)
    errs, wrappers = {}, {}
    for backend in ("opencv", "torch"):
        wrappers[backend] = StereoConsistentStylizer(net, mode="warp", disp_width=192, backend=backend)
        yl, yr = stylize_pair(wrappers[backend], left, right, joint=True)
        errs[backend] = stereo_error(yl, yr, *gt)
    indep = stereo_error(*stylize_pair(net, left, right, joint=False), *gt)
    print(f"stereo error independent {indep:.2f}  opencv {errs['opencv']:.2f}  torch {errs['torch']:.2f}")
    assert errs["torch"] <= QUALITY_BOUND * errs["opencv"]
    st = wrappers["torch"].stats
    assert st["path"] == "torch" and st["pairs"] == 1 and st["disparity_runs"] == 1 and st["warped_fraction"] > 0.5


def test_scene_cut_on_the_device_path_forgets_the_past(net):
    a, b = texture(96, 128, seed=7), texture(96, 128, seed=8)[::-1].copy()
    stab = TemporalStabilizer(net, backend="torch")
    for _ in range(3):
        stab.stylize(to_tensor(a))
    assert stab.stats["blend_fraction"] > 0  # a still scene: the past is blended in
    out = stab.stylize(to_tensor(b))
    assert stab.stats["scene_cuts"] == 1 and stab.stats["blend_fraction"] == 0
    # the cut is a device-side weight of 0 on the past: the plain stylization, to rounding
    assert torch.allclose(out, net.stylize(to_tensor(b)), atol=1e-5)
    stab.set_style("style1")  # a style switch is a real reset: exact
    x = to_tensor(a)
    assert torch.equal(stab.stylize(x), net.stylize(x))
    net.set_style("style0")


def test_a_mono_source_pays_for_no_disparity_search(net):
    """A head-locked mono camera (Frame.stereo None): the worker stylizes a batch of 1, the stereo
    wrapper passes it through, and no disparity is computed; a side-by-side source gets one."""
    from artem_vr.control import ControlState, Controller
    from artem_vr.worker import StylizerWorker

    for backend in ("opencv", "torch"):
        state = ControlState(method="testnet", methods=["testnet"], styles=["style0"])
        worker = StylizerWorker(None, Controller(state, printer=lambda _l: None),
                                factory=lambda *_a, **_k: net,
                                wrap=lambda s, st: wrap_for_run(s, st, backend=backend))
        img = texture(64, 96, seed=12)
        for i in range(3):
            eyes, _ = worker.stylize_frame(Frame(img, index=i))
            assert len(eyes) == 1
        st = comfort_stats(worker.stylizer)
        assert st["temporal"]["frames"] == 3 and st["temporal"]["path"] == backend
        assert st["stereo"]["pairs"] == 0 and st["stereo"]["disparity_runs"] == 0
        sbs = np.concatenate([img, np.roll(img, -4, axis=1)], axis=1)
        eyes, _ = worker.stylize_frame(Frame(sbs, index=3, stereo="sbs"))
        assert len(eyes) == 2
        st = comfort_stats(worker.stylizer)
        assert st["stereo"]["pairs"] == 1 and st["stereo"]["disparity_runs"] == 1 and st["stereo"]["path"] == backend


def test_wrap_for_run_takes_the_backend(net):
    s = wrap_for_run(net, SimpleNamespace(temporal=True, stereo_consistency=True))
    assert s.backend == "auto" and s.inner.backend == "auto"


# ---------------------------------------------------------------------------- real data
@pytest.mark.slow
def test_real_clips_and_pairs_torch_within_10_percent_of_opencv(real_data):
    """The shipped starry_night generator on the shared real clips (6 frames, 240 px wide) and
    Middlebury pairs (320 px wide): flicker and stereo error of the torch path ≤ 1.1 × OpenCV's."""

    data = real_data("video", "stereo")
    base = make_stylizer("generator", "starry_night", device="cpu")
    videos = sorted(p for p in (data / "video").iterdir() if p.suffix.lower() in VIDEO_EXTS)
    tem = {b: eval_temporal(base, videos, 6, 240, backend=b) for b in ("opencv", "torch")}
    ste = {b: eval_stereo(base, data / "stereo", 320, backend=b) for b in ("opencv", "torch")}
    for k in tem["opencv"]:
        print(f"flicker {k}: opencv {tem['opencv'][k]['stabilized']:.2f}  torch {tem['torch'][k]['stabilized']:.2f}")
        assert tem["torch"][k]["stabilized"] <= QUALITY_BOUND * tem["opencv"][k]["stabilized"]
    for k in ste["opencv"]:
        print(f"stereo {k}: opencv {ste['opencv'][k]['warp']:.2f}  torch {ste['torch'][k]['warp']:.2f}")
        assert ste["torch"][k]["warp"] <= QUALITY_BOUND * ste["opencv"][k]["warp"]


# ---------------------------------------------------------------------------- compiled
def _stereo_clip(clip):
    """The pan clip as stereo pairs: the right eye the left shifted by 6 px (a plane's disparity)."""
    return [(f, np.ascontiguousarray(np.roll(f, -6, axis=1))) for f in clip]


def _run_stack(net, pairs, compile):
    """wrap_for_run's stack on the torch path, eager or compiled, over the stereo frames."""
    state = SimpleNamespace(stereo_consistency=True, temporal=True)
    stereo = StereoConsistentStylizer(net, mode="warp", disp_width=128, backend="torch", compile=compile)
    stack = TemporalStabilizer(stereo, backend="torch", compile=compile, enabled=lambda: state.temporal)
    outs = [stack.stylize(torch.cat([to_tensor(a), to_tensor(b)])) for a, b in pairs]
    return outs, stack


@pytest.mark.slow
def test_compiled_comfort_equals_eager(clip, net, tmp_path, monkeypatch):
    """The fused engine's comfort: the five device steps through torch.compile (Inductor's C++
    backend here, Triton on CUDA) give the eager steps' frames, scene-cut decisions and figures;
    the compiled graphs are cached in the user data folder like the network's."""
    monkeypatch.setenv("ARTEM_VR_DATA", str(tmp_path / "data"))
    torch._dynamo.reset()
    pairs = _stereo_clip(clip[:4])
    eager, e_stack = _run_stack(net, pairs, compile=False)
    fused, f_stack = _run_stack(net, pairs, compile=True)
    worst = max(float((a - b).abs().max()) for a, b in zip(eager, fused))
    print(f"compiled vs eager comfort, worst pixel difference {worst:.2e}")
    assert worst < 2e-3  # float reassociation in the flow's sums; the frames are 0-1
    for key in ("frames", "scene_cuts"):
        assert f_stack.stats[key] == e_stack.stats[key]
    assert f_stack.stats["compiled"] and not e_stack.stats["compiled"]
    assert f_stack.stats["blend_fraction"] == pytest.approx(e_stack.stats["blend_fraction"], abs=1e-3)
    st_e, st_f = comfort_stats(e_stack)["stereo"], comfort_stats(f_stack)["stereo"]
    assert st_f["disparity_runs"] == st_e["disparity_runs"] == len(pairs) and st_f["compiled"]
    assert st_f["warped_fraction"] == pytest.approx(st_e["warped_fraction"], abs=2e-3)
    assert any((tmp_path / "data").rglob("*")), "nothing was cached in the user data folder"


def test_a_comfort_step_that_fails_to_compile_runs_eagerly_and_says_so(clip, net, monkeypatch, caplog):
    """A compiler failure (raised before the step ran: a lowering one torch release or GPU lacks)
    turns the wrapper's steps eager with one warning: the frames are the eager stack's, and the
    stats say compiled False and why; the bench record carries it (comfort_figures)."""
    from torch._dynamo.exc import TorchDynamoException

    from artem_vr.bench_run import comfort_figures, comfort_note

    class LoweringFailed(TorchDynamoException):
        pass

    def never_compiles(step):
        def call(*args, **kw):
            raise LoweringFailed(f"LoweringException: NotImplementedError: View\n  target: {step.__name__}")
        return call

    pairs = _stereo_clip(clip[:3])
    eager, _ = _run_stack(net, pairs, compile=False)
    monkeypatch.setattr(fused, "compiled", never_compiles)
    with caplog.at_level("WARNING", logger="artem_vr.style.fused"):
        failed, stack = _run_stack(net, pairs, compile=True)
    assert all(torch.equal(a, b) for a, b in zip(eager, failed))
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2 and all("it runs eagerly from now on" in w for w in warned)  # one per wrapper
    assert warned[0].startswith("comfort steps: compiling frame_gray failed (frame_gray: LoweringFailed: ")
    assert warned[1].startswith("comfort steps: compiling pair_gray failed (pair_gray: LoweringFailed: ")
    st = comfort_stats(stack)
    assert not st["temporal"]["compiled"] and not st["stereo"]["compiled"]
    assert st["stereo"]["compile_error"] == "pair_gray: LoweringFailed: LoweringException: NotImplementedError: View"
    figs = comfort_figures(stack)
    assert figs["temporal"]["compile_error"].startswith("frame_gray: LoweringFailed")
    assert "(compile failed: eager)" in comfort_note({"comfort": True, "comfort_stats": figs})


@pytest.mark.parametrize("method, engine, compiles", [
    ("generator", "eager", False), ("generator", EngineConfig("fp32", False, fused=True), True),
    ("generator", EngineConfig("fp32", False, fused=True, compile=False), False),
    ("adain", EngineConfig("fp32", False, fused=True), True), ("adain", "eager", False)])
def test_wrap_for_run_compiles_comfort_with_a_compiled_network(method, engine, compiles):
    """The comfort steps compile exactly when the network does (its engine is ``fused`` through
    torch.compile); nothing compiles until a frame runs on the torch path."""
    base = make_stylizer(method, device="cpu", engine=engine)
    assert base.compiles is compiles
    stack = wrap_for_run(base, SimpleNamespace())
    assert stack.compiles is compiles  # seen through the wrappers
    assert stack.maths.compile is compiles and stack.inner.maths.compile is compiles
    assert not stack.stats["compiled"]  # nothing ran yet (and a CPU frame takes the OpenCV path, never compiled)


@pytest.mark.parametrize("shape, size", [((2, 1, 1600, 1440), (356, 320)), ((1, 1, 37, 50), (9, 12)),
                                         ((2, 3, 64, 48), (16, 12))])
def test_area_resize_is_interpolate_area_on_any_layout(shape, size):
    """:func:`devflow.area_resize` (planes pooled as (N·C, H, W)) gives F.interpolate's area
    resize, also on a (N, 1, H, W) buffer whose channel stride is not H·W (as compiled graphs lay
    them out), the layout that made ATen's 4-D CUDA kernel read past the frame."""
    n, c, h, w = shape
    odd = torch.empty_strided(shape, (c * h * w, 2 * n * h * w if c == 1 else h * w, w, 1))
    odd.copy_(torch.rand(shape))
    for x in (odd, odd.contiguous()):
        want = F.interpolate(x.contiguous(), size=size, mode="area")
        assert torch.allclose(devflow.area_resize(x, size), want, atol=1e-6)


def test_compiled_gray_pools_planes_never_a_one_channel_batch(tmp_path, monkeypatch):
    """What the H200 crash came from, checked in the code Inductor writes (its C++ backend here,
    the same decision on CUDA): at a headset size the area resize's window is over 25 pixels, so
    the graph calls ATen's ``_adaptive_avg_pool2d``, and every such call gets 3-D planes."""
    from torch._inductor.utils import run_and_get_code

    from artem_vr.style.fused import compiled, compiling

    monkeypatch.setenv("ARTEM_VR_DATA", str(tmp_path / "data"))
    torch._dynamo.reset()
    x = torch.rand(2, 3, 1600, 1440)
    with compiling():
        (small, _hist), codes = run_and_get_code(compiled(devflow.frame_gray), x, width=320)
    calls = [ln for code in codes for ln in code.splitlines() if "aten._adaptive_avg_pool2d.default(" in ln]
    assert calls, "expected the window over 25 pixels to call ATen's kernel"
    for ln in calls:
        m = re.search(r"_adaptive_avg_pool2d\.default\(reinterpret_tensor\(\w+, \(([^)]*)\)", ln)
        assert m and len(m.group(1).split(",")) == 3, ln
    assert torch.allclose(small, devflow.gray_small(x, 320), atol=1e-5)
