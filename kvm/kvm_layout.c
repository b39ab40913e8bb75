/* kvm_layout: where everything sits in the guest, as pure functions of the spec.
 *
 * The first MiB of guest-physical memory (RAM block 0) holds the GDT, the IDT, one
 * parameter block, TSS and pair of stacks per vCPU, the program and identity-mapping page
 * tables (2 MiB user-accessible pages over all RAM plus one 2 MiB page past it, so a test
 * program can provoke an MMIO exit).  Workload pages are [1 MiB, mem), split into one contiguous
 * range per vCPU. Being pure, the same functions build a source guest and tell kvm_verify what a
 * migrated first MiB and every vCPU's registers must look like.  A/D bits are preset in the page
 * tables so the CPU never writes them: the first MiB stays byte-stable except the stacks. */
#include "kvm_int.h"

#include "mb_error.h"
#include "mb_util.h"

#include <string.h>

#define MIB        (1ull << 20)
#define GIB        (1ull << 30)
#define PAGE_2M    (2 * MIB)
#define PTE_P      0x1ull
#define PTE_RW     0x2ull
#define PTE_US     0x4ull
#define PTE_A      0x20ull
#define PTE_D      0x40ull
#define PTE_PS     0x80ull
#define CR0_PE     (1ull << 0)
#define CR0_MP     (1ull << 1)
#define CR0_ET     (1ull << 4)
#define CR0_NE     (1ull << 5)
#define CR0_WP     (1ull << 16)
#define CR0_PG     (1ull << 31)
#define CR4_PAE    (1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMM  (1ull << 10)
#define EFER_LME   (1ull << 8)
#define EFER_LMA   (1ull << 10)

static uint64_t work_pages(const KvmSpec *s)
{
    uint64_t all = (s->mem - KVM_ABI_WORK) / MB_TARGET_PAGE_SIZE;
    return s->work ? MIN(s->work / MB_TARGET_PAGE_SIZE, all) : all;
}

bool kvm_layout_check(const KvmSpec *s, GError **err)
{
    if (s->mem < PAGE_2M || s->mem % PAGE_2M) {
        mb_error_set(err, "kvm: mem must be a positive multiple of 2 MiB");
        return false;
    }
    if (s->mem > (uint64_t)KVM_ABI_MAX_GIB * GIB) {
        mb_error_set(err, "kvm: mem is limited to %d GiB (page tables live in the first MiB)",
                     KVM_ABI_MAX_GIB);
        return false;
    }
    if (s->mem % (s->slots * PAGE_2M)) {
        mb_error_set(err, "kvm: mem must split into %u slots of a multiple of 2 MiB each",
                     s->slots);
        return false;
    }
    if (work_pages(s) < s->vcpus) {
        mb_error_set(err, "kvm: mem is too small for %u vCPUs", s->vcpus);
        return false;
    }
    return true;
}

KvmRange kvm_layout_range(const KvmSpec *s, unsigned v)
{
    uint64_t w = work_pages(s);
    uint64_t a = w * v / s->vcpus, b = w * (v + 1) / s->vcpus;
    KvmRange r = {
        .first = KVM_ABI_WORK + a * MB_TARGET_PAGE_SIZE,
        .npages = b - a,
        .key = mb_hash3(s->seed, v, 0x6b766d),
        .mask = (1ull << s->report_shift) - 1,
    };
    if (s->workload == KVM_ABI_WL_HOTSPOT && r.npages >= 2) {
        r.nhot = r.npages * s->hot_pct / 100;
        r.nhot = MAX(r.nhot, 1);
        r.nhot = MIN(r.nhot, r.npages - 1);
        r.hotw = MIN(((uint64_t)s->hotw_pct << 32) / 100, 0xffffffffull);
    }
    return r;
}

static uint64_t tss_base(unsigned v)
{
    return KVM_ABI_TSS + (uint64_t)v * KVM_ABI_TSS_STRIDE;
}

static uint64_t kernel_stack_top(unsigned v)
{
    return KVM_ABI_STACKS + (uint64_t)v * KVM_ABI_STACK_SIZE + KVM_ABI_STACK_SIZE / 2;
}

static uint32_t prog_u32(unsigned off)
{
    uint32_t v;
    memcpy(&v, kvm_guest_prog + off, 4);
    return v;
}

static void put64(uint8_t *img, uint64_t off, uint64_t v)
{
    memcpy(img + off, &v, 8);
}

void kvm_layout_image(const KvmSpec *s, uint8_t *img)
{
    uint64_t magic;
    memcpy(&magic, kvm_guest_prog, 8);
    g_assert(magic == KVM_ABI_PROG_MAGIC && prog_u32(KVM_ABI_HDR_VERSION) == KVM_ABI_VERSION);
    g_assert(kvm_guest_prog_size <= KVM_ABI_CODE_MAX);

    /* GDT: null, kernel code64, kernel data, user data, user code64, then one busy 64-bit
     * TSS descriptor per vCPU (each vCPU needs its own RSP0 for reports and faults). */
    put64(img, KVM_ABI_GDT + KVM_ABI_SEL_KCODE, 0x00af9b000000ffffull);
    put64(img, KVM_ABI_GDT + KVM_ABI_SEL_KDATA, 0x00cf93000000ffffull);
    put64(img, KVM_ABI_GDT + (KVM_ABI_SEL_UDATA & ~3), 0x00cff3000000ffffull);
    put64(img, KVM_ABI_GDT + (KVM_ABI_SEL_UCODE & ~3), 0x00affb000000ffffull);
    for (unsigned v = 0; v < s->vcpus; v++) {
        uint64_t tss = tss_base(v), d = KVM_ABI_GDT + KVM_ABI_SEL_TSS0 + 16ull * v;
        put64(img, d, 0x67 | (tss & 0xffffff) << 16 | 0x8bull << 40 | ((tss >> 24) & 0xff) << 56);
        put64(img, d + 8, tss >> 32);
        put64(img, tss + 4, kernel_stack_top(v)); /* RSP0 */
        img[tss + 0x66] = 0x68;                   /* I/O map base past the limit: no I/O bitmap */
    }

    /* IDT: interrupt gates to the fault stubs (DPL 0), but vector 3 (int3) is the report
     * service, callable from CPL 3. */
    uint64_t stubs = KVM_ABI_CODE + prog_u32(KVM_ABI_HDR_STUBS);
    for (unsigned v = 0; v < KVM_ABI_NVECTORS; v++) {
        uint64_t h = stubs + (uint64_t)v * KVM_ABI_STUB_STRIDE, type = 0x8e;
        if (v == KVM_ABI_VEC_REPORT) {
            h = KVM_ABI_CODE + prog_u32(KVM_ABI_HDR_REPORT);
            type = 0xee;
        }
        put64(img, KVM_ABI_IDT + 16 * v,
              (h & 0xffff) | (uint64_t)KVM_ABI_SEL_KCODE << 16 | type << 40 |
                  ((h >> 16) & 0xffff) << 48);
        put64(img, KVM_ABI_IDT + 16 * v + 8, h >> 32);
    }

    /* Parameter blocks. */
    for (unsigned v = 0; v < s->vcpus; v++) {
        KvmRange r = kvm_layout_range(s, v);
        uint64_t p = KVM_ABI_PARAMS + (uint64_t)v * KVM_ABI_PARAM_SIZE;
        uint64_t kind = s->workload;
        if (kind == KVM_ABI_WL_FAULT && v > 0)
            kind = KVM_ABI_WL_MARKER; /* one bad vCPU must stop healthy ones too */
        put64(img, p + KVM_ABI_P_KIND, kind);
        put64(img, p + KVM_ABI_P_FIRST, kind == KVM_ABI_WL_FAULT ? s->mem : r.first);
        put64(img, p + KVM_ABI_P_NPAGES, r.npages);
        put64(img, p + KVM_ABI_P_KEY, r.key);
        put64(img, p + KVM_ABI_P_NHOT, r.nhot);
        put64(img, p + KVM_ABI_P_HOTW, r.hotw);
        put64(img, p + KVM_ABI_P_MASK, r.mask);
        put64(img, p + KVM_ABI_P_FAULT, kind == KVM_ABI_WL_FAULT ? (uint64_t)s->fault : 0);
    }

    memcpy(img + KVM_ABI_CODE, kvm_guest_prog, kvm_guest_prog_size);

    /* Identity map [0, mem + 2 MiB) with 2 MiB pages. */
    uint64_t map_end = s->mem + PAGE_2M;
    uint64_t npd = (map_end + GIB - 1) / GIB;
    g_assert(KVM_ABI_PD + npd * 4096 <= KVM_ABI_WORK);
    const uint64_t dir = PTE_P | PTE_RW | PTE_US | PTE_A;
    put64(img, KVM_ABI_PML4, KVM_ABI_PDPT | dir);
    for (uint64_t i = 0; i < npd; i++)
        put64(img, KVM_ABI_PDPT + 8 * i, (KVM_ABI_PD + i * 4096) | dir);
    for (uint64_t a = 0; a < map_end; a += PAGE_2M)
        put64(img, KVM_ABI_PD + a / PAGE_2M * 8, a | dir | PTE_D | PTE_PS);
}

bool kvm_layout_volatile(uint64_t gpa)
{
    return gpa >= KVM_ABI_STACKS && gpa < KVM_ABI_STACKS + KVM_ABI_MAX_VCPUS * KVM_ABI_STACK_SIZE;
}

static struct kvm_segment seg(uint16_t sel, uint8_t type, bool code)
{
    return (struct kvm_segment){
        .base = 0,
        .limit = 0xffffffff,
        .selector = sel,
        .type = type,
        .present = 1,
        .dpl = 0,
        .db = code ? 0 : 1,
        .s = 1,
        .l = code ? 1 : 0,
        .g = 1,
    };
}

void kvm_layout_regs(const KvmSpec *s, unsigned v, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
    memset(regs, 0, sizeof(*regs));
    regs->rip = KVM_ABI_CODE + prog_u32(KVM_ABI_HDR_ENTRY);
    regs->rdi = KVM_ABI_PARAMS + (uint64_t)v * KVM_ABI_PARAM_SIZE;
    regs->rsp = kernel_stack_top(v);
    regs->rflags = 0x2;

    sregs->cs = seg(KVM_ABI_SEL_KCODE, 0xb, true);
    sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = seg(KVM_ABI_SEL_KDATA, 0x3, false);
    sregs->tr = (struct kvm_segment){
        .base = tss_base(v),
        .limit = 0x67,
        .selector = (uint16_t)(KVM_ABI_SEL_TSS0 + 16 * v),
        .type = 0xb,
        .present = 1,
    };
    sregs->ldt = (struct kvm_segment){ .type = 0x2, .unusable = 1 };
    sregs->gdt.base = KVM_ABI_GDT;
    sregs->gdt.limit = (uint16_t)(KVM_ABI_SEL_TSS0 + 16 * s->vcpus - 1);
    sregs->idt.base = KVM_ABI_IDT;
    sregs->idt.limit = KVM_ABI_NVECTORS * 16 - 1;
    sregs->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs->cr3 = KVM_ABI_PML4;
    sregs->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMM;
    sregs->efer = EFER_LME | EFER_LMA;
}
