/* mig_scenario: loading scenario files and running their actions (see mig_scenario.h).
 *
 * Actions act through the outgoing state, the settings and the run state, never through
 * the command handlers or the migration thread that call the hooks here, so the engine's
 * files stay free of call cycles (docs/architecture.md, layers). */
#include "mig_scenario.h"
#include "mb_util.h"
#include "mig_internal.h"
#include "mig_outgoing.h"
#include "mig_settings.h"

#include <string.h>

typedef enum { AT_PASS, AT_TIME, AT_STATUS } AtKind;

typedef struct {
    AtKind kind;
    uint64_t pass;
    int64_t time_ms;
    MigStatus status;
    char *execute;
    json_object *args;
    bool done;
} Action;

struct MigScenario {
    GArray *actions; /* Action */
    json_object *errors;
    int64_t next_time; /* earliest pending time action, or INT64_MAX */
};

static const char *const supported[] = { "migrate-set-parameters",
                                         "migrate_set_speed",
                                         "migrate_set_downtime",
                                         "migrate-set-cache-size",
                                         "migrate-start-postcopy",
                                         "migrate_cancel",
                                         "migrate-pause",
                                         "migrate-continue",
                                         "stop",
                                         "cont" };

static bool parse_at(json_object *at, Action *a, GError **err)
{
    json_object *v;

    if (json_object_object_get_ex(at, "pass", &v) && json_object_is_type(v, json_type_int)) {
        a->kind = AT_PASS;
        a->pass = (uint64_t)json_object_get_int64(v);
        return true;
    }
    if (json_object_object_get_ex(at, "time", &v)) {
        int64_t ns;
        a->kind = AT_TIME;
        if (json_object_is_type(v, json_type_int)) {
            a->time_ms = json_object_get_int64(v);
            return true;
        }
        if (!mb_parse_duration(json_object_get_string(v), &ns, err))
            return false;
        a->time_ms = ns / 1000000;
        return true;
    }
    if (json_object_object_get_ex(at, "status", &v)) {
        int s = mig_status_from_name(json_object_get_string(v));
        if (s < 0) {
            mb_error_set(err, "unknown status '%s'", json_object_get_string(v));
            return false;
        }
        a->kind = AT_STATUS;
        a->status = (MigStatus)s;
        return true;
    }
    mb_error_set(err, "\"at\" needs \"pass\", \"time\" or \"status\"");
    return false;
}

static bool parse_action(json_object *o, const Schema *schema, Action *a, GError **err)
{
    json_object *at, *ex, *args = NULL;

    if (!json_object_object_get_ex(o, "at", &at) || !json_object_object_get_ex(o, "execute", &ex)) {
        mb_error_set(err, "an action needs \"at\" and \"execute\"");
        return false;
    }
    if (!parse_at(at, a, err))
        return false;
    const char *name = json_object_get_string(ex);
    bool ok = false;
    for (size_t i = 0; i < G_N_ELEMENTS(supported); i++)
        ok |= !strcmp(name, supported[i]);
    const SchemaCommand *cmd = schema_find_command(schema, name);
    if (!strcmp(name, "migrate-recover")) {
        mb_error_set(err, "migrate-recover is a destination command: only migbench run carries "
                          "it out (docs/scenarios.md)");
        return false;
    }
    if (!ok || !cmd) {
        mb_error_set(err, "command '%s' cannot be used in a scenario", name);
        return false;
    }
    json_object_object_get_ex(o, "arguments", &args);
    a->args = args ? json_object_get(args) : json_object_new_object();
    if (!schema_validate_args(schema, cmd, a->args, err)) {
        json_object_put(a->args);
        return false;
    }
    a->execute = g_strdup(name);
    return true;
}

MigScenario *mig_scenario_load(const char *path, const Schema *schema, GError **err)
{
    json_object *root = json_object_from_file(path), *list;

    if (!root || !json_object_object_get_ex(root, "actions", &list) ||
        !json_object_is_type(list, json_type_array)) {
        mb_error_set(err, "%s: not a scenario (a JSON object with an \"actions\" array)", path);
        json_object_put(root);
        return NULL;
    }
    MigScenario *s = g_new0(MigScenario, 1);
    s->actions = g_array_new(FALSE, TRUE, sizeof(Action));
    s->errors = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        Action a = { 0 };
        if (!parse_action(json_object_array_get_idx(list, i), schema, &a, err)) {
            g_prefix_error(err, "%s: action %zu: ", path, i);
            json_object_put(root);
            mig_scenario_free(s);
            return NULL;
        }
        g_array_append_val(s->actions, a);
    }
    json_object_put(root);
    mig_scenario_rearm(s);
    return s;
}

void mig_scenario_free(MigScenario *s)
{
    if (!s)
        return;
    for (guint i = 0; i < s->actions->len; i++) {
        Action *a = &g_array_index(s->actions, Action, i);
        g_free(a->execute);
        json_object_put(a->args);
    }
    g_array_free(s->actions, TRUE);
    json_object_put(s->errors);
    g_free(s);
}

static void update_next_time(MigScenario *s)
{
    s->next_time = INT64_MAX;
    for (guint i = 0; i < s->actions->len; i++) {
        Action *a = &g_array_index(s->actions, Action, i);
        if (!a->done && a->kind == AT_TIME && a->time_ms < s->next_time)
            s->next_time = a->time_ms;
    }
}

void mig_scenario_rearm(MigScenario *s)
{
    for (guint i = 0; i < s->actions->len; i++)
        g_array_index(s->actions, Action, i).done = false;
    update_next_time(s);
}

json_object *mig_scenario_errors(MigScenario *s)
{
    return json_object_get(s->errors);
}

static void run(MigEngine *e, Action *a)
{
    GError *err = NULL;
    json_object *args = a->args;

    a->done = true;
    if (!strcmp(a->execute, "migrate-set-parameters")) {
        mig_apply_params(e, args, &err);
    } else if (!strcmp(a->execute, "migrate_set_speed")) {
        mig_apply_one_param(e, "max-bandwidth", json_object_object_get(args, "value"), &err);
    } else if (!strcmp(a->execute, "migrate-set-cache-size")) {
        mig_apply_one_param(e, "xbzrle-cache-size", json_object_object_get(args, "value"), &err);
    } else if (!strcmp(a->execute, "migrate_set_downtime")) {
        double v = json_object_get_double(json_object_object_get(args, "value"));
        json_object *ms = json_object_new_int64((int64_t)(v * 1000));
        mig_apply_one_param(e, "downtime-limit", ms, &err);
        json_object_put(ms);
    } else if (!strcmp(a->execute, "migrate-start-postcopy")) {
        mig_out_request_postcopy(e, &err);
    } else if (!strcmp(a->execute, "migrate_cancel")) {
        mig_out_cancel(e);
    } else if (!strcmp(a->execute, "migrate-pause")) {
        /* The source's half of QEMU's qmp_migrate_pause: the stream breaks right here.  A
         * scenario may also break a recovery's new channel (at status postcopy-recover),
         * which QMP's migrate-pause refuses: a network that fails again. */
        MigStatus st = mig_out_state(e);
        if (st == MIG_POSTCOPY_ACTIVE || st == MIG_POSTCOPY_RECOVER)
            mig_out_pause(e);
        else
            mb_error_set(&err, "migrate-pause is currently only supported during "
                               "postcopy-active state");
    } else if (!strcmp(a->execute, "migrate-continue")) {
        mig_out_continue(e, json_object_get_string(json_object_object_get(args, "state")), &err);
    } else if (!strcmp(a->execute, "stop")) {
        runstate_vm_stop(e, RS_PAUSED);
    } else if (!strcmp(a->execute, "cont")) {
        runstate_vm_start(e);
    }
    if (err) {
        gchar *msg = g_strdup_printf("%s: %s", a->execute, err->message);
        json_object_array_add(e->scenario->errors, json_object_new_string(msg));
        g_free(msg);
        g_error_free(err);
    }
}

void mig_scenario_on_pass(MigEngine *e, uint64_t pass)
{
    MigScenario *s = e->scenario;

    if (!s)
        return;
    for (guint i = 0; i < s->actions->len; i++) {
        Action *a = &g_array_index(s->actions, Action, i);
        if (!a->done && a->kind == AT_PASS && a->pass == pass)
            run(e, a);
    }
}

void mig_scenario_on_time(MigEngine *e, int64_t ms)
{
    MigScenario *s = e->scenario;

    if (!s || ms < s->next_time)
        return;
    for (guint i = 0; i < s->actions->len; i++) {
        Action *a = &g_array_index(s->actions, Action, i);
        if (!a->done && a->kind == AT_TIME && a->time_ms <= ms)
            run(e, a);
    }
    update_next_time(s);
}

void mig_scenario_on_status(MigEngine *e, MigStatus status)
{
    MigScenario *s = e->scenario;

    if (!s)
        return;
    for (guint i = 0; i < s->actions->len; i++) {
        Action *a = &g_array_index(s->actions, Action, i);
        if (!a->done && a->kind == AT_STATUS && a->status == status)
            run(e, a);
    }
}
