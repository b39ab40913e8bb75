/* qmp_server: the QmpServer object: command table, monitors, after-reply callbacks.
 *
 * The server is the one owner of all QMP state (no globals): the handlers other rooms
 * register, the listening monitors, the sessions, the event queue.  Everything but event
 * emission runs on the server's GMainContext.  After-reply callbacks (qmp_request_
 * after_reply, used by "quit") run from an idle source once their reply has been written,
 * one per iteration, so a callback may even free the server. */
#include "qmp_int.h"

#include "mb_error.h"

static void default_limits(QmpServerLimits *l)
{
    qmp_stream_default_limits(&l->stream);
    l->out_high = 1 << 20;
    l->out_max = 16 << 20;
}

QmpServer *qmp_server_new(const Schema *schema, GMainContext *ctx, json_object *version,
                          bool mask_introspection)
{
    QmpServer *srv = g_new0(QmpServer, 1);

    g_assert(schema && version);
    srv->schema = schema;
    srv->ctx = g_main_context_ref(ctx ? ctx : g_main_context_default());
    srv->version = version;
    /* The greeting and query-version print it: QEMU's member order (qmp_order.c). */
    {
        const SchemaCommand *qv = schema_find_command(schema, "query-version");
        if (qv)
            qmp_order_by_schema(qv->ret, version);
    }
    srv->mask_introspection = mask_introspection;
    srv->handlers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    srv->monitors = g_ptr_array_new_with_free_func((GDestroyNotify)qmp_monitor_free);
    g_queue_init(&srv->sessions);
    g_queue_init(&srv->after_ready);
    default_limits(&srv->limits);
    qmp_event_init(srv);
    qmp_core_register(srv);
    return srv;
}

void qmp_server_register(QmpServer *srv, const char *command, QmpCommandFn fn, void *opaque)
{
    QmpHandler *h;

    if (!schema_find_command(srv->schema, command))
        g_error("qmp_server_register: the schema has no command '%s'", command);
    h = g_new(QmpHandler, 1);
    h->fn = fn;
    h->opaque = opaque;
    g_hash_table_replace(srv->handlers, g_strdup(command), h);
}

const QmpHandler *qmp_server_handler(QmpServer *srv, const char *command)
{
    return g_hash_table_lookup(srv->handlers, command);
}

bool qmp_server_listen(QmpServer *srv, const char *spec, GError **err)
{
    QmpMonitor *m = qmp_monitor_new(srv, spec, err);

    if (!m)
        return false;
    g_ptr_array_add(srv->monitors, m);
    return true;
}

const char *qmp_server_monitor_address(QmpServer *srv, unsigned i)
{
    if (i >= srv->monitors->len)
        return NULL;
    return qmp_monitor_address(g_ptr_array_index(srv->monitors, i));
}

void qmp_server_set_limits(QmpServer *srv, const QmpServerLimits *limits)
{
    if (limits)
        srv->limits = *limits;
    else
        default_limits(&srv->limits);
}

unsigned qmp_server_session_count(QmpServer *srv)
{
    return g_queue_get_length(&srv->sessions);
}

void qmp_server_run_pending(QmpServer *srv)
{
    while (qmp_dispatch_one(srv))
        ;
}

static gboolean after_cb(gpointer opaque)
{
    QmpServer *srv = opaque;
    QmpAfterReply *a = g_queue_pop_head(&srv->after_ready);
    bool more = !g_queue_is_empty(&srv->after_ready);

    if (!more) {
        g_source_unref(srv->after_src);
        srv->after_src = NULL;
    }
    /* Nothing of srv is touched after this call: it may free the server. */
    if (a) {
        void (*fn)(void *) = a->fn;
        void *op = a->opaque;
        g_free(a);
        fn(op);
    }
    return more ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

void qmp_server_schedule_after(QmpServer *srv, QmpAfterReply *a)
{
    g_queue_push_tail(&srv->after_ready, a);
    if (!srv->after_src) {
        srv->after_src = g_idle_source_new();
        g_source_set_priority(srv->after_src, G_PRIORITY_DEFAULT);
        g_source_set_callback(srv->after_src, after_cb, srv, NULL);
        g_source_attach(srv->after_src, srv->ctx);
    }
}

QmpServer *qmp_request_server(QmpRequest *req)
{
    return req->srv;
}

void qmp_request_mark_events(QmpRequest *req)
{
    req->ev_mark = qmp_event_mark(req->srv);
}

void qmp_request_after_reply(QmpRequest *req, void (*fn)(void *opaque), void *opaque)
{
    QmpAfterReply *a = g_new0(QmpAfterReply, 1);

    a->fn = fn;
    a->opaque = opaque;
    req->after = g_slist_prepend(req->after, a);
}

static void drop_source(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

void qmp_server_free(QmpServer *srv)
{
    QmpSession *s;

    if (!srv)
        return;
    g_ptr_array_free(srv->monitors, TRUE);
    while ((s = g_queue_peek_head(&srv->sessions)))
        qmp_session_close(s);
    drop_source(&srv->dispatch_src);
    drop_source(&srv->after_src);
    g_queue_clear_full(&srv->after_ready, g_free);
    qmp_event_fini(srv);
    g_hash_table_destroy(srv->handlers);
    json_object_put(srv->version);
    json_object_put(srv->introspection);
    g_main_context_unref(srv->ctx);
    g_free(srv);
}
