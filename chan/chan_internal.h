/* chan_internal: the Chan structure, shared by chan_io.c and chan_socket.c only. */
#ifndef CHAN_INTERNAL_H
#define CHAN_INTERNAL_H

#include "chan.h"

#include <stdatomic.h>

struct Chan {
    int fd;         /* non-blocking; I/O waits in poll() together with wake_fd */
    int wake_fd;    /* eventfd written by chan_shutdown() */
    bool is_socket; /* send(MSG_NOSIGNAL) and shutdown(2) apply */
    atomic_bool shut;
    pid_t child; /* exec: the /bin/sh child to reap, or 0 */
    char *desc;
};

/* Creates a channel around fd (made non-blocking), taking ownership. */
Chan *chan_wrap(int fd, bool is_socket, pid_t child, char *desc);

#endif
