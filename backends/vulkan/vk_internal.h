/* vk_internal.h — the Vulkan backend's shared state: one instance per
 * context, and per pce device its logical device, memory pool, staging
 * buffer and pipeline cache. */
#ifndef PCE_VK_INTERNAL_H
#define PCE_VK_INTERNAL_H

#include "../backend.h"
#include "pool.h"

#include <pthread.h>
#include <vulkan/vulkan.h>

/* Shared by the devices of one context; destroyed with the last of them. */
typedef struct vk_instance {
    int refs;
    pce_context *ctx;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger;
    uint64_t validation_messages; /* warnings and errors the layer reported */
} vk_instance;

/* One device memory block of the pool, bound to one buffer. */
typedef struct vk_block {
    VkDeviceMemory mem;
    VkBuffer buf;
    char *map; /* host address when the memory is host-visible */
} vk_block;

struct pce_buffer {
    pce_pool_slice alloc;
    VkBuffer buf;    /* the block's buffer */
    uint64_t offset; /* of this buffer inside it */
    uint64_t size;   /* rounded up to 16 */
    char *map;       /* host address of the start, or NULL */
};

typedef struct vk_pipe {
    int variant, op;
    VkPipeline pipe;
} vk_pipe;

typedef struct vk_device {
    vk_instance *inst;
    VkPhysicalDevice phys;
    int index; /* pce device number (vulkan<index>) */
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem;
    uint64_t max_alloc; /* maxMemoryAllocationSize */
    uint32_t min_subgroup, subgroup;
    bool storage16, storage8, subgroup_arith;
    uint32_t queue_family;
    /* Serialises the vtable entries on this device (recursive): the queue,
     * the pool, the staging buffer, the pipeline table and the error record
     * are shared by every plan on it. */
    pthread_mutex_t lock;

    /* created on first use */
    bool ready;
    pce_status ready_status;
    VkDevice dev;
    VkQueue queue;
    uint32_t mem_type;     /* for tensors */
    bool mapped;           /* tensors' memory is host-visible: no staging */
    uint32_t staging_type; /* host-visible, coherent */
    pce_pool pool;
    uint32_t allocations; /* live vkAllocateMemory count */
    VkCommandPool cmd_pool;
    VkCommandBuffer xfer_cmd;
    VkFence xfer_fence;
    VkBuffer staging;
    VkDeviceMemory staging_mem;
    char *staging_map;
    uint64_t staging_size;
    VkBuffer err_buf; /* host-visible error record shared by segments */
    VkDeviceMemory err_mem;
    uint32_t *err_map;
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkPipelineCache cache;
    VkShaderModule *modules; /* per SPIR-V variant, made on first use */
    vk_pipe *pipes;
    int n_pipes, cap_pipes;
    uint32_t wg;         /* workgroup size of the 1-D and row kernels */
    uint32_t max_groups; /* workgroups of a grid-stride (elementwise) launch */
    bool settings_applied;
} vk_device;

/* The 128-byte push constant block every shader declares (common.glsl). */
typedef struct vk_push {
    uint32_t ne[4];
    uint32_t off[4];
    int32_t nb[16];
    uint32_t n;
    int32_t ip[3];
    float fp[4];
} vk_push;

_Static_assert(sizeof(vk_push) == 128, "push constants must stay within 128 bytes");

/* vk_backend.c */
const char *pce_vk_result_name(VkResult r);
pce_status pce_vk_status(VkResult r);
/* Creates the logical device, pool and staging on first use. */
pce_status pce_vk_ready(pce_device *dev);

/* vk_memory.c */
pce_status pce_vk_memory_init(pce_device *dev);
void pce_vk_memory_destroy(vk_device *vd);
pce_status pce_vk_buffer_alloc(pce_device *dev, size_t bytes, pce_buffer **out);
void pce_vk_buffer_free(pce_device *dev, pce_buffer *b);
void *pce_vk_buffer_host_ptr(pce_device *dev, pce_buffer *b);
pce_status pce_vk_upload(pce_device *dev, pce_buffer *b, size_t off, const void *src, size_t n);
pce_status pce_vk_download(pce_device *dev, pce_buffer *b, size_t off, void *dst, size_t n);

/* vk_pipeline.c */
int pce_vk_variant_find(const char *name); /* -1 if absent */
const char *pce_vk_variant_name(int variant);
pce_status pce_vk_pipelines_init(pce_device *dev);
void pce_vk_pipelines_destroy(vk_device *vd);
pce_status pce_vk_pipeline_get(pce_device *dev, int variant, int op, VkPipeline *out);

/* vk_segment.c */
bool pce_vk_supports(const pce_device *dev, const pce_exec_node *n, char *why, size_t cap);
/* Applies the device's profile settings ([kernels] workgroup_size,
 * [features] subgroup_ops) once, before the first kernel choice. */
void pce_vk_apply_settings(pce_device *dev);
pce_status pce_vk_segment_prepare(pce_device *dev, pce_segment *seg);
pce_status pce_vk_segment_run(pce_device *dev, pce_segment *seg);
void pce_vk_segment_release(pce_device *dev, pce_segment *seg);

#endif
