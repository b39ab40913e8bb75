/* guest: what the migration engine needs from a guest, and nothing more.
 *
 * Two implementations exist: the deterministic simulator (sim/) and a real KVM virtual
 * machine (kvm/).  The engine never knows which one it drives.  In particular it reads time
 * only through the guest's clock: virtual in sim (so every figure is a function of trace,
 * parameters and seed), CLOCK_MONOTONIC for KVM.
 *
 * Memory is a list of RAM blocks, each an array of target pages (MB_TARGET_PAGE_SIZE).
 * Page numbers are block-relative.  Dirty tracking reports target pages.
 *
 * Threads: the engine calls the memory, dirty-log, clock and state operations from one
 * migration thread at a time.  run/pause/is_running/set_throttle/progress may be called
 * from any thread, concurrently with the former; implementations lock accordingly. */
#ifndef GUEST_H
#define GUEST_H

#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mb_util.h"

#define MB_TARGET_PAGE_BITS 12
#define MB_TARGET_PAGE_SIZE (1u << MB_TARGET_PAGE_BITS)
#define MB_BLOCK_NAME_MAX   255 /* the stream stores the idstr length in one byte */

typedef struct MbGuest MbGuest;

typedef struct {
    char name[MB_BLOCK_NAME_MAX + 1]; /* idstr, e.g. "pc.ram" */
    uint64_t size;                    /* used_length in bytes, a multiple of the page size */
    uint32_t host_page_size;          /* backing page size (4096, or 2 MiB for huge pages) */
    bool shared;                      /* shared memory: skipped with x-ignore-shared */
    uint64_t gpa;                     /* guest-physical base (informational) */
} MbRamBlock;

/* A disk of the guest (QEMU: a writable drive), migrated by block migration (blk/inc).
 * Addressed in target-page units (MB_TARGET_PAGE_SIZE bytes). */
typedef struct {
    char name[MB_BLOCK_NAME_MAX + 1]; /* device name, as QEMU's drive id ("drive0") */
    uint64_t size;                    /* bytes, a multiple of MB_TARGET_PAGE_SIZE */
} MbDisk;

typedef struct MbGuestOps {
    /* ---- clock ---- */
    /* Current guest time in ns (virtual in sim). */
    int64_t (*now)(MbGuest *g);
    /* Lets time pass until `t_ns` (>= now): sim jumps its virtual clock (the workload is
     * replayed lazily up to the new time); KVM sleeps.  Returns at once if t_ns <= now. */
    void (*wait_until)(MbGuest *g, int64_t t_ns);

    /* ---- run state ---- */
    void (*run)(MbGuest *g);   /* vCPUs run (vm_start) */
    void (*pause)(MbGuest *g); /* vCPUs stop; memory stays readable */
    bool (*is_running)(MbGuest *g);
    /* Auto-converge: vCPUs spend `pct`% (0..99) of their time asleep. */
    void (*set_throttle)(MbGuest *g, int pct);

    /* ---- dirty tracking ---- */
    bool (*dirty_log_start)(MbGuest *g, GError **err);
    void (*dirty_log_stop)(MbGuest *g);
    /* ORs the target pages written since the previous sync (or since dirty_log_start) into
     * bitmaps[i] (one bitmap per block, bit = block-relative target page) and clears the
     * guest's own log.  Returns the number of bits newly set in `bitmaps`. */
    uint64_t (*dirty_log_sync)(MbGuest *g, uint64_t *const *bitmaps);

    /* ---- memory ---- */
    /* The bytes of one target page.  Returns a pointer valid until the next call on this
     * thread: either into guest memory (KVM, incoming sim) or into `scratch`
     * (MB_TARGET_PAGE_SIZE bytes) where sim generates the contents. */
    const uint8_t *(*page_read)(MbGuest *g, unsigned block, uint64_t page, uint8_t *scratch);
    /* Writable host memory of one target page of an incoming guest (destination), for
     * what must work on a page in place (XBZRLE deltas, compression threads); NULL for
     * guests that cannot receive or hold no memory (a sim destination in store=model). */
    uint8_t *(*page_host)(MbGuest *g, unsigned block, uint64_t page);
    /* Takes one received page of an incoming guest: MB_TARGET_PAGE_SIZE bytes, or NULL
     * for an all-zero page.  Called from the incoming thread and from multifd receive
     * threads at once, for distinct pages.  False when the guest cannot take it.  Optional:
     * without it the engine copies into page_host (mb_guest_page_store). */
    bool (*page_store)(MbGuest *g, unsigned block, uint64_t page, const uint8_t *data);

    /* ---- disks (required when ndisks > 0, else may be NULL) ---- */
    /* ORs the pages of disk `disk` written since the previous call (or since the guest was
     * created) into `bitmap` (bit = disk page) and clears the guest's own disk log.
     * Returns the number of bits newly set. */
    uint64_t (*disk_log_sync)(MbGuest *g, unsigned disk, uint64_t *bitmap);
    /* Whether a disk page differs from the disk's base image (was written since): what
     * QEMU's bdrv_is_allocated says of an overlay on a shared base (block-incremental). */
    bool (*disk_allocated)(MbGuest *g, unsigned disk, uint64_t page);
    /* The bytes of one disk page, like page_read. */
    const uint8_t *(*disk_read)(MbGuest *g, unsigned disk, uint64_t page, uint8_t *scratch);
    /* Incoming guests: writes one received disk page (NULL: zeroes).  False when the guest
     * cannot take it. */
    bool (*disk_write)(MbGuest *g, unsigned disk, uint64_t page, const uint8_t *data);

    /* ---- vCPU and device state ---- */
    /* A blob with everything but RAM (registers, sim cursor, ...), versioned by the
     * implementation.  New GBytes. */
    GBytes *(*save_state)(MbGuest *g);
    /* Loads a blob produced by save_state on the source.  False with a clear error when it
     * is malformed or does not match this guest (different trace, vCPU count, ...). */
    bool (*load_state)(MbGuest *g, const uint8_t *data, size_t len, GError **err);
    /* Destination, after RAM and state were loaded and before the guest runs: checks every
     * page (and every disk page) against what the source had at switchover (sim: the content
     * model; KVM: the marker pattern).  False with an error naming the first bad page and the
     * count. */
    bool (*verify)(MbGuest *g, GError **err);
    /* Like verify, but the guest stays an incoming guest that keeps taking pages: a COLO
     * secondary checks memory at every checkpoint this way and calls verify only when it
     * takes over.  Optional (NULL: the guest cannot be a COLO secondary). */
    bool (*check)(MbGuest *g, GError **err);

    /* ---- virtio-net failover pair (QEMU 4.2+; optional, NULL when the guest has none) ----
     * A primary device (a VFIO NIC) the guest must unplug before the migration and gets
     * back afterwards.  Called from the migration threads. */
    /* The primary's device id, or NULL when this guest has no failover pair. */
    const char *(*failover_primary)(MbGuest *g);
    /* Asks the guest to unplug the primary (the hot-unplug request of virtio-net). */
    void (*failover_unplug)(MbGuest *g);
    /* Whether a requested unplug has not finished yet (guest time decides). */
    bool (*failover_unplug_pending)(MbGuest *g);
    /* Plugs the primary (back): a failed or cancelled source, a completed destination. */
    void (*failover_plug)(MbGuest *g);
    /* Whether the primary is plugged and no unplug of it is under way. */
    bool (*failover_plugged)(MbGuest *g);

    /* ---- description ---- */
    /* A short one-line description for reports ("sim hotspot 1.00 GiB seed=1"). */
    const char *(*describe)(MbGuest *g);
    /* Extra facts for run reports (new object; may be NULL). */
    json_object *(*info)(MbGuest *g);

    void (*free)(MbGuest *g);
} MbGuestOps;

/* Common head of every guest; implementations embed it first. */
struct MbGuest {
    const MbGuestOps *ops;
    const char *kind;  /* "sim" or "kvm" */
    bool virtual_time; /* true for sim: now()/wait_until() are virtual */
    unsigned nblocks;
    MbRamBlock *blocks; /* owned by the implementation */
    unsigned ndisks;    /* 0: no disk (block migration then has nothing to copy) */
    MbDisk *disks;      /* owned by the implementation */
};

/* Convenience wrappers, so callers read like plain functions. */
static inline int64_t mb_guest_now(MbGuest *g)
{
    return g->ops->now(g);
}
static inline void mb_guest_wait_until(MbGuest *g, int64_t t)
{
    g->ops->wait_until(g, t);
}
static inline uint64_t mb_guest_ram_size(const MbGuest *g)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < g->nblocks; i++)
        n += g->blocks[i].size;
    return n;
}
static inline uint64_t mb_guest_block_pages(const MbGuest *g, unsigned b)
{
    return g->blocks[b].size / MB_TARGET_PAGE_SIZE;
}
/* Places a received page (data NULL: an all-zero page) through page_store, or into
 * page_host memory.  A zero page over memory that is already zero is not written, so a
 * never-touched page stays unallocated (reading it may still allocate on some kernels:
 * guests that can, implement page_store and track what they received). */
static inline bool mb_guest_page_store(MbGuest *g, unsigned block, uint64_t page,
                                       const uint8_t *data)
{
    if (g->ops->page_store)
        return g->ops->page_store(g, block, page, data);
    uint8_t *host = g->ops->page_host ? g->ops->page_host(g, block, page) : NULL;
    if (!host)
        return false;
    if (data)
        memcpy(host, data, MB_TARGET_PAGE_SIZE);
    else if (!mb_buffer_is_zero(host, MB_TARGET_PAGE_SIZE))
        memset(host, 0, MB_TARGET_PAGE_SIZE);
    return true;
}
static inline uint64_t mb_guest_disk_pages(const MbGuest *g, unsigned d)
{
    return g->disks[d].size / MB_TARGET_PAGE_SIZE;
}
static inline void mb_guest_free(MbGuest *g)
{
    if (g)
        g->ops->free(g);
}

#endif
