/* chan_internal: the Chan structure, shared by chan_io.c and chan_socket.c only. */
#ifndef CHAN_INTERNAL_H
#define CHAN_INTERNAL_H

#include "chan.h"

#include <gio/gio.h>
#include <stdatomic.h>

typedef struct ChanTlsSession ChanTlsSession;

struct Chan {
    int fd;         /* non-blocking; I/O waits in poll() together with wake_fd */
    int wake_fd;    /* eventfd written by chan_shutdown() */
    bool is_socket; /* send(MSG_NOSIGNAL) and shutdown(2) apply */
    atomic_bool shut;
    pid_t child; /* exec: the /bin/sh child to reap, or 0 */
    char *desc;
    /* TLS (chan_tls.c): the session, shared with the return path; and this channel's own
     * cancellable, which chan_shutdown() cancels to end blocked GIO (TLS) I/O. */
    ChanTlsSession *tls;
    GCancellable *cancel;
};

/* TLS I/O, used by chan_io.c for a channel whose `tls` is set. */
ssize_t chan_tls_read(Chan *c, void *buf, size_t len, GError **err);
bool chan_tls_write_all(Chan *c, const void *buf, size_t len, GError **err);
/* The return path of a TLS channel: the same session over a dup of the socket. */
Chan *chan_tls_share(Chan *c, int fd, char *desc);
void chan_tls_release(Chan *c);

/* Creates a channel around fd (made non-blocking), taking ownership. */
Chan *chan_wrap(int fd, bool is_socket, pid_t child, char *desc);

#endif
