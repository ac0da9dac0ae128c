/* gpu_quant.cuh — reading GGUF's block-quantized weights (core/quant.h,
 * llama.cpp's byte layouts) inside the CUDA/HIP kernels, never as an f32
 * copy: the device side of shaders/quant.glsl, with the same items and
 * groups. Included by gpu_kernels.cu after gpu_compat.h (or the CPU
 * emulation's emu.h), which gives pce_h2f.
 *
 * A row is read in items of 32 weights (a block of the 32-weight types, one
 * sub-block of a K-quant super-block), each a head (its scales and min,
 * qhead) and 4 groups of 8 weights (qgroup): group p holds the weights at
 * item positions q_pos_lo(p) .. +3 and q_pos_hi(p) .. +3. A weight is
 * sc * q (+ mn), sc being d * scale, in core/quant.c's order and bit for
 * bit its value: every product is exact in f32 (significant bits: an f16's
 * 11, times 7 for Q8_0's q, 5 for Q4/Q5's, 6 + 5 for Q4_K/Q5_K's scale and
 * q, 7 + 5 for Q6_K's; an f16 times an integer stays far from f32's
 * subnormals), so only the final + mn rounds, once, whether or not the
 * compiler fuses it into an FMA. Blocks of 20, 24, 144 and 176 bytes are
 * read a word at a time (the host checks that the start and strides are
 * multiples of 4), those of 18, 22, 34 and 210 bytes in 16-bit halves (even
 * addresses). */

#ifndef PCE_GPU_QUANT_CUH
#define PCE_GPU_QUANT_CUH

#include "gpu_kernels.h"

#include <stdint.h>

namespace
{

template <int QT> struct qtype;
/* bytes: of a block; weights: per block; a4: words are aligned; has_min:
 * a weight has an added min; halves: positions j and j + 16 share a byte */
#define PCE_QTYPE(QT, B, W, A4, MIN, HALVES)                                                       \
    template <> struct qtype<QT> {                                                                 \
        static constexpr int bytes = B, weights = W;                                               \
        static constexpr bool a4 = A4, has_min = MIN, halves = HALVES;                             \
    };
PCE_QTYPE(PCE_GPU_Q8_0, 34, 32, false, false, false)
PCE_QTYPE(PCE_GPU_Q4_0, 18, 32, false, false, true)
PCE_QTYPE(PCE_GPU_Q4_1, 20, 32, true, true, true)
PCE_QTYPE(PCE_GPU_Q5_0, 22, 32, false, false, true)
PCE_QTYPE(PCE_GPU_Q5_1, 24, 32, true, true, true)
PCE_QTYPE(PCE_GPU_Q4_K, 144, 256, true, true, false)
PCE_QTYPE(PCE_GPU_Q5_K, 176, 256, true, true, false)
PCE_QTYPE(PCE_GPU_Q6_K, 210, 256, false, false, false)
#undef PCE_QTYPE

__device__ __forceinline__ uint32_t q_u16(const uint8_t *p)
{
    return *reinterpret_cast<const uint16_t *>(p);
}

/* 32 bits, little-endian, at p: aligned (A4) or at an even address */
template <bool A4> __device__ __forceinline__ uint32_t q_u32(const uint8_t *p)
{
    if constexpr (A4)
        return *reinterpret_cast<const uint32_t *>(p);
    else
        return q_u16(p) | q_u16(p + 2) << 16;
}

template <int QT> __device__ __forceinline__ int q_pos_lo(int p)
{
    return qtype<QT>::halves ? 4 * p : 8 * p;
}

template <int QT> __device__ __forceinline__ int q_pos_hi(int p)
{
    return qtype<QT>::halves ? 4 * p + 16 : 8 * p + 4;
}

/* What the groups of one item share: its block, the item within the block
 * (K-quants), the scales of positions 0..15 and 16..31 (they differ only in
 * Q6_K), the added min, Q5's fifth bits. */
struct qhead {
    const uint8_t *b;
    int j;
    float sc0, sc1, mn;
    uint32_t qh;
};

struct qgroup {
    float lo[4], hi[4]; /* the quantized values, offsets applied (exact) */
    float sc, mn;
};

/* Item `it` of the row starting at `row`. */
template <int QT> __device__ __forceinline__ qhead q_head(const uint8_t *row, int64_t it)
{
    typedef qtype<QT> Q;
    qhead h;
    h.j = Q::weights == 32 ? 0 : (int)(it & 7);
    h.b = row + (Q::weights == 32 ? it : it >> 3) * Q::bytes;
    h.mn = 0.0f;
    h.qh = 0u;
    if constexpr (QT == PCE_GPU_Q8_0 || QT == PCE_GPU_Q4_0 || QT == PCE_GPU_Q5_0) {
        h.sc0 = h.sc1 = pce_h2f((unsigned short)q_u16(h.b)); /* {f16 d; ...} */
        if constexpr (QT == PCE_GPU_Q5_0)
            h.qh = q_u32<false>(h.b + 2); /* bit j: the fifth bit of position j */
    } else if constexpr (QT == PCE_GPU_Q4_1 || QT == PCE_GPU_Q5_1) {
        const uint32_t dm = q_u32<true>(h.b); /* {f16 d, m; ...} */
        h.sc0 = h.sc1 = pce_h2f((unsigned short)(dm & 0xffffu));
        h.mn = pce_h2f((unsigned short)(dm >> 16));
        if constexpr (QT == PCE_GPU_Q5_1)
            h.qh = q_u32<true>(h.b + 4);
    } else if constexpr (QT == PCE_GPU_Q4_K || QT == PCE_GPU_Q5_K) {
        /* {f16 d, dmin; u8 scales[12]; ...}: ggml's get_scale_min_k4 from
         * byte j % 4 of each word of the scales */
        const uint32_t dm = q_u32<true>(h.b);
        const int sh = 8 * (h.j & 3);
        const uint32_t b0 = q_u32<true>(h.b + 4) >> sh & 0xffu;
        const uint32_t b1 = q_u32<true>(h.b + 8) >> sh & 0xffu;
        const uint32_t b2 = q_u32<true>(h.b + 12) >> sh & 0xffu;
        uint32_t sc, m;
        if (h.j < 4) {
            sc = b0 & 63u;
            m = b1 & 63u;
        } else {
            sc = (b2 & 15u) | (b0 >> 6) << 4;
            m = (b2 >> 4) | (b1 >> 6) << 4;
        }
        /* core/quant.c: d * sc and dmin * m in f32, then (d * sc) * q - dmin * m */
        h.sc0 = h.sc1 = pce_h2f((unsigned short)(dm & 0xffffu)) * (float)sc;
        h.mn = -(pce_h2f((unsigned short)(dm >> 16)) * (float)m);
    } else {
        /* Q6_K {u8 ql[128], qh[64]; i8 scales[16]; f16 d}: item j has
         * scales 2j and 2j + 1 */
        const uint32_t s = q_u16(h.b + 192 + 2 * h.j);
        const float d = pce_h2f((unsigned short)q_u16(h.b + 208));
        h.sc0 = d * (float)(int8_t)(s & 0xffu);
        h.sc1 = d * (float)(int8_t)(s >> 8);
    }
    return h;
}

/* Group p (0..3) of the item. */
template <int QT> __device__ __forceinline__ qgroup q_group(const qhead &h, int p)
{
    typedef qtype<QT> Q;
    qgroup g;
    g.sc = QT == PCE_GPU_Q6_K && p >= 2 ? h.sc1 : h.sc0;
    g.mn = h.mn;
    if constexpr (QT == PCE_GPU_Q8_0) { /* i8 qs[32] at 2: w = q * d */
        const uint32_t w0 = q_u32<false>(h.b + 2 + 8 * p), w1 = q_u32<false>(h.b + 6 + 8 * p);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            g.lo[i] = (float)(int8_t)(w0 >> 8 * i & 0xffu);
            g.hi[i] = (float)(int8_t)(w1 >> 8 * i & 0xffu);
        }
    } else if constexpr (Q::halves) {
        /* Q4_0 d * (q - 8), Q4_1 d * q + m, Q5_0 d * (q - 16), Q5_1 d * q + m;
         * qs[j]: position j in the low nibble, j + 16 in the high one */
        constexpr int qs = QT == PCE_GPU_Q4_0   ? 2
                           : QT == PCE_GPU_Q4_1 ? 4
                           : QT == PCE_GPU_Q5_0 ? 6
                                                : 8;
        constexpr int off = QT == PCE_GPU_Q4_0 ? 8 : QT == PCE_GPU_Q5_0 ? 16 : 0;
        const uint32_t w = q_u32<Q::a4>(h.b + qs + 4 * p);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int lo = (int)(w >> 8 * i & 15u), hi = (int)(w >> (8 * i + 4) & 15u);
            if constexpr (QT == PCE_GPU_Q5_0 || QT == PCE_GPU_Q5_1) {
                lo |= (int)(h.qh >> (4 * p + i) & 1u) << 4;
                hi |= (int)(h.qh >> (4 * p + i + 16) & 1u) << 4;
            }
            g.lo[i] = (float)(lo - off);
            g.hi[i] = (float)(hi - off);
        }
    } else if constexpr (QT == PCE_GPU_Q4_K || QT == PCE_GPU_Q5_K) {
        /* qs: 32 bytes per pair of sub-blocks, low nibbles then high; Q5_K's
         * qh[32] at 16: bit j of qh[l] the fifth bit of position l */
        const uint8_t *qb = h.b + (QT == PCE_GPU_Q4_K ? 16 : 48) + 32 * (h.j >> 1) + 8 * p;
        const int sh = 4 * (h.j & 1);
        const uint32_t w0 = q_u32<true>(qb), w1 = q_u32<true>(qb + 4);
        uint32_t h0 = 0u, h1 = 0u;
        if constexpr (QT == PCE_GPU_Q5_K) {
            h0 = q_u32<true>(h.b + 16 + 8 * p);
            h1 = q_u32<true>(h.b + 20 + 8 * p);
        }
#pragma unroll
        for (int i = 0; i < 4; i++) {
            uint32_t lo = w0 >> (8 * i + sh) & 15u, hi = w1 >> (8 * i + sh) & 15u;
            if constexpr (QT == PCE_GPU_Q5_K) {
                lo |= (h0 >> (8 * i + h.j) & 1u) << 4;
                hi |= (h1 >> (8 * i + h.j) & 1u) << 4;
            }
            g.lo[i] = (float)lo;
            g.hi[i] = (float)hi;
        }
    } else {
        /* Q6_K: item j is quarter t = j % 4 (q1..q4 of core/quant.c) of
         * half j / 4: low 4 bits from ql, high 2 from qh; w = sc * (q - 32) */
        const int hf = h.j >> 2, t = h.j & 3;
        const uint8_t *lb = h.b + 64 * hf + 32 * (t & 1) + 8 * p, *hb = h.b + 128 + 32 * hf + 8 * p;
        const int sh = 4 * (t >> 1), hs = 2 * t;
        const uint32_t l0 = q_u32<false>(lb), l1 = q_u32<false>(lb + 4);
        const uint32_t u0 = q_u32<false>(hb), u1 = q_u32<false>(hb + 4);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int lo = (int)((l0 >> (8 * i + sh) & 15u) | (u0 >> (8 * i + hs) & 3u) << 4);
            const int hi = (int)((l1 >> (8 * i + sh) & 15u) | (u1 >> (8 * i + hs) & 3u) << 4);
            g.lo[i] = (float)(lo - 32);
            g.hi[i] = (float)(hi - 32);
        }
    }
    return g;
}

/* One weight of the group (q: one of its lo/hi values), exactly as
 * core/quant.c dequantizes it. */
template <int QT> __device__ __forceinline__ float q_deq(const qgroup &g, float q)
{
    if constexpr (qtype<QT>::has_min)
        return g.sc * q + g.mn;
    else
        return g.sc * q;
}

} // namespace

#endif
