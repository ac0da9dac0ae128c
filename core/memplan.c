/* memplan.c — see memplan.h. */
#include "memplan.h"

#include <stdlib.h>
#include <string.h>

typedef struct block {
    uint64_t off, size;
} block;

typedef struct freelist {
    block *b;
    int n, cap;
    uint64_t end; /* arena size so far */
} freelist;

static uint64_t align_up(uint64_t x)
{
    return (x + PCE_ARENA_ALIGN - 1) / PCE_ARENA_ALIGN * PCE_ARENA_ALIGN;
}

/* Best fit among free blocks; a free block at the end may grow the arena. */
static uint64_t fl_alloc(freelist *fl, uint64_t size)
{
    int best = -1;
    for (int i = 0; i < fl->n; i++)
        if (fl->b[i].size >= size && (best < 0 || fl->b[i].size < fl->b[best].size))
            best = i;
    if (best >= 0) {
        uint64_t off = fl->b[best].off;
        fl->b[best].off += size;
        fl->b[best].size -= size;
        if (fl->b[best].size == 0) {
            memmove(&fl->b[best], &fl->b[best + 1], (size_t)(fl->n - best - 1) * sizeof(block));
            fl->n--;
        }
        return off;
    }
    if (fl->n > 0 && fl->b[fl->n - 1].off + fl->b[fl->n - 1].size == fl->end) {
        uint64_t off = fl->b[fl->n - 1].off;
        fl->end = off + size;
        fl->n--;
        return off;
    }
    uint64_t off = fl->end;
    fl->end += size;
    return off;
}

static bool fl_free(freelist *fl, uint64_t off, uint64_t size)
{
    int i = 0;
    while (i < fl->n && fl->b[i].off < off)
        i++;
    /* coalesce with neighbours */
    bool merged = false;
    if (i > 0 && fl->b[i - 1].off + fl->b[i - 1].size == off) {
        fl->b[i - 1].size += size;
        merged = true;
        if (i < fl->n && fl->b[i - 1].off + fl->b[i - 1].size == fl->b[i].off) {
            fl->b[i - 1].size += fl->b[i].size;
            memmove(&fl->b[i], &fl->b[i + 1], (size_t)(fl->n - i - 1) * sizeof(block));
            fl->n--;
        }
    } else if (i < fl->n && off + size == fl->b[i].off) {
        fl->b[i].off = off;
        fl->b[i].size += size;
        merged = true;
    }
    if (merged)
        return true;
    if (fl->n == fl->cap) {
        int cap = fl->cap ? fl->cap * 2 : 16;
        block *nb = realloc(fl->b, (size_t)cap * sizeof *nb);
        if (!nb)
            return false;
        fl->b = nb;
        fl->cap = cap;
    }
    memmove(&fl->b[i + 1], &fl->b[i], (size_t)(fl->n - i) * sizeof(block));
    fl->b[i] = (block){off, size};
    fl->n++;
    return true;
}

static uint64_t root_bytes(const pce_tensor *r)
{
    return align_up(pce_dtype_bytes(r->dtype, pce_numel4(r->ne)));
}

static bool owns_arena(const pce_tensor *t)
{
    return t->base == NULL && t->role == PCE_ROLE_INTERMEDIATE;
}

/* May node n (at position i) write over its src[0]'s storage? Only a root
 * made on this device (here[]) whose life ends at this node. */
static bool can_take_over(const pce_tensor *n, int i, const int *last_use, const bool *done,
                          const bool *made_here)
{
    const pce_tensor *s = n->src[0];
    if (!pce_op_can_inplace(n->op) || !s)
        return false;
    const pce_tensor *r = pce_tensor_root(s);
    if (!owns_arena(r) || !made_here[r->id] || r->is_output || last_use[r->id] != i || done[r->id])
        return false;
    if (s->offset != 0 || !pce_tensor_is_contiguous(s) || s->dtype != n->dtype ||
        root_bytes(r) != root_bytes(n) || pce_numel4(s->ne) != pce_numel4(n->ne))
        return false;
    for (int k = 1; k < PCE_MAX_SRC; k++)
        if (n->src[k] && pce_tensor_root(n->src[k]) == r)
            return false;
    return true;
}

pce_status pce_memplan_build(pce_context *ctx, const pce_graph *g, const int *order, int n_order,
                             const pce_memplan_dev *d, pce_memplan *out)
{
    memset(out, 0, sizeof *out);
    int nt = g->n_tensors;
    size_t cnt = (size_t)(nt ? nt : 1);
    int *last_use = malloc(cnt * sizeof *last_use);
    bool *done = calloc(cnt, sizeof *done);
    bool *made_here = calloc(cnt, sizeof *made_here); /* produced by a node on this device */
    /* roots to release after each position: a list per position */
    int *rel_head = malloc((size_t)(n_order + 1) * sizeof *rel_head);
    int *rel_next = malloc(cnt * sizeof *rel_next);
    int *arr_head = malloc((size_t)(n_order + 1) * sizeof *arr_head);
    int *arr_next = malloc(cnt * sizeof *arr_next);
    out->offset = malloc(cnt * sizeof *out->offset);
    out->inplace = calloc(cnt, sizeof *out->inplace);
    freelist fl = {0};
    pce_status st = PCE_OK;
    if (!last_use || !done || !made_here || !rel_head || !rel_next || !arr_head || !arr_next ||
        !out->offset || !out->inplace) {
        st = pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "memory planner: tables for %d tensors", nt);
        goto done;
    }
#define HERE(i) (!d || d->node_dev[i] == d->dev)
    for (int i = 0; i < nt; i++) {
        last_use[i] = -1;
        out->offset[i] = -1;
    }
    /* liveness: a root lives until the last node here that reads or writes
     * any alias of it, or until a copy to another device has read it */
    for (int i = 0; i < n_order; i++) {
        const pce_tensor *n = g->tensors[order[i]];
        if (!HERE(i))
            continue;
        if (owns_arena(n))
            made_here[n->id] = true;
        last_use[pce_tensor_root(n)->id] = i;
        for (int k = 0; k < PCE_MAX_SRC; k++)
            if (n->src[k])
                last_use[pce_tensor_root(n->src[k])->id] = i;
    }
    for (int i = 0; i < nt; i++) {
        const pce_tensor *t = g->tensors[i];
        const pce_tensor *r = pce_tensor_root(t);
        if (t->is_output && (!d || made_here[r->id]))
            last_use[r->id] = n_order; /* lives to the end where it is made */
        if (d && d->export_until[i] > last_use[i] && made_here[i])
            last_use[i] = d->export_until[i];
        if (owns_arena(t) && (!d || made_here[i] || d->import_at[i] >= 0))
            out->naive_bytes += root_bytes(t);
    }
    for (int i = 0; i <= n_order; i++)
        rel_head[i] = arr_head[i] = -1;
    for (int i = 0; i < nt; i++) {
        const pce_tensor *t = g->tensors[i];
        bool here = !d ? owns_arena(t) : owns_arena(t) && (made_here[i] || d->import_at[i] >= 0);
        if (here && last_use[i] >= 0 && last_use[i] < n_order) {
            rel_next[i] = rel_head[last_use[i]];
            rel_head[last_use[i]] = i;
        }
        if (d && owns_arena(t) && !made_here[i] && d->import_at[i] >= 0 &&
            d->import_at[i] < n_order) {
            arr_next[i] = arr_head[d->import_at[i]];
            arr_head[d->import_at[i]] = i;
        }
    }
    for (int i = 0; i < n_order; i++) {
        /* copies arriving before this position's segment */
        for (int id = arr_head[i]; id >= 0; id = arr_next[id])
            out->offset[id] = (int64_t)fl_alloc(&fl, root_bytes(g->tensors[id]));
        const pce_tensor *n = g->tensors[order[i]];
        if (HERE(i) && owns_arena(n)) {
            if (can_take_over(n, i, last_use, done, made_here)) {
                const pce_tensor *r = pce_tensor_root(n->src[0]);
                out->offset[n->id] = out->offset[r->id];
                done[r->id] = true; /* its memory now belongs to n */
                out->inplace[n->id] = true;
                out->inplace_nodes++;
            } else {
                out->offset[n->id] = (int64_t)fl_alloc(&fl, root_bytes(n));
            }
        }
        /* release every root whose last use here is this position */
        for (int id = rel_head[i]; id >= 0; id = rel_next[id]) {
            if (done[id] || out->offset[id] < 0)
                continue;
            done[id] = true;
            if (!fl_free(&fl, (uint64_t)out->offset[id], root_bytes(g->tensors[id]))) {
                st = pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "memory planner: free list");
                goto done;
            }
        }
    }
#undef HERE
    out->arena_bytes = fl.end;
done:
    free(fl.b);
    free(last_use);
    free(done);
    free(made_here);
    free(rel_head);
    free(rel_next);
    free(arr_head);
    free(arr_next);
    if (st != PCE_OK)
        pce_memplan_free(out);
    return st;
}

void pce_memplan_free(pce_memplan *mp)
{
    free(mp->offset);
    free(mp->inplace);
    mp->offset = NULL;
    mp->inplace = NULL;
}
