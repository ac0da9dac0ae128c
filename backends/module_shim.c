/* module_shim.c — compiled into every loadable backend module: the core
 * functions backend code calls (pce_fail, pce_log, ...) forwarded to the
 * host table the loading libpce passed in, so backend code reads the same
 * whether it is built in or loaded. */
#include "backend.h"

#include <stdio.h>
#include <string.h>

static const pce_backend_host *host;

#define PCE_STR2(x) #x
#define PCE_STR(x) PCE_STR2(x)
#define MODULE_VERSION                                                                             \
    PCE_STR(PCE_VERSION_MAJOR) "." PCE_STR(PCE_VERSION_MINOR) "." PCE_STR(PCE_VERSION_PATCH)

/* Checks that the loading core was built from the same sources. */
pce_status pce_module_shim_attach(pce_context *ctx, const pce_backend_host *h, const char *name)
{
    char msg[256];
    if (!h || h->abi != PCE_BACKEND_ABI || h->size_context != sizeof(pce_context) ||
        h->size_device != sizeof(pce_device) || h->size_tensor != sizeof(pce_tensor) ||
        h->size_exec_node != sizeof(pce_exec_node) || !h->version ||
        strcmp(h->version, MODULE_VERSION) != 0) {
        snprintf(msg, sizeof msg,
                 "module %s was built for another pce (module %s, ABI %d; library %s, ABI %u): "
                 "install matching versions",
                 name, MODULE_VERSION, PCE_BACKEND_ABI, h && h->version ? h->version : "?",
                 h ? h->abi : 0u);
        return h && h->fail ? h->fail(ctx, PCE_ERR_UNAVAILABLE, msg) : PCE_ERR_UNAVAILABLE;
    }
    host = h;
    return PCE_OK;
}

void pce_logv(const pce_context *ctx, pce_log_level level, const char *fmt, va_list ap)
{
    if (!host || (ctx && level > ctx->log_level))
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    host->log(ctx, level, msg);
}

void pce_log(const pce_context *ctx, pce_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pce_logv(ctx, level, fmt, ap);
    va_end(ap);
}

pce_status pce_fail(pce_context *ctx, pce_status status, const char *fmt, ...)
{
    char msg[960];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return host ? host->fail(ctx, status, msg) : status;
}

pce_status pce_context_add_device(pce_context *ctx, pce_device *dev)
{
    return host ? host->add_device(ctx, dev) : PCE_ERR_INTERNAL;
}

void pce_context_add_unavailable(pce_context *ctx, const char *backend, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (host)
        host->add_unavailable(ctx, backend, msg);
}

const char *pce_op_name(pce_op op)
{
    return host ? host->op_name(op) : "?";
}
