"""The stylizer methods by name, built with the style library (:mod:`artem_vr.style.catalog`)
handed in: what the app, the worker, bench, eval and the temporal metrics call to make one."""

from __future__ import annotations

import importlib

from artem_vr.errors import UsageError
from artem_vr.style.base import StyleLibrary, Stylizer
from artem_vr.style.catalog import CATALOG, adain_decoders
from artem_vr.text import did_you_mean

#: method name -> "module:Class" (imported when used: torch and each network stay off `--help`)
METHODS: dict[str, str] = {
    "identity": "artem_vr.style.base:IdentityStylizer",
    "generator": "artem_vr.style.generator:GeneratorStylizer",
    "adain": "artem_vr.style.adain:AdaINStylizer",
    "xnor": "artem_vr.style.xnor:XnorStylizer",
}


def offered_styles(method: str, arch: str | None = None, library: StyleLibrary = CATALOG) -> list[str]:
    """The styles ``method`` can show here (cheap: headers only, no weights loaded; AdaIN: the
    paintings, when a decoder is installed — without building its VGG)."""
    cls = stylizer_class(method)
    if method == "adain":
        return library.image_names() if adain_decoders() else []
    return cls(device="cpu", library=library, **({"arch": arch} if arch else {})).styles()


def stylizer_class(method: str) -> type[Stylizer]:
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}{did_you_mean(method, METHODS)}", f"choose one of: {', '.join(METHODS)}")
    mod, _, cls = METHODS[method].partition(":")
    return getattr(importlib.import_module(mod), cls)


def make_stylizer(method: str, style: str | None = None, device: str = "cpu", *, internal_scale: float = 1.0,
                  upscale: str = "guided", library: StyleLibrary = CATALOG, **kw) -> Stylizer:
    """Build a stylizer for ``method`` with ``library`` (default: the catalog) and select ``style`` (its default when None);
    ``internal_scale``/``upscale``: see :meth:`Stylizer.set_internal_scale`."""
    s = stylizer_class(method)(device=device, library=library, **kw)
    s.set_internal_scale(internal_scale, upscale)
    names = s.styles()
    s.set_style(style if style is not None else (names[0] if names else "identity"))
    return s
