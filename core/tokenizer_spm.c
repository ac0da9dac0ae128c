/* tokenizer_spm.c — SentencePiece BPE ("llama" vocabularies) as llama.cpp
 * runs it: spaces become U+2581 (with one in front of the text that starts
 * the input or follows a special token), the text is cut into characters,
 * and adjacent symbols whose concatenation is a token are merged, the
 * highest-scoring first. A character no token covers is written as its
 * bytes (the <0xNN> tokens). */
#include "tokenizer.h"

#include <stdio.h>

#define SPACE "\xe2\x96\x81" /* U+2581 LOWER ONE EIGHTH BLOCK */

/* A candidate merge of symbols a and c, when their text is a token. */
static bool try_pair(const pce_tokenizer *t, tok_scratch *s, int32_t a, int32_t c)
{
    if (a < 0 || c < 0)
        return true;
    const tok_sym *sym = s->sym;
    uint32_t size = sym[a].n + sym[c].n;
    int32_t id = pce_tok_lookup(t, s->buf + sym[a].start, size);
    if (id < 0)
        return true;
    return pce_tok_heap_push(t, &s->heap, (tok_bigram){-(double)t->tokens[id].score, a, c, size});
}

/* The tokens of one symbol: itself when it is a token, else its bytes. */
static pce_status emit(const pce_tokenizer *t, tok_scratch *s, const char *txt, uint32_t n)
{
    int32_t id = pce_tok_lookup(t, txt, n);
    if (id >= 0)
        return pce_tok_push(t, s->out, id) ? PCE_OK : PCE_ERR_OUT_OF_MEMORY;
    for (uint32_t k = 0; k < n; k++) {
        uint8_t b = (uint8_t)txt[k];
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        id = pce_tok_lookup(t, hex, 6);
        if (id < 0)
            id = pce_tok_lookup(t, txt + k, 1);
        if (id < 0)
            return pce_fail(t->ctx, PCE_ERR_FORMAT,
                            "tokenize: the vocabulary has no token for byte 0x%02x (no <0x%02X>)",
                            b, b);
        if (!pce_tok_push(t, s->out, id))
            return PCE_ERR_OUT_OF_MEMORY;
    }
    return PCE_OK;
}

pce_status pce_tok_spm_encode(const pce_tokenizer *t, tok_scratch *s, const char *text, size_t n,
                              bool prefix)
{
    /* the text with U+2581 for spaces: at most 3 bytes for each */
    size_t cap = 3 * (n + 1);
    void *p = s->buf;
    if (!pce_tok_reserve(t, &p, &s->cap_buf, cap, 1))
        return PCE_ERR_OUT_OF_MEMORY;
    s->buf = p;
    size_t m = 0;
    if (prefix) {
        memcpy(s->buf, SPACE, 3);
        m = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ') {
            memcpy(s->buf + m, SPACE, 3);
            m += 3;
        } else {
            s->buf[m++] = text[i];
        }
    }
    if (m > UINT32_MAX)
        return pce_fail(t->ctx, PCE_ERR_UNSUPPORTED, "tokenize: a fragment of %zu bytes", m);
    /* characters, by the length their lead byte says */
    static const uint8_t len_of[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    size_t n_sym = 0;
    for (size_t i = 0; i < m; n_sym++)
        i += len_of[(uint8_t)s->buf[i] >> 4];
    p = s->sym;
    if (!pce_tok_reserve(t, &p, &s->cap_sym, n_sym, sizeof *s->sym))
        return PCE_ERR_OUT_OF_MEMORY;
    s->sym = p;
    tok_sym *sym = s->sym;
    size_t k = 0;
    for (size_t i = 0; i < m; k++) {
        size_t len = len_of[(uint8_t)s->buf[i] >> 4];
        if (len > m - i)
            len = m - i;
        sym[k] = (tok_sym){(uint32_t)i, (uint32_t)len, (int32_t)k - 1,
                           i + len < m ? (int32_t)k + 1 : -1};
        i += len;
    }
    s->heap.n = 0;
    for (size_t i = 1; i < n_sym; i++)
        if (!try_pair(t, s, (int32_t)i - 1, (int32_t)i))
            return PCE_ERR_OUT_OF_MEMORY;
    while (s->heap.n) {
        tok_bigram b = pce_tok_heap_pop(&s->heap);
        tok_sym *l = &sym[b.left], *r = &sym[b.right];
        if (!l->n || !r->n || l->n + r->n != b.size)
            continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = b.left;
        if (!try_pair(t, s, l->prev, b.left) || !try_pair(t, s, b.left, l->next))
            return PCE_ERR_OUT_OF_MEMORY;
    }
    for (int32_t i = n_sym ? 0 : -1; i >= 0; i = sym[i].next) {
        pce_status st = emit(t, s, s->buf + sym[i].start, sym[i].n);
        if (st != PCE_OK)
            return st;
    }
    return PCE_OK;
}
