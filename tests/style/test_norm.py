"""The statistics hook point of the networks' normalization layers (artem_vr.style.norm) and the
engine's fast norms that keep it."""

from __future__ import annotations

import torch
from torch import nn

from artem_vr.style.engine import EAGER, EngineConfig, Fp32InstanceNorm, GroupInstanceNorm, prepare_module, resolve_config
from artem_vr.style.norm import StatsInstanceNorm, channel_stats, stats_filter
from style_helpers import trained_like_net as _net


def _norm(cls, c=6):
    torch.manual_seed(3)
    m = cls(c, affine=True)
    m.weight.data.uniform_(0.5, 2)
    m.bias.data.normal_()
    return m.eval()


def test_without_a_filter_it_is_instance_norm_bit_for_bit_with_the_same_state_keys():
    x = torch.randn(2, 6, 11, 13) * 3 + 1
    plain, hooked = _norm(nn.InstanceNorm2d), _norm(StatsInstanceNorm)
    assert torch.equal(hooked(x), plain(x))
    assert hooked.state_dict().keys() == plain.state_dict().keys()
    same = lambda key, m, v: (m, v)  # noqa: E731 - statistics returned unchanged: the plain path runs
    with stats_filter(same):
        assert torch.equal(hooked(x), plain(x))


def test_engine_norms_keep_the_hook_point():
    x = torch.randn(2, 6, 11, 13) * 3 + 1
    want_mean, want_var = torch.rand(2, 6), torch.rand(2, 6) + 0.5
    fixed = lambda key, m, v: (want_mean, want_var)  # noqa: E731
    ref = _norm(StatsInstanceNorm)
    with stats_filter(fixed):
        expect = ref(x)
    w, b = ref.weight[:, None, None], ref.bias[:, None, None]
    direct = (x - want_mean[..., None, None]) / torch.sqrt(want_var[..., None, None] + ref.eps) * w + b
    torch.testing.assert_close(expect, direct, atol=1e-5, rtol=1e-5)
    for cls in (GroupInstanceNorm, Fp32InstanceNorm):
        m = _norm(cls)
        torch.testing.assert_close(m(x), ref(x), atol=1e-5, rtol=1e-5)  # no filter: group norm
        with stats_filter(fixed):
            torch.testing.assert_close(m(x), expect, atol=1e-5, rtol=1e-5)


def test_prepare_module_swaps_hook_aware_norms_for_fast_ones_that_still_filter():
    net = _net(0)
    assert any(type(m) is StatsInstanceNorm for m in net.modules())
    for cfg, cls in ((EAGER, GroupInstanceNorm), (resolve_config(EngineConfig("fp16"), torch.device("cpu")), Fp32InstanceNorm)):
        live = prepare_module(net, torch.device("cpu"), cfg)
        norms = [m for m in live.modules() if isinstance(m, nn.InstanceNorm2d)]
        assert norms and all(type(m) is cls for m in norms)
    seen = []
    live = prepare_module(net, torch.device("cpu"), EAGER)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad(), stats_filter(lambda key, m, v: (seen.append(key), (m, v))[1]):
        live(x)
    assert [id(k) for k in seen] == [id(m) for m in live.modules() if isinstance(m, GroupInstanceNorm)]


def test_channel_stats_are_the_population_statistics():
    x = torch.randn(3, 4, 9, 7) * 2 + 5
    mean, var = channel_stats(x)
    v, m = torch.var_mean(x, dim=(2, 3), unbiased=False)
    torch.testing.assert_close(mean, m, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(var, v, atol=1e-4, rtol=1e-4)
