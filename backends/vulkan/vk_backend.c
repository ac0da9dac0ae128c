/* vk_backend.c — the Vulkan module: instance (with the validation layer on
 * request), physical device enumeration and selection, device properties,
 * and the logical device made on first use. */
#include "vk_internal.h"
#include "vk_select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

pce_status pce_module_shim_attach(pce_context *ctx, const pce_backend_host *h, const char *name);

const char *pce_vk_result_name(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default: return "VkResult";
    }
}

pce_status pce_vk_status(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return PCE_OK;
    case VK_ERROR_OUT_OF_HOST_MEMORY:
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_OUT_OF_POOL_MEMORY:
    case VK_ERROR_TOO_MANY_OBJECTS: return PCE_ERR_OUT_OF_MEMORY;
    case VK_ERROR_DEVICE_LOST: return PCE_ERR_DEVICE_LOST;
    case VK_ERROR_INITIALIZATION_FAILED:
    case VK_ERROR_INCOMPATIBLE_DRIVER:
    case VK_ERROR_LAYER_NOT_PRESENT:
    case VK_ERROR_EXTENSION_NOT_PRESENT:
    case VK_ERROR_FEATURE_NOT_PRESENT: return PCE_ERR_UNAVAILABLE;
    default: return PCE_ERR_INTERNAL;
    }
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                    VkDebugUtilsMessageTypeFlagsEXT type,
                                                    const VkDebugUtilsMessengerCallbackDataEXT *d,
                                                    void *user)
{
    (void)type;
    vk_instance *inst = user;
    inst->validation_messages++;
    pce_log(inst->ctx,
            sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? PCE_LOG_ERROR : PCE_LOG_WARN,
            "vulkan validation: %s", d && d->pMessage ? d->pMessage : "(no message)");
    return VK_FALSE;
}

static void instance_release(vk_instance *inst)
{
    if (!inst || --inst->refs > 0)
        return;
    if (inst->messenger && inst->destroy_messenger)
        inst->destroy_messenger(inst->instance, inst->messenger, NULL);
    if (inst->instance)
        vkDestroyInstance(inst->instance, NULL);
    free(inst);
}

static bool has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || !n)
        return false;
    VkLayerProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = strcmp(p[i].layerName, name) == 0;
    free(p);
    return found;
}

static pce_status instance_create(pce_context *ctx, vk_instance **out)
{
    vk_instance *inst = calloc(1, sizeof *inst);
    if (!inst)
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "vulkan: instance state");
    inst->refs = 1;
    inst->ctx = ctx;
    uint32_t api = 0;
    if (vkEnumerateInstanceVersion(&api) != VK_SUCCESS || api < VK_API_VERSION_1_1) {
        free(inst);
        return pce_fail(ctx, PCE_ERR_UNAVAILABLE,
                        "the Vulkan loader is older than 1.1 (found %u.%u): update libvulkan1",
                        VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api));
    }
    const char *layer = "VK_LAYER_KHRONOS_validation";
    const char *ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    bool validate = ctx->vulkan_validation;
    if (validate && !has_layer(layer)) {
        pce_log(ctx, PCE_LOG_WARN,
                "PCE_VULKAN_VALIDATION is on but %s is not installed (Debian: "
                "vulkan-validationlayers): running without it",
                layer);
        validate = false;
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "pce",
        .pEngineName = "pce",
        .apiVersion = api >= VK_API_VERSION_1_2 ? VK_API_VERSION_1_2 : VK_API_VERSION_1_1,
    };
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_validation,
        .pUserData = inst,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = validate ? &dbg : NULL,
        .pApplicationInfo = &app,
        .enabledLayerCount = validate ? 1 : 0,
        .ppEnabledLayerNames = &layer,
        .enabledExtensionCount = validate ? 1 : 0,
        .ppEnabledExtensionNames = &ext,
    };
    VkResult r = vkCreateInstance(&ci, NULL, &inst->instance);
    if (r != VK_SUCCESS) {
        free(inst);
        if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
            return pce_fail(ctx, PCE_ERR_UNAVAILABLE,
                            "no Vulkan driver found (vkCreateInstance: %s): install a GPU "
                            "driver, or mesa-vulkan-drivers for lavapipe on the CPU",
                            pce_vk_result_name(r));
        return pce_fail(ctx, pce_vk_status(r), "vkCreateInstance failed: %s",
                        pce_vk_result_name(r));
    }
    if (validate) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                inst->instance, "vkCreateDebugUtilsMessengerEXT");
        inst->destroy_messenger = (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
            inst->instance, "vkDestroyDebugUtilsMessengerEXT");
        if (create)
            create(inst->instance, &dbg, NULL, &inst->messenger);
        pce_log(ctx, PCE_LOG_INFO, "vulkan: validation layer on");
    }
    *out = inst;
    return PCE_OK;
}

/* ---- device properties ------------------------------------------------- */

typedef struct phys_snapshot {
    pce_vk_phys_info info;
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceDriverProperties driver;
    uint64_t max_alloc;
    uint32_t subgroup, min_subgroup;
    bool subgroup_arith, storage16, storage8, float16, int8;
    int queue_family;
} phys_snapshot;

static void snapshot(VkPhysicalDevice phys, int index, phys_snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->phys = phys;
    vkGetPhysicalDeviceProperties(phys, &s->props);
    bool v12 = s->props.apiVersion >= VK_API_VERSION_1_2;
    VkPhysicalDeviceSubgroupSizeControlProperties sgc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES, .pNext = &m3};
    VkPhysicalDeviceIDProperties id = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES,
                                       .pNext = &sg};
    s->driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
    s->driver.pNext = &id;
    if (s->props.apiVersion >= VK_API_VERSION_1_3)
        m3.pNext = &sgc;
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = v12 ? (void *)&s->driver : (void *)&id};
    vkGetPhysicalDeviceProperties2(phys, &p2);
    s->max_alloc = m3.maxMemoryAllocationSize;
    s->subgroup = sg.subgroupSize ? sg.subgroupSize : 1;
    s->min_subgroup = sgc.minSubgroupSize ? sgc.minSubgroupSize : s->subgroup;
    s->subgroup_arith = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                        (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                        (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);

    VkPhysicalDeviceShaderFloat16Int8Features f16i8 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDevice8BitStorageFeatures s8 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES, .pNext = &f16i8};
    VkPhysicalDevice16BitStorageFeatures s16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
        .pNext = v12 ? (void *)&s8 : NULL};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &s16};
    vkGetPhysicalDeviceFeatures2(phys, &f2);
    s->storage16 = s16.storageBuffer16BitAccess;
    s->storage8 = s8.storageBuffer8BitAccess;
    s->float16 = f16i8.shaderFloat16;
    s->int8 = f16i8.shaderInt8;

    s->queue_family = -1;
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, NULL);
    VkQueueFamilyProperties *q = calloc(nq ? nq : 1, sizeof *q);
    if (q) {
        vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, q);
        /* a compute queue; one without graphics first (it is the async one) */
        for (uint32_t i = 0; i < nq && s->queue_family < 0; i++)
            if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) &&
                !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
                s->queue_family = (int)i;
        for (uint32_t i = 0; i < nq && s->queue_family < 0; i++)
            if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
                s->queue_family = (int)i;
        free(q);
    }

    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(phys, &mp);
    pce_vk_phys_info *in = &s->info;
    in->index = index;
    snprintf(in->name, sizeof in->name, "%s", s->props.deviceName);
    in->vendor_id = s->props.vendorID;
    in->device_id = s->props.deviceID;
    in->type = (int)s->props.deviceType;
    in->driver_id = v12 ? (int)s->driver.driverID : 0;
    in->api_version = s->props.apiVersion;
    memcpy(in->uuid, id.deviceUUID, sizeof in->uuid);
    for (uint32_t h = 0; h < mp.memoryHeapCount; h++)
        if (mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            in->device_local_bytes += mp.memoryHeaps[h].size;
}

static void human(char *buf, size_t cap, uint64_t b)
{
    if (b >= (1ull << 30))
        snprintf(buf, cap, "%.1f GiB", (double)b / (double)(1ull << 30));
    else
        snprintf(buf, cap, "%llu MiB", (unsigned long long)(b >> 20));
}

static void vk_device_destroy(pce_device *dev);

/* The vtable entries that touch shared device state, under the device lock. */
static vk_device *lock(pce_device *dev)
{
    vk_device *vd = dev->impl;
    pthread_mutex_lock(&vd->lock);
    return vd;
}

static pce_status unlock(vk_device *vd, pce_status st)
{
    pthread_mutex_unlock(&vd->lock);
    return st;
}

static pce_status l_alloc(pce_device *dev, size_t bytes, pce_buffer **out)
{
    vk_device *vd = lock(dev);
    return unlock(vd, pce_vk_buffer_alloc(dev, bytes, out));
}

static pce_status l_upload(pce_device *dev, pce_buffer *b, size_t off, const void *src, size_t n)
{
    vk_device *vd = lock(dev);
    return unlock(vd, pce_vk_upload(dev, b, off, src, n));
}

static pce_status l_download(pce_device *dev, pce_buffer *b, size_t off, void *dst, size_t n)
{
    vk_device *vd = lock(dev);
    return unlock(vd, pce_vk_download(dev, b, off, dst, n));
}

static pce_status l_prepare(pce_device *dev, pce_segment *seg)
{
    vk_device *vd = lock(dev);
    return unlock(vd, pce_vk_segment_prepare(dev, seg));
}

static pce_status l_run(pce_device *dev, pce_segment *seg)
{
    vk_device *vd = lock(dev);
    return unlock(vd, pce_vk_segment_run(dev, seg));
}

static void l_free(pce_device *dev, pce_buffer *b)
{
    vk_device *vd = lock(dev);
    pce_vk_buffer_free(dev, b);
    unlock(vd, PCE_OK);
}

static void l_release(pce_device *dev, pce_segment *seg)
{
    vk_device *vd = lock(dev);
    pce_vk_segment_release(dev, seg);
    unlock(vd, PCE_OK);
}

static const pce_backend_vtbl vk_vtbl = {
    .name = "vulkan",
    .device_destroy = vk_device_destroy,
    .supports = pce_vk_supports,
    .buffer_alloc = l_alloc,
    .buffer_free = l_free,
    .buffer_host_ptr = pce_vk_buffer_host_ptr,
    .upload = l_upload,
    .download = l_download,
    .segment_prepare = l_prepare,
    .segment_run = l_run,
    .segment_release = l_release,
    /* no .synchronize: a run and every transfer wait for their own fence,
     * so there is never work in flight to wait for (a vkQueueWaitIdle here
     * cost ~16 us per plan run on lavapipe for nothing) */
};

static pce_status add_device(pce_context *ctx, vk_instance *inst, const phys_snapshot *s, int n)
{
    pce_device *dev = calloc(1, sizeof *dev);
    vk_device *vd = calloc(1, sizeof *vd);
    if (!dev || !vd) {
        free(dev);
        free(vd);
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "vulkan: device state");
    }
    vd->inst = inst;
    vd->phys = s->phys;
    vd->index = n;
    vd->props = s->props;
    vkGetPhysicalDeviceMemoryProperties(s->phys, &vd->mem);
    vd->max_alloc = s->max_alloc ? s->max_alloc : (1ull << 30);
    vd->subgroup = s->subgroup;
    vd->min_subgroup = s->min_subgroup;
    vd->storage16 = s->storage16;
    vd->storage8 = s->storage8;
    vd->subgroup_arith = s->subgroup_arith;
    vd->queue_family = (uint32_t)s->queue_family;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&vd->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    uint32_t wg = 256;
    if (wg > s->props.limits.maxComputeWorkGroupInvocations)
        wg = s->props.limits.maxComputeWorkGroupInvocations;
    if (wg > s->props.limits.maxComputeWorkGroupSize[0])
        wg = s->props.limits.maxComputeWorkGroupSize[0];
    vd->wg = wg < vd->min_subgroup ? vd->min_subgroup : wg;
    /* A GPU wants one invocation per element (65535 x 256 covers 16M before
     * looping); a CPU implementation (lavapipe) pays per workgroup, so it
     * gets a few per host core and loops. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    vd->max_groups = s->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU
                         ? (uint32_t)(4 * (cores > 0 ? cores : 1))
                         : 65535u;

    pce_device_props *p = &dev->props;
    snprintf(p->name, sizeof p->name, "vulkan%d", n);
    snprintf(p->backend, sizeof p->backend, "vulkan");
    snprintf(p->description, sizeof p->description, "%.127s", s->props.deviceName);
    switch (s->props.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: p->type = PCE_DEVICE_GPU_DISCRETE; break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: p->type = PCE_DEVICE_GPU_INTEGRATED; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: p->type = PCE_DEVICE_CPU; break;
    default: p->type = PCE_DEVICE_OTHER; break;
    }
    p->memory_total = s->info.device_local_bytes;
    p->memory_free = s->info.device_local_bytes;
    p->host_memory = false;
    p->dtype_supported[PCE_DTYPE_F32] = true;
    p->dtype_supported[PCE_DTYPE_I32] = true;
    p->dtype_supported[PCE_DTYPE_F16] = s->storage16;
    p->dtype_supported[PCE_DTYPE_BF16] = s->storage16;
    p->dtype_supported[PCE_DTYPE_I8] = s->storage8;
    /* as weights (matmul's b, get_rows' table), read as uint words */
    for (int d = PCE_DTYPE_Q8_0; d <= PCE_DTYPE_Q6_K; d++)
        p->dtype_supported[d] = true;
    char heap[32], range[32], alloc[32];
    human(heap, sizeof heap, s->info.device_local_bytes);
    human(range, sizeof range, s->props.limits.maxStorageBufferRange);
    human(alloc, sizeof alloc, vd->max_alloc);
    uint32_t api = s->props.apiVersion;
    char details[640];
    snprintf(
        details, sizeof details,
        "Vulkan %u.%u.%u, %.24s %.48s; id %04x:%04x; %s local; subgroup %u%s; 16-bit storage %s, "
        "8-bit storage %s, fp16 math %s; max range %s, alloc %s",
        VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api), VK_API_VERSION_PATCH(api),
        s->driver.driverName[0] ? s->driver.driverName : "driver",
        s->driver.driverInfo[0] ? s->driver.driverInfo : "", s->props.vendorID, s->props.deviceID,
        heap, s->subgroup, s->subgroup_arith ? "" : " (no arithmetic)", s->storage16 ? "yes" : "no",
        s->storage8 ? "yes" : "no", s->float16 ? "yes" : "no", range, alloc);
    size_t len = strlen(details);
    if (len >= sizeof p->details)
        len = sizeof p->details - 1;
    memcpy(p->details, details, len);
    p->details[len] = 0;
    pce_device_facts *f = &dev->facts;
    snprintf(f->backend, sizeof f->backend, "vulkan");
    snprintf(f->name, sizeof f->name, "%.127s", s->props.deviceName);
    snprintf(f->driver, sizeof f->driver, "%.31s", s->driver.driverName);
    snprintf(f->driver_version, sizeof f->driver_version, "%.31s", s->driver.driverInfo);
    /* vendorID is a PCI vendor id for PCI GPUs; Khronos ids (0x10000+) are not */
    f->pci_vendor = s->props.vendorID <= 0xffff ? (uint16_t)s->props.vendorID : 0;
    f->pci_device = s->props.vendorID <= 0xffff ? (uint16_t)s->props.deviceID : 0;
    dev->vtbl = &vk_vtbl;
    dev->impl = vd;
    inst->refs++;
    pce_status st = pce_context_add_device(ctx, dev);
    if (st != PCE_OK) {
        vk_device_destroy(dev);
        free(dev);
    }
    return st;
}

__attribute__((visibility("default"))) pce_status
pce_backend_module_probe(pce_context *ctx, const pce_backend_host *host)
{
    pce_status st = pce_module_shim_attach(ctx, host, "libpce-backend-vulkan.so");
    if (st != PCE_OK)
        return st;
    vk_instance *inst = NULL;
    if ((st = instance_create(ctx, &inst)) != PCE_OK)
        return st;
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(inst->instance, &n, NULL);
    VkPhysicalDevice *phys = n ? calloc(n, sizeof *phys) : NULL;
    phys_snapshot *snap = n ? calloc(n, sizeof *snap) : NULL;
    pce_vk_phys_info *info = n ? calloc(n, sizeof *info) : NULL;
    int *order = n ? calloc(n, sizeof *order) : NULL;
    int *dropped = n ? calloc(n, sizeof *dropped) : NULL;
    if (r == VK_SUCCESS && n && phys && snap && info && order && dropped)
        r = vkEnumeratePhysicalDevices(inst->instance, &n, phys);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        st = pce_fail(ctx, pce_vk_status(r), "vkEnumeratePhysicalDevices: %s",
                      pce_vk_result_name(r));
    } else if (!n) {
        st = pce_fail(ctx, PCE_ERR_UNAVAILABLE,
                      "no Vulkan device: the loader found no driver for this machine (install "
                      "a GPU driver, or mesa-vulkan-drivers for lavapipe on the CPU)");
    } else if (!phys || !snap || !info || !order || !dropped) {
        st = pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "vulkan: %u device snapshots", n);
    } else {
        int usable = 0;
        for (uint32_t i = 0; i < n; i++) {
            snapshot(phys[i], (int)i, &snap[i]);
            if (snap[i].props.apiVersion < VK_API_VERSION_1_1 || snap[i].queue_family < 0) {
                pce_log(ctx, PCE_LOG_INFO, "vulkan: skipping '%s': %s", snap[i].props.deviceName,
                        snap[i].queue_family < 0 ? "no compute queue" : "Vulkan 1.0 only");
                continue;
            }
            snap[i].info.index = (int)i;
            info[usable] = snap[i].info;
            usable++;
        }
        int kept = pce_vk_select(info, usable, order, dropped);
        for (int i = 0; i < usable; i++)
            if (dropped[i] >= 0)
                pce_log(ctx, PCE_LOG_INFO,
                        "vulkan: '%s' through driver %d is the same GPU as through driver %d "
                        "(same UUID): using the latter",
                        info[i].name, info[i].driver_id, info[dropped[i]].driver_id);
        for (int k = 0; k < kept && st == PCE_OK; k++)
            st = add_device(ctx, inst, &snap[info[order[k]].index], k);
        if (st == PCE_OK && !kept)
            st = pce_fail(ctx, PCE_ERR_UNAVAILABLE,
                          "no usable Vulkan device (%u found, none with Vulkan 1.1 and a compute "
                          "queue)",
                          n);
    }
    free(phys);
    free(snap);
    free(info);
    free(order);
    free(dropped);
    instance_release(inst); /* the devices hold their own references */
    return st;
}

/* ---- logical device ---------------------------------------------------- */

void pce_vk_apply_settings(pce_device *dev)
{
    vk_device *vd = dev->impl;
    const pce_device_settings *st = &dev->settings;
    pthread_mutex_lock(&vd->lock);
    if (vd->settings_applied || !st->resolved) {
        pthread_mutex_unlock(&vd->lock);
        return;
    }
    vd->settings_applied = true;
    if (st->workgroup_size > 0) {
        /* a multiple of the subgroup, within the device's limits */
        uint32_t wg = (uint32_t)st->workgroup_size,
                 lim = vd->props.limits.maxComputeWorkGroupInvocations;
        if (lim > vd->props.limits.maxComputeWorkGroupSize[0])
            lim = vd->props.limits.maxComputeWorkGroupSize[0];
        wg = wg < vd->min_subgroup ? vd->min_subgroup : wg / vd->min_subgroup * vd->min_subgroup;
        if (wg > lim)
            wg = lim;
        pce_log(dev->ctx, PCE_LOG_INFO, "%s: workgroup size %u (asked %d by %s)", dev->props.name,
                wg, st->workgroup_size, st->workgroup_from);
        vd->wg = wg;
    }
    if (st->feature[PCE_FEAT_SUBGROUP_OPS] == 0 && vd->subgroup_arith) {
        pce_log(dev->ctx, PCE_LOG_INFO, "%s: subgroup arithmetic off (%s)", dev->props.name,
                st->feature_from[PCE_FEAT_SUBGROUP_OPS]);
        vd->subgroup_arith = false;
    }
    pthread_mutex_unlock(&vd->lock);
}

pce_status pce_vk_ready(pce_device *dev)
{
    vk_device *vd = dev->impl;
    pce_vk_apply_settings(dev);
    if (vd->ready)
        return vd->ready_status;
    vd->ready = true;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = vd->queue_family,
                                   .queueCount = 1,
                                   .pQueuePriorities = &prio};
    VkPhysicalDevice8BitStorageFeatures s8 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES,
        .storageBuffer8BitAccess = vd->storage8};
    VkPhysicalDevice16BitStorageFeatures s16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
        .pNext = vd->storage8 ? &s8 : NULL,
        .storageBuffer16BitAccess = vd->storage16};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &s16};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .pNext = &f2,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci};
    VkResult r = vkCreateDevice(vd->phys, &dci, NULL, &vd->dev);
    if (r != VK_SUCCESS) {
        vd->dev = VK_NULL_HANDLE;
        return vd->ready_status = pce_fail(dev->ctx, pce_vk_status(r), "%s: vkCreateDevice: %s",
                                           dev->props.name, pce_vk_result_name(r));
    }
    vkGetDeviceQueue(vd->dev, vd->queue_family, 0, &vd->queue);
    pce_status st = pce_vk_memory_init(dev);
    if (st == PCE_OK)
        st = pce_vk_pipelines_init(dev);
    return vd->ready_status = st;
}

static void vk_device_destroy(pce_device *dev)
{
    vk_device *vd = dev->impl;
    if (!vd)
        return;
    if (vd->dev) {
        vkDeviceWaitIdle(vd->dev);
        pce_vk_pipelines_destroy(vd);
        pce_vk_memory_destroy(vd);
        vkDestroyDevice(vd->dev, NULL);
    }
    instance_release(vd->inst);
    pthread_mutex_destroy(&vd->lock);
    free(vd);
    dev->impl = NULL;
}
