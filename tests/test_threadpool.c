/* test_threadpool.c — the CPU backend's thread pool: every index of [0, n)
 * is processed exactly once, in contiguous chunks of at least `grain`
 * indices, up to four per thread, thread 0 being the caller; a NULL
 * pool runs inline; many back-to-back small jobs complete (no lost wake-up);
 * bad thread counts are rejected. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "threadpool.h"

#define MAX_CHUNKS 64

typedef struct chunk {
    int64_t begin, end;
    int thread;
    bool on_caller;
} chunk;

typedef struct job {
    atomic_int *count; /* per index */
    int64_t n;
    pthread_t caller;
    atomic_int n_chunks;
    chunk chunks[MAX_CHUNKS];
} job;

static void record_task(void *arg, int64_t begin, int64_t end, int thread)
{
    job *j = arg;
    for (int64_t i = begin; i < end; i++)
        if (i >= 0 && i < j->n)
            atomic_fetch_add_explicit(&j->count[i], 1, memory_order_relaxed);
    int k = atomic_fetch_add(&j->n_chunks, 1);
    if (k < MAX_CHUNKS) {
        j->chunks[k].begin = begin;
        j->chunks[k].end = end;
        j->chunks[k].thread = thread;
        j->chunks[k].on_caller = pthread_equal(pthread_self(), j->caller) != 0;
    }
}

static int cmp_chunk(const void *a, const void *b)
{
    const chunk *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Runs one job of n indices on pool and checks everything about it. */
static void run_and_check(pce_threadpool *pool, int64_t n, int64_t grain)
{
    int size = pce_threadpool_size(pool);
    job *j = calloc(1, sizeof *j);
    ck_assert_ptr_nonnull(j);
    j->count = calloc((size_t)(n > 0 ? n : 1), sizeof *j->count);
    ck_assert_ptr_nonnull(j->count);
    for (int64_t i = 0; i < n; i++)
        atomic_init(&j->count[i], 0);
    j->n = n;
    j->caller = pthread_self();
    atomic_init(&j->n_chunks, 0);

    pce_threadpool_parallel_for(pool, n, grain, record_task, j);

    int nc = atomic_load(&j->n_chunks);
    if (n <= 0) {
        ck_assert_msg(nc == 0, "n=%lld: fn called %d times", (long long)n, nc);
        free(j->count);
        free(j);
        return;
    }
    ck_assert_int_ge(nc, 1);
    ck_assert_msg(nc <= 4 * size, "n=%lld grain=%lld: %d chunks on a pool of %d", (long long)n,
                  (long long)grain, nc, size);
    /* up to four chunks per thread, as many as the grain allows */
    int64_t g = grain < 1 ? 1 : grain;
    int64_t want = n / g < 4 * size ? n / g : 4 * size;
    if (want < 2 || size == 1)
        want = 1;
    ck_assert_msg(nc == want, "n=%lld grain=%lld size=%d: %d chunks, want %lld", (long long)n,
                  (long long)grain, size, nc, (long long)want);
    for (int64_t i = 0; i < n; i++) {
        int c = atomic_load(&j->count[i]);
        ck_assert_msg(c == 1, "n=%lld grain=%lld size=%d: index %lld processed %d times",
                      (long long)n, (long long)grain, size, (long long)i, c);
    }
    for (int k = 0; k < nc; k++) {
        const chunk *c = &j->chunks[k];
        ck_assert_msg(c->thread >= 0 && c->thread < size, "thread %d on a pool of %d", c->thread,
                      size);
        /* thread 0 is the caller; the others are workers */
        ck_assert_msg(c->on_caller == (c->thread == 0), "thread %d %s the caller", c->thread,
                      c->on_caller ? "is" : "is not");
        ck_assert_int_lt(c->begin, c->end);
        int64_t min_len = g < n ? g : n;
        ck_assert_msg(c->end - c->begin >= min_len, "chunk [%lld, %lld) shorter than grain %lld",
                      (long long)c->begin, (long long)c->end, (long long)g);
    }
    /* the chunks tile [0, n) */
    qsort(j->chunks, (size_t)nc, sizeof j->chunks[0], cmp_chunk);
    ck_assert_int_eq(j->chunks[0].begin, 0);
    for (int k = 1; k < nc; k++)
        ck_assert_int_eq(j->chunks[k].begin, j->chunks[k - 1].end);
    ck_assert_int_eq(j->chunks[nc - 1].end, n);
    free(j->count);
    free(j);
}

static const int pool_sizes[] = {1, 2, 3, 8};

START_TEST(test_create_sizes)
{
    pce_threadpool *pool = NULL;
    ck_assert_int_eq(pce_threadpool_create(pool_sizes[_i], NULL, &pool), PCE_OK);
    ck_assert_ptr_nonnull(pool);
    ck_assert_int_eq(pce_threadpool_size(pool), pool_sizes[_i]);
    pce_threadpool_destroy(pool);
}
END_TEST

START_TEST(test_create_destroy_repeatedly)
{
    for (int i = 0; i < 50; i++) {
        pce_threadpool *pool = NULL;
        ck_assert_int_eq(pce_threadpool_create(1 + i % 4, NULL, &pool), PCE_OK);
        if (i % 2)
            run_and_check(pool, 100, 1);
        pce_threadpool_destroy(pool);
    }
}
END_TEST

START_TEST(test_coverage)
{
    static const int64_t ns[] = {0, 1, 2, 7, 1000, 100003};
    static const int64_t grains[] = {1, 16, 1000};
    pce_threadpool *pool = NULL;
    ck_assert_int_eq(pce_threadpool_create(pool_sizes[_i], NULL, &pool), PCE_OK);
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof grains / sizeof grains[0]; b++)
            run_and_check(pool, ns[a], grains[b]);
    /* a grain below 1 counts as 1; a grain above n gives one chunk */
    run_and_check(pool, 50, 0);
    run_and_check(pool, 50, -5);
    run_and_check(pool, 50, 51);
    run_and_check(pool, -3, 1);
    pce_threadpool_destroy(pool);
}
END_TEST

START_TEST(test_null_pool_inline)
{
    ck_assert_int_eq(pce_threadpool_size(NULL), 1);
    static const int64_t ns[] = {1, 7, 100003};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        run_and_check(NULL, ns[a], 1);
        run_and_check(NULL, ns[a], 1000);
    }
    pce_threadpool_destroy(NULL); /* no-op */
}
END_TEST

typedef struct sum_job {
    atomic_llong sum;
    atomic_int calls;
} sum_job;

static void sum_task(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    sum_job *s = arg;
    long long acc = 0;
    for (int64_t i = begin; i < end; i++)
        acc += i + 1;
    atomic_fetch_add_explicit(&s->sum, acc, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->calls, 1, memory_order_relaxed);
}

/* Many back-to-back tiny jobs: each must see its whole range done before
 * parallel_for returns (a lost wake-up would hang here; the test case's
 * timeout turns that into a failure). */
static void back_to_back(int threads, int jobs)
{
    pce_threadpool *pool = NULL;
    ck_assert_int_eq(pce_threadpool_create(threads, NULL, &pool), PCE_OK);
    sum_job s;
    for (int k = 0; k < jobs; k++) {
        int64_t n = 1 + k % 37; /* some jobs use fewer chunks than threads */
        atomic_init(&s.sum, 0);
        atomic_init(&s.calls, 0);
        pce_threadpool_parallel_for(pool, n, 1, sum_task, &s);
        long long got = atomic_load(&s.sum);
        ck_assert_msg(got == n * (n + 1) / 2, "job %d (n=%lld, %d threads): sum %lld, want %lld", k,
                      (long long)n, threads, got, (long long)(n * (n + 1) / 2));
        int calls = atomic_load(&s.calls);
        int64_t want = n < 4 * threads ? n : 4 * threads;
        ck_assert_int_eq(calls, want < 2 ? 1 : want);
    }
    pce_threadpool_destroy(pool);
}

START_TEST(test_back_to_back_2)
{
    back_to_back(2, 20000);
}
END_TEST
START_TEST(test_back_to_back_3)
{
    back_to_back(3, 20000);
}
END_TEST
START_TEST(test_back_to_back_8)
{
    back_to_back(8, 5000);
}
END_TEST

START_TEST(test_invalid_threads)
{
    pce_threadpool *pool = (pce_threadpool *)&pool; /* not NULL */
    ck_assert_int_eq(pce_threadpool_create(0, NULL, &pool), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(pool);
    pool = (pce_threadpool *)&pool;
    ck_assert_int_eq(pce_threadpool_create(-4, NULL, &pool), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(pool);
}
END_TEST

static Suite *threadpool_suite(void)
{
    Suite *s = suite_create("threadpool");
    TCase *tc = tcase_create("basic");
    /* per test; small enough that a hang in every test still ends before
     * meson's 300 s with the hung tests named */
    tcase_set_timeout(tc, 20);
    tcase_add_loop_test(tc, test_create_sizes, 0, 4);
    tcase_add_test(tc, test_create_destroy_repeatedly);
    tcase_add_loop_test(tc, test_coverage, 0, 4);
    tcase_add_test(tc, test_null_pool_inline);
    tcase_add_test(tc, test_invalid_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("stress");
    tcase_set_timeout(tc, 40); /* a deadlock fails here instead of hanging meson */
    tcase_add_test(tc, test_back_to_back_2);
    tcase_add_test(tc, test_back_to_back_3);
    tcase_add_test(tc, test_back_to_back_8);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(threadpool_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
