/* internal.h — core's private types: context, graph, tensors, plans.
 * Shared by core/ and backends/ (through backends/backend.h); never
 * installed. */
#ifndef PCE_INTERNAL_H
#define PCE_INTERNAL_H

#include "pce.h"

#include <pthread.h>
#include <stdarg.h>

#define PCE_NAME_MAX 64
#define PCE_MAX_SRC 4

typedef enum pce_op {
    PCE_OP_LEAF = 0, /* input or weight */
    PCE_OP_VIEW,     /* reshape/permute/transpose/slice: no work */
    PCE_OP_ADD,
    PCE_OP_SUB,
    PCE_OP_MUL,
    PCE_OP_DIV,
    PCE_OP_SCALE, /* fp[0] */
    PCE_OP_NEG,
    PCE_OP_ABS,
    PCE_OP_SQR,
    PCE_OP_SQRT,
    PCE_OP_EXP,
    PCE_OP_TANH,
    PCE_OP_RELU,
    PCE_OP_GELU,
    PCE_OP_GELU_ERF,
    PCE_OP_SILU,
    PCE_OP_SWIGLU,
    PCE_OP_SUM_ROWS,
    PCE_OP_MEAN_ROWS,
    PCE_OP_MAX_ROWS,
    PCE_OP_ARGMAX,
    PCE_OP_MATMUL,
    PCE_OP_RMS_NORM,    /* fp[0] eps; src[1] weight or NULL */
    PCE_OP_LAYER_NORM,  /* fp[0] eps; src[1] weight, src[2] bias (NULL ok) */
    PCE_OP_SOFTMAX,     /* fp[0] scale; src[1] mask or NULL */
    PCE_OP_CAUSAL_MASK, /* ip[0] n_past */
    PCE_OP_ROPE,        /* src[1] pos; ip[0] n_rot, ip[1] mode; fp[0] theta */
    PCE_OP_GET_ROWS,    /* src[0] table, src[1] ids */
    PCE_OP_SET_ROWS,    /* src[0] dst (aliased), src[1] rows, src[2] ids */
    PCE_OP_COPY_INTO,   /* src[0] dst (aliased), src[1] value */
    PCE_OP_CONCAT,      /* ip[0] axis (canonical 4-D) */
    PCE_OP_CONTIGUOUS,
    PCE_OP_CAST,
    PCE_OP_COUNT
} pce_op;

const char *pce_op_name(pce_op op);
/* The op named `name` ("rope"), or -1. */
int pce_op_from_name(const char *name);
/* Elementwise ops whose output may take over src[0]'s memory. */
bool pce_op_can_inplace(pce_op op);

typedef enum pce_role {
    PCE_ROLE_INPUT = 0,
    PCE_ROLE_WEIGHT,
    PCE_ROLE_INTERMEDIATE,
} pce_role;

/* Tensors are canonical 4-D: ne[0] outermost ... ne[3] innermost, leading
 * dims padded with 1; ndim remembers what the user sees. Strides in bytes. */
struct pce_tensor {
    pce_graph *graph;
    int id;
    pce_dtype dtype;
    int ndim;
    int64_t ne[PCE_MAX_DIMS];
    int64_t nb[PCE_MAX_DIMS];
    pce_op op;
    pce_tensor *src[PCE_MAX_SRC];
    int32_t ip[8];
    float fp[4];
    /* Storage: a tensor with base == NULL owns its storage; otherwise it
     * aliases base's storage (always a root) at byte offset `offset`. */
    pce_tensor *base;
    int64_t offset;
    pce_role role;
    bool is_output;
    const void *weight_data;
    char name[PCE_NAME_MAX];
    char pin[32]; /* pce_tensor_pin: the device its op must run on, "" for none */
};

struct pce_graph {
    pce_context *ctx;
    int refs;
    pce_tensor **tensors;
    int n_tensors, cap_tensors;
    pce_status status;
    char error[512];
};

typedef struct pce_backend_vtbl pce_backend_vtbl;

/* What hardware profiles' device-level [match] keys look at, filled by
 * each backend for its devices. */
typedef struct pce_device_facts {
    char device[32];  /* the pce device name ("cuda0"); filled by core */
    char backend[16]; /* "cpu", "vulkan", "cuda", "hip" */
    char name[128];   /* device name as the driver reports it */
    char driver[32];  /* "llvmpipe", "radv", "nvidia", "amdgpu", ... */
    char arch[48];    /* compute capability "9.0" or gfx target "gfx90a" */
    char driver_version[32];
    uint16_t pci_vendor, pci_device;
} pce_device_facts;

/* Where a profile setting came from ("hw-profiles/x.ini:12"), "" if from
 * no profile (a default or an estimate). */
typedef char pce_setting_from[160];

/* Feature switches of [features]: -1 not set (the backend decides), 0 off,
 * 1 on. */
typedef enum pce_feature {
    PCE_FEAT_FP16 = 0,
    PCE_FEAT_BF16,
    PCE_FEAT_FP8,
    PCE_FEAT_INT8_DOT,
    PCE_FEAT_SUBGROUP_OPS,
    PCE_FEAT_COOP_MATRIX,
    PCE_FEAT_COUNT
} pce_feature;

/* A device's settings after its matching profiles are layered (hwconfig.c),
 * read by placement and by the backends. */
typedef struct pce_device_settings {
    bool resolved;
    int rank;                  /* place in the ranking, lower first; >= 100: only when named */
    char rank_why[320];        /* why it ranks there */
    double target_utilisation; /* of free memory a plan may fill (0.80 default) */
    pce_setting_from target_from;
    int8_t feature[PCE_FEAT_COUNT];
    pce_setting_from feature_from[PCE_FEAT_COUNT];
    uint64_t ops_disabled; /* bit (1 << pce_op): [ops] disable */
    pce_setting_from ops_from;
    int workgroup_size; /* [kernels] workgroup_size; 0: the backend's own */
    pce_setting_from workgroup_from;
    char matmul[8]; /* [kernels] matmul: "auto", "own" or "blas" */
    pce_setting_from matmul_from;
    /* cost model: peak f32 GFLOP/s, memory GB/s and host link GB/s */
    double gflops, bandwidth_gbs, link_gbs;
    pce_setting_from perf_from; /* "" when estimated from the device's properties */
} pce_device_settings;

struct pce_device {
    pce_context *ctx;
    const pce_backend_vtbl *vtbl;
    pce_device_props props;
    pce_device_facts facts;
    pce_device_settings settings; /* from the profiles (hwconfig.c) */
    void *impl;                   /* backend-owned */
};

typedef struct pce_unavailable {
    char backend[16];
    char reason[256];
} pce_unavailable;

struct pce_context {
    pce_log_level log_level;
    pce_log_fn log_fn;
    void *log_user;
    int num_threads;
    char cpu_pinning[8];        /* [cpu] pinning: "none", "cores" or "numa" */
    char cpu_pinning_from[160]; /* its profile line */
    bool reference_kernels;
    pce_device **devices;
    int n_devices;
    pce_unavailable *unavailable;
    int n_unavailable;
    char *backend_path;     /* PCE_BACKEND_PATH: folders searched for modules first */
    char *disabled;         /* PCE_DISABLE: backends never loaded */
    char *device_order;     /* PCE_DEVICES: the devices to use, best first */
    bool vulkan_validation; /* PCE_VULKAN_VALIDATION: Khronos validation layer on */
    bool vulkan_staging;    /* PCE_VULKAN_STAGING: stage all copies, as on a discrete GPU */
    char gpu_gemm[16];      /* PCE_GPU_GEMM: "own" keeps CUDA matmul off cuBLAS */
    void **modules;         /* dlopen handles of loaded backend modules */
    int n_modules;
    /* GPU backend modules are probed on the first question about devices
     * (creating a context that only runs on the CPU costs no GPU runtime
     * start-up); the lock makes that first question safe from any thread. */
    bool modules_probed;
    pthread_mutex_t probe_lock;
    struct pce_hw_snapshot *snapshot; /* detected (or PCE_SNAPSHOT) on first use */
    char snapshot_file[256];          /* PCE_SNAPSHOT when the snapshot came from it */
    bool hw_loaded;                   /* snapshot and profiles loaded (hwconfig.c) */
    bool profiles_loaded;
    struct pce_profile *profiles; /* shipped, then user folders */
    int n_profiles;
    char profile_errors[2048]; /* files skipped, for --explain */
    char error[1024];
};

/* Sets ctx's last error (printf-style), logs it at DEBUG level and returns
 * status, so callers write `return pce_fail(ctx, PCE_ERR_X, "...", ...)`. */
pce_status pce_fail(pce_context *ctx, pce_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pce_log(const pce_context *ctx, pce_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pce_logv(const pce_context *ctx, pce_log_level level, const char *fmt, va_list ap);

/* Shape helpers. */
int64_t pce_numel4(const int64_t ne[PCE_MAX_DIMS]);
void pce_contiguous_strides(pce_dtype dtype, const int64_t ne[PCE_MAX_DIMS],
                            int64_t nb[PCE_MAX_DIMS]);
/* Writes "[2, 3, 4] f32" for the user-visible dims. */
void pce_tensor_describe(const pce_tensor *t, char *buf, size_t cap);
pce_tensor *pce_tensor_root(const pce_tensor *t);

/* Lists of names separated by commas and/or spaces (PCE_DEVICES,
 * PCE_DISABLE; module.c): the next word into `word` and where the list goes
 * on, or NULL at its end; the position of `name` in the list, or -1. */
const char *pce_list_next(const char *list, char *word, size_t cap);
int pce_list_index(const char *list, const char *name);

/* A growing NUL-terminated string (status.c; chat templates, generated
 * text): pce_str_put appends n bytes; once an allocation fails, oom is set,
 * it returns false and later appends do nothing. Zero-initialise; free p. */
typedef struct pce_str {
    char *p;
    size_t n, cap;
    bool oom;
} pce_str;
bool pce_str_put(pce_str *s, const char *p, size_t n);

/* module.c: whether this library runs from its build tree; and the prefix
 * it is installed under now (see there), false if that cannot be told. */
bool pce_running_from_build_tree(void);
bool pce_install_prefix_here(char *out, size_t cap);

/* Probes the backend modules once (module.c) and loads the hardware
 * snapshot and profiles (hwconfig.c); every device query calls it. */
void pce_context_probe_modules(const pce_context *ctx);
void pce_context_load_hw(pce_context *ctx);
void pce_context_load_profiles(pce_context *ctx);
/* After the modules are probed: adds the devices to a detected snapshot and
 * resolves every device's settings (pce_device_settings_resolve). */
void pce_context_hw_devices(pce_context *ctx);
void pce_device_settings_resolve(pce_context *ctx, pce_device *dev);
/* Sets the [env] variables of the host-level profiles that the environment
 * does not already set (HSA_OVERRIDE_GFX_VERSION ...), before runtimes load. */
void pce_apply_env_profile(pce_context *ctx);
/* Applies the host profiles' [cpu] threads (when neither the options nor
 * PCE_NUM_THREADS set a count) before the CPU backend starts its pool. */
void pce_apply_cpu_profile(pce_context *ctx);
/* Chooses and loads OpenBLAS's core before the CPU backend needs it. */
void pce_openblas_decide(pce_context *ctx);

/* Registers a device (takes ownership) / an unavailable backend. */
pce_status pce_context_add_device(pce_context *ctx, pce_device *dev);
void pce_context_add_unavailable(pce_context *ctx, const char *backend, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* fp16 / bf16 scalar conversions (round to nearest even). */
float pce_f16_to_f32(uint16_t h);
uint16_t pce_f32_to_f16(float f);
float pce_bf16_to_f32(uint16_t h);
uint16_t pce_f32_to_bf16(float f);

/* The context a model was loaded with (llm.c), for generate.c's errors. */
pce_context *pce_llm_context(const pce_llm *m);

#endif
