/* gguf.c — the GGUF reader (versions 2 and 3, little-endian): header,
 * metadata of every value type, tensor infos, the aligned data section,
 * and split models (NAME-00001-of-0000N.gguf finds its other parts).
 * Every count, length and offset is checked against the mapping before it
 * is used; malformed input is a FORMAT error naming the file, the entry and
 * the byte offset. */
#include "modelfile.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NESTING 8 /* arrays of arrays ... */
#define GGUF_MAX_PARTS 99999

/* ggml's tensor types, by id: block size, block bytes, the alignment a
 * block needs in memory and pce's dtype (PCE_DTYPE_COUNT: none). Ids that
 * ggml removed (4, 5, 31-33, 36-38) have no name. */
typedef struct ggml_type_info {
    const char *name;
    int block_size;
    int block_bytes;
    int align;
    pce_dtype dtype;
} ggml_type_info;

#define NONE PCE_DTYPE_COUNT
static const ggml_type_info ggml_types[] = {
    [0] = {"F32", 1, 4, 4, PCE_DTYPE_F32},
    [1] = {"F16", 1, 2, 2, PCE_DTYPE_F16},
    [2] = {"Q4_0", 32, 18, 2, PCE_DTYPE_Q4_0},
    [3] = {"Q4_1", 32, 20, 2, PCE_DTYPE_Q4_1},
    [6] = {"Q5_0", 32, 22, 2, PCE_DTYPE_Q5_0},
    [7] = {"Q5_1", 32, 24, 2, PCE_DTYPE_Q5_1},
    [8] = {"Q8_0", 32, 34, 2, PCE_DTYPE_Q8_0},
    [9] = {"Q8_1", 32, 36, 2, NONE},
    [10] = {"Q2_K", 256, 84, 2, NONE},
    [11] = {"Q3_K", 256, 110, 2, NONE},
    [12] = {"Q4_K", 256, 144, 2, PCE_DTYPE_Q4_K},
    [13] = {"Q5_K", 256, 176, 2, PCE_DTYPE_Q5_K},
    [14] = {"Q6_K", 256, 210, 2, PCE_DTYPE_Q6_K},
    [15] = {"Q8_K", 256, 292, 4, NONE},
    [16] = {"IQ2_XXS", 256, 66, 2, NONE},
    [17] = {"IQ2_XS", 256, 74, 2, NONE},
    [18] = {"IQ3_XXS", 256, 98, 2, NONE},
    [19] = {"IQ1_S", 256, 50, 2, NONE},
    [20] = {"IQ4_NL", 32, 18, 2, NONE},
    [21] = {"IQ3_S", 256, 110, 2, NONE},
    [22] = {"IQ2_S", 256, 82, 2, NONE},
    [23] = {"IQ4_XS", 256, 136, 2, NONE},
    [24] = {"I8", 1, 1, 1, PCE_DTYPE_I8},
    [25] = {"I16", 1, 2, 2, NONE},
    [26] = {"I32", 1, 4, 4, PCE_DTYPE_I32},
    [27] = {"I64", 1, 8, 8, NONE},
    [28] = {"F64", 1, 8, 8, NONE},
    [29] = {"IQ1_M", 256, 56, 2, NONE},
    [30] = {"BF16", 1, 2, 2, PCE_DTYPE_BF16},
    [34] = {"TQ1_0", 256, 54, 2, NONE},
    [35] = {"TQ2_0", 256, 66, 2, NONE},
    [39] = {"MXFP4", 32, 17, 1, NONE},
    [40] = {"NVFP4", 64, 36, 1, NONE},
    [41] = {"Q1_0", 128, 18, 2, NONE},
};
#undef NONE

/* A cursor over one mapped part. `item` says what is being read. */
typedef struct rd {
    pce_model_file *f;
    const char *path;
    const uint8_t *p;
    size_t size, pos;
    char item[160];
} rd;

static pce_status truncated(rd *r, const char *what, uint64_t need)
{
    return pce_fail(r->f->ctx, PCE_ERR_FORMAT,
                    "%s: truncated or corrupt at byte %zu: %s%s%s needs %llu bytes, %zu are left",
                    r->path, r->pos, r->item, *r->item ? ": " : "", what, (unsigned long long)need,
                    r->size - r->pos);
}

static pce_status bad(rd *r, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static pce_status bad(rd *r, size_t at, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return pce_fail(r->f->ctx, PCE_ERR_FORMAT, "%s: %s%sat byte %zu: %s", r->path, r->item,
                    *r->item ? " " : "", at, msg);
}

static pce_status rd_bytes(rd *r, uint64_t n, const char *what, const uint8_t **out)
{
    if (n > r->size - r->pos)
        return truncated(r, what, n);
    *out = r->p + r->pos;
    r->pos += (size_t)n;
    return PCE_OK;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static pce_status rd_u32(rd *r, const char *what, uint32_t *out)
{
    const uint8_t *p = NULL;
    pce_status st = rd_bytes(r, 4, what, &p);
    if (st == PCE_OK)
        *out = (uint32_t)le(p, 4);
    return st;
}

static pce_status rd_u64(rd *r, const char *what, uint64_t *out)
{
    const uint8_t *p = NULL;
    pce_status st = rd_bytes(r, 8, what, &p);
    if (st == PCE_OK)
        *out = le(p, 8);
    return st;
}

/* A string: u64 length, then the bytes (not NUL-terminated). */
static pce_status rd_str(rd *r, const char *what, const char **s, uint64_t *len)
{
    pce_status st = rd_u64(r, what, len);
    if (st != PCE_OK)
        return st;
    const uint8_t *p = NULL;
    st = rd_bytes(r, *len, what, &p);
    if (st != PCE_OK) {
        r->pos -= 8; /* report the offset of the length */
        return st;
    }
    *s = (const char *)p;
    return PCE_OK;
}

/* Bytes of a fixed-size value type; 0 for string and array; -1 unknown. */
static int value_size(uint32_t type)
{
    switch (type) {
    case PCE_META_U8:
    case PCE_META_I8:
    case PCE_META_BOOL: return 1;
    case PCE_META_U16:
    case PCE_META_I16: return 2;
    case PCE_META_U32:
    case PCE_META_I32:
    case PCE_META_F32: return 4;
    case PCE_META_U64:
    case PCE_META_I64:
    case PCE_META_F64: return 8;
    case PCE_META_STRING:
    case PCE_META_ARRAY: return 0;
    default: return -1;
    }
}

static bool is_integer_type(uint32_t type)
{
    return type <= PCE_META_I32 || type == PCE_META_U64 || type == PCE_META_I64;
}

/* Integers fill the fields that hold them exactly: u for non-negative
 * values, i for those up to INT64_MAX, f always (rounded above 2^53). */
static void set_unsigned(pce_meta *m, uint64_t v)
{
    m->u = v;
    m->i = v <= INT64_MAX ? (int64_t)v : 0;
    m->f = (double)v;
}

static void set_signed(pce_meta *m, int64_t v)
{
    m->i = v;
    m->u = v >= 0 ? (uint64_t)v : 0;
    m->f = (double)v;
}

static void fill_scalar(pce_meta *m, uint32_t type, const uint8_t *p)
{
    switch (type) {
    case PCE_META_U8: set_unsigned(m, p[0]); break;
    case PCE_META_I8: set_signed(m, (int8_t)p[0]); break;
    case PCE_META_U16: set_unsigned(m, le(p, 2)); break;
    case PCE_META_I16: set_signed(m, (int16_t)(uint16_t)le(p, 2)); break;
    case PCE_META_U32: set_unsigned(m, le(p, 4)); break;
    case PCE_META_I32: set_signed(m, (int32_t)(uint32_t)le(p, 4)); break;
    case PCE_META_U64: set_unsigned(m, le(p, 8)); break;
    case PCE_META_I64: set_signed(m, (int64_t)le(p, 8)); break;
    case PCE_META_BOOL:
        m->b = p[0] != 0;
        set_unsigned(m, m->b);
        break;
    case PCE_META_F32: {
        uint32_t b = (uint32_t)le(p, 4);
        float x;
        memcpy(&x, &b, 4);
        m->f = x;
        break;
    }
    case PCE_META_F64: {
        uint64_t b = le(p, 8);
        memcpy(&m->f, &b, 8);
        break;
    }
    default: break;
    }
}

/* Reads one value of `type` into m (NULL: only checks and skips it). A
 * string array gets its element index when `table` is set. */
static pce_status read_value(rd *r, uint32_t type, int depth, pce_meta *m, const uint8_t ***strs,
                             bool table)
{
    size_t at = r->pos;
    int size = value_size(type);
    if (size < 0)
        return bad(r, at, "unknown value type %u", type);
    if (size > 0) {
        const uint8_t *p = NULL;
        pce_status st = rd_bytes(r, (uint64_t)size, "value", &p);
        if (st == PCE_OK && m)
            fill_scalar(m, type, p);
        return st;
    }
    if (type == PCE_META_STRING) {
        const char *s;
        uint64_t len;
        pce_status st = rd_str(r, "string", &s, &len);
        if (st == PCE_OK && m) {
            m->str = s;
            m->str_len = (size_t)len;
        }
        return st;
    }
    if (depth >= GGUF_MAX_NESTING)
        return bad(r, at, "arrays nested more than %d deep", GGUF_MAX_NESTING);
    uint32_t et;
    uint64_t count;
    pce_status st = rd_u32(r, "array element type", &et);
    if (st == PCE_OK)
        st = rd_u64(r, "array length", &count);
    if (st != PCE_OK)
        return st;
    int esize = value_size(et);
    if (esize < 0)
        return bad(r, at, "array of unknown value type %u", et);
    if (m) {
        m->elem_type = (pce_meta_type)et;
        m->count = count;
    }
    size_t left = r->size - r->pos;
    if (esize > 0) {
        uint64_t bytes;
        if (!pce_mf_mul(count, (uint64_t)esize, &bytes))
            bytes = UINT64_MAX;
        if (bytes > left)
            return truncated(r, "array data", bytes);
        if (m)
            m->array = r->p + r->pos;
        r->pos += (size_t)bytes;
        return PCE_OK;
    }
    /* strings (u64 length each) or arrays (u32 type + u64 length each) */
    uint64_t min_size = et == PCE_META_STRING ? 8 : 12;
    if (count > left / min_size)
        return truncated(r, "array elements",
                         count > UINT64_MAX / min_size ? UINT64_MAX : count * min_size);
    if (et == PCE_META_STRING && table && strs) {
        *strs = pce_mf_alloc(r->f, (size_t)count * sizeof **strs);
        if (!*strs && count)
            return PCE_ERR_OUT_OF_MEMORY;
    }
    for (uint64_t k = 0; k < count; k++) {
        if (et == PCE_META_STRING) {
            const char *s;
            uint64_t len;
            if (table && strs)
                (*strs)[k] = r->p + r->pos;
            st = rd_str(r, "string", &s, &len);
        } else {
            st = read_value(r, PCE_META_ARRAY, depth + 1, NULL, NULL, false);
        }
        if (st != PCE_OK)
            return st;
    }
    return PCE_OK;
}

/* What a part's metadata says about splitting and alignment. */
typedef struct part_info {
    bool has_count, has_no, has_total;
    uint64_t count, no, total;
    uint32_t alignment;
} part_info;

static bool key_is(const char *k, uint64_t len, const char *name)
{
    return len == strlen(name) && memcmp(k, name, (size_t)len) == 0;
}

/* Metadata of a part; stored in f only when `store` (the first part). */
static pce_status read_kv(rd *r, uint64_t n_kv, bool store, part_info *pi)
{
    for (uint64_t i = 0; i < n_kv; i++) {
        snprintf(r->item, sizeof r->item, "metadata entry %llu", (unsigned long long)i);
        size_t at = r->pos;
        const char *key;
        uint64_t klen;
        pce_status st = rd_str(r, "key", &key, &klen);
        if (st != PCE_OK)
            return st;
        if (memchr(key, 0, (size_t)klen))
            return bad(r, at, "key contains a NUL byte");
        snprintf(r->item, sizeof r->item, "metadata '%.*s'", klen > 100 ? 100 : (int)klen, key);
        uint32_t type;
        if ((st = rd_u32(r, "value type", &type)) != PCE_OK)
            return st;
        mf_meta local = {0}, *m = &local;
        if (store) {
            if (!(m = pce_mf_add_meta(r->f)))
                return PCE_ERR_OUT_OF_MEMORY;
            if (!(m->m.key = pce_mf_strndup(r->f, key, (size_t)klen)))
                return PCE_ERR_OUT_OF_MEMORY;
        }
        m->m.type = (pce_meta_type)type;
        size_t vat = r->pos;
        if ((st = read_value(r, type, 0, &m->m, &m->strs, store)) != PCE_OK)
            return st;
        bool integer = is_integer_type(type);
        if (key_is(key, klen, "general.alignment")) {
            uint64_t a = m->m.u;
            if (!integer || a == 0 || (a & (a - 1)) || a > (1u << 30) || m->m.i < 0)
                return bad(
                    r, vat, "must be a power of two up to 2^30 (an integer), is %s%llu",
                    integer ? "" : "not an integer: ", integer ? (unsigned long long)a : 0ull);
            pi->alignment = (uint32_t)a;
        } else if (key_is(key, klen, "split.count") || key_is(key, klen, "split.no") ||
                   key_is(key, klen, "split.tensors.count")) {
            if (!integer || m->m.i < 0)
                return bad(r, vat, "must be a non-negative integer");
            if (key_is(key, klen, "split.count")) {
                pi->has_count = true;
                pi->count = m->m.u;
            } else if (key_is(key, klen, "split.no")) {
                pi->has_no = true;
                pi->no = m->m.u;
            } else {
                pi->has_total = true;
                pi->total = m->m.u;
            }
        }
    }
    r->item[0] = 0;
    return PCE_OK;
}

static pce_status read_tensor_info(rd *r, int part, uint32_t alignment, uint64_t idx)
{
    snprintf(r->item, sizeof r->item, "tensor %llu", (unsigned long long)idx);
    size_t at = r->pos;
    const char *name;
    uint64_t nlen;
    pce_status st = rd_str(r, "name", &name, &nlen);
    if (st != PCE_OK)
        return st;
    if (memchr(name, 0, (size_t)nlen))
        return bad(r, at, "name contains a NUL byte");
    snprintf(r->item, sizeof r->item, "tensor '%.*s'", nlen > 100 ? 100 : (int)nlen, name);
    uint32_t n_dims;
    at = r->pos;
    if ((st = rd_u32(r, "number of dims", &n_dims)) != PCE_OK)
        return st;
    if (n_dims > PCE_MAX_DIMS)
        return bad(r, at, "%u dims (at most %d)", n_dims, PCE_MAX_DIMS);
    uint64_t ne[PCE_MAX_DIMS] = {1, 1, 1, 1}; /* innermost first, as in the file */
    for (uint32_t d = 0; d < n_dims; d++) {
        at = r->pos;
        if ((st = rd_u64(r, "dim", &ne[d])) != PCE_OK)
            return st;
        if (ne[d] > INT64_MAX)
            return bad(r, at, "dim %u is %llu", d, (unsigned long long)ne[d]);
    }
    uint32_t type;
    at = r->pos;
    if ((st = rd_u32(r, "type", &type)) != PCE_OK)
        return st;
    if (type >= sizeof ggml_types / sizeof ggml_types[0] || !ggml_types[type].name)
        return bad(r, at, "unknown ggml type %u", type);
    const ggml_type_info *gt = &ggml_types[type];
    uint64_t offset;
    at = r->pos;
    if ((st = rd_u64(r, "data offset", &offset)) != PCE_OK)
        return st;
    if (offset % alignment)
        return bad(r, at, "data offset %llu is not a multiple of the alignment %u",
                   (unsigned long long)offset, alignment);
    /* bytes = rows x blocks per row x block bytes; a row is the innermost dim */
    if (ne[0] % (uint64_t)gt->block_size)
        return bad(r, at, "rows of %llu elements are not a multiple of %s's block size %d",
                   (unsigned long long)ne[0], gt->name, gt->block_size);
    uint64_t numel = ne[0], rows = 1, bytes;
    for (int d = 1; d < PCE_MAX_DIMS; d++)
        if (!pce_mf_mul(rows, ne[d], &rows) || !pce_mf_mul(numel, ne[d], &numel) ||
            numel > INT64_MAX)
            return bad(r, at, "%llu x ... elements overflow", (unsigned long long)ne[0]);
    if (!pce_mf_mul(rows, ne[0] / (uint64_t)gt->block_size, &bytes) ||
        !pce_mf_mul(bytes, (uint64_t)gt->block_bytes, &bytes) || bytes > SIZE_MAX)
        return bad(r, at, "the tensor's byte size overflows");
    mf_tensor *t = pce_mf_add_tensor(r->f);
    if (!t)
        return PCE_ERR_OUT_OF_MEMORY;
    if (!(t->t.name = pce_mf_strndup(r->f, name, (size_t)nlen)))
        return PCE_ERR_OUT_OF_MEMORY;
    t->t.dtype = gt->dtype;
    t->t.dtype_name = gt->name;
    t->t.ndim = (int)n_dims;
    for (uint32_t d = 0; d < n_dims; d++)
        t->t.dims[d] = (int64_t)ne[n_dims - 1 - d];
    t->t.offset = offset; /* relative to the data section until it is known */
    t->t.bytes = (size_t)bytes;
    t->t.file_index = part;
    t->align = (size_t)gt->align;
    return PCE_OK;
}

/* Header, metadata, tensor infos and data ranges of one part. */
static pce_status read_part(pce_model_file *f, int part, bool store, part_info *pi)
{
    const mf_part *mp = &f->parts[part];
    rd r = {.f = f, .path = mp->path, .p = mp->map, .size = mp->size};
    const uint8_t *magic = NULL;
    pce_status st = rd_bytes(&r, 4, "magic", &magic);
    if (st != PCE_OK)
        return st;
    if (memcmp(magic, "GGUF", 4) != 0)
        return bad(&r, 0, "bad magic %02x %02x %02x %02x (expected 'GGUF')", magic[0], magic[1],
                   magic[2], magic[3]);
    uint32_t version;
    uint64_t n_tensors, n_kv;
    if ((st = rd_u32(&r, "version", &version)) != PCE_OK)
        return st;
    uint32_t swapped = __builtin_bswap32(version);
    if (version != 2 && version != 3) {
        if (swapped >= 1 && swapped <= 3)
            return bad(&r, 4, "a big-endian GGUF (version %u): only little-endian files are read",
                       swapped);
        return bad(&r, 4, "GGUF version %u (versions 2 and 3 are read)", version);
    }
    if ((st = rd_u64(&r, "tensor count", &n_tensors)) != PCE_OK ||
        (st = rd_u64(&r, "metadata count", &n_kv)) != PCE_OK)
        return st;
    /* a tensor info takes at least 24 bytes, a metadata entry 13 */
    size_t left = r.size - r.pos;
    if (n_tensors > left / 24 || n_tensors > INT_MAX - (uint64_t)f->n_tensors)
        return bad(&r, 8, "%llu tensors cannot fit in the %zu bytes that follow",
                   (unsigned long long)n_tensors, left);
    if (n_kv > left / 13)
        return bad(&r, 16, "%llu metadata entries cannot fit in the %zu bytes that follow",
                   (unsigned long long)n_kv, left);
    pi->alignment = GGUF_DEFAULT_ALIGNMENT;
    if ((st = read_kv(&r, n_kv, store, pi)) != PCE_OK)
        return st;
    int first = f->n_tensors;
    for (uint64_t i = 0; i < n_tensors; i++)
        if ((st = read_tensor_info(&r, part, pi->alignment, i)) != PCE_OK)
            return st;
    r.item[0] = 0;
    uint64_t data = ((uint64_t)r.pos + pi->alignment - 1) & ~(uint64_t)(pi->alignment - 1);
    for (int i = first; i < f->n_tensors; i++) {
        pce_model_tensor *t = &f->tensors[i].t;
        uint64_t start, end;
        bool overflow = !pce_mf_add(data, t->offset, &start) || !pce_mf_add(start, t->bytes, &end);
        if (!overflow && end > r.size && f->metadata_only) {
            /* a truncated download or a vocab-only file: the table stays,
             * the data is refused when asked for */
            f->tensors[i].absent = true;
            f->n_absent++;
            t->offset = start;
            t->data = NULL;
            continue;
        }
        if (overflow || end > r.size)
            return pce_fail(f->ctx, PCE_ERR_FORMAT,
                            "%s: tensor '%s' (%s, %zu bytes): data at byte %llu (offset %llu in "
                            "the data section at %llu) runs past the end of the file (%zu bytes)",
                            r.path, t->name, t->dtype_name, t->bytes,
                            (unsigned long long)(data + t->offset), (unsigned long long)t->offset,
                            (unsigned long long)data, r.size);
        t->offset = start;
        t->data = r.p + start;
    }
    return PCE_OK;
}

/* "dir/NAME-00001-of-00003.gguf": the length of "dir/NAME", or 0. */
static size_t split_prefix(const char *path, uint64_t count)
{
    char tail[64];
    snprintf(tail, sizeof tail, "-00001-of-%05llu.gguf", (unsigned long long)count);
    size_t n = strlen(path), m = strlen(tail);
    return n > m && strcmp(path + n - m, tail) == 0 ? n - m : 0;
}

pce_status pce_gguf_read(pce_model_file *f, const char *path)
{
    int part;
    pce_status st = pce_mf_map(f, path, "", &part);
    if (st != PCE_OK)
        return st;
    part_info first = {0};
    if ((st = read_part(f, part, true, &first)) != PCE_OK)
        return st;
    uint64_t count = first.has_count ? first.count : 1;
    if (first.has_no && first.no != 0)
        return pce_fail(f->ctx, PCE_ERR_FORMAT,
                        "%s: part %llu of a split model of %llu: open the first part "
                        "(NAME-00001-of-%05llu.gguf), which finds the others",
                        path, (unsigned long long)first.no + 1, (unsigned long long)count,
                        (unsigned long long)count);
    if (count == 0 || count > GGUF_MAX_PARTS)
        return pce_fail(f->ctx, PCE_ERR_FORMAT, "%s: split.count is %llu (1..%d)", path,
                        (unsigned long long)count, GGUF_MAX_PARTS);
    size_t prefix = count > 1 ? split_prefix(path, count) : 0;
    if (count > 1 && !prefix)
        return pce_fail(f->ctx, PCE_ERR_FORMAT,
                        "%s: the first of %llu parts of a split model, but its name does not end "
                        "in -00001-of-%05llu.gguf, so the other parts cannot be found",
                        path, (unsigned long long)count, (unsigned long long)count);
    for (uint64_t k = 1; k < count; k++) {
        char *pp = pce_mf_alloc(f, prefix + 32);
        if (!pp)
            return PCE_ERR_OUT_OF_MEMORY;
        snprintf(pp, prefix + 32, "%.*s-%05llu-of-%05llu.gguf", (int)prefix, path,
                 (unsigned long long)k + 1, (unsigned long long)count);
        char what[64];
        snprintf(what, sizeof what, "split model part %llu of %llu", (unsigned long long)k + 1,
                 (unsigned long long)count);
        if ((st = pce_mf_map(f, pp, what, &part)) != PCE_OK)
            return st;
        part_info pi = {0};
        if ((st = read_part(f, part, false, &pi)) != PCE_OK)
            return st;
        if (!pi.has_no || pi.no != k || (pi.has_count && pi.count != count))
            return pce_fail(f->ctx, PCE_ERR_FORMAT,
                            "%s: expected part %llu of %llu, but its split.no is %s%llu and "
                            "split.count %s%llu",
                            pp, (unsigned long long)k + 1, (unsigned long long)count,
                            pi.has_no ? "" : "missing ", (unsigned long long)pi.no,
                            pi.has_count ? "" : "missing ", (unsigned long long)pi.count);
    }
    if (first.has_total && first.total != (uint64_t)f->n_tensors)
        return pce_fail(f->ctx, PCE_ERR_FORMAT,
                        "%s: split.tensors.count says %llu tensors, the %llu part(s) hold %d", path,
                        (unsigned long long)first.total, (unsigned long long)count, f->n_tensors);
    return pce_mf_finish(f);
}
