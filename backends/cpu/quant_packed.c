/* quant_packed.c — Q4_0, Q4_1 and Q8_0 weights repacked for VNNI: eight
 * weight rows interleaved block by block, so one 256-bit integer dot
 * product (vpdpbusd) advances all eight rows at once against four
 * activation bytes broadcast to every lane, and the eight rows' scales
 * load as one vector.
 *
 * A packed group (rows 8g .. 8g+7, block b) holds:
 *   Q4_0: d[8] f16, then 4 × 32 bytes       (144 bytes = 8 blocks of 18)
 *   Q4_1: d[8] f16, m[8] f16, 4 × 32 bytes  (160 = 8 × 20)
 *   Q8_0: d[8] f16, 8 × 32 bytes            (272 = 8 × 34)
 *   Q5_0: d[8] f16, qh'[8] u32, 4 × 32 bytes          (176 = 8 × 22)
 *   Q5_1: d[8] f16, m[8] f16, qh'[8] u32, 4 × 32 bytes (192 = 8 × 24)
 * Chunk kk of 32 bytes is row r's 4 bytes at 4r: for Q4 the row's qs
 * bytes 4kk .. 4kk+3 as GGUF stores them (low nibbles weights 4kk.., high
 * nibbles weights 16+4kk..), for Q8_0 its weights 4kk .. 4kk+3 plus 128
 * (unsigned, as vpdpbusd wants; the 128 · Σy comes off after). The
 * packing is the same size as the original rows; rows past the last whole
 * group of 8 stay in the original layout. Q5's qh' is the row's 32 fifth
 * bits regrouped by chunk: byte c holds those of weights 4c .. 4c+3 (bits
 * 0-3) and 16+4c .. (bits 4-7), so one shuffle gives a chunk's.
 *
 * Q4_K (rows 8g .. 8g+7, super-block b of 256 weights; 1184 bytes, 8 × 144
 * + 32): d[8] f16, dmin[8] f16, then the sub-blocks' 6-bit scales as bytes
 * sc[j][r] (64) and mins m[j][r] (64), then 32 chunks of 32 bytes: chunk
 * 8p + c is row r's qs bytes 32p + 4c .. +3 at 4r, whose low nibbles are
 * sub-block 2p's weights 4c .. 4c+3 and high nibbles sub-block 2p+1's.
 * Each sub-block is then a Q4_1 block with 8 rows' scales d·sc and mins
 * −dmin·m made as vectors from bytes; the activations are q8_kblk.
 *
 * Q6_K (1680 bytes, 8 × 210): d[8] f16, the signed 16-weight scales as
 * sc[k][r] (128), then 32 chunks of ql (chunk i: row r's ql bytes 4i .. +3
 * at 4r) and 16 of qh (the same for qh bytes 4i ..). A sub-block's 6-bit
 * values are put together from one ql and one qh chunk per 4 weights.
 *
 * The kernels (quant_packed_rows8.h) exist for both VNNI encodings and,
 * for the Q4 types, for AVX2 (maddubs + madd in place of vpdpbusd).
 *
 * The CPU device packs each weight once, when the first segment that uses
 * it is prepared, and shares it between plans (cpu_backend.c). */
#include "cpu.h"
#include "quant_act.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 11
#include <immintrin.h>
#define QP_X86 1
#endif

static size_t group_bytes(pce_dtype dt)
{
    switch (dt) {
    case PCE_DTYPE_Q4_0: return 144;
    case PCE_DTYPE_Q4_1: return 160;
    case PCE_DTYPE_Q5_0: return 176;
    case PCE_DTYPE_Q5_1: return 192;
    case PCE_DTYPE_Q8_0: return 272;
    case PCE_DTYPE_Q4_K: return 1184;
    case PCE_DTYPE_Q6_K: return 1680;
    default: return 0;
    }
}

bool pce_cpu_qpack_eligible(const pce_exec_node *n)
{
#ifdef QP_X86
    int isa = pce_cpu_quant_isa();
    if (n->op != PCE_OP_MATMUL || isa < 1)
        return false;
    const pce_tref *b = &n->src[1];
    if (!group_bytes(b->dtype) || !b->host || b->buf || (isa == 1 && b->dtype == PCE_DTYPE_Q8_0))
        return false;
    /* one weight matrix, wᵀ of rows of whole blocks one after the other */
    const pce_dtype_info *in = pce_dtype_get_info(b->dtype);
    const int64_t blk = (int64_t)in->block_bytes, bs = in->block_size;
    int64_t N = b->ne[3], K = n->src[0].ne[3];
    return b->ne[0] == 1 && b->ne[1] == 1 && b->ne[2] == K && K % bs == 0 && N >= 8 &&
           b->nb[2] == blk && b->nb[3] == K / bs * blk;
#else
    (void)n;
    return false;
#endif
}

size_t pce_cpu_qpack_bytes(const pce_exec_node *n)
{
    const pce_tref *b = &n->src[1];
    const int64_t bs = pce_dtype_get_info(b->dtype)->block_size;
    return (size_t)(b->ne[3] / 8) * (size_t)(b->ne[2] / bs) * group_bytes(b->dtype);
}

static void pack_q4_k(const pce_tref *b, uint8_t *o)
{
    const int64_t G = b->ne[3] / 8, nsb = b->ne[2] / QK_K;
    for (int64_t g = 0; g < G; g++)
        for (int64_t k = 0; k < nsb; k++, o += 1184)
            for (int r = 0; r < 8; r++) {
                const uint8_t *src = (const uint8_t *)b->host + (g * 8 + r) * b->nb[3] + k * 144;
                memcpy(o + 2 * r, src, 2);          /* d */
                memcpy(o + 16 + 2 * r, src + 2, 2); /* dmin */
                uint8_t sm[16];
                k4_scales(src + 4, sm);
                for (int j = 0; j < 8; j++) {
                    o[32 + 8 * j + r] = sm[j];
                    o[96 + 8 * j + r] = sm[8 + j];
                }
                for (int c = 0; c < 32; c++) /* chunk 8p + c' = qs bytes 4 · chunk */
                    memcpy(o + 160 + 32 * c + 4 * r, src + 16 + 4 * c, 4);
            }
}

static void pack_q6_k(const pce_tref *b, uint8_t *o)
{
    const int64_t G = b->ne[3] / 8, nsb = b->ne[2] / QK_K;
    for (int64_t g = 0; g < G; g++)
        for (int64_t k = 0; k < nsb; k++, o += 1680)
            for (int r = 0; r < 8; r++) {
                const uint8_t *src = (const uint8_t *)b->host + (g * 8 + r) * b->nb[3] + k * 210;
                memcpy(o + 2 * r, src + 208, 2); /* d */
                for (int s = 0; s < 16; s++)
                    o[16 + 8 * s + r] = src[192 + s];
                for (int c = 0; c < 32; c++) /* ql */
                    memcpy(o + 144 + 32 * c + 4 * r, src + 4 * c, 4);
                for (int c = 0; c < 16; c++) /* qh */
                    memcpy(o + 1168 + 32 * c + 4 * r, src + 128 + 4 * c, 4);
            }
}

void pce_cpu_qpack(const pce_exec_node *n, void *dst)
{
    const pce_tref *b = &n->src[1];
    if (b->dtype == PCE_DTYPE_Q4_K || b->dtype == PCE_DTYPE_Q6_K) {
        (b->dtype == PCE_DTYPE_Q4_K ? pack_q4_k : pack_q6_k)(b, dst);
        return;
    }
    const size_t blk = pce_dtype_get_info(b->dtype)->block_bytes, gb = group_bytes(b->dtype);
    const int64_t G = b->ne[3] / 8, nb = b->ne[2] / QK;
    const bool q5 = b->dtype == PCE_DTYPE_Q5_0 || b->dtype == PCE_DTYPE_Q5_1;
    const bool has_min = b->dtype == PCE_DTYPE_Q4_1 || b->dtype == PCE_DTYPE_Q5_1;
    /* the stored block: d (and m), Q5's qh, then qs; the packed group: d[8]
     * (and m[8]), Q5's qh'[8], then the chunks */
    const size_t head = (has_min ? 4 : 2) + (q5 ? 4 : 0);
    const size_t phead = (has_min ? 32 : 16) + (q5 ? 32 : 0);
    const int chunks = b->dtype == PCE_DTYPE_Q8_0 ? 8 : 4;
    uint8_t *o = dst;
    for (int64_t g = 0; g < G; g++)
        for (int64_t k = 0; k < nb; k++, o += gb) {
            for (int r = 0; r < 8; r++) {
                const uint8_t *src = (const uint8_t *)b->host + (g * 8 + r) * b->nb[3] + k * blk;
                memcpy(o + 2 * r, src, 2); /* d */
                if (has_min)
                    memcpy(o + 16 + 2 * r, src + 2, 2); /* m */
                if (q5) {                               /* qh regrouped by chunk (above) */
                    uint32_t qh;
                    memcpy(&qh, src + (has_min ? 4 : 2), 4);
                    uint8_t *h = o + (has_min ? 32 : 16) + 4 * r;
                    for (int c = 0; c < 4; c++)
                        h[c] = (uint8_t)(((qh >> (4 * c)) & 15) | ((qh >> (16 + 4 * c)) & 15) << 4);
                }
                uint8_t *q = o + phead;
                for (int c = 0; c < chunks; c++)
                    for (int j = 0; j < 4; j++) {
                        uint8_t v = src[head + 4 * c + j];
                        q[32 * c + 4 * r + j] =
                            b->dtype == PCE_DTYPE_Q8_0 ? (uint8_t)(v ^ 0x80) : v;
                    }
            }
        }
}

#ifdef QP_X86
typedef void (*rows8_fn)(const uint8_t *p, const q8_act *x, int64_t xs, int64_t nb, int M,
                         float *out);
typedef void (*rows8k_fn)(const uint8_t *p, const q8_kblk *x, int64_t xs, int64_t nsb, int M,
                          float *out);

#define QP_ATTR __attribute__((target("avx2,fma,f16c,avxvnni")))
#define QP_INLINE QP_ATTR static inline __attribute__((always_inline))
#define QP_DPBUSD _mm256_dpbusd_avx_epi32
#define QP_HI16 1
#define QP_Q8 1
#define QP_NAME(x) x##_vex
#include "quant_packed_rows8.h"
#undef QP_ATTR
#undef QP_INLINE
#undef QP_DPBUSD
#undef QP_NAME

#define QP_ATTR __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))
#define QP_INLINE QP_ATTR static inline __attribute__((always_inline))
#define QP_DPBUSD _mm256_dpbusd_epi32
#define QP_NAME(x) x##_evex
#include "quant_packed_rows8.h"
#undef QP_ATTR
#undef QP_INLINE
#undef QP_DPBUSD
#undef QP_NAME

#define QP_ATTR __attribute__((target("avx2,fma,f16c")))
#define QP_INLINE QP_ATTR static inline __attribute__((always_inline))
#define QP_DPBUSD(acc, u, s)                                                                       \
    _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#undef QP_HI16
#define QP_HI16 0
#undef QP_Q8
#define QP_Q8 0
#define QP_NAME(x) x##_avx2
#include "quant_packed_rows8.h"
#undef QP_ATTR
#undef QP_INLINE
#undef QP_DPBUSD
#undef QP_NAME
#undef QP_HI16
#undef QP_Q8

typedef struct pjob {
    const pce_exec_node *n;
    rows8_fn fn;
    rows8k_fn kfn; /* Q4_K, Q6_K: this, on xk */
    const uint8_t *packed;
    const q8_act *xq;
    const q8_kblk *xk;
    int64_t i0, i1, nb;
    size_t gb;
} pjob;

static void groups_task(void *arg, int64_t gb, int64_t ge, int thread)
{
    (void)thread;
    const pjob *j = arg;
    const pce_tref *d = &j->n->dst;
    const int64_t M = d->ne[2];
    const bool dense = d->nb[3] == (int64_t)sizeof(float);
    float out[32];
    for (int64_t g = gb; g < ge; g++) {
        const uint8_t *p = j->packed + (size_t)g * (size_t)j->nb * j->gb;
        for (int64_t m = 0; m < M; m += 4) {
            int mm = M - m < 4 ? (int)(M - m) : 4;
            if (j->kfn)
                j->kfn(p, j->xk + m * j->nb, j->nb, j->nb, mm, out);
            else
                j->fn(p, j->xq + m * j->nb, j->nb, j->nb, mm, out);
            for (int r = 0; r < mm; r++) {
                float *o = (float *)pce_cpu_at(d, j->i0, j->i1, m + r, g * 8);
                if (dense)
                    memcpy(o, out + 8 * r, 8 * sizeof(float));
                else
                    for (int c = 0; c < 8; c++)
                        *(float *)pce_cpu_at(d, j->i0, j->i1, m + r, g * 8 + c) = out[8 * r + c];
            }
        }
    }
}
#endif

void pce_cpu_qpack_matmul(const pce_exec_node *n, cpu_exec *ex, const void *packed,
                          const q8_act *xq, const q8_kblk *xk, int64_t i0, int64_t i1)
{
#ifdef QP_X86
    const pce_tref *b = &n->src[1];
    int isa = pce_cpu_quant_isa();
    rows8_fn fn = NULL;
    rows8k_fn kfn = NULL;
    if (b->dtype == PCE_DTYPE_Q4_K)
        kfn = isa == 1 ? rows8_q4_k_avx2 : isa == 2 ? rows8_q4_k_vex : rows8_q4_k_evex;
    else if (b->dtype == PCE_DTYPE_Q6_K)
        kfn = isa == 1 ? rows8_q6_k_avx2 : isa == 2 ? rows8_q6_k_vex : rows8_q6_k_evex;
    else { /* by format and instruction set (AVX2 has no Q8_0 packing) */
        static const pce_dtype types[5] = {PCE_DTYPE_Q4_0, PCE_DTYPE_Q4_1, PCE_DTYPE_Q5_0,
                                           PCE_DTYPE_Q5_1, PCE_DTYPE_Q8_0};
        static const rows8_fn fns[3][5] = {
            {rows8_q4_0_avx2, rows8_q4_1_avx2, rows8_q5_0_avx2, rows8_q5_1_avx2, NULL},
            {rows8_q4_0_vex, rows8_q4_1_vex, rows8_q5_0_vex, rows8_q5_1_vex, rows8_q8_0_vex},
            {rows8_q4_0_evex, rows8_q4_1_evex, rows8_q5_0_evex, rows8_q5_1_evex, rows8_q8_0_evex}};
        for (int t = 0; t < 5; t++)
            if (types[t] == b->dtype)
                fn = fns[isa - 1][t];
    }
    const int64_t bs = pce_dtype_get_info(b->dtype)->block_size;
    pjob j = {n, fn, kfn, packed, xq, xk, i0, i1, b->ne[2] / bs, group_bytes(b->dtype)};
    int64_t M = n->dst.ne[2], K = b->ne[2];
    /* a group is 8 · M · K multiply-adds: small ones go a few at a time */
    int64_t grain = 32768 / (8 * M * K > 0 ? 8 * M * K : 1) + 1;
    pce_threadpool_parallel_for(ex->pool, b->ne[3] / 8, grain, groups_task, &j);
#else
    (void)n, (void)ex, (void)packed, (void)xq, (void)xk, (void)i0, (void)i1;
#endif
}
