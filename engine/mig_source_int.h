/* mig_source_int: the outgoing migration thread's state (MigSource), private to its files.
 *
 * mig_source.c is the migration thread (connect, setup, the iterate loop, completion, the
 * end); mig_source_pc.c is its return path and its postcopy (the switch, the pause on a
 * broken stream and the recovery); mig_source_io.c the clock, link, publication and stream
 * helpers both use (layered: mig_source -> mig_source_pc -> mig_source_io).  All work on
 * the thread's MigSource; everything here runs on the migration thread unless it says
 * otherwise. */
#ifndef MIG_SOURCE_INT_H
#define MIG_SOURCE_INT_H

#include "mig_block.h"
#include "mig_internal.h"
#include "mig_multifd.h"
#include "mig_pc_queue.h"
#include "mig_ram.h"

#define BUFFER_DELAY_MS  100 /* rate-limit window */
#define XFER_LIMIT_RATIO (1000 / BUFFER_DELAY_MS)

/* Per-migration private state of the thread. */
typedef struct MigSource {
    MigEngine *e;
    MigFile *f;
    MigRam *ram;
    MigBlock *block;         /* when the block capability is on; owned */
    bool bitmaps;            /* the dirty-bitmaps capability: the "dirty-bitmap" section */
    unsigned nbitmaps;       /* bitmaps it announced */
    MigMultifdSend *multifd; /* when the multifd capability is on; owned */
    Chan *rp;                /* return path, read by rp_thread */
    GThread *rp_thread;
    atomic_bool rp_error;
    atomic_bool rp_shut;     /* SHUT received */
    int64_t iteration_start; /* ms */
    uint64_t iteration_initial_bytes;
    uint64_t iteration_initial_pages;
    uint64_t threshold_size;
    int64_t setup_start;
    int64_t downtime_start;
    int64_t pace_v0, pace_w0;
    bool vm_was_running;
    uint64_t pass;         /* the pass being announced (announce_pass) */
    int throttle_pct;      /* the throttle last applied (timeline) */
    MigPcQueue *pcq;       /* postcopy page requests (postcopy-ram on) */
    int64_t pc_downtime;   /* ms, postcopy: from the stop to the package sent; -1 = precopy */
    int rp_last_block;     /* block of the previous REQ_PAGES (return-path thread) */
    uint64_t pc_rate;      /* the postcopy rate the destination was last told (bytes/s) */
    bool pc_rate_live;     /* postcopy started: changes of the rate are noted (pc_rate_note) */
    uint64_t pc_rate_seen; /* the rate this thread last saw, and its clock then (ns) */
    int64_t pc_rate_at;
    uint64_t pc_records; /* postcopy records in all: one per page missing at the switch */
    /* the discard list being built (postcopy_start) */
    int discard_block;
    uint8_t discard_buf[3 + 256 + 12 * 16];
    size_t discard_len;
    unsigned discard_n;
    /* postcopy recovery */
    uint64_t pos_base; /* stream bytes of the channels before the current one */
    GMutex rb_lock;    /* rb_*, and the wake-ups of the resume handshake */
    GCond rb_cond;
    uint64_t **rb_received; /* per block: the destination's received bitmap */
    bool *rb_have;          /* per block: it arrived */
    unsigned rb_got;
    bool rb_cursor;           /* MB_CURSOR arrived: the pass goes on after ... */
    unsigned rb_cursor_block; /* ... this page */
    uint64_t rb_cursor_page;
} MigSource;

#endif
