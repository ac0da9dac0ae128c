/* test_tokenizer.c — pce's tokenizers against llama.cpp's on a committed
 * corpus (tests/fixtures/tokenizer/corpus.txt: scripts, code, emoji,
 * numbers, whitespace runs, special-token text), for five vocabularies:
 * llama-bpe (Llama 3), qwen2, llama-spm (SentencePiece), deepseek-r1-qwen
 * (a metadata-only prefix of the DeepSeek-R1 distill) and smollm (SmolLM2).
 * llama.cpp's ids, detokenizations and vocabulary facts were written by
 * tests/oracle/make_tokenizer_fixture.py. For each vocabulary:
 *   - every corpus line, and the whole corpus as one text, gives llama.cpp's
 *     ids, with parse_special off and on (BOS where the vocabulary adds it);
 *   - decode(encode(x)) == x on every line (SentencePiece writes a space as
 *     U+2581, so a U+2581 in the text comes back as a space);
 *   - the pieces, joined the way llama.cpp's detokenizer joins them, give
 *     llama.cpp's detokenization;
 *   - get_info and is_eog agree with llama.cpp and with known values;
 *   - special tokens are parsed only with parse_special;
 *   - invalid UTF-8 and control characters fail naming the byte offset, or
 *     become U+FFFD's tokens with replace_invalid;
 *   - encode from several threads at once on one tokenizer.
 * And without any download: UNSUPPORTED for an unknown tokenizer model or
 * pre-tokenizer, FORMAT for malformed metadata, and two tiny vocabularies
 * built here. A vocabulary that is absent is a SKIP (77) that names
 * tests/fetch_vocab.sh, unless PCE_REQUIRE_VOCAB=1 makes it a failure.
 *
 * usage: test-tokenizer FIXTURE_DIR [VOCAB_DIR] */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pce.h"
#include "pce_text.h"
#include "slurp.h"

static const char *g_fixtures = "tests/fixtures/tokenizer";
static char g_vocab_dir[1024];
static char g_smollm[1024];
static char g_tmp[256];

typedef struct vocab {
    const char *name; /* fixture base name */
    const char *file; /* in the vocab folder; NULL: SmolLM2's model */
    /* known values (the model cards; llama.cpp agrees) */
    const char *model, *pre;
    int n_vocab;
    int32_t bos, eos;
    bool add_bos;
    bool clean_spaces; /* llama.cpp's detokenizer tidies spaces (llama3) */
    bool spm;
    const char *special; /* a control token's text ... */
    int32_t special_id;  /* ... and its id */
} vocab;

static const vocab vocabs[] = {
    {"llama-bpe", "ggml-vocab-llama-bpe.gguf", "gpt2", "llama-bpe", 128256, 128000, 128001, true,
     true, false, "<|eot_id|>", 128009},
    {"qwen2", "ggml-vocab-qwen2.gguf", "gpt2", "qwen2", 151936, 151643, 151643, false, false, false,
     "<|im_start|>", 151644},
    {"llama-spm", "ggml-vocab-llama-spm.gguf", "llama", "default", 32000, 1, 2, true, false, true,
     "</s>", 2},
    {"deepseek-r1-qwen", "deepseek-r1-qwen.gguf", "gpt2", "deepseek-r1-qwen", 152064, 151646,
     151643, true, false, false, "<\xef\xbd\x9cUser\xef\xbd\x9c>", 151644},
    {"smollm", NULL, "gpt2", "smollm", 49152, 1, 2, false, false, false, "<|im_start|>", 1},
};
#define N_VOCABS ((int)(sizeof vocabs / sizeof vocabs[0]))

static const char *vocab_path(const vocab *v, char *buf, size_t cap)
{
    if (!v->file)
        snprintf(buf, cap, "%s", g_smollm);
    else
        snprintf(buf, cap, "%s/%s", g_vocab_dir, v->file);
    return buf;
}

static bool vocab_present(const vocab *v)
{
    char path[1200];
    return access(vocab_path(v, path, sizeof path), R_OK) == 0;
}

/* ---- files ------------------------------------------------------------------- */

/* The corpus: its lines (split at '\n' only) and, last, the whole text. */
typedef struct corpus {
    char *all;
    size_t len;
    int n; /* lines + 1 */
    const char **text;
    size_t *tlen;
} corpus;

static void corpus_load(corpus *c)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/corpus.txt", g_fixtures);
    c->all = slurp(path, &c->len);
    ck_assert(c->len > 0 && c->all[c->len - 1] == '\n');
    int lines = 0;
    for (size_t i = 0; i < c->len; i++)
        lines += c->all[i] == '\n';
    c->n = lines + 1;
    c->text = calloc((size_t)c->n, sizeof *c->text);
    c->tlen = calloc((size_t)c->n, sizeof *c->tlen);
    /* a copy whose lines are cut in place */
    char *lines_buf = malloc(c->len + 1);
    memcpy(lines_buf, c->all, c->len + 1);
    size_t start = 0;
    int k = 0;
    for (size_t i = 0; i < c->len; i++)
        if (lines_buf[i] == '\n') {
            lines_buf[i] = 0;
            c->text[k] = lines_buf + start;
            c->tlen[k++] = i - start;
            start = i + 1;
        }
    c->text[k] = c->all;
    c->tlen[k] = c->len;
}

static void corpus_free(corpus *c)
{
    free((void *)c->text[0]);
    free(c->all);
    free(c->text);
    free(c->tlen);
}

/* llama.cpp's ids: one line of space-separated ids per text. */
typedef struct ids_file {
    int n;
    int32_t **ids;
    size_t *count;
} ids_file;

static void ids_load(ids_file *f, const char *name, const char *suffix, int expect)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s%s", g_fixtures, name, suffix);
    size_t len;
    char *p = slurp(path, &len);
    f->ids = calloc((size_t)expect, sizeof *f->ids);
    f->count = calloc((size_t)expect, sizeof *f->count);
    f->n = 0;
    char *line = p;
    while (*line) {
        char *end = strchr(line, '\n');
        ck_assert_msg(end != NULL, "%s: last line unterminated", path);
        *end = 0;
        ck_assert_msg(f->n < expect, "%s: more than %d lines", path, expect);
        size_t cap = 16, n = 0;
        int32_t *v = malloc(cap * sizeof *v);
        for (char *s = line; *s;) {
            char *e;
            long x = strtol(s, &e, 10);
            ck_assert_msg(e != s, "%s:%d: not a number at '%.10s'", path, f->n + 1, s);
            if (n == cap)
                v = realloc(v, (cap *= 2) * sizeof *v);
            v[n++] = (int32_t)x;
            s = e;
            while (*s == ' ')
                s++;
        }
        f->ids[f->n] = v;
        f->count[f->n++] = n;
        line = end + 1;
    }
    ck_assert_msg(f->n == expect, "%s: %d lines, expected %d", path, f->n, expect);
    free(p);
}

static void ids_free(ids_file *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->ids[i]);
    free(f->ids);
    free(f->count);
}

/* ---- helpers ----------------------------------------------------------------- */

static pce_context *ctx;

static void setup(void)
{
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
}

static void teardown(void)
{
    pce_context_destroy(ctx);
}

static pce_tokenizer *load(const vocab *v)
{
    char path[1200];
    pce_model_file *f;
    ck_assert_msg(pce_model_file_open_metadata(ctx, vocab_path(v, path, sizeof path), &f) == PCE_OK,
                  "%s: %s", path, pce_context_last_error(ctx));
    pce_tokenizer *t;
    ck_assert_msg(pce_tokenizer_create(ctx, f, &t) == PCE_OK, "%s: %s", path,
                  pce_context_last_error(ctx));
    pce_model_file_close(f); /* the tokenizer keeps what it needs */
    return t;
}

static size_t encode(const pce_tokenizer *t, const char *s, size_t len, bool add_special,
                     bool parse_special, bool replace, int32_t **out)
{
    pce_tokenize_options o;
    pce_tokenize_options_init(&o);
    o.add_special = add_special;
    o.parse_special = parse_special;
    o.replace_invalid = replace;
    size_t n = 0;
    pce_status st = pce_tokenizer_encode(t, s, len, &o, NULL, 0, &n);
    ck_assert_msg(st == PCE_OK || (st == PCE_ERR_INVALID_ARGUMENT && n > 0), "encode: %s",
                  pce_context_last_error(ctx));
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    for (size_t i = 0; i <= n; i++)
        ids[i] = -7; /* poison */
    size_t m = 0;
    ck_assert_msg(pce_tokenizer_encode(t, s, len, &o, ids, n, &m) == PCE_OK, "encode: %s",
                  pce_context_last_error(ctx));
    ck_assert_uint_eq(m, n);
    ck_assert_int_eq(ids[n], -7);
    *out = ids;
    return n;
}

static char *decode(const pce_tokenizer *t, const int32_t *ids, size_t n, bool special, size_t *len)
{
    size_t need = 0;
    pce_status st = pce_tokenizer_decode(t, ids, n, special, NULL, 0, &need);
    ck_assert(st == PCE_OK || st == PCE_ERR_INVALID_ARGUMENT);
    char *buf = malloc(need + 1);
    memset(buf, 0x5a, need + 1);
    ck_assert_msg(pce_tokenizer_decode(t, ids, n, special, buf, need + 1, len) == PCE_OK, "%s",
                  pce_context_last_error(ctx));
    ck_assert_uint_eq(*len, need);
    ck_assert_int_eq(buf[need], 0);
    return buf;
}

static void print_ids(char *buf, size_t cap, const int32_t *v, size_t n, size_t from)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "%s", from ? "... " : "");
    for (size_t i = from; i < n && i < from + 24 && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%d ", v[i]);
    if (from + 24 < n && o < cap)
        snprintf(buf + o, cap - o, "... (%zu ids)", n);
}

/* ---- the corpus against llama.cpp ------------------------------------------ */

START_TEST(corpus_ids)
{
    const vocab *v = &vocabs[_i];
    if (!vocab_present(v))
        return;
    pce_tokenizer *t = load(v);
    corpus c;
    corpus_load(&c);
    for (int mode = 0; mode < 2; mode++) {
        ids_file want;
        ids_load(&want, v->name, mode ? ".special.ids" : ".ids", c.n);
        int match = 0, first_bad = -1;
        char report[2048] = "";
        for (int i = 0; i < c.n; i++) {
            int32_t *got;
            size_t n = encode(t, c.text[i], c.tlen[i], true, mode, false, &got);
            size_t k = 0;
            while (k < n && k < want.count[i] && got[k] == want.ids[i][k])
                k++;
            if (k == n && n == want.count[i]) {
                match++;
            } else if (first_bad < 0) {
                first_bad = i;
                char a[700], b[700];
                size_t from = k > 4 ? k - 4 : 0;
                print_ids(a, sizeof a, got, n, from);
                print_ids(b, sizeof b, want.ids[i], want.count[i], from);
                snprintf(
                    report, sizeof report,
                    "%s parse_special=%d: line %d (%.60s...) differs at token %zu:\n  pce:       "
                    "%s\n  llama.cpp: %s",
                    v->name, mode, i + 1, c.text[i], k, a, b);
            }
            free(got);
        }
        printf("%s: parse_special=%d: %d/%d texts match llama.cpp (%d lines and the whole "
               "corpus)\n",
               v->name, mode, match, c.n, c.n - 1);
        ck_assert_msg(first_bad < 0, "%s", report);
        ids_free(&want);
    }
    corpus_free(&c);
    pce_tokenizer_destroy(t);
}
END_TEST

/* decode(encode(x)) == x */
START_TEST(corpus_roundtrip)
{
    const vocab *v = &vocabs[_i];
    if (!vocab_present(v))
        return;
    pce_tokenizer *t = load(v);
    corpus c;
    corpus_load(&c);
    for (int mode = 0; mode < 2; mode++)
        for (int i = 0; i < c.n; i++) {
            int32_t *ids; /* BOS (a control token) is text when special is set */
            size_t n = encode(t, c.text[i], c.tlen[i], !mode, mode, false, &ids);
            size_t len;
            char *back = decode(t, ids, n, mode, &len);
            /* SentencePiece: U+2581 in the text is a space after the round trip */
            char *want = malloc(c.tlen[i] + 1);
            size_t w = 0;
            for (size_t k = 0; k < c.tlen[i]; k++) {
                if (v->spm && k + 3 <= c.tlen[i] && !memcmp(c.text[i] + k, "\xe2\x96\x81", 3)) {
                    want[w++] = ' ';
                    k += 2;
                } else {
                    want[w++] = c.text[i][k];
                }
            }
            ck_assert_msg(len == w && !memcmp(back, want, w),
                          "%s parse_special=%d line %d: decode gives '%.*s' for '%.*s'", v->name,
                          mode, i + 1, (int)(len < 200 ? len : 200), back, (int)(w < 200 ? w : 200),
                          want);
            free(want);
            free(back);
            free(ids);
        }
    corpus_free(&c);
    pce_tokenizer_destroy(t);
}
END_TEST

/* llama.cpp's clean_up_tokenization_spaces, as its detokenizer does it
 * (llama3 vocabularies): " ?" " !" " ." " ," lose the space; " ' " loses
 * both; " 's" " 'm" " 're" " 've" lose it. */
static size_t clean_spaces(char *s, size_t n)
{
    size_t o = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
            o--;
        s[o++] = x;
    }
    n = o;
    o = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (x == '\'' && i + 1 < n && s[i - 1] == ' ' && s[i + 1] == ' ') {
            o--;
            s[++i] = 0;
        }
        s[o++] = x;
    }
    n = o;
    o = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (s[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = s[i + 1];
            if (x1 == 's' || x1 == 'm')
                o--;
            else if (i + 2 < n &&
                     ((x1 == 'r' && s[i + 2] == 'e') || (x1 == 'v' && s[i + 2] == 'e')))
                o--;
        }
        s[o++] = x;
    }
    return o;
}

/* The pieces of ids (without the BOS encode added) joined as llama.cpp's
 * detokenizer joins them give its text. */
START_TEST(corpus_pieces)
{
    const vocab *v = &vocabs[_i];
    if (!vocab_present(v))
        return;
    pce_tokenizer *t = load(v);
    pce_tokenizer_info info;
    ck_assert_int_eq(pce_tokenizer_get_info(t, &info), PCE_OK);
    corpus c;
    corpus_load(&c);
    /* llama.cpp's text where it is not the input */
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.detok", g_fixtures, v->name);
    size_t dlen;
    char *detok = slurp(path, &dlen);
    int differing = 0;
    for (int mode = 0; mode < 2; mode++)
        for (int i = 0; i < c.n; i++) {
            const char *want = c.text[i];
            size_t want_len = c.tlen[i];
            char *hex_want = NULL;
            char key[32];
            snprintf(key, sizeof key, "%d %d ", i, mode);
            for (char *l = detok; *l;) {
                char *e = strchr(l, '\n');
                if (!strncmp(l, key, strlen(key))) {
                    const char *h = l + strlen(key);
                    size_t hn = (size_t)(e - h) / 2;
                    hex_want = malloc(hn + 1);
                    for (size_t k = 0; k < hn; k++) {
                        unsigned b;
                        sscanf(h + 2 * k, "%2x", &b);
                        hex_want[k] = (char)b;
                    }
                    want = hex_want;
                    want_len = hn;
                    differing++;
                    break;
                }
                l = e + 1;
            }
            int32_t *ids;
            size_t n = encode(t, c.text[i], c.tlen[i], true, mode, false, &ids);
            size_t from = info.add_bos && n && ids[0] == info.bos ? 1 : 0;
            size_t cap = c.tlen[i] * 2 + 64, o = 0;
            char *got = malloc(cap);
            bool strip = v->spm; /* llama.cpp strips the first piece's space only */
            for (size_t k = from; k < n; k++) {
                char p[512];
                size_t len;
                ck_assert_int_eq(pce_tokenizer_piece(t, ids[k], mode, p, sizeof p, &len), PCE_OK);
                size_t skip = strip && len && p[0] == ' ' ? 1 : 0;
                strip = false;
                ck_assert(o + len < cap);
                memcpy(got + o, p + skip, len - skip);
                o += len - skip;
            }
            if (v->clean_spaces)
                o = clean_spaces(got, o);
            ck_assert_msg(o == want_len && !memcmp(got, want, o),
                          "%s parse_special=%d line %d: pieces give '%.*s', llama.cpp '%.*s'",
                          v->name, mode, i + 1, (int)(o < 200 ? o : 200), got,
                          (int)(want_len < 200 ? want_len : 200), want);
            free(got);
            free(ids);
            free(hex_want);
        }
    printf("%s: pieces joined as llama.cpp does give its text on all %d texts x 2 (%d where "
           "that is not the input)\n",
           v->name, c.n, differing);
    free(detok);
    corpus_free(&c);
    pce_tokenizer_destroy(t);
}
END_TEST

/* ---- what the vocabulary says ------------------------------------------------ */

START_TEST(vocab_info)
{
    const vocab *v = &vocabs[_i];
    if (!vocab_present(v))
        return;
    pce_tokenizer *t = load(v);
    pce_tokenizer_info in;
    ck_assert_int_eq(pce_tokenizer_get_info(t, &in), PCE_OK);
    /* known values */
    ck_assert_str_eq(in.model, v->model);
    ck_assert_str_eq(in.pre, v->pre);
    ck_assert_int_eq(in.n_vocab, v->n_vocab);
    ck_assert_int_eq(in.bos, v->bos);
    ck_assert_int_eq(in.eos, v->eos);
    ck_assert_int_eq(in.add_bos, v->add_bos);
    ck_assert(!in.add_eos);
    /* llama.cpp's */
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.info", g_fixtures, v->name);
    size_t len;
    char *p = slurp(path, &len);
    long val[7] = {0};
    static const char *const keys[7] = {"n_vocab", "bos",     "eos",    "eot",
                                        "pad",     "add_bos", "add_eos"};
    const char *eog = NULL;
    int seen = 0;
    for (char *l = p; *l;) {
        char *e = strchr(l, '\n');
        ck_assert(e != NULL);
        *e = 0;
        if (!strncmp(l, "eog ", 4)) {
            eog = l + 4;
            seen++;
        }
        for (int k = 0; k < 7; k++)
            if (!strncmp(l, keys[k], strlen(keys[k])) && l[strlen(keys[k])] == ' ') {
                val[k] = strtol(l + strlen(keys[k]) + 1, NULL, 10);
                seen++;
            }
        l = e + 1;
    }
    ck_assert_int_eq(seen, 8);
    ck_assert_int_eq(in.n_vocab, val[0]);
    ck_assert_int_eq(in.bos, val[1]);
    ck_assert_int_eq(in.eos, val[2]);
    ck_assert_int_eq(in.pad, val[4]);
    ck_assert_int_eq(in.add_bos, val[5]);
    ck_assert_int_eq(in.add_eos, val[6]);
    /* several texts can name the end of a turn (<|im_end|>, <|endoftext|>):
     * llama.cpp takes the one its hash table yields first, pce the first of
     * llama.cpp's list; both end generation */
    if (in.eot != val[3]) {
        printf("%s: eot %d, llama.cpp's %ld (both end generation)\n", v->name, in.eot, val[3]);
        ck_assert(val[3] >= 0 && pce_tokenizer_is_eog(t, (int32_t)val[3]) &&
                  pce_tokenizer_is_eog(t, in.eot));
    }
    /* exactly llama.cpp's end-of-generation ids */
    int n_eog = 0;
    for (const char *s = eog; *s;) {
        char *e2;
        long id = strtol(s, &e2, 10);
        if (e2 == s)
            break;
        ck_assert_msg(pce_tokenizer_is_eog(t, (int32_t)id), "%s: %ld is not EOG", v->name, id);
        n_eog++;
        s = e2;
    }
    int mine = 0;
    for (int32_t id = 0; id < in.n_vocab; id++)
        mine += pce_tokenizer_is_eog(t, id);
    ck_assert_int_eq(mine, n_eog);
    ck_assert(!pce_tokenizer_is_eog(t, -1) && !pce_tokenizer_is_eog(t, in.n_vocab));
    free(p);
    pce_tokenizer_destroy(t);
}
END_TEST

START_TEST(special_tokens)
{
    const vocab *v = &vocabs[_i];
    if (!vocab_present(v))
        return;
    pce_tokenizer *t = load(v);
    ck_assert_int_eq(pce_tokenizer_find(t, v->special), v->special_id);
    ck_assert_int_eq(pce_tokenizer_find(t, "no such token, surely"), -1);
    char text[128];
    snprintf(text, sizeof text, "a%sb", v->special);
    int32_t *on, *off;
    size_t n_on = encode(t, text, strlen(text), false, true, false, &on);
    size_t n_off = encode(t, text, strlen(text), false, false, false, &off);
    int found_on = 0, found_off = 0;
    for (size_t i = 0; i < n_on; i++)
        found_on += on[i] == v->special_id;
    for (size_t i = 0; i < n_off; i++)
        found_off += off[i] == v->special_id;
    ck_assert_int_eq(found_on, 1);
    ck_assert_int_eq(found_off, 0);
    ck_assert_uint_gt(n_off, n_on);
    /* its text only when asked */
    char p[64];
    size_t len;
    ck_assert_int_eq(pce_tokenizer_piece(t, v->special_id, true, p, sizeof p, &len), PCE_OK);
    ck_assert(len == strlen(v->special) && !memcmp(p, v->special, len));
    ck_assert_int_eq(pce_tokenizer_piece(t, v->special_id, false, p, sizeof p, &len), PCE_OK);
    ck_assert_uint_eq(len, 0);
    /* add_special adds BOS exactly where the vocabulary says */
    int32_t *with, *without;
    size_t nw = encode(t, "Hi", 2, true, false, false, &with);
    size_t nwo = encode(t, "Hi", 2, false, false, false, &without);
    ck_assert_uint_eq(nw, nwo + (v->add_bos ? 1 : 0));
    if (v->add_bos)
        ck_assert_int_eq(with[0], v->bos);
    /* the empty text */
    int32_t *none;
    ck_assert_uint_eq(encode(t, "", 0, true, false, false, &none), v->add_bos ? 1 : 0);
    free(none);
    free(with);
    free(without);
    free(on);
    free(off);
    pce_tokenizer_destroy(t);
}
END_TEST

/* Invalid UTF-8 and control characters: refused naming the offset, or
 * replaced by U+FFFD (one for each longest bad prefix, as Unicode advises). */
START_TEST(invalid_input)
{
    const vocab *v = &vocabs[_i];
    if (!vocab_present(v))
        return;
    pce_tokenizer *t = load(v);
    static const struct {
        const char *text;
        size_t len;
        size_t offset;
        const char *why;
        const char *replaced;
    } cases[] = {
        {"ab\x80"
         "cd",
         5, 2, "continuation",
         "ab\xef\xbf\xbd"
         "cd"},
        {"ab\xc0\xaf"
         "cd",
         6, 2, "overlong",
         "ab\xef\xbf\xbd\xef\xbf\xbd"
         "cd"},
        {"x\xe0\x80\xaf", 4, 1, "overlong", "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"abc\xe4\xb8", 5, 3, "truncated", "abc\xef\xbf\xbd"},
        {"a\xe4\xb8z", 4, 1, "truncated", "a\xef\xbf\xbdz"},
        {"\xf0\x9f\x98", 3, 0, "truncated", "\xef\xbf\xbd"},
        {"x\xed\xa0\x80y", 5, 1, "surrogate", "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdy"},
        {"x\xf4\x90\x80\x80y", 6, 1, "10FFFF",
         "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdy"},
        {"\xff", 1, 0, "never", "\xef\xbf\xbd"},
        {"hello\x01world", 11, 5, "control", "hello\xef\xbf\xbdworld"},
        {"a\0b", 3, 1, "control",
         "a\xef\xbf\xbd"
         "b"},
        {"del\x7f", 4, 3, "control", "del\xef\xbf\xbd"},
        {"nel\xc2\x85!", 6, 3, "control", "nel\xef\xbf\xbd!"},
        {"\x1b[0m", 4, 0, "control", "\xef\xbf\xbd[0m"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        pce_tokenize_options o;
        pce_tokenize_options_init(&o);
        size_t n = 99;
        int32_t ids[64];
        pce_status st = pce_tokenizer_encode(t, cases[k].text, cases[k].len, &o, ids, 64, &n);
        ck_assert_msg(st == PCE_ERR_INVALID_ARGUMENT, "case %zu: %s", k, pce_status_name(st));
        ck_assert_uint_eq(n, 0);
        char off[48];
        snprintf(off, sizeof off, "byte offset %zu", cases[k].offset);
        const char *e = pce_context_last_error(ctx);
        ck_assert_msg(strstr(e, off) && strstr(e, cases[k].why), "case %zu: '%s'", k, e);
        /* replaced: the tokens of the text with U+FFFD */
        int32_t *got, *want;
        size_t ng = encode(t, cases[k].text, cases[k].len, false, false, true, &got);
        size_t nw =
            encode(t, cases[k].replaced, strlen(cases[k].replaced), false, false, false, &want);
        ck_assert_uint_eq(ng, nw);
        ck_assert(!memcmp(got, want, ng * sizeof *got));
        size_t len;
        char *back = decode(t, got, ng, false, &len);
        ck_assert_str_eq(back, cases[k].replaced);
        free(back);
        free(got);
        free(want);
    }
    /* \t \n \r are text */
    int32_t *ok;
    free((encode(t, "a\tb\nc\rd", 7, false, false, false, &ok), ok));
    /* valid UTF-8 with a byte no token stands for: U+8E3FB is
     * F2 8E 8F BB, and a byte-level vocabulary that never saw a code point
     * of planes 8 to 11 has no token for 0xF2 (GPT-2's map writes it as
     * U+00F2). llama.cpp drops such a byte; pce refuses the text, or
     * writes U+FFFD for it */
    if (!strcmp(v->model, "gpt2") && pce_tokenizer_find(t, "\xc3\xb2") < 0) {
        static const char text[] = "a \xf2\x8e\x8f\xbb b";
        pce_tokenize_options o;
        pce_tokenize_options_init(&o);
        size_t n = 99;
        int32_t ids[64];
        ck_assert_int_eq(pce_tokenizer_encode(t, text, sizeof text - 1, &o, ids, 64, &n),
                         PCE_ERR_INVALID_ARGUMENT);
        const char *e = pce_context_last_error(ctx);
        ck_assert_msg(strstr(e, "0xf2") && strstr(e, "byte offset 2"), "%s", e);
        int32_t *got;
        size_t ng = encode(t, text, sizeof text - 1, false, false, true, &got);
        size_t len;
        char *back = decode(t, got, ng, false, &len);
        ck_assert_str_eq(back, "a \xef\xbf\xbd\x8e\x8f\xbb b");
        free(back);
        free(got);
        printf("%s: a byte without a token (0xf2) is refused, or written as U+FFFD\n", v->name);
    }
    pce_tokenizer_destroy(t);
}
END_TEST

/* Buffers too small, NULL arguments, ids out of range. */
START_TEST(buffers)
{
    const vocab *v = &vocabs[_i];
    if (!vocab_present(v))
        return;
    pce_tokenizer *t = load(v);
    const char *s = "Hello world, hello tokens";
    size_t n = 0;
    ck_assert_int_eq(pce_tokenizer_encode(t, s, strlen(s), NULL, NULL, 0, &n),
                     PCE_ERR_INVALID_ARGUMENT);
    ck_assert_uint_gt(n, 2);
    ck_assert(strstr(pce_context_last_error(ctx), "do not fit"));
    int32_t ids[64];
    for (int i = 0; i < 64; i++)
        ids[i] = -5;
    size_t m = 0;
    ck_assert_int_eq(pce_tokenizer_encode(t, s, strlen(s), NULL, ids, n - 1, &m),
                     PCE_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(m, n);
    ck_assert_int_eq(ids[n - 1], -5); /* nothing past cap */
    ck_assert_int_eq(pce_tokenizer_encode(t, s, strlen(s), NULL, ids, 64, &m), PCE_OK);
    char buf[128];
    size_t len = 0;
    ck_assert_int_eq(pce_tokenizer_decode(t, ids, m, false, buf, 3, &len),
                     PCE_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(len, strlen(s));
    ck_assert_int_eq(pce_tokenizer_decode(t, ids, m, false, buf, len, &len), PCE_OK);
    ck_assert(!memcmp(buf, s, len)); /* exactly fits: no NUL */
    int32_t bad[2] = {ids[0], v->n_vocab};
    ck_assert_int_eq(pce_tokenizer_decode(t, bad, 2, false, buf, sizeof buf, &len),
                     PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_tokenizer_piece(t, -1, false, buf, sizeof buf, &len),
                     PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_tokenizer_piece(t, v->special_id, true, buf, 2, &len),
                     PCE_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(len, strlen(v->special));
    ck_assert_int_eq(pce_tokenizer_encode(t, NULL, 3, NULL, ids, 64, &m), PCE_ERR_INVALID_ARGUMENT);
    pce_tokenize_options o = {0};
    ck_assert_int_eq(pce_tokenizer_encode(t, s, 1, &o, ids, 64, &m), PCE_ERR_INVALID_ARGUMENT);
    pce_tokenizer_destroy(t);
}
END_TEST

/* One tokenizer, several threads encoding the corpus at once. */
typedef struct job {
    const pce_tokenizer *t;
    const corpus *c;
    const ids_file *want;
    int bad;
} job;

static void *encode_all(void *arg)
{
    job *j = arg;
    pce_tokenize_options o;
    pce_tokenize_options_init(&o);
    size_t cap = 1 << 16;
    int32_t *ids = malloc(cap * sizeof *ids);
    for (int rep = 0; rep < 2; rep++)
        for (int i = 0; i < j->c->n - 1; i++) {
            size_t n;
            if (pce_tokenizer_encode(j->t, j->c->text[i], j->c->tlen[i], &o, ids, cap, &n) !=
                    PCE_OK ||
                n != j->want->count[i] || memcmp(ids, j->want->ids[i], n * sizeof *ids))
                j->bad++;
        }
    free(ids);
    return NULL;
}

START_TEST(threads)
{
    const vocab *v = &vocabs[_i];
    if (!vocab_present(v))
        return;
    pce_tokenizer *t = load(v);
    corpus c;
    corpus_load(&c);
    ids_file want;
    ids_load(&want, v->name, ".ids", c.n);
    pthread_t th[4];
    job jobs[4];
    for (int k = 0; k < 4; k++) {
        jobs[k] = (job){t, &c, &want, 0};
        ck_assert_int_eq(pthread_create(&th[k], NULL, encode_all, &jobs[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        ck_assert_int_eq(jobs[k].bad, 0);
    }
    /* and how fast: the whole corpus, a few times */
    pce_tokenize_options o;
    pce_tokenize_options_init(&o);
    size_t cap = c.len + 16, n;
    int32_t *ids = malloc(cap * sizeof *ids);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int reps = 0;
    double dt;
    do {
        ck_assert_int_eq(pce_tokenizer_encode(t, c.all, c.len, &o, ids, cap, &n), PCE_OK);
        reps++;
        clock_gettime(CLOCK_MONOTONIC, &b);
        dt = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    } while (dt < 0.3);
    printf("%s: encode %.2f MB/s (%zu bytes -> %zu tokens, %d times in %.2f s)\n", v->name,
           (double)c.len * reps / dt / 1e6, c.len, n, reps, dt);
    free(ids);
    ids_free(&want);
    corpus_free(&c);
    pce_tokenizer_destroy(t);
}
END_TEST

/* ---- without downloads: GGUFs built here -------------------------------------- */

typedef struct gbuf {
    unsigned char *p;
    size_t n, cap;
    uint64_t n_kv;
} gbuf;

static void gput(gbuf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void gput_u32(gbuf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    gput(b, x, 4);
}

static void gput_u64(gbuf *b, uint64_t v)
{
    gput_u32(b, (uint32_t)v);
    gput_u32(b, (uint32_t)(v >> 32));
}

static void gput_str(gbuf *b, const char *s)
{
    gput_u64(b, strlen(s));
    gput(b, s, strlen(s));
}

static void kv_str(gbuf *b, const char *key, const char *v)
{
    gput_str(b, key);
    gput_u32(b, 8);
    gput_str(b, v);
    b->n_kv++;
}

static void kv_u32(gbuf *b, const char *key, uint32_t v)
{
    gput_str(b, key);
    gput_u32(b, 4);
    gput_u32(b, v);
    b->n_kv++;
}

static void kv_strs(gbuf *b, const char *key, const char *const *v, int n)
{
    gput_str(b, key);
    gput_u32(b, 9);
    gput_u32(b, 8);
    gput_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++)
        gput_str(b, v[i]);
    b->n_kv++;
}

static void kv_nums(gbuf *b, const char *key, uint32_t type, const void *v, int n)
{
    gput_str(b, key);
    gput_u32(b, 9);
    gput_u32(b, type);
    gput_u64(b, (uint64_t)n);
    gput(b, v, 4 * (size_t)n);
    b->n_kv++;
}

/* Writes the GGUF (no tensors) and makes a tokenizer of it: the status. */
static pce_status gguf_tokenizer(gbuf *kv, pce_tokenizer **out)
{
    gbuf file = {0};
    gput(&file, "GGUF", 4);
    gput_u32(&file, 3);
    gput_u64(&file, 0);
    gput_u64(&file, kv->n_kv);
    gput(&file, kv->p, kv->n);
    char path[300];
    snprintf(path, sizeof path, "%s/vocab.gguf", g_tmp);
    FILE *f = fopen(path, "wb");
    ck_assert(f && fwrite(file.p, 1, file.n, f) == file.n);
    fclose(f);
    free(file.p);
    free(kv->p);
    memset(kv, 0, sizeof *kv);
    pce_model_file *mf;
    ck_assert_int_eq(pce_model_file_open_metadata(ctx, path, &mf), PCE_OK);
    *out = NULL;
    pce_status st = pce_tokenizer_create(ctx, mf, out);
    pce_model_file_close(mf);
    unlink(path);
    return st;
}

static void creates_fail(gbuf *kv, pce_status want, const char *s1, const char *s2)
{
    pce_tokenizer *t = (pce_tokenizer *)1;
    pce_status st = gguf_tokenizer(kv, &t);
    ck_assert_msg(st == want, "%s, expected %s: %s", pce_status_name(st), pce_status_name(want),
                  pce_context_last_error(ctx));
    ck_assert_ptr_null(t);
    const char *e = pce_context_last_error(ctx);
    ck_assert_msg(strstr(e, s1) && (!s2 || strstr(e, s2)), "'%s' lacks '%s'", e, s1);
}

/* GPT-2's byte map, the published algorithm: the UTF-8 of byte b's code
 * point. */
static void gpt2_byte(int b, char out[3])
{
    int n = 0, cp = -1;
    for (int x = 0; x < 256; x++) {
        bool self = (x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || x >= 0xae;
        int c = self ? x : 256 + n++;
        if (x == b)
            cp = c;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        out[2] = 0;
    }
}

START_TEST(unsupported_and_malformed)
{
    const char *toks[] = {"a", "b", "ab"};
    const char *merges[] = {"a b"};
    gbuf kv = {0};
    kv_str(&kv, "general.architecture", "llama");
    creates_fail(&kv, PCE_ERR_NOT_FOUND, "tokenizer.ggml.model", NULL);
    kv_str(&kv, "tokenizer.ggml.model", "bert");
    kv_strs(&kv, "tokenizer.ggml.tokens", toks, 3);
    creates_fail(&kv, PCE_ERR_UNSUPPORTED, "'bert'", NULL);
    kv_str(&kv, "tokenizer.ggml.model", "gpt2");
    kv_str(&kv, "tokenizer.ggml.pre", "no-such-pre");
    kv_strs(&kv, "tokenizer.ggml.tokens", toks, 3);
    kv_strs(&kv, "tokenizer.ggml.merges", merges, 1);
    creates_fail(&kv, PCE_ERR_UNSUPPORTED, "'no-such-pre'", "tokenizer.ggml.pre");
    kv_str(&kv, "tokenizer.ggml.model", "gpt2");
    kv_str(&kv, "tokenizer.ggml.pre", "gpt-2");
    kv_strs(&kv, "tokenizer.ggml.tokens", toks, 3);
    creates_fail(&kv, PCE_ERR_FORMAT, "tokenizer.ggml.merges", NULL);
    kv_str(&kv, "tokenizer.ggml.model", "llama");
    kv_u32(&kv, "tokenizer.ggml.tokens", 3);
    creates_fail(&kv, PCE_ERR_FORMAT, "tokenizer.ggml.tokens", NULL);
    int32_t types[2] = {1, 1};
    kv_str(&kv, "tokenizer.ggml.model", "llama");
    kv_strs(&kv, "tokenizer.ggml.tokens", toks, 3);
    kv_nums(&kv, "tokenizer.ggml.token_type", 5, types, 2);
    creates_fail(&kv, PCE_ERR_FORMAT, "tokenizer.ggml.token_type", "2 elements");
    kv_str(&kv, "tokenizer.ggml.model", "llama");
    kv_strs(&kv, "tokenizer.ggml.tokens", toks, 3);
    kv_u32(&kv, "tokenizer.ggml.add_bos_token", 1);
    creates_fail(&kv, PCE_ERR_FORMAT, "tokenizer.ggml.add_bos_token", "bool");
}
END_TEST

/* A byte-level BPE of 256 byte tokens and three merges, worked by hand. */
START_TEST(tiny_bpe)
{
    const char *toks[262];
    char bytes[256][3];
    for (int b = 0; b < 256; b++) {
        gpt2_byte(b, bytes[b]);
        toks[b] = bytes[b];
    }
    toks[256] = "ab";
    toks[257] = "abc";
    toks[258] = "\xc4\xa0"
                "ab"; /* " ab" */
    toks[259] = "<|end|>";
    toks[260] = "bc";
    toks[261] = "cc";
    int32_t types[262];
    for (int i = 0; i < 262; i++)
        types[i] = i == 259 ? 3 : 1;
    /* ranks: "a b" first, then "ab c", then "Ġ ab", "b c" last */
    const char *merges[] = {"a b", "ab c", "\xc4\xa0 ab", "b c", "c c"};
    gbuf kv = {0};
    kv_str(&kv, "tokenizer.ggml.model", "gpt2");
    kv_str(&kv, "tokenizer.ggml.pre", "gpt-2");
    kv_strs(&kv, "tokenizer.ggml.tokens", toks, 262);
    kv_nums(&kv, "tokenizer.ggml.token_type", 5, types, 262);
    kv_strs(&kv, "tokenizer.ggml.merges", merges, 5);
    kv_u32(&kv, "tokenizer.ggml.eos_token_id", 259);
    pce_tokenizer *t;
    ck_assert_msg(gguf_tokenizer(&kv, &t) == PCE_OK, "%s", pce_context_last_error(ctx));
    pce_tokenizer_info in;
    pce_tokenizer_get_info(t, &in);
    ck_assert_int_eq(in.n_vocab, 262);
    ck_assert_int_eq(in.eos, 259);
    ck_assert(!in.add_bos);
    ck_assert(pce_tokenizer_is_eog(t, 259));
    /* "abc abcc bcc<|end|>": words "abc", " abcc", " bcc", "<|", "end", "|>"
     * (split by GPT-2's regex); "abc": a+b (rank 0), ab+c -> abc; " abcc":
     * a+b, then ab+c (rank 1) before Ġ+ab (rank 2): Ġ abc c; " bcc": b+c
     * (rank 3) before c+c (rank 4): Ġ bc c */
    const char *s = "abc abcc bcc<|end|>";
    int32_t *ids;
    size_t n = encode(t, s, strlen(s), true, false, false, &ids);
    /* byte b's token id is b (the first 256 tokens are the bytes) */
    const int32_t expect[] = {257, ' ', 257, 'c', ' ', 260, 'c', '<', '|', 'e', 'n', 'd', '|', '>'};
    ck_assert_uint_eq(n, sizeof expect / sizeof expect[0]);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(ids[i] == expect[i], "token %zu: %d, expected %d", i, ids[i], expect[i]);
    free(ids);
    n = encode(t, s, strlen(s), true, true, false, &ids);
    ck_assert_uint_eq(n, 8);
    ck_assert(!memcmp(ids, expect, 7 * sizeof *ids) && ids[7] == 259);
    size_t len;
    char *back = decode(t, ids, n, true, &len);
    ck_assert_str_eq(back, s);
    free(back);
    back = decode(t, ids, n, false, &len);
    ck_assert_str_eq(back, "abc abcc bcc");
    free(back);
    free(ids);
    /* every byte value round-trips (but the control characters, refused) */
    char all[256 * 2];
    size_t k = 0;
    for (int b = 0x20; b < 0x7f; b++)
        all[k++] = (char)b;
    n = encode(t, all, k, false, false, false, &ids);
    back = decode(t, ids, n, false, &len);
    ck_assert(len == k && !memcmp(back, all, k));
    free(back);
    free(ids);
    pce_tokenizer_destroy(t);
}
END_TEST

/* A SentencePiece vocabulary with byte fallback, worked by hand. */
START_TEST(tiny_spm)
{
    const char *toks[256 + 8];
    float scores[256 + 8];
    int32_t types[256 + 8];
    char hex[256][8];
    toks[0] = "<unk>", types[0] = 2;
    toks[1] = "<s>", types[1] = 3;
    toks[2] = "</s>", types[2] = 3;
    for (int b = 0; b < 256; b++) {
        snprintf(hex[b], sizeof hex[b], "<0x%02X>", b);
        toks[3 + b] = hex[b];
        types[3 + b] = 6;
    }
    const char *pieces[] = {"\xe2\x96\x81", "a", "b",
                            "\xe2\x96\x81"
                            "a",
                            "ab"};
    const float sc[] = {-1, -2, -2, -3, -4};
    for (int i = 0; i < 5; i++) {
        toks[259 + i] = pieces[i];
        types[259 + i] = 1;
    }
    for (int i = 0; i < 264; i++)
        scores[i] = i >= 259 ? sc[i - 259] : 0;
    gbuf kv = {0};
    kv_str(&kv, "tokenizer.ggml.model", "llama");
    kv_strs(&kv, "tokenizer.ggml.tokens", toks, 264);
    kv_nums(&kv, "tokenizer.ggml.scores", 6, scores, 264);
    kv_nums(&kv, "tokenizer.ggml.token_type", 5, types, 264);
    pce_tokenizer *t;
    ck_assert_msg(gguf_tokenizer(&kv, &t) == PCE_OK, "%s", pce_context_last_error(ctx));
    pce_tokenizer_info in;
    pce_tokenizer_get_info(t, &in);
    ck_assert(in.add_bos && in.bos == 1 && in.eos == 2 && in.unk == 0);
    /* " ab é": ▁ab▁é; ▁+a (-3) beats a+b (-4): ▁a b ▁ é, é by its bytes */
    const char *s = "ab \xc3\xa9";
    int32_t *ids;
    size_t n = encode(t, s, strlen(s), true, false, false, &ids);
    const int32_t expect[] = {1, 262, 261, 259, 3 + 0xc3, 3 + 0xa9};
    ck_assert_uint_eq(n, 6);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(ids[i] == expect[i], "token %zu: %d, expected %d", i, ids[i], expect[i]);
    size_t len;
    char *back = decode(t, ids, n, false, &len);
    ck_assert_str_eq(back, s);
    free(back);
    free(ids);
    /* after a special token the text gets its space again, and loses it on
     * the way back */
    n = encode(t, "a</s>a", 6, false, true, false, &ids);
    ck_assert_uint_eq(n, 3);
    ck_assert(ids[0] == 262 && ids[1] == 2 && ids[2] == 262);
    back = decode(t, ids, n, true, &len);
    ck_assert_str_eq(back, "a</s>a");
    free(back);
    free(ids);
    pce_tokenizer_destroy(t);
}
END_TEST

static Suite *tokenizer_suite(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("vocabularies");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, corpus_ids, 0, N_VOCABS);
    tcase_add_loop_test(tc, corpus_roundtrip, 0, N_VOCABS);
    tcase_add_loop_test(tc, corpus_pieces, 0, N_VOCABS);
    tcase_add_loop_test(tc, vocab_info, 0, N_VOCABS);
    tcase_add_loop_test(tc, special_tokens, 0, N_VOCABS);
    tcase_add_loop_test(tc, invalid_input, 0, N_VOCABS);
    tcase_add_loop_test(tc, buffers, 0, N_VOCABS);
    tcase_add_loop_test(tc, threads, 0, N_VOCABS);
    suite_add_tcase(s, tc);
    TCase *built = tcase_create("built here");
    tcase_add_checked_fixture(built, setup, teardown);
    tcase_add_test(built, unsupported_and_malformed);
    tcase_add_test(built, tiny_bpe);
    tcase_add_test(built, tiny_spm);
    suite_add_tcase(s, built);
    return s;
}

int main(int argc, char **argv)
{
    const char *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char base[900];
    if (cache && *cache)
        snprintf(base, sizeof base, "%s/pce", cache);
    else
        snprintf(base, sizeof base, "%s/.cache/pce", home ? home : ".");
    if (argc > 1)
        g_fixtures = argv[1];
    if (argc > 2 && *argv[2])
        snprintf(g_vocab_dir, sizeof g_vocab_dir, "%s", argv[2]);
    else
        snprintf(g_vocab_dir, sizeof g_vocab_dir, "%s/vocab", base);
    /* SmolLM2's vocabulary is in the model test-llm uses, found the same way */
    const char *model = getenv("PCE_TEST_MODEL");
    if (model && *model)
        snprintf(g_smollm, sizeof g_smollm, "%s", model);
    else
        snprintf(g_smollm, sizeof g_smollm, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", base);
    const char *req = getenv("PCE_REQUIRE_VOCAB");
    bool require = req && *req == '1';
    int absent = 0;
    for (int i = 0; i < N_VOCABS; i++) {
        if (vocab_present(&vocabs[i]))
            continue;
        char path[1200];
        printf("%s: %s not found: run %s%s\n", vocabs[i].name,
               vocab_path(&vocabs[i], path, sizeof path),
               vocabs[i].file ? "tests/fetch_vocab.sh" : "tests/fetch_model.sh",
               require ? "; PCE_REQUIRE_VOCAB=1 makes this a failure" : ": SKIP");
        absent++;
    }
    const char *tmpdir = getenv("TMPDIR");
    snprintf(g_tmp, sizeof g_tmp, "%s/pce-tokenizer-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    SRunner *sr = srunner_create(tokenizer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    rmdir(g_tmp);
    if (failed || (absent && require))
        return EXIT_FAILURE;
    if (absent) {
        printf("%d of %d vocabularies absent: SKIP\n", absent, N_VOCABS);
        return 77;
    }
    return EXIT_SUCCESS;
}
