/* qmp_dispatch: from a framed message to a reply, with QEMU 5.0's checks and texts.
 *
 * Order of checks (QEMU's qmp_dispatch()): the input must be an object; its members are
 * checked in QDict iteration order, so with several faults the one QEMU reports first is
 * the one we report ("QMP input member 'execute' must be a string", "... clashes with
 * ...", "... 'arguments' must be an object", "... is unexpected", then "QMP input lacks
 * member 'execute'"); then the command is looked up (only qmp_capabilities exists before
 * negotiation, and CommandNotFound then reads "Expecting capabilities negotiation with
 * 'qmp_capabilities'"), exec-oob is checked against allow-oob, the arguments are validated
 * against the schema, and finally the handler runs.  "exec-oob" is a known member only
 * once OOB has been negotiated; otherwise it is "unexpected".
 *
 * Scheduling (QEMU's monitor/qmp.c): a message with "exec-oob" and no "execute" is run as
 * soon as it is framed, even ahead of queued in-band requests; everything else, framing
 * errors included, is queued per session and run by the server's dispatcher, one request
 * per main-loop iteration, round-robin over sessions. */
#include "qmp_int.h"

#include "mb_error.h"

#include <string.h>

void qmp_queued_free(QmpQueued *q)
{
    json_object_put(q->msg);
    if (q->err)
        g_error_free(q->err);
    g_free(q);
}

void qmp_send_message(QmpSession *s, json_object *msg)
{
    GString *text = g_string_new(NULL);

    qmp_json_append(text, msg, QMP_JSON_QDICT_ORDER);
    /* QEMU's monitor output turns "\n" into "\r\n". */
    g_string_append(text, "\r\n");
    qmp_session_send(s, text->str, text->len);
    g_string_free(text, TRUE);
}

static json_object *error_response(const GError *err)
{
    json_object *rsp = json_object_new_object();
    json_object *e = json_object_new_object();
    int code = err->domain == MB_ERROR ? err->code : MB_ERR_GENERIC;

    json_object_object_add(e, "class", json_object_new_string(mb_error_class_name(code)));
    json_object_object_add(e, "desc", json_object_new_string(err->message));
    json_object_object_add(rsp, "error", e);
    return rsp;
}

/* QEMU's qmp_dispatch_check_obj(): returns the member naming the command. */
static const char *check_request(json_object *req, bool allow_oob, GError **err)
{
    size_t n = (size_t)json_object_object_length(req);
    const char **keys = g_new(const char *, n ? n : 1);
    const char *exec_key = NULL;

    qmp_json_qdict_keys(req, keys);
    for (size_t i = 0; i < n; i++) {
        const char *name = keys[i];
        json_object *v = json_object_object_get(req, name);
        if (!strcmp(name, "execute") || (!strcmp(name, "exec-oob") && allow_oob)) {
            if (!json_object_is_type(v, json_type_string)) {
                mb_error_set(err, "QMP input member '%s' must be a string", name);
                goto fail;
            }
            if (exec_key) {
                mb_error_set(err, "QMP input member '%s' clashes with '%s'", name, exec_key);
                goto fail;
            }
            exec_key = name;
        } else if (!strcmp(name, "arguments")) {
            if (!json_object_is_type(v, json_type_object)) {
                mb_error_set(err, "QMP input member 'arguments' must be an object");
                goto fail;
            }
        } else if (strcmp(name, "id") != 0) {
            mb_error_set(err, "QMP input member '%s' is unexpected", name);
            goto fail;
        }
    }
    if (!exec_key)
        mb_error_set(err, "QMP input lacks member 'execute'");
    g_free(keys);
    return exec_key;
fail:
    g_free(keys);
    return NULL;
}

static bool is_oob_request(json_object *req)
{
    return json_object_is_type(req, json_type_object) &&
           json_object_object_get_ex(req, "exec-oob", NULL) &&
           !json_object_object_get_ex(req, "execute", NULL);
}

/* Looks the command up in the session's current command set. */
static const SchemaCommand *find_command(QmpSession *s, const char *name, GError **err)
{
    const SchemaCommand *cmd = NULL;

    if (s->negotiated || !strcmp(name, "qmp_capabilities"))
        cmd = schema_find_command(s->srv->schema, name);
    if (!cmd)
        g_set_error(err, MB_ERROR, MB_ERR_COMMAND_NOT_FOUND, "The command %s has not been found",
                    name);
    return cmd;
}

static json_object *run_command(QmpRequest *r, const SchemaCommand *cmd, json_object *args,
                                GError **err)
{
    const QmpHandler *h = qmp_server_handler(r->srv, cmd->name);
    json_object *empty = NULL, *ret;
    GError *local = NULL;

    if (!schema_validate_args(r->srv->schema, cmd, args, err))
        return NULL;
    if (!h) {
        mb_error_set(err, "Command '%s' is not implemented by migbench", cmd->name);
        return NULL;
    }
    if (!args)
        args = empty = json_object_new_object();
    ret = h->fn(r, args, &local, h->opaque);
    json_object_put(empty);
    if (local) {
        json_object_put(ret);
        g_propagate_error(err, local);
        return NULL;
    }
    /* A command without 'returns' answers {}; so does a handler returning NULL. */
    if (!ret)
        return json_object_new_object();
    /* Byte-identical output needs QEMU's member order whatever order the handler built
     * its reply in.  The introspection is exempt: it is built in the order QEMU's
     * generated literal has (not the visitor's) and is large. */
    if (ret != r->srv->introspection)
        qmp_order_by_schema(cmd->ret, ret);
    return ret;
}

/* QEMU's qmp_dispatch() for one message; returns the response, or NULL for a command
 * that answers nothing when it succeeds. */
static json_object *dispatch(QmpRequest *r, json_object *req)
{
    QmpSession *s = r->sess;
    GError *err = NULL;
    json_object *rsp, *id = NULL, *ret = NULL;
    bool has_id = false, oob;
    const char *key, *name;
    const SchemaCommand *cmd;

    if (!json_object_is_type(req, json_type_object)) {
        mb_error_set(&err, "QMP input must be a JSON object");
        goto out;
    }
    has_id = json_object_object_get_ex(req, "id", &id);
    key = check_request(req, s->oob_enabled, &err);
    if (!key)
        goto out;
    oob = !strcmp(key, "exec-oob");
    name = json_object_get_string(json_object_object_get(req, key));
    cmd = find_command(s, name, &err);
    if (!cmd)
        goto out;
    if (oob && !cmd->allow_oob) {
        mb_error_set(&err, "The command %s does not support OOB", name);
        goto out;
    }
    ret = run_command(r, cmd, json_object_object_get(req, "arguments"), &err);
    if (!err && !cmd->success_response) {
        /* QEMU's QCO_NO_SUCCESS_RESP: nothing at all is sent on success. */
        json_object_put(ret);
        return NULL;
    }
out:
    if (err) {
        if (!s->negotiated && g_error_matches(err, MB_ERROR, MB_ERR_COMMAND_NOT_FOUND)) {
            /* QEMU explains what is wrong instead. */
            g_free(err->message);
            err->message = g_strdup("Expecting capabilities negotiation with "
                                    "'qmp_capabilities'");
        }
        rsp = error_response(err);
        g_error_free(err);
    } else {
        rsp = json_object_new_object();
        json_object_object_add(rsp, "return", ret);
    }
    if (has_id)
        json_object_object_add(rsp, "id", json_object_get(id));
    return rsp;
}

/* Runs one request of session `s` and sends its reply. */
static void handle(QmpSession *s, json_object *msg, GError *ferr)
{
    QmpRequest r = { .srv = s->srv, .sess = s, .ev_mark = qmp_event_mark(s->srv) };
    json_object *rsp;

    qmp_session_ref(s);
    if (ferr)
        rsp = error_response(ferr); /* a framing error: no id to echo */
    else
        rsp = dispatch(&r, msg);
    /* Events queued (by other threads) before the handler looked at any state go out
     * first: the reply may report what they announced, so it must not overtake them.
     * Later events follow the reply.  (QEMU writes both to the monitor as they happen.) */
    if (g_main_context_is_owner(s->srv->ctx))
        qmp_event_deliver_upto(s->srv, r.ev_mark);
    if (rsp)
        qmp_send_message(s, rsp);
    json_object_put(rsp);
    if (r.after)
        qmp_session_after_reply(s, r.after);
    qmp_session_unref(s);
}

static gboolean dispatcher_cb(gpointer opaque)
{
    QmpServer *srv = opaque;

    if (qmp_dispatch_one(srv))
        return G_SOURCE_CONTINUE;
    g_source_unref(srv->dispatch_src);
    srv->dispatch_src = NULL;
    return G_SOURCE_REMOVE;
}

void qmp_dispatch_schedule(QmpServer *srv)
{
    if (srv->dispatch_src)
        return;
    srv->dispatch_src = g_idle_source_new();
    g_source_set_priority(srv->dispatch_src, G_PRIORITY_DEFAULT);
    g_source_set_callback(srv->dispatch_src, dispatcher_cb, srv, NULL);
    g_source_attach(srv->dispatch_src, srv->ctx);
}

void qmp_dispatch_on_message(void *opaque, json_object *msg, GError *err)
{
    QmpSession *s = opaque;
    QmpQueued *q;

    if (s->dead) {
        json_object_put(msg);
        if (err)
            g_error_free(err);
        qmp_stream_stop(s->stream);
        return;
    }
    if (!err && is_oob_request(msg)) {
        handle(s, msg, NULL);
        json_object_put(msg);
    } else {
        q = g_new0(QmpQueued, 1);
        q->msg = msg;
        q->err = err;
        g_queue_push_tail(&s->requests, q);
        qmp_dispatch_schedule(s->srv);
    }
    if (qmp_session_input_blocked(s))
        qmp_stream_stop(s->stream);
}

bool qmp_dispatch_one(QmpServer *srv)
{
    QmpSession *s = NULL;
    QmpQueued *q;
    GList *l;

    for (l = srv->sessions.head; l; l = l->next) {
        QmpSession *cand = l->data;
        if (!g_queue_is_empty(&cand->requests)) {
            s = cand;
            break;
        }
    }
    if (!s)
        return false;
    /* Round-robin: a busy session goes to the back of the line. */
    g_queue_unlink(&srv->sessions, l);
    g_queue_push_tail_link(&srv->sessions, l);
    q = g_queue_pop_head(&s->requests);
    qmp_session_ref(s);
    handle(s, q->msg, q->err);
    qmp_queued_free(q);
    /* The queue has room again: take more input (QEMU's monitor_resume). */
    if (!s->dead)
        qmp_session_pump(s);
    qmp_session_unref(s);
    return true;
}
