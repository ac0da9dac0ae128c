/* tokenizer.c — the tokenizer's text side: input validation (invalid UTF-8
 * and control characters are refused or replaced), the split of the text
 * around special tokens, encoding through the model's merges
 * (tokenizer_bpe.c, tokenizer_spm.c) and decoding; the hash table and heap
 * they share. The vocabulary is read in tokenizer_vocab.c. */
#include "tokenizer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- small helpers ---------------------------------------------------------- */

bool pce_tok_reserve(const pce_tokenizer *t, void **p, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < n)
        nc *= 2;
    if (nc > SIZE_MAX / size) {
        pce_fail(t->ctx, PCE_ERR_OUT_OF_MEMORY, "tokenizer: %zu elements of %zu bytes", n, size);
        return false;
    }
    void *q = realloc(*p, nc * size);
    if (!q) {
        pce_fail(t->ctx, PCE_ERR_OUT_OF_MEMORY, "tokenizer: allocating %zu bytes", nc * size);
        return false;
    }
    *p = q;
    *cap = nc;
    return true;
}

bool pce_tok_push(const pce_tokenizer *t, tok_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        void *p = ids->v;
        if (!pce_tok_reserve(t, &p, &ids->cap, ids->n + 1, sizeof *ids->v))
            return false;
        ids->v = p;
    }
    ids->v[ids->n++] = id;
    return true;
}

static bool before(const tok_bigram *a, const tok_bigram *b)
{
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

bool pce_tok_heap_push(const pce_tokenizer *t, tok_heap *h, tok_bigram b)
{
    void *p = h->v;
    if (!pce_tok_reserve(t, &p, &h->cap, h->n + 1, sizeof *h->v))
        return false;
    h->v = p;
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!before(&b, &h->v[up]))
            break;
        h->v[i] = h->v[up];
        i = up;
    }
    h->v[i] = b;
    return true;
}

tok_bigram pce_tok_heap_pop(tok_heap *h)
{
    tok_bigram top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

int32_t pce_tok_lookup(const pce_tokenizer *t, const char *s, size_t n)
{
    size_t mask = t->tok_cap - 1;
    for (size_t i = (size_t)tok_hash(s, n) & mask;; i = (i + 1) & mask) {
        uint32_t v = t->tok_index[i];
        if (!v)
            return -1;
        const tok_token *tk = &t->tokens[v - 1];
        if (tk->len == n && memcmp(t->arena + tk->off, s, n) == 0)
            return (int32_t)(v - 1);
    }
}

pce_status pce_tokenizer_get_info(const pce_tokenizer *t, pce_tokenizer_info *out)
{
    if (!t || !out)
        return t ? pce_fail(t->ctx, PCE_ERR_INVALID_ARGUMENT, "tokenizer_get_info: out is NULL")
                 : PCE_ERR_INVALID_ARGUMENT;
    *out = t->info;
    return PCE_OK;
}

void pce_tokenize_options_init(pce_tokenize_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
    opts->add_special = true;
}

int32_t pce_tokenizer_find(const pce_tokenizer *t, const char *text)
{
    if (!t || !text)
        return -1;
    return pce_tok_lookup(t, text, strlen(text));
}

bool pce_tokenizer_is_eog(const pce_tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_tokens && (t->eog[id / 8] >> (id % 8) & 1);
}

/* ---- validation ------------------------------------------------------------- */

static const char why_control[] = "a control character";

/* Length of the valid UTF-8 character at s[0..n) (control characters other
 * than \t \n \r count as invalid), or 0 with the length of the bad
 * subsequence in *bad (the longest prefix of a possible character, at least
 * one byte: what Unicode recommends replacing by one U+FFFD) and why in
 * *why. */
static size_t utf8_char(const unsigned char *s, size_t n, size_t *bad, const char **why)
{
    unsigned c = s[0];
    *bad = 1;
    if (c < 0x80) {
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
            *why = why_control;
            return 0;
        }
        return 1;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c < 0xc0) {
        *why = "a continuation byte with no lead byte";
        return 0;
    } else if (c < 0xc2) {
        *why = "an overlong encoding";
        return 0;
    } else if (c < 0xe0) {
        len = 2;
    } else if (c < 0xf0) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c < 0xf5) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        *why = "a byte that never appears in UTF-8";
        return 0;
    }
    if (n < 2 || s[1] < lo || s[1] > hi) {
        if (n >= 2 && s[1] >= 0x80 && s[1] <= 0xbf)
            *why = c == 0xed   ? "a UTF-16 surrogate"
                   : c == 0xf4 ? "a code point above U+10FFFF"
                               : "an overlong encoding";
        else
            *why = "a truncated sequence";
        return 0;
    }
    for (size_t k = 2; k < len; k++) {
        if (k >= n || s[k] < 0x80 || s[k] > 0xbf) {
            *bad = k;
            *why = "a truncated sequence";
            return 0;
        }
    }
    if (c == 0xc2 && s[1] < 0xa0) { /* U+0080..U+009F */
        *bad = 2;
        *why = why_control;
        return 0;
    }
    return len;
}

bool pce_tok_valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t bad;
    const char *why;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_char(p + i, n - i, &bad, &why);
        if (!k && why != why_control)
            return false;
        i += k ? k : bad;
    }
    return true;
}

/* The text checked: *clean (*clean_len bytes) is the text itself, or (with
 * replace) a copy with each bad subsequence replaced by U+FFFD, *copy, to
 * free. */
static pce_status check_text(const pce_tokenizer *t, const char *text, size_t len, bool replace,
                             const char **clean, size_t *clean_len, char **copy)
{
    const unsigned char *s = (const unsigned char *)text;
    *clean = text;
    *clean_len = len;
    *copy = NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t bad;
        const char *why;
        size_t k = utf8_char(s + i, len - i, &bad, &why);
        if (k) {
            if (*copy) {
                memcpy(*copy + o, s + i, k);
                o += k;
            }
            i += k;
            continue;
        }
        if (!replace) {
            char bytes[24];
            size_t b = 0;
            for (size_t j = 0; j < bad && j < 4; j++)
                b += (size_t)snprintf(bytes + b, sizeof bytes - b, "%s0x%02x", j ? " " : "",
                                      s[i + j]);
            return pce_fail(t->ctx, PCE_ERR_INVALID_ARGUMENT,
                            "tokenize: invalid text at byte offset %zu: %s (%s); set "
                            "replace_invalid to replace it with U+FFFD",
                            i, why, bytes);
        }
        if (!*copy) {
            /* each bad byte becomes at most 3 */
            if (len > (SIZE_MAX - 1) / 3)
                return pce_fail(t->ctx, PCE_ERR_OUT_OF_MEMORY, "tokenize: %zu bytes", len);
            size_t cap = len * 3 + 1;
            *copy = malloc(cap);
            if (!*copy)
                return pce_fail(t->ctx, PCE_ERR_OUT_OF_MEMORY, "tokenize: copy of %zu bytes", cap);
            memcpy(*copy, text, i);
            o = i;
        }
        memcpy(*copy + o, "\xef\xbf\xbd", 3);
        o += 3;
        i += bad;
    }
    if (*copy) {
        *clean = *copy;
        *clean_len = o;
    }
    return PCE_OK;
}

/* ---- encode ----------------------------------------------------------------- */

/* A piece of the text: raw text [off, off+len), or a special token. */
typedef struct fragment {
    int32_t token; /* -1: raw text */
    size_t off, len;
} fragment;

typedef struct frag_list {
    fragment *v;
    size_t n, cap;
} frag_list;

static bool frag_push(const pce_tokenizer *t, frag_list *l, int32_t token, size_t off, size_t len)
{
    void *p = l->v;
    if (!pce_tok_reserve(t, &p, &l->cap, l->n + 1, sizeof *l->v))
        return false;
    l->v = p;
    l->v[l->n++] = (fragment){token, off, len};
    return true;
}

/* Splits the raw fragments around every occurrence of each special token,
 * the longest first (llama.cpp's tokenizer_st_partition). Control and
 * unknown tokens only when parse_special; user-defined ones always. */
static pce_status partition(const pce_tokenizer *t, const char *text, size_t len,
                            bool parse_special, frag_list *out)
{
    frag_list a = {0}, b = {0};
    if (len && !frag_push(t, &a, -1, 0, len))
        return PCE_ERR_OUT_OF_MEMORY;
    if (!len || !t->n_specials) {
        *out = a;
        return PCE_OK;
    }
    /* which special tokens occur at all: one pass over the text */
    const uint16_t skip = parse_special ? 0 : TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN;
    uint8_t *occurs = calloc((size_t)t->n_specials, 1);
    if (!occurs) {
        free(a.v);
        return pce_fail(t->ctx, PCE_ERR_OUT_OF_MEMORY, "tokenize: %d special tokens",
                        t->n_specials);
    }
    int found = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)text[i];
        for (int j = t->first_start[c]; j < t->first_start[c + 1]; j++) {
            int k = t->by_first[j];
            const tok_token *tk = &t->tokens[t->specials[k]];
            if (!occurs[k] && !(tk->attr & skip) && tk->len <= len - i &&
                !memcmp(text + i, t->arena + tk->off, tk->len)) {
                occurs[k] = 1;
                found++;
            }
        }
    }
    for (int k = 0; k < t->n_specials && a.n && found; k++) {
        if (!occurs[k])
            continue;
        found--;
        int32_t id = t->specials[k];
        const tok_token *tk = &t->tokens[id];
        const char *needle = tok_text(t, id);
        b.n = 0;
        for (size_t i = 0; i < a.n; i++) {
            fragment fr = a.v[i];
            if (fr.token >= 0) {
                if (!frag_push(t, &b, fr.token, 0, 0))
                    goto oom;
                continue;
            }
            size_t off = fr.off, n = fr.len;
            for (;;) {
                const char *m = n >= tk->len ? memmem(text + off, n, needle, tk->len) : NULL;
                if (!m) {
                    if (n && !frag_push(t, &b, -1, off, n))
                        goto oom;
                    break;
                }
                size_t at = (size_t)(m - text), left = at - off;
                if (tk->attr & TOK_ATTR_LSTRIP)
                    while (left && isspace((unsigned char)text[off + left - 1]))
                        left--;
                if (left && !frag_push(t, &b, -1, off, left))
                    goto oom;
                if (!frag_push(t, &b, id, 0, 0))
                    goto oom;
                size_t roff = at + tk->len, rn = off + n - roff;
                if (tk->attr & TOK_ATTR_RSTRIP)
                    while (rn && isspace((unsigned char)text[roff])) {
                        roff++;
                        rn--;
                    }
                off = roff;
                n = rn;
            }
        }
        frag_list tmp = a;
        a = b;
        b = tmp;
    }
    free(b.v);
    free(occurs);
    *out = a;
    return PCE_OK;
oom:
    free(a.v);
    free(b.v);
    free(occurs);
    return PCE_ERR_OUT_OF_MEMORY;
}

pce_status pce_tokenizer_encode(const pce_tokenizer *t, const char *text, size_t len,
                                const pce_tokenize_options *opts, int32_t *tokens, size_t cap,
                                size_t *n)
{
    if (!t)
        return PCE_ERR_INVALID_ARGUMENT;
    if (!n || (!text && len) || (!tokens && cap))
        return pce_fail(t->ctx, PCE_ERR_INVALID_ARGUMENT, "tokenize: %s is NULL",
                        !n      ? "n"
                        : !text ? "text"
                                : "tokens");
    *n = 0;
    pce_tokenize_options o;
    pce_tokenize_options_init(&o);
    if (opts) {
        if (opts->size < offsetof(pce_tokenize_options, add_special) + sizeof(bool))
            return pce_fail(t->ctx, PCE_ERR_INVALID_ARGUMENT,
                            "tokenize: options.size is %zu (pce_tokenize_options_init sets it)",
                            opts->size);
        size_t keep = opts->size < sizeof o ? opts->size : sizeof o;
        memcpy(&o, opts, keep);
    }
    const char *clean;
    size_t clen;
    char *copy;
    pce_status st = check_text(t, text ? text : "", len, o.replace_invalid, &clean, &clen, &copy);
    if (st != PCE_OK)
        return st;
    frag_list frags = {0};
    tok_ids ids = {0};
    tok_scratch s = {.out = &ids, .text0 = clean, .replace = o.replace_invalid};
    if ((st = partition(t, clean, clen, o.parse_special, &frags)) != PCE_OK)
        goto done;
    if (o.add_special && t->info.add_bos) {
        if (t->info.bos < 0) {
            st = pce_fail(t->ctx, PCE_ERR_FORMAT,
                          "tokenize: the vocabulary asks for a BOS token but names none");
            goto done;
        }
        if (!pce_tok_push(t, &ids, t->info.bos)) {
            st = PCE_ERR_OUT_OF_MEMORY;
            goto done;
        }
    }
    bool prev_special = true; /* SentencePiece: a space before the first text */
    for (size_t i = 0; i < frags.n && st == PCE_OK; i++) {
        const fragment *fr = &frags.v[i];
        if (fr->token >= 0) {
            if (!pce_tok_push(t, &ids, fr->token))
                st = PCE_ERR_OUT_OF_MEMORY;
            prev_special = true;
        } else if (t->type == TOK_BPE) {
            st = pce_tok_bpe_encode(t, &s, clean + fr->off, fr->len);
        } else {
            st = pce_tok_spm_encode(t, &s, clean + fr->off, fr->len,
                                    t->add_space_prefix && prev_special);
            prev_special = false;
        }
    }
    if (st == PCE_OK && o.add_special && t->info.add_eos) {
        if (t->info.eos < 0)
            st = pce_fail(t->ctx, PCE_ERR_FORMAT,
                          "tokenize: the vocabulary asks for an EOS token but names none");
        else if (!pce_tok_push(t, &ids, t->info.eos))
            st = PCE_ERR_OUT_OF_MEMORY;
    }
    if (st == PCE_OK) {
        *n = ids.n;
        if (ids.n > cap)
            st = pce_fail(t->ctx, PCE_ERR_INVALID_ARGUMENT,
                          "tokenize: %zu tokens do not fit in %zu (call with cap 0 to ask)", ids.n,
                          cap);
        if (ids.n && cap)
            memcpy(tokens, ids.v, (ids.n < cap ? ids.n : cap) * sizeof *tokens);
    }
done:
    if (s.md)
        pcre2_match_data_free(s.md);
    free(s.cuts);
    free(s.cuts2);
    free(s.buf);
    free(s.sym);
    free(s.heap.v);
    free(ids.v);
    free(frags.v);
    free(copy);
    return st;
}

/* ---- decode ----------------------------------------------------------------- */

/* Where pieces go: buf[0..cap) takes what fits, o counts every byte; with
 * `strip` the first byte is dropped when it is a space. */
typedef struct sink {
    char *buf;
    size_t cap, o;
    bool strip;
} sink;

static void put(sink *k, const char *s, size_t n)
{
    if (k->strip && n) {
        k->strip = false;
        if (s[0] == ' ') {
            s++;
            n--;
        }
    }
    for (size_t i = 0; i < n; i++, k->o++)
        if (k->o < k->cap)
            k->buf[k->o] = s[i];
}

/* The bytes id stands for, into k. */
static void piece(const pce_tokenizer *t, int32_t id, bool special, sink *k)
{
    const tok_token *tk = &t->tokens[id];
    const char *s = tok_text(t, id);
    if (!special && (tk->attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL)))
        return;
    if (tk->attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED)) {
        put(k, s, tk->len);
    } else if (tk->attr & TOK_ATTR_NORMAL) {
        if (t->type == TOK_BPE) {
            char tmp[256];
            for (size_t i = 0; i < tk->len;) {
                /* whole code points at a time */
                size_t j = i + 128 < tk->len ? i + 128 : tk->len;
                while (j < tk->len && ((unsigned char)s[j] & 0xc0) == 0x80)
                    j++;
                put(k, tmp, pce_tok_bpe_unmap(t, s + i, j - i, tmp, sizeof tmp));
                i = j;
            }
        } else { /* SentencePiece: U+2581 stands for a space */
            for (size_t i = 0; i < tk->len;) {
                if (i + 3 <= tk->len && !memcmp(s + i, "\xe2\x96\x81", 3)) {
                    put(k, " ", 1);
                    i += 3;
                } else {
                    put(k, s + i, 1);
                    i++;
                }
            }
        }
    } else if (tk->attr & TOK_ATTR_BYTE) { /* "<0xNN>" */
        unsigned v = 0;
        for (size_t i = 3; i < 5 && i < tk->len; i++) {
            char c = s[i];
            v = v * 16 + (unsigned)(c >= '0' && c <= '9'   ? c - '0'
                                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                           : 0);
        }
        char b = (char)v;
        put(k, &b, 1);
    }
    /* unused and undefined tokens: nothing */
}

pce_status pce_tokenizer_piece(const pce_tokenizer *t, int32_t id, bool special, char *buf,
                               size_t cap, size_t *len)
{
    if (!t)
        return PCE_ERR_INVALID_ARGUMENT;
    if (!len || (!buf && cap))
        return pce_fail(t->ctx, PCE_ERR_INVALID_ARGUMENT, "token piece: %s is NULL",
                        !len ? "len" : "buf");
    *len = 0;
    if (id < 0 || id >= t->n_tokens)
        return pce_fail(t->ctx, PCE_ERR_INVALID_ARGUMENT, "token piece: id %d out of 0..%d", id,
                        t->n_tokens - 1);
    sink k = {buf, cap, 0, false};
    piece(t, id, special, &k);
    *len = k.o;
    if (k.o > cap)
        return pce_fail(t->ctx, PCE_ERR_INVALID_ARGUMENT,
                        "token piece: token %d takes %zu bytes, the buffer %zu", id, k.o, cap);
    return PCE_OK;
}

pce_status pce_tokenizer_decode(const pce_tokenizer *t, const int32_t *tokens, size_t n,
                                bool special, char *buf, size_t cap, size_t *len)
{
    if (!t)
        return PCE_ERR_INVALID_ARGUMENT;
    if (!len || (!tokens && n) || (!buf && cap))
        return pce_fail(t->ctx, PCE_ERR_INVALID_ARGUMENT, "decode: %s is NULL",
                        !len   ? "len"
                        : !buf ? "buf"
                               : "tokens");
    *len = 0;
    /* SentencePiece's encode put a space before the text that starts the
     * input or follows a special token: it goes again */
    bool spm_space = t->type == TOK_SPM && t->add_space_prefix;
    const uint16_t frag = TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN;
    sink k = {buf, cap, 0, spm_space};
    for (size_t i = 0; i < n; i++) {
        int32_t id = tokens[i];
        if (id < 0 || id >= t->n_tokens)
            return pce_fail(t->ctx, PCE_ERR_INVALID_ARGUMENT,
                            "decode: token %zu is %d, out of 0..%d", i, id, t->n_tokens - 1);
        if (t->tokens[id].attr & frag) {
            k.strip = false;
            piece(t, id, special, &k);
            k.strip = spm_space;
        } else {
            piece(t, id, special, &k);
            k.strip = false;
        }
    }
    *len = k.o;
    if (k.o < cap)
        buf[k.o] = 0;
    if (k.o > cap)
        return pce_fail(t->ctx, PCE_ERR_INVALID_ARGUMENT,
                        "decode: %zu bytes do not fit in %zu (call with cap 0 to ask)", k.o, cap);
    return PCE_OK;
}
