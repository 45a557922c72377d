/*
 * STREAM's four kernels, built twice from this file:
 *  - stream_kernels_sse2.o: elements are doubles, SSE2 arithmetic (the real
 *    thing, and what benchmarks/guest builds for the host);
 *  - stream_kernels_soft.o (-DSTREAM_SOFT): elements are IEEE doubles held
 *    in 64-bit integers, added and multiplied in software.  Only for this
 *    machine's kvm_pvm, whose instruction emulator stops the VM on the first
 *    SSE arithmetic instruction (pxor, mulsd, ...).
 */
#include <stream.h>

#ifdef STREAM_SOFT
typedef u64 elem;
#define SUFFIX(name) name##_soft

/* Round-to-nearest-even of a 64-bit significand kept with 10 extra bits. */
static u64 pack(u64 exp, u64 sig)
{
    /* sig holds 1.52 bits << 10 (bit 62 is the hidden bit) or one more bit */
    if (sig & (1UL << 63)) {
        sig = (sig >> 1) | (sig & 1);
        exp++;
    }
    u64 rest = sig & 0x3ff;
    sig >>= 10;
    if (rest > 0x200 || (rest == 0x200 && (sig & 1)))
        sig++;
    if (sig & (1UL << 53)) {
        sig >>= 1;
        exp++;
    }
    return (exp << 52) | (sig & ((1UL << 52) - 1));
}

/* a + b for non-negative finite doubles (all STREAM's values are). */
static u64 f_add(u64 a, u64 b)
{
    if (a < b) {
        u64 t = a;
        a = b;
        b = t;
    }
    if (!b)
        return a;
    u64 ea = a >> 52, eb = b >> 52;
    u64 ma = ((a & ((1UL << 52) - 1)) | (1UL << 52)) << 10;
    u64 mb = ((b & ((1UL << 52) - 1)) | (eb ? 1UL << 52 : 0)) << 10;
    u64 d = ea - eb;
    if (d > 63)
        mb = 1; /* sticky */
    else if (d)
        mb = (mb >> d) | ((mb & ((1UL << d) - 1)) != 0);
    return pack(ea, ma + mb);
}

/* a * b for non-negative finite normal doubles. */
static u64 f_mul(u64 a, u64 b)
{
    if (!a || !b)
        return 0;
    u64 ma = (a & ((1UL << 52) - 1)) | (1UL << 52);
    u64 mb = (b & ((1UL << 52) - 1)) | (1UL << 52);
    unsigned __int128 p = (unsigned __int128)ma * mb; /* 2^104 <= p < 2^106 */
    u64 exp = (a >> 52) + (b >> 52) - 1023;
    /* keep 53 + 10 bits: shift p (105 or 106 bits) down to bit 62 or 63 */
    u64 sig = (u64)(p >> 42) | ((p & ((1UL << 42) - 1)) != 0);
    return pack(exp, sig);
}

#define ONE 0x3ff0000000000000UL
#define TWO 0x4000000000000000UL
#define THREE 0x4008000000000000UL
#define ZERO 0UL
#define ADD(x, y) f_add((x), (y))
#define MUL(x, y) f_mul((x), (y))
#else
typedef double elem;
#define SUFFIX(name) name##_sse2
#define ONE 1.0
#define TWO 2.0
#define THREE 3.0
#define ZERO 0.0
#define ADD(x, y) ((x) + (y))
#define MUL(x, y) ((x) * (y))
#endif

static void init(void *va, void *vb, void *vc, u64 n)
{
    elem *a = va, *b = vb, *c = vc;
    for (u64 j = 0; j < n; j++) {
        a[j] = ONE;
        b[j] = TWO;
        c[j] = ZERO;
    }
    for (u64 j = 0; j < n; j++)
        a[j] = MUL(TWO, a[j]);
}

static void copy(void *va, void *vb, void *vc, u64 n)
{
    elem *a = va, *c = vc;
    (void)vb;
    for (u64 j = 0; j < n; j++)
        c[j] = a[j];
}

static void scale(void *va, void *vb, void *vc, u64 n)
{
    elem *b = vb, *c = vc;
    (void)va;
    for (u64 j = 0; j < n; j++)
        b[j] = MUL(THREE, c[j]);
}

static void add(void *va, void *vb, void *vc, u64 n)
{
    elem *a = va, *b = vb, *c = vc;
    for (u64 j = 0; j < n; j++)
        c[j] = ADD(a[j], b[j]);
}

static void triad(void *va, void *vb, void *vc, u64 n)
{
    elem *a = va, *b = vb, *c = vc;
    for (u64 j = 0; j < n; j++)
        a[j] = ADD(b[j], MUL(THREE, c[j]));
}

#ifdef STREAM_SOFT
/* Exact comparison with the kernels replayed on scalars (epsilon 0). */
static bool check(const char *name, const elem *x, u64 n, elem expect)
{
    u64 bad = 0;
    for (u64 j = 0; j < n; j++)
        bad += x[j] != expect;
    if (bad)
        stream_print("Failed Validation on array %s[]: %lu of %lu elements differ\n", name, bad, n);
    return !bad;
}
#else
static bool check(const char *name, const elem *x, u64 n, elem expect)
{
    const double eps = 1.e-13;
    double err = 0.0;
    for (u64 j = 0; j < n; j++) {
        double d = x[j] - expect;
        err += d < 0 ? -d : d;
    }
    double avg = err / (double)n;
    double rel = avg / (expect < 0 ? -expect : expect);
    if (rel <= eps)
        return true;
    /* integers in units of 1e-16 so the driver can print without floats */
    stream_print("Failed Validation on array %s[], AvgRelAbsErr > epsilon (1.000000e-13)\n", name);
    stream_print("     AvgRelAbsErr: %lu.%06lu e-13\n", (u64)(rel * 1e13),
                 (u64)(rel * 1e19) % 1000000);
    return false;
}
#endif

static bool validate(void *va, void *vb, void *vc, u64 n, int ntimes)
{
    elem aj = ONE, bj = TWO, cj = ZERO;
    aj = MUL(TWO, aj);
    for (int k = 0; k < ntimes; k++) {
        cj = aj;
        bj = MUL(THREE, cj);
        cj = ADD(aj, bj);
        aj = ADD(bj, MUL(THREE, cj));
    }
    bool ok = check("a", va, n, aj);
    ok = check("b", vb, n, bj) && ok;
    ok = check("c", vc, n, cj) && ok;
    return ok;
}

const struct stream_kernels SUFFIX(stream_kernels) = {
    .init = init, .kernel = { copy, scale, add, triad }, .validate = validate,
};
