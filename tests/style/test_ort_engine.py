"""The ONNX Runtime engine (``ort``): same output as torch, cheap style switches, engine
selection, and the truth about hooks (no torch layer runs inside ONNX Runtime)."""

from __future__ import annotations

import pytest
import torch

from artem_vr.errors import UsageError
from artem_vr.style.data import load_rgb, rgb8_to_chw
from artem_vr.style.engine import (ENGINE_KINDS, EagerEngine, EngineConfig, InferenceEngine, OrtEngine, auto_engine,
                                   make_engine)
from artem_vr.style.generator import GeneratorStylizer
from artem_vr.style.catalog import CATALOG  # noqa: E402
from style_helpers import torch_ref as _ref
from style_helpers import trained_like_net as _net


@pytest.fixture(scope="module")
def real(thumbnails):
    """Two real pictures as a batch (both eyes), an odd size: 90x131."""
    imgs = [rgb8_to_chw(load_rgb(thumbnails[n])) for n in ("great_wave", "the_scream")]
    return torch.stack([torch.nn.functional.interpolate(i[None], size=(90, 131), mode="area")[0] for i in imgs])


def test_ort_equals_torch_on_any_shape(real):
    net = _net(0)
    eng = OrtEngine("cpu")
    eng.load(net)
    for x in (real, real[:1, :, :64, :64], torch.rand(1, 3, 37, 50, generator=torch.Generator().manual_seed(3))):
        y = eng(x)
        assert y.dtype == torch.float32 and y.shape == x.shape
        assert (y - _ref(net, x)).abs().max().item() < 1e-4
    assert eng.prepares == 1 and eng.live is None  # one export serves every shape


def test_style_switch_swaps_weights_without_export(real):
    a, b = _net(0), _net(1)
    eng = OrtEngine("cpu")
    eng.load(a)
    ya = eng(real)
    eng.load(b)
    yb = eng(real)
    assert eng.prepares == 1 and eng.sessions_made == 2  # new weights in the same graph, no re-export
    assert (yb - _ref(b, real)).abs().max().item() < 1e-4
    assert (ya - yb).abs().max().item() > 0.05
    eng.load(a)  # back: the kept session
    assert eng.sessions_made == 2
    assert (eng(real) - ya).abs().max().item() == 0.0
    eng.load(_net(2, "full"))  # another structure: exported afresh
    assert eng.prepares == 2


def test_shipped_generator_ort_matches_fast(real):
    """A trained full generator through the stylizer: ort vs the torch engine on real frames.

    The torch engine is pinned to fp32: ONNX Runtime runs fp32, while ``fast`` picks bf16 on CPUs
    with native bf16 (AMX / AVX512-BF16), where the two differ by bf16 rounding (~1e-2)."""
    outs = {}
    for kind in (EngineConfig(precision="fp32"), "ort"):
        s = GeneratorStylizer("cpu", arch="full", engine=kind, library=CATALOG)
        s.set_style("starry_night")
        outs[s.engine.kind] = s.stylize(real)
    assert (outs["ort"] - outs["fast"]).abs().max().item() < 1e-4


def test_xnor_float_fallback_on_ort(real):
    from artem_vr.style.xnor import XnorStylizer

    outs = {}
    for kind in ("eager", "ort"):
        s = XnorStylizer("cpu", engine=kind, library=CATALOG)
        s.set_style(s.styles()[0])
        outs[kind] = s.stylize(real)
    assert (outs["ort"] - outs["eager"]).abs().max().item() < 1e-4


def test_engine_selection():
    assert ENGINE_KINDS == ("auto", "eager", "fast", "fused", "ort")
    assert auto_engine("cpu") == "ort" and auto_engine("cpu", "adain") == "eager"
    assert auto_engine("cuda", "xnor") == "eager"
    assert isinstance(make_engine("auto", "cpu"), OrtEngine)


def test_auto_on_cuda_is_fused_for_live_work_where_it_compiles(monkeypatch):
    """On CUDA `auto` is the fused engine for run/bench (measured 1.6–3.2× the others on the
    H200), the fast/eager engines for a one-off stylize (a compile per size would cost more
    than it saves), and fast/eager where Triton is missing (torch.compile cannot build kernels)."""
    import importlib.util

    from artem_vr.style import engine as engine_mod

    real = importlib.util.find_spec
    monkeypatch.setattr(engine_mod.importlib.util, "find_spec", lambda name, *a: object() if name == "triton" else real(name, *a))
    assert engine_mod.compiler_ready("cuda") == (True, "")
    assert [auto_engine("cuda", m) for m in ("generator", "adain", "xnor")] == ["fused", "fused", "eager"]
    assert [auto_engine("cuda", m, live=False) for m in ("generator", "adain", "xnor")] == ["fast", "eager", "eager"]
    monkeypatch.setattr(engine_mod.importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real(name, *a))
    ok, why = engine_mod.compiler_ready("cuda")
    assert not ok and "Triton" in why
    assert [auto_engine("cuda", m) for m in ("generator", "adain", "xnor")] == ["fast", "eager", "eager"]
    assert engine_mod.compiler_ready("cpu") == (True, "")


def test_engine_kinds():
    assert isinstance(make_engine("fast", "cpu"), InferenceEngine)
    assert isinstance(make_engine("eager", "cpu"), EagerEngine)
    with pytest.raises(UsageError, match="unknown engine"):
        make_engine("tensorrt", "cpu")
    with pytest.raises(UsageError, match="runs on the CPU"):
        OrtEngine("cuda")


def test_hooks_are_not_claimed_under_ort():
    """Norm-statistics hooks (temporal/stereo smoothing) cannot reach inside ONNX Runtime: the
    stylizer says so and the temporal module finds no layers to hook, instead of hooking modules
    that never run."""
    from artem_vr.temporal.normstats import instance_norms

    fast = GeneratorStylizer("cpu", engine="fast", library=CATALOG)
    fast.set_style(fast.styles()[0])
    ort = GeneratorStylizer("cpu", engine="ort", library=CATALOG)
    ort.set_style(ort.styles()[0])
    assert fast.runs_torch and len(instance_norms(fast)) > 0
    assert not ort.runs_torch and instance_norms(ort) == []


def test_run_resolves_auto_for_live_work_and_stylize_for_one_off(monkeypatch):
    """The app's factory asks auto_engine with live=True for run (and bench, through it), and the
    stylize command with live=False — so on CUDA a one-off file never waits for a compile."""
    import artem_vr.app as app
    from artem_vr.app_stylize import make_stylizer_for, StylizeConfig

    asked = []

    def spy(device, method, live=True):
        asked.append((method, live))
        return "ort"

    monkeypatch.setattr(app, "auto_engine", spy)
    options = {"preserve_color": "none", "adain_variant": "auto", "arch": "compact", "adain_weights": None, "engine": "auto"}
    s = app.stylizer_factory(options, printer=lambda _l: None)("generator", None, device="cpu")
    assert s.engine.kind == "ort" and asked == [("generator", True)]
    cfg = StylizeConfig(None, None, False, (), None, "generator", 1.0, 0, False, "cpu", 1.0, options)
    s, _m, _s = make_stylizer_for(cfg)
    assert s.engine.kind == "ort" and asked[-1] == ("generator", False)
