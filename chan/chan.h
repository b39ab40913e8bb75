/* chan: the byte channels a migration travels over (tcp, unix, exec, fd).
 *
 * A Chan is a connected, blocking, full-duplex byte stream: the migration and incoming
 * threads do plain blocking I/O on it, and any other thread can chan_shutdown() it to make
 * that I/O fail at once (migrate_cancel, migrate-pause).  URIs and error texts follow QEMU's
 * migration/socket.c, exec.c, fd.c and util/qemu-sockets.c, because management software
 * shows them to users verbatim. */
#ifndef CHAN_H
#define CHAN_H

#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef enum {
    CHAN_TCP,
    CHAN_UNIX,
    CHAN_EXEC,
    CHAN_FD,
    CHAN_RDMA,
    CHAN_DEFER, /* "defer" (incoming only) */
    CHAN_UNKNOWN,
} ChanScheme;

typedef struct {
    ChanScheme scheme;
    char *host;      /* tcp: without brackets; "" = any address */
    char *port;      /* tcp */
    bool ipv4, ipv6; /* tcp ",ipv4" / ",ipv6" options */
    char *path;      /* unix */
    char *cmd;       /* exec: run by /bin/sh -c */
    char *fdname;    /* fd: a getfd name, or a number */
    char *rest;      /* the text after "scheme:" */
} ChanUri;

/* Splits a migration URI.  Returns false only for a tcp address QEMU cannot parse, with
 * QEMU's text ("error parsing address '%s'", "error parsing port in address '%s'",
 * "error parsing IPv6 address '%s'"); an unknown scheme parses as CHAN_UNKNOWN so the
 * caller can word the error the way its side does.  Clear with chan_uri_clear(). */
bool chan_uri_parse(const char *uri, ChanUri *out, GError **err);
void chan_uri_clear(ChanUri *u);

typedef struct Chan Chan;

/* Connects to a tcp or unix URI (blocking).  Errors as QEMU words them:
 * "Failed to connect socket: Connection refused", "Failed to connect socket PATH: ...",
 * "address resolution failed for HOST:PORT: ...". */
Chan *chan_connect(const ChanUri *u, GError **err);
/* Spawns `/bin/sh -c cmd`; the channel writes to its stdin (outgoing) or reads from its
 * stdout (incoming). */
Chan *chan_spawn(const char *cmd, bool outgoing, GError **err);
/* Wraps an open fd (takes ownership). */
Chan *chan_new_fd(int fd, const char *desc);

/* Reads up to len bytes; returns the count, 0 at end of stream, -1 with err on failure
 * (a shut-down channel fails with "Channel is shut down"). */
ssize_t chan_read(Chan *c, void *buf, size_t len, GError **err);
/* Reads exactly len bytes; false at a short read (err says "unexpected end of stream"). */
bool chan_read_full(Chan *c, void *buf, size_t len, GError **err);
/* Like chan_read_full into each of the iovcnt buffers in turn, with one readv per wake-up
 * on a plain channel (scattered reads, no copy).  Modifies iov.  False with err as
 * chan_read_full. */
bool chan_readv_full(Chan *c, struct iovec *iov, int iovcnt, GError **err);
/* Writes all len bytes; false on failure (e.g. "Unable to write to socket: Broken pipe"). */
bool chan_write_all(Chan *c, const void *buf, size_t len, GError **err);
/* Makes blocked and future I/O fail.  Safe from any thread, idempotent. */
void chan_shutdown(Chan *c);
bool chan_is_shutdown(Chan *c);
/* A second channel on the same connection for the other direction (the return path):
 * shares the socket (dup) for sockets; NULL for exec/pipes which are one-way. */
Chan *chan_return_path(Chan *c);
const char *chan_describe(Chan *c);
int chan_fd(Chan *c);
/* Closes the channel; for exec channels also reaps the child (bounded wait, then kill). */
void chan_close(Chan *c);

typedef struct ChanListener ChanListener;

/* Starts listening on a tcp or unix URI (unix: an existing socket file is replaced).
 * `backlog` as for listen(2).  Errors: "Failed to bind socket: ...",
 * "Failed to bind socket to PATH: ...", "address resolution failed for ...". */
ChanListener *chan_listen(const ChanUri *u, int backlog, GError **err);
/* Waits for the next connection.  Returns NULL with err when the listener was closed
 * (chan_listener_close from another thread) or accept failed. */
Chan *chan_listener_accept(ChanListener *l, GError **err);
/* Like chan_listener_accept, but gives up at `deadline_ns` (CLOCK_MONOTONIC, as
 * mb_monotonic_ns; <= 0 waits forever): NULL with *timed_out set and no error. */
Chan *chan_listener_accept_until(ChanListener *l, int64_t deadline_ns, bool *timed_out,
                                 GError **err);
/* Stops listening for good: closes the listening sockets, so connections still queued in
 * the backlog are reset and later ones refused (QEMU's qio_net_listener_disconnect once an
 * incoming migration has all its channels).  Only from the thread that accepts; the
 * addresses stay readable. */
void chan_listener_stop(ChanListener *l);
/* The addresses actually bound, as a JSON array of QAPI SocketAddress objects
 * ({"type": "inet", "host": ..., "port": ...} / {"type": "unix", "path": ...}). */
json_object *chan_listener_addresses(ChanListener *l);
/* Wakes a blocked accept; the listener stays allocated until chan_listener_free. */
void chan_listener_close(ChanListener *l);
void chan_listener_free(ChanListener *l);

#endif
