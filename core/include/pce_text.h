/* pce_text.h — text in, text out, around pce_llm: tokenizers built from a
 * GGUF file's tokenizer.ggml.* metadata (byte-level BPE "gpt2" with the
 * pre-tokenizer split rules named by tokenizer.ggml.pre, and SentencePiece
 * "llama"), samplers over a logits row, chat templates, and a generation
 * loop that streams text.
 *
 * Every fallible call returns a pce_status; the message is the context's
 * last error (pce_context_last_error). Objects keep the context they were
 * created with for that. Nothing aborts the process.
 */
#ifndef PCE_TEXT_H
#define PCE_TEXT_H

#include "pce.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- model files: metadata only -------------------------------------------- */

/* Opens a GGUF file for its metadata and tensor table only: tensor data that
 * lies past the end of the file (a truncated download, a vocab-only file) is
 * not an error here, but pce_graph_weight_from_file and
 * pce_model_file_tensor_get / _find refuse such a tensor with FORMAT (naming
 * it; they still fill *out, with data NULL, so its name and shape can be
 * shown). Every other check of pce_model_file_open stays. For tokenizers and
 * `pce inspect` of partial files. */
PCE_API pce_status pce_model_file_open_metadata(pce_context *ctx, const char *path,
                                                pce_model_file **out);

/* ---- tokenizer --------------------------------------------------------------- */

typedef struct pce_tokenizer pce_tokenizer;

/* Special token ids are the file's (tokenizer.ggml.*_token_id), else
 * llama.cpp's defaults (SentencePiece: bos 1, eos 2, unk 0; gpt2: bos and
 * eos 11), else -1; eot, when the file names none, is the first token whose
 * text llama.cpp takes for one (<|eot_id|>, <|im_end|>, <|endoftext|> ...). */
typedef struct pce_tokenizer_info {
    char model[16]; /* tokenizer.ggml.model: "gpt2" or "llama" */
    char pre[32];   /* tokenizer.ggml.pre ("" when absent) */
    int n_vocab;
    int32_t bos, eos, eot, pad, unk; /* -1: none */
    /* what tokenizer.ggml.add_*_token say, else llama.cpp's default (BOS for
     * SentencePiece and llama3 pre-tokenizers) */
    bool add_bos, add_eos;
} pce_tokenizer_info;

/* pce_tokenize_options_init: add_special on, parse_special and
 * replace_invalid off. */
typedef struct pce_tokenize_options {
    size_t size;        /* sizeof(pce_tokenize_options) */
    bool add_special;   /* add BOS/EOS where the file's add_bos/add_eos say so */
    bool parse_special; /* special tokens written in the text ("<|im_start|>")
                           become their ids; otherwise they are plain text */
    /* Invalid UTF-8 and control characters other than \t \n \r: false (the
     * default) fails with INVALID_ARGUMENT naming the byte offset; true
     * replaces each with U+FFFD and goes on. */
    bool replace_invalid;
} pce_tokenize_options;

PCE_API void pce_tokenize_options_init(pce_tokenize_options *opts);
/* Builds the tokenizer from f's tokenizer.ggml.* metadata (f may be closed
 * afterwards: what is needed is copied). The ids are llama.cpp's for the
 * same text and options. UNSUPPORTED naming the model or pre-tokenizer it
 * does not know; FORMAT naming the key that is malformed; NOT_FOUND when f
 * has no tokenizer. The tokenizer is immutable: several threads may encode
 * and decode with it at once. */
PCE_API pce_status pce_tokenizer_create(pce_context *ctx, const pce_model_file *f,
                                        pce_tokenizer **out);
PCE_API void pce_tokenizer_destroy(pce_tokenizer *t);
PCE_API pce_status pce_tokenizer_get_info(const pce_tokenizer *t, pce_tokenizer_info *out);
/* Token ids of text[0..len). *n gets the number of tokens; when it exceeds
 * cap, nothing past cap is written and the call fails with INVALID_ARGUMENT
 * saying how many are needed (tokens may be NULL with cap 0 to ask). */
PCE_API pce_status pce_tokenizer_encode(const pce_tokenizer *t, const char *text, size_t len,
                                        const pce_tokenize_options *opts, int32_t *tokens,
                                        size_t cap, size_t *n);
/* The bytes token id stands for (a byte token or a piece of a multi-byte
 * character may be incomplete UTF-8). Control and unknown tokens give their
 * text when `special`, else nothing; user-defined ones always do. *len gets
 * the full length; fails with INVALID_ARGUMENT when it exceeds cap. */
PCE_API pce_status pce_tokenizer_piece(const pce_tokenizer *t, int32_t id, bool special, char *buf,
                                       size_t cap, size_t *len);
/* The text of tokens[0..n): the inverse of encode on valid UTF-8 (with
 * `special` when the text was encoded with parse_special). SentencePiece: the
 * space encode puts before the text that starts the input or follows a
 * special token goes again, and a U+2581 in the input comes back as a space
 * (SentencePiece writes spaces so). Unlike llama.cpp's detokenizer, no
 * spaces are tidied. *len gets the full length; fails with INVALID_ARGUMENT
 * when it exceeds cap (buf may be NULL with cap 0 to ask); NUL-terminated
 * when cap > *len. */
PCE_API pce_status pce_tokenizer_decode(const pce_tokenizer *t, const int32_t *tokens, size_t n,
                                        bool special, char *buf, size_t cap, size_t *len);
/* The id of the token whose text is exactly `text`, or -1. */
PCE_API int32_t pce_tokenizer_find(const pce_tokenizer *t, const char *text);
/* Whether id ends generation (EOS, EOT and the other end-of-generation
 * tokens the vocabulary names, such as <|im_end|> or <|endoftext|>). */
PCE_API bool pce_tokenizer_is_eog(const pce_tokenizer *t, int32_t id);

/* ---- sampling ------------------------------------------------------------------ */

typedef struct pce_sampler pce_sampler;

typedef struct pce_sampler_options {
    size_t size;          /* sizeof(pce_sampler_options) */
    float temperature;    /* <= 0: greedy (argmax); default 0.8 */
    int top_k;            /* keep the k most likely; <= 0: off; default 40 */
    float top_p;          /* nucleus: smallest set with this much mass; 1: off; default 0.95 */
    float min_p;          /* drop tokens below min_p × the top probability; 0: off; default 0.05 */
    float repeat_penalty; /* divide positive (multiply negative) logits of recent tokens; 1: off */
    int repeat_last_n;    /* how many recent tokens the penalty sees; default 64 */
    uint64_t seed;        /* same seed, same logits, same choices */
} pce_sampler_options;

PCE_API void pce_sampler_options_init(pce_sampler_options *opts);
PCE_API pce_status pce_sampler_create(pce_context *ctx, const pce_sampler_options *opts,
                                      int n_vocab, pce_sampler **out);
PCE_API void pce_sampler_destroy(pce_sampler *s);
/* Chooses a token from logits[0..n_vocab) (not modified): penalties, then
 * top-k, top-p, min-p, temperature, then a draw from the seeded generator.
 * A logit of -inf masks its token; NaN or +inf is INVALID_ARGUMENT naming
 * the index. Does not record the choice: call pce_sampler_accept. */
PCE_API pce_status pce_sampler_sample(pce_sampler *s, const float *logits, int32_t *token);
/* Records a token (prompt or generated) for the repetition penalty. */
PCE_API void pce_sampler_accept(pce_sampler *s, int32_t token);
/* Forgets the history and reseeds. */
PCE_API void pce_sampler_reset(pce_sampler *s);

/* ---- chat templates ------------------------------------------------------------- */

typedef struct pce_chat_template pce_chat_template;

typedef struct pce_chat_message {
    const char *role; /* "system", "user" or "assistant" */
    const char *content;
} pce_chat_message;

/* Recognises a Jinja chat template (tokenizer.chat_template) as one of the
 * formats pce renders itself: "chatml" (SmolLM2, Qwen2, Qwen2.5, with their
 * default system prompts), "deepseek-r1" (DeepSeek-R1 and its distills),
 * "llama3" (Llama 3, 3.1, 3.3). UNSUPPORTED, quoting the start of the
 * template, for others: pce does not interpret Jinja, and does not guess. */
PCE_API pce_status pce_chat_template_create(pce_context *ctx, const char *jinja,
                                            pce_chat_template **out);
/* The same from a model file's tokenizer.chat_template (NOT_FOUND when the
 * file has none), with bos_token the text of the file's BOS token. */
PCE_API pce_status pce_chat_template_from_file(pce_context *ctx, const pce_model_file *f,
                                               pce_chat_template **out);
PCE_API void pce_chat_template_destroy(pce_chat_template *t);
/* "chatml", "deepseek-r1", ... (borrowed). */
PCE_API const char *pce_chat_template_name(const pce_chat_template *t);
/* The prompt text for msgs[0..n) as the model's template renders it, with the
 * opening of the assistant's turn when add_generation_prompt. Where the
 * template writes bos_token (DeepSeek, Llama 3) the text holds it: tokenize
 * it with parse_special and without add_special. *len gets the full length;
 * fails with INVALID_ARGUMENT when it exceeds cap (buf may be NULL with cap 0
 * to ask). NUL-terminated when cap > *len. */
PCE_API pce_status pce_chat_apply(const pce_chat_template *t, const pce_chat_message *msgs,
                                  size_t n, bool add_generation_prompt, char *buf, size_t cap,
                                  size_t *len);

/* ---- generation ------------------------------------------------------------------ */

typedef struct pce_generate_options {
    size_t size;    /* sizeof(pce_generate_options) */
    int max_tokens; /* new tokens at most; default 256 */
    /* Strings that end the answer when it produces them (not shown):
     * NULL-terminated, or NULL for none. */
    const char *const *stop;
    bool ignore_eos; /* keep going past end-of-generation tokens */
    /* Streaming: called with each new piece of text as soon as it is whole
     * UTF-8 and cannot be the start of a stop string; return false to stop.
     * NULL: no streaming. */
    bool (*on_text)(void *user, const char *text, size_t len);
    void *user;
    /* The sampled token ids go here (the first tokens_cap of them); NULL:
     * not kept. */
    int32_t *tokens;
    size_t tokens_cap;
} pce_generate_options;

typedef struct pce_generate_stats {
    int prompt_tokens;    /* evaluated by this call's prefill */
    int generated_tokens; /* sampled */
    double prefill_ms;    /* the prompt's evaluation */
    int decode_evals;     /* one-token steps evaluated */
    double decode_ms;     /* from the prompt's end to the last step (sampling included) */
    double ttft_ms;       /* from the call to the first sampled token */
    /* "eos", "stop string", "length", "context full" or "callback" */
    const char *stop_reason;
} pce_generate_stats;

PCE_API void pce_generate_options_init(pce_generate_options *opts);
/* Evaluates prompt[0..n_prompt) at m's current position (a prefill), then
 * samples with s and evaluates one token per step until an end-of-
 * generation token, a stop string, max_tokens, the end of m's context or
 * the callback says stop. Prompt and sampled tokens go to s's history.
 * The last sampled token is not evaluated (m's position is the prompt's end
 * plus the tokens evaluated), so a following turn starts with it. Fails
 * with INVALID_ARGUMENT when tok's vocabulary does not fit m's embedding
 * table (see pce_tokenizer_check_llm). stats may be NULL. */
PCE_API pce_status pce_generate(pce_llm *m, const pce_tokenizer *tok, pce_sampler *s,
                                const int32_t *prompt, size_t n_prompt,
                                const pce_generate_options *opts, pce_generate_stats *stats);
/* Whether tok belongs with m: its vocabulary no larger than m's embedding
 * rows and its special token ids inside it. INVALID_ARGUMENT naming the
 * mismatch otherwise. */
PCE_API pce_status pce_tokenizer_check_llm(const pce_tokenizer *tok, const pce_llm *m);

#ifdef __cplusplus
}
#endif
#endif /* PCE_TEXT_H */
