/* Unit tests for schema errors: a table of broken inputs, each with the exact
 * "file:line:col: message" it must produce (syntax, directives, definition shapes, names,
 * conditions, and the whole-schema checks of schema_finish), plus inputs that must never
 * crash: deep nesting, NUL bytes, empty and truncated text. */
#include "schema.h"

#include <string.h>

typedef struct {
    const char *text;
    const char *error;
} Case;

/* Texts load as "t.json" from memory; includes resolve within the bundle. */
static const Case cases[] = {
    { "{ 'enum': 'E', 'data': [ 'a' ]", "t.json:1:31: expected ',' or '}'" },
    { "[ 'a' ]", "t.json:1:1: expected '{'" },
    { "{ 'a' 'b' }", "t.json:1:7: expected ':'" },
    { "{ 'a': 'b' 'c' }", "t.json:1:12: expected ',' or '}'" },
    { "{ 'a': 'b', }", "t.json:1:13: expected string" },
    { "{ 'a': [ 'b' 'c' ] }", "t.json:1:14: expected ',' or ']'" },
    { "{ 'a': [ : ] }", "t.json:1:10: expected '{', '[', ']', string, boolean or 'null'" },
    { "{ 'a': : }", "t.json:1:8: expected '{', '[', string, boolean or 'null'" },
    { "{ 'a': 'b', 'a': 'c' }", "t.json:1:18: duplicate key 'a'" },
    { "{ 'a': 'b", "t.json:1:8: missing terminating \"'\"" },
    { "{ 'a': 'b\\n' }", "t.json:1:8: unknown escape \\n" },
    { "{ 'a': null }", "t.json:1:8: stray 'null'" },
    { "{ 'a': 12 }", "t.json:1:8: stray '12'" },
    { "\t{ 'a' 'b' }", "t.json:1:15: expected ':'" },
    { "{ 'a': [", "t.json:1:9: expected '{', '[', ']', string, boolean or 'null'" },
    { "{ 'enum': 'E', 'data': [] }\n##\n# @x:",
      "t.json:3:6: documentation comment must end with '##'" },
    { "## junk", "t.json:1:1: junk after '##' at start of documentation comment" },
    { "##\n#x\n##", "t.json:2:1: missing space after #" },
    { "##\n# @x\n##", "t.json:2:1: line should end with ':'" },
    { "##\n# @:\n##", "t.json:2:1: invalid name" },
    { "##\n# @x:\n##", "t.json:1:1: documentation for 'x' is not followed by the definition" },
    { "##\n# @x:\n##\n{ 'enum': 'y', 'data': [] }",
      "t.json:4:1: documentation comment is for 'x'" },
    { "##\n# free text\n##\n{ 'enum': 'E', 'data': [] }",
      "t.json:1:1: definition documentation required" },
    { "##\n# @x:\n## junk", "t.json:3:1: junk after '##' at end of documentation comment" },
    { "##\n# @E:\n##\n##\n# @F:\n##\n{ 'enum': 'F', 'data': [] }",
      "t.json:1:1: documentation for 'E' is not followed by the definition" },
    { "##\n# @E:\n##\n{ 'include': 'common.json' }",
      "t.json:1:1: documentation for 'E' is not followed by the definition" },
    { "{ 'include': 'x.json', 'y': 'z' }", "t.json:1:1: invalid 'include' directive" },
    { "{ 'include': [ 'x' ] }", "t.json:1:1: value of 'include' must be a string" },
    { "{ 'pragma': 'x' }", "t.json:1:1: value of 'pragma' must be an object" },
    { "{ 'pragma': { 'foo': true } }", "t.json:1:1: unknown pragma 'foo'" },
    { "{ 'pragma': { 'doc-required': 'yes' } }",
      "t.json:1:1: pragma 'doc-required' must be boolean" },
    { "{ 'pragma': { 'name-case-whitelist': [ true ] } }",
      "t.json:1:1: pragma name-case-whitelist must be a list of strings" },
    { "{ 'include': 'nonexistent-file.json' }",
      "t.json:1:1: can't read include file 'nonexistent-file.json': No such file or directory" },
    { "{ 'foo': 'bar' }", "t.json:1:1: expression is missing metatype" },
    { "{ 'enum': true, 'data': [] }", "t.json:1:11: 'enum' requires a string name" },
    { "{ 'struct': 'FooList', 'data': {} }", "t.json:1:13: struct name should not end in 'List'" },
    { "{ 'union': 'UKind', 'data': {} }", "t.json:1:12: union name should not end in 'Kind'" },
    { "{ 'struct': 'q_foo', 'data': {} }", "t.json:1:13: struct has an invalid name" },
    { "{ 'enum': 'E' }", "t.json:1:1: enum misses key 'data'" },
    { "{ 'enum': 'E', 'data': [], 'foo': 'x', 'bar': 'y' }",
      "t.json:1:1: enum has unknown keys 'bar', 'foo'\nValid keys are 'data', 'enum', 'features', "
      "'if', 'prefix'." },
    { "{ 'enum': 'E', 'data': 'x' }", "t.json:1:24: 'data' must be an array" },
    { "{ 'enum': 'E', 'data': [ 'Bad' ] }",
      "t.json:1:26: 'data' member 'Bad' uses uppercase in name" },
    { "{ 'enum': 'E', 'data': [ '1a', 'a b' ] }",
      "t.json:1:32: 'data' member 'a b' has an invalid name" },
    { "{ 'enum': 'E', 'data': [ { 'name': 'a', 'x': 'y' } ] }",
      "t.json:1:26: 'data' member has unknown key 'x'\nValid keys are 'if', 'name'." },
    { "{ 'enum': 'E', 'data': [], 'prefix': true }", "t.json:1:38: 'prefix' must be a string" },
    { "{ 'struct': 'S', 'data': { 'a': 'int' }, 'base': { 'b': 'int' } }",
      "t.json:1:50: 'base' should be a type name" },
    { "{ 'struct': 'S', 'data': { 'u': 'int' } }",
      "t.json:1:33: 'data' member 'u' uses reserved name" },
    { "{ 'struct': 'S', 'data': { 'has-x': 'int' } }",
      "t.json:1:37: 'data' member 'has-x' uses reserved name" },
    { "{ 'struct': 'S', 'data': { 'a': [ 'int', 'str' ] } }",
      "t.json:1:33: 'data' member 'a': array type must contain single type name" },
    { "{ 'struct': 'S', 'data': { 'a': { 'typ': 'int' } } }",
      "t.json:1:33: 'data' member 'a' misses key 'type'" },
    { "{ 'struct': 'S', 'data': 'T' }", "t.json:1:26: 'data' must be an object" },
    { "{ 'struct': 'S', 'data': { 'a': { 'type': 'int', 'if': '' } } }",
      "t.json:1:56: 'if' condition '' of 'data' member 'a' makes no sense" },
    { "{ 'struct': 'S', 'data': {}, 'if': [] }",
      "t.json:1:36: 'if' condition [] of struct is useless" },
    { "{ 'struct': 'S', 'data': {}, 'if': true }",
      "t.json:1:36: 'if' condition of struct must be a string or a list of strings" },
    { "{ 'struct': 'S', 'data': {}, 'if': 'CONFIG_X' }",
      "t.json:1:36: 'if' condition 'CONFIG_X' of struct is not understood (use defined(NAME), !, "
      "&&, || and parentheses)" },
    { "{ 'struct': 'S', 'data': {}, 'features': 'x' }",
      "t.json:1:42: 'features' must be an array" },
    { "{ 'struct': 'S', 'data': {}, 'features': [ 'Bad' ] }",
      "t.json:1:44: 'features' member 'Bad' uses uppercase in name" },
    { "{ 'struct': 'S', 'data': {}, 'features': [ { 'name': true } ] }",
      "t.json:1:44: 'features' member requires a string name" },
    { "{ 'union': 'U', 'base': 'B', 'data': { 'a': 'A' } }",
      "t.json:1:25: 'base' requires 'discriminator'" },
    { "{ 'union': 'U', 'discriminator': 'type', 'data': { 'a': 'A' } }",
      "t.json:1:34: 'discriminator' requires 'base'" },
    { "{ 'union': 'U', 'base': 'B', 'discriminator': 'type', 'data': { 'a': [ 'A' ] } }",
      "t.json:1:70: 'data' member 'a' cannot be an array" },
    { "{ 'alternate': 'A', 'data': {} }", "t.json:1:29: 'data' must not be empty" },
    { "{ 'alternate': 'A', 'data': { 'a': [ 'int' ] } }",
      "t.json:1:36: 'data' member 'a' cannot be an array" },
    { "{ 'command': 'c', 'boxed': true }", "t.json:1:1: 'boxed': true requires 'data'" },
    { "{ 'command': 'c', 'boxed': true, 'data': { 'a': 'int' } }",
      "t.json:1:42: 'data' should be a type name" },
    { "{ 'command': 'c', 'gen': true }", "t.json:1:26: flag 'gen' may only use false value" },
    { "{ 'command': 'c', 'allow-oob': false }",
      "t.json:1:32: flag 'allow-oob' may only use true value" },
    { "{ 'command': 'c', 'returns': [ 'int', 'str' ] }",
      "t.json:1:30: 'returns': array type must contain single type name" },
    { "{ 'event': 'E', 'data': [ 'int' ] }", "t.json:1:25: 'data' cannot be an array" },
    { "{ 'struct': 'S', 'data': { 'a': 'Nope' } }",
      "t.json:1:33: member 'a' uses unknown type 'Nope'" },
    { "{ 'command': 'c', 'data': { 'a': 'Nope' } }",
      "t.json:1:34: parameter 'a' uses unknown type 'Nope'" },
    { "{ 'command': 'c', 'data': 'Nope' }",
      "t.json:1:1: command's 'data' uses unknown type 'Nope'" },
    { "{ 'command': 'c', 'returns': 'Nope' }",
      "t.json:1:1: command's 'returns' uses unknown type 'Nope'" },
    { "{ 'command': 'c', 'data': { 'a': [ 'Nope' ] } }",
      "t.json:1:1: command uses unknown type 'Nope'" },
    { "{ 'union': 'U', 'data': { 'a': 'Nope' } }",
      "t.json:1:32: branch 'a' uses unknown type 'Nope'" },
    { "{ 'enum': 'E', 'data': [] }\n{ 'struct': 'E', 'data': {} }",
      "t.json:2:1: 'E' is already defined\nt.json:1:1: previous definition" },
    { "{ 'struct': 'str', 'data': {} }", "t.json:1:1: built-in type 'str' is already defined" },
    { "{ 'command': 'c' }\n{ 'command': 'c', 'data': { 'a': 'int' } }",
      "t.json:2:1: 'c' is already defined\nt.json:1:1: previous definition" },
    { "{ 'struct': 'S', 'base': 'E', 'data': {} }\n{ 'enum': 'E', 'data': [] }",
      "t.json:1:1: 'base' requires a struct type, enum type 'E' isn't" },
    { "{ 'struct': 'A', 'base': 'B', 'data': {} }\n{ 'struct': 'B', 'base': 'A', 'data': {} }",
      "t.json:1:1: object A contains itself" },
    { "{ 'struct': 'B', 'data': { 'a-b': 'int' } }\n{ 'struct': 'S', 'base': 'B', 'data': { 'a_b': "
      "'int' } }",
      "t.json:2:48: member 'a_b' collides with member 'a-b' of type 'B'" },
    { "{ 'struct': 'S', 'data': { 'a': 'int' }, 'base': 'B' }\n{ 'struct': 'B', 'data': { 'a': "
      "'str' } }",
      "t.json:1:33: member 'a' collides with member 'a' of type 'B'" },
    { "{ 'enum': 'K', 'data': [ 'x' ] }\n{ 'struct': 'X', 'data': {} }\n{ 'union': 'U', 'base': { "
      "'kind': 'K' }, 'discriminator': 'type', 'data': { 'x': 'X' } }",
      "t.json:3:1: discriminator 'type' is not a member of 'base'" },
    { "{ 'struct': 'X', 'data': {} }\n{ 'union': 'U', 'base': { 'type': 'str' }, 'discriminator': "
      "'type', 'data': { 'x': 'X' } }",
      "t.json:2:1: discriminator member 'type' of 'base' must be of enum type" },
    { "{ 'struct': 'X', 'data': {} }\n{ 'struct': 'B', 'data': { 'type': 'str' } }\n{ 'union': "
      "'U', 'base': 'B', 'discriminator': 'type', 'data': { 'x': 'X' } }",
      "t.json:3:1: discriminator member 'type' of base type 'B' must be of enum type" },
    { "{ 'enum': 'K', 'data': [ 'x' ] }\n{ 'struct': 'X', 'data': {} }\n{ 'union': 'U', 'base': { "
      "'*type': 'K' }, 'discriminator': 'type', 'data': { 'x': 'X' } }",
      "t.json:3:1: discriminator member 'type' of 'base' must not be optional" },
    { "{ 'enum': 'K', 'data': [ 'x' ] }\n{ 'struct': 'X', 'data': {} }\n{ 'union': 'U', 'base': { "
      "'type': { 'type': 'K', 'if': 'defined(X)' } }, 'discriminator': 'type', 'data': { 'x': 'X' "
      "} }",
      "t.json:3:1: discriminator member 'type' of 'base' must not be conditional" },
    { "{ 'enum': 'K', 'data': [ 'x' ] }\n{ 'struct': 'X', 'data': {} }\n{ 'union': 'U', 'base': { "
      "'type': 'K' }, 'discriminator': 'type', 'data': { 'y': 'X' } }",
      "t.json:3:82: branch 'y' is not a value of enum type 'K'" },
    { "{ 'enum': 'K', 'data': [ 'x' ] }\n{ 'struct': 'B', 'data': { 'type': 'K' } }\n{ 'union': "
      "'U', 'base': 'B', 'discriminator': 'type', 'data': { 'x': 'K' } }",
      "t.json:3:70: branch 'x' cannot use enum type 'K'" },
    { "{ 'enum': 'K', 'data': [ 'x' ] }\n{ 'struct': 'X', 'data': { 'type': 'int' } }\n{ 'union': "
      "'U', 'base': { 'type': 'K' }, 'discriminator': 'type', 'data': { 'x': 'X' } }",
      "t.json:3:1: member 'type' of type 'X' collides with base member 'type'" },
    { "{ 'enum': 'K', 'data': [] }\n{ 'union': 'U', 'base': { 'type': 'K' }, 'discriminator': "
      "'type', 'data': {} }",
      "t.json:2:1: union has no branches" },
    { "{ 'alternate': 'A', 'data': { 'i': 'int', 'n': 'number' } }",
      "t.json:1:48: branch 'n' can't be distinguished from 'i'" },
    { "{ 'alternate': 'A', 'data': { 'b': 'bool', 's': 'str' } }",
      "t.json:1:49: branch 's' can't be distinguished from 'b'" },
    { "{ 'alternate': 'A', 'data': { 'a': 'any' } }",
      "t.json:1:36: branch 'a' cannot use built-in type 'any'" },
    { "{ 'enum': 'E', 'data': [ 'on', 'off' ] }\n{ 'alternate': 'A', 'data': { 'b': 'bool', 'e': "
      "'E' } }",
      "t.json:2:49: branch 'e' can't be distinguished from 'b'" },
    { "{ 'enum': 'K', 'data': [ 'x' ] }\n{ 'union': 'U', 'base': { 'type': 'K' }, 'discriminator': "
      "'type', 'data': {} }\n{ 'command': 'c', 'data': 'U' }",
      "t.json:3:1: command's 'data' can take union type 'U' only with 'boxed': true" },
    { "{ 'enum': 'K', 'data': [ 'x' ] }\n{ 'command': 'c', 'data': 'K' }",
      "t.json:2:1: command's 'data' cannot take enum type 'K'" },
    { "{ 'event': 'e', 'data': 'str' }",
      "t.json:1:1: event's 'data' cannot take built-in type 'str'" },
    { "{ 'struct': 'S', 'data': {}, 'features': [ 'deprecated' ] }",
      "t.json:1:1: feature 'deprecated' is not supported for types" },
    { "{ 'command': 'c', 'features': [ 'a-b', 'a_b' ] }",
      "t.json:1:1: feature 'a_b' collides with feature 'a-b'" },
    { "{ 'union': 'U', 'data': {} }", "t.json:1:1: union has no branches" },
    { "{ 'enum': 'E', 'data': [ 'a-b', 'a_b' ] }",
      "t.json:1:1: value 'a_b' collides with value 'a-b'" },

};

static void test_table(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        Schema *s = schema_new(NULL);
        GError *err = NULL;
        bool ok = schema_load_buffer(s, "t.json", cases[i].text, strlen(cases[i].text), &err) &&
                  schema_finish(s, &err);
        if (ok || g_strcmp0(err->message, cases[i].error) != 0)
            g_test_message("case %zu: %s", i, cases[i].text);
        g_assert_false(ok);
        g_assert_error(err, g_quark_from_static_string("migbench-error"), 0);
        g_assert_cmpstr(err->message, ==, cases[i].error);
        g_error_free(err);
        schema_free(s);
    }
}

/* The position of an error in an included file names that file. */
static void test_error_in_bundle_include(void)
{
    static const char text[] = "{ 'include': 'common.json' }\n"
                               "{ 'struct': 'S', 'data': { 'x': 'StrOrNull', 'y': 'Nope' } }\n";
    Schema *s = schema_new(NULL);
    GError *err = NULL;

    g_assert_true(schema_load_buffer(s, "t.json", text, sizeof(text) - 1, &err));
    g_assert_false(schema_finish(s, &err));
    g_assert_cmpstr(err->message, ==, "t.json:2:51: member 'y' uses unknown type 'Nope'");
    g_error_free(err);
    schema_free(s);
}

static bool loads(const char *text, size_t len)
{
    Schema *s = schema_new(NULL);
    GError *err = NULL;
    bool ok = schema_load_buffer(s, "t.json", text, len, &err) && schema_finish(s, &err);

    g_assert_true(ok == (err == NULL));
    g_clear_error(&err);
    schema_free(s);
    return ok;
}

/* Hostile shapes fail cleanly. */
static void test_robust(void)
{
    GString *deep = g_string_new("{ 'enum': 'E', 'data': ");
    static const char nul[] = "{ 'enum': 'E',\0 'data': [] }";

    for (int i = 0; i < 100000; i++)
        g_string_append_c(deep, '[');
    g_assert_false(loads(deep->str, deep->len));
    g_string_free(deep, TRUE);
    g_assert_false(loads(nul, sizeof(nul) - 1));
    g_assert_true(loads("", 0));
    g_assert_true(loads("# just a comment", 16));
    g_assert_false(loads("{", 1));
    g_assert_false(loads("'", 1));
    g_assert_false(loads("##", 2));
    g_assert_true(loads("{ 'enum': 'E', 'data': [] }", 27)); /* no final newline */
}

/* A long chain of struct bases is refused, not a stack overflow. */
static void test_deep_bases(void)
{
    GString *text = g_string_new(NULL);
    GError *err = NULL;
    Schema *s = schema_new(NULL);

    for (int i = 0; i < 2000; i++) /* S0 -> S1 -> ... -> S1999: checking S0 recurses */
        g_string_append_printf(text, "{ 'struct': 'S%d', 'base': 'S%d', 'data': {} }\n", i, i + 1);
    g_string_append(text, "{ 'struct': 'S2000', 'data': {} }\n");
    g_assert_true(schema_load_buffer(s, "t.json", text->str, text->len, &err));
    g_assert_false(schema_finish(s, &err));
    g_assert_cmpstr(err->message, ==,
                    "t.json:257:1: object S256 nests bases and branches too deeply");
    g_error_free(err);
    schema_free(s);
    g_string_free(text, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/schema/errors/table", test_table);
    g_test_add_func("/schema/errors/include", test_error_in_bundle_include);
    g_test_add_func("/schema/errors/robust", test_robust);
    g_test_add_func("/schema/errors/deep-bases", test_deep_bases);
    return g_test_run();
}
