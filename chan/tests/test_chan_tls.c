/* Unit tests for chan_tls: handshakes over a socket pair with certificates made at test time
 * (certtool, util/mb_certs.c; skipped without it), data both ways including the return path,
 * QEMU's texts for each refusal, and chan_shutdown ending a blocked TLS read. */
#include "chan_internal.h"
#include "chan_tls.h"
#include "mb_certs.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char *creds_dir; /* CA, server and client certificates */
static char *other_dir; /* another CA's */

typedef struct {
    Chan *plain;
    ChanTlsCreds *creds;
    const char *authz_identity; /* NULL: no authz */
    Chan *result;
    GError *err;
    char *dn;
} Server;

static bool authz(void *opaque, const char *dn, GError **err)
{
    Server *s = opaque;
    s->dn = g_strdup(dn);
    return !strcmp(dn, s->authz_identity);
}

static gpointer server_thread(gpointer p)
{
    Server *s = p;
    if (chan_tls_server(s->plain, s->creds, s->authz_identity ? authz : NULL, s, &s->err))
        s->result = s->plain;
    else
        chan_close(s->plain);
    return NULL;
}

static ChanTlsCreds *load(const char *dir, ChanTlsEndpoint ep, bool verify)
{
    GError *err = NULL;
    ChanTlsCreds *c = chan_tls_creds_load(dir, ep, verify, &err);
    g_assert_no_error(err);
    return c;
}

/* Runs both handshakes; returns the client channel (NULL on failure, *cerr set). */
static Chan *handshake(Server *s, const char *client_dir, const char *hostname, GError **cerr)
{
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    s->plain = chan_wrap(sv[0], true, 0, g_strdup("server"));
    GThread *t = g_thread_new("tls-server", server_thread, s);
    ChanTlsCreds *cc = load(client_dir, CHAN_TLS_CLIENT, true);
    Chan *c = chan_wrap(sv[1], true, 0, g_strdup("client"));
    if (!chan_tls_client(c, cc, hostname, cerr)) {
        chan_close(c);
        c = NULL;
    }
    chan_tls_creds_unref(cc);
    /* A client that gave up closed its end, so a server waiting for more ends too. */
    g_thread_join(t);
    return c;
}

static void server_clear(Server *s)
{
    chan_close(s->result);
    chan_tls_creds_unref(s->creds);
    g_clear_error(&s->err);
    g_free(s->dn);
}

static void test_round_trip(void)
{
    Server s = { .creds = load(creds_dir, CHAN_TLS_SERVER, true) };
    GError *err = NULL;
    Chan *c = handshake(&s, creds_dir, "localhost", &err);

    g_assert_no_error(err);
    g_assert_no_error(s.err);
    g_assert_nonnull(c);
    g_assert_nonnull(s.result);
    g_assert_true(g_str_has_prefix(chan_tls_protocol(c), "TLS 1."));
    char buf[64 * 1024], got[64 * 1024];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (char)(i * 7);
    g_assert_true(chan_write_all(c, buf, sizeof(buf), NULL));
    g_assert_true(chan_read_full(s.result, got, sizeof(got), NULL));
    g_assert_cmpmem(buf, sizeof(buf), got, sizeof(got));
    /* The return path shares the session: the server answers on its own copy. */
    Chan *rp = chan_return_path(s.result);
    g_assert_nonnull(rp);
    g_assert_true(chan_write_all(rp, "pong", 4, NULL));
    g_assert_true(chan_read_full(c, got, 4, NULL));
    g_assert_cmpmem(got, 4, "pong", 4);
    chan_close(rp);
    chan_close(c);
    /* The client closed: the server reads the end of the stream. */
    g_assert_cmpint(chan_read(s.result, got, 1, NULL), ==, 0);
    server_clear(&s);
}

static void test_refusals(void)
{
    GError *err = NULL;
    Server s = { .creds = load(creds_dir, CHAN_TLS_SERVER, true) };

    g_assert_null(handshake(&s, creds_dir, "wrong.example", &err));
    g_assert_cmpstr(err->message, ==, "Certificate does not match the hostname wrong.example");
    g_clear_error(&err);
    server_clear(&s);

    s = (Server){ .creds = load(creds_dir, CHAN_TLS_SERVER, true) };
    g_assert_null(handshake(&s, other_dir, "localhost", &err));
    g_assert_cmpstr(err->message, ==, "The certificate hasn't got a known issuer");
    g_clear_error(&err);
    server_clear(&s);

    s = (Server){ .creds = load(creds_dir, CHAN_TLS_SERVER, true), .authz_identity = "CN=x" };
    Chan *c = handshake(&s, creds_dir, "localhost", &err);
    g_assert_nonnull(c); /* the client finished first; the server refuses after */
    g_assert_null(s.result);
    gchar *want = g_strdup_printf("TLS x509 authz check for %s is denied", s.dn);
    g_assert_cmpstr(s.err->message, ==, want);
    g_assert_nonnull(strstr(s.dn, "CN=migbench-run-source"));
    g_free(want);
    chan_close(c);
    server_clear(&s);

    /* verify-peer off on both ends: nothing checked, data still flows. */
    s = (Server){ .creds = load(other_dir, CHAN_TLS_SERVER, false) };
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    s.plain = chan_wrap(sv[0], true, 0, g_strdup("server"));
    GThread *t = g_thread_new("tls-server", server_thread, &s);
    ChanTlsCreds *cc = load(creds_dir, CHAN_TLS_CLIENT, false);
    c = chan_wrap(sv[1], true, 0, g_strdup("client"));
    g_assert_true(chan_tls_client(c, cc, "wrong.example", &err));
    g_thread_join(t);
    g_assert_no_error(err);
    g_assert_nonnull(s.result);
    g_assert_true(chan_write_all(c, "x", 1, NULL));
    char ch;
    g_assert_true(chan_read_full(s.result, &ch, 1, NULL));
    chan_tls_creds_unref(cc);
    chan_close(c);
    server_clear(&s);
}

static void test_load_errors(void)
{
    GError *err = NULL;

    g_assert_null(chan_tls_creds_load(NULL, CHAN_TLS_CLIENT, true, &err));
    g_assert_cmpstr(err->message, ==, "Missing 'dir' property value");
    g_clear_error(&err);
    g_assert_null(chan_tls_creds_load("/nonexistent", CHAN_TLS_SERVER, true, &err));
    g_assert_cmpstr(err->message, ==,
                    "Unable to access credentials /nonexistent/ca-cert.pem: No such file or "
                    "directory");
    g_clear_error(&err);
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
    Server s = { .creds = load(creds_dir, CHAN_TLS_SERVER, true) };
    GError *err = NULL;
    Chan *c = handshake(&s, creds_dir, "localhost", &err);

    g_assert_no_error(err);
    GThread *t = g_thread_new("reader", blocked_reader, s.result);
    g_usleep(20000); /* let it block; the test holds either way */
    chan_shutdown(s.result);
    g_thread_join(t);
    chan_close(c);
    server_clear(&s);
}

static void rm_rf(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;
    while (d && (n = g_dir_read_name(d))) {
        gchar *p = g_build_filename(dir, n, NULL);
        g_unlink(p);
        g_free(p);
    }
    if (d)
        g_dir_close(d);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    GError *err = NULL;
    creds_dir = g_dir_make_tmp("test-chan-tls-XXXXXX", NULL);
    other_dir = g_dir_make_tmp("test-chan-tls-XXXXXX", NULL);
    if (!mb_certs_make(creds_dir, &err) || !mb_certs_make(other_dir, &err)) {
        g_test_skip(err->message);
        g_clear_error(&err);
    } else if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
        g_test_skip("no GIO TLS backend (install glib-networking)");
    } else {
        g_test_add_func("/chan-tls/round-trip", test_round_trip);
        g_test_add_func("/chan-tls/refusals", test_refusals);
        g_test_add_func("/chan-tls/load-errors", test_load_errors);
        g_test_add_func("/chan-tls/shutdown-wakes", test_shutdown_wakes);
    }
    int rc = g_test_run();
    rm_rf(creds_dir);
    rm_rf(other_dir);
    g_free(creds_dir);
    g_free(other_dir);
    return rc;
}
