/* gpu_common.c — see gpu_common.h. */
#include "gpu_common.h"

#include <math.h>

size_t pce_rope_table_bytes(const pce_exec_node *n)
{
    int half = n->ip[0] / 2;
    return (size_t)(half ? half : 1) * 8;
}

void pce_rope_table_fill(const pce_exec_node *n, uint32_t *t)
{
    for (int i = 0; i < n->ip[0] / 2; i++) {
        double f = pow((double)n->fp[0], -2.0 * i / n->ip[0]) / (2.0 * 3.14159265358979323846);
        f -= floor(f);
        double hi = floor(f * 4294967296.0);
        t[2 * i] = (uint32_t)hi;
        t[2 * i + 1] = (uint32_t)floor((f * 4294967296.0 - hi) * 4294967296.0);
    }
}

pce_status pce_ids_error(pce_device *dev, const pce_segment *seg, const volatile uint32_t *err)
{
    int node = (int)err[1];
    const pce_exec_node *n = node >= 0 && node < seg->n_nodes ? &seg->nodes[node] : NULL;
    /* the rows the ids index: get_rows' table, set_rows' destination */
    int64_t bound = !n ? 0 : n->op == PCE_OP_GET_ROWS ? n->src[0].ne[2] : n->dst.ne[2];
    return pce_fail(dev->ctx, PCE_ERR_INVALID_ARGUMENT,
                    "%s '%s': ids[%u] = %d is outside [0, %lld)", n ? pce_op_name(n->op) : "?",
                    n && n->tensor ? n->tensor->name : "?", err[2], (int32_t)err[3],
                    (long long)bound);
}
