/* openblas.c — see openblas.h. */
#include "openblas.h"

#include "detect.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define OPENBLAS_SONAME "libopenblas.so.0"

/* dlsym's object pointer into a function pointer, the POSIX way */
#define SYM(var, h, name) (*(void **)&(var) = dlsym((h), (name)))

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool tried, loaded;
static pce_sgemm_fn sgemm;
static char config[160], corename[32], decision[1024];

/* ---- the verdict cache -------------------------------------------------- */

static void cache_path(char *buf, size_t cap)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(buf, cap, "%.400s/pce/openblas.txt", xdg);
    else if (home && *home)
        snprintf(buf, cap, "%.400s/.cache/pce/openblas.txt", home);
    else
        buf[0] = 0;
}

/* The library file's identity: a rebuilt or upgraded OpenBLAS is a new key. */
static void lib_key(char *buf, size_t cap)
{
    char path[512] = "";
    const char *dirs[] = {"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                          "/usr/lib", "/usr/local/lib"};
    struct stat st = {0};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dirs[i], OPENBLAS_SONAME);
        if (stat(path, &st) == 0)
            break;
        path[0] = 0;
    }
    char real[512] = "";
    if (path[0] && !realpath(path, real))
        real[0] = 0;
    snprintf(buf, cap, "%.300s:%lld:%lld", real[0] ? real : OPENBLAS_SONAME, (long long)st.st_size,
             (long long)st.st_mtime);
}

static bool cache_get(const char *key, char *value, size_t cap)
{
    char path[512];
    cache_path(path, sizeof path);
    FILE *f = path[0] ? fopen(path, "r") : NULL;
    char line[1024];
    bool found = false;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, key, n) == 0 && line[n] == '\t') {
            snprintf(value, cap, "%s", line + n + 1);
            found = true;
        }
    }
    if (f)
        fclose(f);
    return found;
}

static void cache_put(const char *key, const char *value)
{
    char path[512];
    cache_path(path, sizeof path);
    if (!path[0])
        return;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\t%s\n", key, value);
        fclose(f);
    }
}

/* ---- child processes ---------------------------------------------------- */

/* Runs fn in a child with OPENBLAS_CORETYPE=core (NULL: unset) and returns
 * its one line of output; the exit status goes to *status (-signal on a
 * crash, -100 on a fork failure). */
static void in_child(const char *core, int (*fn)(FILE *out, const char *core), char *line,
                     size_t cap, int *status)
{
    line[0] = 0;
    int fd[2];
    if (pipe(fd) != 0) {
        *status = -100;
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        *status = -100;
        return;
    }
    if (pid == 0) {
        close(fd[0]);
        alarm(20); /* a hanging OpenBLAS is a failure too */
        if (core)
            setenv("OPENBLAS_CORETYPE", core, 1);
        else
            unsetenv("OPENBLAS_CORETYPE");
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        FILE *out = fdopen(fd[1], "w");
        int rc = out ? fn(out, core) : 3;
        if (out)
            fclose(out);
        _exit(rc);
    }
    close(fd[1]);
    FILE *in = fdopen(fd[0], "r");
    if (in) {
        if (!fgets(line, (int)cap, in))
            line[0] = 0;
        line[strcspn(line, "\n")] = 0;
        fclose(in);
    } else {
        close(fd[0]);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? -WTERMSIG(ws) : -101;
}

static int child_probe(FILE *out, const char *core)
{
    (void)core;
    void *h = dlopen(OPENBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(out, "%s\n", dlerror());
        return 1;
    }
    char *(*cfg)(void) = NULL, *(*name)(void) = NULL;
    SYM(cfg, h, "openblas_get_config");
    SYM(name, h, "openblas_get_corename");
    if (!cfg || !name) {
        fprintf(out, "%s has no openblas_get_config\n", OPENBLAS_SONAME);
        return 1;
    }
    fprintf(out, "%s\t%s\n", name(), cfg());
    return 0;
}

/* sgemm on row-major and transposed operands against double sums. */
static int child_verify(FILE *out, const char *core)
{
    void *h = dlopen(OPENBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    pce_sgemm_fn f = NULL;
    char *(*name)(void) = NULL;
    if (h) {
        SYM(f, h, "cblas_sgemm");
        SYM(name, h, "openblas_get_corename");
    }
    if (!f || !name) {
        fprintf(out, "cannot load %s\n", OPENBLAS_SONAME);
        return 3;
    }
    if (strcasecmp(name(), core) != 0) {
        fprintf(out, "OpenBLAS ran core %s instead (this CPU cannot run %s)\n", name(), core);
        return 2;
    }
    enum { M = 67, N = 45, K = 301 };
    static float a[M * K], b[K * N], c[M * N];
    uint32_t s = 2463534242u;
    for (int i = 0; i < M * K; i++)
        a[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 8388608.0f - 1.0f;
    for (int i = 0; i < K * N; i++)
        b[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 8388608.0f - 1.0f;
    for (int t = 0; t < 2; t++) {
        /* t = 1: B given as its transpose (N x K), as for y = x w^T */
        static float bt[N * K];
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++)
                bt[j * K + k] = b[k * N + j];
        memset(c, 0xff, sizeof c);
        f(101, 111, t ? 112 : 111, M, N, K, 1.0f, a, K, t ? bt : b, t ? K : N, 0.0f, c, N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double ref = 0, mag = 0;
                for (int k = 0; k < K; k++) {
                    ref += (double)a[i * K + k] * b[k * N + j];
                    mag += fabs((double)a[i * K + k] * b[k * N + j]);
                }
                if (!(fabs(c[i * N + j] - ref) <= 1e-5 * mag + 1e-6)) {
                    fprintf(out, "sgemm wrong at (%d, %d): %g, expected %g\n", i, j,
                            (double)c[i * N + j], ref);
                    return 1;
                }
            }
    }
    fprintf(out, "sgemm %dx%dx%d matches the double-precision reference\n", M, N, K);
    return 0;
}

bool pce_openblas_probe(char *cfg, size_t ccap, char *core, size_t kcap, char *why, size_t wcap)
{
    char key[600], val[400];
    lib_key(key, sizeof key);
    /* OpenBLAS's own core choice depends on the CPU: a cache in a home
     * folder shared by several machines must not hand one's to another */
    pce_hw_cpu cpu;
    pce_hw_detect_cpu(&cpu);
    char ckey[700];
    snprintf(ckey, sizeof ckey, "probe %s-%d-%d-%d %s", cpu.vendor, cpu.family, cpu.model,
             cpu.stepping, key);
    if (!cache_get(ckey, val, sizeof val)) {
        int st;
        in_child(NULL, child_probe, val, sizeof val, &st);
        if (st != 0) {
            snprintf(why, wcap, "%s not loadable: %s", OPENBLAS_SONAME,
                     val[0] ? val : "the probe crashed");
            return false;
        }
        cache_put(ckey, val);
    }
    char *tab = strchr(val, '\t');
    if (!tab) {
        snprintf(why, wcap, "bad OpenBLAS probe result");
        return false;
    }
    *tab = 0;
    snprintf(core, kcap, "%s", val);
    snprintf(cfg, ccap, "%s", tab + 1);
    return true;
}

bool pce_openblas_verify(const char *core, const char *cpu_key, char *detail, size_t cap)
{
    char lk[600], key[900], val[400];
    lib_key(lk, sizeof lk);
    snprintf(key, sizeof key, "verify %s %s %s", cpu_key, lk, core);
    for (char *p = key; *p; p++)
        if (*p == '\t' || *p == '\n')
            *p = ' ';
    if (cache_get(key, val, sizeof val)) {
        bool ok = val[0] == '1';
        snprintf(detail, cap, "%s (cached)", val + 2);
        return ok;
    }
    int st;
    char line[300];
    in_child(core, child_verify, line, sizeof line, &st);
    bool ok = st == 0;
    if (st < 0 && st > -100)
        snprintf(detail, cap, "crashed with signal %d", -st);
    else
        snprintf(detail, cap, "%s", line[0] ? line : "no answer");
    snprintf(val, sizeof val, "%d %s", ok, detail);
    cache_put(key, val);
    return ok;
}

bool pce_openblas_load(const char *core)
{
    pthread_mutex_lock(&lock);
    if (!tried) {
        tried = true;
        if (core && *core)
            setenv("OPENBLAS_CORETYPE", core, 1);
        void *h = dlopen(OPENBLAS_SONAME, RTLD_NOW | RTLD_GLOBAL);
        if (h) {
            char *(*cfg)(void) = NULL, *(*name)(void) = NULL;
            SYM(sgemm, h, "cblas_sgemm");
            SYM(cfg, h, "openblas_get_config");
            SYM(name, h, "openblas_get_corename");
            if (cfg)
                snprintf(config, sizeof config, "%.159s", cfg());
            if (name)
                snprintf(corename, sizeof corename, "%.31s", name());
            loaded = sgemm != NULL;
        }
    }
    bool ok = loaded;
    pthread_mutex_unlock(&lock);
    return ok;
}

pce_sgemm_fn pce_openblas_sgemm(void)
{
    return loaded ? sgemm : NULL;
}

const char *pce_openblas_config(void)
{
    return loaded ? config : "";
}

const char *pce_openblas_corename(void)
{
    return loaded ? corename : "";
}

const char *pce_openblas_decision(void)
{
    return decision;
}

void pce_openblas_set_decision(const char *text)
{
    snprintf(decision, sizeof decision, "%s", text);
}
