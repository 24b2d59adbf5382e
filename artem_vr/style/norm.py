"""The hook point through which wrappers replace a network's normalization statistics.

Fast style networks normalize each feature map by its own per-channel mean and variance
(instance norm; AdaIN's content statistics). A small change in the picture changes those
statistics and the whole frame shifts in brightness and colour — the largest part of
style-transfer flicker. The comfort wrappers (:mod:`artem_vr.temporal`) therefore replace the
statistics: smoothed over frames, pooled over the two eyes.

The networks ask for that themselves, at one explicit point: every normalization calls
:func:`filter_stats` with its per-channel statistics (:class:`StatsInstanceNorm` does so for
instance norm; :func:`artem_vr.style.adain.adain` for AdaIN). A wrapper sets the *statistics
filter* for the duration of a frame (``with stats_filter(fn):``, thread-local, so a stylizer run
on another thread is not affected). With no filter set the networks run their plain maths, bit
for bit, at the cost of one thread-local lookup.

A filter is ``fn(key, mean, var) -> (mean, var)``: ``key`` the module normalizing (an instance
norm layer, an AdaIN model), ``mean``/``var`` float32 ``(N, C)``, returned with the same shapes.
A filter that returns its inputs (the same objects) leaves the output bit-identical.
Nested ``stats_filter`` blocks compose (outer filter first); entering one already active is a
no-op, so wrappers around wrappers of one stylizer apply their chain once.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable

import torch
from torch import nn

#: (key, mean (N, C) float32, var (N, C) float32) -> (mean, var), same shapes
StatsFilter = Callable[[object, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

_local = threading.local()


def active_filters() -> tuple[StatsFilter, ...]:
    """The filters set on this thread, outermost first (``()`` when none)."""
    return getattr(_local, "filters", ())


@contextlib.contextmanager
def stats_filter(fn: StatsFilter):
    """Apply ``fn`` to every normalization's statistics run on this thread inside the block."""
    filters = active_filters()
    if fn in filters:  # a wrapper around a wrapper of the same stylizer: apply once
        yield
        return
    _local.filters = filters + (fn,)
    try:
        yield
    finally:
        _local.filters = filters


@contextlib.contextmanager
def only_stats_filter(fn: StatsFilter):
    """Inside the block, ``fn`` alone filters this thread's statistics (the filters set outside
    are suspended): a second network pass that must reuse the statistics the first pass settled
    on (:mod:`artem_vr.style.foveate`) without running the outer filters (and their state) twice."""
    filters = active_filters()
    _local.filters = (fn,)
    try:
        yield
    finally:
        _local.filters = filters


def filter_stats(key, mean: torch.Tensor, var: torch.Tensor, features: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The statistics ``(mean, var)`` (float32 ``(N, C)``) of normalization ``key`` as the
    active filters want them; unchanged (the same objects) when no filter is set.
    ``features``: the ``(N, C, H, W)`` map they were taken from, which a filter may read with
    :func:`current_features` (e.g. for the statistics of a part of the picture)."""
    filters = getattr(_local, "filters", ())
    if not filters:
        return mean, var
    _local.features = features
    try:
        for fn in filters:
            mean, var = fn(key, mean, var)
    finally:
        _local.features = None
    return mean, var


def current_features() -> torch.Tensor | None:
    """Inside a filter: the feature map being normalized (None where its caller gave none)."""
    return getattr(_local, "features", None)


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel mean and (population) variance of (N, C, H, W) → two float32 (N, C).

    ``E[x²] − E[x]²``: two plain reductions, several times faster on the CPU than
    ``torch.var_mean`` (whose two-pass kernel costs twice instance norm itself there); float32
    accumulation keeps it accurate for feature maps.
    """
    xf = x.float()
    mean = xf.mean(dim=(2, 3))
    var = (xf * xf).mean(dim=(2, 3)) - mean * mean
    return mean, var.clamp_min_(0)


class FiltersStats:
    """Marker for modules that call :func:`filter_stats` with themselves as the key (what the
    wrappers count as normalization points)."""


class StatsInstanceNorm(FiltersStats, nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` (same arguments, same state keys) with the statistics hook point.

    No filter set (or the layer uses running statistics): :meth:`plain`, the layer's own instance
    norm, bit for bit. A filter set: the input's per-channel ``μ, σ²`` (:func:`channel_stats`)
    go through :func:`filter_stats` and the result normalizes ``x`` in one fused per-channel
    affine ``x · w/σ' + (b − μ'·w/σ')`` — no more work than instance norm itself. Subclasses
    change how the plain norm is computed by overriding :meth:`plain`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if getattr(_local, "filters", ()) and x.ndim == 4 and not (self.track_running_stats and not self.training):
            return self._filtered(x)
        return self.plain(x)

    def plain(self, x: torch.Tensor) -> torch.Tensor:
        return nn.InstanceNorm2d.forward(self, x)

    def _filtered(self, x: torch.Tensor) -> torch.Tensor:
        mean, var = channel_stats(x)
        m2, v2 = filter_stats(self, mean, var, x)
        if m2 is mean and v2 is var:
            return self.plain(x)
        a = torch.rsqrt(v2 + self.eps)
        c = -m2 * a
        if self.affine:
            w = self.weight.float()[None]
            a = a * w
            c = c * w + self.bias.float()[None]
        return torch.addcmul(c[..., None, None].to(x.dtype), x, a[..., None, None].to(x.dtype))
