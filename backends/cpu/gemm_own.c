/* gemm_own.c — pce's own f32 GEMM, used when OpenBLAS is not built in.
 *
 * GotoBLAS/BLIS structure, with C row-major so the SIMD lanes run along N:
 *   ic: M in MC-row blocks
 *   pc: K in KC-deep blocks   -> pack op(A)[MC x KC] into MR-row slivers
 *   jc: N in NC-wide blocks   -> pack op(B)[KC x NC] into NR-column slivers
 *   ir: MR-row slivers           (the packed B block lives in L2)
 *   jr: NR-column slivers     -> microkernel: MR x NR tile of C in registers
 * The A sliver stays in L1 while B slivers stream from L2, which is the
 * cheaper direction here: a B sliver step is NR floats, an A step only MR.
 * A is packed once per (ic, pc), B once per (ic, pc, jc), so with MC large
 * each input element is packed about once.
 *
 * The microkernel is picked once at run time (AVX-512, AVX2+FMA, or portable
 * GCC vector code), so one binary runs on any x86-64 and the build needs no
 * -march flags. The environment variable PCE_GEMM_ISA (avx512|avx2|portable),
 * read at the first call and by pce_gemm_own_isa(), can only lower the choice;
 * tests use it to cover every path on one machine.
 *
 * Threads split N (or M, when N is narrow) into contiguous slabs, each running
 * the whole blocked algorithm with its own packing buffers: no sharing, no
 * barriers, and each core's B block stays in its own L2. */
#include "gemm.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Computes the MR x NR tile sum_k ap[k] (x) bp[k] and writes its top-left
 * m x n corner to c (row stride ldc), adding to c when accumulate is set. */
typedef void (*kernel_fn)(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc,
                          int m, int n, int accumulate);

typedef struct isa_desc {
    const char *name;
    int mr, nr;
    int64_t mc, kc, nc;
    kernel_fn kernel;
} isa_desc;

#define ALIGN 64

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t round_up(int64_t a, int64_t b)
{
    return (a + b - 1) / b * b;
}

/* ---- portable microkernel --------------------------------------------- */

/* 16-byte vectors map onto SSE2 and NEON alike. AArch64 has 32 vector
 * registers, so a wider tile pays off there; x86 without AVX2 has 16. */
typedef float v4f __attribute__((vector_size(16)));
#if defined(__x86_64__) || defined(__i386__)
#define P_MR 6
#define P_NR 8
#else
#define P_MR 8
#define P_NR 12
#endif
#define P_NV (P_NR / 4)

/* -std=c11 turns off FP contraction in GCC; the portable kernel wants FMAs
 * wherever the target has them. */
#if defined(__GNUC__) && !defined(__clang__)
#define FP_CONTRACT __attribute__((optimize("fp-contract=fast")))
#else
#define FP_CONTRACT
#endif

FP_CONTRACT
static void kernel_portable(int64_t kc, const float *restrict ap, const float *restrict bp,
                            float *restrict c, int64_t ldc, int m, int n, int accumulate)
{
    v4f acc[P_MR][P_NV];
    memset(acc, 0, sizeof acc);
    for (int64_t k = 0; k < kc; k++) {
        v4f b[P_NV];
        memcpy(b, bp, sizeof b); /* memcpy: no alignment or aliasing claims */
#pragma GCC unroll 16
        for (int i = 0; i < P_MR; i++) {
            v4f a = {ap[i], ap[i], ap[i], ap[i]};
#pragma GCC unroll 4
            for (int v = 0; v < P_NV; v++)
                acc[i][v] += a * b[v];
        }
        ap += P_MR;
        bp += P_NR;
    }
    for (int i = 0; i < m; i++) {
        float row[P_NR];
        memcpy(row, acc[i], sizeof row);
        float *cr = c + i * ldc;
        for (int j = 0; j < n; j++)
            cr[j] = accumulate ? cr[j] + row[j] : row[j];
    }
}

/* ---- x86 microkernels ---------------------------------------------------- */

#if defined(__x86_64__)

/* 14 x 32: 28 zmm accumulators + 2 for B + 1 broadcast fill all 32 registers,
 * and 28 independent FMA chains cover the FMA latency on both ports. */
#define Z_MR 14
#define Z_NR 32

__attribute__((target("avx512f,fma"))) static void
kernel_avx512(int64_t kc, const float *restrict ap, const float *restrict bp, float *restrict c,
              int64_t ldc, int m, int n, int accumulate)
{
    __m512 c0[Z_MR], c1[Z_MR];
#pragma GCC unroll 16
    for (int i = 0; i < Z_MR; i++) {
        c0[i] = _mm512_setzero_ps();
        c1[i] = _mm512_setzero_ps();
        /* C is touched only after the k loop; start fetching it now. */
        if (i < m) {
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + 31), _MM_HINT_T0);
        }
    }
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 16
        for (int i = 0; i < Z_MR; i++) {
            __m512 a = _mm512_set1_ps(ap[i]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
        ap += Z_MR;
        bp += Z_NR;
    }
    __mmask16 k0 = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
    __mmask16 k1 = n >= 32 ? 0xffff : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
#pragma GCC unroll 16
    for (int i = 0; i < Z_MR; i++) {
        if (i < m) {
            float *cr = c + i * ldc;
            if (accumulate) {
                c0[i] = _mm512_add_ps(c0[i], _mm512_maskz_loadu_ps(k0, cr));
                c1[i] = _mm512_add_ps(c1[i], _mm512_maskz_loadu_ps(k1, cr + 16));
            }
            _mm512_mask_storeu_ps(cr, k0, c0[i]);
            _mm512_mask_storeu_ps(cr + 16, k1, c1[i]);
        }
    }
}

/* 6 x 16: 12 ymm accumulators + 2 for B + 1 broadcast of the 16 registers. */
#define Y_MR 6
#define Y_NR 16

__attribute__((target("avx2,fma"))) static void kernel_avx2(int64_t kc, const float *restrict ap,
                                                            const float *restrict bp,
                                                            float *restrict c, int64_t ldc, int m,
                                                            int n, int accumulate)
{
    __m256 c0[Y_MR], c1[Y_MR];
#pragma GCC unroll 8
    for (int i = 0; i < Y_MR; i++) {
        c0[i] = _mm256_setzero_ps();
        c1[i] = _mm256_setzero_ps();
        if (i < m) {
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T0);
        }
    }
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 8
        for (int i = 0; i < Y_MR; i++) {
            __m256 a = _mm256_broadcast_ss(ap + i);
            c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
        }
        ap += Y_MR;
        bp += Y_NR;
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i k0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
    __m256i k1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), lane);
#pragma GCC unroll 8
    for (int i = 0; i < Y_MR; i++) {
        if (i < m) {
            float *cr = c + i * ldc;
            if (n >= Y_NR) {
                if (accumulate) {
                    c0[i] = _mm256_add_ps(c0[i], _mm256_loadu_ps(cr));
                    c1[i] = _mm256_add_ps(c1[i], _mm256_loadu_ps(cr + 8));
                }
                _mm256_storeu_ps(cr, c0[i]);
                _mm256_storeu_ps(cr + 8, c1[i]);
            } else {
                if (accumulate) {
                    c0[i] = _mm256_add_ps(c0[i], _mm256_maskload_ps(cr, k0));
                    c1[i] = _mm256_add_ps(c1[i], _mm256_maskload_ps(cr + 8, k1));
                }
                _mm256_maskstore_ps(cr, k0, c0[i]);
                _mm256_maskstore_ps(cr + 8, k1, c1[i]);
            }
        }
    }
}

#endif /* __x86_64__ */

/* ---- run-time selection -------------------------------------------------- */

enum { ISA_PORTABLE, ISA_AVX2, ISA_AVX512 };

/* KC x NC floats of packed B should sit in about half of a core's L2 (2 MB on
 * the AVX-512 server parts, 256 KB-1 MB on AVX2 desktops); KC x MR floats of A
 * must stay in L1 next to the streaming B slivers. MC x KC floats of A only
 * stream from L3, so MC is large to pack B rarely. */
static const isa_desc isa_table[] = {
    [ISA_PORTABLE] = {"portable", P_MR, P_NR, 1024, 256, 256, kernel_portable},
#if defined(__x86_64__)
    [ISA_AVX2] = {"avx2", Y_MR, Y_NR, 1024, 256, 256, kernel_avx2},
    [ISA_AVX512] = {"avx512", Z_MR, Z_NR, 1024, 512, 256, kernel_avx512},
#endif
};

/* What the CPU supports, lowered by PCE_GEMM_ISA. */
static int resolve_isa(void)
{
    int isa = ISA_PORTABLE;
#if defined(__x86_64__)
    __builtin_cpu_init();
    /* libgcc also checks that the OS saves the AVX / AVX-512 register state. */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
        isa = ISA_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        isa = ISA_AVX2;
#endif
    const char *want = getenv("PCE_GEMM_ISA");
    if (want) {
        if (strcmp(want, "portable") == 0)
            isa = ISA_PORTABLE;
        else if (strcmp(want, "avx2") == 0 && isa > ISA_AVX2)
            isa = ISA_AVX2;
    }
    return isa;
}

/* Resolving is idempotent, so racing first calls are harmless. */
static atomic_int cached_isa = -1;

static const isa_desc *select_isa(void)
{
    int isa = atomic_load_explicit(&cached_isa, memory_order_relaxed);
    if (isa < 0) {
        isa = resolve_isa();
        atomic_store_explicit(&cached_isa, isa, memory_order_relaxed);
    }
    return &isa_table[isa];
}

/* Also re-reads PCE_GEMM_ISA, so a test can switch kernels between calls
 * without a getenv() on every GEMM. */
const char *pce_gemm_own_isa(void)
{
    int isa = resolve_isa();
    atomic_store_explicit(&cached_isa, isa, memory_order_relaxed);
    return isa_table[isa].name;
}

/* ---- packing ----------------------------------------------------------- */

/* op(X)[r][c] = x[r * rs + c * cs]: one stride is 1 and the other the leading
 * dimension, depending on the transpose flag. */

/* dst[k * ds + i] = src[i * ld + k] for i < rows, k < kc: the transposing
 * copy both packers need when their source is contiguous along k. */
static void pack_transposed(const float *src, int64_t ld, int rows, int64_t kc, float *restrict dst,
                            int64_t ds)
{
    int i = 0;
#if defined(__x86_64__)
    /* 4x4 SSE transposes (baseline x86-64) run several times faster than the
     * scalar loop, whose strided stores otherwise dominate packing. */
    for (; i < rows; i += 4) {
        const int r = rows - i < 4 ? rows - i : 4;
        /* A short group re-reads its last row; only r columns are stored. */
        const float *s0 = src + i * ld, *s1 = src + (i + (r > 1)) * ld;
        const float *s2 = src + (i + (r > 2 ? 2 : r - 1)) * ld, *s3 = src + (i + r - 1) * ld;
        int64_t k = 0;
        for (; k + 4 <= kc; k += 4) {
            __m128 v[4] = {_mm_loadu_ps(s0 + k), _mm_loadu_ps(s1 + k), _mm_loadu_ps(s2 + k),
                           _mm_loadu_ps(s3 + k)};
            _MM_TRANSPOSE4_PS(v[0], v[1], v[2], v[3]);
            for (int t = 0; t < 4; t++) {
                float *d = dst + (k + t) * ds + i;
                if (r == 4) {
                    _mm_storeu_ps(d, v[t]);
                } else {
                    if (r >= 2)
                        _mm_storel_pi((__m64 *)(void *)d, v[t]);
                    if (r != 2)
                        _mm_store_ss(d + r - 1, r == 1 ? v[t] : _mm_movehl_ps(v[t], v[t]));
                }
            }
        }
        for (; k < kc; k++) {
            const float *row[4] = {s0, s1, s2, s3};
            for (int t = 0; t < r; t++)
                dst[k * ds + i + t] = row[t][k];
        }
    }
#endif
    for (; i < rows; i++) {
        const float *s = src + i * ld;
        for (int64_t k = 0; k < kc; k++)
            dst[k * ds + i] = s[k];
    }
}

/* dst[k * mr + i] = op(A)[i][k] for i < m, zero for m <= i < mr. */
static void pack_a(int m, int mr, int64_t kc, const float *a, int64_t rs, int64_t cs,
                   float *restrict dst)
{
    if (m < mr)
        memset(dst, 0, (size_t)(kc * mr) * sizeof *dst);
    if (rs == 1) {
        for (int64_t k = 0; k < kc; k++)
            memcpy(dst + k * mr, a + k * cs, (size_t)m * sizeof *dst);
    } else {
        pack_transposed(a, rs, m, kc, dst, mr);
    }
}

/* Packs op(B)[kc x nc] as ceil(nc / nr) slivers; sliver s holds
 * dst[s * kc * nr + k * nr + j] = op(B)[k][s * nr + j], zero-padded past nc. */
static void pack_b(int64_t kc, int64_t nc, int nr, const float *b, int64_t rs, int64_t cs,
                   float *restrict dst)
{
    for (int64_t j0 = 0; j0 < nc; j0 += nr, dst += kc * nr) {
        int n = (int)min64(nr, nc - j0);
        if (n < nr)
            memset(dst, 0, (size_t)(kc * nr) * sizeof *dst);
        if (cs == 1) {
            const float *src = b + j0;
            for (int64_t k = 0; k < kc; k++)
                memcpy(dst + k * nr, src + k * rs, (size_t)n * sizeof *dst);
        } else {
            pack_transposed(b + j0 * cs, cs, n, kc, dst, nr);
        }
    }
}

/* ---- driver -------------------------------------------------------------- */

typedef struct gemm_job {
    const isa_desc *isa;
    int64_t M, N, K;
    const float *A;
    int64_t rsa, csa;
    const float *B;
    int64_t rsb, csb;
    float *C;
    int64_t ldc;
    int split_n; /* slabs are NR-column blocks (else MR-row blocks) */
} gemm_job;

/* Last resort when the packing buffers cannot be allocated: slow, but never
 * wrong and never fatal. */
static void gemm_unpacked(const gemm_job *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    for (int64_t i = m0; i < m1; i++) {
        float *cr = g->C + i * g->ldc;
        for (int64_t j = n0; j < n1; j++)
            cr[j] = 0.0f;
        for (int64_t k = 0; k < g->K; k++) {
            float a = g->A[i * g->rsa + k * g->csa];
            const float *br = g->B + k * g->rsb;
            for (int64_t j = n0; j < n1; j++)
                cr[j] += a * br[j * g->csb];
        }
    }
}

/* Small products pack into the stack, where malloc would cost as much as the
 * math; 32 KB keeps callers on small thread stacks (musl: 128 KB) safe. */
#define STACK_FLOATS 8192

/* C[m0:m1, n0:n1] = op(A)[m0:m1, :] * op(B)[:, n0:n1]; K >= 1. */
static void gemm_slab(const gemm_job *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    const isa_desc *isa = g->isa;
    const int mr = isa->mr, nr = isa->nr;
    const int64_t kc_max = min64(isa->kc, g->K);
    const int64_t mc_max = min64(round_up(isa->mc, mr), round_up(m1 - m0, mr));
    const int64_t nc_max = min64(round_up(isa->nc, nr), round_up(n1 - n0, nr));
    /* Both sizes are multiples of 16 floats, so bbuf stays 64-byte aligned. */
    const int64_t a_size = round_up(mc_max * kc_max, ALIGN / 4);
    const int64_t b_size = round_up(kc_max * nc_max, ALIGN / 4);
    _Alignas(ALIGN) float stack_buf[STACK_FLOATS];
    float *heap = NULL, *abuf = stack_buf;
    if (a_size + b_size > STACK_FLOATS) {
        heap = aligned_alloc(ALIGN, (size_t)(a_size + b_size) * sizeof(float));
        if (!heap) {
            gemm_unpacked(g, m0, m1, n0, n1);
            return;
        }
        abuf = heap;
    }
    float *bbuf = abuf + a_size;
    for (int64_t ic = m0; ic < m1; ic += mc_max) {
        const int64_t mc = min64(mc_max, m1 - ic);
        for (int64_t pc = 0; pc < g->K; pc += kc_max) {
            const int64_t kc = min64(kc_max, g->K - pc);
            for (int64_t ir = 0; ir < mc; ir += mr)
                pack_a((int)min64(mr, mc - ir), mr, kc, g->A + (ic + ir) * g->rsa + pc * g->csa,
                       g->rsa, g->csa, abuf + ir * kc);
            for (int64_t jc = n0; jc < n1; jc += nc_max) {
                const int64_t nc = min64(nc_max, n1 - jc);
                pack_b(kc, nc, nr, g->B + pc * g->rsb + jc * g->csb, g->rsb, g->csb, bbuf);
                for (int64_t ir = 0; ir < mc; ir += mr) {
                    const int m = (int)min64(mr, mc - ir);
                    float *crow = g->C + (ic + ir) * g->ldc + jc;
                    const float *bp = bbuf;
                    for (int64_t jr = 0; jr < nc; jr += nr, bp += kc * nr)
                        isa->kernel(kc, abuf + ir * kc, bp, crow + jr, g->ldc, m,
                                    (int)min64(nr, nc - jr), pc > 0);
                }
            }
        }
    }
    free(heap);
}

static void gemm_task(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const gemm_job *g = arg;
    if (g->split_n)
        gemm_slab(g, 0, g->M, begin * g->isa->nr, min64(end * g->isa->nr, g->N));
    else
        gemm_slab(g, begin * g->isa->mr, min64(end * g->isa->mr, g->M), 0, g->N);
}

/* Below this many multiply-adds, waking the workers costs more than it saves. */
#define MIN_PARALLEL_FMAS (64 * 64 * 64)

void pce_gemm_f32_own(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc,
                      pce_threadpool *pool)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            memset(C + i * ldc, 0, (size_t)N * sizeof *C);
        return;
    }
    gemm_job g = {
        .isa = select_isa(),
        .M = M,
        .N = N,
        .K = K,
        .A = A,
        .rsa = trans_a ? 1 : lda,
        .csa = trans_a ? lda : 1,
        .B = B,
        .rsb = trans_b ? 1 : ldb,
        .csb = trans_b ? ldb : 1,
        .C = C,
        .ldc = ldc,
    };
    const int64_t nb_n = (N + g.isa->nr - 1) / g.isa->nr;
    const int64_t nb_m = (M + g.isa->mr - 1) / g.isa->mr;
    int threads = pce_threadpool_size(pool);
    if ((double)M * (double)N * (double)K < MIN_PARALLEL_FMAS)
        threads = 1;
    /* Splitting N makes each thread pack all of A, splitting M all of B; N is
     * preferred since it also keeps each thread's C columns apart. */
    g.split_n = nb_n >= 4 * (int64_t)threads || nb_n >= nb_m;
    if (threads <= 1)
        gemm_task(&g, 0, g.split_n ? nb_n : nb_m, 0);
    else
        pce_threadpool_parallel_for(pool, g.split_n ? nb_n : nb_m, 1, gemm_task, &g);
}
