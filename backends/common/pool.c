/* pool.c — bookkeeping of the GPU backends' device memory pools (see pool.h).
 * No Vulkan here: blocks come from ops.alloc and go back through ops.free. */
#include "pool.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_FREE_CAP 8
#define INITIAL_BLOCK_CAP 4

static bool is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* Bytes to skip from `offset` to the next multiple of `alignment` (a power of two). */
static uint64_t padding_for(uint64_t offset, uint64_t alignment)
{
    return (alignment - (offset & (alignment - 1))) & (alignment - 1);
}

/* Room for one more free range, so that the insert in pool_free cannot fail
 * where the free list only grows by one between two allocations. */
static bool reserve_free(pce_pool_block *b, int need)
{
    if (need <= b->cap_free)
        return true;
    int cap = b->cap_free ? b->cap_free : INITIAL_FREE_CAP;
    while (cap < need)
        cap *= 2;
    pce_pool_range *r = realloc(b->free, (size_t)cap * sizeof *r);
    if (!r)
        return false;
    b->free = r;
    b->cap_free = cap;
    return true;
}

static void release_block(pce_pool *pool, int i)
{
    pce_pool_block *b = pool->blocks[i];
    if (pool->ops.free)
        pool->ops.free(pool->ops.user, b->handle);
    pool->bytes_reserved -= b->size;
    free(b->free);
    free(b);
    memmove(&pool->blocks[i], &pool->blocks[i + 1],
            (size_t)(pool->n_blocks - i - 1) * sizeof *pool->blocks);
    pool->n_blocks--;
}

void pce_pool_init(pce_pool *pool, const pce_pool_block_ops *ops, uint64_t block_size,
                   uint32_t max_blocks)
{
    if (!pool)
        return;
    memset(pool, 0, sizeof *pool);
    if (ops)
        pool->ops = *ops;
    pool->block_size = block_size;
    pool->max_blocks = max_blocks;
}

void pce_pool_destroy(pce_pool *pool)
{
    if (!pool)
        return;
    while (pool->n_blocks > 0)
        release_block(pool, pool->n_blocks - 1);
    free(pool->blocks);
    pce_pool_block_ops ops = pool->ops;
    uint64_t block_size = pool->block_size;
    uint32_t max_blocks = pool->max_blocks;
    /* Left reusable (and safe to destroy again). */
    pce_pool_init(pool, &ops, block_size, max_blocks);
}

/* Takes `size` bytes at the first multiple of `alignment` in range `r` of `b`. */
static void take(pce_pool *pool, pce_pool_block *b, int r, uint64_t size, uint64_t alignment,
                 pce_pool_slice *out)
{
    pce_pool_range *fr = &b->free[r];
    uint64_t pad = padding_for(fr->offset, alignment);
    uint64_t span = pad + size;
    out->block = b;
    out->start = fr->offset;
    out->offset = fr->offset + pad;
    out->size = size;
    out->span = span;
    fr->offset += span;
    fr->size -= span;
    if (fr->size == 0) {
        memmove(&b->free[r], &b->free[r + 1], (size_t)(b->n_free - r - 1) * sizeof *b->free);
        b->n_free--;
    }
    b->used += span;
    pool->bytes_used += size;
}

/* Makes a block of `bytes` and appends it; on failure nothing is left behind. */
static int new_block(pce_pool *pool, uint64_t bytes, bool dedicated, pce_pool_block **out)
{
    if (pool->max_blocks != 0 && (uint32_t)pool->n_blocks >= pool->max_blocks)
        return PCE_POOL_TOO_MANY;
    if (!pool->ops.alloc)
        return PCE_POOL_NO_MEMORY;
    if (pool->n_blocks == pool->cap_blocks) {
        int cap = pool->cap_blocks ? pool->cap_blocks * 2 : INITIAL_BLOCK_CAP;
        pce_pool_block **bl = realloc(pool->blocks, (size_t)cap * sizeof *bl);
        if (!bl)
            return PCE_POOL_NO_HOST_MEM;
        pool->blocks = bl;
        pool->cap_blocks = cap;
    }
    pce_pool_block *b = calloc(1, sizeof *b);
    if (!b || !reserve_free(b, INITIAL_FREE_CAP)) {
        free(b);
        return PCE_POOL_NO_HOST_MEM;
    }
    if (pool->ops.alloc(pool->ops.user, bytes, &b->handle) != 0) {
        free(b->free);
        free(b);
        return PCE_POOL_NO_MEMORY;
    }
    b->size = bytes;
    b->dedicated = dedicated;
    b->free[0] = (pce_pool_range){0, bytes};
    b->n_free = 1;
    pool->blocks[pool->n_blocks++] = b;
    pool->bytes_reserved += bytes;
    *out = b;
    return PCE_POOL_OK;
}

int pce_pool_alloc(pce_pool *pool, uint64_t size, uint64_t alignment, pce_pool_slice *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!pool || !out || size == 0 || !is_pow2(alignment) || size > UINT64_MAX - (alignment - 1))
        return PCE_POOL_BAD_REQUEST;

    /* Best fit: the smallest free range that holds the request with its
     * padding; the first such range (block order, then offset) on a tie.
     * Dedicated blocks are left out: each holds exactly its one request. */
    pce_pool_block *best = NULL;
    int best_r = -1;
    for (int i = 0; i < pool->n_blocks; i++) {
        pce_pool_block *b = pool->blocks[i];
        if (b->dedicated)
            continue;
        for (int r = 0; r < b->n_free; r++) {
            const pce_pool_range *fr = &b->free[r];
            if (fr->size < size || padding_for(fr->offset, alignment) > fr->size - size)
                continue;
            if (!best || fr->size < best->free[best_r].size) {
                best = b;
                best_r = r;
            }
        }
    }
    if (best) {
        /* Taking from a range never adds one, but the free that follows may:
         * grow now, where failure can still be reported. */
        if (!reserve_free(best, best->n_free + 1))
            return PCE_POOL_NO_HOST_MEM;
        take(pool, best, best_r, size, alignment, out);
        return PCE_POOL_OK;
    }

    uint64_t rounded = (size + alignment - 1) & ~(alignment - 1);
    bool dedicated = rounded > pool->block_size;
    pce_pool_block *b;
    int rc = new_block(pool, dedicated ? rounded : pool->block_size, dedicated, &b);
    if (rc != PCE_POOL_OK)
        return rc;
    take(pool, b, 0, size, alignment, out);
    return PCE_POOL_OK;
}

enum { INSERT_OK, INSERT_BAD, INSERT_NO_HOST_MEM };

/* Puts [start, start + span) back into b's free list, merged with its
 * neighbours. INSERT_BAD: the range is not a taken one (a double or foreign
 * free); nothing changes. */
static int insert_free(pce_pool_block *b, uint64_t start, uint64_t span)
{
    uint64_t end = start + span;
    if (span == 0 || span > b->used || end < start || end > b->size)
        return INSERT_BAD;
    /* First range starting at or after `start`. */
    int lo = 0, hi = b->n_free;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (b->free[mid].offset < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    pce_pool_range *prev = lo > 0 ? &b->free[lo - 1] : NULL;
    pce_pool_range *next = lo < b->n_free ? &b->free[lo] : NULL;
    if ((prev && prev->offset + prev->size > start) || (next && next->offset < end))
        return INSERT_BAD;
    bool join_prev = prev && prev->offset + prev->size == start;
    bool join_next = next && next->offset == end;
    if (join_prev && join_next) {
        prev->size += span + next->size;
        memmove(&b->free[lo], &b->free[lo + 1], (size_t)(b->n_free - lo - 1) * sizeof *b->free);
        b->n_free--;
    } else if (join_prev) {
        prev->size += span;
    } else if (join_next) {
        next->offset = start;
        next->size += span;
    } else {
        if (!reserve_free(b, b->n_free + 1))
            return INSERT_NO_HOST_MEM;
        memmove(&b->free[lo + 1], &b->free[lo], (size_t)(b->n_free - lo) * sizeof *b->free);
        b->free[lo] = (pce_pool_range){start, span};
        b->n_free++;
    }
    return INSERT_OK;
}

void pce_pool_free(pce_pool *pool, pce_pool_slice *a)
{
    if (!pool || !a || !a->block)
        return;
    int bi = -1;
    for (int i = 0; i < pool->n_blocks; i++)
        if (pool->blocks[i] == a->block) {
            bi = i;
            break;
        }
    pce_pool_block *b = a->block;
    int rc = bi < 0 ? INSERT_BAD : insert_free(b, a->start, a->span);
    if (rc == INSERT_OK)
        b->used -= a->span;
    if (rc != INSERT_BAD)
        pool->bytes_used -= a->size;
    /* INSERT_NO_HOST_MEM: the allocation is gone but its range stays taken
     * (counted in b->used) until the block is released by destroy. */
    memset(a, 0, sizeof *a);
    if (rc != INSERT_OK || b->used != 0)
        return;
    /* Empty: keep it only if it is the one empty standard block. */
    bool release = b->dedicated;
    for (int i = 0; !release && i < pool->n_blocks; i++) {
        const pce_pool_block *o = pool->blocks[i];
        if (o != b && !o->dedicated && o->used == 0)
            release = true;
    }
    if (release)
        release_block(pool, bi);
}
