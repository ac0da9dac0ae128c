/* bench.c — `pce bench`: every backend on the same work, in one run.
 *
 * Suites (each case planned strictly on each device, so a device measures
 * its own kernels, never a fallback):
 *   ops:    matmul f32/f16/bf16 square 256..4096; the matmuls of LLM layers
 *           (x · Wᵀ with W 4096x4096, 11008x4096, 4096x11008) at n = 1
 *           (decode) and n = 512 (prefill); add and mul over 16M elements;
 *           softmax and rms_norm over rows of 4096; rope; get_rows.
 *   graphs: an MLP block and a Llama-style decoder layer (rms_norm, q/k/v
 *           projections, rope, attention over a KV cache, output projection,
 *           swiglu MLP) with random weights, in prefill and decode modes.
 *   peers:  measured ceilings and references in the same run: an FMA
 *           microkernel on every core (the CPU's f32 peak), a multi-threaded
 *           memcpy and a read pass (streaming bandwidth), OpenBLAS sgemm
 *           called directly, and a copy between each pair of devices.
 * Method: warm-up, then repeat until a minimum time and count; min, median,
 * p90, p99, max per case; a case predicted (from the device's best rate so
 * far) to take longer than the per-run limit is skipped, saying so. Every
 * device's output is compared with the first device's; a mismatch is a
 * FAILED case. A case's rate is held against the device's ceiling: for
 * devices that run on the CPU (cpu0, lavapipe) the measured FMA peak or
 * the faster of the memcpy and read bandwidths, for GPUs the profile's
 * declared [perf] figures.
 * Public API only, plus json-c to read the devices' settings. */
#include "bench.h"
#include "pce.h"

#include <dlfcn.h>
#include <strings.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <json.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_commit.h" /* PCE_GIT_COMMIT, written by the build (vcs_tag) */
#ifndef PCE_BUILD_OPTIONS
#define PCE_BUILD_OPTIONS ""
#endif

/* ---- options --------------------------------------------------------------- */

typedef struct bench_opts {
    bool quick;
    bool ops, graphs;
    const char *devices; /* NULL: every device */
    const char *cases;   /* NULL: every case; else substrings of names, comma-separated */
    const char *json, *csv, *html;
    double min_time;  /* seconds of timed runs per case */
    int min_reps;     /* at least this many timed runs */
    int max_reps;     /* and at most this many */
    double max_run_s; /* skip a case predicted to take longer per run */
    int hidden, heads, ffn, tokens, context;
} bench_opts;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct(const double *v, int n, double p)
{
    int k = (int)ceil(p / 100.0 * n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static void stats_of(double *v, int n, bench_stats *s)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += v[i];
    *s = (bench_stats){v[0], pct(v, n, 50), pct(v, n, 90), pct(v, n, 99), v[n - 1], sum / n, n};
}

/* Times fn until min_time and min_reps (at most max_reps), after one
 * warm-up call. Returns 0, or the first nonzero fn result. */
typedef int (*timed_fn)(void *arg);
static int measure(const bench_opts *o, timed_fn fn, void *arg, bench_stats *out)
{
    int rc = fn(arg); /* warm-up: first-use costs (pipelines, pages) */
    if (rc)
        return rc;
    int cap = o->max_reps, n = 0;
    double *t = malloc((size_t)cap * sizeof *t);
    if (!t)
        return -1;
    double start = now();
    while (n < cap && (n < o->min_reps || now() - start < o->min_time)) {
        double t0 = now();
        if ((rc = fn(arg)) != 0)
            break;
        t[n++] = now() - t0;
    }
    if (!rc)
        stats_of(t, n, out);
    free(t);
    return rc;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* ---- progress ------------------------------------------------------------------- */

static bool tty;
static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (tty)
        fputs("\r\033[K", stderr);
    vfprintf(stderr, fmt, ap);
    if (!tty)
        fputc('\n', stderr);
    fflush(stderr);
    va_end(ap);
}

/* ---- peers: the measured ceilings ------------------------------------------------- */

typedef struct fma_job {
    long iters;
    double flops;
    int isa; /* 2: AVX-512, 1: AVX2+FMA, 0: scalar */
} fma_job;

#if defined(__x86_64__)
/* 12 independent FMA chains per thread: enough to cover the FMA latency
 * (4 cycles) on two FMA ports. */
__attribute__((target("avx512f"))) static float fma512(long iters)
{
    __m512 a[12], x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < 12; k++)
        a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++)
            a[k] = _mm512_fmadd_ps(a[k], x, y);
    float s = 0;
    for (int k = 0; k < 12; k++)
        s += _mm512_reduce_add_ps(a[k]);
    return s;
}

__attribute__((target("avx2,fma"))) static float fma256(long iters)
{
    __m256 a[12], x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < 12; k++)
        a[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++)
            a[k] = _mm256_fmadd_ps(a[k], x, y);
    float out[8], s = 0;
    for (int k = 0; k < 12; k++) {
        _mm256_storeu_ps(out, a[k]);
        s += out[0];
    }
    return s;
}
#endif

static float fma_scalar(long iters)
{
    float a[12] = {0}, x = 1.0000001f, y = 1e-7f;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++)
            a[k] = fmaf(a[k], x, y);
    float s = 0;
    for (int k = 0; k < 12; k++)
        s += a[k];
    return s;
}

static volatile float fma_sink;
static void *fma_thread(void *arg)
{
    fma_job *j = arg;
#if defined(__x86_64__)
    if (j->isa == 2) {
        fma_sink = fma512(j->iters);
        j->flops = (double)j->iters * 12 * 16 * 2;
        return NULL;
    }
    if (j->isa == 1) {
        fma_sink = fma256(j->iters);
        j->flops = (double)j->iters * 12 * 8 * 2;
        return NULL;
    }
#endif
    fma_sink = fma_scalar(j->iters);
    j->flops = (double)j->iters * 12 * 2;
    return NULL;
}

static int cpu_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 256 ? 256 : n) : 1;
}

/* FLOP/s of fused multiply-adds on every core, the widest ISA there is. */
static double fma_peak(const bench_opts *o, char *what, size_t cap)
{
    int isa = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    isa = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("fma") ? 1 : 0;
#endif
    int n = cpu_threads();
    long iters = 1000;
    double best = 0;
    for (int round = 0; round < 12; round++) {
        fma_job jobs[256];
        pthread_t th[256];
        double t0 = now();
        for (int i = 0; i < n; i++) {
            jobs[i] = (fma_job){iters, 0, isa};
            pthread_create(&th[i], NULL, fma_thread, &jobs[i]);
        }
        double flops = 0;
        for (int i = 0; i < n; i++) {
            pthread_join(th[i], NULL);
            flops += jobs[i].flops;
        }
        double dt = now() - t0;
        if (dt < (o->quick ? 0.02 : 0.05)) {
            iters *= 4;
            continue;
        }
        if (flops / dt > best)
            best = flops / dt;
        if (round >= 8)
            break;
    }
    snprintf(what, cap, "f32 FMA, %d threads, %s", n,
             isa == 2   ? "AVX-512"
             : isa == 1 ? "AVX2"
                        : "scalar");
    return best;
}

typedef struct copy_job {
    char *dst;
    const char *src;
    size_t bytes;
} copy_job;

static void *copy_thread(void *arg)
{
    copy_job *j = arg;
    memcpy(j->dst, j->src, j->bytes);
    return NULL;
}

/* Streaming bandwidth (bytes read + written per second) of a memcpy split
 * over every core. */
static double memcpy_bw(const bench_opts *o, char *what, size_t cap)
{
    size_t bytes = o->quick ? (64u << 20) : (256u << 20);
    char *a = malloc(bytes), *b = malloc(bytes);
    if (!a || !b) {
        free(a);
        free(b);
        return 0;
    }
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    int n = cpu_threads();
    double best = 0;
    for (int r = 0; r < (o->quick ? 4 : 8); r++) {
        copy_job jobs[256];
        pthread_t th[256];
        double t0 = now();
        for (int i = 0; i < n; i++) {
            size_t lo = bytes * (size_t)i / (size_t)n, hi = bytes * (size_t)(i + 1) / (size_t)n;
            jobs[i] = (copy_job){b + lo, a + lo, hi - lo};
            pthread_create(&th[i], NULL, copy_thread, &jobs[i]);
        }
        for (int i = 0; i < n; i++)
            pthread_join(th[i], NULL);
        double bw = 2.0 * (double)bytes / (now() - t0);
        best = bw > best ? bw : best;
    }
    free(a);
    free(b);
    snprintf(what, cap, "memcpy of %zu MiB, %d threads (read + write)", bytes >> 20, n);
    return best;
}

typedef struct read_job {
    const uint64_t *src;
    size_t n;
    uint64_t sum;
} read_job;

#if defined(__x86_64__) && defined(__GNUC__)
/* 128 bytes per step in four independent 256-bit loads */
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint64_t *p, size_t n)
{
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a = _mm256_xor_si256(a, _mm256_loadu_si256((const __m256i *)(p + i)));
        b = _mm256_xor_si256(b, _mm256_loadu_si256((const __m256i *)(p + i + 4)));
        c = _mm256_xor_si256(c, _mm256_loadu_si256((const __m256i *)(p + i + 8)));
        d = _mm256_xor_si256(d, _mm256_loadu_si256((const __m256i *)(p + i + 12)));
    }
    a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
    uint64_t v[4], r = 0;
    _mm256_storeu_si256((__m256i *)v, a);
    for (; i < n; i++)
        r ^= p[i];
    return r ^ v[0] ^ v[1] ^ v[2] ^ v[3];
}
#endif

static void *read_thread(void *arg)
{
    read_job *j = arg;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2")) {
        j->sum = read_avx2(j->src, j->n);
        return NULL;
    }
#endif
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;
    for (; i + 4 <= j->n; i += 4) {
        a ^= j->src[i];
        b ^= j->src[i + 1];
        c ^= j->src[i + 2];
        d ^= j->src[i + 3];
    }
    for (; i < j->n; i++)
        a ^= j->src[i];
    j->sum = a ^ b ^ c ^ d;
    return NULL;
}

/* Read bandwidth (bytes read per second) of a pass over a buffer split over
 * every core: the ceiling of memory-bound work that reads more than it
 * writes (a decode-shaped linear layer reads its weight and writes little). */
static double read_bw(const bench_opts *o, char *what, size_t cap)
{
    size_t bytes = o->quick ? (64u << 20) : (256u << 20), n64 = bytes / 8;
    uint64_t *a = malloc(bytes);
    if (!a)
        return 0;
    for (size_t i = 0; i < n64; i++)
        a[i] = i * 0x9E3779B97F4A7C15ull;
    int n = cpu_threads();
    double best = 0;
    volatile uint64_t sink = 0;
    for (int r = 0; r < (o->quick ? 4 : 8); r++) {
        read_job jobs[256];
        pthread_t th[256];
        double t0 = now();
        for (int i = 0; i < n; i++) {
            size_t lo = n64 * (size_t)i / (size_t)n, hi = n64 * (size_t)(i + 1) / (size_t)n;
            jobs[i] = (read_job){a + lo, hi - lo, 0};
            pthread_create(&th[i], NULL, read_thread, &jobs[i]);
        }
        for (int i = 0; i < n; i++) {
            pthread_join(th[i], NULL);
            sink ^= jobs[i].sum;
        }
        double bw = (double)bytes / (now() - t0);
        best = bw > best ? bw : best;
    }
    (void)sink;
    free(a);
    snprintf(what, cap, "a read pass over %zu MiB, %d threads", bytes >> 20, n);
    return best;
}

/* OpenBLAS sgemm called directly (the library pce loads; same core type). */
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *,
                         int, float, float *, int);
typedef struct sgemm_job {
    sgemm_fn f;
    int n;
    float *a, *b, *c;
} sgemm_job;

static int sgemm_once(void *arg)
{
    sgemm_job *j = arg;
    j->f(101, 111, 112, j->n, j->n, j->n, 1.0f, j->a, j->n, j->b, j->n, 0.0f, j->c, j->n);
    return 0;
}

/* ---- device ceilings ---------------------------------------------------------- */

typedef struct dev_info {
    char name[32], desc[128];
    bool on_cpu; /* runs on the host's cores: held against measured ceilings */
    double declared_gflops, declared_gbs;
    double best_compute, best_memory; /* best rates so far, for predicting */
} dev_info;

/* The devices' [perf] settings from the explanation JSON. */
static void declared_perf(const char *explain, dev_info *d, int n)
{
    json_object *root = explain ? json_tokener_parse(explain) : NULL, *devs;
    if (!root || !json_object_object_get_ex(root, "devices", &devs)) {
        json_object_put(root);
        return;
    }
    for (size_t i = 0; i < json_object_array_length(devs); i++) {
        json_object *dv = json_object_array_get_idx(devs, i), *nm, *set;
        if (!json_object_object_get_ex(dv, "name", &nm) ||
            !json_object_object_get_ex(dv, "settings", &set))
            continue;
        for (int k = 0; k < n; k++) {
            if (strcmp(d[k].name, json_object_get_string(nm)))
                continue;
            for (size_t s = 0; s < json_object_array_length(set); s++) {
                json_object *e = json_object_array_get_idx(set, s), *sec, *key, *val;
                if (!json_object_object_get_ex(e, "section", &sec) ||
                    !json_object_object_get_ex(e, "key", &key) ||
                    !json_object_object_get_ex(e, "value", &val) ||
                    strcmp(json_object_get_string(sec), "perf"))
                    continue;
                double v = atof(json_object_get_string(val));
                if (!strcmp(json_object_get_string(key), "gflops"))
                    d[k].declared_gflops = v;
                else if (!strcmp(json_object_get_string(key), "bandwidth_gbs"))
                    d[k].declared_gbs = v;
            }
        }
    }
    json_object_put(root);
}

/* ---- cases ---------------------------------------------------------------------- */

enum { KIND_COMPUTE = 0, KIND_MEMORY = 1 };

typedef struct bcase {
    const char *suite;
    char name[80];
    pce_graph *g;
    pce_tensor *in[12];
    void *in_data[12];
    int n_in;
    pce_tensor *out;
    void *owned[16];
    int n_owned;
    double work; /* FLOP or bytes per run */
    int kind;
    double tokens;
    double tol; /* max |a - b| / max |b| against the first device */
    char fail[256];
} bcase;

static void case_free(bcase *c)
{
    pce_graph_destroy(c->g);
    for (int i = 0; i < c->n_in; i++)
        free(c->in_data[i]);
    for (int i = 0; i < c->n_owned; i++)
        free(c->owned[i]);
    memset(c, 0, sizeof *c);
}

/* Random host data of a dtype, n elements; ints are ids below `ids`. */
static void *rand_data(pce_dtype dt, int64_t n, int ids, float scale)
{
    size_t bytes = pce_dtype_bytes(dt, n);
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        return NULL;
    if (dt == PCE_DTYPE_I32) {
        int32_t *v = p; /* random ids below `ids`, else 0, 1, 2, ... */
        for (int64_t i = 0; i < n; i++)
            v[i] = ids > 0 ? (int32_t)((frand() * 0.5f + 0.5f) * (float)(ids - 1)) : (int32_t)i;
        return p;
    }
    float *f = malloc((size_t)n * sizeof *f);
    if (!f) {
        free(p);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        f[i] = frand() * scale;
    if (dt == PCE_DTYPE_F32) {
        free(p);
        return f;
    }
    pce_dtype_from_f32(dt, f, p, n);
    free(f);
    return p;
}

static pce_tensor *input(bcase *c, const char *name, pce_dtype dt, int nd, const int64_t *dims,
                         int ids, float scale)
{
    pce_tensor *t = pce_graph_input(c->g, name, dt, nd, dims);
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= dims[i];
    void *d = t ? rand_data(dt, n, ids, scale) : NULL;
    if (!t || !d || c->n_in == 12) {
        free(d);
        return NULL;
    }
    c->in[c->n_in] = t;
    c->in_data[c->n_in++] = d;
    return t;
}

static pce_tensor *weight(bcase *c, const char *name, pce_dtype dt, int nd, const int64_t *dims,
                          float scale)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= dims[i];
    void *d = rand_data(dt, n, 0, scale);
    if (!d || c->n_owned == 16) {
        free(d);
        return NULL;
    }
    c->owned[c->n_owned++] = d;
    return pce_graph_weight(c->g, name, dt, nd, dims, d);
}

static bool case_start(bcase *c, pce_context *ctx, const char *suite, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool case_start(bcase *c, pce_context *ctx, const char *suite, const char *fmt, ...)
{
    memset(c, 0, sizeof *c);
    c->suite = suite;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->name, sizeof c->name, fmt, ap);
    va_end(ap);
    c->tol = 1e-3;
    return pce_graph_create(ctx, &c->g) == PCE_OK;
}

static bool case_end(bcase *c, pce_tensor *out)
{
    c->out = out;
    if (!out || pce_graph_status(c->g) != PCE_OK || pce_graph_output(c->g, out) != PCE_OK) {
        snprintf(c->fail, sizeof c->fail, "building the graph: %s", pce_graph_error(c->g));
        return false;
    }
    return true;
}

static const char *dt_name(pce_dtype d)
{
    return pce_dtype_get_info(d)->name;
}

static void case_matmul(bcase *c, pce_context *ctx, pce_dtype dt, int64_t n)
{
    if (!case_start(c, ctx, "ops", "matmul %s %lldx%lldx%lld", dt_name(dt), (long long)n,
                    (long long)n, (long long)n))
        return;
    const int64_t d[] = {n, n};
    pce_tensor *a = input(c, "a", dt, 2, d, 0, 1.0f), *b = input(c, "b", dt, 2, d, 0, 1.0f);
    c->work = 2.0 * (double)n * (double)n * (double)n;
    c->kind = KIND_COMPUTE;
    case_end(c, a && b ? pce_matmul(c->g, a, b) : NULL);
}

/* x [m, k] · W[n, k]ᵀ: a projection of an LLM layer */
static void case_linear(bcase *c, pce_context *ctx, pce_dtype dt, int64_t m, int64_t n, int64_t k)
{
    if (!case_start(c, ctx, "ops", "linear %s %lldx%lld n=%lld%s", dt_name(dt), (long long)n,
                    (long long)k, (long long)m, m == 1 ? " (decode)" : " (prefill)"))
        return;
    const int64_t dx[] = {m, k}, dw[] = {n, k};
    /* a block-quantized weight (GGUF's) multiplies f32 activations */
    bool quant = pce_dtype_get_info(dt)->is_quantized;
    pce_tensor *x = input(c, "x", quant ? PCE_DTYPE_F32 : dt, 2, dx, 0, 1.0f);
    pce_tensor *w = weight(c, "w", dt, 2, dw, 1.0f / sqrtf((float)k));
    c->work = 2.0 * (double)m * (double)n * (double)k;
    c->kind = m == 1 ? KIND_MEMORY : KIND_COMPUTE;
    /* devices that quantize the activations to 8 bits (the CPU, as
     * llama.cpp) and those that keep them in f32 (GPUs) differ by up to half
     * a step of amax / 127 per activation: about 0.4% of the largest output
     * measured */
    if (quant)
        c->tol = 2e-2;
    if (m == 1) /* decode reads the weight once: bandwidth-bound */
        c->work = (double)pce_dtype_bytes(dt, n * k);
    case_end(c, x && w ? pce_matmul(c->g, x, pce_transpose(c->g, w)) : NULL);
}

static void case_binary(bcase *c, pce_context *ctx, bool mul, int64_t n)
{
    if (!case_start(c, ctx, "ops", "%s f32 %lldM", mul ? "mul" : "add", (long long)(n >> 20)))
        return;
    const int64_t d[] = {n};
    pce_tensor *a = input(c, "a", PCE_DTYPE_F32, 1, d, 0, 1.0f);
    pce_tensor *b = input(c, "b", PCE_DTYPE_F32, 1, d, 0, 1.0f);
    c->work = 3.0 * 4.0 * (double)n;
    c->kind = KIND_MEMORY;
    c->tol = 1e-6;
    case_end(c, a && b ? (mul ? pce_mul(c->g, a, b) : pce_add(c->g, a, b)) : NULL);
}

static void case_rows(bcase *c, pce_context *ctx, bool softmax, int64_t rows, int64_t cols)
{
    if (!case_start(c, ctx, "ops", "%s f32 %lldx%lld", softmax ? "softmax" : "rms_norm",
                    (long long)rows, (long long)cols))
        return;
    const int64_t d[] = {rows, cols}, dw[] = {cols};
    pce_tensor *x = input(c, "x", PCE_DTYPE_F32, 2, d, 0, 4.0f);
    pce_tensor *out = NULL;
    if (softmax) {
        out = x ? pce_softmax(c->g, x, NULL, 0.125f) : NULL;
    } else {
        pce_tensor *w = weight(c, "w", PCE_DTYPE_F32, 1, dw, 1.0f);
        out = x && w ? pce_rms_norm(c->g, x, w, 1e-5f) : NULL;
    }
    c->work = 2.0 * 4.0 * (double)rows * (double)cols;
    c->kind = KIND_MEMORY;
    case_end(c, out);
}

static void case_rope(bcase *c, pce_context *ctx, int64_t t, int64_t h, int64_t dh)
{
    if (!case_start(c, ctx, "ops", "rope f32 %lldx%lldx%lld", (long long)t, (long long)h,
                    (long long)dh))
        return;
    const int64_t d[] = {t, h, dh}, dp[] = {t};
    pce_tensor *x = input(c, "x", PCE_DTYPE_F32, 3, d, 0, 1.0f);
    pce_tensor *pos = input(c, "pos", PCE_DTYPE_I32, 1, dp, 0, 0);
    c->work = 2.0 * 4.0 * (double)(t * h * dh);
    c->kind = KIND_MEMORY;
    case_end(c, x && pos ? pce_rope(c->g, x, pos, (int)dh, 10000.0f, PCE_ROPE_NEOX) : NULL);
}

static void case_get_rows(bcase *c, pce_context *ctx, int64_t vocab, int64_t dim, int64_t n)
{
    if (!case_start(c, ctx, "ops", "get_rows f32 %lld of %lldx%lld", (long long)n, (long long)vocab,
                    (long long)dim))
        return;
    const int64_t dt[] = {vocab, dim}, di[] = {n};
    pce_tensor *table = weight(c, "table", PCE_DTYPE_F32, 2, dt, 1.0f);
    pce_tensor *ids = input(c, "ids", PCE_DTYPE_I32, 1, di, (int)vocab, 0);
    c->work = 2.0 * 4.0 * (double)(n * dim);
    c->kind = KIND_MEMORY;
    c->tol = 0;
    case_end(c, table && ids ? pce_get_rows(c->g, table, ids) : NULL);
}

static pce_tensor *linear(bcase *c, pce_tensor *x, const char *name, int64_t out, int64_t in)
{
    const int64_t d[] = {out, in};
    pce_tensor *w = weight(c, name, PCE_DTYPE_F32, 2, d, 1.0f / sqrtf((float)in));
    return x && w ? pce_matmul(c->g, x, pce_transpose(c->g, w)) : NULL;
}

static pce_tensor *norm(bcase *c, pce_tensor *x, const char *name, int64_t dim)
{
    const int64_t d[] = {dim};
    pce_tensor *w = weight(c, name, PCE_DTYPE_F32, 1, d, 0.1f);
    return x && w ? pce_rms_norm(c->g, x, w, 1e-5f) : NULL;
}

/* x + down(silu(gate(n(x))) * up(n(x))) */
static pce_tensor *mlp(bcase *c, pce_tensor *x, int64_t dim, int64_t ffn)
{
    pce_tensor *h = norm(c, x, "ffn_norm", dim);
    pce_tensor *a =
        pce_swiglu(c->g, linear(c, h, "w_gate", ffn, dim), linear(c, h, "w_up", ffn, dim));
    return pce_add(c->g, x, linear(c, a, "w_down", dim, ffn));
}

static void case_mlp(bcase *c, pce_context *ctx, const bench_opts *o, int64_t t)
{
    if (!case_start(c, ctx, "graphs", "mlp block %d/%d, %lld tokens", o->hidden, o->ffn,
                    (long long)t))
        return;
    const int64_t d[] = {t, o->hidden};
    pce_tensor *x = input(c, "x", PCE_DTYPE_F32, 2, d, 0, 1.0f);
    c->work = 2.0 * (double)t * 3.0 * (double)o->hidden * (double)o->ffn;
    c->kind = KIND_COMPUTE;
    c->tokens = (double)t;
    c->tol = 1e-2;
    case_end(c, mlp(c, x, o->hidden, o->ffn));
}

/* A decoder layer over a KV cache of `context` rows: prefill writes rows
 * [0, t) and attends causally; decode (t = 1) writes row context-1 and
 * attends to all. */
static void case_decoder(bcase *c, pce_context *ctx, const bench_opts *o, int64_t t, int64_t past)
{
    int64_t D = o->hidden, H = o->heads, Dh = D / H, ctxlen = past + t, S = o->context;
    if (!case_start(c, ctx, "graphs", "decoder %s %lld tok, ctx %lld (%d/%d/%d)",
                    t == 1 ? "decode" : "prefill", (long long)t, (long long)ctxlen, o->hidden,
                    o->heads, o->ffn))
        return;
    const int64_t dx[] = {t, D}, dp[] = {t}, dc[] = {S, D}, thd[] = {t, H, Dh},
                  chd[] = {ctxlen, H, Dh}, td[] = {t, D};
    pce_tensor *x = input(c, "x", PCE_DTYPE_F32, 2, dx, 0, 1.0f);
    pce_tensor *pos = input(c, "pos", PCE_DTYPE_I32, 1, dp, 0, 0);
    pce_tensor *kc = input(c, "k_cache", PCE_DTYPE_F32, 2, dc, 0, 1.0f);
    pce_tensor *vc = input(c, "v_cache", PCE_DTYPE_F32, 2, dc, 0, 1.0f);
    if (!x || !pos || !kc || !vc)
        return;
    int32_t *pd = c->in_data[1]; /* positions past .. past + t - 1 */
    for (int64_t i = 0; i < t; i++)
        pd[i] = (int32_t)(past + i);
    pce_graph *g = c->g;
    pce_tensor *h = norm(c, x, "attn_norm", D);
    pce_tensor *q = pce_reshape(g, linear(c, h, "wq", D, D), 3, thd);
    pce_tensor *k = pce_reshape(g, linear(c, h, "wk", D, D), 3, thd);
    pce_tensor *v = linear(c, h, "wv", D, D);
    q = pce_rope(g, q, pos, (int)Dh, 10000.0f, PCE_ROPE_NEOX);
    k = pce_rope(g, k, pos, (int)Dh, 10000.0f, PCE_ROPE_NEOX);
    pce_tensor *kall = pce_set_rows(g, kc, pce_reshape(g, k, 2, td), pos);
    pce_tensor *vall = pce_set_rows(g, vc, v, pos);
    pce_tensor *kv = pce_reshape(g, pce_slice(g, kall, 0, 0, ctxlen), 3, chd);
    pce_tensor *vv = pce_reshape(g, pce_slice(g, vall, 0, 0, ctxlen), 3, chd);
    const int hst[] = {1, 0, 2}, hdt[] = {1, 2, 0};
    pce_tensor *s = pce_matmul(g, pce_permute(g, q, hst), pce_permute(g, kv, hdt)); /* H,t,ctx */
    s = pce_softmax(g, pce_causal_mask(g, s, (int)past), NULL, 1.0f / sqrtf((float)Dh));
    pce_tensor *a = pce_matmul(g, s, pce_permute(g, vv, hst)); /* H, t, Dh */
    a = pce_reshape(g, pce_contiguous(g, pce_permute(g, a, hst)), 2, td);
    pce_tensor *x2 = pce_add(g, x, linear(c, a, "wo", D, D));
    c->work = 2.0 * (double)t * (4.0 * (double)D * (double)D + 3.0 * (double)D * o->ffn) +
              4.0 * (double)H * (double)t * (double)ctxlen * (double)Dh;
    c->kind = KIND_COMPUTE;
    c->tokens = (double)t;
    c->tol = 1e-2;
    case_end(c, mlp(c, x2, D, o->ffn));
}

/* ---- running a case on a device ------------------------------------------------------ */

typedef struct run_job {
    pce_plan *plan;
} run_job;

static int run_once(void *arg)
{
    return pce_plan_run(((run_job *)arg)->plan) != PCE_OK;
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, int64_t n)
{
    double e = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(a[i]))
            return INFINITY;
        double d = fabs((double)a[i] - b[i]);
        e = d > e ? d : e;
        m = fabs(b[i]) > m ? fabs(b[i]) : m;
    }
    return e / (m > 0 ? m : 1);
}

static double ceiling_for(const dev_info *d, int kind, double fma, double bw, char *what,
                          size_t cap)
{
    if (d->on_cpu) {
        snprintf(what, cap,
                 kind == KIND_COMPUTE ? "f32 FMA peak, measured" : "streaming bandwidth, measured");
        return kind == KIND_COMPUTE ? fma : bw;
    }
    double v = kind == KIND_COMPUTE ? d->declared_gflops : d->declared_gbs;
    snprintf(what, cap, "%s",
             v <= 0                 ? ""
             : kind == KIND_COMPUTE ? "[perf] gflops in its profile, declared"
                                    : "[perf] bandwidth_gbs in its profile, declared");
    return v * 1e9;
}

static void run_case(pce_context *ctx, const bench_opts *o, bcase *c, dev_info *devs, int nd,
                     double fma, double bw, bench_report *rep, int *step, int steps)
{
    float *ref = NULL;
    int64_t n_out = c->out ? pce_tensor_numel(c->out) : 0;
    for (int k = 0; k < nd; k++) {
        dev_info *d = &devs[k];
        bench_result r = {0};
        snprintf(r.suite, sizeof r.suite, "%s", c->suite);
        snprintf(r.name, sizeof r.name, "%s", c->name);
        snprintf(r.device, sizeof r.device, "%s", d->name);
        snprintf(r.unit, sizeof r.unit, "%s", c->kind == KIND_COMPUTE ? "FLOP/s" : "B/s");
        r.work = c->work;
        r.tokens = c->tokens;
        r.ceiling = ceiling_for(d, c->kind, fma, bw, r.ceiling_what, sizeof r.ceiling_what);
        progress("[%d/%d] %s on %s", ++*step, steps, c->name, d->name);
        pce_plan *p = NULL;
        double best = c->kind == KIND_COMPUTE ? d->best_compute : d->best_memory;
        if (c->fail[0]) {
            r.status = BENCH_FAILED;
            snprintf(r.note, sizeof r.note, "%s", c->fail);
        } else if (best > 0 && c->work / best > o->max_run_s) {
            r.status = BENCH_SKIPPED;
            snprintf(r.note, sizeof r.note,
                     "predicted %.1f s per run (at %.3g %s), over the %g s limit", c->work / best,
                     best, r.unit, o->max_run_s);
        } else {
            pce_plan_options po;
            pce_plan_options_init(&po);
            po.devices = d->name;
            po.strict = true;
            pce_status st = pce_plan_create(ctx, c->g, &po, &p);
            if (st != PCE_OK) {
                r.status = st == PCE_ERR_UNSUPPORTED ? BENCH_UNSUPPORTED : BENCH_FAILED;
                snprintf(r.note, sizeof r.note, "%s", pce_context_last_error(ctx));
            }
        }
        for (int i = 0; p && i < c->n_in && r.status == BENCH_OK; i++)
            if (pce_plan_set_input(p, c->in[i], c->in_data[i], pce_tensor_bytes(c->in[i])) !=
                PCE_OK) {
                r.status = BENCH_FAILED;
                snprintf(r.note, sizeof r.note, "set_input: %s", pce_context_last_error(ctx));
            }
        if (p && r.status == BENCH_OK) {
            run_job j = {p};
            if (measure(o, run_once, &j, &r.t) != 0) {
                r.status = BENCH_FAILED;
                snprintf(r.note, sizeof r.note, "run: %s", pce_context_last_error(ctx));
            }
        }
        if (p && r.status == BENCH_OK) {
            pce_plan_stats ps;
            pce_plan_get_stats(p, &ps);
            r.peak_bytes = ps.peak_bytes;
            r.rate = c->work / r.t.median;
            r.pct_of_ceiling = r.ceiling > 0 ? 100.0 * r.rate / r.ceiling : 0;
            double *bestp = c->kind == KIND_COMPUTE ? &d->best_compute : &d->best_memory;
            *bestp = r.rate > *bestp ? r.rate : *bestp;
            /* the output, against the first device's */
            pce_dtype odt = pce_tensor_dtype(c->out);
            size_t ob = pce_tensor_bytes(c->out);
            void *raw = malloc(ob);
            float *got = malloc((size_t)n_out * sizeof *got);
            if (raw && got && pce_plan_get_output(p, c->out, raw, ob) == PCE_OK &&
                pce_dtype_to_f32(odt, raw, got, n_out) == PCE_OK) {
                if (!ref) {
                    ref = got;
                    got = NULL;
                } else {
                    double e = rel_err(got, ref, n_out);
                    if (!(e <= c->tol)) {
                        r.status = BENCH_FAILED;
                        snprintf(r.note, sizeof r.note,
                                 "result differs from %s's: max error %.3g of the largest value "
                                 "(limit %.3g)",
                                 devs[0].name, e, c->tol);
                    }
                }
            }
            free(raw);
            free(got);
        }
        pce_plan_destroy(p);
        bench_report_add(rep, &r);
    }
    free(ref);
}

/* ---- peers --------------------------------------------------------------------------- */

static void add_peer(bench_report *rep, const char *name, const char *unit, double rate,
                     double work, const bench_stats *t, const char *note)
{
    bench_result r = {0};
    snprintf(r.suite, sizeof r.suite, "peers");
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.device, sizeof r.device, "peer");
    snprintf(r.unit, sizeof r.unit, "%s", unit);
    snprintf(r.note, sizeof r.note, "%s", note);
    r.rate = rate;
    r.work = work;
    if (t) {
        r.t = *t;
    } else { /* a rate measured as a whole: its time per unit of work */
        double s = rate > 0 && work > 0 ? work / rate : 0;
        r.t = (bench_stats){s, s, s, s, s, s, 1};
    }
    bench_report_add(rep, &r);
}

static void peer_openblas(const bench_opts *o, bench_report *rep)
{
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        h = dlopen("libopenblas.so.0", RTLD_NOW);
    sgemm_fn f = h ? (sgemm_fn)(uintptr_t)dlsym(h, "cblas_sgemm") : NULL;
    if (!f) {
        add_peer(rep, "OpenBLAS sgemm", "FLOP/s", 0, 0, NULL,
                 "OpenBLAS not found (libopenblas.so.0)");
        return;
    }
    int sizes[] = {1024, 2048};
    for (int s = 0; s < (o->quick ? 1 : 2); s++) {
        int n = sizes[s];
        sgemm_job j = {f, n, malloc((size_t)n * n * 4), malloc((size_t)n * n * 4),
                       malloc((size_t)n * n * 4)};
        if (j.a && j.b && j.c) {
            for (long i = 0; i < (long)n * n; i++)
                j.a[i] = frand(), j.b[i] = frand();
            bench_stats t;
            measure(o, sgemm_once, &j, &t);
            char name[64], note[160];
            snprintf(name, sizeof name, "OpenBLAS sgemm %dx%dx%d (direct)", n, n, n);
            char *(*cfg)(void) = (char *(*)(void))(uintptr_t)dlsym(h, "openblas_get_config");
            char *(*core)(void) = (char *(*)(void))(uintptr_t)dlsym(h, "openblas_get_corename");
            snprintf(note, sizeof note, "%s; core %s", cfg ? cfg() : "OpenBLAS",
                     core ? core() : "?");
            double w = 2.0 * n * (double)n * n;
            add_peer(rep, name, "FLOP/s", w / t.median, w, &t, note);
        }
        free(j.a);
        free(j.b);
        free(j.c);
    }
}

/* Seconds one copy of n floats from device a to device b takes inside a
 * plan (pce_plan_stats.copy_ns over reps runs after a first), or -1 with
 * the error in err. */
static double copy_seconds(pce_context *ctx, const char *a, const char *b, const float *x,
                           int64_t n, int reps, char *err, size_t cap)
{
    pce_graph *g;
    if (pce_graph_create(ctx, &g) != PCE_OK) {
        snprintf(err, cap, "%s", pce_context_last_error(ctx));
        return -1;
    }
    const int64_t d[] = {n};
    pce_tensor *in = pce_graph_input(g, "x", PCE_DTYPE_F32, 1, d);
    pce_tensor *t1 = pce_scale(g, in, 2.0f), *t2 = pce_scale(g, t1, 0.5f);
    pce_tensor_pin(t1, a);
    pce_tensor_pin(t2, b);
    pce_graph_output(g, t2);
    char list[80];
    snprintf(list, sizeof list, "%.31s,%.31s", a, b);
    pce_plan_options po;
    pce_plan_options_init(&po);
    po.devices = list;
    po.strict = true;
    pce_plan *p = NULL;
    double t = -1;
    if (pce_plan_create(ctx, g, &po, &p) == PCE_OK &&
        pce_plan_set_input(p, in, x, (size_t)n * 4) == PCE_OK && pce_plan_run(p) == PCE_OK) {
        pce_plan_stats s0, s1;
        pce_plan_get_stats(p, &s0);
        for (int r = 0; r < reps; r++)
            pce_plan_run(p);
        pce_plan_get_stats(p, &s1);
        t = (double)(s1.copy_ns - s0.copy_ns) * 1e-9 / reps;
    } else {
        snprintf(err, cap, "%s", pce_context_last_error(ctx));
    }
    pce_plan_destroy(p);
    pce_graph_destroy(g);
    return t;
}

/* A copy between each pair of devices: its rate at 16 (64) MiB, and the fit
 * of one copy's time as fixed + per MiB from that size and 256 KiB. */
static void peer_copies(pce_context *ctx, const bench_opts *o, dev_info *devs, int nd,
                        bench_report *rep)
{
    int64_t n = (o->quick ? 16 : 64) << 18, small = 1 << 16; /* f32: MiB / 4 */
    float *x = malloc((size_t)n * sizeof *x);
    if (!x)
        return;
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(i % 1000);
    for (int a = 0; a < nd; a++)
        for (int b = 0; b < nd; b++) {
            if (a == b)
                continue;
            char name[96], note[256] = "", err[200] = "";
            snprintf(name, sizeof name, "copy %.31s -> %.31s, %lld MiB", devs[a].name, devs[b].name,
                     (long long)(n >> 18));
            progress("peer: %s", name);
            int reps = o->quick ? 3 : 8;
            double tl = copy_seconds(ctx, devs[a].name, devs[b].name, x, n, reps, err, sizeof err);
            double ts = tl > 0 ? copy_seconds(ctx, devs[a].name, devs[b].name, x, small, 4 * reps,
                                              err, sizeof err)
                               : -1;
            double rate = tl > 0 ? (double)n * 4 / tl : 0;
            if (tl > 0 && ts > 0) {
                double mib_l = (double)n / (1 << 18), mib_s = (double)small / (1 << 18);
                double per_mib = (tl - ts) / (mib_l - mib_s), fixed = ts - per_mib * mib_s;
                snprintf(note, sizeof note,
                         "one cross-device copy in a plan (pce_plan_stats.copy_ns): about %.0f us "
                         "per copy + %.0f us per MiB (fit at %.2g and %.0f MiB)",
                         fixed > 0 ? fixed * 1e6 : 0.0, per_mib * 1e6, mib_s, mib_l);
            } else {
                snprintf(note, sizeof note, "failed: %s", err);
            }
            add_peer(rep, name, "B/s", rate, (double)n * 4, NULL, note);
        }
    free(x);
}

/* ---- the command ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: pce bench [--quick] [--suite ops|graphs|all] [--backends cpu0,vulkan0]\n"
            "                 [--json FILE] [--csv FILE] [--html FILE] [--min-time S]\n"
            "                 [--max-run S] [--hidden N --heads N --ffn N --tokens N --context N]\n"
            "                 [--cases TEXT,TEXT...]\n"
            "       pce bench --compare A.json B.json\n\n"
            "Runs the op suite (matmul, LLM projections, elementwise, softmax, rms_norm,\n"
            "rope, get_rows) and the graph suite (MLP block, decoder layer in prefill and\n"
            "decode) on every device, with measured ceilings (FMA peak, memcpy, OpenBLAS,\n"
            "device copies) in the same run. --quick: small sizes, about a minute on two\n"
            "cores. Defaults: hidden 2048, 16 heads, ffn 5632, 512 tokens, context 512.\n"
            "--cases: only the cases whose names contain one of the texts (\"q4_K\",\n"
            "\"linear f32\"); the ceilings are measured all the same.\n");
}

/* Whether a case named `name` is among --cases (NULL: all), in any case. */
static bool case_selected(const char *name, const char *cases)
{
    if (!cases)
        return true;
    for (const char *p = cases; *p;) {
        size_t n = strcspn(p, ",");
        char want[80];
        snprintf(want, sizeof want, "%.*s", (int)(n < 79 ? n : 79), p);
        for (const char *h = name; n && *h; h++) /* any case: "q4_k" finds "q4_K" */
            if (!strncasecmp(h, want, strlen(want)))
                return true;
        p += n + (p[n] == ',');
    }
    return false;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int pce_bench_main(int argc, char **argv)
{
    bench_opts o = {.ops = true,
                    .graphs = true,
                    .hidden = 2048,
                    .heads = 16,
                    .ffn = 5632,
                    .tokens = 512,
                    .context = 512};
    double min_time = -1, max_run = -1;
    bool sized = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--compare")) {
            if (i + 2 >= argc) {
                fprintf(stderr, "pce bench: --compare needs two JSON files\n");
                return 2;
            }
            return bench_compare(argv[i + 1], argv[i + 2], stdout);
        } else if (!strcmp(a, "--quick")) {
            o.quick = true;
        } else if (v && !strcmp(a, "--suite")) {
            o.ops = !strcmp(v, "ops") || !strcmp(v, "all");
            o.graphs = !strcmp(v, "graphs") || !strcmp(v, "all");
            bad = !o.ops && !o.graphs;
            i++;
        } else if (v && (!strcmp(a, "--backends") || !strcmp(a, "--devices"))) {
            o.devices = v, i++;
        } else if (v && !strcmp(a, "--cases")) {
            o.cases = v, i++;
        } else if (v && !strcmp(a, "--json")) {
            o.json = v, i++;
        } else if (v && !strcmp(a, "--csv")) {
            o.csv = v, i++;
        } else if (v && !strcmp(a, "--html")) {
            o.html = v, i++;
        } else if (v && !strcmp(a, "--min-time")) {
            min_time = atof(v), bad = !(min_time > 0), i++;
        } else if (v && !strcmp(a, "--max-run")) {
            max_run = atof(v), bad = !(max_run > 0), i++;
        } else if (v && !strcmp(a, "--hidden")) {
            bad = parse_int(v, 16, 65536, &o.hidden), sized = true, i++;
        } else if (v && !strcmp(a, "--heads")) {
            bad = parse_int(v, 1, 1024, &o.heads), sized = true, i++;
        } else if (v && !strcmp(a, "--ffn")) {
            bad = parse_int(v, 16, 262144, &o.ffn), sized = true, i++;
        } else if (v && !strcmp(a, "--tokens")) {
            bad = parse_int(v, 1, 65536, &o.tokens), sized = true, i++;
        } else if (v && !strcmp(a, "--context")) {
            bad = parse_int(v, 2, 1 << 20, &o.context), sized = true, i++;
        } else {
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "pce bench: bad argument '%s'%s%s\n", a, v ? " " : "", v ? v : "");
            usage(stderr);
            return 2;
        }
    }
    if (o.hidden % o.heads || (o.hidden / o.heads) % 2) {
        fprintf(stderr, "pce bench: --hidden %d must split into --heads %d of an even size\n",
                o.hidden, o.heads);
        return 2;
    }
    if (o.quick && !sized) /* the default model, fewer tokens */
        o.tokens = 64;
    if (o.tokens > o.context)
        o.context = o.tokens;
    o.min_time = min_time > 0 ? min_time : o.quick ? 0.08 : 0.5;
    o.min_reps = o.quick ? 3 : 10;
    o.max_reps = o.quick ? 40 : 1000;
    o.max_run_s = max_run > 0 ? max_run : o.quick ? 0.75 : 20;
    tty = isatty(2);

    pce_context *ctx;
    pce_status st = pce_context_create(NULL, &ctx);
    if (st != PCE_OK) {
        fprintf(stderr, "pce bench: cannot create a context: %s\n", pce_status_name(st));
        return 1;
    }
    pce_context_set_log(ctx, PCE_LOG_ERROR, NULL, NULL);
    double t_start = now();
    bench_report rep = {0};
    time_t wall = time(NULL);
    strftime(rep.date, sizeof rep.date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&wall));
    snprintf(rep.version, sizeof rep.version, "%s", pce_version_string());
    snprintf(rep.commit, sizeof rep.commit, "%s", PCE_GIT_COMMIT);
    snprintf(rep.build, sizeof rep.build, "%s", PCE_BUILD_OPTIONS);
    snprintf(rep.suite, sizeof rep.suite, "%s",
             o.ops && o.graphs ? "all"
             : o.ops           ? "ops"
                               : "graphs");
    rep.quick = o.quick;

    /* devices */
    dev_info devs[BENCH_MAX_DEVICES];
    int nd = 0;
    int rc = 0;
    for (int i = 0; i < pce_device_count(ctx) && nd < BENCH_MAX_DEVICES; i++) {
        pce_device_props p;
        if (pce_device_get_props(pce_device_get(ctx, i), &p) != PCE_OK)
            continue;
        if (o.devices) {
            char list[512];
            snprintf(list, sizeof list, ",%s,", o.devices);
            char key[40];
            snprintf(key, sizeof key, ",%s,", p.name);
            if (!strstr(list, key))
                continue;
        }
        memset(&devs[nd], 0, sizeof devs[nd]);
        snprintf(devs[nd].name, sizeof devs[nd].name, "%s", p.name);
        snprintf(devs[nd].desc, sizeof devs[nd].desc, "%s", p.description);
        devs[nd].on_cpu = p.type == PCE_DEVICE_CPU;
        nd++;
    }
    if (o.devices) { /* every asked-for device must exist */
        char list[512], *save;
        snprintf(list, sizeof list, "%s", o.devices);
        for (char *w = strtok_r(list, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
            bool found = false;
            for (int k = 0; k < nd; k++)
                found = found || !strcmp(devs[k].name, w);
            if (!found) {
                fprintf(stderr, "pce bench: no device '%s' here (see pce devices)\n", w);
                pce_context_destroy(ctx);
                return 2;
            }
        }
    }
    for (int k = 0; k < nd; k++) {
        snprintf(rep.devices[k], sizeof rep.devices[k], "%.31s", devs[k].name);
        snprintf(rep.device_desc[k], sizeof rep.device_desc[k], "%.127s", devs[k].desc);
    }
    rep.n_devices = nd;
    size_t len = 0;
    if (pce_devices_explain_json(ctx, NULL, 0, &len) == PCE_OK &&
        (rep.machine_json = malloc(len + 1)))
        pce_devices_explain_json(ctx, rep.machine_json, len + 1, NULL);
    declared_perf(rep.machine_json, devs, nd);

    /* peers first: the ceilings */
    char what[160];
    progress("peer: FMA peak");
    double fma = fma_peak(&o, what, sizeof what);
    add_peer(&rep, "f32 FMA peak", "FLOP/s", fma, 0, NULL, what);
    progress("peer: memcpy");
    double copy_bw = memcpy_bw(&o, what, sizeof what);
    add_peer(&rep, "memcpy bandwidth", "B/s", copy_bw, 0, NULL, what);
    progress("peer: read bandwidth");
    double bw = read_bw(&o, what, sizeof what);
    add_peer(&rep, "read bandwidth", "B/s", bw, 0, NULL, what);
    /* memory-bound cases are held against the faster of the two */
    bw = bw > copy_bw ? bw : copy_bw;
    progress("peer: OpenBLAS sgemm");
    peer_openblas(&o, &rep);
    peer_copies(ctx, &o, devs, nd, &rep);

    /* the suites: a list of case builders, run one at a time */
    enum { MAXC = 64 };
    typedef struct spec {
        int what;
        pce_dtype dt;
        int64_t a, b, c;
    } spec;
    spec specs[MAXC];
    int ns = 0;
#define ADD(w, d, x, y, z)                                                                         \
    specs[ns++] = (spec)                                                                           \
    {                                                                                              \
        w, d, x, y, z                                                                              \
    }
    if (o.ops) {
        static const int64_t sq_full[] = {256, 512, 1024, 2048, 4096}, sq_quick[] = {256, 1024};
        const int64_t *sq = o.quick ? sq_quick : sq_full;
        int nsq = o.quick ? 2 : 5;
        for (int i = 0; i < nsq; i++)
            ADD(0, PCE_DTYPE_F32, sq[i], 0, 0);
        for (int i = 0; i < nsq; i++) {
            ADD(0, PCE_DTYPE_F16, sq[i], 0, 0);
            ADD(0, PCE_DTYPE_BF16, sq[i], 0, 0);
        }
        static const int64_t shapes[3][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};
        for (int s = 0; s < (o.quick ? 1 : 3); s++) {
            ADD(1, PCE_DTYPE_F32, 1, shapes[s][0], shapes[s][1]);
            ADD(1, PCE_DTYPE_F32, o.quick ? 64 : 512, shapes[s][0], shapes[s][1]);
            if (!o.quick) {
                ADD(1, PCE_DTYPE_F16, 1, shapes[s][0], shapes[s][1]);
                ADD(1, PCE_DTYPE_F16, 512, shapes[s][0], shapes[s][1]);
            }
        }
        /* the quantized weights of GGUF models (SmolLM2 is Q4_1, Q8_0 heads;
         * Q4_K_M files, the DeepSeek distills', Q4_K and Q6_K) */
        static const pce_dtype qts[] = {PCE_DTYPE_Q4_1, PCE_DTYPE_Q4_0, PCE_DTYPE_Q8_0,
                                        PCE_DTYPE_Q4_K, PCE_DTYPE_Q6_K};
        for (int q = 0; q < (o.quick ? 1 : 5); q++) {
            ADD(1, qts[q], 1, 4096, 4096);
            ADD(1, qts[q], o.quick ? 64 : 512, 4096, 4096);
        }
        ADD(2, PCE_DTYPE_F32, 16 << 20, 0, 0);
        ADD(2, PCE_DTYPE_F32, 16 << 20, 1, 0);
        ADD(3, PCE_DTYPE_F32, o.quick ? 256 : 1024, 4096, 1);
        ADD(3, PCE_DTYPE_F32, o.quick ? 256 : 1024, 4096, 0);
        ADD(4, PCE_DTYPE_F32, o.quick ? 128 : 512, 32, 128);
        ADD(5, PCE_DTYPE_F32, o.quick ? 8192 : 32000, 2048, 512);
    }
    if (o.graphs) {
        ADD(6, PCE_DTYPE_F32, o.tokens, 0, 0);
        ADD(7, PCE_DTYPE_F32, o.tokens, 0, 0);      /* prefill */
        ADD(7, PCE_DTYPE_F32, 1, o.context - 1, 0); /* decode */
    }
#undef ADD
    int steps = ns * nd, step = 0;
    for (int i = 0; i < ns; i++) {
        bcase c;
        const spec *s = &specs[i];
        progress("[%d/%d] building case %d of %d", step, steps, i + 1, ns);
        switch (s->what) {
        case 0: case_matmul(&c, ctx, s->dt, s->a); break;
        case 1: case_linear(&c, ctx, s->dt, s->a, s->b, s->c); break;
        case 2: case_binary(&c, ctx, s->b != 0, s->a); break;
        case 3: case_rows(&c, ctx, s->c != 0, s->a, s->b); break;
        case 4: case_rope(&c, ctx, s->a, s->b, s->c); break;
        case 5: case_get_rows(&c, ctx, s->a, s->b, s->c); break;
        case 6: case_mlp(&c, ctx, &o, s->a); break;
        default: case_decoder(&c, ctx, &o, s->a, s->b); break;
        }
        if (!case_selected(c.name, o.cases)) {
            case_free(&c);
            step += nd;
            continue;
        }
        if (!c.g && !c.fail[0])
            snprintf(c.fail, sizeof c.fail, "out of memory building the case");
        run_case(ctx, &o, &c, devs, nd, fma, bw, &rep, &step, steps);
        case_free(&c);
    }
    /* the peer figures as ratios to what pce does on the same work */
    for (int i = 0; i < rep.n; i++) {
        bench_result *r = &rep.r[i];
        int n;
        if (strcmp(r->device, "peer") || sscanf(r->name, "OpenBLAS sgemm %d", &n) != 1)
            continue;
        char want[80];
        snprintf(want, sizeof want, "matmul f32 %dx%dx%d", n, n, n);
        for (int j = 0; j < rep.n; j++)
            if (!strcmp(rep.r[j].name, want) && rep.r[j].status == BENCH_OK && r->rate > 0) {
                size_t l = strlen(r->note);
                snprintf(r->note + l, sizeof r->note - l, "; %s/OpenBLAS %.2f", rep.r[j].device,
                         rep.r[j].rate / r->rate);
            }
    }
    rep.seconds = now() - t_start;
    if (tty)
        fputs("\r\033[K", stderr);
    bench_print_table(&rep, stdout);
    if (o.json && bench_write_json(&rep, o.json))
        rc = 1;
    if (o.csv && bench_write_csv(&rep, o.csv))
        rc = 1;
    if (o.html && bench_write_html(&rep, o.html))
        rc = 1;
    for (int i = 0; i < rep.n; i++)
        if (rep.r[i].status == BENCH_FAILED)
            rc = rc ? rc : 3;
    bench_report_free(&rep);
    pce_context_destroy(ctx);
    return rc;
}
