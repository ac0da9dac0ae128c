// test_kernels_emu.cpp — runs the CUDA/HIP kernels (backends/cuda/
// gpu_kernels.cu, turned into C++ by xform.py and run on the CPU through
// emu.h: one std::thread per GPU thread, real block barriers, warp shuffles
// of width EMU_WARP = 32 or 64) against double-precision references written
// from the Vulkan shaders and the CPU reference kernels. No GPU needed: this
// is how CI tests the kernels' logic; tests/gpu/device-check.sh runs them on
// a real GPU. Seed: PCE_SEED, else the time (printed). Quantized weights
// come from core/quant.c (quantized by pce_quantize_row, the reference from
// pce_dequantize_row), compiled into this test.
#include "gpu_kernels.h"
// quant.h is C11 (_Static_assert)
#define _Static_assert static_assert
extern "C" {
#include "quant.h"
}
#undef _Static_assert
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>
#include <functional>

static std::mt19937 rng;
static double urand(double lo, double hi)
{
    return std::uniform_real_distribution<double>(lo, hi)(rng);
}
static int fails = 0;
#define CHECK(c, ...)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fails++;                                                                               \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

static const int esz[5] = {4, 2, 2, 4, 1};
static float h2f(uint16_t h)
{
    _Float16 f;
    memcpy(&f, &h, 2);
    return (float)f;
}
static uint16_t f2h(float v)
{
    _Float16 f = (_Float16)v;
    uint16_t h;
    memcpy(&h, &f, 2);
    return h;
}
static float bf2f(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint16_t f2bf(float v)
{
    uint32_t x;
    memcpy(&x, &v, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (x >> 16) | 0x40;
    return (x + 0x7fff + ((x >> 16) & 1)) >> 16;
}

struct T {
    int dt;
    int64_t ne[4], nb[4];
    std::vector<uint8_t> mem;
    int64_t base = 0; // element offset of (0,0,0,0) inside mem
    T() : dt(0), ne{1, 1, 1, 1}, nb{0, 0, 0, 0}
    {
    }
    // contiguous, or with a permutation / padding of strides
    T(int dt_, std::vector<int64_t> n, std::vector<int> order = {0, 1, 2, 3}, int64_t pad = 0)
        : dt(dt_)
    {
        for (int i = 0; i < 4; i++)
            ne[i] = n[i];
        int64_t s = 1;
        for (int k = 3; k >= 0; k--) {
            int d = order[k];
            nb[d] = s;
            s *= ne[d] + (k == 3 ? pad : 0);
        }
        base = 3;
        mem.assign((size_t)(s + 8) * esz[dt], 0xA5);
    }
    void *data()
    {
        return mem.data() + base * esz[dt];
    }
    int64_t idx(int64_t a, int64_t b, int64_t c, int64_t d) const
    {
        return a * nb[0] + b * nb[1] + c * nb[2] + d * nb[3];
    }
    double get(int64_t a, int64_t b, int64_t c, int64_t d) const
    {
        const uint8_t *p = mem.data() + (base + idx(a, b, c, d)) * esz[dt];
        switch (dt) {
        case 0: {
            float f;
            memcpy(&f, p, 4);
            return f;
        }
        case 1: {
            uint16_t h;
            memcpy(&h, p, 2);
            return h2f(h);
        }
        case 2: {
            uint16_t h;
            memcpy(&h, p, 2);
            return bf2f(h);
        }
        case 3: {
            int32_t i;
            memcpy(&i, p, 4);
            return i;
        }
        default: return (int8_t)*p;
        }
    }
    void set(int64_t a, int64_t b, int64_t c, int64_t d, double v)
    {
        uint8_t *p = mem.data() + (base + idx(a, b, c, d)) * esz[dt];
        float f = (float)v;
        switch (dt) {
        case 0: memcpy(p, &f, 4); break;
        case 1: {
            uint16_t h = f2h(f);
            memcpy(p, &h, 2);
            break;
        }
        case 2: {
            uint16_t h = f2bf(f);
            memcpy(p, &h, 2);
            break;
        }
        case 3: {
            int32_t i = (int32_t)v;
            memcpy(p, &i, 4);
            break;
        }
        default: *p = (uint8_t)(int8_t)v;
        }
    }
    void rand(double lo, double hi)
    {
        for4([&](int64_t a, int64_t b, int64_t c, int64_t d) { set(a, b, c, d, urand(lo, hi)); });
    }
    template <class F> void for4(F f) const
    {
        for (int64_t a = 0; a < ne[0]; a++)
            for (int64_t b = 0; b < ne[1]; b++)
                for (int64_t c = 0; c < ne[2]; c++)
                    for (int64_t d = 0; d < ne[3]; d++)
                        f(a, b, c, d);
    }
    pce_gpu_tensor g()
    {
        pce_gpu_tensor t;
        t.data = data();
        t.dtype = dt;
        for (int i = 0; i < 4; i++)
            t.nb[i] = ne[i] > 1 ? nb[i] : (i & 1 ? 0 : 7);
        return t;
    }
};

static pce_gpu_launch mk(int kernel, int op, const int64_t ne[4])
{
    pce_gpu_launch l;
    memset(&l, 0, sizeof l);
    l.kernel = kernel;
    l.op = op;
    l.n = 1;
    for (int i = 0; i < 4; i++) {
        l.ne[i] = ne[i];
        l.n *= ne[i];
    }
    for (int i = 0; i < 4; i++)
        l.t[i].dtype = 0;
    return l;
}

static void run(pce_gpu_launch &l, int max_blocks = 3)
{
    CHECK(pce_gpu_kernel_exists(&l), "exists kernel %d op %d", l.kernel, l.op);
    int rc = pce_gpu_kernel_launch(&l, nullptr, max_blocks);
    CHECK(rc == 0, "launch rc %d", rc);
}

struct nmse {
    double e = 0, r = 0;
    void add(double g, double ref)
    {
        e += (g - ref) * (g - ref);
        r += ref * ref;
    }
    double v() const
    {
        return r > 0 ? e / r : e;
    }
};
static double tol(int dt)
{
    return dt == 0 ? 1e-9 : dt == 1 ? 1e-6 : 1e-4;
}

static void test_binary()
{
    for (int dt = 0; dt < 3; dt++)
        for (int op = 0; op < 5; op++)
            for (int bc = 0; bc < 2; bc++) {
                T a(dt, {2, 3, 5, 37}), b(dt, {2, bc ? 1 : 3, 5, bc ? 1 : 37}),
                    d(dt, {2, 3, 5, 37},
                      bc ? std::vector<int>{0, 1, 3, 2} : std::vector<int>{0, 1, 2, 3});
                a.rand(-2, 2);
                b.rand(0.5, 2);
                pce_gpu_launch l = mk(PCE_GPU_BINARY, op, d.ne);
                l.t[0] = a.g();
                l.t[1] = b.g();
                l.t[3] = d.g();
                if (bc) {
                    l.t[1].nb[1] = 0;
                    l.t[1].nb[3] = 0;
                }
                run(l);
                nmse e;
                d.for4([&](int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
                    double x = a.get(i0, i1, i2, i3), y = b.get(i0, bc ? 0 : i1, i2, bc ? 0 : i3),
                           v;
                    switch (op) {
                    case 0: v = x + y; break;
                    case 1: v = x - y; break;
                    case 2: v = x * y; break;
                    case 3: v = x / y; break;
                    default: v = x / (1 + exp(-x)) * y;
                    }
                    e.add(d.get(i0, i1, i2, i3), v);
                });
                CHECK(e.v() < tol(dt), "binary dt %d op %d bc %d nmse %g", dt, op, bc, e.v());
            }
}

static double sat(double v, double lo, double hi)
{
    if (std::isnan(v))
        return 0;
    v = std::nearbyint(v);
    return v < lo ? lo : v > hi ? hi : v;
}

static void test_cast()
{
    const float specials[] = {
        0.5f,    1.5f,     2.5f,      -0.5f,    -2.5f,        127.5f,       128.f,
        -128.5f, -129.f,   1e10f,     -1e10f,   2147483520.f, 2147483648.f, -2147483648.f,
        NAN,     INFINITY, -INFINITY, 3.14159f, 65519.f,      70000.f,      1e-8f};
    const int ns = sizeof specials / sizeof *specials;
    for (int at = 0; at < 5; at++)
        for (int dt = 0; dt < 5; dt++)
            for (int strided = 0; strided < 2; strided++) {
                T a(at, {1, 2, 3, ns}),
                    d(dt, {1, 2, 3, ns},
                      strided ? std::vector<int>{0, 3, 2, 1} : std::vector<int>{0, 1, 2, 3});
                int k = 0;
                a.for4([&](int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
                    float v = specials[i3] * (k++ % 2 ? 1 : -1);
                    if (at == 3) {
                        int32_t x = (int32_t)sat(v, -2147483648.0, 2147483647.0);
                        if (i2 == 2)
                            x = 16777217 + (int)i3;
                        a.set(i0, i1, i2, i3, 0);
                        memcpy(a.mem.data() + (a.base + a.idx(i0, i1, i2, i3)) * 4, &x, 4);
                    } else if (at == 4)
                        a.set(i0, i1, i2, i3, sat(v, -128, 127));
                    else
                        a.set(i0, i1, i2, i3, v);
                });
                pce_gpu_launch l = mk(PCE_GPU_UNARY, 0, d.ne);
                l.t[0] = a.g();
                l.t[3] = d.g();
                run(l);
                int bad = 0;
                d.for4([&](int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
                    const uint8_t *pa = a.mem.data() + (a.base + a.idx(i0, i1, i2, i3)) * esz[at];
                    const uint8_t *pd = d.mem.data() + (d.base + d.idx(i0, i1, i2, i3)) * esz[dt];
                    uint8_t want[4];
                    if (at == dt)
                        memcpy(want, pa, esz[dt]);
                    else {
                        float x = (float)a.get(i0, i1, i2, i3);
                        if (at == 3) {
                            int32_t iv;
                            memcpy(&iv, pa, 4);
                            x = (float)iv;
                        }
                        switch (dt) {
                        case 0: memcpy(want, &x, 4); break;
                        case 1: {
                            uint16_t h = f2h(x);
                            memcpy(want, &h, 2);
                            break;
                        }
                        case 2: {
                            uint16_t h = f2bf(x);
                            memcpy(want, &h, 2);
                            break;
                        }
                        case 3: {
                            int32_t iv =
                                std::isnan(x) ? 0 : (int32_t)sat(x, -2147483648.0, 2147483647.0);
                            memcpy(want, &iv, 4);
                            break;
                        }
                        default: {
                            int8_t iv = (int8_t)sat(x, -128, 127);
                            memcpy(want, &iv, 1);
                        }
                        }
                    }
                    if (memcmp(want, pd, esz[dt]) != 0 &&
                        !(dt == 0 && std::isnan(d.get(i0, i1, i2, i3)) &&
                          std::isnan(*(float *)want)))
                        bad++;
                });
                CHECK(bad == 0, "cast %d -> %d strided %d: %d wrong", at, dt, strided, bad);
            }
}

static double erfc_ref(double x)
{
    return erfc(x);
}
static void test_unary()
{
    for (int dt = 0; dt < 3; dt++)
        for (int op = 1; op <= 12; op++)
            for (int strided = 0; strided < 2; strided++) {
                T a(dt, {2, 2, 7, 9}),
                    d(dt, {2, 2, 7, 9},
                      strided ? std::vector<int>{1, 0, 3, 2} : std::vector<int>{0, 1, 2, 3});
                a.rand(op == 5 ? 0.1 : -3, 3);
                pce_gpu_launch l = mk(PCE_GPU_UNARY, op, d.ne);
                l.t[0] = a.g();
                l.t[3] = d.g();
                l.fp[0] = 1.75f;
                l.ip[0] = 2;
                run(l);
                nmse e;
                int badmask = 0;
                d.for4([&](int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
                    double x = a.get(i0, i1, i2, i3), v;
                    switch (op) {
                    case 1: v = x * 1.75; break;
                    case 2: v = -x; break;
                    case 3: v = fabs(x); break;
                    case 4: v = x * x; break;
                    case 5: v = sqrt(x); break;
                    case 6: v = exp(x); break;
                    case 7: v = tanh(x); break;
                    case 8: v = x > 0 ? x : 0; break;
                    case 9:
                        v = x / (1.0 + exp(-1.5957691216057308 * (x + 0.044715 * x * x * x)));
                        break;
                    case 10: v = 0.5 * x * erfc_ref(-x * 0.7071067811865476); break;
                    case 11: v = x / (1 + exp(-x)); break;
                    default: v = i3 > i2 + 2 ? -INFINITY : x;
                    }
                    double g = d.get(i0, i1, i2, i3);
                    if (op == 12 && std::isinf(v)) {
                        if (!(std::isinf(g) && g < 0))
                            badmask++;
                        return;
                    }
                    e.add(g, v);
                });
                // tanh_safe cancels near 0 (as in the shader): allow more there
                double t = tol(dt) * (op == 7 && dt == 0 ? 100 : 1);
                CHECK(e.v() < t && badmask == 0, "unary dt %d op %d strided %d nmse %g badmask %d",
                      dt, op, strided, e.v(), badmask);
            }
}

static void test_reduce()
{
    for (int dt = 0; dt < 3; dt++)
        for (int op = 0; op < 4; op++)
            for (int n : {1, 5, 256, 1000}) {
                T a(dt, {2, 1, 3, n}, {2, 0, 3, 1}), d(op == 3 ? 3 : dt, {2, 1, 3, 1});
                a.rand(-3, 3);
                if (op == 3 && n >= 256) {
                    a.set(1, 0, 2, 7, 9.0);
                    a.set(1, 0, 2, n - 1, 9.0);
                    a.set(0, 0, 1, 300 % n, 9.0);
                    a.set(0, 0, 1, 260 % n, 9.0);
                }
                pce_gpu_launch l = mk(PCE_GPU_REDUCE, op, a.ne);
                l.t[0] = a.g();
                l.t[3] = d.g();
                run(l, 1);
                nmse e;
                int bad = 0;
                for (int i0 = 0; i0 < 2; i0++)
                    for (int i2 = 0; i2 < 3; i2++) {
                        double acc = op <= 1 ? 0 : -INFINITY;
                        int arg = 0;
                        for (int j = 0; j < n; j++) {
                            double x = a.get(i0, 0, i2, j);
                            if (op <= 1)
                                acc += x;
                            else if (x > acc) {
                                acc = x;
                                arg = j;
                            }
                        }
                        if (op == 1)
                            acc /= n;
                        double g = d.get(i0, 0, i2, 0);
                        if (op == 3) {
                            if ((int)g != arg)
                                bad++;
                        } else
                            e.add(g, acc);
                    }
                CHECK(e.v() < tol(dt) && bad == 0, "reduce dt %d op %d n %d nmse %g bad %d", dt, op,
                      n, e.v(), bad);
            }
}

static void test_norm()
{
    for (int dt = 0; dt < 3; dt++)
        for (int op = 0; op < 2; op++)
            for (int wb = 0; wb < 4; wb++)
                for (int n : {7, 300}) {
                    T a(dt, {1, 2, 3, n}, {0, 2, 1, 3}), d(dt, {1, 2, 3, n}),
                        w((wb + 1) % 3, {1, 1, 1, n}), b(wb % 3, {1, 1, 1, n}, {0, 1, 2, 3}, 0);
                    a.rand(-2, 3);
                    w.rand(0.5, 1.5);
                    b.rand(-1, 1);
                    pce_gpu_launch l = mk(PCE_GPU_NORM, op, a.ne);
                    l.t[0] = a.g();
                    l.t[3] = d.g();
                    l.fp[0] = 1e-5f;
                    if (wb & 1)
                        l.t[1] = w.g();
                    if (wb & 2)
                        l.t[2] = b.g();
                    run(l, 1);
                    nmse e;
                    for (int i1 = 0; i1 < 2; i1++)
                        for (int i2 = 0; i2 < 3; i2++) {
                            double mean = 0, ss = 0;
                            if (op == 1) {
                                for (int j = 0; j < n; j++)
                                    mean += a.get(0, i1, i2, j);
                                mean /= n;
                            }
                            for (int j = 0; j < n; j++) {
                                double v = a.get(0, i1, i2, j) - mean;
                                ss += v * v;
                            }
                            double inv = 1 / sqrt(ss / n + 1e-5);
                            for (int j = 0; j < n; j++) {
                                double v = (a.get(0, i1, i2, j) - mean) * inv;
                                if (wb & 1)
                                    v *= w.get(0, 0, 0, j);
                                if (wb & 2)
                                    v += b.get(0, 0, 0, j);
                                e.add(d.get(0, i1, i2, j), v);
                            }
                        }
                    CHECK(e.v() < tol(dt), "norm dt %d op %d wb %d n %d nmse %g", dt, op, wb, n,
                          e.v());
                }
}

static void test_softmax()
{
    for (int dt = 0; dt < 3; dt++)
        for (int mk_ = 0; mk_ < 3; mk_++)
            for (int n : {3, 300}) {
                T a(dt, {2, 2, 3, n}), d(dt, {2, 2, 3, n}, {0, 1, 3, 2}),
                    m(mk_ == 2 ? dt : 0, {1, 1, 3, n});
                a.rand(-4, 4);
                m.for4([&](int64_t, int64_t, int64_t c, int64_t j) {
                    m.set(0, 0, c, j, c == 1 ? -INFINITY : (j > c + 1 ? -INFINITY : urand(-1, 0)));
                });
                pce_gpu_launch l = mk(PCE_GPU_SOFTMAX, 0, a.ne);
                l.t[0] = a.g();
                l.t[3] = d.g();
                l.fp[0] = 0.7f;
                if (mk_) {
                    l.t[1] = m.g();
                    l.t[1].nb[0] = l.t[1].nb[1] = 0;
                }
                run(l, 1);
                nmse e;
                int bad = 0;
                for (int i0 = 0; i0 < 2; i0++)
                    for (int i1 = 0; i1 < 2; i1++)
                        for (int i2 = 0; i2 < 3; i2++) {
                            std::vector<double> v(n);
                            double mx = -INFINITY, s = 0;
                            for (int j = 0; j < n; j++) {
                                v[j] = a.get(i0, i1, i2, j) * 0.7f + (mk_ ? m.get(0, 0, i2, j) : 0);
                                mx = std::max(mx, v[j]);
                            }
                            for (int j = 0; j < n; j++)
                                s += mx == -INFINITY ? 0 : exp(v[j] - mx);
                            for (int j = 0; j < n; j++) {
                                double r = s > 0 ? exp(v[j] - mx) / s : 0, g = d.get(i0, i1, i2, j);
                                if (std::isnan(g))
                                    bad++;
                                e.add(g, r);
                            }
                        }
                CHECK(e.v() < tol(dt) && !bad, "softmax dt %d mask %d n %d nmse %g nan %d", dt, mk_,
                      n, e.v(), bad);
            }
}

static void test_rope()
{
    for (int dt = 0; dt < 3; dt++)
        for (int mode = 0; mode < 2; mode++)
            for (int inplace = 0; inplace < 2; inplace++) {
                const int Tn = 5, H = 3, D = 20, n_rot = 16;
                const double base = 10000;
                T a(dt, {1, Tn, H, D}), d(dt, {1, Tn, H, D}), pos(3, {1, 1, 1, Tn});
                a.rand(-1, 1);
                T a0 = a;
                const int32_t pv[Tn] = {0, 7, 100000, -3, 2000000000};
                for (int i = 0; i < Tn; i++)
                    memcpy(pos.mem.data() + (pos.base + i) * 4, &pv[i], 4);
                std::vector<uint32_t> tab(n_rot);
                for (int i = 0; i < n_rot / 2; i++) {
                    double s = pow(base, -2.0 * i / n_rot), f = s / (2 * M_PI);
                    f -= floor(f);
                    double hi = floor(f * 4294967296.0);
                    tab[2 * i] = (uint32_t)hi;
                    tab[2 * i + 1] = (uint32_t)floor((f * 4294967296.0 - hi) * 4294967296.0);
                }
                pce_gpu_launch l = mk(PCE_GPU_ROPE, 0, a.ne);
                l.t[0] = a.g();
                l.t[1] = pos.g();
                l.t[3] = inplace ? a.g() : d.g();
                l.ip[0] = n_rot;
                l.ip[1] = mode;
                l.rope_tab = tab.data();
                run(l);
                T &out = inplace ? a : d;
                nmse e;
                for (int t = 0; t < Tn; t++)
                    for (int h = 0; h < H; h++) {
                        for (int j = n_rot; j < D; j++)
                            e.add(out.get(0, t, h, j), a0.get(0, t, h, j));
                        for (int i = 0; i < n_rot / 2; i++) {
                            long double th = (long double)pv[t] * powl(base, -2.0L * i / n_rot);
                            int j0 = mode ? i : 2 * i, j1 = mode ? i + n_rot / 2 : 2 * i + 1;
                            double x0 = a0.get(0, t, h, j0), x1 = a0.get(0, t, h, j1),
                                   c = (double)cosl(th), s = (double)sinl(th);
                            e.add(out.get(0, t, h, j0), x0 * c - x1 * s);
                            e.add(out.get(0, t, h, j1), x0 * s + x1 * c);
                        }
                    }
                CHECK(e.v() < tol(dt), "rope dt %d mode %d inplace %d nmse %g", dt, mode, inplace,
                      e.v());
            }
}

static void test_rows()
{
    for (int at = 0; at < 3; at++) {
        T tab(at, {1, 1, 6, 10}), d(0, {1, 1, 4, 10}), ids(3, {1, 1, 1, 4});
        tab.rand(-1, 1);
        int32_t iv[4] = {5, 0, 9, 2};
        for (int i = 0; i < 4; i++)
            memcpy(ids.mem.data() + (ids.base + i) * 4, &iv[i], 4);
        uint32_t err[4] = {0, 0, 0, 0};
        pce_gpu_launch l = mk(PCE_GPU_GET_ROWS, 0, d.ne);
        l.t[0] = tab.g();
        l.t[1] = ids.g();
        l.t[3] = d.g();
        l.ip[0] = 6;
        l.ip[1] = 42;
        l.err = err;
        run(l);
        int bad = 0;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 10; j++) {
                double want = iv[i] < 6 ? tab.get(0, 0, iv[i], j) : 0.0;
                if (d.get(0, 0, i, j) != want)
                    bad++;
            }
        CHECK(bad == 0 && err[0] == 1 && err[1] == 42 && err[2] == 2 && (int32_t)err[3] == 9,
              "get_rows %d: bad %d err %u %u %u %d", at, bad, err[0], err[1], err[2], (int)err[3]);
    }
    for (int st = 0; st < 3; st++)
        for (int dt = 0; dt < 3; dt++)
            for (int good = 0; good < 2; good++) {
                T dst(dt, {1, 1, 6, 10}), src(st, {1, 1, 3, 10}, {0, 1, 3, 2}),
                    ids(3, {1, 1, 1, 3});
                dst.rand(-1, 1);
                src.rand(-1, 1);
                T dst0 = dst;
                int32_t iv[3] = {4, 1, good ? 5 : -1};
                for (int i = 0; i < 3; i++)
                    memcpy(ids.mem.data() + (ids.base + i) * 4, &iv[i], 4);
                uint32_t err[4] = {0, 0, 0, 0};
                pce_gpu_launch c = mk(PCE_GPU_IDS_CHECK, 0, ids.ne);
                c.n = 3;
                c.t[1] = ids.g();
                c.ip[0] = 6;
                c.ip[1] = 7;
                c.err = err;
                run(c);
                pce_gpu_launch l = mk(PCE_GPU_SET_ROWS, 0, src.ne);
                l.t[0] = src.g();
                l.t[2] = ids.g();
                l.t[3] = dst.g();
                l.ip[0] = 6;
                l.err = err;
                run(l);
                int bad = 0;
                for (int r = 0; r < 6; r++)
                    for (int j = 0; j < 10; j++) {
                        double want = dst0.get(0, 0, r, j);
                        if (good)
                            for (int i = 0; i < 3; i++)
                                if (iv[i] == r) {
                                    T tmp(dt, {1, 1, 1, 1});
                                    tmp.set(0, 0, 0, 0, src.get(0, 0, i, j));
                                    want = tmp.get(0, 0, 0, 0);
                                }
                        if (dst.get(0, 0, r, j) != want)
                            bad++;
                    }
                bool errok =
                    good ? err[0] == 0
                         : (err[0] == 1 && err[1] == 7 && err[2] == 2 && (int32_t)err[3] == -1);
                CHECK(bad == 0 && errok, "set_rows %d->%d good %d: bad %d err %u", st, dt, good,
                      bad, err[0]);
            }
}

static void test_matmul()
{
    for (int at = 0; at < 3; at++)
        for (int bt = 0; bt < 3; bt++)
            for (int lay = 0; lay < 4; lay++) {
                if (at != bt && lay != 1)
                    continue;
                const int64_t M = 70, N = 67, K = 37;
                T a(at, {2, 1, M, K},
                    lay & 1 ? std::vector<int>{0, 1, 3, 2} : std::vector<int>{0, 1, 2, 3});
                T b(bt, {1, 3, K, N},
                    lay & 2 ? std::vector<int>{0, 1, 3, 2} : std::vector<int>{0, 1, 2, 3}, 5);
                T d(0, {2, 3, M, N}, {1, 0, 2, 3});
                a.rand(-1, 1);
                b.rand(-1, 1);
                int64_t ne[4] = {2, 3, M, N};
                pce_gpu_launch l = mk(PCE_GPU_MATMUL, 0, ne);
                l.t[0] = a.g();
                l.t[1] = b.g();
                l.t[3] = d.g();
                l.ip[0] = (int)K;
                l.t[0].nb[1] = 0;
                l.t[1].nb[0] = 0;
                run(l);
                nmse e;
                d.for4([&](int64_t i0, int64_t i1, int64_t m, int64_t n) {
                    double s = 0;
                    for (int k = 0; k < K; k++)
                        s += a.get(i0, 0, m, k) * b.get(0, i1, k, n);
                    e.add(d.get(i0, i1, m, n), s);
                });
                CHECK(e.v() < 1e-9, "matmul %d x %d layout %d nmse %g", at, bt, lay, e.v());
            }
}

static void test_gemv()
{
    for (int xt = 0; xt < 3; xt++)
        for (int vt = 0; vt < 3; vt++)
            for (int lay = 0; lay < 2; lay++) {
                if (xt != vt && lay)
                    continue;
                const int64_t O = 45, K = 300;
                T x(xt, {2, 1, O, K},
                    lay ? std::vector<int>{0, 1, 3, 2} : std::vector<int>{0, 1, 2, 3});
                T v(vt, {2, 2, 1, K}), d(0, {2, 2, 1, O}, {0, 1, 3, 2});
                x.rand(-1, 1);
                v.rand(-1, 1);
                int64_t ne[4] = {2, 2, O, 1};
                pce_gpu_launch l = mk(PCE_GPU_GEMV, 0, ne);
                l.t[0] = x.g();
                l.t[0].nb[1] = 0;
                l.t[1] = v.g();
                l.t[1].nb[3] = v.nb[3];
                l.t[3] = d.g();
                l.t[3].nb[2] = d.nb[3];
                l.ip[0] = (int)K;
                run(l);
                nmse e;
                for (int b0 = 0; b0 < 2; b0++)
                    for (int b1 = 0; b1 < 2; b1++)
                        for (int i = 0; i < O; i++) {
                            double s = 0;
                            for (int k = 0; k < K; k++)
                                s += x.get(b0, 0, i, k) * v.get(b0, b1, 0, k);
                            e.add(d.get(b0, b1, 0, i), s);
                        }
                CHECK(e.v() < 1e-9, "gemv %d x %d layout %d nmse %g", xt, vt, lay, e.v());
            }
}

// ---- block-quantized weights ---------------------------------------------

static const int qtypes[] = {PCE_GPU_Q8_0, PCE_GPU_Q4_0, PCE_GPU_Q4_1, PCE_GPU_Q5_0,
                             PCE_GPU_Q5_1, PCE_GPU_Q4_K, PCE_GPU_Q5_K, PCE_GPU_Q6_K};

// nb rows of K weights (batch x N), quantized by core/quant.c into rows of
// blocks with padded byte strides, and their exact dequantization
struct QW {
    int qt;
    int64_t K, rows, row_stride, batch_stride, al;
    std::vector<uint8_t> mem;
    std::vector<float> deq; // [row][k]
    QW(int qt_, int64_t batch, int64_t N, int64_t K_) : qt(qt_), K(K_), rows(batch * N)
    {
        const pce_dtype_info *in = pce_dtype_get_info((pce_dtype)qt);
        al = in->block_bytes % 4 ? 2 : 4;
        const int64_t row_bytes = K / in->block_size * (int64_t)in->block_bytes;
        row_stride = row_bytes + 2 * al; // padded rows: the stride is not the row's size
        batch_stride = N * row_stride + 4 * al;
        mem.assign((size_t)(al + batch * batch_stride + 64), 0xA5);
        deq.assign((size_t)(rows * K), 0.0f);
        std::vector<float> x((size_t)K);
        for (int64_t b = 0; b < batch; b++)
            for (int64_t n = 0; n < N; n++) {
                // each row its own scale and offset, so mins and scales vary
                const double sc = urand(0.2, 2), of = urand(-0.5, 0.5);
                for (auto &v : x)
                    v = (float)(of + sc * urand(-1, 1));
                uint8_t *p = data() + b * batch_stride + n * row_stride;
                float *r = deq.data() + (b * N + n) * K;
                CHECK(pce_quantize_row((pce_dtype)qt, x.data(), p, K) == PCE_OK, "quantize %d", qt);
                CHECK(pce_dequantize_row((pce_dtype)qt, p, r, K) == PCE_OK, "dequantize %d", qt);
            }
    }
    uint8_t *data()
    {
        return mem.data() + al; // aligned as the host requires, no more
    }
    float w(int64_t row, int64_t k) const
    {
        return deq[(size_t)(row * K + k)];
    }
};

// x w^T for every type: the matrix-vector kernel (op 1), the tiles (op 2)
// and, for Q8_0, the choice by M (op 0), against a double reference on the
// exact dequantization; A of each float dtype and both layouts, w per batch
// or broadcast over it, rows padded.
static void test_qmatmul()
{
    int c = 0;
    for (int qt : qtypes)
        for (int64_t K : {256, 512})
            for (int64_t N : {5, 70})
                for (int64_t M : {1, 3, 40}) {
                    const int at = c % 3, lay = c / 3 % 2, wb = c / 6 % 2;
                    c++;
                    QW w(qt, wb ? 2 : 1, N, K);
                    T a(at, {1, 2, M, K},
                        lay ? std::vector<int>{0, 1, 3, 2} : std::vector<int>{0, 1, 2, 3});
                    a.rand(-1, 1);
                    for (int op = qt == PCE_GPU_Q8_0 ? 0 : 1; op <= 2; op++) {
                        if (op == 1 && M == 40 && N == 70) // 60 blocks: slow to emulate
                            continue;
                        T d(0, {1, 2, M, N}, {1, 0, 2, 3});
                        int64_t ne[4] = {1, 2, M, N};
                        pce_gpu_launch l = mk(PCE_GPU_MATMUL, op, ne);
                        l.t[0] = a.g();
                        l.t[1].data = w.data();
                        l.t[1].dtype = qt;
                        l.t[1].nb[0] = 0;
                        l.t[1].nb[1] = wb ? w.batch_stride : 0;
                        l.t[1].nb[2] = (int64_t)pce_dtype_get_info((pce_dtype)qt)->block_bytes;
                        l.t[1].nb[3] = w.row_stride;
                        l.t[3] = d.g();
                        l.ip[0] = (int)K;
                        run(l, 2);
                        nmse e;
                        d.for4([&](int64_t, int64_t b1, int64_t m, int64_t n) {
                            double s = 0;
                            for (int64_t k = 0; k < K; k++)
                                s += a.get(0, b1, m, k) * (double)w.w((wb ? b1 * N : 0) + n, k);
                            e.add(d.get(0, b1, m, n), s);
                        });
                        CHECK(e.v() < 1e-9,
                              "qmatmul %s op %d a %d layout %d wbatch %d M %lld K %lld N %lld "
                              "nmse %g",
                              pce_dtype_get_info((pce_dtype)qt)->name, op, at, lay, wb,
                              (long long)M, (long long)K, (long long)N, e.v());
                    }
                }
}

// get_rows from a quantized table: bit for bit core/quant.c's
// dequantization; a bad id gives zeros and the error record.
static void test_qget_rows()
{
    for (int qt : qtypes)
        for (int lay = 0; lay < 2; lay++) {
            const int64_t D = 512, R = 6;
            QW tab(qt, 1, R, D);
            T d(0, {1, 1, 4, D}, lay ? std::vector<int>{0, 1, 3, 2} : std::vector<int>{0, 1, 2, 3}),
                ids(3, {1, 1, 1, 4});
            const int32_t iv[4] = {5, 0, 9, 2};
            for (int i = 0; i < 4; i++)
                memcpy(ids.mem.data() + (ids.base + i) * 4, &iv[i], 4);
            uint32_t err[4] = {0, 0, 0, 0};
            pce_gpu_launch l = mk(PCE_GPU_GET_ROWS, 0, d.ne);
            l.t[0].data = tab.data();
            l.t[0].dtype = qt;
            l.t[0].nb[2] = tab.row_stride;
            l.t[0].nb[3] = (int64_t)pce_dtype_get_info((pce_dtype)qt)->block_bytes;
            l.t[1] = ids.g();
            l.t[3] = d.g();
            l.ip[0] = (int)R;
            l.ip[1] = 42;
            l.err = err;
            run(l);
            int bad = 0;
            for (int i = 0; i < 4; i++)
                for (int64_t j = 0; j < D; j++) {
                    const float want = iv[i] < R ? tab.w(iv[i], j) : 0.0f;
                    const float got = (float)d.get(0, 0, i, j);
                    if (memcmp(&want, &got, 4) != 0)
                        bad++;
                }
            CHECK(bad == 0 && err[0] == 1 && err[1] == 42 && err[2] == 2 && (int32_t)err[3] == 9,
                  "qget_rows %s layout %d: %d not bit-exact, err %u %u %u %d",
                  pce_dtype_get_info((pce_dtype)qt)->name, lay, bad, err[0], err[1], err[2],
                  (int)err[3]);
        }
}

static void test_exists()
{
    int64_t ne[4] = {1, 1, 1, 4};
    pce_gpu_launch l = mk(PCE_GPU_BINARY, 0, ne);
    l.t[1].dtype = 1;
    CHECK(!pce_gpu_kernel_exists(&l), "binary mixed dtypes");
    l = mk(PCE_GPU_UNARY, 1, ne);
    l.t[0].dtype = 3;
    l.t[3].dtype = 3;
    CHECK(!pce_gpu_kernel_exists(&l), "scale on i32");
    l = mk(PCE_GPU_REDUCE, 3, ne);
    CHECK(!pce_gpu_kernel_exists(&l), "argmax to f32");
    l = mk(PCE_GPU_MATMUL, 0, ne);
    l.t[3].dtype = 1;
    CHECK(!pce_gpu_kernel_exists(&l), "matmul to f16");
    CHECK(pce_gpu_kernel_launch(&l, nullptr, 4) == 1, "launch of a missing kernel");
    l = mk(PCE_GPU_MATMUL, 0, ne);
    l.t[1].dtype = PCE_GPU_Q4_K;
    l.ip[0] = 256;
    CHECK(pce_gpu_kernel_exists(&l), "q4_K matmul");
    l.ip[0] = 96;
    CHECK(!pce_gpu_kernel_exists(&l), "q4_K matmul with K not whole super-blocks");
    l.t[1].dtype = PCE_GPU_Q8_0;
    CHECK(pce_gpu_kernel_exists(&l), "q8_0 matmul, K = 3 blocks");
    l.op = 3;
    CHECK(!pce_gpu_kernel_exists(&l), "quantized matmul op 3");
    l = mk(PCE_GPU_GEMV, 0, ne);
    l.t[1].dtype = PCE_GPU_Q8_0;
    CHECK(!pce_gpu_kernel_exists(&l), "gemv with a quantized operand");
    l = mk(PCE_GPU_BINARY, 0, ne);
    l.t[0].dtype = l.t[1].dtype = l.t[3].dtype = PCE_GPU_Q4_0;
    CHECK(!pce_gpu_kernel_exists(&l), "binary on q4_0");
    int64_t ner[4] = {1, 1, 2, 48};
    l = mk(PCE_GPU_GET_ROWS, 0, ner);
    l.t[0].dtype = PCE_GPU_Q4_0;
    l.t[1].dtype = PCE_GPU_I32;
    CHECK(!pce_gpu_kernel_exists(&l), "q4_0 get_rows of rows of 48");
    l.ne[3] = 64;
    CHECK(pce_gpu_kernel_exists(&l), "q4_0 get_rows of rows of 64");
    l = mk(PCE_GPU_UNARY, 0, ne);
    l.n = 0;
    l.ne[3] = 0;
    CHECK(pce_gpu_kernel_launch(&l, nullptr, 4) == 0, "empty launch");
}

int main()
{
    const char *env = getenv("PCE_SEED");
    unsigned seed = env && *env ? (unsigned)strtoul(env, NULL, 0) : (unsigned)time(NULL);
    printf("seed %u (PCE_SEED=%u reproduces this run)\n", seed, seed);
    rng.seed(seed);
    test_exists();
    test_binary();
    test_cast();
    test_unary();
    test_reduce();
    test_norm();
    test_softmax();
    test_rope();
    test_rows();
    test_matmul();
    test_gemv();
    test_qget_rows();
    test_qmatmul();
    printf("%s (warp %d): %d failures\n", fails ? "FAILED" : "ok", EMU_WARP, fails);
    return fails != 0;
}
