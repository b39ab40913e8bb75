/* guest.S: the program every migbench KVM vCPU runs (x86-64 long mode, no OS).
 *
 * Why this shape: the host enters each vCPU directly in long mode at CPL 0 (page tables,
 * GDT, IDT, TSSs and parameters prepared by the host, see kvm_abi.h), so the program is
 * a tiny kernel (entry, fault stubs, a report service doing the OUT) and the workload
 * loops, which run at CPL 3 (kvm_abi.h says why).  All workload state lives in registers,
 * which the migration carries in the vCPU state, and the pages themselves; stacks are
 * used only by interrupts (reports, faults).
 * The code is position-independent and relocation-free: the build copies the raw .text
 * bytes (objcopy -O binary) into the host binary, and the host loads them at
 * KVM_ABI_CODE.  Progress is one report per marker sweep / per 2^n random writes, so
 * exits stay rare.  Any CPU exception lands in a stub that reports the vector and the frame on
 * KVM_ABI_PORT_FAULT; the host then stops the VM with a clear error. */
#include "kvm_abi.h"

        .text
        .code64

/* ---- header, read by the host (kvm_vm.c) ---- */
header:
        .quad   KVM_ABI_PROG_MAGIC
        .long   KVM_ABI_VERSION
        .long   entry - header
        .long   stubs - header
        .long   report - header

/* rax = splitmix64 finaliser of rax; clobbers rcx. */
.macro MIX
        mov     %rax, %rcx
        shr     $30, %rcx
        xor     %rcx, %rax
        movabs  $KVM_ABI_MIX1, %rcx
        imul    %rcx, %rax
        mov     %rax, %rcx
        shr     $27, %rcx
        xor     %rcx, %rax
        movabs  $KVM_ABI_MIX2, %rcx
        imul    %rcx, %rax
        mov     %rax, %rcx
        shr     $31, %rcx
        xor     %rcx, %rax
.endm

/* ---- entry (CPL 0): RDI = this vCPU's parameter block, RSP = its kernel stack ---- */
entry:
        xor     %r15d, %r15d
        mov     KVM_ABI_P_KIND(%rdi), %rax
        cmp     $KVM_ABI_WL_IDLE, %rax
        je      idle
        cmp     $KVM_ABI_WL_FAULT, %rax
        je      fault
        cmp     $KVM_ABI_WL_MARKER, %rax
        je      1f
        cmp     $KVM_ABI_WL_RANDOM, %rax
        je      1f
        cmp     $KVM_ABI_WL_HOTSPOT, %rax
        je      1f
        mov     $KVM_ABI_PORT_BADPARAM, %edx
        out     %eax, %dx
        jmp     stop
        /* Drop to CPL 3 at user_entry, user stack just above the kernel stack. */
1:      lea     (KVM_ABI_STACK_SIZE / 2)(%rsp), %rax
        pushq   $KVM_ABI_SEL_UDATA
        pushq   %rax
        pushq   $0x2
        pushq   $KVM_ABI_SEL_UCODE
        lea     user_entry(%rip), %rax
        pushq   %rax
        iretq

/* ---- report service (CPL 0, int3 from CPL 3): OUT EAX ----
 * Clobbers only EDX, which the loops below do not keep anything in across a report. */
report:
        mov     $KVM_ABI_PORT_PROGRESS, %edx
        out     %eax, %dx
        iretq

/* ---- user entry (CPL 3): RDI = parameter block ---- */
user_entry:
        mov     KVM_ABI_P_KIND(%rdi), %rax
        cmp     $KVM_ABI_WL_MARKER, %rax
        je      marker
        jmp     random

/* ---- idle (CPL 0): halt; without an in-kernel irqchip each HLT exits, the host parks ---- */
idle:
        movabs  $KVM_ABI_LOOP_MAGIC, %r15
1:      hlt
        jmp     1b

/* ---- marker (CPL 3): QEMU's migration-test sweep over [R8, R9), one page at a time ----
 * Invariant the host checks (kvm_verify.c): with c = (RDI-R8)/4096 pages done in this
 * sweep and S = R10 sweeps done, pages [0,b) hold S+1 and [b,n) hold S (mod 256), with
 * b in {c, c+1} (the incb may have run) or, when RDI == R9, b in {n, 0}. */
marker:
        mov     KVM_ABI_P_FIRST(%rdi), %r8
        mov     KVM_ABI_P_NPAGES(%rdi), %r9
        shl     $12, %r9
        add     %r8, %r9
        xor     %r10d, %r10d
        mov     %r8, %rdi
        movabs  $KVM_ABI_LOOP_MAGIC, %r15
marker_sweep:
        incb    (%rdi)
        add     $4096, %rdi
        cmp     %r9, %rdi
        jb      marker_sweep
        inc     %r10
        mov     %r8, %rdi
        mov     %r10d, %eax
        int3
        jmp     marker_sweep

/* ---- random / hotspot (CPL 3): stamp write number R10 on page pick(R11, R10) ----
 * The stamp is written tail first and its header (t = R10+1) last; R10 advances only
 * once the page is complete, so only page pick(key, R10) can be half-written. */
random:
        mov     KVM_ABI_P_FIRST(%rdi), %r8
        mov     KVM_ABI_P_NPAGES(%rdi), %r9
        mov     KVM_ABI_P_KEY(%rdi), %r11
        mov     KVM_ABI_P_NHOT(%rdi), %r12
        mov     KVM_ABI_P_HOTW(%rdi), %r13
        mov     KVM_ABI_P_MASK(%rdi), %r14
        xor     %r10d, %r10d
        mov     %r8, %rdi
        movabs  $KVM_ABI_LOOP_MAGIC, %r15
random_next:
        movabs  $KVM_ABI_GOLD, %rax
        imul    %r10, %rax
        add     %r11, %rax
        MIX
        test    %r12, %r12
        jz      3f
        cmp     %r13d, %eax
        jb      2f
        mov     %r9, %rcx               /* cold: nhot + mulhi(z, npages - nhot) */
        sub     %r12, %rcx
        mul     %rcx
        lea     (%rdx,%r12), %rax
        jmp     4f
2:      mul     %r12                    /* hot: mulhi(z, nhot) */
        mov     %rdx, %rax
        jmp     4f
3:      mul     %r9                     /* uniform: mulhi(z, npages) */
        mov     %rdx, %rax
4:      shl     $12, %rax
        lea     (%r8,%rax), %rdi
        lea     1(%r10), %rbx           /* t: this write's stamp */
        movabs  $KVM_ABI_C1, %rsi
        imul    %rbx, %rsi
        xor     %rdi, %rsi
        mov     $1, %ebp
5:      movabs  $KVM_ABI_GOLD, %rax
        imul    %rbp, %rax
        add     %rsi, %rax
        MIX
        mov     %rbp, %rcx
        shl     $9, %rcx
        mov     %rax, (%rdi,%rcx)
        inc     %ebp
        cmp     $KVM_ABI_STAMP_WORDS, %ebp
        jb      5b
        mov     %rdi, 8(%rdi)
        mov     %rbx, (%rdi)
        mov     %rbx, %r10              /* commit */
        test    %r14, %r10
        jnz     random_next
        mov     %r10d, %eax
        int3
        jmp     random_next

/* ---- fault (CPL 0): test-only misbehaviour (kvm/tests) ---- */
fault:
        mov     KVM_ABI_P_FAULT(%rdi), %rax
        cmp     $KVM_ABI_FAULT_UD, %rax
        je      f_ud
        cmp     $KVM_ABI_FAULT_PF, %rax
        je      f_pf
        cmp     $KVM_ABI_FAULT_MMIO, %rax
        je      f_mmio
        cmp     $KVM_ABI_FAULT_SHUTDOWN, %rax
        je      f_shutdown
        cmp     $KVM_ABI_FAULT_HLT, %rax
        je      f_hlt
        cmp     $KVM_ABI_FAULT_PORT, %rax
        je      f_port
        cmp     $KVM_ABI_FAULT_SPIN, %rax
        je      f_spin
        mov     $KVM_ABI_PORT_BADPARAM, %edx
        out     %eax, %dx
        jmp     stop
f_ud:   ud2
f_pf:   movabs  $0x10000000000, %rax    /* 1 TiB: PML4 entry 2 is not present */
        movb    $1, (%rax)
        jmp     stop
f_mmio: mov     KVM_ABI_P_FIRST(%rdi), %rax  /* host: first address past RAM */
        movl    $0x1234, (%rax)
        jmp     stop
f_shutdown:
        pushq   $0
        pushq   $0
        lidt    (%rsp)                  /* limit 0: nothing can be delivered */
        ud2
f_hlt:  hlt
        jmp     stop
f_port: mov     $KVM_ABI_FAULT_PORT_NR, %edx
        out     %eax, %dx
        jmp     stop
f_spin: movabs  $KVM_ABI_LOOP_MAGIC, %r15
1:      jmp     1b

/* Never resumed by the host after a report; loop in case it is. */
stop:
        hlt
        jmp     stop

/* ---- exception stubs: push (error code or 0) and the vector, then report ---- */
.macro STUB vec
        .balign KVM_ABI_STUB_STRIDE
.if (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || (\vec == 13) || (\vec == 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
        pushq   $\vec
.else
        pushq   $0
        pushq   $\vec
.endif
        jmp     fault_common
.endm
        .balign KVM_ABI_STUB_STRIDE
stubs:
        .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        STUB \v
        .endr

/* Frame at RSP: vector, error code, RIP, CS, RFLAGS, RSP, SS. */
fault_common:
        mov     %rsp, %rsi
        mov     (%rsp), %eax
        mov     $KVM_ABI_PORT_FAULT, %edx
        out     %eax, %dx
        jmp     stop
