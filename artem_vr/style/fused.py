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

Conv ways (:data:`CONV_WAYS`): four ways to run one stage's conv, all the same result. On an H200
(bf16, 2×1440×1600) the full generator's four full-resolution stages took 10.5 of its 14.3 ms —
``down0`` (9×9 3→32) 3.9, ``out`` (9×9 32→3) 3.2, ``up1`` (×2 nearest, 3×3 64→32) 2.0, ``up0``
1.4 — at 20–120 TFLOP/s, while its 128-channel stages ran at 300+: three channels (or 32 outputs
at 4.6 Mpix) keep cuDNN off its tensor-core kernels or starve them. The ways:

* ``plain``: ``F.conv2d`` as the network has it;
* ``padded`` (thin convs: :func:`is_thin`): both channel counts zero-padded to multiples of 8,
  channels_last (:func:`thin_conv2d`; 3 → 8 channels is 2.7× the multiply-adds);
* ``s2d`` (thin stride-1 convs, odd kernel, even output): space to depth — the padded input as
  2×2 pixel blocks (4× the channels, half the size), a k×k conv as a ((k+1)/2)² conv with 4× the
  input and output channels, and the output's blocks back (:func:`s2d_conv2d`): 9×9 3→32 becomes
  5×5 12→128, 1.65× the multiply-adds in tensor-core shapes;
* ``subpixel`` (the ×2 nearest upsample + 3×3 stages): the conv of an upsampled image as a 3×3
  conv of the image itself with 4× the outputs, one per output pixel of each 2×2 block
  (:func:`subpixel_conv2d`): the same multiply-adds, a quarter of the input read, and 4× the
  output channels (32 → 128).

Which is fastest is the GPU's to say, so on CUDA each stage with more than one way
(:func:`stage_ways`; ``padded`` only where neither rewrite applies: :func:`timed_ways`) is timed
every way at the first frame of each input size (compiled, as it will run), and the fastest is
kept for the process and in the user data folder (:class:`ConvChoices`; one log line with the
timings; the engine's ``describe`` says what was chosen); :data:`CONV_WAYS_ENV` forces one way
wherever it applies. The CPU runs them plain, untimed (its tests check every way's maths, forced).

Compile cache: Inductor's and Triton's caches go to :func:`compile_cache_dir` (the user data
folder), set only around this module's calls (:func:`compile_cache`), so nothing leaks into the
rest of the process. :func:`compiled`, :func:`compiling` and :func:`startup_note` are the one
compile machinery: AdaIN's fused stages (:mod:`artem_vr.style.adain_fused`) run through them too.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch._dynamo.exc import TorchDynamoException

from artem_vr.atomic import write_text_atomic
from artem_vr.errors import ArtemError, UsageError
from artem_vr.frames import check_image
from artem_vr.style.generator_net import ResidualBlock, TransformNet, Upsample
from artem_vr.style.norm import filter_stats
from artem_vr.paths import user_data_dir

log = logging.getLogger(__name__)

#: environment variables the compiler reads for its on-disk caches
_CACHE_ENV = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")
#: distinct compiled stages per input size (about 9 for the generators, plus the other ways of the
#: stages timed on CUDA: 4 more for the full generator, 5 for the compact one) times sizes,
#: networks and dtypes in one process (a bench runs several)
RECOMPILE_LIMIT = 128
#: the channel multiple the tensor-core (implicit-GEMM) convolution kernels want: 8 bf16/fp16 elements, 16 bytes
THIN_MULTIPLE = 8
#: the ways a stage's conv can run (see the module doc), "plain" first
CONV_WAYS = ("plain", "padded", "s2d", "subpixel")
#: forces one way (:data:`CONV_WAYS`) wherever it applies, plain elsewhere; unset or "auto": timed
#: on CUDA, plain elsewhere
CONV_WAYS_ENV = "ARTEM_VR_CONV_WAYS"


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


def is_thin(conv: nn.Conv2d) -> bool:
    """Whether ``conv`` has a channel count (in or out) that is not a multiple of :data:`THIN_MULTIPLE`:
    the convolutions tensor-core kernels cannot take as they are (see the module doc)."""
    return conv.in_channels % THIN_MULTIPLE != 0 or conv.out_channels % THIN_MULTIPLE != 0


def _channels_last(t: torch.Tensor) -> bool:
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def _plain_format(h: torch.Tensor, weight: torch.Tensor) -> torch.memory_format:
    """The memory format ``F.conv2d(h, weight)`` gives: channels_last when either is."""
    return torch.channels_last if _channels_last(h) or _channels_last(weight) else torch.contiguous_format


def thin_conv2d(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int = 1) -> torch.Tensor:
    """``F.conv2d(h, weight, bias, stride)`` with both channel counts zero-padded to multiples of
    :data:`THIN_MULTIPLE` and the conv run in channels_last, so that cuDNN can use its tensor-core
    implicit-GEMM kernels on a 3-channel input or output (the ``padded`` way). The zero input
    channels meet zero weights and the padded output channels (zero weights, zero bias) are sliced
    off: the same result, shape, dtype and memory format as the plain conv (dense: converted back
    when that was NCHW, so that the next stage reads what it always reads). The weights are padded
    here, inside the stage, because they are stage inputs: a style switch copies new weights in and
    still recompiles nothing."""
    co, ci = weight.shape[:2]
    pi, po = -ci % THIN_MULTIPLE, -co % THIN_MULTIPLE
    fmt = _plain_format(h, weight)
    if pi:
        h = F.pad(h, (0, 0, 0, 0, 0, pi))
    if pi or po:
        weight = F.pad(weight, (0, 0, 0, 0, 0, pi, 0, po))
    if bias is not None and po:
        bias = F.pad(bias, (0, po))
    cl = torch.channels_last
    out = F.conv2d(h.contiguous(memory_format=cl), weight.contiguous(memory_format=cl), bias, stride)
    if po:
        out = out[:, :co]
    return out.contiguous(memory_format=fmt)


def _conv_tc(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A stride-1 conv, channel-padded (:func:`thin_conv2d`) where a count is off the multiple of 8."""
    if weight.shape[0] % THIN_MULTIPLE or weight.shape[1] % THIN_MULTIPLE:
        return thin_conv2d(h, weight, bias)
    return F.conv2d(h, weight, bias)


def _bias4(bias: torch.Tensor | None) -> torch.Tensor | None:
    """Each channel's bias four times in a row (the four pixels of a 2×2 block), as a gather rather
    than ``repeat_interleave``: that one ends in a view of a computed buffer, and Inductor 2.11's conv
    lowering cannot take a view as the bias ("LoweringException: NotImplementedError: View")."""
    if bias is None:
        return None
    return bias.index_select(0, torch.arange(4 * bias.shape[0], device=bias.device) // 4)


def s2d_weight(weight: torch.Tensor) -> torch.Tensor:
    """The ``(4·Co, 4·Ci, E, E)`` weights (``E = (k+1)/2``) of the space-to-depth form of a stride-1
    k×k conv (odd k): output block pixel (a, b) of channel o from input block pixel (α, β) of
    channel c at block offset (e, f) is ``w[o, c, 2e+α−a, 2f+β−b]`` (zero outside the kernel).
    Channels are ordered as :func:`torch.nn.functional.pixel_unshuffle` orders them: (c, α, β)."""
    co, ci, k, _ = weight.shape
    e = (k + 1) // 2
    w1 = F.pad(weight, (1, 2 * e - k, 1, 2 * e - k))  # (co, ci, 2e+1, 2e+1): index i+1 holds w[..., i]
    rows = torch.stack([w1[:, :, 1 - a:1 - a + 2 * e, :] for a in (0, 1)], 2).unflatten(3, (e, 2))  # co ci a e α col
    both = torch.stack([rows[..., 1 - b:1 - b + 2 * e] for b in (0, 1)], 3).unflatten(6, (e, 2))  # co ci a b e α f β
    return both.permute(0, 2, 3, 1, 5, 7, 4, 6).reshape(co * 4, ci * 4, e, e)


def s2d_conv2d(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.conv2d(h, weight, bias)`` (stride 1, odd kernel; ``h`` already padded, its output of even
    size) by space to depth (the ``s2d`` way): ``h`` as 2×2 blocks (:func:`F.pixel_unshuffle`),
    the conv of :func:`s2d_weight` on them, the output's blocks back (:func:`F.pixel_shuffle`). The
    same result, shape, dtype and memory format as the plain conv."""
    fmt = _plain_format(h, weight)
    b4 = _bias4(bias)
    out = _conv_tc(F.pixel_unshuffle(h, 2), s2d_weight(weight), b4)
    return F.pixel_shuffle(out, 2).contiguous(memory_format=fmt)


def subpixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """The ``(4·Co, Ci, 3, 3)`` weights of a 3×3 conv over a ×2 nearest-upsampled, reflection-padded
    image written as a 3×3 conv over the image itself (edge-replicated by 1): output pixel (a, b) of
    each 2×2 block of channel o is the sum of the taps that land on the same source pixel — along
    each axis, for a = 0: (w₀, w₁+w₂, 0); for a = 1: (0, w₀+w₁, w₂). Channels (o, a, b), as
    :func:`F.pixel_shuffle` reads them."""
    co, ci = weight.shape[:2]
    dtype = weight.dtype  # the taps summed in float32 at least, rounded once
    weight = weight.to(torch.promote_types(dtype, torch.float32))
    zero = torch.zeros_like(weight[:, :, :1])
    rows = torch.stack([torch.cat([weight[:, :, :1], weight[:, :, 1:2] + weight[:, :, 2:], zero], 2),
                        torch.cat([zero, weight[:, :, :1] + weight[:, :, 1:2], weight[:, :, 2:]], 2)], 2)  # co ci a t j
    zc = torch.zeros_like(rows[..., :1])
    both = torch.stack([torch.cat([rows[..., :1], rows[..., 1:2] + rows[..., 2:], zc], -1),
                        torch.cat([zc, rows[..., :1] + rows[..., 1:2], rows[..., 2:]], -1)], 3)  # co ci a b t s
    return both.permute(0, 2, 3, 1, 4, 5).reshape(co * 4, ci, 3, 3).to(dtype)


def subpixel_conv2d(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.conv2d(reflect_pad(upsample_nearest_x2(h), 1), weight, bias)`` for a 3×3 ``weight``,
    without the upsampled image (the ``subpixel`` way): a reflection pad of the upsampled image is the
    upsample of an edge-replicated one, so each output 2×2 block is a 3×3 conv of ``h`` replicated
    by 1 (:func:`subpixel_weight`), its four pixels four output channels put back in place by
    :func:`F.pixel_shuffle`. The same result, shape, dtype and memory format as the plain way."""
    fmt = _plain_format(h, weight)
    b4 = _bias4(bias)
    out = _conv_tc(F.pad(h, (1, 1, 1, 1), mode="replicate"), subpixel_weight(weight), b4)
    return F.pixel_shuffle(out, 2).contiguous(memory_format=fmt)


def stage(y: torch.Tensor, mean: torch.Tensor | None, var: torch.Tensor | None, norm_w: torch.Tensor | None,
          norm_b: torch.Tensor | None, res: torch.Tensor | None, weight: torch.Tensor, bias: torch.Tensor | None, *,
          eps: float, relu: bool, add: bool, up: bool, keep: bool, pad: int, stride: int, final: bool,
          way: str = "plain"):
    """One stage (see the module doc). ``y``: the previous conv's raw output (or the image when
    ``mean`` is None), activation dtype; ``mean``/``var``: its (filtered) statistics, float32
    ``(N, C)``; ``norm_w``/``norm_b``: the previous norm's affine. Returns ``(conv output, mean,
    var, kept prologue output or None)``; ``final``: ``(sigmoid(conv output), None, None, None)``.
    ``way``: how the conv runs (:data:`CONV_WAYS`; one that :func:`stage_ways` allows for the stage)."""
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
    if way == "subpixel":  # upsample, pad and conv in one (the kept output would be the upsampled one: never kept)
        out = subpixel_conv2d(h, weight, bias)
        kept = None
    else:
        if up:
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        kept = h if keep else None
        if pad:
            h = F.pad(h, (pad, pad, pad, pad), mode="reflect")
        if way == "padded":
            out = thin_conv2d(h, weight, bias, stride)
        elif way == "s2d":
            out = s2d_conv2d(h, weight, bias)
        else:
            out = F.conv2d(h, weight, bias, stride)
    if final:
        return torch.sigmoid(out), None, None, None
    mean, var = stats_fp32(out)
    return out, mean, var, kept


def stage_ways(conv: nn.Conv2d, *, up: bool, keep: bool, in_hw: tuple[int, int]) -> tuple[str, ...]:
    """The ways (:data:`CONV_WAYS`) a stage's conv can run, "plain" first: ``padded`` for a thin conv,
    ``s2d`` for a thin stride-1 odd-kernel conv with an even output size (``in_hw``: the stage's
    input size, before any upsample), ``subpixel`` for an upsample + 3×3 stage whose prologue output
    is not kept."""
    k, stride = conv.kernel_size[0], conv.stride[0]
    ways = ["plain"]
    thin = is_thin(conv)
    if thin:
        ways.append("padded")
    if thin and stride == 1 and k % 2 == 1 and k >= 3 and not up and in_hw[0] % 2 == 0 and in_hw[1] % 2 == 0:
        ways.append("s2d")
    if up and k == 3 and stride == 1 and not keep:
        ways.append("subpixel")
    return tuple(ways)


def timed_ways(ways: tuple[str, ...]) -> tuple[str, ...]:
    """The ways of :func:`stage_ways` worth timing (each costs a compile on the first frame of a
    size): ``padded`` only where neither rewrite applies — against ``s2d`` it does 1.6× the
    multiply-adds (9×9 3→32: 8·81·32 against 16·25·128/4 per pixel) into a GEMM a quarter as wide,
    against ``subpixel`` it reads 4× the input. Forced (:data:`CONV_WAYS_ENV`) it still runs."""
    if "s2d" in ways or "subpixel" in ways:
        return tuple(w for w in ways if w != "padded")
    return ways


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


class CompiledOrEager:
    """Runs small pure tensor maths (the comfort wrappers' device steps, foveation's statistics
    estimate) through :func:`compiled` until the compiler fails once, then eagerly: the same
    numbers, slower, and one warning that says so. A compiler failure — a lowering that one torch
    release or GPU lacks (torch 2.11's Inductor could not lower the conv ways' four-times bias) — is
    raised before anything ran, so nothing is half done; ``error`` keeps its first line for the
    records. An error of the maths itself is the eager run's to raise."""

    def __init__(self, what: str):
        self.what = what
        self.error = ""

    def __call__(self, fn: Callable, args: tuple, kw: dict, eager_kw: dict | None = None, compile: bool = True):
        """``fn(*args, **kw)`` compiled (when ``compile`` and nothing failed before), else
        ``fn(*args, **kw, **eager_kw)``."""
        if compile and not self.error:
            try:
                with compiling():
                    return compiled(fn)(*args, **kw)
            except TorchDynamoException as e:  # the compiler's, before the maths ran
                self.error = f"{fn.__name__}: {type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"
                log.warning("%s: compiling %s failed (%s); it runs eagerly from now on", self.what, fn.__name__, self.error)
        return fn(*args, **kw, **(eager_kw or {}))


def startup_note(compile: bool) -> str:
    """What the start-up line says about a fused network (the engine's and AdaIN's ``describe``)."""
    if compile:
        return ("fused stages via torch.compile — compiling on the first frame of each input size "
                "(on CUDA the comfort steps with them; up to minutes the first time; "
                f"cached in {compile_cache_dir()})")
    return "fused stages, not compiled"


# --------------------------------------------------------------------------- conv ways, chosen by timing


def conv_ways_setting() -> str | None:
    """:data:`CONV_WAYS_ENV` read: a way of :data:`CONV_WAYS` (forced wherever it applies), or None
    (auto: timed on CUDA)."""
    v = os.environ.get(CONV_WAYS_ENV, "").strip().lower()
    if v in ("", "auto"):
        return None
    if v in CONV_WAYS:
        return v
    raise UsageError(f"{CONV_WAYS_ENV}={v!r} is not one of auto, {', '.join(CONV_WAYS)}",
                     f"unset {CONV_WAYS_ENV} (each stage's ways timed on CUDA), or force one: plain (the network's "
                     "convs), padded (thin convs channel-padded, channels_last), s2d (thin 9×9/7×7 convs by space "
                     "to depth), subpixel (upsample stages without the upsampled image)")


def conv_ways_cache_file() -> Path:
    """Where the timed choices are kept between runs: ``<user data>/cache/fused-conv-ways.json``."""
    return user_data_dir() / "cache" / "fused-conv-ways.json"


@dataclass(frozen=True)
class ConvChoice:
    """How one stage's conv runs (``way``, of :data:`CONV_WAYS`), the median milliseconds of each
    way that decided it (``ms``; empty when not timed: forced, or not on CUDA), and the ways that
    failed to compile or run there, with the error's first line (``failed``)."""

    way: str
    ms: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)

    def note(self) -> str:
        if not self.ms and not self.failed:
            return self.way
        parts = [f"{w} {t:.3f} ms" for w, t in self.ms.items()] + [f"{w} failed: {e}" for w, e in self.failed.items()]
        return f"{self.way} ({', '.join(parts)})"


def cuda_time_ms(run: Callable[[], object], warmup: int = 3, reps: int = 10) -> float:
    """Median milliseconds of ``run()`` on the current CUDA stream, by CUDA events, after ``warmup``
    calls (the first one compiles the stage and lets cuDNN autotune: neither is what is compared)."""
    for _ in range(warmup):
        run()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for a, b in events:
        a.record()
        run()
        b.record()
    events[-1][1].synchronize()
    return float(statistics.median(a.elapsed_time(b) for a, b in events))


class ConvChoices:
    """Which way each timed stage runs, per key (GPU, torch version, the stage and its input shape,
    layout and dtype — :func:`conv_key`): timed once every way with ``timer`` and the fastest kept —
    for the process, and in ``path`` (a JSON file, replaced atomically) so a later run neither
    times again nor compiles the losing ways. Why timed and not assumed: the ways trade
    multiply-adds and bytes for tensor-core shapes; only the GPU at hand says which wins.

    ``timer(run) -> ms`` times a zero-argument callable (:func:`cuda_time_ms`; tests pass their own);
    ``devices``: the device types where stages are timed (elsewhere they run plain, untimed)."""

    def __init__(self, timer: Callable[[Callable[[], object]], float] = cuda_time_ms, path: Path | None = None,
                 devices: tuple[str, ...] = ("cuda",)):
        self.timer = timer
        self.path = Path(path) if path is not None else None
        self.devices = devices
        self._known: dict[str, ConvChoice] = {}
        self._read_disk = self.path is not None

    def get(self, key: str) -> ConvChoice | None:
        """The remembered choice for ``key`` (from this process, else the file), or None."""
        if key not in self._known and self._read_disk:
            self._read_disk = False
            self._known = {**self._load(), **self._known}
        return self._known.get(key)

    def choose(self, key: str, runs: dict[str, Callable[[], object]], what: str = "") -> ConvChoice:
        """The remembered choice for ``key``, else: time each of ``runs`` (way → zero-argument
        callable), keep the fastest, log it (one line) and remember it.

        A rewritten way that fails to compile or run (a compiler's lowering missing in one torch
        version, a kernel the GPU lacks) is left out with one warning and its error in the choice's
        ``failed`` (the bench record's ``engine_config`` shows it): the other
        ways give the same sums. ``plain`` is the network's own conv: its failure is the network's,
        and raised."""
        hit = self.get(key)
        if hit is not None and hit.way in runs:
            return hit
        ms: dict[str, float] = {}
        failed: dict[str, str] = {}
        for way, run in runs.items():
            try:
                ms[way] = float(self.timer(run))
            except torch.OutOfMemoryError:
                raise
            except RuntimeError as e:  # compiler and kernel errors (Inductor's, cuDNN's) are RuntimeErrors
                if way == "plain":
                    raise
                failed[way] = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"
                log.warning("fused conv %s: the %s way failed, left out (%s)", what or key, way, failed[way])
        t = ConvChoice(min(ms, key=ms.get), ms, failed)
        self._known[key] = t
        log.info("fused conv %s: %s -> %s", what or key, ", ".join(f"{w} {v:.3f} ms" for w, v in ms.items()), t.way)
        if self.path is not None:
            self._save(key, t)
        return t

    def _load(self) -> dict[str, ConvChoice]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))["choices"]
            out = {str(k): ConvChoice(str(v["way"]), {str(w): float(t) for w, t in v["ms"].items()},
                                      {str(w): str(e) for w, e in v.get("failed", {}).items()})
                   for k, v in raw.items()}
            if any(c.way not in CONV_WAYS for c in out.values()):
                raise ValueError("a way this version does not know")
            return out
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:  # unreadable: timed again, rewritten
            log.warning("ignoring the conv-way choices in %s (%s: %s); timing again", self.path, type(e).__name__, e)
            return {}

    def _save(self, key: str, t: ConvChoice) -> None:
        """Merged with what the file holds now (another process may have added keys), written atomically.
        A file that cannot be written costs a timing at the next start, not this run: one warning."""
        merged = {**self._load(), key: t}
        text = json.dumps({"choices": {k: {"way": v.way, "ms": v.ms, **({"failed": v.failed} if v.failed else {})}
                                       for k, v in sorted(merged.items())}}, indent=1)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, text + "\n", what="conv-way choices")
        except (OSError, ArtemError) as e:
            log.warning("conv-way choice not cached in %s: %s", self.path, e)


_default_choices: ConvChoices | None = None


def default_conv_choices() -> ConvChoices:
    """The process's :class:`ConvChoices` (CUDA events, cached in :func:`conv_ways_cache_file`), made on first use."""
    global _default_choices
    if _default_choices is None:
        _default_choices = ConvChoices(path=conv_ways_cache_file())
    return _default_choices


@functools.lru_cache(maxsize=None)
def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def conv_key(y: torch.Tensor, weight: torch.Tensor, kw: dict) -> str:
    """The key of one stage's choice: GPU name, torch version, the stage's input shape, layout and
    dtype, its conv's weight shape, stride and padding, and its prologue flags."""
    flags = ",".join(k for k in ("relu", "add", "up", "keep", "final") if kw[k]) or "first"
    layout = "channels_last" if _channels_last(y) else "nchw"
    dtype = str(y.dtype).replace("torch.", "")
    return (f"{_device_name(y.device)} | torch {torch.__version__} | in {tuple(y.shape)} {layout} {dtype} "
            f"| conv {tuple(weight.shape)} s{kw['stride']} pad {kw['pad']} | {flags}")


class FusedGenerator:
    """Runs a prepared :class:`~artem_vr.style.generator.TransformNet` (``net``: eval, on its
    device and dtype — the engine's live copy, whose parameters it reads at every call) as
    :func:`stage_plan`'s stages. ``compile``: each stage through :func:`compiled_stage` (else the
    same functions eagerly). Same contract as the network: float ``(N, 3, H, W)`` RGB 0–1 →
    ``(N, 3, H, W)`` RGB 0–1 in the network's dtype; any H, W (padded to multiples of 4 and cropped back).

    ``on_stage`` (optional, for the per-stage profile): called as ``on_stage(spec, run)`` where
    ``run()`` runs the stage and returns its outputs; it must return what ``run()`` returned (the
    stages' timing, when there is one, runs before it and outside it).

    ``way``: one of :data:`CONV_WAYS` forced on every stage it applies to (plain elsewhere), or None:
    as :data:`CONV_WAYS_ENV` says, else each stage with more than one way (:func:`stage_ways`)
    chosen per input by ``choices`` (default :func:`default_conv_choices`: timed on CUDA, plain on
    the CPU).
    """

    def __init__(self, net: nn.Module, compile: bool = True, cache: Path | None = None, way: str | None = None,
                 choices: ConvChoices | None = None):
        if way is not None and way not in CONV_WAYS:
            raise ValueError(f"way {way!r} is not one of {CONV_WAYS}")
        self.net = net
        self.specs = stage_plan(net)
        self.compile = compile
        self.cache = cache
        self.on_stage: Callable | None = None
        self.way = conv_ways_setting() if way is None else way
        self._forced_by = f"{CONV_WAYS_ENV}={self.way}" if way is None and self.way is not None else "forced"
        self._choices = choices
        #: how each stage with a choice ran at the last call (stage name → :class:`ConvChoice`)
        self.conv_chosen: dict[str, ConvChoice] = {}

    def _timed_device(self, device: torch.device) -> bool:
        return device.type in (self._choices.devices if self._choices is not None else ("cuda",))

    def _way_choice(self, spec: StageSpec, ways: tuple[str, ...], fn: Callable, args: tuple, kw: dict) -> ConvChoice:
        """Forced (:attr:`way`: that way where the stage allows it, else plain), else timed every way
        on the first call of each key on a timed device (CUDA), else plain. Never timed inside a
        CUDA graph capture (the graph wrapper's warm-up calls made the choice before it)."""
        if self.way is not None:
            return ConvChoice(self.way if self.way in ways else "plain")
        y = args[0]
        if not self._timed_device(y.device):
            return ConvChoice("plain")
        choices = self._choices = self._choices or default_conv_choices()
        key = conv_key(y, spec.conv.weight, kw)
        hit = choices.get(key)  # every frame after a size's first: nothing more to do
        if hit is not None and hit.way in ways:
            return hit
        if y.is_cuda and torch.cuda.is_current_stream_capturing():
            return ConvChoice("plain")
        runs = {w: functools.partial(fn, *args, **kw, way=w) for w in timed_ways(ways)}
        return choices.choose(key, runs, f"{spec.name} {tuple(y.shape)} {str(y.dtype).replace('torch.', '')}")

    def ways_note(self) -> str:
        """What the start-up line / bench record says about the conv ways ("" where every stage runs
        plain untimed: the CPU by default)."""
        if self.way is not None:
            return f"conv ways: {self.way} where it applies ({self._forced_by})"
        if not self._timed_device(next(self.net.parameters()).device):
            return ""
        if self.conv_chosen:
            return "conv ways: " + ", ".join(f"{k} {v.note()}" for k, v in self.conv_chosen.items())
        return "conv ways: timed on the first frame of each size"

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        fn = compiled_stage() if self.compile else stage
        y, mean, var, res, prev = x, None, None, None, None
        for spec in self.specs:
            conv = spec.conv
            args = (y, mean, var, prev.weight if prev is not None else None, prev.bias if prev is not None else None,
                    res if spec.add else None, conv.weight, conv.bias)
            kw = dict(eps=prev.eps if prev is not None else 0.0, relu=spec.relu, add=spec.add, up=spec.up,
                      keep=spec.keep, pad=conv.kernel_size[0] // 2, stride=conv.stride[0], final=spec.norm is None)
            ways = stage_ways(conv, up=spec.up, keep=spec.keep, in_hw=tuple(y.shape[-2:]))
            if len(ways) > 1:
                chosen = self.conv_chosen[spec.name] = self._way_choice(spec, ways, fn, args, kw)
                if chosen.way != "plain":
                    kw["way"] = chosen.way
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
