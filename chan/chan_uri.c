/* chan_uri: splitting migration URIs the way QEMU reads them (migration.c + inet_parse). */
#include "chan.h"
#include "mb_error.h"

#include <stdio.h>
#include <string.h>

/* QEMU's inet_parse: "host:port", ":port", "[v6]:port", then ",opt" flags.  Widths match
 * QEMU's sscanf limits (64-byte host, 32-byte port) so over-long input fails the same way. */
static bool parse_inet(const char *str, ChanUri *u, GError **err)
{
    char host[65] = "", port[33] = "";
    int pos = 0;

    if (str[0] == ':') {
        if (sscanf(str, ":%32[^,]%n", port, &pos) != 1) {
            mb_error_set(err, "error parsing port in address '%s'", str);
            return false;
        }
    } else if (str[0] == '[') {
        if (sscanf(str, "[%64[^]]]:%32[^,]%n", host, port, &pos) != 2) {
            mb_error_set(err, "error parsing IPv6 address '%s'", str);
            return false;
        }
    } else if (sscanf(str, "%64[^:]:%32[^,]%n", host, port, &pos) != 2) {
        mb_error_set(err, "error parsing address '%s'", str);
        return false;
    }
    const char *opts = str + pos;
    u->host = g_strdup(host);
    u->port = g_strdup(port);
    u->ipv4 = strstr(opts, ",ipv4") != NULL;
    u->ipv6 = strstr(opts, ",ipv6") != NULL;
    return true;
}

bool chan_uri_parse(const char *uri, ChanUri *out, GError **err)
{
    static const struct {
        const char *prefix;
        ChanScheme scheme;
    } schemes[] = { { "tcp:", CHAN_TCP },
                    { "unix:", CHAN_UNIX },
                    { "exec:", CHAN_EXEC },
                    { "fd:", CHAN_FD },
                    { "rdma:", CHAN_RDMA } };

    memset(out, 0, sizeof(*out));
    out->scheme = CHAN_UNKNOWN;
    if (!strcmp(uri, "defer")) {
        out->scheme = CHAN_DEFER;
        return true;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(schemes); i++) {
        size_t n = strlen(schemes[i].prefix);
        if (!strncmp(uri, schemes[i].prefix, n)) {
            out->scheme = schemes[i].scheme;
            out->rest = g_strdup(uri + n);
            break;
        }
    }
    switch (out->scheme) {
    case CHAN_TCP:
        if (!parse_inet(out->rest, out, err)) {
            chan_uri_clear(out);
            return false;
        }
        break;
    case CHAN_UNIX: out->path = g_strdup(out->rest); break;
    case CHAN_EXEC: out->cmd = g_strdup(out->rest); break;
    case CHAN_FD: out->fdname = g_strdup(out->rest); break;
    default: break;
    }
    return true;
}

void chan_uri_clear(ChanUri *u)
{
    g_free(u->host);
    g_free(u->port);
    g_free(u->path);
    g_free(u->cmd);
    g_free(u->fdname);
    g_free(u->rest);
    memset(u, 0, sizeof(*u));
}
