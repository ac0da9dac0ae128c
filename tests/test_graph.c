/* test_graph.c — the graph builder through the public API: result shapes
 * and dtypes of the ops, views (reshape, permute, transpose, slice) and
 * their contiguity, validation errors (NULL + sticky status + a message
 * naming the op and the shapes), the sticky-error rules, tensor accessors,
 * and that a plan keeps its graph alive after pce_graph_destroy. */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pce.h"

#define F32 PCE_DTYPE_F32
#define F16 PCE_DTYPE_F16
#define BF16 PCE_DTYPE_BF16
#define I32 PCE_DTYPE_I32
#define I8 PCE_DTYPE_I8

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define NDIMS(...) ((int)(sizeof DIMS(__VA_ARGS__) / sizeof(int64_t)))
/* An input with the given dims: INPUT(g, "x", F32, 2, 3). */
#define INPUT(g, name, dt, ...)                                                                    \
    pce_graph_input((g), (name), (dt), NDIMS(__VA_ARGS__), DIMS(__VA_ARGS__))
/* Asserts t's dtype and user-visible dims. */
#define SHAPE(t, dt, ...) check_shape((t), (dt), NDIMS(__VA_ARGS__), DIMS(__VA_ARGS__), __LINE__)

static float weight_data[4096]; /* backing store for weights (contents unused) */

static pce_context *ctx;
static pce_graph *g;

static void setup(void)
{
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(pce_graph_status(g), PCE_OK);
    ck_assert_str_eq(pce_graph_error(g), "");
}

static void teardown(void)
{
    pce_graph_destroy(g);
    g = NULL;
    pce_context_destroy(ctx);
    ctx = NULL;
}

static void check_shape(const pce_tensor *t, pce_dtype dt, int ndim, const int64_t *dims, int line)
{
    ck_assert_msg(t != NULL, "line %d: tensor is NULL (graph error: %s)", line, pce_graph_error(g));
    ck_assert_msg(pce_tensor_dtype(t) == dt, "line %d: dtype %d, want %d", line,
                  (int)pce_tensor_dtype(t), (int)dt);
    ck_assert_msg(pce_tensor_ndim(t) == ndim, "line %d: ndim %d, want %d", line, pce_tensor_ndim(t),
                  ndim);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        ck_assert_msg(pce_tensor_dim(t, i) == dims[i], "line %d: dim %d is %lld, want %lld", line,
                      i, (long long)pce_tensor_dim(t, i), (long long)dims[i]);
        numel *= dims[i];
    }
    ck_assert_msg(pce_tensor_numel(t) == numel, "line %d: numel %lld, want %lld", line,
                  (long long)pce_tensor_numel(t), (long long)numel);
    ck_assert_int_eq(pce_graph_status(g), PCE_OK);
}

/* Asserts that the builder call returned NULL, that the graph is in error
 * with `st`, and that the message contains each of the NULL-terminated
 * strings. */
static void expect_fail(const pce_tensor *t, pce_status st, int line, ...)
{
    ck_assert_msg(t == NULL, "line %d: expected NULL, got a tensor", line);
    ck_assert_msg(pce_graph_status(g) == st, "line %d: status %s, want %s (message '%s')", line,
                  pce_status_name(pce_graph_status(g)), pce_status_name(st), pce_graph_error(g));
    const char *msg = pce_graph_error(g);
    va_list ap;
    va_start(ap, line);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
        ck_assert_msg(strstr(msg, s) != NULL, "line %d: message '%s' lacks '%s'", line, msg, s);
    va_end(ap);
}
#define EXPECT_FAIL(t, ...)                                                                        \
    expect_fail((t), PCE_ERR_INVALID_ARGUMENT, __LINE__, __VA_ARGS__, (const char *)NULL)

/* ---- result shapes ------------------------------------------------------ */

START_TEST(test_shapes_elementwise)
{
    pce_tensor *a = INPUT(g, "a", F32, 2, 1, 5);
    pce_tensor *b = INPUT(g, "b", F32, 3, 1);
    SHAPE(a, F32, 2, 1, 5);
    SHAPE(pce_add(g, a, b), F32, 2, 3, 5);
    SHAPE(pce_sub(g, b, a), F32, 2, 3, 5);
    SHAPE(pce_mul(g, a, b), F32, 2, 3, 5);
    SHAPE(pce_div(g, a, b), F32, 2, 3, 5);
    pce_tensor *v = INPUT(g, "v", F32, 4);
    pce_tensor *c = INPUT(g, "c", F32, 3, 1);
    SHAPE(pce_add(g, v, c), F32, 3, 4);
    SHAPE(pce_add(g, c, v), F32, 3, 4);
    pce_tensor *h = INPUT(g, "h", F16, 6, 7);
    pce_tensor *h1 = INPUT(g, "h1", F16, 1);
    SHAPE(pce_add(g, h, h1), F16, 6, 7);
    pce_tensor *unary[] = {pce_scale(g, h, 2.0f), pce_neg(g, h),  pce_abs(g, h),
                           pce_sqr(g, h),         pce_sqrt(g, h), pce_exp(g, h),
                           pce_tanh(g, h),        pce_relu(g, h), pce_gelu(g, h),
                           pce_gelu_erf(g, h),    pce_silu(g, h), pce_swiglu(g, h, h),
                           pce_contiguous(g, h)};
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++)
        SHAPE(unary[i], F16, 6, 7);
    pce_tensor *bf = INPUT(g, "bf", BF16, 2, 3, 4, 5);
    SHAPE(pce_silu(g, bf), BF16, 2, 3, 4, 5);
    SHAPE(pce_rms_norm(g, bf, INPUT(g, "rw", BF16, 5), 1e-5f), BF16, 2, 3, 4, 5);
    SHAPE(pce_layer_norm(g, bf, NULL, INPUT(g, "lb", F32, 5), 1e-5f), BF16, 2, 3, 4, 5);
    /* 9 leaves and 23 op nodes */
    ck_assert_int_eq(pce_graph_node_count(g), 32);
}
END_TEST

START_TEST(test_shapes_matmul)
{
    pce_tensor *a = INPUT(g, "a", F32, 2, 1, 5, 7);
    pce_tensor *b = INPUT(g, "b", F32, 3, 7, 4);
    SHAPE(pce_matmul(g, a, b), F32, 2, 3, 5, 4);
    /* mixed dtypes, result f32 */
    pce_tensor *x = INPUT(g, "x", F16, 5, 7);
    pce_tensor *w = pce_graph_weight(g, "w", BF16, 2, DIMS(4, 7), weight_data);
    SHAPE(w, BF16, 4, 7);
    pce_tensor *wt = pce_transpose(g, w);
    SHAPE(wt, BF16, 7, 4);
    SHAPE(pce_matmul(g, x, wt), F32, 5, 4);
    /* 2-D by 3-D broadcasts the batch */
    pce_tensor *m = INPUT(g, "m", F32, 6, 3, 7, 2);
    SHAPE(pce_matmul(g, x, m), F32, 6, 3, 5, 2);
    /* a vector is not a matrix */
    EXPECT_FAIL(pce_matmul(g, INPUT(g, "vec", F32, 7), b), "matmul", "[7] f32", "[3, 7, 4]");
}
END_TEST

START_TEST(test_shapes_reductions)
{
    pce_tensor *a = INPUT(g, "a", F16, 2, 3, 5);
    SHAPE(pce_sum_rows(g, a), F16, 2, 3, 1);
    SHAPE(pce_mean_rows(g, a), F16, 2, 3, 1);
    SHAPE(pce_max_rows(g, a), F16, 2, 3, 1);
    SHAPE(pce_argmax(g, a), I32, 2, 3, 1);
    pce_tensor *v = INPUT(g, "v", F32, 9);
    SHAPE(pce_sum_rows(g, v), F32, 1);
    SHAPE(pce_argmax(g, v), I32, 1);
}
END_TEST

START_TEST(test_shapes_rows_concat_cast)
{
    pce_tensor *table = pce_graph_weight(g, "table", F16, 2, DIMS(10, 6), weight_data);
    pce_tensor *ids = INPUT(g, "ids", I32, 4);
    SHAPE(pce_get_rows(g, table, ids), F32, 4, 6);

    pce_tensor *cache = INPUT(g, "cache", F16, 10, 6);
    pce_tensor *rows = INPUT(g, "rows", F32, 4, 6);
    SHAPE(pce_set_rows(g, cache, rows, ids), F16, 10, 6);
    SHAPE(pce_copy_into(g, rows, pce_slice(g, INPUT(g, "kv", F32, 8, 6), 0, 2, 6)), F32, 4, 6);

    pce_tensor *a = INPUT(g, "a", F32, 2, 3);
    pce_tensor *b = INPUT(g, "b", F32, 2, 5);
    pce_tensor *c = INPUT(g, "c", F32, 4, 3);
    SHAPE(pce_concat(g, a, b, 1), F32, 2, 8);
    SHAPE(pce_concat(g, a, b, -1), F32, 2, 8);
    SHAPE(pce_concat(g, a, c, 0), F32, 6, 3);
    SHAPE(pce_concat(g, a, c, -2), F32, 6, 3);

    SHAPE(pce_cast(g, a, I32), I32, 2, 3);
    SHAPE(pce_cast(g, a, F16), F16, 2, 3);
    SHAPE(pce_cast(g, pce_cast(g, a, I8), BF16), BF16, 2, 3);

    pce_tensor *x = INPUT(g, "x", F32, 2, 4, 5);
    SHAPE(pce_softmax(g, x, INPUT(g, "mask", F32, 4, 5), 0.5f), F32, 2, 4, 5);
    SHAPE(pce_softmax(g, x, NULL, 1.0f), F32, 2, 4, 5);
    SHAPE(pce_causal_mask(g, x, 1), F32, 2, 4, 5);
    pce_tensor *q = INPUT(g, "q", F32, 3, 2, 8);
    pce_tensor *pos = INPUT(g, "pos", I32, 3);
    SHAPE(pce_rope(g, q, pos, 8, 10000.0f, PCE_ROPE_NORMAL), F32, 3, 2, 8);
    SHAPE(pce_rope(g, q, pos, 4, 10000.0f, PCE_ROPE_NEOX), F32, 3, 2, 8);
}
END_TEST

START_TEST(test_concat_mismatch)
{
    pce_tensor *a = INPUT(g, "a", F32, 2, 3);
    pce_tensor *b = INPUT(g, "b", F32, 4, 5);
    EXPECT_FAIL(pce_concat(g, a, b, 1), "concat", "[2, 3]", "[4, 5]");
}
END_TEST

/* ---- views -------------------------------------------------------------- */

START_TEST(test_reshape)
{
    pce_tensor *a = INPUT(g, "a", F32, 2, 3, 4);
    SHAPE(pce_reshape(g, a, 2, DIMS(-1, 4)), F32, 6, 4);
    SHAPE(pce_reshape(g, a, 2, DIMS(4, -1)), F32, 4, 6);
    SHAPE(pce_reshape(g, a, 1, DIMS(-1)), F32, 24);
    SHAPE(pce_reshape(g, a, 4, DIMS(1, 2, -1, 3)), F32, 1, 2, 4, 3);
    pce_tensor *r = pce_reshape(g, a, 2, DIMS(24, 1));
    SHAPE(r, F32, 24, 1);
    ck_assert(pce_tensor_is_contiguous(r));
    /* reshape of a reshape */
    SHAPE(pce_reshape(g, r, 3, DIMS(3, 2, 4)), F32, 3, 2, 4);
    /* -1 must divide */
    EXPECT_FAIL(pce_reshape(g, a, 2, DIMS(5, -1)), "reshape", "[2, 3, 4]");
}
END_TEST

START_TEST(test_reshape_two_wildcards)
{
    pce_tensor *a = INPUT(g, "a", F32, 2, 3, 4);
    EXPECT_FAIL(pce_reshape(g, a, 3, DIMS(-1, -1, 4)), "reshape");
}
END_TEST

START_TEST(test_reshape_wrong_count)
{
    pce_tensor *a = INPUT(g, "a", F32, 2, 3, 4);
    EXPECT_FAIL(pce_reshape(g, a, 2, DIMS(5, 5)), "reshape", "[2, 3, 4]", "24");
}
END_TEST

START_TEST(test_reshape_bad_ndim)
{
    pce_tensor *a = INPUT(g, "a", F32, 2, 3, 4);
    EXPECT_FAIL(pce_reshape(g, a, 5, DIMS(1, 1, 2, 3, 4)), "reshape");
}
END_TEST

START_TEST(test_reshape_not_contiguous)
{
    pce_tensor *a = INPUT(g, "amat", F32, 7, 33);
    pce_tensor *t = pce_transpose(g, a);
    SHAPE(t, F32, 33, 7);
    ck_assert(!pce_tensor_is_contiguous(t));
    EXPECT_FAIL(pce_reshape(g, t, 1, DIMS(231)), "reshape", "not contiguous", "[33, 7]");
}
END_TEST

START_TEST(test_permute_transpose)
{
    pce_tensor *a = INPUT(g, "a", F32, 2, 3, 4);
    ck_assert(pce_tensor_is_contiguous(a));
    pce_tensor *p = pce_permute(g, a, (const int[]){2, 0, 1});
    SHAPE(p, F32, 4, 2, 3);
    ck_assert(!pce_tensor_is_contiguous(p));
    pce_tensor *id = pce_permute(g, a, (const int[]){0, 1, 2});
    SHAPE(id, F32, 2, 3, 4);
    ck_assert(pce_tensor_is_contiguous(id));
    pce_tensor *t = pce_transpose(g, a);
    SHAPE(t, F32, 2, 4, 3);
    ck_assert(!pce_tensor_is_contiguous(t));
    /* transposing twice is contiguous again */
    pce_tensor *tt = pce_transpose(g, t);
    SHAPE(tt, F32, 2, 3, 4);
    ck_assert(pce_tensor_is_contiguous(tt));
    /* swapping a dim of size 1 does not move any data */
    pce_tensor *row = INPUT(g, "row", F32, 1, 5);
    pce_tensor *col = pce_transpose(g, row);
    SHAPE(col, F32, 5, 1);
    ck_assert(pce_tensor_is_contiguous(col));
    /* the contiguous copy of a transpose is contiguous and can be reshaped */
    pce_tensor *c = pce_contiguous(g, t);
    ck_assert(pce_tensor_is_contiguous(c));
    SHAPE(pce_reshape(g, c, 2, DIMS(8, 3)), F32, 8, 3);
    /* the swapped pair of a 4-D tensor is the last two */
    pce_tensor *q = INPUT(g, "q", F32, 2, 3, 4, 5);
    SHAPE(pce_transpose(g, q), F32, 2, 3, 5, 4);
    SHAPE(pce_permute(g, q, (const int[]){0, 2, 1, 3}), F32, 2, 4, 3, 5);
}
END_TEST

START_TEST(test_permute_bad)
{
    pce_tensor *a = INPUT(g, "a", F32, 2, 3, 4);
    EXPECT_FAIL(pce_permute(g, a, (const int[]){0, 0, 1}), "permute", "[2, 3, 4]");
}
END_TEST

START_TEST(test_permute_out_of_range)
{
    pce_tensor *a = INPUT(g, "a", F32, 2, 3);
    EXPECT_FAIL(pce_permute(g, a, (const int[]){0, 2}), "permute", "[2, 3]");
}
END_TEST

START_TEST(test_transpose_1d)
{
    pce_tensor *a = INPUT(g, "a", F32, 7);
    EXPECT_FAIL(pce_transpose(g, a), "transpose", "[7]");
}
END_TEST

START_TEST(test_slice)
{
    pce_tensor *a = INPUT(g, "a", F32, 4, 6);
    pce_tensor *s = pce_slice(g, a, 1, 2, 5);
    SHAPE(s, F32, 4, 3);
    ck_assert(!pce_tensor_is_contiguous(s));
    pce_tensor *s0 = pce_slice(g, a, 0, 1, 3);
    SHAPE(s0, F32, 2, 6);
    ck_assert(pce_tensor_is_contiguous(s0));
    SHAPE(pce_reshape(g, s0, 1, DIMS(12)), F32, 12);
    SHAPE(pce_slice(g, a, -1, 0, 6), F32, 4, 6);
    ck_assert(pce_tensor_is_contiguous(pce_slice(g, a, -1, 0, 6)));
    SHAPE(pce_slice(g, a, -2, 3, 4), F32, 1, 6);
    /* one row of a column slice: a single row is contiguous */
    pce_tensor *one = pce_slice(g, s, 0, 2, 3);
    SHAPE(one, F32, 1, 3);
    ck_assert(pce_tensor_is_contiguous(one));
    /* slice of a transpose */
    pce_tensor *t = pce_slice(g, pce_transpose(g, a), 0, 1, 2);
    SHAPE(t, F32, 1, 4);
    ck_assert(!pce_tensor_is_contiguous(t));
}
END_TEST

static void slice_fail(int axis, int64_t start, int64_t end)
{
    pce_tensor *a = INPUT(g, "a", F32, 4, 6);
    EXPECT_FAIL(pce_slice(g, a, axis, start, end), "slice", "[4, 6]");
}

START_TEST(test_slice_bad_ranges)
{
    /* a fresh graph per case: the error is sticky */
    static const struct {
        int axis;
        int64_t start, end;
    } c[] = {{1, -1, 3}, {1, 2, 7}, {1, 3, 3}, {1, 4, 2}, {0, 0, 5}, {2, 0, 1}, {-3, 0, 1}};
    int i = _i;
    slice_fail(c[i].axis, c[i].start, c[i].end);
}
END_TEST

/* Views read the right elements: a slice, a transpose and a reshape of a
 * slice, computed by a plan. */
START_TEST(test_view_values)
{
    pce_tensor *a = INPUT(g, "a", F32, 4, 6);
    pce_tensor *s = pce_contiguous(g, pce_slice(g, a, 1, 2, 5)); /* [4, 3] */
    pce_tensor *t = pce_contiguous(g, pce_transpose(g, a));      /* [6, 4] */
    pce_tensor *r = pce_contiguous(g, pce_reshape(g, pce_slice(g, a, 0, 1, 3), 2, DIMS(3, 4)));
    ck_assert_int_eq(pce_graph_output(g, s), PCE_OK);
    ck_assert_int_eq(pce_graph_output(g, t), PCE_OK);
    ck_assert_int_eq(pce_graph_output(g, r), PCE_OK);
    pce_plan *plan = NULL;
    ck_assert_msg(pce_plan_create(ctx, g, NULL, &plan) == PCE_OK, "%s",
                  pce_context_last_error(ctx));
    float in[24], out_s[12], out_t[24], out_r[12];
    for (int i = 0; i < 24; i++)
        in[i] = (float)(i * 10);
    ck_assert_int_eq(pce_plan_set_input(plan, a, in, sizeof in), PCE_OK);
    ck_assert_msg(pce_plan_run(plan) == PCE_OK, "%s", pce_context_last_error(ctx));
    ck_assert_int_eq(pce_plan_get_output(plan, s, out_s, sizeof out_s), PCE_OK);
    ck_assert_int_eq(pce_plan_get_output(plan, t, out_t, sizeof out_t), PCE_OK);
    ck_assert_int_eq(pce_plan_get_output(plan, r, out_r, sizeof out_r), PCE_OK);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            ck_assert_float_eq(out_s[i * 3 + j], in[i * 6 + 2 + j]);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++)
            ck_assert_float_eq(out_t[i * 4 + j], in[j * 6 + i]);
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq(out_r[i], in[6 + i]);
    pce_plan_destroy(plan);
}
END_TEST

/* ---- builder errors ----------------------------------------------------- */

START_TEST(test_err_add_shapes)
{
    pce_tensor *a = INPUT(g, "a", F32, 7, 33);
    pce_tensor *b = INPUT(g, "b", F32, 7, 34);
    EXPECT_FAIL(pce_add(g, a, b), "add", "[7, 33]", "[7, 34]", "'a'", "'b'");
}
END_TEST

START_TEST(test_err_mul_broadcast)
{
    pce_tensor *a = INPUT(g, "a", F32, 2, 3, 4);
    pce_tensor *b = INPUT(g, "b", F32, 2, 4);
    EXPECT_FAIL(pce_mul(g, a, b), "mul", "[2, 3, 4]", "[2, 4]");
}
END_TEST

START_TEST(test_err_add_dtypes)
{
    pce_tensor *a = INPUT(g, "a", F32, 7, 33);
    pce_tensor *b = INPUT(g, "b", F16, 7, 33);
    EXPECT_FAIL(pce_add(g, a, b), "add", "[7, 33] f32", "[7, 33] f16");
}
END_TEST

START_TEST(test_err_add_integer)
{
    pce_tensor *a = INPUT(g, "a", I32, 7, 33);
    EXPECT_FAIL(pce_add(g, a, a), "add", "[7, 33] i32");
}
END_TEST

START_TEST(test_err_matmul_inner)
{
    pce_tensor *a = INPUT(g, "a", F32, 7, 33);
    pce_tensor *b = INPUT(g, "b", F32, 34, 5);
    EXPECT_FAIL(pce_matmul(g, a, b), "matmul", "[7, 33]", "[34, 5]");
}
END_TEST

START_TEST(test_err_matmul_batch)
{
    pce_tensor *a = INPUT(g, "a", F32, 2, 7, 33);
    pce_tensor *b = INPUT(g, "b", F32, 3, 33, 5);
    EXPECT_FAIL(pce_matmul(g, a, b), "matmul", "[2, 7, 33]", "[3, 33, 5]");
}
END_TEST

static void rope_fail(int n_rot, pce_dtype pos_dtype, int64_t T)
{
    pce_tensor *x = INPUT(g, "x", F32, 3, 2, 8);
    pce_tensor *pos = INPUT(g, "pos", pos_dtype, T);
    EXPECT_FAIL(pce_rope(g, x, pos, n_rot, 10000.0f, PCE_ROPE_NEOX), "rope", "[3, 2, 8]");
}

START_TEST(test_err_rope_odd)
{
    rope_fail(7, I32, 3);
}
END_TEST
START_TEST(test_err_rope_too_big)
{
    rope_fail(10, I32, 3);
}
END_TEST
START_TEST(test_err_rope_zero)
{
    rope_fail(0, I32, 3);
}
END_TEST
START_TEST(test_err_rope_negative)
{
    rope_fail(-2, I32, 3);
}
END_TEST
START_TEST(test_err_rope_pos_dtype)
{
    rope_fail(8, F32, 3);
    ck_assert_ptr_nonnull(strstr(pce_graph_error(g), "pos"));
}
END_TEST
START_TEST(test_err_rope_pos_len)
{
    rope_fail(8, I32, 4);
}
END_TEST

START_TEST(test_err_rope_2d)
{
    pce_tensor *x = INPUT(g, "x", F32, 2, 8);
    EXPECT_FAIL(pce_rope(g, x, INPUT(g, "pos", I32, 2), 8, 10000.0f, PCE_ROPE_NORMAL), "rope",
                "[2, 8]");
}
END_TEST

START_TEST(test_err_softmax_mask)
{
    pce_tensor *x = INPUT(g, "x", F32, 2, 4, 5);
    pce_tensor *m = INPUT(g, "m", F32, 3, 5);
    EXPECT_FAIL(pce_softmax(g, x, m, 1.0f), "softmax", "[3, 5]", "[2, 4, 5]");
}
END_TEST

START_TEST(test_err_softmax_mask_dtype)
{
    pce_tensor *x = INPUT(g, "x", F16, 4, 5);
    pce_tensor *m = INPUT(g, "m", I32, 4, 5);
    EXPECT_FAIL(pce_softmax(g, x, m, 1.0f), "softmax", "[4, 5]");
}
END_TEST

START_TEST(test_err_set_rows_weight)
{
    pce_tensor *w = pce_graph_weight(g, "wtab", F32, 2, DIMS(10, 6), weight_data);
    pce_tensor *src = INPUT(g, "src", F32, 2, 6);
    pce_tensor *ids = INPUT(g, "ids", I32, 2);
    EXPECT_FAIL(pce_set_rows(g, w, src, ids), "set_rows", "wtab", "[10, 6]");
}
END_TEST

START_TEST(test_err_copy_into_weight_view)
{
    pce_tensor *w = pce_graph_weight(g, "wtab", F32, 2, DIMS(10, 6), weight_data);
    pce_tensor *src = INPUT(g, "src", F32, 2, 6);
    EXPECT_FAIL(pce_copy_into(g, src, pce_slice(g, w, 0, 0, 2)), "copy_into", "weight");
}
END_TEST

START_TEST(test_err_set_rows_shapes)
{
    pce_tensor *dst = INPUT(g, "dst", F32, 10, 6);
    pce_tensor *src = INPUT(g, "src", F32, 2, 5);
    pce_tensor *ids = INPUT(g, "ids", I32, 2);
    EXPECT_FAIL(pce_set_rows(g, dst, src, ids), "set_rows", "[10, 6]", "[2, 5]", "[2] i32");
}
END_TEST

START_TEST(test_err_get_rows_ids)
{
    pce_tensor *t = pce_graph_weight(g, "tab", F32, 2, DIMS(10, 6), weight_data);
    pce_tensor *ids = INPUT(g, "ids", F32, 4);
    EXPECT_FAIL(pce_get_rows(g, t, ids), "get_rows", "[10, 6]", "[4] f32");
}
END_TEST

START_TEST(test_err_swiglu_shapes)
{
    pce_tensor *a = INPUT(g, "a", F32, 7, 33);
    pce_tensor *b = INPUT(g, "b", F32, 7, 1);
    EXPECT_FAIL(pce_swiglu(g, a, b), "swiglu", "[7, 33]", "[7, 1]");
}
END_TEST

START_TEST(test_err_norm_weight)
{
    pce_tensor *x = INPUT(g, "x", F32, 7, 33);
    pce_tensor *w = INPUT(g, "w", F32, 32);
    EXPECT_FAIL(pce_rms_norm(g, x, w, 1e-6f), "rms_norm", "[7, 33]", "[32]");
}
END_TEST

START_TEST(test_err_copy_into_shapes)
{
    pce_tensor *dst = INPUT(g, "dst", F32, 7, 33);
    pce_tensor *src = INPUT(g, "src", F32, 33, 7);
    EXPECT_FAIL(pce_copy_into(g, src, dst), "copy_into", "[7, 33]", "[33, 7]");
}
END_TEST

START_TEST(test_err_cast_dtype)
{
    pce_tensor *a = INPUT(g, "a", F32, 7, 33);
    EXPECT_FAIL(pce_cast(g, a, PCE_DTYPE_COUNT), "cast", "dtype");
}
END_TEST

/* Every builder given a NULL tensor returns NULL and records an error. */
START_TEST(test_err_null_inputs)
{
    pce_tensor *x = INPUT(g, "x", F32, 3, 2, 8);
    pce_tensor *p = INPUT(g, "p", I32, 3);
    pce_tensor *N = NULL;
    pce_tensor *r = NULL;
    const char *op = NULL;
    switch (_i) {
    case 0:
        r = pce_add(g, x, N);
        op = "add";
        break;
    case 1:
        r = pce_add(g, N, x);
        op = "add";
        break;
    case 2:
        r = pce_matmul(g, x, N);
        op = "matmul";
        break;
    case 3:
        r = pce_relu(g, N);
        op = "relu";
        break;
    case 4:
        r = pce_sum_rows(g, N);
        op = "sum_rows";
        break;
    case 5:
        r = pce_rope(g, x, N, 8, 1e4f, PCE_ROPE_NORMAL);
        op = "rope";
        break;
    case 6:
        r = pce_rope(g, N, p, 8, 1e4f, PCE_ROPE_NORMAL);
        op = "rope";
        break;
    case 7:
        r = pce_get_rows(g, N, p);
        op = "get_rows";
        break;
    case 8:
        r = pce_reshape(g, N, 1, DIMS(4));
        op = "reshape";
        break;
    case 9:
        r = pce_transpose(g, N);
        op = "transpose";
        break;
    case 10:
        r = pce_slice(g, N, 0, 0, 1);
        op = "slice";
        break;
    case 11:
        r = pce_concat(g, x, N, 0);
        op = "concat";
        break;
    case 12:
        r = pce_cast(g, N, F16);
        op = "cast";
        break;
    case 13:
        r = pce_softmax(g, N, NULL, 1.0f);
        op = "softmax";
        break;
    case 14:
        r = pce_set_rows(g, N, x, p);
        op = "set_rows";
        break;
    case 15:
        r = pce_copy_into(g, x, N);
        op = "copy_into";
        break;
    case 16:
        r = pce_swiglu(g, x, N);
        op = "swiglu";
        break;
    case 17:
        r = pce_permute(g, N, (const int[]){0});
        op = "permute";
        break;
    case 18:
        r = pce_contiguous(g, N);
        op = "contiguous";
        break;
    case 19:
        r = pce_layer_norm(g, N, NULL, NULL, 1e-5f);
        op = "layer_norm";
        break;
    default: ck_abort();
    }
    EXPECT_FAIL(r, op, "NULL");
}
END_TEST

/* A NULL graph is survived. */
START_TEST(test_null_graph)
{
    pce_tensor *x = INPUT(g, "x", F32, 3);
    ck_assert_ptr_null(pce_add(NULL, x, x));
    ck_assert_ptr_null(pce_relu(NULL, x));
    ck_assert_ptr_null(pce_reshape(NULL, x, 1, DIMS(3)));
    ck_assert_ptr_null(pce_slice(NULL, x, 0, 0, 1));
    ck_assert_ptr_null(INPUT(NULL, "y", F32, 3));
    ck_assert_int_eq(pce_graph_status(NULL), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_graph_output(NULL, x), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_graph_node_count(NULL), 0);
    ck_assert_ptr_null(pce_graph_find(NULL, "x"));
    ck_assert_int_eq(pce_graph_status(g), PCE_OK);
    ck_assert_int_eq(pce_graph_create(ctx, NULL), PCE_ERR_INVALID_ARGUMENT);
    pce_graph *g2 = (pce_graph *)&g2;
    ck_assert_int_eq(pce_graph_create(NULL, &g2), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(g2);
    pce_graph_destroy(NULL);
}
END_TEST

START_TEST(test_err_other_graph)
{
    pce_graph *g2 = NULL;
    ck_assert_int_eq(pce_graph_create(ctx, &g2), PCE_OK);
    pce_tensor *y2 = INPUT(g2, "y2", F32, 7, 33);
    pce_tensor *x = INPUT(g, "x", F32, 7, 33);
    EXPECT_FAIL(pce_add(g, x, y2), "add", "another graph", "y2");
    /* the foreign graph is not affected */
    ck_assert_int_eq(pce_graph_status(g2), PCE_OK);
    pce_graph_destroy(g2);
}
END_TEST

START_TEST(test_err_output_other_graph)
{
    pce_graph *g2 = NULL;
    ck_assert_int_eq(pce_graph_create(ctx, &g2), PCE_OK);
    pce_tensor *y2 = INPUT(g2, "y2", F32, 7, 33);
    ck_assert_int_eq(pce_graph_output(g, y2), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_graph_status(g), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(pce_graph_error(g), "another graph"));
    ck_assert_ptr_nonnull(strstr(pce_context_last_error(ctx), "another graph"));
    ck_assert_int_eq(pce_graph_status(g2), PCE_OK);
    pce_graph_destroy(g2);
}
END_TEST

START_TEST(test_err_output_null)
{
    ck_assert_int_eq(pce_graph_output(g, NULL), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_graph_status(g), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(pce_graph_error(g), "output"));
}
END_TEST

START_TEST(test_err_unknown_dtype)
{
    EXPECT_FAIL(INPUT(g, "x", PCE_DTYPE_COUNT, 2, 3), "input", "'x'", "dtype");
}
END_TEST

START_TEST(test_err_unknown_dtype_weight)
{
    EXPECT_FAIL(pce_graph_weight(g, "w", (pce_dtype)-1, 2, DIMS(2, 3), weight_data), "weight",
                "'w'", "dtype");
}
END_TEST

START_TEST(test_err_ndim0)
{
    EXPECT_FAIL(pce_graph_input(g, "x", F32, 0, DIMS(3)), "input", "'x'", "ndim 0");
}
END_TEST

START_TEST(test_err_ndim5)
{
    EXPECT_FAIL(INPUT(g, "x", F32, 1, 2, 3, 4, 5), "input", "'x'", "ndim 5");
}
END_TEST

START_TEST(test_err_dims_null)
{
    EXPECT_FAIL(pce_graph_input(g, "x", F32, 2, NULL), "input", "'x'");
}
END_TEST

START_TEST(test_err_dim_zero)
{
    EXPECT_FAIL(INPUT(g, "x", F32, 3, 0), "input", "'x'", "dim 1 is 0");
}
END_TEST

START_TEST(test_err_dim_negative)
{
    EXPECT_FAIL(pce_graph_weight(g, "w", F32, 2, DIMS(-2, 3), weight_data), "weight", "'w'",
                "dim 0 is -2");
}
END_TEST

START_TEST(test_err_too_many_elements)
{
    EXPECT_FAIL(INPUT(g, "huge", F32, 1 << 20, 1 << 20, 1 << 20), "input", "'huge'");
}
END_TEST

START_TEST(test_err_weight_data_null)
{
    EXPECT_FAIL(pce_graph_weight(g, "w", F32, 2, DIMS(2, 3), NULL), "weight", "'w'", "NULL");
}
END_TEST

START_TEST(test_err_duplicate_input)
{
    ck_assert_ptr_nonnull(INPUT(g, "x", F32, 3));
    EXPECT_FAIL(INPUT(g, "x", F32, 3), "input", "'x'", "already used");
}
END_TEST

START_TEST(test_err_duplicate_weight)
{
    ck_assert_ptr_nonnull(INPUT(g, "x", F32, 3));
    EXPECT_FAIL(pce_graph_weight(g, "x", F32, 1, DIMS(3), weight_data), "weight", "'x'",
                "already used");
}
END_TEST

/* ---- sticky errors ------------------------------------------------------ */

START_TEST(test_sticky)
{
    pce_tensor *a = INPUT(g, "a", F32, 7, 33);
    pce_tensor *b = INPUT(g, "b", F32, 7, 34);
    pce_tensor *ok = pce_relu(g, a);
    ck_assert_ptr_nonnull(ok);
    ck_assert_int_eq(pce_graph_output(g, ok), PCE_OK);
    int nodes = pce_graph_node_count(g);
    EXPECT_FAIL(pce_add(g, a, b), "add", "[7, 33]", "[7, 34]");
    char first[512];
    snprintf(first, sizeof first, "%s", pce_graph_error(g));
    ck_assert_int_eq(nodes, pce_graph_node_count(g));

    /* later valid calls return NULL and leave the first message */
    ck_assert_ptr_null(pce_relu(g, a));
    ck_assert_ptr_null(pce_add(g, a, a));
    ck_assert_ptr_null(INPUT(g, "c", F32, 3));
    ck_assert_ptr_null(pce_graph_weight(g, "w", F32, 1, DIMS(3), weight_data));
    ck_assert_ptr_null(pce_reshape(g, a, 1, DIMS(231)));
    ck_assert_ptr_null(pce_transpose(g, a));
    ck_assert_ptr_null(pce_slice(g, a, 0, 0, 1));
    /* ... and later bad calls do not overwrite it */
    ck_assert_ptr_null(pce_matmul(g, a, a));
    ck_assert_ptr_null(pce_add(g, a, NULL));
    ck_assert_ptr_null(INPUT(g, "bad", F32, 0));
    ck_assert_ptr_null(pce_graph_input(g, "bad", PCE_DTYPE_COUNT, 1, DIMS(1)));
    ck_assert_int_eq(pce_graph_status(g), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_str_eq(pce_graph_error(g), first);
    ck_assert_int_eq(nodes, pce_graph_node_count(g));
    ck_assert_ptr_null(pce_graph_find(g, "c"));

    /* the plan reports the graph's error */
    pce_plan *plan = (pce_plan *)&plan;
    ck_assert_int_eq(pce_plan_create(ctx, g, NULL, &plan), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(plan);
    ck_assert_msg(strstr(pce_context_last_error(ctx), first) != NULL,
                  "context error '%s' lacks the graph's '%s'", pce_context_last_error(ctx), first);
    ck_assert_str_eq(pce_graph_error(g), first);
}
END_TEST

/* A plan of a failed graph returns the graph's status and names the op. */
START_TEST(test_sticky_plan_status)
{
    pce_tensor *a = INPUT(g, "a", F32, 2, 3);
    ck_assert_ptr_null(pce_concat(g, a, INPUT(g, "b", F32, 3, 3), 1));
    pce_status st = pce_graph_status(g);
    ck_assert_int_ne(st, PCE_OK);
    pce_plan *plan = NULL;
    ck_assert_int_eq(pce_plan_create(ctx, g, NULL, &plan), st);
    ck_assert_ptr_null(plan);
    ck_assert_ptr_nonnull(strstr(pce_context_last_error(ctx), "concat"));
}
END_TEST

/* ---- accessors ---------------------------------------------------------- */

START_TEST(test_find_and_names)
{
    pce_tensor *x = INPUT(g, "x", F16, 2, 3, 5);
    pce_tensor *y = INPUT(g, "y", F16, 5);
    pce_tensor *s = pce_add(g, x, y);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_eq(pce_graph_find(g, "x"), x);
    ck_assert_ptr_eq(pce_graph_find(g, "y"), y);
    ck_assert_ptr_null(pce_graph_find(g, "z"));
    ck_assert_ptr_null(pce_graph_find(g, NULL));
    ck_assert_str_eq(pce_tensor_name(x), "x");
    /* a node has a default name that finds it */
    const char *dn = pce_tensor_name(s);
    ck_assert_ptr_nonnull(dn);
    ck_assert_int_gt((int)strlen(dn), 0);
    ck_assert_ptr_eq(pce_graph_find(g, dn), s);

    ck_assert_int_eq(pce_tensor_set_name(s, "sum"), PCE_OK);
    ck_assert_str_eq(pce_tensor_name(s), "sum");
    ck_assert_ptr_eq(pce_graph_find(g, "sum"), s);
    ck_assert_int_eq(pce_tensor_set_name(s, "sum"), PCE_OK); /* its own name again */
    /* a duplicate name is rejected and the old name kept */
    ck_assert_int_eq(pce_tensor_set_name(s, "x"), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_str_eq(pce_tensor_name(s), "sum");
    ck_assert_ptr_eq(pce_graph_find(g, "x"), x);
    ck_assert_ptr_nonnull(strstr(pce_context_last_error(ctx), "already used"));
    /* bad names */
    ck_assert_int_eq(pce_tensor_set_name(s, ""), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_tensor_set_name(s, NULL), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_tensor_set_name(NULL, "q"), PCE_ERR_INVALID_ARGUMENT);
    char longname[80];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(pce_tensor_set_name(s, longname), PCE_ERR_INVALID_ARGUMENT);
    longname[63] = '\0'; /* 63 characters fit */
    ck_assert_int_eq(pce_tensor_set_name(s, longname), PCE_OK);
    ck_assert_ptr_eq(pce_graph_find(g, longname), s);
    /* naming does not put the graph in error */
    ck_assert_int_eq(pce_graph_status(g), PCE_OK);
    /* a renamed tensor frees its old name */
    ck_assert_ptr_null(pce_graph_find(g, "sum"));
    ck_assert_ptr_nonnull(INPUT(g, "sum", F32, 1));
}
END_TEST

START_TEST(test_accessors)
{
    pce_tensor *x = INPUT(g, "x", F16, 2, 3, 5);
    ck_assert_int_eq(pce_tensor_ndim(x), 3);
    ck_assert_int_eq(pce_tensor_dtype(x), F16);
    ck_assert_int_eq(pce_tensor_dim(x, 0), 2);
    ck_assert_int_eq(pce_tensor_dim(x, 1), 3);
    ck_assert_int_eq(pce_tensor_dim(x, 2), 5);
    ck_assert_int_eq(pce_tensor_dim(x, -1), 5);
    ck_assert_int_eq(pce_tensor_dim(x, -2), 3);
    ck_assert_int_eq(pce_tensor_dim(x, -3), 2);
    ck_assert_int_eq(pce_tensor_dim(x, -4), 0);
    ck_assert_int_eq(pce_tensor_dim(x, 3), 0);
    ck_assert_int_eq(pce_tensor_dim(x, 100), 0);
    ck_assert_int_eq(pce_tensor_numel(x), 30);
    ck_assert_uint_eq(pce_tensor_bytes(x), 60);
    pce_tensor *i8 = INPUT(g, "i8", I8, 7);
    ck_assert_uint_eq(pce_tensor_bytes(i8), 7);
    pce_tensor *m = pce_matmul(g, INPUT(g, "a", BF16, 4, 3), INPUT(g, "b", BF16, 3, 6));
    ck_assert_uint_eq(pce_tensor_bytes(m), 4 * 6 * 4);
    /* a view reports its own shape's size */
    pce_tensor *sl = pce_slice(g, x, 2, 1, 3);
    ck_assert_int_eq(pce_tensor_numel(sl), 12);
    ck_assert_uint_eq(pce_tensor_bytes(sl), 24);
    /* NULL tensors */
    ck_assert_int_eq(pce_tensor_ndim(NULL), 0);
    ck_assert_int_eq(pce_tensor_dim(NULL, 0), 0);
    ck_assert_int_eq(pce_tensor_numel(NULL), 0);
    ck_assert_uint_eq(pce_tensor_bytes(NULL), 0);
    ck_assert_ptr_null(pce_tensor_name(NULL));
    ck_assert(!pce_tensor_is_contiguous(NULL));
    ck_assert_int_eq(pce_graph_node_count(g), 6);
}
END_TEST

/* ---- lifetime ----------------------------------------------------------- */

/* The plan holds a reference: destroying the graph first is fine (the
 * sanitizer build runs this too). */
START_TEST(test_graph_destroyed_before_plan)
{
    static const float bias[3] = {0.5f, -1.0f, 2.0f};
    pce_tensor *x = INPUT(g, "x", F32, 2, 3);
    pce_tensor *b = pce_graph_weight(g, "bias", F32, 1, DIMS(3), bias);
    pce_tensor *y = pce_scale(g, pce_add(g, x, b), 2.0f);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(pce_graph_output(g, y), PCE_OK);
    pce_plan *plan = NULL;
    ck_assert_msg(pce_plan_create(ctx, g, NULL, &plan) == PCE_OK, "%s",
                  pce_context_last_error(ctx));
    pce_graph_destroy(g);
    g = NULL; /* teardown must not destroy it again */
    for (int run = 0; run < 2; run++) {
        float in[6], out[6];
        for (int i = 0; i < 6; i++)
            in[i] = (float)(i + run * 10);
        ck_assert_int_eq(pce_plan_set_input(plan, x, in, sizeof in), PCE_OK);
        ck_assert_msg(pce_plan_run(plan) == PCE_OK, "%s", pce_context_last_error(ctx));
        ck_assert_int_eq(pce_plan_get_output(plan, y, out, sizeof out), PCE_OK);
        for (int i = 0; i < 6; i++)
            ck_assert_float_eq(out[i], 2.0f * (in[i] + bias[i % 3]));
    }
    pce_plan_stats st;
    ck_assert_int_eq(pce_plan_get_stats(plan, &st), PCE_OK);
    ck_assert_uint_eq(st.runs, 2);
    pce_plan_destroy(plan);
}
END_TEST

/* Two plans from one graph, destroyed in either order around the graph. */
START_TEST(test_two_plans_share_graph)
{
    pce_tensor *x = INPUT(g, "x", F32, 4);
    pce_tensor *y = pce_neg(g, x);
    ck_assert_int_eq(pce_graph_output(g, y), PCE_OK);
    pce_plan *p1 = NULL, *p2 = NULL;
    ck_assert_int_eq(pce_plan_create(ctx, g, NULL, &p1), PCE_OK);
    ck_assert_int_eq(pce_plan_create(ctx, g, NULL, &p2), PCE_OK);
    pce_plan_destroy(p1);
    pce_graph_destroy(g);
    g = NULL;
    const float in[4] = {1, -2, 3, -4};
    float out[4];
    ck_assert_int_eq(pce_plan_set_input(p2, x, in, sizeof in), PCE_OK);
    ck_assert_int_eq(pce_plan_run(p2), PCE_OK);
    ck_assert_int_eq(pce_plan_get_output(p2, y, out, sizeof out), PCE_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(out[i], -in[i]);
    pce_plan_destroy(p2);
}
END_TEST

/* Automatic names never collide with user names, and user names that
 * would be cut or look automatic are rejected. */
START_TEST(test_names_unique_and_bounded)
{
    pce_tensor *x = INPUT(g, "add_2", F32, 3), *y = INPUT(g, "y", F32, 3);
    pce_tensor *s = pce_add(g, x, y);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_ne(pce_tensor_name(s), pce_tensor_name(x));
    ck_assert_ptr_eq(pce_graph_find(g, pce_tensor_name(s)), s);
    ck_assert_ptr_eq(pce_graph_find(g, "add_2"), x);
    ck_assert_int_eq(pce_tensor_set_name(s, "%mine"), PCE_ERR_INVALID_ARGUMENT);
    char a[101];
    memset(a, 'a', 100);
    a[100] = 0;
    ck_assert_ptr_null(pce_graph_input(g, a, F32, 1, DIMS(3)));
    ck_assert_int_eq(pce_graph_status(g), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(pce_graph_error(g), "must be 1..63 characters"));
}
END_TEST

static Suite *graph_suite(void)
{
    Suite *s = suite_create("graph");
    TCase *tc = tcase_create("shapes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30); /* generous for loaded sanitizer runs */
    tcase_add_test(tc, test_shapes_elementwise);
    tcase_add_test(tc, test_shapes_matmul);
    tcase_add_test(tc, test_shapes_reductions);
    tcase_add_test(tc, test_shapes_rows_concat_cast);
    tcase_add_test(tc, test_concat_mismatch);
    suite_add_tcase(s, tc);

    tc = tcase_create("views");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30); /* generous for loaded sanitizer runs */
    tcase_add_test(tc, test_reshape);
    tcase_add_test(tc, test_reshape_two_wildcards);
    tcase_add_test(tc, test_reshape_wrong_count);
    tcase_add_test(tc, test_reshape_bad_ndim);
    tcase_add_test(tc, test_reshape_not_contiguous);
    tcase_add_test(tc, test_permute_transpose);
    tcase_add_test(tc, test_permute_bad);
    tcase_add_test(tc, test_permute_out_of_range);
    tcase_add_test(tc, test_transpose_1d);
    tcase_add_test(tc, test_slice);
    tcase_add_loop_test(tc, test_slice_bad_ranges, 0, 7);
    tcase_add_test(tc, test_view_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30); /* generous for loaded sanitizer runs */
    tcase_add_test(tc, test_err_add_shapes);
    tcase_add_test(tc, test_err_mul_broadcast);
    tcase_add_test(tc, test_err_add_dtypes);
    tcase_add_test(tc, test_err_add_integer);
    tcase_add_test(tc, test_err_matmul_inner);
    tcase_add_test(tc, test_err_matmul_batch);
    tcase_add_test(tc, test_err_rope_odd);
    tcase_add_test(tc, test_err_rope_too_big);
    tcase_add_test(tc, test_err_rope_zero);
    tcase_add_test(tc, test_err_rope_negative);
    tcase_add_test(tc, test_err_rope_pos_dtype);
    tcase_add_test(tc, test_err_rope_pos_len);
    tcase_add_test(tc, test_err_rope_2d);
    tcase_add_test(tc, test_err_softmax_mask);
    tcase_add_test(tc, test_err_softmax_mask_dtype);
    tcase_add_test(tc, test_err_set_rows_weight);
    tcase_add_test(tc, test_err_copy_into_weight_view);
    tcase_add_test(tc, test_err_set_rows_shapes);
    tcase_add_test(tc, test_err_get_rows_ids);
    tcase_add_test(tc, test_err_swiglu_shapes);
    tcase_add_test(tc, test_err_norm_weight);
    tcase_add_test(tc, test_err_copy_into_shapes);
    tcase_add_test(tc, test_err_cast_dtype);
    tcase_add_loop_test(tc, test_err_null_inputs, 0, 20);
    tcase_add_test(tc, test_null_graph);
    tcase_add_test(tc, test_err_other_graph);
    tcase_add_test(tc, test_err_output_other_graph);
    tcase_add_test(tc, test_err_output_null);
    tcase_add_test(tc, test_err_unknown_dtype);
    tcase_add_test(tc, test_err_unknown_dtype_weight);
    tcase_add_test(tc, test_err_ndim0);
    tcase_add_test(tc, test_err_ndim5);
    tcase_add_test(tc, test_err_dims_null);
    tcase_add_test(tc, test_err_dim_zero);
    tcase_add_test(tc, test_err_dim_negative);
    tcase_add_test(tc, test_err_too_many_elements);
    tcase_add_test(tc, test_err_weight_data_null);
    tcase_add_test(tc, test_err_duplicate_input);
    tcase_add_test(tc, test_err_duplicate_weight);
    tcase_add_test(tc, test_sticky);
    tcase_add_test(tc, test_sticky_plan_status);
    suite_add_tcase(s, tc);

    tc = tcase_create("accessors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30); /* generous for loaded sanitizer runs */
    tcase_add_test(tc, test_find_and_names);
    tcase_add_test(tc, test_accessors);
    tcase_add_test(tc, test_graph_destroyed_before_plan);
    tcase_add_test(tc, test_two_plans_share_graph);
    tcase_add_test(tc, test_names_unique_and_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(graph_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
