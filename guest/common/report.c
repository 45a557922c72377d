/*
 * The end of every boot: one "HERMIT-DONE status=ok|error" line, then power
 * off by the first means that works: Xen SCHEDOP_shutdown, QEMU's
 * isa-debug-exit (port 0xf4), ACPI soft-off through the PIIX4 or ICH9 PM
 * block, and otherwise halt with interrupts off.  Never spin.
 */
#include <guest.h>

#define DEBUG_EXIT_PORT 0xf4
#define PM_BASE_DEFAULT 0x600
#define SLP_EN (1 << 13)

static u32 pci_read(u8 dev, u8 fn, u8 reg)
{
    outl(0xcf8, 0x80000000u | ((u32)dev << 11) | ((u32)fn << 8) | (reg & 0xfc));
    return inl(0xcfc);
}

static void pci_write(u8 dev, u8 fn, u8 reg, u32 v)
{
    outl(0xcf8, 0x80000000u | ((u32)dev << 11) | ((u32)fn << 8) | (reg & 0xfc));
    outl(0xcfc, v);
}

/*
 * ACPI S5 with SLP_TYP 0, which is what QEMU's DSDT declares for _S5 on both
 * i440fx (PIIX4 PM, 00:01.3) and q35 (ICH9 LPC, 00:1f.0).  If the firmware
 * (qboot) left the PM I/O block unmapped, map it ourselves.
 */
static void acpi_poweroff(void)
{
    u16 base = 0;
    if (pci_read(1, 3, 0) == 0x71138086) {
        u32 pmba = pci_read(1, 3, 0x40);
        if (!(pmba & 0xffc0)) {
            pci_write(1, 3, 0x40, PM_BASE_DEFAULT | 1);
            pmba = PM_BASE_DEFAULT;
        }
        pci_write(1, 3, 0x80, pci_read(1, 3, 0x80) | 1); /* PMIOSE */
        base = (u16)(pmba & 0xffc0);
    } else if (pci_read(0x1f, 0, 0) == 0x29188086) {
        u32 pmbase = pci_read(0x1f, 0, 0x40);
        if (!(pmbase & 0xff80)) {
            pci_write(0x1f, 0, 0x40, PM_BASE_DEFAULT | 1);
            pmbase = PM_BASE_DEFAULT;
        }
        pci_write(0x1f, 0, 0x44, pci_read(0x1f, 0, 0x44) | 0x80); /* ACPI_EN */
        base = (u16)(pmbase & 0xff80);
    }
    if (base)
        outw(base + 4, (u16)((inw(base + 4) & ~(7u << 10)) | SLP_EN));
}

noreturn void poweroff(bool ok)
{
    if (hv_kind == HV_XEN)
        xen_shutdown(0 /* SHUTDOWN_poweroff */);
    /* QEMU exits with status (value << 1) | 1: 33 for ok, 35 for error */
    outb(DEBUG_EXIT_PORT, ok ? 0x10 : 0x11);
    if (hv_kind != HV_XEN)
        acpi_poweroff();
    halt_forever();
}

/*
 * A grace period between the last line and power-off: QEMU exits as soon as
 * the guest powers off, and a console reader that has not yet drained the
 * pty loses the tail (seen about once in 700 boots on a loaded host).
 */
#define GRACE_MS 50
/*
 * Loop turns between two reads of the TSC.  Under TCG both rdtsc (under
 * icount) and pause (always: QEMU's pause helper leaves the CPU loop) end a
 * translated block, and a loop of them spent 6 s of host time on its 50 M
 * instructions under icount, which a profiled boot, waiting for the
 * power-off so that its counts are whole, paid on every boot.  A register
 * count-down touches nothing and stays in one block: 50 M instructions take
 * a fraction of a second, and 1024 turns are a microsecond on KVM.
 */
#define GRACE_TURNS 1024

noreturn void hermit_done(bool ok)
{
    printk("HERMIT-DONE status=%s\n", ok ? "ok" : "error");
    if (tsc_khz) {
        u64 t0 = rdtsc();
        while (rdtsc() - t0 < tsc_khz * GRACE_MS) {
            u64 n = GRACE_TURNS;
            __asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(n) : : "cc");
        }
    }
    poweroff(ok);
}
