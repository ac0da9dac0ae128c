/* test_llm_tiny.c — pce_llm's two architectures against llama.cpp itself, on
 * two tiny random models small enough to commit (tests/fixtures/llm, made
 * by tests/oracle/make_tiny_models.py with llama.cpp's outputs next to
 * them):
 *   - tiny-qwen2: qwen2 (q/k/v biases, NeoX RoPE), 4 heads over 2 kv heads,
 *     its own output head; Q8_0 and Q4_1 weights;
 *   - tiny-llama: llama (RoPE over adjacent pairs), 8 heads over 4 kv heads,
 *     tied embeddings (the Q8_0 token table is the head); Q4_0, Q8_0, f16;
 *   - tiny-qwen2-k: tiny-qwen2's shape at embedding 256 (ffn 512), quantized
 *     Q4_K_M by llama.cpp's own quantizer: Q4_K and Q6_K, the DeepSeek
 *     distills' formats.
 * For each, on cpu0 and (where there is one) vulkan0 with cpu0 behind it:
 *   - pce_llm_get_info reads the hyperparameters the file holds;
 *   - prefill of the 24 tokens in one graph: the top 1 at every position
 *     equals llama.cpp's (but for near ties, see NEAR_TIE), and the last
 *     position's logits are within LOGIT_NMSE of llama.cpp's;
 *   - prefill of the first 12, then decode one token per step: the same,
 *     at every decoded position and for the last logits; then, after a
 *     reset, the 24 again in one step.
 * Argument: the fixtures folder (tests/fixtures/llm). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_ref.h"
#include "pce.h"

/* Not bit identical to llama.cpp, and not meant to be. The oracle script
 * shows llama.cpp's logits to be a float64 pass of these models with
 * llama.cpp's roundings (8-bit activations into quantized weights, f16
 * ones into f16 weights, the f16 KV cache); the same pass without them is
 * 3.0e-4 (qwen2) and 2.9e-4 (llama) from llama.cpp in last-position
 * normalised MSE. Measured for pce (prefill, decode and after a reset
 * alike):
 *                         tiny-qwen2  tiny-llama  tiny-qwen2-k
 *   cpu0, fast kernels       8.4e-5      2.9e-4      4.6e-4  (avx2: the same;
 *                                                            portable 3.7e-4)
 *   cpu0, reference          3.0e-4      2.9e-4               (PCE_CPU_KERNELS=reference)
 *   vulkan0 (llvmpipe)       3.0e-4      2.9e-4      2.9e-4
 * tiny-qwen2-k: llama.cpp rounds the activations into K-quant weights to 8
 * bits with one scale per 256 (Q8_K), pce with one per 32; the script's
 * exact pass is 2.9e-4 from llama.cpp, as vulkan0 (f32 activations) is.
 * The fast kernels round activations as llama.cpp does: on tiny-qwen2
 * their logits are llama.cpp's bit for bit at 23 of the 24 positions (the
 * last has a value on the other side of a rounding step); tiny-llama's f16
 * weights get f32 activations, which llama.cpp rounds to f16 (the script's
 * pass with that one change is 2.9e-4 away too). The bound is about
 * seven times the largest; a model that gets one thing wrong (the other
 * RoPE pairing, no q/k/v biases, q heads on the wrong kv heads, no causal
 * mask) is 0.05 to 1.4 away, and disagrees on the top 1 at 9 to 23 of the
 * 24 positions. */
#define LOGIT_NMSE 2e-3
/* Where llama.cpp's own two best logits are closer than this fraction of
 * the rms of its logits (twice the rms error of a logit difference
 * measured above; the fixtures have one such position, in tiny-qwen2),
 * either token is an honest top 1: pce must pick one of llama.cpp's five
 * best within that distance, and the test reports it. Everywhere else the
 * top 1 must be the same. */
#define NEAR_TIE 0.05

#define N_TOKENS 24
#define N_PREFILL 12

typedef struct model_case {
    const char *name, *arch;
    int n_layers, n_embd, n_ff, n_head, n_head_kv, n_vocab;
    float rope_theta, norm_eps;
} model_case;

static const model_case models[] = {
    {"tiny-qwen2", "qwen2", 2, 64, 128, 4, 2, 256, 1e6f, 1e-6f},
    {"tiny-llama", "llama", 2, 64, 160, 8, 4, 256, 1e4f, 1e-5f},
    {"tiny-qwen2-k", "qwen2", 2, 256, 512, 4, 2, 256, 1e6f, 1e-6f},
};
#define N_MODELS ((int)(sizeof models / sizeof models[0]))

static const char *fixtures;
static const char *devices[2] = {"cpu0", "vulkan0"};
static int n_devices = 1;

/* Normalised MSE of the last position's logits against llama.cpp's. */
static double last_nmse(const llm_ref *r, const float *last, const char *what)
{
    int bad = -1;
    double e = llm_ref_nmse(r, last, &bad);
    ck_assert_msg(e >= 0, "%s: logit %d is %g", what, bad, bad >= 0 ? last[bad] : 0.0);
    return e;
}

typedef struct fixture {
    const model_case *mc;
    const char *dev;
    char what[64];
    llm_ref r;
    pce_context *ctx;
    pce_llm *m;
} fixture;

/* Case i: model i / n_devices on device i % n_devices. */
static void setup(fixture *fx, int i)
{
    memset(fx, 0, sizeof *fx);
    fx->mc = &models[i / n_devices];
    fx->dev = devices[i % n_devices];
    snprintf(fx->what, sizeof fx->what, "%s on %s", fx->mc->name, fx->dev);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s-llamacpp.bin", fixtures, fx->mc->name);
    ck_assert_msg(llm_ref_read(path, 0, NEAR_TIE, &fx->r) == 0, "cannot read %s", path);
    ck_assert_int_eq(fx->r.n, N_TOKENS);
    ck_assert_int_eq(pce_context_create(NULL, &fx->ctx), PCE_OK);
    pce_context_set_log(fx->ctx, PCE_LOG_ERROR, NULL, NULL);
    char list[64];
    snprintf(list, sizeof list, "%s%s", fx->dev, strcmp(fx->dev, "cpu0") ? ",cpu0" : "");
    pce_llm_options o;
    pce_llm_options_init(&o);
    o.devices = list;
    o.context = 64;
    snprintf(path, sizeof path, "%s/%s.gguf", fixtures, fx->mc->name);
    pce_status st = pce_llm_load(fx->ctx, path, &o, &fx->m);
    ck_assert_msg(st == PCE_OK, "load %s: %s", path, pce_context_last_error(fx->ctx));
}

static void teardown(fixture *fx)
{
    pce_llm_destroy(fx->m);
    pce_context_destroy(fx->ctx);
    llm_ref_free(&fx->r);
}

START_TEST(info_matches_file)
{
    fixture fx;
    setup(&fx, _i);
    const model_case *mc = fx.mc;
    pce_llm_info in;
    ck_assert_int_eq(pce_llm_get_info(fx.m, &in), PCE_OK);
    ck_assert_str_eq(in.arch, mc->arch);
    ck_assert_int_eq(in.n_layers, mc->n_layers);
    ck_assert_int_eq(in.n_embd, mc->n_embd);
    ck_assert_int_eq(in.n_ff, mc->n_ff);
    ck_assert_int_eq(in.n_head, mc->n_head);
    ck_assert_int_eq(in.n_head_kv, mc->n_head_kv);
    ck_assert_int_eq(in.head_dim, mc->n_embd / mc->n_head);
    ck_assert_int_eq(in.n_vocab, mc->n_vocab);
    ck_assert_int_eq(in.n_vocab, fx.r.vocab);
    ck_assert_int_eq(in.context_max, 64); /* the cache asked for (the file allows 256) */
    ck_assert_float_eq(in.rope_theta, mc->rope_theta);
    ck_assert_float_eq(in.norm_eps, mc->norm_eps);
    ck_assert_int_eq(in.bos, 1);
    ck_assert_int_eq(in.eos, 2);
    ck_assert_int_eq(pce_llm_position(fx.m), 0);
    teardown(&fx);
}
END_TEST

START_TEST(prefill_matches_llamacpp)
{
    fixture fx;
    setup(&fx, _i);
    const llm_ref *r = &fx.r;
    float *logits = malloc((size_t)r->n * (size_t)r->vocab * sizeof *logits);
    ck_assert_ptr_nonnull(logits);
    pce_status st = pce_llm_eval(fx.m, r->tokens, r->n, logits, true);
    ck_assert_msg(st == PCE_OK, "%s: eval: %s", fx.what, pce_context_last_error(fx.ctx));
    int same = 0, ties = 0, bad = 0;
    for (int i = 0; i < r->n; i++) {
        int t = llm_ref_argmax(logits + (size_t)i * (size_t)r->vocab, r->vocab);
        bool tie;
        same += t == r->top1[i];
        if (!llm_ref_agrees(r, i, t, &tie))
            bad++;
        ties += tie;
        if (t != r->top1[i])
            fprintf(stderr, "%s: position %d: pce %d, llama.cpp %d (%s)\n", fx.what, i, t,
                    r->top1[i], tie ? "a near tie in llama.cpp's own logits" : "NOT a near tie");
    }
    double nmse = last_nmse(r, logits + (size_t)(r->n - 1) * (size_t)r->vocab, fx.what);
    fprintf(stderr,
            "%s: prefill: top 1 equal at %d of %d positions, %d near ties; last logits nmse "
            "%.3g (bound %g)\n",
            fx.what, same, r->n, ties, nmse, LOGIT_NMSE);
    ck_assert_msg(nmse <= LOGIT_NMSE, "%s: nmse %.3g", fx.what, nmse);
    ck_assert_msg(bad == 0, "%s: %d positions disagree beyond a near tie", fx.what, bad);
    ck_assert_int_eq(pce_llm_position(fx.m), r->n);
    free(logits);
    teardown(&fx);
}
END_TEST

START_TEST(decode_matches_llamacpp)
{
    fixture fx;
    setup(&fx, _i);
    const llm_ref *r = &fx.r;
    float *logits = malloc((size_t)r->vocab * sizeof *logits);
    ck_assert_ptr_nonnull(logits);
    bool tie;
    pce_status st = pce_llm_eval(fx.m, r->tokens, N_PREFILL, logits, false);
    ck_assert_msg(st == PCE_OK, "%s: prefill: %s", fx.what, pce_context_last_error(fx.ctx));
    int t = llm_ref_argmax(logits, r->vocab), same = t == r->top1[N_PREFILL - 1];
    ck_assert_msg(llm_ref_agrees(r, N_PREFILL - 1, t, &tie),
                  "%s: prefill's last position: %d vs %d", fx.what, t, r->top1[N_PREFILL - 1]);
    for (int i = N_PREFILL; i < r->n; i++) {
        st = pce_llm_eval(fx.m, &r->tokens[i], 1, logits, false);
        ck_assert_msg(st == PCE_OK, "%s: step %d: %s", fx.what, i, pce_context_last_error(fx.ctx));
        t = llm_ref_argmax(logits, r->vocab);
        same += t == r->top1[i];
        ck_assert_msg(llm_ref_agrees(r, i, t, &tie), "%s: decode position %d: %d vs llama.cpp's %d",
                      fx.what, i, t, r->top1[i]);
    }
    ck_assert_int_eq(pce_llm_position(fx.m), r->n);
    double nmse = last_nmse(r, logits, fx.what);
    /* after a reset, the whole sequence in one step (another plan, the
     * cache handed over from the decode plan's and overwritten) */
    pce_llm_reset(fx.m);
    ck_assert_int_eq(pce_llm_position(fx.m), 0);
    st = pce_llm_eval(fx.m, r->tokens, r->n, logits, false);
    ck_assert_msg(st == PCE_OK, "%s: after reset: %s", fx.what, pce_context_last_error(fx.ctx));
    double again = last_nmse(r, logits, fx.what);
    fprintf(stderr,
            "%s: decode: top 1 equal at %d of %d positions; last logits nmse %.3g, after a "
            "reset %.3g (bound %g)\n",
            fx.what, same, r->n - N_PREFILL + 1, nmse, again, LOGIT_NMSE);
    ck_assert_msg(nmse <= LOGIT_NMSE, "%s: decode: nmse %.3g", fx.what, nmse);
    ck_assert_msg(again <= LOGIT_NMSE, "%s: after reset: nmse %.3g", fx.what, again);
    /* a token outside the vocabulary: an error, not a crash */
    int32_t bad = r->vocab;
    ck_assert_int_eq(pce_llm_eval(fx.m, &bad, 1, logits, false), PCE_ERR_INVALID_ARGUMENT);
    free(logits);
    teardown(&fx);
}
END_TEST

int main(int argc, char **argv)
{
    fixtures = argc > 1 ? argv[1] : "tests/fixtures/llm";
    /* vulkan0 where this machine has it: skipped, not failed, elsewhere */
    pce_context *ctx;
    if (pce_context_create(NULL, &ctx) != PCE_OK)
        return EXIT_FAILURE;
    if (pce_device_find(ctx, "vulkan0"))
        n_devices = 2;
    else
        printf("vulkan0: not on this machine, skipped\n");
    pce_context_destroy(ctx);
    Suite *s = suite_create("llm-tiny");
    TCase *tc = tcase_create("tiny");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, info_matches_file, 0, N_MODELS * n_devices);
    tcase_add_loop_test(tc, prefill_matches_llamacpp, 0, N_MODELS * n_devices);
    tcase_add_loop_test(tc, decode_matches_llamacpp, 0, N_MODELS * n_devices);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
