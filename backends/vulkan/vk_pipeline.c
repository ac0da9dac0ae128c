/* vk_pipeline.c — the embedded SPIR-V variants and the pipelines made from
 * them: one descriptor set layout and pipeline layout for every kernel
 * (five storage buffers, 128 bytes of push constants), shader modules and
 * pipelines created once per device on first use and kept, with workgroup
 * size, minimum subgroup size and op as specialization constants. */
#include "vk_internal.h"

#include <stdlib.h>
#include <string.h>

#define PCE_SPV(n)                                                                                 \
    extern const uint32_t pce_spv_##n[];                                                           \
    extern const size_t pce_spv_##n##_size;
#include "pce_spirv_list.h"
#undef PCE_SPV

typedef struct spv_entry {
    const char *name;
    const uint32_t *code;
    const size_t *size;
} spv_entry;

static const spv_entry spv_table[] = {
#define PCE_SPV(n) {#n, pce_spv_##n, &pce_spv_##n##_size},
#include "pce_spirv_list.h"
#undef PCE_SPV
};

#define N_VARIANTS ((int)(sizeof spv_table / sizeof spv_table[0]))

int pce_vk_variant_find(const char *name)
{
    for (int i = 0; i < N_VARIANTS; i++)
        if (strcmp(spv_table[i].name, name) == 0)
            return i;
    return -1;
}

const char *pce_vk_variant_name(int v)
{
    return v >= 0 && v < N_VARIANTS ? spv_table[v].name : "?";
}

pce_status pce_vk_pipelines_init(pce_device *dev)
{
    vk_device *vd = dev->impl;
    VkDescriptorSetLayoutBinding b[5];
    for (uint32_t i = 0; i < 5; i++)
        b[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                              .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                              .descriptorCount = 1,
                                              .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo dci = {.sType =
                                               VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                           .bindingCount = 5,
                                           .pBindings = b};
    VkResult r = vkCreateDescriptorSetLayout(vd->dev, &dci, NULL, &vd->dsl);
    VkPushConstantRange pcr = {
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = sizeof(vk_push)};
    VkPipelineLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                      .setLayoutCount = 1,
                                      .pSetLayouts = &vd->dsl,
                                      .pushConstantRangeCount = 1,
                                      .pPushConstantRanges = &pcr};
    if (r == VK_SUCCESS)
        r = vkCreatePipelineLayout(vd->dev, &lci, NULL, &vd->layout);
    VkPipelineCacheCreateInfo cci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    if (r == VK_SUCCESS)
        r = vkCreatePipelineCache(vd->dev, &cci, NULL, &vd->cache);
    if (r != VK_SUCCESS)
        return pce_fail(dev->ctx, pce_vk_status(r), "%s: pipeline layout: %s", dev->props.name,
                        pce_vk_result_name(r));
    vd->modules = calloc((size_t)N_VARIANTS, sizeof *vd->modules);
    if (!vd->modules)
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: %d shader modules", dev->props.name,
                        N_VARIANTS);
    return PCE_OK;
}

void pce_vk_pipelines_destroy(vk_device *vd)
{
    for (int i = 0; i < vd->n_pipes; i++)
        vkDestroyPipeline(vd->dev, vd->pipes[i].pipe, NULL);
    free(vd->pipes);
    vd->pipes = NULL;
    vd->n_pipes = 0;
    for (int i = 0; vd->modules && i < N_VARIANTS; i++)
        if (vd->modules[i])
            vkDestroyShaderModule(vd->dev, vd->modules[i], NULL);
    free(vd->modules);
    vd->modules = NULL;
    if (vd->cache)
        vkDestroyPipelineCache(vd->dev, vd->cache, NULL);
    if (vd->layout)
        vkDestroyPipelineLayout(vd->dev, vd->layout, NULL);
    if (vd->dsl)
        vkDestroyDescriptorSetLayout(vd->dev, vd->dsl, NULL);
}

pce_status pce_vk_pipeline_get(pce_device *dev, int variant, int op, VkPipeline *out)
{
    vk_device *vd = dev->impl;
    for (int i = 0; i < vd->n_pipes; i++)
        if (vd->pipes[i].variant == variant && vd->pipes[i].op == op) {
            *out = vd->pipes[i].pipe;
            return PCE_OK;
        }
    if (variant < 0 || variant >= N_VARIANTS)
        return pce_fail(dev->ctx, PCE_ERR_INTERNAL, "%s: no SPIR-V variant %d", dev->props.name,
                        variant);
    VkResult r = VK_SUCCESS;
    if (!vd->modules[variant]) {
        VkShaderModuleCreateInfo mci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                        .codeSize = *spv_table[variant].size,
                                        .pCode = spv_table[variant].code};
        r = vkCreateShaderModule(vd->dev, &mci, NULL, &vd->modules[variant]);
        if (r != VK_SUCCESS) {
            vd->modules[variant] = VK_NULL_HANDLE;
            return pce_fail(dev->ctx, pce_vk_status(r), "%s: shader module %s: %s", dev->props.name,
                            spv_table[variant].name, pce_vk_result_name(r));
        }
    }
    if (vd->n_pipes == vd->cap_pipes) {
        int cap = vd->cap_pipes ? 2 * vd->cap_pipes : 32;
        vk_pipe *p = realloc(vd->pipes, (size_t)cap * sizeof *p);
        if (!p)
            return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: pipeline table", dev->props.name);
        vd->pipes = p;
        vd->cap_pipes = cap;
    }
    struct {
        uint32_t wg, sg;
        int32_t op;
    } spec = {vd->wg, vd->min_subgroup, op};
    const VkSpecializationMapEntry map[3] = {{0, 0, 4}, {1, 4, 4}, {2, 8, 4}};
    VkSpecializationInfo si = {
        .mapEntryCount = 3, .pMapEntries = map, .dataSize = sizeof spec, .pData = &spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = vd->modules[variant],
                  .pName = "main",
                  .pSpecializationInfo = &si},
        .layout = vd->layout};
    VkPipeline pipe;
    r = vkCreateComputePipelines(vd->dev, vd->cache, 1, &ci, NULL, &pipe);
    if (r != VK_SUCCESS)
        return pce_fail(dev->ctx, pce_vk_status(r), "%s: pipeline %s (op %d): %s", dev->props.name,
                        spv_table[variant].name, op, pce_vk_result_name(r));
    vd->pipes[vd->n_pipes++] = (vk_pipe){variant, op, pipe};
    *out = pipe;
    return PCE_OK;
}
