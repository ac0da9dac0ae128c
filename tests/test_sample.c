/* test_sample.c — pce_sampler: greedy is the argmax, seeds reproduce,
 * draws follow softmax(logits / T) (chi-square), and each truncation
 * (top-k, top-p, min-p) keeps exactly the tokens it should on hand-made
 * distributions, over vocabularies of 4 to 150k; the repetition penalty; the
 * options and logits that are refused.
 *
 * Logits are random and fresh per case (the run's seed is printed; set
 * PCE_TEST_SEED to replay one).
 */
#include <check.h>

#include "pce.h"
#include "pce_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pce_context *ctx;
static uint64_t g_seed; /* the run's seed; each case derives its own */
static uint64_t g_rng;  /* the case's generator (splitmix64) */

static uint64_t rnd_u64(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static float rnd(float lo, float hi)
{
    return lo + (hi - lo) * (float)((double)(rnd_u64() >> 11) * 0x1.0p-53);
}

/* Each case's generator: the run's seed and the case's name (cases run in
 * forked children, so a counter would not advance). */
static void case_rng(const char *name)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    g_rng = g_seed ^ h;
}
#define CASE() case_rng(__func__)

static void setup(void)
{
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
}

static void teardown(void)
{
    pce_context_destroy(ctx);
    ctx = NULL;
}

static float *random_logits(int n, float lo, float hi)
{
    float *l = malloc((size_t)n * sizeof *l);
    ck_assert_ptr_nonnull(l);
    for (int i = 0; i < n; i++)
        l[i] = rnd(lo, hi);
    return l;
}

static int argmax(const float *l, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[b])
            b = i;
    return b;
}

/* Options with every truncation off at temperature t. */
static pce_sampler_options plain(float t, uint64_t seed)
{
    pce_sampler_options o;
    pce_sampler_options_init(&o);
    o.temperature = t;
    o.top_k = 0;
    o.top_p = 1.0f;
    o.min_p = 0.0f;
    o.repeat_penalty = 1.0f;
    o.seed = seed;
    return o;
}

static pce_sampler *make(const pce_sampler_options *o, int n)
{
    pce_sampler *s = NULL;
    pce_status st = pce_sampler_create(ctx, o, n, &s);
    ck_assert_msg(st == PCE_OK, "create: %s: %s", pce_status_name(st), pce_context_last_error(ctx));
    ck_assert_ptr_nonnull(s);
    return s;
}

static int32_t draw(pce_sampler *s, const float *logits)
{
    int32_t t = -7; /* poisoned */
    pce_status st = pce_sampler_sample(s, logits, &t);
    ck_assert_msg(st == PCE_OK, "sample: %s: %s (seed %llu)", pce_status_name(st),
                  pce_context_last_error(ctx), (unsigned long long)g_seed);
    return t;
}

/* Counts of `draws` samples over n tokens. */
static long *histogram(pce_sampler *s, const float *logits, int n, int draws)
{
    long *c = calloc((size_t)n, sizeof *c);
    ck_assert_ptr_nonnull(c);
    for (int i = 0; i < draws; i++) {
        int32_t t = draw(s, logits);
        ck_assert_msg(t >= 0 && t < n, "token %d outside [0, %d)", t, n);
        c[t]++;
    }
    return c;
}

static void softmax(const float *l, int n, double t, double *p)
{
    double m = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++)
        m = fmax(m, l[i]);
    for (int i = 0; i < n; i++)
        sum += p[i] = exp((l[i] - m) / t);
    for (int i = 0; i < n; i++)
        p[i] /= sum;
}

/* Pearson's chi-square of counts against probabilities p (all > 0). */
static double chi_square(const long *c, const double *p, int n, int draws)
{
    double x = 0;
    for (int i = 0; i < n; i++) {
        double e = p[i] * draws;
        x += (c[i] - e) * (c[i] - e) / e;
    }
    return x;
}

/* ---- greedy and seeds ---------------------------------------------------------- */

START_TEST(greedy_is_argmax)
{
    CASE();
    for (int rep = 0; rep < 20; rep++) {
        int n = 100 + (int)(rnd_u64() % 5000);
        float *l = random_logits(n, -20, 20);
        pce_sampler_options o;
        pce_sampler_options_init(&o); /* top-k, top-p, min-p on: greedy ignores them */
        o.temperature = rep % 2 ? 0.0f : -1.0f;
        o.seed = rnd_u64();
        pce_sampler *s = make(&o, n);
        ck_assert_int_eq(draw(s, l), argmax(l, n));
        pce_sampler_destroy(s);
        free(l);
    }
}
END_TEST

START_TEST(seed_reproduces)
{
    CASE();
    int n = 64, len = 200;
    float *l = random_logits(n, -1, 1);
    uint64_t seed = rnd_u64();
    pce_sampler_options o = plain(1.0f, seed);
    pce_sampler *a = make(&o, n), *b = make(&o, n);
    o.seed = seed + 1;
    pce_sampler *c = make(&o, n);
    int32_t *sa = malloc(len * sizeof *sa);
    int same_c = 0;
    for (int i = 0; i < len; i++) {
        sa[i] = draw(a, l);
        ck_assert_int_eq(draw(b, l), sa[i]);
        same_c += draw(c, l) == sa[i];
    }
    /* with ~64 near-equal tokens, two seeds agree on ~1/64 of the draws */
    ck_assert_msg(same_c < len / 4, "seeds %llu and %llu agree on %d of %d draws",
                  (unsigned long long)seed, (unsigned long long)seed + 1, same_c, len);
    /* reset reseeds: the same sequence again */
    pce_sampler_reset(a);
    for (int i = 0; i < len; i++)
        ck_assert_int_eq(draw(a, l), sa[i]);
    free(sa);
    pce_sampler_destroy(a);
    pce_sampler_destroy(b);
    pce_sampler_destroy(c);
    free(l);
}
END_TEST

/* The generator is pce's own: seed 42 gives these tokens everywhere. */
START_TEST(seed_is_portable)
{
    CASE();
    float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    pce_sampler_options o = plain(1.0f, 42);
    pce_sampler *s = make(&o, 8);
    int32_t got[12];
    for (int i = 0; i < 12; i++)
        got[i] = draw(s, l);
    /* uniform over 8: token = floor(u * 8) of xoshiro256** seeded by splitmix64(42) */
    static const int32_t want[12] = {0, 3, 5, 7, 7, 6, 5, 6, 6, 4, 5, 2};
    for (int i = 0; i < 12; i++)
        ck_assert_msg(got[i] == want[i], "draw %d: %d, expected %d", i, got[i], want[i]);
    pce_sampler_destroy(s);
}
END_TEST

START_TEST(top_k_1_is_greedy)
{
    CASE();
    for (int rep = 0; rep < 10; rep++) {
        int n = 1000 + (int)(rnd_u64() % 1000);
        float *l = random_logits(n, -3, 3);
        pce_sampler_options o = plain(1.5f, rnd_u64());
        o.top_k = 1;
        pce_sampler *s = make(&o, n);
        for (int i = 0; i < 50; i++)
            ck_assert_int_eq(draw(s, l), argmax(l, n));
        pce_sampler_destroy(s);
        free(l);
    }
}
END_TEST

/* ---- the distribution -------------------------------------------------------- */

static void check_softmax(float t, int n, int draws)
{
    float *l = random_logits(n, -2, 2);
    double *p = malloc((size_t)n * sizeof *p);
    softmax(l, n, t, p);
    pce_sampler_options o = plain(t, rnd_u64());
    pce_sampler *s = make(&o, n);
    long *c = histogram(s, l, n, draws);
    double x = chi_square(c, p, n, draws);
    /* 40.5 is chi-square's 1e-6 quantile for 7 degrees of freedom */
    ck_assert_msg(x < 40.5, "T=%g: chi-square %g over %d tokens (seed %llu)", t, x, n,
                  (unsigned long long)g_seed);
    for (int i = 0; i < n; i++)
        ck_assert_msg(fabs((double)c[i] / draws - p[i]) < 0.01, "T=%g token %d: %g vs %g", t, i,
                      (double)c[i] / draws, p[i]);
    free(c);
    pce_sampler_destroy(s);
    free(p);
    free(l);
}

START_TEST(frequencies_match_softmax)
{
    CASE();
    check_softmax(1.0f, 8, 100000);
    check_softmax(0.5f, 8, 100000);
    check_softmax(2.0f, 8, 100000);
}
END_TEST

START_TEST(temperature_extremes)
{
    CASE();
    int n = 500;
    float *l = random_logits(n, -5, 5);
    int best = argmax(l, n);
    /* two random logits can lie within 1e-4 of each other, and then T = 1e-4
     * rightly draws the second now and then: keep the best 0.01 ahead, so
     * the second's chance, exp(-100) a draw, is nil */
    l[best] += 0.01f;
    pce_sampler_options o = plain(1e-4f, rnd_u64());
    pce_sampler *s = make(&o, n);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(draw(s, l), best);
    pce_sampler_destroy(s);

    /* four tokens spread over 3 nats: T = 1 favours the top one (~0.64),
     * T = 1000 makes them all but equal */
    float l4[4] = {0, 1, 2, 3};
    o = plain(1000.0f, rnd_u64());
    s = make(&o, 4);
    long *c = histogram(s, l4, 4, 40000);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(fabs(c[i] / 40000.0 - 0.25) < 0.02, "T=1000: token %d at %g", i,
                      c[i] / 40000.0);
    free(c);
    pce_sampler_destroy(s);
    o = plain(1.0f, rnd_u64());
    s = make(&o, 4);
    c = histogram(s, l4, 4, 40000);
    ck_assert_msg(c[3] / 40000.0 > 0.6, "T=1: top token at %g", c[3] / 40000.0);
    free(c);
    pce_sampler_destroy(s);
    free(l);
}
END_TEST

/* ---- truncation -------------------------------------------------------------- */

START_TEST(top_k_keeps_the_k_largest)
{
    CASE();
    int n = 2000, k = 10;
    float *l = random_logits(n, -1, 1);
    /* the k largest, by a full sort here */
    float *sorted = malloc((size_t)n * sizeof *sorted);
    memcpy(sorted, l, (size_t)n * sizeof *sorted);
    for (int i = 0; i < k; i++) {
        int b = i;
        for (int j = i + 1; j < n; j++)
            if (sorted[j] > sorted[b])
                b = j;
        float t = sorted[i];
        sorted[i] = sorted[b];
        sorted[b] = t;
    }
    float kth = sorted[k - 1];
    pce_sampler_options o = plain(5.0f, rnd_u64());
    o.top_k = k;
    pce_sampler *s = make(&o, n);
    long *c = histogram(s, l, n, 5000);
    int distinct = 0;
    for (int i = 0; i < n; i++) {
        if (c[i])
            ck_assert_msg(l[i] >= kth, "token %d (logit %g) is below the %d-th largest %g", i, l[i],
                          k, kth);
        distinct += c[i] > 0;
    }
    ck_assert_int_eq(distinct, k); /* at T = 5 all ten are drawn in 5000 tries */
    free(c);
    pce_sampler_destroy(s);
    free(sorted);
    free(l);
}
END_TEST

/* p = {0.5, 0.3, 0.15, 0.05} at shuffled places: the smallest prefix with
 * mass >= top_p is {0.5} for top_p <= 0.5, {0.5, 0.3} up to 0.8, ... */
static void check_kept(float top_k, float top_p, float min_p, int n_kept, int n)
{
    static const double probs[4] = {0.5, 0.3, 0.15, 0.05};
    float *l = malloc((size_t)n * sizeof *l);
    for (int i = 0; i < n; i++)
        l[i] = -INFINITY;
    int at[4];
    for (int j = 0; j < 4; j++) {
        int i;
        do
            i = (int)(rnd_u64() % (uint64_t)n);
        while (l[i] != -INFINITY);
        at[j] = i;
        l[i] = (float)log(probs[j]) + 7.0f; /* an offset softmax ignores */
    }
    /* the rest of a large vocabulary: a tail of mass ~1e-9 */
    for (int i = 0; i < n; i++)
        if (l[i] == -INFINITY)
            l[i] = rnd(-40, -30);
    pce_sampler_options o = plain(1.0f, rnd_u64());
    o.top_k = (int)top_k;
    o.top_p = top_p;
    o.min_p = min_p;
    pce_sampler *s = make(&o, n);
    /* each draw reads the whole vocabulary: fewer draws on a large one, and
     * a bound of five standard deviations */
    int draws = n > 10000 ? 400 : 20000;
    double tol = 5 * sqrt(0.25 / draws);
    long *c = histogram(s, l, n, draws);
    double kept_mass = 0;
    for (int j = 0; j < n_kept; j++)
        kept_mass += probs[j];
    for (int j = 0; j < 4; j++) {
        double f = (double)c[at[j]] / draws;
        if (j < n_kept)
            ck_assert_msg(fabs(f - probs[j] / kept_mass) < tol,
                          "top_k %g top_p %g min_p %g: p=%g drawn %g, expected %g", top_k, top_p,
                          min_p, probs[j], f, probs[j] / kept_mass);
        else
            ck_assert_msg(c[at[j]] == 0, "top_k %g top_p %g min_p %g: p=%g drawn %ld times", top_k,
                          top_p, min_p, probs[j], c[at[j]]);
    }
    long others = draws;
    for (int j = 0; j < 4; j++)
        others -= c[at[j]];
    ck_assert_msg(others == 0, "%ld draws outside the four tokens", others);
    free(c);
    pce_sampler_destroy(s);
    free(l);
}

START_TEST(top_p_smallest_prefix)
{
    CASE();
    int sizes[] = {4, 1000, 50000};
    for (int k = 0; k < 3; k++) {
        int n = sizes[k];
        check_kept(0, 0.3f, 0, 1, n);
        check_kept(0, 0.7f, 0, 2, n);
        check_kept(0, 0.9f, 0, 3, n);
        check_kept(0, 0.97f, 0, 4, n);
        check_kept(40, 0.7f, 0, 2, n); /* top-k first, then top-p over what is left */
        check_kept(3, 0.97f, 0, 3, n);
    }
}
END_TEST

START_TEST(min_p_drops_below_threshold)
{
    CASE();
    int sizes[] = {4, 50000};
    for (int k = 0; k < 2; k++) {
        int n = sizes[k];
        check_kept(0, 1.0f, 0.2f, 3, n);   /* 0.05 < 0.2 * 0.5 */
        check_kept(0, 1.0f, 0.5f, 2, n);   /* 0.15 < 0.25 */
        check_kept(0, 1.0f, 0.9f, 1, n);   /* 0.3 < 0.45 */
        check_kept(0, 0.7f, 0.2f, 2, n);   /* top-p is the tighter */
        check_kept(40, 0.97f, 0.5f, 2, n); /* min-p is the tighter */
    }
}
END_TEST

/* top-p over a large vocabulary with no structure: the drawn tokens are
 * within the exact nucleus (found here by a full sort). */
static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : x < y ? 1 : 0;
}

START_TEST(top_p_large_vocab)
{
    CASE();
    int n = 150000;
    float *l = random_logits(n, -12, 12);
    float *sorted = malloc((size_t)n * sizeof *sorted);
    memcpy(sorted, l, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_desc);
    double total = 0, cum = 0;
    for (int i = 0; i < n; i++)
        total += exp((double)sorted[i] - sorted[0]);
    int nucleus = 0;
    while (cum < 0.6 * total)
        cum += exp((double)sorted[nucleus++] - sorted[0]);
    float last = sorted[nucleus - 1];
    pce_sampler_options o = plain(1.0f, rnd_u64());
    o.top_p = 0.6f;
    pce_sampler *s = make(&o, n);
    float lowest = INFINITY;
    for (int i = 0; i < 600; i++) {
        int32_t t = draw(s, l);
        lowest = fminf(lowest, l[t]);
    }
    ck_assert_msg(lowest >= last, "drew a logit %g below the nucleus' last %g (%d tokens)", lowest,
                  last, nucleus);
    /* and the nucleus' lower half is reached (the draw is not just greedy) */
    ck_assert_msg(lowest < sorted[nucleus / 2], "lowest drawn %g, nucleus median %g", lowest,
                  sorted[nucleus / 2]);
    pce_sampler_destroy(s);
    free(sorted);
    free(l);
}
END_TEST

/* ---- repetition penalty ----------------------------------------------------- */

START_TEST(repeat_penalty_changes_choice)
{
    CASE();
    int n = 16;
    float *l = random_logits(n, -5, -3); /* the rest well below */
    l[3] = 2.0f;
    l[9] = 1.8f;
    l[5] = -1.0f;
    l[11] = -1.1f;
    pce_sampler_options o = plain(0.0f, 0);
    o.repeat_penalty = 1.2f;
    o.repeat_last_n = 2;
    pce_sampler *s = make(&o, n);
    ck_assert_int_eq(draw(s, l), 3);
    pce_sampler_accept(s, 3);
    pce_sampler_accept(s, 3);        /* once per distinct token: 2 / 1.2, not 2 / 1.44 */
    ck_assert_int_eq(draw(s, l), 9); /* 2 / 1.2 = 1.67 < 1.8 */
    pce_sampler_accept(s, 9);        /* window: {3, 9} */
    /* 1.67 vs 1.5: 3 again */
    ck_assert_int_eq(draw(s, l), 3);
    pce_sampler_accept(s, 7);
    pce_sampler_accept(s, 8); /* 3 and 9 leave the window of 2 */
    ck_assert_int_eq(draw(s, l), 3);
    pce_sampler_destroy(s);

    /* negative logits are multiplied */
    for (int i = 0; i < n; i++)
        if (l[i] > -2)
            l[i] = -5;
    l[5] = -1.0f;
    l[11] = -1.1f;
    s = make(&o, n);
    ck_assert_int_eq(draw(s, l), 5);
    pce_sampler_accept(s, 5);
    ck_assert_int_eq(draw(s, l), 11); /* -1.2 < -1.1 */
    pce_sampler_reset(s);             /* forgets */
    ck_assert_int_eq(draw(s, l), 5);
    pce_sampler_destroy(s);

    /* penalty 1 is off */
    o.repeat_penalty = 1.0f;
    s = make(&o, n);
    pce_sampler_accept(s, 5);
    ck_assert_int_eq(draw(s, l), 5);
    pce_sampler_destroy(s);
    free(l);
}
END_TEST

/* ---- refused ------------------------------------------------------------------ */

static void create_fails(const pce_sampler_options *o, int n, const char *needle)
{
    pce_sampler *s = (pce_sampler *)1;
    pce_status st = pce_sampler_create(ctx, o, n, &s);
    const char *msg = pce_context_last_error(ctx);
    ck_assert_msg(st == PCE_ERR_INVALID_ARGUMENT, "%s: got %s", needle, pce_status_name(st));
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(msg, needle) != NULL, "message '%s' lacks '%s'", msg, needle);
}

START_TEST(invalid_options)
{
    CASE();
    pce_sampler_options o;
    pce_sampler_options_init(&o);
    create_fails(&o, 0, "n_vocab");
    create_fails(&o, -5, "n_vocab");
    o.top_p = -0.1f;
    create_fails(&o, 10, "top_p");
    pce_sampler_options_init(&o);
    o.top_p = 1.5f;
    create_fails(&o, 10, "top_p");
    pce_sampler_options_init(&o);
    o.temperature = NAN;
    create_fails(&o, 10, "temperature");
    pce_sampler_options_init(&o);
    o.temperature = INFINITY;
    create_fails(&o, 10, "temperature");
    pce_sampler_options_init(&o);
    o.min_p = -1.0f;
    create_fails(&o, 10, "min_p");
    pce_sampler_options_init(&o);
    o.repeat_penalty = 0.0f;
    create_fails(&o, 10, "repeat_penalty");
    pce_sampler_options_init(&o);
    o.repeat_penalty = NAN;
    create_fails(&o, 10, "repeat_penalty");
    pce_sampler_options_init(&o);
    o.repeat_last_n = -1;
    create_fails(&o, 10, "repeat_last_n");
    pce_sampler_options_init(&o);
    o.size = 3;
    create_fails(&o, 10, "size");
    /* NULL options are the defaults */
    pce_sampler *s = NULL;
    ck_assert_int_eq(pce_sampler_create(ctx, NULL, 10, &s), PCE_OK);
    pce_sampler_destroy(s);
}
END_TEST

START_TEST(bad_logits)
{
    CASE();
    int n = 100;
    float *l = random_logits(n, -3, 3);
    pce_sampler_options o;
    pce_sampler_options_init(&o);
    for (int greedy = 0; greedy < 2; greedy++) {
        o.temperature = greedy ? 0.0f : 0.8f;
        pce_sampler *s = make(&o, n);
        float bad[2] = {NAN, INFINITY};
        for (int b = 0; b < 2; b++) {
            int at = 1 + (int)(rnd_u64() % (uint64_t)(n - 1));
            float keep = l[at];
            l[at] = bad[b];
            int32_t t = -7;
            ck_assert_int_eq(pce_sampler_sample(s, l, &t), PCE_ERR_INVALID_ARGUMENT);
            char want[32];
            snprintf(want, sizeof want, "logit %d ", at);
            const char *msg = pce_context_last_error(ctx);
            ck_assert_msg(strstr(msg, want), "message '%s' lacks '%s'", msg, want);
            ck_assert_int_eq(t, -7);
            l[at] = keep;
        }
        /* -inf masks a token; all -inf leaves nothing to choose */
        int best = argmax(l, n);
        l[best] = -INFINITY;
        for (int i = 0; i < 200; i++)
            ck_assert_int_ne(draw(s, l), best);
        float *none = malloc((size_t)n * sizeof *none);
        for (int i = 0; i < n; i++)
            none[i] = -INFINITY;
        int32_t t;
        ck_assert_int_eq(pce_sampler_sample(s, none, &t), PCE_ERR_INVALID_ARGUMENT);
        free(none);
        ck_assert_int_eq(pce_sampler_sample(s, NULL, &t), PCE_ERR_INVALID_ARGUMENT);
        pce_sampler_destroy(s);
        l[best] = 3.5f;
    }
    free(l);
}
END_TEST

static Suite *sample_suite(void)
{
    Suite *su = suite_create("sample");
    TCase *tc = tcase_create("sample");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, greedy_is_argmax);
    tcase_add_test(tc, seed_reproduces);
    tcase_add_test(tc, seed_is_portable);
    tcase_add_test(tc, top_k_1_is_greedy);
    tcase_add_test(tc, frequencies_match_softmax);
    tcase_add_test(tc, temperature_extremes);
    tcase_add_test(tc, top_k_keeps_the_k_largest);
    tcase_add_test(tc, top_p_smallest_prefix);
    tcase_add_test(tc, min_p_drops_below_threshold);
    tcase_add_test(tc, top_p_large_vocab);
    tcase_add_test(tc, repeat_penalty_changes_choice);
    tcase_add_test(tc, invalid_options);
    tcase_add_test(tc, bad_logits);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    const char *env = getenv("PCE_TEST_SEED");
    g_seed = env && *env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)clock();
    printf("test-sample: seed %llu (PCE_TEST_SEED replays it)\n", (unsigned long long)g_seed);
    SRunner *sr = srunner_create(sample_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
