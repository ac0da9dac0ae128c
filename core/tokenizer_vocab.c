/* tokenizer_vocab.c — a tokenizer's vocabulary from a GGUF file's
 * tokenizer.ggml.* metadata, as llama.cpp reads it: the tokens (copied, with
 * a hash table by text), their scores and attributes, the special token ids
 * and their defaults, llama.cpp's detection of end-of-turn, FIM and
 * end-of-generation tokens by their text, and the special tokens the text
 * is split around. */
#include "tokenizer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

static bool arena_add(pce_tokenizer *t, const char *s, size_t n, uint32_t *off)
{
    if (t->arena_len + n > UINT32_MAX) {
        pce_fail(t->ctx, PCE_ERR_UNSUPPORTED, "tokenizer: more than 4 GiB of token text");
        return false;
    }
    void *p = t->arena;
    if (!pce_tok_reserve(t, &p, &t->arena_cap, t->arena_len + n + 1, 1))
        return false;
    t->arena = p;
    memcpy(t->arena + t->arena_len, s, n);
    *off = (uint32_t)t->arena_len;
    t->arena_len += n;
    return true;
}

/* ---- reading the metadata --------------------------------------------------- */

static bool meta_is_integer(pce_meta_type ty)
{
    return ty <= PCE_META_I32 || ty == PCE_META_U64 || ty == PCE_META_I64;
}

/* An optional metadata entry: false when absent (the NOT_FOUND is not an
 * error here). */
static bool meta_opt(const pce_model_file *f, const char *key, pce_meta *m)
{
    return pce_model_file_meta_find(f, key, m) == PCE_OK;
}

static pce_status meta_string(pce_tokenizer *t, const pce_model_file *f, const char *key, char *buf,
                              size_t cap, bool *present)
{
    pce_meta m;
    *present = false;
    buf[0] = 0;
    if (!meta_opt(f, key, &m))
        return PCE_OK;
    if (m.type != PCE_META_STRING)
        return pce_fail(t->ctx, PCE_ERR_FORMAT, "tokenizer: metadata '%s' is not a string", key);
    size_t n = m.str_len < cap - 1 ? m.str_len : cap - 1;
    memcpy(buf, m.str, n);
    buf[n] = 0;
    *present = true;
    return PCE_OK;
}

static pce_status meta_bool(pce_tokenizer *t, const pce_model_file *f, const char *key, bool *v)
{
    pce_meta m;
    if (!meta_opt(f, key, &m))
        return PCE_OK;
    if (m.type != PCE_META_BOOL)
        return pce_fail(t->ctx, PCE_ERR_FORMAT, "tokenizer: metadata '%s' is not a bool", key);
    *v = m.b;
    return PCE_OK;
}

/* A token id key: kept when in range, else the default stays (as llama.cpp
 * does, with a warning). */
static pce_status meta_token_id(pce_tokenizer *t, const pce_model_file *f, const char *key,
                                int32_t *id)
{
    pce_meta m;
    if (*id >= t->n_tokens)
        *id = -1;
    if (!meta_opt(f, key, &m))
        return PCE_OK;
    if (!meta_is_integer(m.type))
        return pce_fail(t->ctx, PCE_ERR_FORMAT, "tokenizer: metadata '%s' is not an integer", key);
    if (m.i < 0 || m.u >= (uint64_t)t->n_tokens) {
        pce_log(t->ctx, PCE_LOG_WARN, "tokenizer: %s = %lld is not a token id (0..%d): using %d",
                key, (long long)m.i, t->n_tokens - 1, *id);
        return PCE_OK;
    }
    *id = (int32_t)m.u;
    return PCE_OK;
}

/* A numeric array of at least n elements of one of the types allowed. */
static pce_status meta_numbers(pce_tokenizer *t, const pce_model_file *f, const char *key,
                               uint64_t n, pce_meta_type a, pce_meta_type b, pce_meta *m,
                               bool *present)
{
    *present = meta_opt(f, key, m);
    if (!*present)
        return PCE_OK;
    if (m->type != PCE_META_ARRAY || (m->elem_type != a && m->elem_type != b) || !m->array)
        return pce_fail(t->ctx, PCE_ERR_FORMAT,
                        "tokenizer: metadata '%s' is not an array of numbers of the right type",
                        key);
    if (m->count < n)
        return pce_fail(t->ctx, PCE_ERR_FORMAT,
                        "tokenizer: metadata '%s' has %llu elements for %llu tokens", key,
                        (unsigned long long)m->count, (unsigned long long)n);
    return PCE_OK;
}

static int32_t read_i32(const void *array, uint64_t i)
{
    int32_t v;
    memcpy(&v, (const char *)array + 4 * i, 4);
    return v;
}

static float read_f32(const void *array, uint64_t i)
{
    float v;
    memcpy(&v, (const char *)array + 4 * i, 4);
    return v;
}

/* GGUF token types (llama.cpp's llama_token_type) to attributes. */
static uint16_t attr_of_type(int32_t ty)
{
    switch (ty) {
    case 1: return TOK_ATTR_NORMAL;
    case 2: return TOK_ATTR_UNKNOWN;
    case 3: return TOK_ATTR_CONTROL;
    case 4: return TOK_ATTR_USER_DEFINED;
    case 5: return TOK_ATTR_UNUSED;
    case 6: return TOK_ATTR_BYTE;
    default: return 0; /* undefined */
    }
}

static pce_status read_tokens(pce_tokenizer *t, const pce_model_file *f)
{
    const char *key = "tokenizer.ggml.tokens";
    pce_meta m;
    if (!meta_opt(f, key, &m))
        return pce_fail(t->ctx, PCE_ERR_FORMAT, "tokenizer: no metadata '%s'", key);
    if (m.type != PCE_META_ARRAY || m.elem_type != PCE_META_STRING)
        return pce_fail(t->ctx, PCE_ERR_FORMAT,
                        "tokenizer: metadata '%s' is not an array of strings", key);
    if (m.count == 0 || m.count >= INT32_MAX / 2)
        return pce_fail(t->ctx, PCE_ERR_FORMAT, "tokenizer: metadata '%s' has %llu tokens", key,
                        (unsigned long long)m.count);
    t->n_tokens = (int)m.count;
    pce_meta sc, ty;
    bool has_sc, has_ty;
    pce_status st = meta_numbers(t, f, "tokenizer.ggml.scores", m.count, PCE_META_F32, PCE_META_I32,
                                 &sc, &has_sc);
    if (st == PCE_OK)
        st = meta_numbers(t, f, "tokenizer.ggml.token_type", m.count, PCE_META_I32, PCE_META_I32,
                          &ty, &has_ty);
    if (st != PCE_OK)
        return st;
    t->tokens = calloc((size_t)t->n_tokens, sizeof *t->tokens);
    if (!t->tokens)
        return pce_fail(t->ctx, PCE_ERR_OUT_OF_MEMORY, "tokenizer: %d tokens", t->n_tokens);
    for (int i = 0; i < t->n_tokens; i++) {
        const char *s;
        size_t len;
        if ((st = pce_model_file_meta_array_string(f, key, (uint64_t)i, &s, &len)) != PCE_OK)
            return st;
        char empty[32];
        if (len == 0) { /* llama.cpp names empty tokens so that they never match */
            len = (size_t)snprintf(empty, sizeof empty, "[EMPTY_%d]", i);
            s = empty;
        }
        tok_token *tk = &t->tokens[i];
        if (len > UINT32_MAX || !arena_add(t, s, len, &tk->off))
            return len > UINT32_MAX ? pce_fail(t->ctx, PCE_ERR_FORMAT, "token %d is too long", i)
                                    : PCE_ERR_OUT_OF_MEMORY;
        tk->len = (uint32_t)len;
        if (has_sc)
            tk->score = sc.elem_type == PCE_META_F32 ? read_f32(sc.array, (uint64_t)i)
                                                     : (float)read_i32(sc.array, (uint64_t)i);
        tk->attr = has_ty ? attr_of_type(read_i32(ty.array, (uint64_t)i)) : TOK_ATTR_NORMAL;
    }
    /* the text -> id table; a text that appears twice maps to its last id */
    size_t cap = 64;
    while (cap < (size_t)t->n_tokens * 2)
        cap *= 2;
    t->tok_index = calloc(cap, sizeof *t->tok_index);
    if (!t->tok_index)
        return pce_fail(t->ctx, PCE_ERR_OUT_OF_MEMORY, "tokenizer: token index of %zu slots", cap);
    t->tok_cap = cap;
    for (int id = 0; id < t->n_tokens; id++) {
        const tok_token *tk = &t->tokens[id];
        const char *s = t->arena + tk->off;
        size_t i = (size_t)tok_hash(s, tk->len) & (cap - 1);
        for (; t->tok_index[i]; i = (i + 1) & (cap - 1)) {
            const tok_token *o = &t->tokens[t->tok_index[i] - 1];
            if (o->len == tk->len && memcmp(t->arena + o->off, s, tk->len) == 0)
                break;
        }
        t->tok_index[i] = (uint32_t)id + 1;
    }
    return PCE_OK;
}

/* ---- special tokens --------------------------------------------------------- */

static bool text_is(const pce_tokenizer *t, int32_t id, const char *s)
{
    size_t n = strlen(s);
    return t->tokens[id].len == n && memcmp(tok_text(t, id), s, n) == 0;
}

static void set_eog(pce_tokenizer *t, int32_t id, bool on)
{
    if (id < 0 || id >= t->n_tokens)
        return;
    if (on)
        t->eog[id / 8] |= (uint8_t)(1u << (id % 8));
    else
        t->eog[id / 8] &= (uint8_t) ~(1u << (id % 8));
}

static bool is_eog(const pce_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_tokens && (t->eog[id / 8] >> (id % 8) & 1);
}

/* The first token (in the list's order) whose text is one of `texts`, made
 * a control token; -1 when none. llama.cpp takes the first one its hash
 * table yields; vocabularies hold at most one of each list in practice. */
static int32_t detect(pce_tokenizer *t, const char *const *texts)
{
    for (; *texts; texts++) {
        int32_t id = pce_tok_lookup(t, *texts, strlen(*texts));
        if (id >= 0) {
            t->tokens[id].attr |= TOK_ATTR_CONTROL;
            return id;
        }
    }
    return -1;
}

/* llama.cpp's lists of texts, by role */
/* clang-format off */
static const char *const eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>", NULL};
static const char *const eom_texts[] = {"<|eom_id|>", NULL};
static const char *const fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
    "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
    "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
    "<|code_middle|>", "<|middle|>", NULL};
static const char *const fim_pad_texts[] = {
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
static const char *const fim_rep_texts[] = {
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL};
static const char *const fim_sep_texts[] = {"<|file_sep|>", NULL};
/* the texts that end generation */
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~[", NULL};
/* clang-format on */

typedef struct special_ids {
    int32_t eom, sep, mask, fim[6]; /* pre, suf, mid, pad, rep, sep */
} special_ids;

static pce_status read_special(pce_tokenizer *t, const pce_model_file *f, bool default_add_bos)
{
    pce_tokenizer_info *in = &t->info;
    special_ids sp = {-1, -1, -1, {-1, -1, -1, -1, -1, -1}};
    if (t->type == TOK_SPM) {
        in->bos = 1;
        in->eos = 2;
        in->unk = 0;
    } else {
        in->bos = 11; /* llama.cpp's defaults for gpt2 vocabularies */
        in->eos = 11;
        in->unk = -1;
    }
    in->eot = in->pad = -1;
    static const char *const fim_keys[6] = {
        "tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id",
        "tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.fim_pad_token_id",
        "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id"};
    static const char *const old_fim_keys[3] = {"tokenizer.ggml.prefix_token_id",
                                                "tokenizer.ggml.suffix_token_id",
                                                "tokenizer.ggml.middle_token_id"};
    struct {
        const char *key;
        int32_t *id;
    } keys[] = {
        {"tokenizer.ggml.bos_token_id", &in->bos},
        {"tokenizer.ggml.eos_token_id", &in->eos},
        {"tokenizer.ggml.eot_token_id", &in->eot},
        {"tokenizer.ggml.eom_token_id", &sp.eom},
        {"tokenizer.ggml.unknown_token_id", &in->unk},
        {"tokenizer.ggml.seperator_token_id", &sp.sep},
        {"tokenizer.ggml.padding_token_id", &in->pad},
        {"tokenizer.ggml.mask_token_id", &sp.mask},
    };
    pce_status st = PCE_OK;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && st == PCE_OK; i++)
        st = meta_token_id(t, f, keys[i].key, keys[i].id);
    for (int i = 0; i < 6 && st == PCE_OK; i++)
        st = meta_token_id(t, f, fim_keys[i], &sp.fim[i]);
    for (int i = 0; i < 3 && st == PCE_OK; i++)
        st = meta_token_id(t, f, old_fim_keys[i], &sp.fim[i]);
    in->add_bos = default_add_bos;
    in->add_eos = false;
    if (st == PCE_OK)
        st = meta_bool(t, f, "tokenizer.ggml.add_bos_token", &in->add_bos);
    if (st == PCE_OK)
        st = meta_bool(t, f, "tokenizer.ggml.add_eos_token", &in->add_eos);
    if (st != PCE_OK)
        return st;

    /* control-looking tokens found by their text become control tokens */
    if (in->eot < 0)
        in->eot = detect(t, eot_texts);
    if (sp.eom < 0)
        sp.eom = detect(t, eom_texts);
    static const char *const *const fim_texts[6] = {fim_pre_texts, fim_suf_texts, fim_mid_texts,
                                                    fim_pad_texts, fim_rep_texts, fim_sep_texts};
    for (int i = 0; i < 6; i++)
        if (sp.fim[i] < 0)
            sp.fim[i] = detect(t, fim_texts[i]);

    /* end of generation */
    t->eog = calloc((size_t)t->n_tokens / 8 + 1, 1);
    if (!t->eog)
        return pce_fail(t->ctx, PCE_ERR_OUT_OF_MEMORY, "tokenizer: end-of-generation set");
    for (int i = 3; i < 6; i++)
        set_eog(t, sp.fim[i], true);
    for (const char *const *s = eog_texts; *s; s++) {
        int32_t id = pce_tok_lookup(t, *s, strlen(*s));
        if (id >= 0) {
            set_eog(t, id, true);
            t->tokens[id].attr |= TOK_ATTR_CONTROL;
        }
    }
    /* gpt-oss: these are always rendered */
    static const char *const rendered[] = {"<|channel|>", "<|message|>", "<|start|>",
                                           "<|constrain|>", NULL};
    for (const char *const *s = rendered; *s; s++) {
        int32_t id = pce_tok_lookup(t, *s, strlen(*s));
        if (id >= 0)
            t->tokens[id].attr = TOK_ATTR_USER_DEFINED;
    }
    set_eog(t, in->eos, true);
    set_eog(t, in->eot, true);
    set_eog(t, sp.eom, true);
    /* o200k_harmony and solar-open: <|end|> ends a message, not generation */
    bool has_return = false, has_call = false, has_flush = false;
    int32_t end_id = -1, s_id = -1;
    bool normal_s = false;
    for (int32_t id = 0; id < t->n_tokens; id++) {
        if (!is_eog(t, id))
            continue;
        if (text_is(t, id, "<|return|>"))
            has_return = true;
        else if (text_is(t, id, "<|call|>") || text_is(t, id, "<|calls|>"))
            has_call = true;
        else if (text_is(t, id, "<|flush|>"))
            has_flush = true;
        else if (text_is(t, id, "<|end|>"))
            end_id = id;
        if (text_is(t, id, "<|tool_response>") || text_is(t, id, "<|plamo:eos|>"))
            normal_s = true;
        else if (text_is(t, id, "</s>"))
            s_id = id;
    }
    if (end_id >= 0 && has_call && (has_return || has_flush)) {
        set_eog(t, end_id, false);
        t->tokens[end_id].attr = TOK_ATTR_USER_DEFINED;
    }
    /* gemma4 and plamo: </s> is a normal token */
    if (normal_s && s_id >= 0) {
        set_eog(t, s_id, false);
        t->tokens[s_id].attr = TOK_ATTR_NORMAL;
    }
    return PCE_OK;
}

static int cmp_special(const void *a, const void *b, void *arg)
{
    const pce_tokenizer *t = arg;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->tokens[x].len != t->tokens[y].len)
        return t->tokens[x].len > t->tokens[y].len ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* The tokens that the text is split around, longest first; phi-3's strip
 * the spaces after them. */
static pce_status build_specials(pce_tokenizer *t, const pce_model_file *f)
{
    const uint16_t mask = TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN;
    int n = 0;
    for (int32_t id = 0; id < t->n_tokens; id++)
        n += (t->tokens[id].attr & mask) != 0;
    t->specials = malloc((size_t)(n ? n : 1) * sizeof *t->specials);
    if (!t->specials)
        return pce_fail(t->ctx, PCE_ERR_OUT_OF_MEMORY, "tokenizer: %d special tokens", n);
    for (int32_t id = 0; id < t->n_tokens; id++) {
        if (!(t->tokens[id].attr & mask))
            continue;
        /* the split must fall on character boundaries */
        if (!pce_tok_valid_utf8(tok_text(t, id), t->tokens[id].len)) {
            pce_log(t->ctx, PCE_LOG_WARN,
                    "tokenizer: special token %d is not valid UTF-8: not split around", id);
            continue;
        }
        t->specials[t->n_specials++] = id;
    }
    qsort_r(t->specials, (size_t)t->n_specials, sizeof *t->specials, cmp_special, t);
    /* grouped by first byte, to find which occur in a text in one pass */
    t->by_first = malloc((size_t)(t->n_specials ? t->n_specials : 1) * sizeof *t->by_first);
    if (!t->by_first)
        return pce_fail(t->ctx, PCE_ERR_OUT_OF_MEMORY, "tokenizer: %d special tokens", n);
    int count[256] = {0};
    for (int k = 0; k < t->n_specials; k++)
        count[(uint8_t)tok_text(t, t->specials[k])[0]]++;
    t->first_start[0] = 0;
    for (int b = 0; b < 256; b++)
        t->first_start[b + 1] = t->first_start[b] + count[b];
    int fill[256];
    memcpy(fill, t->first_start, sizeof fill);
    for (int k = 0; k < t->n_specials; k++)
        t->by_first[fill[(uint8_t)tok_text(t, t->specials[k])[0]]++] = k;

    /* llama.cpp's per-model attributes: phi-3 strips spaces after its
     * special tokens */
    char name[128];
    bool present;
    pce_status st = meta_string(t, f, "general.name", name, sizeof name, &present);
    if (st != PCE_OK)
        return st;
    for (char *c = name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (strstr(name, "phi-3") || strstr(name, "phi3")) {
        for (int i = 0; i < t->n_specials; i++)
            t->tokens[t->specials[i]].attr |= TOK_ATTR_RSTRIP;
        static const char *const on[] = {"</s>"}, *const off[] = {"<unk>", "<s>", "<|endoftext|>"};
        int32_t id = pce_tok_lookup(t, on[0], strlen(on[0]));
        if (id >= 0)
            t->tokens[id].attr |= TOK_ATTR_RSTRIP;
        for (int i = 0; i < 3; i++)
            if ((id = pce_tok_lookup(t, off[i], strlen(off[i]))) >= 0)
                t->tokens[id].attr &= (uint16_t)~TOK_ATTR_RSTRIP;
    }
    return PCE_OK;
}

/* ---- create / destroy / info ------------------------------------------------ */

pce_status pce_tokenizer_create(pce_context *ctx, const pce_model_file *f, pce_tokenizer **out)
{
    if (!out || !ctx || !f)
        return ctx ? pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "tokenizer_create: NULL argument")
                   : PCE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    pce_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "allocating a tokenizer");
    t->ctx = ctx;
    bool present;
    char model[64];
    pce_status st = meta_string(t, f, "tokenizer.ggml.model", model, sizeof model, &present);
    if (st == PCE_OK && !present)
        st = pce_fail(ctx, PCE_ERR_NOT_FOUND,
                      "tokenizer: the model file has no tokenizer (no tokenizer.ggml.model)");
    if (st == PCE_OK && strcmp(model, "gpt2") != 0 && strcmp(model, "llama") != 0)
        st = pce_fail(ctx, PCE_ERR_UNSUPPORTED,
                      "tokenizer: tokenizer.ggml.model '%s' is not supported (pce reads \"gpt2\", "
                      "byte-level BPE, and \"llama\", SentencePiece)",
                      model);
    char pre[128] = "";
    if (st == PCE_OK)
        st = meta_string(t, f, "tokenizer.ggml.pre", pre, sizeof pre, &present);
    if (st == PCE_OK)
        st = read_tokens(t, f);
    bool add_bos = false;
    if (st == PCE_OK) {
        /* the names as far as they fit (a longer pre is truncated) */
        snprintf(t->info.model, sizeof t->info.model, "%.*s", (int)sizeof t->info.model - 1, model);
        snprintf(t->info.pre, sizeof t->info.pre, "%.*s", (int)sizeof t->info.pre - 1, pre);
        t->info.n_vocab = t->n_tokens;
        if (!strcmp(model, "gpt2")) {
            t->type = TOK_BPE;
            st = pce_tok_bpe_init(t, pre, &add_bos);
            if (st == PCE_OK)
                st = pce_tok_bpe_merges(t, f);
        } else {
            t->type = TOK_SPM;
            t->add_space_prefix = true;
            add_bos = true;
            st = meta_bool(t, f, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
        }
    }
    if (st == PCE_OK)
        st = read_special(t, f, add_bos);
    if (st == PCE_OK)
        st = build_specials(t, f);
    if (st != PCE_OK) {
        pce_tokenizer_destroy(t);
        return st;
    }
    pce_log(ctx, PCE_LOG_INFO,
            "tokenizer: %s%s%s, %d tokens, %u merges, %d special, bos %d eos %d%s", t->info.model,
            *pre ? " pre " : "", pre, t->n_tokens, t->n_merges, t->n_specials, t->info.bos,
            t->info.eos, t->info.add_bos ? ", adds BOS" : "");
    *out = t;
    return PCE_OK;
}

void pce_tokenizer_destroy(pce_tokenizer *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_re; i++)
        pcre2_code_free(t->re[i]);
    free(t->arena);
    free(t->tokens);
    free(t->tok_index);
    free(t->merges);
    free(t->merge_index);
    free(t->specials);
    free(t->by_first);
    free(t->eog);
    free(t);
}
