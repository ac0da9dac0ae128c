/* threadpool.c — see threadpool.h. One job at a time. The caller publishes
 * (fn, arg, n), then one 64-bit claim word (generation, chunk count, next
 * chunk) and bumps a generation counter; every thread, the caller
 * included, claims chunks from the word with compare-and-swap until none
 * is left, and the caller waits until every chunk is done. A worker that
 * wakes late (the machine is busy, it was descheduled) finds nothing left
 * and costs the caller nothing; a worker that read an older job's
 * generation cannot claim a chunk of a newer one, because the generation
 * is part of the word it swaps. */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_ITERS 2000     /* ~0.1 ms of pause: short enough not to starve OpenBLAS threads */
#define CHUNKS_PER_THREAD 4 /* more, smaller chunks: a slow thread holds up less */

/* the claim word: generation (24 bits) | chunks (20 bits) | next (20 bits) */
#define CLAIM_BITS 20
#define CLAIM_MASK ((UINT64_C(1) << CLAIM_BITS) - 1)
#define GEN_MASK ((UINT64_C(1) << 24) - 1)

typedef struct worker {
    pce_threadpool *pool;
    int index;
    pthread_t thread;
} worker;

struct pce_threadpool {
    int n_threads;
    worker *workers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint generation;
    _Atomic uint64_t claim;
    atomic_int done; /* chunks finished in the current job */
    atomic_bool stop;
    /* the current job: stable while any of its chunks is unfinished */
    pce_task_fn fn;
    void *arg;
    int64_t n;
};

/* Claims and runs chunks of job `gen` on thread t until none is left. */
static void run_chunks(pce_threadpool *p, unsigned gen, int t)
{
    for (;;) {
        uint64_t v = atomic_load_explicit(&p->claim, memory_order_acquire);
        if ((v >> (2 * CLAIM_BITS)) != (gen & GEN_MASK))
            return; /* another job's word: ours is over */
        uint64_t chunks = (v >> CLAIM_BITS) & CLAIM_MASK, i = v & CLAIM_MASK;
        if (i >= chunks)
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &v, v + 1, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        /* holding chunk i: the caller cannot start another job until it is
         * done, so fn, arg and n are this job's */
        int64_t b = p->n * (int64_t)i / (int64_t)chunks,
                e = p->n * (int64_t)(i + 1) / (int64_t)chunks;
        if (b < e)
            p->fn(p->arg, b, e, t);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pce_threadpool *p = w->pool;
    /* the pool is created at generation 0; reading the counter here instead
     * would miss a job published before this thread first ran */
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&p->generation, memory_order_acquire) == seen &&
               !atomic_load(&p->stop)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = atomic_load_explicit(&p->generation, memory_order_acquire);
        run_chunks(p, seen, w->index);
    }
}

pce_status pce_threadpool_create(int n_threads, const cpu_set_t *affinity, pce_threadpool **out)
{
    *out = NULL;
    if (n_threads < 1)
        return PCE_ERR_INVALID_ARGUMENT;
    pce_threadpool *p = calloc(1, sizeof *p);
    if (!p)
        return PCE_ERR_OUT_OF_MEMORY;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->claim, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->stop, false);
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads, sizeof *p->workers);
        if (!p->workers) {
            pce_threadpool_destroy(p);
            return PCE_ERR_OUT_OF_MEMORY;
        }
        for (int i = 1; i < n_threads; i++) {
            p->workers[i].pool = p;
            p->workers[i].index = i;
            if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]) != 0) {
                p->n_threads = i; /* join the ones that started */
                pce_threadpool_destroy(p);
                return PCE_ERR_INTERNAL;
            }
            /* best effort: a CPU set the scheduler refuses leaves it free */
            if (affinity)
                (void)pthread_setaffinity_np(p->workers[i].thread, sizeof(cpu_set_t), &affinity[i]);
        }
    }
    *out = p;
    return PCE_OK;
}

void pce_threadpool_destroy(pce_threadpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads && p->workers; i++)
        pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}

int pce_threadpool_size(const pce_threadpool *p)
{
    return p ? p->n_threads : 1;
}

void pce_threadpool_parallel_for(pce_threadpool *p, int64_t n, int64_t grain, pce_task_fn fn,
                                 void *arg)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    int64_t chunks = p ? (int64_t)p->n_threads * CHUNKS_PER_THREAD : 1;
    if (chunks > n / grain)
        chunks = n / grain;
    if (chunks > (int64_t)CLAIM_MASK)
        chunks = (int64_t)CLAIM_MASK;
    if (chunks <= 1 || p->n_threads == 1) {
        fn(arg, 0, n, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    unsigned gen = atomic_load_explicit(&p->generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->claim,
                          ((uint64_t)(gen & GEN_MASK) << (2 * CLAIM_BITS)) |
                              ((uint64_t)chunks << CLAIM_BITS),
                          memory_order_release);
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->generation, gen, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    run_chunks(p, gen, 0);
    while (atomic_load_explicit(&p->done, memory_order_acquire) < (int)chunks)
        cpu_relax();
}
