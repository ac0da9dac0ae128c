/* gemm.c — picks the f32 GEMM: OpenBLAS when built with it, else ours. */
#include "gemm.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#ifdef PCE_HAVE_OPENBLAS
#include <cblas.h>

void pce_gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc,
                  pce_threadpool *pool)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            memset(C + i * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    /* OpenBLAS's interface takes int: larger problems use our own GEMM */
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || lda > INT_MAX || ldb > INT_MAX ||
        ldc > INT_MAX) {
        pce_gemm_f32_own(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, pool);
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B,
                (int)ldb, 0.0f, C, (int)ldc);
}

const char *pce_gemm_backend_name(void)
{
    static char name[128];
    if (!name[0]) {
        const char *cfg = openblas_get_config();
        const char *core = openblas_get_corename();
        snprintf(name, sizeof name, "OpenBLAS (%s; core %s)", cfg ? cfg : "?", core ? core : "?");
    }
    return name;
}

#else

void pce_gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc,
                  pce_threadpool *pool)
{
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
