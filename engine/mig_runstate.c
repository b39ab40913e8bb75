/* mig_runstate: RunState, vm_start/vm_stop with STOP/RESUME events, and the QMP commands
 * query-status, stop, cont and quit (see mig_runstate.h). */
#include "mig_internal.h"

#include <string.h>

static const char *const names[RS__MAX] = {
    [RS_DEBUG] = "debug",
    [RS_INMIGRATE] = "inmigrate",
    [RS_INTERNAL_ERROR] = "internal-error",
    [RS_IO_ERROR] = "io-error",
    [RS_PAUSED] = "paused",
    [RS_POSTMIGRATE] = "postmigrate",
    [RS_PRELAUNCH] = "prelaunch",
    [RS_FINISH_MIGRATE] = "finish-migrate",
    [RS_RESTORE_VM] = "restore-vm",
    [RS_RUNNING] = "running",
    [RS_SAVE_VM] = "save-vm",
    [RS_SHUTDOWN] = "shutdown",
    [RS_SUSPENDED] = "suspended",
    [RS_WATCHDOG] = "watchdog",
    [RS_GUEST_PANICKED] = "guest-panicked",
    [RS_COLO] = "colo",
    [RS_PRECONFIG] = "preconfig",
};

const char *runstate_name(RunState s)
{
    return (unsigned)s < RS__MAX ? names[s] : "debug";
}

int runstate_from_name(const char *name)
{
    for (int i = 0; i < RS__MAX; i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

RunState runstate_get(MigEngine *e)
{
    g_mutex_lock(&e->rs_lock);
    RunState s = e->runstate;
    g_mutex_unlock(&e->rs_lock);
    return s;
}

bool runstate_is_running(MigEngine *e)
{
    return runstate_get(e) == RS_RUNNING;
}

void runstate_set(MigEngine *e, RunState s)
{
    g_mutex_lock(&e->rs_lock);
    e->runstate = s;
    g_mutex_unlock(&e->rs_lock);
}

bool runstate_autostart(MigEngine *e)
{
    g_mutex_lock(&e->rs_lock);
    bool a = e->autostart;
    g_mutex_unlock(&e->rs_lock);
    return a;
}

void runstate_vm_start(MigEngine *e)
{
    g_mutex_lock(&e->rs_lock);
    bool was = e->runstate == RS_RUNNING;
    e->runstate = RS_RUNNING;
    if (!was) {
        e->guest->ops->run(e->guest);
        /* Emitted under the lock so events keep the order of the state changes. */
        qmp_server_emit_event(e->qmp, "RESUME", NULL);
    }
    g_mutex_unlock(&e->rs_lock);
}

void runstate_vm_stop(MigEngine *e, RunState s)
{
    g_mutex_lock(&e->rs_lock);
    bool was = e->runstate == RS_RUNNING;
    if (was) {
        e->guest->ops->pause(e->guest);
        qmp_server_emit_event(e->qmp, "STOP", NULL);
    }
    e->runstate = s;
    g_mutex_unlock(&e->rs_lock);
}

static json_object *qmp_query_status(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    MigEngine *e = opaque;
    RunState s = runstate_get(e);
    json_object *o = json_object_new_object();

    /* StatusInfo's declaration order, as QEMU's visitor adds them: "status" and
     * "singlestep" share a QDict bucket, so this order gives QEMU's bytes
     * {"status", "singlestep", "running"} (the dispatcher re-orders anyway). */
    json_object_object_add(o, "running", json_object_new_boolean(s == RS_RUNNING));
    json_object_object_add(o, "singlestep", json_object_new_boolean(false));
    json_object_object_add(o, "status", json_object_new_string(runstate_name(s)));
    return o;
}

static json_object *qmp_stop(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    MigEngine *e = opaque;

    g_mutex_lock(&e->rs_lock);
    bool inmigrate = e->runstate == RS_INMIGRATE;
    if (inmigrate)
        e->autostart = false;
    g_mutex_unlock(&e->rs_lock);
    if (!inmigrate)
        runstate_vm_stop(e, RS_PAUSED);
    return NULL;
}

static json_object *qmp_cont(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    MigEngine *e = opaque;
    RunState s = runstate_get(e);

    if (s == RS_INTERNAL_ERROR || s == RS_SHUTDOWN || s == RS_GUEST_PANICKED) {
        mb_error_set(err, "Resetting the Virtual Machine is required");
        return NULL;
    }
    if (s == RS_SUSPENDED)
        return NULL;
    if (s == RS_FINISH_MIGRATE) {
        mb_error_set(err, "Migration is not finalized yet");
        return NULL;
    }
    if (s == RS_INMIGRATE) {
        g_mutex_lock(&e->rs_lock);
        e->autostart = true;
        g_mutex_unlock(&e->rs_lock);
        return NULL;
    }
    runstate_vm_start(e);
    return NULL;
}

static void do_quit(void *opaque)
{
    MigEngine *e = opaque;
    json_object *d = json_object_new_object();

    json_object_object_add(d, "guest", json_object_new_boolean(false));
    json_object_object_add(d, "reason", json_object_new_string("host-qmp-quit"));
    qmp_server_emit_event(e->qmp, "SHUTDOWN", d);
    if (e->cfg.on_quit)
        e->cfg.on_quit(e->cfg.on_quit_opaque);
}

static json_object *qmp_quit(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    qmp_request_after_reply(req, do_quit, opaque);
    return NULL;
}

void runstate_register_qmp(MigEngine *e)
{
    qmp_server_register(e->qmp, "query-status", qmp_query_status, e);
    qmp_server_register(e->qmp, "stop", qmp_stop, e);
    qmp_server_register(e->qmp, "cont", qmp_cont, e);
    qmp_server_register(e->qmp, "quit", qmp_quit, e);
}
