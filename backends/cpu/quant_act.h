/* quant_act.h — activations quantized to 8 bits for the CPU's integer dot
 * products, shared by quant_matmul.c and quant_packed.c. */
#ifndef PCE_CPU_QUANT_ACT_H
#define PCE_CPU_QUANT_ACT_H

#include <stdint.h>
#include <string.h>

#define QK 32

/* One block of quantized activations: x ≈ d * qs; sum = Σ qs, s = d * sum
 * (what a weight block's minimum multiplies). */
typedef struct q8_act {
    float d, s;
    int32_t sum;
    int8_t qs[QK];
} q8_act;

#define QK_K 256

/* The activations for K-quant weights, per 256 values: the 8 blocks of 32
 * of q8_act, their scales d and d·Σq (exact, not rounded to f16) side by
 * side so that a kernel loads each as one vector; the sums of each 16
 * values (Q6_K's scales cover 16 weights); then the values. */
typedef struct q8_kblk {
    float d[8], s[8];
    int32_t hs[16];
    int8_t qs[QK_K];
} q8_kblk;

/* the 8 sub-blocks' 6-bit scales (bytes 0..7) and mins (8..15) from the
 * 12 packed bytes, as ggml's get_scale_min_k4 reads them, 4 at a time */
static inline void k4_scales(const uint8_t *q, uint8_t out[16])
{
    uint32_t u[4];
    memcpy(u, q, 12);
    const uint32_t lo6 = 0x3f3f3f3f, lo4 = 0x0f0f0f0f, lo2 = 0x03030303;
    u[3] = ((u[2] >> 4) & lo4) | (((u[1] >> 6) & lo2) << 4);
    uint32_t mins_lo = u[1] & lo6;
    u[1] = (u[2] & lo4) | (((u[0] >> 6) & lo2) << 4);
    u[2] = mins_lo;
    u[0] &= lo6;
    memcpy(out, u, 16);
}

/* x · wᵀ for the rows of a packed weight (quant_packed.c): out[m][j] for
 * activation rows m < M (xq: M rows of K / 32 blocks; for a K-quant
 * weight xk: M rows of K / 256) and weight rows j < N / 8 * 8 of the
 * node's b, from its packing `packed`. */
void pce_cpu_qpack_matmul(const pce_exec_node *n, cpu_exec *ex, const void *packed,
                          const q8_act *xq, const q8_kblk *xk, int64_t i0, int64_t i1);

#endif
