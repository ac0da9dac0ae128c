/* tokenizer_bpe.c — byte-level BPE ("gpt2" vocabularies): the text is split
 * into words by the regexes of its pre-tokenizer (tokenizer.ggml.pre) with
 * PCRE2 in UTF and Unicode-property mode, each word's bytes are written as
 * the printable code points GPT-2 maps them to, and adjacent symbols are
 * merged by the rank of their pair in tokenizer.ggml.merges, lowest first.
 *
 * The regexes are those of llama.cpp (src/llama-vocab.cpp) with one change:
 * \s is spelled out as [\t\n\v\f\r\x{85}\p{Z}], the White_Space set that
 * llama.cpp's splitter uses (PCRE2's \s would add U+180E). llama.cpp runs
 * these regexes through hand-written matchers that give the regex's own
 * splits; PCRE2 runs the regexes themselves. */
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>

#define WS "\\t\\n\\x{0B}\\f\\r\\x{85}\\p{Z}"

/* GPT-2's split (llama.cpp lists it without the final \s+, which its
 * matcher applies anyway). */
#define RE_GPT2                                                                                    \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS       \
    "])|[" WS "]+"
/* Llama 3's: case-insensitive contractions, a letter run with one leading
 * non-letter, digits in threes, punctuation with the newlines after it. */
#define RE_LLAMA3_(DIGITS)                                                                         \
    "'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" DIGITS  \
    "| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+"
#define RE_LLAMA3 RE_LLAMA3_("\\p{N}{1,3}")
/* Qwen2's: Llama 3's with single digits. */
#define RE_QWEN2 RE_LLAMA3_("\\p{N}")

typedef struct pre_kind {
    const char *names[12];
    const char *regex[TOK_MAX_REGEX];
    bool ignore_merges, add_bos;
} pre_kind;

/* The pre-tokenizers pce knows, by the names llama.cpp gives them. */
static const pre_kind pre_kinds[] = {
    /* no name, or "default": llama.cpp's fallback */
    {{"", "default"}, {"[\\p{P}$+<=>^~|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, false, false},
    {{"gpt-2", "phi-2", "mpt", "olmo", "jais", "exaone4", "trillion", "granite-docling", "gigachat",
      "a.x-4.0", "mellum"},
     {RE_GPT2},
     false,
     false},
    /* GPT-2's split after every digit is split off */
    {{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2"},
     {"\\p{N}", RE_GPT2},
     false,
     false},
    {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
      "jina-v5-nano"},
     {RE_LLAMA3},
     true,
     true},
    {{"dbrx", "smaug-bpe"}, {RE_LLAMA3}, false, false},
    {{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "megrez"},
     {RE_QWEN2},
     false,
     false},
};

static const pre_kind *find_pre(const char *pre)
{
    for (size_t k = 0; k < sizeof pre_kinds / sizeof pre_kinds[0]; k++)
        for (int i = 0; i < 12 && pre_kinds[k].names[i]; i++)
            if (!strcmp(pre_kinds[k].names[i], pre))
                return &pre_kinds[k];
    return NULL;
}

pce_status pce_tok_bpe_init(pce_tokenizer *t, const char *pre, bool *default_add_bos)
{
    const pre_kind *k = find_pre(pre);
    if (!k)
        return pce_fail(t->ctx, PCE_ERR_UNSUPPORTED,
                        "tokenizer: pre-tokenizer '%s' (tokenizer.ggml.pre) is not supported; pce "
                        "knows llama3/llama-bpe, qwen2, deepseek-r1-qwen, smollm, gpt-2 and "
                        "their aliases",
                        pre);
    if (!*pre)
        pce_log(t->ctx, PCE_LOG_WARN,
                "tokenizer: no tokenizer.ggml.pre: using llama.cpp's default pre-tokenizer "
                "(generation quality may suffer)");
    t->ignore_merges = k->ignore_merges;
    *default_add_bos = k->add_bos;
    for (int i = 0; i < TOK_MAX_REGEX && k->regex[i]; i++) {
        int err;
        PCRE2_SIZE at;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)k->regex[i], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP, &err, &at, NULL);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            return pce_fail(t->ctx, PCE_ERR_INTERNAL,
                            "tokenizer: PCRE2 refuses pre-tokenizer regex %d at %zu: %s", i,
                            (size_t)at, (const char *)msg);
        }
        /* JIT where PCRE2 has it; the interpreter otherwise */
        (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
        t->re[t->n_re++] = re;
    }
    /* GPT-2's byte map: printable Latin-1 bytes stand for themselves, the
     * others for U+0100 onwards in byte order */
    for (int i = 0; i < 512; i++)
        t->cp_byte[i] = -1;
    int next = 256;
    for (int b = 0; b < 256; b++) {
        bool self = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
        int cp = self ? b : next++;
        t->cp_byte[cp] = (int16_t)b;
        if (cp < 0x80) {
            t->byte_utf8[b][0] = (uint8_t)cp;
            t->byte_utf8_len[b] = 1;
        } else {
            t->byte_utf8[b][0] = (uint8_t)(0xc0 | cp >> 6);
            t->byte_utf8[b][1] = (uint8_t)(0x80 | (cp & 0x3f));
            t->byte_utf8_len[b] = 2;
        }
    }
    return PCE_OK;
}

/* ---- merges ----------------------------------------------------------------- */

static uint64_t pair_hash(const char *p, size_t nl, size_t nr)
{
    return tok_hash(p, nl + nr) ^ ((uint64_t)nl * 0x9e3779b97f4a7c15ull);
}

/* The rank of merging p[0..nl) with p[nl..nl+nr), or -1. */
static int32_t find_rank(const pce_tokenizer *t, const char *p, size_t nl, size_t nr)
{
    size_t mask = t->merge_cap - 1;
    for (size_t i = (size_t)pair_hash(p, nl, nr) & mask;; i = (i + 1) & mask) {
        uint32_t v = t->merge_index[i];
        if (!v)
            return -1;
        const tok_merge *m = &t->merges[v - 1];
        if (m->left_len == nl && m->right_len == nr && !memcmp(t->arena + m->off, p, nl + nr))
            return m->rank;
    }
}

pce_status pce_tok_bpe_merges(pce_tokenizer *t, const pce_model_file *f)
{
    const char *key = "tokenizer.ggml.merges";
    pce_meta m;
    if (pce_model_file_meta_find(f, key, &m) != PCE_OK)
        return pce_fail(t->ctx, PCE_ERR_FORMAT, "tokenizer: a gpt2 vocabulary without '%s'", key);
    if (m.type != PCE_META_ARRAY || m.elem_type != PCE_META_STRING)
        return pce_fail(t->ctx, PCE_ERR_FORMAT,
                        "tokenizer: metadata '%s' is not an array of strings", key);
    if (m.count >= INT32_MAX / 2)
        return pce_fail(t->ctx, PCE_ERR_FORMAT, "tokenizer: metadata '%s' has %llu merges", key,
                        (unsigned long long)m.count);
    size_t n = (size_t)m.count;
    t->merges = malloc((n ? n : 1) * sizeof *t->merges);
    size_t cap = 64;
    while (cap < n * 2)
        cap *= 2;
    t->merge_index = calloc(cap, sizeof *t->merge_index);
    if (!t->merges || !t->merge_index)
        return pce_fail(t->ctx, PCE_ERR_OUT_OF_MEMORY, "tokenizer: table of %zu merges", n);
    t->merge_cap = cap;
    for (size_t r = 0; r < n; r++) {
        const char *s;
        size_t len;
        pce_status st = pce_model_file_meta_array_string(f, key, r, &s, &len);
        if (st != PCE_OK)
            return st;
        /* "left right", split at the first space after the first byte */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp)
            continue; /* llama.cpp files it under an empty pair that never matches */
        size_t nl = (size_t)(sp - s), nr = len - nl - 1;
        if (t->arena_len + nl + nr > UINT32_MAX)
            return pce_fail(t->ctx, PCE_ERR_UNSUPPORTED, "tokenizer: more than 4 GiB of merges");
        /* left and right back to back in the arena */
        void *p = t->arena;
        if (!pce_tok_reserve(t, &p, &t->arena_cap, t->arena_len + nl + nr + 1, 1))
            return PCE_ERR_OUT_OF_MEMORY;
        t->arena = p;
        char *dst = t->arena + t->arena_len;
        memcpy(dst, s, nl);
        memcpy(dst + nl, sp + 1, nr);
        size_t i = (size_t)pair_hash(dst, nl, nr) & (cap - 1);
        bool dup = false;
        for (; t->merge_index[i]; i = (i + 1) & (cap - 1)) {
            const tok_merge *o = &t->merges[t->merge_index[i] - 1];
            if (o->left_len == nl && o->right_len == nr &&
                !memcmp(t->arena + o->off, dst, nl + nr)) {
                dup = true; /* the first rank stays */
                break;
            }
        }
        if (dup)
            continue;
        t->merges[t->n_merges] =
            (tok_merge){(uint32_t)t->arena_len, (uint32_t)nl, (uint32_t)nr, (int32_t)r};
        t->merge_index[i] = ++t->n_merges;
        t->arena_len += nl + nr;
    }
    return PCE_OK;
}

/* ---- encode ----------------------------------------------------------------- */

/* Merges one word (its bytes w[0..n)) and appends its tokens. */
static pce_status bpe_word(const pce_tokenizer *t, tok_scratch *s, const char *w, size_t n)
{
    /* the word as GPT-2's code points: one symbol per byte */
    size_t m = 0;
    void *p = s->buf;
    if (!pce_tok_reserve(t, &p, &s->cap_buf, 2 * n + 1, 1))
        return PCE_ERR_OUT_OF_MEMORY;
    s->buf = p;
    p = s->sym;
    if (!pce_tok_reserve(t, &p, &s->cap_sym, n, sizeof *s->sym))
        return PCE_ERR_OUT_OF_MEMORY;
    s->sym = p;
    char *buf = s->buf;
    tok_sym *sym = s->sym;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)w[i];
        sym[i] = (tok_sym){(uint32_t)m, t->byte_utf8_len[b], (int32_t)i - 1,
                           i + 1 < n ? (int32_t)i + 1 : -1};
        memcpy(buf + m, t->byte_utf8[b], t->byte_utf8_len[b]);
        m += t->byte_utf8_len[b];
    }
    if (t->ignore_merges) { /* a word that is a token is taken whole */
        int32_t id = pce_tok_lookup(t, buf, m);
        if (id >= 0)
            return pce_tok_push(t, s->out, id) ? PCE_OK : PCE_ERR_OUT_OF_MEMORY;
    }
    tok_heap *h = &s->heap;
    h->n = 0;
    for (size_t i = 1; i < n; i++) {
        int32_t r = find_rank(t, buf + sym[i - 1].start, sym[i - 1].n, sym[i].n);
        if (r >= 0 &&
            !pce_tok_heap_push(
                t, h, (tok_bigram){r, (int32_t)i - 1, (int32_t)i, sym[i - 1].n + sym[i].n}))
            return PCE_ERR_OUT_OF_MEMORY;
    }
    while (h->n) {
        tok_bigram b = pce_tok_heap_pop(h);
        tok_sym *l = &sym[b.left], *r = &sym[b.right];
        if (!l->n || !r->n || l->n + r->n != b.size)
            continue; /* stale: a symbol changed since */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = b.left;
        /* the new pairs on both sides */
        int32_t pairs[2][2] = {{l->prev, b.left}, {b.left, l->next}};
        for (int k = 0; k < 2; k++) {
            int32_t a = pairs[k][0], c = pairs[k][1];
            if (a < 0 || c < 0)
                continue;
            int32_t rank = find_rank(t, buf + sym[a].start, sym[a].n, sym[c].n);
            if (rank >= 0 &&
                !pce_tok_heap_push(t, h, (tok_bigram){rank, a, c, sym[a].n + sym[c].n}))
                return PCE_ERR_OUT_OF_MEMORY;
        }
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
        const char *txt = buf + sym[i].start;
        int32_t id = pce_tok_lookup(t, txt, sym[i].n);
        if (id >= 0) {
            if (!pce_tok_push(t, s->out, id))
                return PCE_ERR_OUT_OF_MEMORY;
            continue;
        }
        /* a symbol the vocabulary lacks: an initial one (merges make
         * tokens), a byte no token stands for, such as 0xF2 in a vocabulary
         * that never saw a code point of planes 8 to 11. llama.cpp drops it
         * without a word; here each byte of the symbol is its own token
         * where there is one, else the text is refused naming the byte, or
         * (replace_invalid) the byte becomes U+FFFD's tokens. */
        uint32_t done = 0;
        for (int32_t j = i; done < sym[i].n && (size_t)j < n; j++) {
            uint8_t b = (uint8_t)w[j];
            done += t->byte_utf8_len[b];
            id = pce_tok_lookup(t, (const char *)t->byte_utf8[b], t->byte_utf8_len[b]);
            if (id >= 0) {
                if (!pce_tok_push(t, s->out, id))
                    return PCE_ERR_OUT_OF_MEMORY;
                continue;
            }
            size_t at = (size_t)(w - s->text0) + (size_t)j;
            if (!s->replace)
                return pce_fail(t->ctx, PCE_ERR_INVALID_ARGUMENT,
                                "tokenize: byte 0x%02x at byte offset %zu has no token in this "
                                "vocabulary (a character it cannot write); set replace_invalid "
                                "to write U+FFFD instead",
                                b, at);
            static const uint8_t fffd[3] = {0xef, 0xbf, 0xbd};
            for (int k = 0; k < 3; k++) {
                id = pce_tok_lookup(t, (const char *)t->byte_utf8[fffd[k]],
                                    t->byte_utf8_len[fffd[k]]);
                if (id < 0)
                    return pce_fail(t->ctx, PCE_ERR_INVALID_ARGUMENT,
                                    "tokenize: byte 0x%02x at byte offset %zu has no token in "
                                    "this vocabulary, and neither has U+FFFD",
                                    b, at);
                if (!pce_tok_push(t, s->out, id))
                    return PCE_ERR_OUT_OF_MEMORY;
            }
        }
    }
    return PCE_OK;
}

static bool cut_push(const pce_tokenizer *t, size_t **v, size_t *n, size_t *cap, size_t at)
{
    if (*n && (*v)[*n - 1] >= at)
        return true;
    void *p = *v;
    if (!pce_tok_reserve(t, &p, cap, *n + 1, sizeof **v))
        return false;
    *v = p;
    (*v)[(*n)++] = at;
    return true;
}

/* Refines the cuts with one regex: each piece is split at its matches (the
 * text between matches is a piece too), the piece's end seen as the end of
 * the text. */
static pce_status split(const pce_tokenizer *t, tok_scratch *s, const pcre2_code *re,
                        const char *text)
{
    size_t n2 = 0;
    if (!cut_push(t, &s->cuts2, &n2, &s->cap_cuts2, 0))
        return PCE_ERR_OUT_OF_MEMORY;
    for (size_t c = 0; c + 1 < s->n_cuts; c++) {
        size_t a = s->cuts[c], len = s->cuts[c + 1] - a;
        PCRE2_SPTR subj = (PCRE2_SPTR)(text + a);
        size_t pos = 0;
        uint32_t jit = 0;
        while (pos < len) {
            int rc = pcre2_match(re, subj, len, pos, PCRE2_NO_UTF_CHECK | jit, s->md, NULL);
            if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !jit) {
                jit = PCRE2_NO_JIT; /* a long run: the interpreter has a larger stack */
                continue;
            }
            if (rc == PCRE2_ERROR_NOMATCH)
                break;
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return pce_fail(t->ctx, PCE_ERR_INTERNAL, "tokenize: PCRE2 failed at byte %zu: %s",
                                a + pos, (const char *)msg);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
            size_t ms = ov[0], me = ov[1];
            if (me <= ms) { /* an empty match: step over one character */
                me = ms + 1;
                while (me < len && (subj[me] & 0xc0) == 0x80)
                    me++;
                pos = me;
                continue;
            }
            if (!cut_push(t, &s->cuts2, &n2, &s->cap_cuts2, a + ms) ||
                !cut_push(t, &s->cuts2, &n2, &s->cap_cuts2, a + me))
                return PCE_ERR_OUT_OF_MEMORY;
            pos = me;
        }
        if (!cut_push(t, &s->cuts2, &n2, &s->cap_cuts2, a + len))
            return PCE_ERR_OUT_OF_MEMORY;
    }
    size_t *tmp = s->cuts, tcap = s->cap_cuts;
    s->cuts = s->cuts2;
    s->cap_cuts = s->cap_cuts2;
    s->n_cuts = n2;
    s->cuts2 = tmp;
    s->cap_cuts2 = tcap;
    return PCE_OK;
}

pce_status pce_tok_bpe_encode(const pce_tokenizer *t, tok_scratch *s, const char *text, size_t n)
{
    if (!s->md) {
        s->md = pcre2_match_data_create(1, NULL);
        if (!s->md)
            return pce_fail(t->ctx, PCE_ERR_OUT_OF_MEMORY, "tokenize: PCRE2 match data");
    }
    s->n_cuts = 0;
    if (!cut_push(t, &s->cuts, &s->n_cuts, &s->cap_cuts, 0) ||
        !cut_push(t, &s->cuts, &s->n_cuts, &s->cap_cuts, n))
        return PCE_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < t->n_re; i++) {
        pce_status st = split(t, s, t->re[i], text);
        if (st != PCE_OK)
            return st;
    }
    for (size_t c = 0; c + 1 < s->n_cuts; c++) {
        pce_status st = bpe_word(t, s, text + s->cuts[c], s->cuts[c + 1] - s->cuts[c]);
        if (st != PCE_OK)
            return st;
    }
    return PCE_OK;
}

size_t pce_tok_bpe_unmap(const pce_tokenizer *t, const char *text, size_t n, char *buf, size_t cap)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        /* one code point: 1 to 4 bytes */
        size_t k = s[i] < 0x80 ? 1 : s[i] < 0xe0 ? 2 : s[i] < 0xf0 ? 3 : 4;
        if (k > n - i)
            k = n - i;
        unsigned cp = s[i];
        if (k == 2)
            cp = (s[i] & 0x1fu) << 6 | (s[i + 1] & 0x3fu);
        if (k <= 2 && cp < 512 && t->cp_byte[cp] >= 0) {
            if (o < cap)
                buf[o] = (char)t->cp_byte[cp];
            o++;
        } else { /* not one of the map's code points: as it is */
            for (size_t j = 0; j < k; j++, o++)
                if (o < cap)
                    buf[o] = (char)s[i + j];
        }
        i += k;
    }
    return o;
}
