/* llm.c — a decoder-only transformer (GGUF llama and qwen2) built from
 * pce's public graph API.
 *
 * Each distinct step shape (a prompt of T tokens; the one-token decode
 * step) over a span of A cache rows is one graph and one plan, built on
 * first use and kept. A is the number of positions used after the step,
 * rounded up to a power of two (at least 64, at most the context S): a
 * step attends over those A rows with a mask input that hides the rows
 * after each token's position, so a plan serves every step until the
 * context passes its span, and attention costs what the filled part of the
 * cache needs, not the whole context (as llama.cpp's n_kv).
 * The cache is an input of each plan (A rows per layer, written by
 * set_rows, kept across runs); when the next step uses another plan, the
 * rows in use are handed over once (get_output from the old plan,
 * set_input into the new one). */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 16

typedef struct llm_step {
    int T;
    int A; /* cache rows the step attends over (and holds) */
    bool all_logits;
    pce_graph *g;
    pce_plan *plan;
    pce_tensor *tokens, *pos, *mask, *logits;
    pce_tensor **kc, **vc;   /* per layer: the cache inputs */
    unsigned long long used; /* the eval count when last used, for eviction */
} llm_step;

struct pce_llm {
    pce_context *ctx;
    pce_model_file *file;
    pce_llm_info info;
    bool neox;     /* qwen2 rotates pairs (i, i + d/2); llama (2i, 2i + 1) */
    bool has_bias; /* qwen2: q/k/v biases */
    bool tied;     /* no output.weight: the token embeddings are the head */
    int S;         /* KV cache rows */
    int kv_dim;    /* n_head_kv * head_dim */
    char devices[256];
    bool strict;
    pce_dtype kv; /* the cache's dtype: f16 (default) or f32 */
    int pos;
    llm_step steps[MAX_STEPS];
    int n_steps;
    int cache_owner; /* step index whose plan holds the current cache, -1 */
    unsigned long long evals;
    float *buf; /* host staging: mask, cache hand-over */
    size_t buf_floats;
    const pce_plan *last;
};

void pce_llm_options_init(pce_llm_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
}

/* ---- metadata ------------------------------------------------------------------- */

static bool meta_num(const pce_model_file *f, const char *arch, const char *key, double *out)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    pce_meta m;
    if (pce_model_file_meta_find(f, k, &m) != PCE_OK || m.type == PCE_META_STRING ||
        m.type == PCE_META_ARRAY || m.type == PCE_META_BOOL)
        return false;
    *out = m.type == PCE_META_F32 || m.type == PCE_META_F64 ? m.f : (double)m.i;
    return true;
}

static int meta_int_or(const pce_model_file *f, const char *arch, const char *key, int dflt)
{
    double v;
    return meta_num(f, arch, key, &v) ? (int)v : dflt;
}

static pce_status read_info(pce_llm *m)
{
    pce_context *ctx = m->ctx;
    const pce_model_file *f = m->file;
    pce_llm_info *in = &m->info;
    pce_meta a;
    if (pce_model_file_format(f) != PCE_MODEL_GGUF ||
        pce_model_file_meta_find(f, "general.architecture", &a) != PCE_OK ||
        a.type != PCE_META_STRING)
        return pce_fail(ctx, PCE_ERR_FORMAT,
                        "llm: not a GGUF language model (no general.architecture)");
    snprintf(in->arch, sizeof in->arch, "%.*s", (int)(a.str_len < 31 ? a.str_len : 31), a.str);
    if (strcmp(in->arch, "llama") && strcmp(in->arch, "qwen2"))
        return pce_fail(ctx, PCE_ERR_UNSUPPORTED,
                        "llm: architecture '%s' is not supported (llama and qwen2 are)", in->arch);
    m->neox = !strcmp(in->arch, "qwen2");
    m->has_bias = !strcmp(in->arch, "qwen2");
    in->n_layers = meta_int_or(f, in->arch, "block_count", 0);
    in->n_embd = meta_int_or(f, in->arch, "embedding_length", 0);
    in->n_ff = meta_int_or(f, in->arch, "feed_forward_length", 0);
    in->n_head = meta_int_or(f, in->arch, "attention.head_count", 0);
    in->n_head_kv = meta_int_or(f, in->arch, "attention.head_count_kv", in->n_head);
    in->context_max = meta_int_or(f, in->arch, "context_length", 2048);
    double v;
    in->rope_theta = meta_num(f, in->arch, "rope.freq_base", &v) ? (float)v : 10000.0f;
    in->norm_eps = meta_num(f, in->arch, "attention.layer_norm_rms_epsilon", &v) ? (float)v : 1e-5f;
    if (in->n_layers <= 0 || in->n_embd <= 0 || in->n_ff <= 0 || in->n_head <= 0 ||
        in->n_head_kv <= 0 || in->n_embd % in->n_head || in->n_head % in->n_head_kv)
        return pce_fail(ctx, PCE_ERR_FORMAT,
                        "llm: inconsistent hyperparameters: %d layers, embedding %d, ffn %d, "
                        "%d heads, %d kv heads",
                        in->n_layers, in->n_embd, in->n_ff, in->n_head, in->n_head_kv);
    in->head_dim = in->n_embd / in->n_head;
    int rot = meta_int_or(f, in->arch, "rope.dimension_count", in->head_dim);
    if (rot != in->head_dim)
        return pce_fail(ctx, PCE_ERR_UNSUPPORTED,
                        "llm: rope over %d of %d dims per head is not supported", rot,
                        in->head_dim);
    char k[128];
    snprintf(k, sizeof k, "%s.rope.scaling.type", in->arch);
    pce_meta sc;
    if (pce_model_file_meta_find(f, k, &sc) == PCE_OK && sc.type == PCE_META_STRING &&
        !(sc.str_len == 4 && !memcmp(sc.str, "none", 4)))
        return pce_fail(ctx, PCE_ERR_UNSUPPORTED, "llm: rope scaling '%.*s' is not supported yet",
                        (int)(sc.str_len < 32 ? sc.str_len : 32), sc.str);
    pce_model_tensor emb;
    if (pce_model_file_tensor_find(f, "token_embd.weight", &emb) != PCE_OK || emb.ndim != 2 ||
        emb.dims[1] != in->n_embd)
        return pce_fail(ctx, PCE_ERR_FORMAT, "llm: token_embd.weight missing or not [vocab, %d]",
                        in->n_embd);
    in->n_vocab = (int)emb.dims[0];
    pce_model_tensor out;
    m->tied = pce_model_file_tensor_find(f, "output.weight", &out) != PCE_OK;
    pce_meta id;
    in->bos =
        pce_model_file_meta_find(f, "tokenizer.ggml.bos_token_id", &id) == PCE_OK ? (int)id.i : -1;
    in->eos =
        pce_model_file_meta_find(f, "tokenizer.ggml.eos_token_id", &id) == PCE_OK ? (int)id.i : -1;
    m->kv_dim = in->n_head_kv * in->head_dim;
    return PCE_OK;
}

/* ---- the graph of one step --------------------------------------------------------- */

typedef struct builder {
    pce_llm *m;
    pce_graph *g;
    char err[160]; /* the first missing weight */
} builder;

static pce_tensor *w(builder *b, const char *fmt, int layer)
{
    char name[96];
    snprintf(name, sizeof name, fmt, layer);
    /* a weight used twice (tied embeddings: the table and the head) is one
     * tensor of the graph */
    /* a graph already in error returns NULL for everything: the weight is
     * missing only if the graph was fine before asking for it */
    bool was_ok = pce_graph_status(b->g) == PCE_OK;
    pce_tensor *t = pce_graph_find(b->g, name);
    if (!t)
        t = pce_graph_weight_from_file(b->g, b->m->file, name);
    if (!t && was_ok && !b->err[0])
        snprintf(b->err, sizeof b->err, "%s", name);
    return t;
}

/* x · wᵀ (+ bias) */
static pce_tensor *linear(builder *b, pce_tensor *x, const char *wname, const char *bname,
                          int layer)
{
    pce_tensor *wt = w(b, wname, layer);
    pce_tensor *y = pce_matmul(b->g, x, wt ? pce_transpose(b->g, wt) : NULL);
    if (bname)
        y = pce_add(b->g, y, w(b, bname, layer));
    return y;
}

static pce_status build_step(pce_llm *m, llm_step *st)
{
    const pce_llm_info *in = &m->info;
    int T = st->T, S = st->A, D = in->n_embd, H = in->n_head, Hkv = in->n_head_kv,
        Dh = in->head_dim, G = H / Hkv, L = in->n_layers;
    pce_status s = pce_graph_create(m->ctx, &st->g);
    if (s != PCE_OK)
        return s;
    st->kc = calloc((size_t)L, sizeof *st->kc);
    st->vc = calloc((size_t)L, sizeof *st->vc);
    if (!st->kc || !st->vc)
        return pce_fail(m->ctx, PCE_ERR_OUT_OF_MEMORY, "llm: %d layers", L);
    builder b = {m, st->g, ""};
    pce_graph *g = st->g;
    const int64_t dt[] = {T}, dm[] = {T, S}, dc[] = {S, m->kv_dim};
    pce_dtype kv = m->kv;
    st->tokens = pce_graph_input(g, "tokens", PCE_DTYPE_I32, 1, dt);
    st->pos = pce_graph_input(g, "pos", PCE_DTYPE_I32, 1, dt);
    st->mask = pce_graph_input(g, "mask", PCE_DTYPE_F32, 2, dm);
    pce_tensor *x = pce_get_rows(g, w(&b, "token_embd.weight", 0), st->tokens);
    const int64_t thd[] = {T, H, Dh}, tkd[] = {T, Hkv, Dh}, tkv[] = {T, m->kv_dim},
                  c4[] = {1, S, Hkv, Dh}, q4[] = {Hkv, G, T, Dh}, htd[] = {H, T, Dh}, td[] = {T, D};
    const int p_htd[] = {1, 0, 2}, p_kt[] = {2, 0, 3, 1}, p_v[] = {2, 0, 1, 3};
    float scale = 1.0f / sqrtf((float)Dh);
    pce_rope_mode mode = m->neox ? PCE_ROPE_NEOX : PCE_ROPE_NORMAL;
    for (int l = 0; l < L && !b.err[0]; l++) {
        char name[32];
        snprintf(name, sizeof name, "k_cache_%d", l);
        st->kc[l] = pce_graph_input(g, name, kv, 2, dc);
        snprintf(name, sizeof name, "v_cache_%d", l);
        st->vc[l] = pce_graph_input(g, name, kv, 2, dc);
        pce_tensor *h = pce_rms_norm(g, x, w(&b, "blk.%d.attn_norm.weight", l), in->norm_eps);
        pce_tensor *q =
            linear(&b, h, "blk.%d.attn_q.weight", m->has_bias ? "blk.%d.attn_q.bias" : NULL, l);
        pce_tensor *k =
            linear(&b, h, "blk.%d.attn_k.weight", m->has_bias ? "blk.%d.attn_k.bias" : NULL, l);
        pce_tensor *v =
            linear(&b, h, "blk.%d.attn_v.weight", m->has_bias ? "blk.%d.attn_v.bias" : NULL, l);
        q = pce_rope(g, pce_reshape(g, q, 3, thd), st->pos, Dh, in->rope_theta, mode);
        k = pce_rope(g, pce_reshape(g, k, 3, tkd), st->pos, Dh, in->rope_theta, mode);
        /* this step's keys and values into the cache rows of their positions */
        pce_tensor *kall = pce_set_rows(g, st->kc[l], pce_reshape(g, k, 2, tkv), st->pos);
        pce_tensor *vall = pce_set_rows(g, st->vc[l], v, st->pos);
        /* grouped-query attention: q heads [Hkv, G] against kv heads [Hkv, 1] */
        pce_tensor *kt = pce_permute(g, pce_reshape(g, kall, 4, c4), p_kt); /* Hkv,1,Dh,S */
        pce_tensor *vv = pce_permute(g, pce_reshape(g, vall, 4, c4), p_v);  /* Hkv,1,S,Dh */
        pce_tensor *qh = pce_reshape(g, pce_contiguous(g, pce_permute(g, q, p_htd)), 4, q4);
        /* with an f16 cache, q and the probabilities meet it in f16 (the
         * products are exact in f32, where they are summed) */
        if (kv != PCE_DTYPE_F32)
            qh = pce_cast(g, qh, kv);
        pce_tensor *att = pce_softmax(g, pce_matmul(g, qh, kt), st->mask, scale);
        if (kv != PCE_DTYPE_F32)
            att = pce_cast(g, att, kv);
        pce_tensor *o = pce_reshape(g, pce_matmul(g, att, vv), 3, htd); /* H, T, Dh */
        o = pce_reshape(g, pce_contiguous(g, pce_permute(g, o, p_htd)), 2, td);
        x = pce_add(g, x, linear(&b, o, "blk.%d.attn_output.weight", NULL, l));
        h = pce_rms_norm(g, x, w(&b, "blk.%d.ffn_norm.weight", l), in->norm_eps);
        pce_tensor *ff = pce_swiglu(g, linear(&b, h, "blk.%d.ffn_gate.weight", NULL, l),
                                    linear(&b, h, "blk.%d.ffn_up.weight", NULL, l));
        x = pce_add(g, x, linear(&b, ff, "blk.%d.ffn_down.weight", NULL, l));
        pce_graph_output(g, kall);
        pce_graph_output(g, vall);
    }
    x = pce_rms_norm(g, x, w(&b, "output_norm.weight", 0), in->norm_eps);
    if (!st->all_logits && T > 1)
        x = pce_slice(g, x, 0, T - 1, T);
    st->logits = linear(&b, x, m->tied ? "token_embd.weight" : "output.weight", NULL, 0);
    if (b.err[0])
        return pce_fail(m->ctx, PCE_ERR_FORMAT, "llm: the model has no tensor '%s'%s%s", b.err,
                        pce_graph_status(g) != PCE_OK ? ": " : "",
                        pce_graph_status(g) != PCE_OK ? pce_graph_error(g) : "");
    if (pce_graph_status(g) != PCE_OK)
        return pce_fail(m->ctx, pce_graph_status(g), "llm: building the %d-token step: %s", T,
                        pce_graph_error(g));
    pce_graph_output(g, st->logits);
    pce_plan_options po;
    pce_plan_options_init(&po);
    po.devices = m->devices[0] ? m->devices : NULL;
    po.strict = m->strict;
    return pce_plan_create(m->ctx, g, &po, &st->plan);
}

static void free_step(llm_step *st)
{
    pce_plan_destroy(st->plan);
    pce_graph_destroy(st->g);
    free(st->kc);
    free(st->vc);
    memset(st, 0, sizeof *st);
}

/* The step for T tokens, built if needed (the least recently used goes
 * when all slots are taken). */
static pce_status get_step(pce_llm *m, int T, int A, bool all, int *out)
{
    for (int i = 0; i < m->n_steps; i++)
        if (m->steps[i].T == T && m->steps[i].A == A && m->steps[i].all_logits == (all && T > 1)) {
            *out = i;
            return PCE_OK;
        }
    int i = m->n_steps;
    if (i == MAX_STEPS) {
        i = 0;
        for (int k = 1; k < MAX_STEPS; k++)
            if (m->steps[k].used < m->steps[i].used && k != m->cache_owner)
                i = k;
        if (i == m->cache_owner)
            i = (i + 1) % MAX_STEPS;
        free_step(&m->steps[i]);
    } else {
        m->n_steps++;
    }
    llm_step *st = &m->steps[i];
    st->T = T;
    st->A = A;
    st->all_logits = all && T > 1;
    pce_status s = build_step(m, st);
    if (s != PCE_OK) {
        free_step(st);
        if (i == m->n_steps - 1)
            m->n_steps--;
        return s;
    }
    /* a new plan's cache is empty: zeros, so masked rows stay finite */
    size_t bytes = pce_tensor_bytes(st->kc[0]);
    memset(m->buf, 0, bytes);
    for (int l = 0; l < m->info.n_layers && s == PCE_OK; l++) {
        s = pce_plan_set_input(st->plan, st->kc[l], m->buf, bytes);
        if (s == PCE_OK)
            s = pce_plan_set_input(st->plan, st->vc[l], m->buf, bytes);
    }
    *out = i;
    return s;
}

/* Moves the cache rows in use from the plan that holds them into step i's
 * plan (the rows after them are zero, so masked rows stay finite). */
static pce_status hand_over(pce_llm *m, int i)
{
    if (m->cache_owner == i || m->cache_owner < 0 || m->pos == 0) {
        m->cache_owner = i;
        return PCE_OK;
    }
    llm_step *from = &m->steps[m->cache_owner], *to = &m->steps[i];
    size_t from_bytes = pce_tensor_bytes(from->kc[0]), to_bytes = pce_tensor_bytes(to->kc[0]);
    size_t row = from_bytes / (size_t)from->A, used = (size_t)m->pos * row;
    pce_status s = PCE_OK;
    for (int l = 0; l < m->info.n_layers && s == PCE_OK; l++)
        for (int kv = 0; kv < 2 && s == PCE_OK; kv++) {
            s = pce_plan_get_output(from->plan, kv ? from->vc[l] : from->kc[l], m->buf, from_bytes);
            if (to_bytes > used)
                memset((char *)m->buf + used, 0, to_bytes - used);
            if (s == PCE_OK)
                s = pce_plan_set_input(to->plan, kv ? to->vc[l] : to->kc[l], m->buf, to_bytes);
        }
    if (s == PCE_OK)
        m->cache_owner = i;
    return s;
}

/* The span of a step that ends at position `end`: a power of two of at
 * least 64, at most the context. */
static int span_for(const pce_llm *m, int end)
{
    int a = 64;
    while (a < end && a < m->S)
        a *= 2;
    return a < m->S ? a : m->S;
}

/* ---- API ------------------------------------------------------------------------------ */

pce_status pce_llm_load(pce_context *ctx, const char *path, const pce_llm_options *opts,
                        pce_llm **out)
{
    if (!ctx || !out)
        return PCE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    pce_llm_options o;
    pce_llm_options_init(&o);
    if (opts) {
        if (opts->size < sizeof(size_t) || opts->size > sizeof o)
            return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                            "pce_llm_options.size is %zu: call pce_llm_options_init", opts->size);
        memcpy(&o, opts, opts->size);
    }
    pce_llm *m = calloc(1, sizeof *m);
    if (!m)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "llm: model state");
    m->ctx = ctx;
    m->cache_owner = -1;
    m->strict = o.strict;
    m->kv = o.kv_f32 ? PCE_DTYPE_F32 : PCE_DTYPE_F16;
    if (o.devices)
        snprintf(m->devices, sizeof m->devices, "%s", o.devices);
    pce_status s = pce_model_file_open(ctx, path, &m->file);
    if (s == PCE_OK)
        s = read_info(m);
    if (s == PCE_OK) {
        int want = o.context > 0 ? o.context : 512;
        m->S = want < m->info.context_max ? want : m->info.context_max;
        if (o.context < 0 || m->S < 1)
            s = pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "llm: context %d", o.context);
    }
    if (s == PCE_OK) {
        size_t cache = (size_t)m->S * (size_t)m->kv_dim;
        m->buf_floats = cache > (size_t)m->S * 4096 ? cache : (size_t)m->S * 4096;
        if (!(m->buf = malloc(m->buf_floats * sizeof(float))))
            s = pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "llm: %zu floats of staging", m->buf_floats);
    }
    if (s != PCE_OK) {
        pce_llm_destroy(m);
        return s;
    }
    pce_log(ctx, PCE_LOG_INFO,
            "llm %s: %d layers, embedding %d, ffn %d, heads %d/%d, vocab %d, cache %d tokens",
            m->info.arch, m->info.n_layers, m->info.n_embd, m->info.n_ff, m->info.n_head,
            m->info.n_head_kv, m->info.n_vocab, m->S);
    *out = m;
    return PCE_OK;
}

void pce_llm_destroy(pce_llm *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_steps; i++)
        free_step(&m->steps[i]);
    pce_model_file_close(m->file);
    free(m->buf);
    free(m);
}

pce_status pce_llm_get_info(const pce_llm *m, pce_llm_info *out)
{
    if (!m || !out)
        return PCE_ERR_INVALID_ARGUMENT;
    *out = m->info;
    out->context_max = m->S;
    return PCE_OK;
}

void pce_llm_reset(pce_llm *m)
{
    if (m)
        m->pos = 0;
}

int pce_llm_position(const pce_llm *m)
{
    return m ? m->pos : 0;
}

pce_status pce_llm_rewind(pce_llm *m, int pos)
{
    if (!m)
        return PCE_ERR_INVALID_ARGUMENT;
    if (pos < 0 || pos > m->pos)
        return pce_fail(m->ctx, PCE_ERR_INVALID_ARGUMENT,
                        "llm_rewind: position %d is outside [0, %d]", pos, m->pos);
    /* the rows after pos are masked until overwritten */
    m->pos = pos;
    return PCE_OK;
}

pce_context *pce_llm_context(const pce_llm *m)
{
    return m ? m->ctx : NULL;
}

const pce_plan *pce_llm_last_plan(const pce_llm *m)
{
    return m ? m->last : NULL;
}

pce_status pce_llm_eval(pce_llm *m, const int32_t *tokens, int n, float *logits, bool all_logits)
{
    if (!m)
        return PCE_ERR_INVALID_ARGUMENT;
    pce_context *ctx = m->ctx;
    if (!tokens || n < 1)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "llm_eval: %d tokens", n);
    if (m->pos + n > m->S)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                        "llm_eval: %d more tokens at position %d pass the context of %d", n, m->pos,
                        m->S);
    if ((size_t)n * (size_t)m->S > m->buf_floats)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                        "llm_eval: a prompt of %d tokens is longer than this model's staging "
                        "allows (%zu)",
                        n, m->buf_floats / (size_t)m->S);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->info.n_vocab)
            return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                            "llm_eval: token %d at index %d is outside the vocabulary [0, %d)",
                            tokens[i], i, m->info.n_vocab);
    int si, A = span_for(m, m->pos + n);
    pce_status s = get_step(m, n, A, all_logits, &si);
    if (s == PCE_OK)
        s = hand_over(m, si);
    if (s != PCE_OK)
        return s;
    llm_step *st = &m->steps[si];
    st->used = ++m->evals;
    int32_t *pos = malloc((size_t)n * sizeof *pos);
    if (!pos)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "llm_eval: positions");
    for (int i = 0; i < n; i++)
        pos[i] = m->pos + i;
    /* row i sees cache rows 0 .. pos[i] */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < A; j++)
            m->buf[(size_t)i * (size_t)A + (size_t)j] = j <= pos[i] ? 0.0f : -INFINITY;
    s = pce_plan_set_input(st->plan, st->tokens, tokens, (size_t)n * sizeof *tokens);
    if (s == PCE_OK)
        s = pce_plan_set_input(st->plan, st->pos, pos, (size_t)n * sizeof *pos);
    if (s == PCE_OK)
        s = pce_plan_set_input(st->plan, st->mask, m->buf, (size_t)n * (size_t)A * sizeof(float));
    free(pos);
    if (s == PCE_OK)
        s = pce_plan_run(st->plan);
    if (s == PCE_OK && logits)
        s = pce_plan_get_output(st->plan, st->logits, logits, pce_tensor_bytes(st->logits));
    if (s != PCE_OK)
        return s;
    m->pos += n;
    m->last = st->plan;
    return PCE_OK;
}
