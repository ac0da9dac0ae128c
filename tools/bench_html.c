/* bench_html.c — `pce bench --html`: one self-contained page (no scripts,
 * no external files) with the run's metadata, the results table, an SVG bar
 * chart per case (rate, and % of ceiling where there is one), graph latency,
 * the peers, what failed or did not run, and the machine's JSON. Shares its
 * formatting and lookups with the text table (bench_report_util.h). */
#include "bench.h"
#include "bench_report_util.h"

#include <json.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Distinct colours, one per device column (Tableau 10, then six more). */
static const char *const palette[] = {
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#17becf", "#bcbd22", "#8c564b", "#e377c2", "#7f7f7f", "#2ca02c"};

static const char *colour(int i)
{
    return palette[(size_t)i % (sizeof palette / sizeof palette[0])];
}

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* pre, then text escaped, then post */
static void tag(FILE *f, const char *pre, const char *text, const char *post)
{
    fputs(pre, f);
    esc(f, text);
    fputs(post, f);
}

static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<style>\n"
    "body{font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:#222;"
    "max-width:1200px;margin:1.5em auto;padding:0 1em}\n"
    "h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.8em;"
    "border-bottom:1px solid #ccc}\n"
    "table{border-collapse:collapse;margin:.5em 0}\n"
    "th,td{padding:.2em .7em;border-bottom:1px solid #e6e6e6;text-align:left;"
    "vertical-align:top}\n"
    "th{background:#f4f4f4}td.n,th.n{text-align:right;white-space:nowrap;"
    "font-variant-numeric:tabular-nums}\n"
    "tr.suite td{background:#fafafa;font-weight:600;color:#555}\n"
    ".st{color:#888}.fail{color:#b00020;font-weight:bold}\n"
    ".sw{display:inline-block;width:.9em;height:.9em;border-radius:2px;"
    "vertical-align:-.1em;margin-right:.4em}\n"
    "dl.meta{display:grid;grid-template-columns:max-content auto;gap:.15em 1em}"
    "dl.meta dt{font-weight:600}dl.meta dd{margin:0}\n"
    ".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:1.2em}\n"
    "figure{margin:0}figcaption{font-weight:600;margin-bottom:.2em}\n"
    ".sub{font-size:12px;color:#666;margin:.3em 0 0}\n"
    "svg{max-width:100%;height:auto}\n"
    "pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}\n"
    "</style>\n";

static void html_meta(FILE *f, const bench_report *rep, const bench_devlist *d)
{
    tag(f, "<title>pce bench ", rep->date,
        "</title>\n</head>\n<body>\n<h1>pce bench</h1>\n<dl class=\"meta\">\n");
    const char *k[6] = {"date", "pce version", "commit", "build", "suite", "quick"};
    const char *v[6] = {rep->date,  rep->version, rep->commit[0] ? rep->commit : "unknown",
                        rep->build, rep->suite,   rep->quick ? "yes (short runs)" : "no"};
    for (int i = 0; i < 6; i++) {
        fprintf(f, "<dt>%s</dt><dd>", k[i]);
        esc(f, v[i]);
        fputs("</dd>\n", f);
    }
    fprintf(f, "<dt>run time</dt><dd>%.1f s</dd>\n</dl>\n", rep->seconds);
    fputs("<h2>Devices</h2>\n<table>\n<tr><th>device</th><th>description</th></tr>\n", f);
    for (int k2 = 0; k2 < d->n; k2++) {
        fprintf(f, "<tr><td><span class=\"sw\" style=\"background:%s\"></span>", colour(k2));
        esc(f, d->name[k2]);
        fputs("</td><td>", f);
        for (int i = 0; i < bench_n_devices(rep); i++)
            if (strcmp(rep->devices[i], d->name[k2]) == 0) {
                esc(f, rep->device_desc[i]);
                break;
            }
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void html_table(FILE *f, const bench_report *rep, const bench_devlist *d,
                       int *const cases[2], const int nc[2])
{
    static const char *const suites[2] = {"ops", "graphs"};
    fputs("<h2>Results</h2>\n<p class=\"sub\">Rate per device; (NN%) of the case's ceiling on "
          "that device; the best on a row in bold.</p>\n<table>\n<tr><th>case</th><th>unit</th>",
          f);
    for (int k = 0; k < d->n; k++) {
        fprintf(f, "<th class=\"n\"><span class=\"sw\" style=\"background:%s\"></span>", colour(k));
        esc(f, d->name[k]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (int s = 0; s < 2; s++) {
        if (nc[s] == 0)
            continue;
        fprintf(f, "<tr class=\"suite\"><td colspan=\"%d\">%s</td></tr>\n", d->n + 2, suites[s]);
        for (int i = 0; i < nc[s]; i++) {
            const bench_result *c = &rep->r[cases[s][i]];
            int n_ok;
            double best = bench_best_rate(rep, d, c, &n_ok), scale;
            tag(f, "<tr><td>", c->name, "</td><td>");
            esc(f, bench_shown_unit(bench_case_unit(rep, d, c), &scale));
            fputs("</td>", f);
            for (int k = 0; k < d->n; k++) {
                const bench_result *r = bench_find_result(rep, c->suite, c->name, d->name[k]);
                char cell[64];
                bench_fmt_cell(cell, sizeof cell, r);
                if (r && r->status != BENCH_OK) {
                    fprintf(f, "<td class=\"n %s\" title=\"",
                            r->status == BENCH_FAILED ? "fail" : "st");
                    esc(f, r->note);
                    tag(f, "\">", cell, "</td>");
                    continue;
                }
                bool is_best = r && n_ok >= 2 && r->rate == best;
                fputs("<td class=\"n\">", f);
                fputs(is_best ? "<b>" : "", f);
                esc(f, cell);
                fputs(is_best ? "</b>" : "", f);
                fputs("</td>", f);
            }
            fputs("</tr>\n", f);
        }
    }
    fputs("</table>\n", f);
}

/* One horizontal bar chart: a row per device; `pct` charts the % of
 * ceiling (with a 100% line) instead of the rate. */
static void html_bars(FILE *f, const bench_report *rep, const bench_devlist *d,
                      const bench_result *c, bool pct)
{
    size_t lw = 0;
    for (int k = 0; k < d->n; k++)
        if (strlen(d->name[k]) > lw)
            lw = strlen(d->name[k]);
    const double row_h = 22, label_w = 12 + 7.2 * (double)(lw < 24 ? lw : 24), value_w = 170;
    const double width = 560, bar_w = width - label_w - value_w;
    double max = pct ? 100 : 0;
    for (int k = 0; k < d->n; k++) {
        const bench_result *r = bench_find_result(rep, c->suite, c->name, d->name[k]);
        if (!r || r->status != BENCH_OK)
            continue;
        double v = pct ? r->pct_of_ceiling : r->rate;
        if (isfinite(v) && v > max)
            max = v;
    }
    double height = row_h * d->n + (pct ? 18 : 6);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"system-ui,sans-serif\" font-size=\"12\" "
            "role=\"img\">\n",
            width, height, width, height);
    for (int k = 0; k < d->n; k++) {
        const bench_result *r = bench_find_result(rep, c->suite, c->name, d->name[k]);
        double y = 3 + row_h * k;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", label_w - 6, y + 14);
        esc(f, d->name[k]);
        fputs("</text>\n", f);
        char label[96];
        if (!r || r->status != BENCH_OK || (pct && !(r->pct_of_ceiling > 0))) {
            snprintf(label, sizeof label, "%s",
                     !r                      ? "not run"
                     : r->status != BENCH_OK ? bench_status_word(r->status)
                                             : "no ceiling");
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">", label_w + 4, y + 14,
                    r && r->status == BENCH_FAILED ? "#b00020" : "#888");
            esc(f, label);
            fputs("</text>\n", f);
            continue;
        }
        double v = pct ? r->pct_of_ceiling : r->rate;
        double w = max > 0 && isfinite(v) && v > 0 ? bar_w * v / max : 0;
        char rate[64];
        bench_fmt_rate(rate, sizeof rate, r->rate, r->unit);
        if (pct)
            snprintf(label, sizeof label, "%.0f%%", r->pct_of_ceiling);
        else if (r->pct_of_ceiling > 0)
            snprintf(label, sizeof label, "%s (%.0f%%)", rate, r->pct_of_ceiling);
        else
            snprintf(label, sizeof label, "%s", rate);
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" rx=\"2\" "
                "fill=\"%s\"><title>",
                label_w, y + 2, w, colour(k));
        esc(f, d->name[k]);
        fputs(": ", f);
        esc(f, label);
        if (pct) {
            fputs(" of ", f);
            esc(f, r->ceiling_what);
        }
        fputs("</title></rect>\n", f);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", label_w + w + 4, y + 14);
        esc(f, label);
        fputs("</text>\n", f);
    }
    if (pct) {
        double x = label_w + bar_w * 100 / max, y1 = 2, y2 = row_h * d->n + 4;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
                "stroke-dasharray=\"3,3\"/>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                "fill=\"#555\">100%%</text>\n",
                x, y1, x, y2, x, y2 + 12);
    }
    fputs("</svg>\n", f);
}

static void html_charts(FILE *f, const bench_report *rep, const bench_devlist *d,
                        int *const cases[2], const int nc[2])
{
    if (nc[0] + nc[1] == 0 || d->n == 0)
        return;
    fputs("<h2>Charts</h2>\n<div class=\"charts\">\n", f);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < nc[s]; i++) {
            const bench_result *c = &rep->r[cases[s][i]];
            double scale;
            tag(f, "<figure>\n<figcaption>", c->name, " <span class=\"st\">(");
            esc(f, bench_shown_unit(bench_case_unit(rep, d, c), &scale));
            fputs(")</span></figcaption>\n", f);
            html_bars(f, rep, d, c, false);
            bool ceilings = false;
            for (int k = 0; k < d->n && !ceilings; k++) {
                const bench_result *r = bench_find_result(rep, c->suite, c->name, d->name[k]);
                ceilings = r && r->status == BENCH_OK && r->pct_of_ceiling > 0;
            }
            if (ceilings) {
                fputs("<p class=\"sub\">% of ceiling</p>\n", f);
                html_bars(f, rep, d, c, true);
            }
            fputs("</figure>\n", f);
        }
    fputs("</div>\n", f);
}

static void html_graph_latency(FILE *f, const bench_report *rep, const bench_devlist *d,
                               const int *cases, int nc)
{
    if (nc == 0)
        return;
    fputs("<h2>Graph latency</h2>\n<table>\n<tr><th>graph</th><th>device</th><th class=\"n\">"
          "median ms</th><th class=\"n\">p90 ms</th><th class=\"n\">p99 ms</th>"
          "<th class=\"n\">tokens/s</th></tr>\n",
          f);
    for (int i = 0; i < nc; i++) {
        const bench_result *c = &rep->r[cases[i]];
        for (int k = 0; k < d->n; k++) {
            const bench_result *r = bench_find_result(rep, "graphs", c->name, d->name[k]);
            if (!r || r->status != BENCH_OK)
                continue;
            char v[4][32];
            bench_fmt_sig3(v[0], sizeof v[0], r->t.median * 1e3);
            bench_fmt_sig3(v[1], sizeof v[1], r->t.p90 * 1e3);
            bench_fmt_sig3(v[2], sizeof v[2], r->t.p99 * 1e3);
            if (r->tokens > 0 && r->t.median > 0)
                bench_fmt_sig3(v[3], sizeof v[3], r->tokens / r->t.median);
            else
                snprintf(v[3], sizeof v[3], "-");
            tag(f, "<tr><td>", c->name, "</td><td>");
            esc(f, r->device);
            fprintf(f,
                    "</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
                    "<td class=\"n\">%s</td></tr>\n",
                    v[0], v[1], v[2], v[3]);
        }
    }
    fputs("</table>\n", f);
}

static void html_peers_and_notes(FILE *f, const bench_report *rep)
{
    bool any = false;
    for (int i = 0; i < rep->n; i++) {
        const bench_result *r = &rep->r[i];
        if (!bench_is_peer(r))
            continue;
        if (!any)
            fputs("<h2>Peers</h2>\n<table>\n<tr><th>peer</th><th class=\"n\">rate</th>"
                  "<th>what</th></tr>\n",
                  f);
        any = true;
        char rate[64];
        if (r->status == BENCH_OK)
            bench_fmt_rate(rate, sizeof rate, r->rate, r->unit);
        else
            snprintf(rate, sizeof rate, "%s", bench_status_cell(r->status));
        tag(f, "<tr><td>", r->name, "</td><td class=\"n\">");
        esc(f, rate);
        tag(f, "</td><td>", r->note, "</td></tr>\n");
    }
    if (any)
        fputs("</table>\n", f);

    static const char *const titles[2] = {"Failures", "Not run"};
    for (int g = 0; g < 2; g++) {
        any = false;
        for (int i = 0; i < rep->n; i++) {
            const bench_result *r = &rep->r[i];
            bool in = g == 0 ? r->status == BENCH_FAILED
                             : r->status != BENCH_OK && r->status != BENCH_FAILED;
            if (!in)
                continue;
            if (!any)
                fprintf(f,
                        "<h2>%s</h2>\n<table>\n<tr><th>device</th><th>case</th>%s<th>note</th>"
                        "</tr>\n",
                        titles[g], g == 0 ? "" : "<th>status</th>");
            any = true;
            tag(f, "<tr><td>", r->device, "</td><td>");
            esc(f, r->name);
            fputs("</td><td>", f);
            if (g == 1) {
                fputs(bench_status_word(r->status), f);
                fputs("</td><td>", f);
            }
            esc(f, r->note);
            fputs("</td></tr>\n", f);
        }
        if (any)
            fputs("</table>\n", f);
    }
}

static void html_machine(FILE *f, const bench_report *rep)
{
    fputs("<h2>Machine</h2>\n", f);
    if (!rep->machine_json) {
        fputs("<p class=\"st\">Not recorded.</p>\n", f);
        return;
    }
    char why[160];
    json_object *m =
        bench_parse_json(rep->machine_json, strlen(rep->machine_json), why, sizeof why);
    const char *text =
        m ? json_object_to_json_string_ext(m, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                  JSON_C_TO_STRING_NOSLASHESCAPE)
          : NULL;
    fputs("<details>\n<summary>The machine as pce saw it: snapshot, matched profiles, ranking, "
          "OpenBLAS decision (JSON)</summary>\n<pre>",
          f);
    esc(f, text ? text : rep->machine_json);
    fputs("</pre>\n</details>\n", f);
    json_object_put(m);
}

int bench_write_html(const bench_report *rep, const char *path)
{
    bench_devlist d;
    int nc[2] = {0, 0};
    int *cases[2] = {NULL, NULL};
    if (bench_devlist_build(rep, &d) != 0 || !(cases[0] = bench_case_list(rep, "ops", &nc[0])) ||
        !(cases[1] = bench_case_list(rep, "graphs", &nc[1]))) {
        fprintf(stderr, "%s: out of memory building the page\n", path);
        free(d.name);
        free(cases[0]);
        return -1;
    }
    FILE *f = bench_open_out(path);
    if (!f) {
        free(d.name);
        free(cases[0]);
        free(cases[1]);
        return -1;
    }
    fputs(html_head, f);
    html_meta(f, rep, &d);
    html_table(f, rep, &d, cases, nc);
    html_charts(f, rep, &d, cases, nc);
    html_graph_latency(f, rep, &d, cases[1], nc[1]);
    html_peers_and_notes(f, rep);
    html_machine(f, rep);
    fputs("</body>\n</html>\n", f);
    free(d.name);
    free(cases[0]);
    free(cases[1]);
    return bench_close_out(f, path);
}
