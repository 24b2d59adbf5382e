"""Johnson-style image transform network (Johnson, Alahi & Fei-Fei 2016): the network alone.

Changes from the paper, all standard since: instance norm (Ulyanov 2016) instead of batch norm,
reflection padding, nearest upsampling + conv instead of transposed conv (no checkerboard,
Odena 2016), and a sigmoid output so the result is directly RGB 0–1. The instance norms are
:class:`~artem_vr.style.norm.StatsInstanceNorm` (plain instance norm unless a comfort wrapper
sets a statistics filter).

``TransformNet``: float ``(N, 3, H, W)`` RGB 0–1 → same shape, RGB 0–1. Any H, W (inputs that
are not multiples of 4 are padded by reflection and cropped back). No I/O. The stylizer that
runs it is :class:`artem_vr.style.generator.GeneratorStylizer`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from artem_vr.frames import check_image
from artem_vr.style.generator_arch import ARCHS, GeneratorArch
from artem_vr.style.norm import StatsInstanceNorm


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride))


def _conv_in_relu(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(_conv(cin, cout, k, stride), StatsInstanceNorm(cout, affine=True), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(_conv_in_relu(c, c, 3), _conv(c, c, 3), StatsInstanceNorm(c, affine=True))

    def forward(self, x):
        return x + self.body(x)


class Upsample(nn.Module):
    """Nearest ×2 upsampling then a conv (no transposed conv)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = _conv_in_relu(cin, cout, 3)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class TransformNet(nn.Module):
    def __init__(self, arch: GeneratorArch = ARCHS["full"]):
        super().__init__()
        self.arch = arch
        c1, c2, c3 = arch.channels
        k = arch.edge_kernel
        self.down = nn.Sequential(_conv_in_relu(3, c1, k), _conv_in_relu(c1, c2, 3, 2), _conv_in_relu(c2, c3, 3, 2))
        self.res = nn.Sequential(*[ResidualBlock(c3) for _ in range(arch.res_blocks)])
        self.up = nn.Sequential(Upsample(c3, c2), Upsample(c2, c1), _conv(c1, 3, k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "TransformNet input (RGB 0-1)")
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        y = torch.sigmoid(self.up(self.res(self.down(x))))
        return y[..., :h, :w]


def generator_from_arch(arch: dict) -> TransformNet:
    """Model factory for :func:`artem_vr.style.weights.load_safetensors`."""
    return TransformNet(GeneratorArch.from_dict(arch))
