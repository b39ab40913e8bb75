/* cmd_run: `migbench run`, the main job.  Starts a destination and a source `migbench vm`,
 * applies capabilities and parameters on both, migrates over the chosen transport while
 * showing a live progress line, waits for the destination to verify every page, then
 * prints a report table and optionally writes the JSON report or checks it against a
 * golden file.  With no arguments it migrates the built-in default guest. */
#include "cli.h"
#include "cli_guest.h"
#include "cli_options.h"
#include "mb_certs.h"
#include "mb_error.h"
#include "mb_progress.h"
#include "mb_util.h"
#include "qmp_client.h"
#include "run.h"
#include "run_vm.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QMP_TIMEOUT_MS 30000

typedef struct {
    gchar *guest;
    gchar *schema;
    gchar *transport;
    gchar *json_path;
    gchar *check_path;
    gchar *scenario;
    gchar *pace;
    gchar *link_bandwidth;
    gchar *link_latency;
    gchar *timeout; /* texts of the numeric options, parsed into the fields below */
    gchar *max_passes_text;
    gchar *colo_checkpoints_text;
    gchar *max_time;
    gchar *postcopy_after;              /* PASSES or DURATION */
    gchar *keep_to;                     /* where a kept work directory's files go */
    int64_t postcopy_pass, postcopy_ms; /* parsed: one of them > 0 */
    int64_t timeout_ns;
    int64_t max_passes;
    int64_t colo_checkpoints;
    int64_t max_time_ns;
    gchar **caps;   /* "name=on" */
    gchar **params; /* "name=value" */
    gchar **rest;   /* non-option arguments: none are expected */
    gboolean keep;
    gboolean quiet;
    gboolean tls;
} RunOptions;

static void options_clear(RunOptions *o)
{
    gchar **strs[] = { &o->guest,
                       &o->schema,
                       &o->transport,
                       &o->json_path,
                       &o->check_path,
                       &o->scenario,
                       &o->pace,
                       &o->link_bandwidth,
                       &o->link_latency,
                       &o->timeout,
                       &o->max_time,
                       &o->max_passes_text,
                       &o->colo_checkpoints_text,
                       &o->postcopy_after,
                       &o->keep_to };

    for (size_t i = 0; i < G_N_ELEMENTS(strs); i++)
        g_free(*strs[i]);
    g_strfreev(o->caps);
    g_strfreev(o->params);
    g_strfreev(o->rest);
}

/* A duration option: its default when not given; false after printing a usage error. */
static bool duration_option(const char *name, const char *text, int64_t dflt, int64_t *out)
{
    GError *err = NULL;

    *out = dflt;
    if (!text)
        return true;
    if (mb_parse_duration(text, out, &err))
        return true;
    cli_options_usage_error("run", "--%s: %s", name, err->message);
    g_error_free(err);
    return false;
}

/* Returns CLI_OPTIONS_CONTINUE or the exit status (help shown, or a usage error). */
static int parse_options(int argc, char **argv, RunOptions *o)
{
    GOptionEntry entries[] = {
        { "guest", 0, 0, G_OPTION_ARG_STRING, &o->guest,
          "sim:WORKLOAD|sim:TRACE|kvm:... (default sim:hotspot)", "SPEC" },
        { "schema", 0, 0, G_OPTION_ARG_STRING, &o->schema,
          "5.0 (default), 4.0-dev, or a migration.json", "VER|PATH" },
        { "cap", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->caps,
          "a migration capability, on both sides (repeatable)", "NAME=on|off" },
        { "param", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->params,
          "a migration parameter, on both sides (repeatable); sizes may use suffixes (64M, 1G)",
          "NAME=VALUE" },
        { "tls", 0, 0, G_OPTION_ARG_NONE, &o->tls,
          "migrate over TLS (x509 certificates made in the work directory; unix or tcp)", NULL },
        { "transport", 0, 0, G_OPTION_ARG_STRING, &o->transport, "unix (default), tcp or exec",
          "T" },
        { "scenario", 0, 0, G_OPTION_ARG_FILENAME, &o->scenario,
          "actions at exact points of the migration (docs/scenarios.md)", "FILE" },
        { "link-bandwidth", 0, 0, G_OPTION_ARG_STRING, &o->link_bandwidth,
          "sim: simulated link (default 10Gbit)", "BW" },
        { "link-latency", 0, 0, G_OPTION_ARG_STRING, &o->link_latency,
          "sim: one-way latency (default 0)", "DUR" },
        { "pace", 0, 0, G_OPTION_ARG_STRING, &o->pace,
          "sim: virtual seconds per wall second (default unpaced)", "RATIO" },
        { "max-passes", 0, 0, G_OPTION_ARG_STRING, &o->max_passes_text,
          "cancel a migration that has not converged after N passes (default 30, like "
          "guestperf; 0 = no limit)",
          "N" },
        { "colo-checkpoints", 0, 0, G_OPTION_ARG_STRING, &o->colo_checkpoints_text,
          "with --cap x-colo=on: COLO checkpoints before the primary fails over "
          "(default 5)",
          "N" },
        { "max-time", 0, 0, G_OPTION_ARG_STRING, &o->max_time,
          "... or after this much guest time (default 300s; 0 = none)", "DUR" },
        { "postcopy-after", 0, 0, G_OPTION_ARG_STRING, &o->postcopy_after,
          "switch to postcopy after N passes (a number) or this much guest time (a duration); "
          "turns postcopy-ram on on both sides",
          "N|DUR" },
        { "timeout", 0, 0, G_OPTION_ARG_STRING, &o->timeout,
          "give up (cancel) after this much wall time (default 10min)", "DUR" },
        { "json", 0, 0, G_OPTION_ARG_FILENAME, &o->json_path,
          "write the JSON report (- for stdout)", "FILE" },
        { "check", 0, 0, G_OPTION_ARG_FILENAME, &o->check_path,
          "compare the result with a golden JSON report; exit 1 on any difference "
          "(regenerate with --json GOLDEN)",
          "GOLDEN" },
        { "keep", 0, 0, G_OPTION_ARG_NONE, &o->keep, "keep the work directory (vm logs, reports)",
          NULL },
        { "keep-to", 0, 0, G_OPTION_ARG_FILENAME, &o->keep_to,
          "when the work directory is kept (--keep, or a failed run), move its files into DIR "
          "(created) instead of leaving it in $TMPDIR",
          "DIR" },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, "no table, only errors", NULL },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->rest, NULL, NULL },
        { NULL },
    };
    GOptionContext *ctx = g_option_context_new(NULL);
    int rc;

    g_option_context_set_summary(
        ctx, "Migrates a guest from a source to a destination `migbench vm` and reports.\n"
             "Without options: the built-in default guest (sim:hotspot, about 1 GiB).");
    g_option_context_set_description(
        ctx, "The live progress line (on a terminal) shows percent done, throughput and an\n"
             "ETA; docs/run.md says how they are defined.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    rc = cli_options_parse(ctx, "run", &argc, &argv);
    g_option_context_free(ctx);
    if (rc != CLI_OPTIONS_CONTINUE)
        return rc;
    if (o->rest && o->rest[0])
        return cli_options_usage_error("run", "unexpected argument '%s'", o->rest[0]);
    if (!o->guest)
        o->guest = g_strdup("sim:hotspot");
    if (!o->schema)
        o->schema = g_strdup("5.0");
    if (!o->transport)
        o->transport = g_strdup("unix");
    if (!duration_option("timeout", o->timeout, 600LL * 1000000000, &o->timeout_ns) ||
        !duration_option("max-time", o->max_time, 300LL * 1000000000, &o->max_time_ns))
        return 2;
    o->max_passes = 30;
    if (o->max_passes_text &&
        (!mb_parse_i64(o->max_passes_text, &o->max_passes) || o->max_passes < 0))
        return cli_options_usage_error("run", "--max-passes needs a number >= 0");
    if (o->postcopy_after) {
        int64_t n, ns;
        if (mb_parse_i64(o->postcopy_after, &n) && n >= 1)
            o->postcopy_pass = n;
        else if (mb_parse_duration(o->postcopy_after, &ns, NULL) && ns > 0)
            o->postcopy_ms = MAX(ns / 1000000, 1);
        else
            return cli_options_usage_error(
                "run", "--postcopy-after needs a number of passes >= 1 or a duration");
        bool have = false;
        for (gchar **c = o->caps; c && *c; c++)
            have |= g_str_has_prefix(*c, "postcopy-ram");
        if (!have) {
            guint n_caps = o->caps ? g_strv_length(o->caps) : 0;
            o->caps = g_renew(gchar *, o->caps, n_caps + 2);
            o->caps[n_caps] = g_strdup("postcopy-ram=on");
            o->caps[n_caps + 1] = NULL;
        }
    }
    o->colo_checkpoints = 5;
    if (o->colo_checkpoints_text &&
        (!mb_parse_i64(o->colo_checkpoints_text, &o->colo_checkpoints) || o->colo_checkpoints < 0))
        return cli_options_usage_error("run", "--colo-checkpoints needs a number >= 0");
    if (strcmp(o->transport, "unix") && strcmp(o->transport, "tcp") && strcmp(o->transport, "exec"))
        return cli_options_usage_error("run", "--transport must be unix, tcp or exec");
    /* migbench's exec channels run one way; a TLS handshake needs both (docs/quirks.md). */
    if (o->tls && !strcmp(o->transport, "exec"))
        return cli_options_usage_error("run", "--tls needs --transport unix or tcp");
    return CLI_OPTIONS_CONTINUE;
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
    if (o->postcopy_pass || o->postcopy_ms) {
        /* The switch is a scenario action too: at an exact pass or guest time. */
        json_object *a = json_object_new_object(), *at = json_object_new_object();
        if (o->postcopy_pass)
            json_object_object_add(at, "pass", json_object_new_int64(o->postcopy_pass));
        else
            json_object_object_add(at, "time", json_object_new_int64(o->postcopy_ms));
        json_object_object_add(a, "at", at);
        json_object_object_add(a, "execute", json_object_new_string("migrate-start-postcopy"));
        json_object_array_add(actions, a);
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
    bool in_place = false, block = false, inc = false;
    for (gchar **c = o->caps; c && *c; c++) {
        in_place |= !strcmp(*c, "xbzrle=on") || !strcmp(*c, "compress=on");
        block |= !strcmp(*c, "block=on");
    }
    for (gchar **p = o->params; p && *p; p++)
        inc |= !strcmp(*p, "block-incremental=on") || !strcmp(*p, "block-incremental=true");
    bool sim = g_str_has_prefix(o->guest, "sim:");
    gchar *spec = g_strdup(o->guest);
    if (incoming && in_place && sim && !strstr(o->guest, "store=")) {
        gchar *t = g_strdup_printf("%s,store=mem", spec);
        g_free(spec);
        spec = t;
    }
    /* With block migration the destination's disks are its own: a new empty image for a
     * full copy, an overlay on the shared base for block-incremental (docs/sim.md), so
     * that verification checks every disk page that had to travel. */
    if (incoming && block && sim && !strstr(o->guest, "disk-image=")) {
        gchar *t = g_strdup_printf("%s,disk-image=%s", spec, inc ? "base" : "empty");
        g_free(spec);
        spec = t;
    }
    return spec;
}

/* Starts one vm of the run with its share of the options. */
static bool vm_start(RunVm *vm, const RunOptions *o, const char *dir, const char *name,
                     bool incoming, const char *scenario, GError **err)
{
    const char *args[16];
    size_t n = 0;

#define ARG(opt, val)                                                                              \
    do {                                                                                           \
        args[n++] = (opt);                                                                         \
        args[n++] = (val);                                                                         \
    } while (0)
    gchar *guest = guest_spec(o, incoming);
    ARG("--guest", guest);
    ARG("--schema", o->schema);
    if (incoming)
        ARG("--incoming", "defer");
    if (!incoming && scenario)
        ARG("--scenario", scenario);
    if (!incoming && o->pace)
        ARG("--pace", o->pace);
    if (o->link_bandwidth)
        ARG("--link-bandwidth", o->link_bandwidth);
    if (o->link_latency)
        ARG("--link-latency", o->link_latency);
    /* --tls: the credentials made in the work directory, each side its endpoint. */
    gchar *tls = o->tls ? g_strdup_printf("tls-creds-x509,id=tls0,dir=%s,endpoint=%s", dir,
                                          incoming ? "server" : "client")
                        : NULL;
    if (tls)
        ARG("--object", tls);
#undef ARG
    args[n] = NULL;
    g_assert(n < G_N_ELEMENTS(args));
    bool ok = run_vm_start(vm, dir, name, args, 20000, err);
    g_free(tls);
    g_free(guest);
    return ok;
}

/* After a failure: when a vm has died, its own account ("source vm exited with status 1:
 * migbench vm: ...") replaces the run's view of it (a closed connection).  A vm whose
 * connection was closed is given `wait_ms` to be reaped; an error that did not come from a
 * dead vm (an error reply, a timeout) is left as it is at once. */
static void explain_deaths(RunVm *src, RunVm *dst, int wait_ms, GError **err)
{
    gchar *msg[2] = { NULL, NULL };
    RunVm *vms[2] = { src, dst };

    for (int i = 0; i < 2; i++) {
        bool closed = vms[i]->qmp && qmp_client_closed(vms[i]->qmp);
        msg[i] = run_vm_exit_message(vms[i], closed ? wait_ms : 0);
    }
    if (msg[0] || msg[1]) {
        gchar *both =
            g_strjoin("; ", msg[0] ? msg[0] : msg[1], msg[0] && msg[1] ? msg[1] : NULL, NULL);
        g_clear_error(err);
        mb_error_set(err, "%s", both);
        g_free(both);
    }
    g_free(msg[0]);
    g_free(msg[1]);
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

    for (guint i = 0; o->caps && o->caps[i]; i++) {
        gchar **kv = g_strsplit(o->caps[i], "=", 2);
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
    for (guint i = 0; o->params && o->params[i]; i++) {
        gchar **kv = g_strsplit(o->params[i], "=", 2);
        json_object_object_add(params, kv[0], param_value(kv[1] ? kv[1] : ""));
        g_strfreev(kv);
    }
    json_object *args = json_object_new_object();
    json_object_object_add(args, "capabilities", caps);
    /* --tls: tls-creds on both sides; over unix the source needs a name to check the
     * destination's certificate against (a tcp run checks 127.0.0.1, the URI's host). */
    if (o->tls) {
        json_object_object_add(params, "tls-creds", json_object_new_string("tls0"));
        if (settings && !strcmp(o->transport, "unix"))
            json_object_object_add(params, "tls-hostname", json_object_new_string("localhost"));
    }
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
    json_object *info = call(src, "query-migrate", NULL, NULL);
    json_object *ram = info ? json_object_object_get(info, "ram") : NULL;

    if (ram) {
        json_object *down = json_object_object_get(info, "expected-downtime");
        json_object *psize = json_object_object_get(ram, "page-size");
        MbMigProgress m = {
            .pass = json_object_get_uint64(json_object_object_get(ram, "dirty-sync-count")),
            .total = json_object_get_uint64(json_object_object_get(ram, "total")),
            .transferred = json_object_get_uint64(json_object_object_get(ram, "transferred")),
            .remaining = json_object_get_uint64(json_object_object_get(ram, "remaining")),
            .dirty_rate = json_object_get_uint64(json_object_object_get(ram, "dirty-pages-rate")),
            .page_size = psize ? json_object_get_uint64(psize) : 4096,
            .mbps = json_object_get_double(json_object_object_get(ram, "mbps")),
            .expected_downtime_ms = down ? json_object_get_int64(down) : -1,
        };
        char line[512];
        mb_progress_update(p, "%s", mb_progress_format_mig(line, sizeof(line), &m));
    }
    json_object_put(info);
}

/* Waits for a final MIGRATION status on `vm` ('colo' counts: the source became a COLO
 * primary); returns it (static string) or NULL. */
static const char *wait_final(RunVm *vm, MbProgress *p, RunVm *progress_vm, int64_t deadline,
                              GError **err)
{
    static const char *const finals[] = { "completed", "failed", "cancelled", "colo" };

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

/* x-colo: the source is the COLO primary.  It takes --colo-checkpoints checkpoints (each
 * ends with the primary's RESUME; the first RESUME is COLO's start), then the run fails
 * over on the primary as a heartbeat service would, right after a checkpoint, so the
 * count is exact while x-checkpoint-delay of paced guest time separates two of them.
 * Returns the source's final status. */
static const char *run_colo(RunVm *src, MbProgress *p, const RunOptions *o, int64_t deadline,
                            GError **err)
{
    for (int64_t i = 0; i <= o->colo_checkpoints; i++) {
        json_object *ev = NULL;
        while (!ev && mb_monotonic_ns() < deadline) {
            GError *local = NULL;
            ev = qmp_client_wait_event(src->qmp, "RESUME", 100, &local);
            if (!ev && local && !g_str_has_prefix(local->message, "Timed out")) {
                g_propagate_error(err, local);
                return NULL;
            }
            g_clear_error(&local);
        }
        if (!ev) {
            mb_error_set(err, "timed out in COLO after %" G_GINT64_FORMAT " checkpoints", i);
            return NULL;
        }
        json_object_put(ev);
    }
    if (!call_ok(src, "x-colo-lost-heartbeat", NULL, err))
        return NULL;
    return wait_final(src, p, NULL, deadline, err);
}

/* The final query-migrate reply of each side, as QMP gave it (run_report_verbatim), under
 * "source" and "destination".  Called once the source's report exists, so its final times
 * are in (QEMU, and migbench, show 'completed' a moment before them).  A side that cannot
 * answer (its vm died) gets null, and the failure is said on stderr. */
static json_object *final_replies(RunVm *src, RunVm *dst)
{
    json_object *qm = json_object_new_object();

    for (RunVm *vm = src; vm; vm = vm == src ? dst : NULL) {
        GError *err = NULL;
        json_object *r = call(vm, "query-migrate", NULL, &err);
        if (!r) {
            fprintf(stderr, "migbench run: %s query-migrate: %s\n", vm->name, err->message);
            g_error_free(err);
        }
        json_object_object_add(qm, vm->name, r ? run_report_verbatim(r) : NULL);
    }
    return qm;
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

/* Keeps the work directory of a run for the user: where it is, or moved into `to` (the
 * sweep's per-point directory, so failed points do not pile up in $TMPDIR).  Sockets are
 * not worth keeping; g_file_move copies across file systems where rename cannot. */
static void keep_dir(const char *dir, const char *to)
{
    GError *err = NULL;

    if (!to) {
        fprintf(stderr, "migbench run: work directory kept: %s\n", dir);
        return;
    }
    if (g_mkdir_with_parents(to, 0755) != 0) {
        fprintf(stderr, "migbench run: cannot create %s: %s; work directory kept: %s\n", to,
                g_strerror(errno), dir);
        return;
    }
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;
    bool all = true;
    while (d && (n = g_dir_read_name(d))) {
        gchar *p = g_build_filename(dir, n, NULL);
        gchar *q = g_build_filename(to, n, NULL);
        GFile *src = g_file_new_for_path(p), *dst = g_file_new_for_path(q);
        if (g_file_test(p, G_FILE_TEST_IS_REGULAR) &&
            !g_file_move(src, dst, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &err)) {
            fprintf(stderr, "migbench run: cannot move %s: %s\n", p, err->message);
            g_clear_error(&err);
            all = false;
        }
        g_object_unref(src);
        g_object_unref(dst);
        g_free(p);
        g_free(q);
    }
    if (d)
        g_dir_close(d);
    if (all)
        remove_dir(dir);
    fprintf(stderr, "migbench run: work directory kept: %s\n", all ? to : dir);
}

static json_object *settings_json(const RunOptions *o)
{
    json_object *s = json_object_new_object();
    json_object_object_add(s, "guest", json_object_new_string(o->guest));
    json_object_object_add(s, "schema", json_object_new_string(o->schema));
    json_object_object_add(s, "transport", json_object_new_string(o->transport));
    if (o->tls)
        json_object_object_add(s, "tls", json_object_new_boolean(true));
    if (o->link_bandwidth)
        json_object_object_add(s, "link-bandwidth", json_object_new_string(o->link_bandwidth));
    if (o->link_latency)
        json_object_object_add(s, "link-latency", json_object_new_string(o->link_latency));
    if (o->scenario)
        json_object_object_add(s, "scenario", json_object_new_string(o->scenario));
    if (o->postcopy_after)
        json_object_object_add(s, "postcopy-after", json_object_new_string(o->postcopy_after));
    json_object_object_add(s, "max-passes", json_object_new_int64(o->max_passes));
    json_object_object_add(s, "max-time-ms", json_object_new_int64(o->max_time_ns / 1000000));
    return s;
}

/* Runs the whole migration; returns the report (NULL with err when it could not run). */
static json_object *run_migration(const RunOptions *o, const char *dir, GError **err)
{
    RunVm src = { .name = "source" }, dst = { .name = "destination" };
    json_object *report = NULL, *settings = settings_json(o);
    MbProgress progress;
    int64_t t0 = mb_monotonic_ns(), deadline = t0 + o->timeout_ns;

    mb_progress_init(&progress);
    if (o->quiet)
        progress.tty = false;
    gchar *scenario = NULL;
    if (!(scenario = build_scenario(o, dir, err)) && *err)
        goto out;
    if (o->tls && !mb_certs_make(dir, err))
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
    if (src_final && !strcmp(src_final, "colo")) {
        mb_progress_done(&progress);
        src_final = run_colo(&src, &progress, o, deadline, err);
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
    if (srep && json_object_object_get(srep, "migration-cpu-ms"))
        json_object_object_add(wall, "source-cpu-ms",
                               json_object_get(json_object_object_get(srep, "migration-cpu-ms")));
    if (drep && json_object_object_get(drep, "load-cpu-ms"))
        json_object_object_add(wall, "destination-cpu-ms",
                               json_object_get(json_object_object_get(drep, "load-cpu-ms")));
    if (srep && json_object_object_get(srep, "peak-rss-bytes"))
        json_object_object_add(wall, "source-peak-rss-bytes",
                               json_object_get(json_object_object_get(srep, "peak-rss-bytes")));
    if (drep && json_object_object_get(drep, "peak-rss-bytes"))
        json_object_object_add(wall, "destination-peak-rss-bytes",
                               json_object_get(json_object_object_get(drep, "peak-rss-bytes")));
    /* COLO checkpoints' wall time is a host figure: with the other wall figures, out of
     * the deterministic result. */
    json_object *rcolo = json_object_object_get(json_object_object_get(report, "result"), "colo");
    json_object *cw = rcolo ? json_object_object_get(rcolo, "wall-ms") : NULL;
    if (cw) {
        json_object_object_add(wall, "colo-checkpoint-ms", json_object_get(cw));
        json_object_object_del(rcolo, "wall-ms");
    }
    json_object_object_add(report, "wall", wall);
    json_object_put(srep);
    json_object_put(drep);
    json_object_object_add(report, "query-migrate", final_replies(&src, &dst));
out:
    g_free(scenario);
    mb_progress_done(&progress);
    if (!report && err && *err)
        explain_deaths(&src, &dst, 2000, err);
    for (RunVm *vm = &src; report && vm; vm = vm == &src ? &dst : NULL) {
        /* The run has its result, but a vm that died on the way still says so. */
        gchar *died = run_vm_exit_message(vm, 0);
        if (died)
            fprintf(stderr, "migbench run: %s\n", died);
        g_free(died);
    }
    run_vm_stop(&src);
    run_vm_stop(&dst);
    json_object_put(settings);
    return report;
}

int cmd_run_main(int argc, char **argv)
{
    RunOptions o = { 0 };
    GError *err = NULL;
    int rc = parse_options(argc, argv, &o);

    if (rc != CLI_OPTIONS_CONTINUE)
        goto out;
    /* A bad --guest is a usage error, told in the vm's own words before anything starts
     * (else it would surface as a destination that never listened). */
    if (!cli_guest_check(o.guest, &err)) {
        fprintf(stderr, "migbench run: --guest %s: %s\n", o.guest, err->message);
        g_clear_error(&err);
        rc = 2;
        goto out;
    }
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
        g_error_free(err);
        keep_dir(dir, o.keep_to);
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
        keep_dir(dir, o.keep_to);
    else
        remove_dir(dir);
    g_free(dir);
out:
    options_clear(&o);
    return rc;
}
