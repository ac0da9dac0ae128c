/* run.c — `pce run MODEL`: greedy decoding of token ids with a GGUF
 * language model (pce_llm), printing the ids and the prefill and decode
 * speeds. Public API only. */
#include "run.h"

#include "pce.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: pce run MODEL.gguf -p TEXT [options]   (pce run -p --help: text mode)\n"
               "       pce run MODEL.gguf [--tokens ID,ID,...] [-n N] [--backend DEVICE]\n"
               "               [--devices D1,D2] [--context N] [--strict] [--ignore-eos]\n"
               "               [--explain]\n\n"
               "Feeds the token ids (default: the model's BOS token) as one prefill, then\n"
               "decodes N more tokens (default 32) greedily, one step each, and prints the\n"
               "ids and tokens per second of both phases. --backend runs every node on one\n"
               "device (strict placement); --devices lets nodes fall back along a list.\n");
}

/* "1,2,3" -> ids; returns the count or -1 */
static int parse_ids(const char *s, int32_t **out)
{
    int cap = 16, n = 0;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    if (!v)
        return -1;
    while (*s) {
        char *end;
        errno = 0;
        long x = strtol(s, &end, 10);
        if (end == s || errno || x < 0 || x > INT32_MAX || (*end && *end != ',')) {
            free(v);
            return -1;
        }
        if (n == cap) {
            int32_t *nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                return -1;
            }
            v = nv;
        }
        v[n++] = (int32_t)x;
        s = *end ? end + 1 : end;
    }
    *out = v;
    return n;
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

int pce_run_main(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--prompt"))
            return pce_run_text_main(argc, argv);
    const char *model = NULL, *tok_arg = NULL, *devices = NULL;
    int n_gen = 32, context = 0;
    bool strict = false, ignore_eos = false, explain = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (v && !strcmp(a, "--tokens")) {
            tok_arg = v, i++;
        } else if (v && !strcmp(a, "-n")) {
            n_gen = atoi(v), i++;
        } else if (v && !strcmp(a, "--context")) {
            context = atoi(v), i++;
        } else if (v && !strcmp(a, "--backend")) {
            devices = v, strict = true, i++;
        } else if (v && !strcmp(a, "--devices")) {
            devices = v, i++;
        } else if (!strcmp(a, "--strict")) {
            strict = true;
        } else if (!strcmp(a, "--ignore-eos")) {
            ignore_eos = true;
        } else if (!strcmp(a, "--explain")) {
            explain = true;
        } else if (a[0] != '-' && !model) {
            model = a;
        } else {
            fprintf(stderr, "pce run: bad argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model || n_gen < 0 || context < 0) {
        usage(stderr);
        return 2;
    }
    pce_context *ctx;
    pce_status st = pce_context_create(NULL, &ctx);
    if (st != PCE_OK) {
        fprintf(stderr, "pce run: cannot create a context: %s\n", pce_status_name(st));
        return 1;
    }
    pce_llm_options o;
    pce_llm_options_init(&o);
    o.devices = devices;
    o.strict = strict;
    o.context = context;
    pce_llm *m = NULL;
    int32_t *toks = NULL;
    float *logits = NULL;
    int rc = 1;
    double t0 = now();
    st = pce_llm_load(ctx, model, &o, &m);
    if (st != PCE_OK) {
        fprintf(stderr, "pce run: %s\n", pce_context_last_error(ctx));
        goto out;
    }
    pce_llm_info in;
    pce_llm_get_info(m, &in);
    int n_prompt = tok_arg ? parse_ids(tok_arg, &toks) : 0;
    if (tok_arg && n_prompt < 1) {
        fprintf(stderr, "pce run: --tokens '%s': expected ids like 1,2,3\n", tok_arg);
        rc = 2;
        goto out;
    }
    if (!tok_arg) {
        if (in.bos < 0 || !(toks = malloc(sizeof *toks))) {
            fprintf(stderr, "pce run: the model has no BOS token: give --tokens\n");
            rc = 2;
            goto out;
        }
        toks[0] = in.bos;
        n_prompt = 1;
    }
    if (n_prompt + n_gen > in.context_max) {
        fprintf(stderr, "pce run: %d prompt + %d new tokens pass the context of %d (--context)\n",
                n_prompt, n_gen, in.context_max);
        rc = 2;
        goto out;
    }
    logits = malloc((size_t)in.n_vocab * sizeof *logits);
    if (!logits)
        goto out;
    fprintf(
        stderr, "%s: %s, %d layers, embedding %d, %d heads (%d kv), vocab %d; loaded in %.2f s\n",
        model, in.arch, in.n_layers, in.n_embd, in.n_head, in.n_head_kv, in.n_vocab, now() - t0);
    /* the first eval of each shape builds its plan: time a warm second pass
     * for prefill by resetting after the first */
    st = pce_llm_eval(m, toks, n_prompt, logits, false);
    double t_prefill = 0;
    if (st == PCE_OK) {
        pce_llm_reset(m);
        double t1 = now();
        st = pce_llm_eval(m, toks, n_prompt, logits, false);
        t_prefill = now() - t1;
    }
    if (st != PCE_OK) {
        fprintf(stderr, "pce run: prefill: %s\n", pce_context_last_error(ctx));
        goto out;
    }
    if (explain) {
        size_t len = 0;
        pce_plan_explain(pce_llm_last_plan(m), NULL, 0, &len);
        char *txt = malloc(len + 1);
        if (txt && pce_plan_explain(pce_llm_last_plan(m), txt, len + 1, NULL) == PCE_OK)
            fputs(txt, stderr);
        free(txt);
    }
    for (int i = 0; i < n_prompt; i++)
        printf("%s%d", i ? "," : "", toks[i]);
    printf(" |");
    int generated = 0, evals = 0;
    double t_decode = 0, t_first = 0;
    for (; generated < n_gen; generated++) {
        int next = argmax(logits, in.n_vocab);
        printf(" %d", next);
        fflush(stdout);
        if (!ignore_eos && next == in.eos) {
            generated++;
            break;
        }
        if (generated == n_gen - 1)
            break;
        double t1 = now();
        int32_t tk = next;
        st = pce_llm_eval(m, &tk, 1, logits, false);
        double dt = now() - t1;
        if (evals++ == 0)
            t_first = dt; /* builds the decode plan */
        else
            t_decode += dt;
        if (st != PCE_OK) {
            fprintf(stderr, "\npce run: decode: %s\n", pce_context_last_error(ctx));
            goto out;
        }
    }
    printf("\n");
    int timed = evals > 1 ? evals - 1 : 0; /* the first step built the plan */
    fprintf(stderr,
            "prefill: %d tokens in %.1f ms (%.1f tokens/s); decode: %d tokens in %.1f ms "
            "(%.1f tokens/s, after a first step of %.1f ms that built the plan)\n",
            n_prompt, t_prefill * 1e3, n_prompt / (t_prefill > 0 ? t_prefill : 1e-9), timed,
            t_decode * 1e3, timed ? timed / (t_decode > 0 ? t_decode : 1e-9) : 0.0, t_first * 1e3);
    rc = 0;
out:
    free(toks);
    free(logits);
    pce_llm_destroy(m);
    pce_context_destroy(ctx);
    return rc;
}
