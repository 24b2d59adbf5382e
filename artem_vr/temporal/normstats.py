"""Replace the per-image normalization statistics of a stylizer's networks, from outside it.

Fast style networks normalize each feature map by its own mean and variance (instance norm,
AdaIN); a small change in the picture changes those statistics and the whole frame shifts in
brightness and colour — the largest part of style-transfer flicker. Two uses here:

* temporal: an exponential moving average of the statistics over frames
  (:class:`artem_vr.temporal.stabilize.TemporalStabilizer`);
* stereo: the statistics pooled over the two eyes of one batch
  (:class:`artem_vr.temporal.stereo.StereoConsistentStylizer`).

How: the networks themselves call the hook point of :mod:`artem_vr.style.norm` —
:class:`~artem_vr.style.norm.StatsInstanceNorm` layers and the AdaIN step pass their per-channel
``μ, σ²`` through :func:`~artem_vr.style.norm.filter_stats`. :class:`NormStatsHooks` (one per
innermost stylizer, shared by the wrappers around it) holds the ordered *stat transforms* and,
inside ``with hooks.active():``, sets them as the statistics filter — applied only to the
normalization points of that stylizer's networks. Nothing is patched: outside a wrapper, or
when the transforms return the statistics unchanged, the networks run their own maths
(bit-identical output).
"""

from __future__ import annotations

import contextlib
import weakref

import torch
from torch import nn

from artem_vr.style.norm import FiltersStats, StatsFilter, stats_filter

#: (key, mean (N, C), var (N, C)) -> (mean, var); must not change shapes.
StatTransform = StatsFilter


def unwrap(stylizer):
    """The innermost stylizer under any wrappers (each wrapper keeps it in ``.inner``)."""
    while getattr(stylizer, "inner", None) is not None:
        stylizer = stylizer.inner
    return stylizer


def find_modules(obj, depth: int = 2) -> list[nn.Module]:
    """nn.Modules held by ``obj``'s attributes (directly, or in dicts/lists/tuples, ``depth`` deep)."""
    found: list[nn.Module] = []

    def visit(v, d):
        if isinstance(v, nn.Module):
            found.append(v)
        elif d > 0 and isinstance(v, dict):
            for u in v.values():
                visit(u, d - 1)
        elif d > 0 and isinstance(v, (list, tuple)):
            for u in v:
                visit(u, d - 1)

    for v in list(vars(obj).values()):
        visit(v, depth)
    return found


def norm_points(stylizer) -> list[nn.Module]:
    """Every normalization point of the stylizer's networks that filters per-image statistics:
    :class:`~artem_vr.style.norm.FiltersStats` modules (hook-aware instance norms, AdaIN
    models), less instance norms that use fixed running statistics. ``[]`` when the stylizer
    runs no torch module (e.g. the ONNX Runtime engine)."""
    seen, out = set(), []
    base = unwrap(stylizer)
    if getattr(base, "runs_torch", True) is False:  # e.g. the ONNX Runtime engine: no torch layer runs
        return out
    for m in find_modules(base):
        for sub in m.modules():
            if isinstance(sub, FiltersStats) and id(sub) not in seen:
                if isinstance(sub, nn.InstanceNorm2d) and sub.track_running_stats and not sub.training:
                    continue  # uses fixed running stats: nothing to smooth
                seen.add(id(sub))
                out.append(sub)
    return out


def instance_norms(stylizer) -> list[nn.InstanceNorm2d]:
    """The hook-aware instance norms among :func:`norm_points`."""
    return [m for m in norm_points(stylizer) if isinstance(m, nn.InstanceNorm2d)]


class NormStatsHooks:
    """One per (innermost) stylizer: its normalization points and the ordered transforms.

    Transforms apply only inside ``with hooks.active():``, and only to the points found by
    :meth:`attach` — the stylizer used on its own (or another network run meanwhile) is untouched.
    """

    def __init__(self):
        self._transforms: list[tuple[int, StatTransform]] = []
        self._points: "weakref.WeakSet[nn.Module]" = weakref.WeakSet()
        self.layers = 0

    def add_transform(self, order: int, fn: StatTransform) -> None:
        """Register ``fn``; lower ``order`` runs first (stereo pooling 10, temporal EMA 20).

        Bound methods are held weakly: a wrapper that is dropped stops transforming."""
        ref = weakref.WeakMethod(fn) if hasattr(fn, "__self__") else (lambda: fn)
        self._transforms.append((order, ref))
        self._transforms.sort(key=lambda t: t[0])

    def remove_transform(self, fn: StatTransform) -> None:
        self._transforms = [t for t in self._transforms if t[1]() is not None and t[1]() != fn]

    def attach(self, stylizer) -> int:
        """Find the stylizer's normalization points (networks loaded on a style change too):
        the statistics of these, and only these, are transformed. Patches nothing. Returns
        their number (instance-norm layers, plus 1 for an AdaIN model), also kept in :attr:`layers`."""
        points = norm_points(stylizer)
        for m in points:
            self._points.add(m)
        self.layers = len(points)
        return self.layers

    @contextlib.contextmanager
    def active(self):
        """Inside the block, this thread's normalizations of the attached points use the
        transformed statistics (nesting, e.g. a wrapper around a wrapper, applies them once)."""
        with stats_filter(self.transform):
            yield self

    def transform(self, key, mean: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The transforms in order on the statistics of point ``key``; other keys unchanged."""
        if not self._transforms or key not in self._points:
            return mean, var
        dead = False
        for _, ref in self._transforms:
            fn = ref()
            if fn is None:
                dead = True
                continue
            mean, var = fn(key, mean, var)
        if dead:
            self._transforms = [t for t in self._transforms if t[1]() is not None]
        return mean, var


    def graph_token(self) -> tuple | None:
        """What the transforms will do on the next frame, as a key for a frame graph
        (:mod:`artem_vr.temporal.graphed`): each transform's owner's ``stats_token()``, in order;
        None when one has none (it cannot be replayed)."""
        tokens = []
        for order, ref in self._transforms:
            fn = ref()
            if fn is None:
                continue
            token = getattr(getattr(fn, "__self__", None), "stats_token", None)
            token = token() if token is not None else None
            if token is None:
                return None
            tokens.append((order, token))
        return tuple(tokens)


def hooks_for(stylizer) -> NormStatsHooks:
    """The shared :class:`NormStatsHooks` of the innermost stylizer under ``stylizer``: kept on that
    stylizer (``norm_stats_hooks``), so it lives and dies with it; every wrapper gets the same one."""
    base = unwrap(stylizer)
    h = vars(base).get("norm_stats_hooks")
    if h is None:  # dict.setdefault is atomic: two wrappers made at once still share one
        h = vars(base).setdefault("norm_stats_hooks", NormStatsHooks())
    return h


# ---------------------------------------------------------------------------- transforms
def pooled_pair_stats(mean: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Statistics of all pixels of the batch taken together, given to every image. (N, C) → (N, C).

    For a stereo pair both eyes are then normalized identically. Pooled variance:
    ``E[σ² + μ²] − E[μ]²``.
    """
    m = mean.mean(0, keepdim=True)
    v = (var + mean * mean).mean(0, keepdim=True) - m * m
    return m.expand_as(mean), v.clamp_min(0).expand_as(var)
