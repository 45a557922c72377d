/*
 * Command line: space-separated KEY=VALUE words.  A later word overrides an
 * earlier one with the same key (inject= is per metric).  Any unknown word
 * or bad value prints "HERMIT-ERROR ..." naming the word and fails the boot.
 */
#include <guest.h>

struct config cfg = {
    .workload = WL_BASIC,
    .reps = 1,
    .stream_n = 10000000,
    .iters = 1000000,
    .mallocs = 64,
    .stream_auto = true,
};

const char *metric_names[M_COUNT] = {
    [M_GETPID] = "getpid",
    [M_SCHED_YIELD] = "sched_yield",
    [M_MALLOC] = "malloc",
    [M_FIRST_PAGE] = "first_page_access",
    [M_STREAM] = "stream",
};

static const char *const workload_names[] = {
    [WL_BASIC] = "basic", [WL_STREAM] = "stream", [WL_HELLO] = "hello",
    [WL_HANG] = "hang", [WL_PANIC] = "panic",
};

static bool word_eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && !strncmp(s, lit, len);
}

static bool bad(const char *w, size_t wl, const char *why)
{
    printk("HERMIT-ERROR bad value in '%.*s': %s\n", (int)wl, w, why);
    return false;
}

static bool parse_num(const char *w, size_t wl, const char *v, size_t vl, u64 min, u64 max,
                      u64 *out)
{
    u64 x;
    if (!parse_u64(v, vl, &x) || x < min || x > max) {
        char why[96];
        snprintf(why, sizeof(why), "expected an integer from %lu to %lu", min, max);
        return bad(w, wl, why);
    }
    *out = x;
    return true;
}

static bool parse_word(const char *w, size_t wl)
{
    const char *eq = NULL;
    for (size_t i = 0; i < wl; i++)
        if (w[i] == '=') {
            eq = w + i;
            break;
        }
    if (!eq) {
        printk("HERMIT-ERROR unknown word '%.*s' (expected KEY=VALUE)\n", (int)wl, w);
        return false;
    }
    size_t kl = (size_t)(eq - w);
    const char *v = eq + 1;
    size_t vl = wl - kl - 1;

    if (word_eq(w, kl, "workload")) {
        for (unsigned i = 0; i < ARRAY_SIZE(workload_names); i++)
            if (word_eq(v, vl, workload_names[i])) {
                cfg.workload = (enum workload)i;
                return true;
            }
        return bad(w, wl, "expected basic, stream, hello, hang or panic");
    }
    if (word_eq(w, kl, "stream_fp")) {
        if (word_eq(v, vl, "auto") || word_eq(v, vl, "sse2") || word_eq(v, vl, "soft")) {
            cfg.stream_auto = word_eq(v, vl, "auto");
            cfg.stream_soft = word_eq(v, vl, "soft");
            return true;
        }
        return bad(w, wl, "expected auto, sse2 or soft");
    }
    if (word_eq(w, kl, "inject_ab")) {
        u64 x;
        if (!parse_num(w, wl, v, vl, 0, 1, &x))
            return false;
        cfg.inject_ab = x;
        return true;
    }
    if (word_eq(w, kl, "reps"))
        return parse_num(w, wl, v, vl, 1, 1000000, &cfg.reps);
    if (word_eq(w, kl, "stream_n"))
        return parse_num(w, wl, v, vl, 1000, 1000000000, &cfg.stream_n);
    if (word_eq(w, kl, "iters"))
        return parse_num(w, wl, v, vl, 1, 1000000000, &cfg.iters);
    if (word_eq(w, kl, "mallocs"))
        return parse_num(w, wl, v, vl, 1, 65536, &cfg.mallocs);
    if (word_eq(w, kl, "inject")) {
        const char *colon = NULL;
        for (size_t i = 0; i < vl; i++)
            if (v[i] == ':') {
                colon = v + i;
                break;
            }
        if (!colon)
            return bad(w, wl, "expected METRIC:PERCENT");
        size_t ml = (size_t)(colon - v);
        for (unsigned m = 0; m < M_COUNT; m++) {
            if (!word_eq(v, ml, metric_names[m]))
                continue;
            u64 pct;
            u64 max = m == M_STREAM ? 90 : 1000;
            if (!parse_num(w, wl, colon + 1, vl - ml - 1, 0, max, &pct))
                return false;
            cfg.inject[m] = (u32)pct;
            return true;
        }
        return bad(w, wl,
                   "unknown metric (expected getpid, sched_yield, malloc, first_page_access or stream)");
    }
    printk("HERMIT-ERROR unknown word '%.*s'\n", (int)wl, w);
    return false;
}

/*
 * Multiboot loaders (QEMU, GRUB) put the kernel's path first: skip a first
 * word without '=' there.  Returns false after printing HERMIT-ERROR lines.
 */
bool cmdline_parse(const char *s, bool skip_first_word)
{
    bool ok = true, first = true;
    while (s && *s) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            s++;
        if (!*s)
            break;
        const char *w = s;
        while (*s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            s++;
        size_t wl = (size_t)(s - w);
        bool has_eq = false;
        for (size_t i = 0; i < wl; i++)
            has_eq |= w[i] == '=';
        if (first && skip_first_word && !has_eq) {
            first = false;
            continue;
        }
        first = false;
        if (!parse_word(w, wl))
            ok = false;
    }
    return ok;
}
