"""The binarized (XNOR-Net) generator and its stylizer, method ``xnor``.

A Johnson :class:`~artem_vr.style.generator.TransformNet` whose residual-block convolutions
are replaced by :class:`BinaryConv2d` (first and last layers, down/up-sampling stay float):

    y = (sign(x − t) ⊛ sign(W)) · α[o] · K[n, y, x] + b[o]

with a learned per-input-channel threshold ``t`` (the block's inputs come after a ReLU, so
plain sign(x) would be all +1), ``α[o] = mean |W[o]|`` and XNOR-Net's activation scale
``K`` = box filter of mean_c |x − t| (:mod:`artem_vr.cuda.xnor_ref`). Training uses the
straight-through estimator (sign forward; gradient passed where |x − t| ≤ 1 for activations,
unchanged for the latent float weights). After :meth:`BinaryConv2d.freeze` only the packed
sign bits (1 bit per weight), α, t and b remain: that is what the weights file holds.

Inference: on CUDA the NVRTC kernels (:mod:`artem_vr.cuda.xnor_ops`); on the CPU the exact
reference via ``F.conv2d`` of ±1 tensors (the same integers, see tests/cuda/test_xnor_ref.py).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from artem_vr.cuda import xnor_ref as R
from artem_vr.cuda.device import cuda_available
from artem_vr.cuda.xnor_ops import xnor_conv2d_cuda
from artem_vr.errors import UsageError, WeightsError
from artem_vr.style.base import Stylizer
from artem_vr.style.engine import make_engine
from artem_vr.style.generator_net import ResidualBlock, generator_from_arch
from artem_vr.style.weights import load_safetensors

ARCH_TYPE = "xnor_transform_net"


class _SignSTE(torch.autograd.Function):
    """sign with sign(0) = +1; backward: gradient where |x| <= 1 (hard-tanh STE)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1).to(g.dtype)


class _WeightSTE(torch.autograd.Function):
    """sign of the latent weights; backward: identity."""

    @staticmethod
    def forward(ctx, w):
        return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)

    @staticmethod
    def backward(ctx, g):
        return g


class XnorAsFloat(nn.Module):
    """A frozen :class:`BinaryConv2d` as float maths (its exact CPU path): the signs as a ±1
    float32 buffer, then ``xnor_conv2d_float`` — what ONNX can express."""

    def __init__(self, b: "BinaryConv2d"):
        super().__init__()
        self.stride, self.padding, self.use_k = b.stride, b.padding, b.use_k
        self.register_buffer("w_sign", R.unpack_bits(b.weight_bits, b.cin).float())
        for name in ("alpha", "bias", "thresh"):
            self.register_buffer(name, getattr(b, name).detach().float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return R.xnor_conv2d_float(x.float(), self.w_sign, self.stride, self.padding, self.alpha, self.bias,
                                   self.thresh, self.use_k)


class BinaryConv2d(nn.Module):
    """XNOR convolution (no padding of its own: the generator reflection-pads before it).

    Float ``(N, C, H, W)`` → float ``(N, O, HO, WO)``. Trainable until :meth:`freeze`.
    """

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, use_k: bool = True):
        super().__init__()
        self.cin, self.cout, self.k, self.stride, self.padding, self.use_k = cin, cout, k, stride, padding, use_k
        self.weight: nn.Parameter | None = nn.Parameter(torch.empty(cout, cin, k, k))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.bias = nn.Parameter(torch.zeros(cout))
        self.thresh = nn.Parameter(torch.zeros(cin))
        # frozen form (filled by freeze() or a weights file)
        self.register_buffer("weight_bits", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("alpha", torch.zeros(0))
        self._w_sign: torch.Tensor | None = None  # CPU path cache (±1 float)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "BinaryConv2d":
        if conv.groups != 1 or conv.dilation != (1, 1) or conv.kernel_size[0] != conv.kernel_size[1]:
            raise UsageError(f"cannot binarize {conv}", "only square, ungrouped, undilated convolutions")
        b = cls(conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0], conv.padding[0])
        with torch.no_grad():
            b.weight.copy_(conv.weight)
            if conv.bias is not None:
                b.bias.copy_(conv.bias)
        return b

    @property
    def frozen(self) -> bool:
        return self.weight is None

    def freeze(self) -> "BinaryConv2d":
        """Keep only the packed signs (int32 (O, K, K, ceil(C/32))) and α; drop the float weights."""
        if not self.frozen:
            w = self.weight.detach().float()
            self.weight_bits = R.pack_bits(w).to(w.device)
            self.alpha = R.weight_alpha(w)
            self.weight = None
            self._w_sign = None
        return self

    def onnx_exportable(self) -> XnorAsFloat:
        """This layer as float maths for ONNX (see :func:`artem_vr.style.onnx.exportable`)."""
        if not self.frozen:
            raise UsageError("cannot export an XNOR network that is still training", "freeze() it first")
        return XnorAsFloat(self)

    def make_frozen_shell(self) -> "BinaryConv2d":
        """Empty frozen buffers of the right shapes (for loading a weights file)."""
        self.weight = None
        self.weight_bits = torch.zeros(self.cout, self.k, self.k, R.words_for(self.cin), dtype=torch.int32)
        self.alpha = torch.zeros(self.cout)
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        self._w_sign = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.cin:
            raise UsageError(f"BinaryConv2d({self.cin}→{self.cout}): expected (N, {self.cin}, H, W), got {tuple(x.shape)}")
        if not self.frozen:
            return self._forward_train(x)
        thresh, bias = self.thresh.detach(), self.bias.detach()
        if x.is_cuda:
            if cuda_available()[0]:
                # half stays half around the kernel (bf16 becomes half: the kernels read fp16/fp32)
                xin = x if x.dtype in (torch.float16, torch.float32) else x.half()
                y = xnor_conv2d_cuda(xin, self.weight_bits, self.cin, self.stride, self.padding,
                                     self.alpha, bias, thresh, self.use_k)
                return y.to(x.dtype)
        if self._w_sign is None or self._w_sign.device != x.device:
            self._w_sign = R.unpack_bits(self.weight_bits, self.cin).to(x.device)
        y = R.xnor_conv2d_float(x.float(), self._w_sign, self.stride, self.padding, self.alpha.float(), bias.float(),
                                thresh.float(), self.use_k)
        return y.to(x.dtype)

    def _forward_train(self, x):
        xs = x - self.thresh.view(1, -1, 1, 1)
        a = _SignSTE.apply(xs)
        wb = _WeightSTE.apply(self.weight)
        alpha = self.weight.abs().mean(dim=(1, 2, 3))
        y = F.conv2d(a, wb, stride=self.stride, padding=self.padding) * alpha.view(1, -1, 1, 1)
        if self.use_k:
            k = F.avg_pool2d(xs.abs().mean(1, keepdim=True), self.k, self.stride, self.padding, count_include_pad=True)
            y = y * k
        return y + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.cin}, {self.cout}, k={self.k}, stride={self.stride}, frozen={self.frozen}"


def _residual_convs(net: nn.Module):
    """(parent, attr, conv) for every nn.Conv2d inside a residual block."""
    for block in net.modules():
        if isinstance(block, ResidualBlock):
            for parent in block.modules():
                for name, child in parent.named_children():
                    if isinstance(child, nn.Conv2d):
                        yield parent, name, child


def binarize_generator(float_net: nn.Module) -> nn.Module:
    """A copy of ``float_net`` with every residual-block conv replaced by a BinaryConv2d
    initialised from it (float weights kept, so it trains; call :func:`freeze` after)."""
    net = copy.deepcopy(float_net)
    found = list(_residual_convs(net))
    if not found:
        raise UsageError("the network has no residual blocks to binarize", "pass a TransformNet")
    for parent, name, conv in found:
        setattr(parent, name, BinaryConv2d.from_conv(conv).to(conv.weight.device))
    return net


def binary_layers(net: nn.Module) -> list[BinaryConv2d]:
    return [m for m in net.modules() if isinstance(m, BinaryConv2d)]


def freeze(net: nn.Module) -> nn.Module:
    for m in binary_layers(net):
        m.freeze()
    return net


def xnor_arch(base_arch: dict) -> dict:
    return {"type": ARCH_TYPE, "base": base_arch}


def xnor_generator_from_arch(arch: dict) -> nn.Module:
    """Model factory for :func:`artem_vr.style.weights.load_safetensors`: frozen shell."""
    if arch.get("type") != ARCH_TYPE:
        raise WeightsError(f"architecture type {arch.get('type')!r} is not an XNOR generator ({ARCH_TYPE})")
    net = binarize_generator(generator_from_arch(arch["base"]))
    for m in binary_layers(net):
        m.make_frozen_shell()
    return net


def model_size(net: nn.Module) -> dict:
    """Bytes of the deployable model vs the same network in fp32.

    Binarized weights count 1 bit each (packed words); everything else (α, thresholds, biases,
    the float layers, norms) counts 4 bytes per value.
    """
    float_bytes = packed = bin_float = bin_packed = 0
    for m in net.modules():
        own = list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False))
        if isinstance(m, BinaryConv2d):
            nw = m.cout * m.cin * m.k * m.k
            words = m.cout * m.k * m.k * R.words_for(m.cin)
            rest = 4 * (m.cout * 2 + m.cin)  # alpha, bias, thresh
            float_bytes += 4 * (nw + m.cout)  # the float conv it replaces: weight + bias
            packed += 4 * words + rest
            bin_float += 4 * nw
            bin_packed += 4 * words
            continue
        for _n, t in own:
            if t.is_floating_point():
                float_bytes += 4 * t.numel()
                packed += 4 * t.numel()
    return {
        "fp32_bytes": float_bytes,
        "xnor_bytes": packed,
        "ratio": float_bytes / max(packed, 1),
        "binarized_weights_ratio": bin_float / max(bin_packed, 1),
    }


class XnorStylizer(Stylizer):
    """Method ``xnor``: a binarized generator per preset (``assets/models/<preset>_xnor_<arch>.safetensors``)
    or user style, or a ``.safetensors`` file given as the style; ``library`` turns names into
    files (see :class:`~artem_vr.style.generator.GeneratorStylizer`)."""

    method = "xnor"

    def __init__(self, device="cpu", arch: str | None = None, engine=None, library=None):
        super().__init__(device, library)
        self.arch = arch
        # engine: eager (default: the module itself — NVRTC kernels on CUDA, ±1 float convs on the
        # CPU), fast, ort (the float fallback in ONNX Runtime), auto (see make_engine)
        self.engine = make_engine(engine or "eager", self.device, self.method)
        self._nets: dict[str, nn.Module] = {}
        self._net: nn.Module | None = None

    @property
    def runs_torch(self) -> bool:
        """False when the network runs outside torch (ONNX Runtime): no torch layer hook fires."""
        return self.engine.kind != "ort"

    def model_path(self, name: str):
        """The XNOR model for a preset or user style name or a ``.safetensors`` file; None if none here."""
        return self.library.model(name, "xnor", self.arch)

    def styles(self) -> list[str]:
        return self.library.names("xnor", self.arch)

    def set_style(self, style: str) -> None:
        if style not in self._nets:
            path = self.model_path(style)
            if path is None:
                raise UsageError(
                    f"no trained XNOR generator for style {style!r}",
                    f"available: {', '.join(self.styles()) or '(none trained)'}; train one with `artem-vr train xnor`",
                )
            self._nets[style] = load_xnor(path, self.device)
        self._net = self._nets[style]
        self.engine.load(self._net)
        self.style = style

    def graph_key(self, x: torch.Tensor) -> tuple | None:
        """As the generator's: the NVRTC kernels launch on torch's current stream, so a CUDA graph
        captures them like torch's own (tests/cuda/test_graphs.py)."""
        return self._engine_graph_key()

    def _forward(self, x):
        if self._net is None:
            raise UsageError("no style selected", "call set_style() first")
        return self.engine(x)


def load_xnor(path, device="cpu") -> nn.Module:
    return load_safetensors(path, xnor_generator_from_arch, expect_arch={"type": ARCH_TYPE}, device=device)
