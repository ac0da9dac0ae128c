/* fuzz_chat.c — libFuzzer target: any bytes as a chat template's Jinja
 * text; recognising it must fail cleanly or give a template that renders
 * conversations (with and without a system message, generation prompt on
 * and off, the length protocol) without crashing. Build and run:
 * tests/fuzz/run.sh. */
#include "pce.h"
#include "pce_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static pce_context *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx && pce_context_create(NULL, &ctx) != PCE_OK)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    pce_chat_template *t = NULL;
    if (pce_chat_template_create(ctx, text, &t) == PCE_OK) {
        static const pce_chat_message msgs[] = {{"system", "Be brief."},
                                                {"user", "Hi <think>"},
                                                {"assistant", "<think>x</think>Hello"},
                                                {"user", "\xe4\xbd\xa0\xe5\xa5\xbd"}};
        for (size_t first = 0; first < 2; first++)
            for (int gen = 0; gen < 2; gen++) {
                size_t len = 0;
                pce_chat_apply(t, msgs + first, 4 - first, gen, NULL, 0, &len);
                char *buf = malloc(len + 1);
                size_t len2 = 0;
                if (buf &&
                    pce_chat_apply(t, msgs + first, 4 - first, gen, buf, len + 1, &len2) ==
                        PCE_OK &&
                    len2 != len)
                    abort(); /* the length asked for is the length written */
                free(buf);
            }
        pce_chat_template_destroy(t);
    }
    free(text);
    return 0;
}
