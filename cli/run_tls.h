/* run_tls: the certificates of `migbench run --tls`.
 *
 * A run with --tls makes a throw-away CA and certificates in its work directory with
 * GnuTLS's certtool (Debian gnutls-bin), in the file names a tls-creds-x509 directory has
 * (ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem, client-key.pem); the
 * destination's object reads the server pair, the source's the client pair.  The server
 * certificate names "localhost" and 127.0.0.1, the hostnames a run connects to. */
#ifndef RUN_TLS_H
#define RUN_TLS_H

#include <glib.h>
#include <stdbool.h>

/* Writes the files into `dir` (an existing directory).  False with err when certtool is
 * missing ("certtool not found: install gnutls-bin") or fails (its stderr). */
bool run_tls_make_creds(const char *dir, GError **err);

#endif
