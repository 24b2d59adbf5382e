"""AdaIN maths, pure functions (Huang & Belongie, 2017): statistics, the transfer itself, blends,
losses and colour handling. No networks and no I/O (:mod:`artem_vr.style.adain_net`,
:mod:`artem_vr.style.adain`).

Images are float ``(N, 3, H, W)``, RGB, 0–1 (:mod:`artem_vr.frames`); features are float
``(N, C, h, w)``; statistics are pairs of ``(N, C, 1, 1)`` tensors (mean, std).
"""

from __future__ import annotations

import functools

import math

import torch
import torch.nn.functional as F

from artem_vr.errors import UsageError
from artem_vr.style.norm import filter_stats

Stats = tuple[torch.Tensor, torch.Tensor]


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
        mean, var = filter_stats(key, mean, var, content_feat)
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
    if not weights or not all(0 <= w < math.inf for w in weights) or not 0 < sum(weights) < math.inf:  # NaN fails each
        raise UsageError(f"style weights must be >= 0 with a positive, finite sum, got {list(weights)}", "e.g. a.jpg:0.7+b.jpg:0.3")


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


@functools.lru_cache(maxsize=16)
def ycc_matrices(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(RGB → YCbCr, YCbCr → RGB) on ``device`` in ``dtype``, made once per device and dtype: a
    copy to a GPU waits for the device, and the colour-preserving stylizers convert every frame.
    (The copy is complete when it returns, so any stream may read the cached matrices.)"""
    return _RGB2YCC.to(device, dtype), torch.linalg.inv(_RGB2YCC.double()).to(device, dtype)


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB 0–1 → YCbCr with Y in 0–1 and Cb, Cr centred on 0."""
    return torch.einsum("ij,njhw->nihw", ycc_matrices(x.device, x.dtype)[0], x)


def ycbcr_to_rgb(y: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", ycc_matrices(y.device, y.dtype)[1], y)


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
