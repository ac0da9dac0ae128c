// rowreduce.glsl — workgroup-wide sum and max: subgroup arithmetic first,
// then one value per subgroup through shared memory. Every invocation of
// the workgroup must call these (they contain barriers).
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_basic : enable

shared float red_[gl_WorkGroupSize.x / SG_MIN];

float wg_sum(float v)
{
    v = subgroupAdd(v);
    if (subgroupElect())
        red_[gl_SubgroupID] = v;
    barrier();
    float r = 0.0;
    for (uint s = 0u; s < gl_NumSubgroups; s++)
        r += red_[s];
    barrier();
    return r;
}

float wg_max(float v)
{
    v = subgroupMax(v);
    if (subgroupElect())
        red_[gl_SubgroupID] = v;
    barrier();
    float r = red_[0];
    for (uint s = 1u; s < gl_NumSubgroups; s++)
        r = max(r, red_[s]);
    barrier();
    return r;
}
