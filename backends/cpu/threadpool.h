/* threadpool.h — the CPU backend's worker threads.
 * A fixed set of workers that split an index range [0, n) statically; the
 * calling thread takes part. Workers spin briefly, then sleep, so an idle
 * pool costs nothing and back-to-back small kernels stay cheap. */
#ifndef PCE_THREADPOOL_H
#define PCE_THREADPOOL_H

#include <sched.h>
#include <stdint.h>

#include "pce.h"

typedef struct pce_threadpool pce_threadpool;

/* fn processes indices [begin, end) on thread `thread` (0 = caller). */
typedef void (*pce_task_fn)(void *arg, int64_t begin, int64_t end, int thread);

/* n_threads >= 1 (1: no workers, everything runs on the caller).
 * affinity: NULL, or for each worker 1..n_threads-1 the CPUs it may run on
 * (affinity[i] for worker i; entry 0, the caller, is not applied: the
 * calling thread's affinity is its owner's business). */
pce_status pce_threadpool_create(int n_threads, const cpu_set_t *affinity, pce_threadpool **out);
void pce_threadpool_destroy(pce_threadpool *pool);
int pce_threadpool_size(const pce_threadpool *pool);
/* Splits [0, n) into contiguous chunks (up to four per thread, each at
 * least `grain` indices) that the threads claim as they come free, the
 * caller (thread 0) included, and waits for all of them. A thread may run
 * several chunks, one after another; two chunks never run at once on one
 * thread index, so per-thread scratch indexed by `thread` is safe. A NULL
 * pool, or too little work for two chunks, runs fn(arg, 0, n, 0) inline.
 * Not reentrant. */
void pce_threadpool_parallel_for(pce_threadpool *pool, int64_t n, int64_t grain, pce_task_fn fn,
                                 void *arg);

#endif
