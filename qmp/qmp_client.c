/* qmp_client: a blocking QMP client with deadlines (see qmp_client.h).
 *
 * The client reads with poll() against an absolute deadline, frames what arrives with the
 * same streamer as the server (so it understands whatever QEMU may send), and sorts the
 * messages into two queues: events, and everything else (the greeting and replies).
 * Requests carry ids "migbench-N"; a call waits for the reply with its id and discards
 * stale replies of earlier calls that timed out.  A negative timeout waits forever. */
#include "qmp_client.h"

#include "mb_error.h"
#include "mb_util.h"
#include "qmp_addr.h"
#include "qmp_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ID_PREFIX "migbench-"

struct QmpClient {
    int fd;
    bool can_passfd;
    QmpStream *stream;
    GQueue events;   /* json_object * */
    GQueue messages; /* json_object *: greeting, replies, anything not an event */
    GError *stream_err;
    json_object *greeting;
    uint64_t next_id;
    bool closed; /* the server closed the connection (EOF or reset) */
};

static void on_message(void *opaque, json_object *v, GError *err)
{
    QmpClient *c = opaque;

    if (err) {
        if (!c->stream_err)
            c->stream_err = err;
        else
            g_error_free(err);
        return;
    }
    if (json_object_is_type(v, json_type_object) && json_object_object_get_ex(v, "event", NULL))
        g_queue_push_tail(&c->events, v);
    else if (v)
        g_queue_push_tail(&c->messages, v);
}

static int64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : mb_monotonic_ns() + (int64_t)timeout_ms * 1000000;
}

/* Milliseconds left until `deadline` for poll(), -1 for none. */
static int poll_ms(int64_t deadline)
{
    int64_t left;

    if (deadline < 0)
        return -1;
    left = deadline - mb_monotonic_ns();
    if (left <= 0)
        return 0;
    return (int)MIN((left + 999999) / 1000000, (int64_t)G_MAXINT);
}

/* Reads one chunk (waiting until `deadline`); false on timeout, EOF or error. */
static bool read_some(QmpClient *c, int64_t deadline, const char *what, GError **err)
{
    char buf[65536];
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
    ssize_t n;
    int rc;

    if (c->stream_err) {
        mb_error_set(err, "Malformed message from the server: %s", c->stream_err->message);
        return false;
    }
    do {
        rc = poll(&pfd, 1, poll_ms(deadline));
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        mb_error_set(err, "Timed out waiting for %s", what);
        return false;
    }
    do {
        n = recv(c->fd, buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return true;
    if (n <= 0) {
        c->closed = true;
        mb_error_set(err, "Connection closed by the server%s%s", n < 0 ? ": " : "",
                     n < 0 ? g_strerror(errno) : "");
        return false;
    }
    qmp_stream_feed(c->stream, buf, (size_t)n);
    return true;
}

/* Sends all of `len` bytes, the first chunk with `fd` attached when fd >= 0. */
static bool send_all(QmpClient *c, const char *data, size_t len, int fd, int64_t deadline,
                     GError **err)
{
    size_t off = 0;

    while (off < len) {
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = { .iov_base = (char *)data + off, .iov_len = len - off };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (fd >= 0 && off == 0) {
            struct cmsghdr *cm;
            memset(&ctl, 0, sizeof(ctl));
            msg.msg_control = ctl.buf;
            msg.msg_controllen = sizeof(ctl.buf);
            cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        }
        n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n >= 0) {
            off += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
            if (poll(&pfd, 1, poll_ms(deadline)) == 0) {
                mb_error_set(err, "Timed out sending to the server");
                return false;
            }
            continue;
        }
        /* a peer that went away shows here first when the client speaks before it reads:
         * say so, so callers treat it as the closed connection it is (EPIPE, ECONNRESET) */
        if (errno == EPIPE || errno == ECONNRESET)
            c->closed = true;
        mb_error_set(err, "Failed to send to the server: %s", g_strerror(errno));
        return false;
    }
    return true;
}

/* The next non-event message, waiting until `deadline`. */
static json_object *next_message(QmpClient *c, int64_t deadline, const char *what, GError **err)
{
    while (g_queue_is_empty(&c->messages))
        if (!read_some(c, deadline, what, err))
            return NULL;
    return g_queue_pop_head(&c->messages);
}

static bool id_matches(json_object *msg, const char *id)
{
    json_object *v;

    return json_object_object_get_ex(msg, "id", &v) && json_object_is_type(v, json_type_string) &&
           !strcmp(json_object_get_string(v), id);
}

static json_object *request(QmpClient *c, const char *key, const char *cmd, json_object *args,
                            int fd, int timeout_ms, GError **err)
{
    int64_t deadline = deadline_of(timeout_ms);
    json_object *req = json_object_new_object();
    char *id = g_strdup_printf(ID_PREFIX "%" G_GUINT64_FORMAT, ++c->next_id);
    char *text, *line;
    json_object *rsp = NULL;
    bool sent;

    json_object_object_add(req, key, json_object_new_string(cmd));
    if (args)
        json_object_object_add(req, "arguments", args);
    json_object_object_add(req, "id", json_object_new_string(id));
    text = qmp_json_to_string(req, 0);
    json_object_put(req);
    /* Command and newline in one write: the server acts on the command as soon as its JSON
     * is complete, and after `quit` it closes the connection, so a separate newline would
     * meet a closed socket (EPIPE) although the command was delivered. */
    line = g_strconcat(text, "\n", NULL);
    sent = send_all(c, line, strlen(line), fd, deadline, err);
    g_free(line);
    g_free(text);
    while (sent) {
        char *what = g_strdup_printf("the reply to %s", cmd);
        rsp = next_message(c, deadline, what, err);
        g_free(what);
        if (!rsp || id_matches(rsp, id))
            break;
        json_object_put(rsp); /* a stale reply to an earlier call that timed out */
        rsp = NULL;
    }
    g_free(id);
    return rsp;
}

json_object *qmp_client_execute(QmpClient *c, const char *cmd, json_object *args, int timeout_ms,
                                GError **err)
{
    return request(c, "execute", cmd, args, -1, timeout_ms, err);
}

json_object *qmp_client_execute_oob(QmpClient *c, const char *cmd, json_object *args,
                                    int timeout_ms, GError **err)
{
    return request(c, "exec-oob", cmd, args, -1, timeout_ms, err);
}

bool qmp_client_reply_to_error(json_object *rsp, GError **err)
{
    json_object *e, *cls, *desc;
    int code = MB_ERR_GENERIC;

    if (!json_object_object_get_ex(rsp, "error", &e))
        return true;
    json_object_object_get_ex(e, "class", &cls);
    json_object_object_get_ex(e, "desc", &desc);
    for (int i = MB_ERR_GENERIC; i <= MB_ERR_KVM_MISSING_CAP; i++)
        if (!g_strcmp0(json_object_get_string(cls), mb_error_class_name(i)))
            code = i;
    g_set_error(err, MB_ERROR, code, "%s",
                desc ? json_object_get_string(desc) : "error reply without desc");
    return false;
}

json_object *qmp_client_call(QmpClient *c, const char *cmd, json_object *args, int timeout_ms,
                             GError **err)
{
    json_object *rsp = qmp_client_execute(c, cmd, args, timeout_ms, err), *ret = NULL;

    if (!rsp)
        return NULL;
    if (qmp_client_reply_to_error(rsp, err)) {
        json_object_object_get_ex(rsp, "return", &ret);
        ret = json_object_get(ret);
        if (!ret)
            ret = json_object_new_object();
    }
    json_object_put(rsp);
    return ret;
}

bool qmp_client_write_raw(QmpClient *c, const char *text, size_t len, GError **err)
{
    return send_all(c, text, len, -1, -1, err);
}

json_object *qmp_client_read_message(QmpClient *c, int timeout_ms, GError **err)
{
    return next_message(c, deadline_of(timeout_ms), "a message", err);
}

json_object *qmp_client_send_raw(QmpClient *c, const char *text, int timeout_ms, GError **err)
{
    int64_t deadline = deadline_of(timeout_ms);

    if (!send_all(c, text, strlen(text), -1, deadline, err))
        return NULL;
    return next_message(c, deadline, "a reply", err);
}

json_object *qmp_client_wait_event(QmpClient *c, const char *name, int timeout_ms, GError **err)
{
    int64_t deadline = deadline_of(timeout_ms);
    char *what = g_strdup_printf("event %s", name ? name : "(any)");
    json_object *ev = NULL;

    for (;;) {
        for (GList *l = c->events.head; l; l = l->next) {
            json_object *e = l->data, *n;
            if (!name || (json_object_object_get_ex(e, "event", &n) &&
                          !g_strcmp0(json_object_get_string(n), name))) {
                ev = e;
                g_queue_delete_link(&c->events, l);
                goto out;
            }
        }
        if (!read_some(c, deadline, what, err))
            break;
    }
out:
    g_free(what);
    return ev;
}

json_object *qmp_client_next_event(QmpClient *c)
{
    return g_queue_pop_head(&c->events);
}

bool qmp_client_poll(QmpClient *c, GError **err)
{
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

    while (poll(&pfd, 1, 0) > 0)
        if (!read_some(c, 0, "data", err))
            return false;
    return true;
}

bool qmp_client_getfd(QmpClient *c, int fd, const char *name, GError **err)
{
    json_object *args = json_object_new_object(), *rsp;
    bool ok;

    if (!c->can_passfd) {
        json_object_put(args);
        mb_error_set(err, "File descriptors can only be passed over UNIX sockets");
        return false;
    }
    json_object_object_add(args, "fdname", json_object_new_string(name));
    rsp = request(c, "execute", "getfd", args, fd, 10000, err);
    if (!rsp)
        return false;
    ok = qmp_client_reply_to_error(rsp, err);
    json_object_put(rsp);
    return ok;
}

bool qmp_client_closed(QmpClient *c)
{
    return c->closed;
}

int qmp_client_fd(QmpClient *c)
{
    return c->fd;
}

json_object *qmp_client_greeting(QmpClient *c)
{
    return c->greeting;
}

static void put_json(gpointer p)
{
    json_object_put(p);
}

void qmp_client_free(QmpClient *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    qmp_stream_free(c->stream);
    g_queue_clear_full(&c->events, put_json);
    g_queue_clear_full(&c->messages, put_json);
    if (c->stream_err)
        g_error_free(c->stream_err);
    json_object_put(c->greeting);
    g_free(c);
}

QmpClient *qmp_client_connect_full(const char *addr, int timeout_ms, unsigned flags, GError **err)
{
    int64_t deadline = deadline_of(timeout_ms);
    QmpClient *c = g_new0(QmpClient, 1);
    QmpAddr a;
    json_object *g, *qmp;

    c->fd = -1;
    c->stream = qmp_stream_new(NULL, on_message, c);
    g_queue_init(&c->events);
    g_queue_init(&c->messages);
    if (!qmp_addr_parse(addr, &a, err))
        goto fail;
    c->can_passfd = a.is_unix;
    for (;;) {
        bool retry;
        GError *local = NULL;
        c->fd = qmp_addr_connect(&a, &retry, &local);
        if (c->fd >= 0)
            break;
        /* A freshly started vm may not listen yet: try again until the deadline. */
        if (!retry || (deadline >= 0 && mb_monotonic_ns() + 20000000 > deadline)) {
            g_propagate_error(err, local);
            qmp_addr_clear(&a);
            goto fail;
        }
        g_error_free(local);
        g_usleep(20000);
    }
    qmp_addr_clear(&a);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);

    g = next_message(c, deadline, "the QMP greeting", err);
    if (!g)
        goto fail;
    if (!json_object_object_get_ex(g, "QMP", &qmp)) {
        json_object_put(g);
        mb_error_set(err, "The server at %s did not greet with a QMP banner", addr);
        goto fail;
    }
    c->greeting = g;
    if (!(flags & QMP_CLIENT_NO_NEGOTIATE)) {
        json_object *args = NULL, *rsp;
        bool ok;
        if (flags & QMP_CLIENT_OOB) {
            json_object *en = json_object_new_array();
            json_object_array_add(en, json_object_new_string("oob"));
            args = json_object_new_object();
            json_object_object_add(args, "enable", en);
        }
        rsp = qmp_client_execute(c, "qmp_capabilities", args, poll_ms(deadline), err);
        if (!rsp)
            goto fail;
        ok = qmp_client_reply_to_error(rsp, err);
        json_object_put(rsp);
        if (!ok) {
            g_prefix_error(err, "Capability negotiation failed: ");
            goto fail;
        }
    }
    return c;
fail:
    qmp_client_free(c);
    return NULL;
}

QmpClient *qmp_client_connect(const char *addr, int timeout_ms, bool oob, GError **err)
{
    return qmp_client_connect_full(addr, timeout_ms, oob ? QMP_CLIENT_OOB : 0, err);
}
