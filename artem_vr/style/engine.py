"""One place that prepares a stylization network for inference on its device.

Three engines share one interface (``load(net)``, then ``engine(x)``), made by
:func:`make_engine` from a kind — the ``--engine`` option of run and stylize:

* ``eager`` (:class:`EagerEngine`) — the module itself, fp32, as the stylizers ran before;
* ``fast`` (:class:`InferenceEngine`, below) — torch, prepared per device;
* ``ort`` (:class:`OrtEngine`) — ONNX Runtime's CPU provider on the network exported in memory;
* ``fused`` (:class:`InferenceEngine` with ``EngineConfig(fused=True)``) — the ``fast`` engine's
  prepared network run as fused stages (:mod:`artem_vr.style.fused`: norm + affine + ReLU +
  residual + upsample + pad fused around each conv, through ``torch.compile``); generators only
  here — AdaIN's ``fused`` kind is :class:`artem_vr.style.adain_fused.FusedAdaIN` (same compile
  machinery, its forward also takes the style statistics).
  ``auto`` picks it on CUDA for live work (measured on an H200: 1.6–2.1× ``fast``);
* ``auto`` (:func:`auto_engine`) — ``ort`` on the CPU (never slower than ``fast`` there: 1.1–1.3×
  on a lightly loaded 2-core AVX2 CPU, 2–6× on a loaded one); on CUDA ``fused`` for ``run`` and
  ``bench`` (``fast`` for a one-off ``stylize``, and where Triton is missing).

:class:`InferenceEngine` holds one *live* copy of a network, prepared once per architecture:
eval, no grad, on the device, in the chosen precision and memory format, and (optionally)
traced (CPU) or replayed as a CUDA graph per input shape (:mod:`artem_vr.cuda.graphs`).
Switching styles copies the new style's weights *into* the live copy in place
(:meth:`InferenceEngine.load`): no re-trace, no re-capture, no stall — traced modules and
captured graphs read the same parameter storage, so they see the new weights. A network with
another structure (e.g. compact → full) is prepared afresh.

Images: float ``(N, 3, H, W)`` RGB 0–1 in (on the engine's device, any dtype), float32
``(N, 3, H, W)`` out. N = 2 is both eyes in one batch.

Choices (:class:`EngineConfig`, resolved by :func:`resolve_config`):

* precision — ``auto``: bf16 on CUDA (the defaults table of tools/gpu_check.sh on an H200: the
  full generator at 2×1440×1600 stylized in 31.3 ms in bf16 vs 34.4 ms in fp16, both NCHW, and
  bf16 needs no fp32 instance norms); on the CPU bf16 where the CPU has native bf16 (AMX /
  AVX512-BF16), else fp32. Instance-norm statistics stay fp32 under fp16 (``norm_fp32``; fp16
  variance of large maps overflows); under bf16 (fp32 range) they need not.
* channels_last — ``auto``: off. On the H200 NCHW beat channels_last by 1.35× (31.3 vs 42.2 ms
  bf16; group/instance norm made the input contiguous again); on the CPU it did not pay over
  bf16 NCHW either (docs/benchmarks.md, "Fast inference"). With channels_last the norms are now
  :class:`LayoutKeepingInstanceNorm` (the layout survives the norm) — not re-measured on a GPU yet.
* jit — CPU only: ``trace`` (``torch.jit.trace`` per input shape, weights not frozen so that
  styles swap in place) or ``eager``; ``auto`` = eager: tracing, trace + freeze and
  ``optimize_for_inference`` moved by less than the run-to-run spread over bf16 eager, and a
  frozen module would need one trace per style.
* CUDA graphs are not the engine's: a whole frame (comfort, foveation and the network) replays as
  one, :mod:`artem_vr.temporal.graphed`; this engine gives it :meth:`InferenceEngine.graph_token`.
* fused / compile — the fused stages (compiled, or eager for the CPU tests of their maths); a
  style switch copies weights into the same storages, which the compiled stages take as inputs:
  no recompile (tests/style/test_fused.py counts them). Its full-resolution stages (the thin
  3-channel convs, the upsample stages) have other ways to run the same conv — channel-padded,
  space to depth, subpixel — timed on the first CUDA frame of each size, the fastest kept
  (:class:`artem_vr.style.fused.ConvChoices`; ``describe`` says which); ``ARTEM_VR_CONV_WAYS``
  forces one.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import warnings
from dataclasses import dataclass, replace

import torch
from torch import nn

from artem_vr.errors import UsageError
from artem_vr.frames import check_image
from artem_vr.style.fused import FusedGenerator, channel_affine, startup_note, stats_fp32
from artem_vr.style.norm import StatsInstanceNorm
from artem_vr.style.onnx import PadToMultiple, exportable, onnx_model, ort_session

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class EngineConfig:
    """What to do to the network; ``None``/``"auto"`` fields are resolved per device."""

    precision: str = "auto"
    channels_last: bool | None = None
    jit: str = "auto"  # auto | trace | eager   (CPU)
    norm_fp32: bool | None = None  # None: True for fp16
    cudnn_benchmark: bool = True  # CUDA
    fused: bool = False  # run generators as fused stages (artem_vr.style.fused): the ``fused`` engine
    compile: bool = True  # fused: the stages through torch.compile (False: the same stages eagerly)

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise UsageError(f"unknown precision {self.precision!r}", f"choose one of: {', '.join(PRECISIONS)}")
        if self.jit not in ("auto", "trace", "eager"):
            raise UsageError(f"unknown jit mode {self.jit!r}", "choose auto, trace or eager")


#: the plain path: what the stylizers did before the engine (fp32, eager, NCHW)
EAGER = EngineConfig(precision="fp32", channels_last=False, jit="eager")


#: overrides the CPU probe below: "1" as if the CPU had native bf16, "0" as if not — so a machine
#: without AMX runs the tests as one with it does (slowly: bf16 is emulated), and the other way round
CPU_BF16_ENV = "ARTEM_VR_CPU_BF16"


def cpu_has_native_bf16() -> bool:
    """True where the CPU multiplies bf16 in hardware (AMX-BF16 or AVX512-BF16), or as
    :data:`CPU_BF16_ENV` says."""
    forced = os.environ.get(CPU_BF16_ENV, "")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    words = set(flags.split())
    return bool({"amx_bf16", "avx512_bf16"} & words) and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def resolve_config(config: EngineConfig, device: torch.device) -> EngineConfig:
    """``config`` with every auto field decided for ``device`` (pure apart from the CPU probe)."""
    cuda = device.type == "cuda"
    p = config.precision
    if p == "auto":  # CUDA: bf16 won the defaults table on an H200 (docs/benchmarks.md)
        p = "bf16" if cuda else ("bf16" if cpu_has_native_bf16() else "fp32")
    cl = False if config.channels_last is None else config.channels_last  # NCHW won on CUDA too
    jit = "eager" if config.jit == "auto" else config.jit
    if cuda or config.fused:
        jit = "eager"  # CUDA speed comes from fusion and frame graphs, not from the tracer
    nf = (p == "fp16") if config.norm_fp32 is None else config.norm_fp32
    return replace(config, precision=p, channels_last=cl, jit=jit, norm_fp32=nf)


class GroupInstanceNorm(StatsInstanceNorm):
    """InstanceNorm2d (no running statistics) computed as a group norm with one group per
    channel: the same maths, without instance_norm's repeat-and-batch-norm detour — 1.5–10×
    faster on the CPU at this network's shapes. Same state keys, so weights load unchanged.
    Keeps the statistics hook point of :class:`~artem_vr.style.norm.StatsInstanceNorm`: group
    norm runs when no statistics filter is set."""

    def plain(self, x):
        return nn.functional.group_norm(x, self.num_features, self.weight, self.bias, self.eps)


class LayoutKeepingInstanceNorm(StatsInstanceNorm):
    """Instance norm that keeps the input's memory format (channels_last stays channels_last):
    float32 per-channel statistics (:func:`~artem_vr.style.fused.stats_fp32`) and normalize +
    affine as one per-channel multiply-add in the input's dtype. Group norm (and instance norm)
    return NCHW-contiguous tensors, which made every conv after a norm convert back — why
    channels_last lost on the H200 (docs/benchmarks.md). Same state keys and hook point."""

    def plain(self, x):
        a, c = channel_affine(*stats_fp32(x), self.weight, self.bias, self.eps)
        return (x.float() * a[..., None, None] + c[..., None, None]).to(x.dtype)


class Fp32InstanceNorm(GroupInstanceNorm):
    """:class:`GroupInstanceNorm` computed in float32, returning the input's dtype (for fp16)."""

    def plain(self, x):
        w = self.weight.float() if self.weight is not None else None
        b = self.bias.float() if self.bias is not None else None
        return nn.functional.group_norm(x.float(), self.num_features, w, b, self.eps).to(x.dtype)


def _structure(net: nn.Module) -> tuple:
    return (type(net).__qualname__,) + tuple((k, tuple(v.shape)) for k, v in net.state_dict().items())


def prepare_module(net: nn.Module, device: torch.device, cfg: EngineConfig) -> nn.Module:
    """A deep copy of ``net``: eval, no grad, on ``device``, in ``cfg.precision`` (resolved),
    channels_last if asked; instance norms without running statistics (plain or
    :class:`~artem_vr.style.norm.StatsInstanceNorm`) become :class:`GroupInstanceNorm`
    (:class:`Fp32InstanceNorm` if ``cfg.norm_fp32``; :class:`LayoutKeepingInstanceNorm` with
    channels_last), which keep the statistics hook point."""
    live = copy.deepcopy(net).eval().requires_grad_(False)
    norm_class = LayoutKeepingInstanceNorm if cfg.channels_last else Fp32InstanceNorm if cfg.norm_fp32 else GroupInstanceNorm
    for m in live.modules():
        if type(m) in (nn.InstanceNorm2d, StatsInstanceNorm) and not m.track_running_stats:
            m.__class__ = norm_class
    live = live.to(device=device, dtype=_DTYPES[cfg.precision])
    if cfg.norm_fp32:
        for m in live.modules():
            if isinstance(m, (Fp32InstanceNorm, LayoutKeepingInstanceNorm)):
                m.float()
    if cfg.channels_last:
        live = live.to(memory_format=torch.channels_last)
    return live


class InferenceEngine:
    """Runs one network (weights swappable in place) on ``device`` as ``config`` says.

    ``load(net)`` selects the network whose weights to run: a new structure is prepared at once
    (:attr:`live` is then the module that will run — wrappers that count its normalization
    layers, e.g. the temporal statistics filters, find it there); same structure: the weights are copied into
    :attr:`live` in place on the next call, on the caller's thread/stream (no re-trace, no
    re-capture). ``engine(x)`` runs it: ``(N, 3, H, W)`` RGB 0–1 → float32
    ``(N, 3, H, W)``.
    """

    kind = "fast"

    def __init__(self, device: str | torch.device = "cpu", config: EngineConfig = EngineConfig()):
        self.device = torch.device(device)
        self.config = resolve_config(config, self.device)
        self.dtype = _DTYPES[self.config.precision]
        if self.config.fused:
            self.kind = "fused"
        self._live: nn.Module | None = None
        self._fused: FusedGenerator | None = None
        self._key: tuple | None = None
        self._pending: nn.Module | None = None
        self._loaded: nn.Module | None = None
        self._compiled: dict[tuple, object] = {}  # shape -> traced module (CPU jit trace) or the eager forward
        self.prepares = 0  # how many times a structure was prepared (tests: style switch = 0 more)
        if self.device.type == "cuda" and self.config.cudnn_benchmark:
            torch.backends.cudnn.benchmark = True

    @property
    def live(self) -> nn.Module | None:
        """The prepared module that runs (None before the first :meth:`load`)."""
        return self._live

    def load(self, net: nn.Module) -> None:
        """Run ``net``'s weights from the next call on (``net`` itself is not modified)."""
        self._pending = net
        if _structure(net) != self._key:
            self._apply_pending()

    def _apply_pending(self) -> None:
        net, self._pending = self._pending, None
        if net is None or net is self._loaded:
            return
        key = _structure(net)
        if key != self._key:
            self._live = prepare_module(net, self.device, self.config)
            if self.config.fused:  # the same live parameters, run as fused stages
                self._fused = FusedGenerator(self._live, compile=self.config.compile)
            self._key = key
            self._compiled.clear()
            self.prepares += 1
        else:
            with torch.no_grad():  # in place: traced modules / graphs keep reading these storages
                self._live.load_state_dict(net.state_dict())
        self._loaded = net

    def sync(self) -> None:
        """Apply a pending :meth:`load` now (it is otherwise applied at the next call): before a
        replayed graph, which reads :attr:`live`'s storages but runs no Python."""
        if self._pending is not None:
            self._apply_pending()

    def graph_token(self) -> tuple | None:
        """What a frame graph captured through this engine depends on (:meth:`Stylizer.graph_key
        <artem_vr.style.base.Stylizer.graph_key>`): this engine and its prepared structure (a style
        switch within one structure copies weights in place: the same token)."""
        return ("engine", id(self), self.prepares, self.kind, self.config.precision, self.config.channels_last)

    def _eager(self, x: torch.Tensor) -> torch.Tensor:
        return self._live(x) if self._fused is None else self._fused(x)

    def _runner(self, x: torch.Tensor):
        key = (tuple(x.shape), x.dtype)
        fn = self._compiled.get(key)
        if fn is not None:
            return fn
        if self.config.jit == "trace":
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # TracerWarnings about shape-dependent ifs: traced per shape
                fn = torch.jit.trace(self._live, x, check_trace=False)
        else:
            fn = self._eager
        self._compiled[key] = fn
        return fn

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "inference engine input")
        if self._pending is not None:
            self._apply_pending()
        if self._live is None:
            raise UsageError("no network loaded in the inference engine", "call load(net) first")
        x = x.to(self.device, self.dtype)
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(self.config.jit != "trace"), torch.no_grad():
            y = self._runner(x)(x)
        return y.float()

    def describe(self) -> str:
        c = self.config
        parts = [self.device.type, c.precision, "channels_last" if c.channels_last else "NCHW"]
        if self.device.type == "cpu" and not c.fused:
            parts.append(c.jit)
        if c.norm_fp32 and c.precision != "fp32" and not c.fused:
            parts.append("norm fp32")
        if c.fused:
            parts.append(startup_note(c.compile))
            ways = self._fused.ways_note() if self._fused is not None else ""
            if ways:  # the stages' timed conv ways (artem_vr.style.fused.ConvChoices), once the first frame ran
                parts.append(ways)
        return ", ".join(parts)


# ----------------------------------------------------------------------------- ONNX Runtime

#: engine kinds for ``--engine`` (``auto``: :func:`auto_engine`)
ENGINE_KINDS = ("auto", "eager", "fast", "fused", "ort")


class OrtEngine:
    """Runs a network with ONNX Runtime's CPU provider; the same interface as
    :class:`InferenceEngine` (``load(net)``, then ``engine(x)``: float ``(N, 3, H, W)`` RGB 0–1 →
    float32 ``(N, 3, H, W)``, any N, H, W).

    ``load`` exports ``net`` to ONNX in memory (:func:`artem_vr.style.onnx.onnx_model`, batch,
    height and width dynamic: one session serves every input shape) once per structure. A style
    switch (same structure, other weights) writes the new weights into the exported graph's
    initializers by name and opens a session on it — no re-trace (full generator: ~0.1 s against
    ~3 s for an export); sessions are kept per network, so switching back costs nothing. Networks
    whose weights are not all named initializers are exported afresh per network.

    No torch module runs: the networks' statistics hook points (the temporal/stereo filters,
    :mod:`artem_vr.style.norm`) are not in the graph, hence :attr:`live` is None.
    """

    kind = "ort"

    def __init__(self, device: str | torch.device = "cpu", threads: int | None = None, spin: bool = False):
        self.device = torch.device(device)
        if self.device.type != "cpu":
            raise UsageError(f"the ort engine runs on the CPU, not {self.device}", "use --engine fast (or auto) on CUDA")
        self.threads = int(threads or torch.get_num_threads())
        self.spin = spin  # see artem_vr.style.onnx.ort_session
        self._key: tuple | None = None
        self._proto = None  # the exported ModelProto of the current structure
        self._names: dict[str, int] = {}  # state_dict key -> initializer index, when every weight is one
        self._sessions: dict[int, tuple[object, object]] = {}  # id(net) -> (net, session)
        self._session = None
        self.prepares = 0  # exports (tests: a style switch adds none)
        self.sessions_made = 0

    @property
    def live(self):
        return None

    def load(self, net: nn.Module) -> None:
        """Run ``net``'s weights from the next call on (``net`` itself is not modified)."""
        hit = self._sessions.get(id(net))
        if hit is not None and hit[0] is net:
            self._session = hit[1]
            return
        flat = exportable(net)
        key = _structure(flat)
        if key != self._key or not self._names:
            self._export(flat, key)
        else:
            self._swap_weights(flat)
        self._session = self._new_session()
        self._sessions[id(net)] = (net, self._session)

    def _export(self, flat: nn.Module, key: tuple) -> None:
        wrapped = PadToMultiple(copy.deepcopy(flat).float().cpu().eval(), 4)
        self._proto = onnx_model(wrapped, torch.rand(1, 3, 64, 64))
        self._key = key
        self.prepares += 1
        index = {init.name: i for i, init in enumerate(self._proto.graph.initializer)}
        state = flat.state_dict()
        names = {k: index.get("net." + k) for k, v in state.items() if v.is_floating_point()}
        # swap by name only when every float weight is its own initializer (the exporter merges
        # identical tensors, e.g. untrained norm weights, and bakes non-parameter constants)
        used = set(names.values())
        self._names = names if None not in used and len(used) == len(names) else {}

    def _swap_weights(self, flat: nn.Module) -> None:
        from onnx import numpy_helper

        state = flat.state_dict()
        inits = self._proto.graph.initializer
        for k, i in self._names.items():
            inits[i].CopyFrom(numpy_helper.from_array(state[k].detach().float().cpu().numpy(), inits[i].name))

    def _new_session(self):
        self.sessions_made += 1
        return ort_session(self._proto, self.threads, self.spin)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "inference engine input")
        if self._session is None:
            raise UsageError("no network loaded in the inference engine", "call load(net) first")
        a = x.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self._session.run(None, {"image": a})[0])

    def describe(self) -> str:
        import onnxruntime

        return (f"cpu, onnxruntime {onnxruntime.__version__}, fp32, {self.threads} threads"
                + (" (spinning)" if self.spin else "") + ", graph optimisation all")


def compiler_ready(device: str | torch.device) -> tuple[bool, str]:
    """Whether ``torch.compile`` can build kernels for ``device``, and if not why: on CUDA Inductor
    writes Triton kernels, so Triton must be installed (the PyTorch wheels for Linux bring it)."""
    if torch.device(device).type != "cuda":
        return True, ""
    if importlib.util.find_spec("triton") is None:
        return False, "Triton is not installed (torch.compile needs it on CUDA)"
    return True, ""


def auto_engine(device: str | torch.device, method: str = "generator", live: bool = True) -> str:
    """The engine ``auto`` picks for ``method`` on ``device``.

    CUDA, live (``run``, ``bench``): ``fused`` for the generators and AdaIN — on the H200 at
    2×1440×1600 it ran the full generator at 62 stereo FPS against 30 on ``fast``, the compact one
    at 81 against 52, AdaIN fast at 107 against 34 eager (docs/benchmarks.md, "GPU run 5"); its
    compile (up to minutes on the first frame of a size, then cached on disk) is paid once per
    size. Without Triton it cannot compile: ``fast`` (AdaIN: its eager path). XNOR keeps its NVRTC
    kernels: ``eager``. CUDA, not live (``stylize`` of a file: a few frames of one size, where a
    compile would cost more than it saves): ``fast`` (AdaIN eager).

    CPU: ``ort`` — faster than the torch engines on both generators in every measured run: 1.1–1.3×
    ``fast`` on a lightly loaded 2-core AVX2 CPU, 2–6× when other jobs load it (docs/benchmarks.md,
    "ONNX Runtime engine"; no native bf16 there, so ``fast`` ran fp32 — on CPUs with AMX the bf16
    ``fast`` engine is not measured against it yet). AdaIN on the CPU: its eager path."""
    if torch.device(device).type == "cuda":
        if method == "xnor":
            return "eager"
        if live and compiler_ready(device)[0]:
            return "fused"
        return "eager" if method == "adain" else "fast"
    return "eager" if method == "adain" else "ort"


class EagerEngine:
    """The plain path, as the stylizers ran before the engines: the loaded module itself,
    float32, eager (no copy, no norm replacement). Same interface as :class:`InferenceEngine`."""

    kind = "eager"

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self._net: nn.Module | None = None
        self.prepares = 0

    @property
    def live(self) -> nn.Module | None:
        return self._net

    def load(self, net: nn.Module) -> None:
        self._net = net

    def sync(self) -> None:
        """Nothing pending here: :meth:`load` takes effect at once."""

    def graph_token(self) -> tuple | None:
        """The module that runs (one per style: a style switch is another graph)."""
        return ("eager", id(self), id(self._net))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "inference engine input")
        if self._net is None:
            raise UsageError("no network loaded in the inference engine", "call load(net) first")
        return self._net(x.to(self.device, torch.float32)).float()

    def describe(self) -> str:
        return f"{self.device.type}, fp32, plain eager torch"


def make_engine(kind: str | EngineConfig | None, device: str | torch.device = "cpu", method: str = "generator"):
    """An engine for ``kind``: ``eager`` (fp32 eager torch), ``fast`` (:class:`InferenceEngine`,
    precision auto), ``ort`` (:class:`OrtEngine`), ``auto`` / None (:func:`auto_engine`), or an
    :class:`EngineConfig` (an :class:`InferenceEngine` with it)."""
    if isinstance(kind, EngineConfig):
        return InferenceEngine(device, kind)
    kind = kind or "auto"
    if kind not in ENGINE_KINDS:
        raise UsageError(f"unknown engine {kind!r}", f"choose one of: {', '.join(ENGINE_KINDS)}")
    if kind == "auto":
        kind = auto_engine(device, method)
    if kind == "ort":
        return OrtEngine(device)
    if kind == "fused":
        return InferenceEngine(device, EngineConfig(fused=True))
    return EagerEngine(device) if kind == "eager" else InferenceEngine(device, EngineConfig())
