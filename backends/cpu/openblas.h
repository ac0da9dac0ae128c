/* openblas.h — OpenBLAS loaded at run time (dlopen), after the hardware
 * profile has chosen its core type: OpenBLAS reads OPENBLAS_CORETYPE once,
 * when it loads, so it must not be linked into libpce. Each candidate core
 * a profile names is verified once in a child process (right core reported,
 * sgemm against a double-precision reference, no crash) and the verdict
 * cached per CPU and OpenBLAS build. */
#ifndef PCE_OPENBLAS_H
#define PCE_OPENBLAS_H

#include <stdbool.h>
#include <stddef.h>

typedef void (*pce_sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha,
                             const float *a, int lda, const float *b, int ldb, float beta, float *c,
                             int ldc);

/* What loading OpenBLAS (with its own core choice) reports, learned in a
 * child process so this process has not loaded it yet. false: not loadable
 * (why says so). */
bool pce_openblas_probe(char *config, size_t ccap, char *core, size_t kcap, char *why, size_t wcap);
/* Whether OpenBLAS with OPENBLAS_CORETYPE=core runs that core and computes
 * sgemm right (cached; verified in a child process). detail: the reason. */
bool pce_openblas_verify(const char *core, const char *cpu_key, char *detail, size_t cap);
/* Loads OpenBLAS into this process once (core: OPENBLAS_CORETYPE to set
 * first, or NULL). Later calls return the first result. */
bool pce_openblas_load(const char *core);
/* The loaded sgemm, config and core name (NULL / "" when not loaded). */
pce_sgemm_fn pce_openblas_sgemm(void);
const char *pce_openblas_config(void);
const char *pce_openblas_corename(void);
/* How the core was chosen, for `pce devices --explain` ("" if not decided). */
const char *pce_openblas_decision(void);
void pce_openblas_set_decision(const char *text);

#endif
