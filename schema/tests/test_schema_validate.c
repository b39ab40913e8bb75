/* Unit tests for argument validation: every error kind of QEMU 5.0's QObject input visitor
 * and generated marshallers with its exact text and member path, check order, conditional
 * members and values, unions and alternates, size/uint64 normalisation, and the real
 * migration commands. */
#include "schema.h"

#include <string.h>

static const char test_schema[] =
    "{ 'enum': 'Color', 'data': [ 'red', 'green',\n"
    "                             { 'name': 'blue', 'if': 'defined(CONFIG_NOPE)' } ] }\n"
    "{ 'struct': 'Inner', 'data': { 'state': 'bool', '*n': 'int' } }\n"
    "{ 'struct': 'Ints', 'data': { '*i8': 'int8', '*i16': 'int16', '*i32': 'int32',\n"
    "  '*i64': 'int64', '*u8': 'uint8', '*u16': 'uint16', '*u32': 'uint32', '*u64': 'uint64',\n"
    "  '*sz': 'size', '*num': 'number', '*i': 'int', '*s': 'str', '*b': 'bool',\n"
    "  '*nul': 'null', '*any': 'any', '*c': 'Color', '*q': 'QType' } }\n"
    "{ 'alternate': 'Alt', 'data': { 'i': 'int', 'c': 'Color', 'o': 'Inner', 'n': 'null' } }\n"
    "{ 'alternate': 'NumOrBool', 'data': { 'n': 'number', 'b': 'bool' } }\n"
    "{ 'command': 'ints', 'data': 'Ints' }\n"
    "{ 'command': 'nested', 'data': { 'list': [ 'Inner' ], '*alt': 'Alt', '*alts': [ 'Alt' ],\n"
    "  '*inner': 'Inner', '*sizes': [ 'size' ], '*nb': 'NumOrBool', '*i8s': [ 'int8' ] } }\n"
    "{ 'enum': 'Kind2', 'data': [ 'a', 'b', 'c' ] }\n"
    "{ 'struct': 'VarA', 'data': { 'x': 'int' } }\n"
    "{ 'union': 'Flat', 'base': { 'kind': 'Kind2', '*common': 'str' },\n"
    "  'discriminator': 'kind', 'data': { 'a': 'VarA', 'b': { 'type': 'VarA' } } }\n"
    "{ 'command': 'flat', 'data': 'Flat', 'boxed': true }\n"
    "{ 'union': 'Simple', 'data': { 'one': 'Inner', 'many': [ 'int' ] } }\n"
    "{ 'command': 'simple', 'data': { 'su': 'Simple' } }\n"
    "{ 'command': 'noargs' }\n"
    "{ 'command': 'cond', 'data': { 'a': 'int',\n"
    "  'b': { 'type': 'int', 'if': 'defined(CONFIG_NOPE)' } } }\n";

typedef struct {
    const char *command;
    const char *args;  /* JSON text, or NULL for no "arguments" */
    const char *error; /* NULL: valid */
} Case;

static const Case cases[] = {
    /* no 'data': any argument is unexpected */
    { "noargs", NULL, NULL },
    { "noargs", "{}", NULL },
    { "noargs", "{\"x\": 1}", "Parameter 'x' is unexpected" },
    { "noargs", "[]", "QMP input member 'arguments' must be an object" },
    /* int: an integer within int64, never a non-integral number */
    { "ints", "{\"i\": 1.5}", "Invalid parameter type for 'i', expected: integer" },
    { "ints", "{\"i\": 3.0}", "Invalid parameter type for 'i', expected: integer" },
    { "ints", "{\"i\": \"1\"}", "Invalid parameter type for 'i', expected: integer" },
    { "ints", "{\"i\": 9223372036854775807}", NULL },
    { "ints", "{\"i\": -9223372036854775808}", NULL },
    { "ints", "{\"i\": 9223372036854775808}", "Invalid parameter type for 'i', expected: integer" },
    { "ints", "{\"i64\": true}", "Invalid parameter type for 'i64', expected: integer" },
    /* intN / uintN ranges: QERR_INVALID_PARAMETER_VALUE with the C type */
    { "ints", "{\"i8\": -128}", NULL },
    { "ints", "{\"i8\": 128}", "Parameter 'i8' expects int8_t" },
    { "ints", "{\"i8\": -129}", "Parameter 'i8' expects int8_t" },
    { "ints", "{\"i16\": 32768}", "Parameter 'i16' expects int16_t" },
    { "ints", "{\"i32\": -2147483649}", "Parameter 'i32' expects int32_t" },
    { "ints", "{\"u8\": 255}", NULL },
    { "ints", "{\"u8\": 256}", "Parameter 'u8' expects uint8_t" },
    { "ints", "{\"u8\": -1}", "Parameter 'u8' expects uint8_t" },
    { "ints", "{\"u8\": \"x\"}", "Parameter 'u8' expects uint64" },
    { "ints", "{\"u8\": 1.0}", "Parameter 'u8' expects uint64" },
    { "ints", "{\"u16\": 65536}", "Parameter 'u16' expects uint16_t" },
    { "ints", "{\"u32\": 4294967296}", "Parameter 'u32' expects uint32_t" },
    /* uint64 and size: any integer (negatives wrap), nothing else */
    { "ints", "{\"u64\": 18446744073709551615}", NULL },
    { "ints", "{\"u64\": -1}", NULL },
    { "ints", "{\"u64\": 1.5}", "Parameter 'u64' expects uint64" },
    { "ints", "{\"sz\": -1}", NULL },
    { "ints", "{\"sz\": \"1M\"}", "Parameter 'sz' expects uint64" },
    /* number, str, bool, null, any */
    { "ints", "{\"num\": 1, \"i\": 2}", NULL },
    { "ints", "{\"num\": 18446744073709551615}", NULL },
    { "ints", "{\"num\": 1e300}", NULL },
    { "ints", "{\"num\": \"1\"}", "Invalid parameter type for 'num', expected: number" },
    { "ints", "{\"s\": 1}", "Invalid parameter type for 's', expected: string" },
    { "ints", "{\"s\": null}", "Invalid parameter type for 's', expected: string" },
    { "ints", "{\"b\": \"true\"}", "Invalid parameter type for 'b', expected: boolean" },
    { "ints", "{\"nul\": null}", NULL },
    { "ints", "{\"nul\": 0}", "Invalid parameter type for 'nul', expected: null" },
    { "ints", "{\"any\": null}", NULL },
    { "ints", "{\"any\": [1, {\"a\": [null]}]}", NULL },
    /* enums: a string naming an active value; the error names the value */
    { "ints", "{\"c\": \"red\"}", NULL },
    { "ints", "{\"c\": \"blue\"}", "Invalid parameter 'blue'" },
    { "ints", "{\"c\": 1}", "Invalid parameter type for 'c', expected: string" },
    { "ints", "{\"q\": \"qdict\"}", NULL },
    /* order: members in schema order, unexpected keys last */
    { "ints", "{\"bogus\": 1, \"i8\": 1000}", "Parameter 'i8' expects int8_t" },
    { "ints", "{\"s\": 1, \"i8\": 1000}", "Parameter 'i8' expects int8_t" },
    { "ints", "{\"b\": 1, \"s\": 1}", "Invalid parameter type for 's', expected: string" },
    /* of several unexpected keys, the first in QEMU's hash table order (not JSON order) */
    { "ints", "{\"za\": 1, \"zb\": 2}", "Parameter 'zb' is unexpected" },
    { "ints", "{\"zb\": 1, \"za\": 2}", "Parameter 'zb' is unexpected" },
    /* nesting: QEMU's full names */
    { "nested", "{}", "Parameter 'list' is missing" },
    { "nested", "{\"list\": {}}", "Invalid parameter type for 'list', expected: array" },
    { "nested", "{\"list\": [1]}", "Invalid parameter type for 'list[0]', expected: object" },
    { "nested", "{\"list\": [null]}", "Invalid parameter type for 'list[0]', expected: object" },
    { "nested", "{\"list\": [{\"state\": true}, {}]}", "Parameter 'list[1].state' is missing" },
    { "nested", "{\"list\": [{\"state\": true, \"n\": \"x\"}]}",
      "Invalid parameter type for 'list[0].n', expected: integer" },
    { "nested", "{\"list\": [{\"state\": true, \"extra\": 1}]}",
      "Parameter 'list[0].extra' is unexpected" },
    { "nested", "{\"list\": [], \"inner\": {\"state\": 1}}",
      "Invalid parameter type for 'inner.state', expected: boolean" },
    { "nested", "{\"list\": [], \"inner\": {\"state\": true, \"x\": 1}, \"y\": 2}",
      "Parameter 'inner.x' is unexpected" },
    { "nested", "{\"list\": [], \"sizes\": [1, \"x\"]}", "Parameter 'sizes[1]' expects uint64" },
    { "nested", "{\"list\": [], \"i8s\": [1, 300]}", "Parameter 'null' expects int8_t" },
    /* alternates: the branch is chosen by JSON type */
    { "nested", "{\"list\": [], \"alt\": 5}", NULL },
    { "nested", "{\"list\": [], \"alt\": \"red\"}", NULL },
    { "nested", "{\"list\": [], \"alt\": \"x\"}", "Invalid parameter 'x'" },
    { "nested", "{\"list\": [], \"alt\": null}", NULL },
    { "nested", "{\"list\": [], \"alt\": {\"state\": true}}", NULL },
    { "nested", "{\"list\": [], \"alt\": {\"state\": 1}}",
      "Invalid parameter type for 'alt.state', expected: boolean" },
    { "nested", "{\"list\": [], \"alt\": 1.5}",
      "Invalid parameter type for 'alt', expected: integer" },
    { "nested", "{\"list\": [], \"alt\": true}",
      "Invalid parameter type for 'alt', expected: Alt" },
    { "nested", "{\"list\": [], \"alt\": []}", "Invalid parameter type for 'alt', expected: Alt" },
    { "nested", "{\"list\": [], \"alts\": [1, true]}",
      "Invalid parameter type for 'null', expected: Alt" },
    { "nested", "{\"list\": [], \"alts\": [{\"state\": true, \"q\": 1}]}",
      "Parameter 'alts[0].q' is unexpected" },
    { "nested", "{\"list\": [], \"nb\": 1}", NULL },
    { "nested", "{\"list\": [], \"nb\": false}", NULL },
    { "nested", "{\"list\": [], \"nb\": \"x\"}",
      "Invalid parameter type for 'nb', expected: NumOrBool" },
    /* flat union, boxed: base members, then the branch's; enum values without a branch */
    { "flat", "{}", "Parameter 'kind' is missing" },
    { "flat", "{\"kind\": \"zz\"}", "Invalid parameter 'zz'" },
    { "flat", "{\"kind\": 1}", "Invalid parameter type for 'kind', expected: string" },
    { "flat", "{\"kind\": \"a\"}", "Parameter 'x' is missing" },
    { "flat", "{\"kind\": \"a\", \"x\": 1}", NULL },
    { "flat", "{\"kind\": \"b\", \"x\": 1, \"common\": \"s\"}", NULL },
    { "flat", "{\"kind\": \"b\", \"x\": 1, \"common\": 2}",
      "Invalid parameter type for 'common', expected: string" },
    { "flat", "{\"kind\": \"c\"}", NULL },
    { "flat", "{\"kind\": \"c\", \"x\": 1}", "Parameter 'x' is unexpected" },
    /* simple union: { 'type': ..., 'data': ... } */
    { "simple", "{\"su\": {\"type\": \"one\", \"data\": {\"state\": true}}}", NULL },
    { "simple", "{\"su\": {\"type\": \"many\", \"data\": [1, 2]}}", NULL },
    { "simple", "{\"su\": {\"type\": \"one\"}}", "Parameter 'su.data' is missing" },
    { "simple", "{\"su\": {\"type\": \"many\", \"data\": [1, \"x\"]}}",
      "Invalid parameter type for 'su.data[1]', expected: integer" },
    { "simple", "{\"su\": {\"type\": \"one\", \"data\": {\"state\": true}, \"z\": 1}}",
      "Parameter 'su.z' is unexpected" },
    { "simple", "{\"su\": {\"type\": \"two\"}}", "Invalid parameter 'two'" },
    /* conditional members do not exist */
    { "cond", "{\"a\": 1}", NULL },
    { "cond", "{\"a\": 1, \"b\": 2}", "Parameter 'b' is unexpected" },
};

static Schema *test_schema_load(void)
{
    Schema *s = schema_new(NULL);
    GError *err = NULL;

    schema_load_buffer(s, "val.json", test_schema, strlen(test_schema), &err);
    g_assert_no_error(err);
    schema_finish(s, &err);
    g_assert_no_error(err);
    return s;
}

static void run_case(const Schema *s, const Case *c)
{
    const SchemaCommand *cmd = schema_find_command(s, c->command);
    json_object *args = c->args ? json_tokener_parse(c->args) : NULL;
    GError *err = NULL;
    bool ok;

    g_assert_nonnull(cmd);
    g_assert_true(!c->args || args);
    ok = schema_validate_args(s, cmd, args, &err);
    if (ok != (c->error == NULL) || (err && strcmp(err->message, c->error) != 0))
        g_test_message("%s %s -> %s", c->command, c->args, err ? err->message : "ok");
    g_assert_cmpint(ok, ==, c->error == NULL);
    if (c->error) {
        g_assert_error(err, g_quark_from_static_string("migbench-error"), 0);
        g_assert_cmpstr(err->message, ==, c->error);
        g_error_free(err);
    }
    json_object_put(args);
}

static void test_table(void)
{
    Schema *s = test_schema_load();

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
        run_case(s, &cases[i]);
    schema_free(s);
}

static const Case migration_cases[] = {
    { "query-migrate", NULL, NULL },
    { "migrate_cancel", "{\"x\": 1}", "Parameter 'x' is unexpected" },
    { "migrate", "{}", "Parameter 'uri' is missing" },
    { "migrate", "{\"uri\": \"tcp:h:1\", \"blk\": \"yes\"}",
      "Invalid parameter type for 'blk', expected: boolean" },
    { "migrate", "{\"uri\": \"tcp:h:1\", \"detach\": true, \"resume\": false}", NULL },
    { "migrate-set-capabilities", "{\"capabilities\": []}", NULL },
    { "migrate-set-capabilities", "{\"capabilities\": [{\"capability\": \"xbzrle\"}]}",
      "Parameter 'capabilities[0].state' is missing" },
    { "migrate-set-capabilities",
      "{\"capabilities\": [{\"capability\": \"bogus\", \"state\": true}]}",
      "Invalid parameter 'bogus'" },
    { "migrate-set-parameters", "{\"tls-creds\": null, \"tls-hostname\": \"h\"}", NULL },
    { "migrate-set-parameters", "{\"tls-creds\": 1}",
      "Invalid parameter type for 'tls-creds', expected: StrOrNull" },
    { "migrate-set-parameters", "{\"max-bandwidth\": \"x\"}",
      "Invalid parameter type for 'max-bandwidth', expected: integer" },
    { "migrate-set-parameters", "{\"xbzrle-cache-size\": \"x\"}",
      "Parameter 'xbzrle-cache-size' expects uint64" },
    { "migrate-set-parameters", "{\"compress-level\": 1.5}",
      "Invalid parameter type for 'compress-level', expected: integer" },
    { "migrate-set-parameters", "{\"multifd-compression\": \"zstd\"}", NULL },
    { "migrate-set-parameters", "{\"multifd-compression\": \"lz4\"}", "Invalid parameter 'lz4'" },
    { "migrate-set-parameters", "{\"bogus\": 1}", "Parameter 'bogus' is unexpected" },
    { "migrate_set_speed", "{\"value\": 1.5}",
      "Invalid parameter type for 'value', expected: integer" },
    { "migrate_set_downtime", "{\"value\": 1}", NULL },
    { "migrate-continue", "{\"state\": \"pre-switchover\"}", NULL },
    { "qmp_capabilities", "{\"enable\": [\"oob\"]}", NULL },
    { "qmp_capabilities", "{\"enable\": [\"x\"]}", "Invalid parameter 'x'" },
    { "getfd", "{}", "Parameter 'fdname' is missing" },
};

static void test_migration(void)
{
    Schema *s = schema_new(NULL);

    g_assert_true(schema_load_builtin(s, "core.json", NULL));
    g_assert_true(schema_load_builtin(s, "migration-5.0.json", NULL));
    g_assert_true(schema_finish(s, NULL));
    for (size_t i = 0; i < G_N_ELEMENTS(migration_cases); i++)
        run_case(s, &migration_cases[i]);
    schema_free(s);
}

/* Negative size/uint64 values are replaced by their uint64 wrap-around, in place. */
static void test_normalise(void)
{
    Schema *s = schema_new(NULL);
    json_object *args = json_tokener_parse("{\"announce-initial\": -1, \"xbzrle-cache-size\": -2, "
                                           "\"max-bandwidth\": -1}");
    json_object *v;
    GError *err = NULL;

    g_assert_true(schema_load_builtin(s, "core.json", NULL));
    g_assert_true(schema_load_builtin(s, "migration-5.0.json", NULL));
    g_assert_true(schema_finish(s, NULL));
    g_assert_true(
        schema_validate_args(s, schema_find_command(s, "migrate-set-parameters"), args, &err));
    g_assert_no_error(err);
    g_assert_true(json_object_object_get_ex(args, "announce-initial", &v));
    g_assert_cmpuint(json_object_get_uint64(v), ==, UINT64_MAX);
    g_assert_true(json_object_object_get_ex(args, "xbzrle-cache-size", &v));
    g_assert_cmpuint(json_object_get_uint64(v), ==, UINT64_MAX - 1);
    g_assert_cmpstr(json_object_to_json_string(args), ==,
                    "{ \"announce-initial\": 18446744073709551615, "
                    "\"xbzrle-cache-size\": 18446744073709551614, \"max-bandwidth\": -1 }");
    json_object_put(args);
    schema_free(s);

    s = test_schema_load();
    args = json_tokener_parse("{\"list\": [], \"sizes\": [-1, 5, -3]}");
    g_assert_true(schema_validate_args(s, schema_find_command(s, "nested"), args, NULL));
    g_assert_cmpstr(json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN), ==,
                    "{\"list\":[],\"sizes\":[18446744073709551615,5,18446744073709551613]}");
    json_object_put(args);
    schema_free(s);
}

static void expect_value(const Schema *s, const char *type, const char *json, const char *path,
                         const char *error)
{
    json_object *v = json_tokener_parse(json);
    GError *err = NULL;
    bool ok = schema_validate_value(s, schema_find_type(s, type), v, path, &err);

    g_assert_cmpint(ok, ==, error == NULL);
    if (error)
        g_assert_cmpstr(err->message, ==, error);
    g_clear_error(&err);
    json_object_put(v);
}

static void test_value(void)
{
    Schema *s = test_schema_load();

    expect_value(s, "Inner", "{\"state\": true}", "val", NULL);
    expect_value(s, "Inner", "{\"state\": 1}", "val",
                 "Invalid parameter type for 'val.state', expected: boolean");
    expect_value(s, "Inner", "{}", "val", "Parameter 'val.state' is missing");
    expect_value(s, "Inner", "{\"state\": true, \"z\": 0}", NULL, "Parameter 'z' is unexpected");
    expect_value(s, "int", "\"x\"", "val", "Invalid parameter type for 'val', expected: integer");
    expect_value(s, "int", "\"x\"", NULL,
                 "Invalid parameter type for '<anonymous>', expected: integer");
    expect_value(s, "Alt", "[]", "val", "Invalid parameter type for 'val', expected: Alt");
    expect_value(s, "Color", "\"green\"", "val", NULL);
    expect_value(s, "size", "-1", "val", NULL); /* a root value stays as it is */
    schema_free(s);
}

/* Validation of deeply nested data is bounded. */
static void test_deep_data(void)
{
    static const char text[] = "{ 'struct': 'R', 'data': { '*r': [ 'R' ] } }\n"
                               "{ 'command': 'rec', 'data': { 'r': [ 'R' ] } }\n";
    Schema *s = schema_new(NULL);
    json_object *args = json_object_new_object(), *list = json_object_new_array();
    GError *err = NULL;

    g_assert_true(schema_load_buffer(s, "rec.json", text, strlen(text), NULL));
    g_assert_true(schema_finish(s, NULL));
    json_object_object_add(args, "r", list);
    for (int i = 0; i < 500; i++) {
        json_object *o = json_object_new_object(), *inner = json_object_new_array();
        json_object_array_add(list, o);
        json_object_object_add(o, "r", inner);
        list = inner;
    }
    g_assert_false(schema_validate_args(s, schema_find_command(s, "rec"), args, &err));
    g_assert_true(g_str_has_suffix(err->message, "is nested too deeply"));
    g_error_free(err);
    json_object_put(args);
    schema_free(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/schema/validate/table", test_table);
    g_test_add_func("/schema/validate/migration", test_migration);
    g_test_add_func("/schema/validate/normalise", test_normalise);
    g_test_add_func("/schema/validate/value", test_value);
    g_test_add_func("/schema/validate/deep-data", test_deep_data);
    return g_test_run();
}
