/* qmp_core: the commands every QMP server has, implemented by the server itself.
 *
 * qmp_capabilities, query-version, query-commands, query-qmp-schema, getfd and closefd
 * concern the protocol session rather than the guest, so they live here, with QEMU 5.0's
 * behaviour and texts.  Named file descriptors belong to the session that received them
 * (QEMU keeps them per monitor; each client connection is a monitor session here).  The
 * built-ins are registered only for commands the schema defines, so the schema stays
 * the single source of what the server offers, and they go through the same validation
 * as every other command. */
#include "qmp_int.h"

#include "mb_error.h"

#include <string.h>
#include <unistd.h>

json_object *qmp_core_greeting(QmpServer *srv, QmpSession *s)
{
    json_object *caps = json_object_new_array();
    json_object *qmp = json_object_new_object();
    json_object *g = json_object_new_object();

    if (s->oob_offered)
        json_object_array_add(caps, json_object_new_string("oob"));
    json_object_object_add(qmp, "version", json_object_get(srv->version));
    json_object_object_add(qmp, "capabilities", caps);
    json_object_object_add(g, "QMP", qmp);
    return g;
}

static json_object *cmd_qmp_capabilities(QmpRequest *req, json_object *args, GError **err,
                                         void *opaque)
{
    QmpSession *s = req->sess;
    json_object *enable = NULL;
    GString *unavailable = NULL;
    bool oob = false;

    if (s->negotiated) {
        g_set_error(err, MB_ERROR, MB_ERR_COMMAND_NOT_FOUND,
                    "Capabilities negotiation is already complete, command ignored");
        return NULL;
    }
    json_object_object_get_ex(args, "enable", &enable);
    for (size_t i = 0; enable && i < json_object_array_length(enable); i++) {
        const char *cap = json_object_get_string(json_object_array_get_idx(enable, i));
        if (cap && !strcmp(cap, "oob") && s->oob_offered) {
            oob = true;
            continue;
        }
        if (!unavailable)
            unavailable = g_string_new(cap);
        else
            g_string_append_printf(unavailable, ", %s", cap);
    }
    if (unavailable) {
        mb_error_set(err, "Capability %s not available", unavailable->str);
        g_string_free(unavailable, TRUE);
        return NULL;
    }
    s->oob_enabled = oob;
    s->negotiated = true;
    return NULL;
}

static json_object *cmd_query_version(QmpRequest *req, json_object *args, GError **err,
                                      void *opaque)
{
    return json_object_get(req->srv->version);
}

static json_object *cmd_query_commands(QmpRequest *req, json_object *args, GError **err,
                                       void *opaque)
{
    return schema_query_commands(req->srv->schema);
}

static json_object *cmd_query_qmp_schema(QmpRequest *req, json_object *args, GError **err,
                                         void *opaque)
{
    QmpServer *srv = req->srv;

    /* The schema is immutable, so its introspection is computed once. */
    if (!srv->introspection)
        srv->introspection = schema_introspect(srv->schema, srv->mask_introspection);
    return json_object_get(srv->introspection);
}

static json_object *cmd_getfd(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    QmpSession *s = req->sess;
    const char *name = json_object_get_string(json_object_object_get(args, "fdname"));
    int fd = qmp_session_take_received_fd(s);

    if (fd < 0) {
        mb_error_set(err, "No file descriptor supplied via SCM_RIGHTS");
        return NULL;
    }
    if (g_ascii_isdigit(name[0])) {
        close(fd);
        mb_error_set(err, "Parameter '%s' expects %s", "fdname",
                     "a name not starting with a digit");
        return NULL;
    }
    /* Reusing a name closes the descriptor stored under it. */
    g_hash_table_replace(s->fds, g_strdup(name), GINT_TO_POINTER(fd));
    return NULL;
}

static json_object *cmd_closefd(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    const char *name = json_object_get_string(json_object_object_get(args, "fdname"));

    if (!g_hash_table_remove(req->sess->fds, name))
        mb_error_set(err, "File descriptor named '%s' not found", name);
    return NULL;
}

int qmp_request_take_fd(QmpRequest *req, const char *name, GError **err)
{
    gpointer key, value;

    if (!req->sess || !g_hash_table_steal_extended(req->sess->fds, name, &key, &value)) {
        mb_error_set(err, "File descriptor named '%s' has not been found", name);
        return -1;
    }
    g_free(key);
    return GPOINTER_TO_INT(value);
}

void qmp_core_register(QmpServer *srv)
{
    static const struct {
        const char *name;
        QmpCommandFn fn;
    } core[] = {
        { "qmp_capabilities", cmd_qmp_capabilities },
        { "query-version", cmd_query_version },
        { "query-commands", cmd_query_commands },
        { "query-qmp-schema", cmd_query_qmp_schema },
        { "getfd", cmd_getfd },
        { "closefd", cmd_closefd },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(core); i++)
        if (schema_find_command(srv->schema, core[i].name))
            qmp_server_register(srv, core[i].name, core[i].fn, NULL);
}
