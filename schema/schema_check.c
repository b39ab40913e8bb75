/* schema_check: the whole-schema checks of schema_finish, and the finished views.
 *
 * A port of the check() methods of QEMU 5.0's scripts/qapi/schema.py, run over the entities
 * in definition order with QEMU's messages: unknown types, bases that are not structs,
 * objects containing themselves, members colliding (by C name) with their base's or
 * another branch's, flat-union discriminators, alternates whose branches cannot be told
 * apart, command and event 'data' forms.  QEMU's restriction of command return types to
 * objects (with a pragma whitelist) is not applied: it only matters to C code generation.
 *
 * Afterwards each type gets the arrays the read-only API hands out: active members and
 * enum values, resolved types of commands and events. */
#include "schema_int.h"

#include <string.h>

#define MAX_OBJECT_DEPTH 256

typedef struct {
    Schema *s;
    GError **err;
    int depth; /* of check_object recursion through bases and branches */
} Ck;

typedef struct {
    GHashTable *by_cname; /* c_name -> SchMember */
    GPtrArray *list;      /* SchMember in order */
} Seen;

static bool fail(Ck *c, const SchemaPos *pos, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static bool fail(Ck *c, const SchemaPos *pos, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    sch_error(c->err, pos, "%s", msg);
    g_free(msg);
    return false;
}

static Seen seen_new(void)
{
    Seen seen = { g_hash_table_new(g_str_hash, g_str_equal), g_ptr_array_new() };
    return seen;
}

static void seen_free(Seen *seen)
{
    g_hash_table_destroy(seen->by_cname);
    g_ptr_array_free(seen->list, TRUE);
}

static bool is_union(const SchemaType *t)
{
    return t->meta == SCHEMA_META_OBJECT && (t->tag || t->tag_name);
}

static bool is_object(const SchemaType *t)
{
    return t->meta == SCHEMA_META_OBJECT;
}

/* QEMU's check_clash: no two members may map to the same C name. */
static bool clash(Ck *c, const SchemaPos *pos, const char *defn, Seen *seen, SchMember *m)
{
    const char *cname = sch_c_name(c->s, m->pub.name);
    SchMember *old = g_hash_table_lookup(seen->by_cname, cname);

    if (old)
        return fail(c, pos, "%s collides with %s", sch_member_describe(c->s, m, defn),
                    sch_member_describe(c->s, old, defn));
    g_hash_table_insert(seen->by_cname, (gpointer)cname, m);
    g_ptr_array_add(seen->list, m);
    return true;
}

static bool flags_clash(Ck *c, const SchemaPos *pos, const SchFlag *f, size_t n, const char *role)
{
    GHashTable *seen;
    bool ok = true;

    if (n < 2)
        return true;
    seen = g_hash_table_new(g_str_hash, g_str_equal); /* c_name -> name */
    for (size_t i = 0; ok && i < n; i++) {
        const char *cname = sch_c_name(c->s, f[i].name), *old = g_hash_table_lookup(seen, cname);
        if (old)
            ok = fail(c, pos, "%s '%s' collides with %s '%s'", role, f[i].name, role, old);
        g_hash_table_insert(seen, (gpointer)cname, (gpointer)f[i].name);
    }
    g_hash_table_destroy(seen);
    return ok;
}

static SchemaType *resolve(Ck *c, const char *name, const SchemaPos *pos, const char *what)
{
    SchemaType *t = sch_lookup_type(c->s, name);
    if (!t)
        fail(c, pos, "%s uses unknown type '%s'", what, name);
    return t;
}

static bool resolve_member(Ck *c, SchMember *m, const char *defn)
{
    m->pub.type = resolve(c, m->type_ref, &m->pos, sch_member_describe(c->s, m, defn));
    return m->pub.type && flags_clash(c, &m->pos, m->features, m->nfeatures, "feature");
}

static bool check_object(Ck *c, SchemaType *t);

/* A flat union's discriminator must be a mandatory unconditional enum member. */
static bool check_discriminator(Ck *c, SchemaType *t, Seen *seen)
{
    SchMember *tag = g_hash_table_lookup(seen->by_cname, sch_c_name(c->s, t->tag_name));
    const SchemaType *owner;
    const char *base = "'base'";

    if (!tag || strcmp(tag->pub.name, t->tag_name) != 0)
        return fail(c, &t->pos, "discriminator '%s' is not a member of %s", t->tag_name, base);
    owner = sch_lookup_type(c->s, tag->defined_in);
    if (owner && !owner->implicit)
        base = sch_printf(c->s, "base type '%s'", tag->defined_in);
    if (tag->pub.type->meta != SCHEMA_META_ENUM)
        return fail(c, &t->pos, "discriminator member '%s' of %s must be of enum type", t->tag_name,
                    base);
    if (tag->pub.optional)
        return fail(c, &t->pos, "discriminator member '%s' of %s must not be optional", t->tag_name,
                    base);
    if (tag->has_if)
        return fail(c, &t->pos, "discriminator member '%s' of %s must not be conditional",
                    t->tag_name, base);
    t->tag = tag;
    return true;
}

/* Enum values without an explicit branch get the empty object, as in QEMU. */
static void add_empty_branches(Ck *c, SchemaType *t)
{
    const SchemaType *e = t->tag->pub.type;
    GPtrArray *vars = g_ptr_array_new();
    GHashTable *cases = g_hash_table_new(g_str_hash, g_str_equal);

    for (size_t i = 0; i < t->nvariants; i++) {
        g_ptr_array_add(vars, t->variants[i]);
        g_hash_table_add(cases, (gpointer)t->variants[i]->pub.name);
    }
    for (size_t i = 0; i < e->nvalues; i++) {
        SchMember *v;
        if (g_hash_table_contains(cases, e->values[i].name))
            continue;
        v = sch_alloc(c->s, sizeof(*v));
        v->pub.name = e->values[i].name;
        v->type_ref = "q_empty";
        v->defined_in = t->tag->defined_in;
        v->role = "branch";
        v->active = e->values[i].active;
        v->has_if = e->values[i].has_if;
        v->pos = t->pos;
        g_ptr_array_add(vars, v);
    }
    t->variants = (SchMember **)sch_ptrs(c->s, vars, &t->nvariants);
    g_ptr_array_free(vars, TRUE);
    g_hash_table_destroy(cases);
}

static bool check_union_branch(Ck *c, SchemaType *t, SchMember *v, GHashTable *values)
{
    if (!g_hash_table_contains(values, v->pub.name))
        return fail(c, &v->pos, "branch '%s' is not a value of %s", v->pub.name,
                    sch_type_describe(c->s, t->tag->pub.type));
    if (!is_object(v->pub.type) || is_union(v->pub.type))
        return fail(c, &v->pos, "%s cannot use %s", sch_member_describe(c->s, v, t->defn_name),
                    sch_type_describe(c->s, v->pub.type));
    return check_object(c, (SchemaType *)v->pub.type);
}

/* A branch's members may clash neither with the common members nor among themselves;
 * branches do not see each other. */
static bool branch_clash(Ck *c, const SchemaType *t, const Seen *seen, const SchemaType *vt)
{
    Seen own = seen_new();
    bool ok = true;

    for (size_t k = 0; ok && k < vt->nmembers; k++) {
        SchMember *m = vt->members[k];
        SchMember *old = g_hash_table_lookup(seen->by_cname, sch_c_name(c->s, m->pub.name));
        if (old)
            ok = fail(c, &t->pos, "%s collides with %s", sch_member_describe(c->s, m, t->defn_name),
                      sch_member_describe(c->s, old, t->defn_name));
        else
            ok = clash(c, &t->pos, t->defn_name, &own, m);
    }
    seen_free(&own);
    return ok;
}

static bool check_variants(Ck *c, SchemaType *t, Seen *seen)
{
    GHashTable *values;
    const SchemaType *tag_type;
    bool ok = true;

    if (t->tag_name) {
        if (!check_discriminator(c, t, seen))
            return false;
        add_empty_branches(c, t);
    }
    if (!t->nvariants)
        return fail(c, &t->pos, "union has no branches");
    tag_type = t->tag->pub.type;
    values = g_hash_table_new(g_str_hash, g_str_equal);
    for (size_t i = 0; i < tag_type->nvalues; i++)
        g_hash_table_add(values, (gpointer)tag_type->values[i].name);
    for (size_t i = 0; ok && i < t->nvariants; i++)
        ok = resolve_member(c, t->variants[i], t->defn_name) &&
             check_union_branch(c, t, t->variants[i], values);
    g_hash_table_destroy(values);
    for (size_t i = 0; ok && i < t->nvariants; i++)
        ok = branch_clash(c, t, seen, t->variants[i]->pub.type);
    return ok;
}

static bool check_type_features(Ck *c, SchemaType *t)
{
    if (!flags_clash(c, &t->pos, t->features, t->nfeatures, "feature"))
        return false;
    for (size_t i = 0; i < t->nfeatures; i++)
        if (strcmp(t->features[i].name, "deprecated") == 0)
            return fail(c, &t->pos, "feature 'deprecated' is not supported for types");
    return true;
}

static bool check_base(Ck *c, SchemaType *t, Seen *seen)
{
    t->base = resolve(c, t->base_ref, &t->pos, "'base'");
    if (!t->base)
        return false;
    if (!is_object(t->base) || is_union(t->base))
        return fail(c, &t->pos, "'base' requires a struct type, %s isn't",
                    sch_type_describe(c->s, t->base));
    if (!check_object(c, t->base))
        return false;
    for (size_t i = 0; i < t->base->nmembers; i++)
        if (!clash(c, &t->pos, t->defn_name, seen, t->base->members[i]))
            return false;
    return true;
}

static bool check_object(Ck *c, SchemaType *t)
{
    Seen seen;
    bool ok = true;

    if (t->state == 2)
        return true;
    if (t->state == 1)
        return fail(c, &t->pos, "object %s contains itself", t->name);
    if (c->depth >= MAX_OBJECT_DEPTH)
        return fail(c, &t->pos, "object %s nests bases and branches too deeply", t->name);
    t->state = 1;
    if (!check_type_features(c, t))
        return false;
    c->depth++;
    seen = seen_new();
    if (t->base_ref)
        ok = check_base(c, t, &seen);
    for (size_t i = 0; ok && i < t->nlocal; i++)
        ok = resolve_member(c, t->local[i], t->defn_name) &&
             clash(c, &t->local[i]->pos, t->defn_name, &seen, t->local[i]);
    if (ok) {
        t->members = (SchMember **)sch_ptrs(c->s, seen.list, &t->nmembers);
        if (is_union(t))
            ok = check_variants(c, t, &seen);
    }
    seen_free(&seen);
    c->depth--;
    if (ok)
        t->state = 2;
    return ok;
}

/* ---- alternates ---- */

enum { QT_NULL = 1, QT_STRING = 2, QT_NUM = 4, QT_BOOL = 8, QT_DICT = 16 };

static int alternate_qtype(const SchemaType *t)
{
    const char *j = t->meta == SCHEMA_META_BUILTIN ? t->json_type
                    : t->meta == SCHEMA_META_ENUM  ? "string"
                    : is_object(t)                 ? "object"
                                                   : "";

    if (strcmp(j, "null") == 0)
        return QT_NULL;
    if (strcmp(j, "string") == 0)
        return QT_STRING;
    if (strcmp(j, "number") == 0 || strcmp(j, "int") == 0)
        return QT_NUM;
    if (strcmp(j, "boolean") == 0)
        return QT_BOOL;
    return strcmp(j, "object") == 0 ? QT_DICT : 0;
}

/* The JSON types a branch claims: a string also claims numbers and booleans (keyval input),
 * an enum only those its values could be mistaken for. */
static int conflicting(const SchemaType *t, int qtype)
{
    int set = qtype;

    if (qtype != QT_STRING)
        return set;
    if (t->meta != SCHEMA_META_ENUM)
        return set | QT_NUM | QT_BOOL;
    for (size_t i = 0; i < t->nvalues; i++) {
        const char *v = t->values[i].name;
        if (strcmp(v, "on") == 0 || strcmp(v, "off") == 0)
            set |= QT_BOOL;
        if (v[0] && strchr("-+0123456789.", v[0]))
            set |= QT_NUM;
    }
    return set;
}

static bool check_alternate(Ck *c, SchemaType *t)
{
    static const int order[] = { QT_NULL, QT_STRING, QT_NUM, QT_BOOL, QT_DICT };
    const char *taken[QT_DICT + 1] = { 0 };
    Seen seen = seen_new();
    bool ok = check_type_features(c, t);

    for (size_t i = 0; ok && i < t->nvariants; i++)
        ok = resolve_member(c, t->variants[i], t->defn_name);
    for (size_t i = 0; ok && i < t->nvariants; i++) {
        SchMember *v = t->variants[i];
        int qtype = alternate_qtype(v->pub.type), set;
        ok = clash(c, &v->pos, t->defn_name, &seen, v);
        if (ok && !qtype)
            ok = fail(c, &v->pos, "%s cannot use %s", sch_member_describe(c->s, v, t->defn_name),
                      sch_type_describe(c->s, v->pub.type));
        set = conflicting(v->pub.type, qtype);
        for (size_t k = 0; ok && k < G_N_ELEMENTS(order); k++) {
            if (!(set & order[k]))
                continue;
            if (taken[order[k]])
                ok = fail(c, &v->pos, "%s can't be distinguished from '%s'",
                          sch_member_describe(c->s, v, t->defn_name), taken[order[k]]);
            taken[order[k]] = v->pub.name;
        }
    }
    seen_free(&seen);
    return ok;
}

/* ---- entities ---- */

static bool check_enum(Ck *c, SchemaType *t)
{
    if (!check_type_features(c, t))
        return false;
    return flags_clash(c, &t->pos, t->values, t->nvalues,
                       g_str_has_suffix(t->name, "Kind") && t->implicit ? "branch" : "value");
}

static bool check_type(Ck *c, SchemaType *t)
{
    switch (t->meta) {
    case SCHEMA_META_BUILTIN: return true;
    case SCHEMA_META_ENUM: return check_enum(c, t);
    case SCHEMA_META_ARRAY:
        t->elem = resolve(c, t->elem_ref, &t->pos, t->defn_meta ? t->defn_meta : "array");
        return t->elem != NULL;
    case SCHEMA_META_OBJECT: return check_object(c, t);
    default: return check_alternate(c, t);
    }
}

static SchemaType *check_data(Ck *c, const char *ref, const SchemaPos *pos, bool boxed,
                              const char *meta, bool *ok)
{
    SchemaType *t;
    const char *what = sch_printf(c->s, "%s's 'data'", meta);

    if (!ref)
        return NULL;
    if (!(t = resolve(c, ref, pos, what)))
        *ok = false;
    else if (!is_object(t))
        *ok = fail(c, pos, "%s cannot take %s", what, sch_type_describe(c->s, t));
    else if (is_union(t) && !boxed)
        *ok = fail(c, pos, "%s can take %s only with 'boxed': true", what,
                   sch_type_describe(c->s, t));
    return t;
}

static bool check_command(Ck *c, SchCommand *cmd)
{
    bool ok = flags_clash(c, &cmd->pos, cmd->features, cmd->nfeatures, "feature");

    if (ok)
        cmd->pub.args = check_data(c, cmd->arg_ref, &cmd->pos, cmd->pub.boxed, "command", &ok);
    if (ok && cmd->ret_ref)
        ok = (cmd->pub.ret = resolve(c, cmd->ret_ref, &cmd->pos, "command's 'returns'")) != NULL;
    return ok;
}

static bool check_event(Ck *c, SchEvent *ev)
{
    bool ok = flags_clash(c, &ev->pos, ev->features, ev->nfeatures, "feature");

    if (ok)
        ev->pub.data = check_data(c, ev->arg_ref, &ev->pos, ev->pub.boxed, "event", &ok);
    return ok;
}

/* ---- finished views ---- */

static void finish_type(Schema *s, SchemaType *t)
{
    if (t->meta == SCHEMA_META_ENUM) {
        t->active_values = sch_alloc(s, (t->nvalues + 1) * sizeof(char *));
        for (size_t i = 0; i < t->nvalues; i++)
            if (t->values[i].active)
                t->active_values[t->nactive_values++] = t->values[i].name;
    } else if (t->meta == SCHEMA_META_OBJECT && t->nmembers) {
        t->pub = sch_alloc(s, t->nmembers * sizeof(SchemaMember));
        for (size_t i = 0; i < t->nmembers; i++)
            if (t->members[i]->active)
                t->pub[t->npub++] = t->members[i]->pub;
    }
}

/* Arrays follow their element's condition and wrappers the wrapped type's. */
static void derive_conditions(Schema *s)
{
    for (int pass = 0; pass < 2; pass++) {
        for (guint i = 0; i < s->order->len; i++) {
            SchEntity *e = g_ptr_array_index(s->order, i);
            SchemaType *t = e->ent;
            if (e->kind != SCH_ENT_TYPE)
                continue;
            if (pass == 0 && t->meta == SCHEMA_META_ARRAY)
                t->active = t->elem->active;
            if (pass == 1 && t->wrapped_ref)
                t->active = sch_lookup_type(s, t->wrapped_ref)->active;
        }
    }
}

bool sch_check_all(Schema *s, GError **err)
{
    Ck c = { s, err, 0 };
    bool ok = true;

    for (guint i = 0; ok && i < s->order->len; i++) {
        SchEntity *e = g_ptr_array_index(s->order, i);
        if (e->kind == SCH_ENT_TYPE)
            ok = check_type(&c, e->ent);
        else if (e->kind == SCH_ENT_COMMAND)
            ok = check_command(&c, e->ent);
        else
            ok = check_event(&c, e->ent);
    }
    if (!ok)
        return false;
    derive_conditions(s);
    for (guint i = 0; i < s->order->len; i++) {
        SchEntity *e = g_ptr_array_index(s->order, i);
        if (e->kind == SCH_ENT_TYPE)
            finish_type(s, e->ent);
    }
    for (guint i = 0; i < s->commands->len; i++) {
        SchCommand *cmd = g_ptr_array_index(s->commands, i);
        if (cmd->active)
            g_ptr_array_add(s->act_commands, &cmd->pub);
    }
    for (guint i = 0; i < s->events->len; i++) {
        SchEvent *ev = g_ptr_array_index(s->events, i);
        if (ev->active)
            g_ptr_array_add(s->act_events, &ev->pub);
    }
    return true;
}
