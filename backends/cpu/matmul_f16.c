/* matmul_f16.c — x · y for a few rows of x against an f16 matrix, read in
 * place: attention at decode, where q (or the probabilities) are a few rows
 * per KV head and the f16 KV cache is the other operand. Converting the
 * cache to f32 first and calling the GEMM costs more than the products (a
 * conversion pass and a GEMM call per head); here each cache row is read
 * once, converted in registers (F16C) and multiplied into up to 8 rows.
 *
 * Two layouts of b, as the attention graph makes them:
 *   K contiguous (kᵀ: each output column is a cache row): dot products;
 *   N contiguous (v: each k is a cache row): scaled row sums.
 * a is f16 or f32 with K contiguous. Anything else is UNSUPPORTED, and the
 * general path (convert, GEMM) runs. */
#include "cpu.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MF_X86 1
#define MF_ATTR __attribute__((target("avx2,fma,f16c")))
#endif

#define MAX_ROWS 8
#define CHUNK 32 /* output columns per task */

typedef struct mf_job {
    const pce_exec_node *n;
    const cpu_exec *ex;
    int64_t chunks; /* per (i0, i1) */
    bool kcontig;   /* b's K is contiguous (else its N is) */
    bool x86;
} mf_job;

static inline float ld(const pce_tref *r, const char *p, int64_t k)
{
    if (r->dtype == PCE_DTYPE_F32)
        return ((const float *)p)[k];
    uint16_t h;
    memcpy(&h, p + 2 * k, 2);
    return pce_f16_to_f32(h);
}

/* out[m][j] for j in [j0, j1), portable */
static void block_portable(const mf_job *J, int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
    const pce_exec_node *n = J->n;
    const pce_tref *a = &n->src[0], *b = &n->src[1], *d = &n->dst;
    int64_t M = d->ne[2], K = a->ne[3];
    int64_t a0 = pce_bc(i0, a->ne[0]), a1 = pce_bc(i1, a->ne[1]);
    int64_t b0 = pce_bc(i0, b->ne[0]), b1 = pce_bc(i1, b->ne[1]);
    for (int64_t m = 0; m < M; m++) {
        const char *ar = pce_cpu_at(a, a0, a1, m, 0);
        float *o = (float *)pce_cpu_at(d, i0, i1, m, 0);
        for (int64_t j = j0; j < j1; j++) {
            float s = 0;
            for (int64_t k = 0; k < K; k++)
                s += ld(a, ar, k) * ld(b, pce_cpu_at(b, b0, b1, k, j), 0);
            o[j] = s;
        }
    }
}

#ifdef MF_X86
MF_ATTR static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The kernels below take up to 4 rows of a already in f32 (x, K apart). */

/* K contiguous in b's columns: one dot product per output */
MF_ATTR static void block_dots(const mf_job *J, const float *x, int M, int64_t m0, int64_t i0,
                               int64_t i1, int64_t j0, int64_t j1)
{
    const pce_exec_node *n = J->n;
    const pce_tref *b = &n->src[1], *d = &n->dst;
    int64_t K = n->src[0].ne[3];
    int64_t b0 = pce_bc(i0, b->ne[0]), b1 = pce_bc(i1, b->ne[1]);
    for (int64_t j = j0; j < j1; j++) {
        const char *bc = pce_cpu_at(b, b0, b1, 0, j);
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                         _mm256_setzero_ps()};
        int64_t k = 0;
        for (; k + 8 <= K; k += 8) {
            __m256 bv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(bc + 2 * k)));
            for (int m = 0; m < M; m++)
                acc[m] = _mm256_fmadd_ps(_mm256_loadu_ps(x + m * K + k), bv, acc[m]);
        }
        for (int m = 0; m < M; m++) {
            float s = hsum(acc[m]);
            for (int64_t kk = k; kk < K; kk++)
                s += x[m * K + kk] * ld(b, bc, kk);
            *(float *)pce_cpu_at(d, i0, i1, m0 + m, j) = s;
        }
    }
}

/* N contiguous in b's rows: out[m][j0..j1) = Σ_k x[m][k] · b[k][j0..j1) */
MF_ATTR static void block_rows(const mf_job *J, const float *x, int M, int64_t m0, int64_t i0,
                               int64_t i1, int64_t j0, int64_t j1)
{
    const pce_exec_node *n = J->n;
    const pce_tref *b = &n->src[1], *d = &n->dst;
    int64_t K = n->src[0].ne[3];
    int64_t b0 = pce_bc(i0, b->ne[0]), b1 = pce_bc(i1, b->ne[1]);
    int64_t j = j0;
    for (; j + 16 <= j1; j += 16) {
        __m256 lo[4], hi[4];
        for (int m = 0; m < 4; m++)
            lo[m] = hi[m] = _mm256_setzero_ps();
        for (int64_t k = 0; k < K; k++) {
            const char *br = pce_cpu_at(b, b0, b1, k, j);
            __m256 v0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)br));
            __m256 v1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(br + 16)));
            for (int m = 0; m < M; m++) {
                __m256 xv = _mm256_broadcast_ss(x + m * K + k);
                lo[m] = _mm256_fmadd_ps(xv, v0, lo[m]);
                hi[m] = _mm256_fmadd_ps(xv, v1, hi[m]);
            }
        }
        for (int m = 0; m < M; m++) {
            float *o = (float *)pce_cpu_at(d, i0, i1, m0 + m, j);
            _mm256_storeu_ps(o, lo[m]);
            _mm256_storeu_ps(o + 8, hi[m]);
        }
    }
    for (int m = 0; m < M; m++) /* a ragged end: one column at a time */
        for (int64_t jj = j; jj < j1; jj++) {
            float s = 0;
            for (int64_t k = 0; k < K; k++)
                s += x[m * K + k] * ld(b, pce_cpu_at(b, b0, b1, k, jj), 0);
            *(float *)pce_cpu_at(d, i0, i1, m0 + m, jj) = s;
        }
}
#endif

static void mf_task(void *arg, int64_t tb, int64_t te, int thread)
{
    const mf_job *J = arg;
    const pce_tref *a = &J->n->src[0], *d = &J->n->dst;
    int64_t N = d->ne[3], M = d->ne[2], K = a->ne[3];
    /* the thread's four rows of scratch hold four rows of a in f32 */
    float *x = J->ex->row_scratch + (size_t)thread * 4 * J->ex->row_floats;
    for (int64_t t = tb; t < te; t++) {
        int64_t h = t / J->chunks, c = t % J->chunks;
        int64_t i0 = h / d->ne[1], i1 = h % d->ne[1];
        int64_t j0 = c * CHUNK, j1 = j0 + CHUNK < N ? j0 + CHUNK : N;
#ifdef MF_X86
        if (J->x86) {
            int64_t a0 = pce_bc(i0, a->ne[0]), a1 = pce_bc(i1, a->ne[1]);
            for (int64_t m0 = 0; m0 < M; m0 += 4) {
                int mm = M - m0 < 4 ? (int)(M - m0) : 4;
                for (int m = 0; m < mm; m++) {
                    const char *ar = pce_cpu_at(a, a0, a1, m0 + m, 0);
                    if (a->dtype == PCE_DTYPE_F32)
                        memcpy(x + m * K, ar, (size_t)K * sizeof(float));
                    else
                        pce_dtype_to_f32(a->dtype, ar, x + m * K, K);
                }
                if (J->kcontig)
                    block_dots(J, x, mm, m0, i0, i1, j0, j1);
                else
                    block_rows(J, x, mm, m0, i0, i1, j0, j1);
            }
            continue;
        }
#endif
        block_portable(J, i0, i1, j0, j1);
    }
}

pce_status pce_cpu_matmul_f16_small(const pce_exec_node *n, cpu_exec *ex)
{
    const pce_tref *a = &n->src[0], *b = &n->src[1], *d = &n->dst;
    int64_t M = d->ne[2], N = d->ne[3];
    if (b->dtype != PCE_DTYPE_F16 || M > MAX_ROWS || N < 1 ||
        (a->dtype != PCE_DTYPE_F16 && a->dtype != PCE_DTYPE_F32) ||
        a->nb[3] != (int64_t)pce_dtype_get_info(a->dtype)->block_bytes ||
        d->nb[3] != (int64_t)sizeof(float))
        return PCE_ERR_UNSUPPORTED;
    bool kcontig = b->nb[2] == 2, ncontig = b->nb[3] == 2 && b->ne[3] > 1;
    if (!kcontig && !ncontig)
        return PCE_ERR_UNSUPPORTED;
    mf_job J = {n, ex, (N + CHUNK - 1) / CHUNK, kcontig, false};
#ifdef MF_X86
    __builtin_cpu_init();
    /* every AVX2 CPU has F16C (clang cannot ask for it by name) */
    J.x86 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    pce_threadpool_parallel_for(ex->pool, d->ne[0] * d->ne[1] * J.chunks, 1, mf_task, &J);
    return PCE_OK;
}
