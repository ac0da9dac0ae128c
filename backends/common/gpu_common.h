/* gpu_common.h — what the GPU backends (Vulkan, CUDA/HIP) compute the same
 * way on the host: RoPE's angle table and the message of the run's error
 * record. */
#ifndef PCE_GPU_COMMON_H
#define PCE_GPU_COMMON_H

#include "../backend.h"

/* Bytes of the angle table of a rope node (at least 8). */
size_t pce_rope_table_bytes(const pce_exec_node *n);
/* Fills it: per pair i, theta^(-2i/n_rot) / 2pi as a 64-bit fixed-point
 * fraction of a turn, hi word then lo word (see shaders/rope.comp). */
void pce_rope_table_fill(const pce_exec_node *n, uint32_t *table);
/* The error a run's record err[4] (flag, node, position, value) stands
 * for: an id outside its table, named by node, position and bound. */
pce_status pce_ids_error(pce_device *dev, const pce_segment *seg, const volatile uint32_t *err);

#endif
