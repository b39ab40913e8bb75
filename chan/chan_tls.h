/* chan_tls: TLS on a migration channel (QEMU's tls-creds-x509 and QIOChannelTLS).
 *
 * The encryption is GIO's GTlsConnection (glib-networking on GnuTLS): TLS 1.3 or 1.2 as the
 * two ends agree.  Certificate checks follow QEMU's crypto/tlssession.c, after the
 * handshake and in its order with its texts: trust of the peer's chain against the
 * credentials' CA, the peer's distinguished name against an authorization callback (server
 * side, tls-authz), and the hostname (client side).  A checked channel is an ordinary
 * Chan: reads, writes, shutdown and the return path work as on a plain one. */
#ifndef CHAN_TLS_H
#define CHAN_TLS_H

#include "chan.h"

typedef enum { CHAN_TLS_CLIENT, CHAN_TLS_SERVER } ChanTlsEndpoint;

typedef struct ChanTlsCreds ChanTlsCreds;

/* Loads the PEM files of a tls-creds-x509 directory, as QEMU's object completion does:
 * ca-cert.pem always; server-cert.pem and server-key.pem for a server; client-cert.pem
 * and client-key.pem for a client when both exist.  Errors: "Missing 'dir' property value",
 * "Unable to access credentials PATH: STRERROR", the PEM loader's complaint, or "Our own
 * certificate CERT failed validation against CA: REASON" (QEMU's sanity check). */
ChanTlsCreds *chan_tls_creds_load(const char *dir, ChanTlsEndpoint endpoint, bool verify_peer,
                                  GError **err);
ChanTlsCreds *chan_tls_creds_ref(ChanTlsCreds *c);
void chan_tls_creds_unref(ChanTlsCreds *c);
ChanTlsEndpoint chan_tls_creds_endpoint(const ChanTlsCreds *c);

/* Decides whether a client may connect: `dn` is its certificate's distinguished name as
 * GnuTLS prints it (QEMU's peername).  Returns true to allow; false with err set when the
 * decision itself failed (e.g. no such authorization object), false without err to deny. */
typedef bool (*ChanTlsAuthzFn)(void *opaque, const char *dn, GError **err);

/* Runs the client side of the handshake on the connected plain channel `c` and checks the
 * server certificate; on success `c` itself carries TLS from then on.  False with err
 * ("TLS handshake failed: ...", "The certificate hasn't got a known issuer", "Certificate
 * does not match the hostname H", ...) on failure; `c` stays the caller's to close.  A
 * chan_shutdown(c) from another thread ends a handshake in progress ("Channel is shut
 * down").  `hostname` may be NULL only when the credentials do not verify the peer. */
bool chan_tls_client(Chan *c, ChanTlsCreds *creds, const char *hostname, GError **err);
/* The server side; `authz` (may be NULL) decides on the client's name when the credentials
 * verify the peer. */
bool chan_tls_server(Chan *c, ChanTlsCreds *creds, ChanTlsAuthzFn authz, void *opaque,
                     GError **err);
/* The protocol the handshake agreed ("TLS 1.3", "TLS 1.2", ...) or NULL for a plain channel. */
const char *chan_tls_protocol(Chan *c);

#endif
