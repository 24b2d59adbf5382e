"""The generator stylizer: one trained Johnson-style transform network per style; the network
itself (its changes from the paper, its input/output convention) is :mod:`artem_vr.style.generator_net`."""

from __future__ import annotations

import torch

from artem_vr.errors import UsageError
from artem_vr.style.base import Stylizer
from artem_vr.style.engine import EngineConfig, make_engine
# the network's names stay importable from here (one API for the generator method)
from artem_vr.style.generator_arch import ARCHS, GeneratorArch, arch_by_name  # noqa: F401
from artem_vr.style.generator_net import ResidualBlock, TransformNet, Upsample, generator_from_arch  # noqa: F401
from artem_vr.style.weights import load_safetensors


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

    def graph_key(self, x: torch.Tensor) -> tuple | None:
        return self._engine_graph_key()

    def _forward(self, x):
        if self._net is None:
            raise UsageError("no style selected", "call set_style() first")
        return self.engine(x)
