/* test_generate.c — pce_generate on the real SmolLM2-135M (tests/
 * fetch_model.sh; SKIP without it unless PCE_REQUIRE_MODEL=1): greedy
 * generation equals the argmax loop over pce_llm_eval; the streamed text is
 * the decoding of the sampled tokens; stop strings cut the answer before
 * them and are never streamed; max_tokens, the callback and a full context
 * stop it; a rewound model answers as a fresh one; a tokenizer that does
 * not belong to the model is refused. With argv[1] the vocabulary folder of
 * tests/fetch_vocab.sh (the qwen2 vocabulary is the foreign tokenizer). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_path.h"
#include "pce.h"
#include "pce_text.h"

static char model[1024];
static const char *vocab_dir;

typedef struct fixture {
    pce_context *ctx;
    pce_model_file *file;
    pce_llm *m;
    pce_tokenizer *tok;
    pce_sampler *greedy;
    int32_t prompt[128];
    size_t n_prompt;
} fixture;

static void setup(fixture *f, int context)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(pce_context_create(NULL, &f->ctx), PCE_OK);
    pce_context_set_log(f->ctx, PCE_LOG_ERROR, NULL, NULL);
    pce_llm_options o;
    pce_llm_options_init(&o);
    o.devices = "cpu0";
    o.context = context;
    ck_assert_msg(pce_llm_load(f->ctx, model, &o, &f->m) == PCE_OK, "%s",
                  pce_context_last_error(f->ctx));
    ck_assert_int_eq(pce_model_file_open(f->ctx, model, &f->file), PCE_OK);
    ck_assert_int_eq(pce_tokenizer_create(f->ctx, f->file, &f->tok), PCE_OK);
    pce_sampler_options so;
    pce_sampler_options_init(&so);
    so.temperature = 0;
    pce_llm_info in;
    pce_llm_get_info(f->m, &in);
    ck_assert_int_eq(pce_sampler_create(f->ctx, &so, in.n_vocab, &f->greedy), PCE_OK);
    static const char text[] = "<|im_start|>user\nName three colours of the rainbow.<|im_end|>\n"
                               "<|im_start|>assistant\n";
    pce_tokenize_options to;
    pce_tokenize_options_init(&to);
    to.parse_special = true;
    to.add_special = false;
    ck_assert_int_eq(
        pce_tokenizer_encode(f->tok, text, strlen(text), &to, f->prompt, 128, &f->n_prompt),
        PCE_OK);
    ck_assert_uint_gt(f->n_prompt, 10);
}

static void teardown(fixture *f)
{
    pce_sampler_destroy(f->greedy);
    pce_tokenizer_destroy(f->tok);
    pce_model_file_close(f->file);
    pce_llm_destroy(f->m);
    pce_context_destroy(f->ctx);
}

typedef struct sink {
    char text[8192];
    size_t len;
    int calls, stop_after; /* stop_after > 0: say stop on that call */
} sink;

static bool on_text(void *user, const char *t, size_t n)
{
    sink *s = user;
    ck_assert_uint_lt(s->len + n, sizeof s->text);
    memcpy(s->text + s->len, t, n);
    s->len += n;
    s->text[s->len] = 0;
    s->calls++;
    return !(s->stop_after > 0 && s->calls >= s->stop_after);
}

static pce_generate_stats gen(fixture *f, int max, const char *const *stop, sink *s, int32_t *ids,
                              size_t cap)
{
    pce_generate_options go;
    pce_generate_options_init(&go);
    go.max_tokens = max;
    go.stop = stop;
    go.on_text = on_text;
    go.user = s;
    go.tokens = ids;
    go.tokens_cap = cap;
    pce_generate_stats st;
    pce_status rc = pce_generate(f->m, f->tok, f->greedy, f->prompt, f->n_prompt, &go, &st);
    ck_assert_msg(rc == PCE_OK, "generate: %s", pce_context_last_error(f->ctx));
    return st;
}

static int llm_argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

START_TEST(greedy_is_the_argmax_loop_and_streams_its_text)
{
    fixture f;
    setup(&f, 256);
    sink s = {0};
    int32_t ids[48];
    pce_generate_stats st = gen(&f, 48, NULL, &s, ids, 48);
    ck_assert_int_eq(st.prompt_tokens, (int)f.n_prompt);
    ck_assert_int_ge(st.generated_tokens, 4);
    ck_assert_int_le(st.generated_tokens, 48);
    ck_assert(st.prefill_ms > 0 && st.ttft_ms >= st.prefill_ms && st.decode_ms >= 0);
    ck_assert_int_eq(pce_llm_position(f.m), (int)f.n_prompt + st.decode_evals);
    /* the same by hand */
    pce_llm_info in;
    pce_llm_get_info(f.m, &in);
    float *logits = malloc((size_t)in.n_vocab * sizeof *logits);
    pce_llm_reset(f.m);
    ck_assert_int_eq(pce_llm_eval(f.m, f.prompt, (int)f.n_prompt, logits, false), PCE_OK);
    int n_text = st.generated_tokens;
    for (int i = 0; i < st.generated_tokens; i++) {
        int32_t t = llm_argmax(logits, in.n_vocab);
        ck_assert_msg(t == ids[i], "token %d: generate %d, argmax %d", i, ids[i], t);
        if (pce_tokenizer_is_eog(f.tok, t)) {
            ck_assert_int_eq(i, st.generated_tokens - 1);
            ck_assert_str_eq(st.stop_reason, "eos");
            n_text = i;
            break;
        }
        if (i + 1 < st.generated_tokens)
            ck_assert_int_eq(pce_llm_eval(f.m, &t, 1, logits, false), PCE_OK);
    }
    /* what was streamed is the text of the tokens (the EOG token not shown) */
    char dec[8192];
    size_t dl = 0;
    ck_assert_int_eq(pce_tokenizer_decode(f.tok, ids, (size_t)n_text, false, dec, sizeof dec, &dl),
                     PCE_OK);
    ck_assert_uint_eq(dl, s.len);
    ck_assert_mem_eq(dec, s.text, dl);
    ck_assert_uint_gt(s.len, 5);
    free(logits);
    teardown(&f);
}
END_TEST

START_TEST(stop_strings_cut_the_answer_before_them)
{
    fixture f;
    setup(&f, 256);
    sink full = {0};
    gen(&f, 48, NULL, &full, NULL, 0);
    ck_assert_uint_gt(full.len, 12);
    /* a stop string from the middle of the answer: 4 bytes at a third of it
     * (moved back to a character's start) */
    size_t at = full.len / 3;
    while (at > 0 && ((unsigned char)full.text[at] & 0xC0) == 0x80)
        at--;
    char stop[8] = {0};
    memcpy(stop, full.text + at, 4);
    while (((unsigned char)stop[strlen(stop) - 1] & 0xC0) == 0x80 ||
           (unsigned char)stop[strlen(stop) - 1] >= 0xC0)
        stop[strlen(stop) - 1] = 0; /* no split character at the end */
    ck_assert_uint_gt(strlen(stop), 0);
    const char *first = strstr(full.text, stop);
    ck_assert_ptr_nonnull(first);
    size_t want = (size_t)(first - full.text);
    const char *const stops[] = {"never in any answer \x01", stop, NULL};
    pce_llm_reset(f.m);
    pce_sampler_reset(f.greedy);
    sink cut = {0};
    pce_generate_stats st = gen(&f, 48, stops, &cut, NULL, 0);
    ck_assert_str_eq(st.stop_reason, "stop string");
    ck_assert_uint_eq(cut.len, want);
    ck_assert_mem_eq(cut.text, full.text, want);
    ck_assert_ptr_null(strstr(cut.text, stop));
    teardown(&f);
}
END_TEST

START_TEST(length_callback_and_context_stop_it)
{
    fixture f;
    setup(&f, 256);
    sink s = {0};
    pce_generate_stats st = gen(&f, 5, NULL, &s, NULL, 0);
    ck_assert_str_eq(st.stop_reason, "length");
    ck_assert_int_eq(st.generated_tokens, 5);
    ck_assert_int_eq(st.decode_evals, 4); /* the last token is not evaluated */
    pce_llm_reset(f.m);
    sink once = {.stop_after = 1};
    st = gen(&f, 40, NULL, &once, NULL, 0);
    ck_assert_str_eq(st.stop_reason, "callback");
    ck_assert_int_eq(once.calls, 1);
    teardown(&f);
    /* a context just past the prompt */
    setup(&f, (int)0);
    pce_llm_destroy(f.m);
    pce_llm_options o;
    pce_llm_options_init(&o);
    o.devices = "cpu0";
    o.context = (int)f.n_prompt + 3;
    ck_assert_int_eq(pce_llm_load(f.ctx, model, &o, &f.m), PCE_OK);
    sink c = {0};
    st = gen(&f, 40, NULL, &c, NULL, 0);
    ck_assert_msg(!strcmp(st.stop_reason, "context full") || !strcmp(st.stop_reason, "eos"), "%s",
                  st.stop_reason);
    ck_assert_int_le(pce_llm_position(f.m), (int)f.n_prompt + 3);
    /* and a prompt that does not fit is an error, not a crash */
    pce_llm_reset(f.m);
    pce_llm_options_init(&o);
    pce_generate_options go;
    pce_generate_options_init(&go);
    pce_llm_destroy(f.m);
    o.devices = "cpu0";
    o.context = 8;
    ck_assert_int_eq(pce_llm_load(f.ctx, model, &o, &f.m), PCE_OK);
    ck_assert_int_eq(pce_generate(f.m, f.tok, f.greedy, f.prompt, f.n_prompt, &go, NULL),
                     PCE_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(pce_context_last_error(f.ctx), "context"));
    teardown(&f);
}
END_TEST

/* Rewinding keeps the rows before the position and forgets the rest: to 0
 * it is a reset (the same plan on the same input: the same logits, bit for
 * bit); to the middle of the prompt, the rest of the prompt evaluated again
 * gives the full prompt's logits but for the rounding of a differently
 * shaped step (a model that kept the forgotten rows would attend to the
 * half prompt twice, far off). */
START_TEST(a_rewound_model_answers_as_a_fresh_one)
{
    fixture f;
    setup(&f, 256);
    pce_llm_info in;
    pce_llm_get_info(f.m, &in);
    size_t nv = (size_t)in.n_vocab;
    float *fresh = malloc(nv * sizeof *fresh), *again = malloc(nv * sizeof *again);
    ck_assert_int_eq(pce_llm_eval(f.m, f.prompt, (int)f.n_prompt, fresh, false), PCE_OK);
    int32_t t = llm_argmax(fresh, in.n_vocab);
    ck_assert_int_eq(pce_llm_eval(f.m, &t, 1, again, false), PCE_OK);
    ck_assert_int_eq(pce_llm_rewind(f.m, 0), PCE_OK);
    ck_assert_int_eq(pce_llm_eval(f.m, f.prompt, (int)f.n_prompt, again, false), PCE_OK);
    ck_assert_mem_eq(fresh, again, nv * sizeof *fresh);
    size_t half = f.n_prompt / 2;
    ck_assert_int_eq(pce_llm_rewind(f.m, (int)half), PCE_OK);
    ck_assert_int_eq(pce_llm_position(f.m), (int)half);
    ck_assert_int_eq(pce_llm_rewind(f.m, (int)half + 1), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_llm_eval(f.m, f.prompt + half, (int)(f.n_prompt - half), again, false),
                     PCE_OK);
    double num = 0, den = 0;
    for (size_t j = 0; j < nv; j++) {
        num += ((double)again[j] - fresh[j]) * ((double)again[j] - fresh[j]);
        den += (double)fresh[j] * fresh[j];
    }
    ck_assert_msg(num / den < 1e-3, "after a rewind: nmse %.3g from the fresh logits", num / den);
    /* and a generation goes on from there */
    ck_assert_int_eq(pce_llm_rewind(f.m, (int)half), PCE_OK);
    sink b = {0};
    pce_generate_options go;
    pce_generate_options_init(&go);
    go.max_tokens = 8;
    go.on_text = on_text;
    go.user = &b;
    pce_generate_stats sb;
    ck_assert_int_eq(
        pce_generate(f.m, f.tok, f.greedy, f.prompt + half, f.n_prompt - half, &go, &sb), PCE_OK);
    ck_assert_int_eq(sb.prompt_tokens, (int)(f.n_prompt - half));
    ck_assert_int_eq(pce_llm_position(f.m), (int)f.n_prompt + sb.decode_evals);
    free(fresh);
    free(again);
    teardown(&f);
}
END_TEST

START_TEST(a_foreign_tokenizer_is_refused)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/ggml-vocab-qwen2.gguf", vocab_dir ? vocab_dir : ".");
    FILE *vf = fopen(path, "rb");
    if (!vf) {
        printf("%s not found (tests/fetch_vocab.sh): the foreign tokenizer case is skipped\n",
               path);
        return;
    }
    fclose(vf);
    fixture f;
    setup(&f, 256);
    pce_model_file *qf;
    pce_tokenizer *qt;
    ck_assert_int_eq(pce_model_file_open_metadata(f.ctx, path, &qf), PCE_OK);
    ck_assert_int_eq(pce_tokenizer_create(f.ctx, qf, &qt), PCE_OK);
    ck_assert_int_eq(pce_tokenizer_check_llm(qt, f.m), PCE_ERR_INVALID_ARGUMENT);
    const char *msg = pce_context_last_error(f.ctx);
    ck_assert_msg(strstr(msg, "151") && strstr(msg, "49152"), "%s", msg);
    ck_assert_int_eq(pce_generate(f.m, qt, f.greedy, f.prompt, f.n_prompt, NULL, NULL),
                     PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_llm_position(f.m), 0); /* nothing evaluated */
    ck_assert_int_eq(pce_tokenizer_check_llm(f.tok, f.m), PCE_OK);
    pce_tokenizer_destroy(qt);
    pce_model_file_close(qf);
    teardown(&f);
}
END_TEST

int main(int argc, char **argv)
{
    vocab_dir = argc > 1 ? argv[1] : NULL;
    int rc = smollm2_path(model, sizeof model);
    if (rc != 0)
        return rc;
    Suite *s = suite_create("generate");
    TCase *tc = tcase_create("smollm2");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, greedy_is_the_argmax_loop_and_streams_its_text);
    tcase_add_test(tc, stop_strings_cut_the_answer_before_them);
    tcase_add_test(tc, length_callback_and_context_stop_it);
    tcase_add_test(tc, a_rewound_model_answers_as_a_fresh_one);
    tcase_add_test(tc, a_foreign_tokenizer_is_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
