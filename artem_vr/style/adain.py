"""Arbitrary style transfer with adaptive instance normalization (Huang & Belongie, 2017).

Pieces, from the inside out:

* pure maths — :func:`calc_mean_std`, :func:`adain`, :func:`mix_stats`,
  :func:`keep_content_chroma`, :func:`match_color`;
* networks without I/O — :func:`make_decoder`, :class:`AdaINModel` (frozen VGG19 encoder to
  ``relu4_1`` ("full") or ``relu3_1`` ("fast") + a mirrored decoder with nearest upsampling and
  reflection padding);
* :class:`AdaINStylizer` — the ``adain`` method of the pipeline: any image file or preset
  as the style, strength α applied in feature space, blends of several styles, colour
  preservation, style statistics computed once per style.

Images are float ``(N, 3, H, W)``, RGB, 0–1 (:mod:`artem_vr.frames`); features are float
``(N, C, h, w)``; statistics are pairs of ``(N, C, 1, 1)`` tensors (mean, std).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from artem_vr.errors import ImageError, UsageError, WeightsError
from artem_vr.frames import check_image, to_tensor
from artem_vr.paths import MODELS_DIR
from artem_vr.sources.imageio import read_image
from artem_vr.style.base import Stylizer
from artem_vr.style.norm import FiltersStats, filter_stats
from artem_vr.style.vgg import VGGFeatures
from artem_vr.style.weights import load_safetensors, read_header

Stats = tuple[torch.Tensor, torch.Tensor]

# --------------------------------------------------------------------------- pure maths


def _mean_var(feat: torch.Tensor, who: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``feat`` in float32, and its per-channel mean and population variance, each ``(N, C)``."""
    if feat.ndim != 4:
        raise ValueError(f"{who} expects (N, C, H, W), got shape {tuple(feat.shape)}")
    n, c = feat.shape[:2]
    xf = feat.float()
    flat = xf.reshape(n, c, -1)
    return xf, flat.mean(dim=2), flat.var(dim=2, unbiased=False)


def calc_mean_std(feat: torch.Tensor, eps: float = 1e-5) -> Stats:
    """Per-channel mean and std of ``feat`` ``(N, C, H, W)`` over H, W.

    Returns ``(mean, std)``, each ``(N, C, 1, 1)``, in float32 (also for half inputs: the
    variance of large ReLU maps overflows fp16). ``std = sqrt(var + eps)``, population variance.
    """
    _, mean, var = _mean_var(feat, "calc_mean_std")
    return mean[..., None, None], (var + eps).sqrt()[..., None, None]


def adain(content_feat: torch.Tensor, style_stats: Stats, eps: float = 1e-5, key=None) -> torch.Tensor:
    """Adaptive instance normalization: give ``content_feat`` ``(N, C, H, W)`` the channel
    statistics ``style_stats = (mean, std)``, each ``(N or 1, C, 1, 1)``.

    ``key`` (the calling model): the content statistics go through
    :func:`artem_vr.style.norm.filter_stats` under that key — the hook point of the temporal and
    stereo statistics filters (unchanged when none is set). None: never filtered.

    Output: same shape and dtype as ``content_feat``.
    """
    s_mean, s_std = style_stats
    if content_feat.ndim != 4:
        raise ValueError(f"adain: content features must be (N, C, H, W), got {tuple(content_feat.shape)}")
    n, c = content_feat.shape[:2]
    for name, t in (("mean", s_mean), ("std", s_std)):
        if t.ndim != 4 or t.shape[1] != c or t.shape[2:] != (1, 1) or t.shape[0] not in (1, n):
            raise ValueError(
                f"adain: style {name} must be ({n} or 1, {c}, 1, 1) for content {tuple(content_feat.shape)}, "
                f"got {tuple(t.shape)}"
            )
    xf, mean, var = _mean_var(content_feat, "adain")
    if key is not None:
        mean, var = filter_stats(key, mean, var)
    out = (xf - mean[..., None, None]) / (var + eps).sqrt()[..., None, None] * s_std + s_mean
    return out.to(content_feat.dtype)


def mix_stats(stats: list[Stats], weights: list[float]) -> Stats:
    """Weighted blend of several styles' statistics (weights are normalized to sum 1).

    Because :func:`adain` is linear in (mean, std), ``adain(f, mix_stats(S, w)) ==
    sum_i w_i * adain(f, S_i)`` — the interpolation of the AdaIN paper.
    """
    if not stats or len(stats) != len(weights):
        raise UsageError(f"need one weight per style, got {len(stats)} styles and {len(weights)} weights")
    check_weights(weights)
    total = float(sum(weights))
    mean = sum(m * (w / total) for (m, _), w in zip(stats, weights))
    std = sum(s * (w / total) for (_, s), w in zip(stats, weights))
    return mean, std


def check_weights(weights: list[float]) -> None:
    if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise UsageError(f"style weights must be >= 0 with a positive sum, got {list(weights)}", "e.g. a.jpg:0.7+b.jpg:0.3")


def feature_stats(feats: dict[str, torch.Tensor], layers=None) -> dict[str, Stats]:
    """``{layer: (mean, std)}`` of named VGG features (see :func:`calc_mean_std`)."""
    return {k: calc_mean_std(feats[k]) for k in (layers or feats.keys())}


def style_loss(feats: dict[str, torch.Tensor], target: dict[str, Stats], layers=None, layer_weights=None) -> torch.Tensor:
    """AdaIN-paper style loss: Σ over ``layers`` (default: all of ``target``) of
    w_l · [MSE(μ(f), μ_t) + MSE(σ(f), σ_t)], w_l = ``layer_weights[l]`` (default 1).
    Targets are ``(N or 1, C, 1, 1)``; returns a float32 scalar."""
    total = None
    for k in layers or target.keys():
        m, s = calc_mean_std(feats[k])
        tm, ts = target[k]
        term = F.mse_loss(m, tm.float().expand_as(m)) + F.mse_loss(s, ts.float().expand_as(s))
        if layer_weights is not None:
            term = term * layer_weights[k]
        total = term if total is None else total + term
    if total is None:
        raise ValueError("style_loss: no layers given")
    return total


def content_loss(feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between features ``(N, C, h, w)`` (float32 scalar)."""
    if feat.shape != target.shape:
        raise ValueError(f"content_loss: shapes differ {tuple(feat.shape)} vs {tuple(target.shape)}")
    return F.mse_loss(feat.float(), target.float())


# BT.601 full-range YCbCr (the JPEG one); rows: Y, Cb, Cr.
_RGB2YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB 0–1 → YCbCr with Y in 0–1 and Cb, Cr centred on 0."""
    m = _RGB2YCC.to(x.device, x.dtype)
    return torch.einsum("ij,njhw->nihw", m, x)


def ycbcr_to_rgb(y: torch.Tensor) -> torch.Tensor:
    m = torch.linalg.inv(_RGB2YCC.double()).to(y.device, y.dtype)
    return torch.einsum("ij,njhw->nihw", m, y)


def keep_content_chroma(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance-only transfer: the stylized image's luma (Y) with the content's chroma
    (Cb, Cr). Both ``(N, 3, H, W)`` RGB 0–1 of one shape; returns RGB clamped to 0–1."""
    if stylized.shape != content.shape:
        raise ValueError(f"keep_content_chroma: shapes differ {tuple(stylized.shape)} vs {tuple(content.shape)}")
    ys, yc = rgb_to_ycbcr(stylized), rgb_to_ycbcr(content.to(stylized.dtype))
    return ycbcr_to_rgb(torch.cat([ys[:, :1], yc[:, 1:]], dim=1)).clamp(0, 1)


def match_color(source: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Colour matching (Gatys et al. 2017): an affine map of ``source`` ``(1, 3, H, W)``
    whose per-image RGB mean and covariance equal ``target``'s ``(1, 3, H', W')``.
    Used to recolour a style image with the content's palette before taking its statistics.
    """
    def mean_cov(x):
        f = x.double().reshape(3, -1)
        mu = f.mean(1, keepdim=True)
        d = f - mu
        return mu, d @ d.T / max(d.shape[1] - 1, 1) + eps * torch.eye(3, dtype=torch.float64, device=x.device)

    for name, t in (("source", source), ("target", target)):
        if t.ndim != 4 or t.shape[:2] != (1, 3):
            raise ValueError(f"match_color: {name} must be (1, 3, H, W), got {tuple(t.shape)}")
    mu_s, cov_s = mean_cov(source)
    mu_t, cov_t = mean_cov(target)
    ls, lt = torch.linalg.cholesky(cov_s), torch.linalg.cholesky(cov_t)
    a = lt @ torch.linalg.inv(ls)
    f = source.double().reshape(3, -1)
    out = a @ (f - mu_s) + mu_t
    return out.reshape(source.shape).to(source.dtype).clamp(0, 1)


# --------------------------------------------------------------------------- networks


@dataclass(frozen=True)
class Variant:
    name: str
    layer: str  # encoder output layer
    decoder: tuple  # ints: conv 3x3 + ReLU to that many channels; "U": nearest x2 upsample
    downsample: int  # total stride of the encoder
    in_scale: float  # fixed factor on the decoder input: Caffe-VGG features are O(100s)

    @property
    def arch(self) -> dict:
        """What the weights file records (and what loading checks)."""
        return {"kind": "adain-decoder", "variant": self.name, "layer": self.layer, "decoder": list(self.decoder), "in_scale": self.in_scale}

    @property
    def channels(self) -> int:
        return {"relu3_1": 256, "relu4_1": 512}[self.layer]


# in_scale ≈ 1 / (std of the layer's features on photos): the unnormalized Caffe VGG19 on 0–255
# input gives relu3_1 std ≈ 250 and relu4_1 std ≈ 800; a decoder fed O(100) inputs starts with
# enormous outputs, and training kills its ReLUs before it learns to reconstruct.
VARIANTS: dict[str, Variant] = {
    # The paper's decoder: VGG19 relu4_1 → conv1_1 mirrored.
    "full": Variant("full", "relu4_1", (256, "U", 256, 256, 256, 128, "U", 128, 64, "U", 64), 8, 1 / 800),
    # Faster: encoder stops at relu3_1 (about half the encoder FLOPs), a thinner decoder.
    "fast": Variant("fast", "relu3_1", (128, "U", 128, 64, "U", 32), 4, 1 / 256),
}

#: layers whose mean/std define the style (loss and evaluation)
STYLE_LOSS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")

#: typical std of the Caffe-VGG19 features of photos (0–255 input), per layer. Training divides
#: each layer's loss by its square, so every layer counts about equally (the paper's
#: "normalized" VGG has O(1) features everywhere); unnormalized, relu4_1 outweighs relu1_1 ~500×.
FEATURE_SCALE = {"relu1_1": 35.0, "relu2_1": 170.0, "relu3_1": 250.0, "relu4_1": 800.0}


def normalized_layer_weights(layers=STYLE_LOSS_LAYERS) -> dict[str, float]:
    return {k: 1.0 / FEATURE_SCALE[k] ** 2 for k in layers}


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise UsageError(f"unknown AdaIN variant {name!r}", f"choose one of: {', '.join(VARIANTS)}")
    return VARIANTS[name]


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


# --------------------------------------------------------------------------- stylizer


def read_style_image(path: str | os.PathLike) -> torch.Tensor:
    """Read an image file → float ``(1, 3, H, W)`` RGB 0–1. Unreadable → ImageError."""
    p = Path(path)
    if not p.is_file():
        raise ImageError(f"style image {str(p)!r} not found", "give a preset name (artem-vr styles) or an existing image file")
    return to_tensor(read_image(p))  # the project's one image reader


def resize_shorter(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize ``(N, 3, H, W)`` so its shorter side is ``size`` (None: unchanged)."""
    if not size:
        return x
    h, w = x.shape[-2:]
    s = size / min(h, w)
    hw = (max(1, round(h * s)), max(1, round(w * s)))
    if hw == (h, w):
        return x
    return F.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=s < 1).clamp(0, 1)


def default_weights(variant_name: str):
    return MODELS_DIR / f"adain_{variant_name}.safetensors"


def parse_style_spec(spec: str) -> list[tuple[str, float]]:
    """``"a.jpg"`` → ``[("a.jpg", 1)]``; ``"a.jpg+b.jpg"`` → equal weights;
    ``"a.jpg:0.7+starry_night:0.3"`` → those weights. An existing file whose name contains
    ``+`` is taken whole."""
    if os.path.exists(spec) or "+" not in spec:
        parts = [spec]
    else:
        parts = [p for p in spec.split("+") if p]
    out = []
    for p in parts:
        name, sep, w = p.rpartition(":")
        if sep and name and not os.path.exists(p):
            try:
                out.append((name, float(w)))
                continue
            except ValueError:
                pass
        out.append((p, 1.0))
    return out


def auto_variant() -> str:
    """The decoder ``variant="auto"`` loads: the fast (relu3_1) one when it is shipped — the
    better scoring of the two shipped decoders (docs/quality.md: 68 % vs 60 % on held-out
    paintings; the full one had 80 CPU-minutes of training) and several times cheaper — else the
    full (relu4_1) one; "fast" when neither is, so the error names the usual model."""
    for v in ("fast", "full"):
        if default_weights(v).is_file():
            return v
    return "fast"


class AdaINStylizer(Stylizer):
    """The ``adain`` method: any painting as the style, no per-style training.

    ``variant``: "full", "fast" or "auto" (see :func:`auto_variant`: the fast relu3_1 model when
    shipped, else the paper's relu4_1 one).
    ``weights``: a decoder safetensors file (default ``assets/models/adain_<variant>.safetensors``);
    its header names its variant (``variant`` must be "auto" or match).
    ``preserve_color``: "none"; "luminance" (output luma + content chroma); "match" (the style
    image is recoloured to the content's colour mean/covariance before its statistics are
    taken — done on the first frame after each style change or :meth:`reset_temporal`).
    ``style_size``: the style image is resized to this shorter side before its statistics are
    taken (the stroke scale). ``strength`` α interpolates content and style *features*
    (1 = full style, 0 = the input unchanged).
    """

    method = "adain"

    def __init__(
        self,
        device: str | torch.device = "cpu",
        variant: str = "auto",
        weights: str | os.PathLike | None = None,
        preserve_color: str = "none",
        style_size: int | None = 256,
        vgg_weights: str = "imagenet",
        library=None,
    ):
        super().__init__(device, library)
        if preserve_color not in ("none", "luminance", "match"):
            raise UsageError(f"unknown colour preservation {preserve_color!r}", "use none, luminance or match")
        if variant not in ("auto", *VARIANTS):
            raise UsageError(f"unknown AdaIN variant {variant!r}", f"choose one of: auto, {', '.join(VARIANTS)}")
        if variant == "auto" and weights is None:
            variant = auto_variant()
        path = Path(weights) if weights is not None else default_weights(variant)
        if not path.is_file():
            raise WeightsError(
                f"AdaIN decoder weights {str(path)!r} not found",
                f"train them: artem-vr train adain --content DIR --styles DIR --variant {variant} --out my_adain_{variant}",
            )
        if weights is not None:  # a decoder file says which variant it is
            file_variant = read_header(path)[0].get("variant", "fast")
            if variant not in ("auto", file_variant):
                raise WeightsError(f"{path} is for another architecture: a {file_variant} AdaIN decoder, not {variant}",
                                   f"drop --adain-variant, or use --adain-variant {file_variant}")
            variant = file_variant
        self.model = AdaINModel(variant, vgg_weights=vgg_weights)
        load_safetensors(path, self.model.decoder, expect_arch=self.model.variant.arch)
        self.model.to(self.device).eval()
        self.weights_path = path
        self.preserve_color = preserve_color
        self.style_size = style_size
        self._cache: dict[tuple, Stats] = {}
        self._sources: list[tuple[str, float]] = []
        self._stats: Stats | None = None

    # -- styles ---------------------------------------------------------------
    def styles(self) -> list[str]:
        """Styles with a painting in the library: presets (thumbnails), then user styles (theirs)."""
        return self.library.image_names()

    def set_style(self, style: str) -> None:
        """A preset name, an image path, or a blend ``"a.jpg+b.jpg"`` / ``"a.jpg:0.7+b:0.3"``."""
        self.set_styles(parse_style_spec(style), label=style)

    def set_styles(self, styles: list[tuple[str, float]], label: str | None = None) -> None:
        """Blend several styles: ``[(preset name or image path, weight), ...]``."""
        if not styles:
            raise UsageError("no style given", "give a preset name or an image file")
        resolved = [(self._resolve(s), float(w)) for s, w in styles]
        check_weights([w for _, w in resolved])
        # compute before assigning: a bad file leaves the previous style in place
        stats = self._compute_stats(resolved, None) if self.preserve_color != "match" else None
        self._sources, self._stats = resolved, stats
        self.style = label or "+".join(f"{s}:{w:g}" for s, w in styles)
        self.reset_temporal()

    def _resolve(self, style: str) -> str:
        """Preset name → its style image; an image path → itself (read later: a bad file
        raises ImageError); anything else → UsageError listing the presets."""
        if os.path.isfile(style):
            return str(Path(style).resolve())
        image = self.library.image(style)
        if image is not None:
            return str(image.resolve())
        names = self.styles()
        if any(sep in style for sep in ("/", os.sep)) or Path(style).suffix:
            raise ImageError(f"style image {style!r} not found", "give an existing image file or a preset name (artem-vr styles)")
        raise UsageError(f"unknown style {style!r}", "give an image file or one of: " + ", ".join(names or ["(no presets installed)"]))

    def _compute_stats(self, sources: list[tuple[str, float]], content: torch.Tensor | None) -> Stats:
        """Blended statistics of ``sources``; cached per file unless recoloured to ``content``."""
        stats = []
        for path, _w in sources:
            key = (path, os.path.getmtime(path), self.style_size)
            if content is None and key in self._cache:
                stats.append(self._cache[key])
                continue
            img = resize_shorter(read_style_image(path), self.style_size).to(self.device)
            if content is not None:
                img = match_color(img, content[:1].float())
            with torch.inference_mode():
                s = self.model.style_stats(pad_to_multiple(img, self.model.variant.downsample)[0])
            if content is None:
                self._cache[key] = s
            stats.append(s)
        return mix_stats(stats, [w for _, w in sources])

    def reset_temporal(self) -> None:
        if self.preserve_color == "match":
            self._stats = None

    # -- frames ---------------------------------------------------------------
    def _forward(self, x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        if not self._sources:
            raise UsageError("no style selected", "call set_style() first")
        if self._stats is None:  # "match": statistics from the first frame of this style
            self._stats = self._compute_stats(self._sources, x)
        xp, (h, w) = pad_to_multiple(x.float(), self.model.variant.downsample)
        with torch.autocast("cuda", dtype=torch.float16, enabled=x.is_cuda):
            y = self.model(xp, self._stats, alpha)
        y = y[..., :h, :w].float().clamp(0, 1)
        if self.preserve_color == "luminance":
            y = keep_content_chroma(y, x.float())
        return y

    @torch.inference_mode()
    def stylize(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` RGB 0–1, any H, W → same shape; α in feature space."""
        check_image(x, "adain stylizer input")
        x = x.to(self.device)
        if self.strength <= 0.0:
            return x
        y = self._forward_scaled(x, alpha=min(float(self.strength), 1.0))  # honours internal_scale
        if y.shape[-2:] != x.shape[-2:]:
            y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        y = y.clamp(0, 1).to(x.dtype)
        return check_image(y, "adain stylizer output")
