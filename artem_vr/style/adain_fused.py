"""AdaIN as two fused stages — the ``fused`` engine of the ``adain`` method (issue 19).

The network is cut where AdaIN needs a global quantity, the content features' per-channel
statistics; each side is one compiled graph through the generator's machinery
(:mod:`artem_vr.style.fused`: :func:`~artem_vr.style.fused.compiled`, the on-disk cache in the user
folder, the start-up note)::

    encode:  Caffe preprocess → (conv 3x3 → ReLU [→ 2x2 pool])… to relu3_1/relu4_1 → mean, var (fp32)
    between: filter_stats(model, mean, var, features)      (plain Python: the comfort wrappers' hook)
    decode:  AdaIN + strength + decoder input scale as one per-channel multiply-add
             → (reflection pad → conv 3x3 → ReLU [→ x2 nearest])… → conv 3x3

AdaIN, the strength α (a lerp between the content features and their AdaIN) and the decoder's
fixed input scale are all affine per channel, so they fold into ``f·A + C`` with
``a = σ_s/√(σ²+ε)``, ``A = s·(1 + α(a − 1))``, ``C = s·α(μ_s − μ·a)`` (``s`` the input scale):
one pointwise pass over the features, computed from ``(N, C)`` tensors inside the graph.

What changes at run time is data, never code: the style statistics (a style switch or a blend),
the filtered content statistics and α are tensor inputs, and so are the weights — switching the
style, the strength or a comfort filter never recompiles (tests/style/test_adain_fused.py counts).
Without compilation (``compile=False``) the same functions run eagerly: the CPU test of their
maths against :class:`~artem_vr.style.adain_net.AdaINModel`, and the dry run of the GPU check.

Activation dtype: ``precision`` "auto" is fp16 on CUDA — what the eager path autocasts to, so
the two are compared at one precision — and fp32 on the CPU; statistics and the fold are float32.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from artem_vr.errors import UsageError
from artem_vr.style.adain_maths import Stats
from artem_vr.style.adain_net import AdaINModel, Scale
from artem_vr.style.engine import _DTYPES, EngineConfig
from artem_vr.style.fused import compiled, compiling, startup_note, stats_fp32
from artem_vr.style.norm import filter_stats

#: AdaIN's ε (:func:`artem_vr.style.adain_maths.adain`)
EPS = 1e-5


# --------------------------------------------------------------------------- the maths


def encode(x: torch.Tensor, caffe_mean: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor],
           *, plan: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The VGG encoder: ``x`` float RGB 0–1 ``(N, 3, H, W)`` → features in the weights' dtype, and
    their per-channel mean and population variance, float32 ``(N, C)``. ``plan``: one letter per
    layer — ``c`` conv 3x3 (zero padding 1), ``r`` ReLU, ``m``/``a`` 2x2 max/average pool."""
    h = (x.flip(1) * 255.0 - caffe_mean).to(weights[0].dtype)  # RGB 0-1 → Caffe BGR 0-255 minus the mean
    i = 0
    for op in plan:
        if op == "c":
            h = F.conv2d(h, weights[i], biases[i], padding=1)
            i += 1
        elif op == "r":
            h = torch.relu(h)
        elif op == "m":
            h = F.max_pool2d(h, 2, 2)
        else:
            h = F.avg_pool2d(h, 2, 2)
    mean, var = stats_fp32(h)
    return h, mean, var


def fold(mean: torch.Tensor, var: torch.Tensor, s_mean: torch.Tensor, s_std: torch.Tensor, alpha: torch.Tensor,
         in_scale: float, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """AdaIN to ``(s_mean, s_std)`` (``(1 or N, C)``), the strength ``alpha`` (0-dim) and the
    decoder's input scale as one per-channel ``f·A + C``: content ``mean``/``var`` ``(N, C)``
    float32 → ``A, C`` float32 ``(N, C)`` (see the module doc)."""
    a = s_std / torch.sqrt(var + eps)
    c = s_mean - mean * a
    return (1.0 + alpha * (a - 1.0)) * in_scale, alpha * c * in_scale


def decode(f: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, s_mean: torch.Tensor, s_std: torch.Tensor,
           alpha: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor], *, plan: str,
           in_scale: float, eps: float = EPS) -> torch.Tensor:
    """AdaIN (:func:`fold`) and the decoder: features ``(N, C, h, w)`` → the decoded image
    ``(N, 3, h·s, w·s)`` in ``f``'s dtype, unclamped. ``plan``: ``c`` reflection pad 1 + conv 3x3,
    ``r`` ReLU, ``u`` nearest x2 upsample."""
    a, c = fold(mean, var, s_mean, s_std, alpha, in_scale, eps)
    h = (f.float() * a[:, :, None, None] + c[:, :, None, None]).to(f.dtype)
    i = 0
    for op in plan:
        if op == "c":
            h = F.conv2d(F.pad(h, (1, 1, 1, 1), mode="reflect"), weights[i], biases[i])
            i += 1
        elif op == "r":
            h = torch.relu(h)
        else:
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
    return h


# --------------------------------------------------------------------------- the plans


def _conv(m: nn.Module, padding: tuple[int, int]) -> nn.Conv2d:
    if not (type(m) is nn.Conv2d and m.kernel_size == (3, 3) and m.stride == (1, 1) and m.dilation == (1, 1)
            and m.groups == 1 and m.padding == padding and m.padding_mode == "zeros"):
        raise UsageError(f"the fused AdaIN engine expects plain 3x3 convolutions, found {m}", "use --engine eager")
    return m


def encoder_plan(body: nn.Sequential) -> tuple[str, list[nn.Conv2d]]:
    """The plan of a VGG ``features`` slice (:class:`~artem_vr.style.vgg.VGGFeatures`'s ``body``)
    and its convolutions, in order."""
    plan, convs = "", []
    for m in body:
        if isinstance(m, nn.Conv2d):
            convs.append(_conv(m, (1, 1)))
            plan += "c"
        elif isinstance(m, nn.ReLU):
            plan += "r"
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) and m.kernel_size in (2, (2, 2)) and m.stride in (2, (2, 2)) \
                and m.padding in (0, (0, 0)) and not m.ceil_mode:
            plan += "m" if isinstance(m, nn.MaxPool2d) else "a"
        else:
            raise UsageError(f"unexpected layer {m} in the AdaIN encoder", "use --engine eager")
    return plan, convs


def decoder_plan(decoder: nn.Sequential) -> tuple[str, list[nn.Conv2d], float]:
    """The plan of :func:`~artem_vr.style.adain_net.make_decoder`'s network, its convolutions and
    its input scale."""
    layers = list(decoder)
    if not layers or not isinstance(layers[0], Scale):
        raise UsageError("the AdaIN decoder must start with its input scale", "use --engine eager")
    plan, convs = "", []
    i = 1
    while i < len(layers):
        m = layers[i]
        if isinstance(m, nn.ReflectionPad2d) and m.padding == (1, 1, 1, 1) and i + 1 < len(layers):
            convs.append(_conv(layers[i + 1], (0, 0)))
            plan += "c"
            i += 2
            continue
        if isinstance(m, nn.ReLU):
            plan += "r"
        elif isinstance(m, nn.Upsample) and m.mode == "nearest" and m.scale_factor in (2, 2.0) and m.size is None:
            plan += "u"
        else:
            raise UsageError(f"unexpected layer {m} in the AdaIN decoder", "use --engine eager")
        i += 1
    return plan, convs, layers[0].factor


# --------------------------------------------------------------------------- the runner


def resolve(config: EngineConfig, device: torch.device) -> EngineConfig:
    """``config`` with its auto fields decided for AdaIN on ``device``: fp16 on CUDA (the eager
    path's autocast dtype), fp32 on the CPU; NCHW unless channels_last is asked."""
    p = config.precision if config.precision != "auto" else ("fp16" if device.type == "cuda" else "fp32")
    return EngineConfig(precision=p, channels_last=bool(config.channels_last), jit="eager", fused=True,
                        compile=config.compile, cudnn_benchmark=config.cudnn_benchmark)


class FusedAdaIN:
    """Runs :class:`~artem_vr.style.adain_net.AdaINModel` ``model`` (eval, on ``device``) as the two
    fused stages. ``engine(x, stats, alpha)``: ``x`` float ``(N, 3, H, W)`` RGB 0–1, H and W
    multiples of the encoder stride; ``stats`` the style's ``(mean, std)``, each ``(1 or N, C, 1,
    1)``; ``alpha`` the strength in [0, 1] → the decoded ``(N, 3, H, W)`` in the activation dtype,
    unclamped (the contract of ``model(x, stats, alpha)``). The content statistics go through
    :func:`~artem_vr.style.norm.filter_stats` with ``model`` as the key, as in the eager path.

    The weights are copied once, in the activation dtype (the same tensors where it is the
    model's); the decoder is fixed for the stylizer's life — styles are statistics.
    """

    kind = "fused"

    def __init__(self, model: AdaINModel, device: str | torch.device = "cpu",
                 config: EngineConfig = EngineConfig(fused=True), cache: Path | None = None):
        self.model = model
        self.device = torch.device(device)
        self.config = resolve(config, self.device)
        self.dtype = _DTYPES[self.config.precision]
        self.cache = cache
        fmt = torch.channels_last if self.config.channels_last else torch.contiguous_format
        self.enc_plan, enc = encoder_plan(model.encoder.body)
        self.dec_plan, dec, self.in_scale = decoder_plan(model.decoder)

        def cast(convs):
            return ([c.weight.detach().to(self.device, self.dtype).contiguous(memory_format=fmt) for c in convs],
                    [c.bias.detach().to(self.device, self.dtype) for c in convs])

        self.enc_w, self.enc_b = cast(enc)
        self.dec_w, self.dec_b = cast(dec)
        self.caffe_mean = model.encoder.caffe_mean.detach().to(self.device, torch.float32)
        self._alpha: tuple[float, torch.Tensor] | None = None
        if self.device.type == "cuda" and self.config.cudnn_benchmark:  # as the generators' engine does
            torch.backends.cudnn.benchmark = True

    @property
    def live(self) -> AdaINModel:
        """The model whose weights run (the statistics filters' key)."""
        return self.model

    def graph_token(self) -> tuple:
        """What a frame graph captured through this engine reads: its weights, fixed for its life."""
        return ("adain-fused", id(self), self.config.precision, self.config.channels_last)

    def _alpha_tensor(self, alpha: float) -> torch.Tensor:
        """α as a 0-dim float32 tensor on the device, remade only when it changes (a Python float
        would be a constant of the compiled graph: a new strength would recompile)."""
        if self._alpha is None or self._alpha[0] != alpha:
            self._alpha = (alpha, torch.tensor(float(alpha), dtype=torch.float32, device=self.device))
        return self._alpha[1]

    def _run(self, x: torch.Tensor, stats: Stats, alpha: float) -> torch.Tensor:
        enc, dec = (compiled(encode), compiled(decode)) if self.config.compile else (encode, decode)
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        f, mean, var = enc(x, self.caffe_mean, self.enc_w, self.enc_b, plan=self.enc_plan)
        m2, v2 = filter_stats(self.model, mean, var, f)  # the comfort wrappers' hook point (no-op without one)
        if m2 is not mean or v2 is not var:  # a filter's result (e.g. expanded over the eyes): dense
            mean, var = m2.float().contiguous(), v2.float().contiguous()  # float32, so strides never recompile
        c = f.shape[1]
        s_mean, s_std = (s.to(self.device, torch.float32).reshape(-1, c) for s in stats)
        return dec(f, mean, var, s_mean, s_std, self._alpha_tensor(alpha), self.dec_w, self.dec_b,
                   plan=self.dec_plan, in_scale=self.in_scale)

    def __call__(self, x: torch.Tensor, stats: Stats, alpha: float = 1.0) -> torch.Tensor:
        s = self.model.variant.downsample
        if x.ndim != 4 or x.shape[-1] % s or x.shape[-2] % s:
            raise ValueError(f"FusedAdaIN: H and W must be multiples of {s}, got {tuple(x.shape)}")
        c = self.enc_w[-1].shape[0]
        for name, t in zip(("mean", "std"), stats):
            if t.numel() not in (c, x.shape[0] * c):
                raise ValueError(f"FusedAdaIN: style {name} must have {c} channels (per image or shared), "
                                 f"got {tuple(t.shape)}")
        x = x.to(self.device, torch.float32)
        if not self.config.compile:
            return self._run(x, stats, alpha)
        with compiling(self.cache):
            return self._run(x, stats, alpha)

    def bytes_per_frame(self, n: int, h: int, w: int, act_bytes: int | None = None) -> int:
        """Bytes the two stages move for ``n`` images of h × w, modelled as
        :func:`artem_vr.layer_profile.count_fused_bytes` models the generator's: the image read
        (float32); each conv's input written by the pointwise chain before it (pad, ReLU, pool,
        upsample, AdaIN's multiply-add) and read by the conv; each conv's output written and read
        once; the features handed from one stage to the other; the weights once."""
        es = act_bytes or torch.empty((), dtype=self.dtype).element_size()
        total = n * 3 * h * w * 4 + sum(t.numel() * t.element_size() for t in self.enc_w + self.enc_b + self.dec_w + self.dec_b)
        c = 3
        for plan, weights in ((self.enc_plan, self.enc_w), (self.dec_plan, self.dec_w)):
            i = 0
            for op in plan:
                if op == "c":
                    total += 2 * n * c * h * w * es  # the conv input: written, read
                    c = weights[i].shape[0]
                    total += 2 * n * c * h * w * es  # the conv output: written, read
                    i += 1
                elif op in "ma":
                    h, w = h // 2, w // 2
                elif op == "u":
                    h, w = h * 2, w * 2
            if plan is self.enc_plan:
                total += 2 * n * c * h * w * es  # the features: written by the encoder, read by the decoder
        return int(total)

    def describe(self) -> str:
        c = self.config
        return ", ".join([self.device.type, c.precision, "channels_last" if c.channels_last else "NCHW",
                          startup_note(c.compile)])
