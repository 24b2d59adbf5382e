"""Test material for the comfort tests: textured images, real video files, real small networks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from artem_vr.style.base import Stylizer


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like RGB uint8 (h, w, 3): smooth colour fields, edges, fine grain."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for octave in (4, 8, 16, 32):
        small = rng.random((max(2, h // octave), max(2, w // octave), 3)).astype(np.float32)
        img += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) / 4
    for _ in range(8):  # some hard-edged shapes, as real scenes have
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(h // 12, h // 5))
        layer = img.copy()
        cv2.circle(layer, (x, y), r, tuple(v / 255 for v in c), -1, lineType=cv2.LINE_AA)
        img = 0.5 * img + 0.5 * layer
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def write_video(path: Path, frames: list[np.ndarray], fps: float = 15.0) -> Path:
    """Write RGB uint8 frames with a real codec (MJPG in AVI) and return the path."""
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert vw.isOpened(), "OpenCV cannot write MJPG/AVI here"
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()
    return path


def pan(image: np.ndarray, n: int, size: tuple[int, int], step: tuple[float, float] = (1.7, 0.6),
        seed: int = 0, shake: float = 0.0) -> list[np.ndarray]:
    """A camera pan over ``image``: ``n`` crops of ``size`` (w, h) moving by ``step`` px (sub-pixel)."""
    w, h = size
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        dx = 4 + i * step[0] + rng.normal(0, shake)
        dy = 4 + i * step[1] + rng.normal(0, shake)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        out.append(cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REFLECT))
    return out


class NetStylizer(Stylizer):
    """A real Johnson transform network (instance norm) per 'style', with seeded random weights.

    Random weights are enough here: what flickers (per-frame instance-norm statistics, the
    net's sensitivity to small input changes) is the architecture, not the training.
    """

    method = "testnet"

    def __init__(self, device="cpu", seeds=(0, 1)):
        super().__init__(device)
        from artem_vr.style.generator import ARCHS, TransformNet

        self.nets = {}
        for s in seeds:
            torch.manual_seed(s)
            net = TransformNet(ARCHS["compact"]).eval().to(self.device)
            for m in net.modules():  # trained nets have far-from-identity IN affines: so do these
                if isinstance(m, torch.nn.InstanceNorm2d):
                    m.weight.data.uniform_(0.5, 2.0)
                    m.bias.data.normal_(0, 0.5)
            self.nets[f"style{s}"] = net
        self.net = None
        self.set_style(f"style{seeds[0]}")

    def styles(self):
        return list(self.nets)

    def set_style(self, style):
        self.net = self.nets[style]
        self.style = style

    def _forward(self, x):
        return self.net(x)


def stylize_all(stylizer, frames: list[np.ndarray]) -> list[np.ndarray]:
    from artem_vr.temporal.metrics import stylize_sequence

    return stylize_sequence(stylizer, frames)[0]


def stylize_never_waiting(stylizer, frames: list, warm: int = 1) -> list:
    """Stylize CUDA ``frames`` in order: the first ``warm`` freely (the allocator's first blocks,
    cuDNN's autotuning, compiling), the others with CUDA's sync debug mode set to *error*, so any
    host wait in them (an ``.item()``, a copy from the host, a synchronize) raises. All outputs."""
    ys = [stylizer.stylize(x) for x in frames[:warm]]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        ys += [stylizer.stylize(x) for x in frames[warm:]]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return ys
