/* qmp_client: a small blocking QMP client (for `migbench qmp`, `migbench run` and tests).
 *
 * Connects, reads the greeting, negotiates capabilities, then sends commands and waits for
 * their replies; events that arrive in between are queued and can be waited for with a
 * deadline.  Not thread-safe: one client per thread. */
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

/* The greeting object {"QMP": {...}} (borrowed). */
json_object *qmp_client_greeting(QmpClient *c);

/* Sends {"execute": cmd, "arguments": args} (args may be NULL; ownership taken) and waits
 * up to timeout_ms for the reply with the matching id.  Returns the whole reply object
 * (new reference: either {"return": ...} or {"error": {...}}), or NULL with err on I/O
 * failure or timeout. */
json_object *qmp_client_execute(QmpClient *c, const char *cmd, json_object *args,
                                int timeout_ms, GError **err);
/* Like qmp_client_execute but returns only the "return" value (new ref), turning an
 * {"error"} reply into *err (code = class, message = desc). */
json_object *qmp_client_call(QmpClient *c, const char *cmd, json_object *args, int timeout_ms,
                             GError **err);
/* Sends a raw text line as-is (for scripts and tests) and returns the next non-event
 * message. */
json_object *qmp_client_send_raw(QmpClient *c, const char *text, int timeout_ms, GError **err);

/* Returns the next queued event (new ref) whose name equals `name` (NULL = any), waiting
 * up to timeout_ms; NULL on timeout (err set) or I/O failure.  Events of other names stay
 * queued in order. */
json_object *qmp_client_wait_event(QmpClient *c, const char *name, int timeout_ms,
                                   GError **err);
/* Pops the oldest queued event without waiting (NULL if none). */
json_object *qmp_client_next_event(QmpClient *c);
/* Reads whatever has arrived without blocking (events go to the queue). */
bool qmp_client_poll(QmpClient *c, GError **err);

/* Sends a file descriptor with SCM_RIGHTS along with a getfd command (UNIX sockets only). */
bool qmp_client_getfd(QmpClient *c, int fd, const char *name, GError **err);

int qmp_client_fd(QmpClient *c);

#endif
