/* kvm_vm: the KVM file descriptors and guest memory of one VM.
 *
 * Opens /dev/kvm (with a reason a person can act on when that fails), creates the VM, maps
 * one anonymous region per RAM block (THP-advised, as QEMU does) and registers it as one KVM memory
 * slot (blocks are contiguous in guest-physical space from 0), creates the vCPUs with the host's
 * supported CPUID (KVM refuses long mode without CPUID.LM) and, for a source guest, loads the
 * first-MiB image and initial registers computed by kvm_layout. */
#include "kvm_int.h"

#include "mb_bitmap.h"
#include "mb_error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int kvm_open_dev(GError **err)
{
#if !defined(__x86_64__)
    mb_error_set(err, "KVM is not available: migbench's KVM guest needs an x86-64 host");
    return -1;
#else
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENXIO || e == ENODEV)
            mb_error_set(err, "KVM is not available: /dev/kvm does not exist (no hardware "
                              "virtualisation, or the kvm module is not loaded)");
        else if (e == EACCES || e == EPERM)
            mb_error_set(err, "KVM is not available: no permission to open /dev/kvm (run as "
                              "root or add the user to the group owning /dev/kvm)");
        else
            mb_error_set(err, "KVM is not available: cannot open /dev/kvm: %s", g_strerror(e));
        return -1;
    }
    int v = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (v != KVM_API_VERSION) {
        mb_error_set(err, "KVM is not available: /dev/kvm speaks API version %d, not %d", v,
                     KVM_API_VERSION);
        close(fd);
        return -1;
    }
    static const struct {
        int cap;
        const char *name;
    } need[] = {
        { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
        { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
        { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(need); i++) {
        if (ioctl(fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
            g_set_error(err, MB_ERROR, MB_ERR_KVM_MISSING_CAP,
                        "KVM is not available: this kernel's KVM lacks %s", need[i].name);
            close(fd);
            return -1;
        }
    }
    return fd;
#endif
}

bool kvm_available(GError **err)
{
    int fd = kvm_open_dev(err);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static bool ioctl_ok(int r, const char *what, GError **err)
{
    if (r < 0) {
        mb_error_set(err, "kvm: %s failed: %s", what, g_strerror(errno));
        return false;
    }
    return true;
}

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd, GError **err)
{
    for (unsigned n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) + n * sizeof(c->entries[0]));
        c->nent = n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
            return c;
        int e = errno;
        g_free(c);
        if (e != E2BIG) {
            mb_error_set(err, "kvm: KVM_GET_SUPPORTED_CPUID failed: %s", g_strerror(e));
            return NULL;
        }
    }
    mb_error_set(err, "kvm: KVM_GET_SUPPORTED_CPUID needs too many entries");
    return NULL;
}

static bool create_memory(KvmGuest *g, GError **err)
{
    unsigned n = g->spec.slots;
    uint64_t size = g->spec.mem / n;
    int max_slots = ioctl(g->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
    if (max_slots > 0 && (int)n > max_slots) {
        mb_error_set(err, "kvm: %u slots asked, KVM offers %d", n, max_slots);
        return false;
    }
    g->slots = g_new0(KvmSlot, n);
    g->blocks = g_new0(MbRamBlock, n);
    g->base.nblocks = n;
    g->base.blocks = g->blocks;
    for (unsigned i = 0; i < n; i++) {
        KvmSlot *s = &g->slots[i];
        s->gpa = (uint64_t)i * size;
        s->size = size;
        s->npages = size / MB_TARGET_PAGE_SIZE;
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            mb_error_set(err, "kvm: cannot map %llu bytes of guest RAM: %s",
                         (unsigned long long)size, g_strerror(errno));
            return false;
        }
        s->hva = p;
        /* Like QEMU: let the host back guest RAM with transparent huge pages, so KVM can
         * map 2 MiB at a time (512x fewer faults on first touch until dirty logging splits
         * them).  Advice only: failure changes speed, not behaviour. */
        if (g->spec.thp)
            madvise(p, size, MADV_HUGEPAGE);
        s->bitmap = mb_bitmap_new(s->npages);
        MbRamBlock *b = &g->blocks[i];
        if (i == 0)
            g_strlcpy(b->name, "pc.ram", sizeof(b->name));
        else
            g_snprintf(b->name, sizeof(b->name), "pc.ram%u", i);
        b->size = size;
        b->host_page_size = MB_TARGET_PAGE_SIZE;
        b->gpa = s->gpa;
        struct kvm_userspace_memory_region r = {
            .slot = i,
            .guest_phys_addr = s->gpa,
            .memory_size = size,
            .userspace_addr = (uintptr_t)p,
        };
        if (!ioctl_ok(ioctl(g->vm_fd, KVM_SET_USER_MEMORY_REGION, &r), "KVM_SET_USER_MEMORY_REGION",
                      err))
            return false;
    }
    return true;
}

static bool create_vcpus(KvmGuest *g, GError **err)
{
    int max = ioctl(g->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max <= 0)
        max = ioctl(g->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (max > 0 && (int)g->spec.vcpus > max) {
        mb_error_set(err, "kvm: %u vCPUs asked, KVM offers %d", g->spec.vcpus, max);
        return false;
    }
    int rs = ioctl(g->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (!ioctl_ok(rs, "KVM_GET_VCPU_MMAP_SIZE", err))
        return false;
    g->run_size = (size_t)rs;
    struct kvm_cpuid2 *cpuid = supported_cpuid(g->kvm_fd, err);
    if (!cpuid)
        return false;
    g->vcpus = g_new0(KvmVcpu, g->spec.vcpus);
    for (unsigned v = 0; v < g->spec.vcpus; v++)
        g->vcpus[v].fd = -1;
    bool ok = true;
    for (unsigned v = 0; ok && v < g->spec.vcpus; v++) {
        KvmVcpu *c = &g->vcpus[v];
        c->g = g;
        c->index = v;
        c->fd = ioctl(g->vm_fd, KVM_CREATE_VCPU, v);
        if (!ioctl_ok(c->fd, "KVM_CREATE_VCPU", err)) {
            ok = false;
            break;
        }
        void *run = mmap(NULL, g->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
        if (run == MAP_FAILED) {
            mb_error_set(err, "kvm: cannot map the vCPU run area: %s", g_strerror(errno));
            ok = false;
            break;
        }
        c->run = run;
        /* Leaf 1 EBX[31:24] is the initial APIC ID: one per vCPU. */
        for (unsigned i = 0; i < cpuid->nent; i++)
            if (cpuid->entries[i].function == 1)
                cpuid->entries[i].ebx = (cpuid->entries[i].ebx & 0x00ffffff) | v << 24;
        ok = ioctl_ok(ioctl(c->fd, KVM_SET_CPUID2, cpuid), "KVM_SET_CPUID2", err) &&
             kvm_dirty_setup_vcpu(g, c, err);
    }
    g_free(cpuid);
    return ok;
}

bool kvm_vm_create(KvmGuest *g, GError **err)
{
    g->kvm_fd = kvm_open_dev(err);
    if (g->kvm_fd < 0)
        return false;
    g->vm_fd = ioctl(g->kvm_fd, KVM_CREATE_VM, 0);
    if (!ioctl_ok(g->vm_fd, "KVM_CREATE_VM", err))
        return false;
    return kvm_dirty_setup(g, err) && create_memory(g, err) && create_vcpus(g, err);
}

bool kvm_vm_load_program(KvmGuest *g, GError **err)
{
    uint8_t *img = g_malloc0(KVM_LOW_SIZE);
    kvm_layout_image(&g->spec, img);
    memcpy(g->slots[0].hva, img, KVM_LOW_SIZE);
    g_free(img);
    for (unsigned v = 0; v < g->spec.vcpus; v++) {
        KvmVcpu *c = &g->vcpus[v];
        struct kvm_regs regs;
        struct kvm_sregs sregs;
        if (!ioctl_ok(ioctl(c->fd, KVM_GET_SREGS, &sregs), "KVM_GET_SREGS", err))
            return false;
        kvm_layout_regs(&g->spec, v, &regs, &sregs);
        if (!ioctl_ok(ioctl(c->fd, KVM_SET_SREGS, &sregs), "KVM_SET_SREGS", err) ||
            !ioctl_ok(ioctl(c->fd, KVM_SET_REGS, &regs), "KVM_SET_REGS", err))
            return false;
    }
    return true;
}

void kvm_vm_destroy(KvmGuest *g)
{
    for (unsigned v = 0; g->vcpus && v < g->spec.vcpus; v++) {
        KvmVcpu *c = &g->vcpus[v];
        kvm_dirty_teardown_vcpu(g, c);
        if (c->run)
            munmap(c->run, g->run_size);
        if (c->fd >= 0)
            close(c->fd);
    }
    g_free(g->vcpus);
    g->vcpus = NULL;
    for (unsigned i = 0; g->slots && i < g->base.nblocks; i++) {
        KvmSlot *s = &g->slots[i];
        if (s->hva)
            munmap(s->hva, s->size);
        g_free(s->bitmap);
        g_free(s->ring_acc);
    }
    g_free(g->slots);
    g_free(g->blocks);
    g->slots = NULL;
    g->blocks = NULL;
    if (g->vm_fd >= 0)
        close(g->vm_fd);
    if (g->kvm_fd >= 0)
        close(g->kvm_fd);
    g->vm_fd = g->kvm_fd = -1;
}

uint8_t *kvm_gpa_host(KvmGuest *g, uint64_t gpa)
{
    for (unsigned i = 0; i < g->base.nblocks; i++) {
        KvmSlot *s = &g->slots[i];
        if (gpa >= s->gpa && gpa - s->gpa < s->size)
            return s->hva + (gpa - s->gpa);
    }
    return NULL;
}
