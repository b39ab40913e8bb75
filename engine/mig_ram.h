/* mig_ram: the "ram" savevm handler, source side (QEMU's ram.c precopy path).
 *
 * Keeps one migration bitmap per RAM block, finds dirty pages in QEMU's scan order (bulk
 * stage first, then resuming where the previous round stopped), sends each target page as
 * a zero, full (or xbzrle/compressed/multifd) record, syncs the guest's dirty log and keeps
 * QEMU's counters: transferred, duplicate, normal, dirty-sync-count, dirty-pages-rate, and
 * the auto-converge trigger.
 *
 * RAM saving is driven: a thread (mig_source.c, or a unit test) calls setup, iterate and
 * complete, and RAM saving asks that driver for everything outside page sending through
 * the MigRamOps table below (rate-limit waits, guest time, link accounting, publication,
 * pass boundaries, throttling), in the style of SQLite's VFS or libuv's callbacks.  It sees
 * no engine structure, emits no event and runs no scenario itself: those belong to the
 * driver, which learns of each point through a callback (docs/architecture.md, layers). */
#ifndef MIG_RAM_H
#define MIG_RAM_H

#include "guest.h"
#include "mig_caps.h"
#include "mig_counters.h"
#include "mig_file.h"
#include "mig_params.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct MigRam MigRam;
typedef struct MigMultifdSend MigMultifdSend;

/* A pass boundary (QEMU's migration_bitmap_sync), as RAM saving tells its driver. */
typedef struct {
    uint64_t pass;            /* dirty-sync-count after this sync (1 for the first) */
    int64_t time_ms;          /* guest clock at the end of the sync, ms */
    uint64_t new_dirty_pages; /* pages newly dirtied since the previous sync */
    int throttle_pct;         /* auto-converge throttle in force (0 = none) */
} MigRamPass;

/* What RAM saving needs from its driver.  Every method is called on the thread that called
 * into RAM saving (mig_ram_save_*), with `opaque` from MigRamConfig; none may call back into
 * the same MigRam except where a method says so.  All are required (non-NULL) but
 * block_bulk_active. */
typedef struct MigRamOps {
    /* Between two target pages (QEMU's migration_rate_limit): the driver updates its
     * bandwidth window, may run time-based actions and apply a live XBZRLE resize
     * (mig_ram_xbzrle_resize is allowed here), and waits for the next window while the
     * stream's rate limit is used up.  Called once per target page sent, including during
     * completion (where the stream is unlimited). */
    void (*rate_limit)(void *opaque);
    /* Lets guest time pass until t_ns (>= now): compression threads are busy until then. */
    void (*wait_until)(void *opaque, int64_t t_ns);
    /* `bytes` left through the multifd channels (not the main stream) and must be charged to
     * the link like stream bytes are. */
    void (*charge_link)(void *opaque, size_t bytes);
    /* The counters changed enough to be shown (end of an iterate round): publish them. */
    void (*publish)(void *opaque);
    /* A pass boundary: the dirty log was synced and the counters (dirty_sync_count,
     * remaining, dirty_pages_rate) are updated.  The driver records, publishes and announces
     * it; it may change parameters, stop or cancel, but must not call into this MigRam. */
    void (*pass)(void *opaque, const MigRamPass *p);
    /* Auto-converge decided that the guest must be throttled to `pct` percent (1..99). */
    void (*throttle)(void *opaque, int pct);
    /* Optional (postcopy): called before postcopy page record number `record` (0-based);
     * true with the requested page that record must carry (served ahead of the background
     * pass), false for the next background page.  The driver may block until it knows. */
    bool (*next_request)(void *opaque, uint64_t record, unsigned *block, uint64_t *page);
    /* Optional (NULL: no block migration): whether block migration is still in its bulk
     * phase, during which auto-converge stays off as in QEMU (RAM seems to make no
     * progress while the disks take the link). */
    bool (*block_bulk_active)(void *opaque);
} MigRamOps;

typedef struct {
    MbGuest *guest;        /* borrowed; its dirty log is started by setup, stopped by free */
    MigFile *file;         /* the outgoing stream (borrowed) */
    MigCounters *counters; /* incremented in place (borrowed) */
    const MigCaps *caps;   /* read live (borrowed) */
    MigParams *params;     /* read live (locked reads): throttle, xbzrle, compress */
    bool v5;               /* QEMU 4.2+/5.0 rules (multifd bytes count against the limit...) */
    const MigRamOps *ops;
    void *opaque;
} MigRamConfig;

/* A RAM saver with every page of every block dirty.  Copies `cfg` (the pointers in it are
 * borrowed and must outlive the saver). */
MigRam *mig_ram_new(const MigRamConfig *cfg);
/* Stops the guest's dirty log and frees everything the saver owns.  NULL is a no-op. */
void mig_ram_free(MigRam *r);

/* Allocates the XBZRLE cache when the capability is on (xbzrle-cache-size bytes). */
bool mig_ram_xbzrle_setup(MigRam *r, GError **err);
/* Sends pages through `m` (borrowed: the caller frees it after mig_ram_free) when the
 * multifd capability is on. */
void mig_ram_set_multifd(MigRam *r, MigMultifdSend *m);
/* Starts the compression threads when the compress capability is on. */
void mig_ram_compress_setup(MigRam *r);
/* Resizes a live XBZRLE cache (xbzrle-cache-size changed during the migration). */
bool mig_ram_xbzrle_resize(MigRam *r, uint64_t bytes, GError **err);

/* START section payload: dirty log on, first sync (pass 1), block list, EOS.  The caller
 * writes the section header/footer.  A dirty-log error is latched on the stream. */
void mig_ram_save_setup(MigRam *r);
/* Pending bytes; syncs first when the remainder is below `threshold` (QEMU's
 * ram_save_pending). */
uint64_t mig_ram_pending(MigRam *r, uint64_t threshold);
/* One PART section payload: pages until rate-limited / 50 ms / nothing dirty, then EOS,
 * then ops->publish.  Returns 1 when a full scan found nothing dirty, 0 otherwise, -1 on
 * stream error. */
int mig_ram_save_iterate(MigRam *r);
/* The next page record names its block instead of using CONTINUE: a stream a new loader
 * reads from here on (a COLO checkpoint) must not refer to the block of an earlier one. */
void mig_ram_name_next_block(MigRam *r);
/* END section payload: final sync and every remaining dirty page, EOS.  May be called
 * again (COLO checkpoints): each call syncs and sends what was dirtied since. */
void mig_ram_save_complete(MigRam *r);
/* The switch to postcopy (QEMU's ram_postcopy_send_discard_bitmap): one last sync (a
 * pass), then `discard` hears every range of pages still dirty (or never sent), block by
 * block in scan order; the scan restarts at the first block.  From now on pages go out
 * whole (no XBZRLE, compression or multifd), each record naming its block, requested
 * pages (ops->next_request) first. */
void mig_ram_postcopy_start(MigRam *r,
                            void (*discard)(void *opaque, unsigned block, uint64_t page,
                                            uint64_t npages),
                            void *opaque);
/* Postcopy recovery: the stream goes on in the new `f` (borrowed, like MigRamConfig.file). */
void mig_ram_set_file(MigRam *r, MigFile *f);
/* Postcopy recovery (QEMU's ram_dirty_bitmap_reload and ram_state_resume_prepare):
 * `received[b]` is block b's bitmap of pages the destination has ((npages + 63) / 64 words,
 * page i in bit i%64 of word i/64; ignored for x-ignore-shared blocks).  Every page it
 * lacks becomes dirty again (nothing else is), the scan restarts at the first block and the
 * record count becomes the records the destination received, which is returned. */
uint64_t mig_ram_postcopy_resume(MigRam *r, uint64_t *const *received);
/* After mig_ram_postcopy_resume: the background pass goes on after `page` of `block` (the
 * page of the last record the destination received, when a sim destination's link model
 * settled the order past the break: MB_CURSOR), instead of at the first block.  Ignored
 * when out of range. */
void mig_ram_postcopy_cursor(MigRam *r, unsigned block, uint64_t page);
/* Page records sent since mig_ram_postcopy_start (0 before). */
uint64_t mig_ram_postcopy_records(MigRam *r);
/* The live number of dirty pages (-> remaining). */
uint64_t mig_ram_dirty_pages(MigRam *r);
/* RAM bytes of the blocks that are migrated (-> total). */
uint64_t mig_ram_total(MigRam *r);
/* normal + duplicate + compressed + xbzrle pages (QEMU's ram_get_total_transferred_pages). */
uint64_t mig_ram_transferred_pages(MigRam *r);

#endif
