/* bench.h — `pce bench`: every backend on the same work, in one run.
 *
 * bench.c measures (the op and graph suites on each device, and the peers:
 * OpenBLAS sgemm called directly, memcpy, a cross-device copy, an FMA
 * microkernel) and fills a bench_report; bench_report.c prints it as a
 * table and writes it as JSON (schema: docs/bench-json.md) and CSV, reads
 * such JSON back and compares two runs; bench_html.c writes it as a
 * self-contained HTML page with SVG charts. Public API only (pce.h), plus json-c. */
#ifndef PCE_TOOLS_BENCH_H
#define PCE_TOOLS_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_MAX_DEVICES 16

/* Seconds per run over the timed repetitions. */
typedef struct bench_stats {
    double min, median, p90, p99, max, mean;
    int reps;
} bench_stats;

typedef enum bench_status {
    BENCH_OK = 0,
    BENCH_SKIPPED,     /* not run: too slow for the time limit, or not asked for */
    BENCH_UNSUPPORTED, /* the device cannot run it (strict placement said why) */
    BENCH_FAILED,      /* a pce call failed or the result was wrong */
} bench_status;

/* One case on one device (or one peer measurement: device "peer"). */
typedef struct bench_result {
    char suite[8];   /* "ops", "graphs", "peers" */
    char name[80];   /* "matmul f32 1024x1024x1024", "decoder prefill 512" */
    char device[32]; /* "cpu0", "vulkan0"; "peer" for the peers */
    bench_status status;
    char note[256];        /* why, when not BENCH_OK; what a peer is */
    bench_stats t;         /* seconds per run */
    double work;           /* per run, in unit's numerator: FLOP or bytes */
    char unit[8];          /* "FLOP/s" or "B/s" */
    double rate;           /* work / t.median */
    double ceiling;        /* the ceiling in `unit` this case is held against; 0: none */
    char ceiling_what[96]; /* "FMA peak, measured (cpu)", "[perf] gflops (profile)" */
    double pct_of_ceiling; /* 100 * rate / ceiling; 0 when no ceiling */
    uint64_t peak_bytes;   /* the plan's activation memory (pce_plan_stats.peak_bytes) */
    double tokens;         /* graph cases: tokens per run (0 otherwise) */
} bench_result;

typedef struct bench_report {
    bench_result *r;
    int n, cap;
    /* the run */
    char date[32];    /* ISO 8601, UTC */
    char version[32]; /* pce_version_string() */
    char commit[48];  /* git commit of the build, "" if unknown */
    char build[256];  /* build options ("cuda=on vulkan=on openblas=on ...") */
    char suite[8];    /* "ops", "graphs", "all" */
    bool quick;
    double seconds; /* wall time of the whole run */
    char devices[BENCH_MAX_DEVICES][32];
    char device_desc[BENCH_MAX_DEVICES][128];
    int n_devices;
    /* the machine: pce_devices_explain_json's text (snapshot, matched
     * profiles, ranking, OpenBLAS decision); NULL if unknown. Owned. */
    char *machine_json;
} bench_report;

/* Appends a copy of r; returns the stored one (NULL if out of memory). */
bench_result *bench_report_add(bench_report *rep, const bench_result *r);
void bench_report_free(bench_report *rep);

/* The comparison table on `out`: one row per case, one column per device
 * (rate in a readable unit, % of ceiling, the best marked with '*'), then
 * the peers; graph cases also give p90/p99 latency and tokens/s. */
void bench_print_table(const bench_report *rep, FILE *out);
/* Each returns 0, or -1 with a message on stderr naming the file. */
int bench_write_json(const bench_report *rep, const char *path);
int bench_write_csv(const bench_report *rep, const char *path);
int bench_write_html(const bench_report *rep, const char *path);
int bench_read_json(const char *path, bench_report *out);
/* `pce bench --compare a.json b.json`: per case and device present in both,
 * b's rate over a's (>1: b faster), and the geometric mean per device.
 * Returns 0, or 2 when a file cannot be read. */
int bench_compare(const char *a, const char *b, FILE *out);

/* `pce bench ARGS` (bench.c): argv excludes "pce bench". Exit status: 0
 * ok, 1 a pce call or a report file failed, 2 bad usage, 3 a device's
 * result did not match the first device's. */
int pce_bench_main(int argc, char **argv);

#endif
