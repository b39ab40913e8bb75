/* cmd_run: `migbench run`, the main job.  Starts a destination and a source `migbench vm`,
 * applies capabilities and parameters on both, migrates over the chosen transport while
 * showing a live progress line, waits for the destination to verify every page, then
 * prints a report table and optionally writes the JSON report or checks it against a
 * golden file.  With no arguments it migrates the built-in default guest. */
#include "cli.h"
#include "mb_error.h"
#include "mb_progress.h"
#include "mb_util.h"
#include "qmp_client.h"
#include "run.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QMP_TIMEOUT_MS 30000

typedef struct {
    const char *guest;
    const char *schema;
    const char *transport;
    const char *json_path;
    const char *check_path;
    const char *scenario;
    const char *pace;
    const char *link_bandwidth;
    const char *link_latency;
    int64_t timeout_ns;
    int64_t max_passes;
    int64_t max_time_ns;
    GPtrArray *caps;   /* "name=on" */
    GPtrArray *params; /* "name=value" */
    bool keep;
    bool quiet;
} RunOptions;

typedef struct {
    GSubprocess *proc;
    QmpClient *qmp;
    gchar *qmp_path;
    gchar *report_path;
    gchar *log_path;
} RunVm;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: migbench run [OPTIONS]\n\n"
            "Migrates a guest from a source to a destination `migbench vm` and reports.\n"
            "Without options: the built-in default guest (sim:hotspot, about 1 GiB).\n\n"
            "  --guest SPEC          sim:WORKLOAD|sim:TRACE|kvm:... (default sim:hotspot)\n"
            "  --schema VER|PATH     5.0 (default), 4.0-dev, or a migration.json\n"
            "  --cap NAME=on|off     a migration capability, on both sides (repeatable)\n"
            "  --param NAME=VALUE    a migration parameter, on both sides (repeatable);\n"
            "                        sizes may use suffixes (64M, 1G)\n"
            "  --transport T         unix (default), tcp or exec\n"
            "  --scenario FILE       actions at exact points of the migration (docs/scenarios.md)\n"
            "  --link-bandwidth BW   sim: simulated link (default 10Gbit)\n"
            "  --link-latency DUR    sim: one-way latency (default 0)\n"
            "  --pace RATIO          sim: virtual seconds per wall second (default unpaced)\n"
            "  --max-passes N        cancel a migration that has not converged after N passes\n"
            "                        (default 30, like guestperf; 0 = no limit)\n"
            "  --max-time DUR        ... or after this much guest time (default 300s; 0 = none)\n"
            "  --timeout DUR         give up (cancel) after this much wall time (default 10min)\n"
            "  --json FILE           write the JSON report (- for stdout)\n"
            "  --check GOLDEN        compare the result with a golden JSON report; exit 1 on\n"
            "                        any difference (regenerate with --json GOLDEN)\n"
            "  --keep                keep the work directory (vm logs, reports)\n"
            "  -q, --quiet           no table, only errors\n"
            "  -h, --help\n");
}

static int parse_options(int argc, char **argv, RunOptions *o)
{
    o->guest = "sim:hotspot";
    o->schema = "5.0";
    o->transport = "unix";
    o->timeout_ns = 600LL * 1000000000;
    o->max_passes = 30;
    o->max_time_ns = 300LL * 1000000000;
    o->caps = g_ptr_array_new();
    o->params = g_ptr_array_new();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define VALUE()                                                                                    \
    ({                                                                                             \
        if (i + 1 >= argc) {                                                                       \
            fprintf(stderr, "migbench run: %s needs a value\n", a);                                \
            return 2;                                                                              \
        }                                                                                          \
        argv[++i];                                                                                 \
    })
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--guest")) {
            o->guest = VALUE();
        } else if (!strcmp(a, "--schema")) {
            o->schema = VALUE();
        } else if (!strcmp(a, "--cap")) {
            g_ptr_array_add(o->caps, VALUE());
        } else if (!strcmp(a, "--param")) {
            g_ptr_array_add(o->params, VALUE());
        } else if (!strcmp(a, "--transport")) {
            o->transport = VALUE();
        } else if (!strcmp(a, "--scenario")) {
            o->scenario = VALUE();
        } else if (!strcmp(a, "--pace")) {
            o->pace = VALUE();
        } else if (!strcmp(a, "--link-bandwidth")) {
            o->link_bandwidth = VALUE();
        } else if (!strcmp(a, "--link-latency")) {
            o->link_latency = VALUE();
        } else if (!strcmp(a, "--timeout")) {
            GError *err = NULL;
            if (!mb_parse_duration(VALUE(), &o->timeout_ns, &err)) {
                fprintf(stderr, "migbench run: %s\n", err->message);
                g_error_free(err);
                return 2;
            }
        } else if (!strcmp(a, "--max-passes")) {
            if (!mb_parse_i64(VALUE(), &o->max_passes) || o->max_passes < 0) {
                fprintf(stderr, "migbench run: --max-passes needs a number >= 0\n");
                return 2;
            }
        } else if (!strcmp(a, "--max-time")) {
            GError *err = NULL;
            if (!mb_parse_duration(VALUE(), &o->max_time_ns, &err)) {
                fprintf(stderr, "migbench run: %s\n", err->message);
                g_error_free(err);
                return 2;
            }
        } else if (!strcmp(a, "--json")) {
            o->json_path = VALUE();
        } else if (!strcmp(a, "--check")) {
            o->check_path = VALUE();
        } else if (!strcmp(a, "--keep")) {
            o->keep = true;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = true;
        } else {
            fprintf(stderr, "migbench run: unknown option '%s' (see --help)\n", a);
            return 2;
        }
#undef VALUE
    }
    if (strcmp(o->transport, "unix") && strcmp(o->transport, "tcp") &&
        strcmp(o->transport, "exec")) {
        fprintf(stderr, "migbench run: --transport must be unix, tcp or exec\n");
        return 2;
    }
    return -1;
}

/* The limits become scenario actions run by the source itself, so where a migration is
 * given up is as deterministic as the rest (a runner watching over QMP would cancel at a
 * wall-clock moment).  The user's own scenario actions come first.  Returns the path of
 * the scenario to pass to the source, or NULL when there is none. */
static gchar *build_scenario(const RunOptions *o, const char *dir, GError **err)
{
    json_object *actions = json_object_new_array();

    if (o->scenario) {
        json_object *user = json_object_from_file(o->scenario), *list = NULL;
        if (!user || !json_object_object_get_ex(user, "actions", &list) ||
            !json_object_is_type(list, json_type_array)) {
            mb_error_set(err, "%s: not a scenario (a JSON object with an \"actions\" array)",
                         o->scenario);
            json_object_put(user);
            json_object_put(actions);
            return NULL;
        }
        for (size_t i = 0; i < json_object_array_length(list); i++)
            json_object_array_add(actions, json_object_get(json_object_array_get_idx(list, i)));
        json_object_put(user);
    }
    if (o->max_passes > 0) {
        json_object *a = json_object_new_object(), *at = json_object_new_object();
        json_object_object_add(at, "pass", json_object_new_int64(o->max_passes + 1));
        json_object_object_add(a, "at", at);
        json_object_object_add(a, "execute", json_object_new_string("migrate_cancel"));
        json_object_array_add(actions, a);
    }
    if (o->max_time_ns > 0) {
        json_object *a = json_object_new_object(), *at = json_object_new_object();
        json_object_object_add(at, "time", json_object_new_int64(o->max_time_ns / 1000000));
        json_object_object_add(a, "at", at);
        json_object_object_add(a, "execute", json_object_new_string("migrate_cancel"));
        json_object_array_add(actions, a);
    }
    if (!json_object_array_length(actions)) {
        json_object_put(actions);
        return NULL;
    }
    json_object *root = json_object_new_object();
    json_object_object_add(root, "actions", actions);
    gchar *path = g_strdup_printf("%s/scenario.json", dir);
    bool ok = g_file_set_contents(path, json_object_to_json_string(root), -1, err);
    json_object_put(root);
    if (!ok) {
        g_free(path);
        return NULL;
    }
    return path;
}

/* ---- the two vm processes ---- */

/* The destination's guest spec: a sim destination applies XBZRLE deltas and compressed
 * pages in place, so with those capabilities it must hold its memory (store=mem) unless
 * the user chose a store; too large a guest then fails at once, naming its size. */
static gchar *guest_spec(const RunOptions *o, bool incoming)
{
    bool in_place = false;
    for (guint i = 0; i < o->caps->len; i++) {
        const char *c = g_ptr_array_index(o->caps, i);
        in_place |= !strcmp(c, "xbzrle=on") || !strcmp(c, "compress=on");
    }
    if (incoming && in_place && g_str_has_prefix(o->guest, "sim:") && !strstr(o->guest, "store="))
        return g_strdup_printf("%s,store=mem", o->guest);
    return g_strdup(o->guest);
}

static bool vm_start(RunVm *vm, const RunOptions *o, const char *dir, const char *name,
                     bool incoming, const char *scenario, GError **err)
{
    gchar *self = g_file_read_link("/proc/self/exe", err);
    if (!self)
        return false;
    vm->qmp_path = g_strdup_printf("%s/%s.qmp", dir, name);
    vm->report_path = g_strdup_printf("%s/%s.report.json", dir, name);
    vm->log_path = g_strdup_printf("%s/%s.log", dir, name);
    gchar *qmp = g_strdup_printf("unix:%s", vm->qmp_path);
    gchar *guest = guest_spec(o, incoming);
    GPtrArray *argv = g_ptr_array_new();
    const char *fixed[] = { self,  "vm",       "--qmp",   qmp,        "--guest",
                            guest, "--schema", o->schema, "--report", vm->report_path };
    for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
        g_ptr_array_add(argv, (char *)fixed[i]);
    if (incoming) {
        g_ptr_array_add(argv, "--incoming");
        g_ptr_array_add(argv, "defer");
    } else {
        if (scenario) {
            g_ptr_array_add(argv, "--scenario");
            g_ptr_array_add(argv, (char *)scenario);
        }
        if (o->pace) {
            g_ptr_array_add(argv, "--pace");
            g_ptr_array_add(argv, (char *)o->pace);
        }
    }
    if (o->link_bandwidth) {
        g_ptr_array_add(argv, "--link-bandwidth");
        g_ptr_array_add(argv, (char *)o->link_bandwidth);
    }
    if (o->link_latency) {
        g_ptr_array_add(argv, "--link-latency");
        g_ptr_array_add(argv, (char *)o->link_latency);
    }
    g_ptr_array_add(argv, NULL);
    GSubprocessLauncher *l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_INHERIT);
    g_subprocess_launcher_set_stdout_file_path(l, vm->log_path);
    g_subprocess_launcher_set_stderr_file_path(l, vm->log_path);
    vm->proc = g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, err);
    g_object_unref(l);
    g_ptr_array_free(argv, TRUE);
    g_free(qmp);
    g_free(guest);
    g_free(self);
    if (!vm->proc)
        return false;
    gchar *addr = g_strdup_printf("unix:%s", vm->qmp_path);
    vm->qmp = qmp_client_connect(addr, 20000, false, err);
    g_free(addr);
    if (!vm->qmp)
        g_prefix_error(err, "%s vm: ", name);
    return vm->qmp != NULL;
}

/* Quits a vm and reaps it (bounded: a vm that does not exit is killed). */
static void vm_stop(RunVm *vm)
{
    if (vm->qmp) {
        json_object *r = qmp_client_execute(vm->qmp, "quit", NULL, 5000, NULL);
        json_object_put(r);
        qmp_client_free(vm->qmp);
        vm->qmp = NULL;
    }
    if (vm->proc) {
        /* GSubprocess reaps the child itself; the identifier goes away once it has.  A vm
         * that does not exit within the deadline is killed. */
        int64_t deadline = mb_monotonic_ns() + 10LL * 1000000000;
        while (g_subprocess_get_identifier(vm->proc) && mb_monotonic_ns() < deadline)
            g_usleep(1000);
        if (g_subprocess_get_identifier(vm->proc)) {
            g_subprocess_force_exit(vm->proc);
            g_subprocess_wait(vm->proc, NULL, NULL);
        }
        g_object_unref(vm->proc);
        vm->proc = NULL;
    }
    g_free(vm->qmp_path);
    g_free(vm->report_path);
    g_free(vm->log_path);
}

static json_object *call(RunVm *vm, const char *cmd, json_object *args, GError **err)
{
    return qmp_client_call(vm->qmp, cmd, args, QMP_TIMEOUT_MS, err);
}

static bool call_ok(RunVm *vm, const char *cmd, json_object *args, GError **err)
{
    json_object *r = call(vm, cmd, args, err);
    json_object_put(r);
    return r != NULL;
}

/* ---- settings ---- */

/* VALUE of --param: JSON when it parses, else a size with suffix, else a string. */
static json_object *param_value(const char *text)
{
    /* json_tokener_parse() would accept a prefix ("1G" -> 1): require the whole text.  A
     * trailing space lets the tokener see where a bare number or literal ends. */
    json_tokener *tok = json_tokener_new();
    size_t len = strlen(text);
    gchar *padded = g_strconcat(text, " ", NULL);
    json_object *v = json_tokener_parse_ex(tok, padded, (int)len + 1);
    bool whole = v && json_tokener_get_parse_end(tok) >= len;
    uint64_t n;

    g_free(padded);
    json_tokener_free(tok);
    if (whole)
        return v;
    json_object_put(v);
    if (mb_parse_size(text, &n, NULL))
        return json_object_new_uint64(n);
    return json_object_new_string(text);
}

static bool apply_settings(RunVm *vm, const RunOptions *o, json_object *settings, GError **err)
{
    json_object *caps = json_object_new_array(), *params = json_object_new_object();
    json_object *scaps = json_object_new_object();
    bool events_given = false;

    for (guint i = 0; i < o->caps->len; i++) {
        gchar **kv = g_strsplit(g_ptr_array_index(o->caps, i), "=", 2);
        bool on = !kv[1] || !strcmp(kv[1], "on") || !strcmp(kv[1], "true");
        json_object *c = json_object_new_object();
        json_object_object_add(c, "capability", json_object_new_string(kv[0]));
        json_object_object_add(c, "state", json_object_new_boolean(on));
        json_object_array_add(caps, c);
        json_object_object_add(scaps, kv[0], json_object_new_boolean(on));
        events_given |= !strcmp(kv[0], "events");
        g_strfreev(kv);
    }
    /* The runner waits on MIGRATION events, so 'events' is always on. */
    if (!events_given) {
        json_object *c = json_object_new_object();
        json_object_object_add(c, "capability", json_object_new_string("events"));
        json_object_object_add(c, "state", json_object_new_boolean(true));
        json_object_array_add(caps, c);
    }
    for (guint i = 0; i < o->params->len; i++) {
        gchar **kv = g_strsplit(g_ptr_array_index(o->params, i), "=", 2);
        json_object_object_add(params, kv[0], param_value(kv[1] ? kv[1] : ""));
        g_strfreev(kv);
    }
    json_object *args = json_object_new_object();
    json_object_object_add(args, "capabilities", caps);
    bool ok = call_ok(vm, "migrate-set-capabilities", args, err);
    if (ok && json_object_object_length(params))
        ok = call_ok(vm, "migrate-set-parameters", json_object_get(params), err);
    if (settings && ok) {
        json_object_object_add(settings, "capabilities", json_object_get(scaps));
        json_object_object_add(settings, "parameters", json_object_get(params));
    }
    json_object_put(params);
    json_object_put(scaps);
    return ok;
}

/* ---- the migration ---- */

static bool start_migration(RunVm *src, RunVm *dst, const RunOptions *o, const char *dir,
                            GError **err)
{
    gchar *in_uri = NULL, *out_uri = NULL;
    bool ok;

    if (!strcmp(o->transport, "unix")) {
        in_uri = g_strdup_printf("unix:%s/mig.sock", dir);
        out_uri = g_strdup(in_uri);
    } else if (!strcmp(o->transport, "exec")) {
        gchar *fifo = g_strdup_printf("%s/mig.fifo", dir);
        if (mkfifo(fifo, 0600) != 0) {
            mb_error_set(err, "mkfifo %s: %s", fifo, g_strerror(errno));
            g_free(fifo);
            return false;
        }
        in_uri = g_strdup_printf("exec:cat '%s'", fifo);
        out_uri = g_strdup_printf("exec:cat > '%s'", fifo);
        g_free(fifo);
    } else {
        in_uri = g_strdup("tcp:127.0.0.1:0");
    }
    json_object *a = json_object_new_object();
    json_object_object_add(a, "uri", json_object_new_string(in_uri));
    ok = call_ok(dst, "migrate-incoming", a, err);
    if (ok && !out_uri) {
        /* Port 0: the destination reports the real port in socket-address. */
        json_object *info = call(dst, "query-migrate", NULL, err);
        json_object *sa = info ? json_object_object_get(info, "socket-address") : NULL;
        json_object *first = sa ? json_object_array_get_idx(sa, 0) : NULL;
        const char *port =
            first ? json_object_get_string(json_object_object_get(first, "port")) : NULL;
        if (port)
            out_uri = g_strdup_printf("tcp:127.0.0.1:%s", port);
        else if (info)
            mb_error_set(err, "the destination reported no socket-address");
        ok = out_uri != NULL;
        json_object_put(info);
    }
    if (ok) {
        a = json_object_new_object();
        json_object_object_add(a, "uri", json_object_new_string(out_uri));
        ok = call_ok(src, "migrate", a, err);
    }
    g_free(in_uri);
    g_free(out_uri);
    return ok;
}

static void show_progress(MbProgress *p, RunVm *src)
{
    char sent[32], rem[32];
    json_object *info = call(src, "query-migrate", NULL, NULL);
    json_object *ram = info ? json_object_object_get(info, "ram") : NULL;

    if (ram) {
        mb_progress_update(
            p,
            "pass %" PRId64 "  sent %s  remaining %s  dirty %" PRId64 " pages/s  "
            "expected downtime %" PRId64 " ms",
            json_object_get_int64(json_object_object_get(ram, "dirty-sync-count")),
            mb_fmt_bytes(sent, sizeof(sent),
                         (double)json_object_get_int64(json_object_object_get(ram, "transferred"))),
            mb_fmt_bytes(rem, sizeof(rem),
                         (double)json_object_get_int64(json_object_object_get(ram, "remaining"))),
            json_object_get_int64(json_object_object_get(ram, "dirty-pages-rate")),
            json_object_get_int64(json_object_object_get(info, "expected-downtime")));
    }
    json_object_put(info);
}

/* Waits for a final MIGRATION status on `vm`; returns it (static string) or NULL. */
static const char *wait_final(RunVm *vm, MbProgress *p, RunVm *progress_vm, int64_t deadline,
                              GError **err)
{
    static const char *const finals[] = { "completed", "failed", "cancelled" };

    while (mb_monotonic_ns() < deadline) {
        GError *local = NULL;
        json_object *ev = qmp_client_wait_event(vm->qmp, "MIGRATION", 100, &local);
        if (!ev) {
            if (local && !g_str_has_prefix(local->message, "Timed out")) {
                g_propagate_error(err, local);
                return NULL;
            }
            g_clear_error(&local);
            if (progress_vm && p->tty)
                show_progress(p, progress_vm);
            continue;
        }
        const char *st = json_object_get_string(
            json_object_object_get(json_object_object_get(ev, "data"), "status"));
        for (size_t i = 0; i < G_N_ELEMENTS(finals); i++) {
            if (st && !strcmp(st, finals[i])) {
                json_object_put(ev);
                return finals[i];
            }
        }
        json_object_put(ev);
    }
    mb_error_set(err, "timed out");
    return NULL;
}

/* The vm writes its report right after the migration ends; wait for it with a deadline. */
static json_object *read_report(const char *path, int64_t deadline)
{
    while (!g_file_test(path, G_FILE_TEST_EXISTS) && mb_monotonic_ns() < deadline)
        g_usleep(2000);
    return json_object_from_file(path);
}

static void remove_dir(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        gchar *p = g_build_filename(dir, n, NULL);
        g_unlink(p);
        g_free(p);
    }
    if (d)
        g_dir_close(d);
    g_rmdir(dir);
}

static json_object *settings_json(const RunOptions *o)
{
    json_object *s = json_object_new_object();
    json_object_object_add(s, "guest", json_object_new_string(o->guest));
    json_object_object_add(s, "schema", json_object_new_string(o->schema));
    json_object_object_add(s, "transport", json_object_new_string(o->transport));
    if (o->link_bandwidth)
        json_object_object_add(s, "link-bandwidth", json_object_new_string(o->link_bandwidth));
    if (o->link_latency)
        json_object_object_add(s, "link-latency", json_object_new_string(o->link_latency));
    if (o->scenario)
        json_object_object_add(s, "scenario", json_object_new_string(o->scenario));
    json_object_object_add(s, "max-passes", json_object_new_int64(o->max_passes));
    json_object_object_add(s, "max-time-ms", json_object_new_int64(o->max_time_ns / 1000000));
    return s;
}

/* Runs the whole migration; returns the report (NULL with err when it could not run). */
static json_object *run_migration(const RunOptions *o, const char *dir, GError **err)
{
    RunVm src = { 0 }, dst = { 0 };
    json_object *report = NULL, *settings = settings_json(o);
    MbProgress progress;
    int64_t t0 = mb_monotonic_ns(), deadline = t0 + o->timeout_ns;

    mb_progress_init(&progress);
    if (o->quiet)
        progress.tty = false;
    gchar *scenario = NULL;
    if (!(scenario = build_scenario(o, dir, err)) && *err)
        goto out;
    if (!vm_start(&dst, o, dir, "destination", true, NULL, err) ||
        !vm_start(&src, o, dir, "source", false, scenario, err) ||
        !apply_settings(&dst, o, NULL, err) || !apply_settings(&src, o, settings, err) ||
        !start_migration(&src, &dst, o, dir, err))
        goto out;
    const char *src_final = wait_final(&src, &progress, &src, deadline, err);
    if (!src_final) {
        /* Out of time: cancel, as guestperf does, and report what happened. */
        call_ok(&src, "migrate_cancel", NULL, NULL);
        g_clear_error(err);
        src_final = wait_final(&src, &progress, NULL, mb_monotonic_ns() + 30LL * 1000000000, err);
        if (!src_final)
            goto out;
    }
    mb_progress_done(&progress);
    /* The destination finishes on its own (or fails); give it time to verify. */
    const char *dst_final = NULL;
    if (!strcmp(src_final, "completed")) {
        dst_final = wait_final(&dst, &progress, NULL, mb_monotonic_ns() + 120LL * 1000000000, err);
        if (!dst_final)
            goto out;
    } else {
        /* A source that failed often only saw the effect ("Broken pipe") of the
         * destination's failure: wait a little for the destination's own word. */
        GError *dst_err = NULL;
        dst_final =
            wait_final(&dst, &progress, NULL, mb_monotonic_ns() + 10LL * 1000000000, &dst_err);
        g_clear_error(&dst_err);
    }
    int64_t rd = mb_monotonic_ns() + 10LL * 1000000000;
    json_object *srep = read_report(src.report_path, rd);
    json_object *drep = dst_final ? read_report(dst.report_path, rd) : NULL;
    report = run_report_build(settings, srep, drep);
    json_object *wall = json_object_new_object();
    json_object_object_add(wall, "elapsed-ms",
                           json_object_new_int64((mb_monotonic_ns() - t0) / 1000000));
    if (srep && json_object_object_get(srep, "migration-wall-ms"))
        json_object_object_add(wall, "migration-ms",
                               json_object_get(json_object_object_get(srep, "migration-wall-ms")));
    if (drep && json_object_object_get(drep, "load-wall-ms"))
        json_object_object_add(wall, "destination-load-ms",
                               json_object_get(json_object_object_get(drep, "load-wall-ms")));
    if (srep && json_object_object_get(srep, "peak-rss-bytes"))
        json_object_object_add(wall, "source-peak-rss-bytes",
                               json_object_get(json_object_object_get(srep, "peak-rss-bytes")));
    if (drep && json_object_object_get(drep, "peak-rss-bytes"))
        json_object_object_add(wall, "destination-peak-rss-bytes",
                               json_object_get(json_object_object_get(drep, "peak-rss-bytes")));
    json_object_object_add(report, "wall", wall);
    json_object_put(srep);
    json_object_put(drep);
out:
    g_free(scenario);
    mb_progress_done(&progress);
    vm_stop(&src);
    vm_stop(&dst);
    json_object_put(settings);
    return report;
}

int cmd_run_main(int argc, char **argv)
{
    RunOptions o = { 0 };
    GError *err = NULL;
    int rc = parse_options(argc, argv, &o);

    if (rc >= 0)
        goto out;
    signal(SIGPIPE, SIG_IGN);
    gchar *dir = g_dir_make_tmp("migbench-run-XXXXXX", &err);
    if (!dir) {
        fprintf(stderr, "migbench run: %s\n", err->message);
        g_error_free(err);
        rc = 1;
        goto out;
    }
    json_object *report = run_migration(&o, dir, &err);
    if (!report) {
        fprintf(stderr, "migbench run: %s\n", err->message);
        fprintf(stderr, "migbench run: vm logs are in %s\n", dir);
        g_error_free(err);
        rc = 1;
        g_free(dir);
        goto out;
    }
    json_object *result = json_object_object_get(report, "result");
    const char *status = json_object_get_string(json_object_object_get(result, "status"));
    rc = status && !strcmp(status, "completed") ? 0 : 1;
    if (!o.quiet)
        run_report_print(stdout, report);
    if (o.json_path) {
        const char *text = json_object_to_json_string_ext(report, JSON_C_TO_STRING_PRETTY);
        if (!strcmp(o.json_path, "-")) {
            printf("%s\n", text);
        } else if (!g_file_set_contents(o.json_path, text, -1, &err)) {
            fprintf(stderr, "migbench run: %s\n", err->message);
            g_clear_error(&err);
            rc = 1;
        }
    }
    if (o.check_path && !run_report_check(stdout, report, o.check_path))
        rc = 1;
    json_object_put(report);
    if (o.keep || rc != 0)
        fprintf(stderr, "migbench run: work directory kept: %s\n", dir);
    else
        remove_dir(dir);
    g_free(dir);
out:
    g_ptr_array_free(o.caps, TRUE);
    g_ptr_array_free(o.params, TRUE);
    return rc;
}
