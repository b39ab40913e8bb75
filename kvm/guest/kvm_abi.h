/* kvm_abi: the contract between the bundled guest program (guest.S) and the host (kvm_*.c).
 *
 * Included from assembly (guest.S, preprocessed with __ASSEMBLER__) and from C, so it holds
 * only #defines.  The host lays out the first MiB of guest-physical memory (tables, code,
 * per-vCPU parameters and stacks), enters every vCPU directly in 64-bit long mode with
 * RDI = its parameter block, and the program keeps all workload state in registers (listed
 * below) so that vCPU registers + RAM are the whole guest state: migrating them is enough.
 * The host enters at CPL 0 with RSP = the vCPU's kernel stack; the program drops to CPL 3
 * for the workload loops (see "Privilege" below).
 *
 * Changing anything here changes what a migrated guest expects: bump KVM_ABI_VERSION. */
#ifndef KVM_ABI_H
#define KVM_ABI_H

#define KVM_ABI_VERSION    1
#define KVM_ABI_PROG_MAGIC 0x47525042474b424d /* "MBKGBPRG" little-endian */
#define KVM_ABI_LOOP_MAGIC 0x504f4f4c4b424d   /* R15 once a vCPU is in its workload loop */

/* I/O ports the program writes (OUT, 32-bit); any other port is an error. */
#define KVM_ABI_PORT_PROGRESS 0x0510 /* EAX = low 32 bits of the vCPU's progress counter */
#define KVM_ABI_PORT_FAULT    0x0511 /* EAX = exception vector, RSI = exception frame */
#define KVM_ABI_PORT_BADPARAM 0x0512 /* EAX = the workload kind the program did not know */

/* Guest-physical layout of the first MiB (all in RAM block 0, so it migrates with RAM). */
#define KVM_ABI_GDT        0x1000 /* see KVM_ABI_SEL_*; then one TSS descriptor per vCPU */
#define KVM_ABI_IDT        0x2000 /* 32 gates: fault stubs, vector 3 = the report service */
#define KVM_ABI_PARAMS     0x3000 /* KVM_ABI_MAX_VCPUS blocks of KVM_ABI_PARAM_SIZE bytes */
#define KVM_ABI_TSS        0x4000 /* vCPU v's 104-byte TSS at KVM_ABI_TSS + v*TSS_STRIDE */
#define KVM_ABI_TSS_STRIDE 0x80
#define KVM_ABI_CODE       0x6000 /* the program, at most KVM_ABI_CODE_MAX bytes */
#define KVM_ABI_CODE_MAX   0x4000
#define KVM_ABI_STACKS     0xa000 /* vCPU v: kernel stack below base+512, user below base+1K */
#define KVM_ABI_STACK_SIZE 0x400  /* per vCPU; base = KVM_ABI_STACKS + v*STACK_SIZE */
#define KVM_ABI_PML4       0x1a000
#define KVM_ABI_PDPT       0x1b000
#define KVM_ABI_PD         0x1c000  /* one page directory (2 MiB pages) per GiB of RAM */
#define KVM_ABI_WORK       0x100000 /* workload pages start here (as in QEMU's test guest) */
#define KVM_ABI_MAX_VCPUS  64
#define KVM_ABI_MAX_GIB    128 /* PDs must stay below KVM_ABI_WORK */

/* Privilege: the kernel part (entry, stubs, report service) runs at CPL 0, the workload
 * loops at CPL 3 and report with `int3` (EAX = counter).  Why: PVM, the
 * KVM flavour on nested cloud hosts, emulates guest CPL-0 code instruction by instruction
 * (~3 us per page touched) but runs CPL 3 natively, and KVM on hardware does not care.
 * PVM also lets CPL 3 raise only vectors 3 and 4 through the IDT, hence int3. */
#define KVM_ABI_SEL_KCODE  0x08
#define KVM_ABI_SEL_KDATA  0x10
#define KVM_ABI_SEL_UDATA  0x1b /* index 3, RPL 3 */
#define KVM_ABI_SEL_UCODE  0x23 /* index 4, RPL 3 */
#define KVM_ABI_SEL_TSS0   0x28 /* vCPU v: KVM_ABI_SEL_TSS0 + 16*v */
#define KVM_ABI_VEC_REPORT 3    /* int3: DPL 3 under PVM too (0x80 and 32 are not) */

/* Parameter block of one vCPU (u64 fields, byte offsets). */
#define KVM_ABI_PARAM_SIZE 64
#define KVM_ABI_P_KIND     0  /* KVM_ABI_WL_* */
#define KVM_ABI_P_FIRST    8  /* guest-physical address of the vCPU's first page */
#define KVM_ABI_P_NPAGES   16 /* pages in the vCPU's range (>= 1) */
#define KVM_ABI_P_KEY      24 /* random/hotspot: the vCPU's stream key */
#define KVM_ABI_P_NHOT     32 /* hotspot: pages in the hot set at the start of the range */
#define KVM_ABI_P_HOTW     40 /* hotspot: a write goes to the hot set if (u32)z < HOTW */
#define KVM_ABI_P_MASK     48 /* random/hotspot: report progress when (seq & MASK) == 0 */
#define KVM_ABI_P_FAULT    56 /* fault workload: KVM_ABI_FAULT_* */

#define KVM_ABI_WL_IDLE    0 /* HLT forever (CPL 0): the host parks the vCPU */
#define KVM_ABI_WL_MARKER  1 /* QEMU migration-test sweep: +1 to byte 0 of every page */
#define KVM_ABI_WL_RANDOM  2 /* self-describing stamps on uniformly random pages */
#define KVM_ABI_WL_HOTSPOT 3 /* same stamps, HOTW share of the writes to the hot set */
#define KVM_ABI_WL_FAULT   4 /* test-only: misbehave as P_FAULT says (CPL 0) */

#define KVM_ABI_FAULT_UD       1 /* ud2: #UD through the IDT, reported on PORT_FAULT */
#define KVM_ABI_FAULT_PF       2 /* write to an unmapped address: #PF */
#define KVM_ABI_FAULT_MMIO     3 /* write just past RAM (mapped, no memslot): MMIO exit */
#define KVM_ABI_FAULT_SHUTDOWN 4 /* empty IDT, then ud2: triple fault, KVM_EXIT_SHUTDOWN */
#define KVM_ABI_FAULT_HLT      5 /* hlt outside the idle workload */
#define KVM_ABI_FAULT_PORT     6 /* OUT to an unknown port */
#define KVM_ABI_FAULT_SPIN     7 /* spin without exits: only a kick stops it */
#define KVM_ABI_FAULT_PORT_NR  0x0666

/* Registers of the workload loops, as save_state/verify read them.
 *   marker:  R8 = first page, R9 = end (exclusive), RDI = cursor page, R10 = sweeps done.
 *   random/hotspot: R8 = first page, R9 = npages, R10 = writes done (seq), R11 = key,
 *            R12 = nhot, R13 = hotw, R14 = mask, RDI = page being written.
 *   all:     R15 = KVM_ABI_LOOP_MAGIC once in the loop (0 before).
 * Random/hotspot write number s (0-based) goes to page index pick(key, s), stamp t = s+1:
 *   z = mix(key + s*GOLD); hotspot: hot if (u32)z < HOTW, then idx = mulhi(z, nhot) or
 *   nhot + mulhi(z, npages-nhot); random: idx = mulhi(z, npages).
 *   word at offset 512k (k=1..7) = mix(((t*C1) ^ gpa) + k*GOLD); offset 8 = gpa;
 *   offset 0 = t (written last).  mix() is splitmix64's finaliser. */
#define KVM_ABI_GOLD        0x9e3779b97f4a7c15
#define KVM_ABI_C1          0xd6e8feb86659fd93
#define KVM_ABI_MIX1        0xbf58476d1ce4e5b9
#define KVM_ABI_MIX2        0x94d049bb133111eb
#define KVM_ABI_STAMP_WORDS 8 /* offsets 0, 512, ..., 3584 (+ offset 8 for the gpa) */

/* Program header (at KVM_ABI_CODE): magic u64, version u32, entry offset u32, fault stub
 * table offset u32 (KVM_ABI_NVECTORS stubs, KVM_ABI_STUB_STRIDE bytes apart), report
 * handler offset u32. */
#define KVM_ABI_HDR_MAGIC   0
#define KVM_ABI_HDR_VERSION 8
#define KVM_ABI_HDR_ENTRY   12
#define KVM_ABI_HDR_STUBS   16
#define KVM_ABI_HDR_REPORT  20
#define KVM_ABI_STUB_STRIDE 16
#define KVM_ABI_NVECTORS    32

#endif
