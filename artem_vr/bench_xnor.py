"""`artem-vr bench --layers`: each binarized layer of the XNOR generator against cuDNN on the same
shape (CUDA only): the XNOR convolution alone (popcount and tensor-core kernels, packed input), the
whole XNOR layer (pack + conv) on fp16 and fp32 input, cuDNN fp16 and fp32. CUDA-event times, median.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from artem_vr.cuda import xnor_ops
from artem_vr.cuda.xnor_ref import activation_scale, pack_bits, weight_alpha
from artem_vr.errors import UsageError
from artem_vr.records import commit_id, device_name, now_utc as _now
from artem_vr.style.generator_net import ARCHS, TransformNet
from artem_vr.style.xnor import BinaryConv2d, binarize_generator, freeze


def _cuda_time_ms(fn, reps: int = 50, warm: int = 10) -> float:
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return float(np.median(times))


def xnor_layer_shapes(arch: str, eye_size: tuple[int, int], eyes: int, dev: torch.device) -> list:
    """(BinaryConv2d, input shape) of each binarized layer of an XNOR generator of ``arch`` at the size."""
    net = freeze(binarize_generator(TransformNet(ARCHS[arch]))).to(dev).eval().requires_grad_(False)
    shapes = []
    hooks = [m.register_forward_hook(lambda m, inp, out: shapes.append((m, tuple(inp[0].shape))))
             for m in net.modules() if isinstance(m, BinaryConv2d)]
    w, h = eye_size
    with torch.inference_mode():
        net(torch.rand(eyes, 3, h, w, device=dev))
    for hk in hooks:
        hk.remove()
    return shapes


def bench_layers(dev: torch.device, eye_size: tuple[int, int], eyes: int = 2, arch: str = "full",
                 commit: str | None = None) -> list[dict]:
    """CUDA: each XNOR layer vs cuDNN on the same shape and input dtype: the XNOR convolution alone
    (packed input) and the whole XNOR layer (pack + conv) on fp16 and on fp32 input, against cuDNN
    fp16 on fp16 input and cuDNN fp32 on fp32 input."""
    if dev.type != "cuda":
        raise UsageError("the per-layer XNOR bench needs CUDA", "run it on a GPU machine (tools/gpu_check.sh)")
    torch.backends.cudnn.benchmark = True
    records, seen = [], set()
    for m, shp in xnor_layer_shapes(arch, eye_size, eyes, dev):
        key = (shp, m.cout, m.k, m.stride)
        if key in seen:
            continue
        seen.add(key)
        n, c, hh, ww = shp
        x = torch.randn(n, c, hh, ww, device=dev)
        xh = x.half()
        wt = torch.randn(m.cout, c, m.k, m.k, device=dev)
        wp, alpha = pack_bits(wt), weight_alpha(wt)
        act = xnor_ops.pack_activations(xh)
        k = activation_scale(x, m.k, m.k, m.stride, 0)
        with torch.inference_mode():
            conv_popc = _cuda_time_ms(lambda: xnor_ops.xnor_conv_packed(act, wp, c, m.stride, 0, alpha, k, None, engine="popc"))
            mma_ok = xnor_ops.mma_supported(m.cout, m.k, m.k, act.shape[3])[0]
            conv_mma = (_cuda_time_ms(lambda: xnor_ops.xnor_conv_packed(act, wp, c, m.stride, 0, alpha, k, None, engine="mma"))
                        if mma_ok else None)
            layer_f16 = _cuda_time_ms(lambda: xnor_ops.xnor_conv2d_cuda(xh, wp, c, m.stride, 0, alpha, None, None))
            layer_f32 = _cuda_time_ms(lambda: xnor_ops.xnor_conv2d_cuda(x, wp, c, m.stride, 0, alpha, None, None))
            pack_f16 = _cuda_time_ms(lambda: xnor_ops.pack_activations(xh))
            xcl = xh.contiguous(memory_format=torch.channels_last)
            wcl = wt.half().contiguous(memory_format=torch.channels_last)
            f16 = _cuda_time_ms(lambda: F.conv2d(xcl, wcl, stride=m.stride))
            f32 = _cuda_time_ms(lambda: F.conv2d(x, wt, stride=m.stride))
        ho, wo = (hh - m.k) // m.stride + 1, (ww - m.k) // m.stride + 1
        best_conv = min(v for v in (conv_popc, conv_mma) if v is not None)
        records.append({
            "device": device_name(dev), "layer": f"res_conv{len(records)}", "shape": [n, c, hh, ww, m.cout, m.k, m.stride],
            "eye_size": list(eye_size), "eyes": eyes, "macs": n * m.cout * ho * wo * c * m.k * m.k,
            "xnor_conv_popc_ms": round(conv_popc, 4),
            "xnor_conv_mma_ms": round(conv_mma, 4) if conv_mma is not None else None,
            "xnor_pack_f16_ms": round(pack_f16, 4),
            "xnor_layer_f16_ms": round(layer_f16, 4), "xnor_layer_f32_ms": round(layer_f32, 4),
            "cudnn_fp16_ms": round(f16, 4), "cudnn_fp32_ms": round(f32, 4),
            "conv_speedup_vs_fp16": round(f16 / best_conv, 3), "layer_speedup_vs_fp16": round(f16 / layer_f16, 3),
            "layer_speedup_vs_fp32": round(f32 / layer_f32, 3),
            "commit": commit_id(commit), "date": _now(),
        })
    return records
