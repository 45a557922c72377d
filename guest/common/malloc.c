/*
 * malloc only reserves virtual memory, as HermitCore does: it hands out
 * address space above HEAP_BASE and marks the page-table entries reserved.
 * Frames arrive on the first write (page fault, paging.c).  There is no
 * free(); heap_reset() drops everything between repetitions.
 */
#include <guest.h>

#define HEAP_BASE 0x0000010000000000UL /* 1 TiB: PML4 slot 2 */
#define HEAP_LIMIT 0x0000018000000000UL

static u64 brk = HEAP_BASE;
static u64 small_cur, small_end;

void *malloc(size_t size)
{
    inject_point(M_MALLOC);
    if (size < PAGE_SIZE) {
        size = ALIGN_UP(size ? size : 1, 16);
        if (small_cur + size > small_end) {
            if (brk + PAGE_SIZE > HEAP_LIMIT)
                return NULL;
            heap_reserve_pages(brk, 1);
            small_cur = brk;
            small_end = brk + PAGE_SIZE;
            brk += PAGE_SIZE;
        }
        void *p = (void *)small_cur;
        small_cur += size;
        return p;
    }
    u64 len = ALIGN_UP(size, PAGE_SIZE);
    if (len > HEAP_LIMIT - brk)
        return NULL;
    void *p = (void *)brk;
    heap_reserve_pages(brk, len / PAGE_SIZE);
    brk += len;
    return p;
}

void heap_reset(void)
{
    heap_release(HEAP_BASE, brk);
    brk = HEAP_BASE;
    small_cur = small_end = 0;
}
