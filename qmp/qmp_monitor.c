/* qmp_monitor: a listening QMP socket that turns each accepted client into a session.
 *
 * QEMU's socket monitor serves one client at a time; ours accepts any number, each an
 * independent session (negotiation, OOB, named fds), because a bench wants a watcher and
 * a driver on the same VM.  A UNIX socket path is unlinked before binding and again when
 * the monitor closes, so a stale socket never blocks a restart.
 *
 * Out of descriptors (EMFILE, ENFILE) accept() fails while the pending connection stays
 * queued, so the socket stays readable: a listen watch left armed would spin at 100%
 * CPU until something closes.  Instead the watch is disarmed and re-armed by a timer
 * (QMP_ACCEPT_RETRY_MS), and the stall is logged once, with its end. */
#include "qmp_int.h"

#include "mb_error.h"
#include "qmp_addr.h"

#include <errno.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/* How long accepting pauses after running out of descriptors. */
#define QMP_ACCEPT_RETRY_MS 100

struct QmpMonitor {
    QmpServer *srv;
    QmpAddr addr;
    char *bound;
    int fd;
    GSource *src;   /* the listen watch; NULL while paused */
    GSource *retry; /* re-arms the watch; non-NULL while paused */
    bool stalled;   /* accepting has failed for want of resources since the last success */
};

static gboolean on_accept(gint fd, GIOCondition cond, gpointer opaque);

static void arm(QmpMonitor *m)
{
    m->src = g_unix_fd_source_new(m->fd, G_IO_IN);
    g_source_set_callback(m->src, (GSourceFunc)(void (*)(void))on_accept, m, NULL);
    g_source_attach(m->src, m->srv->ctx);
}

static gboolean on_retry(gpointer opaque)
{
    QmpMonitor *m = opaque;

    g_source_unref(m->retry);
    m->retry = NULL;
    arm(m);
    return G_SOURCE_REMOVE;
}

/* Out of resources: stop watching the socket for a while (see the file comment). */
static void pause_accepting(QmpMonitor *m, int err)
{
    if (!m->stalled)
        g_message("qmp: cannot accept connections on %s: %s; retrying every %d ms", m->bound,
                  g_strerror(err), QMP_ACCEPT_RETRY_MS);
    m->stalled = true;
    g_atomic_int_inc(&m->srv->accept_stalls);
    g_source_destroy(m->src);
    g_source_unref(m->src);
    m->src = NULL;
    m->retry = g_timeout_source_new(QMP_ACCEPT_RETRY_MS);
    g_source_set_callback(m->retry, on_retry, m, NULL);
    g_source_attach(m->retry, m->srv->ctx);
}

static bool out_of_resources(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer opaque)
{
    QmpMonitor *m = opaque;

    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
            if (errno == EINTR)
                continue;
            if (out_of_resources(errno)) {
                pause_accepting(m, errno);
                return G_SOURCE_REMOVE; /* pause_accepting destroyed this source */
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                g_debug("qmp: accept on %s: %s", m->bound, g_strerror(errno));
            break;
        }
        if (m->stalled) {
            g_message("qmp: accepting connections on %s again", m->bound);
            m->stalled = false;
        }
        if (!m->addr.is_unix) {
            /* Replies and events are small writes a client waits for: no Nagle delay. */
            int one = 1;
            setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        qmp_session_new_socket(m->srv, cfd, m->addr.is_unix);
    }
    return G_SOURCE_CONTINUE;
}

QmpMonitor *qmp_monitor_new(QmpServer *srv, const char *spec, GError **err)
{
    QmpMonitor *m = g_new0(QmpMonitor, 1);

    m->srv = srv;
    m->fd = -1;
    if (!qmp_addr_parse(spec, &m->addr, err))
        goto fail;
    /* QEMU's options, with their meaning where it applies: a vm's monitor is always a
     * server.  QEMU without "nowait" blocks before starting the guest until a client
     * connects; migbench creates its monitors after the guest, so it says how to get the
     * same effect rather than pretend to. */
    if (m->addr.has_server && !m->addr.server) {
        mb_error_set(err,
                     "QMP address '%s': a vm's monitor is always a server ('server=off' is "
                     "not supported)",
                     spec);
        goto fail;
    }
    if (m->addr.wait) {
        mb_error_set(err,
                     "QMP address '%s': waiting for a client before the guest starts is not "
                     "supported; add 'nowait' (or 'wait=off'), and use -S/--paused then "
                     "'cont' to hold the guest until a client is ready",
                     spec);
        goto fail;
    }
    m->fd = qmp_addr_listen(&m->addr, &m->bound, err);
    if (m->fd < 0)
        goto fail;
    arm(m);
    return m;
fail:
    qmp_addr_clear(&m->addr);
    g_free(m);
    return NULL;
}

const char *qmp_monitor_address(QmpMonitor *m)
{
    return m->bound;
}

void qmp_monitor_free(QmpMonitor *m)
{
    if (!m)
        return;
    if (m->src) {
        g_source_destroy(m->src);
        g_source_unref(m->src);
    }
    if (m->retry) {
        g_source_destroy(m->retry);
        g_source_unref(m->retry);
    }
    close(m->fd);
    if (m->addr.is_unix)
        unlink(m->addr.path);
    qmp_addr_clear(&m->addr);
    g_free(m->bound);
    g_free(m);
}
