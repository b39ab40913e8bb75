/* kvm_uffd: missing guest pages on a postcopy destination, through userfaultfd.
 *
 * In postcopy the destination runs the guest before all its RAM has arrived.  A vCPU that
 * touches a page not yet received must stop *in the kernel* until the page is there, and
 * the page must be asked for at once over the return path.  Linux does exactly that with
 * userfaultfd in MISSING mode: the faulting thread sleeps, a message names the page and
 * the thread, and UFFDIO_COPY (or UFFDIO_ZEROPAGE) fills the page atomically and wakes
 * every thread waiting on it.  This file owns that fd, the thread that reads its faults,
 * which pages are placed and which were asked for, and QEMU's blocktime arithmetic
 * (migration.json: postcopy-blocktime is the time every vCPU was blocked at once,
 * postcopy-vcpu-blocktime the sum per vCPU).
 *
 * It knows nothing of KVM or of the migration stream: it works on any anonymous mapping
 * and any threads, which is how its tests run on hosts without /dev/kvm.  The owner (the
 * KVM guest) registers its RAM, names its vCPU threads, hands page requests upward through
 * KvmUffdOps, and places each page that arrives.
 *
 * Threads: kvm_uffd_place* and kvm_uffd_is_placed may be called from any thread; the ops
 * are called on the fault thread, which must not block on the page it reports. */
#ifndef KVM_UFFD_H
#define KVM_UFFD_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct KvmUffd KvmUffd;

typedef struct {
    /* A thread touched page `page` (4 KiB, counted from the start) of range `range`, which
     * was neither placed nor asked for before: ask the source for it.  Called once per
     * page, on the fault thread. */
    void (*request)(void *opaque, unsigned range, uint64_t page);
} KvmUffdOps;

/* True when this process may use userfaultfd in MISSING mode; else false with the reason
 * and what to do in *err. */
bool kvm_uffd_available(GError **err);

/* A userfaultfd for `nvcpus` vCPU threads (for blocktime; >= 1).  NULL with an error when
 * userfaultfd cannot be used here. */
KvmUffd *kvm_uffd_new(unsigned nvcpus, const KvmUffdOps *ops, void *opaque, GError **err);

/* Registers [base, base + len) (page-aligned, anonymous, nothing in it yet) as range number
 * kvm_uffd_nranges() before the call.  Must happen before kvm_uffd_start. */
bool kvm_uffd_register(KvmUffd *u, void *base, uint64_t len, GError **err);
unsigned kvm_uffd_nranges(const KvmUffd *u);

/* Starts the fault thread.  From now on, a touch of a page not yet placed blocks the
 * touching thread until kvm_uffd_place* fills that page. */
bool kvm_uffd_start(KvmUffd *u, GError **err);

/* Names the calling thread as vCPU `vcpu` (< nvcpus), for blocktime.  Faults from threads
 * never named still block and request pages; they count for no vCPU. */
void kvm_uffd_name_vcpu(KvmUffd *u, unsigned vcpu);

/* Fills a page with `data` (4 KiB) and wakes the threads waiting for it.  A page already
 * placed is left as it is (the first copy won: postcopy sends each page once, except when
 * a request crosses the background send) and true is returned.  False with an error only
 * if the kernel refuses (the range is gone, out of memory). */
bool kvm_uffd_place(KvmUffd *u, unsigned range, uint64_t page, const void *data, GError **err);

/* The same for a page of zeros, without copying one (UFFDIO_ZEROPAGE). */
bool kvm_uffd_place_zero(KvmUffd *u, unsigned range, uint64_t page, GError **err);

/* True once the page was placed (by this module; touches never place). */
bool kvm_uffd_is_placed(KvmUffd *u, unsigned range, uint64_t page);

/* Pages asked for through ops->request so far, and pages placed. */
uint64_t kvm_uffd_requests(KvmUffd *u);
uint64_t kvm_uffd_placed(KvmUffd *u);

/* Blocktime so far, in ms as QEMU reports it: the total time every vCPU was blocked at
 * once, and per vCPU (`per_vcpu` has nvcpus entries) the sum of its blocked times.
 * Blocks still in progress are not counted. */
uint32_t kvm_uffd_blocktime(KvmUffd *u, uint32_t *per_vcpu);

/* Stops the fault thread and closes the fd.  The ranges stop being tracked: a thread still
 * waiting for a page wakes and finds zeros there (the kernel's ordinary anonymous fault),
 * so the owner must stop its vCPUs first when it gives up on a migration.  NULL is
 * ignored. */
void kvm_uffd_free(KvmUffd *u);

#endif
