"""AdaIN networks without I/O: the mirrored decoder of a variant (the variants as data:
:mod:`~artem_vr.style.adain_variants`) and :class:`AdaINModel` (a frozen VGG19 encoder to
``relu4_1`` ("full") or ``relu3_1`` ("fast") + the decoder, nearest upsampling and reflection
padding). Weights are loaded by the caller (:mod:`artem_vr.style.adain`).

Images are float ``(N, 3, H, W)``, RGB, 0–1; features float ``(N, C, h, w)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from artem_vr.style.adain_maths import Stats, adain, calc_mean_std
from artem_vr.style.adain_variants import Variant, variant
from artem_vr.style.norm import FiltersStats
from artem_vr.style.vgg import VGGFeatures


#: layers whose mean/std define the style (loss and evaluation)
STYLE_LOSS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")

#: typical std of the Caffe-VGG19 features of photos (0–255 input), per layer. Training divides
#: each layer's loss by its square, so every layer counts about equally (the paper's
#: "normalized" VGG has O(1) features everywhere); unnormalized, relu4_1 outweighs relu1_1 ~500×.
FEATURE_SCALE = {"relu1_1": 35.0, "relu2_1": 170.0, "relu3_1": 250.0, "relu4_1": 800.0}


def normalized_layer_weights(layers=STYLE_LOSS_LAYERS) -> dict[str, float]:
    return {k: 1.0 / FEATURE_SCALE[k] ** 2 for k in layers}


class Scale(nn.Module):
    """Multiply by a fixed factor (no parameters: the factor lives in the ``arch`` metadata)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = float(factor)

    def forward(self, x):
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:g}"


def make_decoder(v: Variant) -> nn.Sequential:
    """Decoder for variant ``v``: ``(N, C, h, w)`` features → ``(N, 3, h*s, w*s)`` RGB
    (roughly 0–1, unclamped). The input is first scaled by ``v.in_scale``. Every conv is 3×3 after a reflection pad; upsampling is nearest
    (no checkerboard); no normalization layers (they would wash out the style statistics)."""
    layers: list[nn.Module] = [Scale(v.in_scale)]
    ch = v.channels
    for item in v.decoder:
        if item == "U":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(ch, int(item), 3), nn.ReLU()]
            ch = int(item)
    layers += [nn.ReflectionPad2d(1), nn.Conv2d(ch, 3, 3)]
    return nn.Sequential(*layers)


class AdaINModel(FiltersStats, nn.Module):
    """Frozen VGG19 encoder (to ``variant.layer``) + trainable decoder. No I/O.

    ``encode(x)``: RGB 0–1 ``(N, 3, H, W)`` → ``(N, C, H/s, W/s)``;
    ``forward(content, style_stats, alpha)``: → decoded ``(N, 3, H, W)`` (unclamped), with
    ``H, W`` multiples of ``variant.downsample``. The AdaIN step filters the content statistics
    under this model as the key (:mod:`artem_vr.style.norm`: the comfort wrappers' hook point).
    """

    def __init__(self, variant_name: str = "fast", vgg_weights: str = "imagenet"):
        super().__init__()
        self.variant = variant(variant_name)
        self.encoder = VGGFeatures((self.variant.layer,), weights=vgg_weights)
        self.decoder = make_decoder(self.variant)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[self.variant.layer]

    def style_stats(self, style: torch.Tensor) -> Stats:
        """Statistics ``(mean, std)``, each ``(N, C, 1, 1)`` float32, of a style image batch."""
        return calc_mean_std(self.encode(style))

    def forward(self, content: torch.Tensor, style_stats: Stats, alpha: float = 1.0) -> torch.Tensor:
        s = self.variant.downsample
        if content.shape[-1] % s or content.shape[-2] % s:
            raise ValueError(f"AdaINModel: H and W must be multiples of {s}, got {tuple(content.shape)}")
        f = self.encode(content)
        t = adain(f, style_stats, key=self)
        if alpha < 1.0:
            t = torch.lerp(f, t, float(alpha))
        return self.decoder(t)


def pad_to_multiple(x: torch.Tensor, m: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``(N, C, H, W)`` on the bottom/right to multiples of ``m`` (reflect where the image
    is large enough, else replicate). Returns the padded tensor and the original ``(H, W)``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)
