/* generate.c — the loop from a prompt to an answer: prefill, then sample,
 * detokenize, stream and evaluate one token per step, with the stop
 * conditions (end-of-generation tokens, stop strings, length, context).
 *
 * Streaming holds text back only while it is incomplete UTF-8 (a token may
 * end inside a character) or could still be the start of a stop string,
 * so what the callback gets is exactly the answer, and the answer never
 * contains a stop string. */
#include "internal.h"
#include "pce_text.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void pce_generate_options_init(pce_generate_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->max_tokens = 256;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

pce_status pce_tokenizer_check_llm(const pce_tokenizer *tok, const pce_llm *m)
{
    if (!tok || !m)
        return PCE_ERR_INVALID_ARGUMENT;
    pce_context *ctx = pce_llm_context(m);
    pce_tokenizer_info ti;
    pce_llm_info li;
    pce_status s = pce_tokenizer_get_info(tok, &ti);
    if (s != PCE_OK)
        return s;
    pce_llm_get_info(m, &li);
    /* files may pad the embedding table past the vocabulary, never less */
    if (ti.n_vocab > li.n_vocab)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                        "tokenizer and model do not belong together: the tokenizer has %d tokens, "
                        "the model's embedding table %d rows",
                        ti.n_vocab, li.n_vocab);
    const struct {
        const char *name;
        int32_t id;
    } special[] = {
        {"bos", ti.bos}, {"eos", ti.eos}, {"eot", ti.eot}, {"pad", ti.pad}, {"unk", ti.unk}};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        if (special[i].id < -1 || special[i].id >= ti.n_vocab)
            return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                            "tokenizer: the %s token id %d is outside its vocabulary of %d",
                            special[i].name, (int)special[i].id, ti.n_vocab);
    return PCE_OK;
}

/* The answer's text so far, and how much of it the callback has had. */
typedef struct text_buf {
    pce_str s;
    size_t sent;
} text_buf;

/* Length of the longest prefix of s[0..n) that is whole UTF-8 characters
 * (an incomplete sequence at the end is held back; invalid bytes pass). */
static size_t utf8_whole(const char *s, size_t n)
{
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0)
        return n;
    unsigned char c = (unsigned char)s[i - 1];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back + 1 ? i - 1 : n;
}

/* Where the first stop string starts in t (from `from`), or -1; *hold gets
 * how many bytes at the end could still begin one. */
static long find_stop(const text_buf *t, size_t from, const char *const *stop, size_t *hold)
{
    *hold = 0;
    if (!stop)
        return -1;
    long first = -1;
    for (const char *const *s = stop; *s; s++) {
        size_t n = strlen(*s);
        if (!n)
            continue;
        size_t start = from > n ? from - n : 0;
        for (size_t i = start; i + n <= t->s.n; i++)
            if (!memcmp(t->s.p + i, *s, n)) {
                if (first < 0 || (long)i < first)
                    first = (long)i;
                break;
            }
        for (size_t k = n - 1; k > 0; k--)
            if (k <= t->s.n && !memcmp(t->s.p + t->s.n - k, *s, k)) {
                if (k > *hold)
                    *hold = k;
                break;
            }
    }
    return first;
}

static bool emit(const pce_generate_options *o, text_buf *t, size_t upto)
{
    if (upto <= t->sent)
        return true;
    bool go = o->on_text ? o->on_text(o->user, t->s.p + t->sent, upto - t->sent) : true;
    t->sent = upto;
    return go;
}

pce_status pce_generate(pce_llm *m, const pce_tokenizer *tok, pce_sampler *s, const int32_t *prompt,
                        size_t n_prompt, const pce_generate_options *opts,
                        pce_generate_stats *stats)
{
    if (!m || !tok || !s)
        return PCE_ERR_INVALID_ARGUMENT;
    pce_context *ctx = pce_llm_context(m);
    pce_generate_options o;
    pce_generate_options_init(&o);
    if (opts) {
        if (opts->size < sizeof(size_t) || opts->size > sizeof o)
            return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                            "pce_generate_options.size is %zu: call pce_generate_options_init",
                            opts->size);
        memcpy(&o, opts, opts->size);
    }
    pce_generate_stats st = {0};
    st.stop_reason = "length";
    if (stats)
        *stats = st;
    if (!prompt || n_prompt == 0)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "generate: an empty prompt");
    if (o.max_tokens < 0)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "generate: max_tokens %d", o.max_tokens);
    pce_status rc = pce_tokenizer_check_llm(tok, m);
    if (rc != PCE_OK)
        return rc;
    pce_llm_info li;
    pce_llm_get_info(m, &li);
    if ((size_t)pce_llm_position(m) + n_prompt > (size_t)li.context_max)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                        "generate: a prompt of %zu tokens at position %d does not fit the context "
                        "of %d tokens",
                        n_prompt, pce_llm_position(m), li.context_max);
    float *logits = malloc((size_t)li.n_vocab * sizeof *logits);
    text_buf text = {0};
    char piece[256];
    if (!logits) {
        rc = pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "generate: %d logits", li.n_vocab);
        goto done;
    }
    double t0 = now_ms();
    rc = pce_llm_eval(m, prompt, (int)n_prompt, logits, false);
    if (rc != PCE_OK)
        goto done;
    double t1 = now_ms();
    st.prompt_tokens = (int)n_prompt;
    st.prefill_ms = t1 - t0;
    for (size_t i = 0; i < n_prompt; i++)
        pce_sampler_accept(s, prompt[i]);
    double dec0 = t1;
    for (;;) {
        if (st.generated_tokens >= o.max_tokens) {
            st.stop_reason = "length";
            break;
        }
        int32_t id;
        rc = pce_sampler_sample(s, logits, &id);
        if (rc != PCE_OK)
            goto done;
        if (st.generated_tokens == 0)
            st.ttft_ms = now_ms() - t0;
        if (o.tokens && (size_t)st.generated_tokens < o.tokens_cap)
            o.tokens[st.generated_tokens] = id;
        st.generated_tokens++;
        pce_sampler_accept(s, id);
        if (!o.ignore_eos && pce_tokenizer_is_eog(tok, id)) {
            st.stop_reason = "eos";
            break;
        }
        size_t n = 0;
        rc = pce_tokenizer_piece(tok, id, false, piece, sizeof piece, &n);
        if (rc != PCE_OK)
            goto done;
        size_t from = text.s.n;
        if (!pce_str_put(&text.s, piece, n)) {
            rc = pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "generate: %zu bytes of answer", text.s.n);
            goto done;
        }
        size_t hold;
        long at = find_stop(&text, from, o.stop, &hold);
        if (at >= 0) {
            emit(&o, &text, utf8_whole(text.s.p, (size_t)at));
            st.stop_reason = "stop string";
            break;
        }
        if (!emit(&o, &text, utf8_whole(text.s.p, text.s.n - hold))) {
            st.stop_reason = "callback";
            break;
        }
        if (pce_llm_position(m) >= li.context_max) {
            st.stop_reason = "context full";
            break;
        }
        if (st.generated_tokens >= o.max_tokens)
            continue; /* the last token is not evaluated */
        rc = pce_llm_eval(m, &id, 1, logits, false);
        if (rc != PCE_OK)
            goto done;
        st.decode_evals++;
    }
    if (strcmp(st.stop_reason, "stop string") != 0)
        emit(&o, &text, text.s.n); /* what was held back */
    st.decode_ms = now_ms() - dec0;
done:
    free(logits);
    free(text.s.p);
    if (stats)
        *stats = st;
    return rc;
}
