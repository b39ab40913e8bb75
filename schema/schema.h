/* schema: a QAPI schema engine (parser, type model, argument validation, introspection).
 *
 * QEMU describes its QMP API in the QAPI language (JSON-like, single-quoted, with '#'
 * comments); migbench serves whatever migration.json it is given, so the schema is data
 * read at start-up rather than code generated at build time.  This module knows nothing of
 * migration: it parses files, resolves types, evaluates 'if' conditions against a build
 * configuration, validates command arguments exactly as QEMU's QObject input visitor does
 * (same error texts), and produces query-qmp-schema / query-commands replies.
 *
 * Lifetime: a Schema is built once (schema_new, schema_load_*, schema_finish) and is then
 * read-only, so it may be shared between threads without locking. */
#ifndef SCHEMA_H
#define SCHEMA_H

#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct Schema Schema;
typedef struct SchemaType SchemaType;

/* Meta-types, as query-qmp-schema names them. */
typedef enum {
    SCHEMA_META_BUILTIN, /* str, int, int8..uint64, size, number, bool, null, any */
    SCHEMA_META_ENUM,    /* also the predefined QType, as in QEMU */
    SCHEMA_META_ARRAY,
    SCHEMA_META_OBJECT, /* struct, union (flat or simple), implicit arg/event objects */
    SCHEMA_META_ALTERNATE,
} SchemaMeta;

typedef struct {
    const char *name; /* member name without the '*' */
    const SchemaType *type;
    bool optional;
} SchemaMember;

typedef struct {
    const char *name;
    const SchemaType *args; /* an OBJECT type (possibly implicit), or NULL for no 'data' */
    const SchemaType *ret;  /* NULL when the command has no 'returns' */
    bool boxed;
    bool allow_oob;
    const char *const *features; /* NULL-terminated, possibly empty */
    bool allow_preconfig;        /* may run in QEMU's preconfig state */
    bool success_response;       /* false: the command sends no reply on success */
} SchemaCommand;

typedef struct {
    const char *name;
    const SchemaType *data; /* OBJECT type or NULL */
    bool boxed;
} SchemaEvent;

/* ---- construction ---- */

/* A new empty schema.  `defines` is a NULL-terminated list of the configuration symbols
 * that are true (e.g. "CONFIG_REPLICATION"); NULL means the default build configuration,
 * {"CONFIG_REPLICATION", "CONFIG_ZSTD", NULL}.  Conditions are evaluated when loading:
 * 'if': 'defined(X)' and the list form ['defined(A)', 'defined(B)'] (all must hold). */
Schema *schema_new(const char *const *defines);

/* Loads a file from disk.  'include' directives are resolved relative to the including
 * file's directory; when that file does not exist, the built-in bundle (below) is tried
 * with the include's base name, so QEMU's own migration.json loads without its siblings.
 * Each file is processed once even if included several times.  On a syntax or semantic
 * error returns false with err->message "FILE:LINE:COL: what was expected" and leaves the
 * schema unusable (free it). */
bool schema_load_file(Schema *s, const char *path, GError **err);

/* Loads a file of the built-in bundle (the .json files of schema/, compiled into the
 * binary): "core.json", "common.json", "sockets.json", "migration-5.0.json",
 * "migration-4.0-dev.json".  Includes resolve within the bundle. */
bool schema_load_builtin(Schema *s, const char *name, GError **err);

/* Loads QAPI text from memory (fuzzing, tests).  `name` is used in error locations;
 * includes resolve within the bundle. */
bool schema_load_buffer(Schema *s, const char *name, const char *text, size_t len, GError **err);

/* Resolves every type reference and checks the whole schema (unknown types, duplicate
 * names or members, bad union bases/discriminators, ...).  Must be called once, after the
 * last load and before any lookup. */
bool schema_finish(Schema *s, GError **err);

void schema_free(Schema *s);

/* The built-in bundle: returns the text of a bundled file, or NULL. */
const char *schema_builtin_text(const char *name, size_t *len);

/* ---- lookup (after schema_finish) ---- */

const SchemaCommand *schema_find_command(const Schema *s, const char *name);
const SchemaEvent *schema_find_event(const Schema *s, const char *name);
/* Named types only ("MigrationInfo", "str", ...). */
const SchemaType *schema_find_type(const Schema *s, const char *name);

/* Commands and events in definition order (conditions applied). */
size_t schema_command_count(const Schema *s);
const SchemaCommand *schema_command_at(const Schema *s, size_t i);
size_t schema_event_count(const Schema *s);
const SchemaEvent *schema_event_at(const Schema *s, size_t i);

const char *schema_type_name(const SchemaType *t); /* e.g. "MigrationInfo", "['str']" */
SchemaMeta schema_type_meta(const SchemaType *t);
/* For ARRAY: the element type. */
const SchemaType *schema_type_element(const SchemaType *t);
/* For ENUM: the active values in order (conditions applied). */
size_t schema_enum_count(const SchemaType *t);
const char *schema_enum_value(const SchemaType *t, size_t i);
/* Index of `value` in the enum, or -1. */
int schema_enum_lookup(const SchemaType *t, const char *value);
/* For OBJECT: all members, base members first (for unions: the common members only). */
size_t schema_object_member_count(const SchemaType *t);
const SchemaMember *schema_object_member(const SchemaType *t, size_t i);
const SchemaMember *schema_object_find_member(const SchemaType *t, const char *name);

/* Convenience: does enum type `enum_name` exist and contain `value`? */
bool schema_enum_has(const Schema *s, const char *enum_name, const char *value);

/* ---- validation ---- */

/* Validates the "arguments" object of a QMP command exactly as QEMU's generated marshaller
 * and QObject input visitor would, before any handler runs.  `args` may be NULL (no
 * "arguments" member); anything but a JSON object fails with "QMP input member 'arguments'
 * must be an object".  Members are checked in schema order, the first error wins, and
 * unexpected keys of an object are reported when its members are done.  Errors are
 * MB_ERROR / MB_ERR_GENERIC with QEMU's texts, e.g.
 *   "Parameter 'uri' is missing"
 *   "Parameter 'foo' is unexpected"
 *   "Invalid parameter type for 'value', expected: integer"   (also number, boolean,
 *                                                 string, object, array, null)
 *   "Parameter 'xbzrle-cache-size' expects uint64" (size/uint64 given a non-integer)
 *   "Parameter 'to' expects uint16_t"              (intN/uintN out of range; QEMU names
 *                                                 the member without its path here)
 *   "Invalid parameter 'bogus'"                     (unknown enum value: the value)
 *   "Invalid parameter type for 'tls-creds', expected: StrOrNull"   (no alternate branch)
 *   "Parameter 'capabilities[0].state' is missing"  (nested paths as QEMU prints them)
 * Normalises in place what QEMU's visitor converts: a negative integer given for a 'size'
 * or 'uint64' member is replaced by its uint64 wrap-around (json_object_new_uint64). */
bool schema_validate_args(const Schema *s, const SchemaCommand *cmd, json_object *args,
                          GError **err);

/* Validates any value against a type, as visit_type_T(v, path, ...) would in QEMU; `path`
 * is the name used in messages (NULL: "<anonymous>").  Values inside `v` are normalised
 * like schema_validate_args does; `v` itself cannot be replaced and is left as it is. */
bool schema_validate_value(const Schema *s, const SchemaType *t, json_object *v, const char *path,
                           GError **err);

/* ---- introspection ---- */

/* The return value of query-qmp-schema: a new JSON array of SchemaInfo objects in QEMU's
 * form (meta-type, members, arg-type/ret-type, allow-oob, features, builtin json-type,
 * array element-type, alternate members, object variants/tag).  With `mask` true, the
 * names of non-builtin types are replaced by numbers like QEMU does ("0" is q_empty). */
json_object *schema_introspect(const Schema *s, bool mask);

/* The return value of query-commands: [{"name": ...}, ...] for every command, in QEMU's
 * order (the reverse of registration: generated commands in schema order, then the
 * 'gen': false ones). */
json_object *schema_query_commands(const Schema *s);

#endif
