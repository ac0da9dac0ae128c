/* pce.c — the `pce` command line: version, devices, verify, profile,
 * bench. Public API only. */
#include "bench.h"
#include "conformance.h"
#include "pce.h"

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

static void usage(FILE *f)
{
    fprintf(f, "usage: pce [--version] [--help] COMMAND [ARGS]\n\n"
               "Commands:\n"
               "  devices   list devices and unavailable backends\n"
               "  verify    run the conformance suite on this machine's devices\n"
               "  profile   check hardware profile files (pce profile lint FILE...)\n"
               "  bench     every device on the same work, against measured ceilings\n"
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
    fprintf(stderr, "pce: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
