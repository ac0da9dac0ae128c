/* context.c — context lifetime, options (the one place the environment is
 * read) and the device registry. */
#include "../backends/backend.h"
#include "detect.h"
#include "profile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void pce_context_options_init(pce_context_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->log_level = -1;
    o->vulkan_validation = -1;
}

static int parse_log_level(const char *s, pce_log_level *out)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (pce_log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Applies options, then environment variables for what options left unset. */
static pce_status apply_options(pce_context *ctx, const pce_context_options *opts)
{
    pce_context_options o;
    pce_context_options_init(&o);
    if (opts) {
        if (opts->size < offsetof(pce_context_options, cpu_kernels) + sizeof(const char *) ||
            opts->size > sizeof o)
            return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                            "pce_context_options.size is %zu: call pce_context_options_init",
                            opts->size);
        memcpy(&o, opts, opts->size);
    }
    ctx->log_level = PCE_LOG_WARN;
    ctx->log_fn = o.log_fn;
    ctx->log_user = o.log_user;
    const char *env = getenv("PCE_LOG");
    if (o.log_level >= 0 && o.log_level <= PCE_LOG_DEBUG) {
        ctx->log_level = (pce_log_level)o.log_level;
    } else if (env && *env) {
        if (parse_log_level(env, &ctx->log_level) != 0)
            pce_log(ctx, PCE_LOG_WARN, "PCE_LOG=%s is not error|warn|info|debug; using warn", env);
    }

    ctx->num_threads = o.num_threads;
    env = getenv("PCE_NUM_THREADS");
    if (ctx->num_threads <= 0 && env && *env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (*end || n < 1 || n > 4096)
            return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                            "PCE_NUM_THREADS=%s: expected a thread count from 1 to 4096", env);
        ctx->num_threads = (int)n;
    }

    const char *path = o.backend_path ? o.backend_path : getenv("PCE_BACKEND_PATH");
    if (path && *path && !(ctx->backend_path = strdup(path)))
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "copying the backend path");

    env = getenv("PCE_DEVICES");
    if (env && *env && !(ctx->device_order = strdup(env)))
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "copying PCE_DEVICES");

    env = getenv("PCE_DISABLE");
    if (env && *env && !(ctx->disabled = strdup(env)))
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "copying PCE_DISABLE");

    env = getenv("PCE_VULKAN_VALIDATION");
    if (o.vulkan_validation >= 0)
        ctx->vulkan_validation = o.vulkan_validation > 0;
    else if (env && *env)
        ctx->vulkan_validation = strcmp(env, "0") != 0;

    env = getenv("PCE_VULKAN_STAGING");
    ctx->vulkan_staging = env && *env && strcmp(env, "0") != 0;

    env = o.gpu_gemm ? o.gpu_gemm : getenv("PCE_GPU_GEMM");
    if (env && *env) {
        if (strcmp(env, "own") != 0 && strcmp(env, "auto") != 0)
            return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                            "GPU matmul '%s' (PCE_GPU_GEMM or pce_context_options.gpu_gemm): "
                            "expected 'auto' (vendor BLAS where it fits) or 'own' (pce's kernels)",
                            env);
        snprintf(ctx->gpu_gemm, sizeof ctx->gpu_gemm, "%s", env);
    }

    const char *kern = o.cpu_kernels ? o.cpu_kernels : getenv("PCE_CPU_KERNELS");
    if (kern && *kern) {
        if (strcmp(kern, "reference") == 0)
            ctx->reference_kernels = true;
        else if (strcmp(kern, "fast") != 0)
            return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                            "CPU kernels '%s': expected 'fast' or 'reference' "
                            "(PCE_CPU_KERNELS or pce_context_options.cpu_kernels)",
                            kern);
    }
    return PCE_OK;
}

pce_status pce_context_create(const pce_context_options *opts, pce_context **out)
{
    if (!out)
        return PCE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    pce_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return PCE_ERR_OUT_OF_MEMORY;
    pthread_mutex_init(&ctx->probe_lock, NULL);
    pce_status st = apply_options(ctx, opts);
    if (st == PCE_OK)
        pce_apply_cpu_profile(ctx); /* [cpu] threads, unless set by option or env */
#ifdef PCE_HAVE_OPENBLAS
    if (st == PCE_OK)
        pce_openblas_decide(ctx); /* before the CPU backend loads OpenBLAS */
#endif
    if (st == PCE_OK)
        st = pce_cpu_backend_probe(ctx);
    if (st != PCE_OK) {
        pce_log(ctx, PCE_LOG_ERROR, "context creation failed: %s", ctx->error);
        pce_context_destroy(ctx);
        return st;
    }
    *out = ctx;
    return PCE_OK;
}

void pce_context_destroy(pce_context *ctx)
{
    if (!ctx)
        return;
    for (int i = 0; i < ctx->n_devices; i++) {
        pce_device *d = ctx->devices[i];
        if (d->vtbl && d->vtbl->device_destroy)
            d->vtbl->device_destroy(d);
        free(d);
    }
    free(ctx->devices);
    free(ctx->unavailable);
    pce_modules_release(ctx);
    free(ctx->snapshot);
    free(ctx->profiles);
    free(ctx->backend_path);
    free(ctx->disabled);
    free(ctx->device_order);
    pthread_mutex_destroy(&ctx->probe_lock);
    free(ctx);
}

void pce_context_set_log(pce_context *ctx, pce_log_level level, pce_log_fn fn, void *user)
{
    if (!ctx)
        return;
    ctx->log_level = level;
    ctx->log_fn = fn;
    ctx->log_user = user;
}

pce_status pce_context_add_device(pce_context *ctx, pce_device *dev)
{
    pce_device **d = realloc(ctx->devices, (size_t)(ctx->n_devices + 1) * sizeof *d);
    if (!d)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "registering device %s", dev->props.name);
    ctx->devices = d;
    ctx->devices[ctx->n_devices++] = dev;
    dev->ctx = ctx;
    snprintf(dev->facts.device, sizeof dev->facts.device, "%s", dev->props.name);
    pce_log(ctx, PCE_LOG_INFO, "device %s: %s", dev->props.name, dev->props.description);
    return PCE_OK;
}

void pce_context_add_unavailable(pce_context *ctx, const char *backend, const char *fmt, ...)
{
    pce_unavailable *u = realloc(ctx->unavailable, (size_t)(ctx->n_unavailable + 1) * sizeof *u);
    if (!u)
        return; /* losing an explanation is not worth failing over */
    ctx->unavailable = u;
    u = &u[ctx->n_unavailable++];
    snprintf(u->backend, sizeof u->backend, "%s", backend);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->reason, sizeof u->reason, fmt, ap);
    va_end(ap);
    pce_log(ctx, PCE_LOG_INFO, "backend %s unavailable: %s", u->backend, u->reason);
}

void pce_context_probe_modules(const pce_context *cctx)
{
    /* logically const: the device list is fixed, only found late */
    pce_context *ctx = (pce_context *)cctx;
    pthread_mutex_lock(&ctx->probe_lock);
    if (!ctx->modules_probed) {
        ctx->modules_probed = true;
        char saved[sizeof ctx->error];
        memcpy(saved, ctx->error, sizeof saved); /* probing is not the caller's error */
        pce_context_load_hw(ctx);                /* the host and the profiles */
        pce_apply_env_profile(ctx);              /* [env] workarounds, before any runtime loads */
        pce_modules_probe(ctx);                  /* the GPU backends' devices */
        pce_context_hw_devices(ctx);             /* into the snapshot; their settings */
        memcpy(ctx->error, saved, sizeof saved);
    }
    pthread_mutex_unlock(&ctx->probe_lock);
}

int pce_device_count(const pce_context *ctx)
{
    if (!ctx)
        return 0;
    pce_context_probe_modules(ctx);
    return ctx->n_devices;
}

pce_device *pce_device_get(const pce_context *ctx, int index)
{
    if (ctx)
        pce_context_probe_modules(ctx);
    if (!ctx || index < 0 || index >= ctx->n_devices)
        return NULL;
    return ctx->devices[index];
}

pce_device *pce_device_find(const pce_context *ctx, const char *name)
{
    if (!ctx || !name)
        return NULL;
    /* the built-in devices answer without starting any GPU runtime */
    for (int i = 0; i < ctx->n_devices && !ctx->modules_probed; i++)
        if (strcmp(ctx->devices[i]->props.name, name) == 0)
            return ctx->devices[i];
    pce_context_probe_modules(ctx);
    for (int i = 0; i < ctx->n_devices; i++)
        if (strcmp(ctx->devices[i]->props.name, name) == 0)
            return ctx->devices[i];
    return NULL;
}

pce_status pce_device_get_props(const pce_device *dev, pce_device_props *out)
{
    if (!dev || !out)
        return PCE_ERR_INVALID_ARGUMENT;
    *out = dev->props;
    return PCE_OK;
}

int pce_backend_unavailable_count(const pce_context *ctx)
{
    if (!ctx)
        return 0;
    pce_context_probe_modules(ctx);
    return ctx->n_unavailable;
}

pce_status pce_backend_unavailable_get(const pce_context *ctx, int index, const char **backend,
                                       const char **reason)
{
    if (ctx)
        pce_context_probe_modules(ctx);
    if (!ctx || index < 0 || index >= ctx->n_unavailable)
        return PCE_ERR_INVALID_ARGUMENT;
    if (backend)
        *backend = ctx->unavailable[index].backend;
    if (reason)
        *reason = ctx->unavailable[index].reason;
    return PCE_OK;
}

pce_status pce_snapshot_write(pce_context *ctx, const char *path)
{
    if (!ctx || !path)
        return ctx ? pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "snapshot_write: path is NULL")
                   : PCE_ERR_INVALID_ARGUMENT;
    pce_context_probe_modules(ctx);
    if (!ctx->snapshot)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "hardware snapshot (%zu bytes)",
                        sizeof(pce_hw_snapshot));
    bool out = strcmp(path, "-") == 0;
    FILE *f = out ? stdout : fopen(path, "w");
    if (!f)
        return pce_fail(ctx, PCE_ERR_IO, "cannot write the snapshot to '%s': %s", path,
                        strerror(errno));
    pce_hw_write_json(ctx->snapshot, f);
    bool bad = ferror(f) != 0;
    if (!out && fclose(f) != 0)
        bad = true;
    if (bad)
        return pce_fail(ctx, PCE_ERR_IO, "writing the snapshot to '%s' failed", path);
    return PCE_OK;
}

pce_status pce_profile_lint(const char *path, char *msg, size_t cap)
{
    if (!path || (!msg && cap))
        return PCE_ERR_INVALID_ARGUMENT;
    pce_profile *p = malloc(sizeof *p);
    if (!p)
        return PCE_ERR_OUT_OF_MEMORY;
    char err[512];
    pce_status st = pce_profile_load(path, p, err, sizeof err);
    if (cap)
        snprintf(msg, cap, "%s", st == PCE_OK ? p->name : err);
    free(p);
    return st;
}
