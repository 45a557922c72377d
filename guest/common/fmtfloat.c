/* Formatting of doubles for STREAM's table (rounded like printf's %f / %e). */
#include <guest.h>
#include <fmtfloat.h>

static double pow10i(int n)
{
    double p = 1.0;
    while (n-- > 0)
        p *= 10.0;
    return p;
}

void fmt_fixed(char *buf, size_t size, double v, int width, int prec)
{
    bool neg = v < 0;
    if (neg)
        v = -v;
    double scale = pow10i(prec);
    /* round half up in the last printed digit; fine for table values */
    u64 scaled = (u64)(v * scale + 0.5);
    u64 ip = scaled / (u64)scale, fp = scaled % (u64)scale;
    char tmp[64];
    if (prec > 0)
        snprintf(tmp, sizeof(tmp), "%s%lu.%0*lu", neg ? "-" : "", ip, prec, fp);
    else
        snprintf(tmp, sizeof(tmp), "%s%lu", neg ? "-" : "", ip);
    snprintf(buf, size, "%*s", width, tmp);
}

void fmt_exp(char *buf, size_t size, double v, int prec)
{
    bool neg = v < 0;
    if (neg)
        v = -v;
    int e = 0;
    if (v != 0.0) {
        while (v >= 10.0) {
            v /= 10.0;
            e++;
        }
        while (v < 1.0) {
            v *= 10.0;
            e--;
        }
    }
    double scale = pow10i(prec);
    u64 scaled = (u64)(v * scale + 0.5);
    if (scaled >= 10 * (u64)scale) { /* 9.9999996 rounds to 10.000000 */
        scaled /= 10;
        e++;
    }
    u64 ip = scaled / (u64)scale, fp = scaled % (u64)scale;
    snprintf(buf, size, "%s%lu.%0*lue%c%02d", neg ? "-" : "", ip, prec, fp, e < 0 ? '-' : '+',
             e < 0 ? -e : e);
}
