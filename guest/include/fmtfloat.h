#ifndef GUEST_FMTFLOAT_H
#define GUEST_FMTFLOAT_H
#include <types.h>
/* printf's "%W.Pf" and "%.Pe" for doubles (fmtfloat.c is built with SSE2). */
void fmt_fixed(char *buf, size_t size, double v, int width, int prec);
void fmt_exp(char *buf, size_t size, double v, int prec);
#endif
