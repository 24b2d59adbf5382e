"""CPU reference (torch) of the XNOR convolution in ``xnor.cu``, bit for bit.

Pure functions, any device torch supports. Conventions (same as the kernel):

* ``sign``: +1 where ``x >= t`` (t = per-channel threshold, default 0), else -1.
* Bit packing along channels: bit ``c % 32`` of word ``c // 32``; tail bits (c >= C) are 0.
  Words are stored as int32 (torch has no uint32 arithmetic); the bits are what matter.
* Padding: padded taps contribute 0, so the integer result equals ``F.conv2d`` of the
  ±1 tensors with zero padding: ``dot = Σ_valid taps (C - 2·popcount(a XOR w))``.
* Scaling (XNOR-Net, Rastegari et al. 2016): ``out = (dot · α[o]) · K[n, y, x] + bias[o]``
  with ``α[o] = mean |W[o]|`` and ``K = box filter (KH×KW, stride, padding, zeros counted)
  of A = mean_c |x - t|`` (the paper's K = A ∗ k). Each product rounded in float32 in this
  order, as the kernel does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from artem_vr.errors import ConventionError

_POPC16: torch.Tensor | None = None


def words_for(channels: int) -> int:
    """32-bit words per pixel for ``channels`` channels."""
    return (channels + 31) // 32


def _check4(x: torch.Tensor, where: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ConventionError(f"{where}: expected a 4-d tensor, got {tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")


def _threshold(x: torch.Tensor, thresh: torch.Tensor | None) -> torch.Tensor | float:
    if thresh is None:
        return 0.0
    if thresh.shape != (x.shape[1],):
        raise ConventionError(f"threshold: expected shape ({x.shape[1]},), got {tuple(thresh.shape)}")
    return thresh.to(device=x.device, dtype=torch.float32).view(1, -1, 1, 1)


def sign_pm1(x: torch.Tensor, thresh: torch.Tensor | None = None) -> torch.Tensor:
    """(N, C, H, W) float → ±1 float32 (+1 where x >= thresh[c])."""
    _check4(x, "sign_pm1")
    return torch.where(x.float() >= _threshold(x, thresh), 1.0, -1.0)


def pack_bits(x: torch.Tensor, thresh: torch.Tensor | None = None) -> torch.Tensor:
    """(N, C, H, W) float → packed int32 (N, H, W, ceil(C/32)), bit = x >= thresh[c].

    Weights (O, C, KH, KW) pack with the same function into (O, KH, KW, CW).
    """
    _check4(x, "pack_bits")
    n, c, h, w = x.shape
    cw = words_for(c)
    bits = (x.float() >= _threshold(x, thresh)).to(torch.int64).permute(0, 2, 3, 1)
    if cw * 32 != c:
        bits = F.pad(bits, (0, cw * 32 - c))
    shifts = torch.arange(32, device=x.device, dtype=torch.int64)
    words = (bits.reshape(n, h, w, cw, 32) << shifts).sum(-1)  # 0 .. 2^32-1
    words = torch.where(words >= 2**31, words - 2**32, words)  # reinterpret as int32
    return words.to(torch.int32).contiguous()


def unpack_bits(words: torch.Tensor, channels: int) -> torch.Tensor:
    """Inverse of :func:`pack_bits` on the signs: int32 (N, H, W, CW) → ±1 float (N, C, H, W)."""
    if words.ndim != 4 or words.dtype != torch.int32:
        raise ConventionError(f"unpack_bits: expected int32 (N, H, W, CW), got {words.dtype} {tuple(words.shape)}")
    shifts = torch.arange(32, device=words.device, dtype=torch.int64)
    bits = (words.to(torch.int64).unsqueeze(-1) >> shifts) & 1  # (N, H, W, CW, 32)
    bits = bits.flatten(-2)[..., :channels]
    return (bits.float() * 2 - 1).permute(0, 3, 1, 2).contiguous()


def popcount32(words: torch.Tensor) -> torch.Tensor:
    """Set bits of each int32 word (its 32-bit pattern) → int64, same shape."""
    global _POPC16
    if _POPC16 is None:
        t = torch.zeros(65536, dtype=torch.int64)
        for b in range(16):
            t += (torch.arange(65536) >> b) & 1
        _POPC16 = t
    lut = _POPC16.to(words.device)
    u = words.to(torch.int64) & 0xFFFFFFFF
    return lut[u & 0xFFFF] + lut[u >> 16]


def out_size(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def valid_taps(h: int, w: int, kh: int, kw: int, stride: int, pad: int, device=None) -> torch.Tensor:
    """Number of in-image taps per output position → int64 (HO, WO)."""
    ones = torch.ones(1, 1, h, w, dtype=torch.float64, device=device)
    k = torch.ones(1, 1, kh, kw, dtype=torch.float64, device=device)
    return F.conv2d(ones, k, stride=stride, padding=pad)[0, 0].round().to(torch.int64)


def packed_conv_sizes(act: torch.Tensor, wts: torch.Tensor, channels: int, stride: int, pad: int,
                      where: str) -> tuple[int, int, int, int, int, int, int, int, int]:
    """The sizes ``(N, H, W, CW, O, KH, KW, HO, WO)`` of a convolution of packed int32 activations
    (N, H, W, CW) by packed int32 weights (O, KH, KW, CW) with ``channels`` channels: a mismatch
    raises :class:`ConventionError` naming ``where`` (the reference and the kernels check alike)."""
    if act.ndim != 4 or wts.ndim != 4 or act.shape[3] != wts.shape[3] or act.dtype != torch.int32 or wts.dtype != torch.int32:
        raise ConventionError(f"{where}: packed int32 shapes {tuple(act.shape)}/{act.dtype} and "
                              f"{tuple(wts.shape)}/{wts.dtype} don't match")
    n, h, w, cw = act.shape
    o, kh, kw, _ = wts.shape
    if cw != words_for(channels):
        raise ConventionError(f"{where}: {cw} words per pixel cannot hold {channels} channels")
    ho, wo = out_size(h, kh, stride, pad), out_size(w, kw, stride, pad)
    if ho < 1 or wo < 1:
        raise ConventionError(f"{where}: a {kh}x{kw} kernel with padding {pad} does not fit {h}x{w}")
    return n, h, w, cw, o, kh, kw, ho, wo


def xnor_dot_ref(act: torch.Tensor, wts: torch.Tensor, channels: int, stride: int = 1, pad: int = 0,
                 height: int | None = None, width: int | None = None) -> torch.Tensor:
    """Integer XNOR convolution by XOR + popcount: packed (N,H,W,CW) × (O,KH,KW,CW) → int64 (N,O,HO,WO).

    Equals ``F.conv2d(±1 x, ±1 w, stride, pad)`` exactly.
    """
    n, h, w, cw, o, kh, kw, ho, wo = packed_conv_sizes(act, wts, channels, stride, pad, "xnor_dot_ref")
    a = F.pad(act, (0, 0, pad, pad, pad, pad))  # zero words at padded pixels, masked below
    inside = F.pad(torch.ones(h, w, dtype=torch.bool, device=act.device), (pad, pad, pad, pad))
    acc = torch.zeros(n, o, ho, wo, dtype=torch.int64, device=act.device)
    for ky in range(kh):
        ys = slice(ky, ky + stride * (ho - 1) + 1, stride)
        for kx in range(kw):
            xs = slice(kx, kx + stride * (wo - 1) + 1, stride)
            tap = a[:, ys, xs, :]  # (N, HO, WO, CW)
            mism = popcount32(tap.unsqueeze(1) ^ wts[:, ky, kx, :].view(1, o, 1, 1, cw)).sum(-1)
            acc += mism * inside[ys, xs]
    valid = valid_taps(h, w, kh, kw, stride, pad, act.device)
    return valid * channels - 2 * acc


def weight_alpha(weight: torch.Tensor) -> torch.Tensor:
    """XNOR-Net α: per-output-channel mean |W| of (O, C, KH, KW) → float32 (O,)."""
    return weight.detach().float().abs().mean(dim=(1, 2, 3))


def activation_scale(x: torch.Tensor, kh: int, kw: int, stride: int, pad: int,
                     thresh: torch.Tensor | None = None) -> torch.Tensor:
    """XNOR-Net K: box filter of A = mean_c |x - t| → float32 (N, HO, WO), contiguous."""
    _check4(x, "activation_scale")
    # the channel mean accumulates in float32; a half input is not copied to float32 first
    t = _threshold(x, thresh)
    xs = x if x.dtype in (torch.float16, torch.float32) else x.float()
    a = (xs - (t.to(xs.dtype) if isinstance(t, torch.Tensor) else t)).abs().mean(dim=1, keepdim=True, dtype=torch.float32)
    k = F.avg_pool2d(a, (kh, kw), stride=stride, padding=pad, count_include_pad=True)
    return k[:, 0].contiguous()


def scale_dot(dot: torch.Tensor, alpha: torch.Tensor | None, kscale: torch.Tensor | None,
              bias: torch.Tensor | None) -> torch.Tensor:
    """(dot · α[o]) · K[n,y,x] + bias[o] in float32, in the kernel's order."""
    v = dot.to(torch.float32)
    if alpha is not None:
        v = v * alpha.view(1, -1, 1, 1)
    if kscale is not None:
        v = v * kscale.unsqueeze(1)
    if bias is not None:
        v = v + bias.view(1, -1, 1, 1)
    return v


def xnor_conv2d_ref(x: torch.Tensor, wts_packed: torch.Tensor, channels: int, stride: int = 1, pad: int = 0,
                    alpha=None, bias=None, thresh=None, use_k: bool = True) -> torch.Tensor:
    """Whole binarized convolution, popcount formulation: (N,C,H,W) float → (N,O,HO,WO) float32."""
    _, kh, kw, _ = wts_packed.shape
    dot = xnor_dot_ref(pack_bits(x, thresh), wts_packed, channels, stride, pad)
    k = activation_scale(x, kh, kw, stride, pad, thresh) if use_k else None
    return scale_dot(dot, alpha, k, bias)


def xnor_conv2d_float(x: torch.Tensor, w_sign: torch.Tensor, stride: int = 1, pad: int = 0,
                      alpha=None, bias=None, thresh=None, use_k: bool = True) -> torch.Tensor:
    """Same result via ``F.conv2d`` of ±1 float tensors (fast on CPU; exact: |dot| < 2^24).

    ``w_sign``: ±1 float32 (O, C, KH, KW).
    """
    _, _, kh, kw = w_sign.shape
    dot = F.conv2d(sign_pm1(x, thresh), w_sign.float(), stride=stride, padding=pad)
    k = activation_scale(x, kh, kw, stride, pad, thresh) if use_k else None
    return scale_dot(dot, alpha, k, bias)
