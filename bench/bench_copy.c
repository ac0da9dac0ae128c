/* bench_copy.c — the cost of a cross-device copy inside a plan, per copy and
 * per MiB, for every ordered pair of devices (A, B) of the machine
 * (cpu0 -> vulkan0, vulkan0 -> cpu0, ...; with a GPU also the cuda0 pairs).
 *
 * Per pair and per size n bytes of f32 the graph is
 *     x [n/4] -> a = scale(x, 2) pinned to A -> b = scale(a, 0.5) pinned to B
 * in a strict plan over the devices "A,B", so each run makes exactly one copy
 * (a from A to B; the plan's stats must say so, else the bench fails). The
 * input is set once; after two warm-up runs the plan runs R times (at least
 * 5 runs and 0.2 s; --quick: 3 runs and 0.05 s), and the time of one copy is
 * the growth of pce_plan_stats.copy_ns over those runs divided by R — pce's
 * own clock around the transfer itself, so neither the kernels' time nor
 * the wait for A to finish its submitted work is counted.
 * Reported per row: us per copy, GB/s (1e9 bytes per second), the time of a
 * host memcpy of the same bytes (best of several batches) and the copy's
 * time as a multiple of it (>1: slower than memcpy), and the whole run's
 * mean wall time for context. Per pair, a least-squares line through the
 * sizes (weighted by 1 / time^2, i.e. fitting relative error, since the sizes
 * span four orders of magnitude) splits the copy into a fixed cost per copy
 * (the intercept) and a cost per MiB (the slope).
 * Each plan's output is checked once: scale by 2 then by 0.5 is exact in
 * f32, so b must equal x (1e-6 relative); otherwise a WARNING is printed and
 * the exit status is 3. Public API only.
 * Usage: pce-bench-copy [--quick] [--devices cpu0,vulkan0] [--json FILE]
 * Exit status: 0 ok (also with fewer than two devices: nothing to measure),
 * 1 a pce call failed or the plan's copies were not the one expected,
 * 2 bad usage or unknown device, 3 an output did not match its input. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pce.h"

#define PROG "pce-bench-copy"
#define TOLERANCE 1e-6
#define MIB (1024.0 * 1024.0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(pce_context *ctx, const char *what, const char *where)
{
    fprintf(stderr, "%s: %s (%s): %s\n", PROG, what, where, pce_context_last_error(ctx));
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

/* Uniform in [0.5, 1.5): never zero, so an element-wise ratio is defined. */
static float *input_floats(size_t n)
{
    float *v = xmalloc(n * sizeof *v);
    unsigned s = 2654435761u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        v[i] = (float)((s >> 9) & 0xffff) / 65536.0f + 0.5f;
    }
    return v;
}

/* max |got - want| / |want| element-wise; INFINITY for a NaN or Inf (the
 * output buffer is poisoned with NaN before it is read). */
static double rel_err(const float *got, const float *want, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]))
            return INFINITY;
        double e = fabs((double)got[i] - (double)want[i]) / fabs((double)want[i]);
        worst = e > worst ? e : worst;
    }
    return worst;
}

static volatile unsigned char sink;

/* Host memcpy of `bytes` between two buffers that are already paged in:
 * best of several batches, a batch being enough copies (of the same
 * bytes) to take well above the clock's resolution. Seconds per copy. */
static double memcpy_time(size_t bytes, bool quick)
{
    unsigned char *src = xmalloc(bytes), *dst = xmalloc(bytes);
    memset(src, 1, bytes);
    memset(dst, 2, bytes);
    int per_batch = (int)((4u << 20) / bytes);
    per_batch = per_batch < 1 ? 1 : per_batch;
    double best = INFINITY, start = now();
    for (int b = 0; b < 5 || (now() - start < (quick ? 0.01 : 0.05) && b < 1000); b++) {
        double t0 = now();
        for (int i = 0; i < per_batch; i++) {
            src[i % bytes] = (unsigned char)i; /* a fresh source each time */
            memcpy(dst, src, bytes);
        }
        double t = (now() - t0) / per_batch;
        best = t < best ? t : best;
        sink = dst[bytes - 1];
    }
    free(src);
    free(dst);
    return best;
}

/* ---- results ----------------------------------------------------------- */

typedef struct row {
    const char *from, *to; /* borrowed from the device list */
    size_t bytes;
    int reps;
    double copy_s;   /* mean time of one copy, from copy_ns */
    double run_s;    /* mean wall time of one pce_plan_run */
    double memcpy_s; /* best host memcpy of the same bytes */
    double err;      /* max relative error of b against x */
} row;

typedef struct fit {
    const char *from, *to;
    double us_per_copy, us_per_mib; /* intercept and slope */
    double r2;                      /* coefficient of determination */
} fit;

static int mismatches;

/* Least squares t_us = c + s * MiB over rows[0..n), weighted by 1 / t^2:
 * the relative misfit counts, so the 4 KiB rows fix the cost per copy and
 * the large ones the cost per MiB (unweighted, the largest size alone would
 * set the line, and cache effects at the small sizes would turn its
 * intercept negative). r2 is the weighted coefficient of determination. */
static fit fit_rows(const row *r, int n)
{
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double x = (double)r[i].bytes / MIB, y = r[i].copy_s * 1e6;
        double w = y > 0 ? 1.0 / (y * y) : 0;
        sw += w;
        sx += w * x;
        sy += w * y;
        sxx += w * x * x;
        sxy += w * x * y;
    }
    fit f = {.from = r[0].from, .to = r[0].to, .us_per_copy = NAN, .us_per_mib = NAN, .r2 = NAN};
    double d = sw * sxx - sx * sx;
    if (n < 2 || !(d > 0))
        return f;
    f.us_per_mib = (sw * sxy - sx * sy) / d;
    f.us_per_copy = (sy - f.us_per_mib * sx) / sw;
    double mean = sy / sw, res = 0, tot = 0;
    for (int i = 0; i < n; i++) {
        double x = (double)r[i].bytes / MIB, y = r[i].copy_s * 1e6;
        double w = y > 0 ? 1.0 / (y * y) : 0, e = y - f.us_per_copy - f.us_per_mib * x;
        res += w * e * e;
        tot += w * (y - mean) * (y - mean);
    }
    if (tot > 0)
        f.r2 = 1 - res / tot;
    return f;
}

/* One pair, one size: builds the graph, checks the plan's copy, times it. */
static row bench_one(pce_context *ctx, const char *from, const char *to, size_t bytes,
                     double min_time, int min_reps, bool quick)
{
    char where[96];
    snprintf(where, sizeof where, "%s -> %s, %zu bytes", from, to, bytes);
    fprintf(stderr, "# %s ...\n", where);
    size_t n = bytes / sizeof(float);
    pce_graph *g;
    if (pce_graph_create(ctx, &g) != PCE_OK)
        die(ctx, "pce_graph_create", where);
    int64_t dims[1] = {(int64_t)n};
    pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 1, dims);
    pce_tensor *a = pce_scale(g, x, 2.0f);
    pce_tensor *b = pce_scale(g, a, 0.5f);
    if (!b || pce_graph_output(g, b) != PCE_OK) {
        fprintf(stderr, "%s: building the graph (%s): %s\n", PROG, where, pce_graph_error(g));
        exit(1);
    }
    if (pce_tensor_pin(a, from) != PCE_OK)
        die(ctx, "pce_tensor_pin of a", where);
    if (pce_tensor_pin(b, to) != PCE_OK)
        die(ctx, "pce_tensor_pin of b", where);

    char devices[80];
    snprintf(devices, sizeof devices, "%s,%s", from, to);
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.devices = devices;
    o.strict = true; /* the pins hold, or the plan fails */
    pce_plan *p;
    if (pce_plan_create(ctx, g, &o, &p) != PCE_OK)
        die(ctx, "pce_plan_create", where);
    pce_plan_stats s0, s1;
    if (pce_plan_get_stats(p, &s0) != PCE_OK)
        die(ctx, "pce_plan_get_stats", where);
    if (s0.copies != 1 || s0.copy_bytes != (uint64_t)pce_tensor_bytes(a)) {
        fprintf(stderr,
                "%s: %s: the plan makes %lld copies of %llu bytes per run, expected 1 copy of "
                "%zu bytes (a on %s, b on %s: %s, %s)\n",
                PROG, where, (long long)s0.copies, (unsigned long long)s0.copy_bytes,
                pce_tensor_bytes(a), from, to, pce_plan_tensor_device(p, a),
                pce_plan_tensor_device(p, b));
        exit(1);
    }

    float *in = input_floats(n), *out = xmalloc(bytes);
    if (pce_plan_set_input(p, x, in, bytes) != PCE_OK)
        die(ctx, "pce_plan_set_input", where);
    for (int i = 0; i < 2; i++)
        if (pce_plan_run(p) != PCE_OK)
            die(ctx, "pce_plan_run (warm-up)", where);
    if (pce_plan_get_stats(p, &s0) != PCE_OK)
        die(ctx, "pce_plan_get_stats", where);
    int reps = 0;
    double t0 = now(), t;
    while ((t = now() - t0) < min_time || reps < min_reps) {
        if (pce_plan_run(p) != PCE_OK)
            die(ctx, "pce_plan_run", where);
        reps++;
    }
    if (pce_plan_get_stats(p, &s1) != PCE_OK)
        die(ctx, "pce_plan_get_stats", where);
    if (s1.runs - s0.runs != (uint64_t)reps)
        fprintf(stderr, "# note: %s: stats.runs grew by %llu over %d runs\n", where,
                (unsigned long long)(s1.runs - s0.runs), reps);

    for (size_t i = 0; i < n; i++)
        out[i] = NAN;
    if (pce_plan_get_output(p, b, out, bytes) != PCE_OK)
        die(ctx, "pce_plan_get_output", where);
    row r = {.from = from, .to = to, .bytes = bytes, .reps = reps};
    r.copy_s = (double)(s1.copy_ns - s0.copy_ns) * 1e-9 / reps;
    r.run_s = t / reps;
    r.err = rel_err(out, in, n);
    if (!(r.err <= TOLERANCE)) {
        mismatches++;
        fprintf(stderr,
                "\n*** WARNING: %s: output differs from the input: max relative error %.3g > "
                "%.0e ***\n\n",
                where, r.err, TOLERANCE);
    }
    r.memcpy_s = memcpy_time(bytes, quick);
    free(in);
    free(out);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
    return r;
}

static void size_str(char *buf, size_t cap, size_t bytes)
{
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
        snprintf(buf, cap, "%zu MiB", bytes >> 20);
    else
        snprintf(buf, cap, "%zu KiB", bytes >> 10);
}

static void print_table(const row *rows, int n)
{
    printf("%-20s %8s %6s %10s %8s %10s %10s %10s\n", "pair", "size", "reps", "us/copy", "GB/s",
           "memcpy us", "vs memcpy", "run us");
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        char pair[80], size[24];
        snprintf(pair, sizeof pair, "%s -> %s", r->from, r->to);
        size_str(size, sizeof size, r->bytes);
        printf("%-20s %8s %6d %10.2f %8.2f %10.3f %10.2f %10.2f%s\n", pair, size, r->reps,
               r->copy_s * 1e6, (double)r->bytes / r->copy_s * 1e-9, r->memcpy_s * 1e6,
               r->copy_s / r->memcpy_s, r->run_s * 1e6, r->err <= TOLERANCE ? "" : "  MISMATCH");
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

static void write_json(FILE *f, pce_context *ctx, bool quick, double min_time, int min_reps,
                       const row *rows, int nrows, const fit *fits, int nfits)
{
    const char *staging = getenv("PCE_VULKAN_STAGING");
    fprintf(f, "{\n  \"program\": \"%s\",\n  \"pce_version\": ", PROG);
    json_str(f, pce_version_string());
    fprintf(f, ",\n  \"quick\": %s,\n  \"min_time_s\": %g,\n  \"min_reps\": %d,\n",
            quick ? "true" : "false", min_time, min_reps);
    fputs("  \"PCE_VULKAN_STAGING\": ", f);
    if (staging)
        json_str(f, staging);
    else
        fputs("null", f);
    fprintf(f, ",\n  \"tolerance\": %g,\n  \"devices\": [", TOLERANCE);
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
    fputs("\n  ],\n  \"results\": [", f);
    for (int i = 0; i < nrows; i++) {
        const row *r = &rows[i];
        fprintf(f, "%s\n    {\"from\": ", i ? "," : "");
        json_str(f, r->from);
        fputs(", \"to\": ", f);
        json_str(f, r->to);
        fprintf(f, ", \"bytes\": %zu, \"reps\": %d, \"us_per_copy\": ", r->bytes, r->reps);
        json_num(f, r->copy_s * 1e6);
        fputs(", \"gb_per_s\": ", f);
        json_num(f, (double)r->bytes / r->copy_s * 1e-9);
        fputs(", \"memcpy_us\": ", f);
        json_num(f, r->memcpy_s * 1e6);
        fputs(", \"vs_memcpy\": ", f);
        json_num(f, r->copy_s / r->memcpy_s);
        fputs(", \"run_us\": ", f);
        json_num(f, r->run_s * 1e6);
        fputs(", \"max_rel_err\": ", f);
        json_num(f, r->err);
        fprintf(f, ", \"verified\": %s}", r->err <= TOLERANCE ? "true" : "false");
    }
    fputs("\n  ],\n  \"fits\": [", f);
    for (int i = 0; i < nfits; i++) {
        const fit *ft = &fits[i];
        fprintf(f, "%s\n    {\"from\": ", i ? "," : "");
        json_str(f, ft->from);
        fputs(", \"to\": ", f);
        json_str(f, ft->to);
        fputs(", \"us_per_copy\": ", f);
        json_num(f, ft->us_per_copy);
        fputs(", \"us_per_mib\": ", f);
        json_num(f, ft->us_per_mib);
        fputs(", \"weighting\": \"1/t^2\", \"r2\": ", f);
        json_num(f, ft->r2);
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
            "  --quick         sizes 4 KiB, 256 KiB, 4 MiB and short timings\n"
            "                  (default: 4 KiB, 64 KiB, 1 MiB, 4 MiB, 16 MiB)\n"
            "  --devices LIST  the devices whose ordered pairs are measured (default: all)\n"
            "  --json FILE     also write the rows and the fits to FILE\n",
            PROG);
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
    static const size_t full_sizes[] = {4u << 10, 64u << 10, 1u << 20, 4u << 20, 16u << 20};
    static const size_t quick_sizes[] = {4u << 10, 256u << 10, 4u << 20};
    const size_t *sizes = quick ? quick_sizes : full_sizes;
    int nsizes = quick ? 3 : 5;
    double min_time = quick ? 0.05 : 0.2;
    int min_reps = quick ? 3 : 5;

    pce_context *ctx;
    pce_status st = pce_context_create(NULL, &ctx);
    if (st != PCE_OK) {
        fprintf(stderr, "%s: pce_context_create: %s\n", PROG, pce_status_name(st));
        return 1;
    }

    /* the devices, in the machine's order or the user's */
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

    printf("%s: pce %s, %s run\n", PROG, pce_version_string(), quick ? "quick" : "full");
    for (int i = 0; i < ndev_all; i++) {
        bool chosen = false;
        for (int j = 0; j < ndev; j++)
            chosen |= devs[j] == props[i].name;
        printf("device %-8s %-7s %s%s\n  %s\n", props[i].name, props[i].backend,
               props[i].description, chosen ? "" : "  (not measured)", props[i].details);
    }
    for (int i = 0; i < pce_backend_unavailable_count(ctx); i++) {
        const char *b, *why;
        if (pce_backend_unavailable_get(ctx, i, &b, &why) == PCE_OK)
            printf("backend %s unavailable: %s\n", b, why);
    }
    const char *staging = getenv("PCE_VULKAN_STAGING");
    if (staging && *staging)
        printf("PCE_VULKAN_STAGING=%s\n", staging);
    if (ndev < 2) {
        printf("\nonly one device (%s): no pair to measure\n", ndev ? devs[0] : "none");
        free(devs);
        free(props);
        pce_context_destroy(ctx);
        return 0;
    }
    FILE *json = NULL;
    if (json_path && !(json = fopen(json_path, "w"))) {
        perror(json_path);
        return 1;
    }
    printf("work: x f32 -> a = x * 2 pinned to A -> b = a * 0.5 pinned to B, one copy of a per "
           "run;\n  sizes:");
    for (int i = 0; i < nsizes; i++) {
        char s[24];
        size_str(s, sizeof s, sizes[i]);
        printf("%s %s", i ? "," : "", s);
    }
    printf("\ntiming: 2 warm-up runs, then at least %d runs and %.2g s; us/copy from the plan's "
           "copy_ns\n"
           "  (the transfer only, not the wait for A's work); GB/s = bytes / time * 1e-9\n"
           "vs memcpy: the copy's time over a host memcpy of the same bytes (best of several; "
           ">1: slower)\n"
           "run us: mean wall time of one pce_plan_run (both scales and the copy)\n"
           "check: b == x within %.0e relative (x * 2 * 0.5 is exact in f32)\n\n",
           min_reps, min_time, TOLERANCE);
    fflush(stdout);

    int npairs = ndev * (ndev - 1), nrows = 0, nfits = 0;
    row *rows = xmalloc((size_t)(npairs * nsizes) * sizeof *rows);
    fit *fits = xmalloc((size_t)npairs * sizeof *fits);
    for (int i = 0; i < ndev; i++)
        for (int j = 0; j < ndev; j++) {
            if (i == j)
                continue;
            row *first = &rows[nrows];
            for (int k = 0; k < nsizes; k++)
                rows[nrows++] =
                    bench_one(ctx, devs[i], devs[j], sizes[k], min_time, min_reps, quick);
            fits[nfits++] = fit_rows(first, nsizes);
        }

    print_table(rows, nrows);
    printf("\nleast-squares fit over the sizes (time = per copy + per MiB * MiB, weighted by "
           "1/time^2):\n");
    for (int i = 0; i < nfits; i++)
        printf("%s -> %s: %.1f us per copy + %.1f us per MiB (r^2 %.3f)\n", fits[i].from,
               fits[i].to, fits[i].us_per_copy, fits[i].us_per_mib, fits[i].r2);
    if (mismatches)
        printf("\nWARNING: %d output(s) differ from their input beyond %.0e relative: the numbers "
               "above measure broken copies\n",
               mismatches, TOLERANCE);
    if (json) {
        write_json(json, ctx, quick, min_time, min_reps, rows, nrows, fits, nfits);
        if (fclose(json) != 0) {
            perror(json_path);
            return 1;
        }
        printf("\nwrote %s\n", json_path);
    }
    free(rows);
    free(fits);
    free(devs);
    free(props);
    pce_context_destroy(ctx);
    return mismatches ? 3 : 0;
}
