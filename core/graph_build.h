/* graph_build.h — helpers shared by the graph builder's files. */
#ifndef PCE_GRAPH_BUILD_H
#define PCE_GRAPH_BUILD_H

#include "internal.h"

#define PCE_SHAPE_STR 96

/* Records the graph's sticky error (first wins); returns NULL. */
pce_tensor *pce_graph_fail(pce_graph *g, pce_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* False (with an error recorded where there was none) if t is unusable. */
bool pce_graph_check_src(pce_graph *g, const char *op, const pce_tensor *t, const char *what);
pce_tensor *pce_graph_new_tensor(pce_graph *g, const char *op, pce_dtype dtype, int ndim,
                                 const int64_t ne[PCE_MAX_DIMS]);
const char *pce_shape_str(const pce_tensor *t, char buf[PCE_SHAPE_STR]);
/* Drops a reference; frees the graph at zero. */
void pce_graph_release(pce_graph *g);

#endif
