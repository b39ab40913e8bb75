/* chan_tls: TLS sessions on channels, with QEMU's certificate checks (see chan_tls.h).
 *
 * GIO does the protocol; the decision whether a peer is acceptable is taken here, after
 * the handshake, because QEMU takes it there (qcrypto_tls_session_check_credentials) and
 * reports it with its own texts: GIO's accept-certificate handler accepts everything and
 * the checks below then run in QEMU's order.  The peer's distinguished name and the
 * hostname match come from GnuTLS itself, the library QEMU asks, so the name an
 * authz-simple identity must equal is exactly the one QEMU compares. */
#include "chan_tls.h"
#include "chan_internal.h"
#include "mb_error.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <gnutls/x509.h>
#include <string.h>
#include <unistd.h>

struct ChanTlsCreds {
    gint refs;
    ChanTlsEndpoint endpoint;
    bool verify_peer;
    GTlsDatabase *ca;      /* ca-cert.pem */
    GTlsCertificate *cert; /* own certificate and key, or NULL (a client without one) */
};

struct ChanTlsSession {
    gint refs;
    GIOStream *conn; /* the GTlsConnection */
    char *protocol;
};

static const char *chain_reason(GTlsCertificateFlags f);

static char *cred_path(const char *dir, const char *name, bool required, GError **err)
{
    char *path = g_build_filename(dir, name, NULL);

    if (access(path, R_OK) < 0) {
        if (required)
            mb_error_set(err, "Unable to access credentials %s: %s", path, g_strerror(errno));
        g_free(path);
        return NULL;
    }
    return path;
}

ChanTlsCreds *chan_tls_creds_load(const char *dir, ChanTlsEndpoint endpoint, bool verify_peer,
                                  GError **err)
{
    GError *local = NULL;
    bool server = endpoint == CHAN_TLS_SERVER;

    if (!dir) {
        mb_error_set(err, "Missing 'dir' property value");
        return NULL;
    }
    if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
        mb_error_set(err, "TLS support is not available (install glib-networking)");
        return NULL;
    }
    char *ca = cred_path(dir, "ca-cert.pem", true, err);
    if (!ca)
        return NULL;
    char *cert = cred_path(dir, server ? "server-cert.pem" : "client-cert.pem", server, err);
    char *key = NULL;
    if (cert)
        key = cred_path(dir, server ? "server-key.pem" : "client-key.pem", server, err);
    if (server && (!cert || !key)) {
        g_free(ca);
        g_free(cert);
        return NULL;
    }
    ChanTlsCreds *c = g_new0(ChanTlsCreds, 1);
    c->refs = 1;
    c->endpoint = endpoint;
    c->verify_peer = verify_peer;
    c->ca = g_tls_file_database_new(ca, &local);
    if (c->ca && cert && key)
        c->cert = g_tls_certificate_new_from_files(cert, key, &local);
    if (local) {
        mb_error_set(err, "Unable to load credentials in %s: %s", dir, local->message);
        g_error_free(local);
        chan_tls_creds_unref(c);
        c = NULL;
    }
    /* QEMU's sanity check of its own certificate: an end whose certificate its CA did not
     * sign would only ever fail its handshakes, so the object is refused at once. */
    if (c && c->cert) {
        GTlsCertificateFlags f =
            g_tls_database_verify_chain(c->ca, c->cert,
                                        server ? G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER
                                               : G_TLS_DATABASE_PURPOSE_AUTHENTICATE_CLIENT,
                                        NULL, NULL, G_TLS_DATABASE_VERIFY_NONE, NULL, &local);
        if (local || f) {
            mb_error_set(err, "Our own certificate %s failed validation against %s: %s", cert, ca,
                         local ? local->message : chain_reason(f));
            g_clear_error(&local);
            chan_tls_creds_unref(c);
            c = NULL;
        }
    }
    g_free(ca);
    g_free(cert);
    g_free(key);
    return c;
}

ChanTlsCreds *chan_tls_creds_ref(ChanTlsCreds *c)
{
    if (c)
        g_atomic_int_inc(&c->refs);
    return c;
}

void chan_tls_creds_unref(ChanTlsCreds *c)
{
    if (!c || !g_atomic_int_dec_and_test(&c->refs))
        return;
    g_clear_object(&c->ca);
    g_clear_object(&c->cert);
    g_free(c);
}

ChanTlsEndpoint chan_tls_creds_endpoint(const ChanTlsCreds *c)
{
    return c->endpoint;
}

static void session_unref(ChanTlsSession *s)
{
    if (!s || !g_atomic_int_dec_and_test(&s->refs))
        return;
    g_object_unref(s->conn);
    g_free(s->protocol);
    g_free(s);
}

/* The byte stream GIO runs TLS over: a GSocketConnection for sockets, the fd's two
 * directions otherwise (a pipe that cannot answer makes the handshake fail). */
static GIOStream *base_stream(Chan *plain, GError **err)
{
    int mode = fcntl(plain->fd, F_GETFL);

    /* A pipe runs one way (migbench's exec: channels, fd: on a pipe): a handshake on it
     * would wait forever for an answer that cannot come. */
    if (!plain->is_socket && (mode < 0 || (mode & O_ACCMODE) != O_RDWR)) {
        mb_error_set(err, "TLS handshake failed: %s is a one-way channel", plain->desc);
        return NULL;
    }
    int fd = dup(plain->fd);

    if (fd < 0) {
        mb_error_set(err, "Unable to duplicate channel: %s", g_strerror(errno));
        return NULL;
    }
    if (plain->is_socket) {
        GError *local = NULL;
        GSocket *sock = g_socket_new_from_fd(fd, &local);
        if (!sock) {
            close(fd);
            mb_error_set(err, "Unable to use socket: %s", local->message);
            g_error_free(local);
            return NULL;
        }
        GIOStream *io = G_IO_STREAM(g_socket_connection_factory_create_connection(sock));
        g_object_unref(sock);
        return io;
    }
    int fd2 = dup(fd);
    GInputStream *in = g_unix_input_stream_new(fd, TRUE);
    GOutputStream *out = g_unix_output_stream_new(fd2 >= 0 ? fd2 : fd, fd2 >= 0);
    GIOStream *io = g_simple_io_stream_new(in, out);
    g_object_unref(in);
    g_object_unref(out);
    return io;
}

static gboolean accept_any(GTlsConnection *conn, GTlsCertificate *peer, GTlsCertificateFlags errors,
                           gpointer opaque)
{
    return TRUE; /* decided by check_peer() after the handshake, as QEMU does */
}

/* QEMU's reasons for a chain GnuTLS does not accept, the most specific one winning. */
static const char *chain_reason(GTlsCertificateFlags f)
{
    if (f & G_TLS_CERTIFICATE_INSECURE)
        return "The certificate uses an insecure algorithm";
    if (f & G_TLS_CERTIFICATE_REVOKED)
        return "The certificate has been revoked";
    if (f & G_TLS_CERTIFICATE_UNKNOWN_CA)
        return "The certificate hasn't got a known issuer";
    return "The certificate is not trusted";
}

/* The checks of qcrypto_tls_session_check_certificate, in its order. */
static bool check_peer(ChanTlsCreds *cr, GTlsConnection *conn, const char *hostname,
                       ChanTlsAuthzFn authz, void *opaque, GCancellable *cancel, GError **err)
{
    GTlsCertificate *peer = g_tls_connection_get_peer_certificate(conn);
    GError *local = NULL;

    if (!cr->verify_peer)
        return true;
    if (!peer) {
        mb_error_set(err, "No certificate peers");
        return false;
    }
    GTlsCertificateFlags f = g_tls_database_verify_chain(
        cr->ca, peer,
        cr->endpoint == CHAN_TLS_CLIENT ? G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER
                                        : G_TLS_DATABASE_PURPOSE_AUTHENTICATE_CLIENT,
        NULL, NULL, G_TLS_DATABASE_VERIFY_NONE, cancel, &local);
    if (local) {
        mb_error_set(err, "Verify failed: %s", local->message);
        g_error_free(local);
        return false;
    }
    if (f) {
        mb_error_set(err, "%s", chain_reason(f));
        return false;
    }

    GByteArray *der = NULL;
    gnutls_x509_crt_t crt = NULL;
    bool ok = false;
    char *dn = NULL;
    size_t dn_size = 0;

    g_object_get(peer, "certificate", &der, NULL);
    gnutls_datum_t d = { der ? der->data : NULL, der ? der->len : 0 };
    if (!der || gnutls_x509_crt_init(&crt) < 0 ||
        gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) < 0) {
        mb_error_set(err, "Cannot import certificate");
        goto out;
    }
    time_t now = time(NULL);
    if (gnutls_x509_crt_get_expiration_time(crt) < now) {
        mb_error_set(err, "The certificate has expired");
        goto out;
    }
    if (gnutls_x509_crt_get_activation_time(crt) > now) {
        mb_error_set(err, "The certificate is not yet activated");
        goto out;
    }
    gnutls_x509_crt_get_dn(crt, NULL, &dn_size);
    dn = g_malloc0(dn_size + 1);
    if (gnutls_x509_crt_get_dn(crt, dn, &dn_size) < 0) {
        mb_error_set(err, "Cannot get client distinguished name");
        goto out;
    }
    if (authz) {
        GError *aerr = NULL;
        if (!authz(opaque, dn, &aerr)) {
            if (aerr)
                g_propagate_error(err, aerr);
            else
                mb_error_set(err, "TLS x509 authz check for %s is denied", dn);
            goto out;
        }
    }
    if (hostname) {
        if (!gnutls_x509_crt_check_hostname(crt, hostname)) {
            mb_error_set(err, "Certificate does not match the hostname %s", hostname);
            goto out;
        }
    } else if (cr->endpoint == CHAN_TLS_CLIENT) {
        mb_error_set(err, "No hostname for certificate validation");
        goto out;
    }
    ok = true;
out:
    g_free(dn);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (der)
        g_byte_array_unref(der);
    return ok;
}

static const char *protocol_name(GTlsProtocolVersion v)
{
    switch (v) {
    case G_TLS_PROTOCOL_VERSION_TLS_1_0: return "TLS 1.0";
    case G_TLS_PROTOCOL_VERSION_TLS_1_1: return "TLS 1.1";
    case G_TLS_PROTOCOL_VERSION_TLS_1_2: return "TLS 1.2";
    case G_TLS_PROTOCOL_VERSION_TLS_1_3: return "TLS 1.3";
    default: return "TLS";
    }
}

/* Handshake and checks; on success `plain` becomes the TLS channel. */
static bool establish(Chan *plain, ChanTlsCreds *cr, const char *hostname, ChanTlsAuthzFn authz,
                      void *opaque, GError **err)
{
    GError *local = NULL;
    GIOStream *base = base_stream(plain, err);
    GIOStream *conn = NULL;

    if (!base)
        return false;
    if (cr->endpoint == CHAN_TLS_CLIENT) {
        GSocketConnectable *id = hostname ? g_network_address_new(hostname, 0) : NULL;
        conn = g_tls_client_connection_new(base, id, &local);
        g_clear_object(&id);
    } else {
        conn = g_tls_server_connection_new(base, cr->cert, &local);
        if (conn)
            g_object_set(
                conn, "authentication-mode",
                cr->verify_peer ? G_TLS_AUTHENTICATION_REQUIRED : G_TLS_AUTHENTICATION_NONE, NULL);
    }
    g_object_unref(base);
    if (!conn) {
        mb_error_set(err, "Cannot create TLS session: %s", local->message);
        g_error_free(local);
        return false;
    }
    GTlsConnection *tc = G_TLS_CONNECTION(conn);
    g_tls_connection_set_database(tc, cr->ca);
    if (cr->endpoint == CHAN_TLS_CLIENT && cr->cert)
        g_tls_connection_set_certificate(tc, cr->cert);
    /* The migration stream has its own end (EOS); a peer that drops the connection after it
     * without a close_notify has not truncated anything. */
    g_tls_connection_set_require_close_notify(tc, FALSE);
    g_signal_connect(conn, "accept-certificate", G_CALLBACK(accept_any), NULL);

    if (!g_tls_connection_handshake(tc, plain->cancel, &local)) {
        if (g_cancellable_is_cancelled(plain->cancel))
            mb_error_set(err, "Channel is shut down");
        else
            mb_error_set(err, "TLS handshake failed: %s", local->message);
        g_error_free(local);
        g_object_unref(conn);
        return false;
    }
    if (!check_peer(cr, tc, hostname, authz, opaque, plain->cancel, err)) {
        g_object_unref(conn);
        return false;
    }
    ChanTlsSession *s = g_new0(ChanTlsSession, 1);
    s->refs = 1;
    s->conn = conn;
    s->protocol = g_strdup(protocol_name(g_tls_connection_get_protocol_version(tc)));
    plain->tls = s;
    char *desc = g_strdup_printf("%s (tls)", plain->desc);
    g_free(plain->desc);
    plain->desc = desc;
    return true;
}

bool chan_tls_client(Chan *c, ChanTlsCreds *creds, const char *hostname, GError **err)
{
    return establish(c, creds, hostname, NULL, NULL, err);
}

bool chan_tls_server(Chan *c, ChanTlsCreds *creds, ChanTlsAuthzFn authz, void *opaque, GError **err)
{
    return establish(c, creds, NULL, authz, opaque, err);
}

const char *chan_tls_protocol(Chan *c)
{
    return c && c->tls ? c->tls->protocol : NULL;
}

static bool shut_error(Chan *c, GError *local, GError **err)
{
    if (atomic_load(&c->shut) || g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        mb_error_set(err, "Channel is shut down");
        return true;
    }
    return false;
}

ssize_t chan_tls_read(Chan *c, void *buf, size_t len, GError **err)
{
    GError *local = NULL;

    if (atomic_load(&c->shut)) {
        mb_error_set(err, "Channel is shut down");
        return -1;
    }
    gssize n = g_input_stream_read(g_io_stream_get_input_stream(c->tls->conn), buf, len, c->cancel,
                                   &local);
    if (n >= 0)
        return n;
    if (!shut_error(c, local, err))
        mb_error_set(err, "Cannot read from TLS channel: %s", local->message);
    g_error_free(local);
    return -1;
}

bool chan_tls_write_all(Chan *c, const void *buf, size_t len, GError **err)
{
    GError *local = NULL;
    gsize done = 0;

    if (atomic_load(&c->shut)) {
        mb_error_set(err, "Channel is shut down");
        return false;
    }
    if (g_output_stream_write_all(g_io_stream_get_output_stream(c->tls->conn), buf, len, &done,
                                  c->cancel, &local))
        return true;
    if (!shut_error(c, local, err))
        mb_error_set(err, "Cannot write to TLS channel: %s", local->message);
    g_error_free(local);
    return false;
}

Chan *chan_tls_share(Chan *c, int fd, char *desc)
{
    Chan *r = chan_wrap(fd, true, 0, desc);

    g_atomic_int_inc(&c->tls->refs);
    r->tls = c->tls;
    return r;
}

void chan_tls_release(Chan *c)
{
    session_unref(c->tls);
    c->tls = NULL;
}
