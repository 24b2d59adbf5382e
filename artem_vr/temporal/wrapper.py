"""A stylizer that wraps another one and is itself a Stylizer (style, strength, device forwarded)."""

from __future__ import annotations

from typing import Callable

import torch

from artem_vr.errors import UsageError
from artem_vr.style.base import Stylizer
from artem_vr.temporal.normstats import StatTransform, hooks_for


#: where the comfort wrappers compute flow and disparity: ``auto`` — torch on the frames' own
#: device when it is a GPU (nothing crosses to the host), OpenCV on the CPU (faster there);
#: ``torch`` / ``opencv`` — that one on any device (tests run the torch path on the CPU).
BACKENDS = ("auto", "torch", "opencv")


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise UsageError(f"unknown comfort backend {backend!r}", f"choose one of: {', '.join(BACKENDS)}")
    return backend


def use_device_path(backend: str, device: torch.device) -> bool:
    """True when the torch path (:mod:`artem_vr.temporal.devflow`) runs for frames on ``device``."""
    return backend == "torch" or (backend == "auto" and device.type == "cuda")


def as_switch(enabled: bool | Callable[[], bool]) -> Callable[[], bool]:
    """A bool, or a callable read at every frame (e.g. ``lambda: state.temporal``)."""
    if callable(enabled):
        return enabled
    value = bool(enabled)
    return lambda: value


def find_wrapper(stylizer, kind: type):
    """The first stylizer of type ``kind`` down a chain of wrappers (``.inner``), or None."""
    s = stylizer
    while s is not None:
        if isinstance(s, kind):
            return s
        s = getattr(s, "inner", None) if isinstance(s, WrappingStylizer) else None
    return None


class WrappingStylizer(Stylizer):
    """Forwards the Stylizer interface to ``inner``; subclasses override :meth:`stylize`.

    ``set_style`` forwards and then calls :meth:`reset_temporal`, so a new style never blends
    with the old one.
    """

    def __init__(self, stylizer: Stylizer, modes: tuple[str, ...], mode: str):
        if not isinstance(stylizer, Stylizer):
            raise UsageError(f"{type(self).__name__} wraps a Stylizer, got {type(stylizer).__name__}",
                             "pass a stylizer from artem_vr.style.methods.make_stylizer")
        if mode not in modes:
            raise UsageError(f"unknown {type(self).__name__} mode {mode!r}", f"choose one of: {', '.join(modes)}")
        # Stylizer.__init__ is not called: strength/style/device live in the inner stylizer.
        self.inner = stylizer
        self.mode = mode

    # -- forwarded state ------------------------------------------------------------
    @property
    def method(self) -> str:  # type: ignore[override]
        return self.inner.method

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return self.inner.device

    @property
    def strength(self) -> float:  # type: ignore[override]
        return self.inner.strength

    @strength.setter
    def strength(self, v: float) -> None:
        self.inner.strength = v

    @property
    def style(self):  # type: ignore[override]
        return self.inner.style

    @style.setter
    def style(self, v) -> None:
        self.inner.style = v

    def styles(self) -> list[str]:
        return self.inner.styles()

    def set_style(self, style: str) -> None:
        self.inner.set_style(style)
        self.reset_temporal()

    def reset_temporal(self) -> None:
        self.inner.reset_temporal()

    def network_pixels(self, n: int, h: int, w: int) -> int:
        return self.inner.network_pixels(n, h, w)

    # -- replay as one CUDA graph (artem_vr.temporal.graphed): forwarded; graph_key stays None
    # (the Stylizer default) unless a wrapper knows its stylize is the same kernels on the same
    # buffers for one key
    def graph_prepare(self) -> None:
        self.inner.graph_prepare()

    def graph_replayed(self) -> None:
        self.inner.graph_replayed()

    def drop_graphs(self) -> None:
        self.inner.drop_graphs()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:  # not used: stylize is overridden
        return self.inner._forward(x)  # noqa: SLF001

    def __getattr__(self, name):
        # Anything else a caller expects of the wrapped stylizer (e.g. its model path).
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


class StatsWrappingStylizer(WrappingStylizer):
    """A wrapper that changes the normalization statistics of the networks under it: ``transform``
    joins the shared hooks of the innermost stylizer (:func:`~.normstats.hooks_for`) at ``order``
    and acts only while this wrapper runs the inner stylizer through :meth:`_stylize_inner` — a
    frame the wrapper passes straight through keeps its own statistics. The transform checks
    :attr:`_running` for that."""

    def __init__(self, stylizer: Stylizer, modes: tuple[str, ...], mode: str, order: int, transform: StatTransform):
        super().__init__(stylizer, modes, mode)
        self._hooks = hooks_for(stylizer)
        self._hooks.add_transform(order, transform)
        self._running = False

    def stats_token(self) -> tuple | None:
        """What this wrapper's statistics transform does on the next frame, decided in Python (a
        frame graph's key, :meth:`NormStatsHooks.graph_token <.normstats.NormStatsHooks.graph_token>`);
        None: it cannot be replayed (the default)."""
        return None

    def _stylize_inner(self, x: torch.Tensor) -> torch.Tensor:
        """The inner stylizer on ``x`` with the hooks active and this wrapper's transform on."""
        self._running = True
        try:
            with self._hooks.active():
                return self.inner.stylize(x)
        finally:
            self._running = False
