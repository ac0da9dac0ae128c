/* fuzz_gguf.c — libFuzzer target: any bytes as a model file, opened fully
 * and metadata-only, then every tensor and metadata entry read and a
 * tokenizer and chat template built from it. Must never crash, leak or
 * read out of bounds; errors are expected. Build: tests/fuzz/run.sh. */
#include "pce.h"
#include "pce_text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pce_context *ctx;

static void walk(pce_model_file *f)
{
    int nm = pce_model_file_meta_count(f);
    for (int i = 0; i < nm; i++) {
        pce_meta m;
        pce_model_file_meta_get(f, i, &m);
    }
    int nt = pce_model_file_tensor_count(f);
    for (int i = 0; i < nt; i++) {
        pce_model_tensor t;
        if (pce_model_file_tensor_get(f, i, &t) == PCE_OK && t.data && t.bytes)
            (void)((volatile const uint8_t *)t.data)[t.bytes - 1];
    }
    pce_tokenizer *tok = NULL;
    if (pce_tokenizer_create(ctx, f, &tok) == PCE_OK) {
        int32_t ids[64];
        size_t n = 0;
        pce_tokenize_options o;
        pce_tokenize_options_init(&o);
        o.parse_special = true;
        o.replace_invalid = true;
        static const char text[] = "Hello, world! 你好 <|im_start|> 123456 \xf0\x9f\x98\x80";
        if (pce_tokenizer_encode(tok, text, sizeof text - 1, &o, ids, 64, &n) == PCE_OK) {
            char buf[512];
            size_t len;
            pce_tokenizer_decode(tok, ids, n, true, buf, sizeof buf, &len);
        }
        pce_tokenizer_destroy(tok);
    }
    pce_chat_template *ct = NULL;
    if (pce_chat_template_from_file(ctx, f, &ct) == PCE_OK) {
        pce_chat_message msgs[] = {{"system", "s"}, {"user", "u"}};
        size_t len;
        char buf[256];
        pce_chat_apply(ct, msgs, 2, true, buf, sizeof buf, &len);
        pce_chat_template_destroy(ct);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx && pce_context_create(NULL, &ctx) != PCE_OK)
        return 0;
    pce_context_set_log(ctx, PCE_LOG_ERROR, NULL, NULL);
    char path[64];
    snprintf(path, sizeof path, "/tmp/pce-fuzz-%d.gguf", (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    pce_model_file *f = NULL;
    if (pce_model_file_open(ctx, path, &f) == PCE_OK) {
        walk(f);
        pce_model_file_close(f);
    }
    if (pce_model_file_open_metadata(ctx, path, &f) == PCE_OK) {
        walk(f);
        pce_model_file_close(f);
    }
    unlink(path);
    return 0;
}
