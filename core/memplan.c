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

/* May node n (at position i) write over its src[0]'s storage? */
static bool can_take_over(const pce_tensor *n, int i, const int *last_use, const bool *done)
{
    const pce_tensor *s = n->src[0];
    if (!pce_op_can_inplace(n->op) || !s)
        return false;
    const pce_tensor *r = pce_tensor_root(s);
    if (!owns_arena(r) || r->is_output || last_use[r->id] != i || done[r->id])
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
                             pce_memplan *out)
{
    memset(out, 0, sizeof *out);
    int nt = g->n_tensors;
    int *last_use = malloc((size_t)(nt ? nt : 1) * sizeof *last_use);
    bool *done = calloc((size_t)(nt ? nt : 1), sizeof *done);
    out->offset = malloc((size_t)(nt ? nt : 1) * sizeof *out->offset);
    out->inplace = calloc((size_t)(nt ? nt : 1), sizeof *out->inplace);
    freelist fl = {0};
    pce_status st = PCE_OK;
    if (!last_use || !done || !out->offset || !out->inplace) {
        st = pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "memory planner: tables for %d tensors", nt);
        goto done;
    }
    for (int i = 0; i < nt; i++) {
        last_use[i] = -1;
        out->offset[i] = -1;
    }
    /* liveness: a root lives until the last node that reads or writes any alias */
    for (int i = 0; i < n_order; i++) {
        const pce_tensor *n = g->tensors[order[i]];
        last_use[pce_tensor_root(n)->id] = i;
        for (int k = 0; k < PCE_MAX_SRC; k++)
            if (n->src[k])
                last_use[pce_tensor_root(n->src[k])->id] = i;
    }
    for (int i = 0; i < nt; i++) {
        const pce_tensor *t = g->tensors[i];
        if (t->is_output)
            last_use[pce_tensor_root(t)->id] = n_order; /* lives to the end */
        if (owns_arena(t))
            out->naive_bytes += root_bytes(t);
    }
    for (int i = 0; i < n_order; i++) {
        const pce_tensor *n = g->tensors[order[i]];
        if (owns_arena(n)) {
            if (can_take_over(n, i, last_use, done)) {
                const pce_tensor *r = pce_tensor_root(n->src[0]);
                out->offset[n->id] = out->offset[r->id];
                done[r->id] = true; /* its memory now belongs to n */
                out->inplace[n->id] = true;
                out->inplace_nodes++;
            } else {
                out->offset[n->id] = (int64_t)fl_alloc(&fl, root_bytes(n));
            }
        }
        /* release every root whose last use is this node */
        const pce_tensor *cand[PCE_MAX_SRC + 1] = {n, n->src[0], n->src[1], n->src[2], n->src[3]};
        for (int k = 0; k <= PCE_MAX_SRC; k++) {
            if (!cand[k])
                continue;
            const pce_tensor *r = pce_tensor_root(cand[k]);
            if (!owns_arena(r) || done[r->id] || last_use[r->id] != i || out->offset[r->id] < 0)
                continue;
            done[r->id] = true;
            if (!fl_free(&fl, (uint64_t)out->offset[r->id], root_bytes(r))) {
                st = pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "memory planner: free list");
                goto done;
            }
        }
    }
    out->arena_bytes = fl.end;
done:
    free(fl.b);
    free(last_use);
    free(done);
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
