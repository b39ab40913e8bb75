/* schema_validate: checking QMP arguments against the schema, as QEMU 5.0 does.
 *
 * Reproduces what a QEMU 5.0 generated marshaller does with the QObject input visitor
 * (qapi/qobject-input-visitor.c, qapi/qapi-visit-core.c, scripts/qapi/visit.py and
 * commands.py): members are visited in schema order (base, own, then the selected
 * branch's), a nested object is checked for unexpected keys when its visit ends, the first
 * error wins, and every text is QEMU's:
 *   "Parameter '%s' is missing"                   absent mandatory member  (full name)
 *   "Parameter '%s' is unexpected"                unknown key               (full name)
 *   "Invalid parameter type for '%s', expected: %s"  integer, number, boolean, string,
 *                                                 object, array, null      (full name)
 *   "Parameter '%s' expects uint64"               uint64/size not a number (full name)
 *   "Parameter '%s' expects %s"                   intN/uintN out of range: int8_t ...
 *                                                 uint32_t                  (bare name)
 *   "Invalid parameter '%s'"                      unknown enum value        (the value)
 *   "Invalid parameter type for '%s', expected: %s"  alternate: its type name (bare name)
 * Full names are QEMU's: "capabilities[0].state"; bare names are what QEMU passes along
 * unqualified ("null" for list elements).
 *
 * When several keys are unexpected QEMU reports the first one its hash table yields: the
 * keys enter a GHashTable in QDict bucket order, so that order is rebuilt here (only on
 * that error path) to name the same key. */
#include "schema_int.h"
#include "mb_error.h"

#include <string.h>

#define MAX_DEPTH     128
#define QDICT_BUCKETS 512

typedef struct {
    const char *name; /* of the container in its parent; NULL for list elements, root */
    bool is_list;
    unsigned index; /* list: the element being visited */
} Frame;

typedef struct {
    GError **err;
    Frame frames[MAX_DEPTH];
    int depth;
} Vctx;

/* Where a value lives, so that a normalised value can replace it. */
typedef struct {
    json_object *parent; /* object or array; NULL at the root */
    const char *key;
    size_t idx;
} Slot;

/* ---- names and errors ---- */

/* QEMU's full_name(): the path of `name` inside the containers being visited. */
static char *full_name(const Vctx *c, const char *name)
{
    GString *g = g_string_new(NULL);

    for (int i = c->depth - 1; i >= 0; i--) {
        const Frame *f = &c->frames[i];
        if (!f->is_list) {
            g_string_prepend(g, name ? name : "<anonymous>");
            g_string_prepend_c(g, '.');
        } else {
            char buf[32];
            g_snprintf(buf, sizeof(buf), "[%u]", f->index);
            g_string_prepend(g, buf);
        }
        name = f->name;
    }
    if (name)
        g_string_prepend(g, name);
    else if (g->str[0] == '.')
        g_string_erase(g, 0, 1);
    else if (!g->len)
        g_string_assign(g, "<anonymous>");
    return g_string_free(g, FALSE);
}

/* The messages that name a member by its full name. */
typedef enum { E_MISSING, E_UNEXPECTED, E_TYPE, E_EXPECTS, E_DEPTH } ErrKind;

static bool fail_full(Vctx *c, ErrKind kind, const char *name, const char *what)
{
    char *full = full_name(c, name);

    switch (kind) {
    case E_MISSING: mb_error_set(c->err, "Parameter '%s' is missing", full); break;
    case E_UNEXPECTED: mb_error_set(c->err, "Parameter '%s' is unexpected", full); break;
    case E_TYPE:
        mb_error_set(c->err, "Invalid parameter type for '%s', expected: %s", full, what);
        break;
    case E_EXPECTS: mb_error_set(c->err, "Parameter '%s' expects %s", full, what); break;
    default: mb_error_set(c->err, "Parameter '%s' is nested too deeply", full); break;
    }
    g_free(full);
    return false;
}

static bool type_error(Vctx *c, const char *name, const char *expected)
{
    return fail_full(c, E_TYPE, name, expected);
}

static bool push(Vctx *c, const char *name, bool is_list)
{
    if (c->depth == MAX_DEPTH)
        return fail_full(c, E_DEPTH, name, NULL);
    c->frames[c->depth++] = (Frame){ name, is_list, 0 };
    return true;
}

/* ---- scalars ---- */

typedef enum { NUM_NONE, NUM_I64, NUM_U64, NUM_DOUBLE } NumKind;

/* json-c keeps integers above INT64_MAX as uint64 objects; QEMU as QNUM_U64. */
static NumKind num_kind(json_object *v, int64_t *i)
{
    if (json_object_is_type(v, json_type_int)) {
        *i = json_object_get_int64(v);
        if (*i == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
            return NUM_U64;
        return NUM_I64;
    }
    return json_object_is_type(v, json_type_double) ? NUM_DOUBLE : NUM_NONE;
}

static void replace(const Slot *slot, json_object *nv)
{
    if (!slot->parent)
        json_object_put(nv); /* a root value cannot be replaced */
    else if (slot->key)
        json_object_object_add(slot->parent, slot->key, nv);
    else
        json_object_array_put_idx(slot->parent, slot->idx, nv);
}

static bool visit_int(Vctx *c, SchBuiltin kind, const char *name, json_object *v)
{
    static const struct {
        int64_t min, max;
        const char *type;
    } range[] = {
        [SB_INT8] = { INT8_MIN, INT8_MAX, "int8_t" },
        [SB_INT16] = { INT16_MIN, INT16_MAX, "int16_t" },
        [SB_INT32] = { INT32_MIN, INT32_MAX, "int32_t" },
    };
    int64_t i;

    if (num_kind(v, &i) != NUM_I64)
        return type_error(c, name, "integer");
    if ((kind == SB_INT8 || kind == SB_INT16 || kind == SB_INT32) &&
        (i < range[kind].min || i > range[kind].max)) {
        mb_error_set(c->err, "Parameter '%s' expects %s", name ? name : "null", range[kind].type);
        return false;
    }
    return true;
}

static bool visit_uint(Vctx *c, SchBuiltin kind, const char *name, json_object *v, const Slot *slot)
{
    static const struct {
        uint64_t max;
        const char *type;
    } range[] = {
        [SB_UINT8] = { UINT8_MAX, "uint8_t" },
        [SB_UINT16] = { UINT16_MAX, "uint16_t" },
        [SB_UINT32] = { UINT32_MAX, "uint32_t" },
    };
    int64_t i;
    NumKind k = num_kind(v, &i);
    uint64_t u;

    if (k != NUM_I64 && k != NUM_U64)
        return fail_full(c, E_EXPECTS, name, "uint64");
    u = k == NUM_U64 ? json_object_get_uint64(v) : (uint64_t)i; /* negatives wrap, as QEMU */
    if (kind == SB_UINT8 || kind == SB_UINT16 || kind == SB_UINT32) {
        if (u > range[kind].max) {
            mb_error_set(c->err, "Parameter '%s' expects %s", name ? name : "null",
                         range[kind].type);
            return false;
        }
    } else if (k == NUM_I64 && i < 0) {
        replace(slot, json_object_new_uint64(u));
    }
    return true;
}

static bool visit_builtin(Vctx *c, const SchemaType *t, const char *name, json_object *v,
                          const Slot *slot)
{
    int64_t i;

    switch (t->builtin) {
    case SB_STR: return json_object_is_type(v, json_type_string) || type_error(c, name, "string");
    case SB_NUMBER: return num_kind(v, &i) != NUM_NONE || type_error(c, name, "number");
    case SB_BOOL:
        return json_object_is_type(v, json_type_boolean) || type_error(c, name, "boolean");
    case SB_NULL: return v == NULL || type_error(c, name, "null");
    case SB_ANY: return true;
    case SB_UINT8:
    case SB_UINT16:
    case SB_UINT32:
    case SB_UINT64:
    case SB_SIZE: return visit_uint(c, t->builtin, name, v, slot);
    default: return visit_int(c, t->builtin, name, v);
    }
}

static bool visit_enum(Vctx *c, const SchemaType *t, const char *name, json_object *v)
{
    const char *str;

    if (!json_object_is_type(v, json_type_string))
        return type_error(c, name, "string");
    str = json_object_get_string(v);
    if (schema_enum_lookup(t, str) < 0) {
        mb_error_set(c->err, "Invalid parameter '%s'", str);
        return false;
    }
    return true;
}

/* ---- containers ---- */

static bool visit(Vctx *c, const SchemaType *t, const char *name, json_object *v, bool present,
                  const Slot *slot);

static bool visit_list(Vctx *c, const SchemaType *t, const char *name, json_object *v)
{
    size_t n;

    if (!json_object_is_type(v, json_type_array))
        return type_error(c, name, "array");
    if (!push(c, name, true))
        return false;
    n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        Slot slot = { v, NULL, i };
        c->frames[c->depth - 1].index = (unsigned)i;
        if (!visit(c, t->elem, NULL, json_object_array_get_idx(v, i), true, &slot))
            return false;
    }
    c->depth--;
    return true;
}

static const SchMember *selected_branch(const SchemaType *t, json_object *dict)
{
    json_object *tag = NULL;
    const char *value;

    if (!json_object_object_get_ex(dict, t->tag->pub.name, &tag))
        return NULL;
    value = json_object_get_string(tag);
    for (size_t i = 0; i < t->nvariants; i++)
        if (t->variants[i]->active && strcmp(t->variants[i]->pub.name, value) == 0)
            return t->variants[i];
    return NULL;
}

/* Visits the members of object type `t` in `dict` (NULL: no keys); counts the keys used. */
static bool visit_members(Vctx *c, const SchemaType *t, json_object *dict, size_t *used)
{
    const SchMember *branch;

    for (size_t i = 0; i < t->nmembers; i++) {
        const SchMember *m = t->members[i];
        json_object *v = NULL;
        bool present;
        Slot slot = { dict, m->pub.name, 0 };
        if (!m->active)
            continue;
        present = dict && json_object_object_get_ex(dict, m->pub.name, &v);
        if (!present && m->pub.optional)
            continue;
        if (!visit(c, m->pub.type, m->pub.name, v, present, &slot))
            return false;
        (*used)++;
    }
    if (t->tag && (branch = selected_branch(t, dict)))
        return visit_members(c, branch->pub.type, dict, used);
    return true;
}

/* QEMU's qdict bucket hash (tdb_hash from gdbm, via module-init-tools). */
static unsigned qdict_hash(const char *name)
{
    unsigned value = 0x238F13AFu * (unsigned)strlen(name);

    for (unsigned i = 0; name[i]; i++)
        value = value + ((unsigned)(unsigned char)name[i] << (i * 5 % 24));
    return 1103515243u * value + 12345u;
}

typedef struct {
    const char *key;
    unsigned bucket;
    size_t seq;
} QdKey;

static int qd_cmp(const void *a, const void *b)
{
    const QdKey *x = a, *y = b;
    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    return x->seq < y->seq ? 1 : -1; /* each bucket lists the newest key first */
}

/* Removes from `h` the keys the visit consumed, in visiting order. */
static void drop_used(const SchemaType *t, json_object *dict, GHashTable *h)
{
    const SchMember *branch;

    for (size_t i = 0; i < t->nmembers; i++)
        if (t->members[i]->active)
            g_hash_table_remove(h, t->members[i]->pub.name);
    if (t->tag && (branch = selected_branch(t, dict)))
        drop_used(branch->pub.type, dict, h);
}

/* The unexpected key QEMU's check_struct would name. */
static char *first_unexpected(const SchemaType *t, json_object *dict)
{
    size_t n = (size_t)json_object_object_length(dict), k = 0;
    QdKey *keys = g_new(QdKey, n);
    GHashTable *h = g_hash_table_new(g_str_hash, g_str_equal);
    GHashTableIter it;
    gpointer key = NULL;
    char *result;

    json_object_object_foreach(dict, name, val)
    {
        (void)val;
        keys[k] = (QdKey){ name, qdict_hash(name) % QDICT_BUCKETS, k };
        k++;
    }
    qsort(keys, n, sizeof(*keys), qd_cmp);
    for (size_t i = 0; i < n; i++)
        g_hash_table_add(h, (gpointer)keys[i].key);
    if (t)
        drop_used(t, dict, h);
    g_hash_table_iter_init(&it, h);
    g_hash_table_iter_next(&it, &key, NULL);
    result = g_strdup(key);
    g_hash_table_destroy(h);
    g_free(keys);
    return result;
}

static bool check_struct(Vctx *c, const SchemaType *t, json_object *dict, size_t used)
{
    char *key;
    bool ok;

    if (!dict || (size_t)json_object_object_length(dict) == used)
        return true;
    key = first_unexpected(t, dict);
    ok = fail_full(c, E_UNEXPECTED, key, NULL);
    g_free(key);
    return ok;
}

static bool visit_object(Vctx *c, const SchemaType *t, const char *name, json_object *v)
{
    size_t used = 0;

    if (!json_object_is_type(v, json_type_object))
        return type_error(c, name, "object");
    if (!push(c, name, false))
        return false;
    if (!visit_members(c, t, v, &used) || !check_struct(c, t, v, used))
        return false;
    c->depth--;
    return true;
}

/* The JSON type an alternate branch takes, as a json_type. */
static int branch_json_type(const SchemaType *t)
{
    if (t->meta == SCHEMA_META_ENUM)
        return json_type_string;
    if (t->meta == SCHEMA_META_OBJECT)
        return json_type_object;
    switch (t->builtin) {
    case SB_STR: return json_type_string;
    case SB_BOOL: return json_type_boolean;
    case SB_NULL: return json_type_null;
    default: return json_type_int; /* numbers */
    }
}

static bool visit_alternate(Vctx *c, const SchemaType *t, const char *name, json_object *v,
                            const Slot *slot)
{
    int jt = json_object_get_type(v);

    if (jt == json_type_double)
        jt = json_type_int;
    for (size_t i = 0; i < t->nvariants; i++) {
        const SchMember *b = t->variants[i];
        if (b->active && branch_json_type(b->pub.type) == jt)
            return visit(c, b->pub.type, name, v, true, slot);
    }
    mb_error_set(c->err, "Invalid parameter type for '%s', expected: %s", name ? name : "null",
                 t->name);
    return false;
}

static bool visit(Vctx *c, const SchemaType *t, const char *name, json_object *v, bool present,
                  const Slot *slot)
{
    if (!present) {
        return fail_full(c, E_MISSING, name, NULL);
    }
    switch (t->meta) {
    case SCHEMA_META_BUILTIN: return visit_builtin(c, t, name, v, slot);
    case SCHEMA_META_ENUM: return visit_enum(c, t, name, v);
    case SCHEMA_META_ARRAY: return visit_list(c, t, name, v);
    case SCHEMA_META_OBJECT: return visit_object(c, t, name, v);
    default: return visit_alternate(c, t, name, v, slot);
    }
}

/* ---- entry points ---- */

bool schema_validate_args(const Schema *s, const SchemaCommand *cmd, json_object *args,
                          GError **err)
{
    Vctx c = { .err = err };
    size_t used = 0;

    g_return_val_if_fail(s && s->finished && cmd, false);
    if (args && !json_object_is_type(args, json_type_object)) {
        mb_error_set(err, "QMP input member 'arguments' must be an object");
        return false;
    }
    push(&c, NULL, false);
    if (cmd->args && !visit_members(&c, cmd->args, args, &used))
        return false;
    return check_struct(&c, cmd->args, args, used);
}

bool schema_validate_value(const Schema *s, const SchemaType *t, json_object *v, const char *path,
                           GError **err)
{
    Vctx c = { .err = err };
    Slot root = { 0 };

    g_return_val_if_fail(s && s->finished && t, false);
    return visit(&c, t, path, v, true, &root);
}
