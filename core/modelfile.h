/* modelfile.h — what the model file readers (gguf.c, safetensors.c) share
 * with modelfile.c: the open file's tables, the mapped parts and the few
 * helpers that own memory. Never installed. */
#ifndef PCE_MODELFILE_H
#define PCE_MODELFILE_H

#include "internal.h"

/* One mapped file of a model (a GGUF part, a safetensors shard). */
typedef struct mf_part {
    char *path;
    const uint8_t *map; /* read-only mapping of the whole file; NULL when empty */
    size_t size;
} mf_part;

/* A metadata entry; `strs` indexes the elements of a string array (where
 * each one's u64 length starts, in the mapping). */
typedef struct mf_meta {
    pce_meta m;
    const uint8_t **strs;
} mf_meta;

/* A tensor and the alignment its data needs in memory (its element size;
 * 2 for blocks that start with an f16). */
typedef struct mf_tensor {
    pce_model_tensor t;
    size_t align;
    bool absent; /* metadata-only open: its data lies past the end of the file */
} mf_tensor;

typedef struct mf_chunk mf_chunk;

struct pce_model_file {
    pce_context *ctx;
    pce_model_format format;
    mf_part *parts;
    int n_parts, cap_parts;
    mf_meta *meta;
    int n_meta, cap_meta;
    int *meta_sorted; /* meta indices sorted by key, for meta_find */
    mf_tensor *tensors;
    int n_tensors, cap_tensors;
    int *index; /* open addressing by name: tensor index + 1, 0 empty */
    size_t index_cap;
    mf_chunk *chunks; /* names, keys, tables, aligned copies: freed at close */
    /* pce_model_file_open_metadata: tensor data past the end of a file is
     * not an error; such tensors are marked absent */
    bool metadata_only;
    int n_absent;
};

/* Maps `path` read-only as a new part; its index goes to *part. NOT_FOUND,
 * PERMISSION or IO (naming the file and `what`, e.g. "part 2 of 3") on
 * failure. */
pce_status pce_mf_map(pce_model_file *f, const char *path, const char *what, int *part);
/* Memory owned by f (16-byte aligned), freed at close; NULL when out of
 * memory, with the error set in f->ctx. */
void *pce_mf_alloc(pce_model_file *f, size_t n);
/* A NUL-terminated copy of n bytes owned by f, or NULL (error set). */
char *pce_mf_strndup(pce_model_file *f, const char *s, size_t n);
/* A new zeroed entry at the end of the table, or NULL (error set). */
mf_meta *pce_mf_add_meta(pce_model_file *f);
mf_tensor *pce_mf_add_tensor(pce_model_file *f);
/* The end of every reader: checks that no two tensors of a part overlap, builds the
 * name index (a duplicate name is FORMAT), copies data the mapping holds
 * unaligned and sorts the metadata keys (a duplicate key is FORMAT). */
pce_status pce_mf_finish(pce_model_file *f);
/* Index of the tensor called `name`, or -1. */
int pce_mf_tensor_index(const pce_model_file *f, const char *name);

/* Readers: fill f from the file(s) at path. */
pce_status pce_gguf_read(pce_model_file *f, const char *path);
pce_status pce_safetensors_read(pce_model_file *f, const char *path);
pce_status pce_safetensors_index_read(pce_model_file *f, const char *path);

/* Overflow-checked arithmetic: false when the result does not fit. */
static inline bool pce_mf_add(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}
static inline bool pce_mf_mul(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

#endif
