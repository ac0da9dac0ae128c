/* conformance.c — see conformance.h. */
#include "conformance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum gen_kind {
    GEN_NORMAL = 0, /* N(0, 1) */
    GEN_POS,        /* uniform [0.1, 4] (sqrt, div) */
    GEN_WIDE,       /* uniform [-8, 8] (activations) */
    GEN_IDS,        /* integers in [0, range) */
    GEN_DISTINCT,   /* a permutation prefix of [0, range) (set_rows) */
    GEN_INT,        /* integers in [-300, 300] */
} gen_kind;

typedef struct in_spec {
    pce_dtype dt;
    int ndim;
    int64_t dims[4];
    gen_kind gen;
    int64_t range;
    bool transpose; /* made as [.., b, a] and viewed transposed: a strided input */
} in_spec;

typedef enum cop {
    C_UNARY,
    C_BINARY,
    C_SWIGLU,
    C_REDUCE,
    C_MATMUL,
    C_RMS,
    C_LN,
    C_SOFTMAX,
    C_CAUSAL,
    C_ROPE,
    C_GET_ROWS,
    C_SET_ROWS,
    C_COPY_SLICE,
    C_CONCAT,
    C_CONTIG,
    C_CAST,
} cop;

typedef struct conf_case {
    const char *name;
    cop kind;
    int n_in;
    in_spec in[4];
    int iarg[3];
    float farg;
    pce_dtype cast_to;
} conf_case;

/* ---- random numbers (splitmix64), fresh per case ---------------------- */

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s)
{
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double normal(uint64_t *s)
{
    double u = uniform(s), v = uniform(s);
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static int64_t numel(const in_spec *in)
{
    int64_t n = 1;
    for (int i = 0; i < in->ndim; i++)
        n *= in->dims[i];
    return n;
}

/* Fills a host buffer of the input's dtype. */
static void *make_data(const in_spec *in, uint64_t *rng)
{
    int64_t n = numel(in);
    float *f = malloc((size_t)n * sizeof *f);
    void *out = malloc(pce_dtype_bytes(in->dt, n) + 1);
    if (!f || !out) {
        free(f);
        free(out);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        switch (in->gen) {
        case GEN_NORMAL: f[i] = (float)normal(rng); break;
        case GEN_POS: f[i] = (float)(0.1 + 3.9 * uniform(rng)); break;
        case GEN_WIDE: f[i] = (float)(-8.0 + 16.0 * uniform(rng)); break;
        case GEN_IDS: f[i] = (float)(next_u64(rng) % (uint64_t)in->range); break;
        case GEN_INT: f[i] = (float)((int64_t)(next_u64(rng) % 601) - 300); break;
        case GEN_DISTINCT: f[i] = (float)i; break;
        }
    }
    if (in->gen == GEN_DISTINCT) { /* shuffle 0..range-1, keep the first n */
        int64_t *p = malloc((size_t)in->range * sizeof *p);
        if (p) {
            for (int64_t i = 0; i < in->range; i++)
                p[i] = i;
            for (int64_t i = in->range - 1; i > 0; i--) {
                int64_t j = (int64_t)(next_u64(rng) % (uint64_t)(i + 1)), t = p[i];
                p[i] = p[j];
                p[j] = t;
            }
            for (int64_t i = 0; i < n && i < in->range; i++)
                f[i] = (float)p[i];
            free(p);
        }
    }
    pce_dtype_from_f32(in->dt, f, out, n);
    free(f);
    return out;
}

/* ---- graph building ------------------------------------------------------ */

static pce_tensor *make_input(pce_graph *g, const in_spec *in, int idx, pce_tensor **leaf)
{
    char name[16];
    snprintf(name, sizeof name, "in%d", idx);
    int64_t d[4];
    memcpy(d, in->dims, sizeof d);
    if (in->transpose) {
        d[in->ndim - 1] = in->dims[in->ndim - 2];
        d[in->ndim - 2] = in->dims[in->ndim - 1];
    }
    *leaf = pce_graph_input(g, name, in->dt, in->ndim, d);
    return in->transpose ? pce_transpose(g, *leaf) : *leaf;
}

static pce_tensor *build_op(pce_graph *g, const conf_case *c, pce_tensor **x)
{
    switch (c->kind) {
    case C_UNARY:
        switch (c->iarg[0]) {
        case 0: return pce_scale(g, x[0], c->farg);
        case 1: return pce_neg(g, x[0]);
        case 2: return pce_abs(g, x[0]);
        case 3: return pce_sqr(g, x[0]);
        case 4: return pce_sqrt(g, x[0]);
        case 5: return pce_exp(g, x[0]);
        case 6: return pce_tanh(g, x[0]);
        case 7: return pce_relu(g, x[0]);
        case 8: return pce_gelu(g, x[0]);
        case 9: return pce_gelu_erf(g, x[0]);
        default: return pce_silu(g, x[0]);
        }
    case C_BINARY:
        switch (c->iarg[0]) {
        case 0: return pce_add(g, x[0], x[1]);
        case 1: return pce_sub(g, x[0], x[1]);
        case 2: return pce_mul(g, x[0], x[1]);
        default: return pce_div(g, x[0], x[1]);
        }
    case C_SWIGLU: return pce_swiglu(g, x[0], x[1]);
    case C_REDUCE:
        switch (c->iarg[0]) {
        case 0: return pce_sum_rows(g, x[0]);
        case 1: return pce_mean_rows(g, x[0]);
        case 2: return pce_max_rows(g, x[0]);
        default: return pce_argmax(g, x[0]);
        }
    case C_MATMUL: return pce_matmul(g, x[0], x[1]);
    case C_RMS: return pce_rms_norm(g, x[0], c->n_in > 1 ? x[1] : NULL, c->farg);
    case C_LN: return pce_layer_norm(g, x[0], x[1], x[2], c->farg);
    case C_SOFTMAX: return pce_softmax(g, x[0], c->n_in > 1 ? x[1] : NULL, c->farg);
    case C_CAUSAL: return pce_causal_mask(g, x[0], c->iarg[0]);
    case C_ROPE: return pce_rope(g, x[0], x[1], c->iarg[0], c->farg, (pce_rope_mode)c->iarg[1]);
    case C_GET_ROWS: return pce_get_rows(g, x[0], x[1]);
    case C_SET_ROWS: return pce_set_rows(g, x[0], x[1], x[2]);
    case C_COPY_SLICE: {
        /* write x1 into rows [iarg0, iarg0 + rows(x1)) of x0 */
        pce_tensor *v = pce_slice(g, x[0], 0, c->iarg[0], c->iarg[0] + c->in[1].dims[0]);
        return pce_copy_into(g, x[1], v);
    }
    case C_CONCAT: return pce_concat(g, x[0], x[1], c->iarg[0]);
    case C_CONTIG: {
        int perm[4] = {c->iarg[0], c->iarg[1], c->iarg[2], 3};
        return pce_contiguous(g, c->in[0].ndim == 3 ? pce_permute(g, x[0], perm) : x[0]);
    }
    case C_CAST: return pce_cast(g, x[0], c->cast_to);
    }
    return NULL;
}

double pce_conformance_threshold(pce_dtype dtype)
{
    switch (dtype) {
    case PCE_DTYPE_F32: return 1e-9;
    case PCE_DTYPE_F16: return 1e-5;
    case PCE_DTYPE_BF16: return 1e-4;
    default: return 0; /* integers: exact */
    }
}

static void describe(const conf_case *c, pce_conf_result *r)
{
    size_t n = 0;
    r->shape[0] = r->dtype[0] = 0;
    for (int i = 0; i < c->n_in; i++) {
        const in_spec *in = &c->in[i];
        n += (size_t)snprintf(r->shape + n, sizeof r->shape - n, "%s[", i ? " " : "");
        for (int k = 0; k < in->ndim && n < sizeof r->shape; k++)
            n += (size_t)snprintf(r->shape + n, sizeof r->shape - n, "%s%lld", k ? "," : "",
                                  (long long)in->dims[k]);
        if (n < sizeof r->shape)
            n += (size_t)snprintf(r->shape + n, sizeof r->shape - n, "]%s",
                                  in->transpose ? "T" : "");
        if (n >= sizeof r->shape)
            break;
    }
    const char *a = pce_dtype_get_info(c->in[0].dt)->name;
    if (c->kind == C_CAST)
        snprintf(r->dtype, sizeof r->dtype, "%s>%s", a, pce_dtype_get_info(c->cast_to)->name);
    else if (c->kind == C_MATMUL && c->in[1].dt != c->in[0].dt)
        snprintf(r->dtype, sizeof r->dtype, "%s*%s", a, pce_dtype_get_info(c->in[1].dt)->name);
    else
        snprintf(r->dtype, sizeof r->dtype, "%s", a);
    snprintf(r->op, sizeof r->op, "%s", c->name);
}

/* Compares out against ref (both of dtype dt, n elements). */
static void compare(pce_dtype dt, const void *ref, const void *out, int64_t n, pce_conf_result *r)
{
    float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    if (!a || !b) {
        r->status = PCE_CONF_FAIL;
        snprintf(r->reason, sizeof r->reason, "out of memory comparing %lld elements",
                 (long long)n);
        free(a);
        free(b);
        return;
    }
    pce_dtype_to_f32(dt, ref, a, n);
    pce_dtype_to_f32(dt, out, b, n);
    bool integer = !pce_dtype_get_info(dt)->is_float;
    double err = 0, energy = 0;
    int64_t bad = -1, mismatches = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(b[i]) && !isnan(a[i])) {
            if (bad < 0)
                bad = i;
            mismatches++;
            continue;
        }
        if (isinf(a[i]) || isinf(b[i]) || isnan(a[i])) {
            if (!(a[i] == b[i]) && !(isnan(a[i]) && isnan(b[i]))) {
                if (bad < 0)
                    bad = i;
                mismatches++;
            }
            continue;
        }
        if (integer && a[i] != b[i]) {
            if (bad < 0)
                bad = i;
            mismatches++;
        }
        err += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        energy += (double)a[i] * a[i];
    }
    r->nmse = err / (energy > 1e-30 ? energy : 1e-30);
    r->threshold = pce_conformance_threshold(dt);
    if (mismatches) {
        r->status = PCE_CONF_FAIL;
        snprintf(r->reason, sizeof r->reason,
                 "%lld element(s) differ (NaN, inf or integer), first at %lld: ref %g got %g",
                 (long long)mismatches, (long long)bad, (double)a[bad], (double)b[bad]);
    } else if (!integer && !(r->nmse <= r->threshold)) {
        r->status = PCE_CONF_FAIL;
        snprintf(r->reason, sizeof r->reason, "nmse %.3g above threshold %.3g", r->nmse,
                 r->threshold);
    } else {
        r->status = PCE_CONF_PASS;
    }
    free(a);
    free(b);
}

/* Builds the case's graph, plans it with opts, feeds data, runs, returns the output. */
static void *run_one(pce_context *ctx, const conf_case *c, void *const *data,
                     const pce_plan_options *opts, pce_dtype *out_dt, int64_t *out_n,
                     pce_conf_result *r)
{
    pce_graph *g = NULL;
    pce_plan *plan = NULL;
    void *out = NULL;
    pce_tensor *leaf[4] = {0}, *x[4] = {0};
    if (pce_graph_create(ctx, &g) != PCE_OK)
        goto fail;
    for (int i = 0; i < c->n_in; i++)
        x[i] = make_input(g, &c->in[i], i, &leaf[i]);
    pce_tensor *y = build_op(g, c, x);
    if (pce_graph_output(g, y) != PCE_OK || pce_plan_create(ctx, g, opts, &plan) != PCE_OK)
        goto fail;
    for (int i = 0; i < c->n_in; i++)
        if (pce_plan_set_input(plan, leaf[i], data[i], pce_tensor_bytes(leaf[i])) != PCE_OK)
            goto fail;
    if (pce_plan_run(plan) != PCE_OK)
        goto fail;
    *out_dt = pce_tensor_dtype(y);
    *out_n = pce_tensor_numel(y);
    out = malloc(pce_tensor_bytes(y));
    if (!out)
        goto fail;
    memset(out, 0xff, pce_tensor_bytes(y)); /* NaN until written */
    if (pce_plan_get_output(plan, y, out, pce_tensor_bytes(y)) != PCE_OK)
        goto fail;
    pce_plan_destroy(plan);
    pce_graph_destroy(g);
    return out;
fail:
    snprintf(r->reason, sizeof r->reason, "%s", pce_context_last_error(ctx));
    free(out);
    pce_plan_destroy(plan);
    pce_graph_destroy(g);
    return NULL;
}

static void run_case(pce_context *ctx, const char *device, const conf_case *c, uint64_t seed,
                     pce_conf_result *r)
{
    memset(r, 0, sizeof *r);
    describe(c, r);
    snprintf(r->device, sizeof r->device, "%s", device);
    pce_device_props props;
    pce_device_get_props(pce_device_find(ctx, device), &props);
    for (int i = 0; i < c->n_in; i++) {
        if (!props.dtype_supported[c->in[i].dt]) {
            r->status = PCE_CONF_SKIP;
            snprintf(r->reason, sizeof r->reason, "%s does not support %s", device,
                     pce_dtype_get_info(c->in[i].dt)->name);
            return;
        }
    }
    void *data[4] = {0};
    uint64_t rng = seed;
    for (int i = 0; i < c->n_in; i++) {
        data[i] = make_data(&c->in[i], &rng);
        if (!data[i]) {
            r->status = PCE_CONF_FAIL;
            snprintf(r->reason, sizeof r->reason, "out of memory for inputs");
            goto done;
        }
    }
    pce_plan_options ro, fo;
    pce_plan_options_init(&ro);
    ro.device = "cpu0";
    ro.strict = true;
    ro.reference_kernels = true;
    ro.poison = true;
    pce_plan_options_init(&fo);
    fo.device = device;
    fo.strict = true; /* the device's own kernels, never a fallback */
    fo.poison = true;
    pce_dtype dt_ref, dt_out;
    int64_t n_ref, n_out;
    void *ref = run_one(ctx, c, data, &ro, &dt_ref, &n_ref, r);
    if (!ref) {
        r->status = PCE_CONF_FAIL;
        char tmp[sizeof r->reason];
        memcpy(tmp, r->reason, sizeof tmp);
        snprintf(r->reason, sizeof r->reason, "reference: %.240s", tmp);
        goto done;
    }
    void *out = run_one(ctx, c, data, &fo, &dt_out, &n_out, r);
    if (!out) {
        r->status = PCE_CONF_FAIL;
    } else {
        compare(dt_ref, ref, out, n_ref, r);
    }
    free(ref);
    free(out);
done:
    for (int i = 0; i < c->n_in; i++)
        free(data[i]);
}

/* ---- the case list ------------------------------------------------------- */

typedef struct case_list {
    conf_case *v;
    int n, cap;
} case_list;

static void add(case_list *l, conf_case c)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 256;
        conf_case *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = c;
}

static in_spec in_(pce_dtype dt, int nd, const int64_t *d, gen_kind gen, bool tr)
{
    in_spec s = {.dt = dt, .ndim = nd, .gen = gen, .transpose = tr};
    memcpy(s.dims, d, (size_t)nd * sizeof *d);
    return s;
}

static void build_cases(case_list *l)
{
    static const pce_dtype fl[3] = {PCE_DTYPE_F32, PCE_DTYPE_F16, PCE_DTYPE_BF16};
    static const char *un_names[] = {"scale", "neg",  "abs",  "sqr",      "sqrt", "exp",
                                     "tanh",  "relu", "gelu", "gelu_erf", "silu"};
    static const char *bin_names[] = {"add", "sub", "mul", "div"};
    static const char *red_names[] = {"sum_rows", "mean_rows", "max_rows", "argmax"};
    /* shapes: 1, odd sizes, a long row, 4-D */
    static const struct {
        int nd;
        int64_t d[4];
        bool tr;
    } shp[] = {
        {1, {1}, false},       {1, {7}, false},          {2, {33, 17}, false},
        {2, {3, 1000}, false}, {4, {2, 3, 5, 7}, false}, {2, {33, 17}, true},
    };
    const int nshp = (int)(sizeof shp / sizeof shp[0]);
    for (int t = 0; t < 3; t++) {
        pce_dtype dt = fl[t];
        for (int u = 0; u < 11; u++)
            for (int s = 0; s < nshp; s++) {
                gen_kind gen = u == 4                         ? GEN_POS
                               : (u == 5 || u >= 8 || u == 6) ? GEN_WIDE
                                                              : GEN_NORMAL;
                if (u == 5)
                    gen = GEN_NORMAL; /* exp: keep within f16 range */
                conf_case c = {.name = un_names[u], .kind = C_UNARY, .n_in = 1, .farg = 0.37f};
                c.iarg[0] = u;
                c.in[0] = in_(dt, shp[s].nd, shp[s].d, gen, shp[s].tr);
                add(l, c);
            }
        /* broadcasting pairs */
        static const struct {
            int na;
            int64_t a[4];
            int nb;
            int64_t b[4];
            bool tr;
        } bp[] = {
            {1, {1}, 1, {1}, false},          {2, {7, 33}, 2, {7, 33}, false},
            {2, {7, 33}, 1, {33}, false},     {2, {7, 33}, 2, {7, 1}, false},
            {3, {2, 1, 5}, 2, {3, 1}, false}, {2, {3, 1000}, 2, {3, 1000}, false},
            {2, {33, 17}, 2, {33, 17}, true}, {4, {2, 3, 4, 5}, 3, {3, 1, 5}, false},
        };
        for (int o = 0; o < 4; o++)
            for (size_t s = 0; s < sizeof bp / sizeof bp[0]; s++) {
                conf_case c = {.name = bin_names[o], .kind = C_BINARY, .n_in = 2};
                c.iarg[0] = o;
                c.in[0] = in_(dt, bp[s].na, bp[s].a, GEN_NORMAL, bp[s].tr);
                c.in[1] = in_(dt, bp[s].nb, bp[s].b, o == 3 ? GEN_POS : GEN_NORMAL, false);
                add(l, c);
            }
        for (int s = 1; s < nshp; s++) {
            conf_case c = {.name = "swiglu", .kind = C_SWIGLU, .n_in = 2};
            c.in[0] = in_(dt, shp[s].nd, shp[s].d, GEN_WIDE, shp[s].tr);
            c.in[1] = in_(dt, shp[s].nd, shp[s].d, GEN_NORMAL, false);
            add(l, c);
        }
        for (int o = 0; o < 4; o++)
            for (int s = 0; s < nshp; s++) {
                conf_case c = {.name = red_names[o], .kind = C_REDUCE, .n_in = 1};
                c.iarg[0] = o;
                c.in[0] = in_(dt, shp[s].nd, shp[s].d, GEN_NORMAL, shp[s].tr);
                add(l, c);
            }
        /* norms */
        static const struct {
            int nd;
            int64_t d[4];
        } ns[] = {{2, {1, 1}}, {2, {7, 33}}, {2, {3, 1000}}, {3, {2, 3, 64}}};
        for (size_t s = 0; s < 4; s++) {
            int64_t D = ns[s].d[ns[s].nd - 1];
            for (int w = 0; w < 2; w++) {
                conf_case c = {.name = "rms_norm", .kind = C_RMS, .n_in = 1 + w, .farg = 1e-5f};
                c.in[0] = in_(dt, ns[s].nd, ns[s].d, GEN_NORMAL, false);
                c.in[1] = in_(dt, 1, &D, GEN_NORMAL, false);
                add(l, c);
            }
            conf_case c = {.name = "layer_norm", .kind = C_LN, .n_in = 3, .farg = 1e-5f};
            c.in[0] = in_(dt, ns[s].nd, ns[s].d, GEN_NORMAL, false);
            c.in[1] = in_(dt, 1, &D, GEN_NORMAL, false);
            c.in[2] = in_(dt, 1, &D, GEN_NORMAL, false);
            add(l, c);
        }
        /* softmax, with and without a mask */
        {
            static const int64_t s1[] = {7, 33}, s2[] = {3, 1000}, s3[] = {2, 4, 5, 33},
                                 m3[] = {5, 33}, s4[] = {33, 17};
            conf_case c = {.name = "softmax", .kind = C_SOFTMAX, .n_in = 1, .farg = 1.0f};
            c.in[0] = in_(dt, 2, s1, GEN_WIDE, false);
            add(l, c);
            c.in[0] = in_(dt, 2, s2, GEN_NORMAL, false);
            c.farg = 0.125f;
            add(l, c);
            c.in[0] = in_(dt, 2, s4, GEN_NORMAL, true);
            add(l, c);
            c.n_in = 2;
            c.in[0] = in_(dt, 4, s3, GEN_NORMAL, false);
            c.in[1] = in_(dt, 2, m3, GEN_NORMAL, false);
            add(l, c);
            /* causal mask then softmax is what attention does: masked input */
            static const int64_t cm1[] = {7, 7}, cm2[] = {2, 5, 9};
            conf_case m = {.name = "causal_mask", .kind = C_CAUSAL, .n_in = 1};
            m.in[0] = in_(dt, 2, cm1, GEN_NORMAL, false);
            add(l, m);
            m.in[0] = in_(dt, 3, cm2, GEN_NORMAL, false);
            m.iarg[0] = 4;
            add(l, m);
        }
        /* rope */
        {
            static const int64_t r1[] = {6, 3, 16}, r2[] = {2, 5, 4, 64}, p1[] = {6}, p2[] = {5};
            for (int mode = 0; mode < 2; mode++) {
                conf_case c = {.name = mode ? "rope_neox" : "rope",
                               .kind = C_ROPE,
                               .n_in = 2,
                               .farg = 10000.0f};
                c.iarg[1] = mode;
                c.iarg[0] = 16;
                c.in[0] = in_(dt, 3, r1, GEN_NORMAL, false);
                c.in[1] = in_(PCE_DTYPE_I32, 1, p1, GEN_IDS, false);
                c.in[1].range = 4096;
                add(l, c);
                c.iarg[0] = 12; /* partial rotary dims */
                add(l, c);
                c.iarg[0] = 64;
                c.farg = 500000.0f;
                c.in[0] = in_(dt, 4, r2, GEN_NORMAL, false);
                c.in[1] = in_(PCE_DTYPE_I32, 1, p2, GEN_IDS, false);
                c.in[1].range = 100000;
                add(l, c);
            }
        }
        /* rows, copies */
        {
            static const int64_t tb[] = {50, 33}, ids[] = {7}, dst[] = {20, 33}, src[] = {5, 33},
                                 sid[] = {5}, kv[] = {12, 2, 8}, kvsrc[] = {3, 2, 8};
            conf_case c = {.name = "get_rows", .kind = C_GET_ROWS, .n_in = 2};
            c.in[0] = in_(dt, 2, tb, GEN_NORMAL, false);
            c.in[1] = in_(PCE_DTYPE_I32, 1, ids, GEN_IDS, false);
            c.in[1].range = 50;
            add(l, c);
            conf_case s = {.name = "set_rows", .kind = C_SET_ROWS, .n_in = 3};
            s.in[0] = in_(dt, 2, dst, GEN_NORMAL, false);
            s.in[1] = in_(PCE_DTYPE_F32, 2, src, GEN_NORMAL, false);
            s.in[2] = in_(PCE_DTYPE_I32, 1, sid, GEN_DISTINCT, false);
            s.in[2].range = 20;
            add(l, s);
            conf_case k = {.name = "copy_into", .kind = C_COPY_SLICE, .n_in = 2};
            k.iarg[0] = 4;
            k.in[0] = in_(dt, 3, kv, GEN_NORMAL, false);
            k.in[1] = in_(dt, 3, kvsrc, GEN_NORMAL, false);
            add(l, k);
            static const int64_t ca[] = {3, 5, 7}, cb0[] = {2, 5, 7}, cb1[] = {3, 4, 7},
                                 cb2[] = {3, 5, 9};
            const int64_t *cbs[3] = {cb0, cb1, cb2};
            for (int ax = 0; ax < 3; ax++) {
                conf_case cc = {.name = "concat", .kind = C_CONCAT, .n_in = 2};
                cc.iarg[0] = ax;
                cc.in[0] = in_(dt, 3, ca, GEN_NORMAL, false);
                cc.in[1] = in_(dt, 3, cbs[ax], GEN_NORMAL, false);
                add(l, cc);
            }
            static const int64_t pc[] = {4, 6, 10};
            conf_case p = {.name = "contiguous", .kind = C_CONTIG, .n_in = 1};
            p.iarg[0] = 1; /* permute (1, 2, 0)-style on the canonical dims */
            p.iarg[1] = 2;
            p.iarg[2] = 0;
            p.in[0] = in_(dt, 3, pc, GEN_NORMAL, false);
            add(l, p);
            conf_case p2 = {.name = "contiguous", .kind = C_CONTIG, .n_in = 1};
            p2.in[0] = in_(dt, 2, shp[5].d, GEN_NORMAL, true);
            add(l, p2);
        }
    }
    /* matmul: dtype pairs x shapes, including decode (M = 1), batches,
     * broadcast batches and transposed (weight-like) operands */
    static const pce_dtype mm[][2] = {{PCE_DTYPE_F32, PCE_DTYPE_F32},
                                      {PCE_DTYPE_F16, PCE_DTYPE_F16},
                                      {PCE_DTYPE_BF16, PCE_DTYPE_BF16},
                                      {PCE_DTYPE_F32, PCE_DTYPE_F16},
                                      {PCE_DTYPE_F32, PCE_DTYPE_BF16}};
    static const struct {
        int na;
        int64_t a[4];
        bool ta;
        int nb;
        int64_t b[4];
        bool tb;
    } ms[] = {
        {2, {1, 1}, false, 2, {1, 1}, false},
        {2, {7, 33}, false, 2, {33, 5}, false},
        {2, {1, 64}, false, 2, {64, 1000}, true},
        {2, {64, 64}, false, 2, {64, 64}, false},
        {2, {33, 65}, true, 2, {65, 300}, true},
        {4, {2, 3, 5, 7}, false, 4, {2, 3, 7, 4}, false},
        {4, {2, 1, 5, 7}, false, 3, {3, 7, 4}, false},
        {2, {130, 257}, false, 2, {257, 129}, false},
        /* attention at decode: a few query rows per KV head against kᵀ
         * (K contiguous) and against v (N contiguous), and a ragged N */
        {3, {3, 3, 64}, false, 3, {3, 64, 100}, true},
        {3, {3, 3, 100}, false, 3, {3, 100, 64}, false},
        {2, {5, 37}, false, 2, {37, 40}, false},
    };
    for (size_t p = 0; p < sizeof mm / sizeof mm[0]; p++)
        for (size_t s = 0; s < sizeof ms / sizeof ms[0]; s++) {
            conf_case c = {.name = "matmul", .kind = C_MATMUL, .n_in = 2};
            c.in[0] = in_(mm[p][0], ms[s].na, ms[s].a, GEN_NORMAL, ms[s].ta);
            c.in[1] = in_(mm[p][1], ms[s].nb, ms[s].b, GEN_NORMAL, ms[s].tb);
            add(l, c);
        }
    /* casts, float <-> float and float <-> integer */
    static const pce_dtype casts[][2] = {
        {PCE_DTYPE_F32, PCE_DTYPE_F16},  {PCE_DTYPE_F32, PCE_DTYPE_BF16},
        {PCE_DTYPE_F16, PCE_DTYPE_F32},  {PCE_DTYPE_BF16, PCE_DTYPE_F32},
        {PCE_DTYPE_F16, PCE_DTYPE_BF16}, {PCE_DTYPE_F32, PCE_DTYPE_I32},
        {PCE_DTYPE_F32, PCE_DTYPE_I8},   {PCE_DTYPE_I32, PCE_DTYPE_F32},
        {PCE_DTYPE_I8, PCE_DTYPE_F32},   {PCE_DTYPE_I32, PCE_DTYPE_I8},
    };
    static const int64_t cs[] = {3, 333};
    for (size_t k = 0; k < sizeof casts / sizeof casts[0]; k++) {
        conf_case c = {.name = "cast", .kind = C_CAST, .n_in = 1, .cast_to = casts[k][1]};
        bool from_int = !pce_dtype_get_info(casts[k][0])->is_float;
        c.in[0] = in_(casts[k][0], 2, cs, from_int ? GEN_INT : GEN_WIDE, false);
        if (casts[k][1] == PCE_DTYPE_I8 || casts[k][1] == PCE_DTYPE_I32)
            c.in[0].gen = casts[k][0] == PCE_DTYPE_I32 ? GEN_INT : GEN_WIDE;
        add(l, c);
        c.in[0].transpose = true;
        add(l, c);
    }
}

static bool matches(const pce_device_props *p, const char *filter)
{
    if (!filter || !*filter)
        return true;
    const char *s = filter;
    while (*s) {
        size_t n = strcspn(s, ",");
        if ((strlen(p->name) == n && strncmp(p->name, s, n) == 0) ||
            (strlen(p->backend) == n && strncmp(p->backend, s, n) == 0))
            return true;
        s += n;
        if (*s == ',')
            s++;
    }
    return false;
}

pce_status pce_conformance_run(pce_context *ctx, const char *filter, uint64_t seed,
                               pce_conf_callback cb, void *user, pce_conf_summary *sum)
{
    pce_conf_summary local = {0};
    if (!sum)
        sum = &local;
    memset(sum, 0, sizeof *sum);
    case_list l = {0};
    build_cases(&l);
    if (!l.n)
        return PCE_ERR_OUT_OF_MEMORY;
    int matched = 0;
    for (int d = 0; d < pce_device_count(ctx); d++) {
        pce_device_props p;
        pce_device_get_props(pce_device_get(ctx, d), &p);
        if (!matches(&p, filter))
            continue;
        matched++;
        for (int i = 0; i < l.n; i++) {
            pce_conf_result r;
            run_case(ctx, p.name, &l.v[i], seed + (uint64_t)i * 0x9e3779b97f4a7c15ull, &r);
            if (r.status == PCE_CONF_PASS)
                sum->pass++;
            else if (r.status == PCE_CONF_FAIL)
                sum->fail++;
            else
                sum->skip++;
            if (cb)
                cb(&r, user);
        }
    }
    free(l.v);
    return matched ? PCE_OK : PCE_ERR_NOT_FOUND;
}
