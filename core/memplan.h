/* memplan.h — the activation memory planner.
 * Liveness (producer to last use of any alias) + best-fit free list with
 * coalescing + in-place reuse for elementwise-like ops. Pure: works on the
 * graph and an execution order, touches no device. */
#ifndef PCE_MEMPLAN_H
#define PCE_MEMPLAN_H

#include "internal.h"

#define PCE_ARENA_ALIGN 64

typedef struct pce_memplan {
    int64_t *offset; /* per tensor id: arena offset of its root storage, -1 if none */
    bool *inplace;   /* per tensor id: took over src[0]'s memory */
    uint64_t arena_bytes;
    uint64_t naive_bytes;
    int64_t inplace_nodes;
} pce_memplan;

/* order: the ids of the compute nodes in execution order. */
pce_status pce_memplan_build(pce_context *ctx, const pce_graph *g, const int *order, int n_order,
                             pce_memplan *out);
void pce_memplan_free(pce_memplan *mp);

#endif
