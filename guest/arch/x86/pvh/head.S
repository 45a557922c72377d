/*
 * PVH entry (Xen PVH, QEMU -kernel without multiboot header), announced by
 * the XEN_ELFNOTE_PHYS32_ENTRY note.  32-bit protected mode, paging off,
 * %ebx = physical address of struct hvm_start_info, no stack.
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

        .section .note.Xen, "a", @note
        .align 4
        .long   2f - 1f                 /* namesz */
        .long   4f - 3f                 /* descsz */
        .long   XEN_ELFNOTE_PHYS32_ENTRY
1:      .asciz  "Xen"
2:      .align 4
3:      .long   _pvh_start
4:      .align 4

        .section .text.head32, "ax"
        .code32
        .global _pvh_start
_pvh_start:
        cli
        cld
        mov     %ebx, boot_info
        movl    $2, boot_mode           /* BOOT_PVH */
        jmp     boot32
