/* qmp: the QEMU Machine Protocol server (monitors, framing, negotiation, dispatch, events).
 *
 * A QmpServer serves one schema on any number of monitors (UNIX and TCP sockets), all
 * driven by one GMainContext.  It knows nothing of migration: other rooms register a
 * handler per command and emit events through it.  Every request is validated against the
 * schema (schema_validate_args) before its handler runs, so handlers may trust the types of
 * their arguments.
 *
 * Threads: everything runs on the server's main context thread except
 * qmp_server_emit_event(), which may be called from any thread (the migration thread emits
 * MIGRATION events); events are queued with their timestamp and delivered in emission order
 * to every monitor that has completed capability negotiation. */
#ifndef QMP_H
#define QMP_H

#include "schema.h"

#include <gio/gio.h>
#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>

typedef struct QmpServer QmpServer;
typedef struct QmpRequest QmpRequest;

/* A command handler.  Runs on the main context thread (allow-oob commands sent with
 * exec-oob run as soon as they are read, ahead of queued in-band requests).  Returns the
 * "return" value as a new reference (NULL means {}), or sets *err (MB_ERROR domain, code =
 * QMP error class) and returns NULL.  `args` is the validated "arguments" object, never
 * NULL (an empty object when the request had none); the handler does not own it. */
typedef json_object *(*QmpCommandFn)(QmpRequest *req, json_object *args, GError **err,
                                     void *opaque);

/* Creates a server for `schema` (borrowed; must outlive the server) on `ctx` (NULL =
 * default context).  `version` is the query-version return value / greeting version
 * object, e.g. {"qemu": {"major": 5, "minor": 0, "micro": 0}, "package": "migbench-0.1"};
 * the server takes ownership.  `mask_introspection` selects masked type names in
 * query-qmp-schema.  The core commands qmp_capabilities, query-commands, query-qmp-schema,
 * query-version, getfd and closefd are implemented by the server itself. */
QmpServer *qmp_server_new(const Schema *schema, GMainContext *ctx, json_object *version,
                          bool mask_introspection);

/* Registers the handler of a command that the schema defines (a name the schema does not
 * define is a programming error and aborts).  A schema command without a handler is still
 * validated; it then fails with GenericError "Command '%s' is not implemented by migbench".
 * Registering a core command replaces the server's built-in handler. */
void qmp_server_register(QmpServer *srv, const char *command, QmpCommandFn fn, void *opaque);

/* Starts a monitor: "unix:PATH" (a listening UNIX socket; PATH is unlinked first) or
 * "tcp:HOST:PORT" (IPv4 or [IPv6]; port 0 picks a free port).  May be called several
 * times.  Returns false with a clear error when the address cannot be bound. */
bool qmp_server_listen(QmpServer *srv, const char *spec, GError **err);

/* The actual bound address of the i-th monitor, e.g. "tcp:127.0.0.1:41234" (NULL if out of
 * range). */
const char *qmp_server_monitor_address(QmpServer *srv, unsigned i);

/* Emits an event to every negotiated monitor.  Thread-safe; takes ownership of `data`
 * (NULL for events without data).  The timestamp is taken now (CLOCK_REALTIME). */
void qmp_server_emit_event(QmpServer *srv, const char *event, json_object *data);

/* Called with each event as it is emitted (on the emitting thread, before delivery), so an
 * owner can log or record events.  One hook; NULL clears it.  The hook runs under the
 * server's event lock, so hook calls are in delivery order; it must not emit events. */
typedef void (*QmpEventHook)(const char *event, json_object *data, void *opaque);
void qmp_server_set_event_hook(QmpServer *srv, QmpEventHook hook, void *opaque);

/* Closes all monitors and frees the server.  Pending events are dropped.  Not from inside
 * a command handler: use qmp_request_after_reply(), whose callback may free the server. */
void qmp_server_free(QmpServer *srv);

/* ---- inside a handler ---- */

QmpServer *qmp_request_server(QmpRequest *req);
/* Takes the file descriptor that was stored with getfd under `name` on the monitor that
 * issued this request (QEMU's monitor_get_fd): the caller owns the returned fd and the
 * name is forgotten.  Returns -1 with GenericError "File descriptor named '%s' has not been
 * found" when absent. */
int qmp_request_take_fd(QmpRequest *req, const char *name, GError **err);
/* Events emitted before the mark go out before this request's reply, later ones after it.
 * The server marks when the handler starts; a handler whose reply reports state that an
 * emitter publishes and announces under one lock of its own calls this under that lock
 * (before reading the state), so the reply and the events the client saw agree. */
void qmp_request_mark_events(QmpRequest *req);
/* Asks the server to run `fn` on the main context after the current reply has been sent
 * (used by "quit": reply first, then exit). */
void qmp_request_after_reply(QmpRequest *req, void (*fn)(void *opaque), void *opaque);

#endif
