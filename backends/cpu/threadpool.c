/* threadpool.c — see threadpool.h. One job at a time: the caller publishes
 * (fn, arg, n, chunks) and bumps a generation counter; workers wake on the
 * counter, run their chunk and count down `pending`. */
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

#define SPIN_ITERS 2000 /* ~0.1 ms of pause: short enough not to starve OpenBLAS threads */

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
    atomic_int pending;
    atomic_bool stop;
    /* the current job */
    pce_task_fn fn;
    void *arg;
    int64_t n;
    int chunks;
};

static void run_chunk(pce_threadpool *p, int t)
{
    if (t >= p->chunks)
        return;
    int64_t b = p->n * t / p->chunks, e = p->n * (t + 1) / p->chunks;
    if (b < e)
        p->fn(p->arg, b, e, t);
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
        seen = atomic_load(&p->generation);
        run_chunk(p, w->index);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
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
    atomic_init(&p->pending, 0);
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
    int64_t chunks = p ? p->n_threads : 1;
    if (chunks > n / grain)
        chunks = n / grain;
    if (chunks <= 1) {
        fn(arg, 0, n, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->chunks = (int)chunks;
    atomic_store(&p->pending, p->n_threads - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    run_chunk(p, 0);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0)
        cpu_relax();
}
