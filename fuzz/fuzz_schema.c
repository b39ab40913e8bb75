/* fuzz_schema: the QAPI schema engine on arbitrary text.
 *
 * Loads the input as a schema file next to the bundled core.json, finishes it, introspects
 * it both ways, lists its commands and validates two argument objects against every
 * command, so the parser, the checks, introspection and validation all see hostile
 * schemas.  Any outcome but a crash or a leak is fine. */
#include "schema.h"

#include <stdint.h>

static void validate_all(const Schema *s)
{
    static const char small[] = "{\"a\": 1, \"b\": [true, null, \"x\"], \"c\": {\"d\": -1}, "
                                "\"type\": \"inet\", \"e\": 1.5}";

    for (size_t i = 0; i < schema_command_count(s); i++) {
        const SchemaCommand *cmd = schema_command_at(s, i);
        json_object *empty = json_object_new_object(), *args = json_tokener_parse(small);
        GError *err = NULL;
        if (!schema_validate_args(s, cmd, empty, &err))
            g_clear_error(&err);
        if (!schema_validate_args(s, cmd, args, &err))
            g_clear_error(&err);
        json_object_put(empty);
        json_object_put(args);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Schema *s = schema_new(NULL);
    GError *err = NULL;

    if (schema_load_builtin(s, "core.json", &err) &&
        schema_load_buffer(s, "fuzz.json", (const char *)data, size, &err) &&
        schema_finish(s, &err)) {
        json_object_put(schema_introspect(s, true));
        json_object_put(schema_introspect(s, false));
        json_object_put(schema_query_commands(s));
        validate_all(s);
    }
    g_clear_error(&err);
    schema_free(s);
    return 0;
}
