"""The fused engine (artem_vr/style/fused.py): its stages' maths against the network they replace
(eagerly, on the CPU: the same functions torch.compile compiles), the layout-keeping instance
norm, the statistics hook point, in-place style switches without recompiling, and the compile
cache kept to the user folder. The compiled path runs on the CPU in one slow test (Inductor's
C++ backend: about a minute and a half on 2 loaded cores) and on CUDA under ``-m gpu``.

The conv ways (channel-padded, space to depth, subpixel): each stage's outputs against the plain
stage's, eagerly, in float64 and (slow) compiled, for both generators; the timed choice with a
timer that tells the ways apart by the convolutions they really ran; on CUDA (``-m gpu``) every
way at the headset size in bf16, timings printed (``-s`` shows them)."""

from __future__ import annotations

import functools
import json
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from artem_vr.errors import UsageError
from artem_vr.style.device import cuda_available
from artem_vr.style.engine import EngineConfig, InferenceEngine, LayoutKeepingInstanceNorm, make_engine
from artem_vr.style import fused
from artem_vr.style.fused import (CONV_WAYS, CONV_WAYS_ENV, ConvChoices, FusedGenerator, compile_cache, compile_cache_dir,
                                  conv_ways_setting, stage_plan, stage_ways)
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
    return eng


@pytest.mark.slow
@pytest.mark.parametrize("way", ["plain", "s2d", "subpixel"])
def test_compiled_on_cpu_style_switch_does_not_recompile(tmp_path, monkeypatch, x, way):
    """Compiled on the CPU, each conv way forced (the rewritten weights are made inside the stage
    from the weights passed in): style switches and a statistics filter recompile nothing."""
    import shutil

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: Inductor's CPU backend needs one")
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv(CONV_WAYS_ENV, way)
    eng = _compiled_switch("cpu", "fp32", 1e-5, tmp_path, monkeypatch, x)
    assert {c.way for c in eng._fused.conv_chosen.values()} == ({"plain"} if way == "plain" else {"plain", way})


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


# ----------------------------------------------------------------------------- conv ways

#: the stages with more than one way to run their conv, and those ways (at an even input size)
WAYS = {
    "full": {"down0": ("plain", "padded", "s2d"), "up0": ("plain", "subpixel"), "up1": ("plain", "subpixel"),
             "out": ("plain", "padded", "s2d")},
    "compact": {"down0": ("plain", "padded", "s2d"), "down1": ("plain", "padded"), "up0": ("plain", "subpixel"),
                "up1": ("plain", "padded", "subpixel"), "out": ("plain", "padded", "s2d")},
}


class ConvSpy(TorchFunctionMode):
    """Records every ``conv2d`` that really runs: (weight shape, input channels_last)."""

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[tuple, bool]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.conv2d:
            self.seen.append((tuple(args[1].shape), args[0].is_contiguous(memory_format=torch.channels_last)))
        return func(*args, **(kwargs or {}))


def _up8(n: int) -> int:
    return n + -n % 8


def _way_seen(conv: nn.Conv2d, wshape: tuple, cl: bool) -> str:
    """Which way a stage ran, told by the conv that really ran (weight shape, input layout)."""
    co, ci, k = conv.out_channels, conv.in_channels, conv.kernel_size[0]
    if wshape == (co, ci, k, k):
        return "plain"
    if wshape == (_up8(co), _up8(ci), k, k) and cl:
        return "padded"
    e = (k + 1) // 2
    if wshape in ((4 * co, 4 * ci, e, e), (_up8(4 * co), _up8(4 * ci), e, e)):
        return "s2d"
    if wshape in ((4 * co, ci, 3, 3), (_up8(4 * co), _up8(ci), 3, 3)):
        return "subpixel"
    raise AssertionError(f"{wshape} is no way of {conv}")


def _stage_outputs(gen: FusedGenerator, x: torch.Tensor):
    """``gen(x)`` and each stage's outputs, in order."""
    outs = []

    def on_stage(spec, run):
        outs.append((spec.name, run()))
        return outs[-1][1]

    gen.on_stage = on_stage
    with torch.inference_mode():
        y = gen(x)
    gen.on_stage = None
    return y, outs


def _assert_same_outputs(got, want, atol):
    for (name, a), (name_b, b) in zip(got, want, strict=True):
        assert name == name_b
        for ta, tb in zip(a, b, strict=True):
            assert (ta is None) == (tb is None), name
            if ta is not None:
                assert ta.shape == tb.shape and ta.dtype == tb.dtype and ta.stride() == tb.stride(), name
                torch.testing.assert_close(ta, tb, atol=atol, rtol=0, msg=lambda m: f"{name}: {m}")


def test_the_stages_with_a_choice_and_their_ways():
    for arch, ways in WAYS.items():
        got = {}
        for s in stage_plan(_net(0, arch)):
            w = stage_ways(s.conv, up=s.up, keep=s.keep, in_hw=(32, 40))
            if len(w) > 1:
                got[s.name] = w
        assert got == ways, arch
    down0 = stage_plan(_net(0, "full"))[0]
    assert stage_ways(down0.conv, up=False, keep=False, in_hw=(31, 40)) == ("plain", "padded")  # odd: no blocks


@pytest.mark.parametrize("arch", ["compact", "full"])
@pytest.mark.parametrize("way", ["padded", "s2d", "subpixel"])
def test_every_way_equals_the_plain_stages(arch, way, x):
    """Forced: every stage's outputs (conv output, statistics, kept residual) equal the plain stage's
    — values, shape, dtype, strides — the network's output is the reference's, and the conv that
    really ran is the way's (the stages it does not apply to run plain)."""
    net = _net(0, arch)
    y0, plain = _stage_outputs(FusedGenerator(net, compile=False, way="plain"), x)
    gen = FusedGenerator(net, compile=False, way=way)
    with ConvSpy() as spy:
        y1, other = _stage_outputs(gen, x)
    _assert_same_outputs(other, plain, 2e-5)
    torch.testing.assert_close(y1, _ref(net, x), atol=2e-5, rtol=0)
    assert y1.stride() == y0.stride()
    specs = stage_plan(net)
    assert len(spy.seen) == len(specs)
    want = {name: way if way in ways else "plain" for name, ways in WAYS[arch].items()}
    assert {k: v.way for k, v in gen.conv_chosen.items()} == want and not any(v.ms for v in gen.conv_chosen.values())
    for spec, (wshape, cl) in zip(specs, spy.seen):
        assert _way_seen(spec.conv, wshape, cl) == want.get(spec.name, "plain"), spec.name


@pytest.mark.parametrize("way", ["s2d", "subpixel"])
def test_ways_in_float64_are_exact(way):
    """The space-to-depth and subpixel rewrites are the same sums in another order: in float64 they
    agree with the plain conv to rounding, whatever the weights."""
    g = torch.Generator().manual_seed(5)
    if way == "s2d":
        for k, ci, co in [(9, 3, 32), (9, 32, 3), (7, 3, 12), (7, 12, 3), (3, 5, 6)]:
            h = torch.randn(2, ci, 12 + k - 1, 16 + k - 1, generator=g, dtype=torch.float64)
            w, b = torch.randn(co, ci, k, k, generator=g, dtype=torch.float64), torch.randn(co, generator=g, dtype=torch.float64)
            torch.testing.assert_close(fused.s2d_conv2d(h, w, b), F.conv2d(h, w, b), atol=1e-11, rtol=0)
    else:
        for ci, co in [(64, 32), (24, 12), (5, 6)]:
            h = torch.randn(2, ci, 10, 14, generator=g, dtype=torch.float64)
            w, b = torch.randn(co, ci, 3, 3, generator=g, dtype=torch.float64), torch.randn(co, generator=g, dtype=torch.float64)
            up = F.pad(F.interpolate(h, scale_factor=2.0, mode="nearest"), (1, 1, 1, 1), mode="reflect")
            torch.testing.assert_close(fused.subpixel_conv2d(h, w, b), F.conv2d(up, w, b), atol=1e-11, rtol=0)


def test_ways_keep_channels_last_and_the_env_knob(x, monkeypatch):
    """A channels_last engine with the knob at each way: every stage's outputs stay channels_last
    like the plain ones and equal them; the engine says so; a bad knob value is one clear error."""
    net = _net(0, "compact")
    cfg = EngineConfig("fp32", True, fused=True, compile=False)
    runs = {}
    for knob in CONV_WAYS:
        monkeypatch.setenv(CONV_WAYS_ENV, knob)
        eng = InferenceEngine("cpu", cfg)
        eng.load(net)
        eng(x[:1])  # prepares; the stages are recorded below
        xin = x.contiguous(memory_format=torch.channels_last)
        runs[knob] = _stage_outputs(eng._fused, xin)
        assert eng._fused.way == knob
        assert f"conv ways: {knob} where it applies ({CONV_WAYS_ENV}={knob})" in eng.describe()
    for knob in CONV_WAYS[1:]:
        _assert_same_outputs(runs[knob][1], runs["plain"][1], 2e-5)
        assert all(o[0].is_contiguous(memory_format=torch.channels_last) for _, o in runs[knob][1])
    monkeypatch.setenv(CONV_WAYS_ENV, "yes")
    with pytest.raises(UsageError, match="ARTEM_VR_CONV_WAYS='yes' is not one of auto, plain, padded, s2d, subpixel"):
        conv_ways_setting()
    monkeypatch.setenv(CONV_WAYS_ENV, "auto")
    assert conv_ways_setting() is None


def test_conv_ways_untimed_and_plain_on_the_cpu_by_default(x, monkeypatch):
    monkeypatch.delenv(CONV_WAYS_ENV, raising=False)
    monkeypatch.setattr(fused, "default_conv_choices", lambda: pytest.fail("timed on the CPU"))
    eng = InferenceEngine("cpu", EAGER_FUSED)
    eng.load(_net(0, "full"))
    with ConvSpy() as spy:
        eng(x)
    assert all(wshape[1] in (3, 32, 64, 128) and wshape[0] in (3, 32, 64, 128) for wshape, _ in spy.seen)  # all plain
    assert {k: v.way for k, v in eng._fused.conv_chosen.items()} == dict.fromkeys(WAYS["full"], "plain")
    assert "conv ways" not in eng.describe()


def _way_timer(times: dict[str, float], log: list[str], convs: list[nn.Conv2d]):
    """A timer that runs the stage and says which way it was by the conv that really ran, then
    answers that way's fake time. (The stage is known by its weight argument; ``convs``: the net's.)"""

    def timer(run):
        conv = next(c for c in convs if c.weight is run.args[6])
        with ConvSpy() as spy:
            run()
        (wshape, cl), = spy.seen
        log.append(_way_seen(conv, wshape, cl))
        return times[log[-1]]

    return timer


def test_choice_picks_the_fastest_and_times_once(tmp_path, caplog):
    calls: list[str] = []

    def timer(run):  # which closure ran
        calls.append(run())
        return {"plain": 3.9, "padded": 1.1, "s2d": 0.7}[calls[-1]]

    runs = {w: (lambda w=w: w) for w in ("plain", "padded", "s2d")}
    ch = ConvChoices(timer, tmp_path / "c.json")
    with caplog.at_level("INFO", logger="artem_vr.style.fused"):
        a = ch.choose("down0 key", runs, "down0")
    assert a.way == "s2d" and a.ms == {"plain": 3.9, "padded": 1.1, "s2d": 0.7} and calls == ["plain", "padded", "s2d"]
    line, = [r.getMessage() for r in caplog.records]
    assert line == "fused conv down0: plain 3.900 ms, padded 1.100 ms, s2d 0.700 ms -> s2d"
    assert ch.choose("down0 key", runs) == a and len(calls) == 3  # remembered: not re-timed
    ch.timer = lambda run: {"plain": 1.2, "subpixel": 1.4}[run()]
    b = ch.choose("up1 key", {w: (lambda w=w: w) for w in ("plain", "subpixel")})
    assert b.way == "plain" and b.note() == "plain (plain 1.200 ms, subpixel 1.400 ms)"
    # another process: the file answers, nothing is timed
    saved = json.loads((tmp_path / "c.json").read_text())["choices"]
    assert saved == {"down0 key": {"way": "s2d", "ms": {"plain": 3.9, "padded": 1.1, "s2d": 0.7}},
                     "up1 key": {"way": "plain", "ms": {"plain": 1.2, "subpixel": 1.4}}}
    again = ConvChoices(lambda run: pytest.fail("timed again"), tmp_path / "c.json")
    assert again.choose("down0 key", runs) == a and again.get("up1 key") == b
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("content", ["{not json", '{"choices": {"k": {"thin": true, "plain_ms": 2, "thin_ms": 1}}}',
                                     '{"choices": {"k": {"way": "winograd", "ms": {}}}}'])
def test_choice_cache_unreadable_is_timed_again(tmp_path, caplog, content):
    """Unreadable, an older format, or a way this version does not know: one warning, timed again, rewritten."""
    path = tmp_path / "c.json"
    path.write_text(content)
    ch = ConvChoices(lambda run: {"plain": 2.0, "padded": 1.0}[run()], path)
    with caplog.at_level("WARNING", logger="artem_vr.style.fused"):
        assert ch.choose("k", {w: (lambda w=w: w) for w in ("plain", "padded")}).way == "padded"
    assert any("ignoring the conv-way choices" in r.getMessage() for r in caplog.records)
    assert json.loads(path.read_text())["choices"]["k"]["way"] == "padded"


def test_a_way_that_fails_is_left_out_and_said_plain_failing_is_raised(tmp_path, caplog):
    """A rewritten way whose compile fails (Inductor 2.11 could not lower the s2d/subpixel
    stages: "LoweringException: NotImplementedError: View") is left out with one warning, named in
    the choice's note and kept in the file (not compiled again at the next start); the network's own
    conv failing is the network's error, raised. Running out of memory is never taken for a failed way."""
    def timer(run):
        way = run()
        if way == "s2d":
            raise RuntimeError("LoweringException: NotImplementedError: View\n  target: aten.convolution.default")
        return {"plain": 3.9, "padded": 1.1}[way]

    runs = {w: (lambda w=w: w) for w in ("plain", "padded", "s2d")}
    ch = ConvChoices(timer, tmp_path / "c.json")
    with caplog.at_level("INFO", logger="artem_vr.style.fused"):
        c = ch.choose("down0 key", runs, "down0")
    assert c.way == "padded" and c.ms == {"plain": 3.9, "padded": 1.1}
    assert c.failed == {"s2d": "RuntimeError: LoweringException: NotImplementedError: View"}
    assert c.note() == ("padded (plain 3.900 ms, padded 1.100 ms, "
                        "s2d failed: RuntimeError: LoweringException: NotImplementedError: View)")
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == ["fused conv down0: the s2d way failed, left out "
                      "(RuntimeError: LoweringException: NotImplementedError: View)"]
    assert ConvChoices(lambda run: pytest.fail("timed again"), tmp_path / "c.json").choose("down0 key", runs) == c

    def plain_fails(run):
        raise RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED")

    with pytest.raises(RuntimeError, match="CUDNN_STATUS_NOT_SUPPORTED"):
        ConvChoices(plain_fails).choose("k", runs)

    def oom(run):
        if run() == "s2d":
            raise torch.OutOfMemoryError("CUDA out of memory")
        return 1.0

    with pytest.raises(torch.OutOfMemoryError):
        ConvChoices(oom).choose("k", runs)


def test_generator_times_each_stage_once_and_runs_the_choice(x, monkeypatch):
    """The generator with a timed device (the CPU here, a fake timer that tells the ways apart):
    each stage with a choice timed every way at the first call of a size, not again at the second;
    the fastest way runs; the output is the network's; a new size is timed afresh."""
    monkeypatch.delenv(CONV_WAYS_ENV, raising=False)
    net = _net(0, "compact")
    convs = [s.conv for s in stage_plan(net)]
    log: list[str] = []
    times = {"plain": 4.0, "padded": 2.0, "s2d": 1.0, "subpixel": 3.0}
    ch = ConvChoices(_way_timer(times, log, convs), path=None, devices=("cpu",))
    gen = FusedGenerator(net, compile=False, choices=ch)
    assert gen.ways_note() == "conv ways: timed on the first frame of each size"
    with torch.inference_mode():
        y = gen(x)
    torch.testing.assert_close(y, _ref(net, x), atol=2e-5, rtol=0)
    timed = [w for ways in WAYS["compact"].values() for w in fused.timed_ways(ways)]
    assert log == timed and log.count("padded") == 1  # only down1's: elsewhere a rewrite applies
    best = {name: min(fused.timed_ways(ways), key=times.get) for name, ways in WAYS["compact"].items()}
    assert {k: v.way for k, v in gen.conv_chosen.items()} == best
    assert gen.ways_note().startswith("conv ways: down0 s2d (plain 4.000 ms, s2d 1.000 ms), down1 padded")
    with ConvSpy() as spy, torch.inference_mode():
        gen(x)
    assert log == timed  # second frame: nothing timed
    ran = {s.name: _way_seen(s.conv, *seen) for s, seen in zip(stage_plan(net), spy.seen)}
    assert {k: ran[k] for k in best} == best
    ch.timer = _way_timer({"plain": 1.0, "padded": 2.0, "s2d": 3.0, "subpixel": 2.0}, log, convs)
    with torch.inference_mode():
        torch.testing.assert_close(gen(x[:1]), _ref(net, x[:1]), atol=2e-5, rtol=0)
    assert log == timed * 2  # a new input shape: timed, and plain won this time
    assert all(v.way == "plain" for v in gen.conv_chosen.values())


def _choice_stage_calls(net, x):
    """The arguments of the stages with a choice in an eager run of ``net`` on ``x``: [(name, args, kw, ways)]."""
    calls = []
    gen = FusedGenerator(net, compile=False, way="plain")
    real = fused.stage

    def recording(*args, **kw):
        spec = gen.specs[len(seen)]
        seen.append(spec.name)
        ways = fused.stage_ways(spec.conv, up=spec.up, keep=spec.keep, in_hw=tuple(args[0].shape[-2:]))
        if len(ways) > 1:
            calls.append((spec.name, args, {k: v for k, v in kw.items() if k != "way"}, ways))
        return real(*args, **kw)

    seen: list[str] = []
    fused.stage = recording
    try:
        with torch.inference_mode():
            gen(x)
    finally:
        fused.stage = real
    return calls


@pytest.mark.slow
def test_compiled_ways_equal_the_plain_stages_on_cpu(tmp_path, x):
    """Every way of every stage with a choice, compiled by Inductor (the CPU's C++ backend), equals
    the plain stage run eagerly: values, shape, dtype, strides."""
    import shutil

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: Inductor's CPU backend needs one")
    fn = fused.compiled(fused.stage)
    for arch in ("full", "compact"):
        calls = _choice_stage_calls(_net(0, arch), x)
        assert {c[0]: c[3] for c in calls} == WAYS[arch]
        with fused.compiling(tmp_path), torch.inference_mode():
            for name, args, kw, ways in calls:
                want = [(name, fused.stage(*args, **kw))]
                for way in ways[1:]:
                    _assert_same_outputs([(name, fn(*args, **kw, way=way))], want, 2e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason=NO_CUDA)
def test_conv_ways_on_cuda_bf16_timed_every_way(tmp_path):
    """The full generator's stages with a choice (down0, up0, up1, out) at the headset size
    (2×1440×1600), bf16, compiled as the engine runs them: every way equals the plain one, and each
    is timed (CUDA events, the engine's timer) — printed, ``-s`` shows them; the fastest is what the
    engine would keep."""
    from artem_vr.style.engine import prepare_module, resolve_config

    dev = torch.device("cuda")
    cfg = resolve_config(EngineConfig("bf16", False, fused=True), dev)
    net = prepare_module(_net(2, "full"), dev, cfg)
    x = torch.rand(2, 3, 1600, 1440, device=dev, dtype=torch.bfloat16)
    calls = _choice_stage_calls(net, x)
    assert {c[0]: c[3] for c in calls} == WAYS["full"]
    fn = fused.compiled(fused.stage)
    ch = ConvChoices(path=tmp_path / "ways.json")
    # the user folder's compile cache: the GPU run's profile step compiled these very graphs (engine fused, this size)
    with fused.compiling(), torch.inference_mode():
        for name, args, kw, ways in calls:
            plain = fn(*args, **kw)
            for way in ways[1:]:
                for a, b in zip(fn(*args, **kw, way=way), plain, strict=True):
                    if a is not None:
                        assert a.shape == b.shape and a.dtype == b.dtype and a.stride() == b.stride(), (name, way)
                        err = (a.float() - b.float()).abs()
                        scale = b.float().abs().max().clamp_min(1.0)
                        assert err.max() <= 0.02 * scale and err.mean() <= 2e-3 * scale, (name, way, err.max().item())
            t = ch.choose(name, {w: functools.partial(fn, *args, **kw, way=w) for w in ways}, name)  # padded too
            print(f"\nconv ways {name} {tuple(args[0].shape)} bf16 on {torch.cuda.get_device_name()}: {t.note()}")
