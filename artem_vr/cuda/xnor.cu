// XNOR-Net binarized convolution: sign-binarize + bit-pack activations along channels,
// then XNOR + popcount accumulation for a KH x KW convolution with stride and zero padding.
// Compiled at run time by NVRTC (artem_vr/cuda/nvrtc.py); no headers needed.
//
// Conventions (the torch reference, artem_vr/cuda/xnor_ref.py, computes the same thing):
//  * Binarization: bit = 1 where x >= thresh[c] (thresh == NULL: 0), i.e. sign(x - t) with
//    sign(0) = +1. Bit c % 32 of word c / 32. Tail bits of the last word (c >= C) are 0 in
//    both activations and weights, so their XOR is 0 and they never count: any C works.
//  * Packed activations: uint32 (N, H, W, CW), CW = ceil(C / 32). Packed weights: uint32
//    (O, KH, KW, CW), packed once at load by the host (same bit layout).
//  * Padding: a padded position has no sign (XNOR-Net pads with 0, which is not +-1). Here a
//    padded position contributes 0 to the dot product, exactly like F.conv2d of the +-1
//    tensors with zero padding: dot = sum over in-image taps of (C - 2 * popc(a ^ w)).
//  * Scaling: out = ((float)dot * alpha[o]) * kscale[n, y, x] + bias[o], each a correctly
//    rounded float op in this order (no FMA contraction), every factor optional (NULL).
//    alpha = per-output-channel mean |W|; kscale = XNOR-Net's K (box-filtered channel-mean
//    |x - t|), computed by the caller in torch. With all three NULL the output is the exact
//    integer dot as float (exact while |dot| < 2^24).
//
// Threads never share output elements and the only shared memory (the weight tile) is
// written before one __syncthreads and only read after it: no races. Every global access
// is bounds-checked against the sizes passed in.

#define XNOR_OPT 8          // output channels per thread (weights in shared memory)

__device__ __forceinline__ float half_bits_to_float(unsigned short h)
{
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ float load_in(const float* x, long long i) { return x[i]; }
__device__ __forceinline__ float load_in(const unsigned short* x, long long i) { return half_bits_to_float(x[i]); }

// The packing; InT float (float32 input) or unsigned short (IEEE half bits, compared as float).
template <typename InT>
__device__ __forceinline__ void xnor_pack_impl(
    const InT* __restrict__ x,          // (N, C, H, W) contiguous
    const float* __restrict__ thresh,   // (C) or NULL
    unsigned* __restrict__ out,         // (N, H, W, CW)
    int N, int C, int H, int W, int CW)
{
    const long long HW = (long long)H * W;
    const long long total = (long long)N * CW * HW;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long pix = i % HW;          // pixel fastest: coalesced reads of x
        const long long rest = i / HW;
        const int word = (int)(rest % CW);
        const int n = (int)(rest / CW);
        unsigned bits = 0u;
        const int c0 = word * 32;
        const int cend = min(C - c0, 32);
        const InT* xp = x + ((long long)n * C + c0) * HW + pix;
        for (int b = 0; b < cend; ++b) {
            const float t = thresh ? thresh[c0 + b] : 0.0f;
            bits |= (load_in(xp, (long long)b * HW) >= t ? 1u : 0u) << b;
        }
        out[((long long)n * HW + pix) * CW + word] = bits;
    }
}

extern "C" __global__ void xnor_pack_f32(
    const float* __restrict__ x, const float* __restrict__ thresh, unsigned* __restrict__ out,
    int N, int C, int H, int W, int CW)
{
    xnor_pack_impl<float>(x, thresh, out, N, C, H, W, CW);
}

extern "C" __global__ void xnor_pack_f16(
    const unsigned short* __restrict__ x, const float* __restrict__ thresh, unsigned* __restrict__ out,
    int N, int C, int H, int W, int CW)
{
    xnor_pack_impl<unsigned short>(x, thresh, out, N, C, H, W, CW);
}

// float32 → IEEE half bits, round to nearest even (what torch's .half() does), no headers
__device__ __forceinline__ unsigned short float_to_half_bits(float v)
{
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    return h;
}

__device__ __forceinline__ void store_out(float* out, long long i, float v) { out[i] = v; }
__device__ __forceinline__ void store_out(unsigned short* out, long long i, float v) { out[i] = float_to_half_bits(v); }

// The convolution; OutT float (float32 output) or unsigned short (the float32 result rounded to
// fp16 bits: activations stay half precision around the kernel, no fp32 copy in or out).
// grid: (ceil(HO*WO / blockDim.x), ceil(O / XNOR_OPT), N); dynamic shared memory:
// XNOR_OPT * KH * KW * CW * 4 bytes.
template <typename OutT>
__device__ __forceinline__ void xnor_conv_impl(
    const unsigned* __restrict__ act,   // (N, H, W, CW)
    const unsigned* __restrict__ wts,   // (O, KH, KW, CW)
    const float* __restrict__ alpha,    // (O) or NULL
    const float* __restrict__ kscale,   // (N, HO, WO) or NULL
    const float* __restrict__ bias,     // (O) or NULL
    OutT* __restrict__ out,             // (N, O, HO, WO)
    int N, int C, int H, int W, int CW, int O, int KH, int KW,
    int stride, int pad, int HO, int WO)
{
    extern __shared__ unsigned sw[];    // (XNOR_OPT, KH, KW, CW)
    const int n = blockIdx.z;
    const int o0 = blockIdx.y * XNOR_OPT;
    const int taps = KH * KW * CW;

    // 1. stage this block's weights (zeros past O) -- every thread helps, then one barrier.
    for (int i = threadIdx.x; i < XNOR_OPT * taps; i += blockDim.x) {
        const int j = i / taps;
        sw[i] = (o0 + j < O) ? wts[(long long)(o0 + j) * taps + (i - j * taps)] : 0u;
    }
    __syncthreads();

    const long long HWo = (long long)HO * WO;
    const long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (n >= N || p >= HWo) return;    // after the barrier: no thread skips it
    const int oy = (int)(p / WO);
    const int ox = (int)(p % WO);

    int acc[XNOR_OPT];
#pragma unroll
    for (int j = 0; j < XNOR_OPT; ++j) acc[j] = 0;
    int valid = 0;

    for (int ky = 0; ky < KH; ++ky) {
        const int iy = oy * stride - pad + ky;
        if (iy < 0 || iy >= H) continue;            // padded row: contributes 0
        for (int kx = 0; kx < KW; ++kx) {
            const int ix = ox * stride - pad + kx;
            if (ix < 0 || ix >= W) continue;        // padded column: contributes 0
            ++valid;
            const unsigned* a = act + (((long long)n * H + iy) * W + ix) * CW;
            const unsigned* w = sw + (ky * KW + kx) * CW;
            for (int k = 0; k < CW; ++k) {
                const unsigned av = a[k];
#pragma unroll
                for (int j = 0; j < XNOR_OPT; ++j) acc[j] += __popc(av ^ w[j * taps + k]);
            }
        }
    }

    const float ks = kscale ? kscale[(long long)n * HWo + p] : 1.0f;
#pragma unroll
    for (int j = 0; j < XNOR_OPT; ++j) {
        const int o = o0 + j;
        if (o >= O) break;
        const int dot = valid * C - 2 * acc[j];
        float v = (float)dot;
        if (alpha) v = __fmul_rn(v, alpha[o]);
        if (kscale) v = __fmul_rn(v, ks);
        if (bias) v = __fadd_rn(v, bias[o]);
        store_out(out, ((long long)n * O + o) * HWo + p, v);
    }
}

#define XNOR_CONV_ARGS \
    const unsigned* __restrict__ act, const unsigned* __restrict__ wts, const float* __restrict__ alpha, \
    const float* __restrict__ kscale, const float* __restrict__ bias
#define XNOR_CONV_SIZES \
    int N, int C, int H, int W, int CW, int O, int KH, int KW, int stride, int pad, int HO, int WO

extern "C" __global__ void xnor_conv(XNOR_CONV_ARGS, float* __restrict__ out, XNOR_CONV_SIZES)
{
    xnor_conv_impl<float>(act, wts, alpha, kscale, bias, out, N, C, H, W, CW, O, KH, KW, stride, pad, HO, WO);
}

extern "C" __global__ void xnor_conv_h(XNOR_CONV_ARGS, unsigned short* __restrict__ out, XNOR_CONV_SIZES)
{
    xnor_conv_impl<unsigned short>(act, wts, alpha, kscale, bias, out, N, C, H, W, CW, O, KH, KW, stride, pad, HO, WO);
}
