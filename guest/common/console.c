/*
 * printk formats once, then hands the text to every registered console
 * (COM1, the Xen PV console ring, Xen's debug port), like XTF's printk.
 */
#include <guest.h>

#define MAX_CONSOLES 4
static void (*consoles[MAX_CONSOLES])(const char *, size_t);
static unsigned nr_consoles;

void console_add(void (*write)(const char *, size_t))
{
    if (nr_consoles < MAX_CONSOLES)
        consoles[nr_consoles++] = write;
}

static void console_write(const char *buf, size_t len)
{
    for (unsigned i = 0; i < nr_consoles; i++)
        consoles[i](buf, len);
}

void printk(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    console_write(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* HermitCore's kernel log prefix: [seconds.milliseconds][core:task][LEVEL] */
void klog(enum log_level lvl, const char *fmt, ...)
{
    static const char *names[] = { "INFO", "WARNING", "ERROR" };
    char buf[512];
    u64 ms = tsc_khz ? uptime_ms() : 0;
    int n = snprintf(buf, sizeof(buf), "[%lu.%03lu][0:%d][%s] ", ms / 1000, ms % 1000,
                     getpid(), names[lvl]);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
        n = sizeof(buf) - 2;
    buf[n++] = '\n';
    console_write(buf, (size_t)n);
}
