/*
 * Physical frames and 4 KiB mappings.
 * The first 4 GiB are identity mapped with 2 MiB pages by boot.S, so any
 * frame below 4 GiB can be reached at its physical address.  The heap lives
 * at HEAP_BASE (PML4 slot 2) in 4 KiB pages: malloc marks page-table entries
 * "reserved" (a software bit, not present) and the first write to such a page
 * faults; page_fault_fixup() then maps a fresh zeroed frame.
 */
#include <guest.h>

#define PTE_P  (1UL << 0)
#define PTE_W  (1UL << 1)
#define PTE_PS (1UL << 7)
#define ADDR_MASK 0x000ffffffffff000UL
#define MAX_RANGES 32
#define PHYS_LIMIT (4UL << 30)

extern u64 pml4[512];

struct range { u64 start, end; };
static struct range ranges[MAX_RANGES];
static unsigned nr_ranges, cur_range;
static u64 next_frame;
static u64 free_list;       /* singly linked through the free frames */
static u64 nr_free_listed, total_bytes;
static u64 page_faults;

/* Record usable RAM; the kernel image and everything below 1 MiB are cut out. */
void mem_add_range(u64 start, u64 end)
{
    u64 kstart = (u64)_start, kend = (u64)_end;
    if (end > PHYS_LIMIT)
        end = PHYS_LIMIT;
    if (start < 0x100000)
        start = 0x100000;
    start = ALIGN_UP(start, PAGE_SIZE);
    end &= ~(PAGE_SIZE - 1);
    if (start >= end)
        return;
    if (start < kend && end > kstart) {
        if (start < kstart)
            mem_add_range(start, kstart);
        if (end > kend)
            mem_add_range(kend, end);
        return;
    }
    total_bytes += end - start;
    if (nr_ranges < MAX_RANGES)
        ranges[nr_ranges++] = (struct range){ start, end };
}

void paging_init(void)
{
    cur_range = 0;
    next_frame = nr_ranges ? ranges[0].start : 0;
}

u64 mem_total_bytes(void)
{
    return total_bytes;
}

u64 mem_free_bytes(void)
{
    u64 n = nr_free_listed * PAGE_SIZE;
    for (unsigned i = cur_range; i < nr_ranges; i++)
        n += ranges[i].end - (i == cur_range ? next_frame : ranges[i].start);
    return n;
}

/* Returns a frame's physical address (not zeroed), or 0 when memory is out. */
u64 frame_alloc(void)
{
    if (free_list) {
        u64 f = free_list;
        free_list = *(u64 *)f;
        nr_free_listed--;
        return f;
    }
    while (cur_range < nr_ranges) {
        if (next_frame < ranges[cur_range].end) {
            u64 f = next_frame;
            next_frame += PAGE_SIZE;
            return f;
        }
        if (++cur_range < nr_ranges)
            next_frame = ranges[cur_range].start;
    }
    return 0;
}

void frame_free(u64 pa)
{
    *(u64 *)pa = free_list;
    free_list = pa;
    nr_free_listed++;
}

static u64 *table_alloc(void)
{
    u64 f = frame_alloc();
    if (!f)
        panic("out of memory for page tables");
    memset((void *)f, 0, PAGE_SIZE);
    return (u64 *)f;
}

/* Walk to the PTE of va, creating intermediate tables if asked. */
static u64 *pte_of(u64 va, bool create)
{
    u64 *table = pml4;
    for (int shift = 39; shift > 12; shift -= 9) {
        u64 *e = &table[(va >> shift) & 511];
        if (!(*e & PTE_P)) {
            if (!create)
                return NULL;
            *e = (u64)table_alloc() | PTE_P | PTE_W;
        }
        if (*e & PTE_PS)
            return NULL; /* inside the identity map */
        table = (u64 *)(*e & ADDR_MASK);
    }
    return &table[(va >> 12) & 511];
}

void heap_reserve_pages(u64 va, u64 npages)
{
    u64 *pte = NULL;
    for (u64 i = 0; i < npages; i++, va += PAGE_SIZE) {
        /* reuse the leaf table within one 2 MiB block */
        if (!pte || ((va >> 12) & 511) == 0)
            pte = pte_of(va, true);
        else
            pte++;
        *pte = PTE_RESERVED;
    }
}

bool page_fault_fixup(u64 va)
{
    u64 *pte = pte_of(va, false);
    if (!pte || !(*pte & PTE_RESERVED) || (*pte & PTE_P))
        return false;
    inject_point(M_FIRST_PAGE);
    u64 f = frame_alloc();
    if (!f)
        panic("out of memory at %p", (void *)va);
    memset((void *)f, 0, PAGE_SIZE);
    *pte = f | PTE_P | PTE_W | PTE_RESERVED;
    page_faults++;
    return true;
}

u64 heap_page_faults(void)
{
    return page_faults;
}

/* Give back every frame mapped in [start, end) and forget the reservations. */
void heap_release(u64 start, u64 end)
{
    for (u64 va = start; va < end; va += PAGE_SIZE) {
        u64 *pte = pte_of(va, false);
        if (!pte)
            continue;
        if (*pte & PTE_P) {
            frame_free(*pte & ADDR_MASK);
            invlpg(va);
        }
        *pte = 0;
    }
}
