/* mig_internal: the engine's private structures, shared by the engine's files only.
 *
 * Types only: the functions of each engine file are declared in that file's own header
 * (mig_source.h, mig_outgoing.h, ...), so that including this header never makes a file
 * depend on the whole engine (scripts/check-layering.py, docs/architecture.md).
 *
 * Ownership: one MigEngine per vm process owns capabilities, parameters, run state, one
 * outgoing (source) side and one incoming (destination) side.  The source and destination
 * sides each run their own thread while a migration is under way; QMP handlers run on the
 * main thread.  Cross-thread data is either atomic (states), guarded by a named mutex, or
 * published as a snapshot (statistics). */
#ifndef MIG_INTERNAL_H
#define MIG_INTERNAL_H

#include "chan.h"
#include "guest.h"
#include "mb_error.h"
#include "mig.h"
#include "mig_caps.h"
#include "mig_counters.h"
#include "mig_file.h"
#include "mig_params.h"
#include "mig_runstate.h"
#include "mig_sem.h"
#include "mig_state.h"
#include "qmp.h"
#include "schema.h"

#include <glib.h>
#include <json-c/json.h>
#include <stdatomic.h>

/* What query-migrate shows of the source side, published by the migration thread. */
typedef struct {
    MigCounters c;
    uint64_t total;            /* RAM bytes of blocks not ignored */
    uint64_t dirty_pages;      /* live migration bitmap count (-> remaining) */
    int64_t setup_time;        /* ms */
    int64_t total_time;        /* ms, final value once completed */
    int64_t downtime;          /* ms */
    int64_t expected_downtime; /* ms */
    double mbps;
    double pages_per_second;
    int throttle_pct;
    bool ram_valid;   /* the RAM part exists (setup done) */
    bool disk_active; /* block migration has disks to copy (QEMU's blk_mig_active) */
    uint64_t disk_transferred, disk_remaining, disk_total;
    int64_t now_ms; /* guest clock at publication (total-time while running) */
} MigPublished;

/* One dirty-bitmap sync (pass) of the source, in guest time (for reports). */
typedef struct {
    uint64_t pass;
    int64_t time_ms;          /* since migrate */
    uint64_t transferred;     /* ram.transferred at the sync */
    uint64_t remaining;       /* dirty bytes after the sync */
    uint64_t new_dirty_pages; /* pages newly dirtied since the previous sync */
    uint64_t dirty_pages_rate;
    int throttle_pct;
} MigPassRecord;

/* One point of the source's timeline, taken at the end of each >= 100 ms rate-limit
 * window of guest time (QEMU's bandwidth window), for reports and plots. */
typedef struct {
    int64_t time_ms;      /* since migrate */
    uint64_t transferred; /* ram.transferred */
    uint64_t remaining;   /* ram.remaining */
    double mbps;          /* bandwidth over the window */
    uint64_t dirty_rate;  /* bytes/s: dirty-pages-rate x page size */
    int throttle_pct;     /* cpu-throttle-percentage */
    uint64_t pass;        /* the pass in progress (dirty-sync-count) */
} MigSample;

/* The outgoing (source) side of the vm: what outlives one migration thread and what
 * query-migrate, cancel and the command handlers share with it.
 *
 * One owner: mig_outgoing.c.  Every field is written there only (and read there or through
 * its functions, mig_outgoing.h), so the rules below are enforced in one file:
 *   state              CAS transitions (mig_out_set_state) from the command handlers before
 *                      the thread starts, from the migration thread, and from cancel.
 *   lock               guards error, file, multifd, pub, passes; events that announce a
 *                      publication are emitted under it (mig_out_publish).
 *   live               incremented in place by the migration thread's RAM saver (through
 *                      mig_out_live) while it runs; reset only by mig_out_begin.
 *   everything else    written by the functions of mig_outgoing.h named after it. */
typedef struct MigOutgoing {
    _Atomic int state;
    GMutex lock;        /* error, file/multifd pointers, published stats, passes, samples */
    GCond wake;         /* wakes cancellable waits (rate limiter, pacing) */
    GError *error;      /* QEMU's s->error: shown as error-desc when failed */
    MigFile *file;      /* to_dst_file while the thread runs */
    Chan *pending_chan; /* connected synchronously (exec, fd) before the thread starts */
    Chan *handshaking;  /* in its TLS handshake (mig_out_attach_handshake) */
    ChanUri uri;
    MigPublished pub;
    int64_t start_time;           /* guest clock, ms */
    int64_t wall_start, wall_end; /* monotonic ns of migrate and of the end (reports only) */
    int64_t cpu_start, cpu_end;   /* process CPU ns at the same two moments (reports only) */
    bool must_remove_block_options;
    MigSem pause_sem;
    atomic_bool start_postcopy;
    atomic_bool closing;            /* the vm is shutting down: nothing waits for a recovery */
    bool resume_requested;          /* migrate resume=true for the paused thread (lock) */
    _Atomic uint64_t xbzrle_resize; /* new cache size for the running migration, or 0 */
    MigCounters live;
    struct MigMultifdSend *multifd; /* cancel shuts its channels down */
    GArray *passes;                 /* MigPassRecord */
    GArray *samples;                /* MigSample (the timeline) */
} MigOutgoing;

typedef struct MigIncoming {
    _Atomic int state;
    GThread *thread;
    GMutex lock; /* error, socket_address */
    GError *error;
    ChanListener *listener;
    Chan *pending_chan; /* exec/fd incoming channel */
    Chan *handshaking;  /* a channel in its TLS handshake, so that stopping can end it */
    MigFile *file;      /* the stream being loaded */
    json_object *socket_address;
    bool deferred; /* -incoming defer */
    bool started;  /* migrate-incoming succeeded once */
    char *guest_state_runstate;
    struct MigMultifdRecv *multifd; /* guarded by lock */
    bool stopping;                  /* the vm is shutting down (atomic) */
    struct MigPcDest *postcopy;     /* postcopy of the last incoming migration (lock) */
    bool colo;                      /* ENABLE_COLO was received: become a COLO secondary */
    int64_t load_cpu_ns;            /* process CPU from start to the end of the load (reports) */
    /* Postcopy recovery: migrate-recover was accepted since the last pause (QEMU's
     * postcopy_recover_triggered), and how many times it set up a new channel (lock); the
     * paused incoming thread waits on recover_cond for it (and for stopping). */
    atomic_bool recover_triggered;
    uint64_t recover_seq;
    GCond recover_cond;
} MigIncoming;

/* COLO (mig_colo_state.c owns it; the rules are there). */
typedef struct MigColo {
    GMutex lock;         /* everything below */
    GCond wake;          /* kicks, failover requests, shutdown */
    int mode;            /* MigColoMode */
    int last_mode;       /* MigColoMode of the last COLO (query-colo-status last-mode) */
    int failover;        /* MigFailoverStatus */
    int exit_reason;     /* MigColoExit of the last COLO exit */
    bool kick;           /* an immediate checkpoint was asked for */
    bool stopping;       /* the vm is shutting down */
    MigFile *file;       /* the COLO stream, shut down by a failover */
    Chan *rp;            /* the COLO return path, likewise */
    GArray *checkpoints; /* MigColoCheckpoint */
} MigColo;

struct MigEngine {
    QmpServer *qmp;
    const Schema *schema;
    MbGuest *guest;
    MigConfig cfg;
    bool v5;   /* 4.2+/5.0 behaviour (the schema has wait-unplug) */
    bool seed; /* the 4.0-dev seed (x-multifd) */
    MigCaps caps;
    MigParams params;

    /* Orders each state transition with its MIGRATION event: the compare-and-swap and the
     * emission happen under it, so two threads racing on one state machine (the migration
     * thread's setup -> active against a cancel's -> cancelling) cannot emit their events
     * in the opposite order of the swaps.  A leaf lock: nothing else is taken under it but
     * the QMP server's event queue. */
    GMutex state_lock;
    GMutex rs_lock;
    RunState runstate;
    bool autostart;

    struct MigScenario *scenario; /* --scenario, or NULL */
    GThread *source_thread;       /* mig_source.c: the running or finished migration thread */
    struct MigDiskLog *disk_log;  /* the guest's disk write log (NULL: no disk) */
    struct MigBitmaps *bitmaps;   /* named dirty bitmaps of the disks (mig_bitmaps.h) */
    const char **block_names;     /* the guest's RAM block names and sizes, by index */
    uint64_t *block_sizes;
    MigOutgoing out;
    MigIncoming in;
    MigColo colo;
    /* mig_objects.c: user-created objects by id (tls-creds-x509, authz-simple); the lock
     * because the migration threads look them up while QMP adds and deletes. */
    GMutex obj_lock;
    GHashTable *objects;
};

static inline bool mig_cap(MigEngine *e, MigCap cap)
{
    return mig_caps_get(&e->caps, cap);
}

/* Whether this vm can be a postcopy destination (QEMU: userfaultfd on the host): its guest
 * must be able to run with pages missing (MbGuestOps.run_writes; the sim guest can, the KVM
 * guest cannot yet). */
static inline bool mig_postcopy_host(MigEngine *e)
{
    return MIG_POSTCOPY_BUILT && e->guest->ops->run_writes != NULL;
}

#endif
