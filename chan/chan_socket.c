/* chan_socket: tcp and unix connect/listen/accept with QEMU's error texts and the
 * socket-address reporting of query-migrate (util/qemu-sockets.c semantics). */
#include "chan_internal.h"
#include "mb_error.h"
#include "mb_util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CHAN_MAX_LISTEN  8
#define CHAN_UNIX_SNDBUF (2 << 20)

struct ChanListener {
    int fds[CHAN_MAX_LISTEN];
    int nfds;
    int wake_fd;
    atomic_bool closed;
    char *unix_path;
    json_object *addresses;
};

static struct addrinfo *resolve(const ChanUri *u, bool passive, GError **err)
{
    struct addrinfo hints = { 0 }, *res = NULL;
    const char *host = u->host && *u->host ? u->host : NULL;

    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    hints.ai_family = u->ipv4 && !u->ipv6 ? AF_INET : u->ipv6 && !u->ipv4 ? AF_INET6 : AF_UNSPEC;
    int rc = getaddrinfo(host ? host : (passive ? NULL : "localhost"), u->port, &hints, &res);
    if (rc != 0) {
        mb_error_set(err, "address resolution failed for %s:%s: %s", u->host ? u->host : "",
                     u->port, gai_strerror(rc));
        return NULL;
    }
    return res;
}

static bool fill_sun(struct sockaddr_un *sun, const char *path, GError **err)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path)) {
        mb_error_set(err, "UNIX socket path '%s' is too long", path);
        return false;
    }
    strcpy(sun->sun_path, path);
    return true;
}

static Chan *connect_tcp(const ChanUri *u, GError **err)
{
    struct addrinfo *res = resolve(u, false, err);
    int saved = ECONNREFUSED;

    if (!res)
        return NULL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int rc;
        do {
            rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        } while (rc < 0 && errno == EINTR);
        if (rc == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            freeaddrinfo(res);
            return chan_wrap(fd, true, 0, g_strdup_printf("tcp:%s:%s", u->host, u->port));
        }
        saved = errno;
        close(fd);
    }
    freeaddrinfo(res);
    mb_error_set(err, "Failed to connect socket: %s", g_strerror(saved));
    return NULL;
}

static Chan *connect_unix(const ChanUri *u, GError **err)
{
    struct sockaddr_un sun;

    if (!fill_sun(&sun, u->path, err))
        return NULL;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        mb_error_set(err, "Failed to create socket: %s", g_strerror(errno));
        return NULL;
    }
    /* A unix stream socket holds at most the sender's send buffer in flight (212 KiB by
     * default): the writer blocks and the reader wakes once per that much.  Outgoing unix
     * connections are migration streams, bulk data: 2 MiB (the kernel caps it at
     * net.core.wmem_max) cut the source's CPU per GiB by a third on the development machine
     * (docs/benchmarks.md).  Best effort: the default is correct, only slower. */
    int sndbuf = CHAN_UNIX_SNDBUF;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    int rc;
    do {
        rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        mb_error_set(err, "Failed to connect socket %s: %s", u->path, g_strerror(errno));
        close(fd);
        return NULL;
    }
    return chan_wrap(fd, true, 0, g_strdup_printf("unix:%s", u->path));
}

Chan *chan_connect(const ChanUri *u, GError **err)
{
    switch (u->scheme) {
    case CHAN_TCP: return connect_tcp(u, err);
    case CHAN_UNIX: return connect_unix(u, err);
    default: mb_error_set(err, "chan_connect: not a socket URI"); return NULL;
    }
}

/* A SocketAddress for a bound fd, as QEMU's socket_sockaddr_to_address reports it. */
static json_object *local_address(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[NI_MAXHOST], serv[NI_MAXSERV];

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return NULL;
    json_object *o = json_object_new_object();
    if (ss.ss_family == AF_UNIX) {
        json_object_object_add(o, "path",
                               json_object_new_string(((struct sockaddr_un *)&ss)->sun_path));
        json_object_object_add(o, "type", json_object_new_string("unix"));
        return o;
    }
    if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        json_object_put(o);
        return NULL;
    }
    json_object_object_add(o, "port", json_object_new_string(serv));
    json_object_object_add(o, ss.ss_family == AF_INET ? "ipv4" : "ipv6",
                           json_object_new_boolean(true));
    json_object_object_add(o, "host", json_object_new_string(host));
    json_object_object_add(o, "type", json_object_new_string("inet"));
    return o;
}

static bool listen_tcp(ChanListener *l, const ChanUri *u, int backlog, GError **err)
{
    struct addrinfo *res = resolve(u, true, err);
    int saved = 0;
    bool created = false;

    if (!res)
        return false;
    /* Like QEMU, bind the first address that works (IPv6 any also accepts IPv4). */
    for (struct addrinfo *ai = res; ai && l->nfds == 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        created = true;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0) {
            l->fds[l->nfds++] = fd;
            break;
        }
        saved = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (l->nfds == 0) {
        mb_error_set(err, "%s: %s",
                     created ? "Failed to find an available port" : "Failed to create a socket",
                     g_strerror(saved));
        return false;
    }
    return true;
}

static bool listen_unix(ChanListener *l, const ChanUri *u, int backlog, GError **err)
{
    struct sockaddr_un sun;

    if (!fill_sun(&sun, u->path, err))
        return false;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        mb_error_set(err, "Failed to create socket: %s", g_strerror(errno));
        return false;
    }
    unlink(u->path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, backlog) < 0) {
        mb_error_set(err, "Failed to bind socket to %s: %s", u->path, g_strerror(errno));
        close(fd);
        return false;
    }
    l->fds[l->nfds++] = fd;
    l->unix_path = g_strdup(u->path);
    return true;
}

ChanListener *chan_listen(const ChanUri *u, int backlog, GError **err)
{
    ChanListener *l = g_new0(ChanListener, 1);
    bool ok;

    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (u->scheme == CHAN_TCP) {
        ok = listen_tcp(l, u, backlog, err);
    } else if (u->scheme == CHAN_UNIX) {
        ok = listen_unix(l, u, backlog, err);
    } else {
        mb_error_set(err, "chan_listen: not a socket URI");
        ok = false;
    }
    if (!ok) {
        chan_listener_free(l);
        return NULL;
    }
    l->addresses = json_object_new_array();
    for (int i = 0; i < l->nfds; i++) {
        json_object *a = local_address(l->fds[i]);
        if (a)
            json_object_array_add(l->addresses, a);
    }
    return l;
}

Chan *chan_listener_accept(ChanListener *l, GError **err)
{
    bool timed_out;

    return chan_listener_accept_until(l, 0, &timed_out, err);
}

Chan *chan_listener_accept_until(ChanListener *l, int64_t deadline_ns, bool *timed_out,
                                 GError **err)
{
    struct pollfd p[CHAN_MAX_LISTEN + 1];

    *timed_out = false;
    for (;;) {
        if (atomic_load(&l->closed)) {
            mb_error_set(err, "Listener closed");
            return NULL;
        }
        int timeout_ms = -1;
        if (deadline_ns > 0) {
            int64_t left = deadline_ns - mb_monotonic_ns();
            if (left <= 0) {
                *timed_out = true;
                return NULL;
            }
            timeout_ms = (int)((left + 999999) / 1000000);
        }
        for (int i = 0; i < l->nfds; i++)
            p[i] = (struct pollfd){ .fd = l->fds[i], .events = POLLIN };
        p[l->nfds] = (struct pollfd){ .fd = l->wake_fd, .events = POLLIN };
        if (poll(p, (nfds_t)l->nfds + 1, timeout_ms) < 0) {
            if (errno == EINTR)
                continue;
            mb_error_set(err, "poll failed: %s", g_strerror(errno));
            return NULL;
        }
        if (p[l->nfds].revents) {
            mb_error_set(err, "Listener closed");
            return NULL;
        }
        for (int i = 0; i < l->nfds; i++) {
            if (!p[i].revents)
                continue;
            int fd = accept4(l->fds[i], NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
                    continue;
                mb_error_set(err, "Failed to accept connection: %s", g_strerror(errno));
                return NULL;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return chan_wrap(fd, true, 0, g_strdup("incoming"));
        }
    }
}

json_object *chan_listener_addresses(ChanListener *l)
{
    return json_object_get(l->addresses);
}

void chan_listener_close(ChanListener *l)
{
    uint64_t one = 1;

    atomic_store(&l->closed, true);
    if (write(l->wake_fd, &one, sizeof(one)) < 0) {
        /* cannot fail meaningfully for an eventfd */
    }
}

void chan_listener_stop(ChanListener *l)
{
    for (int i = 0; i < l->nfds; i++)
        close(l->fds[i]);
    l->nfds = 0;
}

void chan_listener_free(ChanListener *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->nfds; i++)
        close(l->fds[i]);
    if (l->unix_path)
        unlink(l->unix_path);
    close(l->wake_fd);
    g_free(l->unix_path);
    json_object_put(l->addresses);
    g_free(l);
}
