/* sweep_results: the results directory of a sweep (docs/sweeps.md) and the rows that
 * `report` and `compare` read back, whether from a results directory, its merged
 * results.json, or bare `migbench run --json` reports.
 *
 *   DIR/spec.json             the spec the results belong to (a copy)
 *   DIR/points/ID.json        the point's full `migbench run` report, as run wrote it
 *   DIR/points/ID.point.json  the point's definition, outcome, exit status and error
 *   DIR/points/ID.log         run's stderr
 *   DIR/results.csv, .json    one row per point, in spec order (sweep_results_merge)
 *
 * A run report is never rewritten: it is the file `migbench run` wrote, so nothing is lost
 * reading it back.  The merged files hold no wall-clock figure, so two sweeps of the same
 * spec give byte-identical merged files in sim mode. */
#ifndef SWEEP_RESULTS_H
#define SWEEP_RESULTS_H

#include "sweep_spec.h"

#include <stdbool.h>

/* One point's outcome, or a run report read back as a point. */
typedef struct {
    guint index;
    gchar *id;
    gchar *guest;        /* the guest without its seed */
    gchar *caps_label;   /* see SweepPoint */
    json_object *params; /* {"name": value} */
    json_object *seed;   /* int or NULL */
    gchar *outcome;      /* "ok" (a report exists), "failed" (no report), "missing" */
    gchar *error;        /* failed: run's message; NULL otherwise */
    json_object *report; /* ok: the run report ({"result": ...} at least); else NULL */
    gchar *source;       /* the file it came from, for messages */
} SweepRow;

/* The metrics every row offers, in table order; see sweep_row_metric(). */
extern const char *const sweep_metrics[];
extern const size_t sweep_n_metrics;

/* Paths inside a results directory (new strings). */
gchar *sweep_results_path(const char *dir, const SweepPoint *p, const char *suffix);

/* True when DIR holds a usable result of `p`: its report parses with a "result", and its
 * record says "ok" for exactly this definition. */
bool sweep_results_point_done(const char *dir, const SweepPoint *p);
/* Writes DIR/points/ID.point.json.  `error` may be NULL. */
bool sweep_results_record(const char *dir, const SweepPoint *p, const char *outcome,
                          int exit_status, const char *error, GError **err);

typedef struct {
    guint ok, failed, missing;
} SweepCounts;

/* Writes DIR/results.csv and DIR/results.json for every point of `spec` (missing points
 * are rows with outcome "missing"), and counts the outcomes. */
bool sweep_results_merge(const char *dir, const SweepSpec *spec, SweepCounts *counts, GError **err);

/* Rows from each path: a results directory (its spec and points), a merged results.json,
 * or a `migbench run --json` report.  Fails on a path that is none of these. */
GPtrArray *sweep_results_load(char **paths, GError **err);

/* A row's metric by name ("total-time-ms", "downtime-ms", "setup-time-ms", "transferred",
 * "passes", "mbps"): false when the row has no report or the report lacks it. */
bool sweep_row_metric(const SweepRow *r, const char *name, double *out);
/* True when the row's migration completed (and the destination verified it). */
bool sweep_row_converged(const SweepRow *r);
/* The row's "result" object, or NULL. */
json_object *sweep_row_result(const SweepRow *r);
/* The row's identity without its seed: guest, capability set and parameters (a new
 * string), so repeated seeds of one setting share a key. */
gchar *sweep_row_key(const SweepRow *r);

#endif
