/* mig_report: per-pass history and the end-of-migration report file (see mig_report.h). */
#include "mig_report.h"
#include "mig_colo_state.h"
#include "mig_scenario.h"
#include "mb_util.h"
#include "mig_outgoing.h"
#include "mig_query.h"

#include <math.h>
#include <stdio.h>

json_object *mig_report_passes_json(MigEngine *e)
{
    json_object *a = json_object_new_array();
    GArray *passes = mig_out_passes(e);

    for (guint i = 0; i < passes->len; i++) {
        const MigPassRecord *r = &g_array_index(passes, MigPassRecord, i);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "pass", json_object_new_uint64(r->pass));
        json_object_object_add(o, "time-ms", json_object_new_int64(r->time_ms));
        json_object_object_add(o, "transferred", json_object_new_uint64(r->transferred));
        json_object_object_add(o, "remaining", json_object_new_uint64(r->remaining));
        json_object_object_add(o, "new-dirty-pages", json_object_new_uint64(r->new_dirty_pages));
        json_object_object_add(o, "dirty-pages-rate", json_object_new_uint64(r->dirty_pages_rate));
        json_object_object_add(o, "cpu-throttle-percentage", json_object_new_int(r->throttle_pct));
        json_object_array_add(a, o);
    }
    g_array_free(passes, TRUE);
    return a;
}

json_object *mig_report_timeline_json(MigEngine *e)
{
    json_object *a = json_object_new_array();
    GArray *samples = mig_out_samples(e);

    for (guint i = 0; i < samples->len; i++) {
        const MigSample *t = &g_array_index(samples, MigSample, i);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "t-ms", json_object_new_int64(t->time_ms));
        json_object_object_add(o, "remaining", json_object_new_uint64(t->remaining));
        json_object_object_add(o, "transferred", json_object_new_uint64(t->transferred));
        /* rounded to the kbit/s, so reports read back equal and diff cleanly */
        json_object_object_add(o, "mbps", json_object_new_double(round(t->mbps * 1000) / 1000));
        json_object_object_add(o, "dirty-rate", json_object_new_uint64(t->dirty_rate));
        json_object_object_add(o, "throttle", json_object_new_int(t->throttle_pct));
        json_object_object_add(o, "pass", json_object_new_uint64(t->pass));
        json_object_array_add(a, o);
    }
    g_array_free(samples, TRUE);
    return a;
}

static void write_report(MigEngine *e, json_object *o)
{
    if (!e->cfg.report_path)
        return;
    /* Written to a temporary name and renamed, so a reader never sees half a report. */
    gchar *tmp = g_strdup_printf("%s.tmp", e->cfg.report_path);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    GError *err = NULL;
    if (!g_file_set_contents(tmp, text, -1, &err) || rename(tmp, e->cfg.report_path) != 0) {
        g_printerr("migbench: cannot write report %s: %s\n", e->cfg.report_path,
                   err ? err->message : g_strerror(errno));
        g_clear_error(&err);
    }
    g_free(tmp);
}

void mig_report_source_end(MigEngine *e)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "role", json_object_new_string("source"));
    json_object_object_add(o, "guest", json_object_new_string(e->guest->ops->describe(e->guest)));
    json_object *info = e->guest->ops->info ? e->guest->ops->info(e->guest) : NULL;
    if (info)
        json_object_object_add(o, "guest-info", info);
    json_object_object_add(o, "query-migrate", mig_query_migrate(e, NULL));
    json_object_object_add(o, "passes", mig_report_passes_json(e));
    json_object_object_add(o, "timeline", mig_report_timeline_json(e));
    /* COLO: the checkpoints of the primary (count, time and size percentiles, each one). */
    json_object *colo = mig_colo_report_json(e);
    if (colo)
        json_object_object_add(o, "colo", colo);
    /* Scenario actions that failed (e.g. refused): only when there are some, so reports of
     * runs without any stay as they were. */
    json_object *serr = e->scenario ? mig_scenario_errors(e->scenario) : NULL;
    if (serr && json_object_array_length(serr))
        json_object_object_add(o, "scenario-errors", serr);
    else
        json_object_put(serr);
    /* Wall clock, for benchmarks only: from `migrate` to the end of the migration thread. */
    double wall_ms = mig_out_wall_ms(e);
    if (wall_ms >= 0)
        json_object_object_add(o, "migration-wall-ms", json_object_new_double(wall_ms));
    double cpu_ms = mig_out_cpu_ms(e);
    if (cpu_ms >= 0)
        json_object_object_add(o, "migration-cpu-ms", json_object_new_double(cpu_ms));
    /* Host figures, for benchmarks only (they differ from machine to machine). */
    json_object_object_add(o, "peak-rss-bytes", json_object_new_uint64(mb_peak_rss()));
    write_report(e, o);
    json_object_put(o);
}

void mig_report_dest_end(MigEngine *e, bool ok, const char *error, int64_t load_ms,
                         json_object *announce)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "role", json_object_new_string("destination"));
    json_object_object_add(o, "guest", json_object_new_string(e->guest->ops->describe(e->guest)));
    json_object_object_add(o, "status", json_object_new_string(ok ? "completed" : "failed"));
    json_object_object_add(o, "verified", json_object_new_boolean(ok));
    if (error)
        json_object_object_add(o, "error-desc", json_object_new_string(error));
    json_object_object_add(o, "load-wall-ms", json_object_new_int64(load_ms));
    json_object_object_add(o, "load-cpu-ms",
                           json_object_new_double((double)e->in.load_cpu_ns / 1e6));
    json_object_object_add(o, "peak-rss-bytes", json_object_new_uint64(mb_peak_rss()));
    if (announce)
        json_object_object_add(o, "announce", announce);
    json_object *colo = mig_colo_report_json(e);
    if (colo)
        json_object_object_add(o, "colo", colo);
    json_object *info = e->guest->ops->info ? e->guest->ops->info(e->guest) : NULL;
    if (info)
        json_object_object_add(o, "guest-info", info);
    write_report(e, o);
    json_object_put(o);
}
