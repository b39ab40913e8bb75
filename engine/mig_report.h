/* mig_report: what a vm records about its migrations for `migbench run` and golden files.
 *
 * The source keeps one record per dirty-bitmap sync (pass) in guest time, so the per-pass
 * figures of a sim run are deterministic (a client polling query-migrate would sample at
 * wall-clock moments instead).  When a migration ends, the vm writes a JSON report to the
 * file given with --report: the passes, the final query-migrate, and on the destination the
 * load and verification outcome. */
#ifndef MIG_REPORT_H
#define MIG_REPORT_H

#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct MigEngine MigEngine;

/* Writes the source report if --report was given (after the migration ended). */
void mig_report_source_end(MigEngine *e);
/* Writes the destination report if --report was given (takes `announce`, may be NULL). */
void mig_report_dest_end(MigEngine *e, bool ok, const char *error, int64_t load_ms,
                         json_object *announce);
/* The recorded passes as a JSON array. */
json_object *mig_report_passes_json(MigEngine *e);
/* The timeline as a JSON array of {t-ms, remaining, transferred, mbps, dirty-rate,
 * throttle, pass}, one point per >= 100 ms window of guest time (docs/run.md). */
json_object *mig_report_timeline_json(MigEngine *e);

#endif
