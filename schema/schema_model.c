/* schema_model: schema_finish and the read-only lookup API over a finished schema.
 *
 * Lookups see the schema as a QEMU built with the schema's defines would: entities,
 * members and enum values whose 'if' condition is false are absent.  Array types are
 * reached through members and elements only, never by name. */
#include "schema_int.h"

#include <string.h>

bool schema_finish(Schema *s, GError **err)
{
    g_return_val_if_fail(s, false);
    if (s->failed || s->finished) {
        sch_error(err, NULL, "%s",
                  s->failed ? "schema is unusable after an earlier error"
                            : "schema is already finished");
        return false;
    }
    if (!sch_check_all(s, err)) {
        s->failed = true;
        return false;
    }
    s->finished = true;
    return true;
}

static SchEntity *find_active(const Schema *s, const char *name, SchEntKind kind)
{
    SchEntity *e;

    if (!s || !s->finished || !name)
        return NULL;
    e = g_hash_table_lookup(s->entities, name);
    if (!e || e->kind != kind)
        return NULL;
    switch (kind) {
    case SCH_ENT_TYPE: {
        const SchemaType *t = e->ent;
        return t->active && t->meta != SCHEMA_META_ARRAY ? e : NULL;
    }
    case SCH_ENT_COMMAND: return ((SchCommand *)e->ent)->active ? e : NULL;
    default: return ((SchEvent *)e->ent)->active ? e : NULL;
    }
}

const SchemaCommand *schema_find_command(const Schema *s, const char *name)
{
    SchEntity *e = find_active(s, name, SCH_ENT_COMMAND);
    return e ? &((SchCommand *)e->ent)->pub : NULL;
}

const SchemaEvent *schema_find_event(const Schema *s, const char *name)
{
    SchEntity *e = find_active(s, name, SCH_ENT_EVENT);
    return e ? &((SchEvent *)e->ent)->pub : NULL;
}

const SchemaType *schema_find_type(const Schema *s, const char *name)
{
    SchEntity *e = find_active(s, name, SCH_ENT_TYPE);
    return e ? e->ent : NULL;
}

size_t schema_command_count(const Schema *s)
{
    return s && s->finished ? s->act_commands->len : 0;
}

const SchemaCommand *schema_command_at(const Schema *s, size_t i)
{
    return i < schema_command_count(s) ? g_ptr_array_index(s->act_commands, i) : NULL;
}

size_t schema_event_count(const Schema *s)
{
    return s && s->finished ? s->act_events->len : 0;
}

const SchemaEvent *schema_event_at(const Schema *s, size_t i)
{
    return i < schema_event_count(s) ? g_ptr_array_index(s->act_events, i) : NULL;
}

const char *schema_type_name(const SchemaType *t)
{
    return t ? t->display : NULL;
}

SchemaMeta schema_type_meta(const SchemaType *t)
{
    g_return_val_if_fail(t, SCHEMA_META_BUILTIN);
    return t->meta;
}

const SchemaType *schema_type_element(const SchemaType *t)
{
    return t && t->meta == SCHEMA_META_ARRAY ? t->elem : NULL;
}

size_t schema_enum_count(const SchemaType *t)
{
    return t && t->meta == SCHEMA_META_ENUM ? t->nactive_values : 0;
}

const char *schema_enum_value(const SchemaType *t, size_t i)
{
    return i < schema_enum_count(t) ? t->active_values[i] : NULL;
}

int schema_enum_lookup(const SchemaType *t, const char *value)
{
    for (size_t i = 0; value && i < schema_enum_count(t); i++)
        if (strcmp(t->active_values[i], value) == 0)
            return (int)i;
    return -1;
}

size_t schema_object_member_count(const SchemaType *t)
{
    return t && t->meta == SCHEMA_META_OBJECT ? t->npub : 0;
}

const SchemaMember *schema_object_member(const SchemaType *t, size_t i)
{
    return i < schema_object_member_count(t) ? &t->pub[i] : NULL;
}

const SchemaMember *schema_object_find_member(const SchemaType *t, const char *name)
{
    for (size_t i = 0; name && i < schema_object_member_count(t); i++)
        if (strcmp(t->pub[i].name, name) == 0)
            return &t->pub[i];
    return NULL;
}

bool schema_enum_has(const Schema *s, const char *enum_name, const char *value)
{
    const SchemaType *t = schema_find_type(s, enum_name);
    return t && t->meta == SCHEMA_META_ENUM && schema_enum_lookup(t, value) >= 0;
}
