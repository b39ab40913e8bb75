/* mig_outgoing: the one owner of the outgoing side's state (MigOutgoing, mig_internal.h).
 *
 * The source side's state is shared by the command handlers (migrate, cancel, continue,
 * set-parameters), the scenario actions, query-migrate, the reports and the migration
 * thread.  Each used to write the fields it needed; now only this file writes them, so the
 * locking rules, QEMU's per-migration reset (migrate_init) and what cancel shuts down live
 * in one place, and a new path (postcopy, TLS, block, COLO) adds a function here instead of
 * another writer.  This file is near the bottom of the engine: it calls no other engine
 * module but the state machine and the stream (docs/architecture.md, layers).
 *
 * Threads: every function may be called from any thread unless it says otherwise. */
#ifndef MIG_OUTGOING_H
#define MIG_OUTGOING_H

#include "mig_internal.h"

/* ---- lifecycle (mig_engine.c) ---- */
/* Initialises e->out: status none, no passes. */
void mig_out_init(MigEngine *e);
/* Frees what e->out holds.  The migration thread must have been joined. */
void mig_out_clear(MigEngine *e);

/* QEMU's migrate_init, for a new migration (the previous thread joined): forgets the last
 * error, the published figures and the recorded passes; resets the RAM counters (5.0; the
 * 4.0 schema keeps them, and no version resets the xbzrle and compression counters), then
 * moves none -> setup (event) and starts the migration's clocks. */
void mig_out_begin(MigEngine *e);

/* ---- status and error ---- */
MigStatus mig_out_state(MigEngine *e);
/* A guarded transition of the source status (mig_set_state): false if it was not `old`. */
bool mig_out_set_state(MigEngine *e, MigStatus old, MigStatus new_state);
/* Sets the sticky error shown as error-desc (first one wins, QEMU's migrate_set_error). */
void mig_out_set_error(MigEngine *e, const GError *err);

/* ---- the target of `migrate` ---- */
/* The target URI of `migrate`: takes ownership of *uri (left cleared). */
void mig_out_set_target(MigEngine *e, ChanUri *uri);
/* Takes ownership of `c`: a channel `migrate` connected before the thread starts (exec,
 * fd), or NULL.  A channel left over from a migration that never started is closed. */
void mig_out_set_pending_chan(MigEngine *e, Chan *c);
/* The target URI of the current migration (valid until the next mig_out_set_target). */
const ChanUri *mig_out_uri(MigEngine *e);
/* The channel connected by `migrate`, once (the caller owns it); NULL for tcp/unix. */
Chan *mig_out_take_pending_chan(MigEngine *e);
/* `migrate` turned the block options on for this migration only. */
void mig_out_note_block_options(MigEngine *e);
/* True once if the block options of `migrate` must now be undone (the flag is cleared). */
bool mig_out_take_block_options(MigEngine *e);

/* ---- the running migration (migration thread) ---- */
/* The counters the migration thread's RAM saver increments.  Only that thread may use the
 * pointer, and only between mig_out_begin and the end of the thread. */
MigCounters *mig_out_live(MigEngine *e);
/* The guest time (ms) when `migrate` started this migration. */
int64_t mig_out_start_time(MigEngine *e);
/* Makes the stream and the multifd channels reachable by cancel and by live parameter
 * changes (NULL detaches).  Borrowed: detach before freeing them. */
void mig_out_attach_file(MigEngine *e, MigFile *f);
/* The channel in its TLS handshake (NULL when done), so that a cancel can end it; one
 * attached while cancelling is shut down at once. */
void mig_out_attach_handshake(MigEngine *e, Chan *c);
void mig_out_attach_multifd(MigEngine *e, struct MigMultifdSend *m);
/* A new xbzrle-cache-size for the running migration, once; 0 when none is pending. */
uint64_t mig_out_take_xbzrle_resize(MigEngine *e);
/* Waits on the wall clock until `deadline` (monotonic ns), or until cancelled. */
void mig_out_wall_wait(MigEngine *e, int64_t deadline);
/* pause-before-switchover: forgets stale migrate-continue posts / waits for one. */
void mig_out_pause_drain(MigEngine *e);
void mig_out_pause_wait(MigEngine *e);
/* The migration thread ended (wall clock, reports only). */
void mig_out_mark_end(MigEngine *e);

/* ---- publication for query-migrate (migration thread) ---- */
/* The RAM saver's figures at publication (`valid` false before RAM setup). */
typedef struct {
    bool valid;
    uint64_t dirty_pages;
    uint64_t total;
    /* Block migration's figures (MigrationInfo.disk), shown while disk_active. */
    bool disk_active;
    uint64_t disk_transferred, disk_remaining, disk_total;
} MigOutRam;
/* Publishes the live counters and `ram` (may be NULL: not set up yet), with the guest clock.
 * If `announce` is not NULL it runs under the lock query-migrate marks the event queue
 * under, right after publishing: a reply then shows what the announced event says exactly
 * when the client has seen the event. */
void mig_out_publish(MigEngine *e, const MigOutRam *ram, void (*announce)(void *opaque),
                     void *opaque);
/* The figures of the last >= 100 ms window; expected_downtime < 0 leaves it unchanged. */
void mig_out_publish_window(MigEngine *e, double mbps, double pages_per_second,
                            int64_t expected_downtime);
void mig_out_publish_expected_downtime(MigEngine *e, int64_t ms);
void mig_out_publish_setup_time(MigEngine *e, int64_t ms);
/* The auto-converge throttle in force (0 = off), as query-migrate shows it (the caller
 * applies it to the guest, in the order it needs). */
void mig_out_publish_throttle(MigEngine *e, int pct);
/* QEMU's migration_calculate_complete: total-time, downtime and the average mbps from the
 * end (guest ms), the start of the downtime (guest ms) and the bytes sent. */
void mig_out_publish_complete(MigEngine *e, int64_t end_ms, int64_t downtime_start_ms,
                              uint64_t bytes);
/* Records one pass for reports. */
void mig_out_add_pass(MigEngine *e, const MigPassRecord *rec);
/* Records one timeline point (bounded: later points are dropped after a day's worth). */
void mig_out_add_sample(MigEngine *e, const MigSample *smp);

/* ---- readers ---- */
typedef struct {
    MigStatus state;
    MigPublished pub;
    int64_t start_time;
    gchar *error_desc; /* owned by the caller, NULL when no error */
} MigOutSnapshot;
/* A consistent copy for query-migrate.  With `req`, its event mark is taken in the same
 * critical section (see mig_out_publish). */
void mig_out_snapshot(MigEngine *e, QmpRequest *req, MigOutSnapshot *snap);
/* A copy of the recorded passes (GArray of MigPassRecord, caller frees). */
GArray *mig_out_passes(MigEngine *e);
/* A copy of the timeline (GArray of MigSample, caller frees). */
GArray *mig_out_samples(MigEngine *e);
/* Wall-clock ms from `migrate` to the end of the migration thread, or -1 before the end. */
double mig_out_wall_ms(MigEngine *e);
/* CPU time the whole source process used over the same span (all threads: migration,
 * multifd, compression, guest), in ms; -1 before the end.  Reports only. */
double mig_out_cpu_ms(MigEngine *e);

/* ---- requests from the command handlers and scenario actions ---- */
/* migrate_cancel (QEMU's migrate_fd_cancel): running -> cancelling, wakes a paused or
 * waiting thread and shuts the stream and multifd channels down.  No-op when idle. */
void mig_out_cancel(MigEngine *e);
/* migrate-continue: false with QEMU's error unless the status is `expected`. */
bool mig_out_continue(MigEngine *e, const char *expected, GError **err);
/* migrate-start-postcopy: a flag the migration thread acts on at its next iteration. */
bool mig_out_request_postcopy(MigEngine *e, GError **err);
/* Whether migrate-start-postcopy was issued for this migration. */
bool mig_out_postcopy_requested(MigEngine *e);
/* The vm is shutting down: cancels, and ends waits for a postcopy recovery. */
void mig_out_close(MigEngine *e);
bool mig_out_closing(MigEngine *e);
/* migrate-pause on the source: shuts the stream down (the thread then pauses). */
void mig_out_pause(MigEngine *e);
/* migrate resume=true: the paused thread is to connect to `uri` (taken; cleared) or use
 * `pending` (exec, fd; taken) and recover. */
void mig_out_request_resume(MigEngine *e, ChanUri *uri, Chan *pending);
/* The paused migration thread: waits for a resume request (true, taken) or until the
 * state leaves postcopy-paused or the vm closes (false). */
bool mig_out_resume_wait(MigEngine *e);
/* Parameters changed (changed[id] set by mig_params_set): applies what takes effect at once
 * on a running migration (the rate limit; xbzrle-cache-size at the thread's next step). */
void mig_out_params_changed(MigEngine *e, const bool changed[MP__MAX]);

#endif
