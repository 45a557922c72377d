/*
 * Shared 32-bit to 64-bit switch: identity map the first 4 GiB with 2 MiB
 * pages, enable PAE, long mode, paging and SSE, load a flat GDT and call
 * kmain() on the boot stack.  Both boot modes jump here.
 */
#define CR0_MP  (1 << 1)
#define CR0_EM  (1 << 2)
#define CR0_TS  (1 << 3)
#define CR0_NE  (1 << 5)
#define CR0_WP  (1 << 16)
#define CR0_PG  (1 << 31)
#define CR4_PAE (1 << 5)
#define CR4_OSFXSR (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)

        .section .text.head32, "ax"
        .code32
        .global boot32
boot32:
        mov     $boot_stack_top, %esp

        /* PD entries: 2048 x 2 MiB, present | writable | large */
        mov     $pd_tables, %edi
        xor     %ecx, %ecx
1:      mov     %ecx, %eax
        shl     $21, %eax
        or      $0x83, %eax
        mov     %eax, (%edi, %ecx, 8)
        mov     %ecx, %eax
        shr     $11, %eax
        mov     %eax, 4(%edi, %ecx, 8)  /* bits 32+ of 2 MiB * index */
        inc     %ecx
        cmp     $2048, %ecx
        jne     1b

        /* PDPT entries 0..3 -> the four PDs; PML4[0] -> PDPT */
        mov     $pdpt, %edi
        mov     $pd_tables + 0x3, %eax
        mov     %eax, 0(%edi)
        add     $0x1000, %eax
        mov     %eax, 8(%edi)
        add     $0x1000, %eax
        mov     %eax, 16(%edi)
        add     $0x1000, %eax
        mov     %eax, 24(%edi)
        mov     $pdpt + 0x3, %eax
        mov     %eax, pml4

        mov     $pml4, %eax
        mov     %eax, %cr3

        mov     %cr4, %eax
        or      $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
        mov     %eax, %cr4

        mov     $MSR_EFER, %ecx
        rdmsr
        or      $EFER_LME, %eax
        wrmsr

        mov     %cr0, %eax
        and     $~(CR0_EM | CR0_TS), %eax
        or      $(CR0_PG | CR0_MP | CR0_NE | CR0_WP | 1), %eax
        mov     %eax, %cr0

        lgdt    gdt_ptr
        ljmp    $0x08, $boot64

        .text
        .code64
boot64:
        mov     $0x10, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %ss
        xor     %eax, %eax
        mov     %eax, %fs
        mov     %eax, %gs
        mov     $boot_stack_top, %rsp
        xor     %ebp, %ebp
        call    kmain
        /* kmain never returns; if it does, stop quietly */
2:      cli
        hlt
        jmp     2b

        .section .rodata
        .align 16
gdt:
        .quad   0
        .quad   0x00af9a000000ffff      /* 0x08: 64-bit code */
        .quad   0x00cf92000000ffff      /* 0x10: data */
gdt_end:
        .align 8
        .global gdt_ptr
gdt_ptr:
        .word   gdt_end - gdt - 1
        .quad   gdt

        .section .bss
        .align 4096
        .global pml4, pdpt
pml4:   .skip   4096
pdpt:   .skip   4096
pd_tables:
        .skip   4 * 4096
        .align 16
boot_stack:
        .skip   16384
        .global boot_stack_top
boot_stack_top:

        .section .data
        .align 4
        .global boot_mode, boot_magic, boot_info
boot_mode:  .long 0
boot_magic: .long 0
boot_info:  .long 0
