/*
 * Xen support: hypercall page, PV console ring, shutdown.
 * UNTESTED on this machine (no Xen here); written against the public Xen
 * ABI (xen/include/public) and checked by the Xen lab.
 * Debian's Xen refuses HYPERVISOR_console_io from a domU, so output goes to
 * the PV console ring (HVM_PARAM_CONSOLE_PFN/EVTCHN) and to port 0xe9.
 */
#include <guest.h>

#define __HYPERVISOR_sched_op 29
#define __HYPERVISOR_event_channel_op 32
#define __HYPERVISOR_hvm_op 34
#define SCHEDOP_shutdown 2
#define EVTCHNOP_send 4
#define HVMOP_get_param 1
#define HVM_PARAM_CONSOLE_PFN 17
#define HVM_PARAM_CONSOLE_EVTCHN 18
#define DOMID_SELF 0x7ff0

extern u32 xen_cpuid_base;

struct xen_hvm_param {
    u16 domid;
    u16 pad;
    u32 index;
    u64 value;
};

struct xencons_interface {
    char in[1024];
    char out[2048];
    u32 in_cons, in_prod;
    u32 out_cons, out_prod;
};

static u8 hypercall_page[4096] __attribute__((aligned(4096)));
static bool hypercalls_ok;
static volatile struct xencons_interface *cons;
static u32 cons_evtchn;

static long hypercall2(unsigned nr, u64 a1, u64 a2)
{
    long ret;
    register u64 rdi asm("rdi") = a1;
    register u64 rsi asm("rsi") = a2;
    void *entry = hypercall_page + nr * 32;
    asm volatile("call *%[entry]"
                 : "=a"(ret), "+r"(rdi), "+r"(rsi)
                 : [entry] "r"(entry)
                 : "memory", "rcx", "rdx", "r8", "r9", "r10", "r11");
    return ret;
}

static void xen_debug_write(const char *buf, size_t len)
{
    while (len--)
        outb(0xe9, (u8)*buf++);
}

static void xen_cons_write(const char *buf, size_t len)
{
    while (len) {
        u32 cons_idx = cons->out_cons;
        u32 prod = cons->out_prod;
        asm volatile("" ::: "memory");
        u32 space = sizeof(cons->out) - (prod - cons_idx);
        if (!space) {
            /* ring full: kick the backend and wait (bounded) for it to drain */
            struct { u32 port; } send = { cons_evtchn };
            hypercall2(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u64)&send);
            for (unsigned long i = 0; i < 100000000UL && cons->out_cons == cons_idx; i++)
                cpu_relax();
            if (cons->out_cons == cons_idx)
                return; /* nobody is reading: drop rather than hang */
            continue;
        }
        while (space && len) {
            cons->out[prod++ & (sizeof(cons->out) - 1)] = *buf++;
            space--;
            len--;
        }
        asm volatile("sfence" ::: "memory");
        cons->out_prod = prod;
        struct { u32 port; } send = { cons_evtchn };
        hypercall2(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u64)&send);
    }
}

static bool get_param(u32 index, u64 *value)
{
    struct xen_hvm_param p = { .domid = DOMID_SELF, .index = index };
    if (hypercall2(__HYPERVISOR_hvm_op, HVMOP_get_param, (u64)&p))
        return false;
    *value = p.value;
    return true;
}

/* Called after the serial console is up, before anything else prints. */
void xen_init(void)
{
    u32 a, b, c, d;
    if (hv_kind != HV_XEN)
        return;
    console_add(xen_debug_write);
    cpuid(xen_cpuid_base + 2, 0, &a, &b, &c, &d);
    if (a < 1)
        return;
    wrmsr(b, (u64)hypercall_page);
    hypercalls_ok = true;

    u64 pfn, evtchn;
    if (get_param(HVM_PARAM_CONSOLE_PFN, &pfn) && pfn &&
        get_param(HVM_PARAM_CONSOLE_EVTCHN, &evtchn) && pfn < (4UL << 30) / PAGE_SIZE) {
        cons = (volatile struct xencons_interface *)(pfn * PAGE_SIZE);
        cons_evtchn = (u32)evtchn;
        console_add(xen_cons_write);
    }
}

bool xen_shutdown(int reason)
{
    if (!hypercalls_ok)
        return false;
    struct { u32 reason; } sd = { (u32)reason };
    hypercall2(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (u64)&sd);
    return false; /* only reached if Xen refused */
}
