"""The torch reference of the XNOR convolution is exact: popcount formulation == F.conv2d of ±1."""

import pytest
import torch
import torch.nn.functional as F

from artem_vr.cuda import xnor_ref as R

# (N, C, H, W, O, K, stride, pad): odd sizes, C not a multiple of 32, C > 32, C == 32, 1x1
SHAPES = [
    (1, 3, 7, 5, 4, 3, 1, 1),
    (2, 37, 9, 11, 5, 3, 2, 1),
    (1, 32, 8, 8, 9, 3, 1, 0),
    (2, 70, 13, 6, 3, 3, 2, 0),
    (1, 128, 10, 12, 16, 3, 1, 1),
    (1, 33, 5, 9, 7, 1, 1, 0),
    (1, 65, 6, 7, 2, 5, 2, 2),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_popcount_dot_equals_float_conv_of_signs(shape):
    n, c, h, w, o, k, s, p = shape
    g = torch.Generator().manual_seed(hash(shape) % 2**31)
    x = torch.randn(n, c, h, w, generator=g)
    wt = torch.randn(o, c, k, k, generator=g)
    thresh = torch.randn(c, generator=g) * 0.3
    ref = F.conv2d(R.sign_pm1(x, thresh).double(), R.sign_pm1(wt).double(), stride=s, padding=p)
    dot = R.xnor_dot_ref(R.pack_bits(x, thresh), R.pack_bits(wt), c, s, p)
    assert dot.dtype == torch.int64 and dot.shape == ref.shape
    assert torch.equal(dot, ref.round().to(torch.int64))
    # and the fast CPU path (float conv of ±1) gives the same numbers, scaled identically
    alpha = R.weight_alpha(wt)
    bias = torch.randn(o, generator=g)
    a = R.xnor_conv2d_ref(x, R.pack_bits(wt), c, s, p, alpha=alpha, bias=bias, thresh=thresh)
    b = R.xnor_conv2d_float(x, R.sign_pm1(wt), s, p, alpha=alpha, bias=bias, thresh=thresh)
    assert torch.equal(a, b)


def test_pack_layout_and_tail_bits():
    c = 37
    x = -torch.ones(1, c, 1, 1)
    x[0, [0, 5, 31, 32, 36], 0, 0] = 1.0
    words = R.pack_bits(x)
    assert words.shape == (1, 1, 1, 2) and words.dtype == torch.int32
    w0, w1 = (int(v) & 0xFFFFFFFF for v in words[0, 0, 0])
    assert w0 == (1 << 0) | (1 << 5) | (1 << 31)
    assert w1 == (1 << 0) | (1 << 4)  # channels 32 and 36; bits 5..31 (no channel) stay 0
    assert torch.equal(R.unpack_bits(words, c), torch.where(x >= 0, 1.0, -1.0))


def test_zero_counts_as_plus_one_and_threshold_shifts():
    x = torch.tensor([0.0, -0.0, 0.2, -0.2]).view(1, 4, 1, 1)
    assert R.sign_pm1(x).flatten().tolist() == [1, 1, 1, -1]
    t = torch.tensor([0.1, 0.1, 0.1, -0.3])
    assert R.sign_pm1(x, t).flatten().tolist() == [-1, -1, 1, 1]
    assert int(R.pack_bits(x, t)[0, 0, 0, 0]) == 0b1100


def test_popcount32_on_extreme_words():
    w = torch.tensor([0, -1, 1, -(2**31), 0x55555555, 2**31 - 1], dtype=torch.int32)
    assert R.popcount32(w).tolist() == [0, 32, 1, 1, 16, 31]


def test_padding_contributes_zero():
    # all +1 input and weights: dot = C × (number of in-image taps), smaller at the border
    x = torch.ones(1, 5, 4, 4)
    w = torch.ones(2, 5, 3, 3)
    dot = R.xnor_dot_ref(R.pack_bits(x), R.pack_bits(w), 5, 1, 1)
    assert dot[0, 0, 0, 0] == 5 * 4 and dot[0, 0, 1, 1] == 5 * 9 and dot[0, 1, 0, 2] == 5 * 6


def test_activation_scale_is_the_box_filtered_channel_mean():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 6, 5, 7, generator=g)
    k = R.activation_scale(x, 3, 3, 1, 1)
    a = x.abs().mean(1)
    # interior position: plain mean of the 3x3 window; corner: zeros counted (count_include_pad)
    assert torch.allclose(k[1, 2, 3], a[1, 1:4, 2:5].mean(), atol=1e-6)
    assert torch.allclose(k[0, 0, 0], a[0, 0:2, 0:2].sum() / 9, atol=1e-6)


def test_bad_shapes_fail_with_what_arrived():
    from artem_vr.errors import ConventionError

    with pytest.raises(ConventionError, match=r"\(3, 4\)"):
        R.pack_bits(torch.zeros(3, 4))
    with pytest.raises(ConventionError, match="words per pixel"):
        R.xnor_dot_ref(torch.zeros(1, 2, 2, 1, dtype=torch.int32), torch.zeros(1, 1, 1, 1, dtype=torch.int32), 40)
    with pytest.raises(ConventionError, match="does not fit 2x2"):
        R.xnor_dot_ref(torch.zeros(1, 2, 2, 1, dtype=torch.int32), torch.zeros(1, 3, 3, 1, dtype=torch.int32), 5)
    with pytest.raises(ConventionError, match="torch.int64"):
        R.xnor_dot_ref(torch.zeros(1, 2, 2, 1, dtype=torch.int64), torch.zeros(1, 1, 1, 1, dtype=torch.int32), 5)


def _and_popc_emulation(act, wts, c, stride, pad):
    """What xnor_mma.cu computes, step by step in torch: the implicit-GEMM K layout (tap-major
    words, zero-padded to 8-word steps, zero words at padded pixels) and the AND-popcount identity
    popc(a^w) = popc(a) + popc(w) - 2 popc(a&w) with popc(w) over the valid taps only."""
    n, h, w, cw = act.shape
    o, kh, kw, _ = wts.shape
    taps, kwt = kh * kw, kh * kw * cw
    kwords = (kwt + 7) // 8 * 8
    ho, wo = R.out_size(h, kh, stride, pad), R.out_size(w, kw, stride, pad)
    oy = torch.arange(ho).view(ho, 1)
    ox = torch.arange(wo).view(1, wo)
    a = torch.zeros(n, ho, wo, kwords, dtype=torch.int64)
    valid_tap = torch.zeros(taps, ho, wo, dtype=torch.bool)
    for t in range(taps):
        ky, kx = divmod(t, kw)
        iy, ix = oy * stride - pad + ky, ox * stride - pad + kx
        ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
        valid_tap[t] = ok
        iyc, ixc = iy.clamp(0, h - 1).expand(ho, wo), ix.clamp(0, w - 1).expand(ho, wo)
        for k in range(cw):
            a[..., t * cw + k] = torch.where(ok, act[:, iyc, ixc, k].to(torch.int64), 0)
    b = torch.zeros(o, kwords, dtype=torch.int64)
    b[:, :kwt] = wts.reshape(o, kwt).to(torch.int64)
    andc = R.popcount32((a.unsqueeze(3) & b).to(torch.int32)).sum(-1)  # (N, HO, WO, O)
    pa = R.popcount32(a.to(torch.int32)).sum(-1)  # (N, HO, WO)
    wpop = R.popcount32(wts).sum(-1).reshape(o, taps)  # (O, taps)
    pw = torch.einsum("ot,tyx->yxo", wpop.double(), valid_tap.double()).round().to(torch.int64)  # (HO, WO, O)
    valid = valid_tap.sum(0)  # (HO, WO)
    mism = pa.unsqueeze(-1) + pw - 2 * andc
    dot = valid.unsqueeze(-1) * c - 2 * mism
    return dot.permute(0, 3, 1, 2)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_mma_and_popc_formulation_is_exact(shape):
    n, c, h, w, o, k, s, p = shape
    g = torch.Generator().manual_seed(7 + c)
    x = torch.randn(n, c, h, w, generator=g)
    wt = torch.randn(o, c, k, k, generator=g)
    act, wp = R.pack_bits(x), R.pack_bits(wt)
    assert torch.equal(_and_popc_emulation(act, wp, c, s, p), R.xnor_dot_ref(act, wp, c, s, p))
