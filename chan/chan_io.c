/* chan_io: blocking I/O on a Chan that another thread can interrupt.
 *
 * Every fd is non-blocking and waits happen in poll() on the fd plus an eventfd, so
 * chan_shutdown() from any thread wakes a blocked reader or writer at once, for sockets
 * and pipes alike (shutdown(2) alone cannot wake a pipe).  Sockets are also shut down for
 * real so the peer sees the end of the stream, as QEMU's qemu_file_shutdown does. */
#include "chan_internal.h"
#include "mb_error.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

Chan *chan_wrap(int fd, bool is_socket, pid_t child, char *desc)
{
    Chan *c = g_new0(Chan, 1);

    c->fd = fd;
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->is_socket = is_socket;
    c->child = child;
    c->desc = desc;
    c->cancel = g_cancellable_new();
    atomic_init(&c->shut, false);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return c;
}

Chan *chan_new_fd(int fd, const char *desc)
{
    int type = 0;
    socklen_t len = sizeof(type);
    bool sock = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;

    return chan_wrap(fd, sock, 0, g_strdup(desc));
}

/* Waits until fd is ready for `events` or the channel is shut down.  False when shut. */
static bool wait_ready(Chan *c, short events)
{
    struct pollfd p[2] = { { .fd = c->fd, .events = events },
                           { .fd = c->wake_fd, .events = POLLIN } };

    for (;;) {
        if (atomic_load(&c->shut))
            return false;
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (p[1].revents)
            return false;
        return true;
    }
}

/* The noun of QEMU's QIOChannel error texts: QIOChannelSocket says "socket",
 * QIOChannelCommand (exec:) "command", QIOChannelFile (fd: on a pipe or file) "file". */
static const char *io_kind(Chan *c)
{
    if (c->child)
        return "command";
    return c->is_socket ? "socket" : "file";
}

ssize_t chan_read(Chan *c, void *buf, size_t len, GError **err)
{
    if (c->tls)
        return chan_tls_read(c, buf, len, err);
    for (;;) {
        if (atomic_load(&c->shut)) {
            mb_error_set(err, "Channel is shut down");
            return -1;
        }
        ssize_t n = read(c->fd, buf, len);
        if (n == 0 && atomic_load(&c->shut)) {
            mb_error_set(err, "Channel is shut down");
            return -1;
        }
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            if (!wait_ready(c, POLLIN)) {
                mb_error_set(err, "Channel is shut down");
                return -1;
            }
            continue;
        }
        mb_error_set(err, "Unable to read from %s: %s", io_kind(c), g_strerror(errno));
        return -1;
    }
}

bool chan_read_full(Chan *c, void *buf, size_t len, GError **err)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = chan_read(c, p, len, err);
        if (n < 0)
            return false;
        if (n == 0) {
            mb_error_set(err, "unexpected end of stream");
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool chan_readv_full(Chan *c, struct iovec *iov, int iovcnt, GError **err)
{
    if (c->tls) {
        for (int i = 0; i < iovcnt; i++)
            if (!chan_read_full(c, iov[i].iov_base, iov[i].iov_len, err))
                return false;
        return true;
    }
    while (iovcnt > 0 && iov->iov_len == 0)
        iov++, iovcnt--;
    while (iovcnt > 0) {
        if (atomic_load(&c->shut)) {
            mb_error_set(err, "Channel is shut down");
            return false;
        }
        ssize_t n = readv(c->fd, iov, MIN(iovcnt, IOV_MAX));
        if (n == 0) {
            mb_error_set(err, atomic_load(&c->shut) ? "Channel is shut down"
                                                    : "unexpected end of stream");
            return false;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (!wait_ready(c, POLLIN)) {
                mb_error_set(err, "Channel is shut down");
                return false;
            }
            continue;
        }
        if (n < 0) {
            mb_error_set(err, "Unable to read from %s: %s", io_kind(c), g_strerror(errno));
            return false;
        }
        /* Drop what is full, move into the buffer that is not. */
        size_t got = (size_t)n;
        while (iovcnt > 0 && got >= iov->iov_len) {
            got -= iov->iov_len;
            iov++, iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + got;
            iov->iov_len -= got;
        }
    }
    return true;
}

bool chan_write_all(Chan *c, const void *buf, size_t len, GError **err)
{
    const uint8_t *p = buf;

    if (c->tls)
        return chan_tls_write_all(c, buf, len, err);
    while (len) {
        if (atomic_load(&c->shut)) {
            mb_error_set(err, "Channel is shut down");
            return false;
        }
        ssize_t n = c->is_socket ? send(c->fd, p, len, MSG_NOSIGNAL) : write(c->fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (!wait_ready(c, POLLOUT)) {
                mb_error_set(err, "Channel is shut down");
                return false;
            }
            continue;
        }
        mb_error_set(err, "Unable to write to %s: %s", io_kind(c),
                     n < 0 ? g_strerror(errno) : "no progress");
        return false;
    }
    return true;
}

void chan_shutdown(Chan *c)
{
    if (!c || atomic_exchange(&c->shut, true))
        return;
    uint64_t one = 1;
    if (write(c->wake_fd, &one, sizeof(one)) < 0) {
        /* The eventfd counter cannot overflow with one write; nothing to do. */
    }
    g_cancellable_cancel(c->cancel);
    if (c->is_socket)
        shutdown(c->fd, SHUT_RDWR);
}

bool chan_is_shutdown(Chan *c)
{
    return atomic_load(&c->shut);
}

Chan *chan_return_path(Chan *c)
{
    if (!c->is_socket)
        return NULL;
    int fd = dup(c->fd);
    if (fd < 0)
        return NULL;
    if (c->tls)
        return chan_tls_share(c, fd, g_strdup_printf("%s (return path)", c->desc));
    return chan_wrap(fd, true, 0, g_strdup_printf("%s (return path)", c->desc));
}

const char *chan_describe(Chan *c)
{
    return c->desc;
}

int chan_fd(Chan *c)
{
    return c->fd;
}

/* Reaps an exec child: it normally exits as soon as its pipe closes; a child that does not
 * is terminated after a bounded wait rather than left as a zombie or hung on. */
static void reap_child(pid_t pid)
{
    for (int i = 0; i < 2000; i++) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return;
        g_usleep(1000);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

void chan_close(Chan *c)
{
    if (!c)
        return;
    chan_tls_release(c);
    g_clear_object(&c->cancel);
    close(c->fd);
    close(c->wake_fd);
    if (c->child > 0)
        reap_child(c->child);
    g_free(c->desc);
    g_free(c);
}

Chan *chan_spawn(const char *cmd, bool outgoing, GError **err)
{
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        mb_error_set(err, "Unable to create pipe: %s", g_strerror(errno));
        return NULL;
    }
    pid = fork();
    if (pid < 0) {
        mb_error_set(err, "Unable to fork: %s", g_strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        /* Child: async-signal-safe calls only until exec. */
        int devnull = open("/dev/null", O_RDWR);
        if (outgoing) {
            dup2(fds[0], 0);
            dup2(devnull, 1);
        } else {
            dup2(devnull, 0);
            dup2(fds[1], 1);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int mine = outgoing ? fds[1] : fds[0];
    close(outgoing ? fds[0] : fds[1]);
    return chan_wrap(mine, false, pid, g_strdup_printf("exec:%s", cmd));
}
