/* gemm.h — f32 matrix multiply used by the CPU backend's matmul.
 * C[M,N] = op(A)[M,K] * op(B)[K,N], all row-major. op(A) = A (A[m*lda + k])
 * or, with trans_a, A^T (A[k*lda + m]); likewise for B. C is overwritten. */
#ifndef PCE_GEMM_H
#define PCE_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "threadpool.h"

/* pce's own blocked, packed, SIMD GEMM (AVX-512 / AVX2+FMA / portable,
 * chosen at run time), multithreaded on pool (NULL: single thread). */
void pce_gemm_f32_own(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc,
                      pce_threadpool *pool);

/* The GEMM the fast kernels use: OpenBLAS sgemm when built with it, else
 * pce_gemm_f32_own. */
void pce_gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc,
                  pce_threadpool *pool, bool own);

/* Instruction set pce_gemm_f32_own runs with: "avx512", "avx2" or "portable". */
const char *pce_gemm_own_isa(void);

/* "openblas 0.3.21 (Haswell)" or "pce own gemm (avx512)". */
const char *pce_gemm_backend_name(void);

#endif
