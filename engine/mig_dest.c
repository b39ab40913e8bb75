/* mig_dest: the incoming side (QEMU's qemu_start_incoming_migration and
 * process_incoming_migration_co/_bh).
 *
 * Listening starts on -incoming URI or migrate-incoming; one thread accepts the connection,
 * loads the stream into the guest, verifies every page, then restores the run state and
 * reports completed.  A failed load leaves the vm up in 'failed' with an error-desc naming
 * what and where (QEMU exits instead; --incoming-exit-on-error restores that). */
#include "mig_dest.h"
#include "mb_util.h"
#include "mig_announce.h"
#include "mig_colo_secondary.h"
#include "mig_failover.h"
#include "mig_multifd.h"
#include "mig_pc_dest.h"
#include "mig_report.h"
#include "mig_settings.h"
#include "mig_loadvm.h"
#include "mig_tls.h"

#include <stdlib.h>
#include <string.h>

void mig_in_set_error(MigEngine *e, const GError *err)
{
    g_mutex_lock(&e->in.lock);
    if (!e->in.error)
        e->in.error = g_error_copy(err);
    g_mutex_unlock(&e->in.lock);
}

static void send_shut(Chan *rp, bool failed)
{
    uint8_t msg[8];

    if (!rp)
        return;
    mb_st_be16(msg, MIG_RP_SHUT);
    mb_st_be16(msg + 2, 4);
    mb_st_be32(msg + 4, failed ? 1 : 0);
    chan_write_all(rp, msg, sizeof(msg), NULL);
}

/* QEMU's process_incoming_migration_bh: after a good load.  After postcopy the guest has
 * been running since RUN (loadvm_postcopy_handle_run_bh chose its state then). */
static void finish_incoming(MigEngine *e, bool postcopy)
{
    const char *rs = e->in.guest_state_runstate;

    if (postcopy) {
        /* the run state stays */
    } else if (!rs || !*rs || !strcmp(rs, "running")) {
        if (runstate_autostart(e))
            runstate_vm_start(e);
        else
            runstate_set(e, RS_PAUSED);
    } else {
        int s = runstate_from_name(rs);
        runstate_set(e, s >= 0 ? (RunState)s : RS_PAUSED);
    }
    /* QEMU frees the address list with the incoming state in the same step that sets
     * "completed" (under its big lock): no query may see one without the other. */
    g_mutex_lock(&e->in.lock);
    json_object_put(e->in.socket_address);
    e->in.socket_address = NULL;
    g_mutex_unlock(&e->in.lock);
    mig_set_state(e, &e->in.state, postcopy ? MIG_POSTCOPY_ACTIVE : MIG_ACTIVE, MIG_COMPLETED);
}

static void fail_incoming(MigEngine *e, GError *err)
{
    mig_in_set_error(e, err);
    g_printerr("migbench: load of migration failed: %s\n", err->message);
    g_error_free(err);
    /* from active, postcopy-active, or postcopy-recover (a bad stream after a recovery) */
    mig_set_state(e, &e->in.state, (MigStatus)atomic_load(&e->in.state), MIG_FAILED);
    if (e->cfg.exit_on_incoming_error)
        exit(1);
}

static bool multifd_store(void *opaque, unsigned block, uint64_t page, const uint8_t *data)
{
    MigEngine *e = opaque;
    return mb_guest_page_store(e->guest, block, page, data);
}

/* Where a multifd page is read in place: the guest's own memory where it has some. */
static uint8_t *multifd_place(void *opaque, unsigned block, uint64_t page)
{
    MigEngine *e = opaque;
    return e->guest->ops->page_host ? e->guest->ops->page_host(e->guest, block, page) : NULL;
}

/* A multifd channel failed: the main stream loader must stop too. */
static void multifd_failed(void *opaque)
{
    MigEngine *e = opaque;
    g_mutex_lock(&e->in.lock);
    if (e->in.file)
        mig_file_shutdown(e->in.file);
    g_mutex_unlock(&e->in.lock);
}

/* QEMU's migration_channel_process_incoming with tls-creds: the TLS handshake and checks
 * on an accepted channel.  The channel is registered while it runs, so that stopping the
 * vm ends a handshake with a silent peer.  NULL with err (and `c` closed) on failure. */
static Chan *secure_channel(MigEngine *e, Chan *c, GError **err)
{
    if (!mig_tls_enabled(e))
        return c;
    g_mutex_lock(&e->in.lock);
    bool stopping = __atomic_load_n(&e->in.stopping, __ATOMIC_RELAXED);
    if (stopping)
        chan_shutdown(c);
    e->in.handshaking = c;
    g_mutex_unlock(&e->in.lock);
    bool ok = mig_tls_incoming(e, c, err);
    g_mutex_lock(&e->in.lock);
    e->in.handshaking = NULL;
    g_mutex_unlock(&e->in.lock);
    if (!ok) {
        chan_close(c);
        return NULL;
    }
    return c;
}

/* How long the destination waits for the multifd channels once the main channel is in.
 * QEMU waits forever, so a source with fewer channels (or multifd off) hangs both sides in
 * 'active'; a source connects its channels right after the main one, so seconds are
 * plenty even on a loaded machine.  (Wall clock: it only decides a failure, never a sim
 * figure.) */
#define MULTIFD_CHANNEL_WAIT_NS (5 * (int64_t)1000000000)

/* With multifd, the load starts only once every channel has connected (QEMU's
 * migration_has_all_channels); then the listener stops, as QEMU's does, so a source
 * with more channels than this side sees its extra ones reset or refused and fails. */
static bool accept_multifd(MigEngine *e, GError **err)
{
    MigMultifdConfig cfg;

    if (!mig_cap(e, MIG_CAP_MULTIFD)) {
        if (e->in.listener)
            chan_listener_stop(e->in.listener);
        return true;
    }
    if (!e->in.listener) {
        mb_error_set(err, "multifd needs a tcp or unix migration URI");
        return false;
    }
    mig_multifd_config(e, &cfg);
    MigMultifdRecv *m = mig_multifd_recv_new(&cfg, multifd_store, multifd_failed, e);
    mig_multifd_recv_set_place(m, multifd_place);
    g_mutex_lock(&e->in.lock);
    e->in.multifd = m;
    g_mutex_unlock(&e->in.lock);
    int64_t deadline = mb_monotonic_ns() + MULTIFD_CHANNEL_WAIT_NS;
    for (unsigned got = 0; !mig_multifd_recv_ready(m); got++) {
        bool timed_out;
        Chan *c = chan_listener_accept_until(e->in.listener, deadline, &timed_out, err);
        if (c)
            c = secure_channel(e, c, err);
        if (timed_out)
            mb_error_set(err,
                         "multifd: %u of %u channels connected within %d seconds; does the "
                         "source have multifd on with multifd-channels %u?",
                         got, cfg.channels, (int)(MULTIFD_CHANNEL_WAIT_NS / 1000000000),
                         cfg.channels);
        if (!c || !mig_multifd_recv_add_channel(m, c, err))
            return false;
    }
    chan_listener_stop(e->in.listener);
    return true;
}

/* A main channel that fails its TLS setup is reported on stderr and dropped, and the
 * destination keeps waiting with its incoming state unchanged, as QEMU's does (its
 * handshake runs beside the listener).  True when `c` was refused (and closed). */
static bool refuse_channel(MigEngine *e, Chan **c)
{
    GError *err = NULL;

    *c = secure_channel(e, *c, &err);
    if (*c)
        return false;
    if (!__atomic_load_n(&e->in.stopping, __ATOMIC_RELAXED))
        g_printerr("migbench: %s\n", err->message);
    g_error_free(err);
    return true;
}

/* After COLO on the secondary: the guest runs from its last checkpoint (taken over), the
 * state is 'completed'; as after a migration, the address list goes and the NICs announce. */
static void colo_finish(MigEngine *e, bool verified, const GError *err, int64_t load_ms)
{
    g_mutex_lock(&e->in.lock);
    json_object_put(e->in.socket_address);
    e->in.socket_address = NULL;
    g_mutex_unlock(&e->in.lock);
    if (!verified) {
        mig_in_set_error(e, err);
        g_printerr("migbench: COLO secondary: %s\n", err->message);
        mig_report_dest_end(e, false, err->message, load_ms, NULL);
        return;
    }
    json_object *announce = mig_announce_run(e, &e->in.stopping);
    mig_report_dest_end(e, true, NULL, load_ms, announce);
}

/* ---- postcopy recovery ---- */

/* The stream being loaded, as a recovery replaces it. */
typedef struct {
    MigEngine *e;
    MigFile *f;
} InStream;

/* Waits (paused) until migrate-recover has set up a channel and a source connects on it,
 * then takes that connection.  NULL when the vm stops first. */
static Chan *await_recovery(MigEngine *e, uint64_t *seq)
{
    for (;;) {
        g_mutex_lock(&e->in.lock);
        while (e->in.recover_seq == *seq && !__atomic_load_n(&e->in.stopping, __ATOMIC_RELAXED))
            g_cond_wait(&e->in.recover_cond, &e->in.lock);
        bool stopping = __atomic_load_n(&e->in.stopping, __ATOMIC_RELAXED);
        *seq = e->in.recover_seq;
        Chan *c = e->in.pending_chan;
        e->in.pending_chan = NULL;
        ChanListener *l = e->in.listener;
        g_mutex_unlock(&e->in.lock);
        if (stopping) {
            chan_close(c);
            return NULL;
        }
        GError *err = NULL;
        if (!c && l)
            c = chan_listener_accept(l, &err);
        g_clear_error(&err);
        if (!c) {
            if (__atomic_load_n(&e->in.stopping, __ATOMIC_RELAXED))
                return NULL;
            continue; /* (exec/fd: the one channel was refused; wait for another recover) */
        }
        if (!refuse_channel(e, &c))
            return c;
        if (!l)
            continue;
        /* A refused TLS channel: keep listening on the same socket. */
        g_mutex_lock(&e->in.lock);
        e->in.recover_seq++;
        g_mutex_unlock(&e->in.lock);
    }
}

/* MigLoadRecover: QEMU's postcopy_pause_incoming and, once a new connection arrives,
 * postcopy_try_recover.  The guest keeps running here with the pages it has; nothing is
 * torn down but the broken channel. */
static bool pause_incoming(void *opaque, MigFile **f, Chan **rp, const GError *cause)
{
    InStream *in = opaque;
    MigEngine *e = in->e;

    g_mutex_lock(&e->in.lock);
    MigPcDest *pc = e->in.postcopy;
    e->in.file = NULL;
    uint64_t seq = e->in.recover_seq;
    g_mutex_unlock(&e->in.lock);
    mig_pc_dest_pause(pc);
    chan_close(*rp);
    *rp = NULL;
    mig_file_close(*f);
    *f = in->f = NULL;
    /* A second break during a recovery pauses again too (QEMU 5.0 only leaves
     * postcopy-active: docs/quirks.md). */
    atomic_store(&e->in.recover_triggered, false);
    mig_set_state(e, &e->in.state, (MigStatus)atomic_load(&e->in.state), MIG_POSTCOPY_PAUSED);
    g_printerr("migbench: postcopy stream broke: %s; migration paused\n", cause->message);
    Chan *c = await_recovery(e, &seq);
    if (!c)
        return false;
    MigFile *nf = mig_file_new(c, false);
    *rp = chan_return_path(c);
    g_mutex_lock(&e->in.lock);
    e->in.file = nf;
    g_mutex_unlock(&e->in.lock);
    *f = in->f = nf;
    mig_set_state(e, &e->in.state, MIG_POSTCOPY_PAUSED, MIG_POSTCOPY_RECOVER);
    if (__atomic_load_n(&e->in.stopping, __ATOMIC_RELAXED))
        mig_file_shutdown(nf); /* (stop ran between the accept and here) */
    return true;
}

static gpointer incoming_thread(gpointer opaque)
{
    MigEngine *e = opaque;
    GError *err = NULL;
    Chan *rp = NULL;

    g_mutex_lock(&e->in.lock);
    Chan *c = e->in.pending_chan;
    e->in.pending_chan = NULL;
    g_mutex_unlock(&e->in.lock);
    for (;;) {
        if (!c && e->in.listener)
            c = chan_listener_accept(e->in.listener, &err);
        if (!c) {
            /* The listener was closed (vm shutting down), or the one exec/fd channel was
             * refused: not a migration failure. */
            g_clear_error(&err);
            return NULL;
        }
        if (!refuse_channel(e, &c))
            break;
        c = NULL;
    }
    /* A new incoming migration: the previous one's postcopy figures go. */
    g_mutex_lock(&e->in.lock);
    MigPcDest *old_pc = e->in.postcopy;
    e->in.postcopy = NULL;
    g_mutex_unlock(&e->in.lock);
    mig_pc_dest_free(old_pc);
    int64_t t0 = mb_monotonic_ns();
    MigFile *f = mig_file_new(c, false);
    g_mutex_lock(&e->in.lock);
    e->in.file = f;
    g_mutex_unlock(&e->in.lock);
    mig_set_state(e, &e->in.state, MIG_NONE, MIG_ACTIVE);
    InStream in = { .e = e, .f = f };
    bool ok = accept_multifd(e, &err) && mig_loadvm(e, f, &rp, pause_incoming, &in, &err);
    f = in.f; /* a recovery replaced it; NULL when it gave up while paused */
    /* Wall-clock load time (reports only, never a sim result): up to the end of the stream,
     * before verification. */
    int64_t load_ns = mb_monotonic_ns() - t0;
    /* CPU from the process's start: a receiver's preparation (prefaulting guest RAM from
     * creation on) is part of what receiving costs */
    e->in.load_cpu_ns = mb_process_cpu_ns();
    g_mutex_lock(&e->in.lock);
    MigMultifdRecv *mf = e->in.multifd;
    e->in.multifd = NULL;
    g_mutex_unlock(&e->in.lock);
    if (!ok && mf) {
        /* A failed channel is the cause; the main stream only saw the shutdown after. */
        GError *cause = mig_multifd_recv_error(mf);
        if (cause) {
            g_clear_error(&err);
            err = cause;
        }
    }
    mig_multifd_recv_free(mf);
    /* Postcopy: the guest has been running since RUN; its vCPUs go on until every page is
     * in, then the whole memory is verified like after precopy. */
    g_mutex_lock(&e->in.lock);
    MigPcDest *pc = e->in.postcopy;
    g_mutex_unlock(&e->in.lock);
    bool postcopy = pc && mig_pc_dest_state(pc) >= MIG_PCD_RUNNING;
    if (pc) {
        mig_pc_dest_stream_end(pc, ok);
        mig_pc_dest_join(pc); /* it writes requests on rp */
    }
    if (postcopy && !ok && atomic_load(&e->in.state) == MIG_POSTCOPY_PAUSED) {
        /* The stream broke in postcopy and the vm stopped while waiting for a recovery:
         * it stays paused (QEMU's paused load waits forever). */
        g_clear_error(&err);
        goto out;
    }
    int64_t load_ms = load_ns / 1000000;
    if (ok && e->in.colo) {
        /* ENABLE_COLO: checked but kept incoming, this side becomes the COLO secondary
         * (after a clean SHUT, so a source waiting for one on its return path goes on). */
        ok = e->guest->ops->check(e->guest, &err);
        if (ok) {
            send_shut(rp, false);
            ok = mig_colo_secondary_run(e, f, &rp, &err);
            colo_finish(e, ok, err, load_ms);
            g_clear_error(&err);
            goto out;
        }
    }
    if (ok && !e->guest->ops->verify(e->guest, &err))
        ok = false;
    if (ok) {
        finish_incoming(e, postcopy);
        /* The migrated guest gets its failover primary (virtio-net plugs it on the
         * destination once the guest runs there). */
        mig_failover_plug(e, "migration completed");
        /* QEMU announces from the bottom half that completes the migration; the rounds
         * after the first follow on a timer while the guest runs. */
        json_object *announce = mig_announce_run(e, &e->in.stopping);
        mig_report_dest_end(e, true, NULL, load_ms, announce);
    } else {
        mig_report_dest_end(e, false, err->message, load_ms, NULL);
        fail_incoming(e, err);
    }
    send_shut(rp, !ok);
out:
    chan_close(rp);
    g_mutex_lock(&e->in.lock);
    e->in.file = NULL;
    if (e->in.listener)
        chan_listener_close(e->in.listener);
    g_mutex_unlock(&e->in.lock);
    if (f)
        mig_file_close(f);
    return NULL;
}

/* QEMU's qemu_start_incoming_migration without the thread: the setup event, then a
 * listener (tcp, unix) or the one channel (exec, fd) for `uri`.  *listening is false for
 * "defer" (nothing to wait on). */
static bool open_incoming(MigEngine *e, const char *uri, int fd, bool *listening, GError **err)
{
    ChanUri u;
    ChanListener *old = NULL;

    *listening = false;
    /* QEMU emits this unconditionally, whatever the events capability says. */
    mig_emit_status_event(e, MIG_SETUP);
    if (!chan_uri_parse(uri, &u, err))
        return false;
    bool ok = true;
    switch (u.scheme) {
    case CHAN_DEFER:
        if (e->in.deferred) {
            mb_error_set(err, "Incoming migration already deferred");
            ok = false;
        }
        e->in.deferred = true;
        chan_uri_clear(&u);
        return ok;
    case CHAN_TCP:
    case CHAN_UNIX: {
        ChanListener *l = chan_listen(&u, 16, err); /* room for multifd channels */
        if (!l) {
            ok = false;
            break;
        }
        g_mutex_lock(&e->in.lock);
        old = e->in.listener; /* (a recovery's: the first migration's, already stopped) */
        e->in.listener = l;
        json_object_put(e->in.socket_address);
        e->in.socket_address = chan_listener_addresses(l);
        g_mutex_unlock(&e->in.lock);
        break;
    }
    case CHAN_EXEC: {
        Chan *c = chan_spawn(u.cmd, false, err);
        ok = c != NULL;
        g_mutex_lock(&e->in.lock);
        e->in.pending_chan = c;
        g_mutex_unlock(&e->in.lock);
        break;
    }
    case CHAN_FD: {
        /* From migrate-incoming the caller took the fd from the monitor; on the command
         * line (-incoming fd:N) the name is an inherited descriptor number. */
        int64_t n = fd;
        if (fd < 0 && (!mb_parse_i64(u.fdname, &n) || n < 0 || n > INT32_MAX)) {
            mb_error_set(err, "File descriptor named '%s' has not been found", u.fdname);
            ok = false;
            break;
        }
        Chan *c = chan_new_fd((int)n, "fd");
        g_mutex_lock(&e->in.lock);
        e->in.pending_chan = c;
        g_mutex_unlock(&e->in.lock);
        break;
    }
    default:
        mb_error_set(err, "unknown migration protocol: %s", uri);
        ok = false;
        break;
    }
    chan_uri_clear(&u);
    if (old) {
        chan_listener_close(old);
        chan_listener_free(old);
    }
    *listening = ok;
    return ok;
}

bool mig_dest_start(MigEngine *e, const char *uri, int fd, GError **err)
{
    bool listening;

    if (!open_incoming(e, uri, fd, &listening, err))
        return false;
    if (!listening)
        return true; /* defer */
    e->in.thread = g_thread_try_new("incoming", incoming_thread, e, err);
    return e->in.thread != NULL;
}

bool mig_dest_recover(MigEngine *e, const char *uri, int fd, GError **err)
{
    bool listening;

    if (atomic_load(&e->in.state) != MIG_POSTCOPY_PAUSED) {
        mb_error_set(err, "Migrate recover can only be run when postcopy is paused.");
        return false;
    }
    if (atomic_exchange(&e->in.recover_triggered, true)) {
        mb_error_set(err, "Migrate recovery is triggered already");
        return false;
    }
    /* Only a new channel: the paused incoming thread takes the connection (QEMU 5.0 keeps
     * the trigger set when this fails, until the next pause). */
    if (!open_incoming(e, uri, fd, &listening, err))
        return false;
    g_mutex_lock(&e->in.lock);
    if (listening)
        e->in.recover_seq++;
    g_cond_broadcast(&e->in.recover_cond);
    g_mutex_unlock(&e->in.lock);
    return true;
}

void mig_dest_pause(MigEngine *e)
{
    g_mutex_lock(&e->in.lock);
    if (e->in.file)
        mig_file_shutdown(e->in.file);
    g_mutex_unlock(&e->in.lock);
}

void mig_dest_stop(MigEngine *e)
{
    __atomic_store_n(&e->in.stopping, true, __ATOMIC_RELAXED);
    g_mutex_lock(&e->in.lock);
    g_cond_broadcast(&e->in.recover_cond); /* a paused load waits for a recovery */
    if (e->in.listener)
        chan_listener_close(e->in.listener);
    if (e->in.file)
        mig_file_shutdown(e->in.file);
    if (e->in.multifd)
        mig_multifd_recv_shutdown(e->in.multifd);
    if (e->in.pending_chan)
        chan_shutdown(e->in.pending_chan);
    if (e->in.handshaking)
        chan_shutdown(e->in.handshaking);
    g_mutex_unlock(&e->in.lock);
    if (e->in.thread) {
        /* A load in progress ends now that its channel is shut down. */
        g_thread_join(e->in.thread);
        e->in.thread = NULL;
    }
    chan_listener_free(e->in.listener);
    e->in.listener = NULL;
    mig_pc_dest_free(e->in.postcopy);
    e->in.postcopy = NULL;
    chan_close(e->in.pending_chan);
    e->in.pending_chan = NULL;
}
