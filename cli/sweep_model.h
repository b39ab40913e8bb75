/* sweep_model: the analytic pre-copy model that `migbench report` puts beside measured
 * points of uniform and hot/cold (hotspot) sim workloads.
 *
 * It is the model of conformance/tests/test_feature_model.py (which checks the engine
 * against it within 5% per round), written again in C with the same formulas: round i
 * sends the dirty set V_i at the rate limit R; writes of rate w spread uniformly over a
 * set of N pages dirty N (1 - exp(-w T / N)) distinct pages in T (a hot/cold workload sums
 * its two sets); a round ends when the remainder drops below R x downtime-limit, checked
 * once per 100 ms rate-limit window, so on average half a window's budget below it (the
 * leftover L carries into the next round); the migration stops when V_i fits in the
 * downtime, or does not converge (40 rounds).  The final stop-and-copy is sent at the link
 * rate (QEMU lifts the rate limit at completion), which gives the downtime. */
#ifndef SWEEP_MODEL_H
#define SWEEP_MODEL_H

#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>

typedef struct {
    double pages; /* pages in the set */
    double share; /* share of all writes landing in it */
} SweepModelSet;

typedef struct {
    SweepModelSet sets[2];
    int nsets;
    double total_pages;
    double writes_per_s;   /* page writes per second */
    double max_bandwidth;  /* R, bytes/s */
    double downtime_s;     /* downtime-limit */
    double link_bandwidth; /* bytes/s of the link (the final round's rate) */
} SweepModelInput;

typedef struct {
    bool converged;
    int passes;           /* dirty-sync-count: the rounds' syncs plus the final one */
    double transferred;   /* bytes on the wire */
    double total_time_ms; /* rounds at R plus the final round at the link rate */
    double downtime_ms;   /* the final round at the link rate */
} SweepModelPrediction;

/* The model for `in`.  Pure arithmetic. */
void sweep_model_predict(const SweepModelInput *in, SweepModelPrediction *out);
/* A parameter value as a number: a JSON number, or a size string ("8M").  False when it
 * is neither. */
bool sweep_value_number(json_object *v, double *out);

/* The model's input for a point: `guest` is its --guest ("sim:uniform,size=64M,..."),
 * `params` its migration parameters (max-bandwidth, downtime-limit; QEMU's defaults 32 MiB/s
 * and 300 ms when absent), `link` the run's link-bandwidth text or NULL (10Gbit).
 * False when the model does not apply (not a uniform or hotspot sim workload, or values
 * it cannot read). */
bool sweep_model_input(const char *guest, json_object *params, const char *link,
                       SweepModelInput *in);

#endif
