/* qmp_addr: QMP socket addresses ("unix:PATH", "tcp:HOST:PORT") and the sockets behind them.
 *
 * Shared by the server's monitors and the client so both sides accept exactly the same
 * spellings: tcp hosts may be names, IPv4 literals or bracketed IPv6 literals
 * ("tcp:[::1]:4444"); an empty host listens on every interface.
 *
 * QEMU's socket options may follow, comma-separated, so that QEMU command lines work
 * unchanged ("unix:/tmp/q.sock,server,nowait"): server, nowait, server=on|off,
 * wait=on|off; ",," is a literal comma in a path, as in QEMU.  What they mean is up to the
 * user of the address: a vm's monitor is always a server and refuses to wait (see
 * qmp_monitor.c); a client ignores them. */
#ifndef QMP_ADDR_H
#define QMP_ADDR_H

#include <glib.h>
#include <stdbool.h>

typedef struct {
    bool is_unix;
    char *path;              /* unix */
    char *host;              /* tcp: without brackets; "" = any */
    char *port;              /* tcp */
    bool server, has_server; /* server / server=on|off given */
    bool wait, has_wait;     /* wait for a client before going on (QEMU: server without
                                nowait); has_wait: wait=/nowait given */
} QmpAddr;

/* Parses `spec`; on error returns false with "Invalid QMP address '%s': expected
 * unix:PATH or tcp:HOST:PORT" (or a more precise reason: "unknown option 'foo' ...",
 * "option 'wait' expects 'on' or 'off'"); `out` is then cleared. */
bool qmp_addr_parse(const char *spec, QmpAddr *out, GError **err);
void qmp_addr_clear(QmpAddr *a);

/* Opens a listening, non-blocking, close-on-exec socket (a UNIX path is unlinked first).
 * Returns the fd and sets *bound to the actual address ("tcp:127.0.0.1:41234"), or -1 with
 * err ("Failed to bind socket to tcp:...: Address already in use"). */
int qmp_addr_listen(const QmpAddr *a, char **bound, GError **err);

/* Connects (blocking, close-on-exec); returns the fd or -1 with err.  *retryable tells
 * whether the failure may go away (nothing listening yet). */
int qmp_addr_connect(const QmpAddr *a, bool *retryable, GError **err);

#endif
