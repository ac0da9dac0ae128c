/* bench_devices.c — every device of the machine on the same work in one
 * run, reported as a table with ratios against cpu0 (the machine is shared
 * and noisy, so only same-run ratios mean much):
 *   1. f32 matmul n x n x n, GFLOP/s counting 2 n^3 per run;
 *   2. elementwise add a + b -> out over n f32, GB/s counting 3 * 4 * n bytes;
 *   3. a chain of 100 small elementwise ops: pce_plan_create (placement, memory
 *      plan and, on Vulkan, recording the command buffer) against one
 *      pce_plan_run (the replay), and the replay cost per node.
 * Each device's output is checked against cpu0's for the same inputs, so a
 * broken kernel cannot pass for a fast one: an error above 1e-3 relative
 * prints a WARNING and sets the exit status. Public API only.
 * Usage: pce-bench-devices [--quick] [--devices cpu0,vulkan0] [--json FILE]
 * Exit status: 0 ok, 1 a pce call failed, 2 bad usage or unknown device,
 * 3 a device's result did not match cpu0's. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pce.h"

#define PROG "pce-bench-devices"
#define REF_DEVICE "cpu0"
#define TOLERANCE 1e-3
#define CHAIN_OPS 100
#define CHAIN_ELEMS 4096

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct timing {
    double best, median; /* seconds */
    int reps;
} timing;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One call of the work; *secs is the time of the part that counts (so plan
 * creation can be timed without the destroy that follows it). */
typedef pce_status (*timed_fn)(void *arg, double *secs);

/* Warm-up, then repeat until min_time and min_reps; best and median. */
static pce_status measure(timed_fn fn, void *arg, double min_time, int min_reps, timing *out)
{
    enum { MAXR = 4096 };
    static double t[MAXR];
    double warm;
    pce_status st = fn(arg, &warm);
    int n = 0;
    double start = now();
    while (st == PCE_OK && n < MAXR && (n < min_reps || now() - start < min_time))
        st = fn(arg, &t[n++]);
    if (st != PCE_OK)
        return st;
    qsort(t, (size_t)n, sizeof t[0], cmp_d);
    *out = (timing){t[0], t[n / 2], n};
    return PCE_OK;
}

static pce_status time_run(void *arg, double *secs)
{
    double t0 = now();
    pce_status st = pce_plan_run(arg);
    *secs = now() - t0;
    return st;
}

typedef struct create_job {
    pce_context *ctx;
    pce_graph *g;
    const pce_plan_options *opts;
} create_job;

/* Times pce_plan_create alone (destroying the plan is not timed). */
static pce_status time_create(void *arg, double *secs)
{
    create_job *j = arg;
    pce_plan *p = NULL;
    double t0 = now();
    pce_status st = pce_plan_create(j->ctx, j->g, j->opts, &p);
    *secs = now() - t0;
    pce_plan_destroy(p);
    return st;
}

static void die(pce_context *ctx, const char *what, const char *device)
{
    fprintf(stderr, "%s: %s on %s: %s\n", PROG, what, device, pce_context_last_error(ctx));
    exit(1);
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "%s: out of memory allocating %zu bytes\n", PROG, bytes);
        exit(1);
    }
    return p;
}

/* Uniform in [lo, lo + 1), never all zeros; a different seed per tensor. */
static float *random_floats(size_t n, unsigned seed, float lo)
{
    float *v = xmalloc(n * sizeof *v);
    unsigned s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        v[i] = (float)((s >> 9) & 0xffff) / 65536.0f + lo;
    }
    return v;
}

/* max |x - ref| / max |ref|: norm-wise, because a dot product of random
 * signs can land near zero where an element-wise ratio means nothing.
 * A NaN or Inf anywhere (the output is poisoned before it is read) gives
 * INFINITY. */
static double rel_err(const float *x, const float *ref, size_t n)
{
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(ref[i]))
            return INFINITY;
        double d = fabs((double)x[i] - (double)ref[i]), r = fabs((double)ref[i]);
        diff = d > diff ? d : diff;
        scale = r > scale ? r : scale;
    }
    return scale > 0 ? diff / scale : (diff > 0 ? INFINITY : 0);
}

/* ---- workloads: one graph, its inputs, cpu0's output ------------------- */

enum { MAX_IN = 3 };

typedef struct workload {
    char name[48]; /* "matmul f32 1024^3" */
    pce_graph *g;
    int n_in;
    pce_tensor *in[MAX_IN];
    float *data[MAX_IN];
    pce_tensor *out;
    size_t out_n;
    float *ref; /* cpu0's output for the same inputs */
    float *got; /* the device under test's output */
} workload;

static pce_tensor *add_input(workload *w, const char *name, int ndim, const int64_t *dims, float lo)
{
    pce_tensor *t = pce_graph_input(w->g, name, PCE_DTYPE_F32, ndim, dims);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= dims[i];
    w->in[w->n_in] = t;
    w->data[w->n_in] = random_floats((size_t)n, (unsigned)w->n_in + 1u, lo);
    w->n_in++;
    return t;
}

/* A plan of w on device with w's inputs set. */
static pce_plan *plan_on(pce_context *ctx, workload *w, const char *device)
{
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.device = device;
    o.strict = true; /* measure this device, not a fallback */
    pce_plan *p;
    if (pce_plan_create(ctx, w->g, &o, &p) != PCE_OK)
        die(ctx, "pce_plan_create", device);
    for (int i = 0; i < w->n_in; i++)
        if (pce_plan_set_input(p, w->in[i], w->data[i], pce_tensor_bytes(w->in[i])) != PCE_OK)
            die(ctx, "pce_plan_set_input", device);
    return p;
}

static void fetch(pce_context *ctx, pce_plan *p, workload *w, float *dst, const char *device)
{
    for (size_t i = 0; i < w->out_n; i++)
        dst[i] = NAN;
    if (pce_plan_get_output(p, w->out, dst, w->out_n * sizeof *dst) != PCE_OK)
        die(ctx, "pce_plan_get_output", device);
}

/* Marks the output, then computes the reference on cpu0 (one untimed run). */
static void finish_workload(pce_context *ctx, workload *w, pce_tensor *out)
{
    if (pce_graph_output(w->g, out) != PCE_OK) {
        fprintf(stderr, "%s: building %s: %s\n", PROG, w->name, pce_graph_error(w->g));
        exit(1);
    }
    w->out = out;
    w->out_n = (size_t)pce_tensor_numel(out);
    w->ref = xmalloc(w->out_n * sizeof(float));
    w->got = xmalloc(w->out_n * sizeof(float));
    pce_plan *p = plan_on(ctx, w, REF_DEVICE);
    if (pce_plan_run(p) != PCE_OK)
        die(ctx, "pce_plan_run (reference)", REF_DEVICE);
    fetch(ctx, p, w, w->ref, REF_DEVICE);
    pce_plan_destroy(p);
}

static void begin_workload(pce_context *ctx, workload *w)
{
    memset(w, 0, sizeof *w);
    if (pce_graph_create(ctx, &w->g) != PCE_OK)
        die(ctx, "pce_graph_create", "host");
}

static void free_workload(workload *w)
{
    for (int i = 0; i < w->n_in; i++)
        free(w->data[i]);
    free(w->ref);
    free(w->got);
    pce_graph_destroy(w->g);
}

static void build_matmul(pce_context *ctx, workload *w, int64_t n)
{
    begin_workload(ctx, w);
    snprintf(w->name, sizeof w->name, "matmul f32 %lld^3", (long long)n);
    int64_t d[2] = {n, n};
    pce_tensor *a = add_input(w, "a", 2, d, -0.5f);
    pce_tensor *b = add_input(w, "b", 2, d, -0.5f);
    finish_workload(ctx, w, pce_matmul(w->g, a, b));
}

static void build_add(pce_context *ctx, workload *w, int64_t n)
{
    begin_workload(ctx, w);
    snprintf(w->name, sizeof w->name, "add f32 %lldM", (long long)(n >> 20));
    int64_t d[1] = {n};
    pce_tensor *a = add_input(w, "a", 1, d, -0.5f);
    pce_tensor *b = add_input(w, "b", 1, d, -0.5f);
    finish_workload(ctx, w, pce_add(w->g, a, b));
}

/* add/mul/scale/silu in turn. The multiplier (in [0.5, 1.5)) times the
 * scale stays below 1, so no element grows geometrically over the 25 rounds
 * and hides the others' errors; the values stay of order one. */
static void build_chain(pce_context *ctx, workload *w)
{
    begin_workload(ctx, w);
    snprintf(w->name, sizeof w->name, "chain %d ops x %d f32", CHAIN_OPS, CHAIN_ELEMS);
    int64_t d[1] = {CHAIN_ELEMS};
    pce_tensor *t = add_input(w, "x", 1, d, -0.5f);
    pce_tensor *b = add_input(w, "bias", 1, d, -0.5f);
    pce_tensor *m = add_input(w, "mult", 1, d, 0.5f);
    for (int i = 0; i < CHAIN_OPS; i++) {
        switch (i % 4) {
        case 0: t = pce_add(w->g, t, b); break;
        case 1: t = pce_mul(w->g, t, m); break;
        case 2: t = pce_scale(w->g, t, 0.6f); break;
        default: t = pce_silu(w->g, t); break;
        }
    }
    finish_workload(ctx, w, t);
}

/* ---- results ----------------------------------------------------------- */

typedef struct row {
    const char *device; /* borrowed from argv or the device list */
    char bench[48];
    const char *metric; /* "GFLOP/s", "ms", ... */
    bool higher_better; /* throughput, not time */
    bool no_ratio;      /* a ratio of two of the device's own numbers */
    double median, best;
    int reps;
    double err; /* max relative error vs cpu0; NAN: shown on another row */
} row;

typedef struct table {
    row *rows;
    int n, cap;
} table;

static void add_row(table *t, row r)
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        row *rows = realloc(t->rows, (size_t)cap * sizeof *rows);
        if (!rows) {
            fprintf(stderr, "%s: out of memory growing the results table\n", PROG);
            exit(1);
        }
        t->rows = rows;
        t->cap = cap;
    }
    t->rows[t->n++] = r;
}

/* Speed of r relative to cpu0 on the same row (>1: faster), NAN if none. */
static double vs_ref(const table *t, const row *r)
{
    if (r->no_ratio)
        return NAN;
    for (int i = 0; i < t->n; i++) {
        const row *c = &t->rows[i];
        if (!strcmp(c->device, REF_DEVICE) && !strcmp(c->bench, r->bench) &&
            !strcmp(c->metric, r->metric))
            return r->higher_better ? r->median / c->median : c->median / r->median;
    }
    return NAN;
}

static int mismatches;

static double check(workload *w, const char *device)
{
    double e = rel_err(w->got, w->ref, w->out_n);
    if (!(e <= TOLERANCE)) {
        mismatches++;
        fprintf(stderr,
                "\n*** WARNING: %s on %s differs from %s: max relative error %.3g > %.0e ***\n\n",
                w->name, device, REF_DEVICE, e, TOLERANCE);
    }
    return e;
}

/* matmul and add: throughput of pce_plan_run from `units` per run. */
static void bench_throughput(pce_context *ctx, workload *w, const char *device, double units,
                             const char *metric, double min_time, table *tab)
{
    fprintf(stderr, "# %s on %s ...\n", w->name, device);
    pce_plan *p = plan_on(ctx, w, device);
    timing tm;
    if (measure(time_run, p, min_time, 3, &tm) != PCE_OK)
        die(ctx, "pce_plan_run", device);
    fetch(ctx, p, w, w->got, device);
    pce_plan_destroy(p);
    row r = {.device = device, .metric = metric, .higher_better = true};
    snprintf(r.bench, sizeof r.bench, "%s", w->name);
    r.median = units / tm.median;
    r.best = units / tm.best;
    r.reps = tm.reps;
    r.err = check(w, device);
    add_row(tab, r);
}

static void bench_chain(pce_context *ctx, workload *w, const char *device, double min_time,
                        table *tab)
{
    fprintf(stderr, "# %s on %s ...\n", w->name, device);
    /* the first plan pays for one-time work (pipeline compilation) and is
     * kept for the replay timing */
    pce_plan *p = plan_on(ctx, w, device);
    pce_plan_stats st;
    if (pce_plan_get_stats(p, &st) != PCE_OK)
        die(ctx, "pce_plan_get_stats", device);
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.device = device;
    o.strict = true; /* measure this device, not a fallback */
    create_job cj = {ctx, w->g, &o};
    timing tc, tr;
    if (measure(time_create, &cj, min_time, 5, &tc) != PCE_OK)
        die(ctx, "pce_plan_create", device);
    if (measure(time_run, p, min_time, 10, &tr) != PCE_OK)
        die(ctx, "pce_plan_run", device);
    fetch(ctx, p, w, w->got, device);
    pce_plan_destroy(p);
    double nodes = st.nodes > 0 ? (double)st.nodes : 1.0;
    row r = {.device = device, .metric = "create ms", .err = check(w, device)};
    snprintf(r.bench, sizeof r.bench, "%s", w->name);
    r.median = tc.median * 1e3;
    r.best = tc.best * 1e3;
    r.reps = tc.reps;
    add_row(tab, r);
    r.err = NAN;
    r.metric = "run us";
    r.median = tr.median * 1e6;
    r.best = tr.best * 1e6;
    r.reps = tr.reps;
    add_row(tab, r);
    r.metric = "run us/node";
    r.median = tr.median * 1e6 / nodes;
    r.best = tr.best * 1e6 / nodes;
    add_row(tab, r);
    r.metric = "create/run";
    r.no_ratio = true;
    r.median = tc.median / tr.median;
    r.best = tc.best / tr.best;
    r.reps = 0;
    add_row(tab, r);
    if (st.nodes != CHAIN_OPS)
        fprintf(stderr, "# note: the plan on %s has %lld compute nodes for %d ops\n", device,
                (long long)st.nodes, CHAIN_OPS);
}

static void print_table(const table *t)
{
    printf("%-10s %-24s %-12s %12s %12s %6s %8s  %s\n", "device", "benchmark", "metric", "median",
           "best", "reps", "vs " REF_DEVICE, "max rel err vs " REF_DEVICE);
    for (int i = 0; i < t->n; i++) {
        const row *r = &t->rows[i];
        char ratio[32] = "-", reps[16] = "", err[48] = "";
        double v = vs_ref(t, r);
        if (isfinite(v))
            snprintf(ratio, sizeof ratio, "%.3f", v);
        if (r->reps)
            snprintf(reps, sizeof reps, "%d", r->reps);
        if (!isnan(r->err))
            snprintf(err, sizeof err, "%.2e%s%s", r->err,
                     strcmp(r->device, REF_DEVICE) ? "" : " (itself)",
                     r->err <= TOLERANCE ? "" : "  MISMATCH");
        printf("%-10s %-24s %-12s %12.3f %12.3f %6s %8s  %s\n", r->device, r->bench, r->metric,
               r->median, r->best, reps, ratio, err);
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

typedef struct work_sizes {
    int64_t matmul_n, add_n;
    double matmul_flop, add_bytes;
    double min_time;
    bool quick;
} work_sizes;

static void write_json(FILE *f, pce_context *ctx, const work_sizes *ws, const table *t)
{
    fprintf(f, "{\n  \"program\": \"%s\",\n  \"pce_version\": ", PROG);
    json_str(f, pce_version_string());
    fprintf(f, ",\n  \"quick\": %s,\n  \"min_time_s\": %g,\n  \"tolerance\": %g,\n",
            ws->quick ? "true" : "false", ws->min_time, TOLERANCE);
    fprintf(f, "  \"reference_device\": \"%s\",\n  \"devices\": [", REF_DEVICE);
    for (int i = 0; i < pce_device_count(ctx); i++) {
        pce_device_props pr;
        if (pce_device_get_props(pce_device_get(ctx, i), &pr) != PCE_OK)
            continue;
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        json_str(f, pr.name);
        fputs(", \"backend\": ", f);
        json_str(f, pr.backend);
        fputs(", \"description\": ", f);
        json_str(f, pr.description);
        fputs(", \"details\": ", f);
        json_str(f, pr.details);
        fputc('}', f);
    }
    fprintf(f,
            "\n  ],\n  \"work\": {\n"
            "    \"matmul\": {\"n\": %lld, \"flop_per_run\": %.0f},\n"
            "    \"add\": {\"elements\": %lld, \"bytes_per_run\": %.0f},\n"
            "    \"chain\": {\"ops\": %d, \"elements\": %d}\n  },\n  \"results\": [",
            (long long)ws->matmul_n, ws->matmul_flop, (long long)ws->add_n, ws->add_bytes,
            CHAIN_OPS, CHAIN_ELEMS);
    for (int i = 0; i < t->n; i++) {
        const row *r = &t->rows[i];
        fprintf(f, "%s\n    {\"device\": ", i ? "," : "");
        json_str(f, r->device);
        fputs(", \"benchmark\": ", f);
        json_str(f, r->bench);
        fputs(", \"metric\": ", f);
        json_str(f, r->metric);
        fputs(", \"median\": ", f);
        json_num(f, r->median);
        fputs(", \"best\": ", f);
        json_num(f, r->best);
        fprintf(f, ", \"reps\": %d, \"vs_%s\": ", r->reps, REF_DEVICE);
        json_num(f, vs_ref(t, r));
        if (!isnan(r->err)) {
            fputs(", \"max_rel_err\": ", f);
            json_num(f, r->err);
            fprintf(f, ", \"verified\": %s", r->err <= TOLERANCE ? "true" : "false");
        }
        fputc('}', f);
    }
    fprintf(f, "\n  ],\n  \"mismatches\": %d\n}\n", mismatches);
}

static void list_devices(FILE *f, pce_context *ctx)
{
    for (int i = 0; i < pce_device_count(ctx); i++) {
        pce_device_props pr;
        if (pce_device_get_props(pce_device_get(ctx, i), &pr) == PCE_OK)
            fprintf(f, "%s%s", i ? ", " : "", pr.name);
    }
    fputc('\n', f);
}

static int usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: %s [--quick] [--devices cpu0,vulkan0] [--json FILE]\n"
            "  --quick         small sizes and short timings (matmul 256, add 1M)\n"
            "  --devices LIST  the devices to compare (default: all); %s computes the\n"
            "                  reference outputs either way, and the ratios need it listed\n"
            "  --json FILE     also write the numbers to FILE\n",
            PROG, REF_DEVICE);
    return status;
}

int main(int argc, char **argv)
{
    bool quick = false;
    char *device_list = NULL;
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--devices") && i + 1 < argc)
            device_list = argv[++i];
        else if (!strcmp(argv[i], "--json") && i + 1 < argc)
            json_path = argv[++i];
        else
            return usage(!strcmp(argv[i], "--help") ? 0 : 2);
    }
    work_sizes ws = {.quick = quick};
    ws.matmul_n = quick ? 256 : 1024;
    ws.add_n = (int64_t)(quick ? 1 : 16) << 20;
    ws.matmul_flop = 2.0 * (double)ws.matmul_n * (double)ws.matmul_n * (double)ws.matmul_n;
    ws.add_bytes = 3.0 * 4.0 * (double)ws.add_n;
    ws.min_time = quick ? 0.25 : 2.0;

    pce_context *ctx;
    pce_status st = pce_context_create(NULL, &ctx);
    if (st != PCE_OK) {
        fprintf(stderr, "%s: pce_context_create: %s\n", PROG, pce_status_name(st));
        return 1;
    }
    if (!pce_device_find(ctx, REF_DEVICE)) {
        fprintf(stderr, "%s: no reference device %s; devices: ", PROG, REF_DEVICE);
        list_devices(stderr, ctx);
        return 1;
    }

    /* the devices to compare, in the machine's order or the user's */
    int ndev_all = pce_device_count(ctx), ndev = 0;
    const char **devs = xmalloc((size_t)(ndev_all > 0 ? ndev_all : 1) * sizeof *devs);
    pce_device_props *props = xmalloc((size_t)(ndev_all > 0 ? ndev_all : 1) * sizeof *props);
    for (int i = 0; i < ndev_all; i++)
        if (pce_device_get_props(pce_device_get(ctx, i), &props[i]) != PCE_OK)
            die(ctx, "pce_device_get_props", "device list");
    if (device_list) {
        for (char *s = strtok(device_list, ","); s; s = strtok(NULL, ",")) {
            int k = -1;
            for (int i = 0; i < ndev_all; i++)
                if (!strcmp(props[i].name, s))
                    k = i;
            if (k < 0) {
                fprintf(stderr, "%s: unknown device '%s'; devices on this machine: ", PROG, s);
                list_devices(stderr, ctx);
                return 2;
            }
            bool dup = false;
            for (int i = 0; i < ndev; i++)
                dup |= !strcmp(devs[i], s);
            if (!dup)
                devs[ndev++] = props[k].name;
        }
        if (ndev == 0)
            return usage(2);
    } else {
        for (int i = 0; i < ndev_all; i++)
            devs[ndev++] = props[i].name;
    }
    FILE *json = NULL;
    if (json_path && !(json = fopen(json_path, "w"))) {
        perror(json_path);
        return 1;
    }

    printf("%s: pce %s, %s run\n", PROG, pce_version_string(), quick ? "quick" : "full");
    for (int i = 0; i < ndev_all; i++) {
        bool chosen = false;
        for (int j = 0; j < ndev; j++)
            chosen |= devs[j] == props[i].name;
        printf("device %-8s %-7s %s%s\n  %s\n", props[i].name, props[i].backend,
               props[i].description, chosen ? "" : "  (not compared)", props[i].details);
    }
    for (int i = 0; i < pce_backend_unavailable_count(ctx); i++) {
        const char *b, *why;
        if (pce_backend_unavailable_get(ctx, i, &b, &why) == PCE_OK)
            printf("backend %s unavailable: %s\n", b, why);
    }
    printf("work:\n"
           "  matmul f32 %lld x %lld x %lld: %.4g FLOP per run (2 n^3)\n"
           "  add f32 a + b -> out, %lld elements: %.4g bytes per run (3 * 4 * n)\n"
           "  chain of %d elementwise ops (add, mul, scale, silu in turn) on %d f32:\n"
           "    pce_plan_create of a fresh plan (after a first one) vs one pce_plan_run\n"
           "timing: a warm-up run, then at least 3 reps and %.2g s per metric; inputs set once\n"
           "check: max |out - ref| / max |ref| against %s's output, tolerance %.0e\n"
           "vs %s: speed relative to %s on the same row, from medians (>1: faster)\n\n",
           (long long)ws.matmul_n, (long long)ws.matmul_n, (long long)ws.matmul_n, ws.matmul_flop,
           (long long)ws.add_n, ws.add_bytes, CHAIN_OPS, CHAIN_ELEMS, ws.min_time, REF_DEVICE,
           TOLERANCE, REF_DEVICE, REF_DEVICE);
    fflush(stdout);

    table tab = {0};
    workload w;
    build_matmul(ctx, &w, ws.matmul_n);
    for (int i = 0; i < ndev; i++)
        bench_throughput(ctx, &w, devs[i], ws.matmul_flop * 1e-9, "GFLOP/s", ws.min_time, &tab);
    free_workload(&w);
    build_add(ctx, &w, ws.add_n);
    for (int i = 0; i < ndev; i++)
        bench_throughput(ctx, &w, devs[i], ws.add_bytes * 1e-9, "GB/s", ws.min_time, &tab);
    free_workload(&w);
    build_chain(ctx, &w);
    for (int i = 0; i < ndev; i++)
        bench_chain(ctx, &w, devs[i], ws.min_time, &tab);
    free_workload(&w);

    print_table(&tab);
    if (mismatches)
        printf("\nWARNING: %d result(s) differ from %s's beyond %.0e relative: the numbers above "
               "measure broken work\n",
               mismatches, REF_DEVICE, TOLERANCE);
    if (json) {
        write_json(json, ctx, &ws, &tab);
        if (fclose(json) != 0) {
            perror(json_path);
            return 1;
        }
        printf("\nwrote %s\n", json_path);
    }
    free(tab.rows);
    free(devs);
    free(props);
    pce_context_destroy(ctx);
    return mismatches ? 3 : 0;
}
