/* qmp_session: one connected QMP client: its socket, input suspension and output backlog.
 *
 * Input: bytes are read in chunks but fed to the framing only while the session is not
 * suspended, and the socket is not read again before the chunk is used up.  Suspension
 * follows QEMU's monitor: without OOB at most one in-band request may wait, with OOB at
 * most QMP_REQ_QUEUE_LEN_MAX; we also stop reading a client that does not read its
 * replies (backlog above out_high), so a pipelining client cannot make us buffer replies
 * without bound.
 *
 * Output is never written blocking: text goes to a backlog that is flushed whenever the
 * socket is writable.  A backlog above out_max (a client that stopped reading events)
 * drops the client.
 *
 * File descriptors arriving with SCM_RIGHTS are held like QEMU's socket chardev holds
 * them: the latest batch replaces (and closes) an unclaimed earlier one; getfd claims the
 * first.  Everything a session owns is released when it closes, whatever it was doing. */
#include "qmp_int.h"

#include <errno.h>
#include <glib-unix.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK   4096
#define MAX_RECV_FDS 16 /* QEMU's TCP_MAX_FDS */

static void update_watches(QmpSession *s);

static void close_fd_value(gpointer p)
{
    close(GPOINTER_TO_INT(p));
}

static QmpSession *session_new(QmpServer *srv)
{
    QmpSession *s = g_new0(QmpSession, 1);

    s->srv = srv;
    s->refs = 1; /* the server's reference, dropped by qmp_session_close() */
    s->fd = -1;
    s->stream = qmp_stream_new(&srv->limits.stream, qmp_dispatch_on_message, s);
    s->in = g_byte_array_new();
    s->out = g_string_new(NULL);
    s->recv_fds = g_array_new(FALSE, FALSE, sizeof(int));
    s->fds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, close_fd_value);
    g_queue_init(&s->requests);
    g_queue_init(&s->after_pending);
    g_queue_push_tail(&srv->sessions, s);
    return s;
}

static void send_greeting(QmpSession *s)
{
    json_object *g = qmp_core_greeting(s->srv, s);

    qmp_send_message(s, g);
    json_object_put(g);
}

QmpSession *qmp_session_new_socket(QmpServer *srv, int fd, bool can_passfd)
{
    QmpSession *s = session_new(srv);
    int fl = fcntl(fd, F_GETFL);

    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    s->fd = fd;
    s->can_passfd = can_passfd;
    /* Every monitor of ours runs where OOB works, like QEMU's socket monitors. */
    s->oob_offered = true;
    qmp_session_ref(s);
    send_greeting(s); /* may find the peer gone already, and close */
    update_watches(s);
    if (s->dead) {
        qmp_session_unref(s);
        return NULL;
    }
    qmp_session_unref(s);
    return s;
}

QmpSession *qmp_session_new_memory(QmpServer *srv, bool oob_offered)
{
    QmpSession *s = session_new(srv);

    s->in_memory = true;
    s->oob_offered = oob_offered;
    send_greeting(s);
    return s;
}

void qmp_session_ref(QmpSession *s)
{
    s->refs++;
}

void qmp_session_unref(QmpSession *s)
{
    g_assert(s->refs > 0);
    if (--s->refs)
        return;
    g_assert(s->dead);
    qmp_stream_free(s->stream);
    g_byte_array_free(s->in, TRUE);
    g_string_free(s->out, TRUE);
    g_array_free(s->recv_fds, TRUE);
    g_hash_table_destroy(s->fds);
    g_free(s);
}

static void drop_source(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

static void close_recv_fds(QmpSession *s)
{
    for (guint i = 0; i < s->recv_fds->len; i++)
        close(g_array_index(s->recv_fds, int, i));
    g_array_set_size(s->recv_fds, 0);
}

/* After-reply callbacks whose reply has been written (or will never be) become ready. */
static void release_after(QmpSession *s, bool all)
{
    while (!g_queue_is_empty(&s->after_pending)) {
        QmpAfterReply *a = g_queue_peek_head(&s->after_pending);
        if (!all && a->mark > s->out_written)
            break;
        g_queue_pop_head(&s->after_pending);
        qmp_server_schedule_after(s->srv, a);
    }
}

void qmp_session_close(QmpSession *s)
{
    QmpQueued *q;

    if (s->dead)
        return;
    s->dead = true;
    g_queue_remove(&s->srv->sessions, s);
    drop_source(&s->in_src);
    drop_source(&s->out_src);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    /* Like QEMU on CHR_EVENT_CLOSED: queued requests are dropped, not run. */
    while ((q = g_queue_pop_head(&s->requests)))
        qmp_queued_free(q);
    close_recv_fds(s);
    g_hash_table_remove_all(s->fds);
    release_after(s, true);
    g_byte_array_set_size(s->in, 0);
    s->in_off = 0;
    qmp_session_unref(s);
}

bool qmp_session_input_blocked(QmpSession *s)
{
    guint queued = g_queue_get_length(&s->requests);

    if (s->dead)
        return true;
    if ((!s->oob_enabled && queued > 0) || queued >= QMP_REQ_QUEUE_LEN_MAX)
        return true;
    return !s->in_memory && s->out->len - s->out_off > s->srv->limits.out_high;
}

static void flush_output(QmpSession *s)
{
    while (s->out_off < s->out->len) {
        ssize_t n = send(s->fd, s->out->str + s->out_off, s->out->len - s->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            qmp_session_close(s); /* peer gone: drop everything */
            return;
        }
        s->out_off += (size_t)n;
        s->out_written += (uint64_t)n;
    }
    if (s->out_off == s->out->len) {
        g_string_truncate(s->out, 0);
        s->out_off = 0;
        if (s->out->allocated_len > 1 << 20) {
            g_string_free(s->out, TRUE);
            s->out = g_string_new(NULL);
        }
    } else if (s->out_off > 65536) {
        g_string_erase(s->out, 0, (gssize)s->out_off);
        s->out_off = 0;
    }
    release_after(s, false);
}

void qmp_session_send(QmpSession *s, const char *text, size_t len)
{
    if (s->dead)
        return;
    g_string_append_len(s->out, text, (gssize)len);
    s->out_queued += len;
    if (s->in_memory) {
        s->out_written = s->out_queued;
        release_after(s, false);
        return;
    }
    qmp_session_ref(s);
    flush_output(s);
    if (!s->dead && s->out->len - s->out_off > s->srv->limits.out_max) {
        /* A client that stopped reading (events pile up): let it go. */
        g_debug("qmp: dropping a client with %zu bytes of unread output", s->out->len - s->out_off);
        qmp_session_close(s);
    }
    if (!s->dead)
        update_watches(s);
    qmp_session_unref(s);
}

void qmp_session_pump(QmpSession *s)
{
    qmp_session_ref(s);
    while (!s->dead && s->in_off < s->in->len && !qmp_session_input_blocked(s)) {
        s->in_off += qmp_stream_feed(s->stream, (const char *)s->in->data + s->in_off,
                                     s->in->len - s->in_off);
    }
    if (!s->dead && s->in_off == s->in->len) {
        g_byte_array_set_size(s->in, 0);
        s->in_off = 0;
    }
    if (!s->dead)
        update_watches(s);
    qmp_session_unref(s);
}

void qmp_session_input(QmpSession *s, const char *buf, size_t len)
{
    g_assert(s->in_memory);
    if (s->dead)
        return;
    g_byte_array_append(s->in, (const guint8 *)buf, (guint)len);
    qmp_session_pump(s);
}

GString *qmp_session_output(QmpSession *s)
{
    return s->out;
}

void qmp_session_after_reply(QmpSession *s, GSList *after)
{
    /* `after` is in reverse registration order. */
    after = g_slist_reverse(after);
    for (GSList *l = after; l; l = l->next) {
        QmpAfterReply *a = l->data;
        a->mark = s->out_queued;
        if (s->dead)
            qmp_server_schedule_after(s->srv, a);
        else
            g_queue_push_tail(&s->after_pending, a);
    }
    g_slist_free(after);
    if (!s->dead)
        release_after(s, false);
}

int qmp_session_take_received_fd(QmpSession *s)
{
    int fd;

    if (s->recv_fds->len == 0)
        return -1;
    fd = g_array_index(s->recv_fds, int, 0);
    g_array_remove_index(s->recv_fds, 0);
    close_recv_fds(s);
    return fd;
}

/* ---- socket watches ---- */

static void store_received_fds(QmpSession *s, struct msghdr *msg)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const int *fds = (const int *)CMSG_DATA(c);
        if (n == 0)
            continue;
        close_recv_fds(s); /* a new batch replaces an unclaimed one */
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, fds + i, sizeof(fd));
            /* O_NONBLOCK travels with the file; hand it over blocking like QEMU. */
            int fl = fcntl(fd, F_GETFL);
            if (fl >= 0)
                fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
            g_array_append_val(s->recv_fds, fd);
        }
    }
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer opaque)
{
    QmpSession *s = opaque;
    union {
        char buf[CMSG_SPACE(sizeof(int) * MAX_RECV_FDS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov;
    struct msghdr msg = { 0 };
    ssize_t n;

    g_assert(s->in_off == s->in->len);
    g_byte_array_set_size(s->in, READ_CHUNK);
    iov.iov_base = s->in->data;
    iov.iov_len = READ_CHUNK;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (s->can_passfd) {
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
    }
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
        g_byte_array_set_size(s->in, 0);
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return G_SOURCE_CONTINUE;
        qmp_session_close(s);
        return G_SOURCE_CONTINUE; /* the source is already destroyed */
    }
    if (s->can_passfd && msg.msg_controllen)
        store_received_fds(s, &msg);
    g_byte_array_set_size(s->in, (guint)n);
    s->in_off = 0;
    if (n == 0) {
        /* EOF: QEMU drops the connection (and whatever it had queued) at once. */
        qmp_session_close(s);
        return G_SOURCE_CONTINUE;
    }
    qmp_session_pump(s);
    return G_SOURCE_CONTINUE;
}

static gboolean on_writable(gint fd, GIOCondition cond, gpointer opaque)
{
    QmpSession *s = opaque;
    bool was_blocked = qmp_session_input_blocked(s);

    qmp_session_ref(s);
    flush_output(s);
    if (!s->dead) {
        if (was_blocked && !qmp_session_input_blocked(s))
            qmp_session_pump(s);
        else
            update_watches(s);
    }
    qmp_session_unref(s);
    return G_SOURCE_CONTINUE;
}

static GSource *add_watch(QmpSession *s, GIOCondition cond, GUnixFDSourceFunc fn)
{
    GSource *src = g_unix_fd_source_new(s->fd, cond);

    g_source_set_callback(src, (GSourceFunc)(void (*)(void))fn, s, NULL);
    g_source_attach(src, s->srv->ctx);
    return src;
}

/* Reads when there is room for input; writes when there is a backlog. */
static void update_watches(QmpSession *s)
{
    bool want_in, want_out;

    if (s->dead || s->in_memory)
        return;
    want_in = s->in_off == s->in->len && !qmp_session_input_blocked(s);
    want_out = s->out_off < s->out->len;
    if (want_in && !s->in_src)
        s->in_src = add_watch(s, G_IO_IN | G_IO_HUP | G_IO_ERR, on_readable);
    else if (!want_in)
        drop_source(&s->in_src);
    if (want_out && !s->out_src)
        s->out_src = add_watch(s, G_IO_OUT | G_IO_HUP | G_IO_ERR, on_writable);
    else if (!want_out)
        drop_source(&s->out_src);
}
