/* mig_tls: the migration side of TLS (see mig_tls.h): which credentials, which hostname,
 * which authorization, in QEMU's order and with its texts; chan_tls does the sessions. */
#include "mig_tls.h"
#include "mb_error.h"
#include "mig_objects.h"
#include "mig_params.h"

bool mig_tls_enabled(MigEngine *e)
{
    char *creds = mig_params_str(&e->params, MP_TLS_CREDS);
    bool on = creds && *creds;

    g_free(creds);
    return on;
}

bool mig_tls_outgoing(MigEngine *e, Chan *c, const ChanUri *uri, GError **err)
{
    char *id = mig_params_str(&e->params, MP_TLS_CREDS);
    char *hostname = NULL;
    ChanTlsCreds *creds = NULL;

    if (!id || !*id) {
        g_free(id);
        return true;
    }
    creds = mig_objects_tls_creds(e, id, CHAN_TLS_CLIENT, err);
    if (creds) {
        /* QEMU's migration_tls_client_create: tls-hostname wins over the URI's host; only
         * a tcp URI has one. */
        hostname = mig_params_str(&e->params, MP_TLS_HOSTNAME);
        if (!hostname || !*hostname) {
            g_free(hostname);
            hostname = uri && uri->scheme == CHAN_TCP ? g_strdup(uri->host) : NULL;
        }
        if (!hostname)
            mb_error_set(err, "No hostname available for TLS");
    }
    bool ok = creds && hostname && chan_tls_client(c, creds, hostname, err);
    chan_tls_creds_unref(creds);
    g_free(hostname);
    g_free(id);
    return ok;
}

static bool authz_check(void *opaque, const char *dn, GError **err)
{
    MigEngine *e = opaque;
    char *authz = mig_params_str(&e->params, MP_TLS_AUTHZ);
    bool ok = mig_objects_authz_allows(e, authz, dn, err);

    g_free(authz);
    return ok;
}

bool mig_tls_incoming(MigEngine *e, Chan *c, GError **err)
{
    char *id = mig_params_str(&e->params, MP_TLS_CREDS);

    if (!id || !*id) {
        g_free(id);
        return true;
    }
    ChanTlsCreds *creds = mig_objects_tls_creds(e, id, CHAN_TLS_SERVER, err);
    g_free(id);
    if (!creds)
        return false;
    /* tls-authz exists only from 4.0 on (the seed has no such parameter). */
    char *authz = e->params.present[MP_TLS_AUTHZ] ? mig_params_str(&e->params, MP_TLS_AUTHZ) : NULL;
    bool with_authz = authz && *authz;
    g_free(authz);
    bool ok = chan_tls_server(c, creds, with_authz ? authz_check : NULL, e, err);
    chan_tls_creds_unref(creds);
    return ok;
}
