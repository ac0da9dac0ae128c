/* detect.h — hardware detection: one immutable snapshot of the host (CPU,
 * PCI display/accelerator devices, GPU runtimes and libraries found,
 * OpenBLAS),
 * kept apart from any decision about it. Matching profiles against a
 * snapshot is a pure function (profiles, later), so decisions are tested
 * with snapshots recorded from other machines. */
#ifndef PCE_DETECT_H
#define PCE_DETECT_H

#include "internal.h"

#include <stdio.h>

#define PCE_HW_MAX_PCI 64
#define PCE_HW_MAX_ICDS 16

typedef struct pce_hw_cpu {
    char arch[16];   /* "x86_64", "aarch64" */
    char vendor[16]; /* "AuthenticAMD", "GenuineIntel", ... */
    int family, model, stepping;
    char brand[64];
    char features[512]; /* space-separated, usable by this OS (XGETBV checked) */
    int cores;          /* physical */
    int threads;        /* logical */
    int numa_nodes;
    uint64_t l1d, l2, l3; /* bytes per instance (0: unknown) */
} pce_hw_cpu;

typedef struct pce_hw_pci {
    char slot[16]; /* "0000:c1:00.0" */
    uint16_t vendor, device;
    uint32_t class_code; /* 24-bit class, e.g. 0x030000 */
    char driver[32];     /* bound kernel driver, "" if none */
} pce_hw_pci;

typedef struct pce_hw_libs {
    bool libcuda, libcudart, libamdhip64, dev_kfd, libvulkan;
    char vulkan_icds[PCE_HW_MAX_ICDS][64]; /* ICD manifest file names */
    int n_vulkan_icds;
    char openblas_config[160]; /* openblas_get_config(), "" without OpenBLAS */
    char openblas_core[32];    /* openblas_get_corename(): the core in use */
    /* the core OpenBLAS picks when left alone (no OPENBLAS_CORETYPE): what
     * `[match] openblas_default_core` compares, so a profile can correct it */
    char openblas_default_core[32];
} pce_hw_libs;

#define PCE_HW_MAX_DEVICES 32

typedef struct pce_hw_snapshot {
    pce_hw_cpu cpu;
    pce_hw_pci pci[PCE_HW_MAX_PCI];
    int n_pci;
    pce_hw_libs libs;
    /* each backend's devices, as profiles see them (filled after probing) */
    pce_device_facts devices[PCE_HW_MAX_DEVICES];
    int n_devices;
} pce_hw_snapshot;

/* Fills *s from this host. sysfs_root: "/" normally, a fake tree in tests. */
void pce_hw_detect(pce_hw_snapshot *s, const char *sysfs_root);
/* The CPU's identity and features only (cheap: CPUID), for decisions
 * taken before the full snapshot is wanted. */
void pce_hw_detect_cpu(pce_hw_cpu *c);
/* Reads the PCI display / 3D / accelerator devices under sysfs_root. */
int pce_hw_scan_pci(const char *sysfs_root, pce_hw_pci *out, int cap);
/* Whether the CPU feature list names `feature` (a whole word). */
bool pce_hw_has_feature(const pce_hw_cpu *c, const char *feature);
/* Writes the snapshot as JSON (snapshot format version 1). */
void pce_hw_write_json(const pce_hw_snapshot *s, FILE *f);
/* A short name for a PCI vendor id ("NVIDIA", "AMD", "Intel") or NULL. */
const char *pce_hw_vendor_name(uint16_t vendor);

#endif
