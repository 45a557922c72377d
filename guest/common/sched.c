/*
 * Kernel tasks and a cooperative round-robin scheduler.  Task 0 is the boot
 * task that runs the workload; task 1 is a peer that yields straight back,
 * so every sched_yield() is a real switch to another task and back.
 */
#include <guest.h>

#define MAX_TASKS 4
#define STACK_SIZE 16384

struct task {
    u64 rsp;
    int id;
    bool used;
    struct task *next;
};

static struct task tasks[MAX_TASKS];
static u8 stacks[MAX_TASKS][STACK_SIZE] __attribute__((aligned(16)));
static struct task *current;
volatile int panic_request;

void switch_context(u64 *save_rsp, u64 next_rsp);
void task_trampoline(void);

void sched_init(void)
{
    tasks[0] = (struct task){ .id = 0, .used = true, .next = &tasks[0] };
    current = &tasks[0];
}

int getpid(void)
{
    inject_point(M_GETPID);
    return current ? current->id : 0;
}

int task_create(void (*fn)(void *), void *arg)
{
    for (int i = 1; i < MAX_TASKS; i++) {
        struct task *t = &tasks[i];
        if (t->used)
            continue;
        u64 *sp = (u64 *)(stacks[i] + STACK_SIZE);
        *--sp = (u64)task_trampoline;   /* 16-byte aligned after its ret */
        *--sp = 0;                      /* rbp */
        *--sp = 0;                      /* rbx */
        *--sp = (u64)arg;               /* r12 */
        *--sp = (u64)fn;                /* r13 */
        *--sp = 0;                      /* r14 */
        *--sp = 0;                      /* r15 */
        *t = (struct task){ .rsp = (u64)sp, .id = i, .used = true, .next = current->next };
        current->next = t;
        return i;
    }
    return -1;
}

void sched_yield(void)
{
    inject_point(M_SCHED_YIELD);
    struct task *prev = current, *next = current->next;
    if (next == prev)
        return;
    current = next;
    switch_context(&prev->rsp, next->rsp);
}

void task_exit(void)
{
    panic("task %d returned", current->id);
}
