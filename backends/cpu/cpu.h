/* cpu.h — internals shared by the CPU backend's files: the per-segment
 * execution state and the two kernel tables (reference and fast). */
#ifndef PCE_CPU_H
#define PCE_CPU_H

#include "../backend.h"
#include "threadpool.h"

typedef struct cpu_exec {
    pce_device *dev;
    pce_threadpool *pool;
    int n_threads;
    bool gemm_own;  /* [kernels] matmul = own: pce's GEMM, not OpenBLAS */
    float *scratch; /* segment-wide scratch (matmul conversions) */
    size_t scratch_floats;
    const void *packed; /* the running node's repacked weight (quant_packed.c), or NULL */
    float *row_scratch; /* per thread: row_floats * 4 floats */
    size_t row_floats;
    char err[256]; /* message for a failing kernel */
} cpu_exec;

typedef pce_status (*cpu_kernel_fn)(const pce_exec_node *n, cpu_exec *ex);

/* Kernel tables indexed by pce_op; NULL means unsupported. */
extern const cpu_kernel_fn pce_cpu_ref_kernels[PCE_OP_COUNT];
extern const cpu_kernel_fn pce_cpu_fast_kernels[PCE_OP_COUNT];

/* x · wᵀ with w block-quantized, by 8-bit integer dot products
 * (quant_matmul.c): PCE_ERR_UNSUPPORTED for formats without such a kernel
 * (the caller then dequantizes panels for the GEMM). */
pce_status pce_cpu_matmul_quant(const pce_exec_node *n, cpu_exec *ex);
bool pce_cpu_quant_int8(pce_dtype dt);
/* x · y for up to 8 rows of x (f16 or f32) and an f16 y read in place
 * (matmul_f16.c); PCE_ERR_UNSUPPORTED for other shapes and layouts. */
pce_status pce_cpu_matmul_f16_small(const pce_exec_node *n, cpu_exec *ex);
/* The integer dot-product path in use: 3 AVX512-VNNI (EVEX, 256-bit), 2
 * AVX-VNNI (VEX), 1 AVX2, 0 portable. */
int pce_cpu_quant_isa(void);

/* Weights repacked eight rows at a time for VNNI (quant_packed.c): whether
 * node n's weight can be, its size, and the packing into dst. */
bool pce_cpu_qpack_eligible(const pce_exec_node *n);
size_t pce_cpu_qpack_bytes(const pce_exec_node *n);
void pce_cpu_qpack(const pce_exec_node *n, void *dst);

/* Scratch the fast kernel of n needs, in floats (segment-wide, reused). */
size_t pce_cpu_fast_scratch(const pce_exec_node *n, int n_threads);

/* Element access for the reference kernels and slow paths. */
double pce_cpu_load(const pce_tref *r, int64_t i0, int64_t i1, int64_t i2, int64_t i3);
void pce_cpu_store(const pce_tref *r, int64_t i0, int64_t i1, int64_t i2, int64_t i3, double v);

static inline char *pce_cpu_at(const pce_tref *r, int64_t i0, int64_t i1, int64_t i2, int64_t i3)
{
    return (char *)r->host + i0 * r->nb[0] + i1 * r->nb[1] + i2 * r->nb[2] + i3 * r->nb[3];
}

/* Broadcast: index into a dim of size n (1 broadcasts). */
static inline int64_t pce_bc(int64_t i, int64_t n)
{
    return n == 1 ? 0 : i;
}

#endif
