/* gemm.c — picks the f32 GEMM: OpenBLAS when built with it, else ours. */
#include "gemm.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#ifdef PCE_HAVE_OPENBLAS
#include "openblas.h"

void pce_gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc,
                  pce_threadpool *pool, bool own)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            memset(C + i * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    pce_sgemm_fn sgemm = own ? NULL : pce_openblas_sgemm();
    /* OpenBLAS's interface takes int: larger problems (or no OpenBLAS at
     * run time) use our own GEMM */
    if (!sgemm || M > INT_MAX || N > INT_MAX || K > INT_MAX || lda > INT_MAX || ldb > INT_MAX ||
        ldc > INT_MAX) {
        pce_gemm_f32_own(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, pool);
        return;
    }
    /* cblas: 101 row-major, 111 no transpose, 112 transpose */
    sgemm(101, trans_a ? 112 : 111, trans_b ? 112 : 111, (int)M, (int)N, (int)K, 1.0f, A, (int)lda,
          B, (int)ldb, 0.0f, C, (int)ldc);
}

const char *pce_gemm_backend_name(void)
{
    static char name[200];
    if (pce_openblas_sgemm())
        snprintf(name, sizeof name, "OpenBLAS (%s; core %s)", pce_openblas_config(),
                 pce_openblas_corename());
    else
        snprintf(name, sizeof name, "pce own GEMM (%s; OpenBLAS not loaded)", pce_gemm_own_isa());
    return name;
}

#else

void pce_gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc,
                  pce_threadpool *pool, bool own)
{
    (void)own;
    pce_gemm_f32_own(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, pool);
}

const char *pce_gemm_backend_name(void)
{
    static char name[64];
    if (!name[0])
        snprintf(name, sizeof name, "pce own GEMM (%s)", pce_gemm_own_isa());
    return name;
}

#endif
