/* schema_introspect: the replies of query-qmp-schema and query-commands.
 *
 * Follows QEMU 5.0's scripts/qapi/introspect.py: commands and events first, in QEMU's
 * visiting order (module by module: a file's own definitions, then each file it includes
 * in the order the includes were met), then every type they use, in order of first use,
 * growing the list as types are visited.  The integer types all appear as "int" (and
 * their arrays as "[int]"); q_empty stands in for a missing 'data' or 'returns'; optional
 * members carry "default": null; "allow-oob" appears only when true.  With masking, every
 * name other than builtins, commands and events becomes a number in order of first use.
 *
 * Conditions act as QEMU's #if does on its generated table: entities, members, branches,
 * enum values and features whose condition is false are left out, but the types they
 * reference are still numbered, so masked numbers match what QEMU would assign. */
#include "schema_int.h"

#include <string.h>

typedef struct {
    const Schema *s;
    bool mask;
    GHashTable *names; /* QAPI name -> masked number (owned) */
    GPtrArray *used;   /* SchemaType work queue, in order of first use */
    GHashTable *used_set;
    json_object *out;
} Intro;

static const char *masked(Intro *in, const char *name)
{
    char *m;

    if (!in->mask)
        return name;
    if (!(m = g_hash_table_lookup(in->names, name))) {
        m = g_strdup_printf("%u", g_hash_table_size(in->names));
        g_hash_table_insert(in->names, (gpointer)name, m);
    }
    return m;
}

static bool int_like(const SchemaType *t)
{
    return t->meta == SCHEMA_META_BUILTIN && strcmp(t->json_type, "int") == 0;
}

/* QEMU's _use_type(): queues the type and returns the name clients see.  g_free it. */
static char *use_type(Intro *in, const SchemaType *t)
{
    if (int_like(t))
        t = in->s->t_int;
    else if (t->meta == SCHEMA_META_ARRAY && int_like(t->elem))
        t = sch_lookup_type(in->s, "intList");
    if (!g_hash_table_contains(in->used_set, t)) {
        g_hash_table_add(in->used_set, (gpointer)t);
        g_ptr_array_add(in->used, (gpointer)t);
    }
    if (t->meta == SCHEMA_META_BUILTIN)
        return g_strdup(t->name);
    if (t->meta == SCHEMA_META_ARRAY) {
        char *elem = use_type(in, t->elem), *name = g_strdup_printf("[%s]", elem);
        g_free(elem);
        return name;
    }
    return g_strdup(masked(in, t->name));
}

static void add_str(json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, json_object_new_string(value));
}

static void add_used(Intro *in, json_object *o, const char *key, const SchemaType *t)
{
    char *name = use_type(in, t);
    add_str(o, key, name);
    g_free(name);
}

/* "features" appears whenever the entity declares any, listing the active ones. */
static void add_features(json_object *o, const SchFlag *f, size_t n)
{
    json_object *list;

    if (!n)
        return;
    list = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        if (f[i].active)
            json_object_array_add(list, json_object_new_string(f[i].name));
    json_object_object_add(o, "features", list);
}

/* QEMU's _gen_tree(): names the entry, then keeps it only if its condition holds. */
static void emit(Intro *in, json_object *o, const char *name, const char *meta, bool active)
{
    bool hide = strcmp(meta, "command") && strcmp(meta, "event") && strcmp(meta, "builtin") &&
                strcmp(meta, "array");
    json_object *entry = json_object_new_object();

    add_str(entry, "name", hide ? masked(in, name) : name);
    add_str(entry, "meta-type", meta);
    json_object_object_foreach(o, key, val)
    {
        json_object_object_add(entry, key, json_object_get(val));
    }
    json_object_put(o);
    if (active)
        json_object_array_add(in->out, entry);
    else
        json_object_put(entry);
}

static json_object *gen_member(Intro *in, const SchMember *m)
{
    json_object *o = json_object_new_object();

    add_str(o, "name", m->pub.name);
    add_used(in, o, "type", m->pub.type);
    if (m->pub.optional)
        json_object_object_add(o, "default", NULL);
    add_features(o, m->features, m->nfeatures);
    return o;
}

static void gen_object(Intro *in, const SchemaType *t)
{
    json_object *o = json_object_new_object(), *members = json_object_new_array(), *vars;

    for (size_t i = 0; i < t->nmembers; i++) {
        json_object *m = gen_member(in, t->members[i]);
        if (t->members[i]->active)
            json_object_array_add(members, m);
        else
            json_object_put(m);
    }
    json_object_object_add(o, "members", members);
    if (t->tag) {
        add_str(o, "tag", t->tag->pub.name);
        vars = json_object_new_array();
        for (size_t i = 0; i < t->nvariants; i++) {
            json_object *v = json_object_new_object();
            add_str(v, "case", t->variants[i]->pub.name);
            add_used(in, v, "type", t->variants[i]->pub.type);
            if (t->variants[i]->active)
                json_object_array_add(vars, v);
            else
                json_object_put(v);
        }
        json_object_object_add(o, "variants", vars);
    }
    add_features(o, t->features, t->nfeatures);
    emit(in, o, t->name, "object", t->active);
}

static void gen_alternate(Intro *in, const SchemaType *t)
{
    json_object *o = json_object_new_object(), *members = json_object_new_array();

    for (size_t i = 0; i < t->nvariants; i++) {
        json_object *m = json_object_new_object();
        add_used(in, m, "type", t->variants[i]->pub.type);
        if (t->variants[i]->active)
            json_object_array_add(members, m);
        else
            json_object_put(m);
    }
    json_object_object_add(o, "members", members);
    add_features(o, t->features, t->nfeatures);
    emit(in, o, t->name, "alternate", t->active);
}

static void gen_type(Intro *in, const SchemaType *t)
{
    json_object *o = json_object_new_object(), *values;
    char *elem, *name;

    switch (t->meta) {
    case SCHEMA_META_BUILTIN:
        add_str(o, "json-type", t->json_type);
        emit(in, o, t->name, "builtin", true);
        break;
    case SCHEMA_META_ENUM:
        values = json_object_new_array();
        for (size_t i = 0; i < t->nactive_values; i++)
            json_object_array_add(values, json_object_new_string(t->active_values[i]));
        json_object_object_add(o, "values", values);
        add_features(o, t->features, t->nfeatures);
        emit(in, o, t->name, "enum", t->active);
        break;
    case SCHEMA_META_ARRAY:
        elem = use_type(in, t->elem);
        name = g_strdup_printf("[%s]", elem);
        add_str(o, "element-type", elem);
        emit(in, o, name, "array", t->active);
        g_free(elem);
        g_free(name);
        break;
    case SCHEMA_META_OBJECT:
        json_object_put(o);
        gen_object(in, t);
        break;
    default:
        json_object_put(o);
        gen_alternate(in, t);
        break;
    }
}

static void gen_command(Intro *in, const SchCommand *c)
{
    json_object *o = json_object_new_object();

    add_used(in, o, "arg-type", c->pub.args ? c->pub.args : in->s->empty);
    add_used(in, o, "ret-type", c->pub.ret ? c->pub.ret : in->s->empty);
    if (c->pub.allow_oob)
        json_object_object_add(o, "allow-oob", json_object_new_boolean(true));
    add_features(o, c->features, c->nfeatures);
    emit(in, o, c->pub.name, "command", c->active);
}

static void gen_event(Intro *in, const SchEvent *ev)
{
    json_object *o = json_object_new_object();

    add_used(in, o, "arg-type", ev->pub.data ? ev->pub.data : in->s->empty);
    add_features(o, ev->features, ev->nfeatures);
    emit(in, o, ev->pub.name, "event", ev->active);
}

/* Commands and events, module by module, as QEMU's schema.visit() presents them. */
static void gen_entities(Intro *in)
{
    const Schema *s = in->s;

    for (guint m = 0; m < s->modules->len; m++) {
        for (guint i = 0; i < s->order->len; i++) {
            const SchEntity *e = g_ptr_array_index(s->order, i);
            if (e->kind == SCH_ENT_COMMAND && ((SchCommand *)e->ent)->module == (int)m)
                gen_command(in, e->ent);
            else if (e->kind == SCH_ENT_EVENT && ((SchEvent *)e->ent)->module == (int)m)
                gen_event(in, e->ent);
        }
    }
}

json_object *schema_introspect(const Schema *s, bool mask)
{
    Intro in = { s, mask };

    g_return_val_if_fail(s && s->finished, NULL);
    in.names = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    in.used = g_ptr_array_new();
    in.used_set = g_hash_table_new(g_direct_hash, g_direct_equal);
    in.out = json_object_new_array();
    gen_entities(&in);
    for (guint i = 0; i < in.used->len; i++) /* the queue grows while it is walked */
        gen_type(&in, g_ptr_array_index(in.used, i));
    g_hash_table_destroy(in.names);
    g_ptr_array_free(in.used, TRUE);
    g_hash_table_destroy(in.used_set);
    return in.out;
}

/* QEMU registers the generated commands in visiting order, then the hand-written 'gen':
 * false ones, and query-commands lists the registry backwards. */
json_object *schema_query_commands(const Schema *s)
{
    GPtrArray *order = g_ptr_array_new();
    json_object *out;

    g_return_val_if_fail(s && s->finished, NULL);
    for (int pass = 0; pass < 2; pass++)
        for (guint m = 0; m < s->modules->len; m++)
            for (guint i = 0; i < s->commands->len; i++) {
                const SchCommand *c = g_ptr_array_index(s->commands, i);
                if (c->active && c->module == (int)m && c->gen == (pass == 0))
                    g_ptr_array_add(order, (gpointer)c->pub.name);
            }
    out = json_object_new_array();
    for (guint i = order->len; i-- > 0;) {
        json_object *o = json_object_new_object();
        add_str(o, "name", g_ptr_array_index(order, i));
        json_object_array_add(out, o);
    }
    g_ptr_array_free(order, TRUE);
    return out;
}
