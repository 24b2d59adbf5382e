"""On a CUDA machine: every NVRTC kernel is bit-exact against its torch reference.

Skipped (with the reason) where there is no CUDA driver; tools/gpu_check.sh runs these.
"""

import pytest
import torch

from artem_vr.cuda import xnor_ref as R
from artem_vr.cuda.device import cuda_available

CUDA_OK, CUDA_WHY = cuda_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not CUDA_OK, reason=f"needs CUDA: {CUDA_WHY}")]

SHAPES = [
    (1, 3, 7, 5, 4, 3, 1, 1),
    (2, 37, 9, 11, 5, 3, 2, 1),
    (1, 32, 8, 8, 9, 3, 1, 0),
    (2, 70, 13, 6, 3, 3, 2, 0),
    (2, 128, 45, 40, 128, 3, 1, 1),
    (1, 33, 5, 9, 7, 1, 1, 0),
    (1, 65, 6, 7, 2, 5, 2, 2),
    (1, 128, 200, 180, 128, 3, 1, 0),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_pack_kernel_bit_exact(shape, dtype):
    from artem_vr.cuda.xnor_ops import pack_activations

    n, c, h, w = shape[:4]
    x = torch.randn(n, c, h, w, device="cuda").to(dtype)
    t = torch.randn(c, device="cuda") * 0.3
    for thresh in (None, t):
        got = pack_activations(x, thresh)
        torch.cuda.synchronize()
        assert torch.equal(got.cpu(), R.pack_bits(x.float().cpu(), None if thresh is None else thresh.cpu()))


@pytest.mark.parametrize("engine", ["popc", "mma"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_conv_kernel_bit_exact(shape, engine):
    from artem_vr.cuda.xnor_ops import mma_supported, pack_activations, xnor_conv_packed

    n, c, h, w, o, k, s, p = shape
    if engine == "mma":  # must really run on the tensor cores, not fall back
        ok, why = mma_supported(o, k, k, (c + 31) // 32)
        assert ok, why
    for trial in range(2):  # fresh random inputs each time: a race would move the result
        x = torch.randn(n, c, h, w, device="cuda")
        wt = torch.randn(o, c, k, k, device="cuda")
        act, wp = pack_activations(x), R.pack_bits(wt)
        # the torch reference is device-agnostic integer arithmetic: run it on the GPU (fast);
        # test_reference_same_on_cpu_and_cuda pins it to the CPU result
        dot_ref = R.xnor_dot_ref(act, wp, c, s, p)
        got = torch.full((n, o, dot_ref.shape[2], dot_ref.shape[3]), float("nan"), device="cuda")  # poison
        xnor_conv_packed(act, wp, c, s, p, out=got, engine=engine)
        assert torch.equal(got, dot_ref.float())  # also: every element written
        alpha, bias = R.weight_alpha(wt), torch.randn(o, device="cuda")
        kscale = R.activation_scale(x, k, k, s, p)
        got = xnor_conv_packed(act, wp, c, s, p, alpha, kscale, bias, engine=engine)
        want = R.scale_dot(dot_ref, alpha, kscale, bias)
        assert torch.equal(got, want)


def test_reference_same_on_cpu_and_cuda():
    x = torch.randn(2, 70, 21, 19)
    wt = torch.randn(9, 70, 3, 3)
    act, wp = R.pack_bits(x), R.pack_bits(wt)
    cpu = R.xnor_dot_ref(act, wp, 70, 2, 1)
    assert torch.equal(R.pack_bits(x.cuda()).cpu(), act)
    assert torch.equal(R.xnor_dot_ref(act.cuda(), wp.cuda(), 70, 2, 1).cpu(), cpu)


def test_whole_layer_matches_cpu_reference():
    from artem_vr.cuda.xnor_ops import xnor_conv2d_cuda

    x = torch.randn(2, 48, 33, 31, device="cuda")
    wt = torch.randn(48, 48, 3, 3, device="cuda")
    th = torch.randn(48, device="cuda") * 0.2
    wp = R.pack_bits(wt)
    got = xnor_conv2d_cuda(x, wp, 48, 1, 1, R.weight_alpha(wt), None, th)
    ref = R.xnor_conv2d_float(x.cpu(), R.sign_pm1(wt.cpu()), 1, 1, R.weight_alpha(wt.cpu()), None, th.cpu())
    # K comes from torch's mean/avg_pool on each device: equal up to float rounding
    assert torch.allclose(got.cpu(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("flip", [False, True])
def test_rgba8_kernel_bit_exact(flip):
    from artem_vr.cuda.rgba import to_rgba8_cuda, to_rgba8_reference

    x = torch.rand(3, 123, 77, device="cuda") * 1.4 - 0.2
    x[0, 0, :4] = torch.tensor([0.5 / 255, 1.5 / 255, 254.5 / 255, float("nan")])
    got = to_rgba8_cuda(x, flip_y=flip)
    assert torch.equal(got.cpu(), to_rgba8_reference(x.cpu(), flip_y=flip))
    srgb = to_rgba8_cuda(x, flip_y=flip, srgb=True)
    diff = (srgb.cpu().int() - to_rgba8_reference(x.cpu(), flip_y=flip, srgb=True).int()).abs()
    assert diff.max() <= 1  # powf on the GPU vs torch's pow: one level at most


@pytest.mark.parametrize("shape", SHAPES[:4], ids=lambda s: "x".join(map(str, s)))
def test_conv_kernel_fp16_output_bit_exact(shape):
    """The fp16-output variant: the same float32 result, rounded once to fp16 (= torch's .half())."""
    from artem_vr.cuda.xnor_ops import xnor_conv_packed

    n, c, h, w, o, k, s, p = shape
    g = torch.Generator(device="cuda").manual_seed(3)
    x = torch.randn(n, c, h, w, device="cuda", generator=g)
    wt = torch.randn(o, c, k, k, device="cuda", generator=g)
    act, wp = R.pack_bits(x), R.pack_bits(wt)
    alpha, bias = R.weight_alpha(wt), torch.randn(o, device="cuda", generator=g)
    kscale = R.activation_scale(x, k, k, s, p)
    got = xnor_conv_packed(act, wp, c, s, p, alpha, kscale, bias, out_dtype=torch.float16)
    want = R.scale_dot(R.xnor_dot_ref(act, wp, c, s, p), alpha, kscale, bias).half()
    assert got.dtype == torch.float16 and torch.equal(got, want)


def test_half_layer_stays_half_and_matches_the_float_layer():
    """fp16 in → fp16 out, the packed signs identical to the fp32 path's; values equal to the fp32
    layer on the same (half-rounded) input, up to fp16 rounding of K and the output."""
    from artem_vr.cuda.xnor_ops import xnor_conv2d_cuda

    x = torch.randn(2, 48, 33, 31, device="cuda").half()
    wt = torch.randn(48, 48, 3, 3, device="cuda")
    th = (torch.randn(48, device="cuda") * 0.2).half().float()
    wp = R.pack_bits(wt)
    got = xnor_conv2d_cuda(x, wp, 48, 1, 1, R.weight_alpha(wt), None, th)
    ref = xnor_conv2d_cuda(x.float(), wp, 48, 1, 1, R.weight_alpha(wt), None, th)
    assert got.dtype == torch.float16 and ref.dtype == torch.float32
    assert torch.allclose(got.float(), ref, rtol=2e-3, atol=2e-3)
