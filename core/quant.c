/* quant.c — reference conversions between f32 and GGUF's block-quantized
 * formats (see quant.h for what matches gguf-py bit for bit and what is
 * pce's own).
 *
 * Bit-exactness with numpy needs every multiply and add rounded on its own:
 * each such step is a statement of its own and the compiler is told below
 * not to fuse them into FMAs (clang: the STDC pragma; GCC: -ffp-contract=off,
 * which -std=c11 implies anyway). Only clang's explicit -ffp-contract=fast
 * overrides that; test_quant then fails on Q4_0 and Q5_0. */
#include "quant.h"

#include "internal.h"

#include <math.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
/* what -std=c11 implies, kept under -std=gnu11 or an explicit
 * -ffp-contract=fast (the near-tie blocks of the fixtures catch a fused
 * x * id + 8.5) */
#pragma GCC optimize("fp-contract=off")
#endif

/* v truncated toward zero into [lo, hi]; NaN gives lo (no undefined
 * float-to-int conversion on any input). */
static int clamp_int(float v, int lo, int hi)
{
    if (!(v >= (float)lo))
        return lo;
    if (v >= (float)hi)
        return hi;
    return (int)v;
}

static uint32_t load_u32le(const uint8_t b[4])
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* ---- dequantization: gguf-py's dequantize_blocks, one f32 op at a time -- */

void pce_dequantize_row_q8_0(const void *src, float *dst, int64_t n)
{
    const pce_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / PCE_QK; i++, b++, dst += PCE_QK) {
        const float d = pce_f16_to_f32(b->d);
        for (int j = 0; j < PCE_QK; j++)
            dst[j] = (float)b->qs[j] * d;
    }
}

void pce_dequantize_row_q4_0(const void *src, float *dst, int64_t n)
{
    const pce_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / PCE_QK; i++, b++, dst += PCE_QK) {
        const float d = pce_f16_to_f32(b->d);
        for (int j = 0; j < PCE_QK / 2; j++) {
            dst[j] = d * (float)((b->qs[j] & 0x0f) - 8);
            dst[j + PCE_QK / 2] = d * (float)((b->qs[j] >> 4) - 8);
        }
    }
}

void pce_dequantize_row_q4_1(const void *src, float *dst, int64_t n)
{
    const pce_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / PCE_QK; i++, b++, dst += PCE_QK) {
        const float d = pce_f16_to_f32(b->d), m = pce_f16_to_f32(b->m);
        for (int j = 0; j < PCE_QK / 2; j++) {
            /* numpy: (d * qs) + m, two roundings */
            float lo = d * (float)(b->qs[j] & 0x0f);
            float hi = d * (float)(b->qs[j] >> 4);
            dst[j] = lo + m;
            dst[j + PCE_QK / 2] = hi + m;
        }
    }
}

void pce_dequantize_row_q5_0(const void *src, float *dst, int64_t n)
{
    const pce_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / PCE_QK; i++, b++, dst += PCE_QK) {
        const float d = pce_f16_to_f32(b->d);
        const uint32_t qh = load_u32le(b->qh);
        for (int j = 0; j < PCE_QK / 2; j++) {
            int lo = (b->qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int hi = (b->qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            dst[j] = d * (float)(lo - 16);
            dst[j + PCE_QK / 2] = d * (float)(hi - 16);
        }
    }
}

void pce_dequantize_row_q5_1(const void *src, float *dst, int64_t n)
{
    const pce_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / PCE_QK; i++, b++, dst += PCE_QK) {
        const float d = pce_f16_to_f32(b->d), m = pce_f16_to_f32(b->m);
        const uint32_t qh = load_u32le(b->qh);
        for (int j = 0; j < PCE_QK / 2; j++) {
            int lo = (b->qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int hi = (b->qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            float dlo = d * (float)lo, dhi = d * (float)hi;
            dst[j] = dlo + m;
            dst[j + PCE_QK / 2] = dhi + m;
        }
    }
}

/* The 6-bit scale and min of sub-block j (ggml's get_scale_min_k4). */
static void k4_scale_min(int j, const uint8_t q[PCE_K_SCALE_SIZE], int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Shared by Q4_K and Q5_K: qh NULL for Q4_K. */
static void dequantize_k_minmax(float d, float dmin, const uint8_t *scales, const uint8_t *qh,
                                const uint8_t *qs, float *dst)
{
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k4_scale_min(j, scales, &sc, &m);
        /* numpy: d * sc and dmin * m in f32, then (d * sc) * q - dmin * m */
        const float dl = d * (float)sc, ml = dmin * (float)m;
        const uint8_t *q = qs + 32 * (j / 2);
        const int shift = 4 * (j % 2);
        for (int l = 0; l < 32; l++) {
            int v = (q[l] >> shift) & 0x0f;
            if (qh)
                v |= ((qh[l] >> j) & 1) << 4;
            float p = dl * (float)v;
            dst[32 * j + l] = p - ml;
        }
    }
}

void pce_dequantize_row_q4_k(const void *src, float *dst, int64_t n)
{
    const pce_block_q4_k *b = src;
    for (int64_t i = 0; i < n / PCE_QK_K; i++, b++, dst += PCE_QK_K)
        dequantize_k_minmax(pce_f16_to_f32(b->d), pce_f16_to_f32(b->dmin), b->scales, NULL, b->qs,
                            dst);
}

void pce_dequantize_row_q5_k(const void *src, float *dst, int64_t n)
{
    const pce_block_q5_k *b = src;
    for (int64_t i = 0; i < n / PCE_QK_K; i++, b++, dst += PCE_QK_K)
        dequantize_k_minmax(pce_f16_to_f32(b->d), pce_f16_to_f32(b->dmin), b->scales, b->qh, b->qs,
                            dst);
}

void pce_dequantize_row_q6_k(const void *src, float *dst, int64_t n)
{
    const pce_block_q6_k *b = src;
    for (int64_t i = 0; i < n / PCE_QK_K; i++, b++, dst += PCE_QK_K) {
        const float d = pce_f16_to_f32(b->d);
        float dl[PCE_QK_K / 16];
        for (int s = 0; s < PCE_QK_K / 16; s++)
            dl[s] = d * (float)b->scales[s]; /* numpy: (d * scales) * q */
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            float *y = dst + 128 * h;
            for (int l = 0; l < 32; l++) {
                int q1 = ((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32;
                int q2 = ((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32;
                int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                const float *s = dl + 8 * h;
                y[l] = s[l / 16] * (float)q1;
                y[l + 32] = s[2 + l / 16] * (float)q2;
                y[l + 64] = s[4 + l / 16] * (float)q3;
                y[l + 96] = s[6 + l / 16] * (float)q4;
            }
        }
    }
}

/* ---- quantization: gguf-py's quantize_blocks, one f32 op at a time ------ */

void pce_quantize_row_q8_0(const float *src, void *dst, int64_t n)
{
    pce_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / PCE_QK; i++, b++, src += PCE_QK) {
        float amax = 0.0f;
        for (int j = 0; j < PCE_QK; j++)
            amax = fabsf(src[j]) > amax ? fabsf(src[j]) : amax;
        const float d = amax / 127.0f;
        const float id = d == 0.0f ? 0.0f : 1.0f / d;
        b->d = pce_f32_to_f16(d);
        for (int j = 0; j < PCE_QK; j++) {
            /* np_roundf is round half away from zero, i.e. roundf */
            float v = roundf(src[j] * id);
            b->qs[j] = (int8_t)clamp_int(v, -128, 127);
        }
    }
}

/* The element of largest magnitude, the first one on ties (numpy's
 * take_along_axis(x, abs(x).argmax())). */
static float signed_absmax(const float *x, int n)
{
    float amax = fabsf(x[0]), max = x[0];
    for (int j = 1; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    float lo = x[0], hi = x[0];
    for (int j = 1; j < n; j++) {
        lo = x[j] < lo ? x[j] : lo;
        hi = x[j] > hi ? x[j] : hi;
    }
    *mn = lo;
    *mx = hi;
}

/* Q4_0 and Q5_0: q = trunc(x * id + offset + 0.5) clipped to [0, nmax]. */
static void quantize_sym(const float *x, float div, float bias, int nmax, uint16_t *dh,
                         uint8_t q[PCE_QK])
{
    const float d = signed_absmax(x, PCE_QK) / div;
    const float id = d == 0.0f ? 0.0f : 1.0f / d;
    *dh = pce_f32_to_f16(d);
    for (int j = 0; j < PCE_QK; j++) {
        float v = x[j] * id;
        v = v + bias;
        q[j] = (uint8_t)clamp_int(truncf(v), 0, nmax);
    }
}

/* Q4_1 and Q5_1: q = trunc((x - min) * id + 0.5) clipped to [0, nmax]. */
static void quantize_asym(const float *x, int nmax, uint16_t *dh, uint16_t *mh, uint8_t q[PCE_QK])
{
    float mn, mx;
    min_max(x, PCE_QK, &mn, &mx);
    const float d = (mx - mn) / (float)nmax;
    const float id = d == 0.0f ? 0.0f : 1.0f / d;
    *dh = pce_f32_to_f16(d);
    *mh = pce_f32_to_f16(mn);
    for (int j = 0; j < PCE_QK; j++) {
        float v = x[j] - mn;
        v = v * id;
        v = v + 0.5f;
        q[j] = (uint8_t)clamp_int(truncf(v), 0, nmax);
    }
}

static void pack_nibbles(const uint8_t q[PCE_QK], uint8_t qs[PCE_QK / 2])
{
    for (int j = 0; j < PCE_QK / 2; j++)
        qs[j] = (uint8_t)((q[j] & 0x0f) | (q[j + PCE_QK / 2] & 0x0f) << 4);
}

static void pack_high_bits(const uint8_t q[PCE_QK], uint8_t qh[4])
{
    uint32_t h = 0;
    for (int j = 0; j < PCE_QK; j++)
        h |= (uint32_t)(q[j] >> 4) << j;
    for (int k = 0; k < 4; k++)
        qh[k] = (uint8_t)(h >> (8 * k));
}

void pce_quantize_row_q4_0(const float *src, void *dst, int64_t n)
{
    pce_block_q4_0 *b = dst;
    uint8_t q[PCE_QK];
    for (int64_t i = 0; i < n / PCE_QK; i++, b++, src += PCE_QK) {
        quantize_sym(src, -8.0f, 8.5f, 15, &b->d, q);
        pack_nibbles(q, b->qs);
    }
}

void pce_quantize_row_q4_1(const float *src, void *dst, int64_t n)
{
    pce_block_q4_1 *b = dst;
    uint8_t q[PCE_QK];
    for (int64_t i = 0; i < n / PCE_QK; i++, b++, src += PCE_QK) {
        quantize_asym(src, 15, &b->d, &b->m, q);
        pack_nibbles(q, b->qs);
    }
}

void pce_quantize_row_q5_0(const float *src, void *dst, int64_t n)
{
    pce_block_q5_0 *b = dst;
    uint8_t q[PCE_QK];
    for (int64_t i = 0; i < n / PCE_QK; i++, b++, src += PCE_QK) {
        quantize_sym(src, -16.0f, 16.5f, 31, &b->d, q);
        pack_high_bits(q, b->qh);
        pack_nibbles(q, b->qs);
    }
}

void pce_quantize_row_q5_1(const float *src, void *dst, int64_t n)
{
    pce_block_q5_1 *b = dst;
    uint8_t q[PCE_QK];
    for (int64_t i = 0; i < n / PCE_QK; i++, b++, src += PCE_QK) {
        quantize_asym(src, 31, &b->d, &b->m, q);
        pack_high_bits(q, b->qh);
        pack_nibbles(q, b->qs);
    }
}

/* ---- K-quants: pce's own simple quantizer (see quant.h) ----------------- */

/* The f16 nearest v (v >= 0), moved one step up if it is below v, so that
 * scales derived from it never fall short; the largest finite f16 at most. */
static uint16_t f16_at_or_above(float v)
{
    uint16_t h = pce_f32_to_f16(v);
    if (h < 0x7c00 && pce_f16_to_f32(h) < v)
        h++;
    return h >= 0x7c00 ? 0x7bff : h;
}

static int round_clamp(float v, int lo, int hi)
{
    return clamp_int(roundf(v), lo, hi);
}

/* Q4_K (qh NULL, nmax 15) and Q5_K (nmax 31): 8 sub-blocks of 32, each
 * mapped onto [min(0, lo), hi]. */
static void quantize_k_minmax(const float *x, int nmax, uint16_t *dh, uint16_t *dminh,
                              uint8_t scales[PCE_K_SCALE_SIZE], uint8_t *qh, uint8_t *qs)
{
    float scale[8], mn[8], max_scale = 0.0f, max_mn = 0.0f;
    for (int j = 0; j < 8; j++) {
        float lo, hi;
        min_max(x + 32 * j, 32, &lo, &hi);
        if (lo > 0.0f)
            lo = 0.0f; /* the min is subtracted: x = sc * q - m with m >= 0 */
        scale[j] = (hi - lo) / (float)nmax;
        mn[j] = -lo;
        max_scale = scale[j] > max_scale ? scale[j] : max_scale;
        max_mn = mn[j] > max_mn ? mn[j] : max_mn;
    }
    *dh = f16_at_or_above(max_scale / 63.0f);
    *dminh = f16_at_or_above(max_mn / 63.0f);
    const float d = pce_f16_to_f32(*dh), dmin = pce_f16_to_f32(*dminh);
    int ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        /* the scale rounds up so the top of the range is never clipped */
        ls[j] = d > 0.0f ? clamp_int(ceilf(scale[j] / d), 0, 63) : 0;
        lm[j] = dmin > 0.0f ? round_clamp(mn[j] / dmin, 0, 63) : 0;
    }
    for (int j = 0; j < 4; j++) {
        scales[j] = (uint8_t)(ls[j] | (ls[j + 4] >> 4) << 6);
        scales[j + 4] = (uint8_t)(lm[j] | (lm[j + 4] >> 4) << 6);
        scales[j + 8] = (uint8_t)((ls[j + 4] & 0x0f) | (lm[j + 4] & 0x0f) << 4);
    }
    uint8_t q[PCE_QK_K];
    for (int j = 0; j < 8; j++) {
        /* the products the dequantizer forms */
        const float sc = d * (float)ls[j], m = dmin * (float)lm[j];
        for (int l = 0; l < 32; l++) {
            float v = x[32 * j + l] + m;
            q[32 * j + l] = (uint8_t)(sc > 0.0f ? round_clamp(v / sc, 0, nmax) : 0);
        }
    }
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            qs[32 * c + l] = (uint8_t)((q[64 * c + l] & 0x0f) | (q[64 * c + 32 + l] & 0x0f) << 4);
    if (qh) {
        memset(qh, 0, PCE_QK_K / 8);
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < 32; l++)
                qh[l] |= (uint8_t)((q[32 * j + l] >> 4) << j);
    }
}

void pce_quantize_row_q4_k(const float *src, void *dst, int64_t n)
{
    pce_block_q4_k *b = dst;
    for (int64_t i = 0; i < n / PCE_QK_K; i++, b++, src += PCE_QK_K)
        quantize_k_minmax(src, 15, &b->d, &b->dmin, b->scales, NULL, b->qs);
}

void pce_quantize_row_q5_k(const float *src, void *dst, int64_t n)
{
    pce_block_q5_k *b = dst;
    for (int64_t i = 0; i < n / PCE_QK_K; i++, b++, src += PCE_QK_K)
        quantize_k_minmax(src, 31, &b->d, &b->dmin, b->scales, b->qh, b->qs);
}

void pce_quantize_row_q6_k(const float *src, void *dst, int64_t n)
{
    pce_block_q6_k *b = dst;
    for (int64_t i = 0; i < n / PCE_QK_K; i++, b++, src += PCE_QK_K) {
        /* 16 sub-blocks of 16: the largest magnitude maps onto -32 */
        float scale[16], amax = 0.0f;
        for (int s = 0; s < 16; s++) {
            scale[s] = signed_absmax(src + 16 * s, 16) / -32.0f;
            amax = fabsf(scale[s]) > amax ? fabsf(scale[s]) : amax;
        }
        b->d = f16_at_or_above(amax / 127.0f);
        const float d = pce_f16_to_f32(b->d);
        uint8_t q[PCE_QK_K];
        for (int s = 0; s < 16; s++) {
            int ls = 0;
            if (d > 0.0f) { /* away from zero, so |d * ls| >= |scale| */
                float r = scale[s] / d;
                ls = r >= 0.0f ? clamp_int(ceilf(r), 0, 127) : -clamp_int(ceilf(-r), 0, 127);
            }
            b->scales[s] = (int8_t)ls;
            const float sc = d * (float)ls;
            for (int l = 0; l < 16; l++) {
                int v = sc != 0.0f ? round_clamp(src[16 * s + l] / sc, -32, 31) : 0;
                q[16 * s + l] = (uint8_t)(v + 32);
            }
        }
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            const uint8_t *y = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((y[l] & 0x0f) | (y[l + 64] & 0x0f) << 4);
                ql[l + 32] = (uint8_t)((y[l + 32] & 0x0f) | (y[l + 96] & 0x0f) << 4);
                qh[l] = (uint8_t)((y[l] >> 4) | (y[l + 32] >> 4) << 2 | (y[l + 64] >> 4) << 4 |
                                  (y[l + 96] >> 4) << 6);
            }
        }
    }
}

/* ---- dispatch ----------------------------------------------------------- */

typedef void (*dequant_fn)(const void *, float *, int64_t);
typedef void (*quant_fn)(const float *, void *, int64_t);

static const struct {
    dequant_fn to_f32;
    quant_fn from_f32;
} quant_ops[PCE_DTYPE_COUNT] = {
    [PCE_DTYPE_Q8_0] = {pce_dequantize_row_q8_0, pce_quantize_row_q8_0},
    [PCE_DTYPE_Q4_0] = {pce_dequantize_row_q4_0, pce_quantize_row_q4_0},
    [PCE_DTYPE_Q4_1] = {pce_dequantize_row_q4_1, pce_quantize_row_q4_1},
    [PCE_DTYPE_Q5_0] = {pce_dequantize_row_q5_0, pce_quantize_row_q5_0},
    [PCE_DTYPE_Q5_1] = {pce_dequantize_row_q5_1, pce_quantize_row_q5_1},
    [PCE_DTYPE_Q4_K] = {pce_dequantize_row_q4_k, pce_quantize_row_q4_k},
    [PCE_DTYPE_Q5_K] = {pce_dequantize_row_q5_k, pce_quantize_row_q5_k},
    [PCE_DTYPE_Q6_K] = {pce_dequantize_row_q6_k, pce_quantize_row_q6_k},
};

static bool valid_call(pce_dtype dtype, const void *a, const void *b, int64_t n)
{
    const pce_dtype_info *in = pce_dtype_get_info(dtype);
    return in && in->is_quantized && quant_ops[dtype].to_f32 && n >= 0 && n % in->block_size == 0 &&
           (n == 0 || (a && b));
}

pce_status pce_dequantize_row(pce_dtype dtype, const void *src, float *dst, int64_t n)
{
    if (!valid_call(dtype, src, dst, n))
        return PCE_ERR_INVALID_ARGUMENT;
    if (n > 0)
        quant_ops[dtype].to_f32(src, dst, n);
    return PCE_OK;
}

pce_status pce_quantize_row(pce_dtype dtype, const float *src, void *dst, int64_t n)
{
    if (!valid_call(dtype, src, dst, n))
        return PCE_ERR_INVALID_ARGUMENT;
    if (!quant_ops[dtype].from_f32)
        return PCE_ERR_UNSUPPORTED;
    if (n > 0)
        quant_ops[dtype].from_f32(src, dst, n);
    return PCE_OK;
}
