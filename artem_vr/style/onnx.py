"""Networks as ONNX, in memory: the tracing wrappers, :func:`onnx_model` and the tuned ONNX
Runtime session. The ``ort`` inference engine (:mod:`artem_vr.style.engine`) and the
`artem-vr export` command (:mod:`artem_vr.export`) both use these.

Shapes: every exported network takes float32 ``(N, C, H, W)``; N, H and W are dynamic axes.
"""

from __future__ import annotations

import copy
import io
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

OPSET = 17


class PadToMultiple(nn.Module):
    """``net`` on inputs padded (reflection, bottom/right) to multiples of ``multiple`` and
    cropped back: any H, W >= ``multiple`` in one ONNX graph (the pad amounts are computed from
    the input's shape inside the graph; :class:`~artem_vr.style.generator.TransformNet` pads the
    same way in torch)."""

    def __init__(self, net: nn.Module, multiple: int):
        super().__init__()
        self.net, self.multiple = net, int(multiple)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        m = self.multiple
        y = self.net(F.pad(x, (0, (m - w % m) % m, 0, (m - h % m) % m), mode="reflect"))
        return y[:, :, :h, :w]


class EncoderOutput(nn.Module):
    """:class:`~artem_vr.style.vgg.VGGFeatures` with one layer → that layer's tensor."""

    def __init__(self, encoder: nn.Module, layer: str):
        super().__init__()
        self.encoder, self.layer = encoder, layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[self.layer]


def exportable(net: nn.Module) -> nn.Module:
    """``net`` ready for tracing to ONNX: every submodule with an ``onnx_exportable()`` method (a
    frozen :class:`~artem_vr.style.xnor.BinaryConv2d`: its float maths) is replaced by what that
    returns, in a copy; networks without one are returned as they are."""
    if not any(hasattr(m, "onnx_exportable") for m in net.modules()):
        return net
    net = copy.deepcopy(net)
    for parent in list(net.modules()):
        for name, child in parent.named_children():
            if hasattr(child, "onnx_exportable"):
                setattr(parent, name, child.onnx_exportable())
    return net


def onnx_model(net: nn.Module, example: torch.Tensor, input_name: str = "image", output_name: str = "stylized",
               fold: bool = False):
    """``net`` (one float (N, C, H, W) input, one output) as an ``onnx.ModelProto``, in memory.

    N, H and W are dynamic. ``fold=False`` keeps every parameter as its own initializer named
    after it (the ``ort`` engine swaps weights by name); ONNX Runtime folds constants itself.
    """
    import onnx  # the ONNX package only for an export or the ort engine

    buf = io.BytesIO()
    net = net.eval()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings on shape checks: the shapes are traced symbolically
        torch.onnx.export(net, (example,), buf, dynamo=False, opset_version=OPSET, input_names=[input_name],
                          output_names=[output_name], dynamic_axes={input_name: axes, output_name: axes},
                          do_constant_folding=fold)
    model = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(model)
    return model


def ort_session(model, threads: int | None = None, spin: bool = False):
    """An ONNX Runtime CPU session for ``model`` (``ModelProto``, bytes or a path), tuned as the
    ``ort`` engine measured best (docs/benchmarks.md): intra-op threads = torch's, graph
    optimisation ALL (NCHWc layout, conv+activation fusions), sequential execution, and worker
    threads that sleep between runs (``spin=False``): spinning ones take the cores from the rest
    of the pipeline (torch upscale, optical flow) on a small CPU."""
    import onnxruntime as ort  # ONNX Runtime only for the ort engine or an export check

    so = ort.SessionOptions()
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    so.intra_op_num_threads = int(threads or torch.get_num_threads())
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    src = model.SerializeToString() if hasattr(model, "SerializeToString") else (str(model) if isinstance(model, Path) else model)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
