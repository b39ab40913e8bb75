/* mig_pc_dest: the destination's side of postcopy (QEMU's postcopy-ram.c, incoming half).
 *
 * Created when POSTCOPY_ADVISE arrives.  DISCARD marks the pages whose copy here is stale or
 * missing; from RUN on the guest runs while those pages arrive: one thread ("postcopy
 * vCPUs") lets guest time pass and performs the guest's writes (MbGuestOps.run_writes), and
 * a write to a page that has not arrived blocks that thread until the loader has stored it.
 * The first touch of a missing page sends REQ_PAGES(_ID) on the return path, and the source
 * sends that page ahead of its background pass.
 *
 * Timing is the link model's (mig_pc_model.h): with a sim guest, when a page arrives and how
 * long a vCPU waits are virtual and deterministic, whatever the real socket did; the real
 * wait only keeps a write from landing before its page.  Blocktime and request latencies
 * are kept by mig_pc_stats.
 *
 * Threads: the loader (incoming thread) calls discard/listen/run/received/stream_end; the
 * vCPU thread runs between run and join; query-migrate reads the results after join. */
#ifndef MIG_PC_DEST_H
#define MIG_PC_DEST_H

#include "mig_internal.h"

typedef struct MigPcDest MigPcDest;

/* QEMU's PostcopyState, incoming side. */
typedef enum {
    MIG_PCD_NONE,
    MIG_PCD_ADVISE,
    MIG_PCD_DISCARD,
    MIG_PCD_LISTENING,
    MIG_PCD_RUNNING,
    MIG_PCD_END,
} MigPcDestState;

MigPcDest *mig_pc_dest_new(MigEngine *e);
/* Joins the vCPU thread (aborting its waits) and frees everything. */
void mig_pc_dest_free(MigPcDest *d);

MigPcDestState mig_pc_dest_state(MigPcDest *d);
void mig_pc_dest_set_state(MigPcDest *d, MigPcDestState s);
/* Marks `npages` pages of `block` from `page` on as missing; false when out of range. */
bool mig_pc_dest_discard(MigPcDest *d, unsigned block, uint64_t page, uint64_t npages);
/* The source's postcopy send rate (bytes/s, 0 = the link's), in force from guest time `at`
 * (ns, the source's clock when it changed; the link model starts the records from there at
 * that rate, whether this destination's guest is already past it or not there yet).
 * `at` < 0: from the destination's current guest time (a command without a time). */
void mig_pc_dest_set_rate(MigPcDest *d, uint64_t rate, int64_t at);
/* The loader stored a page: a vCPU waiting for it goes on. */
void mig_pc_dest_received(MigPcDest *d, unsigned block, uint64_t page);
/* RUN: starts the vCPU thread (when the guest runs) writing requests to `rp` (borrowed; it
 * must stay open until mig_pc_dest_join). */
bool mig_pc_dest_run(MigPcDest *d, Chan *rp, GError **err);
/* The stream ended (ok: EOF; else broken): waits for pages that can no longer come are
 * released when `ok` is false. */
void mig_pc_dest_stream_end(MigPcDest *d, bool ok);
/* Waits for the vCPU thread: it ends once the model has delivered every page. */
void mig_pc_dest_join(MigPcDest *d);

/* ---- postcopy recovery (QEMU 4.0+) ----
 * The stream broke while the guest runs here: the return path is gone (rp becomes NULL;
 * what the vCPU thread would send meanwhile is dropped).  The vCPU thread goes on, and a
 * write to a missing page waits until the page arrives after the recovery. */
void mig_pc_dest_pause(MigPcDest *d);
/* Writes on `rp` (the new return path) RECV_BITMAP for `block` and its received bitmap
 * (every page not missing here), QEMU's migrate_send_rp_recv_bitmap. */
bool mig_pc_dest_send_received(MigPcDest *d, Chan *rp, unsigned block, GError **err);
/* POSTCOPY_RESUME: requests go out on `rp` (borrowed, open until join or the next pause)
 * again; sends RESUME_ACK(1), then what the source needs to go on from the records that
 * arrived: the claims of the later records, the requests still waiting, the horizon. */
void mig_pc_dest_resume(MigPcDest *d, Chan *rp);

/* For query-migrate (completed, postcopy-blocktime on): false when blocktime was not
 * tracked.  *vcpu_ms is a new array of nvcpus entries. */
bool mig_pc_dest_blocktime(MigPcDest *d, uint32_t *total_ms, GArray **vcpu_ms);
/* The report's "postcopy" object (new), after join. */
json_object *mig_pc_dest_report(MigPcDest *d);

#endif
