/* qmp_client: a small blocking QMP client (for `migbench qmp`, `migbench run`, the QMP
 * server's end-to-end tests and the benchmarks; it stays in qmp/ because those tests and
 * bench/ use it as much as cli/ does).
 *
 * Connects, reads the greeting, negotiates capabilities, then sends commands and waits for
 * their replies; events that arrive in between are queued and can be waited for with a
 * deadline.  Not thread-safe: one client per thread.  Every timeout_ms below may be
 * negative, meaning no deadline. */
#ifndef QMP_CLIENT_H
#define QMP_CLIENT_H

#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct QmpClient QmpClient;

/* Connects to "unix:PATH" or "tcp:HOST:PORT", retrying until `timeout_ms` elapses (a
 * freshly started vm may not be listening yet), reads the greeting and sends
 * qmp_capabilities (with "enable": ["oob"] when `oob`).  NULL with err on failure. */
QmpClient *qmp_client_connect(const char *addr, int timeout_ms, bool oob, GError **err);
void qmp_client_free(QmpClient *c);

/* Flags of qmp_client_connect_full(). */
enum {
    QMP_CLIENT_OOB = 1 << 0,          /* negotiate "enable": ["oob"] */
    QMP_CLIENT_NO_NEGOTIATE = 1 << 1, /* stay in capability negotiation mode (tests) */
};
/* qmp_client_connect() with flags. */
QmpClient *qmp_client_connect_full(const char *addr, int timeout_ms, unsigned flags, GError **err);

/* The greeting object {"QMP": {...}} (borrowed). */
json_object *qmp_client_greeting(QmpClient *c);

/* Sends {"execute": cmd, "arguments": args} (args may be NULL; ownership taken) and waits
 * up to timeout_ms for the reply with the matching id.  Returns the whole reply object
 * (new reference: either {"return": ...} or {"error": {...}}), or NULL with err on I/O
 * failure or timeout.  The request goes out in one write, newline included. */
json_object *qmp_client_execute(QmpClient *c, const char *cmd, json_object *args, int timeout_ms,
                                GError **err);
/* Like qmp_client_execute but sends "exec-oob" (OOB must have been negotiated). */
json_object *qmp_client_execute_oob(QmpClient *c, const char *cmd, json_object *args,
                                    int timeout_ms, GError **err);
/* Returns true for a {"return"} reply; for an {"error"} reply sets *err (code = class,
 * message = desc) and returns false. */
bool qmp_client_reply_to_error(json_object *rsp, GError **err);
/* Like qmp_client_execute but returns only the "return" value (new ref), turning an
 * {"error"} reply into *err (code = class, message = desc). */
json_object *qmp_client_call(QmpClient *c, const char *cmd, json_object *args, int timeout_ms,
                             GError **err);
/* Sends a raw text line as-is (for scripts and tests) and returns the next non-event
 * message. */
json_object *qmp_client_send_raw(QmpClient *c, const char *text, int timeout_ms, GError **err);
/* Sends raw bytes without waiting for anything. */
bool qmp_client_write_raw(QmpClient *c, const char *text, size_t len, GError **err);
/* The next non-event message (reply or greeting), waiting up to timeout_ms. */
json_object *qmp_client_read_message(QmpClient *c, int timeout_ms, GError **err);

/* Returns the next queued event (new ref) whose name equals `name` (NULL = any), waiting
 * up to timeout_ms; NULL on timeout (err set) or I/O failure.  Events of other names stay
 * queued in order. */
json_object *qmp_client_wait_event(QmpClient *c, const char *name, int timeout_ms, GError **err);
/* Pops the oldest queued event without waiting (NULL if none). */
json_object *qmp_client_next_event(QmpClient *c);
/* Reads whatever has arrived without blocking (events go to the queue). */
bool qmp_client_poll(QmpClient *c, GError **err);

/* Sends a file descriptor with SCM_RIGHTS along with a getfd command (UNIX sockets only)
 * and waits up to 10 s for the reply; false with err on an error reply (e.g. "Parameter 'fdname'
 * expects a name not starting with a digit") or I/O failure.  The caller keeps its fd. */
bool qmp_client_getfd(QmpClient *c, int fd, const char *name, GError **err);

/* True once a read found the connection closed by the server (end of file or reset), or a
 * send met a peer that is gone (EPIPE, ECONNRESET), e.g. after `quit` or a crash: a caller
 * can tell that from a timeout or a malformed message. */
bool qmp_client_closed(QmpClient *c);

/* The socket, for poll() in interactive programs (readable: call qmp_client_poll). */
int qmp_client_fd(QmpClient *c);

#endif
