/* mig_tls: TLS on the migration channels, QEMU's migration/tls.c.
 *
 * With tls-creds set, every channel of a migration (the main one, its return path, the
 * multifd ones) runs TLS: the source is the TLS client, checking the destination's
 * certificate against tls-hostname or else the host of a tcp URI; the destination is the
 * server and, with tls-authz, lets only the client whose certificate name the authz object
 * allows.  Parameters and objects are read when each channel is set up, as QEMU does. */
#ifndef MIG_TLS_H
#define MIG_TLS_H

#include "mig_internal.h"

/* True when tls-creds is a non-empty string. */
bool mig_tls_enabled(MigEngine *e);
/* Source side: without TLS nothing happens; else `c` becomes a TLS channel (in place).
 * False with err on failure (`c` stays the caller's to close): the creds errors of
 * mig_objects_tls_creds, "No hostname available for TLS" (no tls-hostname and a URI without
 * a host: unix, exec, fd), and the handshake and certificate errors of chan_tls_client.
 * `uri` gives the hostname. */
bool mig_tls_outgoing(MigEngine *e, Chan *c, const ChanUri *uri, GError **err);
/* Destination side: likewise for an accepted channel (chan_tls_server with tls-authz). */
bool mig_tls_incoming(MigEngine *e, Chan *c, GError **err);

#endif
