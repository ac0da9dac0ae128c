/* hwconfig.c — the decisions taken from the hardware snapshot and the
 * profiles: which profiles apply to the host and to each device, the
 * settings they layer to (with the file:line that won), the ranked device
 * list, and the text of `pce devices --explain`. The snapshot is detected,
 * or read from PCE_SNAPSHOT (a JSON file written by `pce devices
 * --snapshot`, to reproduce another machine). */
#include "detect.h"
#include "profile.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#ifdef PCE_HAVE_OPENBLAS
#include "openblas.h"
#endif
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#ifndef PCE_PROFILE_DATADIR_REL
#define PCE_PROFILE_DATADIR_REL ""
#endif
#ifndef PCE_PROFILE_INSTALL_DIR
#define PCE_PROFILE_INSTALL_DIR ""
#endif
#ifndef PCE_SOURCE_ROOT
#define PCE_SOURCE_ROOT ""
#endif

/* ---- snapshot from JSON ------------------------------------------------- */

static const char *jget_str(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : "";
}

static int jget_int(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int(v) : 0;
}

static bool jget_bool(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

pce_status pce_hw_read_json(const char *path, pce_hw_snapshot *s, char *err, size_t cap)
{
    memset(s, 0, sizeof *s);
    json_object *root = json_object_from_file(path);
    if (!root) {
        snprintf(err, cap, "snapshot '%s': %s", path, json_util_get_last_err());
        return PCE_ERR_FORMAT;
    }
    json_object *cpu, *pci, *libs;
    if (strcmp(jget_str(root, "format"), "pce-snapshot") != 0 || jget_int(root, "version") != 1 ||
        !json_object_object_get_ex(root, "cpu", &cpu)) {
        snprintf(err, cap,
                 "snapshot '%s': not a pce snapshot (version 1) from pce devices --snapshot", path);
        json_object_put(root);
        return PCE_ERR_FORMAT;
    }
    pce_hw_cpu *c = &s->cpu;
    snprintf(c->arch, sizeof c->arch, "%.15s", jget_str(cpu, "arch"));
    snprintf(c->vendor, sizeof c->vendor, "%.15s", jget_str(cpu, "vendor"));
    c->family = jget_int(cpu, "family");
    c->model = jget_int(cpu, "model");
    c->stepping = jget_int(cpu, "stepping");
    snprintf(c->brand, sizeof c->brand, "%.63s", jget_str(cpu, "brand"));
    snprintf(c->features, sizeof c->features, "%.511s", jget_str(cpu, "features"));
    c->cores = jget_int(cpu, "cores");
    c->threads = jget_int(cpu, "threads");
    c->numa_nodes = jget_int(cpu, "numa_nodes");
    if (json_object_object_get_ex(root, "pci", &pci) && json_object_is_type(pci, json_type_array))
        for (size_t i = 0; i < json_object_array_length(pci) && s->n_pci < PCE_HW_MAX_PCI; i++) {
            json_object *d = json_object_array_get_idx(pci, i);
            pce_hw_pci *x = &s->pci[s->n_pci++];
            snprintf(x->slot, sizeof x->slot, "%.15s", jget_str(d, "slot"));
            x->vendor = (uint16_t)strtoul(jget_str(d, "vendor"), NULL, 16);
            x->device = (uint16_t)strtoul(jget_str(d, "device"), NULL, 16);
            x->class_code = (uint32_t)strtoul(jget_str(d, "class"), NULL, 16);
            snprintf(x->driver, sizeof x->driver, "%.31s", jget_str(d, "driver"));
        }
    if (json_object_object_get_ex(root, "libs", &libs)) {
        pce_hw_libs *l = &s->libs;
        l->libcuda = jget_bool(libs, "libcuda");
        l->libcudart = jget_bool(libs, "libcudart");
        l->libamdhip64 = jget_bool(libs, "libamdhip64");
        l->dev_kfd = jget_bool(libs, "dev_kfd");
        l->libvulkan = jget_bool(libs, "libvulkan");
        snprintf(l->openblas_config, sizeof l->openblas_config, "%.159s",
                 jget_str(libs, "openblas_config"));
        snprintf(l->openblas_core, sizeof l->openblas_core, "%.31s",
                 jget_str(libs, "openblas_core"));
        snprintf(l->openblas_default_core, sizeof l->openblas_default_core, "%.31s",
                 jget_str(libs, "openblas_default_core"));
    }
    json_object *devs;
    if (json_object_object_get_ex(root, "devices", &devs) &&
        json_object_is_type(devs, json_type_array))
        for (size_t i = 0; i < json_object_array_length(devs) && s->n_devices < PCE_HW_MAX_DEVICES;
             i++) {
            json_object *d = json_object_array_get_idx(devs, i);
            pce_device_facts *x = &s->devices[s->n_devices++];
            snprintf(x->device, sizeof x->device, "%.31s", jget_str(d, "device"));
            snprintf(x->backend, sizeof x->backend, "%.15s", jget_str(d, "backend"));
            snprintf(x->name, sizeof x->name, "%.127s", jget_str(d, "name"));
            snprintf(x->driver, sizeof x->driver, "%.31s", jget_str(d, "driver"));
            snprintf(x->arch, sizeof x->arch, "%.47s", jget_str(d, "arch"));
            snprintf(x->driver_version, sizeof x->driver_version, "%.31s",
                     jget_str(d, "driver_version"));
            x->pci_vendor = (uint16_t)strtoul(jget_str(d, "pci_vendor"), NULL, 16);
            x->pci_device = (uint16_t)strtoul(jget_str(d, "pci_device"), NULL, 16);
        }
    json_object_put(root);
    return PCE_OK;
}

/* ---- profiles ----------------------------------------------------------- */

typedef struct sbuf {
    char *buf;
    size_t cap, len;
} sbuf;

static void out(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (b->buf && b->len + 1 < b->cap) {
        size_t room = b->cap - b->len - 1, k = (size_t)n < room ? (size_t)n : room;
        memcpy(b->buf + b->len, tmp, k);
        b->buf[b->len + k] = 0;
    }
    b->len += (size_t)n;
}

/* Loads every *.ini of dir, sorted by name; user folders get +1000 priority
 * so they layer over the shipped profiles. Bad files are reported, skipped. */
static void load_dir(pce_context *ctx, const char *dir, int boost, sbuf *errors)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char(*names)[256] = NULL;
    int n = 0, capn = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t k = strlen(e->d_name);
        if (k < 5 || strcmp(e->d_name + k - 4, ".ini") != 0)
            continue;
        if (n == capn) {
            capn = capn ? 2 * capn : 32;
            char(*nn)[256] = realloc(names, (size_t)capn * sizeof *names);
            if (!nn)
                break;
            names = nn;
        }
        snprintf(names[n++], sizeof names[0], "%.255s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < n; i++) {
        pce_profile *p = realloc(ctx->profiles, (size_t)(ctx->n_profiles + 1) * sizeof *p);
        if (!p)
            break;
        ctx->profiles = p;
        char path[1024], err[600];
        snprintf(path, sizeof path, "%.700s/%s", dir, names[i]);
        if (pce_profile_load(path, &ctx->profiles[ctx->n_profiles], err, sizeof err) != PCE_OK) {
            pce_log(ctx, PCE_LOG_ERROR, "hardware profile skipped: %s", err);
            out(errors, "  skipped: %s\n", err);
            continue;
        }
        ctx->profiles[ctx->n_profiles++].priority += boost;
    }
    free(names);
}

/* The snapshot and the profiles, once per context (under probe_lock). */
void pce_context_load_hw(pce_context *ctx)
{
    if (ctx->hw_loaded)
        return;
    ctx->hw_loaded = true;
    sbuf errors = {ctx->profile_errors, sizeof ctx->profile_errors, 0};
    if (!ctx->snapshot && (ctx->snapshot = malloc(sizeof *ctx->snapshot)) != NULL) {
        const char *snap = getenv("PCE_SNAPSHOT");
        char err[600];
        if (snap && *snap && pce_hw_read_json(snap, ctx->snapshot, err, sizeof err) == PCE_OK) {
            snprintf(ctx->snapshot_file, sizeof ctx->snapshot_file, "%.255s", snap);
        } else {
            if (snap && *snap) {
                pce_log(ctx, PCE_LOG_ERROR, "PCE_SNAPSHOT ignored: %s", err);
                out(&errors, "  PCE_SNAPSHOT ignored: %s\n", err);
            }
            pce_hw_detect(ctx->snapshot, "/");
        }
    }
    pce_context_load_profiles(ctx);
}

void pce_context_hw_devices(pce_context *ctx)
{
    /* a detected snapshot lists the devices the backends found; a saved one
     * (PCE_SNAPSHOT) keeps its own */
    if (ctx->snapshot && !ctx->snapshot_file[0])
        for (int i = 0; i < ctx->n_devices && ctx->snapshot->n_devices < PCE_HW_MAX_DEVICES; i++)
            ctx->snapshot->devices[ctx->snapshot->n_devices++] = ctx->devices[i]->facts;
    for (int i = 0; i < ctx->n_devices; i++)
        pce_device_settings_resolve(ctx, ctx->devices[i]);
}

/* The profiles alone (cheap: a few small files), once per context. */
void pce_context_load_profiles(pce_context *ctx)
{
    if (ctx->profiles_loaded)
        return;
    ctx->profiles_loaded = true;
    sbuf errors = {ctx->profile_errors, sizeof ctx->profile_errors, strlen(ctx->profile_errors)};
    char dir[1024];
    char prefix[900];
    struct stat st;
    if (pce_running_from_build_tree() && PCE_SOURCE_ROOT[0])
        snprintf(dir, sizeof dir, "%s/hw-profiles", PCE_SOURCE_ROOT);
    else if (PCE_PROFILE_DATADIR_REL[0] && PCE_PROFILE_DATADIR_REL[0] != '/' &&
             pce_install_prefix_here(prefix, sizeof prefix) &&
             snprintf(dir, sizeof dir, "%s/%s", prefix, PCE_PROFILE_DATADIR_REL) > 0 &&
             stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        ; /* the profiles installed beside this library (moved or staged) */
    else
        snprintf(dir, sizeof dir, "%s", PCE_PROFILE_INSTALL_DIR);
    load_dir(ctx, dir, 0, &errors);
    const char *list = getenv("PCE_PROFILE_PATH");
    while (list && *list) {
        size_t n = strcspn(list, ":");
        snprintf(dir, sizeof dir, "%.*s", (int)(n < 1000 ? n : 1000), list);
        if (n)
            load_dir(ctx, dir, 1000, &errors);
        list += n + (list[n] == ':');
    }
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%.900s/pce/profiles", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%.900s/.config/pce/profiles", home);
    else
        dir[0] = 0;
    if (dir[0])
        load_dir(ctx, dir, 1000, &errors);
}

static int matched(const pce_context *ctx, const pce_device_facts *dev, const pce_profile **m);

void pce_apply_env_profile(pce_context *ctx)
{
    if (!ctx->snapshot)
        return;
    const pce_profile *m[256];
    int n = matched(ctx, NULL, m);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m[i]->n_entries; j++) {
            if (strcmp(m[i]->entries[j].section, "env"))
                continue;
            /* the winner among the profiles that set this variable */
            pce_setting w = pce_profiles_resolve(m, n, "env", m[i]->entries[j].key);
            if (w.entry != &m[i]->entries[j])
                continue;
            const char *key = w.entry->key, *cur = getenv(key);
            if (cur) {
                pce_log(ctx, PCE_LOG_INFO, "[env] %s = %s (%s:%d) not applied: already %s", key,
                        w.entry->value, w.from->file, w.entry->line, cur);
                continue;
            }
            /* before any GPU runtime loads: they read these when they start */
            setenv(key, w.entry->value, 0);
            pce_log(ctx, PCE_LOG_INFO, "[env] %s = %s from %s:%d", key, w.entry->value,
                    w.from->file, w.entry->line);
        }
}

/* Profiles matching the host (dev NULL: host-level profiles only) or a device
 * (host-level profiles and the device's own). */
static int matched(const pce_context *ctx, const pce_device_facts *dev, const pce_profile **m)
{
    int n = 0;
    for (int i = 0; i < ctx->n_profiles; i++) {
        const pce_profile *p = &ctx->profiles[i];
        if (pce_profile_matches(p, ctx->snapshot, NULL, NULL, 0) ||
            (dev && pce_profile_matches(p, ctx->snapshot, dev, NULL, 0)))
            m[n++] = p;
    }
    return n;
}

/* Rank of a device: automatic ones first, then by its backend's place in the
 * winning [backends] order. */
static int device_rank(const pce_context *ctx, const pce_device_facts *dev, char *why, size_t cap)
{
    if (ctx->device_order) { /* PCE_DEVICES overrides the profiles */
        int i = pce_list_index(ctx->device_order, dev->device);
        if (i >= 0) {
            snprintf(why, cap, "#%d in PCE_DEVICES=%.100s", i + 1, ctx->device_order);
            return i;
        }
        snprintf(why, cap, "not used: not in PCE_DEVICES=%.100s", ctx->device_order);
        return 1000;
    }
    const pce_profile *m[256];
    int n = matched(ctx, dev, m);
    pce_setting aut = pce_profiles_resolve(m, n, "backends", "auto");
    pce_setting ord = pce_profiles_resolve(m, n, "backends", "order");
    int pos = 9;
    if (ord.entry) {
        char buf[160];
        snprintf(buf, sizeof buf, "%s", ord.entry->value);
        int i = 0;
        for (char *save, *w = strtok_r(buf, ", ", &save); w; w = strtok_r(NULL, ", ", &save), i++)
            if (!strcmp(w, dev->backend))
                pos = i;
    }
    bool manual = aut.entry && !strcmp(aut.entry->value, "off");
    if (manual)
        snprintf(why, cap, "only when asked for by name: [backends] auto = off (%.150s:%d)",
                 aut.from->file, aut.entry->line);
    else if (ord.entry)
        snprintf(why, cap, "%s is #%d in [backends] order = %.60s (%.150s:%d)", dev->backend,
                 pos + 1, ord.entry->value, ord.from->file, ord.entry->line);
    else
        snprintf(why, cap, "no profile orders backends");
    return (manual ? 100 : 0) + pos;
}

/* The snapshot's devices, best first (ties keep their order), with why. */
typedef struct ranking {
    int order[PCE_HW_MAX_DEVICES], rank[PCE_HW_MAX_DEVICES];
    char why[PCE_HW_MAX_DEVICES][320];
    int n;
} ranking;

static void rank_devices(const pce_context *ctx, ranking *r)
{
    const pce_hw_snapshot *s = ctx->snapshot;
    r->n = s->n_devices;
    for (int i = 0; i < r->n; i++) {
        r->order[i] = i;
        r->rank[i] = device_rank(ctx, &s->devices[i], r->why[i], sizeof r->why[i]);
    }
    for (int i = 1; i < r->n; i++)
        for (int j = i; j > 0 && r->rank[r->order[j - 1]] > r->rank[r->order[j]]; j--) {
            int t = r->order[j];
            r->order[j] = r->order[j - 1];
            r->order[j - 1] = t;
        }
}

/* ---- per-device settings --------------------------------------------- */

static void from_str(pce_setting_from out, pce_setting st)
{
    if (st.entry)
        snprintf(out, sizeof(pce_setting_from), "%.140s:%d", st.from->file, st.entry->line);
    else
        out[0] = 0;
}

/* Peak estimates from a device's properties, for the placement cost model
 * when no profile gives [perf] figures: rough, but of the right order. */
static void estimate_perf(const pce_context *ctx, const pce_device *d, pce_device_settings *st)
{
    int cu = d->props.compute_units > 0 ? d->props.compute_units : 1;
    if (!strcmp(d->props.backend, "cpu")) {
        const pce_hw_cpu *c = ctx->snapshot ? &ctx->snapshot->cpu : NULL;
        double per_cycle = 8; /* SSE: 4-wide FMA-less add + mul */
        if (c && pce_hw_has_feature(c, "avx512f"))
            per_cycle = 64;
        else if (c && (pce_hw_has_feature(c, "fma") || pce_hw_has_feature(c, "neon")))
            per_cycle = 32;
        st->gflops = cu * 2.5 * per_cycle;
        st->bandwidth_gbs = 40;
        st->link_gbs = 0; /* host memory: nothing to cross */
    } else if (d->props.type == PCE_DEVICE_GPU_DISCRETE) {
        st->gflops = cu * 128 * 2 * 1.5;
        st->bandwidth_gbs = 1000;
        st->link_gbs = 25; /* PCIe 4.0 x16 in practice */
    } else if (d->props.type == PCE_DEVICE_GPU_INTEGRATED) {
        st->gflops = cu * 64 * 2 * 1.0;
        st->bandwidth_gbs = 60;
        st->link_gbs = 0; /* shares host memory */
    } else {              /* software or unknown devices */
        st->gflops = 5;
        st->bandwidth_gbs = 5;
        st->link_gbs = 0;
    }
}

static const char *const feature_keys[PCE_FEAT_COUNT] = {
    [PCE_FEAT_FP16] = "fp16",
    [PCE_FEAT_BF16] = "bf16",
    [PCE_FEAT_FP8] = "fp8",
    [PCE_FEAT_INT8_DOT] = "int8_dot",
    [PCE_FEAT_SUBGROUP_OPS] = "subgroup_ops",
    [PCE_FEAT_COOP_MATRIX] = "cooperative_matrix",
};

/* Layers the profiles matching device d (host-level and its own) into
 * d->settings. Needs the snapshot and profiles (pce_context_load_hw). */
void pce_device_settings_resolve(pce_context *ctx, pce_device *d)
{
    pce_device_settings *st = &d->settings;
    memset(st, 0, sizeof *st);
    const pce_profile *m[256];
    int n = ctx->snapshot ? matched(ctx, &d->facts, m) : 0;
    st->rank = ctx->snapshot ? device_rank(ctx, &d->facts, st->rank_why, sizeof st->rank_why) : 0;
    pce_setting v = pce_profiles_resolve(m, n, "memory", "target_utilisation");
    st->target_utilisation = v.entry ? strtod(v.entry->value, NULL) : 0.80;
    from_str(st->target_from, v);
    for (int f = 0; f < PCE_FEAT_COUNT; f++) {
        v = pce_profiles_resolve(m, n, "features", feature_keys[f]);
        st->feature[f] = v.entry ? (int8_t)!strcmp(v.entry->value, "on") : -1;
        from_str(st->feature_from[f], v);
    }
    v = pce_profiles_resolve(m, n, "ops", "disable");
    if (v.entry) {
        char w[32];
        for (const char *l = v.entry->value; (l = pce_list_next(l, w, sizeof w)) != NULL;) {
            int op = pce_op_from_name(w);
            if (op > 0)
                st->ops_disabled |= 1ull << op;
        }
    }
    from_str(st->ops_from, v);
    v = pce_profiles_resolve(m, n, "kernels", "workgroup_size");
    st->workgroup_size = v.entry ? atoi(v.entry->value) : 0;
    from_str(st->workgroup_from, v);
    v = pce_profiles_resolve(m, n, "kernels", "matmul");
    snprintf(st->matmul, sizeof st->matmul, "%.7s", v.entry ? v.entry->value : "auto");
    from_str(st->matmul_from, v);
    estimate_perf(ctx, d, st);
    static const char *const perf_keys[] = {"gflops", "bandwidth_gbs", "link_gbs"};
    double *perf[] = {&st->gflops, &st->bandwidth_gbs, &st->link_gbs};
    for (int k = 0; k < 3; k++) {
        v = pce_profiles_resolve(m, n, "perf", perf_keys[k]);
        if (v.entry) {
            *perf[k] = strtod(v.entry->value, NULL);
            from_str(st->perf_from, v);
        }
    }
    st->resolved = true;
}

static const char *const setting_keys[][2] = {
    {"backends", "order"},
    {"backends", "auto"},
    {"cpu", "threads"},
    {"cpu", "pinning"},
    {"memory", "target_utilisation"},
    {"features", "fp16"},
    {"features", "bf16"},
    {"features", "fp8"},
    {"features", "int8_dot"},
    {"features", "subgroup_ops"},
    {"features", "cooperative_matrix"},
    {"kernels", "matmul"},
    {"kernels", "workgroup_size"},
    {"ops", "disable"},
    {"perf", "gflops"},
    {"perf", "bandwidth_gbs"},
    {"perf", "link_gbs"},
    {"openblas", "core_candidates"},
    {"openblas", "verify"},
};

static void settings(sbuf *b, const pce_profile **m, int n, const char *indent)
{
    for (size_t k = 0; k < sizeof setting_keys / sizeof setting_keys[0]; k++) {
        pce_setting st = pce_profiles_resolve(m, n, setting_keys[k][0], setting_keys[k][1]);
        if (st.entry)
            out(b, "%s[%s] %s = %s  (%s:%d)\n", indent, setting_keys[k][0], setting_keys[k][1],
                st.entry->value, st.from->file, st.entry->line);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m[i]->n_entries; j++)
            if (!strcmp(m[i]->entries[j].section, "env"))
                out(b, "%s[env] %s = %s  (%s:%d)\n", indent, m[i]->entries[j].key,
                    m[i]->entries[j].value, m[i]->file, m[i]->entries[j].line);
}

pce_status pce_devices_explain(pce_context *ctx, char *buf, size_t cap, size_t *len)
{
    if (!ctx || (!buf && cap))
        return PCE_ERR_INVALID_ARGUMENT;
    if (cap)
        buf[0] = 0;
    pce_context_probe_modules(ctx); /* loads the snapshot and profiles too */
    if (!ctx->snapshot)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "hardware snapshot");
    sbuf b = {buf, cap, 0};
    const pce_hw_snapshot *s = ctx->snapshot;
    const pce_hw_cpu *c = &s->cpu;
    out(&b, "host%s%s%s: %s %s family %d model %d stepping %d, \"%s\"\n",
        ctx->snapshot_file[0] ? " (from PCE_SNAPSHOT " : "", ctx->snapshot_file,
        ctx->snapshot_file[0] ? ")" : "", c->arch, c->vendor, c->family, c->model, c->stepping,
        c->brand);
    out(&b, "  %d cores, %d threads, %d NUMA node(s); features: %s\n", c->cores, c->threads,
        c->numa_nodes, c->features[0] ? c->features : "(none detected)");
    out(&b, "  OpenBLAS: %s%s%s\n", s->libs.openblas_config[0] ? s->libs.openblas_config : "none",
        s->libs.openblas_core[0] ? "; core in use: " : "", s->libs.openblas_core);
#ifdef PCE_HAVE_OPENBLAS
    if (pce_openblas_decision()[0] && !ctx->snapshot_file[0])
        out(&b, "  OpenBLAS core: %s\n", pce_openblas_decision());
#endif
    for (int i = 0; i < s->n_pci; i++) {
        const pce_hw_pci *p = &s->pci[i];
        const char *vn = pce_hw_vendor_name(p->vendor);
        out(&b, "  PCI %s: %s %04x:%04x class %06x, driver %s\n", p->slot, vn ? vn : "vendor",
            p->vendor, p->device, p->class_code, p->driver[0] ? p->driver : "(none bound)");
        if (p->vendor == 0x10de && !(s->libs.libcuda && s->libs.libcudart))
            out(&b,
                "    no CUDA runtime (%s missing): install the NVIDIA driver and CUDA, or "
                "use Vulkan\n",
                s->libs.libcuda ? "libcudart" : "libcuda.so.1");
        if (p->vendor == 0x1002 && !(s->libs.libamdhip64 && s->libs.dev_kfd))
            out(&b, "    no HIP runtime (%s): install ROCm, or use Vulkan\n",
                s->libs.dev_kfd ? "libamdhip64 missing" : "/dev/kfd missing");
    }
    if (!s->n_pci)
        out(&b, "  PCI: no display or accelerator devices\n");
    if (ctx->profile_errors[0])
        out(&b, "profile problems:\n%s", ctx->profile_errors);

    const pce_profile *m[256];
    int n = matched(ctx, NULL, m);
    out(&b, "profiles for the host (%d of %d loaded):\n", n, ctx->n_profiles);
    for (int i = 0; i < n; i++)
        out(&b, "  %s (%s, priority %d): %s\n", m[i]->name, m[i]->file, m[i]->priority,
            m[i]->description);
    out(&b, "settings for the host:\n");
    settings(&b, m, n, "  ");

    /* devices, best first (stable on ties: registration order) */
    ranking *rk = malloc(sizeof *rk);
    if (!rk)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "explain: device ranking");
    rank_devices(ctx, rk);
    int nd = rk->n; /* the snapshot's devices: this host's, or PCE_SNAPSHOT's */
    out(&b, "devices, best first:\n");
    for (int i = 0; i < nd; i++) {
        const pce_device_facts *d = &s->devices[rk->order[i]];
        out(&b, "  %d. %s (%s): %s\n", i + 1, d->device, d->name, rk->why[rk->order[i]]);
        const pce_profile *dm[256];
        int k = matched(ctx, d, dm), own = 0;
        for (int j = 0; j < k; j++)
            if (!pce_profile_matches(dm[j], s, NULL, NULL, 0)) {
                out(&b, "     profile %s (%s)\n", dm[j]->name, dm[j]->file);
                own++;
            }
        if (own)
            settings(&b, dm, k, "       ");
    }
    free(rk);
    for (int i = 0; i < ctx->n_unavailable; i++)
        out(&b, "backend %s not used%s: %s\n", ctx->unavailable[i].backend,
            ctx->snapshot_file[0] ? " here (this machine, not the snapshot's)" : "",
            ctx->unavailable[i].reason);
    out(&b, "profiles not matching the host (first failing key):\n");
    for (int i = 0; i < ctx->n_profiles; i++) {
        char w[400];
        bool host = pce_profile_matches(&ctx->profiles[i], s, NULL, w, sizeof w);
        bool any_dev = false;
        for (int j = 0; j < nd && !any_dev; j++)
            any_dev = pce_profile_matches(&ctx->profiles[i], s, &s->devices[j], NULL, 0);
        if (!host && !any_dev)
            out(&b, "  %s: %s\n", ctx->profiles[i].name, w);
    }
    if (len)
        *len = b.len;
    return PCE_OK;
}

/* Host-level matching from the CPU alone (CPUID): cheap enough for context
 * creation, which must not start GPU runtimes. */
static int host_matches_cpu_only(pce_context *ctx, const pce_profile **m, const char *openblas,
                                 const char *openblas_default_core)
{
    pce_context_load_profiles(ctx);
    pce_hw_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return 0;
    pce_hw_detect_cpu(&s->cpu);
    if (openblas)
        snprintf(s->libs.openblas_config, sizeof s->libs.openblas_config, "%s", openblas);
    if (openblas_default_core)
        snprintf(s->libs.openblas_default_core, sizeof s->libs.openblas_default_core, "%.31s",
                 openblas_default_core);
    int n = 0;
    for (int i = 0; i < ctx->n_profiles && n < 256; i++)
        if (pce_profile_matches(&ctx->profiles[i], s, NULL, NULL, 0))
            m[n++] = &ctx->profiles[i];
    free(s);
    return n;
}

void pce_apply_cpu_profile(pce_context *ctx)
{
    const pce_profile *m[256];
    int n = host_matches_cpu_only(ctx, m, NULL, NULL);
    pce_setting pin = pce_profiles_resolve(m, n, "cpu", "pinning");
    if (pin.entry) {
        snprintf(ctx->cpu_pinning, sizeof ctx->cpu_pinning, "%.7s", pin.entry->value);
        snprintf(ctx->cpu_pinning_from, sizeof ctx->cpu_pinning_from, "%.140s:%d", pin.from->file,
                 pin.entry->line);
    }
    if (ctx->num_threads > 0)
        return; /* the options or PCE_NUM_THREADS decided */
    pce_setting st = pce_profiles_resolve(m, n, "cpu", "threads");
    if (st.entry && atoi(st.entry->value) > 0) {
        ctx->num_threads = atoi(st.entry->value);
        pce_log(ctx, PCE_LOG_INFO, "CPU threads %d from %s:%d", ctx->num_threads, st.from->file,
                st.entry->line);
    }
}

/* ---- the same as JSON ---------------------------------------------------- */

static json_object *jsettings(const pce_profile **m, int n)
{
    json_object *arr = json_object_new_array();
    for (size_t k = 0; k < sizeof setting_keys / sizeof setting_keys[0]; k++) {
        pce_setting st = pce_profiles_resolve(m, n, setting_keys[k][0], setting_keys[k][1]);
        if (!st.entry)
            continue;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "section", json_object_new_string(setting_keys[k][0]));
        json_object_object_add(o, "key", json_object_new_string(setting_keys[k][1]));
        json_object_object_add(o, "value", json_object_new_string(st.entry->value));
        json_object_object_add(o, "file", json_object_new_string(st.from->file));
        json_object_object_add(o, "line", json_object_new_int(st.entry->line));
        json_object_array_add(arr, o);
    }
    return arr;
}

static json_object *jnames(const pce_profile **m, int n)
{
    json_object *arr = json_object_new_array();
    for (int i = 0; i < n; i++)
        json_object_array_add(arr, json_object_new_string(m[i]->name));
    return arr;
}

pce_status pce_devices_explain_json(pce_context *ctx, char *buf, size_t cap, size_t *len)
{
    if (!ctx || (!buf && cap))
        return PCE_ERR_INVALID_ARGUMENT;
    pce_context_probe_modules(ctx);
    if (!ctx->snapshot)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "hardware snapshot");
    json_object *root = json_object_new_object();
    /* the snapshot as `pce devices --snapshot` writes it */
    char *snap = NULL;
    size_t snap_len = 0;
    FILE *f = open_memstream(&snap, &snap_len);
    if (f) {
        pce_hw_write_json(ctx->snapshot, f);
        fclose(f);
    }
    json_object *js = snap ? json_tokener_parse(snap) : NULL;
    free(snap);
    json_object_object_add(root, "snapshot", js);
    json_object_object_add(root, "snapshot_file",
                           ctx->snapshot_file[0] ? json_object_new_string(ctx->snapshot_file)
                                                 : NULL);
#ifdef PCE_HAVE_OPENBLAS
    json_object_object_add(root, "openblas_decision",
                           json_object_new_string(pce_openblas_decision()));
#endif
    const pce_profile *m[256];
    int n = matched(ctx, NULL, m);
    json_object *host = json_object_new_object();
    json_object_object_add(host, "profiles", jnames(m, n));
    json_object_object_add(host, "settings", jsettings(m, n));
    json_object_object_add(root, "host", host);

    const pce_hw_snapshot *snap_ = ctx->snapshot;
    int nd = snap_->n_devices;
    json_object *devs = json_object_new_array();
    ranking *rk = malloc(sizeof *rk);
    if (rk)
        rank_devices(ctx, rk);
    for (int r = 0; rk && r < rk->n; r++) {
        int best = rk->order[r];
        const pce_device_facts *d = &snap_->devices[best];
        const pce_profile *dm[256];
        int k = matched(ctx, d, dm);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "rank", json_object_new_int(r + 1));
        json_object_object_add(o, "name", json_object_new_string(d->device));
        json_object_object_add(o, "backend", json_object_new_string(d->backend));
        json_object_object_add(o, "description", json_object_new_string(d->name));
        json_object_object_add(o, "automatic", json_object_new_boolean(rk->rank[best] < 100));
        json_object_object_add(o, "why", json_object_new_string(rk->why[best]));
        json_object_object_add(o, "profiles", jnames(dm, k));
        json_object_object_add(o, "settings", jsettings(dm, k));
        json_object_array_add(devs, o);
    }
    free(rk);
    json_object_object_add(root, "devices", devs);
    json_object *un = json_object_new_array();
    for (int i = 0; i < ctx->n_unavailable; i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "backend", json_object_new_string(ctx->unavailable[i].backend));
        json_object_object_add(o, "reason", json_object_new_string(ctx->unavailable[i].reason));
        json_object_array_add(un, o);
    }
    json_object_object_add(root, "unavailable", un);
    json_object *nm = json_object_new_array();
    for (int i = 0; i < ctx->n_profiles; i++) {
        char w[400];
        bool any = pce_profile_matches(&ctx->profiles[i], ctx->snapshot, NULL, w, sizeof w);
        for (int j = 0; j < nd && !any; j++)
            any =
                pce_profile_matches(&ctx->profiles[i], ctx->snapshot, &snap_->devices[j], NULL, 0);
        if (any)
            continue;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "profile", json_object_new_string(ctx->profiles[i].name));
        json_object_object_add(o, "why", json_object_new_string(w));
        json_object_array_add(nm, o);
    }
    json_object_object_add(root, "not_matched", nm);
    json_object_object_add(root, "profile_errors", json_object_new_string(ctx->profile_errors));
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t tl = strlen(text);
    if (cap) {
        size_t k = tl < cap - 1 ? tl : cap - 1;
        memcpy(buf, text, k);
        buf[k] = 0;
    }
    if (len)
        *len = tl + 1; /* with the newline below */
    if (cap > tl + 1) {
        buf[tl] = '\n';
        buf[tl + 1] = 0;
    }
    json_object_put(root);
    return PCE_OK;
}

#ifdef PCE_HAVE_OPENBLAS
/* Chooses OpenBLAS's core before OpenBLAS loads (once per process): the
 * environment's OPENBLAS_CORETYPE if set; else the first of the host
 * profiles' [openblas] core_candidates that passes verification; else
 * OpenBLAS's own choice. Host-level matching here uses the CPU (CPUID) and
 * the OpenBLAS version learned in a child process; nothing heavier. */
void pce_openblas_decide(pce_context *ctx)
{
    static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
    static bool done;
    pthread_mutex_lock(&once);
    if (done) {
        pthread_mutex_unlock(&once);
        return;
    }
    done = true;
    char cfg[160], core[32], why[300], text[1024];
    if (!pce_openblas_probe(cfg, sizeof cfg, core, sizeof core, why, sizeof why)) {
        snprintf(text, sizeof text, "OpenBLAS not used: %s; matmul uses pce's own GEMM", why);
        pce_openblas_set_decision(text);
        pce_log(ctx, PCE_LOG_INFO, "%s", text);
        pthread_mutex_unlock(&once);
        return;
    }
    const char *env = getenv("OPENBLAS_CORETYPE");
    const char *chosen = NULL;
    if (env && *env) {
        snprintf(text, sizeof text,
                 "OPENBLAS_CORETYPE=%.40s from the environment (it overrides profiles; OpenBLAS "
                 "alone would pick %s)",
                 env, core);
    } else {
        const pce_profile *m[256];
        int n = host_matches_cpu_only(ctx, m, cfg, core);
        pce_hw_cpu cpu;
        pce_hw_detect_cpu(&cpu);
        pce_setting cand = pce_profiles_resolve(m, n, "openblas", "core_candidates");
        pce_setting ver = pce_profiles_resolve(m, n, "openblas", "verify");
        if (!cand.entry) {
            snprintf(text, sizeof text,
                     "no profile names OpenBLAS core candidates: OpenBLAS picks %s itself", core);
        } else {
            bool verify = !ver.entry || strcmp(ver.entry->value, "off") != 0;
            char key[96], list[160], tried[400] = "";
            static char pick[32];
            snprintf(key, sizeof key, "%s-%d-%d-%d", cpu.vendor, cpu.family, cpu.model,
                     cpu.stepping);
            snprintf(list, sizeof list, "%s", cand.entry->value);
            for (char *save, *w = strtok_r(list, ", ", &save); w && !chosen;
                 w = strtok_r(NULL, ", ", &save)) {
                char detail[200] = "not verified ([openblas] verify = off)";
                bool ok = !verify || pce_openblas_verify(w, key, detail, sizeof detail);
                snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s%s %s: %.120s",
                         tried[0] ? "; " : "", w, ok ? "passed" : "failed", detail);
                if (ok) {
                    snprintf(pick, sizeof pick, "%.31s", w);
                    chosen = pick;
                }
            }
            if (chosen)
                snprintf(text, sizeof text,
                         "OPENBLAS_CORETYPE=%s from %.150s:%d (OpenBLAS alone would pick %s); "
                         "%.250s",
                         chosen, cand.from->file, cand.entry->line, core, tried);
            else
                snprintf(text, sizeof text,
                         "no candidate of %.150s:%d passed (%.250s): OpenBLAS picks %s itself",
                         cand.from->file, cand.entry->line, tried, core);
        }
    }
    pce_openblas_load(chosen);
    if (chosen && strcasecmp(pce_openblas_corename(), chosen) != 0) {
        /* the program linked OpenBLAS itself: it loaded with its own choice */
        size_t k = strlen(text);
        snprintf(text + k, sizeof text - k,
                 "; but OpenBLAS was already loaded by this program, with core %s",
                 pce_openblas_corename());
    }
    pce_openblas_set_decision(text);
    pce_log(ctx, PCE_LOG_INFO, "%s; core in use: %s", text, pce_openblas_corename());
    pthread_mutex_unlock(&once);
}
#endif
