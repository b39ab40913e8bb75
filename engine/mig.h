/* mig: the migration engine of one `migbench vm` process, as seen from cli/.
 *
 * One MigEngine owns everything migration-related of a vm: capabilities, parameters, the
 * source-side and destination-side state machines, the run state of the guest, and the QMP
 * handlers of every migration command of the served schema (registered on creation). */
#ifndef MIG_H
#define MIG_H

#include "guest.h"
#include "qmp.h"
#include "schema.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct MigEngine MigEngine;

typedef struct {
    /* NULL (no incoming migration), "defer", or a URI to listen on at start. */
    const char *incoming;
    /* -uuid: the VM's UUID (validate-uuid, multifd hello). */
    bool has_uuid;
    uint8_t uuid[16];
    /* Sim only: pacing, virtual seconds per wall-clock second (0 = as fast as possible).
     * Lets a person or a test act while a sim migration is active; never changes results. */
    double pace;
    /* Sim only: the simulated link between source and destination. */
    uint64_t link_bandwidth; /* bytes per second, 0 = infinite */
    int64_t link_latency_ns; /* one way */
    /* QEMU exits with status 1 when an incoming migration fails; migbench stays up (so
     * query-migrate can report the error) unless this is set. */
    bool exit_on_incoming_error;
    /* -S: do not start the guest (and do not autostart after an incoming migration). */
    bool start_paused;
    /* When set, a JSON report is written here at the end of each migration (mig_report.h). */
    const char *report_path;
    /* When set, a scenario file of actions run at exact points of a migration (mig_scenario.h). */
    const char *scenario_path;
    /* -object: objects to create at start, "TYPE,id=ID,KEY=VALUE,..." (NULL-terminated). */
    const char *const *objects;
    /* Called on the main context when `quit` was executed (after its reply). */
    void (*on_quit)(void *opaque);
    void *on_quit_opaque;
} MigConfig;

/* Creates the engine for `guest` (borrowed; must outlive the engine), registers every
 * migration, run-state and quit handler on `qmp`, and starts listening when
 * cfg->incoming is a URI.  NULL with err on a bad incoming URI or listen failure. */
MigEngine *mig_engine_new(QmpServer *qmp, const Schema *schema, MbGuest *guest,
                          const MigConfig *cfg, GError **err);

/* Cancels any migration, joins the engine's threads, frees everything. */
void mig_engine_free(MigEngine *e);

#endif
