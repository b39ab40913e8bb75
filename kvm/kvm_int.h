/* kvm_int: the KVM guest's internal object, shared by the kvm/ files and nobody else.
 *
 * One KvmGuest owns everything of one VM: the /dev/kvm, VM and vCPU fds, the guest RAM
 * (one anonymous mapping per RAM block, each block one KVM memory slot, contiguous in
 * guest-physical space from 0), the vCPU threads and the throttle thread.  The files split
 * the work by idea: kvm_spec (options), kvm_layout (first-MiB image, vCPU ranges, initial
 * registers), kvm_vm (fds, memory slots, CPUID), kvm_vcpu (threads, exits, run/pause,
 * throttle), kvm_dirty (dirty log and ring), kvm_state (save/load), kvm_verify (integrity),
 * kvm_guest (the MbGuestOps table), kvm_record (trace recording).
 *
 * Locking: `lock` guards the run-state fields marked (L) and every vCPU's (L) fields;
 * `cond` is broadcast whenever any of them changes.  `ring_lock` guards dirty-ring
 * harvesting.  Everything else is set up before the threads start and then read-only. */
#ifndef KVM_INT_H
#define KVM_INT_H

#include "guest.h"
#include "kvm.h"
#include "guest/kvm_abi.h"

#include <glib.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- spec (kvm_spec.c) ---- */
typedef enum {
    KVM_DIRTY_REQ_AUTO,
    KVM_DIRTY_REQ_GET,  /* KVM_GET_DIRTY_LOG, which also re-protects */
    KVM_DIRTY_REQ_LOG,  /* GET + CLEAR with manual protection when available */
    KVM_DIRTY_REQ_RING, /* per-vCPU dirty rings */
} KvmDirtyReq;

typedef struct {
    uint64_t mem;          /* bytes, multiple of 2 MiB * slots */
    unsigned vcpus;        /* 1..KVM_ABI_MAX_VCPUS */
    unsigned slots;        /* RAM blocks = KVM memory slots */
    int workload;          /* KVM_ABI_WL_* */
    int fault;             /* KVM_ABI_FAULT_* (workload=fault) */
    unsigned hot_pct;      /* hotspot: hot set, % of each vCPU's range */
    unsigned hotw_pct;     /* hotspot: % of writes that go to the hot set */
    uint64_t seed;         /* random/hotspot streams */
    unsigned report_shift; /* random/hotspot: progress OUT every 2^n writes */
    uint64_t work;         /* bytes of RAM the workload spans from 1 MiB (0: all of it) */
    KvmDirtyReq dirty;
    uint32_t ring_entries; /* dirty ring entries per vCPU (power of two) */
    bool thp;              /* madvise(MADV_HUGEPAGE) on guest RAM */
    bool workload_set;     /* workload= was given (incoming: must match the source) */
} KvmSpec;

bool kvm_spec_parse(const char *text, KvmSpec *out, GError **err);
const char *kvm_workload_name(int workload);
const char *kvm_fault_name(int fault);

/* ---- layout (kvm_layout.c) ---- */
#define KVM_LOW_SIZE KVM_ABI_WORK /* the first MiB: tables, code, params, stacks */

/* The workload pages of vCPU v: guest-physical [first, first + npages*4096). */
typedef struct {
    uint64_t first;
    uint64_t npages;
    uint64_t key;  /* random/hotspot stream key */
    uint64_t nhot; /* hotspot: hot pages at the start of the range (0: uniform) */
    uint64_t hotw; /* hotspot: threshold on (u32)z */
    uint64_t mask; /* progress mask */
} KvmRange;

/* Checks that `s` can be laid out (sizes, vCPU shares); false with a clear error. */
bool kvm_layout_check(const KvmSpec *s, GError **err);
KvmRange kvm_layout_range(const KvmSpec *s, unsigned v);
/* Fills `img` (KVM_LOW_SIZE bytes, zeroed by the caller) with the first MiB. */
void kvm_layout_image(const KvmSpec *s, uint8_t *img);
/* True for bytes of the first MiB that the guest may legitimately change (stacks). */
bool kvm_layout_volatile(uint64_t gpa);
/* Initial vCPU registers: long mode, RIP at the program's entry, RDI = params. */
void kvm_layout_regs(const KvmSpec *s, unsigned v, struct kvm_regs *regs, struct kvm_sregs *sregs);
/* The embedded program (generated from guest/guest.S at build time). */
extern const unsigned char kvm_guest_prog[];
extern const unsigned int kvm_guest_prog_size;

/* ---- the guest ---- */
typedef struct {
    uint8_t *hva;
    uint64_t gpa, size, npages;
    uint64_t *bitmap;   /* scratch for GET/CLEAR_DIRTY_LOG, npages bits */
    uint64_t *ring_acc; /* ring mode: pages harvested since the last sync */
} KvmSlot;

typedef struct KvmVcpu {
    struct KvmGuest *g;
    unsigned index;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool thread_started;
    bool needs_completion; /* last exit was I/O or MMIO: re-enter before parking */
    /* (L) */
    bool stopped;        /* parked at the top of the loop: not in KVM_RUN */
    bool halted;         /* idle: HLT exit, waiting for the next pause */
    int64_t throttle_ns; /* a throttle sleep to take before re-entering */
    uint64_t reports;    /* progress OUTs seen by this VM */
    uint64_t progress;   /* the guest's counter, widened to 64 bits */
    uint64_t exits;
    uint64_t throttled_ns;
    /* dirty ring (under ring_lock) */
    struct kvm_dirty_gfn *ring;
    uint32_t ring_fetch;
} KvmVcpu;

typedef enum { KVM_DIRTY_GET, KVM_DIRTY_CLEAR, KVM_DIRTY_RING } KvmDirtyMode;

typedef struct KvmGuest {
    MbGuest base;
    KvmSpec spec;
    bool incoming;
    char desc[160];
    int kvm_fd, vm_fd;
    size_t run_size;
    KvmSlot *slots; /* base.nblocks of them */
    MbRamBlock *blocks;
    /* dirty tracking */
    KvmDirtyMode dirty_mode;
    bool logging;
    GMutex ring_lock;
    uint64_t ring_full_exits; /* (L) */
    /* vCPUs and run state */
    KvmVcpu *vcpus;
    GMutex lock;
    GCond cond;           /* run state changed */
    GCond progress_cond;  /* a vCPU reported progress (broadcast only when waited on) */
    int progress_waiters; /* (L) */
    bool want_run;        /* (L) */
    bool quit;            /* (L) */
    bool state_ready;     /* (L) registers are valid: source, or incoming after load_state */
    GError *error;        /* (L) first fatal error; never cleared */
    int throttle_pct;     /* (L) */
    pthread_t throttle_thread;
    bool throttle_started;
} KvmGuest;

/* kvm_guest.c: rebuilds desc (after load_state adopted the source's workload). */
void kvm_guest_describe_update(KvmGuest *k);

static inline KvmGuest *kvm_guest_of(MbGuest *g)
{
    return (KvmGuest *)g;
}

/* ---- kvm_vm.c ---- */
int kvm_open_dev(GError **err);
/* Creates the VM, memory slots and vCPU fds for g->spec; false with a clear error. */
bool kvm_vm_create(KvmGuest *g, GError **err);
/* Copies the first-MiB image and sets every vCPU's initial registers (source guests). */
bool kvm_vm_load_program(KvmGuest *g, GError **err);
/* Unmaps and closes everything kvm_vm_create made (threads must be joined). */
void kvm_vm_destroy(KvmGuest *g);
/* Host address of guest-physical `gpa` in RAM, or NULL outside RAM. */
uint8_t *kvm_gpa_host(KvmGuest *g, uint64_t gpa);

/* ---- kvm_vcpu.c ---- */
bool kvm_vcpus_start(KvmGuest *g, GError **err); /* threads start parked */
void kvm_vcpus_stop(KvmGuest *g);                /* joins every thread */
void kvm_vcpus_run(KvmGuest *g);
void kvm_vcpus_pause(KvmGuest *g);
bool kvm_vcpus_running(KvmGuest *g);
void kvm_vcpus_set_throttle(KvmGuest *g, int pct);
/* Records the first fatal error (takes ownership of e) and stops every vCPU; call with
 * g->lock held. */
void kvm_guest_fail_locked(KvmGuest *g, GError *e);

/* ---- kvm_dirty.c ---- */
/* Resolves spec.dirty against the KVM capabilities; called before vCPUs exist. */
bool kvm_dirty_setup(KvmGuest *g, GError **err);
bool kvm_dirty_setup_vcpu(KvmGuest *g, KvmVcpu *c, GError **err);
void kvm_dirty_teardown_vcpu(KvmGuest *g, KvmVcpu *c);
bool kvm_dirty_start(KvmGuest *g, GError **err);
void kvm_dirty_stop(KvmGuest *g);
uint64_t kvm_dirty_sync(KvmGuest *g, uint64_t *const *bitmaps);
/* Ring mode: harvests every vCPU's ring into slots[].ring_acc and resets the rings. */
void kvm_dirty_harvest(KvmGuest *g);
const char *kvm_dirty_mode_name(KvmDirtyMode m);

/* ---- kvm_state.c ---- */
GBytes *kvm_state_save(KvmGuest *g);
bool kvm_state_load(KvmGuest *g, const uint8_t *data, size_t len, GError **err);

/* ---- kvm_verify.c ---- */
bool kvm_verify(KvmGuest *g, GError **err);
/* The random/hotspot page index of write number s of a vCPU (as guest.S computes it). */
uint64_t kvm_pick_page(const KvmRange *r, uint64_t s);

#endif
