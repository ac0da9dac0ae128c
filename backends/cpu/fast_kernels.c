/* fast_kernels.c — the CPU backend's fast kernels.
 * Everything works on rows of the innermost dim in f32: a row that is f32
 * and contiguous is used in place, anything else (f16, bf16, strided) is
 * converted into per-thread scratch first. The f32 loops are written so GCC
 * vectorises them, and compiled for AVX-512, AVX2 and baseline x86-64 with
 * target_clones, so one binary picks the best at run time. Rows are split
 * across the thread pool when a node is big enough to pay for it. */
#include "cpu.h"
#include "gemm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(PCE_NO_CLONES)
#define SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SIMD_CLONES
#endif

/* Elements per task: below this a node runs on the calling thread alone. */
#define GRAIN_ELEMS 32768

/* ---- row access --------------------------------------------------------- */

static inline bool f32_row(const pce_tref *r)
{
    return r->dtype == PCE_DTYPE_F32 && (r->nb[3] == 4 || r->ne[3] == 1);
}

static inline float *thread_row(cpu_exec *ex, int thread, int slot)
{
    return ex->row_scratch + ((size_t)thread * 4 + (size_t)slot) * ex->row_floats;
}

/* Row (i0,i1,i2) of r as f32: in place when possible, else converted into tmp. */
static const float *load_row(const pce_tref *r, int64_t i0, int64_t i1, int64_t i2, float *tmp)
{
    const char *p = pce_cpu_at(r, i0, i1, i2, 0);
    int64_t n = r->ne[3];
    if (f32_row(r))
        return (const float *)p;
    if (r->nb[3] == (int64_t)pce_dtype_get_info(r->dtype)->block_bytes) {
        pce_dtype_to_f32(r->dtype, p, tmp, n);
    } else {
        for (int64_t i = 0; i < n; i++)
            tmp[i] = (float)pce_cpu_load(r, i0, i1, i2, i);
    }
    return tmp;
}

/* Where to write row (i0,i1,i2) of r: the row itself if f32, else tmp. */
static float *out_row(const pce_tref *r, int64_t i0, int64_t i1, int64_t i2, float *tmp)
{
    return f32_row(r) ? (float *)pce_cpu_at(r, i0, i1, i2, 0) : tmp;
}

/* Completes out_row: converts tmp into the row when it was used. */
static void store_row(const pce_tref *r, int64_t i0, int64_t i1, int64_t i2, const float *v)
{
    char *p = pce_cpu_at(r, i0, i1, i2, 0);
    if ((const char *)v == p)
        return;
    int64_t n = r->ne[3];
    if (r->nb[3] == (int64_t)pce_dtype_get_info(r->dtype)->block_bytes) {
        pce_dtype_from_f32(r->dtype, v, p, n);
    } else {
        for (int64_t i = 0; i < n; i++)
            pce_cpu_store(r, i0, i1, i2, i, v[i]);
    }
}

static inline void row_index(const pce_tref *d, int64_t r, int64_t *i0, int64_t *i1, int64_t *i2)
{
    *i2 = r % d->ne[2];
    *i1 = (r / d->ne[2]) % d->ne[1];
    *i0 = r / (d->ne[2] * d->ne[1]);
}

static inline int64_t n_rows(const pce_tref *d)
{
    return d->ne[0] * d->ne[1] * d->ne[2];
}

static int64_t row_grain(int64_t row_len)
{
    int64_t g = GRAIN_ELEMS / (row_len > 0 ? row_len : 1);
    return g < 1 ? 1 : g;
}

static bool contiguous(const pce_tref *r)
{
    int64_t nb = (int64_t)pce_dtype_get_info(r->dtype)->block_bytes;
    for (int i = 3; i >= 0; i--) {
        if (r->ne[i] != 1 && r->nb[i] != nb)
            return false;
        nb *= r->ne[i];
    }
    return true;
}

static bool same_shape(const pce_tref *a, const pce_tref *b)
{
    return memcmp(a->ne, b->ne, sizeof a->ne) == 0;
}

/* ---- vectorisable math -------------------------------------------------- */

/* exp(x) for f32: range reduction x = k ln2 + r, |r| <= ln2/2, degree-6
 * polynomial (about 1 ulp), written branch-free so loops vectorise. */
static inline float exp_f(float x)
{
    x = x < -103.0f ? -103.0f : x > 88.7f ? 88.7f : x;
    /* round to nearest by adding and removing 1.5 * 2^23 (|x log2 e| < 2^22):
     * unlike roundf, this vectorises */
    float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - k * 0.693145751953125f - k * 1.428606765330187e-06f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* 2^k by building the exponent; k in [-149, 128] is split in two */
    int32_t ki = (int32_t)k;
    int32_t k1 = ki >> 1, k2 = ki - k1;
    /* bit casts through memcpy (not a union, which the vectoriser cannot
     * follow into registers) */
    int32_t b1 = (k1 + 127) << 23, b2 = (k2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return p * s1 * s2;
}

static inline float tanh_f(float x)
{
    float ax = x < 0 ? -x : x;
    /* tanh = sign * (1 - 2 / (exp(2|x|) + 1)); a short series near 0 keeps
     * relative accuracy where the subtraction would cancel */
    float e = exp_f(2.0f * ax);
    float t = 1.0f - 2.0f / (e + 1.0f);
    float x2 = x * x;
    float small = ax * (1.0f + x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315))));
    t = ax < 0.0625f ? small : t;
    return x < 0 ? -t : t;
}

static inline float silu_f(float x)
{
    return x / (1.0f + exp_f(-x));
}

/* 0.5 x (1 + tanh(u)) == x * sigmoid(2u): the same function without the
 * cancellation of 1 + tanh(u) for negative x */
static inline float gelu_f(float x)
{
    float u2 = 1.5957691216057308f * (x + 0.044715f * x * x * x);
    return x / (1.0f + exp_f(-u2));
}

/* ---- elementwise -------------------------------------------------------- */

SIMD_CLONES
static void unary_f32(pce_op op, float s, const float *a, float *d, int64_t n)
{
    switch (op) {
    case PCE_OP_SCALE:
        for (int64_t i = 0; i < n; i++)
            d[i] = a[i] * s;
        break;
    case PCE_OP_NEG:
        for (int64_t i = 0; i < n; i++)
            d[i] = -a[i];
        break;
    case PCE_OP_ABS:
        for (int64_t i = 0; i < n; i++)
            d[i] = fabsf(a[i]);
        break;
    case PCE_OP_SQR:
        for (int64_t i = 0; i < n; i++)
            d[i] = a[i] * a[i];
        break;
    case PCE_OP_SQRT:
        for (int64_t i = 0; i < n; i++)
            d[i] = sqrtf(a[i]);
        break;
    case PCE_OP_EXP:
        for (int64_t i = 0; i < n; i++)
            d[i] = exp_f(a[i]);
        break;
    case PCE_OP_TANH:
        for (int64_t i = 0; i < n; i++)
            d[i] = tanh_f(a[i]);
        break;
    case PCE_OP_RELU:
        for (int64_t i = 0; i < n; i++)
            d[i] = a[i] > 0 ? a[i] : 0.0f;
        break;
    case PCE_OP_GELU:
        for (int64_t i = 0; i < n; i++)
            d[i] = gelu_f(a[i]);
        break;
    case PCE_OP_GELU_ERF:
        /* 1 + erf(t) == erfc(-t), accurate for negative x too */
        for (int64_t i = 0; i < n; i++)
            d[i] = 0.5f * a[i] * erfcf(-a[i] * 0.70710678f);
        break;
    case PCE_OP_SILU:
        for (int64_t i = 0; i < n; i++)
            d[i] = silu_f(a[i]);
        break;
    default:
        if (d != a)
            memmove(d, a, (size_t)n * 4);
        break; /* contiguous, cast */
    }
}

/* b_stride 0 broadcasts b[0]. */
SIMD_CLONES
static void binary_f32(pce_op op, const float *a, const float *b, int b_stride, float *d, int64_t n)
{
    if (b_stride == 0) {
        float y = b[0];
        switch (op) {
        case PCE_OP_ADD:
            for (int64_t i = 0; i < n; i++)
                d[i] = a[i] + y;
            break;
        case PCE_OP_SUB:
            for (int64_t i = 0; i < n; i++)
                d[i] = a[i] - y;
            break;
        case PCE_OP_MUL:
            for (int64_t i = 0; i < n; i++)
                d[i] = a[i] * y;
            break;
        case PCE_OP_DIV:
            for (int64_t i = 0; i < n; i++)
                d[i] = a[i] / y;
            break;
        case PCE_OP_SWIGLU:
            for (int64_t i = 0; i < n; i++)
                d[i] = silu_f(a[i]) * y;
            break;
        default: break;
        }
        return;
    }
    switch (op) {
    case PCE_OP_ADD:
        for (int64_t i = 0; i < n; i++)
            d[i] = a[i] + b[i];
        break;
    case PCE_OP_SUB:
        for (int64_t i = 0; i < n; i++)
            d[i] = a[i] - b[i];
        break;
    case PCE_OP_MUL:
        for (int64_t i = 0; i < n; i++)
            d[i] = a[i] * b[i];
        break;
    case PCE_OP_DIV:
        for (int64_t i = 0; i < n; i++)
            d[i] = a[i] / b[i];
        break;
    case PCE_OP_SWIGLU:
        for (int64_t i = 0; i < n; i++)
            d[i] = silu_f(a[i]) * b[i];
        break;
    default: break;
    }
}

typedef struct ew_job {
    const pce_exec_node *n;
    cpu_exec *ex;
} ew_job;

/* All operands f32, contiguous, same shape: one flat range of elements. */
static void ew_flat_task(void *arg, int64_t b, int64_t e, int thread)
{
    (void)thread;
    const ew_job *j = arg;
    const pce_exec_node *n = j->n;
    const float *a = (const float *)n->src[0].host + b;
    float *d = (float *)n->dst.host + b;
    if (n->nsrc >= 2 && n->op != PCE_OP_COPY_INTO)
        binary_f32(n->op, a, (const float *)n->src[1].host + b, 1, d, e - b);
    else
        unary_f32(n->op, n->fp[0], a, d, e - b);
}

static void ew_rows_task(void *arg, int64_t rb, int64_t re, int thread)
{
    const ew_job *j = arg;
    const pce_exec_node *n = j->n;
    const pce_tref *a = &n->src[0], *d = &n->dst;
    const pce_tref *b = n->nsrc >= 2 ? &n->src[1] : NULL;
    float *ta = thread_row(j->ex, thread, 0), *tb = thread_row(j->ex, thread, 1);
    float *td = thread_row(j->ex, thread, 2);
    for (int64_t r = rb; r < re; r++) {
        int64_t i0, i1, i2;
        row_index(d, r, &i0, &i1, &i2);
        const float *pa =
            load_row(a, pce_bc(i0, a->ne[0]), pce_bc(i1, a->ne[1]), pce_bc(i2, a->ne[2]), ta);
        float *pd = out_row(d, i0, i1, i2, td);
        if (b) {
            const float *pb =
                load_row(b, pce_bc(i0, b->ne[0]), pce_bc(i1, b->ne[1]), pce_bc(i2, b->ne[2]), tb);
            if (a->ne[3] == d->ne[3]) {
                binary_f32(n->op, pa, pb, b->ne[3] == 1 ? 0 : 1, pd, d->ne[3]);
            } else { /* a broadcasts along the row: rare, go element by element */
                for (int64_t i = 0; i < d->ne[3]; i++)
                    binary_f32(n->op, pa, pb + (b->ne[3] == 1 ? 0 : i), 0, pd + i, 1);
            }
        } else {
            unary_f32(n->op, n->fp[0], pa, pd, d->ne[3]);
        }
        store_row(d, i0, i1, i2, pd);
    }
}

static pce_status fast_elementwise(const pce_exec_node *n, cpu_exec *ex)
{
    ew_job j = {n, ex};
    const pce_tref *d = &n->dst;
    bool flat = d->dtype == PCE_DTYPE_F32 && contiguous(d) && n->src[0].dtype == PCE_DTYPE_F32 &&
                contiguous(&n->src[0]) && same_shape(&n->src[0], d);
    if (n->nsrc >= 2)
        flat = flat && n->src[1].dtype == PCE_DTYPE_F32 && contiguous(&n->src[1]) &&
               same_shape(&n->src[1], d);
    if (flat) {
        pce_threadpool_parallel_for(ex->pool, pce_numel4(d->ne), GRAIN_ELEMS, ew_flat_task, &j);
        return PCE_OK;
    }
    pce_threadpool_parallel_for(ex->pool, n_rows(d), row_grain(d->ne[3]), ew_rows_task, &j);
    return PCE_OK;
}

/* Cast, contiguous and copy_into: same-dtype contiguous rows are memcpy'd,
 * integer-to-integer goes through the exact reference path, the rest
 * through f32 rows. */
static void copy_task(void *arg, int64_t rb, int64_t re, int thread)
{
    const ew_job *j = arg;
    const pce_exec_node *n = j->n;
    const pce_tref *s = n->op == PCE_OP_COPY_INTO ? &n->src[1] : &n->src[0], *d = &n->dst;
    size_t es = pce_dtype_get_info(d->dtype)->block_bytes;
    bool ints = !pce_dtype_get_info(s->dtype)->is_float && !pce_dtype_get_info(d->dtype)->is_float;
    float *tmp = thread_row(j->ex, thread, 0);
    for (int64_t r = rb; r < re; r++) {
        int64_t i0, i1, i2;
        row_index(d, r, &i0, &i1, &i2);
        if (s->dtype == d->dtype && s->nb[3] == (int64_t)es && d->nb[3] == (int64_t)es) {
            memcpy(pce_cpu_at(d, i0, i1, i2, 0), pce_cpu_at(s, i0, i1, i2, 0),
                   (size_t)d->ne[3] * es);
        } else if (ints) {
            for (int64_t i = 0; i < d->ne[3]; i++)
                pce_cpu_store(d, i0, i1, i2, i, pce_cpu_load(s, i0, i1, i2, i));
        } else {
            const float *v = load_row(s, i0, i1, i2, tmp);
            store_row(d, i0, i1, i2, v);
        }
    }
}

static pce_status fast_copy(const pce_exec_node *n, cpu_exec *ex)
{
    ew_job j = {n, ex};
    pce_threadpool_parallel_for(ex->pool, n_rows(&n->dst), row_grain(n->dst.ne[3]), copy_task, &j);
    return PCE_OK;
}

static pce_status fast_concat(const pce_exec_node *n, cpu_exec *ex)
{
    /* two copies into the halves of dst, as views */
    int c = n->ip[0];
    for (int k = 0; k < 2; k++) {
        pce_exec_node part = *n;
        part.op = PCE_OP_CONTIGUOUS;
        part.src[0] = n->src[k];
        part.nsrc = 1;
        part.dst.ne[c] = n->src[k].ne[c];
        if (k == 1)
            part.dst.host = (char *)n->dst.host + n->src[0].ne[c] * n->dst.nb[c];
        fast_copy(&part, ex);
    }
    return PCE_OK;
}

/* ---- rows: reductions, norms, softmax, mask, rope ----------------------- */

SIMD_CLONES
static float sum_f32(const float *x, int64_t n)
{
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++)
            acc[k] += x[i + k];
    float s = 0;
    for (; i < n; i++)
        s += x[i];
    for (int k = 0; k < 16; k++)
        s += acc[k];
    return s;
}

SIMD_CLONES
static float sumsq_f32(const float *x, float mean, int64_t n)
{
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++)
            acc[k] += (x[i + k] - mean) * (x[i + k] - mean);
    float s = 0;
    for (; i < n; i++)
        s += (x[i] - mean) * (x[i] - mean);
    for (int k = 0; k < 16; k++)
        s += acc[k];
    return s;
}

SIMD_CLONES
static void norm_apply(const float *x, const float *w, const float *b, float mean, float inv,
                       float *d, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = (x[i] - mean) * inv;
        v = w ? v * w[i] : v;
        d[i] = b ? v + b[i] : v;
    }
}

SIMD_CLONES
static float max_f32(const float *x, int64_t n)
{
    float acc[16];
    for (int k = 0; k < 16; k++)
        acc[k] = -INFINITY;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++)
            acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
    float mx = -INFINITY;
    for (; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (int k = 0; k < 16; k++)
        mx = acc[k] > mx ? acc[k] : mx;
    return mx;
}

/* softmax of one row: d = exp(x*scale + m - max) / sum. Each pass is a
 * plain loop the compiler vectorises: the max and the sum through 16
 * partial accumulators (a single float accumulator would keep an ordered,
 * scalar reduction), the exponentials on their own. */
SIMD_CLONES
static void softmax_row(const float *x, const float *m, int m_stride, float scale, float *d,
                        int64_t n)
{
    if (!m)
        for (int64_t i = 0; i < n; i++)
            d[i] = x[i] * scale;
    else if (m_stride)
        for (int64_t i = 0; i < n; i++)
            d[i] = x[i] * scale + m[i];
    else
        for (int64_t i = 0; i < n; i++)
            d[i] = x[i] * scale + m[0];
    float mx = max_f32(d, n);
    if (mx == -INFINITY) { /* masked everywhere: zeros, as the reference */
        for (int64_t i = 0; i < n; i++)
            d[i] = 0;
        return;
    }
    for (int64_t i = 0; i < n; i++)
        d[i] = exp_f(d[i] - mx);
    float inv = 1.0f / sum_f32(d, n);
    for (int64_t i = 0; i < n; i++)
        d[i] *= inv;
}

/* NeoX rotation: pairs (i, i + half) */
SIMD_CLONES
static void rope_neox(const float *x, const float *c, const float *s, float *d, int half)
{
    for (int i = 0; i < half; i++) {
        float x0 = x[i], x1 = x[i + half];
        d[i] = x0 * c[i] - x1 * s[i];
        d[i + half] = x0 * s[i] + x1 * c[i];
    }
}

static void rows_task(void *arg, int64_t rb, int64_t re, int thread)
{
    int32_t rope_pos = 0; /* the position whose angles t1/t2 hold */
    bool rope_ok = false;
    const ew_job *j = arg;
    const pce_exec_node *n = j->n;
    const pce_tref *x = &n->src[0], *d = &n->dst;
    float *tx = thread_row(j->ex, thread, 0), *t1 = thread_row(j->ex, thread, 1);
    float *t2 = thread_row(j->ex, thread, 2), *td = thread_row(j->ex, thread, 3);
    int64_t D = x->ne[3];
    const float *w = NULL, *b = NULL;
    if ((n->op == PCE_OP_RMS_NORM || n->op == PCE_OP_LAYER_NORM) && n->has_src[1])
        w = load_row(&n->src[1], 0, 0, 0, t1);
    if (n->op == PCE_OP_LAYER_NORM && n->has_src[2])
        b = load_row(&n->src[2], 0, 0, 0, t2);
    for (int64_t r = rb; r < re; r++) {
        int64_t i0, i1, i2;
        row_index(x, r, &i0, &i1, &i2);
        const float *px = load_row(x, i0, i1, i2, tx);
        switch (n->op) {
        case PCE_OP_SUM_ROWS:
        case PCE_OP_MEAN_ROWS:
        case PCE_OP_MAX_ROWS:
        case PCE_OP_ARGMAX: {
            float v;
            if (n->op == PCE_OP_MAX_ROWS || n->op == PCE_OP_ARGMAX) {
                int64_t arg = 0;
                for (int64_t i = 1; i < D; i++)
                    if (px[i] > px[arg] || (px[arg] != px[arg] && px[i] == px[i]))
                        arg = i;
                v = n->op == PCE_OP_ARGMAX ? (float)arg : px[arg];
                if (n->op == PCE_OP_ARGMAX) {
                    int32_t ai = (int32_t)arg;
                    memcpy(pce_cpu_at(d, i0, i1, i2, 0), &ai, 4);
                    continue;
                }
            } else {
                v = sum_f32(px, D);
                if (n->op == PCE_OP_MEAN_ROWS)
                    v /= (float)D;
            }
            float *pd = out_row(d, i0, i1, i2, td);
            pd[0] = v;
            store_row(d, i0, i1, i2, pd);
            break;
        }
        case PCE_OP_RMS_NORM:
        case PCE_OP_LAYER_NORM: {
            float mean = n->op == PCE_OP_LAYER_NORM ? sum_f32(px, D) / (float)D : 0.0f;
            float inv = 1.0f / sqrtf(sumsq_f32(px, mean, D) / (float)D + n->fp[0]);
            float *pd = out_row(d, i0, i1, i2, td);
            norm_apply(px, w, b, mean, inv, pd, D);
            store_row(d, i0, i1, i2, pd);
            break;
        }
        case PCE_OP_SOFTMAX: {
            const float *pm = NULL;
            int ms = 1;
            if (n->has_src[1]) {
                const pce_tref *m = &n->src[1];
                pm = load_row(m, pce_bc(i0, m->ne[0]), pce_bc(i1, m->ne[1]), pce_bc(i2, m->ne[2]),
                              t1);
                ms = m->ne[3] == 1 ? 0 : 1;
            }
            float *pd = out_row(d, i0, i1, i2, td);
            softmax_row(px, pm, ms, n->fp[0], pd, D);
            store_row(d, i0, i1, i2, pd);
            break;
        }
        case PCE_OP_CAUSAL_MASK: {
            float *pd = out_row(d, i0, i1, i2, td);
            int64_t lim = i2 + n->ip[0]; /* columns > lim are masked */
            for (int64_t i = 0; i < D; i++)
                pd[i] = i > lim ? -INFINITY : px[i];
            store_row(d, i0, i1, i2, pd);
            break;
        }
        case PCE_OP_ROPE: {
            /* rows are (batch, t, head); i1 is the token */
            int32_t pos;
            memcpy(&pos, pce_cpu_at(&n->src[1], 0, 0, 0, i1), 4);
            int n_rot = n->ip[0], half = n_rot / 2;
            bool neox = n->ip[1] == PCE_ROPE_NEOX;
            float *pd = out_row(d, i0, i1, i2, td);
            /* the angles depend on the position alone: computed once per
             * token (not per head) into this thread's rows t1 (cos) and t2
             * (sin), in double: pos up to 10^6 times theta needs the
             * precision */
            if (!rope_ok || pos != rope_pos) {
                double step = pow((double)n->fp[0], -2.0 / n_rot), th = pos;
                for (int i = 0; i < half; i++, th *= step) {
                    t1[i] = (float)cos(th);
                    t2[i] = (float)sin(th);
                }
                rope_pos = pos;
                rope_ok = true;
            }
            if (neox)
                rope_neox(px, t1, t2, pd, half);
            else
                for (int i = 0; i < half; i++) {
                    float x0 = px[2 * i], x1 = px[2 * i + 1];
                    pd[2 * i] = x0 * t1[i] - x1 * t2[i];
                    pd[2 * i + 1] = x0 * t2[i] + x1 * t1[i];
                }
            if (pd != px)
                memcpy(pd + n_rot, px + n_rot, (size_t)(D - n_rot) * 4);
            store_row(d, i0, i1, i2, pd);
            break;
        }
        default: break;
        }
    }
}

static pce_status fast_rows(const pce_exec_node *n, cpu_exec *ex)
{
    ew_job j = {n, ex};
    int64_t D = n->src[0].ne[3];
    /* rope does a cos/sin per pair: count it as heavier work */
    int64_t grain = row_grain(n->op == PCE_OP_ROPE ? D * 16 : D);
    pce_threadpool_parallel_for(ex->pool, n_rows(&n->src[0]), grain, rows_task, &j);
    return PCE_OK;
}

/* ---- gather / scatter rows ---------------------------------------------- */

static pce_status check_ids(const pce_exec_node *n, cpu_exec *ex, const pce_tref *ids, int64_t rows)
{
    for (int64_t i = 0; i < ids->ne[3]; i++) {
        int32_t id;
        memcpy(&id, pce_cpu_at(ids, 0, 0, 0, i), 4);
        if (id < 0 || id >= rows) {
            snprintf(ex->err, sizeof ex->err, "%s '%s': ids[%lld] = %d is outside [0, %lld)",
                     pce_op_name(n->op), n->tensor->name, (long long)i, id, (long long)rows);
            return PCE_ERR_INVALID_ARGUMENT;
        }
    }
    return PCE_OK;
}

static void rows_copy_task(void *arg, int64_t rb, int64_t re, int thread)
{
    const ew_job *j = arg;
    const pce_exec_node *n = j->n;
    bool get = n->op == PCE_OP_GET_ROWS;
    const pce_tref *s = get ? &n->src[0] : &n->src[1], *d = &n->dst;
    const pce_tref *ids = get ? &n->src[1] : &n->src[2];
    float *tmp = thread_row(j->ex, thread, 0);
    size_t es = pce_dtype_get_info(d->dtype)->block_bytes;
    for (int64_t i = rb; i < re; i++) {
        int32_t id;
        memcpy(&id, pce_cpu_at(ids, 0, 0, 0, i), 4);
        int64_t si = get ? id : i, di = get ? i : id;
        if (s->dtype == d->dtype && s->nb[3] == (int64_t)es && d->nb[3] == (int64_t)es) {
            memcpy(pce_cpu_at(d, 0, 0, di, 0), pce_cpu_at(s, 0, 0, si, 0), (size_t)d->ne[3] * es);
        } else {
            const float *v = load_row(s, 0, 0, si, tmp);
            store_row(d, 0, 0, di, v);
        }
    }
}

static pce_status fast_get_rows(const pce_exec_node *n, cpu_exec *ex)
{
    pce_status st = check_ids(n, ex, &n->src[1], n->src[0].ne[2]);
    if (st != PCE_OK)
        return st;
    ew_job j = {n, ex};
    pce_threadpool_parallel_for(ex->pool, n->dst.ne[2], row_grain(n->dst.ne[3]), rows_copy_task,
                                &j);
    return PCE_OK;
}

static pce_status fast_set_rows(const pce_exec_node *n, cpu_exec *ex)
{
    pce_status st = check_ids(n, ex, &n->src[2], n->dst.ne[2]);
    if (st != PCE_OK)
        return st;
    ew_job j = {n, ex};
    /* a repeated id must leave the last row written, as the reference does:
     * one thread, in order */
    rows_copy_task(&j, 0, n->src[1].ne[2], 0);
    return PCE_OK;
}

/* ---- matmul ------------------------------------------------------------- */

#define PANEL_N 256

/* How to hand a 2-D f32 operand to GEMM without a copy, if possible. */
static bool gemm_view(const pce_tref *r, int64_t rows, int64_t cols, bool *trans, int64_t *ld)
{
    if (r->dtype != PCE_DTYPE_F32 || r->nb[2] % 4 || r->nb[3] % 4)
        return false;
    if ((r->nb[3] == 4 || cols == 1) && r->nb[2] / 4 >= cols) {
        *trans = false;
        *ld = rows == 1 ? cols : r->nb[2] / 4;
        return true;
    }
    if ((r->nb[2] == 4 || rows == 1) && r->nb[3] / 4 >= rows) {
        *trans = true;
        *ld = cols == 1 ? rows : r->nb[3] / 4;
        return true;
    }
    return false;
}

typedef struct conv_job {
    const pce_tref *r;
    int64_t b0, b1;
    int64_t row0, col0, rows, cols; /* the block to convert */
    bool by_cols;                   /* rows of the output are the source's columns */
    float *dst;                     /* row-major, ld = by_cols ? rows : cols */
} conv_job;

/* Converts a block of a matrix to f32 row-major; with by_cols the result is
 * the block's transpose (so the source's contiguous dim stays contiguous). */
static void conv_task(void *arg, int64_t b, int64_t e, int thread)
{
    (void)thread;
    const conv_job *c = arg;
    const pce_tref *r = c->r;
    int64_t es = (int64_t)pce_dtype_get_info(r->dtype)->block_bytes;
    for (int64_t i = b; i < e; i++) {
        if (!c->by_cols) {
            float *out = c->dst + i * c->cols;
            if (r->nb[3] == es)
                pce_dtype_to_f32(r->dtype, pce_cpu_at(r, c->b0, c->b1, c->row0 + i, c->col0), out,
                                 c->cols);
            else
                for (int64_t k = 0; k < c->cols; k++)
                    out[k] = (float)pce_cpu_load(r, c->b0, c->b1, c->row0 + i, c->col0 + k);
        } else {
            float *out = c->dst + i * c->rows;
            if (r->nb[2] == es)
                pce_dtype_to_f32(r->dtype, pce_cpu_at(r, c->b0, c->b1, c->row0, c->col0 + i), out,
                                 c->rows);
            else
                for (int64_t k = 0; k < c->rows; k++)
                    out[k] = (float)pce_cpu_load(r, c->b0, c->b1, c->row0 + k, c->col0 + i);
        }
    }
}

static void convert_block(cpu_exec *ex, conv_job *c)
{
    int64_t n = c->by_cols ? c->cols : c->rows;
    int64_t len = c->by_cols ? c->rows : c->cols;
    pce_threadpool_parallel_for(ex->pool, n, row_grain(len), conv_task, c);
}

static pce_status fast_matmul(const pce_exec_node *n, cpu_exec *ex)
{
    const pce_tref *a = &n->src[0], *b = &n->src[1], *d = &n->dst;
    if (pce_dtype_get_info(b->dtype)->is_quantized) {
        pce_status st = pce_cpu_matmul_quant(n, ex);
        if (st != PCE_ERR_UNSUPPORTED)
            return st;
        /* else: panels of dequantized weight rows through the GEMM, below */
    }
    if (b->dtype == PCE_DTYPE_F16 && d->ne[2] <= 8) { /* attention over an f16 cache */
        pce_status st = pce_cpu_matmul_f16_small(n, ex);
        if (st != PCE_ERR_UNSUPPORTED)
            return st;
    }
    int64_t M = d->ne[2], N = d->ne[3], K = a->ne[3];
    float *scratch = ex->scratch;
    for (int64_t i0 = 0; i0 < d->ne[0]; i0++)
        for (int64_t i1 = 0; i1 < d->ne[1]; i1++) {
            int64_t a0 = pce_bc(i0, a->ne[0]), a1 = pce_bc(i1, a->ne[1]);
            int64_t b0 = pce_bc(i0, b->ne[0]), b1 = pce_bc(i1, b->ne[1]);
            float *C = (float *)pce_cpu_at(d, i0, i1, 0, 0);
            bool ta, tb;
            int64_t lda, ldb;
            const float *A = (const float *)pce_cpu_at(a, a0, a1, 0, 0);
            float *bpanel = scratch;
            if (!gemm_view(a, M, K, &ta, &lda)) {
                conv_job c = {a, a0, a1, 0, 0, M, K, false, scratch};
                convert_block(ex, &c);
                A = scratch;
                ta = false;
                lda = K;
                bpanel = scratch + M * K;
            }
            if (gemm_view(b, K, N, &tb, &ldb)) {
                pce_gemm_f32(ta, tb, M, N, K, A, lda, (const float *)pce_cpu_at(b, b0, b1, 0, 0),
                             ldb, C, N, ex->pool, ex->gemm_own);
                continue;
            }
            /* b needs converting: column panels, each written straight into C */
            int64_t es = (int64_t)pce_dtype_get_info(b->dtype)->block_bytes;
            /* K contiguous: weights^T (always so for a quantized b, whose
             * rows may also be a single block: nb[2] == nb[3]) */
            bool by_cols =
                (b->nb[2] == es && b->nb[3] != es) || pce_dtype_get_info(b->dtype)->is_quantized;
            for (int64_t j0 = 0; j0 < N; j0 += PANEL_N) {
                int64_t nc = N - j0 < PANEL_N ? N - j0 : PANEL_N;
                conv_job c = {b, b0, b1, 0, j0, K, nc, by_cols, bpanel};
                convert_block(ex, &c);
                /* C[:, j0:j0+nc] with ldc = N */
                if (by_cols)
                    pce_gemm_f32(ta, true, M, nc, K, A, lda, bpanel, K, C + j0, N, ex->pool,
                                 ex->gemm_own);
                else
                    pce_gemm_f32(ta, false, M, nc, K, A, lda, bpanel, nc, C + j0, N, ex->pool,
                                 ex->gemm_own);
            }
        }
    return PCE_OK;
}

size_t pce_cpu_fast_scratch(const pce_exec_node *n, int n_threads)
{
    (void)n_threads;
    if (n->op != PCE_OP_MATMUL)
        return 0;
    int64_t M = n->dst.ne[2], K = n->src[0].ne[3];
    int64_t N = n->dst.ne[3];
    return (size_t)(M * K + K * (N < PANEL_N ? N : PANEL_N));
}

const cpu_kernel_fn pce_cpu_fast_kernels[PCE_OP_COUNT] = {
    [PCE_OP_ADD] = fast_elementwise,
    [PCE_OP_SUB] = fast_elementwise,
    [PCE_OP_MUL] = fast_elementwise,
    [PCE_OP_DIV] = fast_elementwise,
    [PCE_OP_SWIGLU] = fast_elementwise,
    [PCE_OP_SCALE] = fast_elementwise,
    [PCE_OP_NEG] = fast_elementwise,
    [PCE_OP_ABS] = fast_elementwise,
    [PCE_OP_SQR] = fast_elementwise,
    [PCE_OP_SQRT] = fast_elementwise,
    [PCE_OP_EXP] = fast_elementwise,
    [PCE_OP_TANH] = fast_elementwise,
    [PCE_OP_RELU] = fast_elementwise,
    [PCE_OP_GELU] = fast_elementwise,
    [PCE_OP_GELU_ERF] = fast_elementwise,
    [PCE_OP_SILU] = fast_elementwise,
    [PCE_OP_CONTIGUOUS] = fast_copy,
    [PCE_OP_CAST] = fast_copy,
    [PCE_OP_COPY_INTO] = fast_copy,
    [PCE_OP_CONCAT] = fast_concat,
    [PCE_OP_SUM_ROWS] = fast_rows,
    [PCE_OP_MEAN_ROWS] = fast_rows,
    [PCE_OP_MAX_ROWS] = fast_rows,
    [PCE_OP_ARGMAX] = fast_rows,
    [PCE_OP_RMS_NORM] = fast_rows,
    [PCE_OP_LAYER_NORM] = fast_rows,
    [PCE_OP_SOFTMAX] = fast_rows,
    [PCE_OP_CAUSAL_MASK] = fast_rows,
    [PCE_OP_ROPE] = fast_rows,
    [PCE_OP_MATMUL] = fast_matmul,
    [PCE_OP_GET_ROWS] = fast_get_rows,
    [PCE_OP_SET_ROWS] = fast_set_rows,
};
