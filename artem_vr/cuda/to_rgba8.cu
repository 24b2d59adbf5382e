// Float RGB image (3, H, W), 0-1, planar -> RGBA8 (H, W, 4) interleaved, alpha 255.
// Written straight into a mapped GL pixel buffer (artem_vr/cuda/interop.py).
//
// Per channel: v = min(max(x, 0), 1) (NaN -> 0); if srgb: v = sRGB encode of linear v;
// byte = rint(v * 255) (round half to even), the float multiply correctly rounded.
// Without srgb this is bit for bit artem_vr.frames.to_rgb8 (torch clamp/mul/round).
// flip_y: output row r takes input row H-1-r (GL's bottom-up row order); default top first.
// One thread per pixel; each output pixel written by exactly one thread; bounds-checked.

__device__ __forceinline__ float srgb_encode(float v)
{
    return v <= 0.0031308f ? __fmul_rn(v, 12.92f) : __fsub_rn(__fmul_rn(1.055f, powf(v, 1.0f / 2.4f)), 0.055f);
}

__device__ __forceinline__ unsigned to_byte(float x, int srgb)
{
    float v = fminf(fmaxf(x, 0.0f), 1.0f);   // fmaxf(NaN, 0) = 0
    if (srgb) v = fminf(fmaxf(srgb_encode(v), 0.0f), 1.0f);
    return (unsigned)rintf(__fmul_rn(v, 255.0f));
}

extern "C" __global__ void float_to_rgba8(
    const float* __restrict__ img,      // (3, H, W) contiguous planes
    unsigned* __restrict__ out,         // (H, W) RGBA8 words, R in the lowest byte
    int H, int W, int flip_y, int srgb)
{
    const long long HW = (long long)H * W;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < HW;
         i += (long long)gridDim.x * blockDim.x) {
        const long long r = i / W, c = i % W;
        const long long src = (flip_y ? (H - 1 - r) : r) * W + c;
        const unsigned R = to_byte(img[src], srgb);
        const unsigned G = to_byte(img[HW + src], srgb);
        const unsigned B = to_byte(img[2 * HW + src], srgb);
        out[i] = R | (G << 8) | (B << 16) | (255u << 24);
    }
}
