// XNOR convolution on the binary tensor cores (Ampere/Hopper, sm_80+): implicit GEMM with
// mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc.
//
// Same inputs, conventions and result as xnor_conv in xnor.cu (see there): packed activations
// uint32 (N, H, W, CW), packed weights uint32 (O, KH, KW, CW), output float (N, O, HO, WO).
//
// GEMM view: rows = output pixels (N*HO*WO), columns = output channels, K = the taps*CW words
// of a pixel's receptive field (tap-major, word-minor, as the weights are stored), padded with
// zero words to a multiple of 8 words (256 bits, one MMA k-step). Padded pixels load zero words.
//
// Hopper dropped .xor.popc for b1 MMA, so the tensor cores give AND-popcounts; mismatches follow:
//   popc(a ^ w) = popc(a) + popc(w) - 2 popc(a & w)
// summed over the in-image taps only (a is 0 at padded taps, so popc(a) and popc(a & w) need no
// mask; popc(w) is summed over the valid taps from a per-(channel, tap) table). Then
//   dot = valid_taps * C - 2 * mismatches, scaled exactly as in xnor.cu.
//
// Block: 4 warps, each owns 16 consecutive output pixels and all output channels (O <= 128:
// up to 16 n-tiles of 8, accumulators in registers). Weights and their per-tap popcounts are
// staged in shared memory once per block, before one __syncthreads; nothing is written to
// shared memory after it. Fragment layouts (PTX ISA, m16n8k256 .b1): g = lane / 4, q = lane % 4;
// A: a0 = (row g, word q), a1 = (row g+8, word q), a2 = (row g, word q+4), a3 = (row g+8, word q+4);
// B: b0 = (col g, word q), b1 = (col g, word q+4); C: c0,c1 = (row g, cols 2q, 2q+1), c2,c3 = row g+8.

#define MMA_MAX_NT 16   // output channels up to 16 * 8 = 128

__device__ __forceinline__ void mma_b1_and(int (&c)[4], unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                           unsigned b0, unsigned b1)
{
    asm volatile(
        "mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

struct PixelRow {
    int n, oy, ox;
    bool ok;
};

__device__ __forceinline__ unsigned load_word(const unsigned* __restrict__ act, const PixelRow& r, int j,
                                              int CW, int taps, int KW, int H, int W, int stride, int pad)
{
    const int tap = j / CW;
    if (!r.ok || tap >= taps) return 0u;
    const int word = j - tap * CW;
    const int ky = tap / KW, kx = tap - (tap / KW) * KW;
    const int iy = r.oy * stride - pad + ky, ix = r.ox * stride - pad + kx;
    if (iy < 0 || iy >= H || ix < 0 || ix >= W) return 0u;
    return act[(((long long)r.n * H + iy) * W + ix) * CW + word];
}

// grid: ceil(N*HO*WO / 64); block: 128; dynamic shared memory:
// OP * KWORDS * 4 + OP * (KH*KW + 1) * 4 bytes, OP = O rounded up to 8.
extern "C" __global__ void __launch_bounds__(128) xnor_conv_mma(
    const unsigned* __restrict__ act,   // (N, H, W, CW)
    const unsigned* __restrict__ wts,   // (O, KH, KW, CW)
    const float* __restrict__ alpha,    // (O) or NULL
    const float* __restrict__ kscale,   // (N, HO, WO) or NULL
    const float* __restrict__ bias,     // (O) or NULL
    float* __restrict__ out,            // (N, O, HO, WO)
    int N, int C, int H, int W, int CW, int O, int KH, int KW,
    int stride, int pad, int HO, int WO, int KWORDS)
{
    extern __shared__ unsigned smem[];
    const int taps = KH * KW;
    const int kw_total = taps * CW;
    const int OP = ((O + 7) / 8) * 8;
    unsigned* wsh = smem;                                   // (OP, KWORDS)
    int* wpop = reinterpret_cast<int*>(smem + OP * KWORDS); // (OP, taps + 1); [taps] = total

    // 1. stage the weights (zero-padded in O and K) and their per-tap popcounts; one barrier.
    for (int i = threadIdx.x; i < OP * KWORDS; i += blockDim.x) {
        const int o = i / KWORDS, j = i - (i / KWORDS) * KWORDS;
        wsh[i] = (o < O && j < kw_total) ? wts[(long long)o * kw_total + j] : 0u;
    }
    for (int o = threadIdx.x; o < OP; o += blockDim.x) {
        int total = 0;
        for (int t = 0; t < taps; ++t) {
            int s = 0;
            if (o < O)
                for (int k = 0; k < CW; ++k) s += __popc(wts[((long long)o * taps + t) * CW + k]);
            wpop[o * (taps + 1) + t] = s;
            total += s;
        }
        wpop[o * (taps + 1) + taps] = total;
    }
    __syncthreads();

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, q = lane & 3;
    const long long P = (long long)N * HO * WO;
    const long long pbase = ((long long)blockIdx.x * (blockDim.x >> 5) + warp) * 16;
    if (pbase >= P) return;  // warp-uniform, after the only barrier

    PixelRow rows[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const long long p = pbase + g + 8 * r;
        rows[r].ok = p < P;
        const long long pp = rows[r].ok ? p : 0;
        rows[r].n = (int)(pp / ((long long)HO * WO));
        const int rem = (int)(pp - (long long)rows[r].n * HO * WO);
        rows[r].oy = rem / WO;
        rows[r].ox = rem - (rem / WO) * WO;
    }

    int acc[MMA_MAX_NT][4];
#pragma unroll
    for (int nt = 0; nt < MMA_MAX_NT; ++nt)
        acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0;
    int pa[2] = {0, 0};
    const int NT = OP / 8;

    // 2. K loop: 256 bits per step; A fragments from global memory, B from shared memory.
    for (int kc = 0; kc < KWORDS; kc += 8) {
        const unsigned a0 = load_word(act, rows[0], kc + q, CW, taps, KW, H, W, stride, pad);
        const unsigned a1 = load_word(act, rows[1], kc + q, CW, taps, KW, H, W, stride, pad);
        const unsigned a2 = load_word(act, rows[0], kc + q + 4, CW, taps, KW, H, W, stride, pad);
        const unsigned a3 = load_word(act, rows[1], kc + q + 4, CW, taps, KW, H, W, stride, pad);
        pa[0] += __popc(a0) + __popc(a2);
        pa[1] += __popc(a1) + __popc(a3);
#pragma unroll
        for (int nt = 0; nt < MMA_MAX_NT; ++nt) {
            if (nt < NT) {  // uniform across the warp
                const unsigned* wr = wsh + (nt * 8 + g) * KWORDS + kc;
                mma_b1_and(acc[nt], a0, a1, a2, a3, wr[q], wr[q + 4]);
            }
        }
    }
    // the 4 lanes of a group hold disjoint words of the same two rows: sum them
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        pa[r] += __shfl_xor_sync(0xffffffffu, pa[r], 1);
        pa[r] += __shfl_xor_sync(0xffffffffu, pa[r], 2);
    }

    // 3. epilogue: AND-popcounts -> mismatches -> dot -> scaled float
    const long long HWo = (long long)HO * WO;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        if (!rows[r].ok) continue;
        const PixelRow& pr = rows[r];
        int valid = 0;
        bool interior = true;
        for (int t = 0; t < taps; ++t) {
            const int iy = pr.oy * stride - pad + t / KW, ix = pr.ox * stride - pad + t % KW;
            const bool in = iy >= 0 && iy < H && ix >= 0 && ix < W;
            valid += in;
            interior = interior && in;
        }
        const long long pix = (long long)pr.oy * WO + pr.ox;
        const float ks = kscale ? kscale[(long long)pr.n * HWo + pix] : 1.0f;
#pragma unroll
        for (int nt = 0; nt < MMA_MAX_NT; ++nt) {
            if (nt >= NT) break;
#pragma unroll
            for (int cc = 0; cc < 2; ++cc) {
                const int o = nt * 8 + q * 2 + cc;
                if (o >= O) continue;
                int pw;
                if (interior) {
                    pw = wpop[o * (taps + 1) + taps];
                } else {
                    pw = 0;
                    for (int t = 0; t < taps; ++t) {
                        const int iy = pr.oy * stride - pad + t / KW, ix = pr.ox * stride - pad + t % KW;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W) pw += wpop[o * (taps + 1) + t];
                    }
                }
                const int mism = pa[r] + pw - 2 * acc[nt][2 * r + cc];
                const int dot = valid * C - 2 * mism;
                float v = (float)dot;
                if (alpha) v = __fmul_rn(v, alpha[o]);
                if (kscale) v = __fmul_rn(v, ks);
                if (bias) v = __fadd_rn(v, bias[o]);
                out[((long long)pr.n * O + o) * HWo + pix] = v;
            }
        }
    }
}
