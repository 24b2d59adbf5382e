"""Johnson-style image transform network (Johnson, Alahi & Fei-Fei 2016) and its stylizer.

Changes from the paper, all standard since: instance norm (Ulyanov 2016) instead of batch norm,
reflection padding, nearest upsampling + conv instead of transposed conv (no checkerboard,
Odena 2016), and a sigmoid output so the result is directly RGB 0–1. The instance norms are
:class:`~artem_vr.style.norm.StatsInstanceNorm` (plain instance norm unless a comfort wrapper
sets a statistics filter).

``TransformNet``: float ``(N, 3, H, W)`` RGB 0–1 → same shape, RGB 0–1. Any H, W (inputs that
are not multiples of 4 are padded by reflection and cropped back). No I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from artem_vr.errors import UsageError, WeightsError
from artem_vr.frames import check_image
from artem_vr.style.base import Stylizer
from artem_vr.style.engine import EngineConfig, make_engine
from artem_vr.style.norm import StatsInstanceNorm
from artem_vr.style.weights import load_safetensors


@dataclass(frozen=True)
class GeneratorArch:
    """The whole architecture as data (saved in the weights' metadata)."""

    channels: tuple[int, int, int] = (32, 64, 128)
    res_blocks: int = 5
    edge_kernel: int = 9  # kernel of the first and last conv

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return {"type": "transform_net", **d}

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorArch":
        if d.get("type", "transform_net") != "transform_net":
            raise WeightsError(f"architecture type {d.get('type')!r} is not a generator (transform_net)")
        return cls(channels=tuple(int(c) for c in d["channels"]), res_blocks=int(d["res_blocks"]), edge_kernel=int(d["edge_kernel"]))


#: named variants. ``compact`` is sized for real time on a CPU (see docs / bench numbers).
ARCHS: dict[str, GeneratorArch] = {
    "full": GeneratorArch((32, 64, 128), 5, 9),
    "compact": GeneratorArch((12, 24, 48), 3, 7),  # ~20 FPS at 256x256 on 2 CPU cores (eager fp32)
}


def arch_by_name(name: str) -> GeneratorArch:
    if name not in ARCHS:
        raise UsageError(f"unknown generator architecture {name!r}", f"choose one of: {', '.join(ARCHS)}")
    return ARCHS[name]


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


class GeneratorStylizer(Stylizer):
    """Method ``generator``: one trained TransformNet per style — a preset's (``assets/models``),
    a user style's or a ``.safetensors`` file given as the style: ``library`` (a
    :class:`~artem_vr.style.base.StyleLibrary`, the app's :mod:`artem_vr.style.catalog`) turns names
    into files; without one only files work.

    Loaded networks are kept, so switching back to a style is instant. They run through one
    engine (:func:`~artem_vr.style.engine.make_engine`; ``engine``: ``eager`` | ``fast`` |
    ``ort`` | ``auto`` or an ``EngineConfig``; default: the torch
    :class:`~artem_vr.style.engine.InferenceEngine` — fp16 on CUDA, bf16 on CPUs with native
    bf16, else fp32), which takes a style's weights without re-preparing the network.
    """

    method = "generator"

    def __init__(self, device="cpu", arch: str | None = None, half: bool | None = None, engine=None, library=None):
        super().__init__(device, library)
        self.arch = arch  # None: prefer compact, else any trained arch
        if engine is None:  # half: True fp16, False fp32, None the engine's choice for the device
            engine = EngineConfig(precision="auto" if half is None else ("fp16" if half else "fp32"))
        self.engine = make_engine(engine, self.device, self.method)
        self.half = getattr(self.engine, "config", None) is not None and self.engine.config.precision == "fp16"
        self._live: TransformNet | None = None  # the engine's prepared copy (hooks find its norms here)
        self._nets: dict[str, TransformNet] = {}
        self._net: TransformNet | None = None

    @property
    def runs_torch(self) -> bool:
        """False when the network runs outside torch (ONNX Runtime): no torch layer hook fires."""
        return self.engine.kind != "ort"

    def styles(self) -> list[str]:
        """Presets with a trained generator (of ``arch`` when set), then the user's generators."""
        return self.library.names("generator", self.arch)

    def set_style(self, style: str) -> None:
        """A preset or user style name, or a generator ``.safetensors`` file."""
        if style not in self._nets:
            path = self.library.model(style, "generator", self.arch)
            if path is None:
                which = f"{self.arch} generator" if self.arch else "generator"
                raise UsageError(
                    f"no trained {which} for style {style!r}",
                    f"available: {', '.join(self.styles()) or '(none trained)'}; other paintings work with --method adain",
                )
            self._nets[style] = load_safetensors(path, generator_from_arch, device=self.device, dtype=torch.float32)
        self._net = self._nets[style]
        self.engine.load(self._net)
        self._live = self.engine.live
        self.style = style

    def _forward(self, x):
        if self._net is None:
            raise UsageError("no style selected", "call set_style() first")
        return self.engine(x)


def generator_from_arch(arch: dict) -> TransformNet:
    """Model factory for :func:`artem_vr.style.weights.load_safetensors`."""
    return TransformNet(GeneratorArch.from_dict(arch))
