/* vk_memory.c — tensor memory from a suballocated pool of large blocks,
 * a staging buffer for devices whose memory the host cannot map, and the
 * host-visible error record shared by the device's segments. */
#include "vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAGING_BYTES (32ull << 20)
#define BLOCK_BYTES (256ull << 20)
#define RESERVED_ALLOCATIONS 8 /* staging, error record, headroom */

static const VkBufferUsageFlags usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                        VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                        VK_BUFFER_USAGE_TRANSFER_DST_BIT;

/* Best memory type among `bits` with all of `want` (and none of `avoid`,
 * when such a type exists). */
static int find_type(const vk_device *vd, uint32_t bits, VkMemoryPropertyFlags want,
                     VkMemoryPropertyFlags avoid)
{
    int fallback = -1;
    for (uint32_t i = 0; i < vd->mem.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = vd->mem.memoryTypes[i].propertyFlags;
        if (!(bits & (1u << i)) || (f & want) != want)
            continue;
        if (!(f & avoid))
            return (int)i;
        if (fallback < 0)
            fallback = (int)i;
    }
    return fallback;
}

/* A buffer with its own memory of type `type`, mapped if host-visible. */
static VkResult make_buffer(vk_device *vd, uint64_t size, uint32_t type, VkBuffer *buf,
                            VkDeviceMemory *mem, char **map)
{
    *buf = VK_NULL_HANDLE;
    *mem = VK_NULL_HANDLE;
    *map = NULL;
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = size,
                              .usage = usage,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = vkCreateBuffer(vd->dev, &bci, NULL, buf);
    if (r != VK_SUCCESS)
        return r;
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(vd->dev, *buf, &req);
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                .allocationSize = req.size,
                                .memoryTypeIndex = type};
    if (!(req.memoryTypeBits & (1u << type)))
        r = VK_ERROR_FEATURE_NOT_PRESENT;
    else if (vd->allocations >= vd->props.limits.maxMemoryAllocationCount)
        r = VK_ERROR_TOO_MANY_OBJECTS;
    else
        r = vkAllocateMemory(vd->dev, &mai, NULL, mem);
    if (r == VK_SUCCESS) {
        vd->allocations++;
        r = vkBindBufferMemory(vd->dev, *buf, *mem, 0);
    }
    if (r == VK_SUCCESS &&
        (vd->mem.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
        r = vkMapMemory(vd->dev, *mem, 0, VK_WHOLE_SIZE, 0, (void **)map);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(vd->dev, *buf, NULL);
        if (*mem) {
            vkFreeMemory(vd->dev, *mem, NULL);
            vd->allocations--;
        }
        *buf = VK_NULL_HANDLE;
        *mem = VK_NULL_HANDLE;
        *map = NULL;
    }
    return r;
}

static void drop_buffer(vk_device *vd, VkBuffer buf, VkDeviceMemory mem)
{
    if (buf)
        vkDestroyBuffer(vd->dev, buf, NULL);
    if (mem) {
        vkFreeMemory(vd->dev, mem, NULL); /* unmaps too */
        vd->allocations--;
    }
}

static int block_alloc(void *user, uint64_t size, void **handle)
{
    vk_device *vd = user;
    vk_block *b = calloc(1, sizeof *b);
    if (!b)
        return 1;
    if (make_buffer(vd, size, vd->mem_type, &b->buf, &b->mem, &b->map) != VK_SUCCESS) {
        free(b);
        return 1;
    }
    *handle = b;
    return 0;
}

static void block_free(void *user, void *handle)
{
    vk_device *vd = user;
    vk_block *b = handle;
    drop_buffer(vd, b->buf, b->mem);
    free(b);
}

pce_status pce_vk_memory_init(pce_device *dev)
{
    vk_device *vd = dev->impl;
    /* which memory types can back a storage buffer */
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = 256,
                              .usage = usage,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkBuffer probe;
    VkResult r = vkCreateBuffer(vd->dev, &bci, NULL, &probe);
    if (r != VK_SUCCESS)
        return pce_fail(dev->ctx, pce_vk_status(r), "%s: vkCreateBuffer: %s", dev->props.name,
                        pce_vk_result_name(r));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(vd->dev, probe, &req);
    vkDestroyBuffer(vd->dev, probe, NULL);

    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                                host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int t = -1;
    /* CPU and integrated devices share memory with the host: map it and
     * skip staging; a discrete GPU gets its own memory, staged. */
    if (vd->props.deviceType != VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU) {
        t = find_type(vd, req.memoryTypeBits, local | host, 0);
        if (t < 0)
            t = find_type(vd, req.memoryTypeBits, host, 0);
    }
    if (t < 0)
        t = find_type(vd, req.memoryTypeBits, local, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
    if (t < 0)
        t = find_type(vd, req.memoryTypeBits, 0, 0);
    int st = find_type(vd, req.memoryTypeBits, host | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    if (st < 0)
        st = find_type(vd, req.memoryTypeBits, host, 0);
    if (t < 0 || st < 0)
        return pce_fail(dev->ctx, PCE_ERR_UNAVAILABLE, "%s: no memory type for storage buffers%s",
                        dev->props.name, st < 0 ? " that the host can map" : "");
    vd->mem_type = (uint32_t)t;
    vd->staging_type = (uint32_t)st;
    const VkMemoryPropertyFlags tf = vd->mem.memoryTypes[t].propertyFlags;
    /* PCE_VULKAN_STAGING: move data through the staging buffer even where
     * it could be mapped, so the discrete-GPU path runs on lavapipe in CI */
    vd->mapped = (tf & host) == host && !dev->ctx->vulkan_staging;

    uint64_t block = BLOCK_BYTES;
    if (block > vd->max_alloc)
        block = vd->max_alloc;
    uint64_t heap = vd->mem.memoryHeaps[vd->mem.memoryTypes[t].heapIndex].size;
    if (heap / 8 < block)
        block = heap / 8 > (16ull << 20) ? heap / 8 : (16ull << 20);
    uint32_t max_count = vd->props.limits.maxMemoryAllocationCount;
    pce_pool_block_ops ops = {.alloc = block_alloc, .free = block_free, .user = vd};
    pce_pool_init(&vd->pool, &ops, block,
                  max_count > RESERVED_ALLOCATIONS ? max_count - RESERVED_ALLOCATIONS : 1);

    VkCommandPoolCreateInfo cpi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = vd->queue_family};
    r = vkCreateCommandPool(vd->dev, &cpi, NULL, &vd->cmd_pool);
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = vd->cmd_pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    if (r == VK_SUCCESS)
        r = vkAllocateCommandBuffers(vd->dev, &cai, &vd->xfer_cmd);
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (r == VK_SUCCESS)
        r = vkCreateFence(vd->dev, &fci, NULL, &vd->xfer_fence);
    char *map;
    if (r == VK_SUCCESS)
        r = make_buffer(vd, 256, vd->staging_type, &vd->err_buf, &vd->err_mem, &map);
    if (r != VK_SUCCESS)
        return pce_fail(dev->ctx, pce_vk_status(r), "%s: command pool and error record: %s",
                        dev->props.name, pce_vk_result_name(r));
    vd->err_map = (uint32_t *)map;
    memset(vd->err_map, 0, 256);
    pce_log(dev->ctx, PCE_LOG_INFO,
            "%s: tensors in memory type %d (%s), blocks of %llu MiB, staging type %d",
            dev->props.name, t, vd->mapped ? "mapped, no staging" : "device-local, staged",
            (unsigned long long)(block >> 20), st);
    return PCE_OK;
}

void pce_vk_memory_destroy(vk_device *vd)
{
    drop_buffer(vd, vd->staging, vd->staging_mem);
    drop_buffer(vd, vd->err_buf, vd->err_mem);
    pce_pool_destroy(&vd->pool);
    if (vd->xfer_fence)
        vkDestroyFence(vd->dev, vd->xfer_fence, NULL);
    if (vd->cmd_pool)
        vkDestroyCommandPool(vd->dev, vd->cmd_pool, NULL);
}

pce_status pce_vk_buffer_alloc(pce_device *dev, size_t bytes, pce_buffer **out)
{
    *out = NULL;
    pce_status st = pce_vk_ready(dev);
    if (st != PCE_OK)
        return st;
    vk_device *vd = dev->impl;
    pce_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: buffer record", dev->props.name);
    uint64_t size = ((uint64_t)bytes + 15) & ~15ull;
    uint64_t heap = vd->mem.memoryHeaps[vd->mem.memoryTypes[vd->mem_type].heapIndex].size;
    if (size > vd->max_alloc || size > heap) {
        free(b);
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY,
                        "%s: %zu bytes in one buffer exceed the device's %s (%llu bytes)",
                        dev->props.name, bytes,
                        size > heap ? "memory heap" : "maxMemoryAllocationSize",
                        (unsigned long long)(size > heap ? heap : vd->max_alloc));
    }
    uint64_t align = vd->props.limits.minStorageBufferOffsetAlignment;
    if (align < 64)
        align = 64;
    int rc = pce_pool_alloc(&vd->pool, size ? size : 16, align, &b->alloc);
    if (rc != PCE_POOL_OK) {
        free(b);
        char used[32];
        snprintf(used, sizeof used, "%llu", (unsigned long long)vd->pool.bytes_used);
        return pce_fail(
            dev->ctx, PCE_ERR_OUT_OF_MEMORY,
            "%s: cannot allocate %zu bytes of device memory (%s; %s bytes in use in "
            "%d blocks, heap %llu bytes)",
            dev->props.name, bytes,
            rc == PCE_POOL_TOO_MANY ? "maxMemoryAllocationCount reached"
                                    : "VK_ERROR_OUT_OF_DEVICE_MEMORY",
            used, vd->pool.n_blocks,
            (unsigned long long)vd->mem.memoryHeaps[vd->mem.memoryTypes[vd->mem_type].heapIndex]
                .size);
    }
    vk_block *blk = b->alloc.block->handle;
    b->buf = blk->buf;
    b->offset = b->alloc.offset;
    b->size = size ? size : 16;
    b->map = blk->map && vd->mapped ? blk->map + b->offset : NULL;
    *out = b;
    return PCE_OK;
}

void pce_vk_buffer_free(pce_device *dev, pce_buffer *b)
{
    if (!b)
        return;
    vk_device *vd = dev->impl;
    pce_pool_free(&vd->pool, &b->alloc);
    free(b);
}

void *pce_vk_buffer_host_ptr(pce_device *dev, pce_buffer *b)
{
    (void)dev;
    return b ? b->map : NULL;
}

static pce_status staging_ready(pce_device *dev)
{
    vk_device *vd = dev->impl;
    if (vd->staging)
        return PCE_OK;
    VkResult r = make_buffer(vd, STAGING_BYTES, vd->staging_type, &vd->staging, &vd->staging_mem,
                             &vd->staging_map);
    if (r != VK_SUCCESS)
        return pce_fail(dev->ctx, pce_vk_status(r), "%s: staging buffer of %llu bytes: %s",
                        dev->props.name, STAGING_BYTES, pce_vk_result_name(r));
    vd->staging_size = STAGING_BYTES;
    return PCE_OK;
}

/* Copies between staging and a device buffer and waits. */
static pce_status transfer(pce_device *dev, VkBuffer src, uint64_t so, VkBuffer dst, uint64_t dof,
                           uint64_t n)
{
    vk_device *vd = dev->impl;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = vkResetCommandBuffer(vd->xfer_cmd, 0);
    if (r == VK_SUCCESS)
        r = vkBeginCommandBuffer(vd->xfer_cmd, &bi);
    if (r == VK_SUCCESS) {
        VkBufferCopy c = {.srcOffset = so, .dstOffset = dof, .size = n};
        vkCmdCopyBuffer(vd->xfer_cmd, src, dst, 1, &c);
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT};
        vkCmdPipelineBarrier(vd->xfer_cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                             VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0,
                             1, &mb, 0, NULL, 0, NULL);
        r = vkEndCommandBuffer(vd->xfer_cmd);
    }
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &vd->xfer_cmd};
    if (r == VK_SUCCESS)
        r = vkResetFences(vd->dev, 1, &vd->xfer_fence);
    if (r == VK_SUCCESS)
        r = vkQueueSubmit(vd->queue, 1, &si, vd->xfer_fence);
    if (r == VK_SUCCESS)
        r = vkWaitForFences(vd->dev, 1, &vd->xfer_fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS)
        return pce_fail(dev->ctx, pce_vk_status(r), "%s: copy of %llu bytes: %s", dev->props.name,
                        (unsigned long long)n, pce_vk_result_name(r));
    return PCE_OK;
}

static pce_status check_range(pce_device *dev, const pce_buffer *b, size_t off, size_t n)
{
    if (off > b->size || n > b->size - off)
        return pce_fail(dev->ctx, PCE_ERR_INVALID_ARGUMENT,
                        "%s: %zu bytes at offset %zu do not fit a buffer of %llu bytes",
                        dev->props.name, n, off, (unsigned long long)b->size);
    return PCE_OK;
}

pce_status pce_vk_upload(pce_device *dev, pce_buffer *b, size_t off, const void *src, size_t n)
{
    pce_status st = check_range(dev, b, off, n);
    if (st != PCE_OK || !n)
        return st;
    if (b->map) {
        memcpy(b->map + off, src, n);
        return PCE_OK;
    }
    if ((st = staging_ready(dev)) != PCE_OK)
        return st;
    vk_device *vd = dev->impl;
    for (size_t done = 0; done < n && st == PCE_OK;) {
        size_t k = n - done < vd->staging_size ? n - done : vd->staging_size;
        memcpy(vd->staging_map, (const char *)src + done, k);
        st = transfer(dev, vd->staging, 0, b->buf, b->offset + off + done, k);
        done += k;
    }
    return st;
}

pce_status pce_vk_download(pce_device *dev, pce_buffer *b, size_t off, void *dst, size_t n)
{
    pce_status st = check_range(dev, b, off, n);
    if (st != PCE_OK || !n)
        return st;
    if (b->map) {
        memcpy(dst, b->map + off, n);
        return PCE_OK;
    }
    if ((st = staging_ready(dev)) != PCE_OK)
        return st;
    vk_device *vd = dev->impl;
    for (size_t done = 0; done < n && st == PCE_OK;) {
        size_t k = n - done < vd->staging_size ? n - done : vd->staging_size;
        st = transfer(dev, b->buf, b->offset + off + done, vd->staging, 0, k);
        if (st == PCE_OK)
            memcpy((char *)dst + done, vd->staging_map, k);
        done += k;
    }
    return st;
}
