/* plan.c — turns a graph into a plan (device choice, memory layout,
 * resolved operands, a prepared segment) and runs it. Single device for
 * now; multi-device placement comes with the placement issue. */
#include "../backends/backend.h"
#include "graph_build.h"
#include "memplan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pce_plan {
    pce_context *ctx;
    pce_graph *graph; /* referenced */
    pce_device *dev;
    bool reference;
    bool poison;
    int *order;
    int n_order;
    pce_memplan mem;
    pce_buffer *arena;
    pce_buffer **input_buf;  /* per tensor id; non-NULL for input roots */
    pce_buffer **weight_buf; /* per tensor id; weights copied to device memory */
    pce_segment seg;
    pce_plan_stats stats;
};

void pce_plan_options_init(pce_plan_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
}

static pce_status resolve(pce_plan *p, const pce_tensor *t, pce_tref *r)
{
    const pce_device *dev = p->dev;
    const pce_tensor *root = pce_tensor_root(t);
    memset(r, 0, sizeof *r);
    r->dtype = t->dtype;
    memcpy(r->ne, t->ne, sizeof r->ne);
    memcpy(r->nb, t->nb, sizeof r->nb);
    size_t base = 0;
    switch (root->role) {
    case PCE_ROLE_INPUT: r->buf = p->input_buf[root->id]; break;
    case PCE_ROLE_WEIGHT:
        if (p->weight_buf[root->id]) {
            r->buf = p->weight_buf[root->id];
        } else {
            r->host = (char *)root->weight_data + t->offset;
            return PCE_OK;
        }
        break;
    case PCE_ROLE_INTERMEDIATE:
        if (p->mem.offset[root->id] < 0)
            return pce_fail(p->ctx, PCE_ERR_INTERNAL, "tensor '%s' has no memory", t->name);
        r->buf = p->arena;
        base = (size_t)p->mem.offset[root->id];
        break;
    }
    r->offset = base + (size_t)t->offset;
    if (dev->vtbl->buffer_host_ptr && r->buf) {
        char *h = dev->vtbl->buffer_host_ptr(p->dev, r->buf);
        r->host = h ? h + r->offset : NULL;
    }
    return PCE_OK;
}

static pce_status alloc_buf(pce_plan *p, size_t bytes, const char *what, pce_buffer **out)
{
    pce_status st = p->dev->vtbl->buffer_alloc(p->dev, bytes ? bytes : 1, out);
    if (st != PCE_OK)
        return pce_fail(p->ctx, st, "allocating %zu bytes on %s for %s", bytes, p->dev->props.name,
                        what);
    return PCE_OK;
}

static pce_status build(pce_plan *p)
{
    pce_graph *g = p->graph;
    pce_context *ctx = p->ctx;
    int nt = g->n_tensors;
    p->order = malloc((size_t)(nt ? nt : 1) * sizeof *p->order);
    p->input_buf = calloc((size_t)(nt ? nt : 1), sizeof *p->input_buf);
    p->weight_buf = calloc((size_t)(nt ? nt : 1), sizeof *p->weight_buf);
    if (!p->order || !p->input_buf || !p->weight_buf)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "plan tables for %d tensors", nt);
    for (int i = 0; i < nt; i++) {
        const pce_tensor *t = g->tensors[i];
        if (t->op == PCE_OP_VIEW)
            p->stats.views++;
        else if (t->op != PCE_OP_LEAF)
            p->order[p->n_order++] = i;
    }
    p->stats.nodes = p->n_order;
    pce_status st = pce_memplan_build(ctx, g, p->order, p->n_order, &p->mem);
    if (st != PCE_OK)
        return st;
    p->stats.peak_bytes = p->mem.arena_bytes;
    p->stats.naive_bytes = p->mem.naive_bytes;
    p->stats.inplace_nodes = p->mem.inplace_nodes;

    for (int i = 0; i < nt; i++) {
        const pce_tensor *t = g->tensors[i];
        if (t->op != PCE_OP_LEAF)
            continue;
        size_t bytes = pce_tensor_bytes(t);
        if (t->role == PCE_ROLE_INPUT) {
            if ((st = alloc_buf(p, bytes, t->name, &p->input_buf[i])) != PCE_OK)
                return st;
            p->stats.input_bytes += bytes;
        } else {
            p->stats.weight_bytes += bytes;
            if (!p->dev->props.host_memory) {
                if ((st = alloc_buf(p, bytes, t->name, &p->weight_buf[i])) != PCE_OK)
                    return st;
                st = p->dev->vtbl->upload(p->dev, p->weight_buf[i], 0, t->weight_data, bytes);
                if (st != PCE_OK)
                    return pce_fail(ctx, st, "uploading weight '%s' (%zu bytes) to %s", t->name,
                                    bytes, p->dev->props.name);
                p->stats.weight_copied_bytes += bytes;
            }
        }
    }
    if ((st = alloc_buf(p, p->mem.arena_bytes, "the activation arena", &p->arena)) != PCE_OK)
        return st;

    p->seg.dev = p->dev;
    p->seg.reference = p->reference;
    p->seg.n_nodes = p->n_order;
    p->seg.nodes = calloc((size_t)(p->n_order ? p->n_order : 1), sizeof *p->seg.nodes);
    if (!p->seg.nodes)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "plan: %d exec nodes", p->n_order);
    for (int i = 0; i < p->n_order; i++) {
        const pce_tensor *t = g->tensors[p->order[i]];
        pce_exec_node *en = &p->seg.nodes[i];
        en->op = t->op;
        en->tensor = t;
        memcpy(en->ip, t->ip, sizeof en->ip);
        memcpy(en->fp, t->fp, sizeof en->fp);
        if ((st = resolve(p, t, &en->dst)) != PCE_OK)
            return st;
        for (int k = 0; k < PCE_MAX_SRC; k++) {
            if (!t->src[k])
                continue;
            en->has_src[k] = true;
            en->nsrc = k + 1;
            if ((st = resolve(p, t->src[k], &en->src[k])) != PCE_OK)
                return st;
        }
        if (p->dev->vtbl->supports && !p->dev->vtbl->supports(p->dev, en)) {
            char s[PCE_SHAPE_STR];
            return pce_fail(ctx, PCE_ERR_UNSUPPORTED, "node '%s' (%s, %s) is not supported on %s",
                            t->name, pce_op_name(t->op), pce_shape_str(t, s), p->dev->props.name);
        }
    }
    return p->dev->vtbl->segment_prepare(p->dev, &p->seg);
}

pce_status pce_plan_create(pce_context *ctx, pce_graph *g, const pce_plan_options *opts,
                           pce_plan **out)
{
    if (!out)
        return ctx ? pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "plan_create: out is NULL")
                   : PCE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!ctx || !g)
        return ctx ? pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "plan_create: graph is NULL")
                   : PCE_ERR_INVALID_ARGUMENT;
    if (g->status != PCE_OK)
        return pce_fail(ctx, g->status, "graph has an error: %s", g->error);
    pce_plan_options o;
    pce_plan_options_init(&o);
    if (opts) {
        if (opts->size < offsetof(pce_plan_options, reference_kernels) + sizeof(bool) ||
            opts->size > sizeof o)
            return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                            "pce_plan_options.size is %zu: call pce_plan_options_init", opts->size);
        memcpy(&o, opts, opts->size);
    }
    /* the default: the first device of PCE_DEVICES that exists, else cpu0
     * (always first; placement across devices comes later), which does not
     * start the GPU runtimes */
    pce_device *dev = o.device ? pce_device_find(ctx, o.device) : NULL;
    char name[32];
    for (const char *l = o.device ? NULL : ctx->device_order;
         !dev && (l = pce_list_next(l, name, sizeof name)) != NULL;)
        dev = pce_device_find(ctx, name);
    if (!o.device && !dev)
        dev = ctx->n_devices ? ctx->devices[0] : NULL;
    if (!dev) {
        char names[256] = "";
        pce_context_probe_modules(ctx);
        for (int i = 0; i < ctx->n_devices; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     ctx->devices[i]->props.name);
        return pce_fail(ctx, PCE_ERR_NOT_FOUND, "device '%s' not found (devices: %s)",
                        o.device ? o.device : "(default)", names);
    }
    pce_plan *p = calloc(1, sizeof *p);
    if (!p)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "allocating a plan");
    p->ctx = ctx;
    p->graph = g;
    g->refs++;
    p->dev = dev;
    p->reference = o.reference_kernels || ctx->reference_kernels;
    p->poison = o.poison;
    pce_status st = build(p);
    if (st != PCE_OK) {
        pce_plan_destroy(p);
        return st;
    }
    pce_log(ctx, PCE_LOG_INFO, "plan on %s: %lld nodes, arena %llu bytes (%lld in place)",
            dev->props.name, (long long)p->stats.nodes, (unsigned long long)p->stats.peak_bytes,
            (long long)p->stats.inplace_nodes);
    *out = p;
    return PCE_OK;
}

void pce_plan_destroy(pce_plan *p)
{
    if (!p)
        return;
    const pce_backend_vtbl *v = p->dev->vtbl;
    if (p->seg.impl && v->segment_release)
        v->segment_release(p->dev, &p->seg);
    free(p->seg.nodes);
    if (p->arena)
        v->buffer_free(p->dev, p->arena);
    for (int i = 0; p->graph && i < p->graph->n_tensors; i++) {
        if (p->input_buf && p->input_buf[i])
            v->buffer_free(p->dev, p->input_buf[i]);
        if (p->weight_buf && p->weight_buf[i])
            v->buffer_free(p->dev, p->weight_buf[i]);
    }
    free(p->input_buf);
    free(p->weight_buf);
    free(p->order);
    pce_memplan_free(&p->mem);
    pce_graph_release(p->graph);
    free(p);
}

static pce_status check_tensor(pce_plan *p, const pce_tensor *t, const char *what)
{
    if (!t || t->graph != p->graph)
        return pce_fail(p->ctx, PCE_ERR_INVALID_ARGUMENT, "%s: tensor %s", what,
                        t ? "belongs to another graph" : "is NULL");
    return PCE_OK;
}

pce_status pce_plan_set_input(pce_plan *p, const pce_tensor *t, const void *data, size_t bytes)
{
    if (!p)
        return PCE_ERR_INVALID_ARGUMENT;
    pce_status st = check_tensor(p, t, "set_input");
    if (st != PCE_OK)
        return st;
    if (t->role != PCE_ROLE_INPUT || t->base)
        return pce_fail(p->ctx, PCE_ERR_INVALID_ARGUMENT, "set_input: '%s' is not an input",
                        t->name);
    size_t need = pce_tensor_bytes(t);
    if (bytes != need || !data) {
        char s[PCE_SHAPE_STR];
        return pce_fail(p->ctx, PCE_ERR_INVALID_ARGUMENT,
                        "set_input '%s' %s: got %zu bytes%s, expected %zu", t->name,
                        pce_shape_str(t, s), bytes, data ? "" : " (data NULL)", need);
    }
    st = p->dev->vtbl->upload(p->dev, p->input_buf[t->id], 0, data, bytes);
    if (st != PCE_OK)
        return pce_fail(p->ctx, st, "set_input '%s': upload of %zu bytes to %s failed", t->name,
                        bytes, p->dev->props.name);
    return PCE_OK;
}

pce_status pce_plan_run(pce_plan *p)
{
    if (!p)
        return PCE_ERR_INVALID_ARGUMENT;
    const pce_backend_vtbl *v = p->dev->vtbl;
    if (p->poison && p->mem.arena_bytes) {
        void *h = v->buffer_host_ptr ? v->buffer_host_ptr(p->dev, p->arena) : NULL;
        if (h) {
            memset(h, 0xff, p->mem.arena_bytes); /* all-ones is NaN in f32, f16 and bf16 */
        } else {
            void *tmp = malloc(p->mem.arena_bytes);
            if (!tmp)
                return pce_fail(p->ctx, PCE_ERR_OUT_OF_MEMORY, "poison buffer of %llu bytes",
                                (unsigned long long)p->mem.arena_bytes);
            memset(tmp, 0xff, p->mem.arena_bytes);
            pce_status st = v->upload(p->dev, p->arena, 0, tmp, p->mem.arena_bytes);
            free(tmp);
            if (st != PCE_OK)
                return st;
        }
    }
    pce_status st = v->segment_run(p->dev, &p->seg);
    if (st == PCE_OK && v->synchronize)
        st = v->synchronize(p->dev);
    if (st == PCE_OK)
        p->stats.runs++;
    return st;
}

/* Copies a strided tensor from host memory into a contiguous buffer. */
static void gather(const pce_tref *r, const char *src, char *dst)
{
    size_t es = pce_dtype_get_info(r->dtype)->block_bytes;
    for (int64_t i0 = 0; i0 < r->ne[0]; i0++)
        for (int64_t i1 = 0; i1 < r->ne[1]; i1++)
            for (int64_t i2 = 0; i2 < r->ne[2]; i2++)
                for (int64_t i3 = 0; i3 < r->ne[3]; i3++) {
                    memcpy(dst, src + i0 * r->nb[0] + i1 * r->nb[1] + i2 * r->nb[2] + i3 * r->nb[3],
                           es);
                    dst += es;
                }
}

pce_status pce_plan_get_output(pce_plan *p, const pce_tensor *t, void *data, size_t bytes)
{
    if (!p)
        return PCE_ERR_INVALID_ARGUMENT;
    pce_status st = check_tensor(p, t, "get_output");
    if (st != PCE_OK)
        return st;
    const pce_tensor *root = pce_tensor_root(t);
    if (!t->is_output && !(root->role == PCE_ROLE_INPUT && root == t))
        return pce_fail(p->ctx, PCE_ERR_INVALID_ARGUMENT,
                        "get_output: '%s' is neither an output (pce_graph_output) nor an input; "
                        "its memory is reused during the run",
                        t->name);
    size_t need = pce_tensor_bytes(t);
    if (bytes != need || !data)
        return pce_fail(p->ctx, PCE_ERR_INVALID_ARGUMENT,
                        "get_output '%s': buffer of %zu bytes%s, expected %zu", t->name, bytes,
                        data ? "" : " (data NULL)", need);
    pce_tref r;
    if ((st = resolve(p, t, &r)) != PCE_OK)
        return st;
    if (r.host) {
        gather(&r, r.host, data);
        return PCE_OK;
    }
    if (pce_tensor_is_contiguous(t))
        return p->dev->vtbl->download(p->dev, r.buf, r.offset, data, bytes);
    /* strided on a device without host access: fetch the spanned bytes, then gather */
    size_t span = pce_dtype_get_info(t->dtype)->block_bytes;
    for (int i = 0; i < PCE_MAX_DIMS; i++)
        span += (size_t)((t->ne[i] - 1) * t->nb[i]);
    char *tmp = malloc(span);
    if (!tmp)
        return pce_fail(p->ctx, PCE_ERR_OUT_OF_MEMORY, "get_output '%s': %zu bytes", t->name, span);
    st = p->dev->vtbl->download(p->dev, r.buf, r.offset, tmp, span);
    if (st == PCE_OK)
        gather(&r, tmp, data);
    free(tmp);
    return st;
}

pce_status pce_plan_get_stats(const pce_plan *p, pce_plan_stats *out)
{
    if (!p || !out)
        return PCE_ERR_INVALID_ARGUMENT;
    *out = p->stats;
    return PCE_OK;
}

typedef struct sbuf {
    char *buf;
    size_t cap, len;
} sbuf;

static void sb_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (s->buf && s->len + 1 < s->cap) {
        size_t room = s->cap - s->len - 1;
        size_t k = (size_t)n < room ? (size_t)n : room;
        memcpy(s->buf + s->len, tmp, k);
        s->buf[s->len + k] = 0;
    }
    s->len += (size_t)n;
}

pce_status pce_plan_explain(const pce_plan *p, char *buf, size_t cap, size_t *len)
{
    if (!p || (!buf && cap))
        return PCE_ERR_INVALID_ARGUMENT;
    sbuf s = {buf, cap, 0};
    if (buf && cap)
        buf[0] = 0;
    const pce_device *d = p->dev;
    sb_printf(&s, "plan: %lld nodes (%lld views) on %s [%s], %s kernels\n",
              (long long)p->stats.nodes, (long long)p->stats.views, d->props.name,
              d->props.description, p->reference ? "reference" : "fast");
    for (int i = 0; i < p->n_order; i++) {
        const pce_tensor *t = p->graph->tensors[p->order[i]];
        char sh[PCE_SHAPE_STR];
        pce_shape_str(t, sh);
        const pce_tensor *r = pce_tensor_root(t);
        sb_printf(&s, "  #%-4d %-11s %-24s %-28s %s", i, pce_op_name(t->op), t->name, sh,
                  d->props.name);
        if (r->role == PCE_ROLE_INTERMEDIATE)
            sb_printf(&s, " @%llu",
                      (unsigned long long)p->mem.offset[r->id] + (unsigned long long)t->offset);
        else
            sb_printf(&s, " writes input '%s'", r->name);
        if (p->mem.inplace[t->id])
            sb_printf(&s, " (in place of '%s')", t->src[0]->name);
        if (t->is_output)
            sb_printf(&s, " [output]");
        sb_printf(&s, "\n");
    }
    sb_printf(&s,
              "memory on %s: activations peak %llu bytes (one buffer per tensor: %llu), "
              "inputs %llu, weights %llu (%llu copied to the device), %lld nodes in place\n",
              d->props.name, (unsigned long long)p->stats.peak_bytes,
              (unsigned long long)p->stats.naive_bytes, (unsigned long long)p->stats.input_bytes,
              (unsigned long long)p->stats.weight_bytes,
              (unsigned long long)p->stats.weight_copied_bytes, (long long)p->stats.inplace_nodes);
    if (len)
        *len = s.len;
    return PCE_OK;
}
