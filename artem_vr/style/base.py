"""The stylizer interface and the registry of methods.

Every stylizer takes and returns float tensors ``(N, 3, H, W)``, RGB, range 0–1, on its
``device`` (see :mod:`artem_vr.frames`). N is 1 for mono and 2 for a stereo pair (both eyes
in one batch). ``strength`` in [0, 1] blends from the input (0) to the full style (1).

``internal_scale`` in (0, 1] runs the network at that fraction of the frame's size and brings
the result back with ``upscale`` (``guided``: fast guided-filter upsampling on the input's
luminance; ``bilinear``), see :mod:`artem_vr.style.upscale`. 1 (the default) is the plain path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Protocol

import torch

from artem_vr.errors import UsageError, shown
from artem_vr.frames import check_image
from artem_vr.style.upscale import UPSCALE_METHODS, downscale, internal_size, upscale

MODEL_SUFFIX = ".safetensors"


class StyleLibrary(Protocol):
    """Style names → files, handed to a stylizer: stylizers never look names up themselves.
    :class:`artem_vr.style.catalog.Catalog` (presets and user models) is the app's."""

    def model(self, name: str, method: str, arch: str | None = None) -> Path | None:
        """The weights file that shows style ``name`` with ``method`` (generator | xnor); None: none."""

    def names(self, method: str, arch: str | None = None) -> list[str]:
        """The styles ``method`` has weights for."""

    def image(self, name: str) -> Path | None:
        """The painting of style ``name``; None: unknown."""

    def image_names(self) -> list[str]:
        """Style names that have a painting (what AdaIN can show by name)."""


class FilesOnly:
    """The library of a stylizer built without one: files given by path, no names."""

    def model(self, name: str, method: str, arch: str | None = None) -> Path | None:
        p = Path(name).expanduser()
        return p if name.lower().endswith(MODEL_SUFFIX) and p.is_file() else None

    def names(self, method: str, arch: str | None = None) -> list[str]:
        return []

    def image(self, name: str) -> Path | None:
        return None

    def image_names(self) -> list[str]:
        return []


class Stylizer(ABC):
    method = "base"

    def __init__(self, device: str | torch.device = "cpu", library: StyleLibrary | None = None):
        self.device = torch.device(device)
        self.library: StyleLibrary = library if library is not None else FilesOnly()
        self.strength = 1.0
        self.style: str | None = None
        self.internal_scale = 1.0
        self.upscale = "guided"

    def set_internal_scale(self, scale: float, upscale: str = "guided") -> None:
        """Run the network at ``scale`` × the frame size (0 < scale <= 1), upscaled by ``upscale``."""
        if not 0.0 < float(scale) <= 1.0:
            raise UsageError(f"internal scale {shown(scale)} is out of range", "use a value in (0, 1], e.g. 0.5")
        if upscale not in UPSCALE_METHODS:
            raise UsageError(f"unknown upscale method {upscale!r}", f"choose one of: {', '.join(UPSCALE_METHODS)}")
        self.internal_scale, self.upscale = float(scale), upscale

    def network_pixels(self, n: int, h: int, w: int) -> int:
        """Pixels the network processes for a batch of ``n`` frames of ``h × w`` (its internal
        scale applied; the foveated wrapper counts both of its passes)."""
        if self.internal_scale >= 1.0:
            return n * h * w
        sh, sw = internal_size(h, w, self.internal_scale)
        return n * sh * sw

    @property
    def compiles(self) -> bool:
        """Whether the network runs compiled: its engine is ``fused`` through torch.compile (the
        comfort wrappers then compile their device steps too, :func:`artem_vr.temporal.wrap_for_run`)."""
        engine = getattr(self, "engine", None)  # the generators', XNOR's and AdaIN's
        return engine is not None and engine.kind == "fused" and bool(engine.config.compile)

    def styles(self) -> list[str]:
        """Names of the styles this method can show without a file (the presets)."""
        return []

    @abstractmethod
    def set_style(self, style: str) -> None:
        """Select a preset name or (where supported) an image path. Unknown → UsageError."""

    @abstractmethod
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB 0–1 → same shape; full strength."""

    def reset_temporal(self) -> None:
        """Forget any state carried between frames (called on style change and seeks)."""

    # -- replay as one CUDA graph (artem_vr.temporal.graphed) ------------------------------
    def graph_prepare(self) -> None:
        """Before :meth:`graph_key`: do now what :meth:`stylize` would do first in Python and that a
        replayed graph would skip — here: apply the engine's pending in-place weight swap (a style
        switch), where the stylizer runs one."""
        sync = getattr(getattr(self, "engine", None), "sync", None)
        if sync is not None:
            sync()

    def graph_key(self, x: torch.Tensor) -> tuple | None:
        """Everything decided in Python that shapes :meth:`stylize` on ``x`` (the ops it launches, the
        tensors it reads, the numbers baked into them), as a hashable key: two frames with one key
        run the same kernels on the same buffers, so the second may be a replay of the first. None:
        this stylizer cannot be replayed (the default; a stylizer opts in by overriding it)."""
        return None

    def drop_graphs(self) -> None:
        """Free the frame graphs captured through this stylizer (a method switch leaves it idle;
        its graphs' memory goes back). Nothing here; the frame graph wrapper frees its own."""

    def _engine_graph_key(self) -> tuple | None:
        """:meth:`graph_key` of a stylizer whose network runs through an engine (generator, XNOR):
        the engine's token (None for ONNX Runtime, whose sessions are no CUDA graphs), the Python
        numbers of :meth:`stylize`; weights swap in place: one graph for every style of one structure."""
        token = getattr(getattr(self, "engine", None), "graph_token", None)
        token = token() if token is not None else None
        if token is None or getattr(self, "_net", None) is None:
            return None
        return (self.method, token) + self._graph_common()

    def _graph_common(self) -> tuple:
        """The Python numbers :meth:`stylize` bakes into every frame: strength, internal scale, upscale."""
        return (float(self.strength), float(self.internal_scale), self.upscale)

    def graph_replayed(self) -> None:
        """After a replay of a graph captured from this stylizer: the Python bookkeeping its
        :meth:`stylize` would have done (counters, the figures its ``stats`` read)."""

    @torch.inference_mode()
    def stylize(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, f"{self.method} stylizer input")
        n, _, h, w = x.shape
        x = x.to(self.device)
        if self.strength <= 0.0:
            return x
        y = self._forward_scaled(x)
        if y.shape[-2:] != (h, w):
            y = torch.nn.functional.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        y = y.clamp(0, 1)
        if self.strength < 1.0:
            y = torch.lerp(x.to(y.dtype), y, self.strength)
        return check_image(y, f"{self.method} stylizer output")


    def _forward_scaled(self, x: torch.Tensor, **kw) -> torch.Tensor:
        """``_forward(x, **kw)`` at ``internal_scale`` of ``x``'s size, upscaled back (scale 1:
        ``_forward`` itself). Subclasses with their own ``stylize`` call this instead of ``_forward``."""
        if self.internal_scale >= 1.0:
            return self._forward(x, **kw)
        size = internal_size(x.shape[-2], x.shape[-1], self.internal_scale)
        if size == tuple(x.shape[-2:]):
            return self._forward(x, **kw)
        xf = x.float()
        xs = downscale(xf, size)
        ys = self._forward(xs, **kw).float().clamp(0, 1)
        return upscale(self.upscale, ys, xs, xf)


class IdentityStylizer(Stylizer):
    """Passes frames through unchanged (the pipeline's null stylizer)."""

    method = "identity"

    def styles(self) -> list[str]:
        return ["identity"]

    def set_style(self, style: str) -> None:
        self.style = style

    def _forward(self, x):
        return x
