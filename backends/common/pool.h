/* pool.h — the GPU backends' device memory suballocator (Vulkan now, CUDA
 * and HIP next), kept free of vendor calls so it is unit-tested without a
 * device.
 *
 * A pool hands out ranges of large blocks (one device allocation each), so a
 * plan with hundreds of tensors makes a handful of vkAllocateMemory calls and
 * never comes near maxMemoryAllocationCount. A request larger than the block
 * size gets a block of its own (a dedicated allocation). Blocks come from and
 * go back to the caller through two callbacks; the pool only does the
 * bookkeeping: per block a sorted free list with neighbour merging, best fit
 * across blocks, alignment per request. An empty block is returned to the
 * caller at once unless it is the only standard-size block left (kept for
 * reuse, so a plan created and destroyed in a loop does not thrash). */
#ifndef PCE_POOL_H
#define PCE_POOL_H

#include <stdbool.h>
#include <stdint.h>

typedef struct pce_pool_block_ops {
    /* Allocates a block of `size` bytes; returns 0 and sets *handle, or
     * nonzero (out of memory, or the allocation-count limit). */
    int (*alloc)(void *user, uint64_t size, void **handle);
    void (*free)(void *user, void *handle);
    void *user;
} pce_pool_block_ops;

typedef struct pce_pool_range {
    uint64_t offset, size;
} pce_pool_range;

typedef struct pce_pool_block {
    void *handle;         /* from ops.alloc */
    uint64_t size;        /* bytes */
    uint64_t used;        /* bytes handed out (after alignment padding) */
    bool dedicated;       /* made for one request larger than block_size; holds
                             only that one (best fit skips it) */
    pce_pool_range *free; /* sorted by offset, neighbours merged */
    int n_free, cap_free;
} pce_pool_block;

typedef struct pce_pool {
    pce_pool_block_ops ops;
    uint64_t block_size;     /* size of standard blocks */
    uint32_t max_blocks;     /* limit on live blocks (0: none) */
    pce_pool_block **blocks; /* grows as needed */
    int n_blocks, cap_blocks;
    uint64_t bytes_reserved; /* sum of block sizes */
    uint64_t bytes_used;     /* sum of live allocation sizes */
} pce_pool;

/* One live allocation. */
typedef struct pce_pool_slice {
    pce_pool_block *block;
    uint64_t offset; /* aligned start inside the block */
    uint64_t size;   /* the size asked for */
    uint64_t span;   /* bytes taken from the free list (with padding) */
    uint64_t start;  /* where the taken range starts (offset - padding) */
} pce_pool_slice;

/* Result codes of pce_pool_alloc. */
enum {
    PCE_POOL_OK = 0,
    PCE_POOL_NO_MEMORY = 1,   /* ops.alloc failed */
    PCE_POOL_TOO_MANY = 2,    /* max_blocks reached */
    PCE_POOL_BAD_REQUEST = 3, /* size 0, alignment not a power of two */
    PCE_POOL_NO_HOST_MEM = 4, /* malloc for bookkeeping failed */
};

void pce_pool_init(pce_pool *pool, const pce_pool_block_ops *ops, uint64_t block_size,
                   uint32_t max_blocks);
/* Frees every block (live allocations included) and the bookkeeping; the
 * pool is left empty with its ops and limits, safe to use or destroy again. */
void pce_pool_destroy(pce_pool *pool);
/* Takes `size` bytes aligned to `alignment` (a power of two; 0 is a bad
 * request). Returns PCE_POOL_*; on failure *out is cleared. */
int pce_pool_alloc(pce_pool *pool, uint64_t size, uint64_t alignment, pce_pool_slice *out);
/* Gives an allocation back; *a is cleared. A cleared, foreign or already
 * freed allocation is ignored. If host memory runs out for the free list,
 * the range stays taken until the block is released (never a crash). */
void pce_pool_free(pce_pool *pool, pce_pool_slice *a);

#endif
