/* llm_ref.c — see llm_ref.h. */
#include "llm_ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void llm_ref_free(llm_ref *r)
{
    free(r->tokens);
    free(r->top1);
    free(r->top5);
    free(r->last);
    free(r->top5l);
    memset(r, 0, sizeof *r);
}

int llm_ref_read(const char *path, double tie, double tie_rms, llm_ref *r)
{
    memset(r, 0, sizeof *r);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char magic[8];
    int ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, "PCELLM2", 8) &&
             fread(&r->n, 4, 1, f) == 1 && fread(&r->vocab, 4, 1, f) == 1 && r->n > 0 &&
             r->n < 4096 && r->vocab > 0 && r->vocab < (1 << 22);
    if (ok) {
        r->tokens = malloc((size_t)r->n * 4);
        r->top1 = malloc((size_t)r->n * 4);
        r->last = malloc((size_t)r->vocab * 4);
        r->top5 = malloc((size_t)r->n * 5 * 4);
        r->top5l = malloc((size_t)r->n * 5 * 4);
        ok = r->tokens && r->top1 && r->last && r->top5 && r->top5l &&
             fread(r->tokens, 4, (size_t)r->n, f) == (size_t)r->n &&
             fread(r->top1, 4, (size_t)r->n, f) == (size_t)r->n &&
             fread(r->last, 4, (size_t)r->vocab, f) == (size_t)r->vocab &&
             fread(r->top5, 4, (size_t)r->n * 5, f) == (size_t)r->n * 5 &&
             fread(r->top5l, 4, (size_t)r->n * 5, f) == (size_t)r->n * 5;
    }
    fclose(f);
    if (!ok) {
        llm_ref_free(r);
        return -1;
    }
    double ss = 0;
    for (int j = 0; j < r->vocab; j++)
        ss += (double)r->last[j] * r->last[j];
    r->rms = sqrt(ss / r->vocab);
    r->tie = tie_rms > 0 ? tie_rms * r->rms : tie;
    return 0;
}

bool llm_ref_agrees(const llm_ref *r, int i, int t, bool *tie)
{
    *tie = false;
    if (t == r->top1[i])
        return true;
    for (int k = 1; k < 5; k++)
        if (r->top5[i * 5 + k] == t && r->top5l[i * 5] - r->top5l[i * 5 + k] < r->tie) {
            *tie = true;
            return true;
        }
    return false;
}

double llm_ref_nmse(const llm_ref *r, const float *last, int *bad)
{
    double num = 0, den = 0;
    for (int j = 0; j < r->vocab; j++) {
        if (!isfinite(last[j])) {
            *bad = j;
            return -1;
        }
        num += ((double)last[j] - r->last[j]) * ((double)last[j] - r->last[j]);
        den += (double)r->last[j] * r->last[j];
    }
    return num / den;
}

int llm_ref_argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}
