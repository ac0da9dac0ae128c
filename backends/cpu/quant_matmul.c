/* quant_matmul.c — x · wᵀ with w in a GGUF block-quantized format, on the
 * CPU, the way llama.cpp does it: each row of x is quantized on the fly to
 * 8 bits in blocks of 32 (a scale, the sum of its values), and each output
 * is a sum of integer dot products of a weight block with an activation
 * block, scaled once per block. Integer products are exact, so the only
 * rounding is the activations' 8-bit quantization and the float
 * accumulation of the block sums.
 *
 * Kernels: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants Q4_K, Q5_K, Q6_K
 * (Q4_K_M / Q5_K_M files: the K types, and Q5_0 where rows are not whole
 * super-blocks) in a portable C version and AVX2 versions (maddubs; or
 * vpdpbusd where the CPU has AVX-VNNI / AVX512-VNNI), chosen at run time.
 * Work is split over the thread pool by output columns (weight rows), so
 * at decode (one row of x) every core streams its own share of the
 * weights. All but Q5_K are also repacked 8 rows interleaved
 * (quant_packed.c), which takes whole groups of 8 rows.
 * Formats without a kernel here dequantize panels of weight rows to f32 for
 * the GEMM instead (fast_kernels.c). */
#include "cpu.h"
#include "quant_act.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QM_X86 1
#endif

static inline float h2f(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return pce_f16_to_f32(h);
}

/* Round half away from zero, as llama.cpp's roundf does for activations. */
static void quantize_act_row(const float *x, q8_act *out, int64_t K)
{
    for (int64_t b = 0; b < K / QK; b++) {
        const float *v = x + b * QK;
        float amax = 0;
        for (int i = 0; i < QK; i++)
            amax = fabsf(v[i]) > amax ? fabsf(v[i]) : amax;
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        int32_t sum = 0;
        for (int i = 0; i < QK; i++) {
            int q = (int)roundf(v[i] * id);
            out[b].qs[i] = (int8_t)q;
            sum += q;
        }
        /* llama.cpp keeps the scale, and d * sum, as f16 (block_q8_0 and
         * block_q8_1 store them so): the same here, so the products agree */
        out[b].d = pce_f16_to_f32(pce_f32_to_f16(d));
        out[b].sum = sum;
        out[b].s = pce_f16_to_f32(pce_f32_to_f16(d * (float)sum));
    }
}

/* ---- portable block dots ------------------------------------------------ */
/* Each returns Σ over the row of w · x for one weight row of nb blocks. */

typedef float (*qdot_fn)(const uint8_t *w, const q8_act *x, int64_t nb);

static float dot_q8_0(const uint8_t *w, const q8_act *x, int64_t nb)
{
    float acc = 0;
    for (int64_t b = 0; b < nb; b++, w += 34) {
        const int8_t *q = (const int8_t *)(w + 2);
        int32_t s = 0;
        for (int i = 0; i < QK; i++)
            s += q[i] * x[b].qs[i];
        acc += h2f(w) * x[b].d * (float)s;
    }
    return acc;
}

static float dot_q4_0(const uint8_t *w, const q8_act *x, int64_t nb)
{
    float acc = 0;
    for (int64_t b = 0; b < nb; b++, w += 18) {
        const uint8_t *q = w + 2;
        int32_t s = 0;
        for (int i = 0; i < 16; i++)
            s += (q[i] & 15) * x[b].qs[i] + (q[i] >> 4) * x[b].qs[i + 16];
        acc += h2f(w) * x[b].d * (float)(s - 8 * x[b].sum);
    }
    return acc;
}

static float dot_q4_1(const uint8_t *w, const q8_act *x, int64_t nb)
{
    float acc = 0;
    for (int64_t b = 0; b < nb; b++, w += 20) {
        const uint8_t *q = w + 4;
        int32_t s = 0;
        for (int i = 0; i < 16; i++)
            s += (q[i] & 15) * x[b].qs[i] + (q[i] >> 4) * x[b].qs[i + 16];
        acc += h2f(w) * x[b].d * (float)s + h2f(w + 2) * x[b].s;
    }
    return acc;
}

/* Q5: the fifth bit of weight j is bit j of the 32-bit qh */
static float dot_q5(const uint8_t *w, const q8_act *x, int64_t nb, bool has_min)
{
    size_t bs = has_min ? 24 : 22, off = has_min ? 4 : 2;
    float acc = 0;
    for (int64_t b = 0; b < nb; b++, w += bs) {
        uint32_t qh;
        memcpy(&qh, w + off, 4);
        const uint8_t *q = w + off + 4;
        int32_t s = 0;
        for (int i = 0; i < 16; i++) {
            int lo = (q[i] & 15) | (int)((qh >> i) & 1) << 4;
            int hi = (q[i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4;
            s += lo * x[b].qs[i] + hi * x[b].qs[i + 16];
        }
        if (has_min)
            acc += h2f(w) * x[b].d * (float)s + h2f(w + 2) * x[b].s;
        else
            acc += h2f(w) * x[b].d * (float)(s - 16 * x[b].sum);
    }
    return acc;
}

static float dot_q5_0(const uint8_t *w, const q8_act *x, int64_t nb)
{
    return dot_q5(w, x, nb, false);
}

static float dot_q5_1(const uint8_t *w, const q8_act *x, int64_t nb)
{
    return dot_q5(w, x, nb, true);
}

/* ---- K-quants: super-blocks of 256, sub-blocks matching the 32-value
 * activation blocks ------------------------------------------------------- */
/* Q4_K/Q5_K {f16 d, dmin; scales[12]; (Q5_K: qh[32]); qs[128]}: sub-block j
 * (32 weights) has a 6-bit scale sc and min m, w = (d·sc)·q − dmin·m, and
 * its 4-bit q in the low (j even) or high (j odd) nibbles of qs[32·(j/2)..].
 * Each sub-block's Σ w·x is (d·sc)·dx·Σ q·xq − dmin·m·dx·Σ xq: an integer
 * dot, scaled once per 32, as for Q4_1; but with one activation scale per
 * 32 (llama.cpp's Q8_K has one per 256), which rounds less. */
/* One row's q8_act blocks regrouped as nb / 8 q8_kblk. */
static void kact_from_act(const q8_act *a, q8_kblk *k, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++) {
        q8_kblk *o = &k[b / 8];
        o->d[b % 8] = a[b].d;
        o->s[b % 8] = a[b].d * (float)a[b].sum;
        memcpy(o->qs + 32 * (b % 8), a[b].qs, QK);
        int32_t h = 0;
        for (int i = 0; i < 16; i++)
            h += a[b].qs[i];
        o->hs[2 * (b % 8)] = h;
        o->hs[2 * (b % 8) + 1] = a[b].sum - h;
    }
}

/* Q4_K, Q5_K: Σ over the row for one weight row of nsb super-blocks */
static float dot_q45_k(const uint8_t *w, const q8_kblk *x, int64_t nsb, bool five)
{
    size_t bs = five ? 176 : 144;
    float acc = 0;
    for (int64_t b = 0; b < nsb; b++, w += bs) {
        float d = h2f(w), dmin = h2f(w + 2);
        uint8_t sm[16];
        k4_scales(w + 4, sm);
        const uint8_t *qh = w + 16, *qs = w + (five ? 48 : 16);
        for (int j = 0; j < 8; j++) {
            const uint8_t *q = qs + 32 * (j / 2);
            int sh = 4 * (j & 1);
            int32_t s = 0;
            for (int l = 0; l < 32; l++) {
                int v = (q[l] >> sh) & 15;
                if (five)
                    v |= ((qh[l] >> j) & 1) << 4;
                s += v * x[b].qs[32 * j + l];
            }
            acc += d * (float)sm[j] * x[b].d[j] * (float)s - dmin * (float)sm[8 + j] * x[b].s[j];
        }
    }
    return acc;
}

static float dot_q4_k(const uint8_t *w, const q8_kblk *x, int64_t nsb)
{
    return dot_q45_k(w, x, nsb, false);
}

static float dot_q5_k(const uint8_t *w, const q8_kblk *x, int64_t nsb)
{
    return dot_q45_k(w, x, nsb, true);
}

/* Q6_K {ql[128]; qh[64]; i8 scales[16]; f16 d}: in half h (128 weights),
 * sub-block t (0..3) takes its low 4 bits from ql[64h + 32·(t&1) + l]
 * (shifted by 4·(t/2)) and 2 more from qh[32h + l] >> 2t; weights l < 16
 * and l >= 16 have their own scale, w = (d·sc)·(q − 32). */
static float dot_q6_k(const uint8_t *w, const q8_kblk *x, int64_t nsb)
{
    float acc = 0;
    for (int64_t b = 0; b < nsb; b++, w += 210) {
        float d = h2f(w + 208);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
            const int8_t *sc = (const int8_t *)(w + 192) + 8 * h;
            for (int t = 0; t < 4; t++) {
                int j = 4 * h + t;
                const uint8_t *q = ql + 32 * (t & 1);
                int sh = 4 * (t >> 1);
                int32_t s[2] = {0, 0};
                for (int l = 0; l < 32; l++) {
                    int v = ((q[l] >> sh) & 15) | (((qh[l] >> (2 * t)) & 3) << 4);
                    s[l >> 4] += (v - 32) * x[b].qs[32 * j + l];
                }
                acc += d * x[b].d[j] * (float)(sc[2 * t] * s[0] + sc[2 * t + 1] * s[1]);
            }
        }
    }
    return acc;
}

/* ---- AVX2 (and VNNI) block dots ---------------------------------------- */

#ifdef QM_X86
#define QM_AVX2 __attribute__((target("avx2,fma,f16c")))
#define QM_VNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
/* the same instruction, EVEX-encoded: CPUs with AVX512-VNNI but not
 * AVX-VNNI (Ice Lake, Cascade Lake, Zen 4) */
#define QM_VNNI512 __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))

/* the 32 nibbles of 16 bytes: low nibbles (weights 0..15) in the low lane,
 * high nibbles (16..31) in the high lane, as unsigned bytes 0..15 */
QM_AVX2 static inline __m256i nibbles(const uint8_t *q)
{
    __m128i v = _mm_loadu_si128((const __m128i *)q);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_and_si256(both, _mm256_set1_epi8(15));
}

QM_AVX2 static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

QM_AVX2 static inline float f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Σ u8 · s8 over 32 bytes as 8 int32 lanes */
QM_AVX2 static inline __m256i dot_us_avx2(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

QM_VNNI static inline __m256i dot_us_vnni(__m256i u, __m256i s)
{
    return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s);
}

QM_VNNI512 static inline __m256i dot_us_vnni512(__m256i u, __m256i s)
{
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

/* One kernel body per ISA: DOT_US is the u8·s8 product. Two blocks per
 * iteration into two accumulators, so consecutive blocks do not wait on
 * each other's multiply-add (4 cycles of latency each). */
#define QM_LOADY(b) _mm256_loadu_si256((const __m256i *)x[b].qs)
#define QM_SCALE(p, b) _mm256_set1_ps(f16(p) * x[b].d)
#define QM_KERNELS(SUF, ATTR, DOT_US)                                                              \
    ATTR static float dot_q4_0_##SUF(const uint8_t *w, const q8_act *x, int64_t nb)                \
    {                                                                                              \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                             \
        int64_t b = 0;                                                                             \
        for (; b + 1 < nb; b += 2, w += 36) {                                                      \
            __m256i s0 = DOT_US(nibbles(w + 2), QM_LOADY(b));                                      \
            __m256i s1 = DOT_US(nibbles(w + 20), QM_LOADY(b + 1));                                 \
            /* the offset of 8: Σ (q - 8) y = Σ q y - 8 Σ y */                                  \
            s0 = _mm256_sub_epi32(s0, _mm256_setr_epi32(8 * x[b].sum, 0, 0, 0, 0, 0, 0, 0));       \
            s1 = _mm256_sub_epi32(s1, _mm256_setr_epi32(8 * x[b + 1].sum, 0, 0, 0, 0, 0, 0, 0));   \
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), QM_SCALE(w, b), acc0);                  \
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), QM_SCALE(w + 18, b + 1), acc1);         \
        }                                                                                          \
        for (; b < nb; b++, w += 18) {                                                             \
            __m256i s0 = DOT_US(nibbles(w + 2), QM_LOADY(b));                                      \
            s0 = _mm256_sub_epi32(s0, _mm256_setr_epi32(8 * x[b].sum, 0, 0, 0, 0, 0, 0, 0));       \
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), QM_SCALE(w, b), acc0);                  \
        }                                                                                          \
        return hsum8(_mm256_add_ps(acc0, acc1));                                                   \
    }                                                                                              \
    ATTR static float dot_q4_1_##SUF(const uint8_t *w, const q8_act *x, int64_t nb)                \
    {                                                                                              \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                             \
        float m0 = 0, m1 = 0;                                                                      \
        int64_t b = 0;                                                                             \
        for (; b + 1 < nb; b += 2, w += 40) {                                                      \
            __m256i s0 = DOT_US(nibbles(w + 4), QM_LOADY(b));                                      \
            __m256i s1 = DOT_US(nibbles(w + 24), QM_LOADY(b + 1));                                 \
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), QM_SCALE(w, b), acc0);                  \
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), QM_SCALE(w + 20, b + 1), acc1);         \
            m0 += f16(w + 2) * x[b].s;                                                             \
            m1 += f16(w + 22) * x[b + 1].s;                                                        \
        }                                                                                          \
        for (; b < nb; b++, w += 20) {                                                             \
            __m256i s0 = DOT_US(nibbles(w + 4), QM_LOADY(b));                                      \
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), QM_SCALE(w, b), acc0);                  \
            m0 += f16(w + 2) * x[b].s;                                                             \
        }                                                                                          \
        return hsum8(_mm256_add_ps(acc0, acc1)) + (m0 + m1);                                       \
    }                                                                                              \
    ATTR static float dot_q8_0_##SUF(const uint8_t *w, const q8_act *x, int64_t nb)                \
    {                                                                                              \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                             \
        int64_t b = 0;                                                                             \
        /* s8 · s8 as |q| · (y with q's sign) */                                                 \
        for (; b + 1 < nb; b += 2, w += 68) {                                                      \
            __m256i q0 = _mm256_loadu_si256((const __m256i *)(w + 2));                             \
            __m256i q1 = _mm256_loadu_si256((const __m256i *)(w + 36));                            \
            __m256i s0 = DOT_US(_mm256_sign_epi8(q0, q0), _mm256_sign_epi8(QM_LOADY(b), q0));      \
            __m256i s1 = DOT_US(_mm256_sign_epi8(q1, q1), _mm256_sign_epi8(QM_LOADY(b + 1), q1));  \
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), QM_SCALE(w, b), acc0);                  \
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), QM_SCALE(w + 34, b + 1), acc1);         \
        }                                                                                          \
        for (; b < nb; b++, w += 34) {                                                             \
            __m256i q0 = _mm256_loadu_si256((const __m256i *)(w + 2));                             \
            __m256i s0 = DOT_US(_mm256_sign_epi8(q0, q0), _mm256_sign_epi8(QM_LOADY(b), q0));      \
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), QM_SCALE(w, b), acc0);                  \
        }                                                                                          \
        return hsum8(_mm256_add_ps(acc0, acc1));                                                   \
    }

QM_KERNELS(avx2, QM_AVX2, dot_us_avx2)
QM_KERNELS(vnni, QM_VNNI, dot_us_vnni)
QM_KERNELS(vnni512, QM_VNNI512, dot_us_vnni512)

/* One weight row against four activation rows (prefill): each weight block
 * is loaded and unpacked once for the four. x: the first row's blocks;
 * `stride` blocks between rows. (Q4_0, Q4_1 with the Q5s, below.) */
#define QM_KERNELS4(SUF, ATTR, DOT_US)                                                             \
    ATTR static void dot4_q8_0_##SUF(const uint8_t *w, const q8_act *x, int64_t stride,            \
                                     int64_t nb, float *out)                                       \
    {                                                                                              \
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),            \
                         _mm256_setzero_ps()};                                                     \
        for (int64_t b = 0; b < nb; b++, w += 34) {                                                \
            __m256i q = _mm256_loadu_si256((const __m256i *)(w + 2));                              \
            __m256i aq = _mm256_sign_epi8(q, q);                                                   \
            float dw = f16(w);                                                                     \
            for (int r = 0; r < 4; r++) {                                                          \
                const q8_act *y = x + r * stride + b;                                              \
                __m256i s =                                                                        \
                    DOT_US(aq, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y->qs), q));   \
                acc[r] =                                                                           \
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * y->d), acc[r]);     \
            }                                                                                      \
        }                                                                                          \
        for (int r = 0; r < 4; r++)                                                                \
            out[r] = hsum8(acc[r]);                                                                \
    }

QM_KERNELS4(avx2, QM_AVX2, dot_us_avx2)
QM_KERNELS4(vnni, QM_VNNI, dot_us_vnni)
QM_KERNELS4(vnni512, QM_VNNI512, dot_us_vnni512)

/* Two weight rows against one activation row (decode): each activation
 * block is loaded once for both rows, and the two rows' chains of
 * multiply-adds interleave. `rs`: bytes from one weight row to the next. */
#define QM_KERNELS2(SUF, ATTR, DOT_US)                                                             \
    ATTR static void dot2_q4_1_##SUF(const uint8_t *w, int64_t rs, const q8_act *x, int64_t nb,    \
                                     float *out)                                                   \
    {                                                                                              \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();                                 \
        float m0 = 0, m1 = 0;                                                                      \
        const uint8_t *v = w + rs;                                                                 \
        for (int64_t b = 0; b < nb; b++, w += 20, v += 20) {                                       \
            __m256i y = QM_LOADY(b);                                                               \
            __m256 dy = _mm256_set1_ps(x[b].d);                                                    \
            __m256i s0 = DOT_US(nibbles(w + 4), y), s1 = DOT_US(nibbles(v + 4), y);                \
            a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0),                                           \
                                 _mm256_mul_ps(_mm256_set1_ps(f16(w)), dy), a0);                   \
            a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1),                                           \
                                 _mm256_mul_ps(_mm256_set1_ps(f16(v)), dy), a1);                   \
            m0 += f16(w + 2) * x[b].s;                                                             \
            m1 += f16(v + 2) * x[b].s;                                                             \
        }                                                                                          \
        out[0] = hsum8(a0) + m0;                                                                   \
        out[1] = hsum8(a1) + m1;                                                                   \
    }                                                                                              \
    ATTR static void dot2_q8_0_##SUF(const uint8_t *w, int64_t rs, const q8_act *x, int64_t nb,    \
                                     float *out)                                                   \
    {                                                                                              \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();                                 \
        const uint8_t *v = w + rs;                                                                 \
        for (int64_t b = 0; b < nb; b++, w += 34, v += 34) {                                       \
            __m256i y = QM_LOADY(b);                                                               \
            __m256 dy = _mm256_set1_ps(x[b].d);                                                    \
            __m256i q0 = _mm256_loadu_si256((const __m256i *)(w + 2));                             \
            __m256i q1 = _mm256_loadu_si256((const __m256i *)(v + 2));                             \
            __m256i s0 = DOT_US(_mm256_sign_epi8(q0, q0), _mm256_sign_epi8(y, q0));                \
            __m256i s1 = DOT_US(_mm256_sign_epi8(q1, q1), _mm256_sign_epi8(y, q1));                \
            a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0),                                           \
                                 _mm256_mul_ps(_mm256_set1_ps(f16(w)), dy), a0);                   \
            a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1),                                           \
                                 _mm256_mul_ps(_mm256_set1_ps(f16(v)), dy), a1);                   \
        }                                                                                          \
        out[0] = hsum8(a0);                                                                        \
        out[1] = hsum8(a1);                                                                        \
    }

QM_KERNELS2(avx2, QM_AVX2, dot_us_avx2)
QM_KERNELS2(vnni, QM_VNNI, dot_us_vnni)
QM_KERNELS2(vnni512, QM_VNNI512, dot_us_vnni512)

/* Q5_0/Q5_1 blocks: the 32 weights as unsigned bytes 0..31 in order, the
 * low 4 bits from the nibbles, the fifth from bit j of the 32-bit qh:
 * each byte of qh spread over 8 bytes, then a byte is 0xff where its own
 * bit is set (every other bit forced to 1 first). */
QM_AVX2 static inline __m256i q5_values(const uint8_t *qh, const uint8_t *qs)
{
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                             0x0101010101010101, 0x0000000000000000);
    __m256i bits = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), spread);
    bits = _mm256_or_si256(bits, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    bits = _mm256_cmpeq_epi8(bits, _mm256_set1_epi64x(-1));
    return _mm256_or_si256(nibbles(qs), _mm256_and_si256(bits, _mm256_set1_epi8(16)));
}

/* Q5_0 {f16 d; qh[4]; qs[16]}: w = d·(q − 16); Q5_1 {f16 d, m; qh[4];
 * qs[16]}: d·q + m. One weight row against one activation row; and for
 * them and Q4_0, Q4_1 one against four. */
#define QM_Q5KERNELS(SUF, ATTR, DOT_US)                                                            \
    ATTR static float dot_q5_0_##SUF(const uint8_t *w, const q8_act *x, int64_t nb)                \
    {                                                                                              \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                             \
        for (int64_t b = 0; b < nb; b++, w += 22) {                                                \
            __m256i s = DOT_US(q5_values(w + 2, w + 6), QM_LOADY(b));                              \
            s = _mm256_sub_epi32(s, _mm256_setr_epi32(16 * x[b].sum, 0, 0, 0, 0, 0, 0, 0));        \
            if (b & 1)                                                                             \
                acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), QM_SCALE(w, b), acc1);               \
            else                                                                                   \
                acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), QM_SCALE(w, b), acc0);               \
        }                                                                                          \
        return hsum8(_mm256_add_ps(acc0, acc1));                                                   \
    }                                                                                              \
    ATTR static float dot_q5_1_##SUF(const uint8_t *w, const q8_act *x, int64_t nb)                \
    {                                                                                              \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                             \
        float mins = 0;                                                                            \
        for (int64_t b = 0; b < nb; b++, w += 24) {                                                \
            __m256i s = DOT_US(q5_values(w + 4, w + 8), QM_LOADY(b));                              \
            if (b & 1)                                                                             \
                acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), QM_SCALE(w, b), acc1);               \
            else                                                                                   \
                acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), QM_SCALE(w, b), acc0);               \
            mins += f16(w + 2) * x[b].s;                                                           \
        }                                                                                          \
        return hsum8(_mm256_add_ps(acc0, acc1)) + mins;                                            \
    }                                                                                              \
    /* one weight row against four activation rows for the formats of 32                           \
     * nibbles (five: and fifth bits): each block put together once */                             \
    ATTR static inline void dot4_q45_##SUF(const uint8_t *w, bool five, bool has_min,              \
                                           const q8_act *x, int64_t stride, int64_t nb,            \
                                           float *out)                                             \
    {                                                                                              \
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),            \
                         _mm256_setzero_ps()};                                                     \
        float mins[4] = {0, 0, 0, 0};                                                              \
        const size_t head = has_min ? 4 : 2, bs = head + (five ? 20 : 16);                         \
        const int32_t offset = has_min ? 0 : five ? 16 : 8; /* stored q + offset */                \
        for (int64_t b = 0; b < nb; b++, w += bs) {                                                \
            __m256i q = five ? q5_values(w + head, w + head + 4) : nibbles(w + head);              \
            float dw = f16(w), mw = has_min ? f16(w + 2) : 0.0f;                                   \
            for (int r = 0; r < 4; r++) {                                                          \
                const q8_act *y = x + r * stride + b;                                              \
                __m256i s = DOT_US(q, _mm256_loadu_si256((const __m256i *)y->qs));                 \
                if (offset)                                                                        \
                    s = _mm256_sub_epi32(s,                                                        \
                                         _mm256_setr_epi32(offset * y->sum, 0, 0, 0, 0, 0, 0, 0)); \
                acc[r] =                                                                           \
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * y->d), acc[r]);     \
                mins[r] += mw * y->s;                                                              \
            }                                                                                      \
        }                                                                                          \
        for (int r = 0; r < 4; r++)                                                                \
            out[r] = hsum8(acc[r]) + mins[r];                                                      \
    }                                                                                              \
    ATTR static void dot4_q4_0_##SUF(const uint8_t *w, const q8_act *x, int64_t stride,            \
                                     int64_t nb, float *out)                                       \
    {                                                                                              \
        dot4_q45_##SUF(w, false, false, x, stride, nb, out);                                       \
    }                                                                                              \
    ATTR static void dot4_q4_1_##SUF(const uint8_t *w, const q8_act *x, int64_t stride,            \
                                     int64_t nb, float *out)                                       \
    {                                                                                              \
        dot4_q45_##SUF(w, false, true, x, stride, nb, out);                                        \
    }                                                                                              \
    ATTR static void dot4_q5_0_##SUF(const uint8_t *w, const q8_act *x, int64_t stride,            \
                                     int64_t nb, float *out)                                       \
    {                                                                                              \
        dot4_q45_##SUF(w, true, false, x, stride, nb, out);                                        \
    }                                                                                              \
    ATTR static void dot4_q5_1_##SUF(const uint8_t *w, const q8_act *x, int64_t stride,            \
                                     int64_t nb, float *out)                                       \
    {                                                                                              \
        dot4_q45_##SUF(w, true, true, x, stride, nb, out);                                         \
    }

QM_Q5KERNELS(avx2, QM_AVX2, dot_us_avx2)
QM_Q5KERNELS(vnni, QM_VNNI, dot_us_vnni)
QM_Q5KERNELS(vnni512, QM_VNNI512, dot_us_vnni512)

/* The 8 sub-blocks of a Q4_K (five: Q5_K) super-block as 8 × 32 unsigned
 * bytes, q[j] holding sub-block j's weights in order. */
QM_AVX2 static inline void k45_unpack(const uint8_t *w, bool five, __m256i q[8])
{
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    const uint8_t *qs = w + (five ? 48 : 16);
    __m256i hb = five ? _mm256_loadu_si256((const __m256i *)(w + 16)) : _mm256_setzero_si256();
    for (int p = 0; p < 4; p++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
        q[2 * p] = _mm256_and_si256(v, m4);
        q[2 * p + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        if (five) /* bit j of qh[l]: the fifth bit of sub-block j's weight l */
            for (int k = 0; k < 2; k++) {
                __m256i bit =
                    _mm256_and_si256(_mm256_srl_epi16(hb, _mm_cvtsi32_si128(2 * p + k)), one);
                q[2 * p + k] = _mm256_or_si256(q[2 * p + k], _mm256_slli_epi16(bit, 4));
            }
    }
}

/* The 8 sub-blocks of 32 of a Q6_K super-block as unsigned bytes 0..63
 * (q + 32 is the weight's multiple of its scale). */
QM_AVX2 static inline void q6k_unpack(const uint8_t *w, __m256i q[8])
{
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; h++) {
        __m256i l0 = _mm256_loadu_si256((const __m256i *)(w + 64 * h));
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(w + 64 * h + 32));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(w + 128 + 32 * h));
        q[4 * h] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                   _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
        q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                       _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
        q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                       _mm256_and_si256(qh, m30));
        q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                       _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
    }
}

/* eight bytes as eight floats */
QM_AVX2 static inline __m256 u8x8_ps(const uint8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* Lane j of v in every lane */
QM_AVX2 static inline __m256 lane(__m256 v, int j)
{
    return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(j));
}

/* A Q4_K/Q5_K super-block's scales: ds lane j = d·sc[j], dm lane j =
 * dmin·m[j] */
QM_AVX2 static inline void k45_scales(const uint8_t *w, __m256 *ds, __m256 *dm)
{
    uint8_t sm[16];
    k4_scales(w + 4, sm);
    *ds = _mm256_mul_ps(_mm256_set1_ps(f16(w)), u8x8_ps(sm));
    *dm = _mm256_mul_ps(_mm256_set1_ps(f16(w + 2)), u8x8_ps(sm + 8));
}

/* K-quant kernels, one weight row against one activation row (decode) and
 * against four (prefill); each super-block unpacked and its scales made
 * vectors once. Sub-block j's integer dot is scaled by lane j of
 * (d·sc) ⊙ dx, the mins come off as (dmin·m) ⊙ (dx·Σxq), both 8 lanes at
 * a time. */
#define QM_KKERNELS(SUF, ATTR, DOT_US)                                                             \
    ATTR static inline void q45k_super_##SUF(const __m256i q[8], __m256 ds, __m256 dm,             \
                                             const q8_kblk *y, __m256 acc[2], __m256 *mins)        \
    {                                                                                              \
        __m256 sc = _mm256_mul_ps(ds, _mm256_loadu_ps(y->d));                                      \
        for (int j = 0; j < 8; j++) {                                                              \
            __m256i s = DOT_US(q[j], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * j)));       \
            acc[j & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), lane(sc, j), acc[j & 1]);          \
        }                                                                                          \
        *mins = _mm256_fmadd_ps(dm, _mm256_loadu_ps(y->s), *mins);                                 \
    }                                                                                              \
    ATTR static float dot_q45_k_##SUF(const uint8_t *w, bool five, const q8_kblk *x, int64_t nsb)  \
    {                                                                                              \
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, mins = _mm256_setzero_ps();    \
        for (int64_t b = 0; b < nsb; b++, w += five ? 176 : 144) {                                 \
            __m256i q[8];                                                                          \
            __m256 ds, dm;                                                                         \
            k45_unpack(w, five, q);                                                                \
            k45_scales(w, &ds, &dm);                                                               \
            q45k_super_##SUF(q, ds, dm, x + b, acc, &mins);                                        \
        }                                                                                          \
        return hsum8(_mm256_sub_ps(_mm256_add_ps(acc[0], acc[1]), mins));                          \
    }                                                                                              \
    ATTR static float dot_q4_k_##SUF(const uint8_t *w, const q8_kblk *x, int64_t nsb)              \
    {                                                                                              \
        return dot_q45_k_##SUF(w, false, x, nsb);                                                  \
    }                                                                                              \
    ATTR static float dot_q5_k_##SUF(const uint8_t *w, const q8_kblk *x, int64_t nsb)              \
    {                                                                                              \
        return dot_q45_k_##SUF(w, true, x, nsb);                                                   \
    }                                                                                              \
    ATTR static void dot4_q45_k_##SUF(const uint8_t *w, bool five, const q8_kblk *x,               \
                                      int64_t stride, int64_t nsb, float *out)                     \
    {                                                                                              \
        __m256 acc[4][2], mins[4];                                                                 \
        for (int r = 0; r < 4; r++)                                                                \
            acc[r][0] = acc[r][1] = mins[r] = _mm256_setzero_ps();                                 \
        for (int64_t b = 0; b < nsb; b++, w += five ? 176 : 144) {                                 \
            __m256i q[8];                                                                          \
            __m256 ds, dm;                                                                         \
            k45_unpack(w, five, q);                                                                \
            k45_scales(w, &ds, &dm);                                                               \
            for (int r = 0; r < 4; r++)                                                            \
                q45k_super_##SUF(q, ds, dm, x + r * stride + b, acc[r], &mins[r]);                 \
        }                                                                                          \
        for (int r = 0; r < 4; r++)                                                                \
            out[r] = hsum8(_mm256_sub_ps(_mm256_add_ps(acc[r][0], acc[r][1]), mins[r]));           \
    }                                                                                              \
    ATTR static void dot4_q4_k_##SUF(const uint8_t *w, const q8_kblk *x, int64_t stride,           \
                                     int64_t nsb, float *out)                                      \
    {                                                                                              \
        dot4_q45_k_##SUF(w, false, x, stride, nsb, out);                                           \
    }                                                                                              \
    ATTR static void dot4_q5_k_##SUF(const uint8_t *w, const q8_kblk *x, int64_t stride,           \
                                     int64_t nsb, float *out)                                      \
    {                                                                                              \
        dot4_q45_k_##SUF(w, true, x, stride, nsb, out);                                            \
    }                                                                                              \
    /* Q6_K: Σ (q − 32)·y = Σ q·y − Σ 32·y, lane by lane; lanes 0-3 (weights             \
     * 0..15) take scale sc[2j], lanes 4-7 sc[2j + 1] */                                           \
    ATTR static inline void q6k_super_##SUF(const __m256i q[8], const int8_t *sc, float d,         \
                                            const q8_kblk *y, __m256 acc[2])                       \
    {                                                                                              \
        __m256 dd = _mm256_mul_ps(_mm256_set1_ps(d), _mm256_loadu_ps(y->d));                       \
        __m256i scw = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)sc));                  \
        __m256i scw2 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(sc + 8)));           \
        __m256 sa = _mm256_cvtepi32_ps(scw), sb = _mm256_cvtepi32_ps(scw2);                        \
        for (int j = 0; j < 8; j++) {                                                              \
            __m256i v = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * j));                     \
            __m256i s = _mm256_sub_epi32(DOT_US(q[j], v), DOT_US(_mm256_set1_epi8(32), v));        \
            __m256 half = j < 4 ? sa : sb; /* sc[2j], sc[2j + 1] at lanes 2(j%4), +1 */            \
            __m256 s2 = _mm256_permutevar8x32_ps(                                                  \
                half, _mm256_setr_epi32(2 * (j % 4), 2 * (j % 4), 2 * (j % 4), 2 * (j % 4),        \
                                        2 * (j % 4) + 1, 2 * (j % 4) + 1, 2 * (j % 4) + 1,         \
                                        2 * (j % 4) + 1));                                         \
            acc[j & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(s2, lane(dd, j)),    \
                                         acc[j & 1]);                                              \
        }                                                                                          \
    }                                                                                              \
    ATTR static float dot_q6_k_##SUF(const uint8_t *w, const q8_kblk *x, int64_t nsb)              \
    {                                                                                              \
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};                                \
        for (int64_t b = 0; b < nsb; b++, w += 210) {                                              \
            __m256i q[8];                                                                          \
            q6k_unpack(w, q);                                                                      \
            q6k_super_##SUF(q, (const int8_t *)(w + 192), f16(w + 208), x + b, acc);               \
        }                                                                                          \
        return hsum8(_mm256_add_ps(acc[0], acc[1]));                                               \
    }                                                                                              \
    ATTR static void dot4_q6_k_##SUF(const uint8_t *w, const q8_kblk *x, int64_t stride,           \
                                     int64_t nsb, float *out)                                      \
    {                                                                                              \
        __m256 acc[4][2];                                                                          \
        for (int r = 0; r < 4; r++)                                                                \
            acc[r][0] = acc[r][1] = _mm256_setzero_ps();                                           \
        for (int64_t b = 0; b < nsb; b++, w += 210) {                                              \
            __m256i q[8];                                                                          \
            q6k_unpack(w, q);                                                                      \
            float d = f16(w + 208);                                                                \
            for (int r = 0; r < 4; r++)                                                            \
                q6k_super_##SUF(q, (const int8_t *)(w + 192), d, x + r * stride + b, acc[r]);      \
        }                                                                                          \
        for (int r = 0; r < 4; r++)                                                                \
            out[r] = hsum8(_mm256_add_ps(acc[r][0], acc[r][1]));                                   \
    }

QM_KKERNELS(avx2, QM_AVX2, dot_us_avx2)
QM_KKERNELS(vnni, QM_VNNI, dot_us_vnni)
QM_KKERNELS(vnni512, QM_VNNI512, dot_us_vnni512)
#endif

#ifdef QM_X86
/* quantize_act_row as llama.cpp's x86 build does it (quantize_row_q8_1 with
 * AVX2): the scale's inverse as 127 / amax and rounding to nearest even,
 * eight lanes at a time. */
#define QM_ROUND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
QM_AVX2 static void quantize_act_row_avx2(const float *x, q8_act *out, int64_t K)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < K / QK; b++) {
        const float *v = x + b * QK;
        __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8), v2 = _mm256_loadu_ps(v + 16),
               v3 = _mm256_loadu_ps(v + 24);
        __m256 mx =
            _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                          _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4), d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        __m256 mul = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), QM_ROUND));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), QM_ROUND));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), QM_ROUND));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), QM_ROUND));
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        int32_t sum = _mm_cvtsi128_si32(s4);
        /* int32 -> int16 -> int8 with the lane order put back */
        __m256i a = _mm256_packs_epi32(i0, i1), c = _mm256_packs_epi32(i2, i3);
        __m256i q = _mm256_packs_epi16(a, c);
        q = _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)out[b].qs, q);
        out[b].d = pce_f16_to_f32(pce_f32_to_f16(d));
        out[b].sum = sum;
        out[b].s = pce_f16_to_f32(pce_f32_to_f16(d * (float)sum));
    }
}
#endif

typedef void (*qdot2_fn)(const uint8_t *w, int64_t rs, const q8_act *x, int64_t nb, float *out);
typedef void (*qdot4_fn)(const uint8_t *w, const q8_act *x, int64_t stride, int64_t nb, float *out);

#ifdef QM_X86
/* The kernels of one format and instruction set: one row, two weight rows
 * against one activation row (decode; not for Q4_0), one weight row against
 * four activation rows (prefill). */
static const struct {
    qdot_fn one;
    qdot2_fn two;
    qdot4_fn four;
} kernel_sets[] = {
    {dot_q4_0_vnni, NULL, dot4_q4_0_vnni},
    {dot_q4_1_vnni, dot2_q4_1_vnni, dot4_q4_1_vnni},
    {dot_q8_0_vnni, dot2_q8_0_vnni, dot4_q8_0_vnni},
    {dot_q4_0_vnni512, NULL, dot4_q4_0_vnni512},
    {dot_q4_1_vnni512, dot2_q4_1_vnni512, dot4_q4_1_vnni512},
    {dot_q8_0_vnni512, dot2_q8_0_vnni512, dot4_q8_0_vnni512},
    {dot_q4_0_avx2, NULL, dot4_q4_0_avx2},
    {dot_q4_1_avx2, dot2_q4_1_avx2, dot4_q4_1_avx2},
    {dot_q8_0_avx2, dot2_q8_0_avx2, dot4_q8_0_avx2},
    {dot_q5_0_vnni, NULL, dot4_q5_0_vnni},
    {dot_q5_1_vnni, NULL, dot4_q5_1_vnni},
    {dot_q5_0_vnni512, NULL, dot4_q5_0_vnni512},
    {dot_q5_1_vnni512, NULL, dot4_q5_1_vnni512},
    {dot_q5_0_avx2, NULL, dot4_q5_0_avx2},
    {dot_q5_1_avx2, NULL, dot4_q5_1_avx2},
};
#endif

/* The two-row decode kernel for the one-row kernel `one`, or NULL. */
static qdot2_fn pick2(qdot_fn one)
{
#ifdef QM_X86
    for (size_t i = 0; i < sizeof kernel_sets / sizeof kernel_sets[0]; i++)
        if (kernel_sets[i].one == one)
            return kernel_sets[i].two;
#endif
    (void)one;
    return NULL;
}

/* The four-row kernel for the one-row kernel `one`, or NULL (then rows go
 * one by one). */
static qdot4_fn pick4(qdot_fn one)
{
#ifdef QM_X86
    for (size_t i = 0; i < sizeof kernel_sets / sizeof kernel_sets[0]; i++)
        if (kernel_sets[i].one == one)
            return kernel_sets[i].four;
#endif
    (void)one;
    return NULL;
}

/* 3: AVX512-VNNI on 256-bit registers (EVEX), 2: AVX-VNNI (VEX), 1: AVX2,
 * 0: portable. Where a CPU has both VNNI encodings, VEX. PCE_QUANT_ISA
 * (portable, avx2, avx512vnni) lowers the choice or picks the EVEX one,
 * to compare paths. */
int pce_cpu_quant_isa(void)
{
#ifdef QM_X86
    static int isa = -1;
    if (isa < 0) {
        __builtin_cpu_init();
        int i = 0;
        bool evex = false;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            i = 1;
#if defined(__GNUC__) && __GNUC__ >= 11
        evex = i && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
        if (i && __builtin_cpu_supports("avxvnni"))
            i = 2;
        else if (evex)
            i = 3;
#endif
        const char *env = getenv("PCE_QUANT_ISA");
        if (env && !strcmp(env, "portable"))
            i = 0;
        else if (env && !strcmp(env, "avx2") && i > 1)
            i = 1;
        else if (env && !strcmp(env, "avx512vnni") && evex)
            i = 3;
        isa = i;
    }
    return isa;
#else
    return 0;
#endif
}

static qdot_fn pick(pce_dtype dt)
{
#ifdef QM_X86
    int isa = pce_cpu_quant_isa();
    switch (dt) {
    case PCE_DTYPE_Q4_0:
        return isa == 3   ? dot_q4_0_vnni512
               : isa == 2 ? dot_q4_0_vnni
               : isa == 1 ? dot_q4_0_avx2
                          : dot_q4_0;
    case PCE_DTYPE_Q4_1:
        return isa == 3   ? dot_q4_1_vnni512
               : isa == 2 ? dot_q4_1_vnni
               : isa == 1 ? dot_q4_1_avx2
                          : dot_q4_1;
    case PCE_DTYPE_Q8_0:
        return isa == 3   ? dot_q8_0_vnni512
               : isa == 2 ? dot_q8_0_vnni
               : isa == 1 ? dot_q8_0_avx2
                          : dot_q8_0;
    case PCE_DTYPE_Q5_0:
        return isa == 3   ? dot_q5_0_vnni512
               : isa == 2 ? dot_q5_0_vnni
               : isa == 1 ? dot_q5_0_avx2
                          : dot_q5_0;
    case PCE_DTYPE_Q5_1:
        return isa == 3   ? dot_q5_1_vnni512
               : isa == 2 ? dot_q5_1_vnni
               : isa == 1 ? dot_q5_1_avx2
                          : dot_q5_1;
    default: break;
    }
#else
    switch (dt) {
    case PCE_DTYPE_Q4_0: return dot_q4_0;
    case PCE_DTYPE_Q4_1: return dot_q4_1;
    case PCE_DTYPE_Q8_0: return dot_q8_0;
    default: break;
    }
#endif
    switch (dt) {
    case PCE_DTYPE_Q5_0: return dot_q5_0;
    case PCE_DTYPE_Q5_1: return dot_q5_1;
    default: return NULL;
    }
}

/* The K-quants' kernels (activations as q8_kblk): one row, and one weight
 * row against four activation rows (NULL: rows one by one). */
typedef float (*kdot_fn)(const uint8_t *w, const q8_kblk *x, int64_t nsb);
typedef void (*kdot4_fn)(const uint8_t *w, const q8_kblk *x, int64_t stride, int64_t nsb,
                         float *out);

static bool pick_k(pce_dtype dt, kdot_fn *one, kdot4_fn *four)
{
    static const pce_dtype types[3] = {PCE_DTYPE_Q4_K, PCE_DTYPE_Q5_K, PCE_DTYPE_Q6_K};
    static const kdot_fn portable[3] = {dot_q4_k, dot_q5_k, dot_q6_k};
    int t = 0;
    while (t < 3 && types[t] != dt)
        t++;
    if (t == 3)
        return false;
    *one = portable[t];
    *four = NULL;
#ifdef QM_X86
    /* by instruction set: 1 AVX2, 2 AVX-VNNI, 3 AVX512-VNNI */
    static const kdot_fn ones[3][3] = {{dot_q4_k_avx2, dot_q5_k_avx2, dot_q6_k_avx2},
                                       {dot_q4_k_vnni, dot_q5_k_vnni, dot_q6_k_vnni},
                                       {dot_q4_k_vnni512, dot_q5_k_vnni512, dot_q6_k_vnni512}};
    static const kdot4_fn fours[3][3] = {{dot4_q4_k_avx2, dot4_q5_k_avx2, dot4_q6_k_avx2},
                                         {dot4_q4_k_vnni, dot4_q5_k_vnni, dot4_q6_k_vnni},
                                         {dot4_q4_k_vnni512, dot4_q5_k_vnni512, dot4_q6_k_vnni512}};
    int isa = pce_cpu_quant_isa();
    if (isa > 0) {
        *one = ones[isa - 1][t];
        *four = fours[isa - 1][t];
    }
#endif
    return true;
}

bool pce_cpu_quant_int8(pce_dtype dt)
{
    kdot_fn k1;
    kdot4_fn k4;
    return pick(dt) != NULL || pick_k(dt, &k1, &k4);
}

typedef struct qjob {
    const pce_exec_node *n;
    qdot_fn dot;
    qdot4_fn dot4;
    qdot2_fn dot2;
    const q8_act *xq; /* M rows of K / 32 blocks */
    kdot_fn kdot;     /* K-quants: these instead, on xk */
    kdot4_fn kdot4;
    const q8_kblk *xk; /* M rows of K / 256 */
    int64_t b0, b1, i0, i1;
    int64_t j0; /* the first weight row of the task's range */
} qjob;

static void qcols_task(void *arg, int64_t jb, int64_t je, int thread)
{
    (void)thread;
    const qjob *q = arg;
    jb += q->j0;
    je += q->j0;
    const pce_tref *b = &q->n->src[1], *d = &q->n->dst;
    int64_t M = d->ne[2], nbk = q->n->src[0].ne[3] / QK;
    if (q->kdot) {
        int64_t nsb = nbk / 8;
        for (int64_t j = jb; j < je; j++) {
            const uint8_t *w = (const uint8_t *)pce_cpu_at(b, q->b0, q->b1, 0, j);
            int64_t m = 0;
            if (q->kdot4)
                for (; m + 4 <= M; m += 4) {
                    float o[4];
                    q->kdot4(w, q->xk + m * nsb, nsb, nsb, o);
                    for (int r = 0; r < 4; r++)
                        *(float *)pce_cpu_at(d, q->i0, q->i1, m + r, j) = o[r];
                }
            for (; m < M; m++)
                *(float *)pce_cpu_at(d, q->i0, q->i1, m, j) = q->kdot(w, q->xk + m * nsb, nsb);
        }
        return;
    }
    if (M == 1 && q->dot2) { /* decode: weight rows in pairs */
        int64_t j = jb;
        for (; j + 2 <= je; j += 2) {
            const uint8_t *w = (const uint8_t *)pce_cpu_at(b, q->b0, q->b1, 0, j);
            float o[2];
            q->dot2(w, b->nb[3], q->xq, nbk, o);
            *(float *)pce_cpu_at(d, q->i0, q->i1, 0, j) = o[0];
            *(float *)pce_cpu_at(d, q->i0, q->i1, 0, j + 1) = o[1];
        }
        jb = j;
    }
    for (int64_t j = jb; j < je; j++) {
        const uint8_t *w = (const uint8_t *)pce_cpu_at(b, q->b0, q->b1, 0, j);
        int64_t m = 0;
        if (q->dot4)
            for (; m + 4 <= M; m += 4) {
                float o[4];
                q->dot4(w, q->xq + m * nbk, nbk, nbk, o);
                for (int r = 0; r < 4; r++)
                    *(float *)pce_cpu_at(d, q->i0, q->i1, m + r, j) = o[r];
            }
        for (; m < M; m++)
            *(float *)pce_cpu_at(d, q->i0, q->i1, m, j) = q->dot(w, q->xq + m * nbk, nbk);
    }
}

typedef struct ajob {
    const pce_exec_node *n;
    q8_act *xq;
    q8_kblk *xk; /* K-quant weights: the rows regrouped here too */
    int64_t a0, a1;
    float *tmp; /* per thread: K floats */
} ajob;

static void qrows_task(void *arg, int64_t mb, int64_t me, int thread)
{
    const ajob *a = arg;
    const pce_tref *x = &a->n->src[0];
    int64_t K = x->ne[3];
    float *t = a->tmp + (int64_t)thread * K;
    for (int64_t m = mb; m < me; m++) {
        const char *p = pce_cpu_at(x, a->a0, a->a1, m, 0);
        const float *row = (const float *)p;
        if (x->dtype != PCE_DTYPE_F32 || x->nb[3] != 4) {
            for (int64_t k = 0; k < K; k++)
                t[k] = (float)pce_cpu_load(x, a->a0, a->a1, m, k);
            row = t;
        }
#ifdef QM_X86
        if (pce_cpu_quant_isa() >= 1)
            quantize_act_row_avx2(row, a->xq + m * (K / QK), K);
        else
#endif
            quantize_act_row(row, a->xq + m * (K / QK), K);
        if (a->xk)
            kact_from_act(a->xq + m * (K / QK), a->xk + m * (K / QK_K), K / QK);
    }
}

/* x · wᵀ for int8-capable formats; PCE_ERR_UNSUPPORTED for the others. */
pce_status pce_cpu_matmul_quant(const pce_exec_node *n, cpu_exec *ex)
{
    const pce_tref *a = &n->src[0], *b = &n->src[1], *d = &n->dst;
    qdot_fn dot = pick(b->dtype);
    kdot_fn kdot = NULL;
    kdot4_fn kdot4 = NULL;
    bool kq = !dot && pick_k(b->dtype, &kdot, &kdot4);
    int64_t M = d->ne[2], N = d->ne[3], K = a->ne[3];
    if ((!dot && !kq) || K % (kq ? QK_K : QK))
        return PCE_ERR_UNSUPPORTED;
    /* the segment's scratch holds M * K floats for matmuls: more than the
     * 1.375 bytes per value of the quantized activations, and for K-quants
     * 1.5 more of their regrouping */
    q8_act *xq = (q8_act *)ex->scratch;
    size_t xq_bytes = ((size_t)(M * (K / QK)) * sizeof(q8_act) + 63) / 64 * 64;
    q8_kblk *xk = kq && xq ? (q8_kblk *)((char *)xq + xq_bytes) : NULL;
    size_t need = xq_bytes + (kq ? (size_t)(M * (K / QK_K)) * sizeof(q8_kblk) : 0);
    bool plain = a->dtype == PCE_DTYPE_F32 && a->nb[3] == 4;
    float *tmp =
        plain ? NULL
              : malloc((size_t)(ex->n_threads > 0 ? ex->n_threads : 1) * (size_t)K * sizeof *tmp);
    if (!xq || (!plain && !tmp) || ex->scratch_floats * sizeof(float) < need) {
        free(tmp);
        snprintf(ex->err, sizeof ex->err, "quantized matmul: scratch");
        return PCE_ERR_OUT_OF_MEMORY;
    }
    for (int64_t i0 = 0; i0 < d->ne[0]; i0++)
        for (int64_t i1 = 0; i1 < d->ne[1]; i1++) {
            ajob aj = {n, xq, xk, pce_bc(i0, a->ne[0]), pce_bc(i1, a->ne[1]), tmp};
            pce_threadpool_parallel_for(ex->pool, M, 1, qrows_task, &aj);
            qjob qj = {.n = n,
                       .dot = dot,
                       .dot4 = dot ? pick4(dot) : NULL,
                       .dot2 = dot ? pick2(dot) : NULL,
                       .xq = xq,
                       .kdot = kdot,
                       .kdot4 = kdot4,
                       .xk = xk,
                       .b0 = pce_bc(i0, b->ne[0]),
                       .b1 = pce_bc(i1, b->ne[1]),
                       .i0 = i0,
                       .i1 = i1};
            /* whole groups of 8 rows from the packing; but Q6_K decode (one
             * row) reads the stored rows, 5% faster than its packing, whose
             * 6-bit values take more putting together per row (its prefill
             * is 1.6x faster packed) */
            bool use_pack = ex->packed && !(b->dtype == PCE_DTYPE_Q6_K && M == 1);
            if (use_pack) {
                pce_cpu_qpack_matmul(n, ex, ex->packed, xq, xk, i0, i1);
                qj.j0 = N / 8 * 8;
            }
            /* a column is M · K multiply-adds: small outputs batch a few columns */
            int64_t grain = (int64_t)(16384 / (M * K > 0 ? M * K : 1)) + 1;
            if (qj.j0 < N)
                pce_threadpool_parallel_for(ex->pool, N - qj.j0, grain, qcols_task, &qj);
        }
    free(tmp);
    return PCE_OK;
}
