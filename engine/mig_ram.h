/* mig_ram: the "ram" savevm handler, source side (QEMU's ram.c precopy path).
 *
 * Keeps one migration bitmap per RAM block, finds dirty pages in QEMU's scan order (bulk
 * stage first, then resuming where the previous round stopped), sends each target page as
 * a zero, full (or later xbzrle/compressed/multifd) record, syncs the guest's dirty log
 * and keeps QEMU's counters: transferred, duplicate, normal, dirty-sync-count,
 * dirty-pages-rate, and the auto-converge trigger. */
#ifndef MIG_RAM_H
#define MIG_RAM_H

#include "mig_internal.h"

typedef struct MigRam MigRam;

/* `f` is the outgoing stream; counters go to e->out.live. */
MigRam *mig_ram_new(MigEngine *e, MigFile *f);
void mig_ram_free(MigRam *r);

/* Allocates the XBZRLE cache when the capability is on (xbzrle-cache-size bytes). */
bool mig_ram_xbzrle_setup(MigRam *r, GError **err);
/* Opens the multifd channels when the multifd capability is on. */
bool mig_ram_multifd_setup(MigRam *r, GError **err);
/* Starts the compression threads when the compress capability is on. */
void mig_ram_compress_setup(MigRam *r);
/* Resizes a live XBZRLE cache (xbzrle-cache-size changed during the migration). */
bool mig_ram_xbzrle_resize(MigRam *r, uint64_t bytes, GError **err);

/* START section payload: bitmaps all dirty, dirty log on, first sync (pass 1), block list,
 * EOS.  The caller writes the section header/footer. */
void mig_ram_save_setup(MigRam *r);
/* Pending bytes; syncs first when the remainder is below `threshold` (QEMU's
 * ram_save_pending). */
uint64_t mig_ram_pending(MigRam *r, uint64_t threshold);
/* One PART section payload: pages until rate-limited / 50 ms / nothing dirty, then EOS.
 * Returns 1 when a full scan found nothing dirty, 0 otherwise, -1 on stream error. */
int mig_ram_save_iterate(MigRam *r);
/* END section payload: final sync and every remaining dirty page, unthrottled, EOS. */
void mig_ram_save_complete(MigRam *r);
/* The live number of dirty pages (-> remaining). */
uint64_t mig_ram_dirty_pages(MigRam *r);
/* RAM bytes of the blocks that are migrated (-> total). */
uint64_t mig_ram_total(MigRam *r);
/* normal + duplicate + compressed + xbzrle pages (QEMU's ram_get_total_transferred_pages). */
uint64_t mig_ram_transferred_pages(MigRam *r);

/* Provided by mig_source.c: QEMU's migration_rate_limit(), called between target pages.
 * Returns true when an urgent request broke the wait. */
bool mig_source_rate_limit(MigEngine *e);
/* Provided by mig_source.c: lets guest time pass (sim) or sleeps (KVM), cancellable. */
void mig_source_wait_until(MigEngine *e, int64_t t_ns);
/* Provided by mig_source.c: bytes sent outside the main stream cross the sim link too. */
void mig_source_charge_link(MigEngine *e, size_t bytes);
/* Provided by mig_source.c: publishes the live counters for query-migrate (the _locked
 * form with e->out.lock held, to announce what was published in the same step). */
void mig_source_publish(MigEngine *e);
void mig_source_publish_locked(MigEngine *e);

/* ---- destination side (mig_ram_load.c) ---- */
typedef struct MigRamLoad MigRamLoad;
MigRamLoad *mig_ram_load_new(MigEngine *e);
void mig_ram_load_free(MigRamLoad *l);
/* Loads records up to and including EOS.  False with err (QEMU's texts) on a bad record. */
bool mig_ram_load(MigRamLoad *l, MigFile *f, uint32_t version, GError **err);

#endif
