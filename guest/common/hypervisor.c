/* Which hypervisor are we on (CPUID 0x40000000 signature), and its TSC rate. */
#include <guest.h>

enum hv_kind hv_kind = HV_NONE;
char hv_signature[13] = "none";
static u32 hv_base, hv_max;
u32 xen_cpuid_base;

void hypervisor_detect(void)
{
    u32 a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    if (!(c & (1u << 31)))
        return;
    /* Xen moves its leaves to 0x40000100 when it also offers Viridian. */
    for (u32 base = 0x40000000; base < 0x40000300; base += 0x100) {
        char sig[13];
        cpuid(base, 0, &a, &b, &c, &d);
        memcpy(sig + 0, &b, 4);
        memcpy(sig + 4, &c, 4);
        memcpy(sig + 8, &d, 4);
        sig[12] = 0;
        if (base == 0x40000000 && sig[0]) {
            memcpy(hv_signature, sig, 13);
            hv_base = base;
            hv_max = a;
            if (!strcmp(sig, "KVMKVMKVM"))
                hv_kind = HV_KVM;
            else if (!strcmp(sig, "TCGTCGTCGTCG"))
                hv_kind = HV_TCG;
            else
                hv_kind = HV_OTHER;
        }
        if (!strcmp(sig, "XenVMMXenVMM")) {
            memcpy(hv_signature, sig, 13);
            hv_kind = HV_XEN;
            hv_base = base;
            hv_max = a;
            xen_cpuid_base = base;
            return;
        }
    }
    /* Trim KVM's signature ("KVMKVMKVM\0\0\0") to its printable part. */
    for (int i = 0; i < 12; i++)
        if (hv_signature[i] < 0x20 || hv_signature[i] > 0x7e)
            hv_signature[i] = 0;
    if (!hv_signature[0])
        memcpy(hv_signature, "none", 5);
}

u64 hypervisor_tsc_khz(void)
{
    u32 a, b, c, d;
    if (hv_kind == HV_XEN) {
        if (hv_max >= hv_base + 3) {
            cpuid(hv_base + 3, 0, &a, &b, &c, &d);
            return c; /* guest TSC frequency in kHz */
        }
        return 0;
    }
    /* VMware-style timing leaf, offered by KVM (vmware-cpuid-freq) and others */
    if (hv_kind != HV_NONE && hv_max >= 0x40000010) {
        cpuid(0x40000010, 0, &a, &b, &c, &d);
        return a;
    }
    return 0;
}

static __attribute__((noinline)) void empty_call(void)
{
    asm volatile("");
}

/*
 * True when every instruction goes through a hypervisor's instruction
 * emulator (this machine's kvm_pvm without VT-x: ~13,000 cycles per call
 * against ~25 under TCG and a few on hardware).
 */
bool cpu_is_emulated(void)
{
    static int cached = -1;
    if (cached < 0) {
        u64 best = ~0UL;
        for (int round = 0; round < 3; round++) { /* TCG translates on the first */
            u64 t0 = rdtsc();
            for (int i = 0; i < 32; i++)
                empty_call();
            u64 t = (rdtsc() - t0) / 32;
            best = t < best ? t : best;
        }
        cached = best > 1000;
    }
    return cached;
}
