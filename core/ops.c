/* ops.c — op builders: validate shapes and dtypes, then add a node. Every
 * error names the op, the operands and their shapes. */
#include "graph_build.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *op_names[PCE_OP_COUNT] = {
    [PCE_OP_LEAF] = "leaf",
    [PCE_OP_VIEW] = "view",
    [PCE_OP_ADD] = "add",
    [PCE_OP_SUB] = "sub",
    [PCE_OP_MUL] = "mul",
    [PCE_OP_DIV] = "div",
    [PCE_OP_SCALE] = "scale",
    [PCE_OP_NEG] = "neg",
    [PCE_OP_ABS] = "abs",
    [PCE_OP_SQR] = "sqr",
    [PCE_OP_SQRT] = "sqrt",
    [PCE_OP_EXP] = "exp",
    [PCE_OP_TANH] = "tanh",
    [PCE_OP_RELU] = "relu",
    [PCE_OP_GELU] = "gelu",
    [PCE_OP_GELU_ERF] = "gelu_erf",
    [PCE_OP_SILU] = "silu",
    [PCE_OP_SWIGLU] = "swiglu",
    [PCE_OP_SUM_ROWS] = "sum_rows",
    [PCE_OP_MEAN_ROWS] = "mean_rows",
    [PCE_OP_MAX_ROWS] = "max_rows",
    [PCE_OP_ARGMAX] = "argmax",
    [PCE_OP_MATMUL] = "matmul",
    [PCE_OP_RMS_NORM] = "rms_norm",
    [PCE_OP_LAYER_NORM] = "layer_norm",
    [PCE_OP_SOFTMAX] = "softmax",
    [PCE_OP_CAUSAL_MASK] = "causal_mask",
    [PCE_OP_ROPE] = "rope",
    [PCE_OP_GET_ROWS] = "get_rows",
    [PCE_OP_SET_ROWS] = "set_rows",
    [PCE_OP_COPY_INTO] = "copy_into",
    [PCE_OP_CONCAT] = "concat",
    [PCE_OP_CONTIGUOUS] = "contiguous",
    [PCE_OP_CAST] = "cast",
};

const char *pce_op_name(pce_op op)
{
    return (unsigned)op < PCE_OP_COUNT && op_names[op] ? op_names[op] : "unknown";
}

int pce_op_from_name(const char *name)
{
    for (int i = 0; name && i < PCE_OP_COUNT; i++)
        if (op_names[i] && !strcmp(op_names[i], name))
            return i;
    return -1;
}

bool pce_op_can_inplace(pce_op op)
{
    switch (op) {
    case PCE_OP_ADD:
    case PCE_OP_SUB:
    case PCE_OP_MUL:
    case PCE_OP_DIV:
    case PCE_OP_SCALE:
    case PCE_OP_NEG:
    case PCE_OP_ABS:
    case PCE_OP_SQR:
    case PCE_OP_SQRT:
    case PCE_OP_EXP:
    case PCE_OP_TANH:
    case PCE_OP_RELU:
    case PCE_OP_GELU:
    case PCE_OP_GELU_ERF:
    case PCE_OP_SILU:
    case PCE_OP_SWIGLU:
    case PCE_OP_RMS_NORM:
    case PCE_OP_LAYER_NORM:
    case PCE_OP_SOFTMAX:
    case PCE_OP_CAUSAL_MASK:
    case PCE_OP_ROPE: return true;
    default: return false;
    }
}

static bool is_float(pce_dtype d)
{
    return pce_dtype_get_info(d)->is_float && !pce_dtype_get_info(d)->is_quantized;
}

/* A block-quantized weight read along its rows (the row, the innermost dim
 * of the stored tensor, contiguous in blocks): matmul's b as wᵀ, or a
 * get_rows table. `kdim` is the dim of t that runs along those rows. */
static bool quant_rows(pce_graph *g, const char *op, const pce_tensor *t, int kdim,
                       const char *what)
{
    const pce_dtype_info *in = pce_dtype_get_info(t->dtype);
    if (!in->is_quantized)
        return true;
    char s[PCE_SHAPE_STR];
    if (t->nb[kdim] != (int64_t)in->block_bytes || t->ne[kdim] % in->block_size) {
        pce_graph_fail(g, PCE_ERR_UNSUPPORTED,
                       "%s: %s '%s' %s is %s: a quantized operand must be read along its stored "
                       "rows (for matmul: pass the weight transposed, x · wᵀ)",
                       op, what, t->name, pce_shape_str(t, s), in->name);
        return false;
    }
    return true;
}

static bool need_float(pce_graph *g, const char *op, const pce_tensor *t, const char *what)
{
    if (is_float(t->dtype))
        return true;
    char s[PCE_SHAPE_STR];
    pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "%s: %s '%s' %s must be f32, f16 or bf16", op, what,
                   t->name, pce_shape_str(t, s));
    return false;
}

static pce_tensor *node(pce_graph *g, pce_op op, pce_dtype dtype, int ndim,
                        const int64_t ne[PCE_MAX_DIMS], pce_tensor *a, pce_tensor *b, pce_tensor *c)
{
    pce_tensor *t = pce_graph_new_tensor(g, pce_op_name(op), dtype, ndim, ne);
    if (!t)
        return NULL;
    t->op = op;
    t->src[0] = a;
    t->src[1] = b;
    t->src[2] = c;
    return t;
}

/* ---- elementwise ------------------------------------------------------- */

/* The public one-line builders: pce_NAME(g, a[, b]) -> helper(g, PCE_OP_OP, a[, b]). */
#define BINARY_OP(name, OP)                                                                        \
    pce_tensor *pce_##name(pce_graph *g, pce_tensor *a, pce_tensor *b)                             \
    {                                                                                              \
        return binary(g, PCE_OP_##OP, a, b);                                                       \
    }
#define UNARY_OP(name, OP)                                                                         \
    pce_tensor *pce_##name(pce_graph *g, pce_tensor *a)                                            \
    {                                                                                              \
        return unary(g, PCE_OP_##OP, a);                                                           \
    }
#define REDUCE_OP(name, OP)                                                                        \
    pce_tensor *pce_##name(pce_graph *g, pce_tensor *a)                                            \
    {                                                                                              \
        return reduce(g, PCE_OP_##OP, a);                                                          \
    }

static pce_tensor *binary(pce_graph *g, pce_op op, pce_tensor *a, pce_tensor *b)
{
    const char *name = pce_op_name(op);
    if (!pce_graph_check_src(g, name, a, "a") || !pce_graph_check_src(g, name, b, "b"))
        return NULL;
    if (!need_float(g, name, a, "a") || !need_float(g, name, b, "b"))
        return NULL;
    char sa[PCE_SHAPE_STR], sb[PCE_SHAPE_STR];
    if (a->dtype != b->dtype)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "%s: dtypes differ: '%s' %s and '%s' %s (cast one first)", name,
                              a->name, pce_shape_str(a, sa), b->name, pce_shape_str(b, sb));
    int64_t ne[PCE_MAX_DIMS];
    for (int i = 0; i < PCE_MAX_DIMS; i++) {
        if (a->ne[i] != b->ne[i] && a->ne[i] != 1 && b->ne[i] != 1)
            return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                                  "%s: shapes '%s' %s and '%s' %s do not broadcast", name, a->name,
                                  pce_shape_str(a, sa), b->name, pce_shape_str(b, sb));
        ne[i] = a->ne[i] > b->ne[i] ? a->ne[i] : b->ne[i];
    }
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    return node(g, op, a->dtype, nd, ne, a, b, NULL);
}

BINARY_OP(add, ADD)
BINARY_OP(sub, SUB)
BINARY_OP(mul, MUL)
BINARY_OP(div, DIV)

static pce_tensor *unary(pce_graph *g, pce_op op, pce_tensor *a)
{
    const char *name = pce_op_name(op);
    if (!pce_graph_check_src(g, name, a, "a") || !need_float(g, name, a, "a"))
        return NULL;
    return node(g, op, a->dtype, a->ndim, a->ne, a, NULL, NULL);
}

pce_tensor *pce_scale(pce_graph *g, pce_tensor *a, float s)
{
    pce_tensor *t = unary(g, PCE_OP_SCALE, a);
    if (t)
        t->fp[0] = s;
    return t;
}

UNARY_OP(neg, NEG)
UNARY_OP(abs, ABS)
UNARY_OP(sqr, SQR)
UNARY_OP(sqrt, SQRT)
UNARY_OP(exp, EXP)
UNARY_OP(tanh, TANH)
UNARY_OP(relu, RELU)
UNARY_OP(gelu, GELU)
UNARY_OP(gelu_erf, GELU_ERF)
UNARY_OP(silu, SILU)

pce_tensor *pce_swiglu(pce_graph *g, pce_tensor *a, pce_tensor *b)
{
    if (!pce_graph_check_src(g, "swiglu", a, "a") || !pce_graph_check_src(g, "swiglu", b, "b"))
        return NULL;
    if (!need_float(g, "swiglu", a, "a") || !need_float(g, "swiglu", b, "b"))
        return NULL;
    char sa[PCE_SHAPE_STR], sb[PCE_SHAPE_STR];
    if (a->dtype != b->dtype || memcmp(a->ne, b->ne, sizeof a->ne) != 0)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "swiglu: '%s' %s and '%s' %s must have the same shape and dtype",
                              a->name, pce_shape_str(a, sa), b->name, pce_shape_str(b, sb));
    return node(g, PCE_OP_SWIGLU, a->dtype, a->ndim, a->ne, a, b, NULL);
}

/* ---- reductions -------------------------------------------------------- */

static pce_tensor *reduce(pce_graph *g, pce_op op, pce_tensor *a)
{
    const char *name = pce_op_name(op);
    if (!pce_graph_check_src(g, name, a, "a") || !need_float(g, name, a, "a"))
        return NULL;
    int64_t ne[PCE_MAX_DIMS];
    memcpy(ne, a->ne, sizeof ne);
    ne[3] = 1;
    return node(g, op, op == PCE_OP_ARGMAX ? PCE_DTYPE_I32 : a->dtype, a->ndim, ne, a, NULL, NULL);
}

REDUCE_OP(sum_rows, SUM_ROWS)
REDUCE_OP(mean_rows, MEAN_ROWS)
REDUCE_OP(max_rows, MAX_ROWS)
REDUCE_OP(argmax, ARGMAX)

/* ---- matmul ------------------------------------------------------------ */

pce_tensor *pce_matmul(pce_graph *g, pce_tensor *a, pce_tensor *b)
{
    if (!pce_graph_check_src(g, "matmul", a, "a") || !pce_graph_check_src(g, "matmul", b, "b"))
        return NULL;
    /* b may be a block-quantized weight, transposed (K along its rows) */
    bool bq = pce_dtype_get_info(b->dtype)->is_quantized;
    if (!need_float(g, "matmul", a, "a") || (!bq && !need_float(g, "matmul", b, "b")) ||
        (bq && !quant_rows(g, "matmul", b, 2, "b")))
        return NULL;
    char sa[PCE_SHAPE_STR], sb[PCE_SHAPE_STR];
    if (a->ndim < 2 || b->ndim < 2)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "matmul: '%s' %s and '%s' %s need at least 2 dims each (reshape "
                              "a vector to [1, K] or [K, 1])",
                              a->name, pce_shape_str(a, sa), b->name, pce_shape_str(b, sb));
    if (a->ne[3] != b->ne[2])
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "matmul: inner dims differ: '%s' %s has K=%lld, '%s' %s has K=%lld",
                              a->name, pce_shape_str(a, sa), (long long)a->ne[3], b->name,
                              pce_shape_str(b, sb), (long long)b->ne[2]);
    int64_t ne[PCE_MAX_DIMS] = {1, 1, a->ne[2], b->ne[3]};
    for (int i = 0; i < 2; i++) {
        if (a->ne[i] != b->ne[i] && a->ne[i] != 1 && b->ne[i] != 1)
            return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                                  "matmul: batch dims of '%s' %s and '%s' %s do not broadcast",
                                  a->name, pce_shape_str(a, sa), b->name, pce_shape_str(b, sb));
        ne[i] = a->ne[i] > b->ne[i] ? a->ne[i] : b->ne[i];
    }
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    return node(g, PCE_OP_MATMUL, PCE_DTYPE_F32, nd, ne, a, b, NULL);
}

/* ---- norms, softmax, masks, rope -------------------------------------- */

static bool row_param(pce_graph *g, const char *op, const pce_tensor *x, const pce_tensor *w,
                      const char *what)
{
    if (!w)
        return true;
    if (!pce_graph_check_src(g, op, w, what) || !need_float(g, op, w, what))
        return false;
    if (pce_numel4(w->ne) != x->ne[3] || w->ne[3] != x->ne[3]) {
        char sx[PCE_SHAPE_STR], sw[PCE_SHAPE_STR];
        pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                       "%s: %s '%s' %s must be [%lld] to match '%s' %s", op, what, w->name,
                       pce_shape_str(w, sw), (long long)x->ne[3], x->name, pce_shape_str(x, sx));
        return false;
    }
    return true;
}

pce_tensor *pce_rms_norm(pce_graph *g, pce_tensor *x, pce_tensor *w, float eps)
{
    if (!pce_graph_check_src(g, "rms_norm", x, "x") || !need_float(g, "rms_norm", x, "x") ||
        !row_param(g, "rms_norm", x, w, "weight"))
        return NULL;
    if (!(eps >= 0.0f))
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "rms_norm: eps %g must be >= 0",
                              (double)eps);
    pce_tensor *t = node(g, PCE_OP_RMS_NORM, x->dtype, x->ndim, x->ne, x, w, NULL);
    if (t)
        t->fp[0] = eps;
    return t;
}

pce_tensor *pce_layer_norm(pce_graph *g, pce_tensor *x, pce_tensor *w, pce_tensor *b, float eps)
{
    if (!pce_graph_check_src(g, "layer_norm", x, "x") || !need_float(g, "layer_norm", x, "x") ||
        !row_param(g, "layer_norm", x, w, "weight") || !row_param(g, "layer_norm", x, b, "bias"))
        return NULL;
    if (!(eps >= 0.0f))
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "layer_norm: eps %g must be >= 0",
                              (double)eps);
    pce_tensor *t = node(g, PCE_OP_LAYER_NORM, x->dtype, x->ndim, x->ne, x, w, b);
    if (t)
        t->fp[0] = eps;
    return t;
}

pce_tensor *pce_softmax(pce_graph *g, pce_tensor *x, pce_tensor *mask, float scale)
{
    if (!pce_graph_check_src(g, "softmax", x, "x") || !need_float(g, "softmax", x, "x"))
        return NULL;
    char sx[PCE_SHAPE_STR], sm[PCE_SHAPE_STR];
    if (mask) {
        if (!pce_graph_check_src(g, "softmax", mask, "mask"))
            return NULL;
        if (mask->dtype != x->dtype && mask->dtype != PCE_DTYPE_F32)
            return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                                  "softmax: mask '%s' %s must be f32 or x's dtype (x '%s' %s)",
                                  mask->name, pce_shape_str(mask, sm), x->name,
                                  pce_shape_str(x, sx));
        for (int i = 0; i < PCE_MAX_DIMS; i++)
            if (mask->ne[i] != x->ne[i] && mask->ne[i] != 1)
                return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                                      "softmax: mask '%s' %s does not broadcast to x '%s' %s",
                                      mask->name, pce_shape_str(mask, sm), x->name,
                                      pce_shape_str(x, sx));
    }
    if (!isfinite(scale))
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "softmax: scale %g is not finite",
                              (double)scale);
    pce_tensor *t = node(g, PCE_OP_SOFTMAX, x->dtype, x->ndim, x->ne, x, mask, NULL);
    if (t)
        t->fp[0] = scale;
    return t;
}

pce_tensor *pce_causal_mask(pce_graph *g, pce_tensor *x, int n_past)
{
    if (!pce_graph_check_src(g, "causal_mask", x, "x") || !need_float(g, "causal_mask", x, "x"))
        return NULL;
    char sx[PCE_SHAPE_STR];
    if (x->ndim < 2 || n_past < 0)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "causal_mask: x '%s' %s needs >= 2 dims and n_past %d >= 0", x->name,
                              pce_shape_str(x, sx), n_past);
    pce_tensor *t = node(g, PCE_OP_CAUSAL_MASK, x->dtype, x->ndim, x->ne, x, NULL, NULL);
    if (t)
        t->ip[0] = n_past;
    return t;
}

pce_tensor *pce_rope(pce_graph *g, pce_tensor *x, pce_tensor *pos, int n_rot, float theta_base,
                     pce_rope_mode mode)
{
    if (!pce_graph_check_src(g, "rope", x, "x") || !pce_graph_check_src(g, "rope", pos, "pos") ||
        !need_float(g, "rope", x, "x"))
        return NULL;
    char sx[PCE_SHAPE_STR], sp[PCE_SHAPE_STR];
    if (x->ndim < 3)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "rope: x '%s' %s must be [..., T, H, D]",
                              x->name, pce_shape_str(x, sx));
    if (pos->dtype != PCE_DTYPE_I32 || pos->ndim != 1 || pos->ne[3] != x->ne[1])
        return pce_graph_fail(
            g, PCE_ERR_INVALID_ARGUMENT, "rope: pos '%s' %s must be i32 [T=%lld] for x '%s' %s",
            pos->name, pce_shape_str(pos, sp), (long long)x->ne[1], x->name, pce_shape_str(x, sx));
    if (n_rot <= 0 || n_rot % 2 || n_rot > x->ne[3])
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "rope: n_rot %d must be even and in 2..D=%lld (x '%s' %s)", n_rot,
                              (long long)x->ne[3], x->name, pce_shape_str(x, sx));
    if (mode != PCE_ROPE_NORMAL && mode != PCE_ROPE_NEOX)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "rope: unknown mode %d", (int)mode);
    if (!(theta_base > 0.0f) || !isfinite(theta_base))
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "rope: theta_base %g must be > 0",
                              (double)theta_base);
    pce_tensor *t = node(g, PCE_OP_ROPE, x->dtype, x->ndim, x->ne, x, pos, NULL);
    if (t) {
        t->ip[0] = n_rot;
        t->ip[1] = (int32_t)mode;
        t->fp[0] = theta_base;
    }
    return t;
}

/* ---- rows, copies, casts ---------------------------------------------- */

pce_tensor *pce_get_rows(pce_graph *g, pce_tensor *table, pce_tensor *ids)
{
    if (!pce_graph_check_src(g, "get_rows", table, "table") ||
        !pce_graph_check_src(g, "get_rows", ids, "ids"))
        return NULL;
    if (pce_dtype_get_info(table->dtype)->is_quantized
            ? !quant_rows(g, "get_rows", table, 3, "table")
            : !need_float(g, "get_rows", table, "table"))
        return NULL;
    char st[PCE_SHAPE_STR], si[PCE_SHAPE_STR];
    if (table->ndim != 2 || ids->dtype != PCE_DTYPE_I32 || ids->ndim != 1)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "get_rows: table '%s' %s must be [R, D] and ids '%s' %s i32 [N]",
                              table->name, pce_shape_str(table, st), ids->name,
                              pce_shape_str(ids, si));
    int64_t ne[PCE_MAX_DIMS] = {1, 1, ids->ne[3], table->ne[3]};
    return node(g, PCE_OP_GET_ROWS, PCE_DTYPE_F32, 2, ne, table, ids, NULL);
}

/* A tensor that aliases dst's storage and is produced by a writing op. */
static pce_tensor *alias_write(pce_graph *g, pce_op op, pce_tensor *dst)
{
    pce_tensor *t = node(g, op, dst->dtype, dst->ndim, dst->ne, dst, NULL, NULL);
    if (!t)
        return NULL;
    memcpy(t->nb, dst->nb, sizeof t->nb);
    t->base = pce_tensor_root(dst);
    t->offset = dst->offset;
    return t;
}

static bool writable(pce_graph *g, const char *op, const pce_tensor *dst)
{
    if (pce_tensor_root(dst)->role != PCE_ROLE_WEIGHT)
        return true;
    char sd[PCE_SHAPE_STR];
    pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                   "%s: destination '%s' %s is (a view of) a weight, which is constant", op,
                   dst->name, pce_shape_str(dst, sd));
    return false;
}

pce_tensor *pce_set_rows(pce_graph *g, pce_tensor *dst, pce_tensor *src, pce_tensor *ids)
{
    if (!pce_graph_check_src(g, "set_rows", dst, "dst") ||
        !pce_graph_check_src(g, "set_rows", src, "src") ||
        !pce_graph_check_src(g, "set_rows", ids, "ids") || !need_float(g, "set_rows", dst, "dst") ||
        !need_float(g, "set_rows", src, "src") || !writable(g, "set_rows", dst))
        return NULL;
    char sd[PCE_SHAPE_STR], ss[PCE_SHAPE_STR], si[PCE_SHAPE_STR];
    if (dst->ndim != 2 || src->ndim != 2 || ids->ndim != 1 || ids->dtype != PCE_DTYPE_I32 ||
        src->ne[3] != dst->ne[3] || ids->ne[3] != src->ne[2])
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "set_rows: need dst [R, D], src [N, D], ids i32 [N]; got dst '%s' "
                              "%s, src '%s' %s, ids '%s' %s",
                              dst->name, pce_shape_str(dst, sd), src->name, pce_shape_str(src, ss),
                              ids->name, pce_shape_str(ids, si));
    pce_tensor *t = alias_write(g, PCE_OP_SET_ROWS, dst);
    if (t) {
        t->src[1] = src;
        t->src[2] = ids;
    }
    return t;
}

pce_tensor *pce_copy_into(pce_graph *g, pce_tensor *src, pce_tensor *dst)
{
    if (!pce_graph_check_src(g, "copy_into", src, "src") ||
        !pce_graph_check_src(g, "copy_into", dst, "dst") || !writable(g, "copy_into", dst))
        return NULL;
    char sd[PCE_SHAPE_STR], ss[PCE_SHAPE_STR];
    if (memcmp(src->ne, dst->ne, sizeof src->ne) != 0)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "copy_into: src '%s' %s and dst '%s' %s differ in shape", src->name,
                              pce_shape_str(src, ss), dst->name, pce_shape_str(dst, sd));
    pce_tensor *t = alias_write(g, PCE_OP_COPY_INTO, dst);
    if (t)
        t->src[1] = src;
    return t;
}

pce_tensor *pce_concat(pce_graph *g, pce_tensor *a, pce_tensor *b, int axis)
{
    if (!pce_graph_check_src(g, "concat", a, "a") || !pce_graph_check_src(g, "concat", b, "b"))
        return NULL;
    char sa[PCE_SHAPE_STR], sb[PCE_SHAPE_STR];
    int ax = axis < 0 ? axis + a->ndim : axis;
    if (a->dtype != b->dtype || a->ndim != b->ndim || ax < 0 || ax >= a->ndim)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "concat: '%s' %s and '%s' %s need the same dtype and ndim, axis %d",
                              a->name, pce_shape_str(a, sa), b->name, pce_shape_str(b, sb), axis);
    int c = PCE_MAX_DIMS - a->ndim + ax;
    int64_t ne[PCE_MAX_DIMS];
    for (int i = 0; i < PCE_MAX_DIMS; i++) {
        if (i != c && a->ne[i] != b->ne[i])
            return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                                  "concat along axis %d: '%s' %s and '%s' %s differ in another "
                                  "dim",
                                  axis, a->name, pce_shape_str(a, sa), b->name,
                                  pce_shape_str(b, sb));
        ne[i] = i == c ? a->ne[i] + b->ne[i] : a->ne[i];
    }
    pce_tensor *t = node(g, PCE_OP_CONCAT, a->dtype, a->ndim, ne, a, b, NULL);
    if (t)
        t->ip[0] = c;
    return t;
}

pce_tensor *pce_contiguous(pce_graph *g, pce_tensor *a)
{
    if (!pce_graph_check_src(g, "contiguous", a, "a"))
        return NULL;
    return node(g, PCE_OP_CONTIGUOUS, a->dtype, a->ndim, a->ne, a, NULL, NULL);
}

pce_tensor *pce_cast(pce_graph *g, pce_tensor *a, pce_dtype dtype)
{
    if (!pce_graph_check_src(g, "cast", a, "a"))
        return NULL;
    const pce_dtype_info *to = pce_dtype_get_info(dtype);
    if (!to)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "cast of '%s': unknown dtype %d",
                              a->name, (int)dtype);
    if (to->is_quantized || pce_dtype_get_info(a->dtype)->is_quantized)
        return pce_graph_fail(g, PCE_ERR_UNSUPPORTED,
                              "cast of '%s' %s -> %s: block-quantized "
                              "casts are not supported",
                              a->name, pce_dtype_get_info(a->dtype)->name, to->name);
    return node(g, PCE_OP_CAST, dtype, a->ndim, a->ne, a, NULL, NULL);
}
