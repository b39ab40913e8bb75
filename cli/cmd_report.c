/* cmd_report: `migbench report DIR|FILE... -o report.html`, one self-contained HTML page
 * (docs/sweeps.md): total time, downtime and transferred against each swept parameter,
 * one line per capability set, non-converged points marked; the analytic model beside
 * measured points of uniform and hotspot guests, with residuals; the timelines of chosen
 * runs when their reports carry them; a table of every point.  Plots are gnuplot's SVG
 * (sweep_plot), inline, so the page opens without network. */
#include "cli.h"
#include "cli_options.h"
#include "mb_util.h"
#include "sweep_model.h"
#include "sweep_plot.h"
#include "sweep_results.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    gchar *output;
    gchar *title;
    gchar **timelines; /* point ids or indexes */
    gchar *max_timelines_text;
    int64_t max_timelines;
    gchar **rest;
} ReportOptions;

typedef struct {
    const ReportOptions *o;
    GPtrArray *rows;
    gchar *gnuplot;
    GString *html;
    guint nplots;
    GError *err;
} Report;

/* The metrics plotted against parameters: name, axis label, divisor. */
static const struct {
    const char *metric, *label;
    double div;
} plotted[] = {
    { "total-time-ms", "total time (s)", 1000 },
    { "downtime-ms", "downtime (ms)", 1 },
    { "transferred", "transferred (MiB)", 1048576 },
};

static json_object *member(json_object *o, const char *k)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static void esc(GString *s, const char *text)
{
    gchar *e = g_markup_escape_text(text ? text : "", -1);
    g_string_append(s, e);
    g_free(e);
}

/* Adds one figure; on a gnuplot failure the first error is kept and the report fails. */
static void figure(Report *r, const char *caption, const char *commands, int w, int h)
{
    if (r->err)
        return;
    gchar *svg = sweep_plot_svg(r->gnuplot, commands, w, h, &r->err);
    if (!svg)
        return;
    g_string_append(r->html, "<figure class=\"plot\">");
    g_string_append(r->html, svg);
    g_string_append(r->html, "<figcaption>");
    esc(r->html, caption);
    g_string_append(r->html, "</figcaption></figure>\n");
    r->nplots++;
    g_free(svg);
}

/* Parameters taking more than one numeric value over the rows, in order of appearance. */
static GPtrArray *swept_params(GPtrArray *rows)
{
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    GHashTable *first = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

    for (guint i = 0; i < rows->len; i++) {
        SweepRow *row = rows->pdata[i];
        json_object_object_foreach(row->params, k, v)
        {
            double d;
            if (!sweep_value_number(v, &d))
                continue;
            gchar *t = g_strdup_printf("%.17g", d);
            const char *seen = g_hash_table_lookup(first, k);
            if (!seen)
                g_hash_table_insert(first, g_strdup(k), g_strdup(t));
            else if (strcmp(seen, t) &&
                     !g_ptr_array_find_with_equal_func(names, k, g_str_equal, NULL))
                g_ptr_array_add(names, g_strdup(k));
            g_free(t);
        }
    }
    g_hash_table_destroy(first);
    return names;
}

/* The line a row belongs to in a plot against `param`: its capability set, plus the
 * values of the other swept parameters (so a line never mixes settings). */
static gchar *line_key(const SweepRow *row, GPtrArray *swept, const char *param)
{
    GString *s = g_string_new(row->caps_label);

    for (guint i = 0; i < swept->len; i++) {
        json_object *v = member(row->params, swept->pdata[i]);
        if (!strcmp(swept->pdata[i], param) || !v)
            continue;
        gchar *t = sweep_value_text(v);
        g_string_append_printf(s, " %s=%s", (char *)swept->pdata[i], t);
        g_free(t);
    }
    return g_string_free(s, FALSE);
}

/* One plot: `metric` of `guest`'s rows against `param`.  Each line is the mean over seeds
 * of the converged points; every point that did not converge is a red cross at its value. */
static void plot_param(Report *r, const char *guest, GPtrArray *swept, const char *param, size_t m)
{
    guint have = 0;
    for (guint i = 0; i < r->rows->len; i++) {
        SweepRow *row = r->rows->pdata[i];
        double x, y;
        have += !strcmp(row->guest, guest) && sweep_value_number(member(row->params, param), &x) &&
                sweep_row_metric(row, plotted[m].metric, &y);
    }
    if (!have)
        return; /* this guest was not swept over `param` (e.g. a lone run report) */

    GString *cmd = g_string_new(NULL), *data = g_string_new(NULL), *nc = g_string_new(NULL);
    GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
    guint n_nc = 0;

    for (guint i = 0; i < r->rows->len; i++) {
        SweepRow *row = r->rows->pdata[i];
        if (strcmp(row->guest, guest) || !row->report)
            continue;
        gchar *k = line_key(row, swept, param);
        if (!g_ptr_array_find_with_equal_func(keys, k, g_str_equal, NULL))
            g_ptr_array_add(keys, k);
        else
            g_free(k);
    }
    /* One data block per line, x sorted: value, mean of converged points. */
    for (guint k = 0; k < keys->len; k++) {
        GArray *xs = g_array_new(FALSE, FALSE, sizeof(double));
        for (guint i = 0; i < r->rows->len; i++) {
            SweepRow *row = r->rows->pdata[i];
            double x, y;
            gchar *key =
                row->report && !strcmp(row->guest, guest) ? line_key(row, swept, param) : NULL;
            if (key && !strcmp(key, keys->pdata[k]) &&
                sweep_value_number(member(row->params, param), &x) &&
                sweep_row_metric(row, plotted[m].metric, &y)) {
                bool seen = false;
                for (guint j = 0; j < xs->len; j++)
                    seen |= g_array_index(xs, double, j) == x;
                if (!seen)
                    g_array_append_val(xs, x);
                if (!sweep_row_converged(row)) {
                    g_string_append_printf(nc, "%.17g %.17g\n", x, y / plotted[m].div);
                    n_nc++;
                }
            }
            g_free(key);
        }
        /* insertion sort: a handful of values */
        for (guint a = 1; a < xs->len; a++)
            for (guint b = a;
                 b > 0 && g_array_index(xs, double, b - 1) > g_array_index(xs, double, b); b--) {
                double t = g_array_index(xs, double, b);
                g_array_index(xs, double, b) = g_array_index(xs, double, b - 1);
                g_array_index(xs, double, b - 1) = t;
            }
        g_string_append_printf(data, "$L%u << EOD\n", k);
        for (guint j = 0; j < xs->len; j++) {
            double x = g_array_index(xs, double, j), sum = 0, y;
            guint n = 0;
            for (guint i = 0; i < r->rows->len; i++) {
                SweepRow *row = r->rows->pdata[i];
                double px;
                gchar *key =
                    row->report && !strcmp(row->guest, guest) ? line_key(row, swept, param) : NULL;
                if (key && !strcmp(key, keys->pdata[k]) && sweep_row_converged(row) &&
                    sweep_value_number(member(row->params, param), &px) && px == x &&
                    sweep_row_metric(row, plotted[m].metric, &y)) {
                    sum += y;
                    n++;
                }
                g_free(key);
            }
            if (n)
                g_string_append_printf(data, "%.17g %.17g\n", x, sum / n / plotted[m].div);
            else
                g_string_append(data, "\n"); /* a gap: nothing converged here */
        }
        g_string_append(data, "EOD\n");
        g_array_free(xs, TRUE);
    }
    g_string_append_printf(data, "$NC << EOD\n%sEOD\n", n_nc ? nc->str : "NaN NaN\n");
    g_string_append(cmd, data->str);
    g_string_append(cmd, "set key outside right top box\nset grid\nset format x '%.0s%c'\n");
    g_string_append(cmd, "set xlabel ");
    sweep_plot_quote(cmd, param);
    g_string_append(cmd, "\nset ylabel ");
    sweep_plot_quote(cmd, plotted[m].label);
    g_string_append(cmd, "\nset title ");
    gchar *title = g_strdup_printf("%s: %s", guest, plotted[m].label);
    sweep_plot_quote(cmd, title);
    g_string_append(cmd, "\nplot ");
    for (guint k = 0; k < keys->len; k++) {
        g_string_append_printf(cmd, "$L%u using 1:2 with linespoints lw 2 pt 7 title ", k);
        sweep_plot_quote(cmd, keys->pdata[k]);
        g_string_append(cmd, ", ");
    }
    g_string_append(cmd, "$NC using 1:2 with points pt 2 ps 2 lc rgb 'red' title "
                         "'not converged'\n");
    gchar *caption = g_strdup_printf("%s against %s for %s (mean over seeds of converged "
                                     "points; red crosses: points that did not converge)",
                                     plotted[m].label, param, guest);
    figure(r, caption, cmd->str, 760, 380);
    g_free(caption);
    g_free(title);
    g_ptr_array_free(keys, TRUE);
    g_string_free(cmd, TRUE);
    g_string_free(data, TRUE);
    g_string_free(nc, TRUE);
}

/* Without a numeric swept parameter: each metric per point, one series per capability set. */
static void plot_points(Report *r, size_t m)
{
    GString *cmd = g_string_new(NULL);
    GPtrArray *caps = g_ptr_array_new();

    for (guint i = 0; i < r->rows->len; i++) {
        SweepRow *row = r->rows->pdata[i];
        if (!g_ptr_array_find_with_equal_func(caps, row->caps_label, g_str_equal, NULL))
            g_ptr_array_add(caps, row->caps_label);
    }
    for (guint c = 0; c < caps->len; c++) {
        g_string_append_printf(cmd, "$C%u << EOD\n", c);
        for (guint i = 0; i < r->rows->len; i++) {
            SweepRow *row = r->rows->pdata[i];
            double y;
            if (!strcmp(row->caps_label, caps->pdata[c]) &&
                sweep_row_metric(row, plotted[m].metric, &y))
                g_string_append_printf(cmd, "%u %.17g %d\n", i, y / plotted[m].div,
                                       sweep_row_converged(row) ? 7 : 2);
        }
        g_string_append(cmd, "EOD\n");
    }
    g_string_append(cmd, "set key outside right top box\nset grid\nset xlabel 'point'\n"
                         "set style fill solid 0.6\nset boxwidth 0.6\nset ylabel ");
    sweep_plot_quote(cmd, plotted[m].label);
    g_string_append(cmd, "\nplot ");
    for (guint c = 0; c < caps->len; c++) {
        g_string_append_printf(cmd, "%s$C%u using 1:2:3 with points pt variable ps 1.5 title ",
                               c ? ", " : "", c);
        sweep_plot_quote(cmd, caps->pdata[c]);
    }
    g_string_append(cmd, "\n");
    gchar *caption =
        g_strdup_printf("%s of each point (crosses: did not converge)", plotted[m].label);
    figure(r, caption, cmd->str, 760, 340);
    g_free(caption);
    g_ptr_array_free(caps, TRUE);
    g_string_free(cmd, TRUE);
}

/* ---- model fit ---- */

static const char *run_guest(const SweepRow *row)
{
    json_object *s = member(row->report, "settings");
    const char *g = json_object_get_string(member(s, "guest"));
    return g ? g : row->guest;
}

static void model_section(Report *r)
{
    GString *t = g_string_new(NULL), *pts = g_string_new(NULL);
    guint n = 0;

    g_string_append(t, "<table><tr><th>point</th><th>guest</th><th>capabilities</th>"
                       "<th>converged<br>measured / model</th><th>total time s<br>measured / "
                       "model / residual</th><th>transferred MiB<br>measured / model / "
                       "residual</th><th>passes<br>measured / model</th></tr>\n");
    for (guint i = 0; i < r->rows->len; i++) {
        SweepRow *row = r->rows->pdata[i];
        SweepModelInput in;
        SweepModelPrediction p;
        double tt, tr, ps;
        json_object *s = member(row->report, "settings");
        if (!row->report ||
            !sweep_model_input(run_guest(row), row->params,
                               json_object_get_string(member(s, "link-bandwidth")), &in) ||
            !sweep_row_metric(row, "total-time-ms", &tt) ||
            !sweep_row_metric(row, "transferred", &tr) || !sweep_row_metric(row, "passes", &ps))
            continue;
        sweep_model_predict(&in, &p);
        bool conv = sweep_row_converged(row);
        g_string_append_printf(t, "<tr%s><td>%u</td><td>", conv ? "" : " class=\"nc\"", row->index);
        esc(t, run_guest(row));
        g_string_append(t, "</td><td>");
        esc(t, row->caps_label);
        g_string_append_printf(
            t,
            "</td><td>%s / %s</td><td>%.2f / %.2f / %+.1f%%</td><td>%.1f / %.1f / "
            "%+.1f%%</td><td>%.0f / %d</td></tr>\n",
            conv ? "yes" : "no", p.converged ? "yes" : "no", tt / 1000, p.total_time_ms / 1000,
            100 * (tt - p.total_time_ms) / p.total_time_ms, tr / 1048576, p.transferred / 1048576,
            100 * (tr - p.transferred) / p.transferred, ps, p.passes);
        if (conv && p.converged)
            g_string_append_printf(pts, "%.17g %.17g\n", p.total_time_ms / 1000, tt / 1000);
        n++;
    }
    g_string_append(t, "</table>\n");
    if (!n) {
        g_string_free(t, TRUE);
        g_string_free(pts, TRUE);
        return;
    }
    g_string_append(r->html, "<h2>Model fit</h2>\n<p>The analytic pre-copy model "
                             "(conformance/tests/test_feature_model.py; docs/sweeps.md) for "
                             "uniform and hotspot guests beside each measured point.  Residual "
                             "= (measured - model) / model.  The model knows no capability: "
                             "compression, XBZRLE or multifd points differ by design.</p>\n");
    if (pts->len) {
        GString *cmd = g_string_new(NULL);
        g_string_append_printf(cmd, "$P << EOD\n%sEOD\n", pts->str);
        g_string_append(cmd, "set grid\nset key left top\nset xlabel 'model total time (s)'\n"
                             "set ylabel 'measured total time (s)'\nset size ratio -1\n"
                             "stats $P using 1 nooutput\nhi = STATS_max * 1.1\n"
                             "set xrange [0:hi]\nset yrange [0:*]\n"
                             "plot $P using 1:2 with points pt 7 title 'point', x with lines "
                             "dt 2 title 'measured = model'\n");
        figure(r, "Measured against predicted total time (points where both converge)", cmd->str,
               520, 460);
        g_string_free(cmd, TRUE);
    }
    g_string_append(r->html, t->str);
    g_string_free(t, TRUE);
    g_string_free(pts, TRUE);
}

/* ---- timelines ---- */

static bool chosen(const ReportOptions *o, const SweepRow *row, guint shown)
{
    if (!o->timelines)
        return shown < (guint)o->max_timelines;
    for (gchar **t = o->timelines; *t; t++) {
        gchar *idx = g_strdup_printf("%u", row->index);
        bool hit = !strcmp(*t, row->id) || !strcmp(*t, idx);
        g_free(idx);
        if (hit)
            return true;
    }
    return false;
}

static double tl_num(json_object *s, const char *k)
{
    return json_object_get_double(member(s, k));
}

static void timeline(Report *r, const SweepRow *row, json_object *tl)
{
    GString *d = g_string_new("$T << EOD\n"), *arrows = g_string_new(NULL);
    int64_t prev_pass = -1;

    for (size_t i = 0; i < json_object_array_length(tl); i++) {
        json_object *s = json_object_array_get_idx(tl, i);
        double t = tl_num(s, "t-ms") / 1000;
        int64_t pass = json_object_get_int64(member(s, "pass"));
        g_string_append_printf(d, "%.17g %.17g %.17g %.17g %.17g %.17g\n", t,
                               tl_num(s, "remaining") / 1048576, tl_num(s, "transferred") / 1048576,
                               tl_num(s, "mbps"), tl_num(s, "dirty-rate") * 8 / 1e6,
                               tl_num(s, "throttle"));
        if (prev_pass >= 0 && pass != prev_pass)
            g_string_append_printf(arrows,
                                   "set arrow from %.17g, graph 0 to %.17g, graph 1 nohead dt 3 "
                                   "lc rgb 'gray40'\n",
                                   t, t);
        prev_pass = pass;
    }
    g_string_append(d, "EOD\n");
    gchar *who =
        g_strdup_printf("point %u (%s): %s, %s", row->index, row->id, row->guest, row->caps_label);
    GString *a = g_string_new(d->str);
    g_string_append(a, arrows->str);
    g_string_append(a, "set grid\nset key outside right top box\nset xlabel 'guest time (s)'\n"
                       "set ylabel 'MiB'\nplot $T using 1:2 with lines lw 2 title 'remaining', "
                       "$T using 1:3 with lines lw 2 title 'transferred'\n");
    gchar *cap = g_strdup_printf("%s: remaining and transferred (dotted: pass boundaries)", who);
    figure(r, cap, a->str, 760, 300);
    g_free(cap);
    GString *b = g_string_new(d->str);
    g_string_append(b, arrows->str);
    g_string_append(b, "set grid\nset key outside right top box\nset xlabel 'guest time (s)'\n"
                       "set ylabel 'Mbit/s'\nset y2label 'throttle %'\nset y2range [0:100]\n"
                       "set y2tics\nplot $T using 1:4 with lines lw 2 title 'bandwidth', "
                       "$T using 1:5 with lines lw 2 title 'dirty rate', $T using 1:6 axes x1y2 "
                       "with steps lw 1 title 'throttle'\n");
    cap = g_strdup_printf("%s: bandwidth, dirty rate and CPU throttle", who);
    figure(r, cap, b->str, 760, 300);
    g_free(cap);
    g_free(who);
    g_string_free(a, TRUE);
    g_string_free(b, TRUE);
    g_string_free(d, TRUE);
    g_string_free(arrows, TRUE);
}

static void timelines_section(Report *r)
{
    guint shown = 0, have = 0;

    for (guint i = 0; i < r->rows->len; i++) {
        SweepRow *row = r->rows->pdata[i];
        json_object *tl = member(sweep_row_result(row), "timeline");
        if (!json_object_is_type(tl, json_type_array) || !json_object_array_length(tl))
            continue;
        if (!have++)
            g_string_append(r->html, "<h2>Timelines</h2>\n<p>One sample per rate-limit window "
                                     "of at least 100 ms of guest time (docs/run.md).</p>\n");
        if (chosen(r->o, row, shown)) {
            timeline(r, row, tl);
            shown++;
        }
    }
    if (have && shown < have)
        g_string_append_printf(r->html,
                               "<p>%u more runs have timelines (choose with --timeline).</p>\n",
                               have - shown);
}

/* ---- the page ---- */

static void table(Report *r)
{
    GString *h = r->html;

    g_string_append(h, "<h2>Points</h2>\n<table><tr><th>#</th><th>id</th><th>guest</th>"
                       "<th>capabilities</th><th>parameters</th><th>seed</th><th>status</th>"
                       "<th>total time s</th><th>downtime ms</th><th>transferred MiB</th>"
                       "<th>passes</th></tr>\n");
    for (guint i = 0; i < r->rows->len; i++) {
        SweepRow *row = r->rows->pdata[i];
        double v;
        const char *st = json_object_get_string(member(sweep_row_result(row), "status"));
        g_string_append_printf(h, "<tr%s><td>%u</td><td>",
                               row->report && sweep_row_converged(row) ? "" : " class=\"nc\"",
                               row->index);
        esc(h, row->id);
        g_string_append(h, "</td><td>");
        esc(h, row->guest);
        g_string_append(h, "</td><td>");
        esc(h, row->caps_label);
        g_string_append(h, "</td><td>");
        esc(h, json_object_to_json_string_ext(row->params, JSON_C_TO_STRING_PLAIN));
        g_string_append_printf(h, "</td><td>%s</td><td>",
                               row->seed ? json_object_to_json_string(row->seed) : "");
        if (row->report)
            esc(h, st ? st : "?");
        else {
            esc(h, row->outcome);
            if (row->error) {
                g_string_append(h, ": ");
                esc(h, row->error);
            }
        }
        g_string_append(h, "</td>");
        static const struct {
            const char *m;
            double div;
            const char *fmt;
        } cols[] = { { "total-time-ms", 1000, "%.2f" },
                     { "downtime-ms", 1, "%.0f" },
                     { "transferred", 1048576, "%.1f" },
                     { "passes", 1, "%.0f" } };
        for (size_t c = 0; c < G_N_ELEMENTS(cols); c++) {
            g_string_append(h, "<td>");
            if (sweep_row_metric(row, cols[c].m, &v))
                g_string_append_printf(h, cols[c].fmt, v / cols[c].div);
            g_string_append(h, "</td>");
        }
        g_string_append(h, "</tr>\n");
    }
    g_string_append(h, "</table>\n");
}

/* The page checks itself when opened: every figure holds its SVG.  A figure without one
 * is a console error, which the browser test fails on. */
static const char page_script[] =
    "<script>\n"
    "(function () {\n"
    "  var figs = document.querySelectorAll('figure.plot'), ok = 0;\n"
    "  figs.forEach(function (f) {\n"
    "    var svg = f.querySelector('svg');\n"
    "    if (svg && svg.getBBox().width > 0) ok++;\n"
    "    else console.error('plot without a drawing: ' + f.textContent);\n"
    "  });\n"
    "  document.body.setAttribute('data-plots-ok', String(ok));\n"
    "  document.body.setAttribute('data-plots', String(figs.length));\n"
    "})();\n"
    "</script>\n";

static const char page_style[] =
    "<style>\n"
    "body{font-family:'DejaVu Sans',sans-serif;margin:1.5em;max-width:1100px;color:#222}\n"
    "figure.plot{margin:1em 0;border:1px solid #ddd;padding:.5em}\n"
    "figure.plot svg{width:100%;height:auto}\n"
    "figcaption{font-size:90%;color:#555}\n"
    "table{border-collapse:collapse;font-size:85%;margin:1em 0}\n"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}\n"
    "tr.nc td{background:#fde8e8}\n"
    "</style>\n";

int cmd_report_main(int argc, char **argv)
{
    ReportOptions o = { 0 };
    Report r = { .o = &o };
    GError *err = NULL;
    GOptionEntry entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_FILENAME, &o.output, "the HTML file to write (required)",
          "FILE" },
        { "title", 0, 0, G_OPTION_ARG_STRING, &o.title, "the page's title", "TEXT" },
        { "timeline", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.timelines,
          "plot this run's timeline (point id or index; repeatable)", "ID" },
        { "max-timelines", 0, 0, G_OPTION_ARG_STRING, &o.max_timelines_text,
          "without --timeline: the first N runs with timelines (default 6)", "N" },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o.rest, NULL, NULL },
        { NULL },
    };
    GOptionContext *ctx = g_option_context_new("DIR|FILE...");
    int rc;

    g_option_context_set_summary(ctx, "Writes one self-contained HTML page of plots (drawn by "
                                      "gnuplot) from sweep results\n(a results directory or "
                                      "results.json) or `migbench run --json` reports.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    rc = cli_options_parse(ctx, "report", &argc, &argv);
    g_option_context_free(ctx);
    if (rc != CLI_OPTIONS_CONTINUE)
        goto out;
    o.max_timelines = 6;
    if (!o.rest || !o.rest[0])
        rc = cli_options_usage_error("report", "no results given (DIR or FILE)");
    else if (!o.output)
        rc = cli_options_usage_error("report", "-o FILE is missing");
    else if (o.max_timelines_text &&
             (!mb_parse_i64(o.max_timelines_text, &o.max_timelines) || o.max_timelines < 0))
        rc = cli_options_usage_error("report", "--max-timelines needs a number >= 0");
    if (rc != CLI_OPTIONS_CONTINUE)
        goto out;
    rc = 1;
    if (!(r.gnuplot = sweep_plot_program())) {
        fprintf(stderr, "migbench report: gnuplot not found: it draws the plots (Debian: "
                        "apt-get install gnuplot-nox)\n");
        goto out;
    }
    if (!(r.rows = sweep_results_load(o.rest, &err))) {
        fprintf(stderr, "migbench report: %s\n", err->message);
        g_error_free(err);
        goto out;
    }
    guint ok = 0, nc = 0, failed = 0;
    for (guint i = 0; i < r.rows->len; i++) {
        SweepRow *row = r.rows->pdata[i];
        ok += row->report != NULL;
        nc += row->report && !sweep_row_converged(row);
        failed += !row->report;
    }
    r.html = g_string_new("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                          "<title>");
    const char *title = o.title ? o.title : "migbench report";
    esc(r.html, title);
    g_string_append_printf(r.html, "</title>\n%s</head><body>\n<h1>", page_style);
    esc(r.html, title);
    g_string_append_printf(r.html,
                           "</h1>\n<p>%u points: %u with results (%u did not converge), %u "
                           "failed or missing.  Sources:",
                           r.rows->len, ok, nc, failed);
    for (gchar **p = o.rest; *p; p++) {
        g_string_append(r.html, " <code>");
        esc(r.html, *p);
        g_string_append(r.html, "</code>");
    }
    g_string_append(r.html, "</p>\n<h2>Results</h2>\n");
    GPtrArray *swept = swept_params(r.rows), *guests = g_ptr_array_new();
    for (guint i = 0; i < r.rows->len; i++) {
        SweepRow *row = r.rows->pdata[i];
        if (!g_ptr_array_find_with_equal_func(guests, row->guest, g_str_equal, NULL))
            g_ptr_array_add(guests, row->guest);
    }
    for (guint p = 0; p < swept->len; p++)
        for (guint g = 0; g < guests->len; g++)
            for (size_t m = 0; m < G_N_ELEMENTS(plotted); m++)
                plot_param(&r, guests->pdata[g], swept, swept->pdata[p], m);
    if (!swept->len && ok)
        for (size_t m = 0; m < G_N_ELEMENTS(plotted); m++)
            plot_points(&r, m);
    model_section(&r);
    timelines_section(&r);
    table(&r);
    g_string_append_printf(r.html, "%s</body></html>\n", page_script);
    g_ptr_array_free(swept, TRUE);
    g_ptr_array_free(guests, TRUE);
    if (r.err) {
        fprintf(stderr, "migbench report: %s\n", r.err->message);
        g_clear_error(&r.err);
    } else if (!g_file_set_contents(o.output, r.html->str, -1, &err)) {
        fprintf(stderr, "migbench report: %s\n", err->message);
        g_error_free(err);
    } else {
        printf("migbench report: %s: %u plots, %u points\n", o.output, r.nplots, r.rows->len);
        rc = 0;
    }
out:
    if (r.html)
        g_string_free(r.html, TRUE);
    if (r.rows)
        g_ptr_array_free(r.rows, TRUE);
    g_free(r.gnuplot);
    g_free(o.output);
    g_free(o.title);
    g_strfreev(o.timelines);
    g_free(o.max_timelines_text);
    g_strfreev(o.rest);
    return rc;
}
