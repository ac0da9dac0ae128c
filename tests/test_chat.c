/* test_chat.c — chat templates against jinja2: every real template in
 * tests/fixtures/chat (SmolLM2, Qwen2, Qwen2.5, three DeepSeek-R1 distills,
 * Llama 3 and 3.1, written by tests/oracle/make_chat_fixture.py) is
 * recognised as its format and renders byte-identical to jinja2 (as
 * transformers renders) on every conversation, with and without the
 * generation prompt; the templates pce cannot render (Qwen3, QwQ, Llama 3.2,
 * Phi-3, Gemma 2, llama.cpp's own deepseek-r1) and made-up or altered ones
 * are UNSUPPORTED, quoting the template; the buffer protocol; bad messages;
 * the template and bos_token read from a GGUF file written here, and from
 * the SmolLM2 and DeepSeek-R1-Distill-Qwen-7B files when they are in the
 * cache (SKIP otherwise).
 *
 * Usage: test-chat FIXTURE_DIR   (tests/fixtures/chat)
 */
#include <check.h>

#include "pce.h"
#include "pce_text.h"
#include "model_path.h"
#include "slurp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *g_dir = ".";
static char g_tmp[256];
static pce_context *ctx;

static void setup(void)
{
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
}

static void teardown(void)
{
    pce_context_destroy(ctx);
    ctx = NULL;
}

static char *fixture_text(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    return slurp(path, NULL);
}

/* ---- renderings.txt ----------------------------------------------------------- */

typedef struct conv {
    int n;
    pce_chat_message *msgs;
} conv;

typedef struct rendering {
    int conv;
    bool gen;
    char *text;
    size_t len;
} rendering;

typedef struct fixture_template {
    char file[128], format[32];
    char *bos;
    rendering *r;
    int n_r;
} fixture_template;

static conv g_conv[64];
static int g_n_conv;
static fixture_template g_tmpl[32];
static int g_n_tmpl;
static char g_refuse[32][128];
static int g_n_refuse;

typedef struct cursor {
    const char *p, *end;
} cursor;

static bool next_line(cursor *c, char *line, size_t cap)
{
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    if (!nl || (size_t)(nl - c->p) >= cap)
        return false;
    memcpy(line, c->p, (size_t)(nl - c->p));
    line[nl - c->p] = 0;
    c->p = nl + 1;
    return true;
}

/* The blob of `len` bytes after a header line, and its newline. */
static char *take(cursor *c, size_t len)
{
    if ((size_t)(c->end - c->p) < len + 1 || c->p[len] != '\n')
        return NULL;
    char *s = malloc(len + 1);
    memcpy(s, c->p, len);
    s[len] = 0;
    c->p += len + 1;
    return s;
}

static const char *load_fixture(void)
{
    static char err[600];
    size_t n;
    char path[512];
    snprintf(path, sizeof path, "%s/renderings.txt", g_dir);
    /* read without check's asserts: no test is running yet */
    FILE *fh = fopen(path, "rb");
    if (!fh || fseek(fh, 0, SEEK_END) != 0) {
        snprintf(err, sizeof err, "%s: cannot read", path);
        return err;
    }
    n = (size_t)ftell(fh);
    rewind(fh);
    char *data = malloc(n + 1);
    if (!data || fread(data, 1, n, fh) != n) {
        fclose(fh);
        snprintf(err, sizeof err, "%s: cannot read", path);
        return err;
    }
    fclose(fh);
    cursor c = {data, data + n};
    char line[512];
    if (!next_line(&c, line, sizeof line) || strcmp(line, "PCECHAT1") != 0)
        return "renderings.txt: not PCECHAT1";
    while (c.p < c.end) {
        if (!next_line(&c, line, sizeof line))
            return "renderings.txt: a line is too long or unterminated";
        int a, b;
        size_t len;
        char role[32], file[128], format[32];
        if (sscanf(line, "conv %d", &a) == 1) {
            if (g_n_conv == 64)
                return "renderings.txt: too many conversations";
            g_conv[g_n_conv].msgs = calloc((size_t)a, sizeof(pce_chat_message));
            g_conv[g_n_conv++].n = 0;
        } else if (sscanf(line, "msg %31s %zu", role, &len) == 2) {
            conv *cv = &g_conv[g_n_conv - 1];
            char *text = take(&c, len);
            if (!text)
                return "renderings.txt: a message is cut short";
            cv->msgs[cv->n].role = strdup(role);
            cv->msgs[cv->n++].content = text;
        } else if (sscanf(line, "template %127s %31s %zu", file, format, &len) == 3) {
            fixture_template *t = &g_tmpl[g_n_tmpl++];
            snprintf(t->file, sizeof t->file, "%s", file);
            snprintf(t->format, sizeof t->format, "%s", format);
            t->bos = take(&c, len);
            t->r = calloc(2 * 64, sizeof *t->r);
        } else if (sscanf(line, "render %d %d %zu", &a, &b, &len) == 3) {
            fixture_template *t = &g_tmpl[g_n_tmpl - 1];
            rendering *r = &t->r[t->n_r++];
            r->conv = a;
            r->gen = b != 0;
            r->len = len;
            r->text = take(&c, len);
            if (!r->text || a >= g_n_conv)
                return "renderings.txt: a rendering is cut short";
        } else if (sscanf(line, "refuse %127s", file) == 1) {
            snprintf(g_refuse[g_n_refuse++], sizeof g_refuse[0], "%s", file);
        } else {
            snprintf(err, sizeof err, "renderings.txt: unknown line '%.60s'", line);
            return err;
        }
    }
    free(data);
    return NULL;
}

/* ---- helpers ------------------------------------------------------------------ */

static pce_chat_template *create_ok(const char *jinja, const char *what)
{
    pce_chat_template *t = NULL;
    pce_status st = pce_chat_template_create(ctx, jinja, &t);
    ck_assert_msg(st == PCE_OK, "%s: %s: %s", what, pce_status_name(st),
                  pce_context_last_error(ctx));
    ck_assert_ptr_nonnull(t);
    return t;
}

/* The rendering of conversation cv, checked against want. */
static void check_render(const pce_chat_template *t, const conv *cv, bool gen, const char *want,
                         size_t want_len, const char *what)
{
    size_t len = 12345;
    ck_assert_int_eq(pce_chat_apply(t, cv->msgs, (size_t)cv->n, gen, NULL, 0, &len),
                     want_len ? PCE_ERR_INVALID_ARGUMENT : PCE_OK);
    ck_assert_msg(len == want_len, "%s: length %zu, jinja2's %zu", what, len, want_len);
    char *buf = malloc(want_len + 1);
    memset(buf, 0x5a, want_len + 1);
    pce_status st = pce_chat_apply(t, cv->msgs, (size_t)cv->n, gen, buf, want_len + 1, &len);
    ck_assert_msg(st == PCE_OK, "%s: %s: %s", what, pce_status_name(st),
                  pce_context_last_error(ctx));
    size_t at = 0;
    while (at < want_len && buf[at] == want[at])
        at++;
    ck_assert_msg(
        at == want_len && buf[want_len] == 0,
        "%s: differs from jinja2 at byte %zu of %zu:\n  pce:    '%.60s'\n  jinja2: '%.60s'", what,
        at, want_len, buf + at, want + at);
    free(buf);
}

/* UNSUPPORTED, and the message quotes the template's first characters (as
 * pce escapes them: \n \t \r \" \\). */
static void refused(const char *jinja, const char *what, const char *also)
{
    pce_chat_template *t = (pce_chat_template *)1;
    pce_status st = pce_chat_template_create(ctx, jinja, &t);
    const char *msg = pce_context_last_error(ctx);
    ck_assert_msg(st == PCE_ERR_UNSUPPORTED, "%s: %s, expected UNSUPPORTED (%s)", what,
                  pce_status_name(st), msg);
    ck_assert_ptr_null(t);
    char quote[128];
    size_t o = 0;
    for (size_t i = 0; jinja[i] && i < 24; i++) {
        char ch = jinja[i];
        if (strchr("\n\t\r\"\\", ch)) {
            quote[o++] = '\\';
            ch = ch == '\n' ? 'n' : ch == '\t' ? 't' : ch == '\r' ? 'r' : ch;
        }
        quote[o++] = ch;
    }
    quote[o] = 0;
    ck_assert_msg(strstr(msg, quote) != NULL, "%s: message '%s' lacks the quote '%s'", what, msg,
                  quote);
    if (also)
        ck_assert_msg(strstr(msg, also) != NULL, "%s: message '%s' lacks '%s'", what, msg, also);
}

/* s with every occurrence of `from` replaced by `to` (malloc'd). */
static char *replace(const char *s, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to), count = 0;
    for (const char *p = strstr(s, from); p; p = strstr(p + nf, from))
        count++;
    ck_assert_msg(count > 0, "'%s' is not in the template", from);
    char *out = malloc(strlen(s) + count * nt + 1), *o = out;
    for (const char *p = s, *q; (q = strstr(p, from)); p = q + nf) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, to, nt);
        o += nt;
        s = q + nf;
    }
    strcpy(o, s);
    return out;
}

static const fixture_template *find_template(const char *file)
{
    for (int i = 0; i < g_n_tmpl; i++)
        if (strcmp(g_tmpl[i].file, file) == 0)
            return &g_tmpl[i];
    ck_abort_msg("%s is not in renderings.txt", file);
    return NULL;
}

/* Every rendering of fixture template `ft` by t. */
static void check_all(const pce_chat_template *t, const fixture_template *ft, const char *what)
{
    for (int k = 0; k < ft->n_r; k++) {
        const rendering *r = &ft->r[k];
        char label[256];
        snprintf(label, sizeof label, "%s, conversation %d, generation prompt %s", what, r->conv,
                 r->gen ? "on" : "off");
        check_render(t, &g_conv[r->conv], r->gen, r->text, r->len, label);
    }
}

/* ---- real templates ------------------------------------------------------------- */

START_TEST(real_templates_render_as_jinja2)
{
    ck_assert_int_ge(g_n_tmpl, 8);
    for (int i = 0; i < g_n_tmpl; i++) {
        const fixture_template *ft = &g_tmpl[i];
        char *jinja = fixture_text(ft->file);
        pce_chat_template *t = create_ok(jinja, ft->file);
        ck_assert_msg(strcmp(pce_chat_template_name(t), ft->format) == 0, "%s: %s, expected %s",
                      ft->file, pce_chat_template_name(t), ft->format);
        ck_assert_int_eq(ft->n_r, 2 * g_n_conv);
        check_all(t, ft, ft->file);
        pce_chat_template_destroy(t);
        free(jinja);
    }
}
END_TEST

START_TEST(real_templates_refused)
{
    ck_assert_int_ge(g_n_refuse, 5);
    for (int i = 0; i < g_n_refuse; i++) {
        char *jinja = fixture_text(g_refuse[i]);
        refused(jinja, g_refuse[i], NULL);
        free(jinja);
    }
}
END_TEST

/* The same template written differently (trim markers, spacing, quotes,
 * x.key for x['key'], one literal split in two) is the same format. */
START_TEST(formatting_does_not_matter)
{
    const fixture_template *ft = find_template("smollm2.jinja");
    char *orig = fixture_text("smollm2.jinja");
    char *a = replace(orig,
                      "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
                      "'<|im_end|>' + '\n'}}",
                      "{{- \"<|im_start|>\" + message.role + \"\\n\" + message.content + "
                      "\"<|im_end|>\\n\" -}}");
    char *b = replace(a, "{% for message in messages %}", "{%- for message in messages -%}\n  ");
    char *c = replace(b, "{% endfor %}", "\n{%- endfor %}\n");
    pce_chat_template *t = create_ok(c, "smollm2 reformatted");
    ck_assert_str_eq(pce_chat_template_name(t), "chatml");
    check_all(t, ft, "smollm2 reformatted");
    pce_chat_template_destroy(t);
    free(a);
    free(b);
    free(c);

    /* a different default system prompt is taken from the template */
    a = replace(orig, "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
                "Du bist ein hilfreicher Assistent. \\u00dc");
    t = create_ok(a, "smollm2 in German");
    size_t len;
    char buf[512];
    const conv *cv = &g_conv[0];
    ck_assert_int_eq(pce_chat_apply(t, cv->msgs, 1, true, buf, sizeof buf, &len), PCE_OK);
    ck_assert_str_eq(buf, "<|im_start|>system\nDu bist ein hilfreicher Assistent. Ü<|im_end|>\n"
                          "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n");
    pce_chat_template_destroy(t);
    free(a);
    free(orig);
}
END_TEST

/* Templates that differ from a known one where it matters are refused. */
START_TEST(altered_templates_refused)
{
    char *smol = fixture_text("smollm2.jinja");
    /* no newline after <|im_end|> */
    char *a = replace(smol, "'<|im_end|>' + '\n'", "'<|im_end|>'");
    refused(a, "smollm2 without the newline", "chatml");
    free(a);
    /* text outside the tags */
    a = replace(smol, "{% endfor %}", "{% endfor %}\nReply briefly.\n");
    refused(a, "smollm2 with text of its own", "outside");
    free(a);
    /* content trimmed */
    a = replace(smol, "message['content']", "message['content'] | trim");
    refused(a, "smollm2 with trim", "<|im_start|>");
    free(a);
    free(smol);

    char *ds = fixture_text("deepseek-r1-distill-qwen-7b.jinja");
    /* the reasoning kept */
    a = replace(ds, "{% set content = content.split('</think>')[-1] %}", "");
    refused(a, "deepseek keeping </think>", "<｜Assistant｜>");
    free(a);
    free(ds);

    char *l3 = fixture_text("llama3.jinja");
    a = replace(l3, "message['content'] | trim", "message['content']");
    refused(a, "llama3 without trim", "<|start_header_id|>");
    free(a);
    free(l3);
}
END_TEST

START_TEST(unknown_templates_refused)
{
    refused("{% for m in messages %}<<{{ m.role }}>>\n{{ m.content }}{% endfor %}", "made up",
            "not one pce can render");
    refused("{{ bos_token }}{% for message in messages %}{{ '### ' + message['role'] + ': ' + "
            "message['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '### "
            "assistant: ' }}{% endif %}",
            "made up in tags only", "chatml, deepseek-r1 and llama3");
    refused("", "empty", NULL);
    refused("{{ 'unclosed }}", "an unclosed string", "not closed");
    pce_chat_template *t = (pce_chat_template *)1;
    ck_assert_int_eq(pce_chat_template_create(ctx, NULL, &t), PCE_ERR_INVALID_ARGUMENT);
}
END_TEST

/* chatml without a system prompt of its own (OpenHermes 2.5's template). */
START_TEST(plain_chatml)
{
    pce_chat_template *t = create_ok(
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
        "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt "
        "%}{{ '<|im_start|>assistant\\n' }}{% endif %}",
        "OpenHermes-2.5");
    ck_assert_str_eq(pce_chat_template_name(t), "chatml");
    pce_chat_message m[2] = {{"user", "Hi"}, {"assistant", "Hello"}};
    char buf[256];
    size_t len;
    ck_assert_int_eq(pce_chat_apply(t, m, 2, false, buf, sizeof buf, &len), PCE_OK);
    ck_assert_str_eq(buf,
                     "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n");
    pce_chat_template_destroy(t);
}
END_TEST

/* ---- the buffer and the messages ----------------------------------------------- */

START_TEST(buffer_protocol)
{
    char *jinja = fixture_text("deepseek-r1-distill-qwen-7b.jinja");
    pce_chat_template *t = create_ok(jinja, "deepseek");
    const conv *cv = &g_conv[2];
    size_t len = 0, len2 = 0;
    ck_assert_int_eq(pce_chat_apply(t, cv->msgs, (size_t)cv->n, true, NULL, 0, &len),
                     PCE_ERR_INVALID_ARGUMENT);
    ck_assert_uint_gt(len, 20);
    char *buf = malloc(len + 2);
    /* too small by one: fails, writes nothing */
    memset(buf, 0x5a, len + 2);
    ck_assert_int_eq(pce_chat_apply(t, cv->msgs, (size_t)cv->n, true, buf, len - 1, &len2),
                     PCE_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(len2, len);
    ck_assert_msg(strstr(pce_context_last_error(ctx), "bytes") != NULL, "%s",
                  pce_context_last_error(ctx));
    for (size_t i = 0; i < len + 2; i++)
        ck_assert_int_eq(buf[i], 0x5a);
    /* exactly the length: written, not terminated */
    ck_assert_int_eq(pce_chat_apply(t, cv->msgs, (size_t)cv->n, true, buf, len, &len2), PCE_OK);
    ck_assert_uint_eq(len2, len);
    ck_assert_int_eq(buf[len], 0x5a);
    ck_assert_int_eq(memcmp(buf, "<｜begin▁of▁sentence｜>", strlen("<｜begin▁of▁sentence｜>")), 0);
    /* one more: terminated */
    ck_assert_int_eq(pce_chat_apply(t, cv->msgs, (size_t)cv->n, true, buf, len + 1, &len2), PCE_OK);
    ck_assert_int_eq(buf[len], 0);
    ck_assert_uint_eq(strlen(buf), len);
    /* no messages: the template's opening and the generation prompt */
    ck_assert_int_eq(pce_chat_apply(t, NULL, 0, true, buf, len + 1, &len2), PCE_OK);
    ck_assert_str_eq(buf, "<｜begin▁of▁sentence｜><｜Assistant｜>");
    ck_assert_int_eq(pce_chat_apply(t, cv->msgs, (size_t)cv->n, true, NULL, 5, &len2),
                     PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_chat_apply(t, cv->msgs, (size_t)cv->n, true, buf, len + 1, NULL),
                     PCE_ERR_INVALID_ARGUMENT);
    free(buf);
    pce_chat_template_destroy(t);
    free(jinja);
}
END_TEST

START_TEST(bad_messages)
{
    char *jinja = fixture_text("smollm2.jinja");
    pce_chat_template *t = create_ok(jinja, "smollm2");
    char buf[512];
    size_t len;
    struct {
        const char *role, *content, *needle;
    } bad[] = {
        {NULL, "x", "no role"},
        {"", "x", "empty role"},
        {"tool", "x", "'tool'"},
        {"user", NULL, "no content"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pce_chat_message m[2] = {{"system", "s"}, {bad[i].role, bad[i].content}};
        ck_assert_int_eq(pce_chat_apply(t, m, 2, true, buf, sizeof buf, &len),
                         PCE_ERR_INVALID_ARGUMENT);
        const char *msg = pce_context_last_error(ctx);
        ck_assert_msg(strstr(msg, bad[i].needle) && strstr(msg, "message 1"),
                      "message '%s' lacks '%s' or the index", msg, bad[i].needle);
    }
    ck_assert_int_eq(pce_chat_apply(t, NULL, 2, true, buf, sizeof buf, &len),
                     PCE_ERR_INVALID_ARGUMENT);
    pce_chat_template_destroy(t);
    free(jinja);
}
END_TEST

/* ---- from a model file ------------------------------------------------------------ */

typedef struct gguf_kv {
    const char *key;
    int type; /* 4 u32, 8 string, 9 array of strings */
    uint32_t u;
    const char *s;
    const char *const *strs;
    int n;
} gguf_kv;

static void w_u32(FILE *f, uint32_t v)
{
    fwrite(&v, 4, 1, f); /* the test machines are little-endian, as GGUF */
}

static void w_u64(FILE *f, uint64_t v)
{
    fwrite(&v, 8, 1, f);
}

static void w_str(FILE *f, const char *s)
{
    w_u64(f, strlen(s));
    fwrite(s, 1, strlen(s), f);
}

/* A GGUF v3 file with metadata only. */
static void write_gguf(const char *path, const gguf_kv *kv, int n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fwrite("GGUF", 1, 4, f);
    w_u32(f, 3);
    w_u64(f, 0);
    w_u64(f, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        w_str(f, kv[i].key);
        w_u32(f, (uint32_t)kv[i].type);
        if (kv[i].type == 4) {
            w_u32(f, kv[i].u);
        } else if (kv[i].type == 8) {
            w_str(f, kv[i].s);
        } else {
            w_u32(f, 8);
            w_u64(f, (uint64_t)kv[i].n);
            for (int k = 0; k < kv[i].n; k++)
                w_str(f, kv[i].strs[k]);
        }
    }
    long pos = ftell(f);
    for (; pos % 32; pos++)
        fputc(0, f);
    fclose(f);
}

static pce_model_file *open_model(const char *path)
{
    pce_model_file *f = NULL;
    pce_status st = pce_model_file_open(ctx, path, &f);
    ck_assert_msg(st == PCE_OK, "%s: %s: %s", path, pce_status_name(st),
                  pce_context_last_error(ctx));
    return f;
}

START_TEST(from_gguf_file)
{
    char *ds = fixture_text("deepseek-r1-distill-qwen-7b.jinja");
    static const char *const tokens[] = {"<unk>", "hello", "<my-bos>", "<my-eos>"};
    gguf_kv kv[] = {
        {"general.architecture", 8, 0, "qwen2", NULL, 0},
        {"tokenizer.ggml.tokens", 9, 0, NULL, tokens, 4},
        {"tokenizer.ggml.bos_token_id", 4, 2, NULL, NULL, 0},
        {"tokenizer.chat_template", 8, 0, ds, NULL, 0},
    };
    char path[300];
    snprintf(path, sizeof path, "%s/with-template.gguf", g_tmp);
    write_gguf(path, kv, 4);
    pce_model_file *f = open_model(path);
    pce_chat_template *t = NULL;
    pce_status st = pce_chat_template_from_file(ctx, f, &t);
    ck_assert_msg(st == PCE_OK, "%s: %s", pce_status_name(st), pce_context_last_error(ctx));
    ck_assert_str_eq(pce_chat_template_name(t), "deepseek-r1");
    pce_model_file_close(f); /* the template keeps what it needs */
    pce_chat_message m[1] = {{"user", "Hi"}};
    char buf[256];
    size_t len;
    ck_assert_int_eq(pce_chat_apply(t, m, 1, true, buf, sizeof buf, &len), PCE_OK);
    /* bos_token is the vocabulary's */
    ck_assert_str_eq(buf, "<my-bos><｜User｜>Hi<｜Assistant｜>");
    pce_chat_template_destroy(t);

    /* no template: NOT_FOUND */
    snprintf(path, sizeof path, "%s/without-template.gguf", g_tmp);
    write_gguf(path, kv, 3);
    f = open_model(path);
    t = (pce_chat_template *)1;
    ck_assert_int_eq(pce_chat_template_from_file(ctx, f, &t), PCE_ERR_NOT_FOUND);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(pce_context_last_error(ctx), "tokenizer.chat_template") != NULL, "%s",
                  pce_context_last_error(ctx));
    pce_model_file_close(f);

    /* a template that is not a string: FORMAT */
    gguf_kv bad[] = {{"tokenizer.chat_template", 4, 7, NULL, NULL, 0}};
    snprintf(path, sizeof path, "%s/number-template.gguf", g_tmp);
    write_gguf(path, bad, 1);
    f = open_model(path);
    ck_assert_int_eq(pce_chat_template_from_file(ctx, f, &t), PCE_ERR_FORMAT);
    pce_model_file_close(f);
    free(ds);
}
END_TEST

static char g_smollm2[512];

/* A real model file's own template: recognised as `name`, and rendering
 * every conversation as jinja2 does with `jinja` (what: for messages).
 * metadata_only: opened as a truncated file can be (its header whole). */
static void check_model_template(const char *path, bool metadata_only, const char *name,
                                 const char *jinja, const char *what)
{
    pce_model_file *f = NULL;
    pce_status st = metadata_only ? pce_model_file_open_metadata(ctx, path, &f)
                                  : pce_model_file_open(ctx, path, &f);
    ck_assert_msg(st == PCE_OK, "%s: %s: %s", path, pce_status_name(st),
                  pce_context_last_error(ctx));
    pce_chat_template *t = NULL;
    ck_assert_int_eq(pce_chat_template_from_file(ctx, f, &t), PCE_OK);
    ck_assert_str_eq(pce_chat_template_name(t), name);
    check_all(t, find_template(jinja), what);
    pce_chat_template_destroy(t);
    pce_model_file_close(f);
}

START_TEST(from_smollm2_model)
{
    check_model_template(g_smollm2, false, "chatml", "smollm2.jinja", "SmolLM2's own file");
}
END_TEST

static char g_deepseek[512];

/* The DeepSeek-R1 distill's own file (a prefix: its header is whole),
 * opened for its metadata: its template and its vocabulary's BOS. */
START_TEST(from_deepseek_model)
{
    check_model_template(g_deepseek, true, "deepseek-r1", "deepseek-r1-distill-qwen-7b.jinja",
                         "the DeepSeek distill's file");
}
END_TEST

static Suite *chat_suite(bool have_smollm2, bool have_deepseek)
{
    Suite *su = suite_create("chat");
    TCase *tc = tcase_create("chat");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, real_templates_render_as_jinja2);
    tcase_add_test(tc, real_templates_refused);
    tcase_add_test(tc, formatting_does_not_matter);
    tcase_add_test(tc, altered_templates_refused);
    tcase_add_test(tc, unknown_templates_refused);
    tcase_add_test(tc, plain_chatml);
    tcase_add_test(tc, buffer_protocol);
    tcase_add_test(tc, bad_messages);
    tcase_add_test(tc, from_gguf_file);
    if (have_smollm2)
        tcase_add_test(tc, from_smollm2_model);
    if (have_deepseek)
        tcase_add_test(tc, from_deepseek_model);
    suite_add_tcase(su, tc);
    return su;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR (tests/fixtures/chat)\n",
                argc > 0 ? argv[0] : "test-chat");
        return 2;
    }
    g_dir = argv[1];
    const char *err = load_fixture();
    if (err) {
        fprintf(stderr, "test-chat: %s (tests/oracle/make_chat_fixture.py writes it)\n", err);
        return 1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(g_tmp, sizeof g_tmp, "%s/pce-chat-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    /* SmolLM2 as the model tests find it (model_path.h: a failure when
     * PCE_REQUIRE_MODEL=1 and it is missing) */
    int miss = smollm2_path(g_smollm2, sizeof g_smollm2);
    if (miss && miss != 77) {
        rmdir(g_tmp);
        return miss;
    }
    bool have = miss == 0;
    /* the DeepSeek distill next to SmolLM2 (models/), else the prefix of it
     * tests/fetch_vocab.sh keeps beside (vocab/): its header, and so its
     * template, is whole */
    const char *slash = strrchr(g_smollm2, '/');
    int dir_len = slash ? (int)(slash - g_smollm2) : 1;
    const char *dir = slash ? g_smollm2 : ".";
    snprintf(g_deepseek, sizeof g_deepseek, "%.*s/DeepSeek-R1-Distill-Qwen-7B.gguf", dir_len, dir);
    if (access(g_deepseek, R_OK) != 0)
        snprintf(g_deepseek, sizeof g_deepseek, "%.*s/../vocab/deepseek-r1-qwen.gguf", dir_len,
                 dir);
    bool have_ds = access(g_deepseek, R_OK) == 0;
    if (!have_ds)
        printf("test-chat: SKIP from_deepseek_model: no %s (tests/fetch_deepseek.sh or "
               "tests/fetch_vocab.sh fetches it)\n",
               g_deepseek);
    SRunner *sr = srunner_create(chat_suite(have, have_ds));
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    const char *names[] = {"with-template.gguf", "without-template.gguf", "number-template.gguf"};
    for (int i = 0; i < 3; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", g_tmp, names[i]);
        unlink(p);
    }
    rmdir(g_tmp);
    return failed ? 1 : 0;
}
