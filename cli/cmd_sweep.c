/* cmd_sweep: `migbench sweep SPEC`, a grid of `migbench run`s (docs/sweeps.md).
 *
 * Every point is one `migbench run --json` child process, so a point reproduces alone
 * (`--point I`, or the command in its record) and points are independent: sim runs share
 * nothing, and a point that fails is recorded with its error without stopping the rest.
 * Locally, up to --jobs children run at once from a GLib main loop (no threads: each
 * child is already a process); a progress line counts done, running, failed and the ETA.
 * With --slurm the points become a Slurm job array whose tasks each run `sweep --point`,
 * writing into the shared results directory; `--merge` collects them.  Results that exist
 * and match the spec are skipped, so a sweep resumes where it stopped. */
#include "cli.h"
#include "cli_options.h"
#include "mb_progress.h"
#include "mb_util.h"
#include "sweep_results.h"
#include "sweep_spec.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    gchar *output;
    gchar *jobs_text;
    gchar *point_text;
    gchar *point_timeout_text;
    gchar **sbatch_args;
    gchar **rest;
    gboolean slurm;
    gboolean merge;
    gboolean quiet;
    int64_t jobs;
    int64_t point;
    int64_t point_timeout_ns;
} SweepOptions;

static void options_clear(SweepOptions *o)
{
    g_free(o->output);
    g_free(o->jobs_text);
    g_free(o->point_text);
    g_free(o->point_timeout_text);
    g_strfreev(o->sbatch_args);
    g_strfreev(o->rest);
}

static int parse_options(int argc, char **argv, SweepOptions *o)
{
    GOptionEntry entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_FILENAME, &o->output,
          "results directory (default: SPEC without .json, plus .results)", "DIR" },
        { "jobs", 'j', 0, G_OPTION_ARG_STRING, &o->jobs_text,
          "points run at once (default: the number of processors)", "N" },
        { "point", 0, 0, G_OPTION_ARG_STRING, &o->point_text,
          "run only the point with this index (what each Slurm task does)", "I" },
        { "point-timeout", 0, 0, G_OPTION_ARG_STRING, &o->point_timeout_text,
          "kill a point's run after this much wall time (default 15min)", "DUR" },
        { "slurm", 0, 0, G_OPTION_ARG_NONE, &o->slurm,
          "submit the points still to run as a Slurm job array (sbatch --array)", NULL },
        { "sbatch-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->sbatch_args,
          "an extra sbatch argument (repeatable), e.g. --sbatch-arg=--partition=big", "ARG" },
        { "merge", 0, 0, G_OPTION_ARG_NONE, &o->merge,
          "only merge the results that exist into results.csv and results.json", NULL },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, "no progress line, no summary", NULL },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->rest, NULL, NULL },
        { NULL },
    };
    GOptionContext *ctx = g_option_context_new("SPEC");
    int rc;

    g_option_context_set_summary(
        ctx, "Runs every point of a sweep spec (a JSON file, docs/sweeps.md), each as one\n"
             "`migbench run`, skipping points whose results exist, and merges the results\n"
             "into DIR/results.csv and DIR/results.json.  Exit status 1 when a point failed.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    rc = cli_options_parse(ctx, "sweep", &argc, &argv);
    g_option_context_free(ctx);
    if (rc != CLI_OPTIONS_CONTINUE)
        return rc;
    if (!o->rest || !o->rest[0])
        return cli_options_usage_error("sweep", "SPEC is missing");
    if (o->rest[1])
        return cli_options_usage_error("sweep", "unexpected argument '%s'", o->rest[1]);
    o->jobs = g_get_num_processors();
    if (o->jobs_text && (!mb_parse_i64(o->jobs_text, &o->jobs) || o->jobs < 1 || o->jobs > 1024))
        return cli_options_usage_error("sweep", "--jobs needs a number from 1 to 1024");
    o->point = -1;
    if (o->point_text && (!mb_parse_i64(o->point_text, &o->point) || o->point < 0))
        return cli_options_usage_error("sweep", "--point needs a point index >= 0");
    o->point_timeout_ns = 15LL * 60 * 1000000000;
    if (o->point_timeout_text) {
        GError *err = NULL;
        if (!mb_parse_duration(o->point_timeout_text, &o->point_timeout_ns, &err) ||
            o->point_timeout_ns <= 0) {
            rc = cli_options_usage_error("sweep", "--point-timeout: %s",
                                         err ? err->message : "must be positive");
            g_clear_error(&err);
            return rc;
        }
    }
    if ((o->slurm + o->merge + (o->point >= 0)) > 1)
        return cli_options_usage_error("sweep", "--slurm, --merge and --point exclude each other");
    if (o->sbatch_args && !o->slurm)
        return cli_options_usage_error("sweep", "--sbatch-arg goes with --slurm");
    if (!o->output) {
        gchar *base = g_str_has_suffix(o->rest[0], ".json")
                          ? g_strndup(o->rest[0], strlen(o->rest[0]) - 5)
                          : g_strdup(o->rest[0]);
        o->output = g_strconcat(base, ".results", NULL);
        g_free(base);
    }
    return CLI_OPTIONS_CONTINUE;
}

/* This binary's own path, for the children (a relative argv[0] would not survive a
 * Slurm task's working directory). */
static gchar *self_path(void)
{
    gchar *p = g_file_read_link("/proc/self/exe", NULL);
    return p ? p : g_strdup("migbench");
}

/* Prepares DIR: points/ and a copy of the spec.  A directory holding another spec's
 * results is refused rather than mixed. */
static bool prepare_dir(const char *dir, const char *spec_path, GError **err)
{
    gchar *points = g_build_filename(dir, "points", NULL);
    gchar *copy = g_build_filename(dir, "spec.json", NULL);
    gchar *text = NULL, *old = NULL;
    bool ok = false;

    if (g_mkdir_with_parents(points, 0777) != 0) {
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", points,
                    g_strerror(errno));
        goto out;
    }
    if (!g_file_get_contents(spec_path, &text, NULL, err))
        goto out;
    if (g_file_get_contents(copy, &old, NULL, NULL) && strcmp(old, text)) {
        /* Another spec: keep the results of points both share (same ids), but say so. */
        fprintf(stderr,
                "migbench sweep: %s held another spec; replacing it (results of "
                "unchanged points are kept)\n",
                copy);
    }
    ok = g_file_set_contents(copy, text, -1, err);
out:
    g_free(points);
    g_free(copy);
    g_free(text);
    g_free(old);
    return ok;
}

/* ---- running points ---- */

typedef struct Sweep Sweep;

typedef struct {
    Sweep *sweep;
    SweepPoint *point;
    GSubprocess *proc;
    guint timer;
    bool timed_out;
} Job;

struct Sweep {
    const SweepOptions *o;
    const char *dir;
    gchar *self;
    GPtrArray *todo; /* SweepPoint* still to start */
    guint next, running, done, failed, total;
    int64_t t0;
    MbProgress progress;
    GMainLoop *loop;
};

/* The first line of run's stderr that says what went wrong (run's own words). */
static gchar *first_error(const char *log_path, int status)
{
    gchar *text = NULL, *msg = NULL;

    if (g_file_get_contents(log_path, &text, NULL, NULL)) {
        gchar **lines = g_strsplit(text, "\n", -1);
        for (gchar **l = lines; *l && !msg; l++)
            if (**l && !strstr(*l, "vm logs are in") && !strstr(*l, "work directory kept"))
                msg = g_strdup(g_strstrip(*l));
        g_strfreev(lines);
    }
    g_free(text);
    return msg ? msg : g_strdup_printf("migbench run exited with status %d", status);
}

/* Records the outcome of a finished child.  A run whose migration did not converge still
 * wrote its report (exit status 1): that point is "ok", its status says the rest. */
static bool finish_point(const char *dir, SweepPoint *p, int status, bool timed_out)
{
    gchar *log = sweep_results_path(dir, p, ".log");
    gchar *json = sweep_results_path(dir, p, ".json");
    json_object *rep = json_object_from_file(json);
    bool ok = rep && json_object_object_get(rep, "result");
    gchar *error = NULL;
    GError *err = NULL;

    if (!ok) {
        error = timed_out ? g_strdup("killed: --point-timeout reached") : first_error(log, status);
        g_unlink(json); /* half a file must not look like a result */
    }
    if (!sweep_results_record(dir, p, ok ? "ok" : "failed", status, error, &err)) {
        fprintf(stderr, "migbench sweep: %s\n", err->message);
        g_error_free(err);
        ok = false;
    }
    json_object_put(rep);
    g_free(error);
    g_free(log);
    g_free(json);
    return ok;
}

static void show(Sweep *s)
{
    if (!s->progress.tty)
        return;
    guint finished = s->done + s->failed, width = 20;
    guint fill = s->total ? finished * width / s->total : width;
    char bar[32], eta[32] = "--";
    int64_t el = mb_monotonic_ns() - s->t0;
    memset(bar, '#', fill);
    memset(bar + fill, '-', width - fill);
    bar[width] = 0;
    if (finished) {
        /* Progress only: wall time never feeds a result. */
        double left = (double)el / finished * (s->total - finished) / s->o->jobs *
                      MIN(s->o->jobs, (int64_t)(s->total - finished + s->running));
        mb_fmt_duration(eta, sizeof(eta), (int64_t)left);
    }
    mb_progress_update(&s->progress, "sweep [%s] %u/%u done  %u running  %u failed  ETA %s", bar,
                       finished, s->total, s->running, s->failed, eta);
}

static void start_next(Sweep *s);

static gboolean job_timeout(gpointer data)
{
    Job *j = data;

    j->timed_out = true;
    j->timer = 0;
    g_subprocess_force_exit(j->proc);
    return G_SOURCE_REMOVE;
}

static void job_done(GObject *obj, GAsyncResult *res, gpointer data)
{
    Job *j = data;
    Sweep *s = j->sweep;
    int status = -1;

    g_subprocess_wait_finish(G_SUBPROCESS(obj), res, NULL);
    if (g_subprocess_get_if_exited(j->proc))
        status = g_subprocess_get_exit_status(j->proc);
    if (j->timer)
        g_source_remove(j->timer);
    if (finish_point(s->dir, j->point, status, j->timed_out))
        s->done++;
    else
        s->failed++;
    s->running--;
    g_object_unref(j->proc);
    g_free(j);
    start_next(s);
    show(s);
    if (!s->running && s->next >= s->todo->len)
        g_main_loop_quit(s->loop);
}

static void start_next(Sweep *s)
{
    while (s->running < s->o->jobs && s->next < s->todo->len) {
        SweepPoint *p = s->todo->pdata[s->next++];
        gchar *json = sweep_results_path(s->dir, p, ".json");
        gchar *log = sweep_results_path(s->dir, p, ".log");
        gchar *work = sweep_results_path(s->dir, p, ".work");
        gchar **args = sweep_point_run_args(p, json);
        guint n = g_strv_length(args);
        const gchar **argv = g_new0(const gchar *, n + 4);
        GError *err = NULL;

        g_unlink(json);
        argv[0] = s->self;
        for (guint i = 0; i < n; i++)
            argv[i + 1] = args[i];
        /* A failed point's vm logs go next to its report, not into $TMPDIR. */
        argv[n + 1] = "--keep-to";
        argv[n + 2] = work;
        GSubprocessLauncher *l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
        g_subprocess_launcher_setenv(l, "MIGBENCH_NO_PROGRESS", "1", TRUE);
        g_subprocess_launcher_set_stderr_file_path(l, log);
        GSubprocess *proc = g_subprocess_launcher_spawnv(l, argv, &err);
        g_object_unref(l);
        if (!proc) {
            gchar *msg = g_strdup_printf("cannot start %s: %s", s->self, err->message);
            sweep_results_record(s->dir, p, "failed", -1, msg, NULL);
            g_free(msg);
            g_error_free(err);
            s->failed++;
        } else {
            Job *j = g_new0(Job, 1);
            j->sweep = s;
            j->point = p;
            j->proc = proc;
            j->timer = g_timeout_add((guint)(s->o->point_timeout_ns / 1000000), job_timeout, j);
            s->running++;
            g_subprocess_wait_async(proc, NULL, job_done, j);
        }
        g_free(argv);
        g_strfreev(args);
        g_free(json);
        g_free(log);
        g_free(work);
    }
}

static gboolean tick(gpointer data)
{
    show(data);
    return G_SOURCE_CONTINUE;
}

/* Runs the points of `todo`; returns the number that failed. */
static guint run_local(const SweepOptions *o, const char *dir, GPtrArray *todo)
{
    Sweep s = { .o = o, .dir = dir, .todo = todo, .total = todo->len };

    if (!todo->len)
        return 0;
    s.self = self_path();
    s.t0 = mb_monotonic_ns();
    mb_progress_init(&s.progress);
    if (o->quiet)
        s.progress.tty = false;
    s.loop = g_main_loop_new(NULL, FALSE);
    guint t = g_timeout_add(250, tick, &s);
    start_next(&s);
    if (s.running)
        g_main_loop_run(s.loop);
    g_source_remove(t);
    mb_progress_done(&s.progress);
    g_main_loop_unref(s.loop);
    g_free(s.self);
    return s.failed;
}

/* ---- Slurm ---- */

/* Writes DIR/slurm/sweep.sbatch for the pending points and submits it; prints the job id. */
static int submit_slurm(const SweepOptions *o, const char *dir, const char *spec_path,
                        GPtrArray *todo)
{
    gchar *sdir = g_build_filename(dir, "slurm", NULL);
    gchar *script = g_build_filename(sdir, "sweep.sbatch", NULL);
    gchar *self = self_path();
    gchar *adir = g_canonicalize_filename(dir, NULL);
    gchar *aspec = g_canonicalize_filename(spec_path, NULL);
    GString *array = g_string_new(NULL), *text = g_string_new("#!/bin/sh\n");
    GError *err = NULL;
    int rc = 1;

    for (guint i = 0; i < todo->len; i++)
        g_string_append_printf(array, "%s%u", i ? "," : "", ((SweepPoint *)todo->pdata[i])->index);
    gchar *q_self = g_shell_quote(self), *q_dir = g_shell_quote(adir);
    gchar *q_spec = g_shell_quote(aspec);
    /* One task per point; the task's output goes next to the results (shared directory). */
    g_string_append_printf(text,
                           "#SBATCH --job-name=migbench-sweep\n"
                           "#SBATCH --array=%s\n"
                           "#SBATCH --ntasks=1\n"
                           "#SBATCH --output=%s/%%A_%%a.out\n"
                           "exec %s sweep -q --point \"$SLURM_ARRAY_TASK_ID\" -o %s %s\n",
                           array->str, sdir, q_self, q_dir, q_spec);
    g_mkdir_with_parents(sdir, 0777);
    if (!g_file_set_contents(script, text->str, -1, &err)) {
        fprintf(stderr, "migbench sweep: %s\n", err->message);
        g_error_free(err);
        goto out;
    }
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, "sbatch");
    g_ptr_array_add(argv, "--parsable");
    for (gchar **a = o->sbatch_args; a && *a; a++)
        g_ptr_array_add(argv, *a);
    g_ptr_array_add(argv, script);
    g_ptr_array_add(argv, NULL);
    gchar *out = NULL, *errout = NULL;
    int status = 0;
    if (!g_spawn_sync(NULL, (gchar **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                      &errout, &status, &err)) {
        fprintf(stderr, "migbench sweep: sbatch: %s (is Slurm installed? docs/sweeps.md)\n",
                err->message);
        g_error_free(err);
    } else if (!g_spawn_check_wait_status(status, NULL)) {
        fprintf(stderr, "migbench sweep: sbatch failed: %s", errout);
    } else {
        printf("migbench sweep: submitted %u points as Slurm job %s", todo->len, out);
        printf("migbench sweep: when the job has ended: migbench sweep --merge -o %s %s\n", adir,
               aspec);
        rc = 0;
    }
    g_free(out);
    g_free(errout);
    g_ptr_array_free(argv, TRUE);
out:
    g_free(q_self);
    g_free(q_dir);
    g_free(q_spec);
    g_string_free(array, TRUE);
    g_string_free(text, TRUE);
    g_free(sdir);
    g_free(script);
    g_free(self);
    g_free(adir);
    g_free(aspec);
    return rc;
}

/* ---- main ---- */

static int merge(const SweepOptions *o, const SweepSpec *spec, guint ran, guint skipped,
                 bool say_missing)
{
    SweepCounts c;
    GError *err = NULL;

    if (!sweep_results_merge(o->output, spec, &c, &err)) {
        fprintf(stderr, "migbench sweep: %s\n", err->message);
        g_error_free(err);
        return 1;
    }
    if (!o->quiet) {
        printf("migbench sweep: %u points: %u ran, %u skipped (results exist); %u ok, %u "
               "failed, %u missing\n",
               spec->points->len, ran, skipped, c.ok, c.failed, c.missing);
        printf("migbench sweep: results in %s/results.csv and results.json\n", o->output);
    }
    for (guint i = 0; !o->quiet && i < spec->points->len; i++) {
        SweepPoint *p = spec->points->pdata[i];
        gchar *rec = sweep_results_path(o->output, p, ".point.json");
        json_object *r = json_object_from_file(rec);
        const char *outcome = json_object_get_string(json_object_object_get(r, "outcome"));
        if (!g_strcmp0(outcome, "failed"))
            printf("  point %u (%s) failed: %s\n", p->index, p->id,
                   json_object_get_string(json_object_object_get(r, "error")));
        json_object_put(r);
        g_free(rec);
    }
    return c.failed || (say_missing && c.missing) ? 1 : 0;
}

int cmd_sweep_main(int argc, char **argv)
{
    SweepOptions o = { 0 };
    SweepSpec *spec = NULL;
    GError *err = NULL;
    int rc = parse_options(argc, argv, &o);

    if (rc != CLI_OPTIONS_CONTINUE)
        goto out;
    rc = 1;
    if (!(spec = sweep_spec_load(o.rest[0], &err))) {
        fprintf(stderr, "migbench sweep: %s\n", err->message);
        g_error_free(err);
        goto out;
    }
    if (o.point >= (int64_t)spec->points->len) {
        rc =
            cli_options_usage_error("sweep", "--point %" G_GINT64_FORMAT ": the spec has %u points",
                                    o.point, spec->points->len);
        goto out;
    }
    if (o.merge) {
        rc = merge(&o, spec, 0, 0, true);
        goto out;
    }
    /* A Slurm task only runs its point: the directory was prepared by the submitter, and
     * concurrent tasks must not all rewrite spec.json. */
    if (o.point >= 0) {
        gchar *points = g_build_filename(o.output, "points", NULL);
        g_mkdir_with_parents(points, 0777);
        g_free(points);
    } else if (!prepare_dir(o.output, o.rest[0], &err)) {
        fprintf(stderr, "migbench sweep: %s\n", err->message);
        g_error_free(err);
        goto out;
    }
    GPtrArray *todo = g_ptr_array_new();
    guint skipped = 0;
    for (guint i = 0; i < spec->points->len; i++) {
        SweepPoint *p = spec->points->pdata[i];
        if (o.point >= 0 && p->index != (guint)o.point)
            continue;
        if (o.point < 0 && sweep_results_point_done(o.output, p))
            skipped++;
        else
            g_ptr_array_add(todo, p);
    }
    if (o.slurm) {
        if (!todo->len) {
            printf("migbench sweep: every point has its result; nothing to submit\n");
            rc = merge(&o, spec, 0, skipped, true);
        } else {
            rc = submit_slurm(&o, o.output, o.rest[0], todo);
        }
    } else if (o.point >= 0) {
        o.quiet = TRUE;
        rc = run_local(&o, o.output, todo) ? 1 : 0;
    } else {
        guint failed = run_local(&o, o.output, todo);
        rc = merge(&o, spec, todo->len, skipped, false);
        rc = rc || failed ? 1 : 0;
    }
    g_ptr_array_free(todo, TRUE);
out:
    sweep_spec_free(spec);
    options_clear(&o);
    return rc;
}
