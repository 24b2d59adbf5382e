"""Temporal stabilization on a real (written and decoded) video with a real instance-norm network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from temporal_helpers import NetStylizer, pan, stylize_all, texture, write_video

from artem_vr.errors import UsageError
from artem_vr.frames import to_tensor
from artem_vr.style.base import IdentityStylizer
from artem_vr.style.norm import StatsInstanceNorm
from artem_vr.temporal import TemporalStabilizer, comfort_stats, stabilize_for_video
from artem_vr.temporal.flicker import flow_pairs, masked_mae, temporal_error
from artem_vr.temporal.readers import load_video
from artem_vr.temporal.normstats import hooks_for, instance_norms


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """8 frames of a shaky hand-held pan over a textured scene, through a real MJPG codec."""
    d = tmp_path_factory.mktemp("clip")
    frames = pan(texture(200, 240, seed=5), 8, (128, 96), step=(2.3, 0.9), shake=0.4)
    return load_video(write_video(d / "pan.avi", frames), 8, None)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return NetStylizer()


def test_stabilization_lowers_flicker_on_a_video(clip, net):
    pairs = flow_pairs(clip)
    plain = stylize_all(net, clip)
    stab = TemporalStabilizer(net)
    steady = stylize_all(stab, clip)
    e_raw, e_plain, e_stab = (temporal_error(s, pairs) for s in (clip, plain, steady))
    print(f"flicker raw {e_raw:.2f}  per-frame {e_plain:.2f}  stabilized {e_stab:.2f}")
    assert e_plain > e_raw  # the network does flicker on this clip
    assert e_stab < 0.8 * e_plain
    # and it is still the stylization, not a frozen or washed-out frame
    assert np.mean([masked_mae(a, b) for a, b in zip(plain, steady)]) < 0.5 * e_plain + 5
    assert np.array_equal(steady[0], plain[0])  # nothing to smooth on the first frame
    assert stab.stats["frames"] == len(clip) and stab.stats["cost_ms"] > 0
    assert stab.stats["norm_layers"] == len(instance_norms(net)) > 0
    assert 0 < stab.stats["blend_fraction"] <= stab.blend


def test_switching_style_resets_at_once(clip, net):
    stab = TemporalStabilizer(net)
    net.set_style("style0")
    stab.set_style("style0")
    before = stylize_all(stab, clip[:4])  # builds history with style0 (reset happens at start)
    x = to_tensor(clip[4])
    # history is in effect: the next style0 frame differs from plain style0
    smoothed = stab.stylize(x)
    net.set_style("style0")
    assert not torch.equal(smoothed, net.stylize(x))
    stab.set_style("style1")  # the switch
    after = stab.stylize(to_tensor(clip[5]))
    net.set_style("style1")
    assert torch.equal(after, net.stylize(to_tensor(clip[5])))  # exactly plain style1: no smear of style0
    assert len(before) == 4
    net.set_style("style0")


def test_statistics_smoothing_is_exact_on_a_still_scene_and_acts_on_change(net):
    img = texture(96, 128, seed=6)
    x = to_tensor(img)
    stab = TemporalStabilizer(net, mode="stats", cut_hist=2.0)  # no cut detection: the stats path alone
    assert torch.equal(stab.stylize(x), net.stylize(x))  # first frame: the network untouched
    # then the EMA of equal statistics is those statistics (computed by the fused path: to rounding)
    assert all(torch.allclose(stab.stylize(x), net.stylize(x), atol=1e-5) for _ in range(2))
    darker = to_tensor((img * 0.6).astype(np.uint8))
    assert not torch.equal(stab.stylize(darker), net.stylize(darker))  # the past still counts


class Holder:
    """Anything holding a network in an attribute (as stylizers do)."""


def test_replaced_statistics_normalize_like_instance_norm_with_them():
    torch.manual_seed(1)
    x = torch.randn(2, 5, 7, 9) * 3 + 1
    norm = StatsInstanceNorm(5, affine=True)
    norm.weight.data.uniform_(0.5, 2)
    norm.bias.data.normal_()
    holder = Holder()
    holder.net = torch.nn.Sequential(norm, torch.nn.InstanceNorm2d(5))  # a plain IN is no hook point
    hooks = hooks_for(holder)
    assert hooks.attach(holder) == 1
    var, mean = torch.var_mean(x, dim=(2, 3), unbiased=False)
    m2, v2 = mean * 0.5 + 0.3, var * 2 + 0.1
    hooks.add_transform(0, lambda key, m, v: (m2, v2))
    plain = norm(x)  # not active: instance norm itself, bit for bit
    assert torch.equal(plain, torch.nn.functional.instance_norm(x, weight=norm.weight, bias=norm.bias, eps=norm.eps))
    with hooks.active():
        got = norm(x)
    want = (x - m2[..., None, None]) / torch.sqrt(v2[..., None, None] + norm.eps) * norm.weight[:, None, None] \
        + norm.bias[:, None, None]
    assert torch.allclose(got, want, atol=1e-4)


def test_scene_cut_forgets_the_past(net):
    a, b = texture(96, 128, seed=7), texture(96, 128, seed=8)[::-1].copy()
    stab = TemporalStabilizer(net)
    for _ in range(3):
        stab.stylize(to_tensor(a))
    out = stab.stylize(to_tensor(b))
    assert stab.stats["scene_cuts"] == 1
    assert torch.equal(out, net.stylize(to_tensor(b)))


def test_switching_off_and_on(clip, net):
    on = {"v": True}
    stab = TemporalStabilizer(net, enabled=lambda: on["v"])
    stylize_all(stab, clip[:3])
    on["v"] = False
    x = to_tensor(clip[3])
    assert torch.equal(stab.stylize(x), net.stylize(x))
    on["v"] = True
    x = to_tensor(clip[4])
    assert torch.equal(stab.stylize(x), net.stylize(x))  # back on: starts fresh


def test_wrapper_forwards_the_stylizer_interface(net):
    ident = IdentityStylizer()
    stab = stabilize_for_video(ident)
    stab.strength = 0.5
    assert ident.strength == 0.5 and stab.strength == 0.5
    stab.set_style("identity")
    assert stab.style == "identity" and stab.styles() == ["identity"] and stab.method == "identity"
    x = to_tensor(texture(32, 48))
    assert torch.equal(stab.stylize(x), x)  # identity stays identity
    assert set(comfort_stats(stab)) == {"temporal"}
    with pytest.raises(UsageError, match="mode"):
        TemporalStabilizer(net, mode="magic")
    with pytest.raises(UsageError, match="wraps a Stylizer"):
        TemporalStabilizer(object())


def test_batch_size_change_resets(net):
    img = texture(64, 96, seed=9)
    stab = TemporalStabilizer(net)
    stab.stylize(to_tensor(img))
    pair = to_tensor([img, img[:, ::-1].copy()])
    assert torch.equal(stab.stylize(pair), net.stylize(pair))
