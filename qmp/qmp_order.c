/* qmp_order: puts the members of a reply in the order QEMU's output visitor adds them.
 *
 * QEMU prints an object in QDict order (qmp_json_write.c): by hash bucket, and within a
 * bucket newest member first.  So when two members share a bucket ("micro" and "minor",
 * "status" and "singlestep"), the order in which they were added decides the bytes on the
 * wire.  QEMU's generated marshallers add members in the schema's declaration order (base
 * members first), so a reply is byte-identical to QEMU's only if its members were added
 * in that order too.  Rather than trusting every hand-built reply in every room, the
 * dispatcher re-adds the members of each return value and event in schema order here;
 * handlers can then build objects in whatever order reads best.
 *
 * Members the schema type does not list (the variant members of a union, whose branches
 * the public schema API does not expose) keep their relative order after the listed
 * ones, which is where QEMU's visitor adds them too. */
#include "qmp_int.h"

#include <string.h>

/* Whether the members of `obj` already come in the order they would be re-added in. */
static bool in_schema_order(const SchemaType *t, json_object *obj)
{
    size_t next = 0, n = schema_object_member_count(t);
    bool extra_seen = false;

    json_object_object_foreach(obj, k, v)
    {
        (void)v;
        size_t i = next;
        while (i < n && strcmp(schema_object_member(t, i)->name, k) != 0)
            i++;
        if (i == n) {
            /* Not found after the previous listed member: unlisted, or out of order. */
            if (schema_object_find_member(t, k))
                return false;
            extra_seen = true;
            continue;
        }
        if (extra_seen)
            return false; /* a listed member after an unlisted one */
        next = i + 1;
    }
    return true;
}

static void reorder_object(const SchemaType *t, json_object *obj)
{
    size_t n = schema_object_member_count(t), len = (size_t)json_object_object_length(obj);

    /* Nested objects first: their order does not depend on where they sit. */
    for (size_t i = 0; i < n; i++) {
        const SchemaMember *m = schema_object_member(t, i);
        json_object *v;
        if (json_object_object_get_ex(obj, m->name, &v))
            qmp_order_by_schema(m->type, v);
    }
    if (len < 2 || in_schema_order(t, obj))
        return;

    char **keys = g_new(char *, len);
    json_object **vals = g_new(json_object *, len);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const SchemaMember *m = schema_object_member(t, i);
        json_object *v;
        if (json_object_object_get_ex(obj, m->name, &v)) {
            keys[k] = g_strdup(m->name);
            vals[k++] = json_object_get(v);
        }
    }
    json_object_object_foreach(obj, key, val)
    {
        if (!schema_object_find_member(t, key)) {
            keys[k] = g_strdup(key);
            vals[k++] = json_object_get(val);
        }
    }
    g_assert(k == len);
    for (size_t i = 0; i < len; i++)
        json_object_object_del(obj, keys[i]);
    for (size_t i = 0; i < len; i++) {
        json_object_object_add(obj, keys[i], vals[i]); /* takes the reference */
        g_free(keys[i]);
    }
    g_free(keys);
    g_free(vals);
}

void qmp_order_by_schema(const SchemaType *t, json_object *v)
{
    if (!t || !v)
        return;
    switch (schema_type_meta(t)) {
    case SCHEMA_META_OBJECT:
        if (json_object_is_type(v, json_type_object))
            reorder_object(t, v);
        break;
    case SCHEMA_META_ARRAY:
        if (json_object_is_type(v, json_type_array)) {
            const SchemaType *el = schema_type_element(t);
            for (size_t i = 0; i < json_object_array_length(v); i++)
                qmp_order_by_schema(el, json_object_array_get_idx(v, i));
        }
        break;
    default:
        /* Scalars, enums, 'any' and alternates (whose branches are scalars in every
         * schema migbench serves) have no members to order. */
        break;
    }
}
