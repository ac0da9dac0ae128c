/* tokenizer.h — what the tokenizer's files share: the vocabulary (token
 * texts, scores, attributes, hash tables), the byte-level BPE merge table,
 * the pre-tokenizer regexes and the per-call scratch. tokenizer_vocab.c
 * reads the GGUF metadata; tokenizer.c validates, splits around special
 * tokens, encodes and decodes; tokenizer_bpe.c splits with PCRE2 and merges
 * byte-level BPE; tokenizer_spm.c merges SentencePiece pieces by score. The
 * behaviour is llama.cpp's (src/llama-vocab.cpp, src/unicode.cpp),
 * rewritten. Never installed. */
#ifndef PCE_TOKENIZER_H
#define PCE_TOKENIZER_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include "internal.h"
#include "pce_text.h"

#include <pcre2.h>
#include <string.h>

/* Token attributes, as llama.cpp derives them from tokenizer.ggml.token_type
 * (and a few from the token's text). */
enum {
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER_DEFINED = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_LSTRIP = 1 << 7,
    TOK_ATTR_RSTRIP = 1 << 8,
};

typedef enum tok_type { TOK_BPE = 0, TOK_SPM } tok_type;

typedef struct tok_token {
    uint32_t off, len; /* text in the arena */
    float score;
    uint16_t attr;
} tok_token;

/* A BPE merge "left right": left and right stored back to back (no space)
 * in the arena, so a pair of adjacent symbols is looked up in place. */
typedef struct tok_merge {
    uint32_t off;
    uint32_t left_len, right_len;
    int32_t rank;
} tok_merge;

#define TOK_MAX_REGEX 4

struct pce_tokenizer {
    pce_context *ctx;
    pce_tokenizer_info info;
    tok_type type;
    char *arena; /* token texts, then merge texts */
    size_t arena_len, arena_cap;
    tok_token *tokens;
    int n_tokens;
    uint32_t *tok_index; /* open addressing by text: id + 1, 0 empty */
    size_t tok_cap;
    tok_merge *merges;
    uint32_t n_merges;
    uint32_t *merge_index; /* open addressing by (left, right): merge + 1 */
    size_t merge_cap;
    int32_t *specials; /* control / user-defined / unknown ids, longest text first */
    int n_specials;
    /* positions in specials[] grouped by the text's first byte: those of
     * byte b are by_first[first_start[b] .. first_start[b + 1]) */
    int *by_first;
    int first_start[257];
    uint8_t *eog;          /* bit per id */
    bool add_space_prefix; /* SPM: a space before the text and after each special token */
    bool ignore_merges;    /* BPE: a word that is a token is taken whole (llama3) */
    pcre2_code *re[TOK_MAX_REGEX];
    int n_re;
    /* BPE: the UTF-8 of the code point that stands for each byte, and the
     * byte each such code point (< 512) stands for (-1: none) */
    uint8_t byte_utf8[256][2];
    uint8_t byte_utf8_len[256];
    int16_t cp_byte[512];
};

/* A symbol of a word being merged: bytes [start, start+n) of the word,
 * linked to its neighbours (-1: none); n 0 once merged into its left. */
typedef struct tok_sym {
    uint32_t start, n;
    int32_t prev, next;
} tok_sym;

/* A candidate merge of two adjacent symbols: the smallest key first (BPE:
 * the merge's rank; SentencePiece: minus the token's score), then the
 * leftmost. size tells a stale entry (a symbol changed since). */
typedef struct tok_bigram {
    double key;
    int32_t left, right;
    uint32_t size;
} tok_bigram;

typedef struct tok_heap {
    tok_bigram *v;
    size_t n, cap;
} tok_heap;

bool pce_tok_heap_push(const pce_tokenizer *t, tok_heap *h, tok_bigram b);
tok_bigram pce_tok_heap_pop(tok_heap *h);

/* A growing list of token ids. */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;

/* Per-call scratch of an encode (a const tokenizer serves several threads). */
typedef struct tok_scratch {
    tok_ids *out;
    pcre2_match_data *md;
    size_t *cuts; /* regex split: piece boundaries */
    size_t n_cuts, cap_cuts;
    size_t *cuts2;
    size_t cap_cuts2;
    char *buf; /* byte-mapped word, SPM text */
    size_t cap_buf;
    tok_sym *sym;
    size_t cap_sym;
    tok_heap heap;
    const char *text0; /* the text encode was given (after replacements) */
    bool replace;      /* replace_invalid */
} tok_scratch;

static inline uint64_t tok_hash(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    if (n)
        memcpy(&v, s, n);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

static inline const char *tok_text(const pce_tokenizer *t, int32_t id)
{
    return t->arena + t->tokens[id].off;
}

/* The id of the token whose text is s[0..n), or -1. */
int32_t pce_tok_lookup(const pce_tokenizer *t, const char *s, size_t n);
/* Appends an id; false when out of memory (error set). */
bool pce_tok_push(const pce_tokenizer *t, tok_ids *ids, int32_t id);
/* Whether s[0..n) is UTF-8 (control characters allowed). */
bool pce_tok_valid_utf8(const char *s, size_t n);
/* Grows a scratch array to hold n elements of `size` bytes. */
bool pce_tok_reserve(const pce_tokenizer *t, void **p, size_t *cap, size_t n, size_t size);

/* tokenizer_bpe.c: the pre-tokenizer named by pre (its regexes compiled,
 * ignore_merges and the default add_bos set), UNSUPPORTED for a name it does
 * not know; the byte <-> code point map; the merges of tokenizer.ggml.merges. */
pce_status pce_tok_bpe_init(pce_tokenizer *t, const char *pre, bool *default_add_bos);
pce_status pce_tok_bpe_merges(pce_tokenizer *t, const pce_model_file *f);
/* Tokens of one raw-text fragment text[0..n) (valid UTF-8). */
pce_status pce_tok_bpe_encode(const pce_tokenizer *t, tok_scratch *s, const char *text, size_t n);
/* The bytes a byte-level token's text stands for (a code point outside the
 * map is copied as it is). Returns the length; writes at most cap. */
size_t pce_tok_bpe_unmap(const pce_tokenizer *t, const char *text, size_t n, char *buf, size_t cap);

/* tokenizer_spm.c: tokens of one fragment (with the leading space when
 * `prefix`). */
pce_status pce_tok_spm_encode(const pce_tokenizer *t, tok_scratch *s, const char *text, size_t n,
                              bool prefix);

#endif
