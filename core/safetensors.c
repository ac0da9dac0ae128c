/* safetensors.c — the safetensors reader: an 8-byte little-endian header
 * length, a JSON header (tensors with dtype, shape, data_offsets; string
 * __metadata__) and the data section; and sharded models, whose
 * model.safetensors.index.json maps each tensor to its shard. Every offset
 * is checked against the file and against the tensor's shape and dtype. */
#include "modelfile.h"

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* sanity limit of the JSON header */
#define ST_MAX_INDEX ((uint64_t)100 << 20)

static const struct {
    const char *name;
    int size;
    pce_dtype dtype;
} st_types[] = {
    {"F32", 4, PCE_DTYPE_F32},       {"F16", 2, PCE_DTYPE_F16},
    {"BF16", 2, PCE_DTYPE_BF16},     {"I32", 4, PCE_DTYPE_I32},
    {"I8", 1, PCE_DTYPE_I8},         {"BOOL", 1, PCE_DTYPE_COUNT},
    {"U8", 1, PCE_DTYPE_COUNT},      {"I16", 2, PCE_DTYPE_COUNT},
    {"U16", 2, PCE_DTYPE_COUNT},     {"U32", 4, PCE_DTYPE_COUNT},
    {"F64", 8, PCE_DTYPE_COUNT},     {"I64", 8, PCE_DTYPE_COUNT},
    {"U64", 8, PCE_DTYPE_COUNT},     {"F8_E4M3", 1, PCE_DTYPE_COUNT},
    {"F8_E5M2", 1, PCE_DTYPE_COUNT}, {"F8_E8M0", 1, PCE_DTYPE_COUNT},
};

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parses n bytes of JSON (only whitespace may follow it). On error, FORMAT
 * naming the file and the byte (base + offset in the text). */
static pce_status parse_json(pce_model_file *f, const char *path, const char *what,
                             const char *text, size_t n, size_t base, json_object **out)
{
    *out = NULL;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return pce_fail(f->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: allocating a JSON parser", path);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex(tok, text, (int)n);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!o || e != json_tokener_success) {
        json_object_put(o);
        if (e == json_tokener_continue || e == json_tokener_success)
            return pce_fail(f->ctx, PCE_ERR_FORMAT,
                            "%s: %s: the JSON ends early (at byte %zu, %zu bytes long)", path, what,
                            base + n, n);
        return pce_fail(f->ctx, PCE_ERR_FORMAT, "%s: %s: bad JSON at byte %zu: %s", path, what,
                        base + end, json_tokener_error_desc(e));
    }
    for (size_t i = end; i < n; i++)
        if (!is_ws(text[i])) {
            json_object_put(o);
            return pce_fail(f->ctx, PCE_ERR_FORMAT,
                            "%s: %s: unexpected byte 0x%02x after the JSON at byte %zu", path, what,
                            (unsigned char)text[i], base + i);
        }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return pce_fail(f->ctx, PCE_ERR_FORMAT, "%s: %s: the JSON at byte %zu is not an object",
                        path, what, base);
    }
    *out = o;
    return PCE_OK;
}

/* A non-negative JSON integer, or false. */
static bool get_uint(json_object *o, uint64_t *out)
{
    if (!json_object_is_type(o, json_type_int))
        return false;
    int64_t v = json_object_get_int64(o); /* saturates at INT64_MAX: fails the range checks */
    if (v < 0)
        return false;
    *out = (uint64_t)v;
    return true;
}

static pce_status add_string_meta(pce_model_file *f, const char *key, const char *val, size_t len)
{
    mf_meta *m = pce_mf_add_meta(f);
    if (!m || !(m->m.key = pce_mf_strndup(f, key, strlen(key))) ||
        !(m->m.str = pce_mf_strndup(f, val, len)))
        return PCE_ERR_OUT_OF_MEMORY;
    m->m.type = PCE_META_STRING;
    m->m.str_len = len;
    return PCE_OK;
}

static pce_status read_metadata(pce_model_file *f, const char *path, json_object *md)
{
    if (!json_object_is_type(md, json_type_object))
        return pce_fail(f->ctx, PCE_ERR_FORMAT,
                        "%s: __metadata__ in the JSON header is not an "
                        "object of strings",
                        path);
    json_object_object_foreach(md, key, val)
    {
        if (!json_object_is_type(val, json_type_string))
            return pce_fail(f->ctx, PCE_ERR_FORMAT,
                            "%s: __metadata__ '%s' is a JSON %s, not a string", path, key,
                            json_type_to_name(json_object_get_type(val)));
        pce_status st = add_string_meta(f, key, json_object_get_string(val),
                                        (size_t)json_object_get_string_len(val));
        if (st != PCE_OK)
            return st;
    }
    return PCE_OK;
}

/* One tensor entry of the header; data starts at byte `data` of the file. */
static pce_status read_tensor(pce_model_file *f, int part, const char *name, json_object *o,
                              uint64_t data)
{
    const mf_part *p = &f->parts[part];
    const char *path = p->path;
    json_object *jd, *js, *jo;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "dtype", &jd) ||
        !json_object_object_get_ex(o, "shape", &js) ||
        !json_object_object_get_ex(o, "data_offsets", &jo))
        return pce_fail(f->ctx, PCE_ERR_FORMAT,
                        "%s: tensor '%s': the JSON header entry needs dtype, shape and "
                        "data_offsets",
                        path, name);
    const char *dt = json_object_get_string(jd);
    int type = -1;
    int n_types = (int)(sizeof st_types / sizeof st_types[0]);
    if (json_object_is_type(jd, json_type_string))
        for (int i = 0; i < n_types && type < 0; i++)
            if (!strcmp(dt, st_types[i].name))
                type = i;
    if (type < 0)
        return pce_fail(f->ctx, PCE_ERR_FORMAT, "%s: tensor '%s': unknown dtype %.40s", path, name,
                        dt ? dt : "(null)");
    if (!json_object_is_type(js, json_type_array))
        return pce_fail(f->ctx, PCE_ERR_FORMAT, "%s: tensor '%s': shape is not an array", path,
                        name);
    size_t ndim = json_object_array_length(js);
    if (ndim > PCE_MAX_DIMS)
        return pce_fail(f->ctx, PCE_ERR_FORMAT, "%s: tensor '%s': %zu dims (at most %d)", path,
                        name, ndim, PCE_MAX_DIMS);
    int64_t dims[PCE_MAX_DIMS] = {0};
    uint64_t numel = 1;
    for (size_t d = 0; d < ndim; d++) {
        uint64_t v;
        if (!get_uint(json_object_array_get_idx(js, d), &v) || v > INT64_MAX ||
            !pce_mf_mul(numel, v, &numel) || numel > INT64_MAX)
            return pce_fail(f->ctx, PCE_ERR_FORMAT,
                            "%s: tensor '%s': shape entry %zu is not a non-negative integer or "
                            "the element count overflows",
                            path, name, d);
        dims[d] = (int64_t)v;
    }
    uint64_t begin, end, bytes;
    if (!json_object_is_type(jo, json_type_array) || json_object_array_length(jo) != 2 ||
        !get_uint(json_object_array_get_idx(jo, 0), &begin) ||
        !get_uint(json_object_array_get_idx(jo, 1), &end))
        return pce_fail(f->ctx, PCE_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets is not [begin, end] (non-negative "
                        "integers)",
                        path, name);
    uint64_t avail = p->size - data;
    if (end < begin || end > avail)
        return pce_fail(f->ctx, PCE_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu) at byte %llu: %s (the data "
                        "section holds %llu bytes)",
                        path, name, (unsigned long long)begin, (unsigned long long)end,
                        (unsigned long long)data, end < begin ? "end before begin" : "past the end",
                        (unsigned long long)avail);
    if (!pce_mf_mul(numel, (uint64_t)st_types[type].size, &bytes) || bytes != end - begin)
        return pce_fail(f->ctx, PCE_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu) hold %llu bytes, its shape "
                        "and dtype %s need %llu",
                        path, name, (unsigned long long)begin, (unsigned long long)end,
                        (unsigned long long)(end - begin), st_types[type].name,
                        (unsigned long long)numel * (uint64_t)st_types[type].size);
    mf_tensor *t = pce_mf_add_tensor(f);
    if (!t || !(t->t.name = pce_mf_strndup(f, name, strlen(name))))
        return PCE_ERR_OUT_OF_MEMORY;
    t->t.dtype = st_types[type].dtype;
    t->t.dtype_name = st_types[type].name;
    t->t.ndim = (int)ndim;
    memcpy(t->t.dims, dims, sizeof dims);
    t->t.offset = data + begin;
    t->t.bytes = (size_t)bytes;
    t->t.data = p->map + data + begin;
    t->t.file_index = part;
    t->align = (size_t)st_types[type].size;
    return PCE_OK;
}

/* Maps one .safetensors file as a new part and reads its header. */
static pce_status read_file(pce_model_file *f, const char *path, const char *what, bool store_meta)
{
    int part;
    pce_status st = pce_mf_map(f, path, what, &part);
    if (st != PCE_OK)
        return st;
    const mf_part *p = &f->parts[part];
    if (p->size < 8)
        return pce_fail(f->ctx, PCE_ERR_FORMAT,
                        "%s: truncated at byte %zu: a safetensors file starts with an 8-byte "
                        "header length",
                        path, p->size);
    uint64_t n = le64(p->map);
    if (n > ST_MAX_HEADER)
        return pce_fail(f->ctx, PCE_ERR_FORMAT,
                        "%s: the header length at byte 0 is %llu bytes (more than the %llu MB "
                        "this reader accepts: not a safetensors file?)",
                        path, (unsigned long long)n, (unsigned long long)(ST_MAX_HEADER >> 20));
    if (n > p->size - 8)
        return pce_fail(f->ctx, PCE_ERR_FORMAT,
                        "%s: truncated: the header length at byte 0 is %llu bytes, the file "
                        "has %zu after it",
                        path, (unsigned long long)n, p->size - 8);
    json_object *root;
    if ((st = parse_json(f, path, "JSON header", (const char *)p->map + 8, (size_t)n, 8, &root)) !=
        PCE_OK)
        return st;
    json_object_object_foreach(root, key, val)
    {
        if (!strcmp(key, "__metadata__"))
            st = store_meta ? read_metadata(f, path, val) : PCE_OK;
        else
            st = read_tensor(f, part, key, val, 8 + n);
        if (st != PCE_OK)
            break;
    }
    json_object_put(root);
    return st;
}

pce_status pce_safetensors_read(pce_model_file *f, const char *path)
{
    pce_status st = read_file(f, path, "", true);
    return st == PCE_OK ? pce_mf_finish(f) : st;
}

/* Reads a whole small file into a NUL-terminated buffer the caller frees. */
static pce_status slurp(pce_model_file *f, const char *path, char **out, size_t *len)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return pce_fail(f->ctx, e == ENOENT ? PCE_ERR_NOT_FOUND : PCE_ERR_IO, "%s: cannot open: %s",
                        path, strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return pce_fail(f->ctx, PCE_ERR_IO, "%s: %s", path, strerror(e));
    }
    if ((uint64_t)sb.st_size > ST_MAX_INDEX) {
        close(fd);
        return pce_fail(f->ctx, PCE_ERR_FORMAT, "%s: %lld bytes: too large for an index", path,
                        (long long)sb.st_size);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return pce_fail(f->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: reading %zu bytes", path, n + 1);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = errno;
            close(fd);
            free(buf);
            return pce_fail(f->ctx, PCE_ERR_IO, "%s: reading at byte %zu: %s", path, got,
                            r < 0 ? strerror(e) : "file shrank");
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    *len = n;
    return PCE_OK;
}

/* A shard name must stay in the index's folder tree. */
static bool safe_shard_name(const char *s)
{
    if (!*s || s[0] == '/')
        return false;
    for (const char *p = s; *p;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n + (slash ? 1 : 0);
    }
    return true;
}

static pce_status read_index(pce_model_file *f, const char *path, json_object *root)
{
    json_object *wm;
    if (!json_object_object_get_ex(root, "weight_map", &wm) ||
        !json_object_is_type(wm, json_type_object))
        return pce_fail(f->ctx, PCE_ERR_FORMAT, "%s: no \"weight_map\" object", path);
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    /* the shards, each once, in order of first mention */
    const char **shards = NULL;
    int n_shards = 0, n_entries = 0;
    pce_status st = PCE_OK;
    json_object_object_foreach(wm, name, val)
    {
        n_entries++;
        const char *shard = json_object_get_string(val);
        if (!json_object_is_type(val, json_type_string) || !safe_shard_name(shard)) {
            st = pce_fail(f->ctx, PCE_ERR_FORMAT,
                          "%s: weight_map entry '%s': the shard must be a relative file name "
                          "without '..', is %.80s",
                          path, name, shard ? shard : "(null)");
            break;
        }
        int k = 0;
        while (k < n_shards && strcmp(shards[k], shard))
            k++;
        if (k < n_shards)
            continue;
        const char **ns = realloc(shards, (size_t)(n_shards + 1) * sizeof *ns);
        if (!ns) {
            st = pce_fail(f->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: listing shards", path);
            break;
        }
        shards = ns;
        shards[n_shards++] = shard;
    }
    for (int k = 0; k < n_shards && st == PCE_OK; k++) {
        size_t len = dirlen + strlen(shards[k]) + 1;
        char *sp = pce_mf_alloc(f, len);
        if (!sp) {
            st = PCE_ERR_OUT_OF_MEMORY;
            break;
        }
        snprintf(sp, len, "%.*s%s", (int)dirlen, path, shards[k]);
        char what[96];
        snprintf(what, sizeof what, "shard %d of %d of %.40s", k + 1, n_shards,
                 slash ? slash + 1 : path);
        st = read_file(f, sp, what, k == 0);
    }
    free(shards);
    if (st != PCE_OK)
        return st;
    if (!n_entries)
        return pce_fail(f->ctx, PCE_ERR_FORMAT, "%s: the weight_map is empty", path);
    /* the index's own metadata ("total_size"), as strings, after the shard's */
    json_object *md;
    if (json_object_object_get_ex(root, "metadata", &md) &&
        json_object_is_type(md, json_type_object)) {
        json_object_object_foreach(md, key, val)
        {
            bool dup = false;
            for (int i = 0; i < f->n_meta && !dup; i++)
                dup = !strcmp(f->meta[i].m.key, key);
            if (dup || json_object_is_type(val, json_type_null))
                continue;
            const char *s = json_object_get_string(val);
            if ((st = add_string_meta(f, key, s, strlen(s))) != PCE_OK)
                return st;
        }
    }
    if ((st = pce_mf_finish(f)) != PCE_OK)
        return st;
    /* every tensor where the index says it is */
    json_object_object_foreach(wm, tname, tval)
    {
        int i = pce_mf_tensor_index(f, tname);
        const char *shard = json_object_get_string(tval);
        if (i < 0)
            return pce_fail(f->ctx, PCE_ERR_FORMAT,
                            "%s: the weight_map puts tensor '%s' in %s, which has no such tensor",
                            path, tname, shard);
        const char *in = f->parts[f->tensors[i].t.file_index].path + dirlen;
        if (strcmp(in, shard))
            return pce_fail(f->ctx, PCE_ERR_FORMAT,
                            "%s: the weight_map puts tensor '%s' in %s, but it is in %s", path,
                            tname, shard, in);
    }
    return PCE_OK;
}

pce_status pce_safetensors_index_read(pce_model_file *f, const char *path)
{
    char *text;
    size_t n = 0;
    pce_status st = slurp(f, path, &text, &n);
    if (st != PCE_OK)
        return st;
    json_object *root;
    st = parse_json(f, path, "index", text, n, 0, &root);
    if (st == PCE_OK) {
        st = read_index(f, path, root);
        json_object_put(root);
    }
    free(text);
    return st;
}
