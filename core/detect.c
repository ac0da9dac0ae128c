/* detect.c — the host snapshot: CPU (CPUID with OS support checked through
 * XGETBV on x86; auxv on aarch64), topology and caches (hwloc when built
 * with it, else sysconf), PCI display and accelerator devices from sysfs
 * (so a GPU whose runtime is missing is still seen), which GPU runtimes and
 * libraries can be loaded, and OpenBLAS's configuration. Reads only. */
#include "detect.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif
#ifdef PCE_HAVE_HWLOC
#include <hwloc.h>
#endif
#ifdef PCE_HAVE_OPENBLAS
#include "openblas.h"
#endif

static void add_feature(pce_hw_cpu *c, const char *f)
{
    size_t len = strlen(c->features);
    snprintf(c->features + len, sizeof c->features - len, "%s%s", len ? " " : "", f);
}

bool pce_hw_has_feature(const pce_hw_cpu *c, const char *f)
{
    size_t n = strlen(f);
    for (const char *p = c->features; (p = strstr(p, f)) != NULL; p += n)
        if ((p == c->features || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
            return true;
    return false;
}

#if defined(__x86_64__) || defined(__i386__)
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect_x86(pce_hw_cpu *c)
{
    unsigned a, b, cx, d;
    snprintf(c->arch, sizeof c->arch, "x86_64");
    if (!__get_cpuid(0, &a, &b, &cx, &d))
        return;
    unsigned max = a;
    memcpy(c->vendor, &b, 4);
    memcpy(c->vendor + 4, &d, 4);
    memcpy(c->vendor + 8, &cx, 4);
    c->vendor[12] = 0;
    __get_cpuid(1, &a, &b, &cx, &d);
    int fam = (int)((a >> 8) & 0xf), mod = (int)((a >> 4) & 0xf);
    if (fam == 0xf)
        fam += (int)((a >> 20) & 0xff);
    if (fam == 0x6 || fam >= 0xf)
        mod += (int)((a >> 16) & 0xf) << 4;
    c->family = fam;
    c->model = mod;
    c->stepping = (int)(a & 0xf);
    bool osxsave = cx & (1u << 27);
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    bool ymm = (xcr0 & 0x6) == 0x6, zmm = ymm && (xcr0 & 0xe0) == 0xe0,
         amx = (xcr0 & 0x60000) == 0x60000;
    if (cx & (1u << 20))
        add_feature(c, "sse4.2");
    if (ymm && (cx & (1u << 28)))
        add_feature(c, "avx");
    if (ymm && (cx & (1u << 12)))
        add_feature(c, "fma");
    if (cx & (1u << 29))
        add_feature(c, "f16c");
    if (max >= 7) {
        unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0, b71 = 0, c71 = 0, d71 = 0;
        __get_cpuid_count(7, 0, &a, &b7, &c7, &d7);
        if (a >= 1) /* leaf 7 has a sub-leaf 1 */
            __get_cpuid_count(7, 1, &a71, &b71, &c71, &d71);
        static const struct {
            int reg, bit;
            const char *name;
            int need; /* 1 ymm, 2 zmm, 3 amx */
        } f7[] = {
            {0, 5, "avx2", 1},
            {0, 16, "avx512f", 2},
            {0, 17, "avx512dq", 2},
            {0, 30, "avx512bw", 2},
            {0, 31, "avx512vl", 2},
            {1, 11, "avx512vnni", 2},
            {2, 23, "avx512fp16", 2},
            {2, 24, "amx-tile", 3},
            {2, 25, "amx-int8", 3},
            {2, 22, "amx-bf16", 3},
            {3, 4, "avx-vnni", 1},
            {3, 5, "avx512bf16", 2},
            {1, 14, "avx512vpopcntdq", 2},
        };
        unsigned regs[4] = {b7, c7, d7, a71};
        for (size_t i = 0; i < sizeof f7 / sizeof f7[0]; i++) {
            bool ok = f7[i].need == 1 ? ymm : f7[i].need == 2 ? zmm : amx;
            if (ok && (regs[f7[i].reg] & (1u << f7[i].bit)))
                add_feature(c, f7[i].name);
        }
    }
    __get_cpuid(0x80000000, &a, &b, &cx, &d);
    if (a >= 0x80000004) {
        unsigned *w = (unsigned *)(void *)c->brand;
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002 + i, &w[4 * i], &w[4 * i + 1], &w[4 * i + 2], &w[4 * i + 3]);
        c->brand[48] = 0;
        /* trim the padding some CPUs put around the name */
        char *p = c->brand;
        while (*p == ' ')
            p++;
        memmove(c->brand, p, strlen(p) + 1);
        for (size_t n = strlen(c->brand); n && c->brand[n - 1] == ' '; n--)
            c->brand[n - 1] = 0;
    }
}
#endif

#if defined(__aarch64__)
static void detect_arm(pce_hw_cpu *c)
{
    snprintf(c->arch, sizeof c->arch, "aarch64");
    unsigned long hw = getauxval(AT_HWCAP);
    if (hw & (1ul << 1))
        add_feature(c, "asimd");
    if (hw & (1ul << 10))
        add_feature(c, "fphp");
    if (hw & (1ul << 20))
        add_feature(c, "asimddp");
    if (hw & (1ul << 22))
        add_feature(c, "sve");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        unsigned v;
        if (sscanf(line, "CPU implementer : %x", &v) == 1)
            snprintf(c->vendor, sizeof c->vendor, "arm-0x%02x", v);
        else if (sscanf(line, "CPU part : %x", &v) == 1)
            c->model = (int)v;
    }
    if (f)
        fclose(f);
}
#endif

static void detect_topology(pce_hw_cpu *c)
{
    c->threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    c->cores = c->threads;
    c->numa_nodes = 1;
#ifdef PCE_HAVE_HWLOC
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) == 0 && hwloc_topology_load(t) == 0) {
        int n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
        if (n > 0)
            c->cores = n;
        n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
        if (n > 0)
            c->threads = n;
        n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
        if (n > 0)
            c->numa_nodes = n;
        static const hwloc_obj_type_t caches[3] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE,
                                                   HWLOC_OBJ_L3CACHE};
        uint64_t *dst[3] = {&c->l1d, &c->l2, &c->l3};
        for (int i = 0; i < 3; i++) {
            hwloc_obj_t o = hwloc_get_obj_by_type(t, caches[i], 0);
            if (o && o->attr)
                *dst[i] = o->attr->cache.size;
        }
        hwloc_topology_destroy(t);
        return;
    }
#endif
    long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE),
         l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    c->l1d = l1 > 0 ? (uint64_t)l1 : 0;
    c->l2 = l2 > 0 ? (uint64_t)l2 : 0;
    c->l3 = l3 > 0 ? (uint64_t)l3 : 0;
}

static bool read_hex(const char *path, unsigned long *v)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fscanf(f, "%lx", v) == 1;
    fclose(f);
    return ok;
}

int pce_hw_scan_pci(const char *root, pce_hw_pci *out, int cap)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/sys/bus/pci/devices", root && *root ? root : "");
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        if (e->d_name[0] == '.')
            continue;
        char p[1024];
        unsigned long vendor, device, cls;
        snprintf(p, sizeof p, "%s/%s/class", dir, e->d_name);
        if (!read_hex(p, &cls))
            continue;
        /* 0x03: display (VGA, 3D); 0x12: processing accelerators; 0x0b40: co-processor */
        if ((cls >> 16) != 0x03 && (cls >> 16) != 0x12 && (cls >> 8) != 0x0b40)
            continue;
        snprintf(p, sizeof p, "%s/%s/vendor", dir, e->d_name);
        if (!read_hex(p, &vendor))
            continue;
        snprintf(p, sizeof p, "%s/%s/device", dir, e->d_name);
        if (!read_hex(p, &device))
            continue;
        pce_hw_pci *x = &out[n++];
        memset(x, 0, sizeof *x);
        snprintf(x->slot, sizeof x->slot, "%.15s", e->d_name);
        x->vendor = (uint16_t)vendor;
        x->device = (uint16_t)device;
        x->class_code = (uint32_t)cls;
        char link[512];
        snprintf(p, sizeof p, "%s/%s/driver", dir, e->d_name);
        ssize_t k = readlink(p, link, sizeof link - 1);
        if (k > 0) {
            link[k] = 0;
            const char *base = strrchr(link, '/');
            snprintf(x->driver, sizeof x->driver, "%.31s", base ? base + 1 : link);
        }
    }
    closedir(d);
    /* readdir order is arbitrary: sort by slot so snapshots compare */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(out[j - 1].slot, out[j].slot) > 0; j--) {
            pce_hw_pci t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

/* Whether the dynamic linker would find `lib`: already loaded, or present
 * in LD_LIBRARY_PATH or the usual library folders. Loading a GPU runtime
 * just to ask would run its initialisation (and leave its allocations
 * behind when unloaded), so the file is looked for instead. */
static bool loadable(const char *lib)
{
    if (lib[0] == '/')
        return access(lib, R_OK) == 0;
    void *h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
    if (h) {
        dlclose(h);
        return true;
    }
    char path[1024];
    const char *env = getenv("LD_LIBRARY_PATH");
    while (env && *env) {
        size_t n = strcspn(env, ":");
        snprintf(path, sizeof path, "%.*s/%s", (int)(n < 900 ? n : 900), env, lib);
        if (n && access(path, R_OK) == 0)
            return true;
        env += n + (env[n] == ':');
    }
    static const char *const dirs[] = {"/lib/x86_64-linux-gnu",
                                       "/usr/lib/x86_64-linux-gnu",
                                       "/lib/aarch64-linux-gnu",
                                       "/usr/lib/aarch64-linux-gnu",
                                       "/usr/lib64",
                                       "/usr/lib",
                                       "/usr/local/lib",
                                       "/usr/local/cuda/lib64",
                                       "/opt/rocm/lib"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dirs[i], lib);
        if (access(path, R_OK) == 0)
            return true;
    }
    return false;
}

static void detect_libs(pce_hw_libs *l, const char *root)
{
    l->libcuda = loadable("libcuda.so.1");
    l->libcudart = loadable("libcudart.so.13") || loadable("libcudart.so.12");
    l->libamdhip64 = loadable("libamdhip64.so.6") || loadable("libamdhip64.so.5");
    l->libvulkan = loadable("libvulkan.so.1");
    char p[512];
    snprintf(p, sizeof p, "%s/dev/kfd", root && *root ? root : "");
    l->dev_kfd = access(p, F_OK) == 0;
    static const char *icd_dirs[] = {"/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d",
                                     "/usr/local/share/vulkan/icd.d"};
    for (size_t i = 0; i < sizeof icd_dirs / sizeof icd_dirs[0]; i++) {
        snprintf(p, sizeof p, "%s%s", root && *root ? root : "", icd_dirs[i]);
        DIR *d = opendir(p);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL && l->n_vulkan_icds < PCE_HW_MAX_ICDS)
            if (strstr(e->d_name, ".json"))
                snprintf(l->vulkan_icds[l->n_vulkan_icds++], sizeof l->vulkan_icds[0], "%.63s",
                         e->d_name);
        if (d)
            closedir(d);
    }
#ifdef PCE_HAVE_OPENBLAS
    snprintf(l->openblas_config, sizeof l->openblas_config, "%.159s", pce_openblas_config());
    snprintf(l->openblas_core, sizeof l->openblas_core, "%.31s", pce_openblas_corename());
    char cfg[160], core[32], why[200];
    if (pce_openblas_probe(cfg, sizeof cfg, core, sizeof core, why, sizeof why))
        snprintf(l->openblas_default_core, sizeof l->openblas_default_core, "%.31s", core);
#endif
}

void pce_hw_detect_cpu(pce_hw_cpu *c)
{
    memset(c, 0, sizeof *c);
#if defined(__x86_64__) || defined(__i386__)
    detect_x86(c);
#elif defined(__aarch64__)
    detect_arm(c);
#endif
}

void pce_hw_detect(pce_hw_snapshot *s, const char *root)
{
    memset(s, 0, sizeof *s);
    pce_hw_detect_cpu(&s->cpu);
    detect_topology(&s->cpu);
    s->n_pci = pce_hw_scan_pci(root, s->pci, PCE_HW_MAX_PCI);
    detect_libs(&s->libs, root);
}

const char *pce_hw_vendor_name(uint16_t v)
{
    switch (v) {
    case 0x10de: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x1022: return "AMD";
    case 0x8086: return "Intel";
    case 0x13b5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x1af4: return "virtio";
    case 0x1234: return "QEMU";
    default: return NULL;
    }
}

static void jstr(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void pce_hw_write_json(const pce_hw_snapshot *s, FILE *f)
{
    const pce_hw_cpu *c = &s->cpu;
    fprintf(f, "{\n  \"format\": \"pce-snapshot\",\n  \"version\": 1,\n  \"cpu\": {\"arch\": ");
    jstr(f, c->arch);
    fprintf(f, ", \"vendor\": ");
    jstr(f, c->vendor);
    fprintf(f, ", \"family\": %d, \"model\": %d, \"stepping\": %d,\n    \"brand\": ", c->family,
            c->model, c->stepping);
    jstr(f, c->brand);
    fprintf(f, ",\n    \"features\": ");
    jstr(f, c->features);
    fprintf(f,
            ",\n    \"cores\": %d, \"threads\": %d, \"numa_nodes\": %d, \"l1d\": %llu, "
            "\"l2\": %llu, \"l3\": %llu},\n  \"pci\": [",
            c->cores, c->threads, c->numa_nodes, (unsigned long long)c->l1d,
            (unsigned long long)c->l2, (unsigned long long)c->l3);
    for (int i = 0; i < s->n_pci; i++) {
        const pce_hw_pci *p = &s->pci[i];
        fprintf(f, "%s\n    {\"slot\": ", i ? "," : "");
        jstr(f, p->slot);
        fprintf(f,
                ", \"vendor\": \"%04x\", \"device\": \"%04x\", \"class\": \"%06x\", \"driver\": ",
                p->vendor, p->device, p->class_code);
        jstr(f, p->driver);
        fputc('}', f);
    }
    const pce_hw_libs *l = &s->libs;
    fprintf(f,
            "%s],\n  \"libs\": {\"libcuda\": %s, \"libcudart\": %s, \"libamdhip64\": %s, "
            "\"dev_kfd\": %s, \"libvulkan\": %s,\n    \"vulkan_icds\": [",
            s->n_pci ? "\n  " : "", l->libcuda ? "true" : "false", l->libcudart ? "true" : "false",
            l->libamdhip64 ? "true" : "false", l->dev_kfd ? "true" : "false",
            l->libvulkan ? "true" : "false");
    for (int i = 0; i < l->n_vulkan_icds; i++) {
        fputs(i ? ", " : "", f);
        jstr(f, l->vulkan_icds[i]);
    }
    fprintf(f, "],\n    \"openblas_config\": ");
    jstr(f, l->openblas_config);
    fprintf(f, ", \"openblas_core\": ");
    jstr(f, l->openblas_core);
    fprintf(f, ", \"openblas_default_core\": ");
    jstr(f, l->openblas_default_core);
    fprintf(f, "},\n  \"devices\": [");
    for (int i = 0; i < s->n_devices; i++) {
        const pce_device_facts *d = &s->devices[i];
        fprintf(f, "%s\n    {\"device\": ", i ? "," : "");
        jstr(f, d->device);
        fprintf(f, ", \"backend\": ");
        jstr(f, d->backend);
        fprintf(f, ", \"name\": ");
        jstr(f, d->name);
        fprintf(f, ", \"driver\": ");
        jstr(f, d->driver);
        fprintf(f, ", \"arch\": ");
        jstr(f, d->arch);
        fprintf(f, ", \"driver_version\": ");
        jstr(f, d->driver_version);
        fprintf(f, ", \"pci_vendor\": \"%04x\", \"pci_device\": \"%04x\"}", d->pci_vendor,
                d->pci_device);
    }
    fprintf(f, "%s]\n}\n", s->n_devices ? "\n  " : "");
}
