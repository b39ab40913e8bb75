/* schema_def: turning checked definitions into entities (types, commands, events).
 *
 * Follows QEMU 5.0's QAPISchema._def_* so that the entity list has QEMU's order and QEMU's
 * implicit entities: the predefined builtins each followed by their array type, q_empty and
 * QType; "ElemList" array types at first use; "q_obj_NAME-arg" for a command's or event's
 * dict 'data'; "q_obj_NAME-base" for a flat union's dict 'base'; "q_obj_TYPE-wrapper" and
 * "UNIONKind" for simple unions.  Names are resolved later, by schema_finish.
 *
 * Conditions are evaluated here, once, against the schema's defines: entities keep an
 * `active` flag instead of disappearing, so the whole schema is still checked as QEMU
 * checks it, and introspection can number types exactly as QEMU does. */
#include "schema_int.h"

#include <string.h>

static const struct {
    const char *name, *json_type;
    SchBuiltin kind;
} builtins[] = {
    { "str", "string", SB_STR },    { "number", "number", SB_NUMBER },
    { "int", "int", SB_INT },       { "int8", "int", SB_INT8 },
    { "int16", "int", SB_INT16 },   { "int32", "int", SB_INT32 },
    { "int64", "int", SB_INT64 },   { "uint8", "int", SB_UINT8 },
    { "uint16", "int", SB_UINT16 }, { "uint32", "int", SB_UINT32 },
    { "uint64", "int", SB_UINT64 }, { "size", "int", SB_SIZE },
    { "bool", "boolean", SB_BOOL }, { "any", "value", SB_ANY },
    { "null", "null", SB_NULL },
};

SchemaType *sch_lookup_type(const Schema *s, const char *name)
{
    SchEntity *e = name ? g_hash_table_lookup(s->entities, name) : NULL;
    return e && e->kind == SCH_ENT_TYPE ? e->ent : NULL;
}

const char *sch_type_describe(Schema *s, const SchemaType *t)
{
    switch (t->meta) {
    case SCHEMA_META_BUILTIN: return sch_printf(s, "built-in type '%s'", t->name);
    case SCHEMA_META_ENUM: return sch_printf(s, "enum type '%s'", t->name);
    case SCHEMA_META_ARRAY: return sch_printf(s, "array type ['%s']", t->elem_ref);
    case SCHEMA_META_ALTERNATE: return sch_printf(s, "alternate type '%s'", t->name);
    default:
        return sch_printf(s, "%s type '%s'", t->tag || t->tag_name ? "union" : "struct", t->name);
    }
}

/* QEMU's QAPISchemaMember.describe(info) for object members and branches. */
const char *sch_member_describe(Schema *s, const SchMember *m, const char *defn_name)
{
    const char *in = m->defined_in, *role = m->role;

    if (m->describe_as)
        return m->describe_as;
    if (g_str_has_prefix(in, "q_obj_")) {
        if (g_str_has_suffix(in, "-arg"))
            role = "parameter";
        else if (g_str_has_suffix(in, "-base"))
            role = strcmp(role, "member") == 0 ? "base member" : "base branch";
    } else if (defn_name && strcmp(in, defn_name) != 0) {
        return sch_printf(s, "%s '%s' of type '%s'", role, m->pub.name, in);
    }
    return sch_printf(s, "%s '%s'", role, m->pub.name);
}

static bool add_entity(Schema *s, SchEntKind kind, const char *name, void *ent,
                       const SchemaPos *pos, GError **err)
{
    SchEntity *old = g_hash_table_lookup(s->entities, name), *e;

    if (old) {
        const SchemaType *t = old->kind == SCH_ENT_TYPE ? old->ent : NULL;
        const SchemaPos *prev = t                              ? &t->pos
                                : old->kind == SCH_ENT_COMMAND ? &((SchCommand *)old->ent)->pos
                                                               : &((SchEvent *)old->ent)->pos;
        if (prev->file)
            sch_error(err, pos, "'%s' is already defined\n%s:%d:%d: previous definition", name,
                      prev->file, prev->line, prev->col);
        else
            sch_error(err, pos, "%s is already defined", sch_type_describe(s, t));
        return false;
    }
    e = sch_alloc(s, sizeof(*e));
    e->kind = kind;
    e->name = name;
    e->ent = ent;
    g_hash_table_insert(s->entities, (gpointer)name, e);
    g_ptr_array_add(s->order, e);
    return true;
}

/* Context of the definition being turned into entities. */
typedef struct {
    Schema *s;
    const SchExpr *e;
    const char *meta;
    const char *name;
    GError **err;
} Def;

static SchemaType *new_type(Def *d, SchemaMeta meta, const char *name)
{
    SchemaType *t = sch_alloc(d->s, sizeof(*t));

    t->meta = meta;
    t->name = t->display = name;
    t->active = true;
    if (d->e) {
        t->pos = d->e->pos;
        t->defn_meta = d->meta;
        t->defn_name = d->name;
    }
    return t;
}

static bool def_type(Def *d, SchemaType *t)
{
    return add_entity(d->s, SCH_ENT_TYPE, t->name, t, &t->pos, d->err);
}

/* "ElemList", defined at its first use. */
static const char *make_array(Def *d, const char *elem)
{
    const char *name = sch_printf(d->s, "%sList", elem);
    SchemaType *t;

    if (!sch_lookup_type(d->s, name)) {
        t = new_type(d, SCHEMA_META_ARRAY, name);
        t->display = sch_printf(d->s, "['%s']", elem);
        t->elem_ref = elem;
        t->implicit = true;
        def_type(d, t); /* cannot clash: user names may not end in "List" */
    }
    return name;
}

static SchFlag *make_flags(Def *d, const QVal *list, size_t *n)
{
    SchFlag *f;

    *n = list ? list->n : 0;
    if (!*n)
        return NULL;
    f = sch_alloc(d->s, *n * sizeof(*f));
    for (size_t i = 0; i < *n; i++) {
        const QVal *v = list->items[i];
        const QVal *ifv = v->kind == QV_DICT ? qv_get(v, "if") : NULL;
        f[i].name = v->kind == QV_DICT ? qv_get(v, "name")->str : v->str;
        f[i].active = sch_cond_holds(d->s, ifv);
        f[i].has_if = ifv != NULL;
    }
    return f;
}

/* A member written as `key: value` ('*' marks optional ones). */
static SchMember *make_member(Def *d, const char *key, const QVal *v, const char *defined_in,
                              const char *role)
{
    SchMember *m = sch_alloc(d->s, sizeof(*m));
    const QVal *type = v->kind == QV_DICT ? qv_get(v, "type") : v;
    const QVal *ifv = v->kind == QV_DICT ? qv_get(v, "if") : NULL;

    m->pub.optional = key[0] == '*' && strcmp(role, "member") == 0;
    m->pub.name = m->pub.optional ? key + 1 : key;
    m->type_ref = type->kind == QV_LIST ? make_array(d, type->items[0]->str) : type->str;
    m->defined_in = defined_in;
    m->role = role;
    m->active = sch_cond_holds(d->s, ifv);
    m->has_if = ifv != NULL;
    m->pos = v->pos;
    if (v->kind == QV_DICT)
        m->features = make_flags(d, qv_get(v, "features"), &m->nfeatures);
    return m;
}

static SchMember **make_members(Def *d, const QVal *dict, const char *defined_in, size_t *n)
{
    GPtrArray *a = g_ptr_array_new();
    SchMember **v;

    for (size_t i = 0; i < dict->n; i++)
        g_ptr_array_add(a, make_member(d, dict->keys[i], dict->items[i], defined_in, "member"));
    v = (SchMember **)sch_ptrs(d->s, a, n);
    g_ptr_array_free(a, TRUE);
    return v;
}

/* "q_obj_NAME-ROLE" holding a dict's members; NULL for an empty dict.  Simple-union
 * wrappers are shared by every union wrapping the same type. */
static SchemaType *make_implicit_object(Def *d, const char *owner, const char *role,
                                        const QVal *dict, bool active)
{
    const char *name = sch_printf(d->s, "q_obj_%s-%s", owner, role);
    SchemaType *t = sch_lookup_type(d->s, name);

    if (!dict->n)
        return NULL;
    if (t)
        return t;
    t = new_type(d, SCHEMA_META_OBJECT, name);
    t->implicit = true;
    t->active = active;
    t->local = make_members(d, dict, name, &t->nlocal);
    return def_type(d, t) ? t : NULL;
}

static void def_enum_values(Def *d, SchemaType *t, const QVal *data)
{
    t->nvalues = data->n;
    t->values = sch_alloc(d->s, (data->n + 1) * sizeof(SchFlag));
    for (size_t i = 0; i < data->n; i++) {
        const QVal *v = data->items[i];
        const QVal *ifv = v->kind == QV_DICT ? qv_get(v, "if") : NULL;
        t->values[i].name = v->kind == QV_DICT ? qv_get(v, "name")->str : v->str;
        t->values[i].active = sch_cond_holds(d->s, ifv);
        t->values[i].has_if = ifv != NULL;
    }
}

static bool def_enum(Def *d, const QVal *expr, SchemaType *t)
{
    const QVal *prefix = qv_get(expr, "prefix");

    def_enum_values(d, t, qv_get(expr, "data"));
    t->prefix = prefix ? prefix->str : NULL;
    return def_type(d, t);
}

static bool def_struct(Def *d, const QVal *expr, SchemaType *t)
{
    const QVal *base = qv_get(expr, "base");

    t->base_ref = base ? base->str : NULL;
    t->local = make_members(d, qv_get(expr, "data"), t->name, &t->nlocal);
    return def_type(d, t);
}

static SchMember *make_variant(Def *d, const char *key, const QVal *v, const char *owner)
{
    return make_member(d, key, v, owner, "branch");
}

/* A simple union's branch: its type wrapped in "q_obj_TYPE-wrapper" { 'data': TYPE }. */
static SchMember *make_simple_variant(Def *d, const char *key, const QVal *v, const char *owner)
{
    SchMember *var = make_member(d, key, v, owner, "branch");
    QVal *dict = sch_alloc(d->s, sizeof(*dict)), *type = sch_alloc(d->s, sizeof(*type));
    SchemaType *w;

    type->kind = QV_STR;
    type->str = var->type_ref;
    type->pos = v->pos;
    dict->kind = QV_DICT;
    dict->n = 1;
    dict->keys = sch_alloc(d->s, sizeof(char *));
    dict->items = sch_alloc(d->s, sizeof(QVal *));
    dict->keys[0] = "data";
    dict->items[0] = type;
    w = make_implicit_object(d, var->type_ref, "wrapper", dict, true);
    if (!w)
        return NULL;
    if (!w->local[0]->describe_as) /* QEMU cannot describe wrapper members: name the branch */
        w->local[0]->describe_as = sch_printf(d->s, "branch '%s'", key);
    w->wrapped_ref = var->type_ref;
    var->type_ref = w->name;
    return var;
}

static bool def_union_kind(Def *d, SchemaType *u, const QVal *ifv)
{
    SchemaType *kind = new_type(d, SCHEMA_META_ENUM, sch_printf(d->s, "%sKind", u->name));
    SchMember *tag = sch_alloc(d->s, sizeof(*tag));

    kind->implicit = true;
    kind->active = sch_cond_holds(d->s, ifv);
    kind->nvalues = u->nvariants;
    kind->values = sch_alloc(d->s, (u->nvariants + 1) * sizeof(SchFlag));
    for (size_t i = 0; i < u->nvariants; i++) {
        kind->values[i].name = u->variants[i]->pub.name;
        kind->values[i].active = u->variants[i]->active;
        kind->values[i].has_if = u->variants[i]->has_if;
    }
    tag->pub.name = "type";
    tag->type_ref = kind->name;
    tag->defined_in = u->name;
    tag->role = "member";
    tag->active = true;
    tag->pos = u->pos;
    u->tag = tag;
    u->local = sch_alloc(d->s, sizeof(SchMember *));
    u->local[0] = tag;
    u->nlocal = 1;
    return def_type(d, kind);
}

static bool def_union(Def *d, const QVal *expr, SchemaType *t)
{
    const QVal *base = qv_get(expr, "base"), *disc = qv_get(expr, "discriminator");
    const QVal *data = qv_get(expr, "data");
    GPtrArray *vars = g_ptr_array_new();
    bool ok = true;

    if (base && base->kind == QV_DICT) {
        SchemaType *b = make_implicit_object(d, t->name, "base", base, t->active);
        ok = b != NULL || !*d->err;
        t->base_ref = b ? b->name : NULL;
    } else {
        t->base_ref = base ? base->str : NULL;
    }
    t->tag_name = disc ? disc->str : NULL;
    for (size_t i = 0; ok && i < data->n; i++) {
        SchMember *v = disc ? make_variant(d, data->keys[i], data->items[i], t->name)
                            : make_simple_variant(d, data->keys[i], data->items[i], t->name);
        ok = v != NULL;
        g_ptr_array_add(vars, v);
    }
    t->variants = (SchMember **)sch_ptrs(d->s, vars, &t->nvariants);
    g_ptr_array_free(vars, TRUE);
    if (ok && !disc)
        ok = def_union_kind(d, t, qv_get(expr, "if"));
    return ok && def_type(d, t);
}

static bool def_alternate(Def *d, const QVal *expr, SchemaType *t)
{
    const QVal *data = qv_get(expr, "data");

    t->nvariants = data->n;
    t->variants = sch_alloc(d->s, data->n * sizeof(SchMember *));
    for (size_t i = 0; i < data->n; i++)
        t->variants[i] = make_variant(d, data->keys[i], data->items[i], t->name);
    return def_type(d, t);
}

static const char **active_features(Schema *s, const SchFlag *f, size_t n)
{
    const char **v = sch_alloc(s, (n + 1) * sizeof(char *));
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        if (f[i].active)
            v[k++] = f[i].name;
    return v;
}

/* 'data' of a command or event: a type name, or a dict made into "q_obj_NAME-arg". */
static const char *arg_ref(Def *d, const QVal *data, bool active, bool *ok)
{
    SchemaType *t;

    *ok = true;
    if (!data || data->kind != QV_DICT)
        return data ? data->str : NULL;
    t = make_implicit_object(d, d->name, "arg", data, active);
    *ok = t != NULL || !*d->err;
    return t ? t->name : NULL;
}

static bool def_command(Def *d, const QVal *expr)
{
    SchCommand *c = sch_alloc(d->s, sizeof(*c));
    const QVal *rets = qv_get(expr, "returns"), *v;
    bool ok;

    c->pub.name = d->name;
    c->pos = d->e->pos;
    c->module = d->e->module;
    c->active = sch_cond_holds(d->s, qv_get(expr, "if"));
    c->arg_ref = arg_ref(d, qv_get(expr, "data"), c->active, &ok);
    if (rets)
        c->ret_ref = rets->kind == QV_LIST ? make_array(d, rets->items[0]->str) : rets->str;
    c->gen = !(v = qv_get(expr, "gen")) || v->b;
    c->pub.success_response = !(v = qv_get(expr, "success-response")) || v->b;
    c->pub.boxed = (v = qv_get(expr, "boxed")) && v->b;
    c->pub.allow_oob = (v = qv_get(expr, "allow-oob")) && v->b;
    c->pub.allow_preconfig = (v = qv_get(expr, "allow-preconfig")) && v->b;
    c->features = make_flags(d, qv_get(expr, "features"), &c->nfeatures);
    c->pub.features = active_features(d->s, c->features, c->nfeatures);
    if (!ok || !add_entity(d->s, SCH_ENT_COMMAND, c->pub.name, c, &c->pos, d->err))
        return false;
    g_ptr_array_add(d->s->commands, c);
    return true;
}

static bool def_event(Def *d, const QVal *expr)
{
    SchEvent *ev = sch_alloc(d->s, sizeof(*ev));
    const QVal *v;
    bool ok;

    ev->pub.name = d->name;
    ev->pos = d->e->pos;
    ev->module = d->e->module;
    ev->active = sch_cond_holds(d->s, qv_get(expr, "if"));
    ev->arg_ref = arg_ref(d, qv_get(expr, "data"), ev->active, &ok);
    ev->pub.boxed = (v = qv_get(expr, "boxed")) && v->b;
    ev->features = make_flags(d, qv_get(expr, "features"), &ev->nfeatures);
    if (!ok || !add_entity(d->s, SCH_ENT_EVENT, ev->pub.name, ev, &ev->pos, d->err))
        return false;
    g_ptr_array_add(d->s->events, ev);
    return true;
}

static bool def_type_expr(Def *d, const QVal *expr)
{
    static const SchemaMeta metas[] = { SCHEMA_META_ENUM, SCHEMA_META_OBJECT, SCHEMA_META_OBJECT,
                                        SCHEMA_META_ALTERNATE };
    static const char *const names[] = { "enum", "struct", "union", "alternate" };
    const QVal *ifv = qv_get(expr, "if");
    SchemaType *t;
    size_t k = 0;

    while (strcmp(names[k], d->meta) != 0)
        k++;
    t = new_type(d, metas[k], d->name);
    t->active = sch_cond_holds(d->s, ifv);
    t->has_if = ifv != NULL;
    t->features = make_flags(d, qv_get(expr, "features"), &t->nfeatures);
    switch (k) {
    case 0: return def_enum(d, expr, t);
    case 1: return def_struct(d, expr, t);
    case 2: return def_union(d, expr, t);
    default: return def_alternate(d, expr, t);
    }
}

bool sch_def_expr(Schema *s, const SchExpr *e, GError **err)
{
    static const char *const metas[] = {
        "enum", "union", "alternate", "struct", "command", "event"
    };
    GError *local = NULL;
    Def d = { s, e, NULL, NULL, &local };
    bool ok;

    for (size_t i = 0; !d.meta && i < G_N_ELEMENTS(metas); i++)
        if (qv_get(e->expr, metas[i]))
            d.meta = metas[i];
    d.name = qv_get(e->expr, d.meta)->str;
    if (strcmp(d.meta, "command") == 0)
        ok = def_command(&d, e->expr);
    else if (strcmp(d.meta, "event") == 0)
        ok = def_event(&d, e->expr);
    else
        ok = def_type_expr(&d, e->expr);
    if (local)
        g_propagate_error(err, local);
    return ok && !local;
}

void sch_def_predefined(Schema *s)
{
    static const char *const qtypes[] = { "none",  "qnull", "qnum", "qstring",
                                          "qdict", "qlist", "qbool" };
    GError *err = NULL;
    Def d = { s, NULL, NULL, NULL, &err };
    SchemaType *t;

    for (size_t i = 0; i < G_N_ELEMENTS(builtins); i++) {
        t = new_type(&d, SCHEMA_META_BUILTIN, builtins[i].name);
        t->builtin = builtins[i].kind;
        t->json_type = builtins[i].json_type;
        def_type(&d, t);
        make_array(&d, t->name);
    }
    s->t_int = sch_lookup_type(s, "int");
    s->empty = t = new_type(&d, SCHEMA_META_OBJECT, "q_empty");
    t->implicit = true;
    def_type(&d, t);
    t = new_type(&d, SCHEMA_META_ENUM, "QType");
    t->implicit = true;
    t->prefix = "QTYPE";
    t->nvalues = G_N_ELEMENTS(qtypes);
    t->values = sch_alloc(s, t->nvalues * sizeof(SchFlag));
    for (size_t i = 0; i < t->nvalues; i++)
        t->values[i] = (SchFlag){ qtypes[i], true, false };
    def_type(&d, t);
    g_assert(!err);
}
