/* sweep_results: results directory, merged CSV/JSON and reading results back (see
 * sweep_results.h and docs/sweeps.md). */
#include "sweep_results.h"

#include "mb_error.h"

#include <glib/gstdio.h>
#include <string.h>

const char *const sweep_metrics[] = { "total-time-ms", "downtime-ms", "setup-time-ms",
                                      "transferred",   "passes",      "mbps" };
const size_t sweep_n_metrics = G_N_ELEMENTS(sweep_metrics);

static json_object *member(json_object *o, const char *k)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

gchar *sweep_results_path(const char *dir, const SweepPoint *p, const char *suffix)
{
    gchar *name = g_strconcat(p->id, suffix, NULL);
    gchar *path = g_build_filename(dir, "points", name, NULL);
    g_free(name);
    return path;
}

static json_object *read_json(const char *path)
{
    gchar *text = NULL;
    json_object *v = NULL;

    if (g_file_get_contents(path, &text, NULL, NULL)) {
        json_tokener *tok = json_tokener_new();
        v = json_tokener_parse_ex(tok, text, (int)strlen(text));
        if (json_tokener_get_error(tok) != json_tokener_success) {
            json_object_put(v);
            v = NULL;
        }
        json_tokener_free(tok);
    }
    g_free(text);
    return v;
}

static bool same_json(json_object *a, json_object *b)
{
    return a && b &&
           !strcmp(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
                   json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN));
}

/* The record of `p` when it matches `p`'s definition, else NULL. */
static json_object *read_record(const char *dir, const SweepPoint *p)
{
    gchar *path = sweep_results_path(dir, p, ".point.json");
    json_object *rec = read_json(path);

    g_free(path);
    if (rec && !same_json(member(rec, "point"), p->def)) {
        json_object_put(rec);
        rec = NULL;
    }
    return rec;
}

static json_object *read_report(const char *dir, const SweepPoint *p)
{
    gchar *path = sweep_results_path(dir, p, ".json");
    json_object *rep = read_json(path);

    g_free(path);
    if (rep && !json_object_is_type(member(rep, "result"), json_type_object)) {
        json_object_put(rep);
        rep = NULL;
    }
    return rep;
}

bool sweep_results_point_done(const char *dir, const SweepPoint *p)
{
    json_object *rec = read_record(dir, p), *rep = NULL;
    bool done = rec && !g_strcmp0(json_object_get_string(member(rec, "outcome")), "ok") &&
                (rep = read_report(dir, p)) != NULL;

    json_object_put(rec);
    json_object_put(rep);
    return done;
}

bool sweep_results_record(const char *dir, const SweepPoint *p, const char *outcome,
                          int exit_status, const char *error, GError **err)
{
    json_object *rec = json_object_new_object();
    gchar *path = sweep_results_path(dir, p, ".point.json");
    gchar *cmd = sweep_point_command(p);

    json_object_object_add(rec, "index", json_object_new_int64(p->index));
    json_object_object_add(rec, "id", json_object_new_string(p->id));
    json_object_object_add(rec, "point", json_object_get(p->def));
    json_object_object_add(rec, "command", json_object_new_string(cmd));
    json_object_object_add(rec, "outcome", json_object_new_string(outcome));
    json_object_object_add(rec, "exit-status", json_object_new_int(exit_status));
    if (error)
        json_object_object_add(rec, "error", json_object_new_string(error));
    bool ok = g_file_set_contents(
        path, json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PRETTY), -1, err);
    json_object_put(rec);
    g_free(cmd);
    g_free(path);
    return ok;
}

/* ---- rows ---- */

static void row_free(gpointer data)
{
    SweepRow *r = data;

    g_free(r->id);
    g_free(r->guest);
    g_free(r->caps_label);
    json_object_put(r->params);
    json_object_put(r->seed);
    g_free(r->outcome);
    g_free(r->error);
    json_object_put(r->report);
    g_free(r->source);
    g_free(r);
}

json_object *sweep_row_result(const SweepRow *r)
{
    return member(r->report, "result");
}

bool sweep_row_converged(const SweepRow *r)
{
    return !g_strcmp0(json_object_get_string(member(sweep_row_result(r), "status")), "completed");
}

bool sweep_row_metric(const SweepRow *r, const char *name, double *out)
{
    json_object *res = sweep_row_result(r), *v;

    if (!res)
        return false;
    v = member(res, !strcmp(name, "passes") ? "dirty-sync-count" : name);
    if (!v || !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
        return false;
    *out = json_object_get_double(v);
    return true;
}

gchar *sweep_row_key(const SweepRow *r)
{
    return g_strdup_printf("%s %s %s", r->guest, r->caps_label,
                           json_object_to_json_string_ext(r->params, JSON_C_TO_STRING_PLAIN));
}

static SweepRow *row_from_point(const char *dir, const SweepPoint *p)
{
    SweepRow *r = g_new0(SweepRow, 1);
    json_object *rec = read_record(dir, p);
    const char *outcome = json_object_get_string(member(rec, "outcome"));

    r->index = p->index;
    r->id = g_strdup(p->id);
    r->guest = g_strdup(p->guest);
    r->caps_label = g_strdup(p->caps_label);
    r->params = json_object_get(p->params);
    r->seed = json_object_get(p->seed);
    r->source = sweep_results_path(dir, p, ".json");
    if (rec && !g_strcmp0(outcome, "ok"))
        r->report = read_report(dir, p);
    if (r->report) {
        r->outcome = g_strdup("ok");
    } else if (rec && !g_strcmp0(outcome, "failed")) {
        r->outcome = g_strdup("failed");
        r->error = g_strdup(json_object_get_string(member(rec, "error")));
    } else {
        r->outcome = g_strdup("missing");
    }
    json_object_put(rec);
    return r;
}

/* A bare run report as a row: its identity comes from its "settings". */
static SweepRow *row_from_report(json_object *rep, const char *path, guint index)
{
    SweepRow *r = g_new0(SweepRow, 1);
    json_object *s = member(rep, "settings"), *caps = member(s, "capabilities");
    json_object *label_caps = json_object_new_object();

    r->index = index;
    r->id = g_path_get_basename(path);
    r->guest = g_strdup(json_object_get_string(member(s, "guest")));
    if (!r->guest)
        r->guest = g_strdup("?");
    json_object_object_foreach(caps, k, v)
    {
        /* run always turns 'events' on; it is no part of the user's choice */
        if (strcmp(k, "events"))
            json_object_object_add(label_caps, k, json_object_get(v));
    }
    GString *l = g_string_new(NULL);
    json_object_object_foreach(label_caps, lk, lv)
    {
        g_string_append_printf(l, "%s%s%s", l->len ? "+" : "", lk,
                               json_object_get_boolean(lv) ? "" : "=off");
    }
    r->caps_label = g_string_free(l, FALSE);
    if (!*r->caps_label) {
        g_free(r->caps_label);
        r->caps_label = g_strdup("none");
    }
    json_object_put(label_caps);
    r->params = member(s, "parameters") ? json_object_get(member(s, "parameters"))
                                        : json_object_new_object();
    r->outcome = g_strdup("ok");
    r->report = json_object_get(rep);
    r->source = g_strdup(path);
    return r;
}

/* Rows of a merged results.json. */
static bool rows_from_merged(json_object *m, const char *path, GPtrArray *rows, GError **err)
{
    json_object *pts = member(m, "points");

    for (size_t i = 0; i < json_object_array_length(pts); i++) {
        json_object *p = json_object_array_get_idx(pts, i);
        SweepRow *r = g_new0(SweepRow, 1);
        r->index = (guint)json_object_get_int(member(p, "index"));
        r->id = g_strdup(json_object_get_string(member(p, "id")));
        r->guest = g_strdup(json_object_get_string(member(p, "guest")));
        r->caps_label = g_strdup(json_object_get_string(member(p, "capability-set")));
        r->params = json_object_get(member(p, "parameters"));
        r->seed = json_object_get(member(p, "seed"));
        r->outcome = g_strdup(json_object_get_string(member(p, "outcome")));
        r->error = g_strdup(json_object_get_string(member(p, "error")));
        r->source = g_strdup(path);
        if (member(p, "result")) {
            r->report = json_object_new_object();
            json_object_object_add(r->report, "result", json_object_get(member(p, "result")));
        }
        if (!r->id || !r->guest || !r->caps_label || !r->outcome ||
            !json_object_is_type(r->params, json_type_object)) {
            mb_error_set(err, "%s: points[%zu] is not a merged sweep row", path, i);
            row_free(r);
            return false;
        }
        g_ptr_array_add(rows, r);
    }
    return true;
}

static bool load_dir(const char *dir, GPtrArray *rows, GError **err)
{
    gchar *spec_path = g_build_filename(dir, "spec.json", NULL);
    SweepSpec *spec = NULL;
    bool ok = false;

    if (!g_file_test(spec_path, G_FILE_TEST_EXISTS))
        mb_error_set(err, "%s: not a sweep results directory (no spec.json)", dir);
    else if ((spec = sweep_spec_load(spec_path, err)))
        ok = true;
    for (guint i = 0; ok && i < spec->points->len; i++)
        g_ptr_array_add(rows, row_from_point(dir, spec->points->pdata[i]));
    sweep_spec_free(spec);
    g_free(spec_path);
    return ok;
}

GPtrArray *sweep_results_load(char **paths, GError **err)
{
    GPtrArray *rows = g_ptr_array_new_with_free_func(row_free);

    for (char **p = paths; p && *p; p++) {
        bool ok;
        if (g_file_test(*p, G_FILE_TEST_IS_DIR)) {
            ok = load_dir(*p, rows, err);
        } else {
            json_object *v = read_json(*p);
            if (!v) {
                mb_error_set(err, "%s: cannot read it as JSON", *p);
                ok = false;
            } else if (json_object_is_type(member(v, "points"), json_type_array)) {
                ok = rows_from_merged(v, *p, rows, err);
            } else if (json_object_is_type(member(v, "result"), json_type_object)) {
                g_ptr_array_add(rows, row_from_report(v, *p, rows->len));
                ok = true;
            } else {
                mb_error_set(err,
                             "%s: neither a run report (no \"result\") nor merged sweep "
                             "results (no \"points\")",
                             *p);
                ok = false;
            }
            json_object_put(v);
        }
        if (!ok) {
            g_ptr_array_free(rows, TRUE);
            return NULL;
        }
    }
    return rows;
}

/* ---- merged results ---- */

static void csv_field(GString *s, const char *text)
{
    if (!text)
        text = "";
    if (strpbrk(text, ",\"\n\r")) {
        g_string_append_c(s, '"');
        for (const char *c = text; *c; c++) {
            if (*c == '"')
                g_string_append_c(s, '"');
            g_string_append_c(s, *c);
        }
        g_string_append_c(s, '"');
    } else {
        g_string_append(s, text);
    }
}

/* The metric's JSON text as the report has it (so CSV and JSON agree digit for digit). */
static gchar *metric_text(const SweepRow *r, const char *name)
{
    json_object *v =
        member(sweep_row_result(r), !strcmp(name, "passes") ? "dirty-sync-count" : name);
    return v ? g_strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)) : g_strdup("");
}

bool sweep_results_merge(const char *dir, const SweepSpec *spec, SweepCounts *counts, GError **err)
{
    GString *csv = g_string_new("index,id,guest,capability-set,seed");
    json_object *all = json_object_new_object(), *pts = json_object_new_array();
    SweepCounts c = { 0 };

    /* The parameters of any point are columns, in order of first appearance. */
    GPtrArray *cols = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < spec->points->len; i++) {
        SweepPoint *p = spec->points->pdata[i];
        json_object_object_foreach(p->params, k, v)
        {
            (void)v;
            if (!g_ptr_array_find_with_equal_func(cols, k, g_str_equal, NULL))
                g_ptr_array_add(cols, g_strdup(k));
        }
    }
    for (guint i = 0; i < cols->len; i++)
        g_string_append_printf(csv, ",%s", (char *)cols->pdata[i]);
    g_string_append(csv, ",outcome,status,converged");
    for (size_t m = 0; m < sweep_n_metrics; m++)
        g_string_append_printf(csv, ",%s", sweep_metrics[m]);
    g_string_append(csv, ",error\n");

    for (guint i = 0; i < spec->points->len; i++) {
        SweepPoint *p = spec->points->pdata[i];
        SweepRow *r = row_from_point(dir, p);
        json_object *row = json_object_new_object(), *metrics = json_object_new_object();
        const char *status = json_object_get_string(member(sweep_row_result(r), "status"));

        c.ok += !strcmp(r->outcome, "ok");
        c.failed += !strcmp(r->outcome, "failed");
        c.missing += !strcmp(r->outcome, "missing");
        g_string_append_printf(csv, "%u,%s,", p->index, p->id);
        csv_field(csv, p->guest);
        g_string_append_c(csv, ',');
        csv_field(csv, p->caps_label);
        g_string_append_c(csv, ',');
        if (p->seed)
            g_string_append(csv, json_object_to_json_string(p->seed));
        for (guint k = 0; k < cols->len; k++) {
            json_object *v = member(p->params, cols->pdata[k]);
            gchar *t = v ? sweep_value_text(v) : NULL;
            g_string_append_c(csv, ',');
            csv_field(csv, t);
            g_free(t);
        }
        g_string_append_printf(csv, ",%s,%s,%s", r->outcome, status ? status : "",
                               r->report ? (sweep_row_converged(r) ? "yes" : "no") : "");
        for (size_t m = 0; m < sweep_n_metrics; m++) {
            gchar *t = metric_text(r, sweep_metrics[m]);
            g_string_append_printf(csv, ",%s", t);
            g_free(t);
            json_object *v =
                member(sweep_row_result(r),
                       !strcmp(sweep_metrics[m], "passes") ? "dirty-sync-count" : sweep_metrics[m]);
            if (v)
                json_object_object_add(metrics, sweep_metrics[m], json_object_get(v));
        }
        g_string_append_c(csv, ',');
        csv_field(csv, r->error);
        g_string_append_c(csv, '\n');

        json_object_object_add(row, "index", json_object_new_int64(p->index));
        json_object_object_add(row, "id", json_object_new_string(p->id));
        json_object_object_add(row, "guest", json_object_new_string(p->guest));
        json_object_object_add(row, "capability-set", json_object_new_string(p->caps_label));
        json_object_object_add(row, "capabilities", json_object_get(p->caps));
        json_object_object_add(row, "parameters", json_object_get(p->params));
        json_object_object_add(row, "seed", json_object_get(p->seed));
        json_object_object_add(row, "outcome", json_object_new_string(r->outcome));
        if (r->error)
            json_object_object_add(row, "error", json_object_new_string(r->error));
        if (r->report) {
            json_object_object_add(row, "converged",
                                   json_object_new_boolean(sweep_row_converged(r)));
            json_object_object_add(row, "metrics", metrics);
            json_object_object_add(row, "result", json_object_get(sweep_row_result(r)));
        } else {
            json_object_put(metrics);
        }
        json_object_array_add(pts, row);
        row_free(r);
    }
    json_object_object_add(all, "sweep", json_object_new_string(spec->name));
    json_object_object_add(all, "points", pts);

    gchar *csv_path = g_build_filename(dir, "results.csv", NULL);
    gchar *json_path = g_build_filename(dir, "results.json", NULL);
    gchar *text =
        g_strdup_printf("%s\n", json_object_to_json_string_ext(all, JSON_C_TO_STRING_PRETTY));
    bool ok = g_file_set_contents(csv_path, csv->str, -1, err) &&
              g_file_set_contents(json_path, text, -1, err);
    g_free(text);
    g_free(csv_path);
    g_free(json_path);
    json_object_put(all);
    g_string_free(csv, TRUE);
    g_ptr_array_free(cols, TRUE);
    if (counts)
        *counts = c;
    return ok;
}
