/* mb_certs: throw-away TLS certificates for `migbench run --tls` and the TLS benchmark.
 *
 * Makes a CA and certificates in a given directory with
 * GnuTLS's certtool (Debian gnutls-bin), in the file names a tls-creds-x509 directory has
 * (ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem, client-key.pem); the
 * destination's object reads the server pair, the source's the client pair.  The server
 * certificate names "localhost" and 127.0.0.1, the hostnames a run connects to. */
#ifndef MB_CERTS_H
#define MB_CERTS_H

#include <glib.h>
#include <stdbool.h>

/* Writes the files into `dir` (an existing directory).  False with err when certtool is
 * missing ("certtool not found: install gnutls-bin") or fails (its stderr). */
bool mb_certs_make(const char *dir, GError **err);

#endif
