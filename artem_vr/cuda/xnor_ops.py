"""XNOR convolution on CUDA: the ``xnor.cu`` kernels over torch tensors, on torch's stream.

Same conventions and results as :mod:`artem_vr.cuda.xnor_ref` (bit-exact integer dot; the
scaled output in the same float32 order). Needs CUDA; CPU callers use the reference.
"""

from __future__ import annotations

import torch

from artem_vr.cuda.launch import get_kernel, launch
from artem_vr.cuda.xnor_ref import activation_scale, packed_conv_sizes, words_for
from artem_vr.errors import ConventionError

OPT = 8  # output channels per thread; must match XNOR_OPT in xnor.cu
BLOCK = 128
MMA_MAX_O = 128  # MMA_MAX_NT * 8 in xnor_mma.cu
ENGINES = ("popc", "mma")


def default_engine() -> str:
    """``popc`` (xnor.cu, CUDA cores) unless ``ARTEM_VR_XNOR_ENGINE=mma`` (xnor_mma.cu, binary
    tensor cores, sm_80+). popc stays the default until the MMA path has passed its GPU tests."""
    import os

    e = os.environ.get("ARTEM_VR_XNOR_ENGINE", "popc")
    if e not in ENGINES:
        raise ConventionError(f"ARTEM_VR_XNOR_ENGINE={e!r}: choose one of {ENGINES}")
    return e


def mma_supported(o: int, kh: int, kw: int, cw: int, device=None) -> tuple[bool, str]:
    major, _ = torch.cuda.get_device_capability(device)
    if major < 8:
        return False, f"binary MMA needs sm_80+, this GPU is sm_{major}x"
    if o > MMA_MAX_O:
        return False, f"{o} output channels > {MMA_MAX_O}"
    if _mma_shmem(o, kh, kw, cw) > 48 * 1024:
        return False, "weights do not fit 48 KB of shared memory"
    return True, ""


def _kwords(kh: int, kw: int, cw: int) -> int:
    return ((kh * kw * cw + 7) // 8) * 8


def _mma_shmem(o: int, kh: int, kw: int, cw: int) -> int:
    op = (o + 7) // 8 * 8
    return 4 * (op * _kwords(kh, kw, cw) + op * (kh * kw + 1))


def pack_activations(x: torch.Tensor, thresh: torch.Tensor | None = None) -> torch.Tensor:
    """CUDA (N, C, H, W) float32/float16 → packed int32 (N, H, W, ceil(C/32))."""
    if x.ndim != 4 or not x.is_cuda or x.dtype not in (torch.float32, torch.float16):
        raise ConventionError(f"pack_activations: expected CUDA float32/16 (N,C,H,W), got {x.dtype} {tuple(x.shape)} on {x.device}")
    x = x.contiguous()
    n, c, h, w = x.shape
    cw = words_for(c)
    out = torch.empty(n, h, w, cw, dtype=torch.int32, device=x.device)
    if thresh is not None:
        thresh = thresh.to(device=x.device, dtype=torch.float32).contiguous()
    name = "xnor_pack_f32" if x.dtype == torch.float32 else "xnor_pack_f16"
    total = n * cw * h * w
    grid = max(1, min((total + 255) // 256, 65535 * 8))
    launch(get_kernel("xnor", name), grid, 256, x, thresh, out, n, c, h, w, cw)
    return out


def xnor_conv_packed(act: torch.Tensor, wts: torch.Tensor, channels: int, stride: int = 1, pad: int = 0,
                     alpha=None, kscale=None, bias=None, out: torch.Tensor | None = None,
                     engine: str | None = None, out_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Packed (N,H,W,CW) × packed (O,KH,KW,CW) → float32 (or ``out_dtype`` float16) (N,O,HO,WO) on CUDA.

    alpha (O,), kscale (N,HO,WO), bias (O,) float32 or None; all None → the exact integer dot.
    ``out``: a contiguous float32 (N,O,HO,WO) CUDA tensor to write into (else allocated).
    ``engine``: "popc" (xnor.cu) or "mma" (xnor_mma.cu; falls back to popc where unsupported);
    default :func:`default_engine`. Both give identical results.
    """
    n, h, w, cw, o, kh, kw, ho, wo = packed_conv_sizes(act, wts, channels, stride, pad, "xnor_conv_packed")
    dev = act.device

    def f32(t, shape, what):
        if t is None:
            return None
        t = t.to(device=dev, dtype=torch.float32).contiguous()
        if tuple(t.shape) != shape:
            raise ConventionError(f"xnor_conv_packed: {what} must have shape {shape}, got {tuple(t.shape)}")
        return t

    alpha, bias = f32(alpha, (o,), "alpha"), f32(bias, (o,), "bias")
    kscale = f32(kscale, (n, ho, wo), "kscale")
    if out is None:
        out = torch.empty(n, o, ho, wo, dtype=out_dtype, device=dev)
    elif (out.shape != (n, o, ho, wo) or out.dtype not in (torch.float32, torch.float16) or out.device != dev
          or not out.is_contiguous()):
        raise ConventionError(f"xnor_conv_packed: out must be contiguous float32/float16 {(n, o, ho, wo)} on {dev}, "
                              f"got {out.dtype} {tuple(out.shape)}")
    if out.dtype == torch.float16:  # fp16 output: the popc kernel's half variant (same float32 maths, rounded)
        grid = ((ho * wo + BLOCK - 1) // BLOCK, (o + OPT - 1) // OPT, n)
        launch(get_kernel("xnor", "xnor_conv_h"), grid, BLOCK, act.contiguous(), wts.contiguous(), alpha, kscale, bias,
               out, n, channels, h, w, cw, o, kh, kw, stride, pad, ho, wo, shmem=OPT * kh * kw * cw * 4)
        return out
    engine = engine or default_engine()
    if engine not in ENGINES:
        raise ConventionError(f"xnor_conv_packed: unknown engine {engine!r}, choose one of {ENGINES}")
    if engine == "mma" and mma_supported(o, kh, kw, cw, dev)[0]:
        p = n * ho * wo
        launch(get_kernel("xnor_mma", "xnor_conv_mma"), (p + 63) // 64, 128, act.contiguous(), wts.contiguous(), alpha,
               kscale, bias, out, n, channels, h, w, cw, o, kh, kw, stride, pad, ho, wo, _kwords(kh, kw, cw),
               shmem=_mma_shmem(o, kh, kw, cw))
        return out
    grid = ((ho * wo + BLOCK - 1) // BLOCK, (o + OPT - 1) // OPT, n)
    shmem = OPT * kh * kw * cw * 4
    launch(get_kernel("xnor", "xnor_conv"), grid, BLOCK, act.contiguous(), wts.contiguous(), alpha, kscale, bias, out,
           n, channels, h, w, cw, o, kh, kw, stride, pad, ho, wo, shmem=shmem)
    return out


def xnor_conv2d_cuda(x: torch.Tensor, wts_packed: torch.Tensor, channels: int, stride: int = 1, pad: int = 0,
                     alpha=None, bias=None, thresh=None, use_k: bool = True) -> torch.Tensor:
    """Whole binarized convolution on CUDA, same signature as ``xnor_conv2d_ref``.

    float16 input stays float16 around the kernel: packed from fp16, K accumulated in fp32
    without an fp32 copy of the input, fp16 output (the float32 result rounded once). float32 in,
    float32 out."""
    _, kh, kw, _ = wts_packed.shape
    half = x.dtype == torch.float16
    k = activation_scale(x, kh, kw, stride, pad, thresh) if use_k else None
    return xnor_conv_packed(pack_activations(x, thresh), wts_packed, channels, stride, pad, alpha, k, bias,
                            out_dtype=torch.float16 if half else torch.float32)
