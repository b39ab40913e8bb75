/* mig_internal: the engine's private structures, shared by the engine's files only.
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
#include "mig_file.h"
#include "mig_params.h"
#include "mig_runstate.h"
#include "mig_state.h"
#include "qmp.h"
#include "schema.h"

#include <glib.h>
#include <json-c/json.h>
#include <stdatomic.h>

/* A counting semaphore (QEMU's QemuSemaphore) for pause-before-switchover. */
typedef struct {
    GMutex lock;
    GCond cond;
    int count;
} MigSem;

void mig_sem_init(MigSem *s);
void mig_sem_clear(MigSem *s);
void mig_sem_post(MigSem *s);
void mig_sem_wait(MigSem *s);
/* Takes a post if one is pending; never blocks. */
bool mig_sem_trywait(MigSem *s);

/* QEMU's ram_counters, xbzrle_counters and compression_counters. */
typedef struct {
    uint64_t transferred, duplicate, normal, dirty_sync_count, postcopy_requests;
    uint64_t multifd_bytes, dirty_pages_rate, remaining;
    uint64_t xbzrle_bytes, xbzrle_pages, xbzrle_cache_miss, xbzrle_overflow;
    double xbzrle_cache_miss_rate;
    uint64_t compress_pages, compress_busy, compress_size;
    double compress_busy_rate, compress_rate;
} MigCounters;

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
    bool ram_valid; /* the RAM part exists (setup done) */
    int64_t now_ms; /* guest clock at publication (total-time while running) */
} MigPublished;

typedef struct MigOutgoing {
    _Atomic int state;
    GThread *thread;
    GMutex lock;           /* error, chan/file pointers, published stats */
    GCond wake;            /* wakes cancellable waits (rate limiter, pacing) */
    struct MigSource *src; /* the running thread's state, NULL when idle */
    GError *error;         /* QEMU's s->error: shown as error-desc when failed */
    MigFile *file;         /* to_dst_file while the thread runs */
    Chan *pending_chan;    /* connected synchronously (exec, fd) before the thread starts */
    ChanUri uri;
    MigPublished pub;
    int64_t start_time;           /* guest clock, ms */
    int64_t wall_start, wall_end; /* monotonic ns of migrate and of the end (reports only) */
    bool vm_was_running;
    bool must_remove_block_options;
    MigSem pause_sem;
    atomic_bool start_postcopy;
    _Atomic uint64_t xbzrle_resize; /* new cache size for the running migration, or 0 */
    /* Owned by the migration thread while it runs. */
    MigCounters live;
    struct MigRam *ram;
    struct MigMultifdSend *multifd; /* guarded by lock: cancel shuts its channels down */
    GArray *passes;                 /* MigPassRecord, guarded by lock */
} MigOutgoing;

typedef struct MigIncoming {
    _Atomic int state;
    GThread *thread;
    GMutex lock; /* error, socket_address */
    GError *error;
    ChanListener *listener;
    Chan *pending_chan; /* exec/fd incoming channel */
    MigFile *file;      /* the stream being loaded */
    json_object *socket_address;
    bool deferred; /* -incoming defer */
    bool started;  /* migrate-incoming succeeded once */
    char *guest_state_runstate;
    struct MigMultifdRecv *multifd; /* guarded by lock */
    bool stopping;                  /* the vm is shutting down (atomic) */
} MigIncoming;

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
    const char **block_names;     /* the guest's RAM block names and sizes, by index */
    uint64_t *block_sizes;
    MigOutgoing out;
    MigIncoming in;
};

static inline bool mig_cap(MigEngine *e, MigCap cap)
{
    return mig_caps_get(&e->caps, cap);
}

/* mig_error: sets the sticky source-side error (first one wins, QEMU's migrate_set_error). */
void mig_out_set_error(MigEngine *e, const GError *err);
void mig_in_set_error(MigEngine *e, const GError *err);

/* mig_engine.c: the multifd settings of this vm (parameters, UUID, RAM blocks). */
struct MigMultifdConfig;
void mig_multifd_config(MigEngine *e, struct MigMultifdConfig *cfg);

/* mig_cmds.c: undoes blk/inc options of `migrate` when the migration ends. */
void mig_block_options_undo(MigEngine *e);

/* mig_cmds.c: migrate-set-parameters semantics (validated args) with live effects. */
bool mig_apply_params(MigEngine *e, json_object *params, GError **err);
bool mig_apply_one_param(MigEngine *e, const char *name, json_object *value, GError **err);

/* mig_source.c */
bool mig_source_start(MigEngine *e, GError **err);
void mig_source_cancel(MigEngine *e);
void mig_source_join(MigEngine *e);

/* mig_dest.c */
bool mig_dest_start(MigEngine *e, const char *uri, int fd, GError **err);
void mig_dest_stop(MigEngine *e);

/* mig_query.c */
/* The MigrationInfo QEMU's query-migrate returns.  With `req` (a QMP request), the events
 * announcing what the reply shows reach the client before the reply (and no later event
 * does): the mark is taken under the lock the source publishes and announces under. */
json_object *mig_query_migrate(MigEngine *e, QmpRequest *req);

/* mig_cmds.c */
void mig_cmds_register(MigEngine *e);

#endif
