/* Unit tests for chan/: URI parsing, socket round trips, exec, shutdown from a thread. */
#include "chan.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static void test_uri(void)
{
    ChanUri u;
    GError *err = NULL;

    g_assert_true(chan_uri_parse("tcp:127.0.0.1:4444", &u, NULL));
    g_assert_cmpint(u.scheme, ==, CHAN_TCP);
    g_assert_cmpstr(u.host, ==, "127.0.0.1");
    g_assert_cmpstr(u.port, ==, "4444");
    chan_uri_clear(&u);
    g_assert_true(chan_uri_parse("tcp:[::1]:0,ipv6", &u, NULL));
    g_assert_cmpstr(u.host, ==, "::1");
    g_assert_true(u.ipv6);
    chan_uri_clear(&u);
    g_assert_true(chan_uri_parse("tcp::5555", &u, NULL));
    g_assert_cmpstr(u.host, ==, "");
    chan_uri_clear(&u);
    g_assert_true(chan_uri_parse("unix:/tmp/x", &u, NULL));
    g_assert_cmpstr(u.path, ==, "/tmp/x");
    chan_uri_clear(&u);
    g_assert_true(chan_uri_parse("exec:cat > /dev/null", &u, NULL));
    g_assert_cmpstr(u.cmd, ==, "cat > /dev/null");
    chan_uri_clear(&u);
    g_assert_true(chan_uri_parse("fd:mig", &u, NULL));
    g_assert_cmpstr(u.fdname, ==, "mig");
    chan_uri_clear(&u);
    g_assert_true(chan_uri_parse("rdma:1.2.3.4:5", &u, NULL));
    g_assert_cmpint(u.scheme, ==, CHAN_RDMA);
    chan_uri_clear(&u);
    g_assert_true(chan_uri_parse("bogus:xyz", &u, NULL));
    g_assert_cmpint(u.scheme, ==, CHAN_UNKNOWN);
    chan_uri_clear(&u);

    g_assert_false(chan_uri_parse("tcp:nocolon", &u, &err));
    g_assert_cmpstr(err->message, ==, "error parsing address 'nocolon'");
    g_clear_error(&err);
    g_assert_false(chan_uri_parse("tcp::", &u, &err));
    g_assert_cmpstr(err->message, ==, "error parsing port in address ':'");
    g_clear_error(&err);
    g_assert_false(chan_uri_parse("tcp:[::1", &u, &err));
    g_assert_cmpstr(err->message, ==, "error parsing IPv6 address '[::1'");
    g_clear_error(&err);
}

typedef struct {
    ChanListener *l;
    Chan *accepted;
} AcceptCtx;

static gpointer accept_thread(gpointer p)
{
    AcceptCtx *a = p;
    a->accepted = chan_listener_accept(a->l, NULL);
    return NULL;
}

static void roundtrip(const char *uri_text)
{
    ChanUri u;
    GError *err = NULL;
    AcceptCtx a = { 0 };

    g_assert_true(chan_uri_parse(uri_text, &u, NULL));
    a.l = chan_listen(&u, 4, &err);
    g_assert_no_error(err);
    json_object *addrs = chan_listener_addresses(a.l);
    g_assert_cmpint(json_object_array_length(addrs), ==, 1);
    json_object *addr = json_object_array_get_idx(addrs, 0);
    if (u.scheme == CHAN_TCP) {
        /* port 0 must report the real port, so a client can connect to it */
        const char *port = json_object_get_string(json_object_object_get(addr, "port"));
        g_assert_cmpstr(port, !=, "0");
        g_assert_true(json_object_get_boolean(json_object_object_get(addr, "ipv4")));
        g_free(u.port);
        u.port = g_strdup(port);
    } else {
        g_assert_cmpstr(json_object_get_string(json_object_object_get(addr, "type")), ==, "unix");
    }
    json_object_put(addrs);

    GThread *t = g_thread_new("accept", accept_thread, &a);
    Chan *c = chan_connect(&u, &err);
    g_assert_no_error(err);
    g_thread_join(t);
    g_assert_nonnull(a.accepted);

    char buf[6] = { 0 };
    g_assert_true(chan_write_all(c, "hello", 5, NULL));
    g_assert_true(chan_read_full(a.accepted, buf, 5, NULL));
    g_assert_cmpstr(buf, ==, "hello");
    /* the return path is the same socket in the other direction */
    Chan *rp = chan_return_path(a.accepted);
    g_assert_nonnull(rp);
    g_assert_true(chan_write_all(rp, "ack", 3, NULL));
    g_assert_true(chan_read_full(c, buf, 3, NULL));
    g_assert_cmpint(memcmp(buf, "ack", 3), ==, 0);
    chan_close(rp);
    chan_close(c);
    g_assert_cmpint(chan_read(a.accepted, buf, 1, NULL), ==, 0);
    chan_close(a.accepted);
    chan_listener_free(a.l);
    chan_uri_clear(&u);
}

static void test_tcp(void)
{
    roundtrip("tcp:127.0.0.1:0");
}

static void test_unix(void)
{
    gchar *dir = g_dir_make_tmp("chan-XXXXXX", NULL);
    gchar *uri = g_strdup_printf("unix:%s/sock", dir);
    roundtrip(uri);
    g_free(uri);
    g_rmdir(dir);
    g_free(dir);
}

static void test_refused(void)
{
    ChanUri u;
    GError *err = NULL;

    /* bind a port, close it, then connect: nothing listens there any more */
    g_assert_true(chan_uri_parse("tcp:127.0.0.1:0", &u, NULL));
    ChanListener *l = chan_listen(&u, 1, NULL);
    json_object *addrs = chan_listener_addresses(l);
    const char *port =
        json_object_get_string(json_object_object_get(json_object_array_get_idx(addrs, 0), "port"));
    g_free(u.port);
    u.port = g_strdup(port);
    json_object_put(addrs);
    chan_listener_free(l);
    g_assert_null(chan_connect(&u, &err));
    g_assert_cmpstr(err->message, ==, "Failed to connect socket: Connection refused");
    g_clear_error(&err);
    chan_uri_clear(&u);

    g_assert_true(chan_uri_parse("unix:/nonexistent/sock", &u, NULL));
    g_assert_null(chan_connect(&u, &err));
    g_assert_cmpstr(err->message, ==,
                    "Failed to connect socket /nonexistent/sock: No such file or directory");
    g_clear_error(&err);
    chan_uri_clear(&u);
}

static void test_exec(void)
{
    gchar *dir = g_dir_make_tmp("chan-XXXXXX", NULL);
    gchar *file = g_build_filename(dir, "out", NULL);
    gchar *cmd = g_strdup_printf("cat > %s", file);
    GError *err = NULL;

    Chan *w = chan_spawn(cmd, true, &err);
    g_assert_no_error(err);
    g_assert_true(chan_write_all(w, "stream", 6, NULL));
    chan_close(w); /* reaps cat, so the file is complete */
    g_free(cmd);

    cmd = g_strdup_printf("cat %s", file);
    Chan *r = chan_spawn(cmd, false, &err);
    char buf[7] = { 0 };
    g_assert_true(chan_read_full(r, buf, 6, NULL));
    g_assert_cmpstr(buf, ==, "stream");
    g_assert_cmpint(chan_read(r, buf, 1, NULL), ==, 0);
    chan_close(r);
    g_unlink(file);
    g_rmdir(dir);
    g_free(cmd);
    g_free(file);
    g_free(dir);
}

static gpointer blocked_reader(gpointer p)
{
    char b;
    GError *err = NULL;
    ssize_t n = chan_read(p, &b, 1, &err);
    g_assert_cmpint(n, ==, -1);
    g_assert_cmpstr(err->message, ==, "Channel is shut down");
    g_error_free(err);
    return NULL;
}

static void test_shutdown_wakes(void)
{
    int p[2];
    g_assert_cmpint(pipe(p), ==, 0);
    Chan *r = chan_new_fd(p[0], "pipe");
    GThread *t = g_thread_new("reader", blocked_reader, r);
    /* The reader may or may not have entered poll yet; either way it must return. */
    chan_shutdown(r);
    g_thread_join(t);
    g_assert_true(chan_is_shutdown(r));
    chan_close(r);
    close(p[1]);
}

typedef struct {
    int fd;
    const uint8_t *data;
    size_t len;
} Dribble;

/* Writes the bytes in uneven pieces, so that reads end inside buffers. */
static gpointer dribble(gpointer opaque)
{
    Dribble *d = opaque;
    for (size_t at = 0, k = 1; at < d->len; k = k * 7 % 1000 + 1) {
        size_t n = MIN(k, d->len - at);
        g_assert_cmpint(write(d->fd, d->data + at, n), ==, (ssize_t)n);
        at += n;
    }
    close(d->fd);
    return NULL;
}

/* chan_readv_full fills every buffer in order, across reads that end inside a buffer, skips
 * empty ones, and fails a short stream with chan_read_full's text. */
static void test_readv_full(void)
{
    enum { N = 10000 };
    static uint8_t src[N], a[1], b[4096], c[N - 4097];
    for (unsigned i = 0; i < N; i++)
        src[i] = (uint8_t)(i * 31 + 7);
    int p[2];
    g_assert_cmpint(pipe(p), ==, 0);
    Chan *r = chan_new_fd(p[0], "pipe");
    Dribble d = { p[1], src, N };
    GThread *t = g_thread_new("writer", dribble, &d);
    struct iovec iov[] = { { a, 1 }, { NULL, 0 }, { b, sizeof b }, { c, sizeof c } };
    GError *err = NULL;
    g_assert_true(chan_readv_full(r, iov, 4, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(a, 1, src, 1);
    g_assert_cmpmem(b, sizeof b, src + 1, sizeof b);
    g_assert_cmpmem(c, sizeof c, src + 4097, sizeof c);
    g_thread_join(t);
    struct iovec more = { b, 1 };
    g_assert_false(chan_readv_full(r, &more, 1, &err)); /* the writer has closed */
    g_assert_cmpstr(err->message, ==, "unexpected end of stream");
    g_error_free(err);
    chan_close(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chan/uri", test_uri);
    g_test_add_func("/chan/tcp", test_tcp);
    g_test_add_func("/chan/unix", test_unix);
    g_test_add_func("/chan/refused", test_refused);
    g_test_add_func("/chan/exec", test_exec);
    g_test_add_func("/chan/shutdown-wakes", test_shutdown_wakes);
    g_test_add_func("/chan/readv-full", test_readv_full);
    return g_test_run();
}
