"""The comfort wrappers reach the networks through their explicit statistics hook point
(:mod:`artem_vr.style.norm`): nothing is patched on a live module, a stylizer used without a
wrapper stays bit-identical, and the hook point itself is scoped to a thread and a stylizer."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from temporal_helpers import NetStylizer, texture

from artem_vr.frames import to_tensor
from artem_vr.style.generator import GeneratorStylizer
from artem_vr.style.norm import active_filters, filter_stats, stats_filter
from artem_vr.style.xnor import XnorStylizer
from artem_vr.temporal import StereoConsistentStylizer, TemporalStabilizer
from artem_vr.temporal.normstats import find_modules, hooks_for, unwrap
from artem_vr.style.catalog import CATALOG  # noqa: E402


def _make(kind: str):
    if kind == "testnet":  # eager TransformNet: StatsInstanceNorm layers
        return NetStylizer()
    s = GeneratorStylizer("cpu", engine="fast", library=CATALOG) if kind == "generator-fast" else XnorStylizer("cpu", library=CATALOG)
    s.set_style(s.styles()[0])  # fast: GroupInstanceNorm layers; xnor: the binarized net, eager
    return s


@pytest.fixture(scope="module", params=["testnet", "generator-fast", "xnor"])
def stylizer(request):
    torch.manual_seed(0)
    return _make(request.param)


def _frames():
    a = texture(64, 80, seed=31)
    return [to_tensor([a, a[:, ::-1].copy()]), to_tensor([(a * 0.7).astype(np.uint8), a]),
            to_tensor([(a * 0.5).astype(np.uint8), (a * 0.9).astype(np.uint8)])]


def _all_modules(stylizer):
    return [sub for m in find_modules(unwrap(stylizer)) for sub in m.modules()]


def test_wrappers_patch_nothing_and_leave_the_stylizer_bit_identical(stylizer):
    frames = _frames()
    before = [stylizer.stylize(x) for x in frames]
    wrapped = StereoConsistentStylizer(TemporalStabilizer(stylizer, mode="stats", cut_hist=2.0), mode="shared-stats")
    outs = [wrapped.stylize(x) for x in frames]
    assert wrapped.inner.stats["norm_layers"] > 0
    assert not torch.equal(outs[-1], before[-1])  # the wrappers did act: pooled and smoothed statistics
    mods = _all_modules(stylizer)
    assert mods
    patched = [type(m).__name__ for m in mods if "forward" in vars(m)]
    hooked = [type(m).__name__ for m in mods if m._forward_hooks or m._forward_pre_hooks]
    assert patched == [] and hooked == []
    after = [stylizer.stylize(x) for x in frames]
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert active_filters() == ()  # nothing left set on this thread


def test_no_filter_is_the_identity_and_nesting_applies_each_filter_once():
    mean, var = torch.rand(2, 3), torch.rand(2, 3)
    assert filter_stats("k", mean, var) == (mean, var)
    calls = []

    def outer(key, m, v):
        calls.append("outer")
        return m + 1, v

    def inner(key, m, v):
        calls.append("inner")
        return m * 2, v

    with stats_filter(outer), stats_filter(inner), stats_filter(outer):
        m2, v2 = filter_stats("k", mean, var)
    assert calls == ["outer", "inner"] and torch.equal(m2, (mean + 1) * 2) and v2 is var
    assert active_filters() == ()


def test_the_filter_is_per_thread():
    seen = []
    ready, done = threading.Event(), threading.Event()

    def other():
        ready.wait(10)
        seen.append(active_filters())
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with stats_filter(lambda key, m, v: (m, v)):
        ready.set()
        done.wait(10)
    t.join(10)
    assert seen == [()]


def test_a_wrapper_transforms_only_its_own_stylizers_statistics():
    a, b = NetStylizer(seeds=(0,)), NetStylizer(seeds=(1,))
    x = to_tensor(texture(48, 64, seed=32))
    plain_b = b.stylize(x)
    hooks = hooks_for(a)
    shift = lambda key, m, v: (m + 0.5, v * 2)  # noqa: E731
    hooks.add_transform(50, shift)
    try:
        assert hooks.attach(a) > 0
        with hooks.active():
            inside_b, inside_a = b.stylize(x), a.stylize(x)
    finally:
        hooks.remove_transform(shift)
    assert torch.equal(inside_b, plain_b)  # another network run meanwhile: untouched
    assert not torch.allclose(inside_a, a.stylize(x), atol=1e-3)
