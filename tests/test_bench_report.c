/* test_bench_report.c — `pce bench`'s report without running a benchmark:
 * a hand-made report (two devices; ops cases ok, skipped and failed; a graph
 * case with tokens; a peer) survives JSON write and read field by field; CSV
 * quotes per RFC 4180; the HTML page is self-contained and escapes notes; the
 * text table marks the faster device in its own column; compare finds a 2x
 * speed-up; garbage and foreign JSON are refused with a message, never a
 * crash. */
#include <check.h>
#include <json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "bench.h"

static char dir[64];
static char path_buf[4][160];
static unsigned seed;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/pce-bench-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[400];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* A path in the test's directory; up to four live at once. */
static const char *tmp(const char *name)
{
    static int next;
    char *p = path_buf[next++ % 4];
    snprintf(p, sizeof path_buf[0], "%s/%s", dir, name);
    return p;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *buf = malloc(1 << 20);
    ck_assert_ptr_nonnull(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* A value in [lo, 2 lo): random digits, so 15-digit printing is tested. */
static double rnd(double lo)
{
    return lo * (1.0 + (double)rand() / ((double)RAND_MAX + 1.0));
}

static bench_result res(const char *suite, const char *name, const char *device, bench_status st,
                        const char *unit, double rate, double ceiling, const char *note)
{
    bench_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.suite, sizeof r.suite, "%s", suite);
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.device, sizeof r.device, "%s", device);
    snprintf(r.note, sizeof r.note, "%s", note);
    snprintf(r.unit, sizeof r.unit, "%s", unit);
    r.status = st;
    if (st != BENCH_OK)
        return r;
    r.t.median = rnd(1e-3);
    r.t.min = r.t.median * 0.9;
    r.t.p90 = r.t.median * 1.1;
    r.t.p99 = r.t.median * 1.3;
    r.t.max = r.t.median * 1.5;
    r.t.mean = r.t.median * 1.05;
    r.t.reps = 10 + rand() % 90;
    r.rate = rate;
    r.work = rate * r.t.median;
    r.ceiling = ceiling;
    if (ceiling > 0) {
        r.pct_of_ceiling = 100 * rate / ceiling;
        snprintf(r.ceiling_what, sizeof r.ceiling_what, "%s",
                 strcmp(device, "cpu0") != 0 ? "[perf] gflops (profile), declared"
                 : strcmp(unit, "B/s") == 0  ? "memcpy bandwidth, measured"
                                             : "FMA peak, measured");
    }
    r.peak_bytes = 3000000000123ull + (uint64_t)rand();
    return r;
}

static void add(bench_report *rep, bench_result r)
{
    ck_assert_ptr_nonnull(bench_report_add(rep, &r));
}

#define MATMUL "matmul f32 1024x1024x1024"
#define SOFTMAX "softmax f32 4096x4096"
#define DECODER "decoder prefill 512"

/* cpu0 is 4x slower than vulkan0 on the matmul, and alone on the rest. */
static void make_report(bench_report *rep)
{
    memset(rep, 0, sizeof *rep);
    snprintf(rep->date, sizeof rep->date, "2025-03-01T12:00:00Z");
    snprintf(rep->version, sizeof rep->version, "0.4.0");
    snprintf(rep->commit, sizeof rep->commit, "0123abcd");
    snprintf(rep->build, sizeof rep->build, "cuda=off vulkan=on openblas=on");
    snprintf(rep->suite, sizeof rep->suite, "all");
    rep->quick = true;
    rep->seconds = rnd(10);
    snprintf(rep->devices[0], sizeof rep->devices[0], "cpu0");
    snprintf(rep->device_desc[0], sizeof rep->device_desc[0], "AMD EPYC 7763 (2 threads)");
    snprintf(rep->devices[1], sizeof rep->devices[1], "vulkan0");
    snprintf(rep->device_desc[1], sizeof rep->device_desc[1], "llvmpipe (LLVM 15, 256 bits)");
    rep->n_devices = 2;
    rep->machine_json = strdup("{\"snapshot\": {\"cpu\": 1}}");
    ck_assert_ptr_nonnull(rep->machine_json);

    add(rep, res("ops", MATMUL, "cpu0", BENCH_OK, "FLOP/s", 100e9, 200e9, ""));
    add(rep, res("ops", MATMUL, "vulkan0", BENCH_OK, "FLOP/s", 400e9, 500e9, ""));
    add(rep, res("ops", "add f32 16M", "cpu0", BENCH_OK, "B/s", 20e9, 40e9, ""));
    add(rep, res("ops", "add f32 16M", "vulkan0", BENCH_SKIPPED, "B/s", 0, 0,
                 "too slow, over the 2 s limit"));
    add(rep, res("ops", SOFTMAX, "cpu0", BENCH_OK, "FLOP/s", 5e9, 0, ""));
    add(rep, res("ops", SOFTMAX, "vulkan0", BENCH_FAILED, "FLOP/s", 0, 0, "a<b"));
    bench_result g = res("graphs", DECODER, "cpu0", BENCH_OK, "FLOP/s", 50e9, 200e9, "");
    g.tokens = 512;
    g.t.median = 0.25; /* 2048 tokens/s */
    g.t.p90 = 0.3;
    g.t.p99 = 0.35;
    add(rep, g);
    g = res("graphs", DECODER, "vulkan0", BENCH_OK, "FLOP/s", 60e9, 500e9, "");
    g.tokens = 512;
    g.t.median = 0.125; /* 4096 tokens/s */
    g.t.p90 = 0.15;
    g.t.p99 = 0.2;
    add(rep, g);
    add(rep, res("peers", "openblas sgemm 1024", "peer", BENCH_OK, "FLOP/s", 150e9, 0,
                 "OpenBLAS sgemm called directly"));
}

static void same_double(double a, double b, const char *what)
{
    ck_assert_msg(a == b || fabs(a - b) <= 1e-14 * fabs(b),
                  "%s: %.17g read back as %.17g (seed %u)", what, b, a, seed);
}

START_TEST(json_round_trips_every_field)
{
    bench_report rep, back;
    make_report(&rep);
    const char *p = tmp("run.json");
    ck_assert_int_eq(bench_write_json(&rep, p), 0);
    ck_assert_int_eq(bench_read_json(p, &back), 0);

    ck_assert_str_eq(back.date, rep.date);
    ck_assert_str_eq(back.version, rep.version);
    ck_assert_str_eq(back.commit, rep.commit);
    ck_assert_str_eq(back.build, rep.build);
    ck_assert_str_eq(back.suite, "all");
    ck_assert(back.quick);
    same_double(back.seconds, rep.seconds, "seconds");
    ck_assert_int_eq(back.n_devices, 2);
    ck_assert_str_eq(back.devices[1], "vulkan0");
    ck_assert_str_eq(back.device_desc[0], rep.device_desc[0]);

    ck_assert_ptr_nonnull(back.machine_json);
    json_object *m1 = json_tokener_parse(back.machine_json);
    json_object *m2 = json_tokener_parse("{\"snapshot\": {\"cpu\": 1}}");
    ck_assert_msg(m1 && json_object_equal(m1, m2), "machine read back as %s", back.machine_json);
    json_object_put(m1);
    json_object_put(m2);

    ck_assert_int_eq(back.n, rep.n);
    for (int i = 0; i < rep.n; i++) {
        const bench_result *a = &back.r[i], *b = &rep.r[i];
        ck_assert_str_eq(a->suite, b->suite);
        ck_assert_str_eq(a->name, b->name);
        ck_assert_str_eq(a->device, b->device);
        ck_assert_int_eq(a->status, b->status);
        ck_assert_str_eq(a->note, b->note);
        ck_assert_str_eq(a->unit, b->unit);
        ck_assert_str_eq(a->ceiling_what, b->ceiling_what);
        same_double(a->work, b->work, "work");
        same_double(a->rate, b->rate, "rate");
        same_double(a->ceiling, b->ceiling, "ceiling");
        same_double(a->pct_of_ceiling, b->pct_of_ceiling, "pct_of_ceiling");
        same_double(a->tokens, b->tokens, "tokens");
        same_double(a->t.min, b->t.min, "min");
        same_double(a->t.median, b->t.median, "median");
        same_double(a->t.p90, b->t.p90, "p90");
        same_double(a->t.p99, b->t.p99, "p99");
        same_double(a->t.max, b->t.max, "max");
        same_double(a->t.mean, b->t.mean, "mean");
        ck_assert_int_eq(a->t.reps, b->t.reps);
        ck_assert_uint_eq(a->peak_bytes, b->peak_bytes);
    }
    ck_assert_int_eq(back.r[3].status, BENCH_SKIPPED);
    ck_assert_int_eq(back.r[5].status, BENCH_FAILED);
    ck_assert_str_eq(back.r[5].note, "a<b");

    /* The file says what it is, and statuses as words. */
    char *text = read_all(p);
    ck_assert_ptr_nonnull(strstr(text, "\"format\": \"pce-bench\""));
    ck_assert_ptr_nonnull(strstr(text, "\"status\": \"skipped\""));
    free(text);

    bench_report_free(&back);
    ck_assert_ptr_null(back.r);
    ck_assert_int_eq(back.n, 0);
    bench_report_free(&rep);
}
END_TEST

START_TEST(unparseable_machine_is_written_as_null)
{
    bench_report rep, back;
    make_report(&rep);
    free(rep.machine_json);
    rep.machine_json = strdup("{\"snapshot\": ");
    ck_assert_ptr_nonnull(rep.machine_json);
    const char *p = tmp("nomachine.json");
    ck_assert_int_eq(bench_write_json(&rep, p), 0);
    ck_assert_int_eq(bench_read_json(p, &back), 0);
    ck_assert_ptr_null(back.machine_json);
    ck_assert_int_eq(back.n, rep.n);
    bench_report_free(&back);
    bench_report_free(&rep);
}
END_TEST

START_TEST(csv_has_header_and_quotes_notes)
{
    bench_report rep;
    make_report(&rep);
    snprintf(rep.r[0].note, sizeof rep.r[0].note, "said \"hi\"");
    const char *p = tmp("run.csv");
    ck_assert_int_eq(bench_write_csv(&rep, p), 0);
    char *text = read_all(p);
    const char *header = "suite,name,device,status,unit,work,rate,ceiling,pct_of_ceiling,min_s,"
                         "median_s,p90_s,p99_s,max_s,reps,peak_bytes,tokens,note\n";
    ck_assert_msg(strncmp(text, header, strlen(header)) == 0, "header: %.200s", text);
    int lines = 0;
    for (const char *s = text; *s; s++)
        lines += *s == '\n';
    ck_assert_int_eq(lines, rep.n + 1);
    ck_assert_ptr_nonnull(strstr(text, "ops,add f32 16M,vulkan0,skipped,B/s,"));
    ck_assert_ptr_nonnull(strstr(text, ",\"too slow, over the 2 s limit\"\n"));
    ck_assert_ptr_nonnull(strstr(text, ",\"said \"\"hi\"\"\"\n"));
    /* An unquoted note stays bare, and the matmul line has 18 fields. */
    ck_assert_ptr_nonnull(strstr(text, ",a<b\n"));
    const char *line = strstr(text, "ops,matmul");
    ck_assert_ptr_nonnull(line);
    int commas = 0;
    for (const char *s = line; *s && *s != '\n'; s++)
        commas += *s == ',';
    ck_assert_int_eq(commas, 17);
    free(text);
    bench_report_free(&rep);
}
END_TEST

START_TEST(html_is_self_contained_and_escaped)
{
    bench_report rep;
    make_report(&rep);
    const char *p = tmp("run.html");
    ck_assert_int_eq(bench_write_html(&rep, p), 0);
    char *text = read_all(p);
    ck_assert_ptr_nonnull(strstr(text, "<!DOCTYPE html>"));
    ck_assert_ptr_nonnull(strstr(text, "<svg"));
    ck_assert_ptr_nonnull(strstr(text, "cpu0"));
    ck_assert_ptr_nonnull(strstr(text, "vulkan0"));
    ck_assert_ptr_nonnull(strstr(text, "llvmpipe (LLVM 15, 256 bits)"));
    ck_assert_ptr_nonnull(strstr(text, "a&lt;b"));
    ck_assert_ptr_null(strstr(text, "a<b"));
    ck_assert_ptr_null(strstr(text, "<script"));
    /* nothing fetched from outside */
    ck_assert_ptr_null(strstr(text, "<link"));
    ck_assert_ptr_null(strstr(text, "url("));
    ck_assert_ptr_null(strstr(text, "src="));
    /* the machine JSON, escaped, in a details block */
    ck_assert_ptr_nonnull(strstr(text, "<details>"));
    ck_assert_ptr_nonnull(strstr(text, "&quot;snapshot&quot;"));
    /* the faster device's cell in bold, and both devices' colours */
    ck_assert_ptr_nonnull(strstr(text, "<b>400 (80%)</b>"));
    ck_assert_ptr_null(strstr(text, "<b>100 (50%)</b>"));
    ck_assert_ptr_nonnull(strstr(text, "fill=\"#4e79a7\""));
    ck_assert_ptr_nonnull(strstr(text, "fill=\"#f28e2b\""));
    ck_assert_ptr_nonnull(strstr(text, "% of ceiling"));
    ck_assert_ptr_nonnull(strstr(text, "OpenBLAS sgemm called directly"));
    ck_assert_ptr_nonnull(strstr(text, "</html>"));
    free(text);
    bench_report_free(&rep);
}
END_TEST

/* The line of `text` that starts with `start`, copied into buf. */
static const char *line_of(const char *text, const char *start, char *buf, size_t cap)
{
    for (const char *s = text; s && *s;) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (strncmp(s, start, strlen(start)) == 0) {
            snprintf(buf, cap, "%.*s", (int)n, s);
            return buf;
        }
        s = e ? e + 1 : NULL;
    }
    return NULL;
}

START_TEST(table_marks_the_faster_device)
{
    bench_report rep;
    make_report(&rep);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    bench_print_table(&rep, f);
    ck_assert_int_eq(fclose(f), 0);

    char head[256], row[256], other[256];
    ck_assert_ptr_nonnull(line_of(text, "case ", head, sizeof head));
    ck_assert_ptr_nonnull(line_of(text, MATMUL, row, sizeof row));
    const char *col = strstr(head, "vulkan0");
    ck_assert_ptr_nonnull(col);
    /* '*' right after the vulkan0 cell, under the space after its header */
    const char *star = strchr(row, '*');
    ck_assert_msg(star != NULL, "no '*' in '%s'", row);
    ck_assert_ptr_null(strchr(star + 1, '*'));
    ck_assert_int_eq(star - row, col - head + 7);
    ck_assert_ptr_nonnull(strstr(row, "400 (80%)*"));
    ck_assert_ptr_nonnull(strstr(row, "100 (50%)"));
    /* One ok device: nothing to mark. Statuses by name. */
    ck_assert_ptr_nonnull(line_of(text, "add f32 16M", other, sizeof other));
    ck_assert_ptr_null(strchr(other, '*'));
    ck_assert_ptr_nonnull(strstr(other, "20.0 (50%)"));
    ck_assert_ptr_nonnull(strstr(other, "skip"));
    ck_assert_ptr_nonnull(strstr(other, "GB/s"));
    ck_assert_ptr_nonnull(line_of(text, SOFTMAX, other, sizeof other));
    ck_assert_ptr_nonnull(strstr(other, "FAIL"));
    ck_assert_ptr_nonnull(strstr(text, "\n  vulkan0 " SOFTMAX ": a<b\n"));
    /* graph latency and tokens/s, and the peer */
    ck_assert_ptr_nonnull(strstr(text, "tokens/s"));
    ck_assert_ptr_nonnull(strstr(text, "2048"));
    ck_assert_ptr_nonnull(strstr(text, "4096\n"));
    ck_assert_ptr_nonnull(line_of(text, "openblas sgemm 1024", other, sizeof other));
    ck_assert_ptr_nonnull(strstr(other, "150 GFLOP/s"));
    ck_assert_ptr_nonnull(strstr(other, "OpenBLAS sgemm called directly"));
    /* two devices fit comfortably */
    for (const char *s = text; *s;) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        ck_assert_msg(n <= 120, "line of %zu chars: %.*s", n, (int)n, s);
        s = e ? e + 1 : s + n;
    }
    if (getenv("BENCH_TEST_SHOW"))
        fputs(text, stdout);
    free(text);
    bench_report_free(&rep);
}
END_TEST

START_TEST(compare_finds_a_2x_speedup)
{
    bench_report a, b;
    make_report(&a);
    make_report(&b);
    for (int i = 0; i < b.n; i++) {
        b.r[i].rate = a.r[i].rate * 2;
        b.r[i].t.median = a.r[i].t.median / 2;
    }
    add(&b, res("ops", "only in b", "cpu0", BENCH_OK, "FLOP/s", 1e9, 0, ""));
    const char *pa = tmp("a.json"), *pb = tmp("b.json");
    ck_assert_int_eq(bench_write_json(&a, pa), 0);
    ck_assert_int_eq(bench_write_json(&b, pb), 0);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(bench_compare(pa, pb, f), 0);
    ck_assert_int_eq(fclose(f), 0);
    char row[256];
    ck_assert_ptr_nonnull(line_of(text, MATMUL "  vulkan0", row, sizeof row));
    ck_assert_ptr_nonnull(strstr(row, "400 GFLOP/s"));
    ck_assert_ptr_nonnull(strstr(row, "800 GFLOP/s"));
    ck_assert_msg(strstr(row, "2.00") != NULL, "row: %s", row);
    ck_assert_ptr_nonnull(strstr(text, "  cpu0     2.00  (4 cases)\n")); /* 3 ops, 1 graph */
    ck_assert_ptr_nonnull(strstr(text, "  vulkan0  2.00  (2 cases)\n"));
    ck_assert_ptr_nonnull(strstr(text, "only in b: ops \"only in b\" on cpu0"));
    ck_assert_ptr_nonnull(strstr(text, "  peer     2.00  (1 case)\n"));
    ck_assert_ptr_nonnull(strstr(text, "on vulkan0: a failed, b failed"));
    ck_assert_ptr_nonnull(strstr(text, "on vulkan0: a skipped, b skipped"));
    free(text);

    f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(bench_compare(pa, tmp("missing.json"), f), 2);
    fclose(f);
    free(text);
    bench_report_free(&a);
    bench_report_free(&b);
}
END_TEST

/* bench_read_json on `text`, with what it said on stderr. */
static int read_text(const char *text, size_t len, char *err, size_t cap)
{
    const char *p = tmp("in.json"), *e = tmp("stderr.txt");
    write_file(p, text, len);
    fflush(stderr);
    int saved = dup(2);
    FILE *ef = fopen(e, "w");
    ck_assert_ptr_nonnull(ef);
    dup2(fileno(ef), 2);
    bench_report rep;
    memset(&rep, 0x5a, sizeof rep);
    int rc = bench_read_json(p, &rep);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(ef);
    if (rc == 0)
        bench_report_free(&rep);
    else
        ck_assert_msg(rep.r == NULL && rep.n == 0 && rep.machine_json == NULL,
                      "a refused file left a report behind");
    char *msg = read_all(e);
    snprintf(err, cap, "%s", msg);
    free(msg);
    return rc;
}

static void refused(const char *text, const char *want)
{
    char err[512];
    ck_assert_int_eq(read_text(text, strlen(text), err, sizeof err), -1);
    ck_assert_msg(strstr(err, want) != NULL, "for %s: message '%s' lacks '%s'", text, err, want);
    ck_assert_msg(strstr(err, "in.json: ") != NULL, "message '%s' does not name the file", err);
}

START_TEST(foreign_and_malformed_json_are_refused)
{
    char err[512];
    const char garbage[] = "\x89PNG\r\n\x1a\n\0\0\x01garbage{{{";
    ck_assert_int_eq(read_text(garbage, sizeof garbage - 1, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a pce-bench JSON"));
    refused("{\"format\": \"other\"}", "not a pce-bench JSON (format \"other\")");
    refused("{\"version\": 1}", "not a pce-bench JSON (format missing)");
    refused("[1, 2]", "not a pce-bench JSON (not a JSON object)");
    refused("", "not a pce-bench JSON (not JSON");
    refused("{\"format\": \"pce-bench\", \"version\": 1, \"results\": [", "not JSON");
    refused("{\"format\": \"pce-bench\", \"version\": 1} trailing", "near offset 38");
    refused("{\"format\": \"pce-bench\", \"version\": 2}", "version 2");
    refused("{\"format\": \"pce-bench\", \"version\": 1, \"results\": {}}",
            "\"results\": expected an array");
    refused("{\"format\": \"pce-bench\", \"version\": 1, \"results\": [{\"suite\": \"ops\", "
            "\"name\": \"x\", \"device\": \"cpu0\", \"status\": \"great\"}]}",
            "results[0]: unknown status \"great\"");
    refused("{\"format\": \"pce-bench\", \"version\": 1, \"results\": [{\"suite\": \"ops\", "
            "\"name\": 7, \"device\": \"cpu0\", \"status\": \"ok\"}]}",
            "results[0]: \"name\": expected a string");
    refused("{\"format\": \"pce-bench\", \"version\": 1, \"results\": [{\"suite\": \"ops\", "
            "\"name\": \"x\", \"device\": \"cpu0\", \"status\": \"ok\", \"rate\": \"fast\"}]}",
            "\"rate\": expected a number");
    refused("{\"format\": \"pce-bench\", \"version\": 1, \"results\": [{\"suite\": \"ops\", "
            "\"name\": \"x\", \"device\": \"cpu0\", \"status\": \"ok\", \"time_s\": "
            "{\"reps\": -3}}]}",
            "\"reps\": expected a whole number");
    refused("{\"format\": \"pce-bench\", \"version\": 1, \"devices\": [{}]}",
            "devices[0]: \"name\" is missing");
    const char *minimal = "{\"format\": \"pce-bench\", \"version\": 1}";
    ck_assert_int_eq(read_text(minimal, strlen(minimal), err, sizeof err), 0);

    bench_report rep;
    ck_assert_int_eq(bench_read_json(tmp("does-not-exist.json"), &rep), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bench_report");
    TCase *tc = tcase_create("bench_report");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, json_round_trips_every_field);
    tcase_add_test(tc, unparseable_machine_is_written_as_null);
    tcase_add_test(tc, csv_has_header_and_quotes_notes);
    tcase_add_test(tc, html_is_self_contained_and_escaped);
    tcase_add_test(tc, table_marks_the_faster_device);
    tcase_add_test(tc, compare_finds_a_2x_speedup);
    tcase_add_test(tc, foreign_and_malformed_json_are_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
