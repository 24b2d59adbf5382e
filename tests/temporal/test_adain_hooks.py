"""The comfort wrappers reach AdaIN's normalization too (a real AdaIN stylizer, random decoder)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from temporal_helpers import texture

from artem_vr.frames import to_tensor
from artem_vr.temporal import StereoConsistentStylizer, TemporalStabilizer
from artem_vr.temporal.normstats import hooks_for
from artem_vr.style.catalog import CATALOG  # noqa: E402

A = pytest.importorskip("artem_vr.style.adain", reason="the AdaIN stylizer is not in this checkout")


@pytest.fixture(scope="module")
def adain(tmp_path_factory):
    from artem_vr.encode import write_image
    from artem_vr.style.weights import save_safetensors

    d = tmp_path_factory.mktemp("adain_hooks")
    torch.manual_seed(0)
    dec = A.make_decoder(A.VARIANTS["fast"])
    save_safetensors(d / "dec.safetensors", dec, A.VARIANTS["fast"].arch, {"test": True}, fp16=False)
    write_image(d / "style.png", texture(64, 64, seed=21))
    s = A.AdaINStylizer(weights=d / "dec.safetensors", variant="fast", style_size=48, library=CATALOG)
    s.set_style(str(d / "style.png"))
    return s


def test_filtered_adain_step_matches_adain_when_the_statistics_are_unchanged(adain):
    x = to_tensor(texture(48, 64, seed=22))
    plain = adain.stylize(x)
    hooks = hooks_for(adain)
    copy = lambda key, m, v: (m.clone(), v.clone())  # noqa: E731 - same values, new tensors: the filtered path runs
    hooks.add_transform(99, copy)
    try:
        assert hooks.attach(adain) == 1
        with hooks.active():
            filtered = adain.stylize(x)
    finally:
        hooks.remove_transform(copy)
    assert torch.equal(filtered, plain)  # adain() itself runs with the filtered statistics: same maths


def test_temporal_and_stereo_wrappers_act_on_adain(adain):
    img = texture(48, 64, seed=23)
    x = to_tensor(img)
    stab = TemporalStabilizer(adain, mode="stats", cut_hist=2.0)
    assert torch.equal(stab.stylize(x), adain.stylize(x))
    assert stab.stats["norm_layers"] == 1
    # still scene: EMA of equal statistics (lerp of equal values: equal to rounding)
    assert torch.allclose(stab.stylize(x), adain.stylize(x), atol=1e-5)
    darker = to_tensor((img * 0.7).astype(np.uint8))
    assert not torch.allclose(stab.stylize(darker), adain.stylize(darker), atol=1e-3)  # the past counts

    s = StereoConsistentStylizer(adain, mode="shared-stats")
    same = to_tensor([img, img])
    assert torch.allclose(s.stylize(same), adain.stylize(same), atol=2e-3)
    pair = to_tensor([img, (img * 0.7).astype(np.uint8)])
    assert not torch.allclose(s.stylize(pair), adain.stylize(pair), atol=1e-3)
