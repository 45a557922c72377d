/*
 * Multiboot v1 entry (QEMU -kernel, GRUB's `multiboot`).
 * The loader enters in 32-bit protected mode, paging off:
 * %eax = 0x2BADB002, %ebx = physical address of the multiboot info.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* align modules, want memory info */

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        .section .text.head32, "ax"
        .code32
        .global _multiboot_start
_multiboot_start:
        cli
        cld
        mov     %eax, boot_magic
        mov     %ebx, boot_info
        movl    $1, boot_mode           /* BOOT_MULTIBOOT */
        jmp     boot32
