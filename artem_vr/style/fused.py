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

Thin convolutions (:func:`is_thin`: a channel count that is not a multiple of 8 — the generators'
first conv 3→c and last c→3, and the compact generator's convs to and from its 12 channels):
cuDNN cannot run them on tensor cores as they are. On an H200 (bf16, 2×1440×1600) the full
generator's ``down0`` and ``out`` stages took 3.9 and 3.2 of its 14.3 ms at ~20 TFLOP/s, while its
128-channel stages ran at 300+. :func:`thin_conv2d` zero-pads both channel counts to multiples of 8
(zero input channels; zero weights and bias for the extra outputs, sliced off after) and runs the
conv in channels_last: the same result. Whether that is faster is the GPU's to say (padding 3
channels to 8 does 2.7× the multiply-adds), so on CUDA each thin stage is timed both ways at the
first frame of each input size (compiled, as it will run), and the faster is kept for the process
and in the user data folder (:class:`ThinChoices`; one log line with both timings; the engine's
``describe`` says what was chosen); :data:`THIN_ENV` forces either way. The CPU runs them plain,
untimed (its tests check the padded maths, forced).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from artem_vr.atomic import write_text_atomic
from artem_vr.errors import ArtemError, UsageError
from artem_vr.frames import check_image
from artem_vr.style.generator_net import ResidualBlock, TransformNet, Upsample
from artem_vr.style.norm import filter_stats
from artem_vr.paths import user_data_dir

log = logging.getLogger(__name__)

#: environment variables the compiler reads for its on-disk caches
_CACHE_ENV = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")
#: distinct compiled stages per input size (about 9 for the generators, plus the padded variants
#: of the thin stages timed on CUDA: 2 more for the full generator, 4 for the compact one) times
#: sizes, networks and dtypes in one process (a bench runs several)
RECOMPILE_LIMIT = 128
#: the channel multiple the tensor-core (implicit-GEMM) convolution kernels want: 8 bf16/fp16 elements, 16 bytes
THIN_MULTIPLE = 8
#: forces the thin convolutions: "1" padded + channels_last, "0" plain; unset or "auto": timed on CUDA, plain elsewhere
THIN_ENV = "ARTEM_VR_THIN_CONVS"


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


def thin_conv2d(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int) -> torch.Tensor:
    """``F.conv2d(h, weight, bias, stride)`` with both channel counts zero-padded to multiples of
    :data:`THIN_MULTIPLE` and the conv run in channels_last, so that cuDNN can use its tensor-core
    implicit-GEMM kernels on a 3-channel input or output. The zero input channels meet zero weights
    and the padded output channels (zero weights, zero bias) are sliced off: the same result, shape,
    dtype and memory format as the plain conv (dense: converted back when that was NCHW, so that
    the next stage reads what it always reads). The weights are padded here, inside the stage,
    because they are stage inputs: a style switch copies new weights in and still recompiles nothing."""
    co, ci = weight.shape[:2]
    pi, po = -ci % THIN_MULTIPLE, -co % THIN_MULTIPLE
    keep_cl = _channels_last(h) or _channels_last(weight)  # what the plain conv's output would be
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
    return out.contiguous(memory_format=torch.channels_last if keep_cl else torch.contiguous_format)


def stage(y: torch.Tensor, mean: torch.Tensor | None, var: torch.Tensor | None, norm_w: torch.Tensor | None,
          norm_b: torch.Tensor | None, res: torch.Tensor | None, weight: torch.Tensor, bias: torch.Tensor | None, *,
          eps: float, relu: bool, add: bool, up: bool, keep: bool, pad: int, stride: int, final: bool,
          thin: bool = False):
    """One stage (see the module doc). ``y``: the previous conv's raw output (or the image when
    ``mean`` is None), activation dtype; ``mean``/``var``: its (filtered) statistics, float32
    ``(N, C)``; ``norm_w``/``norm_b``: the previous norm's affine. Returns ``(conv output, mean,
    var, kept prologue output or None)``; ``final``: ``(sigmoid(conv output), None, None, None)``.
    ``thin``: the conv through :func:`thin_conv2d` (channels padded, channels_last; same results)."""
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
    out = thin_conv2d(h, weight, bias, stride) if thin else F.conv2d(h, weight, bias, stride)
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


# --------------------------------------------------------------------------- thin convolutions, chosen by timing


def thin_setting() -> bool | None:
    """:data:`THIN_ENV` read: True (padded), False (plain) or None (auto: timed on CUDA)."""
    v = os.environ.get(THIN_ENV, "").strip().lower()
    if v in ("", "auto"):
        return None
    if v in ("0", "1"):
        return v == "1"
    raise UsageError(f"{THIN_ENV}={v!r} is not 0, 1 or auto",
                     f"unset {THIN_ENV}, or set 0 (plain convs), 1 (channel-padded, channels_last) "
                     "or auto (timed on CUDA)")


def thin_cache_file() -> Path:
    """Where the timed choices are kept between runs: ``<user data>/cache/fused-thin-convs.json``."""
    return user_data_dir() / "cache" / "fused-thin-convs.json"


@dataclass(frozen=True)
class ThinTiming:
    """How one thin stage runs: channel-padded + channels_last (``thin``) or plain, and the median
    milliseconds of each that decided it (None when not timed: forced, or not on CUDA)."""

    thin: bool
    plain_ms: float | None = None
    thin_ms: float | None = None

    def note(self) -> str:
        what = "padded+NHWC" if self.thin else "plain"
        if self.plain_ms is None or self.thin_ms is None:
            return what
        return f"{what} (plain {self.plain_ms:.3f} ms, padded {self.thin_ms:.3f} ms)"


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


class ThinChoices:
    """Which way each thin stage runs, per key (GPU, torch version, the stage and its input shape,
    layout and dtype — :func:`thin_key`): timed once both ways with ``timer`` and the faster kept —
    for the process, and in ``path`` (a JSON file, replaced atomically) so a later run neither
    times again nor compiles the losing variant. Why timed and not assumed: padding a 3-channel
    conv to 8 channels does 2.7× the multiply-adds; only the GPU at hand says whether tensor cores
    win that back.

    ``timer(run) -> ms`` times a zero-argument callable (:func:`cuda_time_ms`; tests pass their own);
    ``devices``: the device types where stages are timed (elsewhere they run plain, untimed)."""

    def __init__(self, timer: Callable[[Callable[[], object]], float] = cuda_time_ms, path: Path | None = None,
                 devices: tuple[str, ...] = ("cuda",)):
        self.timer = timer
        self.path = Path(path) if path is not None else None
        self.devices = devices
        self._known: dict[str, ThinTiming] = {}
        self._read_disk = self.path is not None

    def get(self, key: str) -> ThinTiming | None:
        """The remembered choice for ``key`` (from this process, else the file), or None."""
        if key not in self._known and self._read_disk:
            self._read_disk = False
            self._known = {**self._load(), **self._known}
        return self._known.get(key)

    def choose(self, key: str, plain: Callable[[], object], thin: Callable[[], object], what: str = "") -> ThinTiming:
        """The remembered choice for ``key``, else: time ``plain()`` and ``thin()``, keep the faster,
        log it (one line) and remember it."""
        hit = self.get(key)
        if hit is not None:
            return hit
        plain_ms, thin_ms = float(self.timer(plain)), float(self.timer(thin))
        t = ThinTiming(thin_ms < plain_ms, plain_ms, thin_ms)
        self._known[key] = t
        log.info("fused thin conv %s: plain %.3f ms, channel-padded channels_last %.3f ms -> %s", what or key, plain_ms,
                 thin_ms, "padded" if t.thin else "plain")
        if self.path is not None:
            self._save(key, t)
        return t

    def _load(self) -> dict[str, ThinTiming]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))["choices"]
            return {str(k): ThinTiming(bool(v["thin"]), float(v["plain_ms"]), float(v["thin_ms"]))
                    for k, v in raw.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:  # unreadable: timed again, rewritten
            log.warning("ignoring the thin-conv choices in %s (%s: %s); timing again", self.path, type(e).__name__, e)
            return {}

    def _save(self, key: str, t: ThinTiming) -> None:
        """Merged with what the file holds now (another process may have added keys), written atomically.
        A file that cannot be written costs a timing at the next start, not this run: one warning."""
        merged = {**self._load(), key: t}
        text = json.dumps({"choices": {k: {"thin": v.thin, "plain_ms": v.plain_ms, "thin_ms": v.thin_ms}
                                       for k, v in sorted(merged.items())}}, indent=1)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, text + "\n", what="thin-conv choices")
        except (OSError, ArtemError) as e:
            log.warning("thin-conv choice not cached in %s: %s", self.path, e)


_default_choices: ThinChoices | None = None


def default_thin_choices() -> ThinChoices:
    """The process's :class:`ThinChoices` (CUDA events, cached in :func:`thin_cache_file`), made on first use."""
    global _default_choices
    if _default_choices is None:
        _default_choices = ThinChoices(path=thin_cache_file())
    return _default_choices


@functools.lru_cache(maxsize=None)
def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def thin_key(y: torch.Tensor, weight: torch.Tensor, kw: dict) -> str:
    """The key of one thin stage's choice: GPU name, torch version, the stage's input shape, layout
    and dtype, its conv's weight shape, stride and padding, and its prologue flags."""
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
    thin stages' timing, when there is one, runs before it and outside it).

    ``thin``: the thin stages (:func:`is_thin`) channel-padded + channels_last (True), plain
    (False), or None: as :data:`THIN_ENV` says, else chosen per stage and input by ``choices``
    (default :func:`default_thin_choices`: timed on CUDA, plain on the CPU).
    """

    def __init__(self, net: nn.Module, compile: bool = True, cache: Path | None = None, thin: bool | None = None,
                 choices: ThinChoices | None = None):
        self.net = net
        self.specs = stage_plan(net)
        self.compile = compile
        self.cache = cache
        self.on_stage: Callable | None = None
        self.thin = thin_setting() if thin is None else thin
        self._forced_by = f"{THIN_ENV}={int(self.thin)}" if thin is None and self.thin is not None else "forced"
        self._choices = choices
        #: how each thin stage ran at the last call (stage name → :class:`ThinTiming`)
        self.thin_chosen: dict[str, ThinTiming] = {}

    def _thin_choice(self, spec: StageSpec, fn: Callable, args: tuple, kw: dict) -> ThinTiming:
        """Forced (:attr:`thin` True/False), else timed both ways on the first call of each key on a
        timed device (CUDA), else plain. Never timed inside a CUDA graph capture (the graph
        wrapper's warm-up calls made the choice before it)."""
        if self.thin is not None:
            return ThinTiming(self.thin)
        y = args[0]
        choices = self._choices
        if y.device.type not in (choices.devices if choices is not None else ("cuda",)):
            return ThinTiming(False)
        choices = self._choices = choices or default_thin_choices()
        key = thin_key(y, spec.conv.weight, kw)
        if y.is_cuda and torch.cuda.is_current_stream_capturing():
            return choices.get(key) or ThinTiming(False)
        return choices.choose(key, lambda: fn(*args, **kw, thin=False), lambda: fn(*args, **kw, thin=True),
                              f"{spec.name} {tuple(y.shape)} {str(y.dtype).replace('torch.', '')}")

    def thin_note(self) -> str:
        """What the start-up line / bench record says about the thin stages ("" where they run plain
        untimed: the CPU by default)."""
        names = [s.name for s in self.specs if is_thin(s.conv)]
        if not names:
            return ""
        if self.thin is not None:
            how = f"padded to x{THIN_MULTIPLE} channels, channels_last" if self.thin else "plain"
            return f"thin convs {how} ({self._forced_by})"
        devices = self._choices.devices if self._choices is not None else ("cuda",)
        if next(self.net.parameters()).device.type not in devices:
            return ""
        if self.thin_chosen:
            return "thin convs: " + ", ".join(f"{k} {v.note()}" for k, v in self.thin_chosen.items())
        return f"thin convs ({', '.join(names)}): padded vs plain timed on the first frame of each size"

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        fn = compiled_stage() if self.compile else stage
        y, mean, var, res, prev = x, None, None, None, None
        for spec in self.specs:
            conv = spec.conv
            args = (y, mean, var, prev.weight if prev is not None else None, prev.bias if prev is not None else None,
                    res if spec.add else None, conv.weight, conv.bias)
            kw = dict(eps=prev.eps if prev is not None else 0.0, relu=spec.relu, add=spec.add, up=spec.up,
                      keep=spec.keep, pad=conv.kernel_size[0] // 2, stride=conv.stride[0], final=spec.norm is None)
            if is_thin(conv):
                chosen = self.thin_chosen[spec.name] = self._thin_choice(spec, fn, args, kw)
                kw["thin"] = chosen.thin
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
