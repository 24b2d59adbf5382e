"""Helpers shared by the style tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import torch

from artem_vr.style.generator import ARCHS, TransformNet


def trained_like_net(seed: int, arch: str = "compact") -> TransformNet:
    """A generator with random weights and trained-like instance-norm affines: the defaults 1/0
    would hide a stale-weights bug there (and the ONNX exporter would merge the equal tensors)."""
    torch.manual_seed(seed)
    net = TransformNet(ARCHS[arch]).eval()
    for m in net.modules():
        if isinstance(m, torch.nn.InstanceNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.2, 0.2)
    return net


def torch_ref(net, x):
    with torch.inference_mode():
        return net(x)
