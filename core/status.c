/* status.c — status names, the context's last error and the log sink. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pce_status_name(pce_status s)
{
    static const char *names[] = {
        [PCE_OK] = "OK",
        [PCE_ERR_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
        [PCE_ERR_UNSUPPORTED] = "UNSUPPORTED",
        [PCE_ERR_OUT_OF_MEMORY] = "OUT_OF_MEMORY",
        [PCE_ERR_UNAVAILABLE] = "UNAVAILABLE",
        [PCE_ERR_DEVICE_LOST] = "DEVICE_LOST",
        [PCE_ERR_IO] = "IO",
        [PCE_ERR_FORMAT] = "FORMAT",
        [PCE_ERR_INTEGRITY] = "INTEGRITY",
        [PCE_ERR_PERMISSION] = "PERMISSION",
        [PCE_ERR_NOT_FOUND] = "NOT_FOUND",
        [PCE_ERR_INTERNAL] = "INTERNAL",
    };
    if ((unsigned)s >= sizeof names / sizeof names[0] || !names[s])
        return "UNKNOWN_STATUS";
    return names[s];
}

const char *pce_version_string(void)
{
#define PCE_STR2(x) #x
#define PCE_STR(x) PCE_STR2(x)
    return PCE_STR(PCE_VERSION_MAJOR) "." PCE_STR(PCE_VERSION_MINOR) "." PCE_STR(PCE_VERSION_PATCH);
}

static const char *level_name(pce_log_level l)
{
    switch (l) {
    case PCE_LOG_ERROR: return "error";
    case PCE_LOG_WARN: return "warn";
    case PCE_LOG_INFO: return "info";
    default: return "debug";
    }
}

void pce_logv(const pce_context *ctx, pce_log_level level, const char *fmt, va_list ap)
{
    if (ctx && level > ctx->log_level)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (ctx && ctx->log_fn)
        ctx->log_fn(ctx->log_user, level, msg);
    else
        fprintf(stderr, "pce: %s: %s\n", level_name(level), msg);
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
    if (!ctx)
        return status;
    char msg[sizeof ctx->error - 32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ctx->error, sizeof ctx->error, "%s: %s", pce_status_name(status), msg);
    /* errors returned to the caller are logged at debug: the caller decides
     * whether they are worth reporting */
    pce_log(ctx, PCE_LOG_DEBUG, "%s", ctx->error);
    return status;
}

const char *pce_context_last_error(const pce_context *ctx)
{
    return ctx ? ctx->error : "no context";
}

bool pce_str_put(pce_str *s, const char *p, size_t n)
{
    if (s->oom)
        return false;
    if (s->n + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->n + n + 1)
            cap *= 2;
        char *q = realloc(s->p, cap);
        if (!q) {
            s->oom = true;
            return false;
        }
        s->p = q;
        s->cap = cap;
    }
    memcpy(s->p + s->n, p, n);
    s->n += n;
    s->p[s->n] = 0;
    return true;
}
