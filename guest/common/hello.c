/* workload=hello: HermitCore's hello world and its boot-time log line. */
#include <guest.h>

void workload_hello(void)
{
    /* The TSC counts from the vCPU's reset, so this is time since reset. */
    u64 ms = rdtsc() / tsc_khz;
    printk("Hello World!!!\n");
    klog(LOG_INFO, "Boot time: %lu ms", ms);
}
