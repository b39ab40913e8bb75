/* mig_scenario: actions run at exact points of a migration, for deterministic experiments.
 *
 * A person can change a parameter while a migration runs, but when exactly the change lands
 * depends on wall-clock timing.  A scenario file names the point instead: a pass number, a
 * time since `migrate` (guest clock), or a migration status, and the source's migration
 * thread runs the action right there, so sim results stay a pure function of their inputs.
 *
 * Format (JSON):
 *   {"actions": [
 *     {"at": {"pass": 3},      "execute": "migrate-set-parameters",
 *                              "arguments": {"downtime-limit": 300}},
 *     {"at": {"time": "2.5s"}, "execute": "migrate_set_speed", "arguments": {"value": 1e9}},
 *     {"at": {"status": "pre-switchover"}, "execute": "migrate-continue",
 *                              "arguments": {"state": "pre-switchover"}}]}
 * Supported commands: migrate-set-parameters, migrate_set_speed, migrate_set_downtime,
 * migrate-set-cache-size, migrate-start-postcopy, migrate_cancel, migrate-pause,
 * migrate-continue, stop, cont (migrate-recover is carried out by migbench run, never here).
 * Arguments are validated against the served schema when the file is loaded. */
#ifndef MIG_SCENARIO_H
#define MIG_SCENARIO_H

#include "mig_state.h"
#include "schema.h"

#include <glib.h>
#include <json-c/json.h>
#include <stdint.h>

typedef struct MigScenario MigScenario;
typedef struct MigEngine MigEngine;

/* Loads and validates a scenario file.  NULL with err naming the bad action. */
MigScenario *mig_scenario_load(const char *path, const Schema *schema, GError **err);
void mig_scenario_free(MigScenario *s);
/* Re-arms every action (a new migration starts). */
void mig_scenario_rearm(MigScenario *s);

/* Hooks, called by the source thread (no-ops when e has no scenario). */
void mig_scenario_on_pass(MigEngine *e, uint64_t pass);
void mig_scenario_on_time(MigEngine *e, int64_t ms_since_start);
void mig_scenario_on_status(MigEngine *e, MigStatus status);
/* Errors of actions that failed, as a JSON array of strings (new reference). */
json_object *mig_scenario_errors(MigScenario *s);

#endif
