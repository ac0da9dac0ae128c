/* modelfile.c — model files (GGUF, safetensors): opening by content,
 * read-only mappings, the tensor and metadata tables the readers fill, name
 * lookups and weights that read the mapping in place. The formats
 * themselves are parsed in gguf.c and safetensors.c. */
#include "modelfile.h"

#include "graph_build.h"
#include "pce_text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- owned memory ---------------------------------------------------------- */

struct mf_chunk {
    mf_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define MF_CHUNK_BYTES ((size_t)64 << 10)

void *pce_mf_alloc(pce_model_file *f, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) {
        pce_fail(f->ctx, PCE_ERR_OUT_OF_MEMORY, "allocating %zu bytes for a model file", n);
        return NULL;
    }
    mf_chunk *c = f->chunks;
    if (!c || c->cap - c->used < need) {
        /* large requests get a chunk of their own, behind the current one */
        size_t cap = need > MF_CHUNK_BYTES / 4 ? need : MF_CHUNK_BYTES;
        if (cap > SIZE_MAX - sizeof *c) {
            pce_fail(f->ctx, PCE_ERR_OUT_OF_MEMORY, "allocating %zu bytes for a model file", n);
            return NULL;
        }
        mf_chunk *nc = malloc(sizeof *nc + cap);
        if (!nc) {
            pce_fail(f->ctx, PCE_ERR_OUT_OF_MEMORY, "allocating %zu bytes for a model file",
                     sizeof *nc + cap);
            return NULL;
        }
        nc->used = 0;
        nc->cap = cap;
        if (c && cap != MF_CHUNK_BYTES) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            f->chunks = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += need;
    return p;
}

char *pce_mf_strndup(pce_model_file *f, const char *s, size_t n)
{
    if (n == SIZE_MAX) {
        pce_fail(f->ctx, PCE_ERR_OUT_OF_MEMORY, "string of %zu bytes", n);
        return NULL;
    }
    char *d = pce_mf_alloc(f, n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* Grows a table of `size`-byte entries to hold one more. */
static bool grow(pce_model_file *f, void **tab, int *cap, int n, size_t size, const char *what)
{
    if (n < *cap)
        return true;
    if (*cap > (1 << 29)) {
        pce_fail(f->ctx, PCE_ERR_OUT_OF_MEMORY, "more than %d %s in a model file", *cap, what);
        return false;
    }
    int nc = *cap ? *cap * 2 : 64;
    void *p = realloc(*tab, (size_t)nc * size);
    if (!p) {
        pce_fail(f->ctx, PCE_ERR_OUT_OF_MEMORY, "growing the %s table to %d entries (%zu bytes)",
                 what, nc, (size_t)nc * size);
        return false;
    }
    *tab = p;
    *cap = nc;
    return true;
}

mf_meta *pce_mf_add_meta(pce_model_file *f)
{
    void *tab = f->meta;
    if (!grow(f, &tab, &f->cap_meta, f->n_meta, sizeof *f->meta, "metadata entries"))
        return NULL;
    f->meta = tab;
    mf_meta *m = &f->meta[f->n_meta++];
    memset(m, 0, sizeof *m);
    return m;
}

mf_tensor *pce_mf_add_tensor(pce_model_file *f)
{
    void *tab = f->tensors;
    if (!grow(f, &tab, &f->cap_tensors, f->n_tensors, sizeof *f->tensors, "tensors"))
        return NULL;
    f->tensors = tab;
    mf_tensor *t = &f->tensors[f->n_tensors++];
    memset(t, 0, sizeof *t);
    return t;
}

/* ---- mapping --------------------------------------------------------------- */

static pce_status errno_status(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR: return PCE_ERR_NOT_FOUND;
    case EACCES:
    case EPERM: return PCE_ERR_PERMISSION;
    case ENOMEM: return PCE_ERR_OUT_OF_MEMORY;
    default: return PCE_ERR_IO;
    }
}

pce_status pce_mf_map(pce_model_file *f, const char *path, const char *what, int *part)
{
    void *tab = f->parts;
    if (!grow(f, &tab, &f->cap_parts, f->n_parts, sizeof *f->parts, "files"))
        return PCE_ERR_OUT_OF_MEMORY;
    f->parts = tab;
    char *copy = pce_mf_strndup(f, path, strlen(path));
    if (!copy)
        return PCE_ERR_OUT_OF_MEMORY;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return pce_fail(f->ctx, errno_status(e), "%s%s%s: cannot open: %s", what, *what ? ": " : "",
                        path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pce_fail(f->ctx, errno_status(e), "%s%s%s: %s", what, *what ? ": " : "", path,
                        strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pce_fail(f->ctx, PCE_ERR_IO, "%s%s%s: not a regular file", what, *what ? ": " : "",
                        path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return pce_fail(f->ctx, PCE_ERR_IO, "%s%s%s: %lld bytes do not fit the address space", what,
                        *what ? ": " : "", path, (long long)st.st_size);
    }
    size_t size = (size_t)st.st_size;
    void *map = NULL;
    if (size) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return pce_fail(f->ctx, errno_status(e), "%s%s%s: mapping %zu bytes: %s", what,
                            *what ? ": " : "", path, size, strerror(e));
        }
    }
    close(fd); /* the mapping keeps the file */
    mf_part *p = &f->parts[f->n_parts];
    p->path = copy;
    p->map = map;
    p->size = size;
    *part = f->n_parts++;
    return PCE_OK;
}

/* ---- open and close -------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* The format by content first (GGUF's magic, a safetensors header), the
 * file name for the rest. */
static pce_status detect_and_read(pce_model_file *f, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return pce_fail(f->ctx, errno_status(e), "%s: cannot open: %s", path, strerror(e));
    }
    unsigned char head[9] = {0};
    ssize_t got = read(fd, head, sizeof head);
    int e = errno;
    close(fd);
    if (got < 0)
        return pce_fail(f->ctx, errno_status(e), "%s: cannot read: %s", path, strerror(e));
    if (got >= 4 && memcmp(head, "GGUF", 4) == 0) {
        f->format = PCE_MODEL_GGUF;
        return pce_gguf_read(f, path);
    }
    if (ends_with(path, ".gguf"))
        return pce_fail(f->ctx, PCE_ERR_FORMAT,
                        "%s: not a GGUF file: bad magic at byte 0 (%02x %02x %02x %02x, expected "
                        "'GGUF')",
                        path, head[0], head[1], head[2], head[3]);
    if (ends_with(path, ".json")) {
        f->format = PCE_MODEL_SAFETENSORS;
        return pce_safetensors_index_read(f, path);
    }
    if (ends_with(path, ".safetensors") || (got == 9 && head[8] == '{')) {
        f->format = PCE_MODEL_SAFETENSORS;
        return pce_safetensors_read(f, path);
    }
    return pce_fail(f->ctx, PCE_ERR_FORMAT,
                    "%s: neither GGUF (no 'GGUF' magic at byte 0) nor safetensors (no JSON header "
                    "at byte 8) nor a .safetensors.index.json",
                    path);
}

static pce_status open_file(pce_context *ctx, const char *path, bool metadata_only,
                            pce_model_file **out)
{
    if (!out)
        return ctx ? pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "model file: out is NULL")
                   : PCE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!ctx)
        return PCE_ERR_INVALID_ARGUMENT;
    if (!path || !*path)
        return pce_fail(ctx, PCE_ERR_INVALID_ARGUMENT, "model file: no path");
    pce_model_file *f = calloc(1, sizeof *f);
    if (!f)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "allocating a model file (%zu bytes)",
                        sizeof *f);
    f->ctx = ctx;
    f->metadata_only = metadata_only;
    pce_status st = detect_and_read(f, path);
    if (st != PCE_OK) {
        pce_model_file_close(f);
        return st;
    }
    pce_log(ctx, PCE_LOG_INFO, "model file %s: %s, %d file(s), %d tensors, %d metadata entries",
            path, f->format == PCE_MODEL_GGUF ? "GGUF" : "safetensors", f->n_parts, f->n_tensors,
            f->n_meta);
    if (f->n_absent)
        pce_log(ctx, PCE_LOG_INFO, "model file %s: the data of %d of its %d tensors is absent",
                path, f->n_absent, f->n_tensors);
    *out = f;
    return PCE_OK;
}

pce_status pce_model_file_open(pce_context *ctx, const char *path, pce_model_file **out)
{
    return open_file(ctx, path, false, out);
}

pce_status pce_model_file_open_metadata(pce_context *ctx, const char *path, pce_model_file **out)
{
    return open_file(ctx, path, true, out);
}

void pce_model_file_close(pce_model_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n_parts; i++)
        if (f->parts[i].map)
            munmap((void *)f->parts[i].map, f->parts[i].size);
    for (mf_chunk *c = f->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(f->parts);
    free(f->meta);
    free(f->meta_sorted);
    free(f->tensors);
    free(f->index);
    free(f);
}

/* ---- finishing: ranges, index, alignment, keys ----------------------------- */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int pce_mf_tensor_index(const pce_model_file *f, const char *name)
{
    if (!f || !name || !f->index_cap)
        return -1;
    size_t mask = f->index_cap - 1;
    for (size_t i = (size_t)hash_name(name) & mask;; i = (i + 1) & mask) {
        int v = f->index[i];
        if (!v)
            return -1;
        if (strcmp(f->tensors[v - 1].t.name, name) == 0)
            return v - 1;
    }
}

static pce_status build_index(pce_model_file *f)
{
    size_t cap = 16;
    while (cap < (size_t)f->n_tensors * 2)
        cap *= 2;
    f->index = calloc(cap, sizeof *f->index);
    if (!f->index)
        return pce_fail(f->ctx, PCE_ERR_OUT_OF_MEMORY, "allocating the tensor index (%zu bytes)",
                        cap * sizeof *f->index);
    f->index_cap = cap;
    for (int k = 0; k < f->n_tensors; k++) {
        const pce_model_tensor *t = &f->tensors[k].t;
        size_t i = (size_t)hash_name(t->name) & (cap - 1);
        for (; f->index[i]; i = (i + 1) & (cap - 1)) {
            const pce_model_tensor *o = &f->tensors[f->index[i] - 1].t;
            if (strcmp(o->name, t->name) == 0)
                return pce_fail(f->ctx, PCE_ERR_FORMAT,
                                "%s: tensor '%s' appears twice (also in %s at byte %llu)",
                                f->parts[t->file_index].path, t->name, f->parts[o->file_index].path,
                                (unsigned long long)o->offset);
        }
        f->index[i] = k + 1;
    }
    return PCE_OK;
}

typedef struct range_key {
    int file_index;
    uint64_t offset;
    int index;
} range_key;

static int cmp_range(const void *a, const void *b)
{
    const range_key *x = a, *y = b;
    if (x->file_index != y->file_index)
        return x->file_index < y->file_index ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return 0;
}

typedef struct meta_key {
    const char *key;
    int index;
} meta_key;

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const meta_key *)a)->key, ((const meta_key *)b)->key);
}

static pce_status check_overlaps(pce_model_file *f)
{
    if (f->n_tensors < 2)
        return PCE_OK;
    range_key *order = malloc((size_t)f->n_tensors * sizeof *order);
    if (!order)
        return pce_fail(f->ctx, PCE_ERR_OUT_OF_MEMORY, "sorting %d tensors", f->n_tensors);
    int n = 0;
    for (int i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].t.bytes && !f->tensors[i].absent)
            order[n++] = (range_key){f->tensors[i].t.file_index, f->tensors[i].t.offset, i};
    qsort(order, (size_t)n, sizeof *order, cmp_range);
    pce_status st = PCE_OK;
    for (int i = 1; i < n && st == PCE_OK; i++) {
        const pce_model_tensor *a = &f->tensors[order[i - 1].index].t;
        const pce_model_tensor *b = &f->tensors[order[i].index].t;
        if (a->file_index == b->file_index && a->offset + a->bytes > b->offset)
            st =
                pce_fail(f->ctx, PCE_ERR_FORMAT,
                         "%s: tensors '%s' (bytes %llu..%llu) and '%s' (bytes %llu..%llu) "
                         "overlap",
                         f->parts[a->file_index].path, a->name, (unsigned long long)a->offset,
                         (unsigned long long)(a->offset + a->bytes), b->name,
                         (unsigned long long)b->offset, (unsigned long long)(b->offset + b->bytes));
    }
    free(order);
    return st;
}

static pce_status sort_keys(pce_model_file *f)
{
    if (!f->n_meta)
        return PCE_OK;
    meta_key *keys = malloc((size_t)f->n_meta * sizeof *keys);
    f->meta_sorted = malloc((size_t)f->n_meta * sizeof *f->meta_sorted);
    if (!keys || !f->meta_sorted) {
        free(keys);
        return pce_fail(f->ctx, PCE_ERR_OUT_OF_MEMORY, "sorting %d metadata keys", f->n_meta);
    }
    for (int i = 0; i < f->n_meta; i++)
        keys[i] = (meta_key){f->meta[i].m.key, i};
    qsort(keys, (size_t)f->n_meta, sizeof *keys, cmp_key);
    pce_status st = PCE_OK;
    for (int i = 0; i < f->n_meta; i++) {
        f->meta_sorted[i] = keys[i].index;
        if (i && st == PCE_OK && !strcmp(keys[i].key, keys[i - 1].key))
            st = pce_fail(f->ctx, PCE_ERR_FORMAT, "%s: metadata key '%s' appears twice",
                          f->parts[0].path, keys[i].key);
    }
    free(keys);
    return st;
}

pce_status pce_mf_finish(pce_model_file *f)
{
    /* the readers checked every range against its file; here only against
     * each other */
    for (int i = 0; i < f->n_tensors; i++) {
        const pce_model_tensor *t = &f->tensors[i].t;
        const mf_part *p = &f->parts[t->file_index];
        if (f->tensors[i].absent)
            continue;
        if (t->offset > p->size || t->bytes > p->size - t->offset)
            return pce_fail(f->ctx, PCE_ERR_INTERNAL, "%s: tensor '%s' escaped the range checks",
                            p->path, t->name);
    }
    pce_status st = check_overlaps(f);
    if (st == PCE_OK)
        st = sort_keys(f);
    if (st == PCE_OK)
        st = build_index(f);
    /* data the mapping holds unaligned for its elements (safetensors' offsets
     * need not be): one aligned copy, owned by f */
    for (int i = 0; i < f->n_tensors && st == PCE_OK; i++) {
        mf_tensor *t = &f->tensors[i];
        if (t->absent || !t->t.bytes || t->align <= 1 || (uintptr_t)t->t.data % t->align == 0)
            continue;
        void *copy = pce_mf_alloc(f, t->t.bytes);
        if (!copy)
            return pce_fail(f->ctx, PCE_ERR_OUT_OF_MEMORY,
                            "%s: aligned copy of tensor '%s' (%zu bytes)",
                            f->parts[t->t.file_index].path, t->t.name, t->t.bytes);
        memcpy(copy, t->t.data, t->t.bytes);
        pce_log(f->ctx, PCE_LOG_DEBUG, "%s: tensor '%s' is unaligned in the file: copied",
                f->parts[t->t.file_index].path, t->t.name);
        t->t.data = copy;
    }
    return st;
}

/* ---- queries --------------------------------------------------------------- */

pce_model_format pce_model_file_format(const pce_model_file *f)
{
    return f ? f->format : PCE_MODEL_GGUF;
}

int pce_model_file_meta_count(const pce_model_file *f)
{
    return f ? f->n_meta : 0;
}

pce_status pce_model_file_meta_get(const pce_model_file *f, int index, pce_meta *out)
{
    if (!f || !out)
        return PCE_ERR_INVALID_ARGUMENT;
    if (index < 0 || index >= f->n_meta)
        return pce_fail(f->ctx, PCE_ERR_INVALID_ARGUMENT, "metadata index %d out of 0..%d", index,
                        f->n_meta - 1);
    *out = f->meta[index].m;
    return PCE_OK;
}

static const mf_meta *find_meta(const pce_model_file *f, const char *key)
{
    int lo = 0, hi = f->n_meta - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const mf_meta *m = &f->meta[f->meta_sorted[mid]];
        int c = strcmp(m->m.key, key);
        if (c == 0)
            return m;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

pce_status pce_model_file_meta_find(const pce_model_file *f, const char *key, pce_meta *out)
{
    if (!f || !key || !out)
        return f ? pce_fail(f->ctx, PCE_ERR_INVALID_ARGUMENT, "metadata find: NULL argument")
                 : PCE_ERR_INVALID_ARGUMENT;
    const mf_meta *m = find_meta(f, key);
    if (!m)
        return pce_fail(f->ctx, PCE_ERR_NOT_FOUND, "%s: no metadata key '%s'", f->parts[0].path,
                        key);
    *out = m->m;
    return PCE_OK;
}

pce_status pce_model_file_meta_array_string(const pce_model_file *f, const char *key,
                                            uint64_t index, const char **str, size_t *len)
{
    if (!f || !key || !str || !len)
        return f ? pce_fail(f->ctx, PCE_ERR_INVALID_ARGUMENT, "metadata string: NULL argument")
                 : PCE_ERR_INVALID_ARGUMENT;
    const mf_meta *m = find_meta(f, key);
    if (!m)
        return pce_fail(f->ctx, PCE_ERR_NOT_FOUND, "%s: no metadata key '%s'", f->parts[0].path,
                        key);
    if (m->m.type != PCE_META_ARRAY || m->m.elem_type != PCE_META_STRING || !m->strs)
        return pce_fail(f->ctx, PCE_ERR_INVALID_ARGUMENT,
                        "metadata '%s' is not an array of strings", key);
    if (index >= m->m.count)
        return pce_fail(f->ctx, PCE_ERR_INVALID_ARGUMENT,
                        "metadata '%s': index %llu out of range (%llu strings)", key,
                        (unsigned long long)index, (unsigned long long)m->m.count);
    uint64_t n;
    memcpy(&n, m->strs[index], 8); /* checked against the file when read */
    *str = (const char *)m->strs[index] + 8;
    *len = (size_t)n;
    return PCE_OK;
}

int pce_model_file_tensor_count(const pce_model_file *f)
{
    return f ? f->n_tensors : 0;
}

/* FORMAT for a tensor whose data a metadata-only open did not find. */
static pce_status absent_error(const pce_model_file *f, const mf_tensor *t)
{
    return pce_fail(f->ctx, PCE_ERR_FORMAT,
                    "%s: tensor '%s' (%s, %zu bytes at byte %llu): its data lies past the end of "
                    "the file, which is truncated or metadata-only (opened with "
                    "pce_model_file_open_metadata)",
                    f->parts[t->t.file_index].path, t->t.name, t->t.dtype_name, t->t.bytes,
                    (unsigned long long)t->t.offset);
}

pce_status pce_model_file_tensor_get(const pce_model_file *f, int index, pce_model_tensor *out)
{
    if (!f || !out)
        return PCE_ERR_INVALID_ARGUMENT;
    if (index < 0 || index >= f->n_tensors)
        return pce_fail(f->ctx, PCE_ERR_INVALID_ARGUMENT, "tensor index %d out of 0..%d", index,
                        f->n_tensors - 1);
    *out = f->tensors[index].t;
    return f->tensors[index].absent ? absent_error(f, &f->tensors[index]) : PCE_OK;
}

pce_status pce_model_file_tensor_find(const pce_model_file *f, const char *name,
                                      pce_model_tensor *out)
{
    if (!f || !name || !out)
        return f ? pce_fail(f->ctx, PCE_ERR_INVALID_ARGUMENT, "tensor find: NULL argument")
                 : PCE_ERR_INVALID_ARGUMENT;
    int i = pce_mf_tensor_index(f, name);
    if (i < 0)
        return pce_fail(f->ctx, PCE_ERR_NOT_FOUND, "%s: no tensor '%s'", f->parts[0].path, name);
    *out = f->tensors[i].t;
    return f->tensors[i].absent ? absent_error(f, &f->tensors[i]) : PCE_OK;
}

pce_tensor *pce_graph_weight_from_file(pce_graph *g, const pce_model_file *f, const char *name)
{
    if (!g || g->status != PCE_OK)
        return NULL;
    if (!f || !name)
        return pce_graph_fail(g, PCE_ERR_INVALID_ARGUMENT, "weight from file: %s is NULL",
                              f ? "name" : "model file");
    int i = pce_mf_tensor_index(f, name);
    if (i < 0)
        return pce_graph_fail(g, PCE_ERR_NOT_FOUND, "weight '%s': no such tensor in %s", name,
                              f->parts[0].path);
    const pce_model_tensor *t = &f->tensors[i].t;
    if (f->tensors[i].absent)
        return pce_graph_fail(g, PCE_ERR_FORMAT,
                              "weight '%s': its data lies past the end of %s, which is truncated "
                              "or metadata-only",
                              name, f->parts[t->file_index].path);
    if (t->dtype >= PCE_DTYPE_COUNT || !pce_dtype_get_info(t->dtype))
        return pce_graph_fail(g, PCE_ERR_UNSUPPORTED,
                              "weight '%s' in %s is %s, a dtype pce cannot compute with", name,
                              f->parts[t->file_index].path, t->dtype_name);
    int64_t one = 1;
    pce_tensor *w = pce_graph_weight(g, name, t->dtype, t->ndim ? t->ndim : 1,
                                     t->ndim ? t->dims : &one, t->data);
    if (w && pce_tensor_bytes(w) != t->bytes)
        return pce_graph_fail(g, PCE_ERR_INTERNAL,
                              "weight '%s': %zu bytes in the file, %zu for its shape and dtype",
                              name, t->bytes, pce_tensor_bytes(w));
    return w;
}
