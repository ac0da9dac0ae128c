/* chat.c — chat templates: a model's Jinja template (tokenizer.chat_template)
 * recognised as one of the formats pce renders in C, never interpreted.
 *
 * Recognition works on a canonical form of the template's tags: whitespace
 * and trim markers dropped, string literals decoded and re-quoted one way,
 * x['key'] written x.key, adjacent literals joined ('a' + 'b' is 'ab').
 * Each format names the fragments a template must hold for pce's rendering
 * to be byte-identical to Jinja's (the turn markers, what happens to the
 * system message, the generation prompt), takes its parameters (a default
 * system prompt, a generation prompt) from the template's own literals, and
 * lists what it cannot reproduce (<think> handling, trim, exceptions). A
 * template that writes text outside its tags, or matches no format, is
 * UNSUPPORTED: pce does not guess.
 */
#include "internal.h"
#include "pce_text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum chat_format { FMT_CHATML = 0, FMT_DEEPSEEK_R1, FMT_LLAMA3 } chat_format;

static const char *const format_names[] = {"chatml", "deepseek-r1", "llama3"};

/* The text of bos_token where the template writes it, when the vocabulary
 * does not say (pce_chat_template_create): the format's own. */
static const char *const format_bos[] = {"", "<｜begin▁of▁sentence｜>", "<|begin_of_text|>"};

struct pce_chat_template {
    pce_context *ctx;
    chat_format format;
    char *bos;
    /* chatml: the whole literal written before a conversation that does not
     * open with a system message ("<|im_start|>system\n...<|im_end|>\n"),
     * NULL when the template writes none */
    char *default_system;
    /* deepseek-r1: what add_generation_prompt writes */
    char *generation_prompt;
    /* llama3 (3.1 and later): the text the system turn opens with ("Cutting
     * Knowledge Date: ...\nToday Date: ...\n\n"); NULL for Llama 3, whose
     * template has no system turn of its own */
    char *system_preamble;
};

/* ---- growing strings ----------------------------------------------------------- */

typedef pce_str str;

static void put(str *s, const char *p, size_t n)
{
    pce_str_put(s, p, n); /* a failure is seen at the end, in s->oom */
}

static void puts_(str *s, const char *p)
{
    put(s, p, strlen(p));
}

static char *dup_n(const char *p, size_t n)
{
    char *q = malloc(n + 1);
    if (q) {
        memcpy(q, p, n);
        q[n] = 0;
    }
    return q;
}

/* ---- the canonical form ----------------------------------------------------------- */

typedef enum tok_kind { TOK_WORD, TOK_STR, TOK_OP } tok_kind;

typedef struct tok {
    tok_kind kind;
    str text; /* TOK_STR: the decoded value */
} tok;

typedef struct toks {
    tok *v;
    int n, cap;
    bool oom;
} toks;

static void toks_free(toks *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->v[i].text.p);
    free(t->v);
    memset(t, 0, sizeof *t);
}

static tok *toks_add(toks *t, tok_kind kind, const char *p, size_t n)
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 32;
        tok *v = realloc(t->v, (size_t)cap * sizeof *v);
        if (!v) {
            t->oom = true;
            return NULL;
        }
        t->v = v;
        t->cap = cap;
    }
    tok *k = &t->v[t->n++];
    memset(k, 0, sizeof *k);
    k->kind = kind;
    put(&k->text, p, n);
    if (!k->text.p) /* an empty literal still has a string */
        put(&k->text, "", 0);
    t->oom |= k->text.oom;
    return k;
}

static bool is_word(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static void put_utf8(str *s, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80)
        b[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        b[0] = (char)(0xc0 | (cp >> 6)), b[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    else if (cp < 0x10000)
        b[0] = (char)(0xe0 | (cp >> 12)), b[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
        b[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    else
        b[0] = (char)(0xf0 | (cp >> 18)), b[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    put(s, b, n);
}

/* A Jinja string literal at p (its quote), decoded as Jinja does (Python's
 * escapes); returns the position after the closing quote, or NULL when it
 * does not close before end. */
static const char *lex_string(const char *p, const char *end, str *out)
{
    char q = *p++;
    while (p < end && *p != q) {
        if (*p != '\\' || p + 1 >= end) {
            if (*p == '\r') { /* Jinja normalises newlines */
                put(out, "\n", 1);
                p += p + 1 < end && p[1] == '\n' ? 2 : 1;
                continue;
            }
            put(out, p++, 1);
            continue;
        }
        static const char from[] = "nrtabfv\\'\"", to[] = "\n\r\t\a\b\f\v\\'\"";
        char e = p[1];
        const char *simple = e ? strchr(from, e) : NULL;
        if (simple) {
            put(out, &to[simple - from], 1);
            p += 2;
        } else if (e == 'x' || e == 'u' || e == 'U') {
            int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            unsigned long cp = 0;
            int k = 0;
            for (; k < len && p + 2 + k < end && isxdigit((unsigned char)p[2 + k]); k++)
                cp = cp * 16 + (unsigned long)(isdigit((unsigned char)p[2 + k])
                                                   ? p[2 + k] - '0'
                                                   : tolower((unsigned char)p[2 + k]) - 'a' + 10);
            if (k < len || cp > 0x10ffff)
                return NULL; /* Python refuses these: so does pce */
            put_utf8(out, cp);
            p += 2 + len;
        } else if (e >= '0' && e <= '7') {
            unsigned long cp = 0;
            int k = 0;
            for (; k < 3 && p + 1 + k < end && p[1 + k] >= '0' && p[1 + k] <= '7'; k++)
                cp = cp * 8 + (unsigned long)(p[1 + k] - '0');
            put_utf8(out, cp);
            p += 1 + k;
        } else if (e == '\n') { /* a line continuation */
            p += 2;
        } else { /* an unknown escape stays as written */
            put(out, p, 2);
            p += 2;
        }
    }
    return p < end ? p + 1 : NULL;
}

/* The tokens of a tag's body [p, end). false on an unclosed string. */
static bool lex_body(const char *p, const char *end, toks *t)
{
    static const char *const two[] = {"==", "!=", "<=", ">=", "//", "**"};
    while (p < end && !t->oom) {
        if (isspace((unsigned char)*p)) {
            p++;
        } else if (*p == '\'' || *p == '"') {
            tok *k = toks_add(t, TOK_STR, "", 0);
            if (!k)
                return true;
            p = lex_string(p, end, &k->text);
            t->oom |= k->text.oom;
            if (!p)
                return false;
        } else if (is_word(*p)) {
            const char *s = p;
            while (p < end && is_word(*p))
                p++;
            toks_add(t, TOK_WORD, s, (size_t)(p - s));
        } else {
            size_t n = 1;
            for (size_t i = 0; i < sizeof two / sizeof two[0]; i++)
                if (p + 1 < end && p[0] == two[i][0] && p[1] == two[i][1])
                    n = 2;
            toks_add(t, TOK_OP, p, n);
            p += n;
        }
    }
    return true;
}

static bool op_is(const toks *t, int i, const char *op)
{
    return i >= 0 && i < t->n && t->v[i].kind == TOK_OP && strcmp(t->v[i].text.p, op) == 0;
}

static bool is_identifier(const char *s)
{
    if (!*s || isdigit((unsigned char)*s))
        return false;
    for (; *s; s++)
        if (!is_word(*s))
            return false;
    return true;
}

static void tok_remove(toks *t, int i, int count)
{
    for (int k = i; k < i + count; k++)
        free(t->v[k].text.p);
    memmove(&t->v[i], &t->v[i + count], (size_t)(t->n - i - count) * sizeof *t->v);
    t->n -= count;
}

/* x['key'] -> x.key; 'a' + 'b' -> 'ab' where nothing binds tighter. */
static void normalise(toks *t)
{
    for (int i = 0; i + 2 < t->n; i++) {
        bool after_value =
            i > 0 && (t->v[i - 1].kind == TOK_WORD || op_is(t, i - 1, "]") || op_is(t, i - 1, ")"));
        if (after_value && op_is(t, i, "[") && t->v[i + 1].kind == TOK_STR &&
            op_is(t, i + 2, "]") && is_identifier(t->v[i + 1].text.p)) {
            t->v[i + 1].kind = TOK_WORD;
            t->v[i].text.p[0] = '.';
            tok_remove(t, i + 2, 1);
        }
    }
    for (int i = 0; i + 2 < t->n; i++) {
        bool open_before = i == 0 || op_is(t, i - 1, "(") || op_is(t, i - 1, ",") ||
                           op_is(t, i - 1, "+") || op_is(t, i - 1, "=") || op_is(t, i - 1, "==") ||
                           op_is(t, i - 1, "!=");
        bool open_after =
            i + 3 == t->n || op_is(t, i + 3, "+") || op_is(t, i + 3, ")") || op_is(t, i + 3, ",");
        if (t->v[i].kind == TOK_STR && op_is(t, i + 1, "+") && t->v[i + 2].kind == TOK_STR &&
            open_before && open_after) {
            put(&t->v[i].text, t->v[i + 2].text.p, t->v[i + 2].text.n);
            t->oom |= t->v[i].text.oom;
            tok_remove(t, i + 1, 2);
            i--; /* 'ab' + 'c' */
        }
    }
}

static void put_quoted(str *s, const char *p, size_t n)
{
    put(s, "'", 1);
    for (size_t i = 0; i < n; i++) {
        switch (p[i]) {
        case '\n': put(s, "\\n", 2); break;
        case '\t': put(s, "\\t", 2); break;
        case '\r': put(s, "\\r", 2); break;
        case '\\': put(s, "\\\\", 2); break;
        case '\'': put(s, "\\'", 2); break;
        default: put(s, &p[i], 1);
        }
    }
    put(s, "'", 1);
}

static void emit_body(str *c, const toks *t)
{
    for (int i = 0; i < t->n; i++) {
        const tok *k = &t->v[i];
        if (i > 0 && k->kind != TOK_OP && t->v[i - 1].kind != TOK_OP)
            put(c, " ", 1);
        if (k->kind == TOK_STR)
            put_quoted(c, k->text.p, k->text.n);
        else
            put(c, k->text.p, k->text.n);
    }
}

typedef struct tag_edge {
    char kind; /* 0 (template's edge), '{' expression, '%' statement, '#' comment */
    char mod;  /* 0, '-' or '+' */
} tag_edge;

static bool only_blanks(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t')
            return false;
    return true;
}

/* What Jinja (trim_blocks, lstrip_blocks, as transformers renders) writes of
 * the raw text [p, p + n) between the tags `before` and `after`: *skip bytes
 * from its start, and the returned length. */
static size_t raw_output(const char *p, size_t n, tag_edge before, tag_edge after, size_t *skip)
{
    size_t a = 0, b = n;
    bool block_before = before.kind == '%' || before.kind == '#';
    if (before.mod == '-') {
        while (a < b && isspace((unsigned char)p[a]))
            a++;
    } else if (block_before && before.mod != '+') {
        if (a < b && p[a] == '\n')
            a++;
        else if (a + 1 < b && p[a] == '\r' && p[a + 1] == '\n')
            a += 2;
    }
    bool block_after = after.kind == '%' || after.kind == '#';
    if (after.mod == '-') {
        while (b > a && isspace((unsigned char)p[b - 1]))
            b--;
    } else if (block_after && after.mod != '+') {
        size_t line = b;
        while (line > a && p[line - 1] != '\n')
            line--;
        /* blanks from a line's start (or the template's) to the tag */
        if ((line > 0 || before.kind == 0) && only_blanks(p + line, b - line))
            b = line;
    }
    if (after.kind == 0 && b > a && p[b - 1] == '\n') /* keep_trailing_newline is off */
        b--;
    *skip = a;
    return b - a;
}

/* The canonical form of the tags of src, in c. *raw gets the offset of the
 * first text written outside tags ((size_t)-1 when none). FORMAT-like errors
 * (an unclosed tag or string) give false with why. */
static bool canonicalise(const char *src, str *c, size_t *raw, const char **why)
{
    size_t len = strlen(src);
    const char *p = src, *end = src + len;
    tag_edge before = {0, 0};
    *raw = (size_t)-1;
    for (;;) {
        const char *open = p;
        while (open + 1 < end && !(open[0] == '{' && strchr("{%#", open[1])))
            open++;
        if (open + 1 >= end)
            open = end;
        tag_edge after = {0, 0};
        if (open < end) {
            after.kind = open[1];
            if (open + 2 < end && (open[2] == '-' || open[2] == '+'))
                after.mod = open[2];
        }
        size_t skip, n = raw_output(p, (size_t)(open - p), before, after, &skip);
        if (n && *raw == (size_t)-1)
            *raw = (size_t)(p + skip - src);
        if (open == end)
            return !c->oom;

        char kind = open[1];
        const char *body = open + 2 + (after.mod ? 1 : 0);
        const char *close = NULL, *q = body;
        if (kind == '#') {
            while (q + 1 < end && !(q[0] == '#' && q[1] == '}'))
                q++;
            close = q + 1 < end ? q : NULL;
        } else {
            char want = kind == '{' ? '}' : '%';
            while (q + 1 < end) {
                if (*q == '\'' || *q == '"') {
                    str tmp = {0};
                    q = lex_string(q, end, &tmp);
                    free(tmp.p);
                    if (!q)
                        break;
                    continue;
                }
                if (q[0] == want && q[1] == '}') {
                    close = q;
                    break;
                }
                q++;
            }
        }
        if (!close) {
            *why = kind == '#' ? "a comment is not closed" : "a tag or a string is not closed";
            return false;
        }
        before.kind = kind;
        before.mod = close > body && (close[-1] == '-' || close[-1] == '+') ? close[-1] : 0;
        const char *body_end = before.mod ? close - 1 : close;
        p = close + 2;
        if (kind == '#')
            continue;
        toks t = {0};
        if (!lex_body(body, body_end, &t)) {
            toks_free(&t);
            *why = "a string is not closed";
            return false;
        }
        normalise(&t);
        if (t.n > 0 && kind == '%' && t.v[0].kind == TOK_WORD &&
            strcmp(t.v[0].text.p, "raw") == 0) {
            toks_free(&t); /* raw blocks write their text: pce renders no text of a template */
            *raw = (size_t)(open - src);
            return true;
        }
        put(c, kind == '{' ? "{{" : "{%", 2);
        emit_body(c, &t);
        put(c, kind == '{' ? "}}" : "%}", 2);
        c->oom |= t.oom;
        toks_free(&t);
    }
}

/* ---- recognition ----------------------------------------------------------------- */

/* Decodes the canonical literal text [p, p + n) (re-quoted by put_quoted). */
static char *unquote(const char *p, size_t n)
{
    str s = {0};
    put(&s, "", 0);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n) {
            char e = p[++i];
            char v = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
            put(&s, &v, 1);
        } else {
            put(&s, &p[i], 1);
        }
    }
    if (s.oom) {
        free(s.p);
        return NULL;
    }
    return s.p;
}

/* Finds `before` + a literal's text + `after` in the canonical c, where the
 * literal's text starts with `lit_start` and ends with `lit_end` (both
 * canonical, inside the quotes). `before` ends inside the literal (after its
 * opening quote). The decoded text between lit_start and lit_end goes to
 * *text (malloc'd; the whole literal when whole). */
static bool find_literal(const char *c, const char *before, const char *lit_end, const char *after,
                         bool whole, char **text)
{
    for (const char *at = strstr(c, before); at; at = strstr(at + 1, before)) {
        const char *s = at + strlen(before), *q = s;
        while (*q && *q != '\'')
            q += q[0] == '\\' && q[1] ? 2 : 1;
        if (!*q)
            continue;
        size_t le = strlen(lit_end);
        if ((size_t)(q - s) < le || strncmp(q - le, lit_end, le) != 0 ||
            strncmp(q + 1, after, strlen(after)) != 0)
            continue;
        if (whole) {
            /* back to the opening quote: before ends with "'" + lit_start */
            const char *open = at + strlen(before);
            while (open > c && !(open[-1] == '\'' && (open - 1 == c || open[-2] != '\\')))
                open--;
            *text = unquote(open, (size_t)(q - open));
        } else {
            *text = unquote(s, (size_t)(q - le - s));
        }
        return true;
    }
    return false;
}

typedef struct recog {
    chat_format format;
    char *default_system, *generation_prompt, *system_preamble;
    char why[200]; /* why a template that looks like a format is not one */
} recog;

static bool has(const char *c, const char *frag)
{
    return strstr(c, frag) != NULL;
}

/* The first of frags[] that c holds, or NULL. */
static const char *any_of(const char *c, const char *const *frags)
{
    for (; *frags; frags++)
        if (has(c, *frags))
            return *frags;
    return NULL;
}

/* The first of frags[] that c lacks, or NULL. */
static const char *missing(const char *c, const char *const *frags)
{
    for (; *frags; frags++)
        if (!has(c, *frags))
            return *frags;
    return NULL;
}

/* Features pce's renderers do not reproduce: a template using any is not
 * rendered, whatever else it holds. */
static const char *const not_rendered[] = {
    "reasoning_content", /* reasoning kept or dropped per turn */
    "strftime_now",      /* today's date */
    ".strip(",
    NULL,
};

#define RECOG_NO 0
#define RECOG_YES 1
#define RECOG_NEAR (-1)

static int near_miss(recog *r, const char *fmt, const char *what)
{
    snprintf(r->why, sizeof r->why, fmt, what);
    return RECOG_NEAR;
}

static int recognise_chatml(const char *c, recog *r)
{
    if (!has(c, "<|im_start|>"))
        return RECOG_NO;
    static const char *const need[] = {
        "{{'<|im_start|>'+message.role+'\\n'+message.content+'<|im_end|>\\n'}}",
        "{%if add_generation_prompt%}{{'<|im_start|>assistant\\n'}}{%endif%}",
        NULL,
    };
    static const char *const refuse[] = {
        "think>",    "|trim",     "<|im_sep|>",   "<end_of_utterance>",
        "bos_token", "eos_token", "messages[1:]", "enable_thinking",
        NULL};
    const char *m;
    if ((m = missing(c, need)))
        return near_miss(r, "it has <|im_start|> but not the turn %s", m);
    if ((m = any_of(c, not_rendered)) || (m = any_of(c, refuse)))
        return near_miss(r, "it has <|im_start|> but also %s", m);
    r->format = FMT_CHATML;
    /* SmolLM2, Qwen2: the default in the loop, on its first turn */
    if (find_literal(c, "{%if loop.first and messages[0].role!='system'%}{{'<|im_start|>system\\n",
                     "<|im_end|>\\n", "}}{%endif%}", true, &r->default_system))
        return r->default_system ? RECOG_YES : RECOG_NEAR;
    /* Qwen2.5: before the loop, which then skips the first system message */
    if (find_literal(c,
                     "{%if messages[0].role=='system'%}{{'<|im_start|>system\\n'+messages[0]."
                     "content+'<|im_end|>\\n'}}{%else%}{{'<|im_start|>system\\n",
                     "<|im_end|>\\n", "}}{%endif%}", true, &r->default_system)) {
        if (!r->default_system)
            return RECOG_NEAR;
        if (!has(c, "(message.role=='system' and not loop.first)"))
            return near_miss(r, "%s", "its first system message may be written twice");
        return RECOG_YES;
    }
    if (has(c, "messages[0]") || has(c, "'<|im_start|>system"))
        return near_miss(r, "%s", "it has a system prompt of its own in a form pce does not know");
    return RECOG_YES;
}

static int recognise_deepseek_r1(const char *c, recog *r)
{
    if (!has(c, "<｜Assistant｜>") || !has(c, "<｜User｜>"))
        return RECOG_NO;
    static const char *const need[] = {
        /* the last system message, before the first turn */
        "{%for message in messages%}{%if message.role=='system'%}{%set "
        "ns.system_prompt=message.content%}{%endif%}{%endfor%}{{bos_token}}{{ns.system_prompt}}",
        "{%if message.role=='user'%}{%set "
        "ns.is_tool=false%}{{'<｜User｜>'+message.content}}{%endif%}",
        "{%set content=message.content%}{%if '</think>' in content%}{%set "
        "content=content.split('</think>')[-1]%}{%endif%}{{'<｜Assistant｜>'+content+'<"
        "｜end▁of▁sentence｜>'}}",
        NULL,
    };
    static const char *const refuse[] = {"|trim", "tools", NULL};
    const char *m;
    if ((m = missing(c, need)))
        return near_miss(r, "it has <｜Assistant｜> but not %s", m);
    if ((m = any_of(c, not_rendered)) || (m = any_of(c, refuse)))
        return near_miss(r, "it has <｜Assistant｜> but also %s", m);
    const char *gen = "{%if add_generation_prompt and not ns.is_tool%}{{'";
    const char *thinking = "{%if not enable_thinking%}{{'</think>'}}{%endif%}";
    char *g = NULL;
    if (find_literal(c, gen, "", "}}{%endif%}", false, &g)) {
        r->generation_prompt = g;
    } else if (find_literal(c, gen, "", "}}{%if not enable_thinking%}", false, &g)) {
        /* enable_thinking is never defined here: the template closes the
         * thinking it opened */
        const char *at = strstr(c, thinking);
        if (!g || !at || strncmp(at + strlen(thinking), "{%endif%}", 9) != 0) {
            free(g);
            return near_miss(r, "%s", "its generation prompt is not one pce knows");
        }
        size_t n = strlen(g);
        char *h = realloc(g, n + 9);
        if (!h) {
            free(g);
            return RECOG_NEAR;
        }
        memcpy(h + n, "</think>", 9);
        r->generation_prompt = h;
    } else {
        return near_miss(r, "%s", "its generation prompt is not one pce knows");
    }
    if (!r->generation_prompt ||
        strncmp(r->generation_prompt, "<｜Assistant｜>", strlen("<｜Assistant｜>")) != 0)
        return near_miss(r, "%s", "its generation prompt is not one pce knows");
    if (has(c, "enable_thinking") && !has(c, thinking))
        return near_miss(r, "it has <｜Assistant｜> but also %s", "enable_thinking");
    r->format = FMT_DEEPSEEK_R1;
    return RECOG_YES;
}

static int recognise_llama3(const char *c, recog *r)
{
    if (!has(c, "<|start_header_id|>"))
        return RECOG_NO;
    static const char *const need[] = {
        "'<|start_header_id|>'+message.role+'<|end_header_id|>\\n\\n'+message.content|trim+'<|"
        "eot_id|>'",
        "{%if add_generation_prompt%}{{'<|start_header_id|>assistant<|end_header_id|>\\n\\n'}}{%"
        "endif%}",
        NULL,
    };
    static const char *const refuse[] = {"think>", NULL};
    const char *m;
    if ((m = missing(c, need)))
        return near_miss(r, "it has <|start_header_id|> but not %s", m);
    if ((m = any_of(c, not_rendered)) || (m = any_of(c, refuse)))
        return near_miss(r, "it has <|start_header_id|> but also %s", m);
    r->format = FMT_LLAMA3;
    /* Llama 3: BOS before the first turn, every message its own turn */
    static const char *const v3[] = {
        "{%set loop_messages=messages%}{%for message in loop_messages%}{%set "
        "content='<|start_header_id|>'+message.role+'<|end_header_id|>\\n\\n'+message.content|"
        "trim+'<|eot_id|>'%}{%if loop.index0==0%}{%set content=bos_token+content%}{%endif%}{{"
        "content}}{%endfor%}",
        NULL,
    };
    if (!missing(c, v3))
        return has(c, "tools") ? near_miss(r, "it has <|start_header_id|> but also %s", "tools")
                               : RECOG_YES;
    /* Llama 3.1 and 3.3: a system turn always, opening with the knowledge
     * cut-off and a date that only the caller could change (date_string) */
    static const char *const v31[] = {
        "{{bos_token}}",
        "{%if messages[0].role=='system'%}{%set system_message=messages[0].content|trim%}{%set "
        "messages=messages[1:]%}{%else%}{%set system_message=''%}{%endif%}{{'<|start_header_id|>"
        "system<|end_header_id|>\\n\\n'}}{%if builtin_tools is defined or tools is not none%}",
        "{{'Today Date: '+date_string+'\\n\\n'}}{%if tools is not none and not "
        "tools_in_user_message%}",
        "{{system_message}}{{'<|eot_id|>'}}{%if tools_in_user_message and not tools is none%}",
        "{%for message in messages%}{%if not(message.role=='ipython' or message.role=='tool' or "
        "'tool_calls' in message)%}{{'<|start_header_id|>'+message.role+'<|end_header_id|>\\n\\n'+"
        "message.content|trim+'<|eot_id|>'}}{%elif",
        "{%if not tools is defined%}{%set tools=none%}{%endif%}",
        NULL,
    };
    if ((m = missing(c, v31)))
        return near_miss(r, "it has <|start_header_id|> but not %s", m);
    if (strncmp(c, "{{bos_token}}", 13) != 0)
        return near_miss(r, "%s", "it does not open with bos_token");
    char *date = NULL, *cutoff = NULL;
    bool ok = find_literal(c, "{%if not date_string is defined%}{%set date_string='", "",
                           "%}{%endif%}", false, &date) &&
              find_literal(c, "{%endif%}{{'Cutting Knowledge Date:", "",
                           "}}{{'Today Date: '+date_string", true, &cutoff);
    if (!ok || !date || !cutoff) {
        free(date);
        free(cutoff);
        return near_miss(r, "%s", "its knowledge cut-off and date are not in a form pce knows");
    }
    str pre = {0};
    puts_(&pre, cutoff);
    puts_(&pre, "Today Date: ");
    puts_(&pre, date);
    puts_(&pre, "\n\n");
    free(date);
    free(cutoff);
    if (pre.oom) {
        free(pre.p);
        return RECOG_NEAR;
    }
    r->system_preamble = pre.p;
    return RECOG_YES;
}

/* ---- creation -------------------------------------------------------------------- */

/* The start of the template for messages, escaped, cut at a character. */
static void quote_start(const char *s, char *out, size_t cap)
{
    size_t o = 0, i = 0;
    int shown = 0;
    while (s[i] && shown < 60 && o + 8 < cap) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n' || ch == '\t' || ch == '\r' || ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = ch == '\n' ? 'n' : ch == '\t' ? 't' : ch == '\r' ? 'r' : (char)ch;
            i++;
        } else {
            size_t n = ch < 0x80 ? 1 : ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;
            for (size_t k = 0; k < n && s[i]; k++)
                out[o++] = s[i++];
        }
        shown++;
    }
    if (s[i] && o + 4 < cap)
        memcpy(out + o, "...", 3), o += 3;
    out[o] = 0;
}

static void free_template(pce_chat_template *t)
{
    if (!t)
        return;
    free(t->bos);
    free(t->default_system);
    free(t->generation_prompt);
    free(t->system_preamble);
    free(t);
}

static pce_status create_template(pce_context *ctx, const char *jinja, const char *bos,
                                  pce_chat_template **out)
{
    if (!out)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "chat template: out is NULL");
    *out = NULL;
    if (!jinja)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "chat template: the template is NULL");
    char quote[300];
    quote_start(jinja, quote, sizeof quote);
    str c = {0};
    size_t raw;
    const char *why = NULL;
    if (!canonicalise(jinja, &c, &raw, &why)) {
        free(c.p);
        if (c.oom)
            return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "chat template: reading %zu bytes",
                            strlen(jinja));
        return pce_fail(ctx, PCE_ERR_UNSUPPORTED, "chat template \"%s\": %s", quote, why);
    }
    if (raw != (size_t)-1) {
        char at[80];
        quote_start(jinja + raw, at, sizeof at);
        free(c.p);
        return pce_fail(ctx, PCE_ERR_UNSUPPORTED,
                        "chat template \"%s\" is not one pce can render: it writes text of its own "
                        "outside {{ }} at byte %zu (\"%s\")",
                        quote, raw, at);
    }
    const char *canon = c.p ? c.p : "";
    int (*const recognisers[])(const char *, recog *) = {recognise_chatml, recognise_deepseek_r1,
                                                         recognise_llama3};
    recog r = {0};
    int got = RECOG_NO;
    for (size_t i = 0; i < sizeof recognisers / sizeof recognisers[0] && got == RECOG_NO; i++)
        got = recognisers[i](canon, &r);
    free(c.p);
    if (got != RECOG_YES) {
        free(r.default_system);
        free(r.generation_prompt);
        free(r.system_preamble);
        return pce_fail(ctx, PCE_ERR_UNSUPPORTED,
                        "chat template \"%s\" is not one pce can render (it renders chatml, "
                        "deepseek-r1 and llama3)%s%s",
                        quote, r.why[0] ? ": " : "", r.why);
    }
    pce_chat_template *t = calloc(1, sizeof *t);
    if (t) {
        t->ctx = ctx;
        t->format = r.format;
        t->default_system = r.default_system;
        t->generation_prompt = r.generation_prompt;
        t->system_preamble = r.system_preamble;
        t->bos = dup_n(bos ? bos : format_bos[r.format], strlen(bos ? bos : format_bos[r.format]));
    }
    if (!t || !t->bos) {
        if (t)
            free_template(t);
        else
            free(r.default_system), free(r.generation_prompt), free(r.system_preamble);
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "chat template: allocating it");
    }
    pce_log(ctx, PCE_LOG_DEBUG, "chat template \"%s\" is %s", quote, format_names[r.format]);
    *out = t;
    return PCE_OK;
}

pce_status pce_chat_template_create(pce_context *ctx, const char *jinja, pce_chat_template **out)
{
    if (!ctx)
        return PCE_ERR_INVALID_ARGUMENT;
    return create_template(ctx, jinja, NULL, out);
}

pce_status pce_chat_template_from_file(pce_context *ctx, const pce_model_file *f,
                                       pce_chat_template **out)
{
    if (!ctx)
        return PCE_ERR_INVALID_ARGUMENT;
    if (out)
        *out = NULL;
    if (!f || !out)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "chat template: %s is NULL",
                        !f ? "the model file" : "out");
    pce_meta m;
    if (pce_model_file_meta_find(f, "tokenizer.chat_template", &m) != PCE_OK)
        return pce_fail(ctx, PCE_ERR_NOT_FOUND,
                        "the model file has no chat template (tokenizer.chat_template)");
    if (m.type != PCE_META_STRING)
        return pce_fail(ctx, PCE_ERR_FORMAT, "tokenizer.chat_template is not a string");
    if (memchr(m.str, 0, m.str_len))
        return pce_fail(ctx, PCE_ERR_FORMAT, "tokenizer.chat_template holds a NUL byte");
    char *jinja = dup_n(m.str, m.str_len);
    /* bos_token is the vocabulary's, where it names one */
    char *bos = NULL;
    pce_meta id;
    const char *piece;
    size_t piece_len;
    if (pce_model_file_meta_find(f, "tokenizer.ggml.bos_token_id", &id) == PCE_OK &&
        (id.type <= PCE_META_I32 || id.type == PCE_META_U64 || id.type == PCE_META_I64) &&
        id.i >= 0 &&
        pce_model_file_meta_array_string(f, "tokenizer.ggml.tokens", (uint64_t)id.i, &piece,
                                         &piece_len) == PCE_OK)
        bos = dup_n(piece, piece_len);
    if (!jinja) {
        free(bos);
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "chat template: copying %zu bytes", m.str_len);
    }
    pce_status st = create_template(ctx, jinja, bos, out);
    free(jinja);
    free(bos);
    return st;
}

void pce_chat_template_destroy(pce_chat_template *t)
{
    free_template(t);
}

const char *pce_chat_template_name(const pce_chat_template *t)
{
    return t ? format_names[t->format] : NULL;
}

/* ---- rendering ------------------------------------------------------------------- */

/* Python's str.isspace, which Jinja's trim uses. */
static bool py_space(unsigned long cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* The code point of the (valid) UTF-8 sequence at s[0..n), its length in
 * *len; 0 with *len 0 for an invalid one. */
static unsigned long utf8_at(const unsigned char *s, size_t n, size_t *len)
{
    *len = 0;
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    size_t k = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (!k || k > n)
        return 0;
    unsigned long cp = k == 1 ? c : c & (0x7f >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    *len = k;
    return cp;
}

/* Jinja's |trim: Python's str.strip() on the text's characters. */
static void put_trimmed(str *o, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t a = 0, b = strlen(text), k;
    while (a < b) {
        unsigned long cp = utf8_at(s + a, b - a, &k);
        if (!k || !py_space(cp))
            break;
        a += k;
    }
    while (b > a) {
        size_t start = b - 1;
        while (start > a && (s[start] & 0xc0) == 0x80 && b - start < 4)
            start--;
        unsigned long cp = utf8_at(s + start, b - start, &k);
        if (!k || start + k != b || !py_space(cp))
            break;
        b = start;
    }
    put(o, text + a, b - a);
}

static void render_chatml(const pce_chat_template *t, const pce_chat_message *msgs, size_t n,
                          bool gen, str *o)
{
    if (t->default_system && n > 0 && strcmp(msgs[0].role, "system") != 0)
        puts_(o, t->default_system);
    for (size_t i = 0; i < n; i++) {
        puts_(o, "<|im_start|>");
        puts_(o, msgs[i].role);
        puts_(o, "\n");
        puts_(o, msgs[i].content);
        puts_(o, "<|im_end|>\n");
    }
    if (gen)
        puts_(o, "<|im_start|>assistant\n");
}

static void render_deepseek_r1(const pce_chat_template *t, const pce_chat_message *msgs, size_t n,
                               bool gen, str *o)
{
    const char *system = "";
    for (size_t i = 0; i < n; i++)
        if (strcmp(msgs[i].role, "system") == 0)
            system = msgs[i].content;
    puts_(o, t->bos);
    puts_(o, system);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(msgs[i].role, "user") == 0) {
            puts_(o, "<｜User｜>");
            puts_(o, msgs[i].content);
        } else if (strcmp(msgs[i].role, "assistant") == 0) {
            /* what follows the last </think>: the reasoning is not kept */
            const char *c = msgs[i].content;
            for (const char *at = strstr(c, "</think>"); at; at = strstr(at + 1, "</think>"))
                c = at + strlen("</think>");
            puts_(o, "<｜Assistant｜>");
            puts_(o, c);
            puts_(o, "<｜end▁of▁sentence｜>");
        }
    }
    if (gen)
        puts_(o, t->generation_prompt);
}

static void render_llama3(const pce_chat_template *t, const pce_chat_message *msgs, size_t n,
                          bool gen, str *o)
{
    size_t first = 0;
    if (t->system_preamble) {
        puts_(o, t->bos);
        puts_(o, "<|start_header_id|>system<|end_header_id|>\n\n");
        puts_(o, t->system_preamble);
        if (n > 0 && strcmp(msgs[0].role, "system") == 0) {
            put_trimmed(o, msgs[0].content);
            first = 1;
        }
        puts_(o, "<|eot_id|>");
    }
    for (size_t i = first; i < n; i++) {
        if (i == 0 && !t->system_preamble) /* Llama 3: BOS opens the first turn */
            puts_(o, t->bos);
        puts_(o, "<|start_header_id|>");
        puts_(o, msgs[i].role);
        puts_(o, "<|end_header_id|>\n\n");
        put_trimmed(o, msgs[i].content);
        puts_(o, "<|eot_id|>");
    }
    if (gen)
        puts_(o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

pce_status pce_chat_apply(const pce_chat_template *t, const pce_chat_message *msgs, size_t n,
                          bool add_generation_prompt, char *buf, size_t cap, size_t *len)
{
    if (!t)
        return PCE_ERR_INVALID_ARGUMENT;
    pce_context *ctx = t->ctx;
    if (!len || (!buf && cap) || (!msgs && n))
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "chat apply: %s is NULL",
                        !len          ? "len"
                        : !buf && cap ? "buf"
                                      : "msgs");
    for (size_t i = 0; i < n; i++) {
        const char *role = msgs[i].role;
        if (!role || !*role)
            return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "chat apply: message %zu has %s role", i,
                            role ? "an empty" : "no");
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant"))
            return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                            "chat apply: message %zu has role '%.40s' (system, user or assistant)",
                            i, role);
        if (!msgs[i].content)
            return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                            "chat apply: message %zu (%s) has no "
                            "content",
                            i, role);
    }
    str o = {0};
    put(&o, "", 0);
    switch (t->format) {
    case FMT_CHATML: render_chatml(t, msgs, n, add_generation_prompt, &o); break;
    case FMT_DEEPSEEK_R1: render_deepseek_r1(t, msgs, n, add_generation_prompt, &o); break;
    case FMT_LLAMA3: render_llama3(t, msgs, n, add_generation_prompt, &o); break;
    }
    if (o.oom) {
        free(o.p);
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "chat apply: the prompt of %zu messages", n);
    }
    *len = o.n;
    if (o.n > cap) {
        free(o.p);
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT,
                        "chat apply: the prompt is %zu bytes, the buffer %zu", *len, cap);
    }
    if (buf) {
        memcpy(buf, o.p, o.n);
        if (cap > o.n)
            buf[o.n] = 0;
    }
    free(o.p);
    return PCE_OK;
}
