/* conformance.h — the cross-backend conformance suite, through the public
 * API only: every op x dtype x shape (odd sizes, broadcasting, strided
 * views) built as a graph, run with the reference kernels on cpu0 and with
 * the fast kernels on each device (activation memory poisoned with NaN),
 * and compared by normalised mean squared error. Used by `pce verify` and
 * by the test suite. */
#ifndef PCE_CONFORMANCE_H
#define PCE_CONFORMANCE_H

#include "pce.h"

typedef enum pce_conf_status { PCE_CONF_PASS, PCE_CONF_FAIL, PCE_CONF_SKIP } pce_conf_status;

typedef struct pce_conf_result {
    char op[32];
    char dtype[24];
    char shape[96];
    char device[32];
    double nmse; /* normalised MSE vs the reference (0 for exact integer match) */
    double threshold;
    pce_conf_status status;
    char reason[256];
} pce_conf_result;

typedef struct pce_conf_summary {
    int pass, fail, skip;
} pce_conf_summary;

typedef void (*pce_conf_callback)(const pce_conf_result *r, void *user);

/* Runs every case on each device whose name or backend matches `filter`
 * (NULL: all devices); seed makes the random inputs reproducible. Calls cb
 * for each case. Returns PCE_OK when the suite could run (failures are
 * counted in *sum), or an error if no device matched. */
pce_status pce_conformance_run(pce_context *ctx, const char *filter, uint64_t seed,
                               pce_conf_callback cb, void *user, pce_conf_summary *sum);

/* Normalised threshold for an output dtype. */
double pce_conformance_threshold(pce_dtype dtype);

#endif
