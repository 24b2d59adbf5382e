"""The fused engine (artem_vr/style/fused.py): its stages' maths against the network they replace
(eagerly, on the CPU: the same functions torch.compile compiles), the layout-keeping instance
norm, the statistics hook point, in-place style switches without recompiling, and the compile
cache kept to the user folder. The compiled path runs on the CPU in one slow test (Inductor's
C++ backend: about a minute and a half on 2 loaded cores) and on CUDA under ``-m gpu``."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from artem_vr.errors import UsageError
from artem_vr.style.device import cuda_available
from artem_vr.style.engine import EngineConfig, InferenceEngine, LayoutKeepingInstanceNorm, make_engine
from artem_vr.style.fused import FusedGenerator, compile_cache, compile_cache_dir, stage_plan
from artem_vr.style.norm import StatsInstanceNorm, stats_filter
from style_helpers import torch_ref as _ref
from style_helpers import trained_like_net as _net

NO_CUDA = "no CUDA driver/device: the compiled fused engine on a GPU runs in tools/gpu_check.sh"
EAGER_FUSED = EngineConfig("fp32", False, fused=True, compile=False)


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 3, 30, 38, generator=torch.Generator().manual_seed(3))  # not multiples of 4


@pytest.mark.parametrize("arch", ["compact", "full"])
def test_fused_stages_equal_the_network(arch, x):
    net = _net(0, arch)
    with torch.inference_mode():
        y = FusedGenerator(net, compile=False)(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    torch.testing.assert_close(y, _ref(net, x), atol=1e-5, rtol=0)


def test_stage_plan_covers_every_conv_and_norm():
    net = _net(0, "full")
    specs = stage_plan(net)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert [s.conv for s in specs] == convs  # in execution order, each once
    assert [s.norm for s in specs if s.norm is not None] == norms
    assert specs[0].first and specs[-1].norm is None
    assert sum(s.add for s in specs) == 5 and sum(s.up for s in specs) == 2 and sum(s.keep for s in specs) == 5
    assert specs[3].describe() == "norm+affine → relu → pad 1 → conv 3x3 128→128 → stats"


def test_fused_engine_is_generators_only():
    from artem_vr.style.xnor import binarize_generator

    eng = make_engine("fused", "cpu")
    assert eng.kind == "fused" and eng.config.fused and eng.config.compile
    with pytest.raises(UsageError, match="fused engine"):
        eng.load(binarize_generator(_net(0)))


def test_layout_keeping_norm_equals_instance_norm_and_keeps_channels_last():
    torch.manual_seed(0)
    ref = nn.InstanceNorm2d(16, affine=True)
    nn.init.uniform_(ref.weight, 0.5, 1.5)
    nn.init.uniform_(ref.bias, -0.2, 0.2)
    norm = StatsInstanceNorm(16, affine=True)
    norm.load_state_dict(ref.state_dict())
    norm.__class__ = LayoutKeepingInstanceNorm
    x = (torch.randn(2, 16, 20, 24) * 3 + 1).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        y = norm(x)
        torch.testing.assert_close(y, ref(x), atol=2e-5, rtol=0)
    assert y.is_contiguous(memory_format=torch.channels_last)


def test_channels_last_engine_keeps_the_layout_through_the_norms(x):
    net = _net(0)
    eng = InferenceEngine("cpu", EngineConfig("fp32", True, "eager"))
    eng.load(net)
    layouts = []
    hooks = [m.register_forward_hook(lambda m, i, o: layouts.append(o.is_contiguous(memory_format=torch.channels_last)))
             for m in eng.live.modules() if isinstance(m, LayoutKeepingInstanceNorm)]
    torch.testing.assert_close(eng(x), _ref(net, x), atol=2e-5, rtol=0)
    for h in hooks:
        h.remove()
    assert len(layouts) == 3 + 2 * 3 + 2 and all(layouts)


def test_statistics_hook_point_is_kept(x):
    """A filter sees the live network's own norm modules, in order, and changes the output exactly
    as it changes the plain network's (the comfort wrappers' contract)."""
    net = _net(1, "compact")
    eng = InferenceEngine("cpu", EAGER_FUSED)
    eng.load(net)
    live_norms = [m for m in eng.live.modules() if isinstance(m, StatsInstanceNorm)]
    seen = []

    def shift(key, mean, var):
        seen.append(key)
        return mean + 0.05, var * 1.2

    with stats_filter(shift):
        y = eng(x)
    assert seen == live_norms
    seen.clear()
    with stats_filter(shift), torch.inference_mode():
        ref = net(x)
    assert len(seen) == len(live_norms)
    torch.testing.assert_close(y, ref, atol=2e-5, rtol=0)
    assert (y - _ref(net, x)).abs().max() > 1e-3  # the filter did change the picture


def test_style_switch_in_place_eager_fused(x):
    a, b = _net(0), _net(1)
    eng = InferenceEngine("cpu", EAGER_FUSED)
    for net in (a, b, a):
        eng.load(net)
        torch.testing.assert_close(eng(x), _ref(net, x), atol=1e-5, rtol=0)
    assert eng.prepares == 1


def test_bf16_fused_close_to_fp32(x):
    net = _net(0)
    eng = InferenceEngine("cpu", EngineConfig("bf16", False, fused=True, compile=False))
    eng.load(net)
    err = (eng(x) - _ref(net, x)).abs()
    assert err.mean() < 5e-3 and err.max() < 0.06, (err.mean().item(), err.max().item())


def test_compile_cache_is_the_user_folder_and_only_inside_the_block(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEM_VR_DATA", str(tmp_path))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("TRITON_CACHE_DIR", "/elsewhere")
    assert compile_cache_dir() == tmp_path / "cache" / "torch-compile"
    with compile_cache() as d:
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(d / "inductor")
        assert os.environ["TRITON_CACHE_DIR"] == str(d / "triton")
    assert "TORCHINDUCTOR_CACHE_DIR" not in os.environ and os.environ["TRITON_CACHE_DIR"] == "/elsewhere"
    eng = make_engine("fused", "cpu")
    assert "compiling on the first frame" in eng.describe() and str(compile_cache_dir()) in eng.describe()


def _compiled_switch(device, precision, tol, tmp_path, monkeypatch, x):
    from torch._dynamo.utils import counters

    monkeypatch.setenv("ARTEM_VR_DATA", str(tmp_path))
    a, b = _net(0), _net(1)
    err = (_ref(a, x) - _ref(b, x)).abs()
    assert err.max() > 4 * tol, "the two styles must differ by more than the tolerance"
    eng = InferenceEngine(device, EngineConfig(precision, False, fused=True))
    eng.load(a)
    xd = x.to(device)
    torch.testing.assert_close(eng(xd).cpu(), _ref(a, x), atol=tol, rtol=0)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs > 0
    for net in (b, a, b):  # style switches: weights copied in place, nothing recompiles
        eng.load(net)
        torch.testing.assert_close(eng(xd).cpu(), _ref(net, x), atol=tol, rtol=0)
    assert counters["stats"]["unique_graphs"] == graphs
    assert eng.prepares == 1
    # a statistics filter (the comfort wrappers: e.g. both eyes pooled, returned as expanded views)
    # is data for the compiled stages: the picture changes, nothing recompiles
    pooled = lambda key, m, v: (m.mean(0, keepdim=True).expand_as(m), v.mean(0, keepdim=True).expand_as(v))  # noqa: E731
    with stats_filter(pooled):
        y = eng(xd).cpu()
    with stats_filter(pooled), torch.inference_mode():
        ref = b(x)
    torch.testing.assert_close(y, ref, atol=tol, rtol=0)
    assert counters["stats"]["unique_graphs"] == graphs
    assert any((tmp_path / "cache" / "torch-compile").rglob("*")), "nothing cached in the user folder"
    assert "TORCHINDUCTOR_CACHE_DIR" not in os.environ or os.environ["TORCHINDUCTOR_CACHE_DIR"] != str(
        tmp_path / "cache" / "torch-compile" / "inductor")


@pytest.mark.slow
def test_compiled_on_cpu_style_switch_does_not_recompile(tmp_path, monkeypatch, x):
    import shutil

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: Inductor's CPU backend needs one")
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    _compiled_switch("cpu", "fp32", 1e-5, tmp_path, monkeypatch, x)


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason=NO_CUDA)
def test_compiled_on_cuda_style_switch_does_not_recompile(tmp_path, monkeypatch, x):
    """bf16 (the CUDA default precision), compiled by Inductor/Triton: close to the fp32 network,
    style switches without a recompile. (One precision only: each compile costs seconds of the
    GPU run's budget; channels_last and fp16 are timed in its optional step "fused layouts".)"""
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    _compiled_switch("cuda", "bf16", 0.08, tmp_path, monkeypatch, x)


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason=NO_CUDA)
def test_eager_fused_stages_on_cuda_equal_the_network(x):
    """The stage maths on the GPU (no compile): fp32 against the plain network on the same device."""
    net = _net(2, "full").cuda()
    eng = InferenceEngine("cuda", EngineConfig("fp32", True, fused=True, compile=False))
    eng.load(net)
    torch.backends.cudnn.allow_tf32 = False
    try:
        y = eng(x.cuda())
        with torch.inference_mode():
            ref = net(x.cuda())
    finally:
        torch.backends.cudnn.allow_tf32 = True
    torch.testing.assert_close(y, ref, atol=1e-4, rtol=0)
