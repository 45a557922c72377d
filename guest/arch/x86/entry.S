/* Exception entry stubs and the task switch. */

        .text
        .code64

/* Vectors without a CPU-pushed error code push a zero to keep one frame. */
.macro EXC_NOERR vec
        .align 16
        pushq   $0
        pushq   $\vec
        jmp     exc_common
.endm
.macro EXC_ERR vec
        .align 16
        pushq   $\vec
        jmp     exc_common
.endm

        .align 16
        .global exc_stubs
exc_stubs:
        EXC_NOERR 0
        EXC_NOERR 1
        EXC_NOERR 2
        EXC_NOERR 3
        EXC_NOERR 4
        EXC_NOERR 5
        EXC_NOERR 6
        EXC_NOERR 7
        EXC_ERR   8
        EXC_NOERR 9
        EXC_ERR   10
        EXC_ERR   11
        EXC_ERR   12
        EXC_ERR   13
        EXC_ERR   14
        EXC_NOERR 15
        EXC_NOERR 16
        EXC_ERR   17
        EXC_NOERR 18
        EXC_NOERR 19
        EXC_NOERR 20
        EXC_ERR   21
        EXC_NOERR 22
        EXC_NOERR 23
        EXC_NOERR 24
        EXC_NOERR 25
        EXC_NOERR 26
        EXC_NOERR 27
        EXC_NOERR 28
        EXC_ERR   29
        EXC_ERR   30
        EXC_NOERR 31

/* Frame layout matches struct cpu_regs in include/guest.h. */
exc_common:
        push    %rax
        push    %rbx
        push    %rcx
        push    %rdx
        push    %rsi
        push    %rdi
        push    %rbp
        push    %r8
        push    %r9
        push    %r10
        push    %r11
        push    %r12
        push    %r13
        push    %r14
        push    %r15
        mov     %rsp, %rdi
        cld
        call    do_exception
        pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %r11
        pop     %r10
        pop     %r9
        pop     %r8
        pop     %rbp
        pop     %rdi
        pop     %rsi
        pop     %rdx
        pop     %rcx
        pop     %rbx
        pop     %rax
        add     $16, %rsp
        iretq

/*
 * void switch_context(u64 *save_rsp, u64 next_rsp)
 * Cooperative switch: only callee-saved registers need saving (the kernel
 * never uses SSE across a switch; STREAM does not yield).
 */
        .global switch_context
switch_context:
        push    %rbp
        push    %rbx
        push    %r12
        push    %r13
        push    %r14
        push    %r15
        mov     %rsp, (%rdi)
        mov     %rsi, %rsp
        pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %rbx
        pop     %rbp
        ret

/* First switch into a new task lands here: r12 = argument, r13 = function. */
        .global task_trampoline
task_trampoline:
        mov     %r12, %rdi
        call    *%r13
        call    task_exit
        ud2
