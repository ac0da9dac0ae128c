/* test_modelfile.c — the model file readers (GGUF, safetensors) against
 * files written by independent writers (tests/fixtures/models, made by
 * make_model_fixtures.py with gguf-py's GGUFWriter and a hand-written
 * safetensors writer), and against malformed files built here: truncated at
 * every length, bad magic, bad counts, offsets past the end, overlaps,
 * absurd header lengths, bad JSON, bad dtypes, too many dims, bad
 * alignment. Each must fail with FORMAT (or IO/NOT_FOUND) and a message
 * naming the file; none may crash or read outside the file.
 *
 * Usage: test-modelfile FIXTURE_DIR   (tests/fixtures/models)
 */
#include <check.h>

#include "pce.h"
#include "pce_text.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *g_dir = ".";
static char g_tmp[256];
static pce_context *ctx;

static void setup(void)
{
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
}

static void teardown(void)
{
    pce_context_destroy(ctx);
    ctx = NULL;
}

/* ---- files ---------------------------------------------------------------- */

static const char *fixture(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static const char *tmp(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_tmp, name);
    return buf[k];
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    unsigned char *p = slurp(from, &n);
    spit(to, p, n);
    free(p);
}

static pce_model_file *open_ok(const char *path)
{
    pce_model_file *f = NULL;
    pce_status st = pce_model_file_open(ctx, path, &f);
    ck_assert_msg(st == PCE_OK, "%s: %s: %s", path, pce_status_name(st),
                  pce_context_last_error(ctx));
    ck_assert_ptr_nonnull(f);
    return f;
}

/* Opening must fail with `want` and a message holding each of the
 * NULL-terminated strings given. */
static void open_fails(const char *path, pce_status want, ...)
{
    pce_model_file *f = (pce_model_file *)1;
    pce_status st = pce_model_file_open(ctx, path, &f);
    const char *msg = pce_context_last_error(ctx);
    ck_assert_msg(st == want, "%s: expected %s, got %s: %s", path, pce_status_name(want),
                  pce_status_name(st), msg);
    ck_assert_ptr_null(f);
    va_list ap;
    va_start(ap, want);
    for (const char *s; (s = va_arg(ap, const char *));)
        ck_assert_msg(strstr(msg, s) != NULL, "%s: message '%s' lacks '%s'", path, msg, s);
    va_end(ap);
}

/* ---- expected values ------------------------------------------------------ */

/* make_model_fixtures.py's pattern */
static float pattern(int64_t i, float scale, float bias)
{
    return (float)(i % 97) * scale + bias;
}

static void check_f32(const pce_model_tensor *t, float scale, float bias)
{
    ck_assert_int_eq(t->dtype, PCE_DTYPE_F32);
    ck_assert_uint_eq((uintptr_t)t->data % 4, 0);
    const float *v = t->data;
    for (size_t i = 0; i < t->bytes / 4; i++)
        ck_assert_msg(v[i] == pattern((int64_t)i, scale, bias), "%s[%zu] = %g, expected %g",
                      t->name, i, v[i], pattern((int64_t)i, scale, bias));
}

static void check_dims(const pce_model_tensor *t, int ndim, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t want[3] = {d0, d1, d2};
    ck_assert_msg(t->ndim == ndim, "%s: ndim %d, expected %d", t->name, t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        ck_assert_msg(t->dims[i] == want[i], "%s: dim %d is %lld, expected %lld", t->name, i,
                      (long long)t->dims[i], (long long)want[i]);
}

static pce_model_tensor find(pce_model_file *f, const char *name)
{
    pce_model_tensor t;
    pce_status st = pce_model_file_tensor_find(f, name, &t);
    ck_assert_msg(st == PCE_OK, "tensor %s: %s", name, pce_context_last_error(ctx));
    ck_assert_str_eq(t.name, name);
    return t;
}

static pce_meta meta(pce_model_file *f, const char *key, pce_meta_type type)
{
    pce_meta m;
    pce_status st = pce_model_file_meta_find(f, key, &m);
    ck_assert_msg(st == PCE_OK, "metadata %s: %s", key, pce_context_last_error(ctx));
    ck_assert_str_eq(m.key, key);
    ck_assert_msg(m.type == type, "metadata %s: type %d, expected %d", key, m.type, type);
    return m;
}

static int64_t le_int(const void *p, int size, bool sign)
{
    const unsigned char *b = p;
    uint64_t u = 0;
    for (int i = size - 1; i >= 0; i--)
        u = u << 8 | b[i];
    if (sign && size < 8 && (u >> (8 * size - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * size);
    return (int64_t)u;
}

/* ---- GGUF ----------------------------------------------------------------- */

START_TEST(gguf_metadata)
{
    pce_model_file *f = open_ok(fixture("tiny.gguf"));
    ck_assert_int_eq(pce_model_file_format(f), PCE_MODEL_GGUF);
    ck_assert_int_eq(pce_model_file_meta_count(f), 23);
    pce_meta m;
    ck_assert_int_eq(pce_model_file_meta_get(f, 0, &m), PCE_OK);
    ck_assert_str_eq(m.key, "general.architecture"); /* the file's order */
    ck_assert_int_eq(pce_model_file_meta_get(f, 23, &m), PCE_ERR_INVALID_ARGUMENT);

    m = meta(f, "general.architecture", PCE_META_STRING);
    ck_assert_uint_eq(m.str_len, 5);
    ck_assert_int_eq(memcmp(m.str, "llama", 5), 0);
    ck_assert_uint_eq(meta(f, "general.alignment", PCE_META_U32).u, 64);
    m = meta(f, "test.u8", PCE_META_U8);
    ck_assert(m.u == 200 && m.i == 200 && m.f == 200.0);
    m = meta(f, "test.i8", PCE_META_I8);
    ck_assert(m.i == -100 && m.f == -100.0);
    ck_assert_uint_eq(meta(f, "test.u16", PCE_META_U16).u, 60000);
    ck_assert_int_eq(meta(f, "test.i16", PCE_META_I16).i, -30000);
    m = meta(f, "test.u32", PCE_META_U32);
    ck_assert(m.u == 4000000000u && m.i == 4000000000);
    ck_assert_int_eq(meta(f, "test.i32", PCE_META_I32).i, -2000000000);
    ck_assert(meta(f, "test.f32", PCE_META_F32).f == 1.5);
    ck_assert(meta(f, "test.bool", PCE_META_BOOL).b);
    m = meta(f, "test.string", PCE_META_STRING);
    ck_assert_uint_eq(m.str_len, 13);
    ck_assert_int_eq(memcmp(m.str, "h\xc3\xa9llo, world", 13), 0);
    ck_assert(meta(f, "test.u64", PCE_META_U64).u == UINT64_C(18000000000000000000));
    ck_assert(meta(f, "test.i64", PCE_META_I64).i == INT64_C(-9000000000000000000));
    ck_assert(meta(f, "test.f64", PCE_META_F64).f == -2.25);

    m = meta(f, "test.arr_i32", PCE_META_ARRAY);
    ck_assert_int_eq(m.elem_type, PCE_META_I32);
    ck_assert_uint_eq(m.count, 5);
    const int64_t i32s[] = {1, -2, 3, -4, 5};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(le_int((const char *)m.array + 4 * i, 4, true), i32s[i]);
    m = meta(f, "test.arr_u16", PCE_META_ARRAY);
    ck_assert(m.elem_type == PCE_META_U16 && m.count == 3);
    ck_assert_int_eq(le_int((const char *)m.array + 4, 2, false), 65535);
    m = meta(f, "test.arr_f32", PCE_META_ARRAY);
    ck_assert(m.elem_type == PCE_META_F32 && m.count == 3);
    float fl[3];
    memcpy(fl, m.array, sizeof fl);
    ck_assert(fl[0] == 0.5f && fl[1] == -1.25f && fl[2] == 3.0f);
    m = meta(f, "test.arr_f64", PCE_META_ARRAY);
    double db[2];
    memcpy(db, m.array, sizeof db);
    ck_assert(m.elem_type == PCE_META_F64 && db[0] == 1e100 && db[1] == -0.125);
    m = meta(f, "test.arr_bool", PCE_META_ARRAY);
    ck_assert(m.elem_type == PCE_META_BOOL && m.count == 4);
    ck_assert_int_eq(memcmp(m.array, "\1\0\1\1", 4), 0);
    m = meta(f, "test.arr_i64", PCE_META_ARRAY);
    ck_assert(le_int((const char *)m.array + 8, 8, true) == INT64_C(1) << 40);
    m = meta(f, "test.arr_nested", PCE_META_ARRAY);
    ck_assert(m.elem_type == PCE_META_ARRAY && m.count == 3);

    m = meta(f, "test.arr_str", PCE_META_ARRAY);
    ck_assert(m.elem_type == PCE_META_STRING && m.count == 4);
    const char *want[] = {"alpha", "", "gamma \xce\xb3", "d"};
    for (int i = 0; i < 4; i++) {
        const char *s;
        size_t len;
        ck_assert_int_eq(pce_model_file_meta_array_string(f, "test.arr_str", (uint64_t)i, &s, &len),
                         PCE_OK);
        ck_assert_uint_eq(len, strlen(want[i]));
        ck_assert_int_eq(memcmp(s, want[i], len), 0);
    }
    const char *s;
    size_t len;
    ck_assert_int_eq(pce_model_file_meta_array_string(f, "test.arr_str", 4, &s, &len),
                     PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_model_file_meta_array_string(f, "test.arr_i32", 0, &s, &len),
                     PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_model_file_meta_array_string(f, "no.such", 0, &s, &len),
                     PCE_ERR_NOT_FOUND);
    ck_assert_int_eq(pce_model_file_meta_find(f, "no.such.key", &m), PCE_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(pce_context_last_error(ctx), "no.such.key"));
    pce_model_file_close(f);
}
END_TEST

START_TEST(gguf_tensors)
{
    pce_model_file *f = open_ok(fixture("tiny.gguf"));
    ck_assert_int_eq(pce_model_file_tensor_count(f), 7);
    const char *order[] = {"t.f32", "t.f32_3d", "t.f16", "t.i32", "t.q8_0", "t.bf16", "t.q3_k"};
    for (int i = 0; i < 7; i++) {
        pce_model_tensor t;
        ck_assert_int_eq(pce_model_file_tensor_get(f, i, &t), PCE_OK);
        ck_assert_str_eq(t.name, order[i]);
        ck_assert_int_eq(t.file_index, 0);
        ck_assert_uint_eq(t.offset % 64, 0); /* general.alignment 64 */
    }
    pce_model_tensor t;
    ck_assert_int_eq(pce_model_file_tensor_get(f, 7, &t), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_model_file_tensor_find(f, "t.none", &t), PCE_ERR_NOT_FOUND);

    /* GGUF lists dims innermost first; pce's order is outermost first */
    t = find(f, "t.f32");
    check_dims(&t, 2, 3, 5, 0);
    ck_assert_str_eq(t.dtype_name, "F32");
    ck_assert_uint_eq(t.bytes, 60);
    check_f32(&t, 0.5f, -3.0f);
    t = find(f, "t.f32_3d");
    check_dims(&t, 3, 2, 3, 4);
    check_f32(&t, 0.25f, 1.0f);

    t = find(f, "t.f16");
    check_dims(&t, 2, 2, 8, 0);
    ck_assert_int_eq(t.dtype, PCE_DTYPE_F16);
    ck_assert_uint_eq(t.bytes, 32);
    float v[16];
    ck_assert_int_eq(pce_dtype_to_f32(PCE_DTYPE_F16, t.data, v, 16), PCE_OK);
    for (int i = 0; i < 16; i++)
        ck_assert(v[i] == pattern(i, 0.125f, -1.0f));

    t = find(f, "t.i32");
    check_dims(&t, 1, 7, 0, 0);
    ck_assert_int_eq(t.dtype, PCE_DTYPE_I32);
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(((const int32_t *)t.data)[i], i * 1000 - 3000);

    t = find(f, "t.bf16");
    check_dims(&t, 2, 4, 2, 0);
    ck_assert_int_eq(t.dtype, PCE_DTYPE_BF16);
    ck_assert_int_eq(pce_dtype_to_f32(PCE_DTYPE_BF16, t.data, v, 8), PCE_OK);
    for (int i = 0; i < 8; i++)
        ck_assert(v[i] == (float)i);

    /* Q8_0: 2 rows of 2 blocks (f16 scale, 32 x i8) */
    t = find(f, "t.q8_0");
    check_dims(&t, 2, 2, 64, 0);
    ck_assert_int_eq(t.dtype, PCE_DTYPE_Q8_0);
    ck_assert_str_eq(t.dtype_name, "Q8_0");
    ck_assert_uint_eq(t.bytes, 4 * 34);
    const pce_dtype_info *qi = pce_dtype_get_info(PCE_DTYPE_Q8_0);
    if (qi && qi->block_bytes)
        ck_assert(qi->block_size == 32 && qi->block_bytes == 34);
    for (int b = 0; b < 4; b++) {
        const unsigned char *blk = (const unsigned char *)t.data + 34 * b;
        float d;
        ck_assert_int_eq(pce_dtype_to_f32(PCE_DTYPE_F16, blk, &d, 1), PCE_OK);
        ck_assert(d > 0);
        for (int j = 0; j < 32; j++) {
            float want = pattern(32 * b + j, 0.01f, -0.4f);
            /* q = round(x / d) with d before its rounding to f16 */
            float got = d * (float)(int8_t)blk[2 + j];
            ck_assert_msg(fabsf(got - want) <= d * 0.6f, "q8_0[%d] = %g, expected %g", 32 * b + j,
                          got, want);
        }
    }

    /* a type pce has no dtype for: named, sized, bytes as written */
    t = find(f, "t.q3_k");
    check_dims(&t, 2, 2, 256, 0);
    ck_assert_int_eq(t.dtype, PCE_DTYPE_COUNT);
    ck_assert_str_eq(t.dtype_name, "Q3_K");
    ck_assert_uint_eq(t.bytes, 220);
    for (int i = 0; i < 220; i++)
        ck_assert_int_eq(((const unsigned char *)t.data)[i], i % 251);
    pce_model_file_close(f);
}
END_TEST

START_TEST(gguf_split)
{
    pce_model_file *f = open_ok(fixture("split-00001-of-00002.gguf"));
    ck_assert_int_eq(pce_model_file_tensor_count(f), 3);
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "s.%d", i);
        pce_model_tensor t = find(f, name);
        ck_assert_int_eq(t.file_index, i < 2 ? 0 : 1); /* two tensors per part */
        check_dims(&t, 2, 2, 4, 0);
        check_f32(&t, 1.0f, 10.0f * (float)i);
    }
    ck_assert_uint_eq(meta(f, "test.u32", PCE_META_U32).u, 7); /* the first part's metadata */
    ck_assert_uint_eq(meta(f, "split.count", PCE_META_U16).u, 2);
    pce_model_file_close(f);

    /* the second part alone: a clear error, not half a model */
    open_fails(fixture("split-00002-of-00002.gguf"), PCE_ERR_FORMAT, "open the first part", NULL);
    /* a missing part is named */
    copy_file(fixture("split-00001-of-00002.gguf"), tmp("m-00001-of-00002.gguf"));
    open_fails(tmp("m-00001-of-00002.gguf"), PCE_ERR_NOT_FOUND, "m-00002-of-00002.gguf",
               "part 2 of 2", NULL);
    /* a part that is not the one the name says */
    copy_file(fixture("split-00001-of-00002.gguf"), tmp("m-00002-of-00002.gguf"));
    open_fails(tmp("m-00001-of-00002.gguf"), PCE_ERR_FORMAT, "m-00002-of-00002.gguf", "split.no",
               NULL);
    /* a first part renamed so the others cannot be found */
    copy_file(fixture("split-00001-of-00002.gguf"), tmp("renamed.gguf"));
    open_fails(tmp("renamed.gguf"), PCE_ERR_FORMAT, "renamed.gguf", "-00001-of-00002.gguf", NULL);
}
END_TEST

/* ---- safetensors ---------------------------------------------------------- */

START_TEST(safetensors_file)
{
    pce_model_file *f = open_ok(fixture("tiny.safetensors"));
    ck_assert_int_eq(pce_model_file_format(f), PCE_MODEL_SAFETENSORS);
    pce_meta m = meta(f, "format", PCE_META_STRING);
    ck_assert(m.str_len == 2 && !memcmp(m.str, "pt", 2));
    m = meta(f, "note", PCE_META_STRING);
    ck_assert(m.str_len == 9 && !memcmp(m.str, "tiny test", 9));
    ck_assert_int_eq(pce_model_file_tensor_count(f), 3);

    pce_model_tensor t = find(f, "w.bf16");
    check_dims(&t, 1, 4, 0, 0);
    ck_assert_int_eq(t.dtype, PCE_DTYPE_BF16);
    ck_assert_str_eq(t.dtype_name, "BF16");
    float v[8];
    ck_assert_int_eq(pce_dtype_to_f32(PCE_DTYPE_BF16, t.data, v, 4), PCE_OK);
    for (int i = 0; i < 4; i++)
        ck_assert(v[i] == pattern(i, 0.5f, -1.0f));

    /* F32 data at a file offset that is 2 mod 4: read through an aligned copy */
    t = find(f, "w.f32");
    ck_assert_uint_eq(t.offset % 4, 2);
    check_dims(&t, 2, 2, 3, 0);
    ck_assert_uint_eq(t.bytes, 24);
    check_f32(&t, 0.75f, -2.0f);

    t = find(f, "w.i64");
    check_dims(&t, 1, 3, 0, 0);
    ck_assert_int_eq(t.dtype, PCE_DTYPE_COUNT);
    ck_assert_str_eq(t.dtype_name, "I64");
    ck_assert_uint_eq((uintptr_t)t.data % 8, 0);
    const int64_t *iv = t.data;
    ck_assert(iv[0] == -5 && iv[1] == 0 && iv[2] == INT64_C(1) << 40);
    pce_model_file_close(f);

    /* the format comes from the content, not the name */
    copy_file(fixture("tiny.safetensors"), tmp("weights.bin"));
    f = open_ok(tmp("weights.bin"));
    ck_assert_int_eq(pce_model_file_tensor_count(f), 3);
    pce_model_file_close(f);
}
END_TEST

START_TEST(safetensors_sharded)
{
    pce_model_file *f = open_ok(fixture("sharded/model.safetensors.index.json"));
    ck_assert_int_eq(pce_model_file_format(f), PCE_MODEL_SAFETENSORS);
    ck_assert_int_eq(pce_model_file_tensor_count(f), 3);
    pce_model_tensor t = find(f, "layer.0.w");
    ck_assert_int_eq(t.file_index, 0);
    check_dims(&t, 2, 4, 4, 0);
    check_f32(&t, 1.0f, 0.0f);
    t = find(f, "layer.0.b");
    ck_assert_int_eq(t.file_index, 0);
    check_f32(&t, 1.0f, 100.0f);
    t = find(f, "layer.1.w");
    ck_assert_int_eq(t.file_index, 1);
    ck_assert_int_eq(t.dtype, PCE_DTYPE_F16);
    float v[16];
    ck_assert_int_eq(pce_dtype_to_f32(PCE_DTYPE_F16, t.data, v, 16), PCE_OK);
    for (int i = 0; i < 16; i++)
        ck_assert(v[i] == pattern(i, 0.5f, 0.0f));
    pce_meta m = meta(f, "total_size", PCE_META_STRING);
    ck_assert(m.str_len == 3 && !memcmp(m.str, "112", 3));
    meta(f, "format", PCE_META_STRING);
    pce_model_file_close(f);

    /* broken indexes, next to copies of the shards */
    const char *s1 = "model-00001-of-00002.safetensors", *s2 = "model-00002-of-00002.safetensors";
    char from[128];
    snprintf(from, sizeof from, "sharded/%s", s1);
    copy_file(fixture(from), tmp(s1));
    snprintf(from, sizeof from, "sharded/%s", s2);
    copy_file(fixture(from), tmp(s2));
    const char *ix = tmp("model.safetensors.index.json");
    const char *good = "{\"weight_map\": {\"layer.0.w\": \"model-00001-of-00002.safetensors\", "
                       "\"layer.1.w\": \"model-00002-of-00002.safetensors\"}}";
    spit(ix, good, strlen(good));
    f = open_ok(ix); /* layer.0.b is in a shard but not in the map: kept */
    ck_assert_int_eq(pce_model_file_tensor_count(f), 3);
    pce_model_file_close(f);
    const char *missing = "{\"weight_map\": {\"a\": \"model-00003-of-00003.safetensors\"}}";
    spit(ix, missing, strlen(missing));
    open_fails(ix, PCE_ERR_NOT_FOUND, "model-00003-of-00003.safetensors", NULL);
    const char *wrong = "{\"weight_map\": {\"layer.0.w\": \"model-00002-of-00002.safetensors\", "
                        "\"layer.1.w\": \"model-00001-of-00002.safetensors\"}}";
    spit(ix, wrong, strlen(wrong));
    open_fails(ix, PCE_ERR_FORMAT, "layer.0.w", "model.safetensors.index.json", NULL);
    const char *absent = "{\"weight_map\": {\"nope\": \"model-00001-of-00002.safetensors\"}}";
    spit(ix, absent, strlen(absent));
    open_fails(ix, PCE_ERR_FORMAT, "nope", NULL);
    const char *escape = "{\"weight_map\": {\"a\": \"../model-00001-of-00002.safetensors\"}}";
    spit(ix, escape, strlen(escape));
    open_fails(ix, PCE_ERR_FORMAT, "relative", NULL);
    const char *nomap = "{\"metadata\": {}}";
    spit(ix, nomap, strlen(nomap));
    open_fails(ix, PCE_ERR_FORMAT, "weight_map", NULL);
    const char *garbage = "{\"weight_map\": {\"a\": ";
    spit(ix, garbage, strlen(garbage));
    open_fails(ix, PCE_ERR_FORMAT, "model.safetensors.index.json", NULL);
}
END_TEST

/* ---- weights from files --------------------------------------------------- */

/* y = w + zeros on cpu0 must give back the file's bytes. */
static void weight_roundtrip(pce_model_file *f, const char *name)
{
    pce_model_tensor t = find(f, name);
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    pce_tensor *w = pce_graph_weight_from_file(g, f, name);
    ck_assert_msg(w != NULL, "%s: %s", name, pce_graph_error(g));
    ck_assert_int_eq(pce_tensor_dtype(w), t.dtype);
    ck_assert_int_eq(pce_tensor_ndim(w), t.ndim);
    for (int i = 0; i < t.ndim; i++)
        ck_assert_int_eq(pce_tensor_dim(w, i), t.dims[i]);
    pce_tensor *z = pce_graph_input(g, "zeros", t.dtype, t.ndim, t.dims);
    pce_tensor *y = pce_add(g, w, z);
    ck_assert_int_eq(pce_graph_output(g, y), PCE_OK);
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.device = "cpu0";
    pce_plan *p;
    ck_assert_msg(pce_plan_create(ctx, g, &o, &p) == PCE_OK, "%s", pce_context_last_error(ctx));
    void *zeros = calloc(1, t.bytes), *out = malloc(t.bytes);
    ck_assert(zeros && out);
    memset(out, 0x7f, t.bytes);
    ck_assert_int_eq(pce_plan_set_input(p, z, zeros, t.bytes), PCE_OK);
    ck_assert_int_eq(pce_plan_run(p), PCE_OK);
    ck_assert_int_eq(pce_plan_get_output(p, y, out, t.bytes), PCE_OK);
    ck_assert_msg(memcmp(out, t.data, t.bytes) == 0, "%s: w + 0 differs from the file", name);
    pce_plan_stats stats;
    ck_assert_int_eq(pce_plan_get_stats(p, &stats), PCE_OK);
    ck_assert_uint_eq(stats.weight_bytes, t.bytes);
    free(zeros);
    free(out);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}

START_TEST(weight_from_file)
{
    pce_model_file *f = open_ok(fixture("tiny.gguf"));
    weight_roundtrip(f, "t.f32");
    weight_roundtrip(f, "t.f32_3d");
    weight_roundtrip(f, "t.f16");
    weight_roundtrip(f, "t.bf16");
    pce_model_file *s = open_ok(fixture("tiny.safetensors"));
    weight_roundtrip(s, "w.f32"); /* the aligned copy */
    weight_roundtrip(s, "w.bf16");

    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    ck_assert_ptr_null(pce_graph_weight_from_file(g, f, "t.q3_k"));
    ck_assert_int_eq(pce_graph_status(g), PCE_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(pce_graph_error(g), "Q3_K"));
    pce_graph_destroy(g);
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    ck_assert_ptr_null(pce_graph_weight_from_file(g, f, "t.none"));
    ck_assert_int_eq(pce_graph_status(g), PCE_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(pce_graph_error(g), "t.none"));
    pce_graph_destroy(g);
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    ck_assert_ptr_null(pce_graph_weight_from_file(g, s, "w.i64"));
    ck_assert_int_eq(pce_graph_status(g), PCE_ERR_UNSUPPORTED);
    pce_graph_destroy(g);

    /* a quantized weight, once pce knows the dtype */
    const pce_dtype_info *qi = pce_dtype_get_info(PCE_DTYPE_Q8_0);
    if (qi && qi->block_size == 32) {
        ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
        pce_tensor *w = pce_graph_weight_from_file(g, f, "t.q8_0");
        ck_assert_msg(w != NULL, "%s", pce_graph_error(g));
        ck_assert_int_eq(pce_tensor_dtype(w), PCE_DTYPE_Q8_0);
        ck_assert_uint_eq(pce_tensor_bytes(w), 136);
        pce_graph_destroy(g);
    }
    pce_model_file_close(s);
    pce_model_file_close(f);
}
END_TEST

/* ---- truncation ----------------------------------------------------------- */

/* Every prefix of `name` shorter than the end of its last tensor's data
 * must fail with FORMAT naming the file; longer ones (only the padding
 * cut) must open. */
static void truncations(const char *name, const char *as)
{
    size_t n;
    unsigned char *p = slurp(fixture(name), &n);
    pce_model_file *f = open_ok(fixture(name));
    uint64_t end = 0;
    for (int i = 0; i < pce_model_file_tensor_count(f); i++) {
        pce_model_tensor t;
        pce_model_file_tensor_get(f, i, &t);
        if (t.file_index == 0 && t.offset + t.bytes > end)
            end = t.offset + t.bytes;
    }
    pce_model_file_close(f);
    ck_assert_uint_gt(end, 0);
    const char *path = tmp(as);
    for (size_t len = 0; len < n; len++) {
        spit(path, p, len);
        pce_model_file *g = (pce_model_file *)1;
        pce_status st = pce_model_file_open(ctx, path, &g);
        if (len >= end) {
            ck_assert_msg(st == PCE_OK, "%s cut to %zu bytes: %s", name, len,
                          pce_context_last_error(ctx));
            pce_model_file_close(g);
            continue;
        }
        ck_assert_msg(st == PCE_ERR_FORMAT, "%s cut to %zu bytes: %s (%s)", name, len,
                      pce_status_name(st), pce_context_last_error(ctx));
        ck_assert_ptr_null(g);
        ck_assert_msg(strstr(pce_context_last_error(ctx), as) != NULL, "%zu: '%s' lacks the file",
                      len, pce_context_last_error(ctx));
    }
    free(p);
}

START_TEST(truncated_files)
{
    truncations("tiny.gguf", "cut.gguf");
    truncations("tiny.safetensors", "cut.safetensors");
    truncations("sharded/model-00002-of-00002.safetensors", "cut2.safetensors");
    /* a split model's second part cut short */
    size_t n;
    unsigned char *p = slurp(fixture("split-00002-of-00002.gguf"), &n);
    copy_file(fixture("split-00001-of-00002.gguf"), tmp("c-00001-of-00002.gguf"));
    for (size_t len = 0; len < n; len += 7) { /* its last tensor ends at the end */
        spit(tmp("c-00002-of-00002.gguf"), p, len);
        open_fails(tmp("c-00001-of-00002.gguf"), PCE_ERR_FORMAT, "c-00002-of-00002.gguf", NULL);
    }
    free(p);
}
END_TEST

/* pce_model_file_open_metadata on every prefix of tiny.gguf: from some
 * length on (at most where the data section starts) the metadata and the
 * tensor table open, the tensors whose data is cut off are refused with
 * FORMAT naming them, the others read as with a full open. */
START_TEST(metadata_only)
{
    size_t n;
    unsigned char *p = slurp(fixture("tiny.gguf"), &n);
    pce_model_file *full = open_ok(fixture("tiny.gguf"));
    int nt = pce_model_file_tensor_count(full);
    uint64_t data_start = UINT64_MAX;
    for (int i = 0; i < nt; i++) {
        pce_model_tensor t;
        ck_assert_int_eq(pce_model_file_tensor_get(full, i, &t), PCE_OK);
        if (t.offset < data_start)
            data_start = t.offset;
    }
    const char *path = tmp("meta.gguf");
    size_t first_ok = SIZE_MAX;
    for (size_t len = 0; len <= n; len++) {
        spit(path, p, len);
        pce_model_file *g = (pce_model_file *)1;
        pce_status st = pce_model_file_open_metadata(ctx, path, &g);
        if (st != PCE_OK) {
            ck_assert_msg(first_ok == SIZE_MAX, "cut to %zu: fails after %zu opened: %s", len,
                          first_ok, pce_context_last_error(ctx));
            ck_assert_msg(st == PCE_ERR_FORMAT, "cut to %zu: %s", len, pce_status_name(st));
            ck_assert_ptr_null(g);
            continue;
        }
        if (first_ok == SIZE_MAX)
            first_ok = len;
        ck_assert_int_eq(pce_model_file_tensor_count(g), nt);
        ck_assert_int_eq(pce_model_file_meta_count(g), pce_model_file_meta_count(full));
        int absent = 0;
        for (int i = 0; i < nt; i++) {
            pce_model_tensor want, t;
            pce_model_file_tensor_get(full, i, &want);
            memset(&t, 0xa5, sizeof t);
            pce_status ts = pce_model_file_tensor_get(g, i, &t);
            ck_assert_str_eq(t.name, want.name);
            ck_assert_int_eq(t.ndim, want.ndim);
            ck_assert_uint_eq(t.bytes, want.bytes);
            ck_assert_uint_eq(t.offset, want.offset);
            if (want.offset + want.bytes <= len) {
                ck_assert_int_eq(ts, PCE_OK);
                ck_assert(t.data && memcmp(t.data, want.data, t.bytes) == 0);
                continue;
            }
            absent++;
            ck_assert_msg(ts == PCE_ERR_FORMAT, "cut to %zu: tensor %s: %s", len, want.name,
                          pce_status_name(ts));
            ck_assert_ptr_null(t.data);
            const char *e = pce_context_last_error(ctx);
            ck_assert_msg(strstr(e, want.name) && strstr(e, "metadata-only"), "'%s'", e);
            pce_model_tensor f2;
            ck_assert_int_eq(pce_model_file_tensor_find(g, want.name, &f2), PCE_ERR_FORMAT);
            pce_graph *gr;
            ck_assert_int_eq(pce_graph_create(ctx, &gr), PCE_OK);
            ck_assert_ptr_null(pce_graph_weight_from_file(gr, g, want.name));
            ck_assert_int_eq(pce_graph_status(gr), PCE_ERR_FORMAT);
            pce_graph_destroy(gr);
        }
        /* a full open fails exactly when some data is missing */
        pce_model_file *h = NULL;
        pce_status fs = pce_model_file_open(ctx, path, &h);
        ck_assert_int_eq(fs, absent ? PCE_ERR_FORMAT : PCE_OK);
        pce_model_file_close(h);
        pce_model_file_close(g);
    }
    ck_assert_uint_le(first_ok, data_start);
    pce_model_file_close(full);
    free(p);
}
END_TEST

/* ---- malformed GGUF, built here -------------------------------------------- */

typedef struct buf {
    unsigned char p[4096];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    ck_assert_uint_le(b->n + n, sizeof b->p);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_u32(buf *b, uint32_t v)
{
    unsigned char x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, 4);
}

static void put_u64(buf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, 8);
}

static void put_str(buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void gguf_head(buf *b, uint64_t n_tensors, uint64_t n_kv)
{
    b->n = 0;
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}

static void kv_u32(buf *b, const char *key, uint32_t v)
{
    put_str(b, key);
    put_u32(b, 4); /* PCE_META_U32 */
    put_u32(b, v);
}

/* dims innermost first, as in the file */
static void tensor_info(buf *b, const char *name, uint32_t n_dims, const uint64_t *dims,
                        uint32_t type, uint64_t offset)
{
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++)
        put_u64(b, dims[i]);
    put_u32(b, type);
    put_u64(b, offset);
}

/* pads to `align` and adds n bytes of data */
static void data(buf *b, size_t align, size_t n)
{
    while (b->n % align)
        b->p[b->n++] = 0;
    for (size_t i = 0; i < n; i++)
        b->p[b->n++] = (unsigned char)i;
}

static void gguf_fails(buf *b, pce_status want, const char *s1, const char *s2)
{
    spit(tmp("bad.gguf"), b->p, b->n);
    open_fails(tmp("bad.gguf"), want, "bad.gguf", s1, s2, NULL);
}

START_TEST(gguf_malformed)
{
    buf b;
    uint64_t d4[] = {4}, d8[] = {8};
    /* the builder makes good files: the control */
    gguf_head(&b, 1, 1);
    kv_u32(&b, "general.alignment", 16);
    tensor_info(&b, "x", 1, d4, 0, 0);
    data(&b, 16, 16);
    spit(tmp("good.gguf"), b.p, b.n);
    pce_model_file *f = open_ok(tmp("good.gguf"));
    pce_model_tensor t = find(f, "x");
    ck_assert(t.offset % 16 == 0 && t.bytes == 16 && t.offset + 16 == b.n);
    pce_model_file_close(f);

    b.p[0] = 'X';
    gguf_fails(&b, PCE_ERR_FORMAT, "magic", "byte 0");
    gguf_head(&b, 0, 0);
    b.p[4] = 1;
    gguf_fails(&b, PCE_ERR_FORMAT, "version 1", NULL);
    b.p[4] = 0;
    b.p[7] = 3;
    gguf_fails(&b, PCE_ERR_FORMAT, "big-endian", NULL);

    gguf_head(&b, UINT64_C(1) << 60, 0);
    gguf_fails(&b, PCE_ERR_FORMAT, "tensors cannot fit", NULL);
    gguf_head(&b, 0, UINT64_C(1) << 62);
    gguf_fails(&b, PCE_ERR_FORMAT, "cannot fit", NULL);

    gguf_head(&b, 0, 1);
    put_u64(&b, UINT64_C(1) << 63); /* key length */
    put(&b, "abcdefghijklmnop", 16);
    gguf_fails(&b, PCE_ERR_FORMAT, "truncated", "key");

    gguf_head(&b, 0, 1);
    put_str(&b, "k");
    put_u32(&b, 13);
    put_u32(&b, 0);
    gguf_fails(&b, PCE_ERR_FORMAT, "unknown value type 13", "'k'");

    gguf_head(&b, 0, 1); /* arrays nested 10 deep */
    put_str(&b, "deep");
    put_u32(&b, 9);
    for (int i = 0; i < 10; i++) {
        put_u32(&b, 9);
        put_u64(&b, 1);
    }
    gguf_fails(&b, PCE_ERR_FORMAT, "nested", "'deep'");

    gguf_head(&b, 0, 1); /* an array longer than the file */
    put_str(&b, "arr");
    put_u32(&b, 9);
    put_u32(&b, 10); /* u64 elements */
    put_u64(&b, UINT64_C(1) << 61);
    gguf_fails(&b, PCE_ERR_FORMAT, "truncated", "'arr'");

    gguf_head(&b, 0, 1); /* an array of strings whose length runs past the end */
    put_str(&b, "strs");
    put_u32(&b, 9);
    put_u32(&b, 8);
    put_u64(&b, 2);
    put_str(&b, "ok");
    put_u64(&b, 1000);
    gguf_fails(&b, PCE_ERR_FORMAT, "truncated", "'strs'");

    gguf_head(&b, 1, 1);
    kv_u32(&b, "general.alignment", 48);
    tensor_info(&b, "x", 1, d4, 0, 0);
    data(&b, 16, 16);
    gguf_fails(&b, PCE_ERR_FORMAT, "power of two", "general.alignment");
    gguf_head(&b, 0, 1);
    kv_u32(&b, "general.alignment", 0);
    gguf_fails(&b, PCE_ERR_FORMAT, "power of two", NULL);
    gguf_head(&b, 0, 1);
    put_str(&b, "general.alignment");
    put_u32(&b, 8);
    put_str(&b, "32");
    gguf_fails(&b, PCE_ERR_FORMAT, "integer", NULL);

    gguf_head(&b, 1, 0);
    uint64_t d5[] = {1, 1, 1, 1, 4};
    tensor_info(&b, "five", 5, d5, 0, 0);
    data(&b, 32, 16);
    gguf_fails(&b, PCE_ERR_FORMAT, "5 dims", "'five'");

    gguf_head(&b, 1, 0);
    tensor_info(&b, "odd", 1, d4, 99, 0);
    data(&b, 32, 16);
    gguf_fails(&b, PCE_ERR_FORMAT, "unknown ggml type 99", "'odd'");
    gguf_head(&b, 1, 0);
    tensor_info(&b, "gone", 1, d4, 4, 0); /* Q4_2, removed from ggml */
    data(&b, 32, 16);
    gguf_fails(&b, PCE_ERR_FORMAT, "unknown ggml type 4", "'gone'");

    gguf_head(&b, 1, 0);
    tensor_info(&b, "far", 1, d4, 0, 1 << 20);
    data(&b, 32, 16);
    gguf_fails(&b, PCE_ERR_FORMAT, "'far'", "past the end");
    gguf_head(&b, 1, 0);
    tensor_info(&b, "wrap", 1, d4, 0, UINT64_MAX - 31);
    data(&b, 32, 16);
    gguf_fails(&b, PCE_ERR_FORMAT, "'wrap'", "past the end");

    gguf_head(&b, 1, 0);
    tensor_info(&b, "misaligned", 1, d4, 0, 8);
    data(&b, 32, 48);
    gguf_fails(&b, PCE_ERR_FORMAT, "'misaligned'", "multiple of the alignment 32");

    gguf_head(&b, 2, 0);
    tensor_info(&b, "a", 1, d8, 0, 0);
    tensor_info(&b, "b", 1, d8, 0, 0);
    data(&b, 32, 64);
    gguf_fails(&b, PCE_ERR_FORMAT, "overlap", "'b'");

    gguf_head(&b, 2, 0);
    tensor_info(&b, "a", 1, d4, 0, 0);
    tensor_info(&b, "a", 1, d4, 0, 32);
    data(&b, 32, 64);
    gguf_fails(&b, PCE_ERR_FORMAT, "'a'", "twice");

    gguf_head(&b, 0, 2);
    kv_u32(&b, "k", 1);
    kv_u32(&b, "k", 2);
    gguf_fails(&b, PCE_ERR_FORMAT, "'k'", "twice");

    uint64_t huge[] = {UINT64_C(1) << 40, UINT64_C(1) << 40};
    gguf_head(&b, 1, 0);
    tensor_info(&b, "huge", 2, huge, 0, 0);
    data(&b, 32, 16);
    gguf_fails(&b, PCE_ERR_FORMAT, "'huge'", "overflow");
    uint64_t big[] = {UINT64_C(1) << 31, 4};
    gguf_head(&b, 1, 0);
    tensor_info(&b, "big", 2, big, 0, 0);
    data(&b, 32, 16);
    gguf_fails(&b, PCE_ERR_FORMAT, "'big'", "past the end");
    uint64_t neg[] = {UINT64_MAX};
    gguf_head(&b, 1, 0);
    tensor_info(&b, "neg", 1, neg, 0, 0);
    gguf_fails(&b, PCE_ERR_FORMAT, "'neg'", "dim 0");

    uint64_t d33[] = {33};
    gguf_head(&b, 1, 0);
    tensor_info(&b, "q", 1, d33, 8, 0); /* Q8_0 rows must be a multiple of 32 */
    data(&b, 32, 68);
    gguf_fails(&b, PCE_ERR_FORMAT, "'q'", "block size 32");

    spit(tmp("empty.gguf"), "", 0);
    open_fails(tmp("empty.gguf"), PCE_ERR_FORMAT, "empty.gguf", NULL);
    open_fails(tmp("no-such-file.gguf"), PCE_ERR_NOT_FOUND, "no-such-file.gguf", NULL);
    spit(tmp("junk.bin"), "hello, this is not a model", 26);
    open_fails(tmp("junk.bin"), PCE_ERR_FORMAT, "junk.bin", "neither", NULL);
}
END_TEST

/* ---- malformed safetensors ---------------------------------------------- */

static void st_build(buf *b, const char *json, size_t n_data)
{
    b->n = 0;
    put_u64(b, strlen(json));
    put(b, json, strlen(json));
    for (size_t i = 0; i < n_data; i++)
        b->p[b->n++] = (unsigned char)i;
}

static void st_fails(const char *json, size_t n_data, const char *s1, const char *s2)
{
    buf b;
    st_build(&b, json, n_data);
    spit(tmp("bad.safetensors"), b.p, b.n);
    open_fails(tmp("bad.safetensors"), PCE_ERR_FORMAT, "bad.safetensors", s1, s2, NULL);
}

START_TEST(safetensors_malformed)
{
    buf b;
    st_build(&b, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16);
    spit(tmp("good.safetensors"), b.p, b.n);
    pce_model_file *f = open_ok(tmp("good.safetensors"));
    check_dims((pce_model_tensor[]){find(f, "x")}, 2, 2, 2, 0);
    pce_model_file_close(f);

    b.n = 0; /* absurd header length */
    put_u64(&b, UINT64_C(1) << 40);
    put(&b, "{}", 2);
    spit(tmp("bad.safetensors"), b.p, b.n);
    open_fails(tmp("bad.safetensors"), PCE_ERR_FORMAT, "bad.safetensors", "header length", NULL);
    b.n = 0; /* header length past the end */
    put_u64(&b, 1000);
    put(&b, "{}", 2);
    spit(tmp("bad.safetensors"), b.p, b.n);
    open_fails(tmp("bad.safetensors"), PCE_ERR_FORMAT, "bad.safetensors", "truncated", NULL);
    spit(tmp("bad.safetensors"), "\2\0\0", 3);
    open_fails(tmp("bad.safetensors"), PCE_ERR_FORMAT, "bad.safetensors", "truncated", NULL);

    st_fails("{not json at all}", 0, "JSON", NULL);
    st_fails("{\"x\":", 0, "JSON", NULL);
    st_fails("[1, 2]", 0, "not an object", NULL);
    st_fails("{\"x\":{}} trailing", 0, "JSON", "byte 17");
    st_fails("{\"x\":{\"dtype\":\"F7\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, "'x'",
             "unknown dtype F7");
    st_fails("{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,4],\"data_offsets\":[0,16]}}", 16, "'x'",
             "5 dims");
    st_fails("{\"x\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16, "'x'",
             "shape");
    st_fails("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12, "'x'",
             "past the end");
    st_fails("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", 16, "'x'",
             "end before begin");
    st_fails("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}", 16, "'x'",
             "need 16");
    st_fails("{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
             "\"data_offsets\":[0,16]}}",
             16, "'x'", "overflow");
    st_fails("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,"
             "18446744073709551615]}}",
             16, "'x'", NULL);
    st_fails("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"y\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
             24, "overlap", NULL);
    st_fails("{\"x\":{\"dtype\":\"F32\",\"shape\":[4]}}", 16, "'x'", "data_offsets");
    st_fails("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}}", 16, "'x'",
             "data_offsets");
    st_fails("{\"__metadata__\":{\"n\":5}}", 0, "__metadata__", "not a string");
    st_fails("{\"x\":[1]}", 0, "'x'", NULL);
    /* a NUL inside the header */
    b.n = 0;
    put_u64(&b, 4);
    put(&b, "{\0}", 4);
    spit(tmp("bad.safetensors"), b.p, b.n);
    open_fails(tmp("bad.safetensors"), PCE_ERR_FORMAT, "bad.safetensors", NULL);
}
END_TEST

/* ---- main ----------------------------------------------------------------- */

static void remove_tmp(void)
{
    DIR *d = opendir(g_tmp);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            char p[512];
            snprintf(p, sizeof p, "%s/%s", g_tmp, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
    rmdir(g_tmp);
}

static Suite *modelfile_suite(void)
{
    Suite *s = suite_create("modelfile");
    TCase *tc = tcase_create("modelfile");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gguf_metadata);
    tcase_add_test(tc, gguf_tensors);
    tcase_add_test(tc, gguf_split);
    tcase_add_test(tc, safetensors_file);
    tcase_add_test(tc, safetensors_sharded);
    tcase_add_test(tc, weight_from_file);
    tcase_add_test(tc, truncated_files);
    tcase_add_test(tc, metadata_only);
    tcase_add_test(tc, gguf_malformed);
    tcase_add_test(tc, safetensors_malformed);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR (tests/fixtures/models)\n",
                argc > 0 ? argv[0] : "test-modelfile");
        return 2;
    }
    g_dir = argv[1];
    const char *t = getenv("TMPDIR");
    snprintf(g_tmp, sizeof g_tmp, "%s/pce-modelfile-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    SRunner *sr = srunner_create(modelfile_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_tmp();
    return failed ? 1 : 0;
}
