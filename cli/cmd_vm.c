/* cmd_vm: `migbench vm`, one guest with its QMP monitors and migration engine, the
 * migbench equivalent of a QEMU process.  Everything it serves comes from the loaded
 * schema: --schema picks the migration.json (bundled 5.0 or 4.0-dev, or a file). */
#include "cli.h"
#include "guest.h"
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
    const char *guest;
    const char *schema;
    GPtrArray *qmp;
    const char *incoming;
    const char *uuid;
    const char *qemu_version;
    const char *pace;
    const char *link_bandwidth;
    const char *link_latency;
    const char *report;
    const char *scenario;
    bool paused;
    bool unmasked;
    bool exit_on_error;
} VmOptions;

static void usage(FILE *f)
{
    fprintf(
        f, "usage: migbench vm [OPTIONS]\n\n"
           "Hosts one guest and serves QMP on it, like a QEMU process.\n\n"
           "  --guest SPEC           sim:WORKLOAD[,opts] | sim:TRACE[,opts] | kvm:mem=..,vcpus=..\n"
           "                         (default sim:hotspot)\n"
           "  --schema VER|PATH      migration schema served: 5.0 (default), 4.0-dev, or a\n"
           "                         migration.json file\n"
           "  --qmp ADDR             monitor on unix:PATH or tcp:HOST:PORT (repeatable)\n"
           "  --incoming URI         wait for a migration: defer, tcp:HOST:PORT, unix:PATH,\n"
           "                         exec:CMD, fd:N\n"
           "  --uuid UUID            the VM's UUID (validate-uuid)\n"
           "  -S, --paused           do not start the guest (nor after an incoming migration)\n"
           "  --pace RATIO           sim: virtual seconds per wall second (0 = unpaced)\n"
           "  --link-bandwidth BW    sim: simulated link, e.g. 10Gbit, 1G/s (default 10Gbit)\n"
           "  --link-latency DUR     sim: one-way link latency (default 0)\n"
           "  --qemu-version X.Y.Z   version reported by query-version (default: the schema's)\n"
           "  --report FILE          write a JSON report at the end of each migration\n"
           "  --scenario FILE        actions at exact points of a migration (source side;\n"
           "                         see docs/scenarios.md)\n"
           "  --introspect-unmasked  query-qmp-schema with real type names\n"
           "  --incoming-exit-on-error  exit with status 1 when an incoming migration fails,\n"
           "                         as QEMU does (default: stay up, report it in query-migrate)\n"
           "  -h, --help\n");
}

static int parse_options(int argc, char **argv, VmOptions *o)
{
    o->guest = "sim:hotspot";
    o->schema = "5.0";
    o->qmp = g_ptr_array_new();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define VALUE()                                                                                    \
    ({                                                                                             \
        if (i + 1 >= argc) {                                                                       \
            fprintf(stderr, "migbench vm: %s needs a value\n", a);                                 \
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
        } else if (!strcmp(a, "--qmp")) {
            g_ptr_array_add(o->qmp, VALUE());
        } else if (!strcmp(a, "--incoming")) {
            o->incoming = VALUE();
        } else if (!strcmp(a, "--uuid")) {
            o->uuid = VALUE();
        } else if (!strcmp(a, "--qemu-version")) {
            o->qemu_version = VALUE();
        } else if (!strcmp(a, "--pace")) {
            o->pace = VALUE();
        } else if (!strcmp(a, "--link-bandwidth")) {
            o->link_bandwidth = VALUE();
        } else if (!strcmp(a, "--link-latency")) {
            o->link_latency = VALUE();
        } else if (!strcmp(a, "--report")) {
            o->report = VALUE();
        } else if (!strcmp(a, "--scenario")) {
            o->scenario = VALUE();
        } else if (!strcmp(a, "-S") || !strcmp(a, "--paused")) {
            o->paused = true;
        } else if (!strcmp(a, "--introspect-unmasked")) {
            o->unmasked = true;
        } else if (!strcmp(a, "--incoming-exit-on-error")) {
            o->exit_on_error = true;
        } else {
            fprintf(stderr, "migbench vm: unknown option '%s' (see --help)\n", a);
            return 2;
        }
#undef VALUE
    }
    return -1;
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

    if (rc >= 0)
        goto out;
    rc = 1;
    signal(SIGPIPE, SIG_IGN);
    if (!fill_config(&o, &cfg, &err))
        goto fail;
    schema = load_schema(o.schema, &version, &err);
    if (!schema)
        goto fail;
    guest = mb_guest_new(o.guest, o.incoming != NULL, &err);
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
    for (guint i = 0; i < o.qmp->len; i++) {
        if (!qmp_server_listen(qmp, g_ptr_array_index(o.qmp, i), &err))
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
    g_ptr_array_free(o.qmp, TRUE);
    return rc;
}
