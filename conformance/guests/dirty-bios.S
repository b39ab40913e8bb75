/* dirty-bios.S: a 64 KiB x86 firmware image that keeps dirtying guest memory, for running
 * the conformance suite against real QEMU (targets/qemu.json: `-bios dirty-bios.img`).
 *
 * An idle QEMU guest converges at once (its RAM is zero pages), so tests that need a
 * migration to stay active need a guest that writes memory, like the guest of QEMU's own
 * migration-test.  This one is our own code, and it *is* the firmware: QEMU maps it below
 * 1 MiB and at the top of the address space, and the CPU starts at its reset vector, so no
 * BIOS has to boot first (SeaBIOS takes seconds under nested KVM).
 *
 * It enters 32-bit protected mode with flat segments, prints 'A' on COM1, then forever adds
 * 1 to the first byte of every 4 KiB page from 1 MiB to 33 MiB, printing 'B' once, when the
 * first sweep is done: from then on every page of the range is non-zero and rewritten sweep
 * after sweep (the suite's "ready" sign; before it, pages the guest has not reached yet are
 * zero and migrate for almost nothing).
 *
 * Built without a linker: the image is mapped at 0xf0000, and every address it needs is
 * 0xf0000 + (label - start), a constant the assembler computes itself.  Assembled by
 * conformance/meson.build (cc -c, objcopy -O binary -j .text) or by conftest.py. */
    .text
    .code16
start:
    cli
    mov $0xf000, %ax
    mov %ax, %ds
    in $0x92, %al                       /* A20 on (fast A20 gate) */
    or $2, %al
    out %al, $0x92
    lgdtl gdt_desc - start
    mov %cr0, %eax
    or $1, %eax                         /* protection enable */
    mov %eax, %cr0
    ljmpl $0x08, $(0xf0000 + (pm - start))

    .code32
pm:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x3f8, %dx                     /* COM1 data port */
    mov $'A', %al
    out %al, %dx
    xor %ebx, %ebx                      /* sweeps done */
sweep:
    mov $0x100000, %eax                 /* 1 MiB */
page:
    incb (%eax)
    add $4096, %eax
    cmp $0x2100000, %eax                /* 33 MiB */
    jb page
    inc %ebx
    cmp $1, %ebx
    jne sweep
    mov $'B', %al                       /* after the first sweep only */
    out %al, %dx
    jmp sweep

    .p2align 3
gdt:                                    /* accessed bits preset: the CPU cannot set them in ROM */
    .quad 0
    .quad 0x00cf9b000000ffff            /* 0x08: code, base 0, 4 GiB, 32-bit */
    .quad 0x00cf93000000ffff            /* 0x10: data, base 0, 4 GiB */
gdt_desc:
    .word gdt_desc - gdt - 1
    .long 0xf0000 + (gdt - start)

    .org 0xfff0                         /* the reset vector: 0xfffffff0 */
    .code16
    ljmp $0xf000, $0                    /* to start, at 0xf0000 */
    .org 0x10000
