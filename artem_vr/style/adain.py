"""Arbitrary style transfer with adaptive instance normalization (Huang & Belongie, 2017).

Pieces, from the inside out:

* pure maths — :mod:`artem_vr.style.adain_maths` (:func:`calc_mean_std`, :func:`adain`,
  :func:`mix_stats`, :func:`keep_content_chroma`, :func:`match_color`);
* networks without I/O — :mod:`artem_vr.style.adain_net` (:func:`make_decoder`,
  :class:`AdaINModel`: frozen VGG19 encoder to ``relu4_1`` ("full") or ``relu3_1`` ("fast") + a
  mirrored decoder with nearest upsampling and reflection padding);
* here: :class:`AdaINStylizer` — the ``adain`` method of the pipeline: any image file or preset
  as the style, strength α applied in feature space, blends of several styles, colour
  preservation, style statistics computed once per style.

Images are float ``(N, 3, H, W)``, RGB, 0–1 (:mod:`artem_vr.frames`); features are float
``(N, C, h, w)``; statistics are pairs of ``(N, C, 1, 1)`` tensors (mean, std).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from artem_vr.errors import ImageError, UsageError, WeightsError
from artem_vr.frames import check_image, to_tensor
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS
from artem_vr.paths import MODELS_DIR
from artem_vr.sources.imageio import read_image
from artem_vr.style.adain_fused import FusedAdaIN
from artem_vr.style.adain_maths import (
    Stats, calc_mean_std, adain, mix_stats, check_weights, feature_stats, style_loss, content_loss,
    rgb_to_ycbcr, ycbcr_to_rgb, keep_content_chroma, match_color, resize_shorter,
)
from artem_vr.style.adain_net import (
    STYLE_LOSS_LAYERS, FEATURE_SCALE, normalized_layer_weights, Scale, make_decoder, AdaINModel, pad_to_multiple,
)
from artem_vr.style.adain_variants import VARIANTS, Variant, variant
from artem_vr.style.base import Stylizer
from artem_vr.style.engine import EngineConfig, auto_engine
from artem_vr.style.presets import parse_style_spec
from artem_vr.style.weights import load_safetensors, read_header

#: the AdaIN API in one place: the stylizer here, the maths and the network re-exported
__all__ = [
    "Stats", "calc_mean_std", "adain", "mix_stats", "check_weights", "feature_stats", "style_loss",
    "content_loss", "rgb_to_ycbcr", "ycbcr_to_rgb", "keep_content_chroma", "match_color", "resize_shorter", "VARIANTS",
    "Variant", "STYLE_LOSS_LAYERS", "FEATURE_SCALE", "normalized_layer_weights", "variant", "Scale",
    "make_decoder", "AdaINModel", "pad_to_multiple", "read_style_image", "resize_shorter", "default_weights",
    "parse_style_spec", "auto_variant", "EagerAdaIN", "make_adain_engine", "AdaINStylizer",
]


# --------------------------------------------------------------------------- stylizer


def read_style_image(path: str | os.PathLike, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> torch.Tensor:
    """Read an image file → float ``(1, 3, H, W)`` RGB 0–1. Unreadable, or over ``max_megapixels``
    (the command's ``--max-megapixels``, checked from its header) → ImageError."""
    p = Path(path)
    if not p.is_file():
        raise ImageError(f"style image {str(p)!r} not found", "give a preset name (artem-vr styles) or an existing image file")
    return to_tensor(read_image(p, max_megapixels=max_megapixels))  # the project's one image reader


def default_weights(variant_name: str):
    return MODELS_DIR / f"adain_{variant_name}.safetensors"


def auto_variant() -> str:
    """The decoder ``variant="auto"`` loads: the fast (relu3_1) one when it is shipped — the
    better scoring of the two shipped decoders (docs/quality.md: 68 % vs 60 % on held-out
    paintings; the full one had 80 CPU-minutes of training) and several times cheaper — else the
    full (relu4_1) one; "fast" when neither is, so the error names the usual model."""
    for v in ("fast", "full"):
        if default_weights(v).is_file():
            return v
    return "fast"


class EagerAdaIN:
    """The plain path: ``model(x, stats, alpha)`` eagerly, fp16 autocast on CUDA, fp32 on the CPU.
    Same interface as :class:`~artem_vr.style.adain_fused.FusedAdaIN`."""

    kind = "eager"
    config = None

    def __init__(self, model: AdaINModel, device: str | torch.device = "cpu"):
        self.model = model
        self.device = torch.device(device)

    @property
    def live(self) -> AdaINModel:
        """The module that runs (what the per-layer profile hooks)."""
        return self.model

    def __call__(self, x: torch.Tensor, stats: Stats, alpha: float = 1.0) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.float16, enabled=x.is_cuda):
            return self.model(x, stats, alpha)

    def describe(self) -> str:
        return "cuda, fp16 autocast, eager torch" if self.device.type == "cuda" else f"{self.device.type}, fp32, eager torch"


def make_adain_engine(kind, model: AdaINModel, device: str | torch.device = "cpu"):
    """The engine that runs ``model``: ``fused`` (or an ``EngineConfig(fused=True)``) →
    :class:`~artem_vr.style.adain_fused.FusedAdaIN`; ``auto`` → what
    :func:`~artem_vr.style.engine.auto_engine` picks for AdaIN (fused on CUDA where it compiles,
    else eager); every other kind (``eager``, ``fast``, ``ort``, None — the generators' engines) →
    :class:`EagerAdaIN`, AdaIN's one plain path (its forward also takes the style statistics: no
    ONNX export, no CUDA graph)."""
    if isinstance(kind, EngineConfig):
        return FusedAdaIN(model, device, kind) if kind.fused else EagerAdaIN(model, device)
    if kind == "auto":
        kind = auto_engine(device, "adain")
    if kind == "fused":
        return FusedAdaIN(model, device)
    return EagerAdaIN(model, device)


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
    ``engine``: ``fused`` (or an ``EngineConfig(fused=True)``): encoder and decoder as compiled
    fused stages (:mod:`artem_vr.style.adain_fused`); anything else: the eager path
    (:func:`make_adain_engine`).
    ``max_megapixels``: the decode limit of the style images (the command's ``--max-megapixels``);
    a larger one is refused from its header (ImageError) and the previous style stays.
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
        engine=None,
        max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
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
        self.engine = make_adain_engine(engine, self.model, self.device)
        self.weights_path = path
        self.preserve_color = preserve_color
        self.style_size = style_size
        self.max_megapixels = max_megapixels
        self._cache: dict[tuple, Stats] = {}
        self._sources: list[tuple[str, float]] = []
        self._stats: Stats | None = None

    @property
    def _stats(self) -> Stats | None:
        return self._style_stats

    @_stats.setter
    def _stats(self, stats: Stats | None) -> None:
        # every new set of style statistics is new tensors: a frame graph that read the old ones is not reused
        self._style_stats = stats
        self._stats_generation = getattr(self, "_stats_generation", 0) + 1

    # -- replay as one CUDA graph ---------------------------------------------
    def graph_key(self, x: torch.Tensor) -> tuple | None:
        """The fused engine only (the eager path's autocast caches casts, which a capture must not),
        with the style's statistics in hand (``match`` takes them from a frame first) and their
        generation: a new style is another graph."""
        token = getattr(self.engine, "graph_token", None)
        if token is None or self._stats is None or not self._sources:
            return None
        return ("adain", token(), self._stats_generation, self.preserve_color) + self._graph_common()

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
            img = resize_shorter(read_style_image(path, self.max_megapixels), self.style_size).to(self.device)
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
        y = self.engine(xp, self._stats, alpha)
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
