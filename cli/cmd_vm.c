/* cmd_vm: `migbench vm`, one guest with its QMP monitors and migration engine, the
 * migbench equivalent of a QEMU process.  Everything it serves comes from the loaded
 * schema: --schema picks the migration.json (bundled 5.0 or 4.0-dev, or a file). */
#include "cli.h"
#include "cli_guest.h"
#include "cli_options.h"
#include "mb_error.h"
#include "mb_util.h"
#include "mig.h"
#include "qmp.h"
#include "schema.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    gchar *guest;
    gchar *schema;
    gchar **qmp;
    gchar *incoming;
    gchar *uuid;
    gchar *qemu_version;
    gchar *pace;
    gchar *link_bandwidth;
    gchar *link_latency;
    gchar *report;
    gchar *scenario;
    gchar **objects; /* -object TYPE,id=ID,... */
    gchar **rest;    /* non-option arguments: none are expected */
    gboolean paused;
    gboolean unmasked;
    gboolean exit_on_error;
} VmOptions;

static void options_clear(VmOptions *o)
{
    g_free(o->guest);
    g_free(o->schema);
    g_strfreev(o->qmp);
    g_free(o->incoming);
    g_free(o->uuid);
    g_free(o->qemu_version);
    g_free(o->pace);
    g_free(o->link_bandwidth);
    g_free(o->link_latency);
    g_free(o->report);
    g_free(o->scenario);
    g_strfreev(o->objects);
    g_strfreev(o->rest);
}

/* Returns CLI_OPTIONS_CONTINUE or the exit status (help shown, or a usage error). */
static int parse_options(int argc, char **argv, VmOptions *o)
{
    GOptionEntry entries[] = {
        { "guest", 0, 0, G_OPTION_ARG_STRING, &o->guest,
          "sim:WORKLOAD[,opts] | sim:TRACE[,opts] | kvm:mem=..,vcpus=.. (default sim:hotspot)",
          "SPEC" },
        { "schema", 0, 0, G_OPTION_ARG_STRING, &o->schema,
          "migration schema served: 5.0 (default), 4.0-dev, or a migration.json file", "VER|PATH" },
        { "qmp", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->qmp,
          "monitor on unix:PATH or tcp:HOST:PORT (repeatable)", "ADDR" },
        { "incoming", 0, 0, G_OPTION_ARG_STRING, &o->incoming,
          "wait for a migration: defer, tcp:HOST:PORT, unix:PATH, exec:CMD, fd:N", "URI" },
        { "object", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->objects,
          "create an object at start (repeatable): tls-creds-x509,id=ID,dir=DIR,endpoint="
          "client|server[,verify-peer=on|off] or authz-simple,id=ID,identity=DN",
          "TYPE,id=ID,..." },
        { "uuid", 0, 0, G_OPTION_ARG_STRING, &o->uuid, "the VM's UUID (validate-uuid)", "UUID" },
        { "paused", 'S', 0, G_OPTION_ARG_NONE, &o->paused,
          "do not start the guest (nor after an incoming migration)", NULL },
        { "pace", 0, 0, G_OPTION_ARG_STRING, &o->pace,
          "sim: virtual seconds per wall second (0 = unpaced)", "RATIO" },
        { "link-bandwidth", 0, 0, G_OPTION_ARG_STRING, &o->link_bandwidth,
          "sim: simulated link, e.g. 10Gbit, 1G/s (default 10Gbit)", "BW" },
        { "link-latency", 0, 0, G_OPTION_ARG_STRING, &o->link_latency,
          "sim: one-way link latency (default 0)", "DUR" },
        { "qemu-version", 0, 0, G_OPTION_ARG_STRING, &o->qemu_version,
          "version reported by query-version (default: the schema's)", "X.Y.Z" },
        { "report", 0, 0, G_OPTION_ARG_FILENAME, &o->report,
          "write a JSON report at the end of each migration", "FILE" },
        { "scenario", 0, 0, G_OPTION_ARG_FILENAME, &o->scenario,
          "actions at exact points of a migration (source side; docs/scenarios.md)", "FILE" },
        { "introspect-unmasked", 0, 0, G_OPTION_ARG_NONE, &o->unmasked,
          "query-qmp-schema with real type names", NULL },
        { "incoming-exit-on-error", 0, 0, G_OPTION_ARG_NONE, &o->exit_on_error,
          "exit with status 1 when an incoming migration fails, as QEMU does (default: stay "
          "up, report it in query-migrate)",
          NULL },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->rest, NULL, NULL },
        { NULL },
    };
    GOptionContext *ctx = g_option_context_new(NULL);
    int rc;

    g_option_context_set_summary(ctx, "Hosts one guest and serves QMP on it, like a QEMU process.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    rc = cli_options_parse(ctx, "vm", &argc, &argv);
    g_option_context_free(ctx);
    if (rc != CLI_OPTIONS_CONTINUE)
        return rc;
    if (o->rest && o->rest[0])
        return cli_options_usage_error("vm", "unexpected argument '%s'", o->rest[0]);
    if (!o->guest)
        o->guest = g_strdup("sim:hotspot");
    if (!o->schema)
        o->schema = g_strdup("5.0");
    return CLI_OPTIONS_CONTINUE;
}

/* The schema: core commands plus the chosen migration.json.  Returns the QEMU version
 * the schema corresponds to in *version (for query-version). */
static Schema *load_schema(const char *which, const char **version, GError **err)
{
    Schema *s = schema_new(NULL);
    bool ok = schema_load_builtin(s, "core.json", err);

    if (ok && !strcmp(which, "5.0")) {
        *version = "5.0.0";
        ok = schema_load_builtin(s, "migration-5.0.json", err);
    } else if (ok && (!strcmp(which, "4.0-dev") || !strcmp(which, "4.0"))) {
        *version = "3.1.50"; /* the seed is master of 2019-03-06, before 4.0.0-rc0 */
        ok = schema_load_builtin(s, "migration-4.0-dev.json", err);
    } else if (ok) {
        *version = "5.0.0";
        ok = schema_load_file(s, which, err);
    }
    /* object-add / object-del come after the migration schema, as in QEMU's. */
    if (ok)
        ok = schema_load_builtin(s, "qom.json", err);
    if (ok)
        ok = schema_finish(s, err);
    if (!ok) {
        schema_free(s);
        return NULL;
    }
    return s;
}

static json_object *version_object(const char *v)
{
    int maj = 0, min = 0, mic = 0;
    json_object *q = json_object_new_object(), *o = json_object_new_object();

    sscanf(v, "%d.%d.%d", &maj, &min, &mic);
    json_object_object_add(q, "micro", json_object_new_int(mic));
    json_object_object_add(q, "minor", json_object_new_int(min));
    json_object_object_add(q, "major", json_object_new_int(maj));
    json_object_object_add(o, "qemu", q);
    json_object_object_add(o, "package", json_object_new_string("migbench-" MB_VERSION));
    return o;
}

static void quit_loop(void *opaque)
{
    g_main_loop_quit(opaque);
}

static gboolean on_signal(gpointer opaque)
{
    g_main_loop_quit(opaque);
    return G_SOURCE_CONTINUE;
}

static bool fill_config(const VmOptions *o, MigConfig *cfg, GError **err)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->incoming = o->incoming;
    cfg->start_paused = o->paused;
    cfg->exit_on_incoming_error = o->exit_on_error;
    cfg->link_bandwidth = 1250000000; /* 10 Gbit/s */
    cfg->report_path = o->report;
    cfg->scenario_path = o->scenario;
    cfg->objects = (const char *const *)o->objects;
    if (o->uuid && !(cfg->has_uuid = mb_uuid_parse(o->uuid, cfg->uuid))) {
        mb_error_set(err, "invalid UUID '%s'", o->uuid);
        return false;
    }
    if (o->pace) {
        char *end;
        cfg->pace = g_ascii_strtod(o->pace, &end);
        if (*end || cfg->pace < 0) {
            mb_error_set(err, "invalid --pace '%s' (a ratio >= 0)", o->pace);
            return false;
        }
    }
    if (o->link_bandwidth && !mb_parse_bandwidth(o->link_bandwidth, &cfg->link_bandwidth, err))
        return false;
    if (o->link_latency && !mb_parse_duration(o->link_latency, &cfg->link_latency_ns, err))
        return false;
    return true;
}

int cmd_vm_main(int argc, char **argv)
{
    VmOptions o = { 0 };
    GError *err = NULL;
    int rc = parse_options(argc, argv, &o);
    const char *version = NULL;
    Schema *schema = NULL;
    MbGuest *guest = NULL;
    QmpServer *qmp = NULL;
    MigEngine *engine = NULL;
    GMainLoop *loop = NULL;
    MigConfig cfg;

    if (rc != CLI_OPTIONS_CONTINUE)
        goto out;
    rc = 1;
    signal(SIGPIPE, SIG_IGN);
    if (!fill_config(&o, &cfg, &err))
        goto fail;
    schema = load_schema(o.schema, &version, &err);
    if (!schema)
        goto fail;
    guest = cli_guest_new(o.guest, o.incoming != NULL, &err);
    if (!guest)
        goto fail;
    loop = g_main_loop_new(NULL, FALSE);
    qmp = qmp_server_new(schema, NULL, version_object(o.qemu_version ? o.qemu_version : version),
                         !o.unmasked);
    cfg.on_quit = quit_loop;
    cfg.on_quit_opaque = loop;
    engine = mig_engine_new(qmp, schema, guest, &cfg, &err);
    if (!engine)
        goto fail;
    for (guint i = 0; o.qmp && o.qmp[i]; i++) {
        if (!qmp_server_listen(qmp, o.qmp[i], &err))
            goto fail;
        printf("qmp: %s\n", qmp_server_monitor_address(qmp, i));
    }
    fflush(stdout);
    g_unix_signal_add(SIGINT, on_signal, loop);
    g_unix_signal_add(SIGTERM, on_signal, loop);
    g_main_loop_run(loop);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "migbench vm: %s\n", err->message);
    g_error_free(err);
out:
    mig_engine_free(engine);
    if (qmp)
        qmp_server_free(qmp);
    mb_guest_free(guest);
    if (schema)
        schema_free(schema);
    if (loop)
        g_main_loop_unref(loop);
    options_clear(&o);
    return rc;
}
