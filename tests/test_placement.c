/* test_placement.c — placement of one graph over several devices, tested
 * with the test-only "partial" backend (tests/partial_backend.c): fallback
 * and its explanation, strict mode, pins, one copy per consumer device,
 * inputs written on another device, memory budgets and offloading, copies
 * through host staging. Every mixed plan's results are compared with the
 * same graph planned on cpu0 alone. */
#include <check.h>
#include <json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "partial_backend.h"
#include "pce.h"

static pce_context *ctx;

static void setup(void)
{
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    pce_context_set_log(ctx, PCE_LOG_ERROR, NULL, NULL);
}

static void teardown(void)
{
    pce_context_destroy(ctx);
    ctx = NULL;
}

#define ELEMWISE (OPBIT(PCE_OP_ADD) | OPBIT(PCE_OP_MUL) | OPBIT(PCE_OP_SCALE))

static pce_device *partial(const char *name, uint64_t ops, uint64_t memory, bool visible)
{
    partial_config cfg = {name, ops, memory, visible};
    pce_device *d = partial_device_add(ctx, &cfg);
    ck_assert_ptr_nonnull(d);
    return d;
}

static void fill(float *v, int64_t n, float seed)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = sinf(seed + 0.37f * (float)i) * 0.5f;
}

static pce_plan *plan(pce_graph *g, const char *devices, bool strict, bool offload)
{
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.devices = devices;
    o.strict = strict;
    o.allow_offload = offload;
    o.poison = true;
    pce_plan *p = NULL;
    pce_status st = pce_plan_create(ctx, g, &o, &p);
    ck_assert_msg(st == PCE_OK, "plan on %s: %s: %s", devices, pce_status_name(st),
                  pce_context_last_error(ctx));
    return p;
}

static void run(pce_plan *p, pce_tensor *const *in, float *const *data, int n_in)
{
    for (int i = 0; i < n_in; i++)
        ck_assert_int_eq(pce_plan_set_input(p, in[i], data[i], pce_tensor_bytes(in[i])), PCE_OK);
    pce_status st = pce_plan_run(p);
    ck_assert_msg(st == PCE_OK, "run: %s", pce_context_last_error(ctx));
}

static float *output(pce_plan *p, pce_tensor *t)
{
    float *v = malloc(pce_tensor_bytes(t));
    ck_assert_int_eq(pce_plan_get_output(p, t, v, pce_tensor_bytes(t)), PCE_OK);
    return v;
}

/* The partial device runs the CPU's kernels: results are bit-identical. */
static void same(const float *a, const float *b, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(a[i] == b[i], "%s[%lld]: %g vs %g", what, (long long)i, a[i], b[i]);
}

static char *explain(pce_plan *p)
{
    size_t len = 0;
    ck_assert_int_eq(pce_plan_explain(p, NULL, 0, &len), PCE_OK);
    char *buf = malloc(len + 1);
    ck_assert_int_eq(pce_plan_explain(p, buf, len + 1, NULL), PCE_OK);
    if (getenv("PCE_TEST_SHOW"))
        fputs(buf, stdout);
    return buf;
}

static json_object *explain_json(pce_plan *p)
{
    size_t len = 0;
    ck_assert_int_eq(pce_plan_explain_json(p, NULL, 0, &len), PCE_OK);
    char *buf = malloc(len + 1);
    ck_assert_int_eq(pce_plan_explain_json(p, buf, len + 1, NULL), PCE_OK);
    json_object *o = json_tokener_parse(buf);
    ck_assert_msg(o != NULL, "explain JSON does not parse: %s", buf);
    free(buf);
    return o;
}

/* x [R, K] · w [N, K]ᵀ -> silu -> add(.., x·wᵀ): silu is not a partial op */
typedef struct mlp {
    pce_graph *g;
    pce_tensor *x, *mm, *act, *y;
    float *w, *xin;
    int64_t rows, k, n;
} mlp;

static void mlp_build(mlp *m, int64_t rows, int64_t k, int64_t n)
{
    m->rows = rows, m->k = k, m->n = n;
    ck_assert_int_eq(pce_graph_create(ctx, &m->g), PCE_OK);
    const int64_t dx[] = {rows, k}, dw[] = {n, k};
    m->w = malloc((size_t)(n * k) * sizeof(float));
    m->xin = malloc((size_t)(rows * k) * sizeof(float));
    fill(m->w, n * k, 1.0f);
    fill(m->xin, rows * k, 2.0f);
    m->x = pce_graph_input(m->g, "x", PCE_DTYPE_F32, 2, dx);
    pce_tensor *w = pce_graph_weight(m->g, "w", PCE_DTYPE_F32, 2, dw, m->w);
    m->mm = pce_matmul(m->g, m->x, pce_transpose(m->g, w));
    pce_tensor_set_name(m->mm, "mm");
    m->act = pce_silu(m->g, m->mm);
    pce_tensor_set_name(m->act, "act");
    m->y = pce_add(m->g, m->act, m->mm);
    pce_tensor_set_name(m->y, "y");
    ck_assert_int_eq(pce_graph_output(m->g, m->y), PCE_OK);
}

static float *mlp_run(mlp *m, pce_plan *p)
{
    run(p, &m->x, &m->xin, 1);
    return output(p, m->y);
}

static void mlp_free(mlp *m)
{
    pce_graph_destroy(m->g);
    free(m->w);
    free(m->xin);
}

START_TEST(fallback_is_loud_and_correct)
{
    partial("partial0", ELEMWISE | OPBIT(PCE_OP_MATMUL), 1ull << 30, true);
    mlp m;
    mlp_build(&m, 8, 32, 16);
    pce_plan *ref = plan(m.g, "cpu0", true, false);
    float *want = mlp_run(&m, ref);
    pce_plan *p = plan(m.g, "partial0,cpu0", false, false);
    float *got = mlp_run(&m, p);
    same(want, got, m.rows * m.n, "y");
    pce_plan_stats st;
    ck_assert_int_eq(pce_plan_get_stats(p, &st), PCE_OK);
    ck_assert_int_eq(st.fallbacks, 1);
    ck_assert_int_eq(st.segments, 3);
    ck_assert_int_eq(st.devices, 2);
    /* mm goes to cpu0 once (silu and nothing else needs it there); act
     * comes back once */
    ck_assert_int_eq(st.copies, 2);
    ck_assert_uint_eq(st.copy_bytes, 2 * 8 * 16 * sizeof(float));
    ck_assert_str_eq(pce_plan_tensor_device(p, m.mm), "partial0");
    ck_assert_str_eq(pce_plan_tensor_device(p, m.act), "cpu0");
    ck_assert_str_eq(pce_plan_tensor_device(p, m.y), "partial0");
    char *txt = explain(p);
    ck_assert_msg(strstr(txt, "fallback: partial0 cannot: silu is not among the partial") &&
                      strstr(txt, "segment 1 on cpu0") && strstr(txt, "copies per run: 2") &&
                      strstr(txt, "fallbacks: 1"),
                  "%s", txt);
    free(txt);
    json_object *j = explain_json(p);
    json_object *nodes = json_object_object_get(j, "nodes");
    int fallbacks = 0;
    for (size_t i = 0; i < json_object_array_length(nodes); i++) {
        json_object *n = json_object_array_get_idx(nodes, i);
        if (!strcmp(json_object_get_string(json_object_object_get(n, "why")), "fallback")) {
            fallbacks++;
            ck_assert_str_eq(json_object_get_string(json_object_object_get(n, "device")), "cpu0");
            ck_assert_str_eq(json_object_get_string(json_object_object_get(n, "op")), "silu");
        }
    }
    ck_assert_int_eq(fallbacks, 1);
    ck_assert_int_eq(json_object_array_length(json_object_object_get(j, "copies")), 2);
    json_object_put(j);
    free(want);
    free(got);
    pce_plan_destroy(ref);
    pce_plan_destroy(p);
    mlp_free(&m);
}
END_TEST

START_TEST(strict_names_node_op_dtype_device)
{
    partial("partial0", ELEMWISE | OPBIT(PCE_OP_MATMUL), 1ull << 30, true);
    mlp m;
    mlp_build(&m, 4, 8, 8);
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.devices = "partial0,cpu0";
    o.strict = true;
    pce_plan *p = NULL;
    ck_assert_int_eq(pce_plan_create(ctx, m.g, &o, &p), PCE_ERR_UNSUPPORTED);
    ck_assert_ptr_null(p);
    const char *msg = pce_context_last_error(ctx);
    ck_assert_msg(strstr(msg, "'act'") && strstr(msg, "silu f32") && strstr(msg, "partial0") &&
                      strstr(msg, "strict"),
                  "%s", msg);
    /* a node no device of the plan runs: every device's reason */
    o.devices = "partial0";
    o.strict = false;
    ck_assert_int_eq(pce_plan_create(ctx, m.g, &o, &p), PCE_ERR_UNSUPPORTED);
    msg = pce_context_last_error(ctx);
    ck_assert_msg(strstr(msg, "none of the plan's devices") && strstr(msg, "partial0: silu"), "%s",
                  msg);
    mlp_free(&m);
}
END_TEST

START_TEST(unknown_devices_are_named)
{
    mlp m;
    mlp_build(&m, 2, 4, 4);
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.devices = "cpu0,gpu9";
    pce_plan *p = NULL;
    ck_assert_int_eq(pce_plan_create(ctx, m.g, &o, &p), PCE_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(pce_context_last_error(ctx), "gpu9"));
    ck_assert_int_eq(pce_tensor_pin(m.act, "npu3"), PCE_OK);
    o.devices = NULL;
    ck_assert_int_eq(pce_plan_create(ctx, m.g, &o, &p), PCE_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(pce_context_last_error(ctx), "npu3"));
    ck_assert_int_eq(pce_tensor_pin(pce_graph_find(m.g, "w"), "cpu0"), PCE_ERR_INVALID_ARGUMENT);
    mlp_free(&m);
}
END_TEST

START_TEST(pins_win_over_the_primary)
{
    partial("partial0", ELEMWISE | OPBIT(PCE_OP_MATMUL) | OPBIT(PCE_OP_SILU), 1ull << 30, true);
    mlp m;
    mlp_build(&m, 6, 16, 8);
    pce_plan *ref = plan(m.g, "cpu0", true, false);
    float *want = mlp_run(&m, ref);
    ck_assert_int_eq(pce_tensor_pin(m.y, "cpu0"), PCE_OK);
    pce_plan *p = plan(m.g, "partial0,cpu0", true, false);
    float *got = mlp_run(&m, p);
    same(want, got, m.rows * m.n, "y");
    ck_assert_str_eq(pce_plan_tensor_device(p, m.act), "partial0");
    ck_assert_str_eq(pce_plan_tensor_device(p, m.y), "cpu0");
    pce_plan_stats st;
    pce_plan_get_stats(p, &st);
    ck_assert_int_eq(st.fallbacks, 0);
    /* y reads mm and act, both made on partial0: two copies */
    ck_assert_int_eq(st.copies, 2);
    char *txt = explain(p);
    ck_assert_msg(strstr(txt, "pinned"), "%s", txt);
    free(txt);
    free(want);
    free(got);
    pce_plan_destroy(ref);
    pce_plan_destroy(p);
    mlp_free(&m);
}
END_TEST

/* a made on cpu0 (silu), then used by partial0 in two separate segments:
 * it crosses once */
START_TEST(one_copy_per_consumer_device)
{
    partial("partial0", ELEMWISE, 1ull << 30, false);
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t d[] = {64};
    pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 1, d);
    pce_tensor *a = pce_silu(g, x);
    pce_tensor_set_name(a, "a");
    pce_tensor *b = pce_add(g, a, a);
    pce_tensor *c = pce_silu(g, b);
    pce_tensor *e = pce_mul(g, c, a);
    pce_tensor *f = pce_scale(g, a, 3.0f);
    pce_graph_output(g, e);
    pce_graph_output(g, f);
    float xin[64];
    fill(xin, 64, 0.5f);
    float *xp = xin;
    pce_plan *ref = plan(g, "cpu0", true, false);
    run(ref, &x, &xp, 1);
    float *we = output(ref, e), *wf = output(ref, f);
    pce_plan *p = plan(g, "partial0,cpu0", false, false);
    run(p, &x, &xp, 1);
    run(p, &x, &xp, 1); /* twice: the schedule is the same each run */
    float *ge = output(p, e), *gf = output(p, f);
    same(we, ge, 64, "e");
    same(wf, gf, 64, "f");
    json_object *j = explain_json(p);
    json_object *copies = json_object_object_get(j, "copies");
    int of_a = 0;
    for (size_t i = 0; i < json_object_array_length(copies); i++) {
        json_object *cp = json_object_array_get_idx(copies, i);
        if (!strcmp(json_object_get_string(json_object_object_get(cp, "tensor")), "a")) {
            of_a++;
            ck_assert_str_eq(json_object_get_string(json_object_object_get(cp, "to")), "partial0");
        }
    }
    ck_assert_int_eq(of_a, 1);
    json_object_put(j);
    pce_plan_stats st;
    pce_plan_get_stats(p, &st);
    ck_assert_int_eq(st.runs, 2);
    ck_assert_int_eq(st.fallbacks, 2);
    free(we);
    free(wf);
    free(ge);
    free(gf);
    pce_plan_destroy(ref);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}
END_TEST

/* A cache (input) written on partial0 by set_rows and read on cpu0: the
 * reader gets the new rows, the cache keeps them across runs, and
 * get_output sees them. */
START_TEST(input_written_on_another_device)
{
    partial("partial0", ELEMWISE | OPBIT(PCE_OP_SET_ROWS), 1ull << 30, false);
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t dc[] = {8, 4}, dr[] = {1, 4}, di[] = {1};
    pce_tensor *cache = pce_graph_input(g, "cache", PCE_DTYPE_F32, 2, dc);
    pce_tensor *row = pce_graph_input(g, "row", PCE_DTYPE_F32, 2, dr);
    pce_tensor *pos = pce_graph_input(g, "pos", PCE_DTYPE_I32, 1, di);
    pce_tensor *upd = pce_set_rows(g, cache, pce_scale(g, row, 2.0f), pos);
    pce_tensor *sum = pce_sum_rows(g, pce_silu(g, upd)); /* on cpu0 */
    pce_graph_output(g, sum);
    pce_graph_output(g, upd);
    pce_plan *ref = plan(g, "cpu0", true, false);
    pce_plan *p = plan(g, "partial0,cpu0", false, false);
    ck_assert_str_eq(pce_plan_tensor_device(p, cache), "partial0");
    float zero[32] = {0};
    ck_assert_int_eq(pce_plan_set_input(ref, cache, zero, sizeof zero), PCE_OK);
    ck_assert_int_eq(pce_plan_set_input(p, cache, zero, sizeof zero), PCE_OK);
    for (int step = 0; step < 3; step++) {
        float r[4];
        fill(r, 4, (float)step);
        int32_t at = 2 * step + 1;
        float *rp = r, *ap = (float *)&at;
        pce_tensor *ins[] = {row, pos};
        float *datas[] = {rp, ap};
        run(ref, ins, datas, 2);
        run(p, ins, datas, 2);
        float *ws = output(ref, sum), *gs = output(p, sum);
        same(ws, gs, 8, "sum");
        float wc[32], gc[32];
        ck_assert_int_eq(pce_plan_get_output(ref, cache, wc, sizeof wc), PCE_OK);
        ck_assert_int_eq(pce_plan_get_output(p, cache, gc, sizeof gc), PCE_OK);
        same(wc, gc, 32, "cache");
        free(ws);
        free(gs);
    }
    pce_plan_destroy(ref);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}
END_TEST

/* Two devices the host cannot address: copies go through host staging. */
START_TEST(copies_between_opaque_devices)
{
    partial("partial0", OPBIT(PCE_OP_MATMUL) | OPBIT(PCE_OP_ADD), 1ull << 30, false);
    partial("partial1", OPBIT(PCE_OP_SILU), 1ull << 30, false);
    mlp m;
    mlp_build(&m, 5, 12, 7);
    pce_plan *ref = plan(m.g, "cpu0", true, false);
    float *want = mlp_run(&m, ref);
    pce_plan *p = plan(m.g, "partial0,partial1", false, false);
    float *got = mlp_run(&m, p);
    same(want, got, m.rows * m.n, "y");
    ck_assert_str_eq(pce_plan_tensor_device(p, m.act), "partial1");
    free(want);
    free(got);
    pce_plan_destroy(ref);
    pce_plan_destroy(p);
    mlp_free(&m);
}
END_TEST

/* Four 64 KiB weights on a device with a 200 KiB budget: without offload
 * the plan fails with needed and available bytes per device; with it, the
 * later matmuls run on cpu0 and the results do not change. */
START_TEST(memory_budget_and_offload)
{
    pce_device *pd = partial("partial0", ELEMWISE | OPBIT(PCE_OP_MATMUL), 250 * 1024, false);
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t dx[] = {2, 128}, dw[] = {128, 128};
    float *w[4], xin[256];
    fill(xin, 256, 0.1f);
    pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 2, dx), *h = x;
    for (int i = 0; i < 4; i++) {
        w[i] = malloc(128 * 128 * sizeof(float));
        fill(w[i], 128 * 128, (float)i);
        char name[8];
        snprintf(name, sizeof name, "w%d", i);
        pce_tensor *wt = pce_graph_weight(g, name, PCE_DTYPE_F32, 2, dw, w[i]);
        h = pce_add(g, pce_matmul(g, h, pce_transpose(g, wt)), x);
    }
    pce_graph_output(g, h);
    pce_plan *ref = plan(g, "cpu0", true, false);
    float *xp = xin;
    run(ref, &x, &xp, 1);
    float *want = output(ref, h);

    pce_plan_options o;
    pce_plan_options_init(&o);
    o.devices = "partial0,cpu0";
    pce_plan *p = NULL;
    ck_assert_int_eq(pce_plan_create(ctx, g, &o, &p), PCE_ERR_OUT_OF_MEMORY);
    const char *msg = pce_context_last_error(ctx);
    ck_assert_msg(strstr(msg, "partial0 needs") && strstr(msg, "weights 262144") &&
                      strstr(msg, "budget 204800") && strstr(msg, "allow_offload"),
                  "%s", msg);
    ck_assert_uint_eq(partial_device_used(pd), 0); /* nothing was allocated */

    p = plan(g, "partial0,cpu0", false, true);
    pce_plan_stats st;
    pce_plan_get_stats(p, &st);
    ck_assert_int_gt(st.offloaded, 0);
    ck_assert_int_eq(st.fallbacks, 0);
    ck_assert_uint_le(partial_device_used(pd), 204800);
    run(p, &x, &xp, 1);
    float *got = output(p, h);
    same(want, got, 2 * 128, "h");
    char *txt = explain(p);
    ck_assert_msg(strstr(txt, "offloaded: partial0's weights pass its budget"), "%s", txt);
    free(txt);
    free(want);
    free(got);
    for (int i = 0; i < 4; i++)
        free(w[i]);
    pce_plan_destroy(ref);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}
END_TEST

/* A profile switch ([features] fp16 = off) sends f16 nodes elsewhere, and
 * the reason names the setting. */
START_TEST(feature_switch_moves_f16_nodes)
{
    pce_device *pd = partial("partial0", ELEMWISE, 1ull << 30, true);
    pd->settings.feature[PCE_FEAT_FP16] = 0;
    snprintf(pd->settings.feature_from[PCE_FEAT_FP16], sizeof pd->settings.feature_from[0],
             "test.ini:3");
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t d[] = {16};
    pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 1, d);
    pce_tensor *h = pce_cast(g, pce_scale(g, x, 0.5f), PCE_DTYPE_F16);
    pce_tensor *y = pce_add(g, h, h);
    pce_graph_output(g, y);
    pce_plan *p = plan(g, "partial0,cpu0", false, false);
    ck_assert_str_eq(pce_plan_tensor_device(p, y), "cpu0");
    char *txt = explain(p);
    ck_assert_msg(strstr(txt, "[features] fp16 = off (test.ini:3)"), "%s", txt);
    free(txt);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("placement");
    TCase *tc = tcase_create("partial");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, fallback_is_loud_and_correct);
    tcase_add_test(tc, strict_names_node_op_dtype_device);
    tcase_add_test(tc, unknown_devices_are_named);
    tcase_add_test(tc, pins_win_over_the_primary);
    tcase_add_test(tc, one_copy_per_consumer_device);
    tcase_add_test(tc, input_written_on_another_device);
    tcase_add_test(tc, copies_between_opaque_devices);
    tcase_add_test(tc, memory_budget_and_offload);
    tcase_add_test(tc, feature_switch_moves_f16_nodes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
