/* bench_report_util.h — private to bench_report.c and bench_html.c: the
 * formatting, lookups and file handling that the text table, JSON, CSV and
 * the HTML page share. All defined once, in bench_report.c; nothing here is
 * part of bench.h's interface. */
#ifndef PCE_TOOLS_BENCH_REPORT_UTIL_H
#define PCE_TOOLS_BENCH_REPORT_UTIL_H

#include "bench.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct json_object;

/* The report's devices, then any device a result names that the list lacks
 * (a hand-made or partly read report), in order; peers are not columns.
 * The names are borrowed from the report; `name` is the caller's to free. */
typedef struct bench_devlist {
    const char **name;
    int n;
} bench_devlist;

/* "ok", "skipped", "unsupported", "failed" (the JSON and CSV word). */
const char *bench_status_word(bench_status s);
/* The table's short form of a status that has no rate: "skip", "FAIL". */
const char *bench_status_cell(bench_status s);
/* rep->n_devices clamped to 0..BENCH_MAX_DEVICES. */
int bench_n_devices(const bench_report *rep);
bool bench_is_peer(const bench_result *r);

/* The unit a rate is shown in ("GFLOP/s"), and the factor from `unit` to it. */
const char *bench_shown_unit(const char *unit, double *scale);
/* Three significant digits; "-" when not finite. */
void bench_fmt_sig3(char *buf, size_t cap, double v);
/* "123 GFLOP/s" */
void bench_fmt_rate(char *buf, size_t cap, double rate, const char *unit);
/* A result's cell, without the best marker: "123 (45%)", "skip"; "-" for NULL. */
void bench_fmt_cell(char *buf, size_t cap, const bench_result *r);

/* The result of that case on that device, borrowed from rep; NULL if none. */
const bench_result *bench_find_result(const bench_report *rep, const char *suite, const char *name,
                                      const char *device);
/* Fills d (d->name malloc'd, freed by the caller). 0, or -1 when out of memory. */
int bench_devlist_build(const bench_report *rep, bench_devlist *d);
/* Indices of the first result of each case of `suite`, in order of first
 * appearance; malloc'd, freed by the caller. NULL when out of memory. */
int *bench_case_list(const bench_report *rep, const char *suite, int *n);
/* The highest rate among the case's ok results, and how many there are. */
double bench_best_rate(const bench_report *rep, const bench_devlist *d, const bench_result *c,
                       int *n_ok);
/* The case's unit, from the first device that gives one. */
const char *bench_case_unit(const bench_report *rep, const bench_devlist *d, const bench_result *c);

/* fopen for writing; NULL with a message on stderr naming the file. */
FILE *bench_open_out(const char *path);
/* Closes f; -1 with a message if anything written to it was lost. */
int bench_close_out(FILE *f, const char *path);
/* Parses exactly one JSON value (strict); the caller puts the object. On
 * failure NULL, and `why` says what is wrong. */
struct json_object *bench_parse_json(const char *text, size_t len, char *why, size_t why_cap);

#endif
