/* graph.c — graph lifetime, leaves (inputs, weights), views and the shape
 * helpers. Op builders live in ops.c. Builder calls never abort: a bad call
 * records a sticky error (first one wins) and returns NULL. */
#include "graph_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pce_status pce_graph_create(pce_context *ctx, pce_graph **out)
{
    if (!out)
        return PCE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!ctx)
        return PCE_ERR_INVALID_ARGUMENT;
    pce_graph *g = calloc(1, sizeof *g);
    if (!g)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "allocating a graph (%zu bytes)", sizeof *g);
    g->ctx = ctx;
    g->refs = 1;
    *out = g;
    return PCE_OK;
}

void pce_graph_release(pce_graph *g)
{
    if (!g || --g->refs > 0)
        return;
    for (int i = 0; i < g->n_tensors; i++)
        free(g->tensors[i]);
    free(g->tensors);
    free(g);
}

void pce_graph_destroy(pce_graph *g)
{
    pce_graph_release(g);
}

pce_status pce_graph_status(const pce_graph *g)
{
    return g ? g->status : PCE_ERR_INVALID_ARGUMENT;
}

const char *pce_graph_error(const pce_graph *g)
{
    return g ? g->error : "no graph";
}

int pce_graph_node_count(const pce_graph *g)
{
    return g ? g->n_tensors : 0;
}

pce_tensor *pce_graph_fail(pce_graph *g, pce_status st, const char *fmt, ...)
{
    if (!g || g->status != PCE_OK)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->error, sizeof g->error, fmt, ap);
    va_end(ap);
    g->status = st;
    pce_log(g->ctx, PCE_LOG_DEBUG, "graph error: %s", g->error);
    return NULL;
}

bool pce_graph_check_src(pce_graph *g, const char *op, const pce_tensor *t, const char *what)
{
    if (!g)
        return false;
    if (g->status != PCE_OK)
        return false;
    if (!t) {
        pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, what);
        return false;
    }
    if (t->graph != g) {
        pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "%s: %s '%s' belongs to another graph", op,
                       what, t->name);
        return false;
    }
    return true;
}

int64_t pce_numel4(const int64_t ne[PCE_MAX_DIMS])
{
    return ne[0] * ne[1] * ne[2] * ne[3];
}

void pce_contiguous_strides(pce_dtype dtype, const int64_t ne[PCE_MAX_DIMS],
                            int64_t nb[PCE_MAX_DIMS])
{
    /* along the row nb[3] is the size of one block (one element for plain
     * dtypes); a row of ne[3] elements holds ne[3] / block_size blocks */
    const pce_dtype_info *info = pce_dtype_get_info(dtype);
    nb[3] = (int64_t)info->block_bytes;
    nb[2] = nb[3] * (ne[3] / info->block_size);
    for (int i = 1; i >= 0; i--)
        nb[i] = nb[i + 1] * ne[i + 1];
}

pce_tensor *pce_tensor_root(const pce_tensor *t)
{
    return t->base ? t->base : (pce_tensor *)t;
}

void pce_tensor_describe(const pce_tensor *t, char *buf, size_t cap)
{
    if (!t) {
        snprintf(buf, cap, "(null)");
        return;
    }
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = PCE_MAX_DIMS - t->ndim; i < PCE_MAX_DIMS && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i > PCE_MAX_DIMS - t->ndim ? ", " : "",
                              (long long)t->ne[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "] %s", pce_dtype_get_info(t->dtype)->name);
}

const char *pce_shape_str(const pce_tensor *t, char buf[PCE_SHAPE_STR])
{
    pce_tensor_describe(t, buf, PCE_SHAPE_STR);
    return buf;
}

pce_tensor *pce_graph_new_tensor(pce_graph *g, const char *op, pce_dtype dtype, int ndim,
                                 const int64_t ne[PCE_MAX_DIMS])
{
    if (g->n_tensors == g->cap_tensors) {
        int cap = g->cap_tensors ? g->cap_tensors * 2 : 64;
        pce_tensor **t = realloc(g->tensors, (size_t)cap * sizeof *t);
        if (!t)
            return pce_graph_fail(g, PCE_ERR_OUT_OF_MEMORY, "%s: growing the graph to %d tensors",
                                  op, cap);
        g->tensors = t;
        g->cap_tensors = cap;
    }
    pce_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return pce_graph_fail(g, PCE_ERR_OUT_OF_MEMORY, "%s: allocating a tensor", op);
    t->graph = g;
    t->id = g->n_tensors;
    t->dtype = dtype;
    t->ndim = ndim;
    memcpy(t->ne, ne, sizeof t->ne);
    pce_contiguous_strides(dtype, t->ne, t->nb);
    t->role = PCE_ROLE_INTERMEDIATE;
    /* automatic names start with '%', which user names may not, so they never collide */
    snprintf(t->name, sizeof t->name, "%%%s_%d", op, t->id);
    g->tensors[g->n_tensors++] = t;
    return t;
}

/* Validates user dims and converts them to canonical 4-D. */
static bool user_dims(pce_graph *g, const char *op, const char *name, pce_dtype dtype, int ndim,
                      const int64_t *dims, int64_t ne[PCE_MAX_DIMS])
{
    const pce_dtype_info *info = pce_dtype_get_info(dtype);
    if (!info) {
        pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "%s '%s': unknown dtype %d", op,
                       name ? name : "", (int)dtype);
        return false;
    }
    if (ndim < 1 || ndim > PCE_MAX_DIMS || !dims) {
        pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "%s '%s': ndim %d (expected 1..%d with dims)",
                       op, name ? name : "", ndim, PCE_MAX_DIMS);
        return false;
    }
    for (int i = 0; i < PCE_MAX_DIMS; i++)
        ne[i] = 1;
    int64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1 || dims[i] > (INT64_C(1) << 40) || total > (INT64_C(1) << 48) / dims[i]) {
            pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                           "%s '%s': dim %d is %lld (dims must be >= 1 and the tensor < 2^48 "
                           "elements)",
                           op, name ? name : "", i, (long long)dims[i]);
            return false;
        }
        total *= dims[i];
        ne[PCE_MAX_DIMS - ndim + i] = dims[i];
    }
    if (ne[3] % info->block_size) {
        pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                       "%s '%s': last dim %lld is not a multiple of %s's block size %d", op,
                       name ? name : "", (long long)ne[3], info->name, info->block_size);
        return false;
    }
    return true;
}

/* The rule for user-given names: they fit the name field unshortened and
 * never start with '%', which marks automatic names. */
#define NAME_RULE "must be 1..63 characters and not start with '%'"
_Static_assert(PCE_NAME_MAX == 64, "NAME_RULE states the name length");

static bool valid_name(const char *name)
{
    return *name && name[0] != '%' && strlen(name) < PCE_NAME_MAX;
}

static pce_tensor *new_leaf(pce_graph *g, const char *kind, const char *name, pce_dtype dtype,
                            int ndim, const int64_t *dims)
{
    if (!g || g->status != PCE_OK)
        return NULL;
    int64_t ne[PCE_MAX_DIMS];
    if (!user_dims(g, kind, name, dtype, ndim, dims, ne))
        return NULL;
    if (name && !valid_name(name))
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "%s: name '%.80s' %s", kind, name,
                              NAME_RULE);
    if (name && pce_graph_find(g, name))
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "%s: name '%s' is already used", kind,
                              name);
    pce_tensor *t = pce_graph_new_tensor(g, kind, dtype, ndim, ne);
    if (t && name)
        snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

pce_tensor *pce_graph_input(pce_graph *g, const char *name, pce_dtype dtype, int ndim,
                            const int64_t *dims)
{
    pce_tensor *t = new_leaf(g, "input", name, dtype, ndim, dims);
    if (t)
        t->role = PCE_ROLE_INPUT;
    return t;
}

pce_tensor *pce_graph_weight(pce_graph *g, const char *name, pce_dtype dtype, int ndim,
                             const int64_t *dims, const void *data)
{
    if (g && g->status == PCE_OK && !data)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "weight '%s': data is NULL",
                              name ? name : "");
    pce_tensor *t = new_leaf(g, "weight", name, dtype, ndim, dims);
    if (t) {
        t->role = PCE_ROLE_WEIGHT;
        t->weight_data = data;
    }
    return t;
}

pce_status pce_graph_output(pce_graph *g, pce_tensor *t)
{
    if (!g)
        return PCE_ERR_INVALID_ARGUMENT;
    if (!t || t->graph != g) {
        if (g->status != PCE_OK)
            return g->status;
        pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "output: %s",
                       t ? "tensor belongs to another graph" : "tensor is NULL");
        return pce_fail(g->ctx, g->status, "%s", g->error);
    }
    t->is_output = true;
    return PCE_OK;
}

pce_tensor *pce_graph_find(const pce_graph *g, const char *name)
{
    if (!g || !name)
        return NULL;
    for (int i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i]->name, name) == 0)
            return g->tensors[i];
    return NULL;
}

pce_status pce_tensor_set_name(pce_tensor *t, const char *name)
{
    if (!t)
        return PCE_ERR_INVALID_ARGUMENT;
    if (!name || !valid_name(name))
        return pce_fail(t->graph->ctx, PCE_ERR_INVALID_ARGUMENT, "tensor name '%.80s' %s",
                        name ? name : "(null)", NAME_RULE);
    pce_tensor *other = pce_graph_find(t->graph, name);
    if (other && other != t)
        return pce_fail(t->graph->ctx, PCE_ERR_INVALID_ARGUMENT, "name '%s' is already used", name);
    snprintf(t->name, sizeof t->name, "%s", name);
    return PCE_OK;
}

pce_status pce_tensor_pin(pce_tensor *t, const char *device)
{
    if (!t)
        return PCE_ERR_INVALID_ARGUMENT;
    pce_context *ctx = t->graph->ctx;
    if (t->op == PCE_OP_VIEW)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                        "pin '%s': a view does no work; pin the op that uses it", t->name);
    if (t->op == PCE_OP_LEAF && t->role == PCE_ROLE_WEIGHT)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                        "pin '%s': a weight goes wherever the ops that use it run; pin those",
                        t->name);
    if (device && (!*device || strlen(device) >= sizeof t->pin))
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "pin '%s': device name '%.40s' %s", t->name,
                        device, *device ? "is too long" : "is empty");
    /* whether the device exists is checked when a plan is made: pins are
     * part of the graph, which may be planned on another machine's context */
    snprintf(t->pin, sizeof t->pin, "%s", device ? device : "");
    return PCE_OK;
}

const char *pce_tensor_name(const pce_tensor *t)
{
    return t ? t->name : NULL;
}
pce_dtype pce_tensor_dtype(const pce_tensor *t)
{
    return t ? t->dtype : PCE_DTYPE_COUNT;
}
int pce_tensor_ndim(const pce_tensor *t)
{
    return t ? t->ndim : 0;
}

int64_t pce_tensor_dim(const pce_tensor *t, int i)
{
    if (!t)
        return 0;
    if (i < 0)
        i += t->ndim;
    if (i < 0 || i >= t->ndim)
        return 0;
    return t->ne[PCE_MAX_DIMS - t->ndim + i];
}

int64_t pce_tensor_numel(const pce_tensor *t)
{
    return t ? pce_numel4(t->ne) : 0;
}

size_t pce_tensor_bytes(const pce_tensor *t)
{
    return t ? pce_dtype_bytes(t->dtype, pce_numel4(t->ne)) : 0;
}

bool pce_tensor_is_contiguous(const pce_tensor *t)
{
    if (!t)
        return false;
    int64_t nb[PCE_MAX_DIMS];
    pce_contiguous_strides(t->dtype, t->ne, nb);
    for (int i = 0; i < PCE_MAX_DIMS; i++)
        if (t->ne[i] > 1 && t->nb[i] != nb[i])
            return false;
    return true;
}

/* ---- views ----------------------------------------------------------- */

static pce_tensor *new_view(pce_graph *g, const char *op, pce_tensor *a, int ndim,
                            const int64_t ne[PCE_MAX_DIMS])
{
    pce_tensor *t = pce_graph_new_tensor(g, op, a->dtype, ndim, ne);
    if (!t)
        return NULL;
    t->op = PCE_OP_VIEW;
    t->src[0] = a;
    t->base = pce_tensor_root(a);
    t->offset = a->offset;
    return t;
}

pce_tensor *pce_reshape(pce_graph *g, pce_tensor *a, int ndim, const int64_t *dims)
{
    if (!pce_graph_check_src(g, "reshape", a, "a"))
        return NULL;
    char sa[PCE_SHAPE_STR];
    if (!pce_tensor_is_contiguous(a))
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "reshape: '%s' %s is not contiguous (call pce_contiguous first)",
                              a->name, pce_shape_str(a, sa));
    if (ndim < 1 || ndim > PCE_MAX_DIMS || !dims)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "reshape: ndim %d (expected 1..%d)",
                              ndim, PCE_MAX_DIMS);
    int64_t d[PCE_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        d[i] = dims[i];
        if (d[i] == -1 && infer < 0) {
            infer = i;
        } else if (d[i] < 1) {
            return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "reshape of '%s' %s: dim %d is %lld",
                                  a->name, pce_shape_str(a, sa), i, (long long)d[i]);
        } else {
            known *= d[i];
        }
    }
    int64_t n = pce_numel4(a->ne);
    if (infer >= 0) {
        if (n % known != 0)
            return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                                  "reshape of '%s' %s: %lld elements do not divide into blocks of "
                                  "%lld, so dim %d (-1) cannot be inferred",
                                  a->name, pce_shape_str(a, sa), (long long)n, (long long)known,
                                  infer);
        d[infer] = n / known;
    }
    int64_t ne[PCE_MAX_DIMS];
    if (!user_dims(g, "reshape", a->name, a->dtype, ndim, d, ne))
        return NULL;
    if (pce_numel4(ne) != n)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "reshape of '%s' %s: %lld elements cannot take the new shape",
                              a->name, pce_shape_str(a, sa), (long long)n);
    return new_view(g, "reshape", a, ndim, ne);
}

pce_tensor *pce_permute(pce_graph *g, pce_tensor *a, const int *perm)
{
    if (!pce_graph_check_src(g, "permute", a, "a"))
        return NULL;
    if (!perm)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "permute: perm is NULL");
    int off = PCE_MAX_DIMS - a->ndim;
    bool seen[PCE_MAX_DIMS] = {false};
    int64_t ne[PCE_MAX_DIMS], nb[PCE_MAX_DIMS];
    memcpy(ne, a->ne, sizeof ne);
    memcpy(nb, a->nb, sizeof nb);
    for (int i = 0; i < a->ndim; i++) {
        int p = perm[i];
        if (p < 0 || p >= a->ndim || seen[p]) {
            char sa[PCE_SHAPE_STR];
            return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                                  "permute of '%s' %s: perm[%d] = %d is not a permutation of "
                                  "0..%d",
                                  a->name, pce_shape_str(a, sa), i, p, a->ndim - 1);
        }
        seen[p] = true;
        ne[off + i] = a->ne[off + p];
        nb[off + i] = a->nb[off + p];
    }
    /* a permuted block-quantized tensor is only a way of reading it: the
     * ops that take one (matmul as wᵀ, get_rows) check that its rows are
     * read along their blocks */
    pce_tensor *t = new_view(g, "permute", a, a->ndim, ne);
    if (t)
        memcpy(t->nb, nb, sizeof nb);
    return t;
}

pce_tensor *pce_transpose(pce_graph *g, pce_tensor *a)
{
    if (!pce_graph_check_src(g, "transpose", a, "a"))
        return NULL;
    if (a->ndim < 2) {
        char sa[PCE_SHAPE_STR];
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "transpose of '%s' %s: needs at least 2 dims", a->name,
                              pce_shape_str(a, sa));
    }
    int perm[PCE_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++)
        perm[i] = i;
    perm[a->ndim - 1] = a->ndim - 2;
    perm[a->ndim - 2] = a->ndim - 1;
    return pce_permute(g, a, perm);
}

pce_tensor *pce_slice(pce_graph *g, pce_tensor *a, int axis, int64_t start, int64_t end)
{
    if (!pce_graph_check_src(g, "slice", a, "a"))
        return NULL;
    char sa[PCE_SHAPE_STR];
    int ax = axis < 0 ? axis + a->ndim : axis;
    if (ax < 0 || ax >= a->ndim)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "slice of '%s' %s: axis %d out of range",
                              a->name, pce_shape_str(a, sa), axis);
    int c = PCE_MAX_DIMS - a->ndim + ax;
    if (start < 0 || end > a->ne[c] || start >= end)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "slice of '%s' %s: [%lld, %lld) is not a non-empty range within "
                              "axis %d of size %lld",
                              a->name, pce_shape_str(a, sa), (long long)start, (long long)end, axis,
                              (long long)a->ne[c]);
    const pce_dtype_info *info = pce_dtype_get_info(a->dtype);
    if (c == 3 && info->block_size > 1 && (start % info->block_size || end % info->block_size))
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT,
                              "slice of '%s': [%lld, %lld) splits a %s block", a->name,
                              (long long)start, (long long)end, info->name);
    int64_t ne[PCE_MAX_DIMS];
    memcpy(ne, a->ne, sizeof ne);
    ne[c] = end - start;
    pce_tensor *t = new_view(g, "slice", a, a->ndim, ne);
    if (t) {
        memcpy(t->nb, a->nb, sizeof t->nb);
        /* along the row, nb[3] is the size of one block */
        t->offset = a->offset + (c == 3 ? start / info->block_size : start) * a->nb[c];
    }
    return t;
}
