"""Replace the per-image statistics of a network's instance-norm layers, from outside it.

Fast style networks normalize each feature map by its own mean and standard deviation
(instance norm); a small change in the picture changes those statistics and the whole frame
shifts in brightness and colour — the largest part of style-transfer flicker. Two uses here:

* temporal: an exponential moving average of the statistics over frames
  (:class:`artem_vr.temporal.stabilize.TemporalStabilizer`);
* stereo: the statistics pooled over the two eyes of one batch
  (:class:`artem_vr.temporal.stereo.StereoConsistentStylizer`).

How: every ``nn.InstanceNorm2d`` of the stylizer's networks (found by walking the stylizer's
attributes) gets its ``forward`` replaced on the instance. While a wrapper is running, it takes
the input's own per-channel ``μ, σ²``, asks the *stat transforms* for replacements ``μ', σ'²``
and normalizes with those in one fused per-channel affine ``x · w/σ' + (b − μ'·w/σ')`` — no
more work than instance norm itself. Outside a wrapper, or when the transforms return the
statistics unchanged, the original instance norm runs (bit-identical output).

Stylizers whose normalization is not an ``nn.InstanceNorm2d`` (e.g. AdaIN written as a
function) can call :func:`filter_stats` on their content statistics instead: it applies the
same transforms, keyed by whatever ``key`` the caller passes.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Callable

import torch
from torch import nn

#: (key, mean (N, C), var (N, C)) -> (mean, var); must not change shapes.
StatTransform = Callable[[object, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


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


def instance_norms(stylizer) -> list[nn.InstanceNorm2d]:
    """Every InstanceNorm2d (normalizing with per-image statistics) in the stylizer's networks."""
    seen, out = set(), []
    base = unwrap(stylizer)
    if getattr(base, "runs_torch", True) is False:  # e.g. the ONNX Runtime engine: no torch layer runs
        return out
    for m in find_modules(base):
        for sub in m.modules():
            if isinstance(sub, nn.InstanceNorm2d) and id(sub) not in seen:
                if sub.track_running_stats and not sub.training:
                    continue  # uses fixed running stats: nothing to smooth
                seen.add(id(sub))
                out.append(sub)
    return out


class NormStatsHooks:
    """One per (innermost) stylizer: the hooks on its IN layers and the ordered transforms.

    Transforms apply only inside ``with hooks.active():`` — the stylizer used on its own
    (or by another wrapper) is untouched.
    """

    def __init__(self):
        self._transforms: list[tuple[int, StatTransform]] = []
        self._hooked: "weakref.WeakSet[nn.Module]" = weakref.WeakSet()
        self._local = threading.local()
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
        """Hook IN layers not hooked yet (networks loaded on a style change too), and the AdaIN
        step of an AdaIN stylizer. Returns the number of normalization points hooked."""
        layers = instance_norms(stylizer)
        for m in layers:
            if m not in self._hooked:
                m.forward = self._patched_forward(m)
                self._hooked.add(m)
        n = len(layers) + self._attach_adain(unwrap(stylizer))
        self.layers = n
        return n

    def _attach_adain(self, base) -> int:
        """AdaIN (:mod:`artem_vr.style.adain`): ``model.encoder`` → features ``f``; the decoder gets
        ``t = lerp(f, (f - μ_f)/σ_f · σ_s + μ_s, α)``. Hooks: keep ``f`` (encoder output), and
        before the decoder rebuild ``t`` with the transformed ``μ_f, σ_f²`` (style stats from the
        stylizer's ``_stats``, α = its strength). Returns 1 when hooked, 0 when not an AdaIN stylizer."""
        model = getattr(base, "model", None)
        enc, dec = getattr(model, "encoder", None), getattr(model, "decoder", None)
        layer = getattr(getattr(model, "variant", None), "layer", None)
        if not isinstance(enc, nn.Module) or not isinstance(dec, nn.Module) or layer is None \
                or not hasattr(base, "_stats"):
            return 0
        if dec in self._hooked:
            return 1
        store: dict = {}

        def keep_features(_m, _inp, out):
            if self.is_active:
                store["f"] = out[layer] if isinstance(out, dict) else out

        def rebuild(_m, args):
            f = store.pop("f", None)
            if not self.is_active or not self._transforms or f is None or not args:
                return None
            t = args[0]
            if f.shape != t.shape or getattr(base, "_stats", None) is None:
                return None
            mean, var = channel_stats(f)
            m2, v2 = self.transform(dec, mean, var)
            if m2 is mean and v2 is var:
                return None
            s_mean, s_std = base._stats  # (1 or N, C, 1, 1)
            a = (f.float() - m2[..., None, None]) / torch.sqrt(v2[..., None, None] + 1e-5) * s_std + s_mean
            alpha = min(float(getattr(base, "strength", 1.0)), 1.0)
            if alpha < 1.0:
                a = torch.lerp(f.float(), a, alpha)
            return (a.to(t.dtype),) + tuple(args[1:])

        enc.register_forward_hook(keep_features)
        dec.register_forward_pre_hook(rebuild)
        self._hooked.add(dec)
        return 1

    @contextlib.contextmanager
    def active(self):
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        try:
            yield self
        finally:
            self._local.depth = depth

    @property
    def is_active(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    def transform(self, key, mean: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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

    def _patched_forward(self, module: nn.InstanceNorm2d):
        """The layer's forward, replaced on this instance: inactive (or statistics unchanged) →
        the original instance norm, bit for bit; active → normalize with the transformed
        statistics in one fused affine (no more work than instance norm itself)."""
        original = type(module).forward.__get__(module)
        hooks = weakref.ref(self)

        def forward(x):
            h = hooks()
            if h is None or not h.is_active or not h._transforms or x.ndim != 4:
                return original(x)
            mean, var = channel_stats(x)
            m2, v2 = h.transform(module, mean, var)
            if m2 is mean and v2 is var:
                return original(x)
            a = torch.rsqrt(v2 + module.eps)
            c = -m2 * a
            if module.affine:
                a = a * module.weight.float()[None]
                c = c * module.weight.float()[None] + module.bias.float()[None]
            return torch.addcmul(c[..., None, None].to(x.dtype), x, a[..., None, None].to(x.dtype))

        return forward

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


_REGISTRY: "weakref.WeakKeyDictionary[object, NormStatsHooks]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def hooks_for(stylizer) -> NormStatsHooks:
    """The shared :class:`NormStatsHooks` of the innermost stylizer under ``stylizer``."""
    base = unwrap(stylizer)
    with _LOCK:
        h = _REGISTRY.get(base)
        if h is None:
            h = _REGISTRY[base] = NormStatsHooks()
    return h


def filter_stats(stylizer, key, mean: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For stylizers that normalize in code (AdaIN): apply the active transforms to (N, C) stats.

    Call it with the content feature mean/variance right before normalizing; returns them
    unchanged unless a temporal or stereo wrapper is running this stylizer.
    """
    with _LOCK:
        h = _REGISTRY.get(unwrap(stylizer))
    if h is None or not h.is_active:
        return mean, var
    return h.transform(key, mean, var)


# ---------------------------------------------------------------------------- transforms
def pooled_pair_stats(mean: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Statistics of all pixels of the batch taken together, given to every image. (N, C) → (N, C).

    For a stereo pair both eyes are then normalized identically. Pooled variance:
    ``E[σ² + μ²] − E[μ]²``.
    """
    m = mean.mean(0, keepdim=True)
    v = (var + mean * mean).mean(0, keepdim=True) - m * m
    return m.expand_as(mean), v.clamp_min(0).expand_as(var)
