/* pce.c — the `pce` command line: version, devices, verify, profile,
 * bench, inspect. Public API only. */
#include "bench.h"
#include "conformance.h"
#include "run.h"
#include "pce.h"
#include "pce_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static const char *type_name(pce_device_type t)
{
    switch (t) {
    case PCE_DEVICE_CPU: return "cpu";
    case PCE_DEVICE_GPU_DISCRETE: return "discrete-gpu";
    case PCE_DEVICE_GPU_INTEGRATED: return "integrated-gpu";
    default: return "other";
    }
}

static int open_ctx(pce_context **ctx)
{
    pce_status st = pce_context_create(NULL, ctx);
    if (st != PCE_OK) {
        fprintf(stderr, "pce: cannot create a context: %s\n", pce_status_name(st));
        return 1;
    }
    return 0;
}

static void usage_devices(FILE *f)
{
    fprintf(
        f,
        "usage: pce devices [--json] [--snapshot FILE]\n\n"
        "Lists this machine's devices and the backends that are unavailable, with why.\n"
        "  --json           machine-readable output:\n"
        "                   {\"devices\":[{\"name\":..,\"backend\":..,\"available\":true,...}],\n"
        "                    \"unavailable\":[{\"backend\":..,\"reason\":..}]}\n"
        "  --snapshot FILE  also write the hardware snapshot (CPU, PCI GPUs and\n"
        "                   accelerators with their drivers, GPU runtimes, OpenBLAS) as\n"
        "                   JSON to FILE (- for stdout, instead of the list)\n");
}

static int cmd_devices(int argc, char **argv)
{
    bool json = false;
    const char *snapshot = NULL;
    bool explain = false;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--explain")) {
            explain = true;
        } else if (!strcmp(argv[i], "--snapshot") && i + 1 < argc) {
            snapshot = argv[++i];
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage_devices(stdout);
            return 0;
        } else {
            fprintf(stderr, "pce devices: unknown argument '%s'\n", argv[i]);
            usage_devices(stderr);
            return 2;
        }
    }
    pce_context *ctx;
    if (open_ctx(&ctx))
        return 1;
    if (snapshot) {
        if (pce_snapshot_write(ctx, snapshot) != PCE_OK) {
            fprintf(stderr, "pce devices: %s\n", pce_context_last_error(ctx));
            pce_context_destroy(ctx);
            return 1;
        }
        if (!strcmp(snapshot, "-")) {
            pce_context_destroy(ctx);
            return 0;
        }
    }
    if (explain) {
        size_t len = 0;
        pce_status (*fn)(pce_context *, char *, size_t, size_t *) =
            json ? pce_devices_explain_json : pce_devices_explain;
        fn(ctx, NULL, 0, &len);
        char *text = malloc(len + 1);
        if (!text || fn(ctx, text, len + 1, &len) != PCE_OK) {
            fprintf(stderr, "pce devices: %s\n", pce_context_last_error(ctx));
            free(text);
            pce_context_destroy(ctx);
            return 1;
        }
        fputs(text, stdout);
        free(text);
        pce_context_destroy(ctx);
        return 0;
    }
    int n = pce_device_count(ctx);
    if (json) {
        printf("{\"devices\":[");
        for (int i = 0; i < n; i++) {
            pce_device_props p;
            pce_device_get_props(pce_device_get(ctx, i), &p);
            printf("%s{\"name\":", i ? "," : "");
            json_str(stdout, p.name);
            printf(",\"backend\":");
            json_str(stdout, p.backend);
            printf(",\"available\":true,\"type\":\"%s\",\"description\":", type_name(p.type));
            json_str(stdout, p.description);
            printf(",\"details\":");
            json_str(stdout, p.details);
            printf(",\"memory_total\":%llu,\"memory_free\":%llu,\"compute_units\":%d,"
                   "\"host_memory\":%s,\"dtypes\":[",
                   (unsigned long long)p.memory_total, (unsigned long long)p.memory_free,
                   p.compute_units, p.host_memory ? "true" : "false");
            int k = 0;
            for (int d = 0; d < PCE_DTYPE_COUNT; d++)
                if (p.dtype_supported[d])
                    printf("%s\"%s\"", k++ ? "," : "", pce_dtype_get_info((pce_dtype)d)->name);
            printf("]}");
        }
        printf("],\"unavailable\":[");
        for (int i = 0; i < pce_backend_unavailable_count(ctx); i++) {
            const char *b, *r;
            pce_backend_unavailable_get(ctx, i, &b, &r);
            printf("%s{\"backend\":", i ? "," : "");
            json_str(stdout, b);
            printf(",\"reason\":");
            json_str(stdout, r);
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("%-10s %-8s %-14s %-10s %s\n", "DEVICE", "BACKEND", "TYPE", "MEMORY", "DESCRIPTION");
        for (int i = 0; i < n; i++) {
            pce_device_props p;
            pce_device_get_props(pce_device_get(ctx, i), &p);
            printf("%-10s %-8s %-14s %6.1f GiB %s\n", p.name, p.backend, type_name(p.type),
                   (double)p.memory_total / (1024.0 * 1024 * 1024), p.description);
            printf("%-10s %s\n", "", p.details);
        }
        for (int i = 0; i < pce_backend_unavailable_count(ctx); i++) {
            const char *b, *r;
            pce_backend_unavailable_get(ctx, i, &b, &r);
            printf("%-10s unavailable: %s\n", b, r);
        }
    }
    pce_context_destroy(ctx);
    return 0;
}

typedef struct verify_out {
    bool json;
    int count;
    bool verbose;
} verify_out;

static void on_result(const pce_conf_result *r, void *user)
{
    verify_out *o = user;
    static const char *st[] = {"pass", "fail", "skip"};
    if (o->json) {
        printf("%s{\"op\":", o->count ? "," : "");
        json_str(stdout, r->op);
        printf(",\"dtype\":");
        json_str(stdout, r->dtype);
        printf(",\"shape\":");
        json_str(stdout, r->shape);
        printf(",\"backend\":");
        json_str(stdout, r->device);
        printf(",\"nmse\":%.6g,\"threshold\":%.3g,\"status\":\"%s\",\"reason\":", r->nmse,
               r->threshold, st[r->status]);
        json_str(stdout, r->reason);
        printf("}");
    } else if (o->verbose || r->status != PCE_CONF_PASS) {
        printf("%-12s %-10s %-34s %-8s %-10.3g %-5s %s\n", r->op, r->dtype, r->shape, r->device,
               r->nmse, st[r->status], r->reason);
    }
    fflush(stdout);
    o->count++;
}

static void usage_verify(FILE *f)
{
    fprintf(
        f, "usage: pce verify [--backend B[,B...]] [--json] [--all] [--seed N]\n\n"
           "Runs the conformance suite on this machine's devices: every op x dtype x shape\n"
           "against the reference kernels, by normalised mean squared error.\n"
           "  --backend B  only devices whose name or backend is B (cpu0, cpu, vulkan ...)\n"
           "  --json       {\"cases\":[{\"op\",\"dtype\",\"shape\",\"backend\",\"nmse\",\"status\","
           "\"reason\"}],\"summary\":{\"pass\",\"fail\",\"skip\"}}\n"
           "  --all        print passing cases too (the table shows failures and skips)\n"
           "  --seed N     seed of the random inputs (default: PCE_SEED, else fresh)\n"
           "Exit status: 0 when nothing failed, 1 otherwise.\n");
}

static int cmd_verify(int argc, char **argv)
{
    verify_out o = {0};
    const char *filter = NULL;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
    const char *env = getenv("PCE_SEED");
    if (env && *env)
        seed = strtoull(env, NULL, 0);
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            o.json = true;
        } else if (!strcmp(argv[i], "--all")) {
            o.verbose = true;
        } else if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
            filter = argv[++i];
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage_verify(stdout);
            return 0;
        } else {
            fprintf(stderr, "pce verify: unknown or incomplete argument '%s'\n", argv[i]);
            usage_verify(stderr);
            return 2;
        }
    }
    pce_context *ctx;
    if (open_ctx(&ctx))
        return 1;
    if (o.json)
        printf("{\"seed\":%llu,\"cases\":[", (unsigned long long)seed);
    else
        printf(
            "seed %llu (PCE_SEED=%llu reproduces this run)\n%-12s %-10s %-34s %-8s %-10s %-5s %s\n",
            (unsigned long long)seed, (unsigned long long)seed, "OP", "DTYPE", "SHAPE", "BACKEND",
            "NMSE", "STATUS", "REASON");
    pce_conf_summary sum;
    pce_status st = pce_conformance_run(ctx, filter, seed, on_result, &o, &sum);
    if (o.json) {
        printf("],\"summary\":{\"pass\":%d,\"fail\":%d,\"skip\":%d}}\n", sum.pass, sum.fail,
               sum.skip);
    } else {
        printf("verify: %d passed, %d failed, %d skipped\n", sum.pass, sum.fail, sum.skip);
    }
    if (st != PCE_OK)
        fprintf(stderr, "pce verify: no device matches '%s'\n", filter ? filter : "");
    pce_context_destroy(ctx);
    return st != PCE_OK || sum.fail ? 1 : 0;
}

static void usage_profile(FILE *f)
{
    fprintf(f, "usage: pce profile lint FILE...\n\n"
               "Checks hardware profile files (hw-profiles/NAME.ini): INI syntax, known sections\n"
               "and keys, valid values, no duplicates. Prints 'FILE: ok (NAME)' or\n"
               "'FILE:LINE: what is wrong' per file; exits 1 if any file is bad.\n");
}

static int cmd_profile(int argc, char **argv)
{
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        usage_profile(stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[0], "lint") != 0) {
        usage_profile(stderr);
        return 2;
    }
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        char msg[512];
        if (pce_profile_lint(argv[i], msg, sizeof msg) == PCE_OK) {
            printf("%s: ok (%s)\n", argv[i], msg);
        } else {
            printf("%s\n", msg);
            bad++;
        }
    }
    return bad ? 1 : 0;
}

/* ---- inspect ------------------------------------------------------------ */

static void usage_inspect(FILE *f)
{
    fprintf(f, "usage: pce inspect FILE [--json]\n\n"
               "Shows a model file: its format, metadata (key, type, value; arrays with their\n"
               "element type, count and first elements) and tensors (name, dtype, shape outermost\n"
               "first, bytes, offset in the file), with totals. FILE is a .gguf (the first part\n"
               "of a split model opens the others), a .safetensors or a\n"
               "model.safetensors.index.json (its shards).\n"
               "  --json  the same as JSON: {\"file\", \"format\", \"files\", \"metadata\":\n"
               "          [{\"key\", \"type\", \"value\" (arrays: \"elem_type\", \"count\",\n"
               "          \"head\")}], \"tensors\": [{\"name\", \"dtype\", \"shape\", \"bytes\",\n"
               "          \"offset\", \"file\"}], \"total_bytes\", \"total_elements\"}\n");
}

#define INSPECT_HEAD 8     /* array elements shown */
#define INSPECT_STR_MAX 60 /* bytes of a string shown in the table */

static const char *meta_type_name(pce_meta_type t)
{
    static const char *names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                  "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static int meta_type_size(pce_meta_type t)
{
    switch (t) {
    case PCE_META_U8:
    case PCE_META_I8:
    case PCE_META_BOOL: return 1;
    case PCE_META_U16:
    case PCE_META_I16: return 2;
    case PCE_META_U32:
    case PCE_META_I32:
    case PCE_META_F32: return 4;
    case PCE_META_U64:
    case PCE_META_I64:
    case PCE_META_F64: return 8;
    default: return 0;
    }
}

/* A string as JSON, n bytes, not NUL-terminated. */
static void json_strn(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* A string for the table: quoted, escaped, cut at `max` bytes on a UTF-8
 * character boundary. */
static void text_str(FILE *f, const char *s, size_t n, size_t max)
{
    size_t shown = n;
    if (n > max) {
        shown = max;
        while (shown > 0 && ((unsigned char)s[shown] & 0xc0) == 0x80)
            shown--;
    }
    fputc('"', f);
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
    if (shown < n)
        fprintf(f, "... (%zu bytes)", n);
}

static void print_double(FILE *f, double d, bool f32, bool json)
{
    if (json && (d != d || d - d != 0))
        fputs("null", f); /* NaN and infinities are not JSON */
    else
        fprintf(f, f32 ? "%.9g" : "%.17g", d);
}

static bool meta_signed(pce_meta_type t)
{
    return t == PCE_META_I8 || t == PCE_META_I16 || t == PCE_META_I32 || t == PCE_META_I64;
}

/* Prints an array element of type t at p (little-endian). */
static void print_number(FILE *f, pce_meta_type t, const unsigned char *p, bool json)
{
    uint64_t u = 0;
    int size = meta_type_size(t);
    for (int i = size - 1; i >= 0; i--)
        u = u << 8 | p[i];
    if (t == PCE_META_F32) {
        uint32_t b = (uint32_t)u;
        float x;
        memcpy(&x, &b, 4);
        print_double(f, x, true, json);
    } else if (t == PCE_META_F64) {
        double d;
        memcpy(&d, &u, 8);
        print_double(f, d, false, json);
    } else if (t == PCE_META_BOOL) {
        fputs(u ? "true" : "false", f);
    } else if (meta_signed(t)) {
        int64_t v = size == 1   ? (int8_t)u
                    : size == 2 ? (int16_t)u
                    : size == 4 ? (int32_t)u
                                : (int64_t)u;
        fprintf(f, "%lld", (long long)v);
    } else {
        fprintf(f, "%llu", (unsigned long long)u);
    }
}

/* The value of a metadata entry (arrays: the first elements). */
static void print_meta_value(FILE *out, const pce_model_file *mf, const pce_meta *m, bool json)
{
    if (m->type == PCE_META_STRING) {
        if (json)
            json_strn(out, m->str, m->str_len);
        else
            text_str(out, m->str, m->str_len, INSPECT_STR_MAX);
        return;
    }
    if (m->type == PCE_META_F32 || m->type == PCE_META_F64) {
        print_double(out, m->f, m->type == PCE_META_F32, json);
        return;
    }
    if (m->type == PCE_META_BOOL) {
        fputs(m->b ? "true" : "false", out);
        return;
    }
    if (m->type != PCE_META_ARRAY) {
        if (meta_signed(m->type))
            fprintf(out, "%lld", (long long)m->i);
        else
            fprintf(out, "%llu", (unsigned long long)m->u);
        return;
    }
    uint64_t shown = m->count < INSPECT_HEAD ? m->count : INSPECT_HEAD;
    fputs("[", out);
    int size = meta_type_size(m->elem_type);
    for (uint64_t k = 0; k < shown; k++) {
        if (k)
            fputs(", ", out);
        if (m->elem_type == PCE_META_STRING) {
            const char *s;
            size_t len;
            if (pce_model_file_meta_array_string(mf, m->key, k, &s, &len) != PCE_OK)
                fputs("null", out);
            else if (json)
                json_strn(out, s, len);
            else
                text_str(out, s, len, 24);
        } else if (size && m->array) {
            print_number(out, m->elem_type, (const unsigned char *)m->array + k * (uint64_t)size,
                         json);
        } else {
            fputs(json ? "null" : "[...]", out);
        }
    }
    if (!json && shown < m->count)
        fputs(", ...", out);
    fputs("]", out);
}

static int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage_inspect(stdout);
            return 0;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "pce inspect: unexpected argument '%s'\n", argv[i]);
            usage_inspect(stderr);
            return 2;
        }
    }
    if (!path) {
        usage_inspect(stderr);
        return 2;
    }
    pce_context *ctx;
    if (open_ctx(&ctx))
        return 1;
    pce_model_file *mf;
    pce_status st = pce_model_file_open(ctx, path, &mf);
    if (st == PCE_ERR_FORMAT) {
        /* a truncated or vocab-only GGUF: its metadata and tensor table can
         * still be shown when only tensor data is missing */
        char why[1024];
        snprintf(why, sizeof why, "%s", pce_context_last_error(ctx));
        if (pce_model_file_open_metadata(ctx, path, &mf) == PCE_OK) {
            fprintf(stderr,
                    "pce inspect: warning: %s; showing the metadata and tensor table only\n", why);
            st = PCE_OK;
        }
    }
    if (st != PCE_OK) {
        fprintf(stderr, "pce inspect: %s\n", pce_context_last_error(ctx));
        pce_context_destroy(ctx);
        return 1;
    }
    const char *format = pce_model_file_format(mf) == PCE_MODEL_GGUF ? "gguf" : "safetensors";
    int n_meta = pce_model_file_meta_count(mf), n_tensors = pce_model_file_tensor_count(mf);
    int files = 1;
    uint64_t total_bytes = 0, total_elems = 0;
    for (int i = 0; i < n_tensors; i++) {
        pce_model_tensor t;
        pce_model_file_tensor_get(mf, i, &t);
        files = t.file_index + 1 > files ? t.file_index + 1 : files;
        uint64_t n = 1;
        for (int d = 0; d < t.ndim; d++)
            n *= (uint64_t)t.dims[d];
        total_bytes += t.bytes;
        total_elems += n;
    }
    FILE *out = stdout;
    if (json) {
        fputs("{\"file\":", out);
        json_str(out, path);
        fprintf(out, ",\"format\":\"%s\",\"files\":%d,\"metadata\":[", format, files);
        for (int i = 0; i < n_meta; i++) {
            pce_meta m;
            pce_model_file_meta_get(mf, i, &m);
            fprintf(out, "%s{\"key\":", i ? "," : "");
            json_str(out, m.key);
            fprintf(out, ",\"type\":\"%s\",", meta_type_name(m.type));
            if (m.type == PCE_META_ARRAY)
                fprintf(out, "\"elem_type\":\"%s\",\"count\":%llu,\"head\":",
                        meta_type_name(m.elem_type), (unsigned long long)m.count);
            else
                fputs("\"value\":", out);
            print_meta_value(out, mf, &m, true);
            fputs("}", out);
        }
        fputs("],\"tensors\":[", out);
        for (int i = 0; i < n_tensors; i++) {
            pce_model_tensor t;
            pce_model_file_tensor_get(mf, i, &t);
            fprintf(out, "%s{\"name\":", i ? "," : "");
            json_str(out, t.name);
            fprintf(out, ",\"dtype\":\"%s\",\"shape\":[", t.dtype_name);
            for (int d = 0; d < t.ndim; d++)
                fprintf(out, "%s%lld", d ? "," : "", (long long)t.dims[d]);
            fprintf(out, "],\"bytes\":%zu,\"offset\":%llu,\"file\":%d%s}", t.bytes,
                    (unsigned long long)t.offset, t.file_index,
                    !t.data && t.bytes ? ",\"absent\":true" : "");
        }
        fprintf(out, "],\"total_bytes\":%llu,\"total_elements\":%llu}\n",
                (unsigned long long)total_bytes, (unsigned long long)total_elems);
    } else {
        fprintf(out, "%s: %s, %d file%s\n\nmetadata: %d entries\n", path, format, files,
                files == 1 ? "" : "s", n_meta);
        for (int i = 0; i < n_meta; i++) {
            pce_meta m;
            pce_model_file_meta_get(mf, i, &m);
            char type[48];
            if (m.type == PCE_META_ARRAY)
                snprintf(type, sizeof type, "%s[%llu]", meta_type_name(m.elem_type),
                         (unsigned long long)m.count);
            else
                snprintf(type, sizeof type, "%s", meta_type_name(m.type));
            fprintf(out, "  %-40s %-14s ", m.key, type);
            print_meta_value(out, mf, &m, false);
            fputc('\n', out);
        }
        fprintf(out, "\ntensors: %d\n  %-40s %-8s %-22s %12s %12s%s\n", n_tensors, "NAME", "DTYPE",
                "SHAPE", "BYTES", "OFFSET", files > 1 ? "  FILE" : "");
        for (int i = 0; i < n_tensors; i++) {
            pce_model_tensor t;
            pce_model_file_tensor_get(mf, i, &t);
            char shape[96];
            size_t n = (size_t)snprintf(shape, sizeof shape, "[");
            for (int d = 0; d < t.ndim && n < sizeof shape; d++)
                n += (size_t)snprintf(shape + n, sizeof shape - n, "%s%lld", d ? ", " : "",
                                      (long long)t.dims[d]);
            if (n < sizeof shape)
                snprintf(shape + n, sizeof shape - n, "]");
            fprintf(out, "  %-40s %-8s %-22s %12zu %12llu", t.name, t.dtype_name, shape, t.bytes,
                    (unsigned long long)t.offset);
            if (files > 1)
                fprintf(out, "  %d", t.file_index);
            if (!t.data && t.bytes)
                fputs("  (absent: past the end of the file)", out);
            fputc('\n', out);
        }
        fprintf(out, "\ntotal: %d tensors, %llu elements, %llu bytes (%.1f MiB)\n", n_tensors,
                (unsigned long long)total_elems, (unsigned long long)total_bytes,
                (double)total_bytes / (1024.0 * 1024.0));
    }
    pce_model_file_close(mf);
    pce_context_destroy(ctx);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: pce [--version] [--help] COMMAND [ARGS]\n\n"
               "Commands:\n"
               "  devices   list devices and unavailable backends\n"
               "  verify    run the conformance suite on this machine's devices\n"
               "  profile   check hardware profile files (pce profile lint FILE...)\n"
               "  bench     every device on the same work, against measured ceilings\n"
               "  run       a GGUF model (llama, qwen2): -p TEXT answers a prompt; --tokens\n"
               "            decodes token ids greedily\n"
               "  chat      a conversation with a GGUF model, one message per line of stdin\n"
               "  inspect   show a model file's metadata and tensors (GGUF, safetensors)\n"
               "Run 'pce COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("pce %s\n", pce_version_string());
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "devices"))
        return cmd_devices(argc - 2, argv + 2);
    if (!strcmp(cmd, "verify"))
        return cmd_verify(argc - 2, argv + 2);
    if (!strcmp(cmd, "profile"))
        return cmd_profile(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench"))
        return pce_bench_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "run"))
        return pce_run_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "chat"))
        return pce_chat_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "inspect"))
        return cmd_inspect(argc - 2, argv + 2);
    fprintf(stderr, "pce: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
