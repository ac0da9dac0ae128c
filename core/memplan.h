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

/* One device's share of a plan placed over several devices: the roots its
 * nodes produce, plus copies of roots made elsewhere ("imports"), each live
 * from where it arrives to its last use here; a root copied out to another
 * device stays live here until that copy has read it. */
typedef struct pce_memplan_dev {
    const int8_t *node_dev;  /* per order position: the device of the node */
    int dev;                 /* the device planned now */
    const int *import_at;    /* per tensor id: position its copy arrives here, or -1 */
    const int *export_until; /* per tensor id: last position a copy out reads it, or -1 */
} pce_memplan_dev;

/* order: the ids of the compute nodes in execution order. d: NULL when
 * every node runs on one device. */
pce_status pce_memplan_build(pce_context *ctx, const pce_graph *g, const int *order, int n_order,
                             const pce_memplan_dev *d, pce_memplan *out);
void pce_memplan_free(pce_memplan *mp);

#endif
