/* qmp_addr: parsing QMP socket addresses and opening the sockets (see qmp_addr.h). */
#include "qmp_addr.h"

#include "mb_error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static bool parse_addr(const char *spec, const char *addr, QmpAddr *out, GError **err);

/* Splits "ADDRESS[,OPTION...]" at unescaped commas; ",," stands for a comma (QEMU's
 * QemuOpts convention).  Returns the pieces, the address first. */
static gchar **split_commas(const char *s)
{
    GPtrArray *parts = g_ptr_array_new();
    GString *cur = g_string_new(NULL);

    for (; *s; s++) {
        if (*s == ',' && s[1] == ',') {
            g_string_append_c(cur, ',');
            s++;
        } else if (*s == ',') {
            g_ptr_array_add(parts, g_string_free(cur, FALSE));
            cur = g_string_new(NULL);
        } else {
            g_string_append_c(cur, *s);
        }
    }
    g_ptr_array_add(parts, g_string_free(cur, FALSE));
    g_ptr_array_add(parts, NULL);
    return (gchar **)g_ptr_array_free(parts, FALSE);
}

/* QEMU's socket chardev options: server, nowait, server=on|off, wait=on|off. */
static bool parse_options(const char *spec, gchar **opts, QmpAddr *out, GError **err)
{
    for (int i = 0; opts[i]; i++) {
        const char *o = opts[i], *eq = strchr(o, '=');
        char *key = eq ? g_strndup(o, (gsize)(eq - o)) : g_strdup(o);
        const char *val = eq ? eq + 1 : NULL;
        bool *flag = NULL, on = true;

        if (!strcmp(key, "server") || !strcmp(key, "wait"))
            flag = !strcmp(key, "server") ? &out->server : &out->wait;
        else if (!strcmp(key, "nowait") && !val)
            flag = &out->wait, on = false;
        if (!flag) {
            mb_error_set(err,
                         "Invalid QMP address '%s': unknown option '%s' (options: server, "
                         "nowait, server=on|off, wait=on|off)",
                         spec, o);
            g_free(key);
            return false;
        }
        if (val && strcmp(val, "on") && strcmp(val, "off")) {
            mb_error_set(err, "Invalid QMP address '%s': option '%s' expects 'on' or 'off'", spec,
                         key);
            g_free(key);
            return false;
        }
        if (val)
            on = !strcmp(val, "on");
        *flag = on;
        if (flag == &out->server)
            out->has_server = true;
        else
            out->has_wait = true;
        g_free(key);
    }
    /* QEMU waits for a client when it is a server and nothing said nowait. */
    if (!out->has_wait)
        out->wait = out->has_server && out->server;
    return true;
}

bool qmp_addr_parse(const char *spec, QmpAddr *out, GError **err)
{
    gchar **parts = split_commas(spec);
    bool ok = parse_addr(spec, parts[0], out, err) && parse_options(spec, parts + 1, out, err);

    g_strfreev(parts);
    if (!ok)
        qmp_addr_clear(out);
    return ok;
}

static bool parse_addr(const char *spec, const char *addr, QmpAddr *out, GError **err)
{
    memset(out, 0, sizeof(*out));
    if (g_str_has_prefix(addr, "unix:")) {
        const char *path = addr + 5;
        if (!*path) {
            mb_error_set(err, "Invalid QMP address '%s': empty UNIX socket path", spec);
            return false;
        }
        if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            mb_error_set(err, "Invalid QMP address '%s': UNIX socket path is too long", spec);
            return false;
        }
        out->is_unix = true;
        out->path = g_strdup(path);
        return true;
    }
    if (g_str_has_prefix(addr, "tcp:")) {
        const char *hp = addr + 4, *colon;
        char *host;
        if (*hp == '[') {
            const char *close = strchr(hp, ']');
            if (!close || close[1] != ':') {
                mb_error_set(err, "Invalid QMP address '%s': expected tcp:[IPV6]:PORT", spec);
                return false;
            }
            host = g_strndup(hp + 1, (gsize)(close - hp - 1));
            colon = close + 1;
        } else {
            colon = strrchr(hp, ':');
            if (!colon) {
                mb_error_set(err, "Invalid QMP address '%s': expected tcp:HOST:PORT", spec);
                return false;
            }
            host = g_strndup(hp, (gsize)(colon - hp));
            if (strchr(host, ':')) {
                g_free(host);
                mb_error_set(err, "Invalid QMP address '%s': put an IPv6 host in brackets", spec);
                return false;
            }
        }
        const char *port = colon + 1;
        char *end;
        unsigned long p = strtoul(port, &end, 10);
        if (!*port || *end || p > 65535) {
            g_free(host);
            mb_error_set(err, "Invalid QMP address '%s': bad port '%s'", spec, port);
            return false;
        }
        out->host = host;
        out->port = g_strdup(port);
        return true;
    }
    mb_error_set(err, "Invalid QMP address '%s': expected unix:PATH or tcp:HOST:PORT", spec);
    return false;
}

void qmp_addr_clear(QmpAddr *a)
{
    g_free(a->path);
    g_free(a->host);
    g_free(a->port);
    memset(a, 0, sizeof(*a));
}

static char *addr_desc(const QmpAddr *a)
{
    if (a->is_unix)
        return g_strdup_printf("unix:%s", a->path);
    if (strchr(a->host, ':'))
        return g_strdup_printf("tcp:[%s]:%s", a->host, a->port);
    return g_strdup_printf("tcp:%s:%s", a->host, a->port);
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int listen_unix(const QmpAddr *a, char **bound, GError **err)
{
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        mb_error_set(err, "Failed to create socket: %s", g_strerror(errno));
        return -1;
    }
    g_strlcpy(un.sun_path, a->path, sizeof(un.sun_path));
    if (unlink(a->path) < 0 && errno != ENOENT) {
        mb_error_set(err, "Failed to unlink socket %s: %s", a->path, g_strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0 || listen(fd, 16) < 0) {
        mb_error_set(err, "Failed to bind socket to unix:%s: %s", a->path, g_strerror(errno));
        close(fd);
        return -1;
    }
    set_nonblock(fd);
    *bound = g_strdup_printf("unix:%s", a->path);
    return fd;
}

static char *sockname_desc(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return NULL;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        return g_strdup_printf("tcp:%s:%u", host, ntohs(in->sin_port));
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    return g_strdup_printf("tcp:[%s]:%u", host, ntohs(in6->sin6_port));
}

static int listen_tcp(const QmpAddr *a, char **bound, GError **err)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE };
    struct addrinfo *res, *ai;
    int rc, fd = -1, saved = 0;

    rc = getaddrinfo(*a->host ? a->host : NULL, a->port, &hints, &res);
    if (rc != 0) {
        char *d = addr_desc(a);
        mb_error_set(err, "Failed to resolve %s: %s", d, gai_strerror(rc));
        g_free(d);
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1;
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        char *d = addr_desc(a);
        mb_error_set(err, "Failed to bind socket to %s: %s", d, g_strerror(saved));
        g_free(d);
        return -1;
    }
    set_nonblock(fd);
    *bound = sockname_desc(fd);
    if (!*bound)
        *bound = addr_desc(a);
    return fd;
}

int qmp_addr_listen(const QmpAddr *a, char **bound, GError **err)
{
    *bound = NULL;
    return a->is_unix ? listen_unix(a, bound, err) : listen_tcp(a, bound, err);
}

static bool is_retryable(int e)
{
    return e == ENOENT || e == ECONNREFUSED || e == EAGAIN || e == ECONNRESET;
}

int qmp_addr_connect(const QmpAddr *a, bool *retryable, GError **err)
{
    char *d = addr_desc(a);
    int fd = -1;

    *retryable = false;
    if (a->is_unix) {
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        g_strlcpy(un.sun_path, a->path, sizeof(un.sun_path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
            int e = errno;
            close(fd);
            fd = -1;
            errno = e;
        }
        if (fd < 0) {
            *retryable = is_retryable(errno);
            mb_error_set(err, "Failed to connect to %s: %s", d, g_strerror(errno));
        }
    } else {
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
        struct addrinfo *res, *ai;
        int rc = getaddrinfo(*a->host ? a->host : NULL, a->port, &hints, &res), saved = 0;
        if (rc != 0) {
            *retryable = rc == EAI_AGAIN;
            mb_error_set(err, "Failed to resolve %s: %s", d, gai_strerror(rc));
            g_free(d);
            return -1;
        }
        for (ai = res; ai; ai = ai->ai_next) {
            fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
            if (fd < 0) {
                saved = errno;
                continue;
            }
            if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                break;
            }
            saved = errno;
            close(fd);
            fd = -1;
        }
        freeaddrinfo(res);
        if (fd < 0) {
            *retryable = is_retryable(saved);
            mb_error_set(err, "Failed to connect to %s: %s", d, g_strerror(saved));
        }
    }
    g_free(d);
    return fd;
}
