/* ref_kernels.c — the reference kernels: plain C, one element at a time,
 * double precision arithmetic and accumulation. They are the oracle that
 * every fast kernel and every other backend is tested against, so they
 * favour obviousness over speed. */
#include "cpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double pce_cpu_load(const pce_tref *r, int64_t i0, int64_t i1, int64_t i2, int64_t i3)
{
    const char *p = pce_cpu_at(r, i0, i1, i2, i3);
    switch (r->dtype) {
    case PCE_DTYPE_F32: {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    case PCE_DTYPE_F16: {
        uint16_t v;
        memcpy(&v, p, 2);
        return pce_f16_to_f32(v);
    }
    case PCE_DTYPE_BF16: {
        uint16_t v;
        memcpy(&v, p, 2);
        return pce_bf16_to_f32(v);
    }
    case PCE_DTYPE_I32: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case PCE_DTYPE_I8: return (int8_t)*p;
    default: return NAN;
    }
}

static double sat(double v, double lo, double hi)
{
    if (isnan(v))
        return 0;
    v = nearbyint(v);
    return v < lo ? lo : v > hi ? hi : v;
}

void pce_cpu_store(const pce_tref *r, int64_t i0, int64_t i1, int64_t i2, int64_t i3, double v)
{
    char *p = pce_cpu_at(r, i0, i1, i2, i3);
    switch (r->dtype) {
    case PCE_DTYPE_F32: {
        float f = (float)v;
        memcpy(p, &f, 4);
        break;
    }
    case PCE_DTYPE_F16: {
        uint16_t h = pce_f32_to_f16((float)v);
        memcpy(p, &h, 2);
        break;
    }
    case PCE_DTYPE_BF16: {
        uint16_t h = pce_f32_to_bf16((float)v);
        memcpy(p, &h, 2);
        break;
    }
    case PCE_DTYPE_I32: {
        int32_t x = (int32_t)sat(v, -2147483648.0, 2147483647.0);
        memcpy(p, &x, 4);
        break;
    }
    case PCE_DTYPE_I8: *p = (char)(int8_t)sat(v, -128, 127); break;
    default: break;
    }
}

#define FOR4(ne)                                                                                   \
    for (int64_t i0 = 0; i0 < (ne)[0]; i0++)                                                       \
        for (int64_t i1 = 0; i1 < (ne)[1]; i1++)                                                   \
            for (int64_t i2 = 0; i2 < (ne)[2]; i2++)                                               \
                for (int64_t i3 = 0; i3 < (ne)[3]; i3++)

#define LD_BC(r)                                                                                   \
    pce_cpu_load(r, pce_bc(i0, (r)->ne[0]), pce_bc(i1, (r)->ne[1]), pce_bc(i2, (r)->ne[2]),        \
                 pce_bc(i3, (r)->ne[3]))

static double gelu_tanh(double x)
{
    /* 0.5 x (1 + tanh(u)) written as x * sigmoid(2u), which does not cancel for x < 0 */
    return x / (1.0 + exp(-1.5957691216057308 * (x + 0.044715 * x * x * x)));
}

static pce_status ref_binary(const pce_exec_node *n, cpu_exec *ex)
{
    (void)ex;
    const pce_tref *a = &n->src[0], *b = &n->src[1], *d = &n->dst;
    FOR4(d->ne)
    {
        double x = LD_BC(a), y = LD_BC(b), v;
        switch (n->op) {
        case PCE_OP_ADD: v = x + y; break;
        case PCE_OP_SUB: v = x - y; break;
        case PCE_OP_MUL: v = x * y; break;
        case PCE_OP_DIV: v = x / y; break;
        case PCE_OP_SWIGLU: v = x / (1.0 + exp(-x)) * y; break;
        default: return PCE_ERR_INTERNAL;
        }
        pce_cpu_store(d, i0, i1, i2, i3, v);
    }
    return PCE_OK;
}

static pce_status ref_unary(const pce_exec_node *n, cpu_exec *ex)
{
    (void)ex;
    const pce_tref *a = &n->src[0], *d = &n->dst;
    FOR4(d->ne)
    {
        double x = pce_cpu_load(a, i0, i1, i2, i3), v;
        switch (n->op) {
        case PCE_OP_SCALE: v = x * n->fp[0]; break;
        case PCE_OP_NEG: v = -x; break;
        case PCE_OP_ABS: v = fabs(x); break;
        case PCE_OP_SQR: v = x * x; break;
        case PCE_OP_SQRT: v = sqrt(x); break;
        case PCE_OP_EXP: v = exp(x); break;
        case PCE_OP_TANH: v = tanh(x); break;
        case PCE_OP_RELU: v = x > 0 ? x : 0; break;
        case PCE_OP_GELU: v = gelu_tanh(x); break;
        case PCE_OP_GELU_ERF: v = 0.5 * x * erfc(-x * 0.7071067811865476); break;
        case PCE_OP_SILU: v = x / (1.0 + exp(-x)); break;
        case PCE_OP_CONTIGUOUS:
        case PCE_OP_CAST: v = x; break;
        default: return PCE_ERR_INTERNAL;
        }
        pce_cpu_store(d, i0, i1, i2, i3, v);
    }
    return PCE_OK;
}

static pce_status ref_reduce(const pce_exec_node *n, cpu_exec *ex)
{
    (void)ex;
    const pce_tref *a = &n->src[0], *d = &n->dst;
    int64_t D = a->ne[3];
    for (int64_t i0 = 0; i0 < a->ne[0]; i0++)
        for (int64_t i1 = 0; i1 < a->ne[1]; i1++)
            for (int64_t i2 = 0; i2 < a->ne[2]; i2++) {
                double acc = n->op == PCE_OP_SUM_ROWS || n->op == PCE_OP_MEAN_ROWS ? 0 : -INFINITY;
                int64_t arg = 0;
                for (int64_t i3 = 0; i3 < D; i3++) {
                    double x = pce_cpu_load(a, i0, i1, i2, i3);
                    if (n->op == PCE_OP_SUM_ROWS || n->op == PCE_OP_MEAN_ROWS) {
                        acc += x;
                    } else if (x > acc || (i3 == 0 && !(x <= acc))) {
                        acc = x;
                        arg = i3;
                    }
                }
                if (n->op == PCE_OP_MEAN_ROWS)
                    acc /= (double)D;
                pce_cpu_store(d, i0, i1, i2, 0, n->op == PCE_OP_ARGMAX ? (double)arg : acc);
            }
    return PCE_OK;
}

/* Row `row` of a block-quantized matrix stored row-major (the rows run
 * along dim `kdim` of r, contiguous in blocks), dequantized into out. */
static void quant_row(const pce_tref *r, int64_t i0, int64_t i1, int kdim, int64_t row, int64_t n,
                      float *out)
{
    const char *p = kdim == 2 ? pce_cpu_at(r, i0, i1, 0, row) : pce_cpu_at(r, i0, i1, row, 0);
    pce_dtype_to_f32(r->dtype, p, out, n);
}

/* a · b with b a quantized weight wᵀ: each row of w dequantized (exactly,
 * as the reference dequantization does), then dotted in double. */
static pce_status ref_matmul_quant(const pce_exec_node *n, cpu_exec *ex)
{
    const pce_tref *a = &n->src[0], *b = &n->src[1], *d = &n->dst;
    int64_t K = a->ne[3];
    float *w = malloc((size_t)K * sizeof *w);
    if (!w) {
        snprintf(ex->err, sizeof ex->err, "matmul: %lld floats of scratch", (long long)K);
        return PCE_ERR_OUT_OF_MEMORY;
    }
    for (int64_t i0 = 0; i0 < d->ne[0]; i0++)
        for (int64_t i1 = 0; i1 < d->ne[1]; i1++) {
            int64_t a0 = pce_bc(i0, a->ne[0]), a1 = pce_bc(i1, a->ne[1]);
            int64_t b0 = pce_bc(i0, b->ne[0]), b1 = pce_bc(i1, b->ne[1]);
            for (int64_t j = 0; j < d->ne[3]; j++) {
                quant_row(b, b0, b1, 2, j, K, w);
                for (int64_t m = 0; m < d->ne[2]; m++) {
                    double acc = 0;
                    for (int64_t k = 0; k < K; k++)
                        acc += pce_cpu_load(a, a0, a1, m, k) * (double)w[k];
                    pce_cpu_store(d, i0, i1, m, j, acc);
                }
            }
        }
    free(w);
    return PCE_OK;
}

static pce_status ref_matmul(const pce_exec_node *n, cpu_exec *ex)
{
    (void)ex;
    const pce_tref *a = &n->src[0], *b = &n->src[1], *d = &n->dst;
    if (pce_dtype_get_info(b->dtype)->is_quantized)
        return ref_matmul_quant(n, ex);
    int64_t K = a->ne[3];
    for (int64_t i0 = 0; i0 < d->ne[0]; i0++)
        for (int64_t i1 = 0; i1 < d->ne[1]; i1++) {
            int64_t a0 = pce_bc(i0, a->ne[0]), a1 = pce_bc(i1, a->ne[1]);
            int64_t b0 = pce_bc(i0, b->ne[0]), b1 = pce_bc(i1, b->ne[1]);
            for (int64_t m = 0; m < d->ne[2]; m++)
                for (int64_t j = 0; j < d->ne[3]; j++) {
                    double acc = 0;
                    for (int64_t k = 0; k < K; k++)
                        acc += pce_cpu_load(a, a0, a1, m, k) * pce_cpu_load(b, b0, b1, k, j);
                    pce_cpu_store(d, i0, i1, m, j, acc);
                }
        }
    return PCE_OK;
}

static pce_status ref_norm(const pce_exec_node *n, cpu_exec *ex)
{
    (void)ex;
    const pce_tref *x = &n->src[0], *d = &n->dst;
    const pce_tref *w = n->has_src[1] ? &n->src[1] : NULL;
    const pce_tref *b = n->has_src[2] ? &n->src[2] : NULL;
    int64_t D = x->ne[3];
    double eps = n->fp[0];
    for (int64_t i0 = 0; i0 < x->ne[0]; i0++)
        for (int64_t i1 = 0; i1 < x->ne[1]; i1++)
            for (int64_t i2 = 0; i2 < x->ne[2]; i2++) {
                double mean = 0, ss = 0;
                if (n->op == PCE_OP_LAYER_NORM) {
                    for (int64_t i3 = 0; i3 < D; i3++)
                        mean += pce_cpu_load(x, i0, i1, i2, i3);
                    mean /= (double)D;
                }
                for (int64_t i3 = 0; i3 < D; i3++) {
                    double v = pce_cpu_load(x, i0, i1, i2, i3) - mean;
                    ss += v * v;
                }
                double inv = 1.0 / sqrt(ss / (double)D + eps);
                for (int64_t i3 = 0; i3 < D; i3++) {
                    double v = (pce_cpu_load(x, i0, i1, i2, i3) - mean) * inv;
                    if (w)
                        v *= pce_cpu_load(w, 0, 0, 0, i3);
                    if (b)
                        v += pce_cpu_load(b, 0, 0, 0, i3);
                    pce_cpu_store(d, i0, i1, i2, i3, v);
                }
            }
    return PCE_OK;
}

static pce_status ref_softmax(const pce_exec_node *n, cpu_exec *ex)
{
    (void)ex;
    const pce_tref *x = &n->src[0], *d = &n->dst;
    const pce_tref *m = n->has_src[1] ? &n->src[1] : NULL;
    int64_t D = x->ne[3];
    double scale = n->fp[0];
    for (int64_t i0 = 0; i0 < x->ne[0]; i0++)
        for (int64_t i1 = 0; i1 < x->ne[1]; i1++)
            for (int64_t i2 = 0; i2 < x->ne[2]; i2++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t i3 = 0; i3 < D; i3++) {
                    double v = pce_cpu_load(x, i0, i1, i2, i3) * scale;
                    if (m)
                        v += LD_BC(m);
                    if (v > mx)
                        mx = v;
                }
                for (int64_t i3 = 0; i3 < D; i3++) {
                    double v = pce_cpu_load(x, i0, i1, i2, i3) * scale;
                    if (m)
                        v += LD_BC(m);
                    sum += mx == -INFINITY ? 0 : exp(v - mx);
                }
                /* a row masked everywhere gives zeros, not NaN */
                for (int64_t i3 = 0; i3 < D; i3++) {
                    double v = pce_cpu_load(x, i0, i1, i2, i3) * scale;
                    if (m)
                        v += LD_BC(m);
                    pce_cpu_store(d, i0, i1, i2, i3, sum > 0 ? exp(v - mx) / sum : 0.0);
                }
            }
    return PCE_OK;
}

static pce_status ref_causal_mask(const pce_exec_node *n, cpu_exec *ex)
{
    (void)ex;
    const pce_tref *x = &n->src[0], *d = &n->dst;
    FOR4(d->ne)
    {
        double v = i3 > i2 + n->ip[0] ? -INFINITY : pce_cpu_load(x, i0, i1, i2, i3);
        pce_cpu_store(d, i0, i1, i2, i3, v);
    }
    return PCE_OK;
}

static pce_status ref_rope(const pce_exec_node *n, cpu_exec *ex)
{
    (void)ex;
    const pce_tref *x = &n->src[0], *pos = &n->src[1], *d = &n->dst;
    int n_rot = n->ip[0], half = n_rot / 2;
    bool neox = n->ip[1] == PCE_ROPE_NEOX;
    double base = n->fp[0];
    for (int64_t i0 = 0; i0 < x->ne[0]; i0++)
        for (int64_t i1 = 0; i1 < x->ne[1]; i1++) {
            double p = pce_cpu_load(pos, 0, 0, 0, i1);
            for (int64_t i2 = 0; i2 < x->ne[2]; i2++) {
                for (int64_t i3 = n_rot; i3 < x->ne[3]; i3++)
                    pce_cpu_store(d, i0, i1, i2, i3, pce_cpu_load(x, i0, i1, i2, i3));
                for (int i = 0; i < half; i++) {
                    double th = p * pow(base, -2.0 * i / n_rot);
                    int64_t j0 = neox ? i : 2 * i, j1 = neox ? i + half : 2 * i + 1;
                    double x0 = pce_cpu_load(x, i0, i1, i2, j0),
                           x1 = pce_cpu_load(x, i0, i1, i2, j1);
                    double c = cos(th), s = sin(th);
                    pce_cpu_store(d, i0, i1, i2, j0, x0 * c - x1 * s);
                    pce_cpu_store(d, i0, i1, i2, j1, x0 * s + x1 * c);
                }
            }
        }
    return PCE_OK;
}

static pce_status bad_id(cpu_exec *ex, const pce_exec_node *n, int64_t i, int64_t id, int64_t rows)
{
    snprintf(ex->err, sizeof ex->err, "%s '%s': ids[%lld] = %lld is outside [0, %lld)",
             pce_op_name(n->op), n->tensor->name, (long long)i, (long long)id, (long long)rows);
    return PCE_ERR_INVALID_ARGUMENT;
}

static pce_status ref_get_rows(const pce_exec_node *n, cpu_exec *ex)
{
    const pce_tref *t = &n->src[0], *ids = &n->src[1], *d = &n->dst;
    bool quant = pce_dtype_get_info(t->dtype)->is_quantized;
    float *row = quant ? malloc((size_t)d->ne[3] * sizeof *row) : NULL;
    if (quant && !row) {
        snprintf(ex->err, sizeof ex->err, "get_rows: %lld floats of scratch", (long long)d->ne[3]);
        return PCE_ERR_OUT_OF_MEMORY;
    }
    for (int64_t i = 0; i < d->ne[2]; i++) {
        int64_t id = (int64_t)pce_cpu_load(ids, 0, 0, 0, i);
        if (id < 0 || id >= t->ne[2]) {
            free(row);
            return bad_id(ex, n, i, id, t->ne[2]);
        }
        if (quant)
            quant_row(t, 0, 0, 3, id, d->ne[3], row);
        for (int64_t j = 0; j < d->ne[3]; j++)
            pce_cpu_store(d, 0, 0, i, j, quant ? row[j] : pce_cpu_load(t, 0, 0, id, j));
    }
    free(row);
    return PCE_OK;
}

static pce_status ref_set_rows(const pce_exec_node *n, cpu_exec *ex)
{
    const pce_tref *src = &n->src[1], *ids = &n->src[2], *d = &n->dst;
    for (int64_t i = 0; i < src->ne[2]; i++) {
        int64_t id = (int64_t)pce_cpu_load(ids, 0, 0, 0, i);
        if (id < 0 || id >= d->ne[2])
            return bad_id(ex, n, i, id, d->ne[2]);
    }
    for (int64_t i = 0; i < src->ne[2]; i++) {
        int64_t id = (int64_t)pce_cpu_load(ids, 0, 0, 0, i);
        for (int64_t j = 0; j < d->ne[3]; j++)
            pce_cpu_store(d, 0, 0, id, j, pce_cpu_load(src, 0, 0, i, j));
    }
    return PCE_OK;
}

static pce_status ref_copy_into(const pce_exec_node *n, cpu_exec *ex)
{
    (void)ex;
    const pce_tref *s = &n->src[1], *d = &n->dst;
    FOR4(d->ne) pce_cpu_store(d, i0, i1, i2, i3, pce_cpu_load(s, i0, i1, i2, i3));
    return PCE_OK;
}

static pce_status ref_concat(const pce_exec_node *n, cpu_exec *ex)
{
    (void)ex;
    const pce_tref *a = &n->src[0], *b = &n->src[1], *d = &n->dst;
    int c = n->ip[0];
    FOR4(d->ne)
    {
        int64_t idx[4] = {i0, i1, i2, i3};
        double v;
        if (idx[c] < a->ne[c]) {
            v = pce_cpu_load(a, i0, i1, i2, i3);
        } else {
            idx[c] -= a->ne[c];
            v = pce_cpu_load(b, idx[0], idx[1], idx[2], idx[3]);
        }
        pce_cpu_store(d, i0, i1, i2, i3, v);
    }
    return PCE_OK;
}

const cpu_kernel_fn pce_cpu_ref_kernels[PCE_OP_COUNT] = {
    [PCE_OP_ADD] = ref_binary,
    [PCE_OP_SUB] = ref_binary,
    [PCE_OP_MUL] = ref_binary,
    [PCE_OP_DIV] = ref_binary,
    [PCE_OP_SWIGLU] = ref_binary,
    [PCE_OP_SCALE] = ref_unary,
    [PCE_OP_NEG] = ref_unary,
    [PCE_OP_ABS] = ref_unary,
    [PCE_OP_SQR] = ref_unary,
    [PCE_OP_SQRT] = ref_unary,
    [PCE_OP_EXP] = ref_unary,
    [PCE_OP_TANH] = ref_unary,
    [PCE_OP_RELU] = ref_unary,
    [PCE_OP_GELU] = ref_unary,
    [PCE_OP_GELU_ERF] = ref_unary,
    [PCE_OP_SILU] = ref_unary,
    [PCE_OP_CONTIGUOUS] = ref_unary,
    [PCE_OP_CAST] = ref_unary,
    [PCE_OP_SUM_ROWS] = ref_reduce,
    [PCE_OP_MEAN_ROWS] = ref_reduce,
    [PCE_OP_MAX_ROWS] = ref_reduce,
    [PCE_OP_ARGMAX] = ref_reduce,
    [PCE_OP_MATMUL] = ref_matmul,
    [PCE_OP_RMS_NORM] = ref_norm,
    [PCE_OP_LAYER_NORM] = ref_norm,
    [PCE_OP_SOFTMAX] = ref_softmax,
    [PCE_OP_CAUSAL_MASK] = ref_causal_mask,
    [PCE_OP_ROPE] = ref_rope,
    [PCE_OP_GET_ROWS] = ref_get_rows,
    [PCE_OP_SET_ROWS] = ref_set_rows,
    [PCE_OP_COPY_INTO] = ref_copy_into,
    [PCE_OP_CONCAT] = ref_concat,
};
