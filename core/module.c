/* module.c — finds, loads and probes the loadable backend modules.
 *
 * Search order for libpce-backend-NAME.so: the directories of
 * PCE_BACKEND_PATH (or pce_context_options.backend_path), then, when this
 * library runs from its build tree, the module's folder in that tree; else
 * the folder pce/ next to the loaded libpce.so, then the configured install
 * folder (<prefix>/<libdir>/pce). A module that is missing,
 * fails to load (its vendor runtime is absent) or was built by another pce
 * makes its backend "unavailable" with the reason; nothing aborts. */
#include "../backends/backend.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PCE_MODULE_DIR
#define PCE_MODULE_DIR ""
#endif
#ifndef PCE_LIBDIR_REL
#define PCE_LIBDIR_REL ""
#endif
#ifndef PCE_BUILD_ROOT
#define PCE_BUILD_ROOT ""
#endif

static pce_status host_fail(pce_context *ctx, pce_status st, const char *msg)
{
    return pce_fail(ctx, st, "%s", msg);
}

static void host_log(const pce_context *ctx, pce_log_level level, const char *msg)
{
    pce_log(ctx, level, "%s", msg);
}

static void host_add_unavailable(pce_context *ctx, const char *backend, const char *reason)
{
    pce_context_add_unavailable(ctx, backend, "%s", reason);
}

#define PCE_STR2(x) #x
#define PCE_STR(x) PCE_STR2(x)

/* Static: modules keep the pointer for their lifetime. */
static const pce_backend_host host_table = {
    .abi = PCE_BACKEND_ABI,
    .size_context = sizeof(pce_context),
    .size_device = sizeof(pce_device),
    .size_tensor = sizeof(pce_tensor),
    .size_exec_node = sizeof(pce_exec_node),
    .version =
        PCE_STR(PCE_VERSION_MAJOR) "." PCE_STR(PCE_VERSION_MINOR) "." PCE_STR(PCE_VERSION_PATCH),
    .fail = host_fail,
    .log = host_log,
    .add_device = pce_context_add_device,
    .add_unavailable = host_add_unavailable,
    .op_name = pce_op_name,
};

static const char anchor = 0; /* an address inside this library, for dladdr */

/* The file this code was loaded from (libpce.so, or the executable it is
 * linked into), or "" if unknown. */
static void self_path(char *buf, size_t cap)
{
    Dl_info info;
    buf[0] = 0;
    if (!dladdr(&anchor, &info) || !info.dli_fname)
        return;
    if (strchr(info.dli_fname, '/')) {
        snprintf(buf, cap, "%s", info.dli_fname);
    } else { /* the main executable: ask the kernel */
        ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
        buf[n > 0 ? n : 0] = 0;
    }
}

/* The install prefix this library now lives under, found by removing the
 * configured libdir (relative to the prefix) from the folder libpce.so is
 * in: the same as the configured prefix for an install left in place, the
 * staging folder + prefix for one made with DESTDIR, the new place for one
 * moved. False when libpce is linked into an executable, libdir was given
 * absolute, or the folder does not end in it. */
bool pce_install_prefix_here(char *out, size_t cap)
{
    const char *rel = PCE_LIBDIR_REL;
    char self[1024];
    self_path(self, sizeof self);
    char *slash = strrchr(self, '/');
    if (!rel[0] || rel[0] == '/' || !slash)
        return false;
    *slash = 0; /* the folder */
    size_t n = strlen(self), r = strlen(rel);
    if (n <= r || strcmp(self + n - r, rel) != 0 || self[n - r - 1] != '/')
        return false;
    snprintf(out, cap, "%.*s", (int)(n - r - 1), self);
    return true;
}

/* Whether this library runs from its build tree (tests, build/tools/pce). */
bool pce_running_from_build_tree(void)
{
    char self[1024];
    self_path(self, sizeof self);
    size_t root = strlen(PCE_BUILD_ROOT);
    return root && strncmp(self, PCE_BUILD_ROOT, root) == 0 && self[root] == '/';
}

/* Tries one file; on failure appends why to `why`. */
static void *try_open(const char *path, char *why, size_t cap)
{
    if (access(path, F_OK) != 0)
        return NULL;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        const char *e = dlerror();
        snprintf(why, cap, "%.400s", e ? e : "dlopen failed");
    }
    return h;
}

static pce_status remember(pce_context *ctx, void *handle)
{
    void **m = realloc(ctx->modules, (size_t)(ctx->n_modules + 1) * sizeof *m);
    if (!m)
        return PCE_ERR_OUT_OF_MEMORY;
    ctx->modules = m;
    ctx->modules[ctx->n_modules++] = handle;
    return PCE_OK;
}

static void load_one(pce_context *ctx, const char *backend)
{
    char file[64], path[4096], why[512] = "", searched[1024] = "";
    snprintf(file, sizeof file, "libpce-backend-%s.so", backend);
    void *h = NULL;
    /* 1. the user's folders */
    const char *list = ctx->backend_path;
    while (!h && list && *list) {
        size_t n = strcspn(list, ":");
        if (n) {
            snprintf(path, sizeof path, "%.*s/%s", (int)n, list, file);
            h = try_open(path, why, sizeof why);
            snprintf(searched + strlen(searched), sizeof searched - strlen(searched), "%s%.*s",
                     searched[0] ? ", " : "", (int)n, list);
        }
        list += n + (list[n] == ':');
    }
    /* 2. the build tree when running from it; else next to this library
     * (<libdir>/pce, so an install that was moved still finds its
     * modules), then the configured install folder */
    char self[1024], dirs[2][1200];
    int n_dirs = 0;
    if (pce_running_from_build_tree()) {
        snprintf(dirs[n_dirs++], sizeof dirs[0], "%.1000s/backends/%.32s", PCE_BUILD_ROOT, backend);
    } else {
        self_path(self, sizeof self);
        char *slash = strrchr(self, '/');
        if (slash)
            snprintf(dirs[n_dirs++], sizeof dirs[0], "%.*s/pce", (int)(slash - self), self);
        snprintf(dirs[n_dirs++], sizeof dirs[0], "%.1000s", PCE_MODULE_DIR);
    }
    for (int i = 0; i < n_dirs && !h && !why[0]; i++) {
        snprintf(path, sizeof path, "%.1200s/%.60s", dirs[i], file);
        h = try_open(path, why, sizeof why);
        snprintf(searched + strlen(searched), sizeof searched - strlen(searched), "%s%.300s",
                 searched[0] ? ", " : "", dirs[i]);
    }
    if (!h) {
        if (why[0])
            pce_context_add_unavailable(ctx, backend, "module %s does not load: %s", file, why);
        else
            pce_context_add_unavailable(ctx, backend, "module %s not found (searched %s)", file,
                                        searched);
        return;
    }
    pce_backend_module_probe_fn probe;
    *(void **)&probe = dlsym(h, PCE_BACKEND_ENTRY);
    if (!probe) {
        pce_context_add_unavailable(ctx, backend, "module %s has no %s: not a pce backend", file,
                                    PCE_BACKEND_ENTRY);
        dlclose(h);
        return;
    }
    if (remember(ctx, h) != PCE_OK) {
        dlclose(h);
        pce_context_add_unavailable(ctx, backend, "out of memory loading %s", file);
        return;
    }
    pce_status st = probe(ctx, &host_table);
    if (st != PCE_OK) {
        /* ctx->error reads "STATUS: message": the reason is the message */
        const char *msg = ctx->error, *name = pce_status_name(st);
        size_t k = strlen(name);
        if (strncmp(msg, name, k) == 0 && msg[k] == ':' && msg[k + 1] == ' ')
            msg += k + 2;
        pce_context_add_unavailable(ctx, backend, "%s", msg);
    }
}

void pce_modules_probe(pce_context *ctx)
{
    static const struct {
        const char *name;
        bool built;
    } mods[] = {
#ifdef PCE_BUILT_VULKAN
        {"vulkan", true},
#else
        {"vulkan", false},
#endif
#ifdef PCE_BUILT_CUDA
        {"cuda", true},
#else
        {"cuda", false},
#endif
#ifdef PCE_BUILT_HIP
        {"hip", true},
#else
        {"hip", false},
#endif
    };
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
        if (ctx->disabled && pce_list_index(ctx->disabled, mods[i].name) >= 0)
            pce_context_add_unavailable(ctx, mods[i].name, "disabled by PCE_DISABLE=%s",
                                        ctx->disabled);
        else if (mods[i].built)
            load_one(ctx, mods[i].name);
        else
            pce_context_add_unavailable(
                ctx, mods[i].name,
                "not built into this pce (its Meson option was disabled or its SDK missing)");
    }
}

void pce_modules_release(pce_context *ctx)
{
    for (int i = 0; i < ctx->n_modules; i++)
        dlclose(ctx->modules[i]);
    free(ctx->modules);
    ctx->modules = NULL;
    ctx->n_modules = 0;
}

const char *pce_list_next(const char *list, char *word, size_t cap)
{
    while (list && (*list == ',' || *list == ' '))
        list++;
    if (!list || !*list)
        return NULL;
    size_t k = strcspn(list, ", ");
    snprintf(word, cap, "%.*s", (int)k, list);
    return list + k;
}

int pce_list_index(const char *list, const char *name)
{
    char w[64];
    int i = 0;
    while ((list = pce_list_next(list, w, sizeof w)) != NULL) {
        if (strcmp(w, name) == 0)
            return i;
        i++;
    }
    return -1;
}
