/* qmp_event: thread-safe event emission and in-order delivery to negotiated sessions.
 *
 * Any thread may emit (the migration thread emits MIGRATION events).  An event is stamped,
 * shown to the hook and serialized under one mutex, so queue order, timestamp order and
 * hook order are the same.  Delivery happens on the server's context thread: a custom
 * GSource is ready whenever the queue is non-empty, and emitters on other threads wake
 * the context.  An event emitted on the context's own thread (typically inside a command
 * handler) is delivered at once, together with anything queued before it, so it reaches
 * the client before the command's reply, as in QEMU. */
#include "qmp_int.h"

#include "mb_util.h"

#include <assert.h>

typedef struct {
    GSource base;
    QmpServer *srv;
} EventSource;

static bool have_pending(QmpServer *srv)
{
    bool pending;

    g_mutex_lock(&srv->ev_lock);
    pending = !g_queue_is_empty(&srv->ev_queue);
    g_mutex_unlock(&srv->ev_lock);
    return pending;
}

static gboolean ev_prepare(GSource *src, gint *timeout)
{
    *timeout = -1;
    return have_pending(((EventSource *)src)->srv);
}

static gboolean ev_check(GSource *src)
{
    return have_pending(((EventSource *)src)->srv);
}

static gboolean ev_dispatch(GSource *src, GSourceFunc cb, gpointer data)
{
    qmp_event_deliver_pending(((EventSource *)src)->srv);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs event_source_funcs = {
    .prepare = ev_prepare,
    .check = ev_check,
    .dispatch = ev_dispatch,
};

void qmp_event_init(QmpServer *srv)
{
    EventSource *es;

    g_mutex_init(&srv->ev_lock);
    g_queue_init(&srv->ev_queue);
    es = (EventSource *)g_source_new(&event_source_funcs, sizeof(EventSource));
    es->srv = srv;
    srv->event_src = &es->base;
    g_source_attach(srv->event_src, srv->ctx);
}

static void free_text(gpointer p)
{
    g_string_free(p, TRUE);
}

void qmp_event_fini(QmpServer *srv)
{
    g_source_destroy(srv->event_src);
    g_source_unref(srv->event_src);
    srv->event_src = NULL;
    g_queue_clear_full(&srv->ev_queue, free_text);
    g_mutex_clear(&srv->ev_lock);
}

uint64_t qmp_event_mark(QmpServer *srv)
{
    g_mutex_lock(&srv->ev_lock);
    uint64_t mark = srv->ev_queued;
    g_mutex_unlock(&srv->ev_lock);
    return mark;
}

void qmp_event_deliver_pending(QmpServer *srv)
{
    qmp_event_deliver_upto(srv, UINT64_MAX);
}

void qmp_event_deliver_upto(QmpServer *srv, uint64_t mark)
{
    GQueue batch = G_QUEUE_INIT;
    GString *ev;

    g_mutex_lock(&srv->ev_lock);
    assert(srv->ev_taken + g_queue_get_length(&srv->ev_queue) == srv->ev_queued);
    while (srv->ev_taken < mark && (ev = g_queue_pop_head(&srv->ev_queue))) {
        g_queue_push_tail(&batch, ev);
        srv->ev_taken++;
    }
    g_mutex_unlock(&srv->ev_lock);

    while ((ev = g_queue_pop_head(&batch))) {
        GList *l = srv->sessions.head;
        while (l) {
            QmpSession *s = l->data;
            /* Sending may drop this session (backlog); its successor stays valid. */
            l = l->next;
            if (s->negotiated)
                qmp_session_send(s, ev->str, ev->len);
        }
        g_string_free(ev, TRUE);
    }
}

void qmp_server_emit_event(QmpServer *srv, const char *event, json_object *data)
{
    json_object *ev = json_object_new_object();
    json_object *ts = json_object_new_object();
    GString *text = g_string_new(NULL);
    int64_t now;

    /* QEMU's member order (qmp_order.c); the schema is immutable, so no lock needed. */
    if (data) {
        const SchemaEvent *se = schema_find_event(srv->schema, event);
        if (se)
            qmp_order_by_schema(se->data, data);
    }
    g_mutex_lock(&srv->ev_lock);
    now = mb_realtime_ns();
    json_object_object_add(ts, "seconds", json_object_new_int64(now / 1000000000));
    json_object_object_add(ts, "microseconds", json_object_new_int64(now / 1000 % 1000000));
    json_object_object_add(ev, "event", json_object_new_string(event));
    json_object_object_add(ev, "timestamp", ts);
    if (data)
        json_object_object_add(ev, "data", data);
    if (srv->hook)
        srv->hook(event, data, srv->hook_opaque);
    qmp_json_append(text, ev, QMP_JSON_QDICT_ORDER);
    g_string_append(text, "\r\n");
    g_queue_push_tail(&srv->ev_queue, text);
    srv->ev_queued++;
    g_mutex_unlock(&srv->ev_lock);
    json_object_put(ev);

    if (g_main_context_is_owner(srv->ctx))
        qmp_event_deliver_pending(srv);
    else
        g_main_context_wakeup(srv->ctx);
}

void qmp_server_set_event_hook(QmpServer *srv, QmpEventHook hook, void *opaque)
{
    g_mutex_lock(&srv->ev_lock);
    srv->hook = hook;
    srv->hook_opaque = opaque;
    g_mutex_unlock(&srv->ev_lock);
}
