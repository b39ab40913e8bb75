/* qmp_monitor: a listening QMP socket that turns each accepted client into a session.
 *
 * QEMU's socket monitor serves one client at a time; ours accepts any number, each an
 * independent session (negotiation, OOB, named fds), because a bench wants a watcher and
 * a driver on the same VM.  A UNIX socket path is unlinked before binding and again when
 * the monitor closes, so a stale socket never blocks a restart. */
#include "qmp_int.h"

#include "qmp_addr.h"

#include <errno.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

struct QmpMonitor {
    QmpServer *srv;
    QmpAddr addr;
    char *bound;
    int fd;
    GSource *src;
};

static gboolean on_accept(gint fd, GIOCondition cond, gpointer opaque)
{
    QmpMonitor *m = opaque;

    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                g_debug("qmp: accept on %s: %s", m->bound, g_strerror(errno));
            break;
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
    m->fd = qmp_addr_listen(&m->addr, &m->bound, err);
    if (m->fd < 0)
        goto fail;
    m->src = g_unix_fd_source_new(m->fd, G_IO_IN);
    g_source_set_callback(m->src, (GSourceFunc)(void (*)(void))on_accept, m, NULL);
    g_source_attach(m->src, srv->ctx);
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
    g_source_destroy(m->src);
    g_source_unref(m->src);
    close(m->fd);
    if (m->addr.is_unix)
        unlink(m->addr.path);
    qmp_addr_clear(&m->addr);
    g_free(m->bound);
    g_free(m);
}
