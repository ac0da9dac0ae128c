/* quant_act.h — activations quantized to 8 bits for the CPU's integer dot
 * products, shared by quant_matmul.c and quant_packed.c. */
#ifndef PCE_CPU_QUANT_ACT_H
#define PCE_CPU_QUANT_ACT_H

#include <stdint.h>

#define QK 32

/* One block of quantized activations: x ≈ d * qs; sum = Σ qs, s = d * sum
 * (what a weight block's minimum multiplies). */
typedef struct q8_act {
    float d, s;
    int32_t sum;
    int8_t qs[QK];
} q8_act;

/* x · wᵀ for the rows of a packed weight (quant_packed.c): out[m][j] for
 * activation rows m < M (xq: M rows of K / 32 blocks) and weight rows
 * j < N / 8 * 8 of the node's b, from its packing `packed`. */
void pce_cpu_qpack_matmul(const pce_exec_node *n, cpu_exec *ex, const void *packed,
                          const q8_act *xq, int64_t i0, int64_t i1);

#endif
