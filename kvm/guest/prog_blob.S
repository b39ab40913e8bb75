/* prog_blob: the assembled guest program's raw bytes inside migbench (.incbin at build
 * time, no generator script): kvm_guest_prog[] and kvm_guest_prog_size for kvm_vm.c. */
    .section .rodata
    .globl kvm_guest_prog
    .type kvm_guest_prog, @object
    .balign 16
kvm_guest_prog:
    .incbin KVM_GUEST_BIN
kvm_guest_prog_end:
    .size kvm_guest_prog, kvm_guest_prog_end - kvm_guest_prog
    /* The program must fit the code area the host reserves (KVM_ABI_CODE_MAX). */
    .if (kvm_guest_prog_end - kvm_guest_prog) > 0x4000
    .error "guest program larger than KVM_ABI_CODE_MAX"
    .endif
    .globl kvm_guest_prog_size
    .type kvm_guest_prog_size, @object
    .balign 4
kvm_guest_prog_size:
    .long kvm_guest_prog_end - kvm_guest_prog
    .size kvm_guest_prog_size, 4
    .section .note.GNU-stack, "", @progbits
