/* mig_colo_state: what the two COLO threads share with the QMP handlers (QEMU's
 * colo-failover.c and the COLO parts of migration.c): the COLO mode and last mode, the
 * failover status (FailoverStatus), the reason of the last COLO exit, wake-ups for an
 * immediate checkpoint, the channels a failover shuts down, and the checkpoint figures.
 *
 * One MigColo per vm (e->colo); a vm is a primary (source) or a secondary (destination),
 * never both at once.  A leaf: it calls only the state machine, the QMP event queue and the
 * channels.  Every function may be called from any thread. */
#ifndef MIG_COLO_STATE_H
#define MIG_COLO_STATE_H

#include "mig_internal.h"

/* COLOMessage, in the schema's order: the be32 values on the stream and return path. */
typedef enum {
    MIG_COLO_CHECKPOINT_READY,
    MIG_COLO_CHECKPOINT_REQUEST,
    MIG_COLO_CHECKPOINT_REPLY,
    MIG_COLO_VMSTATE_SEND,
    MIG_COLO_VMSTATE_SIZE,
    MIG_COLO_VMSTATE_RECEIVED,
    MIG_COLO_VMSTATE_LOADED,
    MIG_COLO_MESSAGE__MAX
} MigColoMessage;

/* COLOMode and FailoverStatus, in the schema's order. */
typedef enum { MIG_COLO_MODE_NONE, MIG_COLO_MODE_PRIMARY, MIG_COLO_MODE_SECONDARY } MigColoMode;
typedef enum {
    MIG_FAILOVER_NONE,
    MIG_FAILOVER_REQUIRE,
    MIG_FAILOVER_ACTIVE,
    MIG_FAILOVER_COMPLETED,
    MIG_FAILOVER_RELAUNCH
} MigFailoverStatus;

/* COLOExitReason values this engine reports. */
typedef enum { MIG_COLO_EXIT_NONE, MIG_COLO_EXIT_REQUEST, MIG_COLO_EXIT_ERROR } MigColoExit;

/* One checkpoint, for reports (guest time). */
typedef struct {
    int64_t at_ms;   /* guest time when the checkpoint started */
    int64_t time_us; /* guest time from CHECKPOINT_REQUEST to VMSTATE_LOADED */
    uint64_t bytes;  /* stream bytes of the checkpoint (RAM and device state) */
    uint64_t pages;  /* RAM pages it carried */
    int64_t wall_us; /* wall clock, for benchmarks only (never a sim figure) */
} MigColoCheckpoint;

void mig_colo_state_init(MigEngine *e);
void mig_colo_state_clear(MigEngine *e);

const char *mig_colo_message_name(uint32_t msg);

/* A COLO thread starts in `mode`: last-mode becomes `mode`, failover none, the checkpoint
 * record restarts (primary).  `f` and `rp` (borrowed, may be NULL) are shut down by a
 * failover request or a vm shutdown until mig_colo_end. */
void mig_colo_begin(MigEngine *e, MigColoMode mode, MigFile *f, Chan *rp);
/* COLO ended: mode none, COLO_EXIT {mode: last mode, reason} (no capability check), the
 * failover (if one was requested) completed.  Returns the reason reported. */
MigColoExit mig_colo_end(MigEngine *e, MigColoExit reason);
/* The current COLO mode (query-colo-status, x-colo-lost-heartbeat). */
MigColoMode mig_colo_mode(MigEngine *e);
MigFailoverStatus mig_colo_failover_status(MigEngine *e);

/* x-colo-lost-heartbeat: QEMU's texts when not in COLO or already failing over; otherwise
 * failover required, the COLO channels shut down and the COLO thread woken. */
bool mig_colo_request_failover(MigEngine *e, GError **err);
/* The vm is shutting down: COLO threads end at their next step (channels shut down). */
void mig_colo_shutdown(MigEngine *e);
bool mig_colo_stopping(MigEngine *e);

/* An immediate checkpoint (a live x-checkpoint-delay change, xen-colo-do-checkpoint);
 * no-op unless this vm is a COLO primary. */
void mig_colo_kick(MigEngine *e);
/* Primary: waits on the wall clock until `deadline_ns` (monotonic) or a kick, a failover
 * request or shutdown.  True when woken early (the kick is consumed). */
bool mig_colo_wait(MigEngine *e, int64_t deadline_ns);

void mig_colo_add_checkpoint(MigEngine *e, const MigColoCheckpoint *cp);
/* {"checkpoints": N, "time-ms" / "size" / "wall-ms": {p50, p99, max}, "list": [...]}
 * for reports, or NULL before any COLO. */
json_object *mig_colo_report_json(MigEngine *e);
/* query-colo-status: {mode, last-mode (when the schema has it), reason}. */
json_object *mig_colo_query(MigEngine *e);

/* ---- the COLOMessage exchange (QEMU's colo_send_message / colo_receive_check_message) ----
 * Messages are be32 values: primary -> secondary on the migration stream, secondary ->
 * primary on the return path.  Errors use QEMU's texts. */
bool mig_colo_send(MigFile *f, MigColoMessage msg, GError **err);
bool mig_colo_send_rp(Chan *rp, MigColoMessage msg, GError **err);
bool mig_colo_expect(MigFile *f, MigColoMessage want, GError **err);
bool mig_colo_expect_rp(Chan *rp, MigColoMessage want, GError **err);

#endif
