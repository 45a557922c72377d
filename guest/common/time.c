/* TSC frequency: from the hypervisor's CPUID leaf where offered, else the PIT. */
#include <guest.h>

u64 tsc_khz;

#define PIT_HZ 1193182UL
#define PIT_CAL_TICKS 5966 /* 5 ms: short enough for a 0.1 s boot */

/* Count TSC cycles while PIT channel 2 counts down once (mode 0, gate on). */
static u64 pit_calibrate(void)
{
    u8 p61 = inb(0x61);
    outb(0x61, (u8)((p61 & ~0x02) | 0x01)); /* gate high, speaker off */
    outb(0x43, 0xb0);                        /* ch 2, lo/hi, mode 0, binary */
    outb(0x42, PIT_CAL_TICKS & 0xff);
    outb(0x42, PIT_CAL_TICKS >> 8);
    u64 t0 = rdtsc();
    u64 spins = 0;
    while (!(inb(0x61) & 0x20)) {
        if (++spins > 100000000UL)
            break;
    }
    u64 t1 = rdtsc();
    outb(0x61, p61);
    if (spins == 0 || spins > 100000000UL) /* no PIT (Xen PVH) */
        return 0;
    return (t1 - t0) * PIT_HZ / PIT_CAL_TICKS / 1000;
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
