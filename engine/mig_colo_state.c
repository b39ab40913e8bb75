/* mig_colo_state: COLO mode, failover status, wake-ups and figures (see mig_colo_state.h).
 *
 * query-colo-status follows QEMU 4.0/5.0 while COLO runs (reason none, or processing once a
 * failover was asked for; the 4.0-dev seed has no 'processing' and says request or
 * error).  After COLO ended it reports why: request after a failover, error after a broken
 * channel (QEMU keeps its thread waiting for a failover there, docs/quirks.md). */
#include "mig_colo_state.h"

#include "mb_util.h"

#include <math.h>

static const char *const message_names[MIG_COLO_MESSAGE__MAX] = {
    "checkpoint-ready", "checkpoint-request", "checkpoint-reply", "vmstate-send",
    "vmstate-size",     "vmstate-received",   "vmstate-loaded",
};
static const char *const mode_names[] = { "none", "primary", "secondary" };
static const char *const exit_names[] = { "none", "request", "error" };

const char *mig_colo_message_name(uint32_t msg)
{
    return msg < MIG_COLO_MESSAGE__MAX ? message_names[msg] : "unknown";
}

void mig_colo_state_init(MigEngine *e)
{
    MigColo *c = &e->colo;
    g_mutex_init(&c->lock);
    g_cond_init(&c->wake);
    c->checkpoints = g_array_new(FALSE, TRUE, sizeof(MigColoCheckpoint));
}

void mig_colo_state_clear(MigEngine *e)
{
    MigColo *c = &e->colo;
    g_array_free(c->checkpoints, TRUE);
    g_cond_clear(&c->wake);
    g_mutex_clear(&c->lock);
}

void mig_colo_begin(MigEngine *e, MigColoMode mode, MigFile *f, Chan *rp)
{
    MigColo *c = &e->colo;
    g_mutex_lock(&c->lock);
    c->mode = c->last_mode = mode;
    c->failover = MIG_FAILOVER_NONE;
    c->exit_reason = MIG_COLO_EXIT_NONE;
    c->kick = false;
    c->file = f;
    c->rp = rp;
    g_array_set_size(c->checkpoints, 0);
    bool stopping = c->stopping;
    g_mutex_unlock(&c->lock);
    if (stopping) {
        /* A shutdown raced with the start: the first I/O fails at once. */
        if (f)
            mig_file_shutdown(f);
        if (rp)
            chan_shutdown(rp);
    }
}

MigColoExit mig_colo_end(MigEngine *e, MigColoExit reason)
{
    MigColo *c = &e->colo;
    g_mutex_lock(&c->lock);
    /* A failover asked for wins over the channel error it causes. */
    if (c->failover != MIG_FAILOVER_NONE) {
        reason = MIG_COLO_EXIT_REQUEST;
        c->failover = MIG_FAILOVER_COMPLETED;
    }
    int mode = c->mode;
    c->mode = MIG_COLO_MODE_NONE;
    c->exit_reason = reason;
    c->file = NULL;
    c->rp = NULL;
    g_mutex_unlock(&c->lock);
    json_object *d = json_object_new_object();
    json_object_object_add(d, "mode", json_object_new_string(mode_names[mode]));
    json_object_object_add(d, "reason", json_object_new_string(exit_names[reason]));
    qmp_server_emit_event(e->qmp, "COLO_EXIT", d);
    return reason;
}

MigColoMode mig_colo_mode(MigEngine *e)
{
    g_mutex_lock(&e->colo.lock);
    MigColoMode m = (MigColoMode)e->colo.mode;
    g_mutex_unlock(&e->colo.lock);
    return m;
}

MigFailoverStatus mig_colo_failover_status(MigEngine *e)
{
    g_mutex_lock(&e->colo.lock);
    MigFailoverStatus f = (MigFailoverStatus)e->colo.failover;
    g_mutex_unlock(&e->colo.lock);
    return f;
}

/* Under the lock: wakes I/O and waits of the COLO thread. */
static void shut_channels(MigColo *c)
{
    if (c->file)
        mig_file_shutdown(c->file);
    if (c->rp)
        chan_shutdown(c->rp);
    g_cond_broadcast(&c->wake);
}

bool mig_colo_request_failover(MigEngine *e, GError **err)
{
    MigColo *c = &e->colo;
    bool ok = false;
    g_mutex_lock(&c->lock);
    if (c->mode == MIG_COLO_MODE_NONE) {
        mb_error_set(err, "The feature '%s' is not enabled", "colo");
    } else if (c->failover != MIG_FAILOVER_NONE) {
        mb_error_set(err, "COLO failover is already actived");
    } else {
        c->failover = MIG_FAILOVER_REQUIRE;
        shut_channels(c);
        ok = true;
    }
    g_mutex_unlock(&c->lock);
    return ok;
}

void mig_colo_shutdown(MigEngine *e)
{
    MigColo *c = &e->colo;
    g_mutex_lock(&c->lock);
    c->stopping = true;
    shut_channels(c);
    g_mutex_unlock(&c->lock);
}

bool mig_colo_stopping(MigEngine *e)
{
    g_mutex_lock(&e->colo.lock);
    bool s = e->colo.stopping;
    g_mutex_unlock(&e->colo.lock);
    return s;
}

void mig_colo_kick(MigEngine *e)
{
    MigColo *c = &e->colo;
    g_mutex_lock(&c->lock);
    if (c->mode == MIG_COLO_MODE_PRIMARY) {
        c->kick = true;
        g_cond_broadcast(&c->wake);
    }
    g_mutex_unlock(&c->lock);
}

bool mig_colo_wait(MigEngine *e, int64_t deadline_ns)
{
    MigColo *c = &e->colo;
    g_mutex_lock(&c->lock);
    while (!c->kick && !c->stopping && c->failover == MIG_FAILOVER_NONE &&
           mb_monotonic_ns() < deadline_ns) {
        gint64 end = g_get_monotonic_time() + (deadline_ns - mb_monotonic_ns()) / 1000;
        g_cond_wait_until(&c->wake, &c->lock, end);
    }
    bool early = c->kick || c->stopping || c->failover != MIG_FAILOVER_NONE;
    c->kick = false;
    g_mutex_unlock(&c->lock);
    return early;
}

void mig_colo_add_checkpoint(MigEngine *e, const MigColoCheckpoint *cp)
{
    g_mutex_lock(&e->colo.lock);
    g_array_append_vals(e->colo.checkpoints, cp, 1);
    g_mutex_unlock(&e->colo.lock);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* p50 / p99 (nearest rank) and max of n values (sorted in place). */
static json_object *percentiles(double *v, guint n)
{
    json_object *o = json_object_new_object();
    qsort(v, n, sizeof(double), cmp_double);
    guint i50 = (guint)ceil(0.50 * n) - 1, i99 = (guint)ceil(0.99 * n) - 1;
    json_object_object_add(o, "p50", json_object_new_double(v[i50]));
    json_object_object_add(o, "p99", json_object_new_double(v[i99]));
    json_object_object_add(o, "max", json_object_new_double(v[n - 1]));
    return o;
}

json_object *mig_colo_report_json(MigEngine *e)
{
    MigColo *c = &e->colo;
    g_mutex_lock(&c->lock);
    if (c->last_mode == MIG_COLO_MODE_NONE) {
        g_mutex_unlock(&c->lock);
        return NULL;
    }
    guint n = c->checkpoints->len;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "mode", json_object_new_string(mode_names[c->last_mode]));
    json_object_object_add(o, "exit-reason", json_object_new_string(exit_names[c->exit_reason]));
    json_object_object_add(o, "checkpoints", json_object_new_uint64(n));
    json_object *list = json_object_new_array();
    double *t = g_new(double, n + 1), *b = g_new(double, n + 1), *w = g_new(double, n + 1);
    for (guint i = 0; i < n; i++) {
        const MigColoCheckpoint *cp = &g_array_index(c->checkpoints, MigColoCheckpoint, i);
        json_object *x = json_object_new_object();
        json_object_object_add(x, "at-ms", json_object_new_int64(cp->at_ms));
        json_object_object_add(x, "time-ms", json_object_new_double((double)cp->time_us / 1000.0));
        json_object_object_add(x, "bytes", json_object_new_uint64(cp->bytes));
        json_object_object_add(x, "pages", json_object_new_uint64(cp->pages));
        json_object_array_add(list, x);
        t[i] = (double)cp->time_us / 1000.0;
        b[i] = (double)cp->bytes;
        w[i] = (double)cp->wall_us / 1000.0;
    }
    g_mutex_unlock(&c->lock);
    if (n) {
        json_object_object_add(o, "time-ms", percentiles(t, n));
        json_object_object_add(o, "size", percentiles(b, n));
        json_object_object_add(o, "wall-ms", percentiles(w, n));
    }
    json_object_object_add(o, "list", list);
    g_free(t);
    g_free(b);
    g_free(w);
    return o;
}

json_object *mig_colo_query(MigEngine *e)
{
    MigColo *c = &e->colo;
    const SchemaType *t = schema_find_type(e->schema, "COLOStatus");
    json_object *o = json_object_new_object();

    g_mutex_lock(&c->lock);
    int reason;
    if (c->mode == MIG_COLO_MODE_NONE)
        reason = c->exit_reason;
    else if (c->failover == MIG_FAILOVER_NONE)
        reason = MIG_COLO_EXIT_NONE;
    else
        reason = -1; /* failing over */
    json_object_object_add(o, "mode", json_object_new_string(mode_names[c->mode]));
    if (t && schema_object_find_member(t, "last-mode"))
        json_object_object_add(o, "last-mode", json_object_new_string(mode_names[c->last_mode]));
    const char *r;
    if (reason >= 0)
        r = exit_names[reason];
    else if (schema_enum_has(e->schema, "COLOExitReason", "processing"))
        r = "processing";
    else /* the 4.0-dev seed */
        r = c->failover == MIG_FAILOVER_REQUIRE ? "request" : "error";
    json_object_object_add(o, "reason", json_object_new_string(r));
    g_mutex_unlock(&c->lock);
    return o;
}

/* ---- messages ---- */

bool mig_colo_send(MigFile *f, MigColoMessage msg, GError **err)
{
    mig_put_be32(f, (uint32_t)msg);
    mig_file_flush(f);
    if (mig_file_error(f)) {
        mb_error_set(err, "Can't send COLO message: %s", mig_file_error(f)->message);
        return false;
    }
    return true;
}

bool mig_colo_send_rp(Chan *rp, MigColoMessage msg, GError **err)
{
    uint8_t b[4];
    GError *e = NULL;
    mb_st_be32(b, (uint32_t)msg);
    if (!chan_write_all(rp, b, 4, &e)) {
        mb_error_set(err, "Can't send COLO message: %s", e->message);
        g_error_free(e);
        return false;
    }
    return true;
}

static bool check(uint32_t got, MigColoMessage want, GError **err)
{
    if (got >= MIG_COLO_MESSAGE__MAX) {
        mb_error_set(err, "colo_receive_message: Invalid message");
        return false;
    }
    if (got != (uint32_t)want) {
        mb_error_set(err, "Unexpected COLO message %u, expected %d", got, (int)want);
        return false;
    }
    return true;
}

bool mig_colo_expect(MigFile *f, MigColoMessage want, GError **err)
{
    uint32_t got = mig_get_be32(f);
    if (mig_file_error(f)) {
        mb_error_set(err, "Can't receive COLO message: %s", mig_file_error(f)->message);
        return false;
    }
    return check(got, want, err);
}

bool mig_colo_expect_rp(Chan *rp, MigColoMessage want, GError **err)
{
    uint8_t b[4];
    GError *e = NULL;
    if (!chan_read_full(rp, b, 4, &e)) {
        mb_error_set(err, "Can't receive COLO message: %s", e ? e->message : "end of stream");
        g_clear_error(&e);
        return false;
    }
    return check(mb_ld_be32(b), want, err);
}
