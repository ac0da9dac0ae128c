/* test_oracle.c — checks pce against an external oracle: NumPy references
 * computed in float64 by tests/fixtures/make_fixtures.py and stored in
 * tests/fixtures/NAME.bin (format: tests/fixtures/README.md).
 *
 * Usage: test_oracle FIXTURE_DIR
 *
 * Each fixture has one Check test, run twice (a loop test): _i == 0 with the
 * default plan (fast kernels), _i == 1 with reference_kernels = true. Each
 * plan runs twice and both results are compared, so state left behind by a
 * run (an op writing over an input) shows up too.
 */
#include <check.h>

#include "pce.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_fixture_dir = ".";

/* ---- fixture reader ------------------------------------------------------ */

#define FIX_MAGIC "PCEFIX1" /* + NUL: 8 bytes */
#define FIX_MAX_ARRAYS 64
#define FIX_MAX_NAME 63
#define FIX_MAX_NUMEL ((int64_t)1 << 24)

typedef struct fix_array {
    char name[FIX_MAX_NAME + 1];
    pce_dtype dtype; /* PCE_DTYPE_F32 or PCE_DTYPE_I32 */
    int ndim;
    int64_t dims[PCE_MAX_DIMS];
    int64_t numel;
    void *data; /* float[] or int32_t[], host byte order */
} fix_array;

typedef struct fixture {
    char name[64];
    int count;
    fix_array arrays[FIX_MAX_ARRAYS];
} fixture;

static void fixture_free(fixture *fx)
{
    for (int i = 0; i < fx->count; i++) {
        free(fx->arrays[i].data);
        fx->arrays[i].data = NULL;
    }
    fx->count = 0;
}

/* Reads exactly n bytes or says what was missing. */
static bool read_exact(FILE *f, void *buf, size_t n, const char *what, char *err, size_t errcap)
{
    size_t got = fread(buf, 1, n, f);
    if (got != n) {
        snprintf(err, errcap, "truncated while reading %s (wanted %zu bytes, got %zu)", what, n,
                 got);
        return false;
    }
    return true;
}

static uint32_t le_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le_u64(const unsigned char *p)
{
    return (uint64_t)le_u32(p) | (uint64_t)le_u32(p + 4) << 32;
}

static bool read_u32(FILE *f, uint32_t *out, const char *what, char *err, size_t errcap)
{
    unsigned char b[4];
    if (!read_exact(f, b, 4, what, err, errcap))
        return false;
    *out = le_u32(b);
    return true;
}

/* Parses a fixture from f (positioned at its start). On failure returns
 * false with the reason in msg and fx left empty. Never trusts a size it has
 * not checked against the file's size. */
static bool fixture_read(FILE *f, fixture *fx, char *msg, size_t msgcap)
{
    long file_size = -1;
    fx->count = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        file_size = ftell(f);
    }
    if (file_size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(msg, msgcap, "cannot determine the file size");
        goto fail;
    }

    unsigned char magic[8];
    if (!read_exact(f, magic, 8, "magic", msg, msgcap))
        goto fail;
    if (memcmp(magic, FIX_MAGIC, 8) != 0) {
        snprintf(msg, msgcap, "bad magic (not a PCEFIX1 file)");
        goto fail;
    }
    uint32_t count;
    if (!read_u32(f, &count, "array count", msg, msgcap))
        goto fail;
    if (count == 0 || count > FIX_MAX_ARRAYS) {
        snprintf(msg, msgcap, "array count %u out of range 1..%d", count, FIX_MAX_ARRAYS);
        goto fail;
    }

    for (uint32_t i = 0; i < count; i++) {
        fix_array *a = &fx->arrays[i];
        uint32_t name_len, dtype, ndim;
        if (!read_u32(f, &name_len, "name length", msg, msgcap))
            goto fail;
        if (name_len == 0 || name_len > FIX_MAX_NAME) {
            snprintf(msg, msgcap, "array %u: name length %u out of range 1..%d", i, name_len,
                     FIX_MAX_NAME);
            goto fail;
        }
        if (!read_exact(f, a->name, name_len, "name", msg, msgcap))
            goto fail;
        a->name[name_len] = '\0';
        if (strlen(a->name) != name_len) {
            snprintf(msg, msgcap, "array %u: name contains a NUL byte", i);
            goto fail;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(fx->arrays[j].name, a->name) == 0) {
                snprintf(msg, msgcap, "array '%s' appears twice", a->name);
                goto fail;
            }
        }
        if (!read_u32(f, &dtype, "dtype", msg, msgcap))
            goto fail;
        if (dtype != PCE_DTYPE_F32 && dtype != PCE_DTYPE_I32) {
            snprintf(msg, msgcap, "array '%s': dtype code %u (only 0 f32 and 3 i32)", a->name,
                     dtype);
            goto fail;
        }
        a->dtype = (pce_dtype)dtype;
        if (!read_u32(f, &ndim, "ndim", msg, msgcap))
            goto fail;
        if (ndim < 1 || ndim > PCE_MAX_DIMS) {
            snprintf(msg, msgcap, "array '%s': ndim %u out of range 1..%d", a->name, ndim,
                     PCE_MAX_DIMS);
            goto fail;
        }
        a->ndim = (int)ndim;
        a->numel = 1;
        for (int d = 0; d < a->ndim; d++) {
            unsigned char b[8];
            if (!read_exact(f, b, 8, "dims", msg, msgcap))
                goto fail;
            int64_t v = (int64_t)le_u64(b);
            if (v < 1 || v > FIX_MAX_NUMEL || a->numel * v > FIX_MAX_NUMEL) {
                snprintf(msg, msgcap, "array '%s': dim %d = %lld invalid or too large", a->name, d,
                         (long long)v);
                goto fail;
            }
            a->dims[d] = v;
            a->numel *= v;
        }
        size_t bytes = (size_t)a->numel * 4;
        long pos = ftell(f);
        if (pos < 0 || (uint64_t)(file_size - pos) < bytes) {
            snprintf(msg, msgcap, "array '%s': %zu data bytes but only %ld left in the file",
                     a->name, bytes, pos < 0 ? 0L : file_size - pos);
            goto fail;
        }
        unsigned char *raw = malloc(bytes);
        a->data = malloc(bytes);
        fx->count = (int)i + 1; /* so fixture_free frees a->data */
        if (!raw || !a->data) {
            free(raw);
            snprintf(msg, msgcap, "out of memory");
            goto fail;
        }
        if (!read_exact(f, raw, bytes, "data", msg, msgcap)) {
            free(raw);
            goto fail;
        }
        for (int64_t k = 0; k < a->numel; k++) {
            uint32_t v = le_u32(raw + 4 * k);
            memcpy((unsigned char *)a->data + 4 * k, &v, 4); /* f32 and i32 alike */
        }
        free(raw);
    }
    if (ftell(f) != file_size) {
        snprintf(msg, msgcap, "%ld trailing bytes after the last array", file_size - ftell(f));
        goto fail;
    }
    return true;

fail:
    fixture_free(fx);
    return false;
}

/* Loads FIXTURE_DIR/NAME.bin; on failure a message naming the file in err. */
static bool fixture_load(const char *name, fixture *fx, char *err, size_t errcap)
{
    char path[4096];
    char msg[512] = "";
    memset(fx, 0, sizeof *fx);
    snprintf(fx->name, sizeof fx->name, "%s", name);
    snprintf(path, sizeof path, "%s/%s.bin", g_fixture_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap,
                 "%.700s: cannot open (regenerate with tests/fixtures/make_fixtures.py)", path);
        return false;
    }
    bool ok = fixture_read(f, fx, msg, sizeof msg);
    fclose(f);
    if (!ok)
        snprintf(err, errcap, "%.400s: malformed fixture: %.500s", path, msg);
    return ok;
}

static const fix_array *fixture_find(const fixture *fx, const char *name)
{
    for (int i = 0; i < fx->count; i++) {
        if (strcmp(fx->arrays[i].name, name) == 0)
            return &fx->arrays[i];
    }
    return NULL;
}

/* ---- harness --------------------------------------------------------------- */

#define H_MAX_IO 16

typedef struct harness {
    const char *label; /* "NAME [fast]" */
    char label_buf[96];
    bool reference;
    fixture fx;
    pce_context *ctx;
    pce_graph *g;
    int n_in;
    const pce_tensor *in_t[H_MAX_IO];
    const fix_array *in_a[H_MAX_IO];
    int n_out;
    const pce_tensor *out_t[H_MAX_IO];
    const fix_array *out_a[H_MAX_IO];
    double out_tol[H_MAX_IO];
} harness;

static void h_begin(harness *h, const char *fixture_name, int loop_i)
{
    char err[1024];
    memset(h, 0, sizeof *h);
    h->reference = loop_i == 1;
    snprintf(h->label_buf, sizeof h->label_buf, "%s [%s kernels]", fixture_name,
             h->reference ? "reference" : "fast");
    h->label = h->label_buf;
    bool ok = fixture_load(fixture_name, &h->fx, err, sizeof err);
    ck_assert_msg(ok, "%s", err);
    pce_status st = pce_context_create(NULL, &h->ctx);
    ck_assert_msg(st == PCE_OK && h->ctx, "%s: pce_context_create: %s", h->label,
                  pce_status_name(st));
    st = pce_graph_create(h->ctx, &h->g);
    ck_assert_msg(st == PCE_OK && h->g, "%s: pce_graph_create: %s: %s", h->label,
                  pce_status_name(st), pce_context_last_error(h->ctx));
}

static void h_end(harness *h)
{
    pce_graph_destroy(h->g);
    pce_context_destroy(h->ctx);
    fixture_free(&h->fx);
}

static const fix_array *h_array(harness *h, const char *name, pce_dtype dtype)
{
    const fix_array *a = fixture_find(&h->fx, name);
    ck_assert_msg(a != NULL, "%s: fixture has no array '%s'", h->label, name);
    ck_assert_msg(a->dtype == dtype, "%s: fixture array '%s' has dtype %d, expected %d", h->label,
                  name, (int)a->dtype, (int)dtype);
    return a;
}

static float h_param_f32(harness *h, const char *name)
{
    const fix_array *a = h_array(h, name, PCE_DTYPE_F32);
    ck_assert_msg(a->numel == 1, "%s: parameter '%s' has %lld elements", h->label, name,
                  (long long)a->numel);
    return ((const float *)a->data)[0];
}

static int32_t h_param_i32(harness *h, const char *name)
{
    const fix_array *a = h_array(h, name, PCE_DTYPE_I32);
    ck_assert_msg(a->numel == 1, "%s: parameter '%s' has %lld elements", h->label, name,
                  (long long)a->numel);
    return ((const int32_t *)a->data)[0];
}

static void h_check_graph(harness *h, const pce_tensor *t, const char *what)
{
    ck_assert_msg(t != NULL && pce_graph_status(h->g) == PCE_OK, "%s: building %s failed: %s: %s",
                  h->label, what, pce_status_name(pce_graph_status(h->g)), pce_graph_error(h->g));
}

/* An input tensor with the fixture array's name, dtype and shape; its data
 * is set before each run. */
static pce_tensor *h_input(harness *h, const char *name, pce_dtype dtype)
{
    const fix_array *a = h_array(h, name, dtype);
    pce_tensor *t = pce_graph_input(h->g, name, dtype, a->ndim, a->dims);
    h_check_graph(h, t, name);
    ck_assert_int_lt(h->n_in, H_MAX_IO);
    h->in_t[h->n_in] = t;
    h->in_a[h->n_in] = a;
    h->n_in++;
    return t;
}

/* A weight borrowing the fixture's array (which outlives the plan). */
static pce_tensor *h_weight(harness *h, const char *name, pce_dtype dtype)
{
    const fix_array *a = h_array(h, name, dtype);
    pce_tensor *t = pce_graph_weight(h->g, name, dtype, a->ndim, a->dims, a->data);
    h_check_graph(h, t, name);
    return t;
}

/* Marks t as an output compared with the fixture's f32 array `expected`
 * (max |got - expected| / max |expected| <= tol). */
static void h_output(harness *h, pce_tensor *t, const char *expected, double tol)
{
    h_check_graph(h, t, expected);
    const fix_array *a = h_array(h, expected, PCE_DTYPE_F32);
    ck_assert_msg(pce_tensor_dtype(t) == PCE_DTYPE_F32, "%s: output '%s' has dtype %d, not f32",
                  h->label, expected, (int)pce_tensor_dtype(t));
    ck_assert_msg(pce_tensor_ndim(t) == a->ndim, "%s: output '%s' has ndim %d, expected %d",
                  h->label, expected, pce_tensor_ndim(t), a->ndim);
    for (int d = 0; d < a->ndim; d++) {
        ck_assert_msg(pce_tensor_dim(t, d) == a->dims[d],
                      "%s: output '%s' dim %d is %lld, expected %lld", h->label, expected, d,
                      (long long)pce_tensor_dim(t, d), (long long)a->dims[d]);
    }
    pce_status st = pce_graph_output(h->g, t);
    ck_assert_msg(st == PCE_OK, "%s: pce_graph_output(%s): %s: %s", h->label, expected,
                  pce_status_name(st), pce_context_last_error(h->ctx));
    ck_assert_int_lt(h->n_out, H_MAX_IO);
    h->out_t[h->n_out] = t;
    h->out_a[h->n_out] = a;
    h->out_tol[h->n_out] = tol;
    h->n_out++;
}

static void h_compare(harness *h, int k, const float *got, int run)
{
    const fix_array *a = h->out_a[k];
    const float *want = a->data;
    double max_ref = 0.0, max_err = 0.0;
    int64_t worst = 0;
    bool nonfinite = false;
    int64_t nonfinite_at = -1;
    for (int64_t i = 0; i < a->numel; i++) {
        double r = fabs((double)want[i]);
        if (r > max_ref)
            max_ref = r;
        if (!isfinite(got[i]) && !nonfinite) {
            nonfinite = true;
            nonfinite_at = i;
        }
        double e = fabs((double)got[i] - (double)want[i]);
        if (e > max_err) {
            max_err = e;
            worst = i;
        }
    }
    ck_assert_msg(!nonfinite, "%s run %d: output '%s'[%lld] = %g is not finite (expected %.9g)",
                  h->label, run, a->name, (long long)nonfinite_at, (double)got[nonfinite_at],
                  (double)want[nonfinite_at]);
    double rel = max_ref > 0.0 ? max_err / max_ref : max_err;
    char where[96] = "";
    size_t used = 0;
    int64_t rem = worst;
    int64_t idx[PCE_MAX_DIMS] = {0};
    for (int d = a->ndim - 1; d >= 0; d--) {
        idx[d] = rem % a->dims[d];
        rem /= a->dims[d];
    }
    for (int d = 0; d < a->ndim && used < sizeof where; d++) {
        int w =
            snprintf(where + used, sizeof where - used, "%s%lld", d ? "," : "[", (long long)idx[d]);
        used += w > 0 ? (size_t)w : 0;
    }
    if (used < sizeof where)
        snprintf(where + used, sizeof where - used, "]");
    printf("%-40s run %d: '%s' max abs err %.3g, relative to max |expected| %.3g: %.3g "
           "(tol %.1g)\n",
           h->label, run, a->name, max_err, max_ref, rel, h->out_tol[k]);
    fflush(stdout);
    ck_assert_msg(rel <= h->out_tol[k],
                  "%s run %d: output '%s' differs from NumPy: max abs err %.6g at %s "
                  "(got %.9g, expected %.9g), relative %.3g > tol %.1g",
                  h->label, run, a->name, max_err, where, (double)got[worst], (double)want[worst],
                  rel, h->out_tol[k]);
}

/* Plans the graph (fast or reference kernels per h->reference), sets the
 * inputs, runs twice and compares every output after each run. */
static void h_run(harness *h)
{
    pce_status st = pce_graph_status(h->g);
    ck_assert_msg(st == PCE_OK, "%s: graph error: %s: %s", h->label, pce_status_name(st),
                  pce_graph_error(h->g));

    pce_plan_options opts;
    pce_plan_options_init(&opts);
    opts.reference_kernels = h->reference;
    opts.poison = true; /* NaN-filled activations: a skipped element shows up */
    pce_plan *plan = NULL;
    st = pce_plan_create(h->ctx, h->g, &opts, &plan);
    ck_assert_msg(st == PCE_OK && plan, "%s: pce_plan_create: %s: %s", h->label,
                  pce_status_name(st), pce_context_last_error(h->ctx));

    for (int i = 0; i < h->n_in; i++) {
        size_t bytes = (size_t)h->in_a[i]->numel * 4;
        ck_assert_msg(pce_tensor_bytes(h->in_t[i]) == bytes,
                      "%s: input '%s' is %zu bytes, fixture has %zu", h->label, h->in_a[i]->name,
                      pce_tensor_bytes(h->in_t[i]), bytes);
        st = pce_plan_set_input(plan, h->in_t[i], h->in_a[i]->data, bytes);
        ck_assert_msg(st == PCE_OK, "%s: pce_plan_set_input(%s): %s: %s", h->label,
                      h->in_a[i]->name, pce_status_name(st), pce_context_last_error(h->ctx));
    }

    for (int run = 1; run <= 2; run++) {
        st = pce_plan_run(plan);
        ck_assert_msg(st == PCE_OK, "%s: pce_plan_run (run %d): %s: %s", h->label, run,
                      pce_status_name(st), pce_context_last_error(h->ctx));
        for (int k = 0; k < h->n_out; k++) {
            size_t bytes = (size_t)h->out_a[k]->numel * sizeof(float);
            float *got = malloc(bytes);
            ck_assert_ptr_nonnull(got);
            st = pce_plan_get_output(plan, h->out_t[k], got, bytes);
            if (st != PCE_OK)
                free(got);
            ck_assert_msg(st == PCE_OK, "%s: pce_plan_get_output(%s): %s: %s", h->label,
                          h->out_a[k]->name, pce_status_name(st), pce_context_last_error(h->ctx));
            h_compare(h, k, got, run);
            free(got);
        }
    }
    pce_plan_destroy(plan);
}

/* f32 results of well-conditioned ops should agree with float64 to a few
 * ulps of the largest value. */
#define TOL 1e-5
/* RoPE with positions up to 513: an angle of ~513 rad is held in f32 only to
 * ~513 * 2^-24 = 3e-5 rad, so an all-f32 implementation may land there. */
#define TOL_ROPE 5e-5

/* ---- tests --------------------------------------------------------------- */

static void matmul_case(const char *fixture_name, int loop_i)
{
    harness h;
    h_begin(&h, fixture_name, loop_i);
    pce_tensor *a = h_input(&h, "a", PCE_DTYPE_F32);
    pce_tensor *b = h_input(&h, "b", PCE_DTYPE_F32);
    h_output(&h, pce_matmul(h.g, a, b), "y", TOL);
    h_run(&h);
    h_end(&h);
}

START_TEST(test_matmul)
{
    matmul_case("matmul", _i);
}
END_TEST

START_TEST(test_matmul_bcast)
{
    matmul_case("matmul_bcast", _i);
}
END_TEST

START_TEST(test_matmul_t)
{
    harness h;
    h_begin(&h, "matmul_t", _i);
    pce_tensor *x = h_input(&h, "x", PCE_DTYPE_F32);
    pce_tensor *w = h_weight(&h, "w", PCE_DTYPE_F32);
    pce_tensor *wt = pce_transpose(h.g, w);
    h_check_graph(&h, wt, "transpose(w)");
    h_output(&h, pce_matmul(h.g, x, wt), "y", TOL);
    h_run(&h);
    h_end(&h);
}
END_TEST

START_TEST(test_softmax)
{
    harness h;
    h_begin(&h, "softmax", _i);
    float scale = h_param_f32(&h, "scale");
    pce_tensor *x = h_input(&h, "x", PCE_DTYPE_F32);
    pce_tensor *mask = h_input(&h, "mask", PCE_DTYPE_F32);
    h_output(&h, pce_softmax(h.g, x, mask, scale), "y", TOL);
    h_run(&h);
    h_end(&h);
}
END_TEST

START_TEST(test_rms_norm)
{
    harness h;
    h_begin(&h, "rms_norm", _i);
    float eps = h_param_f32(&h, "eps");
    pce_tensor *x = h_input(&h, "x", PCE_DTYPE_F32);
    pce_tensor *w = h_weight(&h, "w", PCE_DTYPE_F32);
    h_output(&h, pce_rms_norm(h.g, x, w, eps), "y", TOL);
    h_run(&h);
    h_end(&h);
}
END_TEST

START_TEST(test_layer_norm)
{
    harness h;
    h_begin(&h, "layer_norm", _i);
    float eps = h_param_f32(&h, "eps");
    pce_tensor *x = h_input(&h, "x", PCE_DTYPE_F32);
    pce_tensor *w = h_weight(&h, "w", PCE_DTYPE_F32);
    pce_tensor *b = h_weight(&h, "b", PCE_DTYPE_F32);
    h_output(&h, pce_layer_norm(h.g, x, w, b, eps), "y", TOL);
    h_run(&h);
    h_end(&h);
}
END_TEST

static void rope_case(const char *fixture_name, pce_rope_mode mode, int loop_i)
{
    harness h;
    h_begin(&h, fixture_name, loop_i);
    int32_t n_rot = h_param_i32(&h, "n_rot");
    float theta = h_param_f32(&h, "theta_base");
    int32_t fmode = h_param_i32(&h, "mode");
    ck_assert_msg(fmode == (int32_t)mode, "%s: fixture mode %d, test expects %d", h.label, fmode,
                  (int)mode);
    pce_tensor *x = h_input(&h, "x", PCE_DTYPE_F32);
    pce_tensor *pos = h_input(&h, "pos", PCE_DTYPE_I32);
    h_output(&h, pce_rope(h.g, x, pos, n_rot, theta, mode), "y", TOL_ROPE);
    h_run(&h);
    h_end(&h);
}

START_TEST(test_rope_normal)
{
    rope_case("rope_normal", PCE_ROPE_NORMAL, _i);
}
END_TEST

START_TEST(test_rope_neox)
{
    rope_case("rope_neox", PCE_ROPE_NEOX, _i);
}
END_TEST

typedef pce_tensor *(*unary_fn)(pce_graph *, pce_tensor *);

static void unary_case(const char *fixture_name, unary_fn fn, int loop_i)
{
    harness h;
    h_begin(&h, fixture_name, loop_i);
    pce_tensor *x = h_input(&h, "x", PCE_DTYPE_F32);
    h_output(&h, fn(h.g, x), "y", TOL);
    h_run(&h);
    h_end(&h);
}

START_TEST(test_gelu)
{
    unary_case("gelu", pce_gelu, _i);
}
END_TEST

START_TEST(test_gelu_erf)
{
    unary_case("gelu_erf", pce_gelu_erf, _i);
}
END_TEST

START_TEST(test_silu)
{
    unary_case("silu", pce_silu, _i);
}
END_TEST

START_TEST(test_mlp2)
{
    harness h;
    h_begin(&h, "mlp2", _i);
    pce_tensor *x = h_input(&h, "x", PCE_DTYPE_F32);
    pce_tensor *w1 = h_weight(&h, "w1", PCE_DTYPE_F32);
    pce_tensor *b1 = h_weight(&h, "b1", PCE_DTYPE_F32);
    pce_tensor *w2 = h_weight(&h, "w2", PCE_DTYPE_F32);
    pce_tensor *b2 = h_weight(&h, "b2", PCE_DTYPE_F32);
    pce_tensor *t = pce_matmul(h.g, x, pce_transpose(h.g, w1));
    h_check_graph(&h, t, "x @ w1.T");
    t = pce_add(h.g, t, b1);
    h_check_graph(&h, t, "+ b1");
    t = pce_silu(h.g, t);
    h_check_graph(&h, t, "silu");
    t = pce_matmul(h.g, t, pce_transpose(h.g, w2));
    h_check_graph(&h, t, "h @ w2.T");
    t = pce_add(h.g, t, b2);
    h_output(&h, t, "y", TOL);
    h_run(&h);
    h_end(&h);
}
END_TEST

/* ---- the reader itself ---------------------------------------------------- */

/* Writes n bytes of buf to a temporary file and parses it. */
static bool parse_bytes(const unsigned char *buf, size_t n, char *msg, size_t msgcap)
{
    fixture *fx = calloc(1, sizeof *fx);
    ck_assert_ptr_nonnull(fx);
    FILE *f = tmpfile();
    ck_assert_msg(f != NULL, "tmpfile() failed");
    ck_assert_msg(fwrite(buf, 1, n, f) == n, "writing the temporary file failed");
    msg[0] = '\0';
    bool ok = fixture_read(f, fx, msg, msgcap);
    fclose(f);
    fixture_free(fx);
    free(fx);
    return ok;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Every truncation and a set of corruptions of a real fixture must be
 * rejected with a message (and must not crash or leak). */
START_TEST(test_fixture_reader)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/matmul.bin", g_fixture_dir);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: cannot open", path);
    unsigned char *buf = malloc(1 << 20);
    ck_assert_ptr_nonnull(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    ck_assert_msg(n > 32, "%s: only %zu bytes", path, n);

    char msg[512];
    ck_assert_msg(parse_bytes(buf, n, msg, sizeof msg), "%s: intact file rejected: %s", path, msg);
    for (size_t len = 0; len < n; len++) {
        bool ok = parse_bytes(buf, len, msg, sizeof msg);
        ck_assert_msg(!ok, "%s truncated to %zu bytes was accepted", path, len);
        ck_assert_msg(msg[0] != '\0', "truncation to %zu bytes: empty message", len);
    }
    buf[n] = 0; /* one trailing byte */
    ck_assert_msg(!parse_bytes(buf, n + 1, msg, sizeof msg), "trailing byte accepted");

    /* Layout of the first array: name length at 12, name, dtype, ndim, dims. */
    uint32_t name_len = le_u32(buf + 12);
    ck_assert_uint_lt(name_len, 64);
    size_t o_dtype = 16 + name_len, o_ndim = o_dtype + 4, o_dim0 = o_ndim + 4;
    struct {
        size_t off;
        uint32_t value;
        const char *what;
    } bad[] = {
        {4, 0x58585858u, "bad magic"}, /* "PCEFXXXX" */
        {8, 0, "zero arrays"},
        {8, 100000, "huge array count"},
        {12, 0, "empty name"},
        {12, 0x7fffffffu, "huge name length"},
        {o_dtype, 7, "unknown dtype"},
        {o_ndim, 0, "ndim 0"},
        {o_ndim, 5, "ndim 5"},
        {o_dim0, 0, "dim 0"},
        {o_dim0 + 4, 0x80000000u, "negative dim"},
        {o_dim0 + 4, 1, "huge dim"},
        {o_dim0, 1000, "dim larger than the file"},
    };
    unsigned char *copy = malloc(n);
    ck_assert_ptr_nonnull(copy);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(copy, buf, n);
        put_u32(copy + bad[i].off, bad[i].value);
        bool ok = parse_bytes(copy, n, msg, sizeof msg);
        ck_assert_msg(!ok, "corruption '%s' was accepted", bad[i].what);
        ck_assert_msg(msg[0] != '\0', "corruption '%s': empty message", bad[i].what);
        printf("fixture reader rejects %-26s: %s\n", bad[i].what, msg);
    }
    fflush(stdout);
    free(copy);
    free(buf);
}
END_TEST

/* ---- main ------------------------------------------------------------------ */

/* One test case per fixture; _i = 0: default (fast) kernels, _i = 1:
 * reference kernels. */
#define ADD_FIXTURE_TEST(s, name)                                                                  \
    do {                                                                                           \
        TCase *tc_ = tcase_create(#name);                                                          \
        tcase_set_timeout(tc_, 60);                                                                \
        tcase_add_loop_test(tc_, test_##name, 0, 2);                                               \
        suite_add_tcase(s, tc_);                                                                   \
    } while (0)

static Suite *oracle_suite(void)
{
    Suite *s = suite_create("oracle");
    TCase *tc = tcase_create("fixture_reader");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fixture_reader);
    suite_add_tcase(s, tc);

    ADD_FIXTURE_TEST(s, matmul);
    ADD_FIXTURE_TEST(s, matmul_bcast);
    ADD_FIXTURE_TEST(s, matmul_t);
    ADD_FIXTURE_TEST(s, softmax);
    ADD_FIXTURE_TEST(s, rms_norm);
    ADD_FIXTURE_TEST(s, layer_norm);
    ADD_FIXTURE_TEST(s, rope_normal);
    ADD_FIXTURE_TEST(s, rope_neox);
    ADD_FIXTURE_TEST(s, gelu);
    ADD_FIXTURE_TEST(s, gelu_erf);
    ADD_FIXTURE_TEST(s, silu);
    ADD_FIXTURE_TEST(s, mlp2);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argc > 0 ? argv[0] : "test_oracle");
        return 2;
    }
    g_fixture_dir = argv[1];
    SRunner *sr = srunner_create(oracle_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
