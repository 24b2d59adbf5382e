"""Perceptual-loss maths as pure functions (no modules, no state).

Features are ``(N, C, H, W)`` float tensors (VGG ReLU outputs). Losses return scalar
tensors averaged over the batch. Gram/statistics are computed in float32 even under AMP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F


def _check_feat(f: torch.Tensor, where: str) -> torch.Tensor:
    if f.ndim != 4:
        raise ValueError(f"{where}: expected features (N, C, H, W), got shape {tuple(f.shape)}")
    return f


def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix ``(N, C, C)`` of features ``(N, C, H, W)``, normalised by ``C·H·W``."""
    n, c, h, w = _check_feat(f, "gram").shape
    x = f.float().reshape(n, c, h * w)
    return torch.bmm(x, x.transpose(1, 2)) / (c * h * w)


def mean_std(f: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std ``(N, C, 1, 1)`` over the spatial dims of ``(N, C, H, W)``."""
    n, c = _check_feat(f, "mean_std").shape[:2]
    x = f.float().reshape(n, c, -1)
    mean = x.mean(dim=2)
    std = (x.var(dim=2, unbiased=False) + eps).sqrt()
    return mean.view(n, c, 1, 1), std.view(n, c, 1, 1)


def content_loss(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between features of the output and of the content image."""
    return F.mse_loss(f.float(), target.float())


def gram_style_loss(
    feats: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    layers: Sequence[str] | None = None,
) -> torch.Tensor:
    """Sum over ``layers`` of the squared Frobenius distance between Gram matrices (mean per
    element). ``target_grams[name]`` is ``(1, C, C)`` (broadcast over the batch) or ``(N, C, C)``."""
    layers = list(layers or target_grams.keys())
    total = feats[layers[0]].new_zeros((), dtype=torch.float32)
    for name in layers:
        g = gram(feats[name])
        total = total + F.mse_loss(g, target_grams[name].expand_as(g))
    return total


def mean_std_style_loss(
    feats: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], layers: Sequence[str]
) -> torch.Tensor:
    """AdaIN-paper style loss: Σ_layers ‖μ(f)−μ(t)‖² + ‖σ(f)−σ(t)‖² (MSE per element)."""
    total = feats[layers[0]].new_zeros((), dtype=torch.float32)
    for name in layers:
        m1, s1 = mean_std(feats[name])
        m2, s2 = mean_std(target[name])
        total = total + F.mse_loss(m1, m2.expand_as(m1)) + F.mse_loss(s1, s2.expand_as(s1))
    return total


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation of images ``(N, C, H, W)``: mean absolute neighbour difference."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
