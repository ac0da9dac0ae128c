/* bench_report.c — what `pce bench` hands back: the text comparison table,
 * the JSON file (schema: docs/bench-json.md) written and read back, CSV, and
 * the comparison of two runs; the HTML page is bench_html.c, on the helpers
 * declared in bench_report_util.h and defined here. Needs json-c and libc
 * only (not libpce), so a saved run can be read and compared anywhere. */
#include "bench.h"
#include "bench_report_util.h"

#include <json.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_JSON_FORMAT "pce-bench"
#define BENCH_JSON_VERSION 1
/* A report is a few hundred KiB; anything far larger is not one. */
#define BENCH_JSON_MAX_BYTES (256u << 20)
/* The text table's case column is cut to this many characters, so that
 * three devices fit in about 120 columns. */
#define NAME_COL_MAX 44

/* ---- the report ---------------------------------------------------------- */

#define TERMINATE(a) ((a)[sizeof(a) - 1] = '\0')

bench_result *bench_report_add(bench_report *rep, const bench_result *r)
{
    if (rep->n < 0 || rep->cap < 0 || rep->n > rep->cap)
        return NULL;
    if (rep->n == rep->cap) {
        if (rep->cap > INT_MAX / 2)
            return NULL;
        int cap = rep->cap ? rep->cap * 2 : 32;
        if ((size_t)cap > SIZE_MAX / sizeof *rep->r)
            return NULL;
        bench_result *p = realloc(rep->r, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        rep->r = p;
        rep->cap = cap;
    }
    bench_result *d = &rep->r[rep->n++];
    *d = *r;
    /* Every later use reads these as C strings. */
    TERMINATE(d->suite);
    TERMINATE(d->name);
    TERMINATE(d->device);
    TERMINATE(d->note);
    TERMINATE(d->unit);
    TERMINATE(d->ceiling_what);
    return d;
}

void bench_report_free(bench_report *rep)
{
    if (!rep)
        return;
    free(rep->r);
    free(rep->machine_json);
    memset(rep, 0, sizeof *rep);
}

/* ---- shared helpers (bench_report_util.h) --------------------------------- */

const char *bench_status_word(bench_status s)
{
    switch (s) {
    case BENCH_OK: return "ok";
    case BENCH_SKIPPED: return "skipped";
    case BENCH_UNSUPPORTED: return "unsupported";
    case BENCH_FAILED: return "failed";
    }
    return "failed";
}

/* The table's short form of a status that has no rate. */
const char *bench_status_cell(bench_status s)
{
    switch (s) {
    case BENCH_SKIPPED: return "skip";
    case BENCH_UNSUPPORTED: return "unsup";
    case BENCH_FAILED: return "FAIL";
    default: return "?";
    }
}

int bench_n_devices(const bench_report *rep)
{
    int n = rep->n_devices;
    return n < 0 ? 0 : n > BENCH_MAX_DEVICES ? BENCH_MAX_DEVICES : n;
}

bool bench_is_peer(const bench_result *r)
{
    return strcmp(r->suite, "peers") == 0;
}

/* The unit a rate is shown in, and the factor from `unit` to it. */
const char *bench_shown_unit(const char *unit, double *scale)
{
    if (strcmp(unit, "FLOP/s") == 0) {
        *scale = 1e-9;
        return "GFLOP/s";
    }
    if (strcmp(unit, "B/s") == 0) {
        *scale = 1e-9;
        return "GB/s";
    }
    *scale = 1;
    return unit;
}

/* Three significant digits, without an exponent from 0.001 up ("1234" keeps
 * its four: an exponent is harder to read than one digit too many). */
void bench_fmt_sig3(char *buf, size_t cap, double v)
{
    double a = fabs(v);
    if (!isfinite(v))
        snprintf(buf, cap, "-");
    else if (a == 0)
        snprintf(buf, cap, "0");
    else if (a >= 99.95)
        snprintf(buf, cap, "%.0f", v);
    else if (a >= 9.995)
        snprintf(buf, cap, "%.1f", v);
    else if (a >= 0.9995)
        snprintf(buf, cap, "%.2f", v);
    else
        snprintf(buf, cap, "%.3g", v);
}

/* "123 GFLOP/s" */
void bench_fmt_rate(char *buf, size_t cap, double rate, const char *unit)
{
    double scale;
    const char *u = bench_shown_unit(unit, &scale);
    char num[32];
    bench_fmt_sig3(num, sizeof num, rate * scale);
    snprintf(buf, cap, "%s%s%s", num, *u ? " " : "", u);
}

/* A result's cell, without the best marker: "123 (45%)", "skip". */
void bench_fmt_cell(char *buf, size_t cap, const bench_result *r)
{
    if (!r) {
        snprintf(buf, cap, "-");
        return;
    }
    if (r->status != BENCH_OK) {
        snprintf(buf, cap, "%s", bench_status_cell(r->status));
        return;
    }
    double scale;
    bench_shown_unit(r->unit, &scale);
    char num[32];
    bench_fmt_sig3(num, sizeof num, r->rate * scale);
    if (r->pct_of_ceiling > 0 && isfinite(r->pct_of_ceiling)) {
        if (r->pct_of_ceiling < 0.5)
            snprintf(buf, cap, "%s (<1%%)", num);
        else
            snprintf(buf, cap, "%s (%.0f%%)", num, r->pct_of_ceiling);
    } else {
        snprintf(buf, cap, "%s", num);
    }
}

static void copy_cut(char *dst, size_t cap, const char *src, size_t max_w)
{
    size_t n = strlen(src);
    if (n <= max_w || max_w < 4)
        snprintf(dst, cap, "%s", src);
    else
        snprintf(dst, cap, "%.*s...", (int)(max_w - 3), src);
}

const bench_result *bench_find_result(const bench_report *rep, const char *suite, const char *name,
                                      const char *device)
{
    for (int i = 0; i < rep->n; i++) {
        const bench_result *r = &rep->r[i];
        if (strcmp(r->suite, suite) == 0 && strcmp(r->name, name) == 0 &&
            strcmp(r->device, device) == 0)
            return r;
    }
    return NULL;
}

static void devlist_add(bench_devlist *d, const char *name)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->name[i], name) == 0)
            return;
    d->name[d->n++] = name;
}

int bench_devlist_build(const bench_report *rep, bench_devlist *d)
{
    size_t cap = (size_t)bench_n_devices(rep) + (size_t)(rep->n > 0 ? rep->n : 0) + 1;
    d->n = 0;
    d->name = malloc(cap * sizeof *d->name);
    if (!d->name)
        return -1;
    for (int i = 0; i < bench_n_devices(rep); i++)
        devlist_add(d, rep->devices[i]);
    for (int i = 0; i < rep->n; i++)
        if (!bench_is_peer(&rep->r[i]))
            devlist_add(d, rep->r[i].device);
    return 0;
}

/* Indices of the first result of each case of `suite`, in order of first
 * appearance. Returns NULL when out of memory. */
int *bench_case_list(const bench_report *rep, const char *suite, int *n)
{
    int *c = malloc(((size_t)(rep->n > 0 ? rep->n : 0) + 1) * sizeof *c);
    *n = 0;
    if (!c)
        return NULL;
    for (int i = 0; i < rep->n; i++) {
        if (strcmp(rep->r[i].suite, suite) != 0)
            continue;
        bool seen = false;
        for (int k = 0; k < *n && !seen; k++)
            seen = strcmp(rep->r[c[k]].name, rep->r[i].name) == 0;
        if (!seen)
            c[(*n)++] = i;
    }
    return c;
}

/* The highest rate among the case's ok results, and how many there are. */
double bench_best_rate(const bench_report *rep, const bench_devlist *d, const bench_result *c,
                       int *n_ok)
{
    double best = 0;
    *n_ok = 0;
    for (int k = 0; k < d->n; k++) {
        const bench_result *r = bench_find_result(rep, c->suite, c->name, d->name[k]);
        if (r && r->status == BENCH_OK && isfinite(r->rate)) {
            (*n_ok)++;
            if (r->rate > best)
                best = r->rate;
        }
    }
    return best;
}

const char *bench_case_unit(const bench_report *rep, const bench_devlist *d, const bench_result *c)
{
    for (int k = 0; k < d->n; k++) {
        const bench_result *r = bench_find_result(rep, c->suite, c->name, d->name[k]);
        if (r && r->unit[0])
            return r->unit;
    }
    return c->unit;
}

/* ---- text grids ---------------------------------------------------------- */

/* A table of short strings printed with each column as wide as its widest
 * cell; `align` has one 'l' or 'r' per column. */
#define GRID_CELL 320

typedef struct grid {
    char *cells;
    int rows, cols, used;
} grid;

static int grid_init(grid *g, int rows, int cols)
{
    g->rows = rows > 0 ? rows : 1;
    g->cols = cols;
    g->used = 0;
    g->cells = calloc((size_t)g->rows * (size_t)cols, GRID_CELL);
    return g->cells ? 0 : -1;
}

static char *grid_at(grid *g, int row, int col)
{
    return g->cells + ((size_t)row * (size_t)g->cols + (size_t)col) * GRID_CELL;
}

/* Starts the next row; returns its index, or -1 when the grid is full. */
static int grid_row(grid *g)
{
    return g->used < g->rows ? g->used++ : -1;
}

static void grid_set(grid *g, int row, int col, const char *fmt, ...)
{
    if (row < 0 || col < 0 || col >= g->cols)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(grid_at(g, row, col), GRID_CELL, fmt, ap);
    va_end(ap);
}

static void grid_print(grid *g, FILE *out, const char *align, int indent)
{
    size_t *w = calloc((size_t)g->cols, sizeof *w);
    if (!w) {
        fprintf(stderr, "bench: out of memory printing a table\n");
        return;
    }
    size_t line_cap = (size_t)indent + 2;
    for (int c = 0; c < g->cols; c++) {
        for (int r = 0; r < g->used; r++) {
            size_t n = strlen(grid_at(g, r, c));
            if (n > w[c])
                w[c] = n;
        }
        line_cap += w[c] + 2;
    }
    char *line = malloc(line_cap);
    if (!line) {
        free(w);
        fprintf(stderr, "bench: out of memory printing a table\n");
        return;
    }
    for (int r = 0; r < g->used; r++) {
        size_t at = 0;
        memset(line, ' ', (size_t)indent);
        at += (size_t)indent;
        for (int c = 0; c < g->cols; c++) {
            const char *s = grid_at(g, r, c);
            size_t n = strlen(s), pad = w[c] - n;
            if (c > 0) {
                memcpy(line + at, "  ", 2);
                at += 2;
            }
            if (align[c] == 'r') {
                memset(line + at, ' ', pad);
                at += pad;
            }
            memcpy(line + at, s, n);
            at += n;
            if (align[c] != 'r') {
                memset(line + at, ' ', pad);
                at += pad;
            }
        }
        while (at > 0 && line[at - 1] == ' ')
            at--;
        line[at] = '\0';
        fprintf(out, "%s\n", line);
    }
    free(line);
    free(w);
}

static void grid_free(grid *g)
{
    free(g->cells);
    g->cells = NULL;
}

/* ---- the text table ------------------------------------------------------ */

static void print_graph_block(const bench_report *rep, const bench_devlist *d, FILE *out)
{
    int nc;
    int *cases = bench_case_list(rep, "graphs", &nc);
    if (!cases) {
        fprintf(stderr, "bench: out of memory printing the table\n");
        return;
    }
    grid g;
    if (nc == 0 || grid_init(&g, 1 + nc * d->n, 6) != 0) {
        if (nc > 0)
            fprintf(stderr, "bench: out of memory printing the table\n");
        free(cases);
        return;
    }
    int row = grid_row(&g);
    const char *head[6] = {"graph latency", "device", "median ms", "p90 ms", "p99 ms", "tokens/s"};
    for (int c = 0; c < 6; c++)
        grid_set(&g, row, c, "%s", head[c]);
    for (int i = 0; i < nc; i++) {
        const bench_result *c = &rep->r[cases[i]];
        bool first = true;
        for (int k = 0; k < d->n; k++) {
            const bench_result *r = bench_find_result(rep, "graphs", c->name, d->name[k]);
            if (!r || r->status != BENCH_OK)
                continue;
            row = grid_row(&g);
            char name[NAME_COL_MAX + 1], v[32];
            copy_cut(name, sizeof name, c->name, NAME_COL_MAX);
            grid_set(&g, row, 0, "%s", first ? name : "");
            first = false;
            grid_set(&g, row, 1, "%s", r->device);
            bench_fmt_sig3(v, sizeof v, r->t.median * 1e3);
            grid_set(&g, row, 2, "%s", v);
            bench_fmt_sig3(v, sizeof v, r->t.p90 * 1e3);
            grid_set(&g, row, 3, "%s", v);
            bench_fmt_sig3(v, sizeof v, r->t.p99 * 1e3);
            grid_set(&g, row, 4, "%s", v);
            if (r->tokens > 0 && r->t.median > 0)
                bench_fmt_sig3(v, sizeof v, r->tokens / r->t.median);
            else
                snprintf(v, sizeof v, "-");
            grid_set(&g, row, 5, "%s", v);
        }
    }
    if (g.used > 1) {
        fprintf(out, "\n");
        grid_print(&g, out, "llrrrr", 0);
    }
    grid_free(&g);
    free(cases);
}

static void print_peers_block(const bench_report *rep, FILE *out)
{
    int np = 0;
    for (int i = 0; i < rep->n; i++)
        np += bench_is_peer(&rep->r[i]);
    if (np == 0)
        return;
    grid g;
    if (grid_init(&g, 1 + np, 3) != 0) {
        fprintf(stderr, "bench: out of memory printing the table\n");
        return;
    }
    int row = grid_row(&g);
    grid_set(&g, row, 0, "peers");
    grid_set(&g, row, 1, "rate");
    grid_set(&g, row, 2, "what");
    for (int i = 0; i < rep->n; i++) {
        const bench_result *r = &rep->r[i];
        if (!bench_is_peer(r))
            continue;
        row = grid_row(&g);
        char rate[64];
        if (r->status == BENCH_OK)
            bench_fmt_rate(rate, sizeof rate, r->rate, r->unit);
        else
            snprintf(rate, sizeof rate, "%s", bench_status_cell(r->status));
        grid_set(&g, row, 0, "%s", r->name);
        grid_set(&g, row, 1, "%s", rate);
        grid_set(&g, row, 2, "%s", r->note);
    }
    fprintf(out, "\n");
    grid_print(&g, out, "lrl", 0);
    grid_free(&g);
}

static bool has_ceiling(const bench_result *r)
{
    return !bench_is_peer(r) && r->ceiling > 0 && isfinite(r->ceiling);
}

static bool same_ceiling_kind(const bench_result *a, const bench_result *b)
{
    return strcmp(a->device, b->device) == 0 && strcmp(a->unit, b->unit) == 0 &&
           strcmp(a->ceiling_what, b->ceiling_what) == 0;
}

/* What the percentages are of: one line per device and kind of ceiling,
 * with its value (or range, when it differs between cases). */
static void print_ceilings(const bench_report *rep, FILE *out)
{
    bool any = false;
    for (int i = 0; i < rep->n; i++) {
        const bench_result *r = &rep->r[i];
        if (!has_ceiling(r))
            continue;
        bool seen = false;
        for (int k = 0; k < i && !seen; k++)
            seen = has_ceiling(&rep->r[k]) && same_ceiling_kind(&rep->r[k], r);
        if (seen)
            continue;
        double lo = r->ceiling, hi = r->ceiling;
        for (int k = i + 1; k < rep->n; k++)
            if (has_ceiling(&rep->r[k]) && same_ceiling_kind(&rep->r[k], r)) {
                lo = fmin(lo, rep->r[k].ceiling);
                hi = fmax(hi, rep->r[k].ceiling);
            }
        if (!any)
            fprintf(out, "ceilings (what (NN%%) is of):\n");
        any = true;
        char a[64], b[64];
        bench_fmt_rate(a, sizeof a, lo, r->unit);
        bench_fmt_rate(b, sizeof b, hi, r->unit);
        if (lo == hi)
            fprintf(out, "  %s: %s, %s\n", r->device, a, r->ceiling_what);
        else
            fprintf(out, "  %s: %s to %s by case, %s\n", r->device, a, b, r->ceiling_what);
    }
}

void bench_print_table(const bench_report *rep, FILE *out)
{
    bench_devlist d;
    if (bench_devlist_build(rep, &d) != 0) {
        fprintf(stderr, "bench: out of memory printing the table\n");
        return;
    }
    static const char *const suites[2] = {"ops", "graphs"};
    int nc[2] = {0, 0};
    int *cases[2];
    cases[0] = bench_case_list(rep, suites[0], &nc[0]);
    cases[1] = bench_case_list(rep, suites[1], &nc[1]);
    char *align = malloc((size_t)d.n + 3);
    grid g = {0};
    if (!cases[0] || !cases[1] || !align || grid_init(&g, 3 + nc[0] + nc[1], 2 + d.n) != 0) {
        fprintf(stderr, "bench: out of memory printing the table\n");
        goto done;
    }
    align[0] = 'l';
    align[1] = 'l';
    memset(align + 2, 'r', (size_t)d.n);
    align[2 + d.n] = '\0';

    int row = grid_row(&g);
    grid_set(&g, row, 0, "case");
    grid_set(&g, row, 1, "unit");
    for (int k = 0; k < d.n; k++)
        grid_set(&g, row, 2 + k, "%s ", d.name[k]); /* the space: over the marker */
    for (int s = 0; s < 2; s++) {
        if (nc[s] == 0)
            continue;
        row = grid_row(&g);
        grid_set(&g, row, 0, "[%s]", suites[s]);
        for (int i = 0; i < nc[s]; i++) {
            const bench_result *c = &rep->r[cases[s][i]];
            int n_ok;
            double best = bench_best_rate(rep, &d, c, &n_ok);
            double scale;
            row = grid_row(&g);
            char name[NAME_COL_MAX + 1];
            copy_cut(name, sizeof name, c->name, NAME_COL_MAX);
            grid_set(&g, row, 0, "%s", name);
            grid_set(&g, row, 1, "%s", bench_shown_unit(bench_case_unit(rep, &d, c), &scale));
            for (int k = 0; k < d.n; k++) {
                const bench_result *r = bench_find_result(rep, c->suite, c->name, d.name[k]);
                char cell[64];
                bench_fmt_cell(cell, sizeof cell, r);
                bool is_best = r && r->status == BENCH_OK && n_ok >= 2 && r->rate == best;
                grid_set(&g, row, 2 + k, "%s%c", cell, is_best ? '*' : ' ');
            }
        }
    }
    if (nc[0] + nc[1] > 0) {
        grid_print(&g, out, align, 0);
        fprintf(out, "* the best on the row; (NN%%) of the case's ceiling on that device\n");
    }
    print_ceilings(rep, out);

    bool any_failed = false;
    for (int i = 0; i < rep->n; i++) {
        const bench_result *r = &rep->r[i];
        if (r->status != BENCH_FAILED)
            continue;
        if (!any_failed)
            fprintf(out, "\nfailures:\n");
        any_failed = true;
        fprintf(out, "  %s %s: %s\n", r->device, r->name, r->note[0] ? r->note : "(no note)");
    }
    print_graph_block(rep, &d, out);
    print_peers_block(rep, out);
done:
    grid_free(&g);
    free(align);
    free(cases[0]);
    free(cases[1]);
    free(d.name);
}

/* ---- files --------------------------------------------------------------- */

FILE *bench_open_out(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fprintf(stderr, "%s: cannot open for writing: %s\n", path, strerror(errno));
    return f;
}

/* Closes f; -1 with a message if anything written to it was lost. */
int bench_close_out(FILE *f, const char *path)
{
    int err = ferror(f);
    int saved = errno;
    if (fclose(f) != 0 && !err) {
        err = 1;
        saved = errno;
    }
    if (err) {
        fprintf(stderr, "%s: write failed: %s\n", path, strerror(saved));
        return -1;
    }
    return 0;
}

/* Reads a whole file; NULL with a message on stderr. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fprintf(stderr, "%s: out of memory reading it (%zu bytes)\n", path, cap);
        fclose(f);
        return NULL;
    }
    for (;;) {
        if (n + 1 == cap) {
            if (cap >= BENCH_JSON_MAX_BYTES) {
                fprintf(stderr, "%s: larger than %u MiB: not a pce-bench JSON\n", path,
                        BENCH_JSON_MAX_BYTES >> 20);
                free(buf);
                fclose(f);
                return NULL;
            }
            char *p = realloc(buf, cap * 2);
            if (!p) {
                fprintf(stderr, "%s: out of memory reading it (%zu bytes)\n", path, cap * 2);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: read failed: %s\n", path, strerror(errno));
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Parses exactly one JSON value (strict syntax, nothing after it but
 * white space). On failure NULL, and `why` says what is wrong. */
json_object *bench_parse_json(const char *text, size_t len, char *why, size_t why_cap)
{
    if (strlen(text) != len) {
        snprintf(why, why_cap, "a NUL byte at offset %zu", strlen(text));
        return NULL;
    }
    if (len > INT_MAX) {
        snprintf(why, why_cap, "too large");
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        snprintf(why, why_cap, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (!o && e == json_tokener_continue) {
        /* A bare number is complete only once the input ends. */
        o = json_tokener_parse_ex(tok, "", 1);
        e = json_tokener_get_error(tok);
        end = len;
    }
    if (!o || e != json_tokener_success) {
        snprintf(why, why_cap, "%s near offset %zu",
                 e == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(e), end);
        json_object_put(o);
        json_tokener_free(tok);
        return NULL;
    }
    json_tokener_free(tok);
    for (size_t i = end; i < len; i++)
        if (!strchr(" \t\r\n", text[i])) {
            snprintf(why, why_cap, "unexpected text after the JSON value at offset %zu", i);
            json_object_put(o);
            return NULL;
        }
    return o;
}

/* ---- JSON out ------------------------------------------------------------ */

/* json-c object building; `*oom` is set when any piece could not be made. */
static void put(json_object *o, const char *key, json_object *v, bool *oom)
{
    if (!v) {
        *oom = true;
        return;
    }
    if (json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        *oom = true;
    }
}

static void put_str(json_object *o, const char *key, const char *s, bool *oom)
{
    put(o, key, json_object_new_string(s), oom);
}

/* Numbers with 15 significant digits (0.1 stays "0.1"); null when not
 * finite, which JSON cannot say. */
static void put_num(json_object *o, const char *key, double v, bool *oom)
{
    if (!isfinite(v)) {
        if (json_object_object_add(o, key, NULL) != 0)
            *oom = true;
        return;
    }
    char s[40];
    snprintf(s, sizeof s, "%.15g", v);
    put(o, key, json_object_new_double_s(v, s), oom);
}

static json_object *result_json(const bench_result *r, bool *oom)
{
    json_object *o = json_object_new_object();
    if (!o) {
        *oom = true;
        return NULL;
    }
    put_str(o, "suite", r->suite, oom);
    put_str(o, "name", r->name, oom);
    put_str(o, "device", r->device, oom);
    put_str(o, "status", bench_status_word(r->status), oom);
    put_str(o, "note", r->note, oom);
    put_str(o, "unit", r->unit, oom);
    put_num(o, "work", r->work, oom);
    put_num(o, "rate", r->rate, oom);
    put_num(o, "ceiling", r->ceiling, oom);
    put_str(o, "ceiling_what", r->ceiling_what, oom);
    put_num(o, "pct_of_ceiling", r->pct_of_ceiling, oom);
    put(o, "peak_bytes", json_object_new_uint64(r->peak_bytes), oom);
    put_num(o, "tokens", r->tokens, oom);
    json_object *t = json_object_new_object();
    if (t) {
        put_num(t, "min", r->t.min, oom);
        put_num(t, "median", r->t.median, oom);
        put_num(t, "p90", r->t.p90, oom);
        put_num(t, "p99", r->t.p99, oom);
        put_num(t, "max", r->t.max, oom);
        put_num(t, "mean", r->t.mean, oom);
        put(t, "reps", json_object_new_int(r->t.reps), oom);
    }
    put(o, "time_s", t, oom);
    return o;
}

int bench_write_json(const bench_report *rep, const char *path)
{
    bool oom = false;
    json_object *root = json_object_new_object();
    if (!root) {
        fprintf(stderr, "%s: out of memory building the JSON\n", path);
        return -1;
    }
    put_str(root, "format", BENCH_JSON_FORMAT, &oom);
    put(root, "version", json_object_new_int(BENCH_JSON_VERSION), &oom);
    put_str(root, "date", rep->date, &oom);
    put_str(root, "pce_version", rep->version, &oom);
    put_str(root, "commit", rep->commit, &oom);
    put_str(root, "build", rep->build, &oom);
    put_str(root, "suite", rep->suite, &oom);
    put(root, "quick", json_object_new_boolean(rep->quick), &oom);
    put_num(root, "seconds", rep->seconds, &oom);

    json_object *devs = json_object_new_array();
    for (int i = 0; devs && i < bench_n_devices(rep); i++) {
        json_object *d = json_object_new_object();
        if (!d) {
            oom = true;
            break;
        }
        put_str(d, "name", rep->devices[i], &oom);
        put_str(d, "description", rep->device_desc[i], &oom);
        if (json_object_array_add(devs, d) != 0) {
            json_object_put(d);
            oom = true;
        }
    }
    put(root, "devices", devs, &oom);

    json_object *machine = NULL;
    if (rep->machine_json) {
        char why[160];
        machine = bench_parse_json(rep->machine_json, strlen(rep->machine_json), why, sizeof why);
        if (!machine)
            fprintf(stderr, "%s: the machine description is not JSON (%s); written as null\n", path,
                    why);
    }
    if (json_object_object_add(root, "machine", machine) != 0) {
        json_object_put(machine);
        oom = true;
    }

    json_object *results = json_object_new_array();
    for (int i = 0; results && i < rep->n; i++) {
        json_object *o = result_json(&rep->r[i], &oom);
        if (o && json_object_array_add(results, o) != 0) {
            json_object_put(o);
            oom = true;
        }
    }
    put(root, "results", results, &oom);

    const char *text = NULL;
    if (!oom)
        text =
            json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!text) {
        fprintf(stderr, "%s: out of memory building the JSON\n", path);
        json_object_put(root);
        return -1;
    }
    FILE *f = bench_open_out(path);
    if (!f) {
        json_object_put(root);
        return -1;
    }
    fputs(text, f);
    fputc('\n', f);
    json_object_put(root);
    return bench_close_out(f, path);
}

/* ---- JSON in ------------------------------------------------------------- */

static int bad(const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", path);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

/* A member, or NULL when absent or null. */
static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

static int get_str(const char *path, json_object *o, const char *where, const char *key, char *dst,
                   size_t cap, bool required)
{
    json_object *v = member(o, key);
    dst[0] = '\0';
    if (!v)
        return required ? bad(path, "%s%s\"%s\" is missing", where, *where ? ": " : "", key) : 0;
    if (!json_object_is_type(v, json_type_string))
        return bad(path, "%s%s\"%s\": expected a string", where, *where ? ": " : "", key);
    snprintf(dst, cap, "%s", json_object_get_string(v));
    return 0;
}

/* Absent or null reads as 0 (null is how a non-finite number is written). */
static int get_num(const char *path, json_object *o, const char *where, const char *key,
                   double *dst)
{
    json_object *v = member(o, key);
    *dst = 0;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        return bad(path, "%s%s\"%s\": expected a number", where, *where ? ": " : "", key);
    *dst = json_object_get_double(v);
    return 0;
}

static int get_count(const char *path, json_object *o, const char *where, const char *key,
                     double max, double *dst)
{
    if (get_num(path, o, where, key, dst) != 0)
        return -1;
    if (*dst < 0 || *dst > max || *dst != floor(*dst))
        return bad(path, "%s: \"%s\": expected a whole number from 0 to %.0f", where, key, max);
    return 0;
}

static int read_result(const char *path, json_object *o, int i, bench_result *r)
{
    char where[48];
    snprintf(where, sizeof where, "results[%d]", i);
    if (!json_object_is_type(o, json_type_object))
        return bad(path, "%s: expected an object", where);
    memset(r, 0, sizeof *r);
    char status[16];
    if (get_str(path, o, where, "suite", r->suite, sizeof r->suite, true) ||
        get_str(path, o, where, "name", r->name, sizeof r->name, true) ||
        get_str(path, o, where, "device", r->device, sizeof r->device, true) ||
        get_str(path, o, where, "status", status, sizeof status, true) ||
        get_str(path, o, where, "note", r->note, sizeof r->note, false) ||
        get_str(path, o, where, "unit", r->unit, sizeof r->unit, false) ||
        get_num(path, o, where, "work", &r->work) || get_num(path, o, where, "rate", &r->rate) ||
        get_num(path, o, where, "ceiling", &r->ceiling) ||
        get_str(path, o, where, "ceiling_what", r->ceiling_what, sizeof r->ceiling_what, false) ||
        get_num(path, o, where, "pct_of_ceiling", &r->pct_of_ceiling) ||
        get_num(path, o, where, "tokens", &r->tokens))
        return -1;
    static const bench_status all[] = {BENCH_OK, BENCH_SKIPPED, BENCH_UNSUPPORTED, BENCH_FAILED};
    bool known = false;
    for (size_t k = 0; k < sizeof all / sizeof all[0] && !known; k++)
        if (strcmp(status, bench_status_word(all[k])) == 0) {
            r->status = all[k];
            known = true;
        }
    if (!known)
        return bad(path, "%s: unknown status \"%s\" (ok, skipped, unsupported or failed)", where,
                   status);

    json_object *pb = member(o, "peak_bytes");
    if (pb) {
        if (json_object_is_type(pb, json_type_int) && json_object_get_int64(pb) >= 0) {
            r->peak_bytes = json_object_get_uint64(pb);
        } else {
            double v;
            if (get_count(path, o, where, "peak_bytes", 1.8e19, &v) != 0)
                return -1;
            r->peak_bytes = (uint64_t)v;
        }
    }

    json_object *t = member(o, "time_s");
    if (t) {
        char tw[64];
        snprintf(tw, sizeof tw, "%s.time_s", where);
        if (!json_object_is_type(t, json_type_object))
            return bad(path, "%s: expected an object", tw);
        double reps;
        if (get_num(path, t, tw, "min", &r->t.min) ||
            get_num(path, t, tw, "median", &r->t.median) ||
            get_num(path, t, tw, "p90", &r->t.p90) || get_num(path, t, tw, "p99", &r->t.p99) ||
            get_num(path, t, tw, "max", &r->t.max) || get_num(path, t, tw, "mean", &r->t.mean) ||
            get_count(path, t, tw, "reps", INT_MAX, &reps))
            return -1;
        r->t.reps = (int)reps;
    }
    return 0;
}

static int read_report(const char *path, json_object *root, bench_report *rep)
{
    if (!json_object_is_type(root, json_type_object))
        return bad(path, "not a pce-bench JSON (not a JSON object)");
    json_object *fmt = member(root, "format");
    if (!fmt || !json_object_is_type(fmt, json_type_string))
        return bad(path, "not a pce-bench JSON (format %s)",
                   fmt ? json_object_to_json_string_ext(fmt, JSON_C_TO_STRING_PLAIN) : "missing");
    if (strcmp(json_object_get_string(fmt), BENCH_JSON_FORMAT) != 0)
        return bad(path, "not a pce-bench JSON (format \"%s\")", json_object_get_string(fmt));
    json_object *ver = member(root, "version");
    if (!ver || !json_object_is_type(ver, json_type_int))
        return bad(path, "\"version\" is missing or not a whole number");
    if (json_object_get_int64(ver) != BENCH_JSON_VERSION)
        return bad(path, "pce-bench JSON version %lld; this pce reads version %d",
                   (long long)json_object_get_int64(ver), BENCH_JSON_VERSION);

    if (get_str(path, root, "", "date", rep->date, sizeof rep->date, false) ||
        get_str(path, root, "", "pce_version", rep->version, sizeof rep->version, false) ||
        get_str(path, root, "", "commit", rep->commit, sizeof rep->commit, false) ||
        get_str(path, root, "", "build", rep->build, sizeof rep->build, false) ||
        get_str(path, root, "", "suite", rep->suite, sizeof rep->suite, false) ||
        get_num(path, root, "", "seconds", &rep->seconds))
        return -1;
    json_object *q = member(root, "quick");
    if (q && !json_object_is_type(q, json_type_boolean))
        return bad(path, "\"quick\": expected true or false");
    rep->quick = q && json_object_get_boolean(q);

    json_object *devs = member(root, "devices");
    if (devs) {
        if (!json_object_is_type(devs, json_type_array))
            return bad(path, "\"devices\": expected an array");
        size_t n = json_object_array_length(devs);
        if (n > BENCH_MAX_DEVICES)
            return bad(path, "\"devices\": %zu devices, more than the %d pce bench reports", n,
                       BENCH_MAX_DEVICES);
        for (size_t i = 0; i < n; i++) {
            json_object *d = json_object_array_get_idx(devs, i);
            char where[32];
            snprintf(where, sizeof where, "devices[%zu]", i);
            if (!json_object_is_type(d, json_type_object))
                return bad(path, "%s: expected an object", where);
            if (get_str(path, d, where, "name", rep->devices[i], sizeof rep->devices[i], true) ||
                get_str(path, d, where, "description", rep->device_desc[i],
                        sizeof rep->device_desc[i], false))
                return -1;
            rep->n_devices++;
        }
    }

    json_object *m = member(root, "machine");
    if (m) {
        const char *s = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN);
        rep->machine_json = s ? strdup(s) : NULL;
        if (!rep->machine_json)
            return bad(path, "out of memory keeping the machine description");
    }

    json_object *res = member(root, "results");
    if (res) {
        if (!json_object_is_type(res, json_type_array))
            return bad(path, "\"results\": expected an array");
        size_t n = json_object_array_length(res);
        if (n > INT_MAX / 2)
            return bad(path, "\"results\": too many");
        for (size_t i = 0; i < n; i++) {
            bench_result r;
            if (read_result(path, json_object_array_get_idx(res, i), (int)i, &r) != 0)
                return -1;
            if (!bench_report_add(rep, &r))
                return bad(path, "out of memory at result %zu", i);
        }
    }
    return 0;
}

int bench_read_json(const char *path, bench_report *out)
{
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = slurp(path, &len);
    if (!text)
        return -1;
    char why[160];
    json_object *root = bench_parse_json(text, len, why, sizeof why);
    free(text);
    if (!root)
        return bad(path, "not a pce-bench JSON (not JSON: %s)", why);
    bench_report rep = {0};
    int rc = read_report(path, root, &rep);
    json_object_put(root);
    if (rc != 0) {
        bench_report_free(&rep);
        return -1;
    }
    *out = rep;
    return 0;
}

/* ---- CSV ----------------------------------------------------------------- */

/* RFC 4180: quoted when it holds a comma, a quote or a line break, with
 * quotes doubled. */
static void csv_field(FILE *f, const char *s, bool last)
{
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputc(last ? '\n' : ',', f);
}

static void csv_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.9g,", v);
    else
        fputc(',', f);
}

int bench_write_csv(const bench_report *rep, const char *path)
{
    FILE *f = bench_open_out(path);
    if (!f)
        return -1;
    fputs("suite,name,device,status,unit,work,rate,ceiling,pct_of_ceiling,min_s,median_s,p90_s,"
          "p99_s,max_s,reps,peak_bytes,tokens,note\n",
          f);
    for (int i = 0; i < rep->n; i++) {
        const bench_result *r = &rep->r[i];
        csv_field(f, r->suite, false);
        csv_field(f, r->name, false);
        csv_field(f, r->device, false);
        csv_field(f, bench_status_word(r->status), false);
        csv_field(f, r->unit, false);
        csv_num(f, r->work);
        csv_num(f, r->rate);
        csv_num(f, r->ceiling);
        csv_num(f, r->pct_of_ceiling);
        csv_num(f, r->t.min);
        csv_num(f, r->t.median);
        csv_num(f, r->t.p90);
        csv_num(f, r->t.p99);
        csv_num(f, r->t.max);
        fprintf(f, "%d,%llu,", r->t.reps, (unsigned long long)r->peak_bytes);
        csv_num(f, r->tokens);
        csv_field(f, r->note, true);
    }
    return bench_close_out(f, path);
}

/* ---- compare ------------------------------------------------------------- */

static void compare_only_in(const bench_report *x, const bench_report *y, const char *which,
                            FILE *out, bool *any)
{
    for (int i = 0; i < x->n; i++) {
        const bench_result *r = &x->r[i];
        if (bench_find_result(y, r->suite, r->name, r->device))
            continue;
        if (!*any)
            fprintf(out, "\n");
        *any = true;
        fprintf(out, "only in %s: %s \"%s\" on %s\n", which, r->suite, r->name, r->device);
    }
}

int bench_compare(const char *a, const char *b, FILE *out)
{
    bench_report ra, rb;
    if (bench_read_json(a, &ra) != 0)
        return 2;
    if (bench_read_json(b, &rb) != 0) {
        bench_report_free(&ra);
        return 2;
    }
    int rc = 0;
    grid g = {0};
    double *sum_log = calloc((size_t)ra.n + 1, sizeof *sum_log);
    int *count = calloc((size_t)ra.n + 1, sizeof *count);
    const char **dev = calloc((size_t)ra.n + 1, sizeof *dev);
    if (!sum_log || !count || !dev || grid_init(&g, 1 + ra.n, 5) != 0) {
        fprintf(stderr, "bench: out of memory comparing %s and %s\n", a, b);
        rc = 2;
        goto done;
    }
    fprintf(out, "a: %s  (%s, pce %s%s%s)\n", a, ra.date, ra.version, ra.commit[0] ? " " : "",
            ra.commit);
    fprintf(out, "b: %s  (%s, pce %s%s%s)\n\n", b, rb.date, rb.version, rb.commit[0] ? " " : "",
            rb.commit);
    int row = grid_row(&g), n_dev = 0;
    const char *head[5] = {"case", "device", "a", "b", "b/a"};
    for (int c = 0; c < 5; c++)
        grid_set(&g, row, c, "%s", head[c]);
    bool any_other = false;
    for (int i = 0; i < ra.n; i++) {
        const bench_result *x = &ra.r[i];
        const bench_result *y = bench_find_result(&rb, x->suite, x->name, x->device);
        if (!y)
            continue;
        if (x->status != BENCH_OK || y->status != BENCH_OK || strcmp(x->unit, y->unit) != 0)
            continue;
        char va[64], vb[64];
        bench_fmt_rate(va, sizeof va, x->rate, x->unit);
        bench_fmt_rate(vb, sizeof vb, y->rate, y->unit);
        row = grid_row(&g);
        grid_set(&g, row, 0, "%s", x->name);
        grid_set(&g, row, 1, "%s", x->device);
        grid_set(&g, row, 2, "%s", va);
        grid_set(&g, row, 3, "%s", vb);
        double ratio = x->rate > 0 ? y->rate / x->rate : NAN;
        if (isfinite(ratio) && ratio > 0) {
            grid_set(&g, row, 4, "%.2f", ratio);
            int k = 0;
            while (k < n_dev && strcmp(dev[k], x->device) != 0)
                k++;
            if (k == n_dev)
                dev[n_dev++] = x->device;
            sum_log[k] += log(ratio);
            count[k]++;
        } else {
            grid_set(&g, row, 4, "-");
        }
    }
    if (g.used > 1)
        grid_print(&g, out, "llrrr", 0);
    else
        fprintf(out, "no case ran (status ok) on the same device in both files\n");
    if (n_dev > 0) {
        fprintf(out, "\ngeometric mean of b/a (>1: b is faster):\n");
        int w = 0;
        for (int k = 0; k < n_dev; k++)
            if ((int)strlen(dev[k]) > w)
                w = (int)strlen(dev[k]);
        for (int k = 0; k < n_dev; k++)
            fprintf(out, "  %-*s  %.2f  (%d case%s)\n", w, dev[k], exp(sum_log[k] / count[k]),
                    count[k], count[k] == 1 ? "" : "s");
    }
    for (int i = 0; i < ra.n; i++) {
        const bench_result *x = &ra.r[i];
        const bench_result *y = bench_find_result(&rb, x->suite, x->name, x->device);
        if (!y || (x->status == BENCH_OK && y->status == BENCH_OK && !strcmp(x->unit, y->unit)))
            continue;
        if (!any_other)
            fprintf(out, "\n");
        any_other = true;
        if (strcmp(x->unit, y->unit) != 0 && x->status == BENCH_OK && y->status == BENCH_OK)
            fprintf(out, "not compared: %s \"%s\" on %s: units differ (%s, %s)\n", x->suite,
                    x->name, x->device, x->unit, y->unit);
        else
            fprintf(out, "not compared: %s \"%s\" on %s: a %s, b %s\n", x->suite, x->name,
                    x->device, bench_status_word(x->status), bench_status_word(y->status));
    }
    compare_only_in(&ra, &rb, "a", out, &any_other);
    compare_only_in(&rb, &ra, "b", out, &any_other);
done:
    grid_free(&g);
    free(sum_log);
    free(count);
    free(dev);
    bench_report_free(&ra);
    bench_report_free(&rb);
    return rc;
}
