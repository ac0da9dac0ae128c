/* chat.c — text in, text out on the command line: `pce run MODEL -p TEXT`
 * (one answer) and `pce chat MODEL` (a conversation read from stdin), with
 * the model's tokenizer and chat template, sampling options, streaming,
 * and a timing line. Public API only. */
#include "run.h"

#include "pce.h"
#include "pce_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_STOP 16

typedef struct text_opts {
    const char *model, *prompt, *system, *devices;
    const char *stop[MAX_STOP + 1];
    int n_stop, n_gen, context;
    bool strict, raw, ignore_eos, seed_set;
    pce_sampler_options so;
} text_opts;

static void usage(FILE *f, bool chat)
{
    fprintf(f,
            "usage: %s\n"
            "  -n N               new tokens at most per answer (default 256)\n"
            "  --system TEXT      a system message\n"
            "  --raw              (run) the prompt as is, without the chat template\n"
            "  --temp T           temperature (default 0.8; 0: greedy)\n"
            "  --top-k K          (default 40; 0: off)\n"
            "  --top-p P          (default 0.95; 1: off)\n"
            "  --min-p P          (default 0.05; 0: off)\n"
            "  --repeat-penalty R (default 1: off)  --repeat-last-n N (default 64)\n"
            "  --seed S           (default: from the clock)\n"
            "  --stop TEXT        end the answer at TEXT (repeatable)\n"
            "  --backend DEVICE | --devices D1,D2   --context N (default 2048)\n"
            "  --ignore-eos\n",
            chat ? "pce chat MODEL.gguf [options]: one user message per line of stdin "
                   "(/reset forgets the conversation)"
                 : "pce run MODEL.gguf -p TEXT [options]: answers one prompt");
}

static int parse(int argc, char **argv, bool chat, text_opts *o)
{
    memset(o, 0, sizeof *o);
    o->n_gen = 256;
    o->context = 2048;
    pce_sampler_options_init(&o->so);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout, chat);
            return 0;
        } else if (v && (!strcmp(a, "-p") || !strcmp(a, "--prompt")) && !chat) {
            o->prompt = v, i++;
        } else if (v && !strcmp(a, "--system")) {
            o->system = v, i++;
        } else if (v && !strcmp(a, "-n")) {
            o->n_gen = (int)strtol(v, &end, 10), i++;
        } else if (v && !strcmp(a, "--context")) {
            o->context = (int)strtol(v, &end, 10), i++;
        } else if (v && !strcmp(a, "--temp")) {
            o->so.temperature = strtof(v, &end), i++;
        } else if (v && !strcmp(a, "--top-k")) {
            o->so.top_k = (int)strtol(v, &end, 10), i++;
        } else if (v && !strcmp(a, "--top-p")) {
            o->so.top_p = strtof(v, &end), i++;
        } else if (v && !strcmp(a, "--min-p")) {
            o->so.min_p = strtof(v, &end), i++;
        } else if (v && !strcmp(a, "--repeat-penalty")) {
            o->so.repeat_penalty = strtof(v, &end), i++;
        } else if (v && !strcmp(a, "--repeat-last-n")) {
            o->so.repeat_last_n = (int)strtol(v, &end, 10), i++;
        } else if (v && !strcmp(a, "--seed")) {
            o->so.seed = strtoull(v, &end, 10), o->seed_set = true, i++;
        } else if (v && !strcmp(a, "--stop")) {
            if (o->n_stop == MAX_STOP) {
                fprintf(stderr, "pce: at most %d --stop strings\n", MAX_STOP);
                return 2;
            }
            o->stop[o->n_stop++] = v, i++;
        } else if (v && !strcmp(a, "--backend")) {
            o->devices = v, o->strict = true, i++;
        } else if (v && !strcmp(a, "--devices")) {
            o->devices = v, i++;
        } else if (!strcmp(a, "--raw") && !chat) {
            o->raw = true;
        } else if (!strcmp(a, "--ignore-eos")) {
            o->ignore_eos = true;
        } else if (a[0] != '-' && !o->model) {
            o->model = a;
        } else {
            fprintf(stderr, "pce %s: bad argument '%s'\n", chat ? "chat" : "run", a);
            usage(stderr, chat);
            return 2;
        }
        if (end && *end) {
            fprintf(stderr, "pce %s: '%s %s': not a number\n", chat ? "chat" : "run", a, v);
            return 2;
        }
    }
    if (!o->model || (!chat && !o->prompt) || o->n_gen < 0 || o->context < 1) {
        usage(stderr, chat);
        return 2;
    }
    if (!o->seed_set)
        o->so.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return -1;
}

/* Everything one session holds. */
typedef struct session {
    pce_context *ctx;
    pce_model_file *file;
    pce_llm *m;
    pce_tokenizer *tok;
    pce_chat_template *tmpl; /* NULL: no template (raw prompts) */
    pce_sampler *sampler;
    int32_t *cache; /* the tokens m has evaluated, in order */
    int n_cache, cap_cache;
} session;

static int fail(session *s, const char *what)
{
    fprintf(stderr, "pce: %s: %s\n", what, pce_context_last_error(s->ctx));
    return 1;
}

static int open_session(session *s, const text_opts *o, bool need_template)
{
    memset(s, 0, sizeof *s);
    if (pce_context_create(NULL, &s->ctx) != PCE_OK) {
        fprintf(stderr, "pce: cannot create a context\n");
        return 1;
    }
    pce_llm_options lo;
    pce_llm_options_init(&lo);
    lo.devices = o->devices;
    lo.strict = o->strict;
    lo.context = o->context;
    if (pce_llm_load(s->ctx, o->model, &lo, &s->m) != PCE_OK)
        return fail(s, o->model);
    if (pce_model_file_open(s->ctx, o->model, &s->file) != PCE_OK ||
        pce_tokenizer_create(s->ctx, s->file, &s->tok) != PCE_OK)
        return fail(s, "tokenizer");
    if (pce_tokenizer_check_llm(s->tok, s->m) != PCE_OK)
        return fail(s, o->model);
    if (need_template && pce_chat_template_from_file(s->ctx, s->file, &s->tmpl) != PCE_OK)
        return fail(s, "chat template (give --raw to feed the prompt as it is)");
    pce_llm_info in;
    pce_llm_get_info(s->m, &in);
    if (pce_sampler_create(s->ctx, &o->so, in.n_vocab, &s->sampler) != PCE_OK)
        return fail(s, "sampler");
    s->cap_cache = in.context_max;
    if (!(s->cache = malloc((size_t)s->cap_cache * sizeof *s->cache))) {
        fprintf(stderr, "pce: out of memory\n");
        return 1;
    }
    pce_tokenizer_info ti;
    pce_tokenizer_get_info(s->tok, &ti);
    fprintf(stderr, "%s: %s, %d layers, embedding %d, vocab %d (%s/%s), chat template %s\n",
            o->model, in.arch, in.n_layers, in.n_embd, ti.n_vocab, ti.model,
            ti.pre[0] ? ti.pre : "-", s->tmpl ? pce_chat_template_name(s->tmpl) : "none");
    return 0;
}

static void close_session(session *s)
{
    pce_sampler_destroy(s->sampler);
    pce_chat_template_destroy(s->tmpl);
    pce_tokenizer_destroy(s->tok);
    pce_model_file_close(s->file);
    pce_llm_destroy(s->m);
    pce_context_destroy(s->ctx);
    free(s->cache);
}

typedef struct answer {
    char *p;
    size_t len, cap;
} answer;

static bool on_text(void *user, const char *text, size_t len)
{
    answer *a = user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (a->len + len + 1 > a->cap) {
        size_t cap = (a->len + len + 1) * 2;
        char *p = realloc(a->p, cap);
        if (!p)
            return false;
        a->p = p;
        a->cap = cap;
    }
    memcpy(a->p + a->len, text, len);
    a->len += len;
    a->p[a->len] = 0;
    return true;
}

/* Tokenizes text, evaluates what the model has not seen yet (the part after
 * the longest prefix shared with what it has) and answers. */
static int answer_text(session *s, const text_opts *o, const char *text, answer *ans)
{
    pce_tokenize_options to;
    pce_tokenize_options_init(&to);
    to.parse_special = s->tmpl != NULL; /* the template's markers are special tokens */
    to.add_special = s->tmpl == NULL;   /* a template writes its own BOS */
    size_t n = 0, len = strlen(text);
    pce_status st = pce_tokenizer_encode(s->tok, text, len, &to, NULL, 0, &n);
    if (st != PCE_OK && n == 0)
        return fail(s, "tokenizing the prompt");
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids || pce_tokenizer_encode(s->tok, text, len, &to, ids, n, &n) != PCE_OK) {
        free(ids);
        return fail(s, "tokenizing the prompt");
    }
    if ((int)n + o->n_gen > s->cap_cache) {
        fprintf(stderr, "pce: %zu prompt tokens + %d new ones pass the context of %d (--context)\n",
                n, o->n_gen, s->cap_cache);
        free(ids);
        return 2;
    }
    int keep = 0;
    while (keep < s->n_cache && (size_t)keep < n && s->cache[keep] == ids[keep])
        keep++;
    if ((size_t)keep == n) /* something must be evaluated for logits */
        keep--;
    pce_llm_rewind(s->m, keep);
    s->n_cache = keep;
    int32_t *gen = malloc((size_t)(o->n_gen > 0 ? o->n_gen : 1) * sizeof *gen);
    pce_generate_options go;
    pce_generate_options_init(&go);
    go.max_tokens = o->n_gen;
    go.stop = o->n_stop ? o->stop : NULL;
    go.ignore_eos = o->ignore_eos;
    go.on_text = on_text;
    go.user = ans;
    go.tokens = gen;
    go.tokens_cap = gen ? (size_t)o->n_gen : 0;
    pce_generate_stats gs;
    st = pce_generate(s->m, s->tok, s->sampler, ids + keep, n - (size_t)keep, &go, &gs);
    printf("\n");
    fflush(stdout); /* before the timing line on stderr */
    if (st != PCE_OK) {
        free(ids);
        free(gen);
        return fail(s, "generate");
    }
    /* what the model now holds: the prompt, then the evaluated answer tokens */
    memcpy(s->cache + keep, ids + keep, (n - (size_t)keep) * sizeof *ids);
    s->n_cache = (int)n;
    for (int i = 0; gen && i < gs.decode_evals && s->n_cache < s->cap_cache; i++)
        s->cache[s->n_cache++] = gen[i];
    fprintf(stderr,
            "[prefill: %d tokens (%d reused) in %.0f ms, %.1f tokens/s; decode: %d tokens in "
            "%.0f ms, %.1f tokens/s; time to first token %.0f ms; stop: %s]\n",
            gs.prompt_tokens, keep, gs.prefill_ms,
            gs.prefill_ms > 0 ? gs.prompt_tokens * 1e3 / gs.prefill_ms : 0.0, gs.generated_tokens,
            gs.decode_ms, gs.decode_ms > 0 ? gs.decode_evals * 1e3 / gs.decode_ms : 0.0, gs.ttft_ms,
            gs.stop_reason);
    free(ids);
    free(gen);
    return 0;
}

/* The conversation as the model's template renders it, ready for the
 * assistant's turn. NULL after an error (printed). */
static char *render(session *s, const pce_chat_message *msgs, size_t n)
{
    size_t len = 0;
    if (pce_chat_apply(s->tmpl, msgs, n, true, NULL, 0, &len) != PCE_OK && len == 0) {
        fail(s, "chat template");
        return NULL;
    }
    char *text = malloc(len + 1);
    if (!text || pce_chat_apply(s->tmpl, msgs, n, true, text, len + 1, &len) != PCE_OK) {
        free(text);
        fail(s, "chat template");
        return NULL;
    }
    return text;
}

int pce_run_text_main(int argc, char **argv)
{
    text_opts o;
    int rc = parse(argc, argv, false, &o);
    if (rc >= 0)
        return rc;
    session s;
    if ((rc = open_session(&s, &o, !o.raw)) != 0) {
        close_session(&s);
        return rc;
    }
    answer ans = {0};
    if (o.raw) {
        rc = answer_text(&s, &o, o.prompt, &ans);
    } else {
        pce_chat_message msgs[2];
        size_t n = 0;
        if (o.system)
            msgs[n++] = (pce_chat_message){"system", o.system};
        msgs[n++] = (pce_chat_message){"user", o.prompt};
        char *text = render(&s, msgs, n);
        rc = text ? answer_text(&s, &o, text, &ans) : 1;
        free(text);
    }
    free(ans.p);
    close_session(&s);
    return rc;
}

int pce_chat_main(int argc, char **argv)
{
    text_opts o;
    int rc = parse(argc, argv, true, &o);
    if (rc >= 0)
        return rc;
    session s;
    if ((rc = open_session(&s, &o, true)) != 0) {
        close_session(&s);
        return rc;
    }
    size_t n = 0, cap = 16;
    pce_chat_message *msgs = malloc(cap * sizeof *msgs);
    char **owned = malloc(cap * sizeof *owned); /* the texts msgs point at */
    if (!msgs || !owned) {
        free(msgs);
        free(owned);
        close_session(&s);
        return 1;
    }
    if (o.system) {
        msgs[n] = (pce_chat_message){"system", o.system};
        owned[n++] = NULL;
    }
    bool tty = isatty(0);
    char *line = NULL;
    size_t line_cap = 0;
    for (;;) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got < 0)
            break;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = 0;
        if (!got)
            continue;
        if (!strcmp(line, "/quit"))
            break;
        if (!strcmp(line, "/reset")) {
            for (size_t i = 0; i < n; i++)
                free(owned[i]);
            n = 0;
            if (o.system) {
                msgs[n] = (pce_chat_message){"system", o.system};
                owned[n++] = NULL;
            }
            pce_sampler_reset(s.sampler);
            fprintf(stderr, "[conversation forgotten]\n");
            continue;
        }
        if (n + 2 > cap) {
            cap *= 2;
            pce_chat_message *nm = realloc(msgs, cap * sizeof *msgs);
            if (nm)
                msgs = nm;
            char **no = realloc(owned, cap * sizeof *owned);
            if (no)
                owned = no;
            if (!nm || !no) {
                rc = 1;
                break;
            }
        }
        if (!tty)
            printf("> %s\n", line);
        owned[n] = strdup(line);
        msgs[n] = (pce_chat_message){"user", owned[n]};
        n++;
        char *text = render(&s, msgs, n);
        answer ans = {0};
        rc = text ? answer_text(&s, &o, text, &ans) : 1;
        free(text);
        if (rc != 0) {
            free(ans.p);
            break;
        }
        owned[n] = ans.p ? ans.p : strdup("");
        msgs[n] = (pce_chat_message){"assistant", owned[n]};
        n++;
    }
    free(line);
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
    free(owned);
    free(msgs);
    close_session(&s);
    return rc;
}
