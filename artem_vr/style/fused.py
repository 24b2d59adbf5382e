"""The generator as a chain of fused stages — the ``fused`` engine's network (issue 19).

Why: on an H200 every network here is memory-bound, 7–12× above the traffic floor, because eager
PyTorch writes every op's output to memory and reads it back for the next: conv → instance norm
(statistics, then normalize + affine) → ReLU → reflection pad → conv, and the residual add and
the nearest upsample between them. Here the network is cut at the one place where a global
quantity is needed — each instance norm's per-channel statistics — and everything between two
cuts is one *stage*::

    prologue of the previous norm          this stage's conv          statistics for the next
    y·a + c [→ ReLU] [→ + residual] [→ ×2 nearest] → reflection pad → conv → mean, var (fp32)

``y`` is the previous conv's raw output, ``(a, c)`` the previous norm's per-channel affine
(``a = w/σ``, ``c = b − μ·a``: normalize and the norm's own affine in one multiply-add, computed
inside the stage from the statistics and the norm's weights). Under
``torch.compile`` (Inductor) the prologue becomes one pointwise kernel that writes the padded
conv input, the conv runs in cuDNN, and the statistics are one reduction over its output — the
normalized activation, the ReLU output and the unpadded tensor are never written.

Between stages, in plain Python on ``(N, C)`` tensors: the statistics go through
:func:`artem_vr.style.norm.filter_stats` with the network's own norm module as the key — the
hook point of the comfort wrappers is kept, and a filter never triggers a recompile (the
statistics are data, not code). Weights are passed to each stage as tensor inputs: a style switch
copies new weights into the same storages (:meth:`artem_vr.style.engine.InferenceEngine.load`)
and the compiled stages run them as they are.

Without compilation (``compile=False``) the very same stage functions run eagerly: that is the
CPU test of the maths against :class:`~artem_vr.style.generator.TransformNet`, and the fallback
where Inductor is unavailable. Activation dtype: the prepared module's (bf16/fp16/fp32); the
affine and the statistics are float32; memory format: whatever the input has (channels_last
stays channels_last — no norm converts back to NCHW).

Compile cache: Inductor's and Triton's caches go to :func:`compile_cache_dir` (the user data
folder), set only around this module's calls (:func:`compile_cache`), so nothing leaks into the
rest of the process. :func:`compiled`, :func:`compiling` and :func:`startup_note` are the one
compile machinery: AdaIN's fused stages (:mod:`artem_vr.style.adain_fused`) run through them too.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from artem_vr.errors import UsageError
from artem_vr.frames import check_image
from artem_vr.style.generator_net import ResidualBlock, TransformNet, Upsample
from artem_vr.style.norm import filter_stats
from artem_vr.paths import user_data_dir

#: environment variables the compiler reads for its on-disk caches
_CACHE_ENV = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")
#: distinct compiled stages per input size (about 9 for the generators) times sizes and dtypes
RECOMPILE_LIMIT = 64



def compile_cache_dir() -> Path:
    """Where compiled kernels are kept between runs: ``<user data>/cache/torch-compile``."""
    return user_data_dir() / "cache" / "torch-compile"


@contextlib.contextmanager
def compile_cache(path: Path | None = None):
    """Point Inductor's and Triton's caches at ``path`` (default :func:`compile_cache_dir`) for the
    duration of the block only; the previous environment is restored after (Inductor itself
    writes its default into the environment on first use — that is undone too)."""
    path = Path(path or compile_cache_dir())
    saved = {k: os.environ.get(k) for k in _CACHE_ENV}
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path / "inductor")
    os.environ["TRITON_CACHE_DIR"] = str(path / "triton")
    try:
        yield path
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --------------------------------------------------------------------------- the maths


def channel_affine(mean: torch.Tensor, var: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                   eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Instance norm with affine ``(w, b)`` as one per-channel multiply-add ``x·a + c``:
    ``a = w/√(σ²+ε)``, ``c = b − μ·a``. ``mean``/``var`` float32 ``(N, C)`` → ``a, c`` float32 ``(N, C)``."""
    a = torch.rsqrt(var + eps)
    if weight is not None:
        a = a * weight.float()[None]
    c = -mean * a
    if bias is not None:
        c = c + bias.float()[None]
    return a, c


def stats_fp32(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and population variance of ``(N, C, H, W)`` (any memory format), float32
    ``(N, C)``: ``E[y²] − E[y]²`` accumulated in float32 (the maths of
    :func:`artem_vr.style.norm.channel_stats`, written so Inductor fuses both sums in one pass)."""
    yf = y.float()
    mean = yf.mean(dim=(2, 3))
    var = (yf * yf).mean(dim=(2, 3)) - mean * mean
    return mean, var.clamp_min(0.0)


def stage(y: torch.Tensor, mean: torch.Tensor | None, var: torch.Tensor | None, norm_w: torch.Tensor | None,
          norm_b: torch.Tensor | None, res: torch.Tensor | None, weight: torch.Tensor, bias: torch.Tensor | None, *,
          eps: float, relu: bool, add: bool, up: bool, keep: bool, pad: int, stride: int, final: bool):
    """One stage (see the module doc). ``y``: the previous conv's raw output (or the image when
    ``mean`` is None), activation dtype; ``mean``/``var``: its (filtered) statistics, float32
    ``(N, C)``; ``norm_w``/``norm_b``: the previous norm's affine. Returns ``(conv output, mean,
    var, kept prologue output or None)``; ``final``: ``(sigmoid(conv output), None, None, None)``."""
    if mean is None:
        h = y
    else:
        a, c = channel_affine(mean, var, norm_w, norm_b, eps)  # (N, C): computed inside the compiled stage
        h = y.float() * a[:, :, None, None] + c[:, :, None, None]
        if relu:
            h = torch.relu(h)
        if add:
            h = res.float() + h
        h = h.to(y.dtype)
        if up:
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
    kept = h if keep else None
    if pad:
        h = F.pad(h, (pad, pad, pad, pad), mode="reflect")
    out = F.conv2d(h, weight, bias, stride)
    if final:
        return torch.sigmoid(out), None, None, None
    mean, var = stats_fp32(out)
    return out, mean, var, kept


@dataclass(frozen=True)
class StageSpec:
    """What one stage does: its conv, the norm that follows it (None: the last stage), and its
    prologue flags (see :func:`stage`)."""

    name: str
    conv: nn.Conv2d
    norm: nn.Module | None
    first: bool = False
    relu: bool = False
    add: bool = False
    up: bool = False
    keep: bool = False

    def describe(self) -> str:
        pro = [] if self.first else ["norm+affine"] + (["relu"] if self.relu else []) + (["+residual"] if self.add else []) \
            + (["up x2"] if self.up else [])
        k, s = self.conv.kernel_size[0], self.conv.stride[0]
        tail = "sigmoid" if self.norm is None else "stats"
        return " → ".join(pro + [f"pad {k // 2}", f"conv {k}x{k} {self.conv.in_channels}→{self.conv.out_channels}"
                                 + (f" s{s}" if s > 1 else ""), tail])


def _pad_conv(seq: nn.Module) -> nn.Conv2d:
    """The conv of a ``Sequential(ReflectionPad2d(k//2), Conv2d)``, checked."""
    if not (isinstance(seq, nn.Sequential) and len(seq) == 2 and isinstance(seq[0], nn.ReflectionPad2d)
            and isinstance(seq[1], nn.Conv2d) and type(seq[1]) is nn.Conv2d):
        raise UsageError(f"the fused engine expects reflection pad + float conv, found {seq}",
                         "use --engine fast for this network")
    conv = seq[1]
    if seq[0].padding != (conv.kernel_size[0] // 2,) * 4 or conv.padding != (0, 0) or conv.groups != 1:
        raise UsageError("the fused engine expects 'same' reflection padding", "use --engine fast for this network")
    return conv


def stage_plan(net: nn.Module) -> list[StageSpec]:
    """The stages of a :class:`~artem_vr.style.generator.TransformNet` (float convolutions only:
    a binarized XNOR generator is not fusable this way)."""
    if not isinstance(net, TransformNet):
        raise UsageError(f"the fused engine runs generators, not {type(net).__name__}", "use --engine fast")
    specs: list[StageSpec] = []
    for i, blk in enumerate(net.down):  # Sequential(Sequential(pad, conv), norm, relu)
        specs.append(StageSpec(f"down{i}", _pad_conv(blk[0]), blk[1], first=i == 0, relu=i > 0))
    after_res = False
    for i, blk in enumerate(net.res):
        if not isinstance(blk, ResidualBlock):
            raise UsageError(f"unexpected block {type(blk).__name__} in the generator", "use --engine fast")
        a, conv_b, norm_b = blk.body
        specs.append(StageSpec(f"res{i}.a", _pad_conv(a[0]), a[1], relu=not after_res, add=after_res, keep=True))
        specs.append(StageSpec(f"res{i}.b", _pad_conv(conv_b), norm_b, relu=True))
        after_res = True
    for i, blk in enumerate(net.up[:2]):
        if not isinstance(blk, Upsample):
            raise UsageError(f"unexpected block {type(blk).__name__} in the generator", "use --engine fast")
        specs.append(StageSpec(f"up{i}", _pad_conv(blk.conv[0]), blk.conv[1], relu=not (i == 0 and after_res),
                               add=i == 0 and after_res, up=True))
    specs.append(StageSpec("out", _pad_conv(net.up[2]), None, relu=True))
    return specs


_compiled: dict[Callable, Callable] = {}


def _recompile_limit():
    """Dynamo's per-function cache limit raised to :data:`RECOMPILE_LIMIT` for the block (its name
    is ``cache_size_limit`` before torch 2.6)."""
    cfg = torch._dynamo.config
    key = "recompile_limit" if hasattr(cfg, "recompile_limit") else "cache_size_limit"
    return cfg.patch(**{key: max(RECOMPILE_LIMIT, getattr(cfg, key))})


def compiled(fn: Callable) -> Callable:
    """``fn`` under ``torch.compile`` (static shapes, one full graph), made once per function: calls
    that differ in flags, shapes or dtypes are separate cache entries of it (see
    :data:`RECOMPILE_LIMIT`); tensors passed in — weights, statistics — are inputs, never constants.
    Run it inside :func:`compiling`."""
    if fn not in _compiled:
        _compiled[fn] = torch.compile(fn, dynamic=False, fullgraph=True)
    return _compiled[fn]


def compiled_stage() -> Callable:
    """:func:`stage` under ``torch.compile`` (see :func:`compiled`)."""
    return compiled(stage)


@contextlib.contextmanager
def compiling(cache: Path | None = None):
    """Around every call of a :func:`compiled` function: the on-disk cache in the user folder
    (:func:`compile_cache`) and the raised recompile limit, for the block only."""
    with compile_cache(cache), _recompile_limit():
        yield


def startup_note(compile: bool) -> str:
    """What the start-up line says about a fused network (the engine's and AdaIN's ``describe``)."""
    if compile:
        return ("fused stages via torch.compile — compiling on the first frame of each input size "
                "(on CUDA the comfort steps with them; up to minutes the first time; "
                f"cached in {compile_cache_dir()})")
    return "fused stages, not compiled"


class FusedGenerator:
    """Runs a prepared :class:`~artem_vr.style.generator.TransformNet` (``net``: eval, on its
    device and dtype — the engine's live copy, whose parameters it reads at every call) as
    :func:`stage_plan`'s stages. ``compile``: each stage through :func:`compiled_stage` (else the
    same functions eagerly). Same contract as the network: float ``(N, 3, H, W)`` RGB 0–1 →
    ``(N, 3, H, W)`` RGB 0–1 in the network's dtype; any H, W (padded to multiples of 4 and cropped back).

    ``on_stage`` (optional, for the per-stage profile): called as ``on_stage(spec, run)`` where
    ``run()`` runs the stage and returns its outputs; it must return what ``run()`` returned.
    """

    def __init__(self, net: nn.Module, compile: bool = True, cache: Path | None = None):
        self.net = net
        self.specs = stage_plan(net)
        self.compile = compile
        self.cache = cache
        self.on_stage: Callable | None = None

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        fn = compiled_stage() if self.compile else stage
        y, mean, var, res, prev = x, None, None, None, None
        for spec in self.specs:
            conv = spec.conv
            args = (y, mean, var, prev.weight if prev is not None else None, prev.bias if prev is not None else None,
                    res if spec.add else None, conv.weight, conv.bias)
            kw = dict(eps=prev.eps if prev is not None else 0.0, relu=spec.relu, add=spec.add, up=spec.up,
                      keep=spec.keep, pad=conv.kernel_size[0] // 2, stride=conv.stride[0], final=spec.norm is None)
            if self.on_stage is None:
                y, mean, var, kept = fn(*args, **kw)
            else:
                y, mean, var, kept = self.on_stage(spec, lambda: fn(*args, **kw))
            if spec.norm is None:
                return y
            if kept is not None:
                res = kept
            m2, v2 = filter_stats(spec.norm, mean, var, y)  # the comfort wrappers' hook point (no-op without one)
            if m2 is not mean or v2 is not var:  # a filter's result (e.g. expanded over the eyes): dense
                mean, var = m2.float().contiguous(), v2.float().contiguous()  # float32, so strides never recompile
            prev = spec.norm
        raise AssertionError("the stage plan has no final stage")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "fused generator input (RGB 0-1)")
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        if not self.compile:
            return self._run(x)[..., :h, :w]
        with compiling(self.cache):
            return self._run(x)[..., :h, :w]
