/* workload=hello: HermitCore's hello world and its boot-time log line. */
#include <guest.h>

void workload_hello(void)
{
    /* Since the vCPU's reset where the TSC tells (see time.c). */
    u64 ms = uptime_ms();
    printk("Hello World!!!\n");
    klog(LOG_INFO, "Boot time: %lu ms", ms);
}
