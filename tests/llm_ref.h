/* llm_ref.h — llama.cpp's outputs for a token sequence, as
 * tests/oracle/make_llamacpp_fixture.py and make_tiny_models.py write them
 * (format PCELLM2: n, vocab, the tokens, the top 1 at every position, the
 * last position's logits, the top 5 ids and logits at every position), and
 * the comparisons test_llm.c and test_llm_tiny.c make with them. */
#ifndef PCE_TESTS_LLM_REF_H
#define PCE_TESTS_LLM_REF_H

#include <stdbool.h>
#include <stdint.h>

typedef struct llm_ref {
    int n, vocab;
    int32_t *tokens, *top1, *top5;
    float *last, *top5l;
    double tie; /* the near-tie distance agrees() allows */
    double rms; /* of llama.cpp's last logits */
} llm_ref;

/* Reads path; 0 on success. tie is set to `tie` (absolute), or to
 * tie_rms × the rms of the last logits when tie_rms > 0. */
int llm_ref_read(const char *path, double tie, double tie_rms, llm_ref *r);
void llm_ref_free(llm_ref *r);
/* Whether token t is an acceptable top 1 at position i: llama.cpp's, or one
 * of its five best within r->tie of its best (*tie says which). */
bool llm_ref_agrees(const llm_ref *r, int i, int t, bool *tie);
/* Normalised MSE of last[0..vocab) against llama.cpp's last logits; -1 when
 * one of them is not finite (*bad gets its index). */
double llm_ref_nmse(const llm_ref *r, const float *last, int *bad);
int llm_ref_argmax(const float *v, int n);

#endif
