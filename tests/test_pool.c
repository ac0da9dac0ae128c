/* test_pool.c — the device memory pool's bookkeeping (backends/common/pool.c), with fake block
 * callbacks in place of vkAllocateMemory: alignment, no overlap (against a
 * shadow model under random alloc/free), merging, best fit, dedicated and
 * kept-empty blocks, limits and errors, and the byte counts. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

/* Fake device memory: each block a malloc'd record of its size. */
typedef struct fake_dev {
    int live;       /* blocks allocated and not freed */
    int allocs;     /* successful ops.alloc calls */
    int calls;      /* all ops.alloc calls */
    int fail_after; /* fail every call once `allocs` reaches this; -1: never */
    uint64_t live_bytes;
} fake_dev;

static int fake_alloc(void *user, uint64_t size, void **handle)
{
    fake_dev *d = user;
    d->calls++;
    if (d->fail_after >= 0 && d->allocs >= d->fail_after)
        return 1;
    uint64_t *h = malloc(sizeof *h);
    if (!h)
        return 1;
    *h = size;
    *handle = h;
    d->allocs++;
    d->live++;
    d->live_bytes += size;
    return 0;
}

static void fake_free(void *user, void *handle)
{
    fake_dev *d = user;
    uint64_t *h = handle;
    ck_assert_ptr_nonnull(h);
    ck_assert_int_gt(d->live, 0);
    d->live--;
    d->live_bytes -= *h;
    free(h);
}

static fake_dev dev;
static pce_pool pool;

static void init_pool(uint64_t block_size, uint32_t max_blocks, int fail_after)
{
    memset(&dev, 0, sizeof dev);
    dev.fail_after = fail_after;
    pce_pool_block_ops ops = {.alloc = fake_alloc, .free = fake_free, .user = &dev};
    pce_pool_init(&pool, &ops, block_size, max_blocks);
}

static void finish_pool(void)
{
    pce_pool_destroy(&pool);
    ck_assert_int_eq(dev.live, 0);
    ck_assert_uint_eq(dev.live_bytes, 0);
    ck_assert_int_eq(pool.n_blocks, 0);
    ck_assert_uint_eq(pool.bytes_reserved, 0);
}

/* xorshift64*: a fresh seed per case, printed in every failure message. */
static uint64_t rng_state;

static uint64_t fresh_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40)) | 1;
}

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static uint64_t rnd_range(uint64_t lo, uint64_t hi)
{
    return lo + rnd() % (hi - lo + 1);
}

/* The pool's invariants, checked from its public fields. */
static void check_pool(uint64_t seed)
{
    uint64_t reserved = 0;
    for (int i = 0; i < pool.n_blocks; i++) {
        const pce_pool_block *b = pool.blocks[i];
        reserved += b->size;
        uint64_t free_bytes = 0, prev_end = 0;
        for (int r = 0; r < b->n_free; r++) {
            const pce_pool_range *fr = &b->free[r];
            ck_assert_msg(fr->size > 0, "seed %llu: empty free range", (unsigned long long)seed);
            /* sorted and merged: a gap between every two ranges */
            ck_assert_msg(r == 0 || fr->offset > prev_end, "seed %llu: free list unsorted/unmerged",
                          (unsigned long long)seed);
            prev_end = fr->offset + fr->size;
            ck_assert_uint_le(prev_end, b->size);
            free_bytes += fr->size;
        }
        ck_assert_msg(free_bytes + b->used == b->size, "seed %llu: block %d free %llu + used %llu",
                      (unsigned long long)seed, i, (unsigned long long)free_bytes,
                      (unsigned long long)b->used);
    }
    ck_assert_uint_eq(reserved, pool.bytes_reserved);
    ck_assert_uint_eq(dev.live_bytes, pool.bytes_reserved);
    ck_assert_int_eq(dev.live, pool.n_blocks);
}

START_TEST(offsets_are_aligned_and_inside_the_block)
{
    uint64_t seed = fresh_seed();
    rng_state = seed;
    init_pool(1 << 16, 0, -1);
    enum { N = 300 };
    static pce_pool_slice a[N];
    for (int i = 0; i < N; i++) {
        uint64_t align = 1ull << rnd_range(0, 10);
        uint64_t size = rnd_range(1, 3000);
        ck_assert_int_eq(pce_pool_alloc(&pool, size, align, &a[i]), PCE_POOL_OK);
        ck_assert_msg(a[i].offset % align == 0, "seed %llu: offset %llu, alignment %llu",
                      (unsigned long long)seed, (unsigned long long)a[i].offset,
                      (unsigned long long)align);
        ck_assert_uint_eq(a[i].size, size);
        ck_assert_uint_ge(a[i].offset, a[i].start);
        ck_assert_uint_eq(a[i].span, a[i].offset - a[i].start + size);
        ck_assert_uint_lt(a[i].offset - a[i].start, align);
        ck_assert_uint_le(a[i].offset + size, a[i].block->size);
    }
    check_pool(seed);
    finish_pool();
}
END_TEST

/* A few thousand random allocs and frees; after each, the live set is
 * compared with a shadow list: no two live ranges of a block overlap, the
 * byte counts match, and the pool's own invariants hold. */
START_TEST(random_alloc_free_never_overlaps)
{
    uint64_t seed = fresh_seed();
    rng_state = seed;
    enum { OPS = 4000, MAXLIVE = 400 };
    init_pool(1 << 15, 0, -1);
    static pce_pool_slice live[MAXLIVE];
    int n_live = 0;
    uint64_t used = 0;
    int big = 0;
    for (int op = 0; op < OPS; op++) {
        bool do_alloc = n_live == 0 || (n_live < MAXLIVE && rnd() % 100 < 55);
        if (do_alloc) {
            uint64_t align = 1ull << rnd_range(0, 8);
            /* mostly small; now and then larger than a block (dedicated) */
            uint64_t size = rnd() % 50 == 0 ? rnd_range(1 << 15, 1 << 17) : rnd_range(1, 4096);
            pce_pool_slice *x = &live[n_live];
            ck_assert_int_eq(pce_pool_alloc(&pool, size, align, x), PCE_POOL_OK);
            ck_assert_msg(x->offset % align == 0, "seed %llu", (unsigned long long)seed);
            ck_assert_uint_le(x->offset + size, x->block->size);
            if (x->block->dedicated) {
                big++;
                ck_assert_uint_gt((size + align - 1) & ~(align - 1), pool.block_size);
                ck_assert_uint_eq(x->block->size, (size + align - 1) & ~(align - 1));
                ck_assert_uint_eq(x->offset, 0);
            }
            for (int j = 0; j < n_live; j++) {
                const pce_pool_slice *y = &live[j];
                if (y->block != x->block)
                    continue;
                ck_assert_msg(x->start + x->span <= y->start || y->start + y->span <= x->start,
                              "seed %llu op %d: [%llu,+%llu) overlaps [%llu,+%llu)",
                              (unsigned long long)seed, op, (unsigned long long)x->start,
                              (unsigned long long)x->span, (unsigned long long)y->start,
                              (unsigned long long)y->span);
            }
            used += size;
            n_live++;
        } else {
            int k = (int)(rnd() % (uint64_t)n_live);
            used -= live[k].size;
            pce_pool_free(&pool, &live[k]);
            ck_assert_ptr_null(live[k].block);
            live[k] = live[--n_live];
        }
        ck_assert_msg(pool.bytes_used == used, "seed %llu op %d: bytes_used %llu, want %llu",
                      (unsigned long long)seed, op, (unsigned long long)pool.bytes_used,
                      (unsigned long long)used);
        /* each block's used bytes are the spans of its live allocations */
        for (int i = 0; op % 16 == 0 && i < pool.n_blocks; i++) {
            uint64_t spans = 0;
            for (int j = 0; j < n_live; j++)
                if (live[j].block == pool.blocks[i])
                    spans += live[j].span;
            ck_assert_uint_eq(pool.blocks[i]->used, spans);
        }
        check_pool(seed);
    }
    ck_assert_msg(big > 0, "seed %llu: no dedicated request was drawn", (unsigned long long)seed);
    while (n_live > 0)
        pce_pool_free(&pool, &live[--n_live]);
    /* everything merged back into the one standard block kept for reuse */
    ck_assert_int_eq(pool.n_blocks, 1);
    ck_assert(!pool.blocks[0]->dedicated);
    ck_assert_int_eq(pool.blocks[0]->n_free, 1);
    ck_assert_uint_eq(pool.blocks[0]->free[0].offset, 0);
    ck_assert_uint_eq(pool.blocks[0]->free[0].size, pool.block_size);
    ck_assert_uint_eq(pool.bytes_used, 0);
    finish_pool();
}
END_TEST

START_TEST(freed_neighbours_merge_into_a_full_block)
{
    uint64_t seed = fresh_seed();
    rng_state = seed;
    enum { N = 16 };
    init_pool(4096, 0, -1);
    pce_pool_slice a[N];
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(pce_pool_alloc(&pool, 256, 256, &a[i]), PCE_POOL_OK);
        ck_assert_uint_eq(a[i].offset, (uint64_t)i * 256);
    }
    ck_assert_int_eq(dev.allocs, 1);
    ck_assert_int_eq(pool.blocks[0]->n_free, 0);
    /* every other one first (eight separate holes), then the rest in a
     * random order so each free joins a hole on one side, both, or none */
    for (int i = 0; i < N; i += 2)
        pce_pool_free(&pool, &a[i]);
    ck_assert_int_eq(pool.blocks[0]->n_free, N / 2);
    int odd[N / 2];
    for (int i = 0; i < N / 2; i++)
        odd[i] = 2 * i + 1;
    for (int i = N / 2 - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint64_t)(i + 1)), t = odd[i];
        odd[i] = odd[j];
        odd[j] = t;
    }
    for (int i = 0; i < N / 2; i++)
        pce_pool_free(&pool, &a[odd[i]]);
    ck_assert_int_eq(pool.n_blocks, 1); /* the only empty standard block: kept */
    ck_assert_int_eq(pool.blocks[0]->n_free, 1);
    pce_pool_slice whole;
    ck_assert_int_eq(pce_pool_alloc(&pool, 4096, 4096, &whole), PCE_POOL_OK);
    ck_assert_uint_eq(whole.offset, 0);
    ck_assert_int_eq(dev.allocs, 1); /* the kept block, not a new one */
    ck_assert_int_eq(pool.blocks[0]->n_free, 0);
    pce_pool_free(&pool, &whole);
    finish_pool();
}
END_TEST

START_TEST(best_fit_takes_the_smallest_hole_that_fits)
{
    init_pool(4096, 0, -1);
    pce_pool_slice a[8], b[3];
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(pce_pool_alloc(&pool, 512, 1, &a[i]), PCE_POOL_OK);
    /* block 0 holes: 512 at 512, 1024 at 1536, 512 at 3072 */
    pce_pool_free(&pool, &a[1]);
    pce_pool_free(&pool, &a[3]);
    pce_pool_free(&pool, &a[4]);
    pce_pool_free(&pool, &a[6]);
    ck_assert_int_eq(pool.blocks[0]->n_free, 3);
    pce_pool_slice x, y, z, w;
    ck_assert_int_eq(pce_pool_alloc(&pool, 400, 1, &x), PCE_POOL_OK);
    ck_assert_uint_eq(x.offset, 512); /* first of the two 512 holes */
    ck_assert_int_eq(pce_pool_alloc(&pool, 700, 1, &y), PCE_POOL_OK);
    ck_assert_uint_eq(y.offset, 1536); /* only the 1024 hole holds it */
    /* 200 bytes aligned to 512 fits the 512 hole at 3072 (no padding), not
     * the 112-byte remainder at 912 nor the 324 at 2236 */
    ck_assert_int_eq(pce_pool_alloc(&pool, 200, 512, &z), PCE_POOL_OK);
    ck_assert_uint_eq(z.offset, 3072);
    ck_assert_uint_eq(z.span, 200);
    /* 300 bytes at alignment 1: holes now 112 @912, 324 @2236, 312 @3272;
     * best fit is the 312 one */
    ck_assert_int_eq(pce_pool_alloc(&pool, 300, 1, &w), PCE_POOL_OK);
    ck_assert_uint_eq(w.offset, 3272);
    /* across blocks: a second block with one big hole; a 100-byte request
     * still goes to block 0's 112-byte hole */
    ck_assert_int_eq(pce_pool_alloc(&pool, 1000, 1, &b[0]), PCE_POOL_OK);
    ck_assert_ptr_ne(b[0].block, a[0].block);
    ck_assert_int_eq(pce_pool_alloc(&pool, 100, 1, &b[1]), PCE_POOL_OK);
    ck_assert_ptr_eq(b[1].block, a[0].block);
    ck_assert_uint_eq(b[1].offset, 912);
    /* with padding it no longer fits the 324 hole at 2236 (next 256
     * multiple is 2304, leaving 256 < 300): goes to block 1 */
    ck_assert_int_eq(pce_pool_alloc(&pool, 300, 256, &b[2]), PCE_POOL_OK);
    ck_assert_ptr_eq(b[2].block, b[0].block);
    ck_assert_uint_eq(b[2].offset, 1024);
    ck_assert_uint_eq(b[2].start, 1000);
    ck_assert_int_eq(dev.allocs, 2);
    finish_pool(); /* destroy with live allocations frees every block */
}
END_TEST

START_TEST(big_requests_get_dedicated_blocks_released_on_free)
{
    init_pool(4096, 0, -1);
    pce_pool_slice big, small, exact;
    ck_assert_int_eq(pce_pool_alloc(&pool, 10000, 256, &big), PCE_POOL_OK);
    ck_assert(big.block->dedicated);
    ck_assert_uint_eq(big.block->size, 10240); /* 10000 rounded up to 256 */
    ck_assert_uint_eq(big.offset, 0);
    ck_assert_uint_eq(pool.bytes_reserved, 10240);
    ck_assert_uint_eq(pool.bytes_used, 10000);
    /* a small request does not go into the dedicated block's tail */
    ck_assert_int_eq(pce_pool_alloc(&pool, 16, 16, &small), PCE_POOL_OK);
    ck_assert_ptr_ne(small.block, big.block);
    ck_assert(!small.block->dedicated);
    ck_assert_uint_eq(small.block->size, 4096);
    ck_assert_int_eq(pool.n_blocks, 2);
    ck_assert_uint_eq(pool.bytes_reserved, 10240 + 4096);
    pce_pool_free(&pool, &big);
    ck_assert_int_eq(pool.n_blocks, 1);
    ck_assert_int_eq(dev.live, 1);
    ck_assert_uint_eq(pool.bytes_reserved, 4096);
    ck_assert_uint_eq(pool.bytes_used, 16);
    /* exactly block_size, and block_size after rounding: standard blocks */
    pce_pool_free(&pool, &small);
    ck_assert_int_eq(pce_pool_alloc(&pool, 4096, 1, &exact), PCE_POOL_OK);
    ck_assert(!exact.block->dedicated);
    ck_assert_int_eq(dev.allocs, 2); /* reused the kept empty block */
    pce_pool_free(&pool, &exact);
    ck_assert_int_eq(pce_pool_alloc(&pool, 4000, 4096, &exact), PCE_POOL_OK);
    ck_assert(!exact.block->dedicated);
    /* a dedicated block is released even when it is the only empty block */
    pce_pool_free(&pool, &exact);
    finish_pool();
    init_pool(4096, 0, -1);
    ck_assert_int_eq(pce_pool_alloc(&pool, 4097, 1, &big), PCE_POOL_OK);
    ck_assert(big.block->dedicated);
    ck_assert_uint_eq(big.block->size, 4097);
    pce_pool_free(&pool, &big);
    ck_assert_int_eq(pool.n_blocks, 0);
    ck_assert_int_eq(dev.live, 0);
    ck_assert_uint_eq(pool.bytes_reserved, 0);
    finish_pool();
}
END_TEST

START_TEST(one_empty_standard_block_is_kept_a_second_released)
{
    init_pool(1024, 0, -1);
    pce_pool_slice a, b, c;
    ck_assert_int_eq(pce_pool_alloc(&pool, 1024, 1, &a), PCE_POOL_OK);
    ck_assert_int_eq(pce_pool_alloc(&pool, 1000, 1, &b), PCE_POOL_OK);
    ck_assert_ptr_ne(a.block, b.block);
    ck_assert_int_eq(dev.live, 2);
    pce_pool_free(&pool, &a);
    ck_assert_ptr_null(a.block);
    ck_assert_int_eq(dev.live, 2); /* kept for reuse */
    ck_assert_int_eq(pool.n_blocks, 2);
    ck_assert_uint_eq(pool.bytes_reserved, 2048);
    pce_pool_free(&pool, &b);
    ck_assert_int_eq(dev.live, 1); /* another empty one exists: released */
    ck_assert_int_eq(pool.n_blocks, 1);
    ck_assert_uint_eq(pool.bytes_reserved, 1024);
    ck_assert_uint_eq(pool.bytes_used, 0);
    /* create/destroy in a loop does not call ops.alloc again */
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(pce_pool_alloc(&pool, 512, 64, &c), PCE_POOL_OK);
        pce_pool_free(&pool, &c);
    }
    ck_assert_int_eq(dev.allocs, 2);
    /* a cleared allocation freed again is a no-op */
    pce_pool_free(&pool, &c);
    ck_assert_int_eq(pool.n_blocks, 1);
    finish_pool();
}
END_TEST

START_TEST(max_blocks_gives_too_many)
{
    init_pool(1024, 2, -1);
    pce_pool_slice a, b, c;
    ck_assert_int_eq(pce_pool_alloc(&pool, 1024, 1, &a), PCE_POOL_OK);
    ck_assert_int_eq(pce_pool_alloc(&pool, 600, 1, &b), PCE_POOL_OK);
    memset(&c, 0x5a, sizeof c);
    ck_assert_int_eq(pce_pool_alloc(&pool, 600, 1, &c), PCE_POOL_TOO_MANY);
    ck_assert_ptr_null(c.block);
    ck_assert_int_eq(pce_pool_alloc(&pool, 5000, 1, &c), PCE_POOL_TOO_MANY);
    ck_assert_int_eq(dev.calls, 2); /* refused before ops.alloc */
    ck_assert_uint_eq(pool.bytes_used, 1624);
    ck_assert_uint_eq(pool.bytes_reserved, 2048);
    /* what fits a live block still succeeds */
    ck_assert_int_eq(pce_pool_alloc(&pool, 424, 1, &c), PCE_POOL_OK);
    ck_assert_ptr_eq(c.block, b.block);
    pce_pool_free(&pool, &c);
    pce_pool_free(&pool, &a);
    ck_assert_int_eq(pce_pool_alloc(&pool, 600, 1, &c), PCE_POOL_OK);
    finish_pool();
}
END_TEST

START_TEST(failing_block_alloc_gives_no_memory)
{
    init_pool(1024, 0, 1);
    pce_pool_slice a, b, c;
    ck_assert_int_eq(pce_pool_alloc(&pool, 1000, 8, &a), PCE_POOL_OK);
    memset(&b, 0x5a, sizeof b);
    ck_assert_int_eq(pce_pool_alloc(&pool, 1000, 8, &b), PCE_POOL_NO_MEMORY);
    ck_assert_ptr_null(b.block);
    ck_assert_int_eq(pce_pool_alloc(&pool, 100000, 8, &b), PCE_POOL_NO_MEMORY);
    ck_assert_int_eq(pool.n_blocks, 1);
    ck_assert_uint_eq(pool.bytes_reserved, 1024);
    ck_assert_uint_eq(pool.bytes_used, 1000);
    ck_assert_int_eq(pce_pool_alloc(&pool, 24, 8, &c), PCE_POOL_OK);
    ck_assert_uint_eq(c.offset, 1000);
    finish_pool();
    /* no ops at all */
    pce_pool_init(&pool, NULL, 1024, 0);
    ck_assert_int_eq(pce_pool_alloc(&pool, 8, 8, &a), PCE_POOL_NO_MEMORY);
    pce_pool_destroy(&pool);
}
END_TEST

START_TEST(bad_requests_are_refused)
{
    init_pool(1024, 0, -1);
    pce_pool_slice a;
    ck_assert_int_eq(pce_pool_alloc(&pool, 0, 8, &a), PCE_POOL_BAD_REQUEST);
    ck_assert_int_eq(pce_pool_alloc(&pool, 8, 0, &a), PCE_POOL_BAD_REQUEST);
    ck_assert_int_eq(pce_pool_alloc(&pool, 8, 3, &a), PCE_POOL_BAD_REQUEST);
    ck_assert_int_eq(pce_pool_alloc(&pool, 8, 48, &a), PCE_POOL_BAD_REQUEST);
    ck_assert_int_eq(pce_pool_alloc(&pool, UINT64_MAX, 2, &a), PCE_POOL_BAD_REQUEST);
    ck_assert_int_eq(pce_pool_alloc(&pool, 8, 8, NULL), PCE_POOL_BAD_REQUEST);
    ck_assert_int_eq(pce_pool_alloc(NULL, 8, 8, &a), PCE_POOL_BAD_REQUEST);
    ck_assert_ptr_null(a.block);
    ck_assert_int_eq(dev.calls, 0);
    ck_assert_int_eq(pool.n_blocks, 0);
    /* a free of something not from the pool changes nothing */
    ck_assert_int_eq(pce_pool_alloc(&pool, 100, 4, &a), PCE_POOL_OK);
    pce_pool_slice copy = a, foreign = a;
    pce_pool_free(&pool, &a);
    pce_pool_free(&pool, &copy); /* double free through a copy */
    ck_assert_uint_eq(pool.bytes_used, 0);
    ck_assert_int_eq(pool.blocks[0]->n_free, 1);
    ck_assert_uint_eq(pool.blocks[0]->free[0].size, 1024);
    pce_pool_block other = {0};
    foreign.block = &other;
    pce_pool_free(&pool, &foreign);
    pce_pool_free(&pool, NULL);
    pce_pool_free(NULL, &a);
    ck_assert_int_eq(pool.n_blocks, 1);
    finish_pool();
    pce_pool_destroy(&pool); /* twice is safe */
    pce_pool_destroy(NULL);
}
END_TEST

START_TEST(byte_counts_include_padding_only_in_block_used)
{
    init_pool(4096, 0, -1);
    pce_pool_slice a, b;
    ck_assert_int_eq(pce_pool_alloc(&pool, 1, 1, &a), PCE_POOL_OK);
    ck_assert_int_eq(pce_pool_alloc(&pool, 3, 256, &b), PCE_POOL_OK);
    ck_assert_uint_eq(b.offset, 256);
    ck_assert_uint_eq(b.start, 1);
    ck_assert_uint_eq(b.span, 258);
    ck_assert_uint_eq(b.block->used, 259);
    ck_assert_uint_eq(pool.bytes_used, 4);
    ck_assert_uint_eq(pool.bytes_reserved, 4096);
    pce_pool_free(&pool, &a);
    ck_assert_uint_eq(pool.bytes_used, 3);
    ck_assert_uint_eq(pool.blocks[0]->used, 258);
    /* the freed byte is a range of its own: b's padding is still taken */
    ck_assert_int_eq(pool.blocks[0]->n_free, 2);
    ck_assert_uint_eq(pool.blocks[0]->free[0].offset, 0);
    ck_assert_uint_eq(pool.blocks[0]->free[0].size, 1);
    pce_pool_free(&pool, &b);
    ck_assert_int_eq(pool.blocks[0]->n_free, 1);
    ck_assert_uint_eq(pool.blocks[0]->used, 0);
    ck_assert_uint_eq(pool.bytes_used, 0);
    finish_pool();
}
END_TEST

/* The point of the pool: hundreds of tensors, a handful of device allocations. */
START_TEST(hundreds_of_small_allocations_use_few_blocks)
{
    uint64_t seed = fresh_seed();
    rng_state = seed;
    enum { N = 500 };
    const uint64_t block = 1 << 20;
    init_pool(block, 0, -1);
    static pce_pool_slice a[N];
    uint64_t total = 0;
    for (int i = 0; i < N; i++) {
        uint64_t size = rnd_range(64, 4096);
        ck_assert_int_eq(pce_pool_alloc(&pool, size, 256, &a[i]), PCE_POOL_OK);
        total += a[i].span;
    }
    /* at most 500 * (4096 + 255) bytes: three 1 MiB blocks at worst */
    ck_assert_msg(pool.n_blocks <= (int)((total + block - 1) / block) + 1,
                  "seed %llu: %d blocks for %llu bytes", (unsigned long long)seed, pool.n_blocks,
                  (unsigned long long)total);
    ck_assert_int_le(pool.n_blocks, 3);
    ck_assert_int_eq(dev.allocs, pool.n_blocks);
    for (int i = 0; i < N; i++)
        pce_pool_free(&pool, &a[i]);
    ck_assert_int_eq(pool.n_blocks, 1);
    finish_pool();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, offsets_are_aligned_and_inside_the_block);
    tcase_add_test(tc, random_alloc_free_never_overlaps);
    tcase_add_test(tc, freed_neighbours_merge_into_a_full_block);
    tcase_add_test(tc, best_fit_takes_the_smallest_hole_that_fits);
    tcase_add_test(tc, big_requests_get_dedicated_blocks_released_on_free);
    tcase_add_test(tc, one_empty_standard_block_is_kept_a_second_released);
    tcase_add_test(tc, max_blocks_gives_too_many);
    tcase_add_test(tc, failing_block_alloc_gives_no_memory);
    tcase_add_test(tc, bad_requests_are_refused);
    tcase_add_test(tc, byte_counts_include_padding_only_in_block_used);
    tcase_add_test(tc, hundreds_of_small_allocations_use_few_blocks);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
