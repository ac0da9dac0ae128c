/* profile.c — parsing and validating one hardware profile file. The INI
 * syntax is inih's (Debian libinih-dev); what the keys mean and which values
 * are allowed is checked here, per key, with file:line in every error. */
#include "profile.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    V_TEXT,     /* any text */
    V_INT,      /* integer */
    V_RANGE,    /* number or version range: 3, 3-5, <0.3.29, >=8.9 */
    V_HEX,      /* 4-digit hex id or range of them: 10de, 2330-233f */
    V_BOOL,     /* on / off */
    V_FRACTION, /* 0.75 .. 0.85 (memory target utilisation) */
    V_LIST,     /* comma-separated words */
    V_BACKENDS, /* comma-separated backend names */
    V_CHOICE,   /* one of `choices` */
    V_OPS,      /* comma-separated op names (rope, matmul, ...) */
    V_POSITIVE, /* a positive number (GFLOP/s, GB/s) */
} vkind;

typedef struct keydef {
    const char *section, *key;
    vkind kind;
    const char *choices; /* V_CHOICE: "|a|b|c|" */
} keydef;

/* Every key a profile may set. [env] takes any VARIABLE = value. */
static const keydef keys[] = {
    {"profile", "name", V_TEXT, NULL},
    {"profile", "description", V_TEXT, NULL},
    {"profile", "priority", V_INT, NULL},
    {"match", "cpu_arch", V_CHOICE, "|x86_64|aarch64|"},
    {"match", "cpu_vendor", V_TEXT, NULL},
    {"match", "cpu_family", V_RANGE, NULL},
    {"match", "cpu_model", V_RANGE, NULL},
    {"match", "cpu_name", V_TEXT, NULL},
    {"match", "cpu_feature", V_LIST, NULL},
    {"match", "pci_vendor", V_HEX, NULL},
    {"match", "pci_device", V_HEX, NULL},
    {"match", "pci_driver", V_TEXT, NULL},
    {"match", "backend", V_CHOICE, "|cpu|vulkan|cuda|hip|"},
    {"match", "device_name", V_TEXT, NULL},
    {"match", "compute_capability", V_RANGE, NULL},
    {"match", "gfx_target", V_TEXT, NULL},
    {"match", "driver", V_TEXT, NULL},
    {"match", "driver_version", V_RANGE, NULL},
    {"match", "openblas_version", V_RANGE, NULL},
    {"match", "openblas_default_core", V_LIST, NULL},
    {"match", "runtime_missing", V_CHOICE, "|cuda|hip|vulkan|"},
    {"backends", "order", V_BACKENDS, NULL},
    {"backends", "auto", V_BOOL, NULL},
    {"cpu", "threads", V_INT, NULL},
    {"cpu", "pinning", V_CHOICE, "|none|cores|numa|"},
    {"memory", "target_utilisation", V_FRACTION, NULL},
    {"features", "fp16", V_BOOL, NULL},
    {"features", "bf16", V_BOOL, NULL},
    {"features", "fp8", V_BOOL, NULL},
    {"features", "int8_dot", V_BOOL, NULL},
    {"features", "subgroup_ops", V_BOOL, NULL},
    {"features", "cooperative_matrix", V_BOOL, NULL},
    {"kernels", "matmul", V_CHOICE, "|auto|own|blas|"},
    {"ops", "disable", V_OPS, NULL},
    {"perf", "gflops", V_POSITIVE, NULL},
    {"perf", "bandwidth_gbs", V_POSITIVE, NULL},
    {"perf", "link_gbs", V_POSITIVE, NULL},
    {"kernels", "workgroup_size", V_INT, NULL},
    {"openblas", "core_candidates", V_LIST, NULL},
    {"openblas", "verify", V_BOOL, NULL},
};

static const char *const sections[] = {"profile", "match", "backends", "cpu", "memory",  "features",
                                       "kernels", "ops",   "perf",     "env", "openblas"};

typedef struct parse_state {
    const char *file;
    const char *text, *pos; /* reader over the text */
    int line;
    pce_profile *out;
    char seen[16][24]; /* sections seen, for duplicates */
    int n_seen;
    char last_section[24];
    char *err;
    size_t cap;
    bool failed;
} parse_state;

static int fail(parse_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(parse_state *s, const char *fmt, ...)
{
    if (!s->failed) {
        int n = snprintf(s->err, s->cap, "%s:%d: ", s->file, s->line);
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < s->cap)
            vsnprintf(s->err + n, s->cap - (size_t)n, fmt, ap);
        va_end(ap);
        s->failed = true;
    }
    return 0;
}

/* inih reads lines through this, so the handler knows the line number. */
static char *reader(char *str, int num, void *stream)
{
    parse_state *s = stream;
    if (!*s->pos)
        return NULL;
    int i = 0;
    while (i < num - 1 && s->pos[i] && s->pos[i] != '\n')
        i++;
    memcpy(str, s->pos, (size_t)i);
    str[i] = 0;
    s->pos += i;
    if (*s->pos == '\n')
        s->pos++;
    else /* a line longer than inih's buffer: skip the rest */
        while (*s->pos && *s->pos != '\n')
            s->pos++, (void)0;
    s->line++;
    return str;
}

static bool parse_int(const char *v, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno)
        return false;
    *out = x;
    return true;
}

/* Compares dotted versions numerically ("0.3.9" < "0.3.21"). */
static int vercmp(const char *a, const char *b)
{
    while (*a || *b) {
        long x = strtol(a, (char **)&a, 10), y = strtol(b, (char **)&b, 10);
        if (x != y)
            return x < y ? -1 : 1;
        if (*a == '.')
            a++;
        if (*b == '.')
            b++;
        if ((*a && !isdigit((unsigned char)*a)) || (*b && !isdigit((unsigned char)*b)))
            break;
    }
    return 0;
}

static bool is_version(const char *v)
{
    if (!isdigit((unsigned char)*v))
        return false;
    for (; *v; v++)
        if (!isdigit((unsigned char)*v) && *v != '.')
            return false;
    return true;
}

int pce_range_contains(const char *range, const char *v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", range);
    char *r = buf;
    while (*r == ' ')
        r++;
    const char *ops[] = {"<=", ">=", "<", ">", "="};
    for (int i = 0; i < 5; i++) {
        size_t n = strlen(ops[i]);
        if (strncmp(r, ops[i], n) == 0) {
            const char *x = r + n;
            while (*x == ' ')
                x++;
            if (!is_version(x))
                return -1;
            if (!v)
                return 1; /* syntax check only */
            int c = vercmp(v, x);
            switch (i) {
            case 0: return c <= 0;
            case 1: return c >= 0;
            case 2: return c < 0;
            case 3: return c > 0;
            default: return c == 0;
            }
        }
    }
    char *dash = strchr(r, '-');
    if (dash) {
        *dash = 0;
        if (!is_version(r) || !is_version(dash + 1) || vercmp(r, dash + 1) > 0)
            return -1;
        return v ? vercmp(v, r) >= 0 && vercmp(v, dash + 1) <= 0 : 1;
    }
    if (!is_version(r))
        return -1;
    return v ? vercmp(v, r) == 0 : 1;
}

static bool hex_id(const char *v)
{
    size_t n = strlen(v);
    if (n != 4)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)v[i]))
            return false;
    return true;
}

/* "10de" or "2330-233f": 4-digit hex ids, low <= high. */
static bool hex_range(const char *v, long *lo, long *hi)
{
    char a[16] = "", b[16] = "";
    const char *dash = strchr(v, '-');
    snprintf(a, sizeof a, "%.*s", (int)(dash ? dash - v : (ptrdiff_t)strlen(v)), v);
    snprintf(b, sizeof b, "%s", dash ? dash + 1 : a);
    if (!hex_id(a) || !hex_id(b))
        return false;
    *lo = strtol(a, NULL, 16);
    *hi = strtol(b, NULL, 16);
    return *lo <= *hi;
}

static bool word_list(const char *v, vkind kind)
{
    char buf[160];
    snprintf(buf, sizeof buf, "%s", v);
    int n = 0;
    for (char *save, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        while (*w == ' ')
            w++;
        size_t k = strlen(w);
        while (k && w[k - 1] == ' ')
            w[--k] = 0;
        if (!k)
            return false;
        if (kind == V_BACKENDS && strcmp(w, "cpu") && strcmp(w, "vulkan") && strcmp(w, "cuda") &&
            strcmp(w, "hip"))
            return false;
        if (kind == V_OPS && pce_op_from_name(w) <= PCE_OP_VIEW)
            return false;
        n++;
    }
    return n > 0;
}

static int check_value(parse_state *s, const keydef *k, const char *v)
{
    long x;
    switch (k->kind) {
    case V_TEXT:
        if (!*v)
            return fail(s, "[%s] %s is empty", k->section, k->key);
        return 1;
    case V_INT:
        if (!parse_int(v, &x) || x < 0 || x > 100000)
            return fail(s, "[%s] %s = '%s': expected a whole number from 0 to 100000", k->section,
                        k->key, v);
        return 1;
    case V_RANGE:
        if (pce_range_contains(v, NULL) != 1)
            return fail(s,
                        "[%s] %s = '%s': expected a number or version, a range a-b, or <, <=, "
                        ">, >=, = and a version",
                        k->section, k->key, v);
        return 1;
    case V_HEX: {
        long lo, hi;
        if (!hex_range(v, &lo, &hi))
            return fail(s,
                        "[%s] %s = '%s': expected a 4-digit hex id (10de) or a range (2330-233f)",
                        k->section, k->key, v);
        return 1;
    }
    case V_BOOL:
        if (strcmp(v, "on") && strcmp(v, "off"))
            return fail(s, "[%s] %s = '%s': expected on or off", k->section, k->key, v);
        return 1;
    case V_FRACTION: {
        char *end;
        double d = strtod(v, &end);
        if (end == v || *end || !(d >= 0.75 && d <= 0.85))
            return fail(s, "[%s] %s = '%s': expected a fraction from 0.75 to 0.85", k->section,
                        k->key, v);
        return 1;
    }
    case V_LIST:
    case V_BACKENDS:
    case V_OPS:
        if (!word_list(v, k->kind))
            return fail(s, "[%s] %s = '%s': expected a comma-separated list%s", k->section, k->key,
                        v,
                        k->kind == V_BACKENDS ? " of cpu, vulkan, cuda, hip"
                        : k->kind == V_OPS    ? " of op names (add, matmul, rope, softmax, ...)"
                                              : "");
        return 1;
    case V_POSITIVE: {
        char *end;
        double d = strtod(v, &end);
        if (end == v || *end || !(d > 0 && d < 1e9))
            return fail(s, "[%s] %s = '%s': expected a positive number", k->section, k->key, v);
        return 1;
    }
    case V_CHOICE: {
        char w[64];
        snprintf(w, sizeof w, "|%s|", v);
        if (!strstr(k->choices, w) || !*v)
            return fail(s, "[%s] %s = '%s': expected one of %s", k->section, k->key, v, k->choices);
        return 1;
    }
    }
    return 1;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
    parse_state *s = user;
    if (s->failed)
        return 0;
    bool known = false;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        known = known || strcmp(section, sections[i]) == 0;
    if (!known)
        return fail(s,
                    "unknown section [%s] (sections: profile, match, backends, cpu, memory, "
                    "features, kernels, ops, perf, env, openblas)",
                    section);
    if (strcmp(section, s->last_section) != 0) {
        for (int i = 0; i < s->n_seen; i++)
            if (strcmp(s->seen[i], section) == 0)
                return fail(s, "section [%s] appears twice", section);
        if (s->n_seen < 16)
            snprintf(s->seen[s->n_seen++], sizeof s->seen[0], "%.23s", section);
        snprintf(s->last_section, sizeof s->last_section, "%.23s", section);
    }
    pce_profile *p = s->out;
    if (strcmp(section, "env") == 0) {
        for (const char *c = key; *c; c++)
            if (!isupper((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '_')
                return fail(s, "[env] '%s' is not an environment variable name (A-Z, 0-9, _)", key);
    } else {
        const keydef *k = NULL;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !k; i++)
            if (!strcmp(keys[i].section, section) && !strcmp(keys[i].key, key))
                k = &keys[i];
        if (!k)
            return fail(s, "unknown key '%s' in [%s]", key, section);
        if (!check_value(s, k, value))
            return 0;
    }
    if (pce_profile_get(p, section, key))
        return fail(s, "[%s] %s is set twice", section, key);
    if (p->n_entries == PCE_PROFILE_MAX_KEYS)
        return fail(s, "more than %d keys", PCE_PROFILE_MAX_KEYS);
    if (strlen(value) >= sizeof p->entries[0].value || strlen(key) >= sizeof p->entries[0].key)
        return fail(s, "[%s] %s: key or value too long", section, key);
    pce_profile_entry *e = &p->entries[p->n_entries++];
    snprintf(e->section, sizeof e->section, "%s", section);
    snprintf(e->key, sizeof e->key, "%s", key);
    snprintf(e->value, sizeof e->value, "%s", value);
    e->line = s->line;
    if (!strcmp(section, "profile")) {
        if (!strcmp(key, "name"))
            snprintf(p->name, sizeof p->name, "%.63s", value);
        else if (!strcmp(key, "description"))
            snprintf(p->description, sizeof p->description, "%.159s", value);
        else if (!strcmp(key, "priority"))
            p->priority = atoi(value);
    }
    return 1;
}

const pce_profile_entry *pce_profile_get(const pce_profile *p, const char *section, const char *key)
{
    for (int i = 0; i < p->n_entries; i++)
        if (!strcmp(p->entries[i].section, section) && !strcmp(p->entries[i].key, key))
            return &p->entries[i];
    return NULL;
}

pce_status pce_profile_parse(const char *file, const char *text, pce_profile *out, char *err,
                             size_t cap)
{
    memset(out, 0, sizeof *out);
    snprintf(out->file, sizeof out->file, "%s", file);
    if (cap)
        err[0] = 0;
    for (const char *c = text; *c; c++)
        if ((unsigned char)*c < 0x20 && *c != '\n' && *c != '\r' && *c != '\t') {
            int line = 1;
            for (const char *d = text; d < c; d++)
                line += *d == '\n';
            snprintf(err, cap, "%s:%d: control character 0x%02x: not a text file", file, line,
                     (unsigned char)*c);
            return PCE_ERR_FORMAT;
        }
    parse_state s = {.file = file, .text = text, .pos = text, .out = out, .err = err, .cap = cap};
    int rc = ini_parse_stream(reader, &s, handler, &s);
    if (s.failed)
        return PCE_ERR_FORMAT;
    if (rc != 0) {
        snprintf(err, cap, "%s:%d: not INI syntax (expected [section] or key = value)", file,
                 rc > 0 ? rc : s.line);
        return PCE_ERR_FORMAT;
    }
    if (!out->name[0]) {
        snprintf(err, cap, "%s: [profile] name is missing", file);
        return PCE_ERR_FORMAT;
    }
    return PCE_OK;
}

pce_status pce_profile_load(const char *path, pce_profile *out, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, cap, "%s: cannot open: %s", path, strerror(errno));
        return PCE_ERR_IO;
    }
    char *text = malloc(65537);
    size_t n = text ? fread(text, 1, 65536, f) : 0;
    bool big = text && n == 65536 && fgetc(f) != EOF;
    fclose(f);
    if (!text) {
        snprintf(err, cap, "%s: out of memory", path);
        return PCE_ERR_OUT_OF_MEMORY;
    }
    if (big) {
        free(text);
        snprintf(err, cap, "%s: larger than 64 KiB: not a profile", path);
        return PCE_ERR_FORMAT;
    }
    text[n] = 0;
    if (strlen(text) != n) {
        free(text);
        snprintf(err, cap, "%s: contains NUL bytes: not a text file", path);
        return PCE_ERR_FORMAT;
    }
    pce_status st = pce_profile_parse(path, text, out, err, cap);
    free(text);
    return st;
}

/* ---- matching ----------------------------------------------------------- */

#include "detect.h"

#include <fnmatch.h>
#include <strings.h>

static bool device_key(const char *key)
{
    static const char *const dk[] = {"backend",        "device_name", "compute_capability",
                                     "gfx_target",     "driver",      "driver_version",
                                     "runtime_missing"};
    for (size_t i = 0; i < sizeof dk / sizeof dk[0]; i++)
        if (!strcmp(key, dk[i]))
            return true;
    return false;
}

/* [match] pci_vendor / pci_device: against the device when there is one,
 * else against any PCI display/accelerator device of the host. */
static bool hex_in(const char *range, uint16_t v)
{
    long lo, hi; /* validated when the profile was parsed */
    return hex_range(range, &lo, &hi) && v >= lo && v <= hi;
}

static bool mismatch(char *why, size_t cap, const pce_profile *p, const pce_profile_entry *e,
                     const char *have)
{
    if (why && cap)
        snprintf(why, cap, "%s:%d: %s = %s, %s", p->file, e->line, e->key, e->value, have);
    return false;
}

bool pce_profile_matches(const pce_profile *p, const pce_hw_snapshot *s,
                         const pce_device_facts *dev, char *why, size_t cap)
{
    char have[160];
    for (int i = 0; i < p->n_entries; i++) {
        const pce_profile_entry *e = &p->entries[i];
        if (strcmp(e->section, "match") != 0)
            continue;
        const char *k = e->key, *v = e->value;
        if (device_key(k) && !dev)
            return mismatch(why, cap, p, e, "a device-level key (no device given)");
        char num[32];
        if (!strcmp(k, "cpu_arch")) {
            if (strcmp(v, s->cpu.arch))
                return mismatch(why, cap, p, e, "this host is not");
        } else if (!strcmp(k, "cpu_vendor")) {
            if (strcmp(v, s->cpu.vendor)) {
                snprintf(have, sizeof have, "this host has %s", s->cpu.vendor);
                return mismatch(why, cap, p, e, have);
            }
        } else if (!strcmp(k, "cpu_family") || !strcmp(k, "cpu_model")) {
            int x = !strcmp(k, "cpu_family") ? s->cpu.family : s->cpu.model;
            snprintf(num, sizeof num, "%d", x);
            if (pce_range_contains(v, num) != 1) {
                snprintf(have, sizeof have, "this host has %d", x);
                return mismatch(why, cap, p, e, have);
            }
        } else if (!strcmp(k, "cpu_name")) {
            if (fnmatch(v, s->cpu.brand, 0) != 0) {
                snprintf(have, sizeof have, "this host is '%.100s'", s->cpu.brand);
                return mismatch(why, cap, p, e, have);
            }
        } else if (!strcmp(k, "cpu_feature")) {
            char buf[160];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *save, *w = strtok_r(buf, ", ", &save); w; w = strtok_r(NULL, ", ", &save))
                if (!pce_hw_has_feature(&s->cpu, w)) {
                    snprintf(have, sizeof have, "this host lacks %.60s", w);
                    return mismatch(why, cap, p, e, have);
                }
        } else if (!strcmp(k, "openblas_version")) {
            /* "OpenBLAS 0.3.21 ..." */
            const char *ver = strncmp(s->libs.openblas_config, "OpenBLAS ", 9) == 0
                                  ? s->libs.openblas_config + 9
                                  : "";
            char vb[32];
            snprintf(vb, sizeof vb, "%.*s", (int)strcspn(ver, " "), ver);
            if (!vb[0] || pce_range_contains(v, vb) != 1) {
                snprintf(have, sizeof have, "OpenBLAS here is %s", vb[0] ? vb : "absent");
                return mismatch(why, cap, p, e, have);
            }
        } else if (!strcmp(k, "openblas_default_core")) {
            /* any of the listed cores, as OpenBLAS names them (any case) */
            const char *have_core = s->libs.openblas_default_core;
            bool any = false;
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *save, *w = strtok_r(buf, ", ", &save); w && !any;
                 w = strtok_r(NULL, ", ", &save))
                any = have_core[0] && strcasecmp(w, have_core) == 0;
            if (!any) {
                snprintf(have, sizeof have, "OpenBLAS alone picks %s",
                         have_core[0] ? have_core : "nothing (absent)");
                return mismatch(why, cap, p, e, have);
            }
        } else if (!strcmp(k, "pci_vendor") || !strcmp(k, "pci_device") ||
                   !strcmp(k, "pci_driver")) {
            bool vendor = !strcmp(k, "pci_vendor"), drv = !strcmp(k, "pci_driver");
            bool ok = false;
            if (dev && !drv) {
                ok = hex_in(v, vendor ? dev->pci_vendor : dev->pci_device);
            } else {
                for (int j = 0; j < s->n_pci && !ok; j++)
                    ok = drv ? !strcmp(s->pci[j].driver, v)
                             : hex_in(v, vendor ? s->pci[j].vendor : s->pci[j].device);
            }
            if (!ok)
                return mismatch(why, cap, p, e,
                                dev && !drv ? "not this device" : "no such PCI device here");
        } else if (!strcmp(k, "backend")) {
            if (strcmp(v, dev->backend))
                return mismatch(why, cap, p, e, "another backend");
        } else if (!strcmp(k, "device_name")) {
            if (fnmatch(v, dev->name, 0) != 0)
                return mismatch(why, cap, p, e, "another device");
        } else if (!strcmp(k, "driver")) {
            if (strcmp(v, dev->driver))
                return mismatch(why, cap, p, e, "another driver");
        } else if (!strcmp(k, "compute_capability") || !strcmp(k, "driver_version")) {
            const char *x = !strcmp(k, "compute_capability") ? dev->arch : dev->driver_version;
            if (!*x || !is_version(x) || pce_range_contains(v, x) != 1)
                return mismatch(why, cap, p, e, "outside the range");
        } else if (!strcmp(k, "gfx_target")) {
            if (fnmatch(v, dev->arch, 0) != 0)
                return mismatch(why, cap, p, e, "another gfx target");
        } else if (!strcmp(k, "runtime_missing")) {
            bool missing = !strcmp(v, "cuda")  ? !(s->libs.libcuda && s->libs.libcudart)
                           : !strcmp(v, "hip") ? !(s->libs.libamdhip64 && s->libs.dev_kfd)
                                               : !s->libs.libvulkan;
            if (!missing)
                return mismatch(why, cap, p, e, "that runtime is here");
        }
    }
    return true;
}

pce_setting pce_profiles_resolve(const pce_profile *const *matched, int n, const char *section,
                                 const char *key)
{
    pce_setting best = {NULL, NULL};
    for (int i = 0; i < n; i++) {
        const pce_profile_entry *e = pce_profile_get(matched[i], section, key);
        if (e && (!best.from || matched[i]->priority >= best.from->priority)) {
            best.entry = e;
            best.from = matched[i];
        }
    }
    return best;
}
