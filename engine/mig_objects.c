/* mig_objects: tls-creds-x509 and authz-simple objects (see mig_objects.h).
 *
 * Properties are checked in the order QEMU 5.0's user_creatable_add_type applies them:
 * each property as it is set (unknown name, wrong JSON type, bad enum value), then the id
 * (a duplicate), then completion (loading the credential files).  Nothing is kept when any
 * step fails. */
#include "mig_objects.h"
#include "mb_error.h"

#include <string.h>

typedef enum { OBJ_TLS_CREDS_X509, OBJ_AUTHZ_SIMPLE } ObjType;

typedef struct {
    ObjType type;
    ChanTlsCreds *creds; /* tls-creds-x509 */
    char *identity;      /* authz-simple */
} MigObject;

static void object_free(gpointer p)
{
    MigObject *o = p;

    chan_tls_creds_unref(o->creds);
    g_free(o->identity);
    g_free(o);
}

/* A property value from QMP (typed JSON) or from -object (strings, `from_opts`). */
static bool prop_str(json_object *v, const char *name, const char **out, GError **err)
{
    if (!json_object_is_type(v, json_type_string)) {
        mb_error_set(err, "Invalid parameter type for '%s', expected: string", name);
        return false;
    }
    *out = json_object_get_string(v);
    return true;
}

static bool prop_bool(json_object *v, const char *name, bool from_opts, bool *out, GError **err)
{
    if (from_opts && json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true")) {
            *out = true;
            return true;
        }
        if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "false")) {
            *out = false;
            return true;
        }
        mb_error_set(err, "Parameter '%s' expects 'on' or 'off'", name);
        return false;
    }
    if (!json_object_is_type(v, json_type_boolean)) {
        mb_error_set(err, "Invalid parameter type for '%s', expected: boolean", name);
        return false;
    }
    *out = json_object_get_boolean(v);
    return true;
}

/* What object-add asked for, strings borrowed from the props. */
typedef struct {
    ObjType type;
    const char *dir;
    ChanTlsEndpoint endpoint;
    bool verify_peer;
    const char *identity;
} ObjSpec;

/* Sets the properties (QEMU applies them one by one, so the first bad one is reported). */
static bool parse_spec(const char *type, json_object *props, bool from_opts, ObjSpec *sp,
                       GError **err)
{
    *sp = (ObjSpec){ .endpoint = CHAN_TLS_CLIENT, .verify_peer = true };
    if (!strcmp(type, "tls-creds-x509"))
        sp->type = OBJ_TLS_CREDS_X509;
    else if (!strcmp(type, "authz-simple"))
        sp->type = OBJ_AUTHZ_SIMPLE;
    else {
        mb_error_set(err, "invalid object type: %s", type);
        return false;
    }
    if (!props)
        return true;
    if (!json_object_is_type(props, json_type_object)) {
        mb_error_set(err, "Invalid parameter type for '%s', expected: %s", "props", "dict");
        return false;
    }
    bool x509 = sp->type == OBJ_TLS_CREDS_X509;
    json_object_object_foreach(props, k, v)
    {
        bool ok;
        if (x509 && !strcmp(k, "dir"))
            ok = prop_str(v, k, &sp->dir, err);
        else if (x509 && !strcmp(k, "verify-peer"))
            ok = prop_bool(v, k, from_opts, &sp->verify_peer, err);
        else if (x509 && !strcmp(k, "endpoint")) {
            const char *s = NULL;
            ok = prop_str(v, k, &s, err);
            if (ok && !strcmp(s, "server"))
                sp->endpoint = CHAN_TLS_SERVER;
            else if (ok && !strcmp(s, "client"))
                sp->endpoint = CHAN_TLS_CLIENT;
            else if (ok) {
                mb_error_set(err, "Invalid parameter '%s'", s);
                ok = false;
            }
        } else if (!x509 && !strcmp(k, "identity"))
            ok = prop_str(v, k, &sp->identity, err);
        else {
            mb_error_set(err, "Property '.%s' not found", k);
            ok = false;
        }
        if (!ok)
            return false;
    }
    return true;
}

bool mig_objects_check(const char *type, json_object *props, bool from_opts, GError **err)
{
    ObjSpec sp;
    return parse_spec(type, props, from_opts, &sp, err);
}

static bool add_object(MigEngine *e, const char *type, const char *id, json_object *props,
                       bool from_opts, GError **err)
{
    ObjSpec sp;

    if (!parse_spec(type, props, from_opts, &sp, err))
        return false;
    g_mutex_lock(&e->obj_lock);
    bool dup = g_hash_table_contains(e->objects, id);
    g_mutex_unlock(&e->obj_lock);
    if (dup) {
        mb_error_set(err, "attempt to add duplicate property '%s' to object (type 'container')",
                     id);
        return false;
    }
    MigObject *o = g_new0(MigObject, 1);
    o->type = sp.type;
    o->identity = g_strdup(sp.identity);
    if (sp.type == OBJ_TLS_CREDS_X509) {
        o->creds = chan_tls_creds_load(sp.dir, sp.endpoint, sp.verify_peer, err);
        if (!o->creds) {
            object_free(o);
            return false;
        }
    }
    /* QMP commands run one at a time on the main context, so the id is still free. */
    g_mutex_lock(&e->obj_lock);
    g_hash_table_insert(e->objects, g_strdup(id), o);
    g_mutex_unlock(&e->obj_lock);
    return true;
}

bool mig_objects_add(MigEngine *e, const char *type, const char *id, json_object *props,
                     GError **err)
{
    return add_object(e, type, id, props, false, err);
}

json_object *mig_objects_parse_opts(const char *opts, char **type, GError **err)
{
    json_object *props = json_object_new_object();
    GString *cur = g_string_new(NULL);
    GPtrArray *parts = g_ptr_array_new_with_free_func(g_free);

    /* Split at single commas; ",," is an escaped comma inside a value. */
    for (const char *p = opts;; p++) {
        if (*p == ',' && p[1] == ',') {
            g_string_append_c(cur, ',');
            p++;
            continue;
        }
        if (*p == ',' || !*p) {
            g_ptr_array_add(parts, g_string_free(cur, FALSE));
            cur = g_string_new(NULL);
            if (!*p)
                break;
            continue;
        }
        g_string_append_c(cur, *p);
    }
    g_string_free(cur, TRUE);
    *type = NULL;
    for (guint i = 0; i < parts->len; i++) {
        char *part = parts->pdata[i];
        char *eq = strchr(part, '=');
        if (i == 0 && !eq) {
            *type = g_strdup(part);
            continue;
        }
        if (!eq || eq == part) {
            mb_error_set(err, "Invalid parameter '%s'", part);
            goto fail;
        }
        *eq = '\0';
        if (!strcmp(part, "qom-type")) {
            g_free(*type);
            *type = g_strdup(eq + 1);
            continue;
        }
        json_object_object_add(props, part, json_object_new_string(eq + 1));
    }
    if (!*type || !**type) {
        mb_error_set(err, "Parameter 'qom-type' is missing");
        goto fail;
    }
    g_ptr_array_free(parts, TRUE);
    return props;
fail:
    g_clear_pointer(type, g_free);
    g_ptr_array_free(parts, TRUE);
    json_object_put(props);
    return NULL;
}

bool mig_objects_add_opts(MigEngine *e, const char *opts, GError **err)
{
    char *type = NULL;
    json_object *props = mig_objects_parse_opts(opts, &type, err);
    json_object *idv = NULL;
    bool ok = false;

    if (!props)
        return false;
    if (!json_object_object_get_ex(props, "id", &idv)) {
        mb_error_set(err, "Parameter 'id' is missing");
    } else {
        char *id = g_strdup(json_object_get_string(idv));
        json_object_object_del(props, "id");
        ok = add_object(e, type, id, props, true, err);
        g_free(id);
    }
    json_object_put(props);
    g_free(type);
    return ok;
}

ChanTlsCreds *mig_objects_tls_creds(MigEngine *e, const char *id, ChanTlsEndpoint endpoint,
                                    GError **err)
{
    ChanTlsCreds *c = NULL;

    g_mutex_lock(&e->obj_lock);
    MigObject *o = g_hash_table_lookup(e->objects, id);
    if (!o)
        mb_error_set(err, "No TLS credentials with id '%s'", id);
    else if (o->type != OBJ_TLS_CREDS_X509)
        mb_error_set(err, "Object with id '%s' is not TLS credentials", id);
    else if (chan_tls_creds_endpoint(o->creds) != endpoint)
        mb_error_set(err, "Expected TLS credentials for a %s endpoint",
                     endpoint == CHAN_TLS_CLIENT ? "client" : "server");
    else
        c = chan_tls_creds_ref(o->creds);
    g_mutex_unlock(&e->obj_lock);
    return c;
}

bool mig_objects_authz_allows(MigEngine *e, const char *id, const char *identity, GError **err)
{
    bool allow = false;

    g_mutex_lock(&e->obj_lock);
    MigObject *o = g_hash_table_lookup(e->objects, id);
    if (!o)
        mb_error_set(err, "Cannot find QAuthZ object ID %s", id);
    else if (o->type != OBJ_AUTHZ_SIMPLE)
        mb_error_set(err, "Object '%s' is not a QAuthZ subclass", id);
    else
        allow = o->identity && !strcmp(o->identity, identity);
    g_mutex_unlock(&e->obj_lock);
    return allow;
}

#define ARG(name) json_object_object_get(args, name)

static json_object *cmd_object_add(QmpRequest *req, json_object *args, GError **err, void *op)
{
    mig_objects_add(op, json_object_get_string(ARG("qom-type")), json_object_get_string(ARG("id")),
                    ARG("props"), err);
    return NULL;
}

static json_object *cmd_object_del(QmpRequest *req, json_object *args, GError **err, void *op)
{
    MigEngine *e = op;
    const char *id = json_object_get_string(ARG("id"));

    /* Sessions hold their own reference to the credentials, so a migration that is
     * running keeps its channels; QEMU lets tls-creds objects go at any time too. */
    g_mutex_lock(&e->obj_lock);
    bool found = g_hash_table_remove(e->objects, id);
    g_mutex_unlock(&e->obj_lock);
    if (!found)
        mb_error_set(err, "object '%s' not found", id);
    return NULL;
}

void mig_objects_init(MigEngine *e)
{
    g_mutex_init(&e->obj_lock);
    e->objects = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, object_free);
    if (schema_find_command(e->schema, "object-add"))
        qmp_server_register(e->qmp, "object-add", cmd_object_add, e);
    if (schema_find_command(e->schema, "object-del"))
        qmp_server_register(e->qmp, "object-del", cmd_object_del, e);
}

void mig_objects_clear(MigEngine *e)
{
    if (!e->objects)
        return;
    g_hash_table_destroy(e->objects);
    e->objects = NULL;
    g_mutex_clear(&e->obj_lock);
}
