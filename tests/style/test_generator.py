"""TransformNet shapes/ranges/architecture, and the generator stylizer over every shipped model."""

from __future__ import annotations

import re

import pytest
import torch

from artem_vr.errors import ConventionError, UsageError
from artem_vr.paths import MODELS_DIR
from artem_vr.style.data import load_rgb, resize_long, rgb8_to_chw
from artem_vr.style.generator import ARCHS, GeneratorArch, GeneratorStylizer, TransformNet


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("hw", [(64, 64), (37, 50)])
def test_shape_range_any_size(arch, hw):
    net = TransformNet(ARCHS[arch]).eval()
    with torch.no_grad():
        y = net(torch.rand(2, 3, *hw))
    assert y.shape == (2, 3, *hw) and y.min() >= 0 and y.max() <= 1


def test_no_transposed_conv_and_instance_norm():
    net = TransformNet(ARCHS["full"])
    kinds = {type(m).__name__ for m in net.modules()}
    assert "ConvTranspose2d" not in kinds and "BatchNorm2d" not in kinds
    assert {"ReflectionPad2d", "StatsInstanceNorm"} <= kinds  # instance norm with the statistics hook point
    norms = [m for m in net.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and all(type(m).__name__ == "StatsInstanceNorm" and m.affine for m in norms)


def test_arch_dict_round_trip_and_sizes():
    for a in ARCHS.values():
        assert GeneratorArch.from_dict(a.to_dict()) == a
    n_full = sum(p.numel() for p in TransformNet(ARCHS["full"]).parameters())
    n_compact = sum(p.numel() for p in TransformNet(ARCHS["compact"]).parameters())
    assert n_compact < n_full / 5


def test_input_is_checked():
    with pytest.raises(ConventionError, match=r"\(N, 3, H, W\)"):
        TransformNet(ARCHS["compact"])(torch.rand(1, 4, 16, 16))


def test_unknown_style_lists_available():
    s = GeneratorStylizer(library=CATALOG)
    with pytest.raises(UsageError, match="no trained generator for style 'nope'.*available"):
        s.set_style("nope")


from artem_vr.style.presets import list_presets  # noqa: E402
from artem_vr.style.catalog import CATALOG  # noqa: E402

SHIPPED = sorted(MODELS_DIR.glob("*.safetensors"))
_PRESETS = {pr.name for pr in list_presets()}
# <preset>_<arch>.safetensors (not <preset>_xnor_<arch>, not adain_<variant>)
GENERATORS = [p for p in SHIPPED if p.stem.rsplit("_", 1)[-1] in ("compact", "full") and p.stem.rsplit("_", 1)[0] in _PRESETS]


def test_every_shipped_generator_has_a_card():
    for p in GENERATORS:
        card = p.with_suffix(".md")
        assert card.is_file(), f"{p.name} has no model card"
        text = card.read_text()
        for needed in ("## Architecture", "## Data", "iterations", "wall time", "final losses"):
            assert needed in text, f"{card.name} lacks {needed!r}"
        # a resumed run names the command of its last sitting (and lists every sitting's)
        assert re.search(r"command( \(last sitting\))?: `artem-vr train generator ", text), f"{card.name} lacks its command"


@pytest.mark.parametrize("path", GENERATORS, ids=[p.stem for p in GENERATORS])
def test_shipped_generator_stylizes_a_photo_toward_its_painting(path, thumbnails):
    """Load through the stylizer (the path the app uses) and check that the output of a real
    image moves toward the painting: mean/std VGG style loss falls by at least a third."""
    from artem_vr.style.losses import mean_std_style_loss
    from artem_vr.style.vgg import VGGFeatures

    name, arch = path.stem.rsplit("_", 1)
    s = GeneratorStylizer(arch=arch, library=CATALOG)
    assert name in s.styles()
    s.set_style(name)
    other = "the_scream" if name != "the_scream" else "great_wave"
    x = rgb8_to_chw(resize_long(load_rgb(thumbnails[other]), 128))[None]
    y = s.stylize(x)
    assert y.shape == x.shape and float((y - x).abs().mean()) > 0.02
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    vgg = VGGFeatures(layers)
    style = rgb8_to_chw(load_rgb(thumbnails[name]))[None]
    with torch.no_grad():
        ts = vgg(style)
        before = float(mean_std_style_loss(vgg(x), ts, layers))
        after = float(mean_std_style_loss(vgg(y), ts, layers))
    print(f"{path.name}: style loss {before:.4g} -> {after:.4g} ({100 * (1 - after / before):.0f}% lower)")
    assert after < 0.67 * before
    # switching back is instant (cached network object)
    net = s._net
    s.set_style(name)
    assert s._net is net
