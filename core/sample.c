/* sample.c — choosing the next token from a logits row, as llama.cpp's
 * default sampler chain does: repetition penalty, top-k, top-p, min-p,
 * temperature, then a draw from a seeded generator of pce's own
 * (xoshiro256** seeded through splitmix64), so that a seed gives the same
 * tokens on every platform and C library.
 *
 * The work per token is O(n_vocab) plus a sort of few candidates: top-k
 * keeps a heap of k, and without top-k the top-p cut is found from a
 * histogram of log-probabilities, so that only the tokens of the bucket
 * where it falls are sorted.
 *
 * Logits may be -inf (a token the caller has masked: it is never chosen);
 * NaN and +inf are the caller's error, reported with their index.
 */
#include "internal.h"
#include "pce_text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct pce_sampler {
    pce_context *ctx;
    pce_sampler_options o;
    int n_vocab;
    uint64_t rng[4];
    int32_t *hist; /* ring of the last o.repeat_last_n accepted tokens */
    int hist_len, hist_pos;
    float *work;   /* the logits after the penalty */
    cand *cands;   /* candidates (n_vocab at most) */
    double *prob;  /* their weights */
    uint8_t *seen; /* tokens already penalised in this call */
};

/* ---- the generator ----------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static void seed_rng(pce_sampler *s)
{
    uint64_t x = s->o.seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
}

/* Uniform in [0, 1) with 53 random bits. */
static double uniform01(pce_sampler *s)
{
    return (double)(xoshiro_next(s->rng) >> 11) * 0x1.0p-53;
}

/* ---- options ----------------------------------------------------------------- */

void pce_sampler_options_init(pce_sampler_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->temperature = 0.8f;
    o->top_k = 40;
    o->top_p = 0.95f;
    o->min_p = 0.05f;
    o->repeat_penalty = 1.0f;
    o->repeat_last_n = 64;
    o->seed = 0;
}

static pce_status check_options(pce_context *ctx, const pce_sampler_options *o, int n_vocab)
{
    const char *bad = NULL;
    double v = 0;
    if (isnan(o->temperature) || isinf(o->temperature))
        bad = "temperature", v = o->temperature;
    else if (!(o->top_p >= 0.0f && o->top_p <= 1.0f))
        bad = "top_p", v = o->top_p;
    else if (!(o->min_p >= 0.0f && o->min_p <= 1.0f))
        bad = "min_p", v = o->min_p;
    else if (!(o->repeat_penalty > 0.0f) || isinf(o->repeat_penalty))
        bad = "repeat_penalty", v = o->repeat_penalty;
    if (bad)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                        "sampler: %s is %g (temperature: finite, <= 0 for greedy; top_p and "
                        "min_p: 0 to 1; repeat_penalty: finite, > 0)",
                        bad, v);
    if (o->repeat_last_n < 0)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                        "sampler: repeat_last_n is %d (0 turns the penalty off)", o->repeat_last_n);
    if (n_vocab <= 0)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "sampler: n_vocab is %d", n_vocab);
    return PCE_OK;
}

pce_status pce_sampler_create(pce_context *ctx, const pce_sampler_options *opts, int n_vocab,
                              pce_sampler **out)
{
    if (!ctx || !out)
        return ctx ? pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "sampler: out is NULL")
                   : PCE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    pce_sampler_options o;
    pce_sampler_options_init(&o);
    if (opts) {
        if (opts->size < sizeof(size_t) || opts->size > sizeof o)
            return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                            "pce_sampler_options.size is %zu: call pce_sampler_options_init",
                            opts->size);
        memcpy(&o, opts, opts->size);
    }
    pce_status st = check_options(ctx, &o, n_vocab);
    if (st != PCE_OK)
        return st;

    pce_sampler *s = calloc(1, sizeof *s);
    size_t n = (size_t)n_vocab;
    if (s) {
        s->work = malloc(n * sizeof *s->work);
        s->cands = malloc(n * sizeof *s->cands);
        s->prob = malloc(n * sizeof *s->prob);
        s->seen = calloc(n, 1);
        s->hist = o.repeat_last_n ? malloc((size_t)o.repeat_last_n * sizeof *s->hist) : NULL;
    }
    if (!s || !s->work || !s->cands || !s->prob || !s->seen || (o.repeat_last_n && !s->hist)) {
        pce_sampler_destroy(s);
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "sampler: buffers for %d tokens (%zu bytes)",
                        n_vocab, n * (sizeof(float) + sizeof(cand) + sizeof(double) + 1));
    }
    s->ctx = ctx;
    s->o = o;
    s->n_vocab = n_vocab;
    seed_rng(s);
    *out = s;
    return PCE_OK;
}

void pce_sampler_destroy(pce_sampler *s)
{
    if (!s)
        return;
    free(s->work);
    free(s->cands);
    free(s->prob);
    free(s->seen);
    free(s->hist);
    free(s);
}

void pce_sampler_accept(pce_sampler *s, int32_t token)
{
    if (!s)
        return;
    if (token < 0 || token >= s->n_vocab) {
        pce_log(s->ctx, PCE_LOG_WARN, "sampler: accepted token %d is outside the vocabulary (%d)",
                (int)token, s->n_vocab);
        return;
    }
    if (s->o.repeat_last_n == 0)
        return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->o.repeat_last_n;
    if (s->hist_len < s->o.repeat_last_n)
        s->hist_len++;
}

void pce_sampler_reset(pce_sampler *s)
{
    if (!s)
        return;
    s->hist_len = 0;
    s->hist_pos = 0;
    seed_rng(s);
}

/* ---- the chain --------------------------------------------------------------- */

/* Higher logit first; among equal logits the lower id, so that every order
 * is total and the result does not depend on the sort. */
static bool better(cand a, cand b)
{
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

static int cmp_cand(const void *pa, const void *pb)
{
    cand a = *(const cand *)pa, b = *(const cand *)pb;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

/* The penalty as llama.cpp applies it: once per distinct recent token,
 * dividing a positive logit and multiplying a negative one. */
static void apply_penalty(pce_sampler *s)
{
    float p = s->o.repeat_penalty;
    if (p == 1.0f || s->hist_len == 0)
        return;
    for (int i = 0; i < s->hist_len; i++) {
        int32_t t = s->hist[i];
        if (s->seen[t])
            continue;
        s->seen[t] = 1;
        s->work[t] = s->work[t] > 0 ? s->work[t] / p : s->work[t] * p;
    }
    for (int i = 0; i < s->hist_len; i++)
        s->seen[s->hist[i]] = 0;
}

/* The k best of work[0..n) into s->cands, best first: a min-heap of k on
 * `better`, O(n log k), then a sort of the k. */
static int top_k_select(pce_sampler *s, int k)
{
    cand *h = s->cands;
    int n = s->n_vocab, m = 0;
    for (int i = 0; i < n; i++) {
        cand c = {s->work[i], i};
        if (m < k) {
            int j = m++;
            while (j > 0 && better(h[(j - 1) / 2], c)) {
                h[j] = h[(j - 1) / 2];
                j = (j - 1) / 2;
            }
            h[j] = c;
        } else if (better(c, h[0])) {
            int j = 0;
            for (;;) {
                int l = 2 * j + 1, r = l + 1, w = j;
                cand wc = c;
                if (l < m && better(wc, h[l]))
                    w = l, wc = h[l];
                if (r < m && better(wc, h[r]))
                    w = r;
                if (w == j)
                    break;
                h[j] = h[w];
                j = w;
            }
            h[j] = c;
        }
    }
    qsort(h, (size_t)m, sizeof *h, cmp_cand);
    return m;
}

/* top-p without top-k, over the whole vocabulary: the tokens of the
 * smallest prefix (in order of probability) whose mass reaches top_p, into
 * s->cands in no particular order. A histogram of max - logit in quarter
 * nats finds the bucket where the prefix ends: every token of the buckets
 * above it is kept unsorted, and only that bucket's tokens are sorted to find
 * the exact end. */
static int top_p_select(pce_sampler *s, float max_logit)
{
    enum { NB = 64, PER_NAT = 4 };
    double mass[NB + 1] = {0};
    int n = s->n_vocab;
    double total = 0;
    for (int i = 0; i < n; i++) {
        float d = max_logit - s->work[i];
        float w = expf(-d);
        total += w;
        mass[d < (float)NB / PER_NAT ? (int)(d * PER_NAT) : NB] += w;
    }
    double want = (double)s->o.top_p * total, above = 0;
    int cut = NB;
    for (int b = 0; b <= NB; b++) {
        if (above + mass[b] >= want) {
            cut = b;
            break;
        }
        above += mass[b];
    }
    /* buckets above the cut first, then the cut's bucket at the end */
    int m = 0, n_cut = 0;
    for (int i = 0; i < n; i++) {
        float d = max_logit - s->work[i];
        int b = d < (float)NB / PER_NAT ? (int)(d * PER_NAT) : NB;
        if (b < cut)
            s->cands[m++] = (cand){s->work[i], i};
        else if (b == cut)
            s->cands[n - 1 - n_cut++] = (cand){s->work[i], i};
    }
    cand *edge = s->cands + n - n_cut;
    qsort(edge, (size_t)n_cut, sizeof *edge, cmp_cand);
    double cum = above;
    for (int j = 0; j < n_cut; j++) {
        s->cands[m++] = edge[j]; /* m <= n - n_cut + j: never overwrites what is unread */
        cum += expf(edge[j].logit - max_logit);
        if (cum >= want)
            break;
    }
    return m;
}

pce_status pce_sampler_sample(pce_sampler *s, const float *logits, int32_t *token)
{
    if (!s)
        return PCE_ERR_INVALID_ARGUMENT;
    if (!logits || !token)
        return pce_fail(s->ctx, PCE_ERR_INVALID_ARGUMENT, "sampler: %s is NULL",
                        !logits ? "logits" : "token");
    int n = s->n_vocab;
    for (int i = 0; i < n; i++) {
        float l = logits[i];
        if (!(l < INFINITY)) /* NaN or +inf */
            return pce_fail(s->ctx, PCE_ERR_INVALID_ARGUMENT, "sampler: logit %d of %d is %s", i, n,
                            isnan(l) ? "NaN" : "+inf");
        s->work[i] = l;
    }
    apply_penalty(s);
    float max_logit = -INFINITY;
    int best = -1;
    for (int i = 0; i < n; i++)
        if (s->work[i] > max_logit)
            max_logit = s->work[i], best = i;
    if (best < 0)
        return pce_fail(s->ctx, PCE_ERR_INVALID_ARGUMENT,
                        "sampler: all %d logits are -inf: no token can be chosen", n);
    if (s->o.temperature <= 0) {
        *token = best;
        return PCE_OK;
    }

    int m;
    if (s->o.top_k > 0 && s->o.top_k < n) {
        m = top_k_select(s, s->o.top_k);
        /* top-p over what top-k left, renormalised as llama.cpp does */
        if (s->o.top_p < 1.0f) {
            double total = 0, cum = 0;
            for (int i = 0; i < m; i++)
                total += expf(s->cands[i].logit - max_logit);
            double want = (double)s->o.top_p * total;
            for (int i = 0; i < m; i++) {
                cum += expf(s->cands[i].logit - max_logit);
                if (cum >= want) {
                    m = i + 1;
                    break;
                }
            }
        }
    } else if (s->o.top_p < 1.0f) {
        m = top_p_select(s, max_logit);
    } else {
        for (int i = 0; i < n; i++)
            s->cands[i] = (cand){s->work[i], i};
        m = n;
    }

    /* min-p: drop what is below min_p times the best token's probability
     * (the best token always stays) */
    if (s->o.min_p > 0) {
        float floor_logit = max_logit + logf(s->o.min_p);
        int k = 0;
        for (int i = 0; i < m; i++)
            if (s->cands[i].logit >= floor_logit)
                s->cands[k++] = s->cands[i];
        m = k;
    }

    /* temperature, softmax (max subtracted) and the draw */
    float inv_t = 1.0f / s->o.temperature;
    double sum = 0;
    for (int i = 0; i < m; i++) {
        double w = expf((s->cands[i].logit - max_logit) * inv_t);
        s->prob[i] = w;
        sum += w;
    }
    double u = uniform01(s) * sum, cum = 0;
    int pick = -1;
    for (int i = 0; i < m; i++) {
        if (s->prob[i] <= 0)
            continue;
        pick = i;
        cum += s->prob[i];
        if (u < cum)
            break;
    }
    if (pick < 0) /* cannot happen: the best token has weight 1 */
        return pce_fail(s->ctx, PCE_ERR_INTERNAL, "sampler: no candidate left");
    *token = s->cands[pick].id;
    return PCE_OK;
}
