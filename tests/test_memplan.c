/* test_memplan.c — the memory planner: liveness, in-place reuse, best-fit
 * reuse, outputs and views kept alive — checked on the plan's numbers and
 * on results (a planner bug shows up as a wrong value). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "memplan.h"
#include "pce.h"

static pce_context *ctx;

static void setup(void)
{
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
}

static void teardown(void)
{
    pce_context_destroy(ctx);
}

static void fill(float *v, int n, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 8) % 2001) / 1000.0f - 1.0f;
    }
}

START_TEST(chain_of_1000_adds_plans_to_a_few_tensors)
{
    enum { N = 1024, L = 1000 };
    static float x[N], w[N], y[N];
    fill(x, N, 1);
    fill(w, N, 2);
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    int64_t d[1] = {N};
    pce_tensor *in = pce_graph_input(g, "x", PCE_DTYPE_F32, 1, d);
    pce_tensor *wt = pce_graph_weight(g, "w", PCE_DTYPE_F32, 1, d, w);
    pce_tensor *t = in;
    for (int i = 0; i < L; i++)
        t = pce_add(g, t, wt);
    ck_assert_int_eq(pce_graph_output(g, t), PCE_OK);
    pce_plan *p;
    ck_assert_int_eq(pce_plan_create(ctx, g, NULL, &p), PCE_OK);
    pce_plan_stats st;
    pce_plan_get_stats(p, &st);
    ck_assert_int_eq(st.nodes, L);
    ck_assert_uint_eq(st.naive_bytes, (uint64_t)L * N * 4);
    ck_assert_uint_le(st.peak_bytes, 2 * N * 4); /* a few tensors, not 1000 */
    ck_assert_int_eq(st.inplace_nodes, L - 1);
    ck_assert_uint_eq(st.weight_bytes, N * 4);
    ck_assert_uint_eq(st.weight_copied_bytes, 0); /* the CPU reads weights in place */
    ck_assert_int_eq(pce_plan_set_input(p, in, x, sizeof x), PCE_OK);
    ck_assert_int_eq(pce_plan_run(p), PCE_OK);
    ck_assert_int_eq(pce_plan_get_output(p, t, y, sizeof y), PCE_OK);
    for (int i = 0; i < N; i++) {
        float want = x[i];
        for (int k = 0; k < L; k++)
            want += w[i];
        ck_assert_float_eq_tol(y[i], want, 1e-3f);
    }
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}
END_TEST

/* a = exp(x); b = neg(a); c = a + b must keep a alive past b. */
START_TEST(value_used_later_is_not_overwritten)
{
    float x[33], out[33];
    fill(x, 33, 3);
    pce_graph *g;
    pce_graph_create(ctx, &g);
    int64_t d[1] = {33};
    pce_tensor *in = pce_graph_input(g, "x", PCE_DTYPE_F32, 1, d);
    pce_tensor *a = pce_exp(g, in);
    pce_tensor *b = pce_scale(g, a, 2.0f);
    pce_tensor *c = pce_add(g, a, b);
    pce_graph_output(g, c);
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.poison = true;
    pce_plan *p;
    ck_assert_int_eq(pce_plan_create(ctx, g, &o, &p), PCE_OK);
    pce_plan_set_input(p, in, x, sizeof x);
    ck_assert_int_eq(pce_plan_run(p), PCE_OK);
    pce_plan_get_output(p, c, out, sizeof out);
    for (int i = 0; i < 33; i++)
        ck_assert_float_eq_tol(out[i], 3.0f * expf(x[i]), 1e-5f * 3.0f * expf(x[i]));
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}
END_TEST

/* An output stays intact while later nodes run; a view keeps its root alive. */
START_TEST(outputs_and_views_stay_alive)
{
    float x[6 * 4], y1[24], y2[24], y3[24];
    fill(x, 24, 4);
    pce_graph *g;
    pce_graph_create(ctx, &g);
    int64_t d[2] = {6, 4};
    pce_tensor *in = pce_graph_input(g, "x", PCE_DTYPE_F32, 2, d);
    pce_tensor *e = pce_exp(g, in);
    pce_graph_output(g, e);
    pce_tensor *n = pce_neg(g, e);                    /* must not run in place of the output e */
    pce_tensor *v = pce_transpose(g, pce_sqr(g, in)); /* root used only via the view */
    pce_tensor *tmp = pce_relu(g, n);
    for (int i = 0; i < 5; i++)
        tmp = pce_add(g, pce_scale(g, tmp, 0.5f), n);
    pce_tensor *last = pce_contiguous(g, v);
    pce_graph_output(g, last);
    pce_graph_output(g, tmp);
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.poison = true;
    pce_plan *p;
    ck_assert_int_eq(pce_plan_create(ctx, g, &o, &p), PCE_OK);
    pce_plan_set_input(p, in, x, sizeof x);
    ck_assert_int_eq(pce_plan_run(p), PCE_OK);
    pce_plan_get_output(p, e, y1, sizeof y1);
    pce_plan_get_output(p, last, y2, sizeof y2);
    pce_plan_get_output(p, tmp, y3, sizeof y3);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++) {
            ck_assert_float_eq_tol(y1[i * 4 + j], expf(x[i * 4 + j]), 1e-5f * expf(x[i * 4 + j]));
            ck_assert_float_eq_tol(y2[j * 6 + i], x[i * 4 + j] * x[i * 4 + j], 1e-6f);
            float nn = -expf(x[i * 4 + j]), t = 0.0f; /* relu(n) = 0 */
            for (int k = 0; k < 5; k++)
                t = t * 0.5f + nn;
            ck_assert_float_eq_tol(y3[i * 4 + j], t, 1e-4f * fabsf(t) + 1e-6f);
        }
    pce_plan_stats st;
    pce_plan_get_stats(p, &st);
    ck_assert_uint_lt(st.peak_bytes, st.naive_bytes);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}
END_TEST

/* The planner itself: freed blocks are reused (best fit) and live ranges
 * never overlap in memory. */
START_TEST(live_ranges_never_overlap)
{
    pce_graph *g;
    pce_graph_create(ctx, &g);
    int64_t d1[1] = {1000}, d2[1] = {100};
    pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 1, d1);
    pce_tensor *y = pce_graph_input(g, "y", PCE_DTYPE_F32, 1, d2);
    pce_tensor *a = pce_exp(g, x);      /* 4000 bytes */
    pce_tensor *b = pce_sum_rows(g, a); /* a dies here */
    pce_tensor *c = pce_exp(g, y);      /* 400 bytes: fits in a's hole */
    pce_tensor *e = pce_add(g, pce_reshape(g, c, 1, d2), pce_exp(g, y));
    pce_tensor *f = pce_add(g, e, pce_sum_rows(g, pce_exp(g, x)));
    (void)b;
    pce_graph_output(g, f);
    pce_graph_output(g, b);
    ck_assert_int_eq(pce_graph_status(g), PCE_OK);
    int order[64], n = 0;
    for (int i = 0; i < g->n_tensors; i++)
        if (g->tensors[i]->op != PCE_OP_LEAF && g->tensors[i]->op != PCE_OP_VIEW)
            order[n++] = i;
    pce_memplan mp;
    ck_assert_int_eq(pce_memplan_build(ctx, g, order, n, NULL, &mp), PCE_OK);
    /* c reuses a's freed space */
    ck_assert_int_eq(mp.offset[c->id], mp.offset[a->id]);
    /* b (an output) overlaps nothing allocated after it */
    for (int i = 0; i < n; i++) {
        const pce_tensor *t = g->tensors[order[i]];
        if (t == b || t->base || mp.offset[t->id] < 0)
            continue;
        int64_t s = mp.offset[t->id], e2 = s + (int64_t)pce_tensor_bytes(t);
        int64_t bs = mp.offset[b->id], be = bs + 4;
        if (t->id > b->id)
            ck_assert_msg(e2 <= bs || s >= be, "tensor %s overlaps output %s", t->name, b->name);
    }
    ck_assert_uint_lt(mp.arena_bytes, mp.naive_bytes);
    pce_memplan_free(&mp);
    pce_graph_destroy(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("memplan");
    TCase *tc = tcase_create("memplan");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, chain_of_1000_adds_plans_to_a_few_tensors);
    tcase_add_test(tc, value_used_later_is_not_overwritten);
    tcase_add_test(tc, outputs_and_views_stay_alive);
    tcase_add_test(tc, live_ranges_never_overlap);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
