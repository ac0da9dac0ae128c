/* plan.c — turns a graph into a plan and runs it.
 *
 * Placement puts every node on one of the plan's devices (a user's pin, else
 * the primary device; a node that device cannot run falls back, loudly, to
 * the cheapest other device that can), consecutive nodes on one device form
 * segments, and a tensor that crosses devices is copied once per consumer
 * device (an input written on one device and read on another is copied
 * each time its value changed). Each device gets its own activation arena
 * laid out by the memory planner; a plan that does not fit a device's
 * budget offloads its later weight-using nodes to the next device or fails
 * with the bytes needed and available. */
#include "../backends/backend.h"
#include "graph_build.h"
#include "memplan.h"

#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PLAN_MAX_DEVICES 8
#define COPY_LATENCY_S 10e-6 /* a copy's fixed cost in the cost model */

typedef enum place_why { WHY_PRIMARY = 0, WHY_PIN, WHY_FALLBACK, WHY_OFFLOAD } place_why;
static const char *const why_names[] = {"primary", "pinned", "fallback", "offloaded"};

typedef struct plan_dev {
    pce_device *dev;
    pce_memplan mem;
    pce_buffer *arena;
    pce_buffer **input_buf;  /* per tensor id: inputs kept here (home or copy) */
    pce_buffer **weight_buf; /* per tensor id: weights copied here */
    int *import_at;          /* per tensor id, for the memory planner */
    int *export_until;
    uint64_t weights, weights_copied, inputs, need, budget;
    char budget_why[224];
    int nodes;
    bool dirty; /* has work submitted since it was last synchronised */
} plan_dev;

typedef struct plan_seg {
    int dev, first, last; /* positions in order */
    pce_segment seg;
} plan_seg;

typedef struct plan_copy {
    int before; /* segment it precedes; n_segs: after the last one */
    int root, from, to;
    size_t bytes;
} plan_copy;

typedef struct node_place {
    int8_t dev;
    uint8_t why;
    char *note; /* for fallbacks and offloading: why */
} node_place;

struct pce_plan {
    pce_context *ctx;
    pce_graph *graph; /* referenced */
    bool reference, poison, strict, allow_offload;
    int *order;
    int n_order;
    int8_t *node_dev;  /* per position */
    node_place *place; /* per position */
    uint8_t *ok;       /* per position x device: supported there */
    int8_t *home; /* per tensor id: device keeping an input root; producer of an intermediate */
    uint8_t *need_here; /* per tensor id: bit per device that reads or writes the root */
    plan_dev d[PLAN_MAX_DEVICES];
    int nd;
    plan_seg *segs;
    int n_segs;
    plan_copy *copies;
    int n_copies, cap_copies;
    void *staging;
    size_t staging_bytes;
    pce_device *staging_dev; /* whose host_alloc made it, or NULL (malloc) */
    pce_plan_stats stats;
};

void pce_plan_options_init(pce_plan_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
}

/* ---- what a node is, independent of where ------------------------------- */

static void tref_shape(const pce_tensor *t, pce_tref *r)
{
    memset(r, 0, sizeof *r);
    r->dtype = t->dtype;
    memcpy(r->ne, t->ne, sizeof r->ne);
    memcpy(r->nb, t->nb, sizeof r->nb);
    r->offset = (size_t)t->offset;
}

static void exec_node_shape(const pce_tensor *t, pce_exec_node *en)
{
    memset(en, 0, sizeof *en);
    en->op = t->op;
    en->tensor = t;
    memcpy(en->ip, t->ip, sizeof en->ip);
    memcpy(en->fp, t->fp, sizeof en->fp);
    tref_shape(t, &en->dst);
    for (int k = 0; k < PCE_MAX_SRC; k++) {
        if (!t->src[k])
            continue;
        en->has_src[k] = true;
        en->nsrc = k + 1;
        tref_shape(t->src[k], &en->src[k]);
    }
}

/* "rope f32 <- f32, i32" */
static void node_types(const pce_tensor *t, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s %s", pce_op_name(t->op), pce_dtype_get_info(t->dtype)->name);
    for (int k = 0; k < PCE_MAX_SRC && n > 0 && (size_t)n < cap; k++)
        if (t->src[k])
            n += snprintf(buf + n, cap - (size_t)n, "%s%s", k ? ", " : " <- ",
                          pce_dtype_get_info(t->src[k]->dtype)->name);
}

/* Whether dev may run the node: the profile's switches, then the backend. */
static bool device_supports(const pce_device *dev, const pce_exec_node *en, char *why, size_t cap)
{
    const pce_device_settings *st = &dev->settings;
    if (st->ops_disabled & (1ull << en->op)) {
        snprintf(why, cap, "[ops] disable lists %s (%s)", pce_op_name(en->op), st->ops_from);
        return false;
    }
    const pce_tref *refs[PCE_MAX_SRC + 1] = {&en->dst, &en->src[0], &en->src[1], &en->src[2],
                                             &en->src[3]};
    for (int k = 0; k <= PCE_MAX_SRC; k++) {
        if (k > 0 && !en->has_src[k - 1])
            continue;
        pce_dtype dt = refs[k]->dtype;
        int f = dt == PCE_DTYPE_F16 ? PCE_FEAT_FP16 : dt == PCE_DTYPE_BF16 ? PCE_FEAT_BF16 : -1;
        if (f >= 0 && st->feature[f] == 0) {
            snprintf(why, cap, "[features] %s = off (%s)", f == PCE_FEAT_FP16 ? "fp16" : "bf16",
                     st->feature_from[f]);
            return false;
        }
    }
    if (!dev->vtbl->supports)
        return true;
    why[0] = 0;
    if (dev->vtbl->supports(dev, en, why, cap))
        return true;
    if (!why[0])
        snprintf(why, cap, "the %s backend cannot run it", dev->props.backend);
    return false;
}

/* ---- cost model ------------------------------------------------------------ */

static double node_flops(const pce_tensor *t)
{
    if (t->op == PCE_OP_MATMUL) /* dst [.., M, N], src0 [.., M, K] */
        return 2.0 * (double)pce_numel4(t->ne) * (double)t->src[0]->ne[3];
    return 4.0 * (double)pce_numel4(t->ne);
}

static double node_bytes(const pce_tensor *t)
{
    double b = (double)pce_tensor_bytes(t);
    for (int k = 0; k < PCE_MAX_SRC; k++)
        if (t->src[k])
            b += (double)pce_tensor_bytes(t->src[k]);
    return b;
}

/* Seconds to move `bytes` from device a to device b over the slower link
 * (a link of 0 is host memory, reached at memcpy speed). */
static double transfer_s(const pce_device *a, const pce_device *b, double bytes)
{
    if (a == b)
        return 0;
    double la = a->settings.link_gbs, lb = b->settings.link_gbs;
    double l = la > 0 && lb > 0 ? (la < lb ? la : lb) : la > 0 ? la : lb > 0 ? lb : 10;
    return COPY_LATENCY_S + bytes / (l * 1e9);
}

static double node_cost(const pce_plan *p, int pos, int k)
{
    const pce_tensor *t = p->graph->tensors[p->order[pos]];
    const pce_device *d = p->d[k].dev;
    double gf = d->settings.gflops > 0 ? d->settings.gflops : 1;
    double bw = d->settings.bandwidth_gbs > 0 ? d->settings.bandwidth_gbs : 1;
    double c = node_flops(t) / (gf * 1e9), m = node_bytes(t) / (bw * 1e9);
    double s = c > m ? c : m;
    for (int j = 0; j < PCE_MAX_SRC; j++) {
        if (!t->src[j])
            continue;
        const pce_tensor *r = pce_tensor_root(t->src[j]);
        if (r->role == PCE_ROLE_INTERMEDIATE && p->home[r->id] >= 0)
            s += transfer_s(p->d[p->home[r->id]].dev, d, (double)pce_tensor_bytes(r));
    }
    return s;
}

/* Weight locality: whether node pos uses a weight that device k does not
 * hold yet (the CPU reads host weights in place; a GPU would need a copy). */
static bool weight_elsewhere(const pce_plan *p, int pos, int k)
{
    const pce_tensor *t = p->graph->tensors[p->order[pos]];
    for (int j = 0; j < PCE_MAX_SRC; j++) {
        const pce_tensor *r = t->src[j] ? pce_tensor_root(t->src[j]) : NULL;
        if (r && r->role == PCE_ROLE_WEIGHT && !p->d[k].dev->props.host_memory &&
            !(p->need_here[r->id] & (1u << k)))
            return true;
    }
    return false;
}

/* ---- placement ------------------------------------------------------------- */

static int dev_index(const pce_plan *p, const char *name)
{
    for (int k = 0; k < p->nd; k++)
        if (!strcmp(p->d[k].dev->props.name, name))
            return k;
    return -1;
}

static pce_status add_dev(pce_plan *p, pce_device *dev)
{
    for (int k = 0; k < p->nd; k++)
        if (p->d[k].dev == dev)
            return PCE_OK;
    if (p->nd == PLAN_MAX_DEVICES)
        return pce_fail(p->ctx, PCE_ERR_UNSUPPORTED, "a plan spans at most %d devices",
                        PLAN_MAX_DEVICES);
    p->d[p->nd++].dev = dev;
    return PCE_OK;
}

static pce_status not_found(pce_context *ctx, const char *name, const char *where)
{
    char names[256] = "";
    for (int i = 0; i < ctx->n_devices; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                 ctx->devices[i]->props.name);
    return pce_fail(ctx, PCE_ERR_NOT_FOUND, "device '%s' (%s) not found (devices: %s)", name, where,
                    names);
}

/* The plan's devices, best first: o->devices; else o->device (or the
 * first of PCE_DEVICES) followed by the automatically used devices in rank
 * order; then any device a pin names. */
static pce_status choose_devices(pce_plan *p, const pce_plan_options *o)
{
    pce_context *ctx = p->ctx;
    char w[32];
    pce_status st = PCE_OK;
    if (o->device) {
        pce_device *d = pce_device_find(ctx, o->device);
        if (!d)
            return not_found(ctx, o->device, "pce_plan_options.device");
        st = add_dev(p, d);
    }
    const char *list = o->devices ? o->devices : ctx->device_order;
    if (list) {
        for (const char *l = list; st == PCE_OK && (l = pce_list_next(l, w, sizeof w)) != NULL;) {
            pce_device *d = pce_device_find(ctx, w);
            if (!d && o->devices)
                return not_found(ctx, w, "pce_plan_options.devices");
            if (d) /* PCE_DEVICES may name devices another machine has */
                st = add_dev(p, d);
        }
    } else {
        /* the ranking: rank < 100 means used without being named */
        pce_device *by_rank[64];
        int n = 0;
        for (int i = 0; i < ctx->n_devices && n < 64; i++)
            if (ctx->devices[i]->settings.rank < 100)
                by_rank[n++] = ctx->devices[i];
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && by_rank[j - 1]->settings.rank > by_rank[j]->settings.rank;
                 j--) {
                pce_device *t = by_rank[j];
                by_rank[j] = by_rank[j - 1];
                by_rank[j - 1] = t;
            }
        for (int i = 0; i < n && st == PCE_OK; i++)
            st = add_dev(p, by_rank[i]);
    }
    if (st == PCE_OK && p->nd == 0 && ctx->n_devices)
        st = add_dev(p, ctx->devices[0]); /* PCE_DEVICES named nothing here */
    for (int i = 0; st == PCE_OK && i < p->graph->n_tensors; i++) {
        const pce_tensor *t = p->graph->tensors[i];
        if (!t->pin[0])
            continue;
        pce_device *d = pce_device_find(ctx, t->pin);
        if (!d)
            return not_found(ctx, t->pin, "pinned by pce_tensor_pin");
        st = add_dev(p, d);
    }
    if (st == PCE_OK && p->nd == 0)
        return pce_fail(ctx, PCE_ERR_UNAVAILABLE, "no device to plan on");
    return st;
}

static pce_status place_nodes(pce_plan *p)
{
    pce_graph *g = p->graph;
    int nd = p->nd;
    for (int i = 0; i < g->n_tensors; i++)
        p->home[i] = -1;
    for (int pos = 0; pos < p->n_order; pos++) {
        const pce_tensor *t = g->tensors[p->order[pos]];
        pce_exec_node en;
        exec_node_shape(t, &en);
        char why[PLAN_MAX_DEVICES][200];
        for (int k = 0; k < nd; k++)
            p->ok[pos * nd + k] = device_supports(p->d[k].dev, &en, why[k], sizeof why[k]);
        int want = t->pin[0] ? dev_index(p, t->pin) : 0;
        node_place *pl = &p->place[pos];
        char types[96], sh[PCE_SHAPE_STR];
        node_types(t, types, sizeof types);
        pce_shape_str(t, sh);
        if (p->ok[pos * nd + want]) {
            pl->dev = (int8_t)want;
            pl->why = t->pin[0] ? WHY_PIN : WHY_PRIMARY;
        } else {
            if (p->strict)
                return pce_fail(p->ctx, PCE_ERR_UNSUPPORTED,
                                "node '%s' (%s, %s) cannot run on %s: %s (strict placement: no "
                                "fallback)",
                                t->name, types, sh, p->d[want].dev->props.name, why[want]);
            int best = -1;
            double best_cost = 0;
            bool best_far = true;
            for (int k = 0; k < nd; k++) {
                if (k == want || !p->ok[pos * nd + k])
                    continue;
                double c = node_cost(p, pos, k);
                bool far = weight_elsewhere(p, pos, k);
                /* cheapest; near-ties go to the device holding the weights */
                if (best < 0 || c < best_cost * 0.99 ||
                    (c <= best_cost * 1.01 && best_far && !far)) {
                    best = k;
                    best_cost = c;
                    best_far = far;
                }
            }
            if (best < 0) {
                char all[1024] = "";
                for (int k = 0; k < nd; k++) {
                    size_t at = strlen(all);
                    snprintf(all + at, sizeof all - at, "%s%.31s: %.150s", k ? "; " : "",
                             p->d[k].dev->props.name, why[k]);
                }
                return pce_fail(p->ctx, PCE_ERR_UNSUPPORTED,
                                "node '%s' (%s, %s) runs on none of the plan's devices: %s",
                                t->name, types, sh, all);
            }
            char note[400];
            snprintf(note, sizeof note, "%s cannot: %s; %s is the cheapest that can (%.3g us)",
                     p->d[want].dev->props.name, why[want], p->d[best].dev->props.name,
                     best_cost * 1e6);
            pl->dev = (int8_t)best;
            pl->why = WHY_FALLBACK;
            pl->note = strdup(note);
            p->stats.fallbacks++;
            pce_log(p->ctx, PCE_LOG_WARN, "plan: node '%s' (%s) falls back from %s to %s: %s",
                    t->name, types, p->d[want].dev->props.name, p->d[best].dev->props.name,
                    why[want]);
        }
        p->node_dev[pos] = pl->dev;
        const pce_tensor *r = pce_tensor_root(t);
        if (r->role == PCE_ROLE_INTERMEDIATE)
            p->home[r->id] = pl->dev;
        for (int j = 0; j < PCE_MAX_SRC; j++)
            if (t->src[j])
                p->need_here[pce_tensor_root(t->src[j])->id] |= (uint8_t)(1u << pl->dev);
    }
    return PCE_OK;
}

/* ---- layout: homes, segments, copies, memory plans ------------------------- */

static bool writes_input(const pce_tensor *t)
{
    return t->op != PCE_OP_LEAF && t->op != PCE_OP_VIEW &&
           pce_tensor_root(t)->role == PCE_ROLE_INPUT;
}

static pce_status add_copy(pce_plan *p, int before, int root, int from, int to)
{
    if (p->n_copies == p->cap_copies) {
        int cap = p->cap_copies ? 2 * p->cap_copies : 16;
        plan_copy *c = realloc(p->copies, (size_t)cap * sizeof *c);
        if (!c)
            return pce_fail(p->ctx, PCE_ERR_OUT_OF_MEMORY, "plan: copy list");
        p->copies = c;
        p->cap_copies = cap;
    }
    const pce_tensor *r = p->graph->tensors[root];
    p->copies[p->n_copies++] =
        (plan_copy){before, root, from, to, pce_dtype_bytes(r->dtype, pce_numel4(r->ne))};
    return PCE_OK;
}

static void free_layout(pce_plan *p)
{
    for (int k = 0; k < p->nd; k++) {
        pce_memplan_free(&p->d[k].mem);
        p->d[k].weights = p->d[k].weights_copied = p->d[k].inputs = p->d[k].need = 0;
        p->d[k].nodes = 0;
    }
    free(p->segs);
    p->segs = NULL;
    p->n_segs = 0;
    p->n_copies = 0;
}

/* From node_dev: input homes, segments, the copies each run makes, and each
 * device's memory plan and need. */
static pce_status layout(pce_plan *p)
{
    pce_graph *g = p->graph;
    int nt = g->n_tensors, n = p->n_order;
    free_layout(p);
    memset(p->need_here, 0, (size_t)nt);
    for (int pos = 0; pos < n; pos++) {
        const pce_tensor *t = g->tensors[p->order[pos]];
        const pce_tensor *r = pce_tensor_root(t);
        uint8_t bit = (uint8_t)(1u << p->node_dev[pos]);
        p->need_here[r->id] |= bit;
        if (r->role == PCE_ROLE_INTERMEDIATE)
            p->home[r->id] = p->node_dev[pos];
        for (int j = 0; j < PCE_MAX_SRC; j++)
            if (t->src[j])
                p->need_here[pce_tensor_root(t->src[j])->id] |= bit;
    }
    /* input homes: a pin, else the device of the first node writing it,
     * else of the first reading it, else the primary device */
    for (int i = 0; i < nt; i++) {
        const pce_tensor *t = g->tensors[i];
        if (t->op != PCE_OP_LEAF || t->role != PCE_ROLE_INPUT)
            continue;
        p->home[i] = t->pin[0] ? (int8_t)dev_index(p, t->pin) : -1;
        for (int pos = 0; pos < n && p->home[i] < 0; pos++) {
            const pce_tensor *u = g->tensors[p->order[pos]];
            if (writes_input(u) && pce_tensor_root(u) == t)
                p->home[i] = p->node_dev[pos];
        }
        for (int pos = 0; pos < n && p->home[i] < 0; pos++) {
            const pce_tensor *u = g->tensors[p->order[pos]];
            for (int j = 0; j < PCE_MAX_SRC; j++)
                if (u->src[j] && pce_tensor_root(u->src[j]) == t)
                    p->home[i] = p->node_dev[pos];
        }
        if (p->home[i] < 0)
            p->home[i] = 0;
        p->need_here[i] |= (uint8_t)(1u << p->home[i]);
    }
    /* segments */
    p->segs = calloc((size_t)(n ? n : 1), sizeof *p->segs);
    if (!p->segs)
        return pce_fail(p->ctx, PCE_ERR_OUT_OF_MEMORY, "plan: segments");
    for (int pos = 0; pos < n; pos++) {
        if (pos == 0 || p->node_dev[pos] != p->node_dev[pos - 1])
            p->segs[p->n_segs++] = (plan_seg){.dev = p->node_dev[pos], .first = pos};
        p->segs[p->n_segs - 1].last = pos;
        p->d[p->node_dev[pos]].nodes++;
    }
    /* copies: which device holds the current value of each root, segment
     * by segment; at the start of a run only an input's home does */
    uint8_t *valid = calloc((size_t)(nt ? nt : 1), 1);
    if (!valid)
        return pce_fail(p->ctx, PCE_ERR_OUT_OF_MEMORY, "plan: copy tables");
    for (int k = 0; k < p->nd; k++)
        for (int i = 0; i < nt; i++)
            p->d[k].import_at[i] = p->d[k].export_until[i] = -1;
    for (int i = 0; i < nt; i++)
        if (g->tensors[i]->op == PCE_OP_LEAF && g->tensors[i]->role == PCE_ROLE_INPUT)
            valid[i] = (uint8_t)(1u << p->home[i]);
    pce_status st = PCE_OK;
    for (int s = 0; s < p->n_segs && st == PCE_OK; s++) {
        plan_seg *sg = &p->segs[s];
        int k = sg->dev;
        uint8_t bit = (uint8_t)(1u << k);
        for (int pos = sg->first; pos <= sg->last && st == PCE_OK; pos++) {
            const pce_tensor *t = g->tensors[p->order[pos]];
            const pce_tensor *touch[PCE_MAX_SRC + 1] = {t, t->src[0], t->src[1], t->src[2],
                                                        t->src[3]};
            for (int j = 0; j <= PCE_MAX_SRC && st == PCE_OK; j++) {
                if (!touch[j])
                    continue;
                const pce_tensor *r = pce_tensor_root(touch[j]);
                if (r->role == PCE_ROLE_WEIGHT || (j == 0 && r->role == PCE_ROLE_INTERMEDIATE))
                    continue;
                if (valid[r->id] & bit)
                    continue;
                /* from the home if it is current, else from any current copy */
                int from = p->home[r->id];
                for (int q = 0; q < p->nd && !(valid[r->id] & (1u << from)); q++)
                    if (valid[r->id] & (1u << q))
                        from = q;
                st = add_copy(p, s, r->id, from, k);
                valid[r->id] |= bit;
                if (r->role == PCE_ROLE_INTERMEDIATE) {
                    p->d[k].import_at[r->id] = sg->first;
                    if (p->d[from].export_until[r->id] < sg->first)
                        p->d[from].export_until[r->id] = sg->first;
                }
            }
            const pce_tensor *r = pce_tensor_root(t);
            if (r->role == PCE_ROLE_INTERMEDIATE || writes_input(t))
                valid[r->id] = bit; /* the new value is here only */
        }
    }
    /* inputs written away from home go back home after the run */
    for (int i = 0; i < nt && st == PCE_OK; i++)
        if (g->tensors[i]->op == PCE_OP_LEAF && g->tensors[i]->role == PCE_ROLE_INPUT &&
            !(valid[i] & (1u << p->home[i]))) {
            int from = 0;
            while (!(valid[i] & (1u << from)))
                from++;
            st = add_copy(p, p->n_segs, i, from, p->home[i]);
        }
    free(valid);
    if (st != PCE_OK)
        return st;
    /* per device: memory plan and need */
    for (int k = 0; k < p->nd && st == PCE_OK; k++) {
        plan_dev *d = &p->d[k];
        pce_memplan_dev md = {p->node_dev, k, d->import_at, d->export_until};
        st = pce_memplan_build(p->ctx, g, p->order, n, &md, &d->mem);
        for (int i = 0; i < nt && st == PCE_OK; i++) {
            const pce_tensor *t = g->tensors[i];
            if (t->op != PCE_OP_LEAF || !(p->need_here[i] & (1u << k)))
                continue;
            size_t bytes = pce_tensor_bytes(t);
            if (t->role == PCE_ROLE_INPUT) {
                d->inputs += bytes;
            } else {
                d->weights += bytes;
                if (!d->dev->props.host_memory)
                    d->weights_copied += bytes;
            }
        }
        d->need = d->mem.arena_bytes + d->inputs + d->weights_copied;
    }
    return st;
}

/* A device's memory budget: its profile's target utilisation of its free
 * memory (of the total when free is unknown). */
static void budgets(pce_plan *p)
{
    for (int k = 0; k < p->nd; k++) {
        plan_dev *d = &p->d[k];
        const pce_device *dev = d->dev;
        uint64_t mem = dev->props.memory_free ? dev->props.memory_free : dev->props.memory_total;
        double u = dev->settings.target_utilisation > 0 ? dev->settings.target_utilisation : 0.80;
        if (!mem) {
            d->budget = UINT64_MAX;
            snprintf(d->budget_why, sizeof d->budget_why, "memory size unknown: no limit");
            continue;
        }
        d->budget = (uint64_t)((double)mem * u);
        char size[32];
        if (mem >= (64ull << 20))
            snprintf(size, sizeof size, "%llu MiB", (unsigned long long)(mem >> 20));
        else
            snprintf(size, sizeof size, "%llu bytes", (unsigned long long)mem);
        snprintf(d->budget_why, sizeof d->budget_why, "%.2f of %s %s%s%s%s", u, size,
                 dev->props.memory_free ? "free" : "total",
                 dev->settings.target_from[0] ? " (" : "", dev->settings.target_from,
                 dev->settings.target_from[0] ? ")" : "");
    }
}

static int over_budget(const pce_plan *p)
{
    for (int k = 0; k < p->nd; k++)
        if (p->d[k].need > p->d[k].budget)
            return k;
    return -1;
}

static pce_status out_of_memory(pce_plan *p, const char *extra)
{
    char msg[900] = "";
    for (int k = 0; k < p->nd; k++)
        snprintf(msg + strlen(msg), sizeof msg - strlen(msg),
                 "%s%s needs %llu bytes (weights %llu, inputs %llu, activations %llu), budget %llu "
                 "(%s)",
                 k ? "; " : "", p->d[k].dev->props.name, (unsigned long long)p->d[k].need,
                 (unsigned long long)p->d[k].weights_copied, (unsigned long long)p->d[k].inputs,
                 (unsigned long long)p->d[k].mem.arena_bytes,
                 (unsigned long long)(p->d[k].budget == UINT64_MAX ? 0 : p->d[k].budget),
                 p->d[k].budget_why);
    return pce_fail(p->ctx, PCE_ERR_OUT_OF_MEMORY, "plan does not fit: %s%s", msg, extra);
}

/* Device k is over budget: from the node where the weights it has taken in
 * (with its activations and inputs) pass the budget, its nodes move to the
 * next device that can run them. Returns how many moved. */
static int offload(pce_plan *p, int k)
{
    pce_graph *g = p->graph;
    plan_dev *d = &p->d[k];
    uint64_t fixed = d->mem.arena_bytes + d->inputs, taken = 0;
    uint8_t *seen = calloc((size_t)g->n_tensors, 1);
    if (!seen)
        return 0;
    int moved = 0, cut = -1;
    for (int pos = 0; pos < p->n_order; pos++) {
        if (p->node_dev[pos] != k)
            continue;
        const pce_tensor *t = g->tensors[p->order[pos]];
        for (int j = 0; j < PCE_MAX_SRC && cut < 0; j++) {
            const pce_tensor *r = t->src[j] ? pce_tensor_root(t->src[j]) : NULL;
            if (r && r->role == PCE_ROLE_WEIGHT && !seen[r->id] && !d->dev->props.host_memory) {
                seen[r->id] = 1;
                taken += pce_tensor_bytes(r);
            }
        }
        if (cut < 0 && fixed + taken > d->budget)
            cut = pos;
        if (cut < 0 || t->pin[0])
            continue;
        for (int e = k + 1; e < p->nd; e++)
            if (p->ok[pos * p->nd + e]) {
                p->node_dev[pos] = (int8_t)e;
                node_place *pl = &p->place[pos];
                pl->dev = (int8_t)e;
                pl->why = WHY_OFFLOAD;
                free(pl->note);
                char note[400];
                snprintf(note, sizeof note,
                         "%s's weights pass its budget of %llu bytes (%s) from node #%d on",
                         d->dev->props.name, (unsigned long long)d->budget, d->budget_why, cut);
                pl->note = strdup(note);
                moved++;
                break;
            }
    }
    free(seen);
    return moved;
}

/* ---- buffers and segments --------------------------------------------------- */

static pce_status alloc_buf(pce_plan *p, int k, size_t bytes, const char *what, pce_buffer **out)
{
    pce_device *dev = p->d[k].dev;
    pce_status st = dev->vtbl->buffer_alloc(dev, bytes ? bytes : 1, out);
    if (st != PCE_OK)
        return pce_fail(p->ctx, st, "allocating %zu bytes on %s for %s", bytes, dev->props.name,
                        what);
    return PCE_OK;
}

static pce_status resolve(pce_plan *p, int k, const pce_tensor *t, pce_tref *r)
{
    plan_dev *d = &p->d[k];
    const pce_tensor *root = pce_tensor_root(t);
    tref_shape(t, r);
    r->offset = 0;
    size_t base = 0;
    switch (root->role) {
    case PCE_ROLE_INPUT: r->buf = d->input_buf[root->id]; break;
    case PCE_ROLE_WEIGHT:
        if (d->weight_buf[root->id]) {
            r->buf = d->weight_buf[root->id];
        } else {
            r->host = (char *)root->weight_data + t->offset;
            return PCE_OK;
        }
        break;
    case PCE_ROLE_INTERMEDIATE:
        if (!d->mem.offset || d->mem.offset[root->id] < 0)
            return pce_fail(p->ctx, PCE_ERR_INTERNAL, "tensor '%s' has no memory on %s", t->name,
                            d->dev->props.name);
        r->buf = d->arena;
        base = (size_t)d->mem.offset[root->id];
        break;
    }
    if (!r->buf)
        return pce_fail(p->ctx, PCE_ERR_INTERNAL, "tensor '%s' has no buffer on %s", t->name,
                        d->dev->props.name);
    r->offset = base + (size_t)t->offset;
    if (d->dev->vtbl->buffer_host_ptr) {
        char *h = d->dev->vtbl->buffer_host_ptr(d->dev, r->buf);
        r->host = h ? h + r->offset : NULL;
    }
    return PCE_OK;
}

/* Where root `id` lives on device k: buffer, offset, host address. */
static pce_status root_ref(pce_plan *p, int k, int id, pce_tref *r)
{
    return resolve(p, k, p->graph->tensors[id], r);
}

static pce_status allocate(pce_plan *p)
{
    pce_graph *g = p->graph;
    pce_context *ctx = p->ctx;
    pce_status st = PCE_OK;
    for (int k = 0; k < p->nd && st == PCE_OK; k++) {
        plan_dev *d = &p->d[k];
        for (int i = 0; i < g->n_tensors && st == PCE_OK; i++) {
            const pce_tensor *t = g->tensors[i];
            if (t->op != PCE_OP_LEAF || !(p->need_here[i] & (1u << k)))
                continue;
            size_t bytes = pce_tensor_bytes(t);
            if (t->role == PCE_ROLE_INPUT) {
                st = alloc_buf(p, k, bytes, t->name, &d->input_buf[i]);
            } else if (!d->dev->props.host_memory) {
                st = alloc_buf(p, k, bytes, t->name, &d->weight_buf[i]);
                if (st == PCE_OK) {
                    st = d->dev->vtbl->upload(d->dev, d->weight_buf[i], 0, t->weight_data, bytes);
                    if (st != PCE_OK)
                        st = pce_fail(ctx, st, "uploading weight '%s' (%zu bytes) to %s", t->name,
                                      bytes, d->dev->props.name);
                }
            }
        }
        if (st == PCE_OK && d->nodes)
            st = alloc_buf(p, k, d->mem.arena_bytes, "the activation arena", &d->arena);
    }
    /* staging for copies between two devices the host cannot address */
    size_t staging = 0;
    for (int c = 0; c < p->n_copies && st == PCE_OK; c++) {
        pce_tref a, b;
        if ((st = root_ref(p, p->copies[c].from, p->copies[c].root, &a)) != PCE_OK ||
            (st = root_ref(p, p->copies[c].to, p->copies[c].root, &b)) != PCE_OK)
            break;
        if (!a.host && !b.host && p->copies[c].bytes > staging)
            staging = p->copies[c].bytes;
    }
    if (st == PCE_OK && staging) {
        /* pinned by the first device that offers it */
        for (int k = 0; k < p->nd && !p->staging; k++)
            if (p->d[k].dev->vtbl->host_alloc &&
                p->d[k].dev->vtbl->host_alloc(p->d[k].dev, staging, &p->staging) == PCE_OK)
                p->staging_dev = p->d[k].dev;
        if (!p->staging && !(p->staging = malloc(staging)))
            st = pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "staging of %zu bytes for copies", staging);
        p->staging_bytes = staging;
    }
    return st;
}

static pce_status prepare_segments(pce_plan *p)
{
    pce_graph *g = p->graph;
    pce_status st = PCE_OK;
    for (int s = 0; s < p->n_segs && st == PCE_OK; s++) {
        plan_seg *sg = &p->segs[s];
        pce_device *dev = p->d[sg->dev].dev;
        sg->seg.dev = dev;
        sg->seg.reference = p->reference;
        sg->seg.n_nodes = sg->last - sg->first + 1;
        sg->seg.nodes = calloc((size_t)sg->seg.n_nodes, sizeof *sg->seg.nodes);
        if (!sg->seg.nodes)
            return pce_fail(p->ctx, PCE_ERR_OUT_OF_MEMORY, "plan: %d exec nodes", sg->seg.n_nodes);
        for (int pos = sg->first; pos <= sg->last && st == PCE_OK; pos++) {
            const pce_tensor *t = g->tensors[p->order[pos]];
            pce_exec_node *en = &sg->seg.nodes[pos - sg->first];
            exec_node_shape(t, en);
            st = resolve(p, sg->dev, t, &en->dst);
            for (int j = 0; j < PCE_MAX_SRC && st == PCE_OK; j++)
                if (t->src[j])
                    st = resolve(p, sg->dev, t->src[j], &en->src[j]);
        }
        if (st == PCE_OK)
            st = dev->vtbl->segment_prepare(dev, &sg->seg);
    }
    return st;
}

static pce_status build(pce_plan *p)
{
    pce_graph *g = p->graph;
    pce_context *ctx = p->ctx;
    int nt = g->n_tensors;
    size_t cnt = (size_t)(nt ? nt : 1);
    p->order = malloc(cnt * sizeof *p->order);
    p->node_dev = calloc(cnt, sizeof *p->node_dev);
    p->place = calloc(cnt, sizeof *p->place);
    p->ok = calloc(cnt * (size_t)p->nd, 1);
    p->home = malloc(cnt);
    p->need_here = calloc(cnt, 1);
    if (!p->order || !p->node_dev || !p->place || !p->ok || !p->home || !p->need_here)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "plan tables for %d tensors", nt);
    for (int k = 0; k < p->nd; k++) {
        plan_dev *d = &p->d[k];
        d->input_buf = calloc(cnt, sizeof *d->input_buf);
        d->weight_buf = calloc(cnt, sizeof *d->weight_buf);
        d->import_at = malloc(cnt * sizeof *d->import_at);
        d->export_until = malloc(cnt * sizeof *d->export_until);
        if (!d->input_buf || !d->weight_buf || !d->import_at || !d->export_until)
            return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "plan tables for %d tensors", nt);
    }
    for (int i = 0; i < nt; i++) {
        const pce_tensor *t = g->tensors[i];
        if (t->op == PCE_OP_VIEW)
            p->stats.views++;
        else if (t->op != PCE_OP_LEAF)
            p->order[p->n_order++] = i;
    }
    p->stats.nodes = p->n_order;
    pce_status st = place_nodes(p);
    if (st != PCE_OK)
        return st;
    budgets(p);
    for (int round = 0;; round++) {
        if ((st = layout(p)) != PCE_OK)
            return st;
        int k = over_budget(p);
        if (k < 0)
            break;
        if (!p->allow_offload)
            return out_of_memory(p, " (pce_plan_options.allow_offload places the rest on the next "
                                    "device)");
        int moved = round < 2 * PLAN_MAX_DEVICES ? offload(p, k) : 0;
        if (!moved)
            return out_of_memory(p, " (after offloading what the other devices can run)");
        p->stats.offloaded += moved;
        pce_log(ctx, PCE_LOG_WARN,
                "plan: %d nodes offloaded from %s (needs %llu bytes, budget %llu)", moved,
                p->d[k].dev->props.name, (unsigned long long)p->d[k].need,
                (unsigned long long)p->d[k].budget);
    }
    if ((st = allocate(p)) != PCE_OK || (st = prepare_segments(p)) != PCE_OK)
        return st;
    for (int k = 0; k < p->nd; k++) {
        plan_dev *d = &p->d[k];
        p->stats.peak_bytes += d->mem.arena_bytes;
        p->stats.naive_bytes += d->mem.naive_bytes;
        p->stats.inplace_nodes += d->mem.inplace_nodes;
        p->stats.input_bytes += d->inputs;
        p->stats.weight_copied_bytes += d->weights_copied;
        if (d->nodes || d->inputs)
            p->stats.devices++;
    }
    for (int i = 0; i < nt; i++)
        if (g->tensors[i]->op == PCE_OP_LEAF && g->tensors[i]->role == PCE_ROLE_WEIGHT)
            p->stats.weight_bytes += pce_tensor_bytes(g->tensors[i]);
    p->stats.segments = p->n_segs;
    p->stats.copies = p->n_copies;
    for (int c = 0; c < p->n_copies; c++)
        p->stats.copy_bytes += p->copies[c].bytes;
    return PCE_OK;
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
    /* placement needs every device and its profile settings */
    pce_context_probe_modules(ctx);
    pce_plan *p = calloc(1, sizeof *p);
    if (!p)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "allocating a plan");
    p->ctx = ctx;
    p->graph = g;
    g->refs++;
    p->reference = o.reference_kernels || ctx->reference_kernels;
    p->poison = o.poison;
    p->strict = o.strict;
    p->allow_offload = o.allow_offload;
    pce_status st = choose_devices(p, &o);
    if (st == PCE_OK)
        st = build(p);
    if (st != PCE_OK) {
        pce_plan_destroy(p);
        return st;
    }
    pce_log(ctx, PCE_LOG_INFO,
            "plan on %s%s: %lld nodes in %lld segments, %lld copies per run, %lld fallbacks, "
            "activations %llu bytes",
            p->d[0].dev->props.name, p->stats.devices > 1 ? " and others" : "",
            (long long)p->stats.nodes, (long long)p->stats.segments, (long long)p->stats.copies,
            (long long)p->stats.fallbacks, (unsigned long long)p->stats.peak_bytes);
    *out = p;
    return PCE_OK;
}

void pce_plan_destroy(pce_plan *p)
{
    if (!p)
        return;
    for (int s = 0; s < p->n_segs; s++) {
        pce_segment *seg = &p->segs[s].seg;
        if (seg->impl && seg->dev->vtbl->segment_release)
            seg->dev->vtbl->segment_release(seg->dev, seg);
        free(seg->nodes);
    }
    for (int k = 0; k < p->nd; k++) {
        plan_dev *d = &p->d[k];
        const pce_backend_vtbl *v = d->dev->vtbl;
        if (d->arena)
            v->buffer_free(d->dev, d->arena);
        for (int i = 0; p->graph && i < p->graph->n_tensors; i++) {
            if (d->input_buf && d->input_buf[i])
                v->buffer_free(d->dev, d->input_buf[i]);
            if (d->weight_buf && d->weight_buf[i])
                v->buffer_free(d->dev, d->weight_buf[i]);
        }
        free(d->input_buf);
        free(d->weight_buf);
        free(d->import_at);
        free(d->export_until);
        pce_memplan_free(&d->mem);
    }
    if (p->staging) {
        if (p->staging_dev)
            p->staging_dev->vtbl->host_free(p->staging_dev, p->staging);
        else
            free(p->staging);
    }
    for (int i = 0; p->place && i < p->n_order; i++)
        free(p->place[i].note);
    free(p->segs);
    free(p->copies);
    free(p->place);
    free(p->node_dev);
    free(p->ok);
    free(p->home);
    free(p->need_here);
    free(p->order);
    pce_graph_release(p->graph);
    free(p);
}

/* ---- running ------------------------------------------------------------------ */

static pce_status check_tensor(pce_plan *p, const pce_tensor *t, const char *what)
{
    if (!t || t->graph != p->graph)
        return pce_fail(p->ctx, PCE_ERR_INVALID_ARGUMENT, "%s: tensor %s", what,
                        t ? "belongs to another graph" : "is NULL");
    return PCE_OK;
}

/* The device whose copy of root `id` a caller sees. */
static int home_of(const pce_plan *p, int id)
{
    return p->home[id] >= 0 ? p->home[id] : 0;
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
    plan_dev *d = &p->d[home_of(p, t->id)];
    st = d->dev->vtbl->upload(d->dev, d->input_buf[t->id], 0, data, bytes);
    if (st != PCE_OK)
        return pce_fail(p->ctx, st, "set_input '%s': upload of %zu bytes to %s failed", t->name,
                        bytes, d->dev->props.name);
    return PCE_OK;
}

/* Waits for device k's submitted work (the event a consumer waits on). */
static pce_status settle(pce_plan *p, int k)
{
    plan_dev *d = &p->d[k];
    if (!d->dirty)
        return PCE_OK;
    d->dirty = false;
    return d->dev->vtbl->synchronize ? d->dev->vtbl->synchronize(d->dev) : PCE_OK;
}

static pce_status run_copy(pce_plan *p, const plan_copy *c)
{
    /* the source must have produced it; the destination must be done with
     * whatever its memory held before */
    pce_status st = settle(p, c->from);
    if (st == PCE_OK)
        st = settle(p, c->to);
    pce_tref a, b;
    if (st == PCE_OK)
        st = root_ref(p, c->from, c->root, &a);
    if (st == PCE_OK)
        st = root_ref(p, c->to, c->root, &b);
    if (st != PCE_OK)
        return st;
    pce_device *src = p->d[c->from].dev, *dst = p->d[c->to].dev;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (a.host && b.host)
        memcpy(b.host, a.host, c->bytes);
    else if (a.host)
        st = dst->vtbl->upload(dst, b.buf, b.offset, a.host, c->bytes);
    else if (b.host)
        st = src->vtbl->download(src, a.buf, a.offset, b.host, c->bytes);
    else {
        st = src->vtbl->download(src, a.buf, a.offset, p->staging, c->bytes);
        if (st == PCE_OK)
            st = dst->vtbl->upload(dst, b.buf, b.offset, p->staging, c->bytes);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    p->stats.copy_ns +=
        (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec));
    if (st != PCE_OK)
        return pce_fail(p->ctx, st, "copying '%s' (%zu bytes) from %s to %s: %s",
                        p->graph->tensors[c->root]->name, c->bytes, src->props.name,
                        dst->props.name, pce_context_last_error(p->ctx));
    return PCE_OK;
}

static pce_status poison(pce_plan *p)
{
    for (int k = 0; k < p->nd; k++) {
        plan_dev *d = &p->d[k];
        uint64_t n = d->mem.arena_bytes;
        if (!d->arena || !n)
            continue;
        const pce_backend_vtbl *v = d->dev->vtbl;
        void *h = v->buffer_host_ptr ? v->buffer_host_ptr(d->dev, d->arena) : NULL;
        if (h) {
            memset(h, 0xff, n); /* all-ones is NaN in f32, f16 and bf16 */
            continue;
        }
        void *tmp = malloc(n);
        if (!tmp)
            return pce_fail(p->ctx, PCE_ERR_OUT_OF_MEMORY, "poison buffer of %llu bytes",
                            (unsigned long long)n);
        memset(tmp, 0xff, n);
        pce_status st = v->upload(d->dev, d->arena, 0, tmp, n);
        free(tmp);
        if (st != PCE_OK)
            return st;
    }
    return PCE_OK;
}

pce_status pce_plan_run(pce_plan *p)
{
    if (!p)
        return PCE_ERR_INVALID_ARGUMENT;
    pce_status st = p->poison ? poison(p) : PCE_OK;
    int c = 0;
    for (int s = 0; s <= p->n_segs && st == PCE_OK; s++) {
        for (; c < p->n_copies && p->copies[c].before == s && st == PCE_OK; c++)
            st = run_copy(p, &p->copies[c]);
        if (s == p->n_segs || st != PCE_OK)
            break;
        pce_segment *seg = &p->segs[s].seg;
        st = seg->dev->vtbl->segment_run(seg->dev, seg);
        p->d[p->segs[s].dev].dirty = true;
    }
    /* the caller reads results next: wait for every device that worked */
    for (int k = 0; k < p->nd; k++) {
        pce_status s2 = settle(p, k);
        if (st == PCE_OK)
            st = s2;
    }
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
    int k = home_of(p, root->id);
    pce_device *dev = p->d[k].dev;
    pce_tref r;
    if ((st = resolve(p, k, t, &r)) != PCE_OK)
        return st;
    if (r.host) {
        gather(&r, r.host, data);
        return PCE_OK;
    }
    if (pce_tensor_is_contiguous(t))
        return dev->vtbl->download(dev, r.buf, r.offset, data, bytes);
    /* strided on a device without host access: fetch the spanned bytes, then gather */
    size_t span = pce_dtype_get_info(t->dtype)->block_bytes;
    for (int i = 0; i < PCE_MAX_DIMS; i++)
        span += (size_t)((t->ne[i] - 1) * t->nb[i]);
    char *tmp = malloc(span);
    if (!tmp)
        return pce_fail(p->ctx, PCE_ERR_OUT_OF_MEMORY, "get_output '%s': %zu bytes", t->name, span);
    st = dev->vtbl->download(dev, r.buf, r.offset, tmp, span);
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

const char *pce_plan_tensor_device(const pce_plan *p, const pce_tensor *t)
{
    if (!p || !t || t->graph != p->graph)
        return NULL;
    const pce_tensor *r = pce_tensor_root(t);
    if (t->op != PCE_OP_LEAF && t->op != PCE_OP_VIEW) {
        for (int pos = 0; pos < p->n_order; pos++)
            if (p->order[pos] == t->id)
                return p->d[p->node_dev[pos]].dev->props.name;
    }
    if (r->role == PCE_ROLE_WEIGHT)
        return NULL;
    return p->d[home_of(p, r->id)].dev->props.name;
}

/* ---- explanation ----------------------------------------------------------------- */

typedef struct sbuf {
    char *buf;
    size_t cap, len;
} sbuf;

static void sb_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof tmp)
        n = (int)sizeof tmp - 1;
    if (s->buf && s->len + 1 < s->cap) {
        size_t room = s->cap - s->len - 1;
        size_t k = (size_t)n < room ? (size_t)n : room;
        memcpy(s->buf + s->len, tmp, k);
        s->buf[s->len + k] = 0;
    }
    s->len += (size_t)n;
}

static const char *dname(const pce_plan *p, int k)
{
    return p->d[k].dev->props.name;
}

pce_status pce_plan_explain(const pce_plan *p, char *buf, size_t cap, size_t *len)
{
    if (!p || (!buf && cap))
        return PCE_ERR_INVALID_ARGUMENT;
    sbuf s = {buf, cap, 0};
    if (buf && cap)
        buf[0] = 0;
    sb_printf(&s, "plan: %lld nodes (%lld views), %s kernels, placement %s%s; devices:",
              (long long)p->stats.nodes, (long long)p->stats.views,
              p->reference ? "reference" : "fast", p->strict ? "strict" : "with fallback",
              p->allow_offload ? ", offload allowed" : "");
    for (int k = 0; k < p->nd; k++)
        sb_printf(&s, "%s %s%s", k ? "," : "", dname(p, k), k ? "" : " (primary)");
    sb_printf(&s, "\n");
    for (int pos = 0; pos < p->n_order; pos++) {
        const pce_tensor *t = p->graph->tensors[p->order[pos]];
        const node_place *pl = &p->place[pos];
        int k = p->node_dev[pos];
        char sh[PCE_SHAPE_STR];
        pce_shape_str(t, sh);
        const pce_tensor *r = pce_tensor_root(t);
        sb_printf(&s, "  #%-4d %-11s %-24s %-28s %-8s", pos, pce_op_name(t->op), t->name, sh,
                  dname(p, k));
        if (r->role == PCE_ROLE_INTERMEDIATE)
            sb_printf(&s, " @%llu",
                      (unsigned long long)p->d[k].mem.offset[r->id] +
                          (unsigned long long)t->offset);
        else
            sb_printf(&s, " writes input '%s'", r->name);
        if (p->d[k].mem.inplace && p->d[k].mem.inplace[t->id])
            sb_printf(&s, " (in place of '%s')", t->src[0]->name);
        if (t->is_output)
            sb_printf(&s, " [output]");
        if (pl->why == WHY_PIN)
            sb_printf(&s, " pinned");
        else if (pl->why != WHY_PRIMARY)
            sb_printf(&s, " %s: %s", why_names[pl->why], pl->note ? pl->note : "");
        sb_printf(&s, "\n");
    }
    sb_printf(&s, "segments: %d\n", p->n_segs);
    for (int sg = 0; sg < p->n_segs; sg++) {
        const plan_seg *g = &p->segs[sg];
        sb_printf(&s, "  segment %d on %s: nodes #%d-#%d", sg, dname(p, g->dev), g->first, g->last);
        int nin = 0;
        for (int c = 0; c < p->n_copies; c++)
            if (p->copies[c].before == sg)
                nin++;
        if (nin)
            sb_printf(&s, ", after %d cop%s in", nin, nin == 1 ? "y" : "ies");
        sb_printf(&s, "\n");
    }
    sb_printf(&s, "copies per run: %lld, %llu bytes\n", (long long)p->stats.copies,
              (unsigned long long)p->stats.copy_bytes);
    for (int c = 0; c < p->n_copies; c++) {
        const plan_copy *cp = &p->copies[c];
        sb_printf(&s, "  '%s' %zu bytes %s -> %s, ", p->graph->tensors[cp->root]->name, cp->bytes,
                  dname(p, cp->from), dname(p, cp->to));
        if (cp->before < p->n_segs)
            sb_printf(&s, "before segment %d\n", cp->before);
        else
            sb_printf(&s, "after the last segment (back to the input's home)\n");
    }
    sb_printf(&s, "memory:\n");
    for (int k = 0; k < p->nd; k++) {
        const plan_dev *d = &p->d[k];
        sb_printf(&s,
                  "  %s: %d nodes; weights %llu bytes (%llu copied to the device), inputs %llu, "
                  "activations peak %llu (one buffer per tensor: %llu), %lld in place; total %llu",
                  dname(p, k), d->nodes, (unsigned long long)d->weights,
                  (unsigned long long)d->weights_copied, (unsigned long long)d->inputs,
                  (unsigned long long)d->mem.arena_bytes, (unsigned long long)d->mem.naive_bytes,
                  (long long)d->mem.inplace_nodes, (unsigned long long)d->need);
        if (d->budget == UINT64_MAX)
            sb_printf(&s, " (%s)\n", d->budget_why);
        else
            sb_printf(&s, " of a budget of %llu (%s)\n", (unsigned long long)d->budget,
                      d->budget_why);
    }
    sb_printf(&s, "fallbacks: %lld, offloaded: %lld\n", (long long)p->stats.fallbacks,
              (long long)p->stats.offloaded);
    if (len)
        *len = s.len;
    return PCE_OK;
}

static json_object *jstr(const char *s)
{
    return json_object_new_string(s ? s : "");
}

static json_object *ju64(uint64_t v)
{
    return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

pce_status pce_plan_explain_json(const pce_plan *p, char *buf, size_t cap, size_t *len)
{
    if (!p || (!buf && cap))
        return PCE_ERR_INVALID_ARGUMENT;
    json_object *root = json_object_new_object();
    json_object *devs = json_object_new_array();
    for (int k = 0; k < p->nd; k++) {
        const plan_dev *d = &p->d[k];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", jstr(dname(p, k)));
        json_object_object_add(o, "primary", json_object_new_boolean(k == 0));
        json_object_object_add(o, "nodes", json_object_new_int(d->nodes));
        json_object_object_add(o, "weights", ju64(d->weights));
        json_object_object_add(o, "weights_copied", ju64(d->weights_copied));
        json_object_object_add(o, "inputs", ju64(d->inputs));
        json_object_object_add(o, "activations", ju64(d->mem.arena_bytes));
        json_object_object_add(o, "need", ju64(d->need));
        json_object_object_add(o, "budget", d->budget == UINT64_MAX ? NULL : ju64(d->budget));
        json_object_object_add(o, "budget_why", jstr(d->budget_why));
        json_object_array_add(devs, o);
    }
    json_object_object_add(root, "devices", devs);
    json_object *nodes = json_object_new_array();
    for (int pos = 0; pos < p->n_order; pos++) {
        const pce_tensor *t = p->graph->tensors[p->order[pos]];
        char sh[PCE_SHAPE_STR];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "index", json_object_new_int(pos));
        json_object_object_add(o, "name", jstr(t->name));
        json_object_object_add(o, "op", jstr(pce_op_name(t->op)));
        json_object_object_add(o, "shape", jstr(pce_shape_str(t, sh)));
        json_object_object_add(o, "device", jstr(dname(p, p->node_dev[pos])));
        json_object_object_add(o, "why", jstr(why_names[p->place[pos].why]));
        if (p->place[pos].note)
            json_object_object_add(o, "note", jstr(p->place[pos].note));
        json_object_array_add(nodes, o);
    }
    json_object_object_add(root, "nodes", nodes);
    json_object *segs = json_object_new_array();
    for (int sg = 0; sg < p->n_segs; sg++) {
        json_object *o = json_object_new_object();
        int nin = 0;
        for (int c = 0; c < p->n_copies; c++)
            nin += p->copies[c].before == sg;
        json_object_object_add(o, "device", jstr(dname(p, p->segs[sg].dev)));
        json_object_object_add(o, "first", json_object_new_int(p->segs[sg].first));
        json_object_object_add(o, "last", json_object_new_int(p->segs[sg].last));
        json_object_object_add(o, "copies_in", json_object_new_int(nin));
        json_object_array_add(segs, o);
    }
    json_object_object_add(root, "segments", segs);
    json_object *cps = json_object_new_array();
    for (int c = 0; c < p->n_copies; c++) {
        const plan_copy *cp = &p->copies[c];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "tensor", jstr(p->graph->tensors[cp->root]->name));
        json_object_object_add(o, "from", jstr(dname(p, cp->from)));
        json_object_object_add(o, "to", jstr(dname(p, cp->to)));
        json_object_object_add(o, "bytes", ju64(cp->bytes));
        json_object_object_add(o, "before_segment", json_object_new_int(cp->before));
        json_object_array_add(cps, o);
    }
    json_object_object_add(root, "copies", cps);
    json_object_object_add(root, "fallbacks", json_object_new_int64(p->stats.fallbacks));
    json_object_object_add(root, "offloaded", json_object_new_int64(p->stats.offloaded));
    json_object_object_add(root, "strict", json_object_new_boolean(p->strict));
    const char *txt = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
    size_t n = strlen(txt);
    if (buf && cap) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(buf, txt, k);
        buf[k] = 0;
    }
    if (len)
        *len = n;
    json_object_put(root);
    return PCE_OK;
}
