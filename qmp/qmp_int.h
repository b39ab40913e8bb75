/* qmp_int: the server's internal structures, shared by the qmp_*.c files of this room, and
 * a small test/fuzz interface (limits, in-memory sessions, synchronous dispatch).
 *
 * Object model: a QmpServer owns monitors (listening sockets, qmp_monitor.c) and sessions
 * (one per connected client, qmp_session.c).  A session frames its input (qmp_stream),
 * hands each message to qmp_dispatch.c, which runs exec-oob requests at once and queues
 * in-band ones; the server's dispatcher runs queued requests one at a time, round-robin
 * over sessions, from an idle source on the server's context.  Sessions are refcounted so
 * that a client vanishing in the middle of any of this only marks the session dead.
 *
 * Nothing outside qmp/ except tests and fuzz harnesses may include this header. */
#ifndef QMP_INT_H
#define QMP_INT_H

#include "qmp.h"
#include "qmp_stream.h"

#include <stdint.h>

/* QEMU's QMP_REQ_QUEUE_LEN_MAX: in-band requests a session may have queued. */
#define QMP_REQ_QUEUE_LEN_MAX 8

typedef struct {
    QmpStreamLimits stream; /* input framing limits (default: QEMU's) */
    size_t out_high;        /* stop reading a client with more unsent output than this */
    size_t out_max;         /* drop a client with more unsent output than this */
} QmpServerLimits;

typedef struct QmpSession QmpSession;

typedef struct {
    void (*fn)(void *opaque);
    void *opaque;
    uint64_t mark; /* runs once the session has written this many bytes */
} QmpAfterReply;

typedef struct {
    QmpCommandFn fn;
    void *opaque;
} QmpHandler;

struct QmpServer {
    const Schema *schema;
    GMainContext *ctx;
    json_object *version;
    bool mask_introspection;
    json_object *introspection; /* query-qmp-schema return value, built on first use */
    GHashTable *handlers;       /* command name -> QmpHandler */
    GPtrArray *monitors;        /* QmpMonitor * */
    GQueue sessions;            /* QmpSession *, in dispatch round-robin order */
    GSource *dispatch_src;      /* idle: runs one queued in-band request per iteration */
    GSource *after_src;         /* idle: runs ready after-reply callbacks */
    GQueue after_ready;         /* QmpAfterReply * */
    QmpServerLimits limits;
    gint accept_stalls; /* times a monitor paused accepting for want of fds (atomic; tests) */

    /* Events (qmp_event.c); everything below ev_lock is protected by it. */
    GSource *event_src;
    GMutex ev_lock;
    GQueue ev_queue;    /* GString *: serialized event lines awaiting delivery */
    uint64_t ev_queued; /* events ever queued: a request's mark counts these */
    uint64_t ev_taken;  /* events ever taken from the queue for delivery */
    QmpEventHook hook;
    void *hook_opaque;
};

/* One queued in-band request: a message or the framing error to report. */
typedef struct {
    json_object *msg;
    GError *err;
} QmpQueued;

struct QmpSession {
    QmpServer *srv;
    int refs;
    bool dead;
    bool in_memory;  /* test/fuzz session: output collected in `out`, never written */
    int fd;          /* -1 when in memory */
    bool can_passfd; /* UNIX socket: SCM_RIGHTS possible */
    GSource *in_src, *out_src;
    QmpStream *stream;
    GByteArray *in; /* bytes read but not yet fed to the stream */
    size_t in_off;
    bool negotiated;  /* capabilities negotiation completed */
    bool oob_offered; /* "oob" was in the greeting */
    bool oob_enabled;
    GQueue requests; /* QmpQueued *, in-band, oldest first */
    GString *out;    /* unsent output (all output for in-memory sessions) */
    size_t out_off;
    uint64_t out_queued, out_written;
    GQueue after_pending; /* QmpAfterReply * waiting for their reply to be written */
    GArray *recv_fds;     /* int: received with the last SCM_RIGHTS message, unclaimed */
    GHashTable *fds;      /* getfd name -> fd (GINT_TO_POINTER) */
};

struct QmpRequest {
    QmpServer *srv;
    QmpSession *sess;
    GSList *after;    /* QmpAfterReply *, in registration order (reversed) */
    uint64_t ev_mark; /* events queued before this mark go out before the reply */
};

/* ---- qmp_server.c ---- */
void qmp_server_schedule_after(QmpServer *srv, QmpAfterReply *a);
const QmpHandler *qmp_server_handler(QmpServer *srv, const char *command);
/* Sets limits for sessions accepted from now on; NULL restores the defaults. */
void qmp_server_set_limits(QmpServer *srv, const QmpServerLimits *limits);
/* Runs queued in-band requests synchronously until none is left (tests, fuzzing). */
void qmp_server_run_pending(QmpServer *srv);
/* Number of live sessions. */
unsigned qmp_server_session_count(QmpServer *srv);

/* ---- qmp_session.c ---- */
/* A session for an accepted socket (takes ownership of fd); sends the greeting.  NULL if
 * the peer was already gone. */
QmpSession *qmp_session_new_socket(QmpServer *srv, int fd, bool can_passfd);
/* An in-memory session (tests, fuzzing): output accumulates in qmp_session_output(). */
QmpSession *qmp_session_new_memory(QmpServer *srv, bool oob_offered);
void qmp_session_ref(QmpSession *s);
void qmp_session_unref(QmpSession *s);
/* Disconnects: drops queued requests and stored fds; safe to call twice. */
void qmp_session_close(QmpSession *s);
/* Queues text for the peer (dropping the peer if its backlog exceeds out_max). */
void qmp_session_send(QmpSession *s, const char *text, size_t len);
/* Feeds buffered input to the framing until it is used up or the session is suspended. */
void qmp_session_pump(QmpSession *s);
/* Whether the session must not take more input now (QEMU's monitor suspension). */
bool qmp_session_input_blocked(QmpSession *s);
/* In-memory sessions: append input and process it. */
void qmp_session_input(QmpSession *s, const char *buf, size_t len);
GString *qmp_session_output(QmpSession *s);
/* Hands the callbacks of a request to the session: they run once its reply is written. */
void qmp_session_after_reply(QmpSession *s, GSList *after);
/* Takes the first fd received with SCM_RIGHTS (closing any others), or -1. */
int qmp_session_take_received_fd(QmpSession *s);

/* ---- qmp_dispatch.c ---- */
/* The stream's emit callback (opaque = session). */
void qmp_dispatch_on_message(void *opaque, json_object *msg, GError *err);
/* Runs the oldest queued request of some session; false if none was queued. */
bool qmp_dispatch_one(QmpServer *srv);
void qmp_dispatch_schedule(QmpServer *srv);
void qmp_queued_free(QmpQueued *q);
/* Serializes a message as QEMU sends it (QDict order, CR LF) and queues it. */
void qmp_send_message(QmpSession *s, json_object *msg);

/* ---- qmp_core.c ---- */
/* Registers the built-in handlers of the core commands the schema defines. */
void qmp_core_register(QmpServer *srv);
json_object *qmp_core_greeting(QmpServer *srv, QmpSession *s);

/* ---- qmp_order.c ---- */
/* Re-adds the members of every object in `v` (recursively, following type `t`) in the
 * schema's declaration order, the order QEMU's output visitor adds them in, so that the
 * QDict-ordered output is byte-identical to QEMU's.  Members `t` does not list (union
 * variants) stay after the listed ones, in their order.  `t` or `v` NULL: nothing. */
void qmp_order_by_schema(const SchemaType *t, json_object *v);

/* ---- qmp_event.c ---- */
void qmp_event_init(QmpServer *srv);
void qmp_event_fini(QmpServer *srv);
/* Delivers a serialized event to every negotiated session (main context thread). */
void qmp_event_deliver_pending(QmpServer *srv);
/* How many events have been queued so far (a mark for qmp_event_deliver_upto). */
uint64_t qmp_event_mark(QmpServer *srv);
/* Delivers the queued events among the first `mark` ever queued; later ones stay queued.
 * On the server's context thread only. */
void qmp_event_deliver_upto(QmpServer *srv, uint64_t mark);

/* ---- qmp_monitor.c ---- */
typedef struct QmpMonitor QmpMonitor;
QmpMonitor *qmp_monitor_new(QmpServer *srv, const char *spec, GError **err);
void qmp_monitor_free(QmpMonitor *m);
const char *qmp_monitor_address(QmpMonitor *m);

#endif
