/* TSC frequency: from the hypervisor's CPUID leaf where offered, else the PIT. */
#include <guest.h>

u64 tsc_khz;

#define PIT_HZ 1193182UL
#define PIT_CAL_TICKS 5966 /* 5 ms: short enough for a 0.1 s boot */

/* Latch and read PIT channel 2's down-counter. */
static u16 pit2_read(void)
{
    outb(0x43, 0x80);
    u8 lo = inb(0x42);
    u8 hi = inb(0x42);
    return (u16)(lo | (hi << 8));
}

/*
 * Channel 2 free-runs from 0xffff (mode 2, gate on); count TSC cycles
 * against PIT ticks read back through the latch, over about 5 ms.
 */
static u64 pit_calibrate(void)
{
    u8 p61 = inb(0x61);
    outb(0x61, (u8)((p61 & ~0x02) | 0x01)); /* gate high, speaker off */
    outb(0x43, 0xb4);                        /* ch 2, lo/hi, mode 2, binary */
    outb(0x42, 0xff);
    outb(0x42, 0xff);
    u16 c0 = pit2_read();
    u64 t0 = rdtsc();
    u16 prev = c0;
    u64 t1 = t0, spins = 0, ticks = 0;
    /* sum small steps so a wrap of the 16-bit counter cannot hide time */
    while (ticks < PIT_CAL_TICKS && ++spins < 10000000UL) {
        u16 c = pit2_read();
        t1 = rdtsc();
        ticks += (u16)(prev - c);
        prev = c;
    }
    outb(0x61, p61);
    if (c0 == 0xffff && prev == 0xffff) /* no PIT (Xen PVH) */
        return 0;
    if (ticks < PIT_CAL_TICKS / 2)
        return 0;
    return (t1 - t0) * PIT_HZ / ticks / 1000;
}

void time_init(void)
{
    tsc_khz = hypervisor_tsc_khz();
    if (!tsc_khz)
        tsc_khz = pit_calibrate();
    if (!tsc_khz)
        tsc_khz = 1000000; /* unknown: assume 1 GHz rather than divide by zero */
}

u64 tsc_to_us(u64 cycles)
{
    return cycles * 1000 / tsc_khz;
}

/*
 * Time since the vCPU's reset.  The TSC starts at 0 on reset under QEMU
 * (TCG and real KVM); this machine's kvm_pvm passes the host's TSC through
 * instead, so when the TSC is implausibly large at entry, ask KVM's clock
 * (kvmclock counts from the VM's creation) where zero was, or failing that
 * count from the guest's first instruction.
 */
static u64 tsc_zero;
static const char *time_origin = "vCPU reset";

struct pvclock {
    u32 version, pad0;
    u64 tsc_timestamp, system_time;
    u32 mul;
    s8 shift;
    u8 flags, pad[2];
} __attribute__((aligned(64)));

static struct pvclock kvmclock;

static bool kvmclock_ns(u64 *ns, u64 *tsc)
{
    u32 a, b, c, d;
    u32 msr;
    if (hv_kind != HV_KVM)
        return false;
    cpuid(0x40000001, 0, &a, &b, &c, &d);
    if (a & (1u << 3))
        msr = 0x4b564d01;
    else if (a & 1u)
        msr = 0x12;
    else
        return false;
    wrmsr(msr, (u64)&kvmclock | 1);
    volatile struct pvclock *pv = &kvmclock;
    u32 v;
    u64 t, sys, ts;
    u32 mul;
    s8 shift;
    int tries = 0;
    do {
        v = pv->version;
        asm volatile("" ::: "memory");
        ts = pv->tsc_timestamp;
        sys = pv->system_time;
        mul = pv->mul;
        shift = pv->shift;
        t = rdtsc();
        asm volatile("" ::: "memory");
    } while (((v & 1) || v != pv->version) && ++tries < 1000);
    wrmsr(msr, 0);
    if (!v || !mul)
        return false;
    u64 delta = t - ts;
    delta = shift >= 0 ? delta << shift : delta >> -shift;
    *ns = sys + (u64)(((unsigned __int128)delta * mul) >> 32);
    *tsc = t;
    return true;
}

void time_origin_init(u64 tsc_at_entry)
{
    u64 ns, t;
    if (tsc_at_entry / tsc_khz < 30000)
        return; /* TSC counts from reset */
    if (kvmclock_ns(&ns, &t)) {
        tsc_zero = t - ns / 1000 * tsc_khz / 1000;
        time_origin = "VM creation (kvmclock)";
    } else {
        tsc_zero = tsc_at_entry;
        time_origin = "guest entry";
    }
}

const char *time_origin_name(void)
{
    return time_origin;
}

u64 uptime_ms(void)
{
    return (rdtsc() - tsc_zero) / tsc_khz;
}
