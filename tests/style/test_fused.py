"""The fused engine (artem_vr/style/fused.py): its stages' maths against the network they replace
(eagerly, on the CPU: the same functions torch.compile compiles), the layout-keeping instance
norm, the statistics hook point, in-place style switches without recompiling, and the compile
cache kept to the user folder. The compiled path runs on the CPU in one slow test (Inductor's
C++ backend: about a minute and a half on 2 loaded cores) and on CUDA under ``-m gpu``.

The thin convolutions (channel-padded, channels_last): each stage's outputs against the plain
stage's, eagerly and (slow) compiled, for both generators; the timed choice with a timer that
tells the variants apart by the convolutions they really ran; on CUDA (``-m gpu``) both ways at
the headset size in bf16, timings printed (``-s`` shows them)."""

from __future__ import annotations

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
from artem_vr.style.fused import (THIN_ENV, FusedGenerator, ThinChoices, compile_cache, compile_cache_dir, is_thin,
                                  stage_plan, thin_setting)
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


# ----------------------------------------------------------------------------- thin convolutions

#: the thin stages: their convs have 3 or 12 channels on a side (not multiples of 8)
THIN = {"compact": ["down0", "down1", "up1", "out"], "full": ["down0", "out"]}


class ConvSpy(TorchFunctionMode):
    """Records every ``conv2d`` that really runs: (weight shape, input channels_last)."""

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[tuple, bool]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.conv2d:
            self.seen.append((tuple(args[1].shape), args[0].is_contiguous(memory_format=torch.channels_last)))
        return func(*args, **(kwargs or {}))


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


def test_thin_stages_are_the_ones_off_the_multiple_of_8():
    for arch, names in THIN.items():
        assert [s.name for s in stage_plan(_net(0, arch)) if is_thin(s.conv)] == names


@pytest.mark.parametrize("arch", ["compact", "full"])
def test_thin_stages_equal_the_plain_stages(arch, x):
    """Forced padded: every stage's outputs (conv output, statistics, kept residual) equal the plain
    stage's — values, shape, dtype, strides — and the thin convs really ran padded, channels_last."""
    net = _net(0, arch)
    y0, plain = _stage_outputs(FusedGenerator(net, compile=False, thin=False), x)
    gen = FusedGenerator(net, compile=False, thin=True)
    with ConvSpy() as spy:
        y1, padded = _stage_outputs(gen, x)
    _assert_same_outputs(padded, plain, 1e-5)
    torch.testing.assert_close(y1, _ref(net, x), atol=1e-5, rtol=0)
    assert y1.stride() == y0.stride()
    assert list(gen.thin_chosen) == THIN[arch] and all(t.thin and t.plain_ms is None for t in gen.thin_chosen.values())
    specs = stage_plan(net)
    assert len(spy.seen) == len(specs)
    for spec, (wshape, cl) in zip(specs, spy.seen):
        co, ci = spec.conv.out_channels, spec.conv.in_channels
        if is_thin(spec.conv):
            assert wshape[:2] == (co + -co % 8, ci + -ci % 8) and cl, spec.name
        else:
            assert wshape[:2] == (co, ci) and not cl, spec.name


def test_thin_stages_keep_channels_last_and_the_env_knob(x, monkeypatch):
    """A channels_last engine with the knob at 1: the thin stages' outputs stay channels_last like the
    plain ones; the engine says so; a bad knob value is one clear error."""
    net = _net(0, "compact")
    cfg = EngineConfig("fp32", True, fused=True, compile=False)
    runs = {}
    for knob in ("0", "1"):
        monkeypatch.setenv(THIN_ENV, knob)
        eng = InferenceEngine("cpu", cfg)
        eng.load(net)
        eng(x[:1])  # prepares; the stages are recorded below
        xin = x.contiguous(memory_format=torch.channels_last)
        runs[knob] = _stage_outputs(eng._fused, xin)
        assert eng._fused.thin == (knob == "1")
    _assert_same_outputs(runs["1"][1], runs["0"][1], 2e-5)
    assert all(o[0].is_contiguous(memory_format=torch.channels_last) for _, o in runs["1"][1])
    assert "thin convs padded to x8 channels, channels_last (ARTEM_VR_THIN_CONVS=1)" in eng.describe()
    monkeypatch.setenv(THIN_ENV, "yes")
    with pytest.raises(UsageError, match="ARTEM_VR_THIN_CONVS='yes' is not 0, 1 or auto"):
        thin_setting()
    monkeypatch.setenv(THIN_ENV, "auto")
    assert thin_setting() is None


def test_thin_convs_untimed_and_plain_on_the_cpu_by_default(x, monkeypatch):
    monkeypatch.delenv(THIN_ENV, raising=False)
    monkeypatch.setattr(fused, "default_thin_choices", lambda: pytest.fail("timed on the CPU"))
    eng = InferenceEngine("cpu", EAGER_FUSED)
    eng.load(_net(0, "full"))
    with ConvSpy() as spy:
        eng(x)
    assert all(wshape[1] in (3, 32, 64, 128) for wshape, _ in spy.seen)  # nothing padded
    assert {k: v.thin for k, v in eng._fused.thin_chosen.items()} == {"down0": False, "out": False}
    assert "thin" not in eng.describe()


def _variant_timer(times: dict[str, float], log: list[str]):
    """A timer that runs the stage and says which variant it was by the convs that really ran
    (padded to a multiple of 8, channels_last: "thin"), then answers that variant's fake time."""

    def timer(run):
        with ConvSpy() as spy:
            run()
        (wshape, cl), = spy.seen
        variant = "thin" if cl and wshape[0] % 8 == 0 and wshape[1] % 8 == 0 else "plain"
        log.append(variant)
        return times[variant]

    return timer


def test_thin_choice_picks_the_faster_and_times_once(tmp_path, caplog):
    calls: list[str] = []

    def timer(run):  # "p"/"t": which closure ran
        calls.append(run())
        return {"p": 3.9, "t": 1.1}[calls[-1]]

    ch = ThinChoices(timer, tmp_path / "c.json")
    with caplog.at_level("INFO", logger="artem_vr.style.fused"):
        a = ch.choose("down0 key", lambda: "p", lambda: "t", "down0")
    assert a.thin and (a.plain_ms, a.thin_ms) == (3.9, 1.1) and calls == ["p", "t"]
    line, = [r.getMessage() for r in caplog.records]
    assert line == "fused thin conv down0: plain 3.900 ms, channel-padded channels_last 1.100 ms -> padded"
    assert ch.choose("down0 key", lambda: "p", lambda: "t") == a and calls == ["p", "t"]  # remembered: not re-timed
    ch.timer = lambda run: {"p": 3.2, "t": 3.4}[run()]
    b = ch.choose("out key", lambda: "p", lambda: "t")
    assert not b.thin and b.note() == "plain (plain 3.200 ms, padded 3.400 ms)"
    # another process: the file answers, nothing is timed
    saved = json.loads((tmp_path / "c.json").read_text())["choices"]
    assert saved == {"down0 key": {"thin": True, "plain_ms": 3.9, "thin_ms": 1.1},
                     "out key": {"thin": False, "plain_ms": 3.2, "thin_ms": 3.4}}
    again = ThinChoices(lambda run: pytest.fail("timed again"), tmp_path / "c.json")
    assert again.choose("down0 key", lambda: "p", lambda: "t") == a and again.get("out key") == b
    assert not list(tmp_path.glob(".*partial*"))


def test_thin_choice_cache_unreadable_is_timed_again(tmp_path, caplog):
    path = tmp_path / "c.json"
    path.write_text("{not json")
    ch = ThinChoices(lambda run: {"p": 2.0, "t": 1.0}[run()], path)
    with caplog.at_level("WARNING", logger="artem_vr.style.fused"):
        assert ch.choose("k", lambda: "p", lambda: "t").thin
    assert any("ignoring the thin-conv choices" in r.getMessage() for r in caplog.records)
    assert json.loads(path.read_text())["choices"]["k"]["thin"] is True


def test_generator_times_each_thin_stage_once_and_runs_the_choice(x, monkeypatch):
    """The generator with a timed device (the CPU here, a fake timer that tells the variants apart):
    each thin stage timed both ways at the first call of a size, not again at the second; the
    faster variant runs; the output is the network's; a new size is timed afresh."""
    monkeypatch.delenv(THIN_ENV, raising=False)
    net = _net(0, "compact")
    log: list[str] = []
    ch = ThinChoices(_variant_timer({"plain": 2.0, "thin": 1.0}, log), path=None, devices=("cpu",))
    gen = FusedGenerator(net, compile=False, choices=ch)
    assert "padded vs plain timed on the first frame" in gen.thin_note()
    with torch.inference_mode():
        y = gen(x)
    torch.testing.assert_close(y, _ref(net, x), atol=1e-5, rtol=0)
    assert log == ["plain", "thin"] * 4
    assert {k: v.thin for k, v in gen.thin_chosen.items()} == dict.fromkeys(THIN["compact"], True)
    assert gen.thin_note().startswith("thin convs: down0 padded+NHWC (plain 2.000 ms, padded 1.000 ms)")
    with ConvSpy() as spy, torch.inference_mode():
        gen(x)
    assert log == ["plain", "thin"] * 4  # second frame: nothing timed
    assert sum(cl for _, cl in spy.seen) == 4  # the four thin convs ran padded, channels_last
    ch.timer = _variant_timer({"plain": 1.0, "thin": 2.0}, log)
    with ConvSpy() as spy, torch.inference_mode():
        torch.testing.assert_close(gen(x[:1]), _ref(net, x[:1]), atol=1e-5, rtol=0)
    assert log == ["plain", "thin"] * 8  # a new input shape: timed, and plain won this time
    assert not any(v.thin for v in gen.thin_chosen.values())


def _thin_stage_calls(net, x):
    """The thin stages' arguments in an eager run of ``net`` on ``x``: [(name, args, kw)]."""
    real, calls = fused.stage, []
    names = iter(s.name for s in stage_plan(net))

    def recording(*args, **kw):
        name = next(names)
        if "thin" in kw:
            calls.append((name, args, {k: v for k, v in kw.items() if k != "thin"}))
        return real(*args, **kw)

    fused.stage = recording
    try:
        with torch.inference_mode():
            FusedGenerator(net, compile=False, thin=False)(x)
    finally:
        fused.stage = real
    return calls


@pytest.mark.slow
def test_compiled_thin_stages_equal_the_plain_stages_on_cpu(tmp_path, x):
    """The padded stages compiled by Inductor (the CPU's C++ backend; six small graphs) equal the
    plain stages run eagerly: values, shape, dtype, strides."""
    import shutil

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: Inductor's CPU backend needs one")
    fn = fused.compiled(fused.stage)
    for arch in ("full", "compact"):
        calls = _thin_stage_calls(_net(0, arch), x)
        assert [c[0] for c in calls] == THIN[arch]
        with fused.compiling(tmp_path), torch.inference_mode():
            got = [(name, fn(*args, **kw, thin=True)) for name, args, kw in calls]
            want = [(name, fused.stage(*args, **kw)) for name, args, kw in calls]
        _assert_same_outputs(got, want, 1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason=NO_CUDA)
def test_thin_stages_on_cuda_bf16_timed_both_ways(tmp_path):
    """The full generator's thin stages (down0, out) at the headset size (2×1440×1600), bf16, compiled
    as the engine runs them: the padded stage equals the plain one, and both are timed (CUDA events,
    the engine's timer) — printed, ``-s`` shows them; the faster is what the engine would keep."""
    from artem_vr.style.engine import prepare_module, resolve_config

    dev = torch.device("cuda")
    cfg = resolve_config(EngineConfig("bf16", False, fused=True), dev)
    net = prepare_module(_net(2, "full"), dev, cfg)
    x = torch.rand(2, 3, 1600, 1440, device=dev, dtype=torch.bfloat16)
    calls = _thin_stage_calls(net, x)
    assert [c[0] for c in calls] == THIN["full"]
    fn = fused.compiled(fused.stage)
    ch = ThinChoices(path=tmp_path / "thin.json")
    # the user folder's compile cache: the GPU run's profile step compiled these very graphs (engine fused, this size)
    with fused.compiling(), torch.inference_mode():
        for name, args, kw in calls:
            plain, padded = fn(*args, **kw), fn(*args, **kw, thin=True)
            for a, b in zip(padded, plain, strict=True):
                if a is not None:
                    assert a.shape == b.shape and a.dtype == b.dtype and a.stride() == b.stride(), name
                    err = (a.float() - b.float()).abs()
                    scale = b.float().abs().max().clamp_min(1.0)
                    assert err.max() <= 0.02 * scale and err.mean() <= 2e-3 * scale, (name, err.max().item())
            t = ch.choose(name, lambda: fn(*args, **kw), lambda: fn(*args, **kw, thin=True), name)
            print(f"\nthin conv {name} {tuple(args[0].shape)} bf16 on {torch.cuda.get_device_name()}: plain "
                  f"{t.plain_ms:.3f} ms, padded channels_last {t.thin_ms:.3f} ms -> {'padded' if t.thin else 'plain'}")
