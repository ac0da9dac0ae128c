/* pce.h — the public C API of pce, the portable compute engine.
 *
 * A program creates a context (backends, devices, log sink), builds a graph
 * of ops on tensors, turns the graph into a plan (placement + memory layout)
 * and runs the plan as many times as it likes.
 *
 * Conventions:
 *  - Every fallible call returns pce_status; the message of the last error is
 *    read with pce_context_last_error(). The library never aborts the process.
 *  - _create returns an object the caller _destroys; _get borrows.
 *  - Shapes are given outermost first (numpy order); the last dim is the
 *    contiguous one. At most PCE_MAX_DIMS dims.
 *  - Graph builder calls never fail loudly: a bad call returns NULL and puts
 *    the graph into a sticky error state (first error wins) whose message names
 *    the op and the shapes; any builder call given a NULL tensor returns NULL.
 *    pce_plan_create() then returns that error.
 */
#ifndef PCE_H
#define PCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define PCE_API __declspec(dllexport)
#else
#define PCE_API __attribute__((visibility("default")))
#endif

#define PCE_VERSION_MAJOR 0
#define PCE_VERSION_MINOR 1
#define PCE_VERSION_PATCH 0
#define PCE_MAX_DIMS 4

/* ---- status ------------------------------------------------------------ */

typedef enum pce_status {
    PCE_OK = 0,
    PCE_ERR_INVALID_ARGUMENT, /* caller error: bad shape, dtype, name, NULL */
    PCE_ERR_UNSUPPORTED,      /* valid request this build/device cannot do */
    PCE_ERR_OUT_OF_MEMORY,    /* host or device allocation failed */
    PCE_ERR_UNAVAILABLE,      /* device/backend/runtime missing */
    PCE_ERR_DEVICE_LOST,      /* device stopped working */
    PCE_ERR_IO,               /* file system / OS error */
    PCE_ERR_FORMAT,           /* malformed file or data */
    PCE_ERR_INTEGRITY,        /* checksum / authentication failure */
    PCE_ERR_PERMISSION,       /* access denied */
    PCE_ERR_NOT_FOUND,        /* named thing does not exist */
    PCE_ERR_INTERNAL,         /* a bug in pce: please report */
} pce_status;

/* Short constant name of a status ("OUT_OF_MEMORY"). Never NULL. */
PCE_API const char *pce_status_name(pce_status status);

/* "0.1.0". */
PCE_API const char *pce_version_string(void);

/* ---- dtypes ------------------------------------------------------------ */

typedef enum pce_dtype {
    PCE_DTYPE_F32 = 0,
    PCE_DTYPE_F16,
    PCE_DTYPE_BF16,
    PCE_DTYPE_I32,
    PCE_DTYPE_I8,
    /* GGUF's block-quantized formats (llama.cpp's layouts, bit for bit):
     * weights only (matmul's second operand, get_rows' table) */
    PCE_DTYPE_Q8_0, /* 32 weights: f16 scale, 32 x i8 */
    PCE_DTYPE_Q4_0, /* 32: f16 scale, 16 bytes of 4-bit (offset 8) */
    PCE_DTYPE_Q4_1, /* 32: f16 scale, f16 min, 16 bytes of 4-bit */
    PCE_DTYPE_Q5_0, /* 32: f16 scale, 4 bytes of high bits, 16 bytes of low 4 bits */
    PCE_DTYPE_Q5_1, /* 32: f16 scale, f16 min, high bits, low 4 bits */
    PCE_DTYPE_Q4_K, /* 256: super-block of 8 x 32 with 6-bit scales and mins */
    PCE_DTYPE_Q5_K, /* 256: as Q4_K with a fifth bit */
    PCE_DTYPE_Q6_K, /* 256: 16 x 16 with 8-bit scales, 6-bit weights */
    PCE_DTYPE_COUNT
} pce_dtype;

/* Static description of a dtype. Plain types have block_size 1; block-
 * quantized formats store block_size elements in block_bytes bytes, and a
 * row's length (the innermost dim) must be a multiple of block_size. */
typedef struct pce_dtype_info {
    const char *name;   /* "f32", "bf16", ... */
    int block_size;     /* elements per block */
    size_t block_bytes; /* bytes per block */
    bool is_float;      /* holds real numbers (floats and quantized reals) */
    bool is_integer;    /* integer type (i32, i8) */
    bool is_quantized;  /* block-quantized */
} pce_dtype_info;

/* Borrowed pointer to the dtype's info, or NULL for an unknown dtype. */
PCE_API const pce_dtype_info *pce_dtype_get_info(pce_dtype dtype);
/* Looks a dtype up by name ("f16"); INVALID_ARGUMENT if unknown. */
PCE_API pce_status pce_dtype_from_name(const char *name, pce_dtype *out);
/* Bytes of n elements (n must be a multiple of the block size; else 0). */
PCE_API size_t pce_dtype_bytes(pce_dtype dtype, int64_t n);
/* Converts n elements (n a multiple of the block size) to/from f32. Integer
 * types round to nearest and saturate on the way in. */
PCE_API pce_status pce_dtype_to_f32(pce_dtype dtype, const void *src, float *dst, int64_t n);
PCE_API pce_status pce_dtype_from_f32(pce_dtype dtype, const float *src, void *dst, int64_t n);

/* ---- context, log ------------------------------------------------------ */

typedef struct pce_context pce_context;
typedef struct pce_device pce_device;

typedef enum pce_log_level {
    PCE_LOG_ERROR = 0,
    PCE_LOG_WARN,
    PCE_LOG_INFO,
    PCE_LOG_DEBUG,
} pce_log_level;

typedef void (*pce_log_fn)(void *user, pce_log_level level, const char *message);

/* Options for pce_context_create. Initialise with pce_context_options_init;
 * `size` lets the struct grow without breaking old callers. Environment
 * variables (documented in README) fill the fields the caller left at their
 * defaults. */
typedef struct pce_context_options {
    size_t size;       /* sizeof(pce_context_options) */
    int log_level;     /* -1: from PCE_LOG, else warn */
    pce_log_fn log_fn; /* NULL: stderr */
    void *log_user;
    int num_threads;         /* CPU threads; 0: PCE_NUM_THREADS or all cores */
    const char *cpu_kernels; /* "fast" (default) or "reference"; NULL: PCE_CPU_KERNELS */
    /* Colon-separated folders searched first for backend modules
     * (libpce-backend-vulkan.so ...); NULL: PCE_BACKEND_PATH. */
    const char *backend_path;
    /* 1: turn on the Khronos validation layer and log its messages;
     * 0: off; -1 (default): PCE_VULKAN_VALIDATION. */
    int vulkan_validation;
    /* GPU matmul: "auto" (vendor BLAS such as cuBLAS where the layout fits,
     * pce's kernels otherwise) or "own" (always pce's kernels, e.g. to
     * compare them); NULL: PCE_GPU_GEMM, else "auto". */
    const char *gpu_gemm;
} pce_context_options;

PCE_API void pce_context_options_init(pce_context_options *opts);
/* Creates a context; opts may be NULL for defaults. */
PCE_API pce_status pce_context_create(const pce_context_options *opts, pce_context **out);
PCE_API void pce_context_destroy(pce_context *ctx);
/* Message of the last error in this context ("" if none). Borrowed; valid
 * until the next call on the context. */
PCE_API const char *pce_context_last_error(const pce_context *ctx);
PCE_API void pce_context_set_log(pce_context *ctx, pce_log_level level, pce_log_fn fn, void *user);

/* ---- devices ----------------------------------------------------------- */

typedef enum pce_device_type {
    PCE_DEVICE_CPU = 0,
    PCE_DEVICE_GPU_DISCRETE,
    PCE_DEVICE_GPU_INTEGRATED,
    PCE_DEVICE_OTHER,
} pce_device_type;

typedef struct pce_device_props {
    char name[32];         /* "cpu0", "vulkan0" */
    char backend[16];      /* "cpu", "vulkan", "cuda", "hip" */
    char description[128]; /* e.g. CPU brand string or GPU name */
    char details[256];     /* backend-specific: ISA level, BLAS, driver */
    pce_device_type type;
    uint64_t memory_total; /* bytes */
    uint64_t memory_free;  /* bytes (best effort) */
    int compute_units;     /* cores / SMs / CUs */
    bool host_memory;      /* reads host memory directly (weights not copied) */
    bool dtype_supported[PCE_DTYPE_COUNT];
} pce_device_props;

PCE_API int pce_device_count(const pce_context *ctx);
/* Borrowed device, or NULL if index is out of range. */
PCE_API pce_device *pce_device_get(const pce_context *ctx, int index);
/* Device by name ("cpu0"), or NULL. */
PCE_API pce_device *pce_device_find(const pce_context *ctx, const char *name);
PCE_API pce_status pce_device_get_props(const pce_device *dev, pce_device_props *out);

/* Backends that are known but could not be used on this machine, with why. */
PCE_API int pce_backend_unavailable_count(const pce_context *ctx);
PCE_API pce_status pce_backend_unavailable_get(const pce_context *ctx, int index,
                                               const char **backend, const char **reason);

/* Writes this host's hardware snapshot as JSON to `path` ("-": stdout): CPU
 * (vendor, family/model, features the OS supports, cores, NUMA, caches),
 * PCI display and accelerator devices with their kernel drivers, which GPU
 * runtimes load, and OpenBLAS's configuration. Detected once per context. */
PCE_API pce_status pce_snapshot_write(pce_context *ctx, const char *path);

/* Explains the hardware decisions as text: the host snapshot (CPU, PCI
 * GPUs and what runtime each lacks, OpenBLAS and its core), the profiles
 * that matched the host and each device with the file:line of every deciding
 * key, the devices ranked best first with why, the backends not used and
 * why, and the profiles that did not match (first failing key). Writes at
 * most cap bytes (NUL-terminated) and the full length to *len. */
PCE_API pce_status pce_devices_explain(pce_context *ctx, char *buf, size_t cap, size_t *len);
/* The same as JSON: {"snapshot", "snapshot_file", "openblas_decision",
 * "host": {"profiles", "settings": [{section, key, value, file, line}]},
 * "devices": [{rank, name, backend, description, automatic, why, profiles,
 * settings}], "unavailable", "not_matched": [{profile, why}],
 * "profile_errors"}. Same buffer rules. */
PCE_API pce_status pce_devices_explain_json(pce_context *ctx, char *buf, size_t cap, size_t *len);

/* Checks one hardware profile file (hw-profiles/NAME.ini): INI syntax, known
 * sections and keys, valid values, no duplicates. PCE_OK, or PCE_ERR_FORMAT /
 * PCE_ERR_IO with "file:line: what" in msg. The profile's name goes to msg
 * on success. */
PCE_API pce_status pce_profile_lint(const char *path, char *msg, size_t cap);

/* ---- graphs and tensors ------------------------------------------------ */

typedef struct pce_graph pce_graph;
typedef struct pce_tensor pce_tensor; /* owned by its graph */

PCE_API pce_status pce_graph_create(pce_context *ctx, pce_graph **out);
/* Destroys the graph. Plans made from it stay valid (they hold a reference). */
PCE_API void pce_graph_destroy(pce_graph *g);
/* PCE_OK or the sticky error of the first bad builder call. */
PCE_API pce_status pce_graph_status(const pce_graph *g);
/* Message of the sticky error ("" if none). Borrowed. */
PCE_API const char *pce_graph_error(const pce_graph *g);
PCE_API int pce_graph_node_count(const pce_graph *g);

/* An input: its data is set with pce_plan_set_input before each run and
 * persists between runs (so an input can serve as a KV cache). */
PCE_API pce_tensor *pce_graph_input(pce_graph *g, const char *name, pce_dtype dtype, int ndim,
                                    const int64_t *dims);
/* A weight: constant data in host memory, borrowed (not copied) and read in
 * place by devices that can read host memory. `data` must stay valid and
 * unchanged while the graph or any of its plans exists. Contiguous layout. */
PCE_API pce_tensor *pce_graph_weight(pce_graph *g, const char *name, pce_dtype dtype, int ndim,
                                     const int64_t *dims, const void *data);
/* Marks t as an output: its value is kept after a run for pce_plan_get_output. */
PCE_API pce_status pce_graph_output(pce_graph *g, pce_tensor *t);
/* Pins the op computing t (or, for an input, where it is kept) to a device
 * ("vulkan0"): placement puts it there unless that device cannot run it
 * (then it falls back, loudly, or fails under strict placement). NULL
 * unpins. Weights and views cannot be pinned: pin the ops that use them. */
PCE_API pce_status pce_tensor_pin(pce_tensor *t, const char *device);
/* Finds a tensor by name, or NULL. */
PCE_API pce_tensor *pce_graph_find(const pce_graph *g, const char *name);

PCE_API pce_status pce_tensor_set_name(pce_tensor *t, const char *name);
PCE_API const char *pce_tensor_name(const pce_tensor *t);
PCE_API pce_dtype pce_tensor_dtype(const pce_tensor *t);
PCE_API int pce_tensor_ndim(const pce_tensor *t);
/* Size of dim i (negative i counts from the end); 0 if out of range. */
PCE_API int64_t pce_tensor_dim(const pce_tensor *t, int i);
PCE_API int64_t pce_tensor_numel(const pce_tensor *t);
/* Bytes of the tensor's data when contiguous. */
PCE_API size_t pce_tensor_bytes(const pce_tensor *t);
PCE_API bool pce_tensor_is_contiguous(const pce_tensor *t);

/* ---- views (no copies) ------------------------------------------------- */

/* Same data, new shape; a contiguous source is required. One dim may be -1. */
PCE_API pce_tensor *pce_reshape(pce_graph *g, pce_tensor *a, int ndim, const int64_t *dims);
/* Result dim i is source dim perm[i]. */
PCE_API pce_tensor *pce_permute(pce_graph *g, pce_tensor *a, const int *perm);
/* Swaps the last two dims. */
PCE_API pce_tensor *pce_transpose(pce_graph *g, pce_tensor *a);
/* Elements [start, end) of dim `axis` (negative axis counts from the end). */
PCE_API pce_tensor *pce_slice(pce_graph *g, pce_tensor *a, int axis, int64_t start, int64_t end);

/* ---- ops --------------------------------------------------------------- */
/* Float ops take f32, f16 or bf16 tensors (any layout) and produce a
 * contiguous result of the first operand's dtype unless said otherwise. */

/* Elementwise with numpy broadcasting; a and b must share the dtype. */
PCE_API pce_tensor *pce_add(pce_graph *g, pce_tensor *a, pce_tensor *b);
PCE_API pce_tensor *pce_sub(pce_graph *g, pce_tensor *a, pce_tensor *b);
PCE_API pce_tensor *pce_mul(pce_graph *g, pce_tensor *a, pce_tensor *b);
PCE_API pce_tensor *pce_div(pce_graph *g, pce_tensor *a, pce_tensor *b);
/* a * s */
PCE_API pce_tensor *pce_scale(pce_graph *g, pce_tensor *a, float s);
PCE_API pce_tensor *pce_neg(pce_graph *g, pce_tensor *a);
PCE_API pce_tensor *pce_abs(pce_graph *g, pce_tensor *a);
PCE_API pce_tensor *pce_sqr(pce_graph *g, pce_tensor *a);
PCE_API pce_tensor *pce_sqrt(pce_graph *g, pce_tensor *a);
PCE_API pce_tensor *pce_exp(pce_graph *g, pce_tensor *a);
PCE_API pce_tensor *pce_tanh(pce_graph *g, pce_tensor *a);
PCE_API pce_tensor *pce_relu(pce_graph *g, pce_tensor *a);
/* GELU, tanh approximation. */
PCE_API pce_tensor *pce_gelu(pce_graph *g, pce_tensor *a);
/* GELU, exact (erf). */
PCE_API pce_tensor *pce_gelu_erf(pce_graph *g, pce_tensor *a);
PCE_API pce_tensor *pce_silu(pce_graph *g, pce_tensor *a);
/* silu(a) * b, same shapes. */
PCE_API pce_tensor *pce_swiglu(pce_graph *g, pce_tensor *a, pce_tensor *b);

/* Reductions over the last dim, which is kept with size 1. */
PCE_API pce_tensor *pce_sum_rows(pce_graph *g, pce_tensor *a);
PCE_API pce_tensor *pce_mean_rows(pce_graph *g, pce_tensor *a);
PCE_API pce_tensor *pce_max_rows(pce_graph *g, pce_tensor *a);
/* Index of the maximum of each row (first on ties), i32, last dim kept as 1. */
PCE_API pce_tensor *pce_argmax(pce_graph *g, pce_tensor *a);

/* a [..., M, K] x b [..., K, N] -> f32 [..., M, N], batch dims broadcast.
 * a and b may be f32, f16 or bf16 (not necessarily the same) and may be
 * transposed views (pce_transpose(w) for y = x w^T). */
PCE_API pce_tensor *pce_matmul(pce_graph *g, pce_tensor *a, pce_tensor *b);

/* x / sqrt(mean(x^2) + eps) * w over the last dim; w [D] may be NULL. */
PCE_API pce_tensor *pce_rms_norm(pce_graph *g, pce_tensor *x, pce_tensor *w, float eps);
/* (x - mean) / sqrt(var + eps) * w + b over the last dim; w, b may be NULL. */
PCE_API pce_tensor *pce_layer_norm(pce_graph *g, pce_tensor *x, pce_tensor *w, pce_tensor *b,
                                   float eps);
/* softmax(x * scale + mask) over the last dim; mask (NULL for none) is
 * broadcast to x and has x's dtype or f32. */
PCE_API pce_tensor *pce_softmax(pce_graph *g, pce_tensor *x, pce_tensor *mask, float scale);
/* x [..., T, S] with x[..., i, j] = -inf where j > i + n_past. */
PCE_API pce_tensor *pce_causal_mask(pce_graph *g, pce_tensor *x, int n_past);

typedef enum pce_rope_mode {
    PCE_ROPE_NORMAL = 0, /* rotates pairs (2i, 2i+1) (GPT-J, Llama GGUF) */
    PCE_ROPE_NEOX = 1,   /* rotates pairs (i, i + n_rot/2) (GPT-NeoX, HF Llama, Qwen2) */
} pce_rope_mode;
/* Rotary embedding. x [..., T, H, D]; pos i32 [T]; the first n_rot (even,
 * <= D) dims of each head rotate by pos * theta_base^(-2i/n_rot); the rest
 * pass through. */
PCE_API pce_tensor *pce_rope(pce_graph *g, pce_tensor *x, pce_tensor *pos, int n_rot,
                             float theta_base, pce_rope_mode mode);

/* Embedding lookup: table [R, D] (float dtype), ids i32 [N] -> f32 [N, D].
 * An id outside [0, R) fails the run with INVALID_ARGUMENT. */
PCE_API pce_tensor *pce_get_rows(pce_graph *g, pce_tensor *table, pce_tensor *ids);
/* dst[ids[i], :] = src[i, :] for dst [R, D] (an input: persists across runs),
 * src [N, D], ids i32 [N]. Returns dst after the write: later ops must read
 * the returned tensor to see the new rows. src is converted to dst's dtype. */
PCE_API pce_tensor *pce_set_rows(pce_graph *g, pce_tensor *dst, pce_tensor *src, pce_tensor *ids);
/* Copies src into dst (same shape; dst may be a view of an input, e.g. a
 * slice of a KV cache). Returns dst after the write. */
PCE_API pce_tensor *pce_copy_into(pce_graph *g, pce_tensor *src, pce_tensor *dst);
/* Joins a and b (same dtype, same other dims) along `axis`. */
PCE_API pce_tensor *pce_concat(pce_graph *g, pce_tensor *a, pce_tensor *b, int axis);
/* Contiguous copy of a (e.g. of a permuted view). */
PCE_API pce_tensor *pce_contiguous(pce_graph *g, pce_tensor *a);
/* Converts to dtype (float <-> float, float <-> integer with round and
 * saturate). */
PCE_API pce_tensor *pce_cast(pce_graph *g, pce_tensor *a, pce_dtype dtype);

/* ---- model files ------------------------------------------------------- */
/* GGUF (v3, split files -00001-of-0000N.gguf) and safetensors (with a
 * sharded model.safetensors.index.json), memory-mapped and checked: every
 * offset and size against the file before use; a malformed or truncated
 * file is a FORMAT error naming the tensor and the byte offset. */

typedef struct pce_model_file pce_model_file;

typedef enum pce_model_format { PCE_MODEL_GGUF = 0, PCE_MODEL_SAFETENSORS } pce_model_format;

/* Metadata value types: GGUF's, in its numbering. safetensors'
 * __metadata__ entries are strings. */
typedef enum pce_meta_type {
    PCE_META_U8 = 0,
    PCE_META_I8,
    PCE_META_U16,
    PCE_META_I16,
    PCE_META_U32,
    PCE_META_I32,
    PCE_META_F32,
    PCE_META_BOOL,
    PCE_META_STRING,
    PCE_META_ARRAY,
    PCE_META_U64,
    PCE_META_I64,
    PCE_META_F64,
} pce_meta_type;

/* One metadata entry; pointers borrowed from the file (valid until it is
 * closed). Numbers are given in every form that holds them exactly: an
 * integer type fills i and u (and f); a float fills f. */
typedef struct pce_meta {
    const char *key;
    pce_meta_type type;
    int64_t i;
    uint64_t u;
    double f;
    bool b;
    const char *str; /* PCE_META_STRING: not NUL-terminated; str_len bytes */
    size_t str_len;
    pce_meta_type elem_type; /* PCE_META_ARRAY: the elements' type ... */
    uint64_t count;          /* ... and how many */
    const void *array;       /* numeric arrays: the elements, little-endian, packed */
} pce_meta;

/* A tensor in the file. dims are outermost first (pce's order; GGUF lists
 * the innermost first, the reader reverses them). dtype is PCE_DTYPE_COUNT
 * when pce has no such dtype (safetensors F64, I64, BOOL, F8_E4M3 ...);
 * dtype_name always says what the file holds ("Q4_K", "BF16"). */
typedef struct pce_model_tensor {
    const char *name;
    pce_dtype dtype;
    const char *dtype_name;
    int ndim;
    int64_t dims[PCE_MAX_DIMS];
    uint64_t offset;  /* byte offset of the data in its file */
    size_t bytes;     /* bytes of data */
    const void *data; /* in the mapping (or an aligned copy where the file's is not) */
    int file_index;   /* which part of a split or sharded model */
} pce_model_tensor;

/* Opens a .gguf (the first part of a split one finds the others) or a
 * .safetensors file, or a model.safetensors.index.json (its shards). */
PCE_API pce_status pce_model_file_open(pce_context *ctx, const char *path, pce_model_file **out);
PCE_API void pce_model_file_close(pce_model_file *f);
PCE_API pce_model_format pce_model_file_format(const pce_model_file *f);
PCE_API int pce_model_file_meta_count(const pce_model_file *f);
PCE_API pce_status pce_model_file_meta_get(const pce_model_file *f, int index, pce_meta *out);
/* NOT_FOUND when absent. */
PCE_API pce_status pce_model_file_meta_find(const pce_model_file *f, const char *key,
                                            pce_meta *out);
/* Element `index` of a string array (tokenizer.ggml.tokens ...). */
PCE_API pce_status pce_model_file_meta_array_string(const pce_model_file *f, const char *key,
                                                    uint64_t index, const char **str, size_t *len);
PCE_API int pce_model_file_tensor_count(const pce_model_file *f);
PCE_API pce_status pce_model_file_tensor_get(const pce_model_file *f, int index,
                                             pce_model_tensor *out);
PCE_API pce_status pce_model_file_tensor_find(const pce_model_file *f, const char *name,
                                              pce_model_tensor *out);
/* A weight of g holding the file's tensor `name`, read in place (the file
 * must stay open while plans of g exist). NULL with the graph's error set
 * when absent or of a dtype pce cannot use. */
PCE_API pce_tensor *pce_graph_weight_from_file(pce_graph *g, const pce_model_file *f,
                                               const char *name);

/* ---- plans ------------------------------------------------------------- */

typedef struct pce_plan pce_plan;

typedef struct pce_plan_options {
    size_t size; /* sizeof(pce_plan_options) */
    /* The primary device: every node runs there unless pinned elsewhere or
     * unsupported there (then it falls back to another device, loudly).
     * NULL: the first device of `devices`, else of PCE_DEVICES, else the
     * best of the profiles' ranking. */
    const char *device;
    bool reference_kernels; /* use the reference kernels (the oracle) */
    bool poison;            /* fill activation memory with NaN before every run,
                               so a kernel that skips an element is caught (tests) */
    /* The devices the plan may use, best first ("vulkan0,cpu0"); NULL:
     * `device` then the ranked devices that are used automatically (those
     * of PCE_DEVICES when set). Fallbacks and offloading go down this list. */
    const char *devices;
    /* Strict placement: a node the chosen device cannot run is an
     * UNSUPPORTED error naming the node, op, dtype and device, not a
     * fallback. */
    bool strict;
    /* When the weights do not fit a device's memory budget (its profile's
     * target utilisation of its free memory), place the nodes that use the
     * rest on the next device (the CPU last) instead of failing with
     * OUT_OF_MEMORY. */
    bool allow_offload;
} pce_plan_options;

typedef struct pce_plan_stats {
    int64_t nodes;                /* compute nodes (views excluded) */
    int64_t views;                /* view nodes (no work) */
    uint64_t peak_bytes;          /* activation arena size */
    uint64_t input_bytes;         /* persistent input storage */
    uint64_t weight_bytes;        /* weights (borrowed from host memory) */
    uint64_t weight_copied_bytes; /* weights copied to device memory */
    uint64_t naive_bytes;         /* what one buffer per tensor would take */
    int64_t inplace_nodes;        /* nodes that write over their input */
    uint64_t runs;                /* completed runs */
    int64_t devices;              /* devices with nodes or data of the plan */
    int64_t segments;             /* runs of consecutive nodes on one device */
    int64_t copies;               /* cross-device copies per run */
    uint64_t copy_bytes;          /* bytes those copies move per run */
    int64_t fallbacks;            /* nodes not on the device they were meant for */
    int64_t offloaded;            /* nodes moved to another device for memory */
    uint64_t copy_ns;             /* time the cross-device copies took, all runs (not
                                     counting waits for the devices to finish) */
} pce_plan_stats;

PCE_API void pce_plan_options_init(pce_plan_options *opts);
/* Validates, places and lays out the graph. On failure *out is NULL and the
 * context's last error says why (the graph's sticky error, if any). */
PCE_API pce_status pce_plan_create(pce_context *ctx, pce_graph *g, const pce_plan_options *opts,
                                   pce_plan **out);
PCE_API void pce_plan_destroy(pce_plan *plan);
/* Copies `bytes` (must equal the tensor's size) into input t. */
PCE_API pce_status pce_plan_set_input(pce_plan *plan, const pce_tensor *t, const void *data,
                                      size_t bytes);
PCE_API pce_status pce_plan_run(pce_plan *plan);
/* Copies an output's (or an input's) current contents, contiguous. */
PCE_API pce_status pce_plan_get_output(pce_plan *plan, const pce_tensor *t, void *data,
                                       size_t bytes);
PCE_API pce_status pce_plan_get_stats(const pce_plan *plan, pce_plan_stats *out);
/* Human-readable text: device, nodes with shapes, memory offsets, peak.
 * Writes at most cap bytes (NUL-terminated) and the full length to *len. */
PCE_API pce_status pce_plan_explain(const pce_plan *plan, char *buf, size_t cap, size_t *len);
/* The same as JSON: {"devices": [{name, primary, nodes, weights, weights_copied,
 * inputs, activations, need, budget}], "nodes": [{index, name, op, shape, device,
 * why, note}], "segments": [{device, first, last, copies_in}], "copies":
 * [{tensor, from, to, bytes, before_segment}], "fallbacks", "offloaded"}. */
PCE_API pce_status pce_plan_explain_json(const pce_plan *plan, char *buf, size_t cap, size_t *len);
/* The device the node computing t runs on (for an input: the device that
 * holds it), or NULL. Borrowed from the plan. */
PCE_API const char *pce_plan_tensor_device(const pce_plan *plan, const pce_tensor *t);

/* ---- language models ----------------------------------------------------- */
/* A decoder-only transformer from a GGUF file (architectures llama and
 * qwen2: SmolLM2, Llama 2/3, Qwen2, DeepSeek-R1-Distill-Qwen): token
 * embeddings, per layer rms_norm, q/k/v projections (qwen2: with biases),
 * grouped-query attention with RoPE over a KV cache, output projection,
 * swiglu MLP; final norm and output head (the token embeddings when the
 * file has no output tensor). Prefill runs a prompt in one graph; decode
 * runs one token per step on plans built once and reused. */

typedef struct pce_llm pce_llm;

typedef struct pce_llm_options {
    size_t size;         /* sizeof(pce_llm_options) */
    int context;         /* KV cache length in tokens; 0: 512 (at most the model's) */
    const char *devices; /* as pce_plan_options.devices; NULL: the profiles' ranking */
    bool strict;         /* as pce_plan_options.strict */
    /* The KV cache in f32 rather than f16. f16 (the default) halves its
     * memory and is what llama.cpp does: attention then multiplies f16 q
     * and k, and f16 probabilities and v, accumulating in f32. */
    bool kv_f32;
} pce_llm_options;

typedef struct pce_llm_info {
    char arch[32];
    int n_layers, n_embd, n_ff, n_head, n_head_kv, head_dim, n_vocab, context_max;
    float rope_theta, norm_eps;
    int bos, eos; /* -1 when the file does not say */
} pce_llm_info;

PCE_API void pce_llm_options_init(pce_llm_options *opts);
/* Opens the model file (kept mapped while the model lives). */
PCE_API pce_status pce_llm_load(pce_context *ctx, const char *path, const pce_llm_options *opts,
                                pce_llm **out);
PCE_API void pce_llm_destroy(pce_llm *m);
PCE_API pce_status pce_llm_get_info(const pce_llm *m, pce_llm_info *out);
/* Forgets the context (the next tokens start at position 0). */
PCE_API void pce_llm_reset(pce_llm *m);
/* Runs tokens[0..n) at the next positions. logits: NULL, or n_vocab floats
 * for the last token, or, with all_logits, n * n_vocab floats (one row per
 * token). n == 1 runs the decode plan; longer prompts a prefill plan (built
 * once per prompt length and kept). */
PCE_API pce_status pce_llm_eval(pce_llm *m, const int32_t *tokens, int n, float *logits,
                                bool all_logits);
/* Tokens evaluated since the last reset. */
PCE_API int pce_llm_position(const pce_llm *m);
/* Goes back to position pos (<= the current one): the tokens after it are
 * forgotten, those before it kept (a conversation that shares its start
 * with the last one evaluates only what follows). */
PCE_API pce_status pce_llm_rewind(pce_llm *m, int pos);
/* The plan of the last eval, for its explanation and statistics. */
PCE_API const pce_plan *pce_llm_last_plan(const pce_llm *m);

#ifdef __cplusplus
}
#endif
#endif /* PCE_H */
