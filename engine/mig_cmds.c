/* mig_cmds: the QMP handlers of the migration commands (QEMU's qmp_migrate* family).
 *
 * Arguments arrive validated by the schema.  Each handler checks QEMU's preconditions in
 * QEMU's order with QEMU's texts, then hands the work to the source or destination side. */
#include "mig_cmds.h"
#include "mb_util.h"
#include "mig_colo_state.h"
#include "mig_dest.h"
#include "mig_outgoing.h"
#include "mig_query.h"
#include "mig_scenario.h"
#include "mig_settings.h"
#include "mig_source.h"
#include "mig_savevm.h"

#include <fcntl.h>

#include <string.h>

#define ARG(name) json_object_object_get(args, name)

static bool arg_bool(json_object *args, const char *name)
{
    json_object *v = ARG(name);
    return v && json_object_get_boolean(v);
}

static json_object *cmd_query_migrate(QmpRequest *req, json_object *args, GError **err, void *op)
{
    return mig_query_migrate(op, req);
}

static bool out_is_busy(MigEngine *e)
{
    MigStatus s = mig_out_state(e);
    return e->v5 ? mig_status_is_running(s) : mig_status_is_setup_or_active_v4(s);
}

static json_object *cmd_set_caps(QmpRequest *req, json_object *args, GError **err, void *op)
{
    MigEngine *e = op;
    MigCapsCheckCtx ctx = { .v5 = e->v5,
                            .inmigrate = runstate_get(e) == RS_INMIGRATE,
                            .postcopy_host = mig_postcopy_host(e) };

    if (out_is_busy(e)) {
        mb_error_set(err, "There's a migration process in progress");
        return NULL;
    }
    mig_caps_set(&e->caps, ARG("capabilities"), &ctx, err);
    return NULL;
}

static json_object *cmd_query_caps(QmpRequest *req, json_object *args, GError **err, void *op)
{
    return mig_caps_query(&((MigEngine *)op)->caps);
}

static json_object *cmd_set_params(QmpRequest *req, json_object *args, GError **err, void *op)
{
    mig_apply_params(op, args, err);
    return NULL;
}

static json_object *cmd_query_params(QmpRequest *req, json_object *args, GError **err, void *op)
{
    return mig_params_query(&((MigEngine *)op)->params);
}

static void set_one(MigEngine *e, const char *name, json_object *value, GError **err)
{
    mig_apply_one_param(e, name, value, err);
    json_object_put(value);
}

static json_object *cmd_set_speed(QmpRequest *req, json_object *args, GError **err, void *op)
{
    set_one(op, "max-bandwidth", json_object_get(ARG("value")), err);
    return NULL;
}

static json_object *cmd_set_cache_size(QmpRequest *req, json_object *args, GError **err, void *op)
{
    /* The schema doc promises rounding down to a power of 2; QEMU does not round and
     * rejects the value instead (docs/quirks.md).  An int given for a size wraps. */
    set_one(op, "xbzrle-cache-size", json_object_get(ARG("value")), err);
    return NULL;
}

static json_object *cmd_query_cache_size(QmpRequest *req, json_object *args, GError **err, void *op)
{
    return json_object_new_int64(
        (int64_t)mig_params_num(&((MigEngine *)op)->params, MP_XBZRLE_CACHE_SIZE));
}

static json_object *cmd_set_downtime(QmpRequest *req, json_object *args, GError **err, void *op)
{
    double v = json_object_get_double(ARG("value"));

    if (!(v >= 0 && v <= 2000)) {
        mb_error_set(err, "Parameter 'downtime_limit' expects an integer in the range of 0 to "
                          "2000 seconds");
        return NULL;
    }
    set_one(op, "downtime-limit", json_object_new_int64((int64_t)(v * 1000)), err);
    return NULL;
}

static json_object *cmd_start_postcopy(QmpRequest *req, json_object *args, GError **err, void *op)
{
    MigEngine *e = op;

    if (!mig_cap(e, MIG_CAP_POSTCOPY_RAM) && !mig_cap(e, MIG_CAP_DIRTY_BITMAPS)) {
        mb_error_set(err, "Enable postcopy with migrate_set_capability before the start of "
                          "migration");
        return NULL;
    }
    if (mig_out_state(e) == MIG_NONE) {
        mb_error_set(err, "Postcopy must be started after migration has been started");
        return NULL;
    }
    /* Only a flag: succeeding after the end is QEMU's choice (refusing would race). */
    mig_out_request_postcopy(e, err);
    return NULL;
}

static json_object *cmd_cancel(QmpRequest *req, json_object *args, GError **err, void *op)
{
    mig_out_cancel(op);
    return NULL;
}

static json_object *cmd_continue(QmpRequest *req, json_object *args, GError **err, void *op)
{
    mig_out_continue(op, json_object_get_string(ARG("state")), err);
    return NULL;
}

static json_object *cmd_client_migrate_info(QmpRequest *req, json_object *args, GError **err,
                                            void *op)
{
    if (strcmp(json_object_get_string(ARG("protocol")), "spice")) {
        mb_error_set(err, "Parameter 'protocol' expects spice");
        return NULL;
    }
    g_set_error(err, MB_ERROR, MB_ERR_DEVICE_NOT_ACTIVE, "SPICE is not in use");
    return NULL;
}

static json_object *cmd_colo_lost_heartbeat(QmpRequest *req, json_object *args, GError **err,
                                            void *op)
{
    mig_colo_request_failover(op, err);
    return NULL;
}

static json_object *cmd_query_colo_status(QmpRequest *req, json_object *args, GError **err,
                                          void *op)
{
    return mig_colo_query(op);
}

static json_object *cmd_xen_set_replication(QmpRequest *req, json_object *args, GError **err,
                                            void *op)
{
    if (ARG("failover") && arg_bool(args, "enable"))
        mb_error_set(err, "Parameter 'failover' is only for stopping replication");
    /* No replicated block devices exist, so starting/stopping replication is a no-op. */
    return NULL;
}

static json_object *cmd_query_xen_replication(QmpRequest *req, json_object *args, GError **err,
                                              void *op)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_boolean(false));
    return o;
}

/* QEMU's qmp_xen_colo_do_checkpoint: a checkpoint now (a COLO primary; else nothing). */
static json_object *cmd_xen_colo_checkpoint(QmpRequest *req, json_object *args, GError **err,
                                            void *op)
{
    mig_colo_kick(op);
    return NULL;
}

static json_object *cmd_migrate_recover(QmpRequest *req, json_object *args, GError **err, void *op)
{
    MigEngine *e = op;
    const char *uri = json_object_get_string(ARG("uri"));
    int fd = -1;

    if (atomic_load(&e->in.state) == MIG_POSTCOPY_PAUSED && !strncmp(uri, "fd:", 3))
        fd = qmp_request_take_fd(req, uri + 3, NULL);
    mig_dest_recover(e, uri, fd, err);
    return NULL;
}

static json_object *cmd_migrate_pause(QmpRequest *req, json_object *args, GError **err, void *op)
{
    MigEngine *e = op;
    /* QEMU's qmp_migrate_pause: shut the stream down; postcopy-paused follows on both
     * sides as for a broken network. */
    if (mig_out_state(e) == MIG_POSTCOPY_ACTIVE) {
        mig_out_pause(e);
        return NULL;
    }
    if (atomic_load(&e->in.state) == MIG_POSTCOPY_ACTIVE) {
        mig_dest_pause(e);
        return NULL;
    }
    mb_error_set(err, "migrate-pause is currently only supported during postcopy-active state");
    return NULL;
}

/* QEMU's migrate_prepare minus the URI: preconditions, then migrate_init. */
static bool migrate_prepare(MigEngine *e, json_object *args, GError **err)
{
    bool blk = arg_bool(args, "blk"), inc = arg_bool(args, "inc");

    if (arg_bool(args, "resume")) {
        if (mig_out_state(e) != MIG_POSTCOPY_PAUSED) {
            mb_error_set(err, "Cannot resume if there is no paused migration");
            return false;
        }
        if (mig_cap(e, MIG_CAP_RELEASE_RAM)) {
            mb_error_set(err, "Postcopy recovery cannot work when release-ram capability is set");
            return false;
        }
        return true; /* a resume: no new migration */
    }
    MigStatus s = mig_out_state(e);
    /* 5.0 does not count colo as running, so its `migrate` would start a second migration
     * beside the COLO thread; migbench refuses as 4.0 does (docs/quirks.md). */
    if (e->v5 ? mig_status_is_running(s) || s == MIG_COLO
              : (mig_status_is_setup_or_active_v4(s) || s == MIG_CANCELLING || s == MIG_COLO)) {
        mb_error_set(err, "There's a migration process in progress");
        return false;
    }
    if (runstate_get(e) == RS_INMIGRATE) {
        mb_error_set(err, "Guest is waiting for an incoming migration");
        return false;
    }
    if ((blk || inc || mig_cap(e, MIG_CAP_BLOCK)) && e->guest->ndisks == 0 &&
        !e->guest->ops->disk_read) {
        /* A guest that cannot have disks (KVM, for now): refuse rather than pretend. */
        mb_error_set(err, "Block migration is not built for the %s guest yet: it has no disk",
                     e->guest->kind);
        return false;
    }
    /* COLO is built for the simulated guest and the main stream: refused, never faked. */
    if (mig_cap(e, MIG_CAP_X_COLO) && !e->guest->virtual_time) {
        mb_error_set(err,
                     "x-colo is not supported with the %s guest in migbench (COLO runs "
                     "with the simulated guest)",
                     e->guest->kind);
        return false;
    }
    if (mig_cap(e, MIG_CAP_X_COLO) && mig_cap(e, MIG_CAP_MULTIFD)) {
        mb_error_set(err, "x-colo together with multifd is not supported by migbench (COLO "
                          "checkpoints travel on the main stream)");
        return false;
    }
    if (mig_cap(e, MIG_CAP_X_COLO) && (blk || inc || mig_cap(e, MIG_CAP_BLOCK))) {
        mb_error_set(err, "x-colo together with block migration is not supported by migbench "
                          "(COLO checkpoints carry RAM and device state only)");
        return false;
    }
    if (blk || inc) {
        if (mig_cap(e, MIG_CAP_BLOCK) || mig_params_num(&e->params, MP_BLOCK_INCREMENTAL)) {
            mb_error_set(err, "Command options are incompatible with current migration "
                              "capabilities");
            return false;
        }
        json_object *caps = json_object_new_array(), *item = json_object_new_object();
        json_object_object_add(item, "capability",
                               json_object_new_string(mig_caps_name(&e->caps, MIG_CAP_BLOCK)));
        json_object_object_add(item, "state", json_object_new_boolean(true));
        json_object_array_add(caps, item);
        MigCapsCheckCtx ctx = { .v5 = e->v5, .postcopy_host = mig_postcopy_host(e) };
        bool ok = mig_caps_set(&e->caps, caps, &ctx, err);
        json_object_put(caps);
        if (!ok)
            return false;
        mig_out_note_block_options(e);
    }
    if (inc) {
        json_object *p = json_object_new_object();
        json_object_object_add(p, "block-incremental", json_object_new_boolean(true));
        mig_params_set(&e->params, p, NULL, NULL);
        json_object_put(p);
    }

    /* migrate_init: every per-migration figure starts afresh (mig_out_begin). */
    mig_source_join(e);
    if (e->scenario)
        mig_scenario_rearm(e->scenario);
    mig_out_begin(e);
    return true;
}

/* QEMU's migrate_fd_error: setup -> failed with the error recorded. */
static void fd_error(MigEngine *e, const GError *cause, GError **err)
{
    mig_out_set_error(e, cause);
    mig_out_set_state(e, MIG_SETUP, MIG_FAILED);
    if (mig_out_take_block_options(e))
        mig_block_options_undo(e);
    g_propagate_error(err, g_error_copy(cause));
}

/* migrate resume=true (QEMU's qmp_migrate into migrate_fd_connect with resume): the
 * paused migration thread connects to `uri` and runs the recovery.  A URI that cannot be
 * used leaves the migration paused with the error recorded (migrate_fd_error only fails a
 * migration in setup). */
static json_object *migrate_resume(MigEngine *e, QmpRequest *req, const char *uri, GError **err)
{
    GError *local = NULL;
    ChanUri u = { 0 };
    Chan *pending = NULL;

    if (!chan_uri_parse(uri, &u, &local)) {
        mig_out_set_error(e, local);
        g_propagate_error(err, local);
        return NULL;
    }
    switch (u.scheme) {
    case CHAN_TCP:
    case CHAN_UNIX: break;
    case CHAN_EXEC: pending = chan_spawn(u.cmd, true, &local); break;
    case CHAN_FD: {
        int fd = qmp_request_take_fd(req, u.fdname, &local);
        if (fd >= 0)
            pending = chan_new_fd(fd, uri);
        break;
    }
    default: mb_error_set(&local, "Parameter 'uri' expects a valid migration protocol"); break;
    }
    if (local) {
        chan_uri_clear(&u);
        mig_out_set_error(e, local);
        g_propagate_error(err, local);
        return NULL;
    }
    mig_out_request_resume(e, &u, pending);
    return NULL;
}

static json_object *cmd_migrate(QmpRequest *req, json_object *args, GError **err, void *op)
{
    MigEngine *e = op;
    const char *uri = json_object_get_string(ARG("uri"));
    GError *local = NULL;

    if (!migrate_prepare(e, args, err))
        return NULL;
    if (arg_bool(args, "resume"))
        return migrate_resume(e, req, uri, err);
    ChanUri u = { 0 };
    Chan *pending = NULL;
    bool parsed = chan_uri_parse(uri, &u, &local);
    mig_out_set_target(e, &u);
    if (!parsed) {
        fd_error(e, local, err);
        g_error_free(local);
        return NULL;
    }
    const ChanUri *target = mig_out_uri(e);
    switch (target->scheme) {
    case CHAN_TCP:
    case CHAN_UNIX: break; /* connected by the migration thread, like QEMU's async connect */
    case CHAN_EXEC: pending = chan_spawn(target->cmd, true, &local); break;
    case CHAN_FD: {
        int fd = qmp_request_take_fd(req, target->fdname, &local);
        if (fd >= 0)
            pending = chan_new_fd(fd, uri);
        break;
    }
    default:
        mb_error_set(err, "Parameter 'uri' expects a valid migration protocol");
        mig_out_set_state(e, MIG_SETUP, MIG_FAILED);
        if (mig_out_take_block_options(e))
            mig_block_options_undo(e);
        return NULL;
    }
    mig_out_set_pending_chan(e, pending);
    if (local) {
        fd_error(e, local, err);
        g_error_free(local);
        return NULL;
    }
    if (!mig_source_start(e, &local)) {
        fd_error(e, local, err);
        g_error_free(local);
    }
    return NULL;
}

static json_object *cmd_migrate_incoming(QmpRequest *req, json_object *args, GError **err, void *op)
{
    MigEngine *e = op;
    const char *uri = json_object_get_string(ARG("uri"));
    int fd = -1;

    if (!e->in.deferred) {
        mb_error_set(err, "For use with '-incoming defer'");
        return NULL;
    }
    if (e->in.started) {
        mb_error_set(err, "The incoming migration has already been started");
        return NULL;
    }
    if (!strncmp(uri, "fd:", 3)) {
        fd = qmp_request_take_fd(req, uri + 3, NULL);
    }
    if (!mig_dest_start(e, uri, fd, err))
        return NULL;
    e->in.started = true;
    return NULL;
}

/* xen-save-devices-state: the device state alone (no RAM) into a file, VM stopped
 * meanwhile and restarted if it was running. */
static json_object *cmd_xen_save_devices_state(QmpRequest *req, json_object *args, GError **err,
                                               void *op)
{
    MigEngine *e = op;
    const char *filename = json_object_get_string(ARG("filename"));
    bool was_running = runstate_is_running(e);

    runstate_vm_stop(e, RS_SAVE_VM);
    int fd = open(filename, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
    if (fd >= 0) {
        MigFile *f = mig_file_new(chan_new_fd(fd, filename), true);
        mig_save_device_state(e, f);
        mig_file_flush(f);
        if (mig_file_error(f))
            fd = -1;
        mig_file_close(f);
    }
    if (fd < 0)
        mb_error_set(err, "An IO error has occurred");
    if (was_running)
        runstate_vm_start(e);
    else
        runstate_set(e, RS_PAUSED);
    return NULL;
}

void mig_cmds_register(MigEngine *e)
{
    static const struct {
        const char *name;
        QmpCommandFn fn;
    } cmds[] = {
        { "query-migrate", cmd_query_migrate },
        { "migrate-set-capabilities", cmd_set_caps },
        { "query-migrate-capabilities", cmd_query_caps },
        { "migrate-set-parameters", cmd_set_params },
        { "query-migrate-parameters", cmd_query_params },
        { "client_migrate_info", cmd_client_migrate_info },
        { "migrate-start-postcopy", cmd_start_postcopy },
        { "x-colo-lost-heartbeat", cmd_colo_lost_heartbeat },
        { "migrate_cancel", cmd_cancel },
        { "migrate-continue", cmd_continue },
        { "migrate_set_downtime", cmd_set_downtime },
        { "migrate_set_speed", cmd_set_speed },
        { "migrate-set-cache-size", cmd_set_cache_size },
        { "query-migrate-cache-size", cmd_query_cache_size },
        { "migrate", cmd_migrate },
        { "migrate-incoming", cmd_migrate_incoming },
        { "xen-save-devices-state", cmd_xen_save_devices_state },
        { "xen-set-replication", cmd_xen_set_replication },
        { "query-xen-replication-status", cmd_query_xen_replication },
        { "xen-colo-do-checkpoint", cmd_xen_colo_checkpoint },
        { "query-colo-status", cmd_query_colo_status },
        { "migrate-recover", cmd_migrate_recover },
        { "migrate-pause", cmd_migrate_pause },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cmds); i++)
        if (schema_find_command(e->schema, cmds[i].name))
            qmp_server_register(e->qmp, cmds[i].name, cmds[i].fn, e);
}
