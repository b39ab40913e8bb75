/* Unit tests for loading schemas: the bundle, both migration seeds, conditions, includes,
 * pragmas and the read-only lookup API. */
#include "schema.h"

#include <glib/gstdio.h>
#include <string.h>

#ifndef SCHEMA_TEST_DATA
#error "SCHEMA_TEST_DATA must name schema/tests/data"
#endif

/* Loads core.json and `file` from the bundle into a finished schema. */
static Schema *load_bundle(const char *const *defines, const char *file)
{
    Schema *s = schema_new(defines);
    GError *err = NULL;

    g_assert_true(schema_load_builtin(s, "core.json", &err));
    g_assert_no_error(err);
    if (file) {
        g_assert_true(schema_load_builtin(s, file, &err));
        g_assert_no_error(err);
    }
    g_assert_true(schema_finish(s, &err));
    g_assert_no_error(err);
    return s;
}

static size_t count_prefix(const Schema *s, const char *prefix)
{
    size_t n = 0;
    for (size_t i = 0; i < schema_command_count(s); i++)
        n += g_str_has_prefix(schema_command_at(s, i)->name, prefix);
    return n;
}

static char **enum_values(const Schema *s, const char *name)
{
    const SchemaType *t = schema_find_type(s, name);
    GPtrArray *v = g_ptr_array_new();

    g_assert_nonnull(t);
    g_assert_cmpint(schema_type_meta(t), ==, SCHEMA_META_ENUM);
    for (size_t i = 0; i < schema_enum_count(t); i++)
        g_ptr_array_add(v, g_strdup(schema_enum_value(t, i)));
    g_ptr_array_add(v, NULL);
    return (char **)g_ptr_array_free(v, FALSE);
}

static void assert_strv(char **got, const char *const *want)
{
    g_assert_cmpuint(g_strv_length(got), ==, g_strv_length((char **)want));
    for (size_t i = 0; want[i]; i++)
        g_assert_cmpstr(got[i], ==, want[i]);
    g_strfreev(got);
}

static void test_bundle(void)
{
    static const char *const names[] = { "core.json", "common.json", "sockets.json",
                                         "migration-5.0.json", "migration-4.0-dev.json" };
    size_t len = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        gchar *path = g_build_filename(SCHEMA_TEST_DATA, "..", "..", names[i], NULL), *disk;
        gsize disk_len;
        const char *text = schema_builtin_text(names[i], &len);
        g_assert_nonnull(text);
        g_assert_true(g_file_get_contents(path, &disk, &disk_len, NULL));
        g_assert_cmpuint(len, ==, disk_len); /* byte-exact copies */
        g_assert_true(memcmp(text, disk, len) == 0);
        g_assert_cmpint(text[len], ==, '\0');
        g_free(disk);
        g_free(path);
    }
    g_assert_null(schema_builtin_text("nonexistent.json", &len));
    g_assert_null(schema_builtin_text(NULL, NULL));
}

/* core.json's commands: 10 of its own and block.json's 3 (query-block, the bitmaps). */
#define CORE_COMMANDS 13

static void test_core(void)
{
    Schema *s = load_bundle(NULL, NULL);
    const SchemaCommand *c = schema_find_command(s, "qmp_capabilities");
    const SchemaType *status = schema_find_type(s, "StatusInfo");

    g_assert_cmpuint(schema_command_count(s), ==, CORE_COMMANDS);
    g_assert_cmpuint(schema_event_count(s), ==, 3);
    g_assert_nonnull(c);
    g_assert_true(c->allow_preconfig);
    g_assert_false(c->allow_oob);
    g_assert_true(c->success_response);
    g_assert_cmpuint(schema_object_member_count(c->args), ==, 1);
    g_assert_cmpstr(schema_object_member(c->args, 0)->name, ==, "enable");
    g_assert_true(schema_object_member(c->args, 0)->optional);
    g_assert_cmpstr(schema_type_name(schema_object_member(c->args, 0)->type), ==,
                    "['QMPCapability']");
    g_assert_cmpstr(schema_type_name(schema_type_element(schema_object_member(c->args, 0)->type)),
                    ==, "QMPCapability");
    g_assert_null(schema_find_command(s, "stop")->args);
    g_assert_null(schema_find_command(s, "stop")->ret);
    g_assert_cmpstr(schema_type_name(schema_find_command(s, "query-status")->ret), ==,
                    "StatusInfo");
    g_assert_cmpuint(schema_object_member_count(status), ==, 3);
    g_assert_cmpstr(schema_object_find_member(status, "status")->type ? "ok" : NULL, ==, "ok");
    g_assert_null(schema_object_find_member(status, "bogus"));
    g_assert_true(schema_enum_has(s, "RunState", "preconfig"));
    g_assert_true(schema_enum_has(s, "ShutdownCause", "subsystem-reset"));
    g_assert_false(schema_enum_has(s, "RunState", "bogus"));
    g_assert_false(schema_enum_has(s, "NoSuchEnum", "x"));
    g_assert_cmpint(schema_enum_lookup(schema_find_type(s, "RunState"), "inmigrate"), ==, 1);
    g_assert_nonnull(schema_find_event(s, "SHUTDOWN"));
    g_assert_null(schema_find_event(s, "query-status"));
    g_assert_null(schema_find_command(s, "SHUTDOWN"));
    g_assert_nonnull(schema_find_type(s, "int"));
    g_assert_null(schema_find_type(s, "intList")); /* arrays are not named types */
    schema_free(s);
}

static void test_seed_50(void)
{
    Schema *s = load_bundle(NULL, "migration-5.0.json");
    static const char *const caps[] = { "xbzrle",
                                        "rdma-pin-all",
                                        "auto-converge",
                                        "zero-blocks",
                                        "compress",
                                        "events",
                                        "postcopy-ram",
                                        "x-colo",
                                        "release-ram",
                                        "block",
                                        "return-path",
                                        "pause-before-switchover",
                                        "multifd",
                                        "dirty-bitmaps",
                                        "postcopy-blocktime",
                                        "late-block-activate",
                                        "x-ignore-shared",
                                        "validate-uuid",
                                        NULL };
    const SchemaType *params = schema_find_type(s, "MigrationParameters");
    const SchemaCommand *set = schema_find_command(s, "migrate-set-parameters");

    g_assert_cmpuint(schema_command_count(s), ==, CORE_COMMANDS + 23);
    g_assert_cmpuint(schema_event_count(s), ==, 3 + 4);
    g_assert_cmpuint(count_prefix(s, "xen-"), ==, 3);
    g_assert_nonnull(schema_find_command(s, "query-xen-replication-status"));
    assert_strv(enum_values(s, "MigrationCapability"), caps);
    g_assert_cmpuint(schema_enum_count(schema_find_type(s, "MigrationParameter")), ==, 25);
    g_assert_true(schema_enum_has(s, "MigrationParameter", "tls-authz"));
    g_assert_true(schema_enum_has(s, "MultiFDCompression", "zstd"));
    g_assert_cmpuint(schema_object_member_count(params), ==, 25);
    g_assert_cmpstr(schema_type_name(schema_object_find_member(params, "compress-level")->type), ==,
                    "uint8");
    g_assert_true(set->boxed);
    g_assert_cmpstr(schema_type_name(set->args), ==, "MigrateSetParameters");
    g_assert_cmpstr(schema_type_name(schema_object_find_member(set->args, "tls-creds")->type), ==,
                    "StrOrNull");
    g_assert_cmpint(schema_type_meta(schema_find_type(s, "StrOrNull")), ==, SCHEMA_META_ALTERNATE);
    g_assert_true(schema_find_command(s, "migrate-pause")->allow_oob);
    g_assert_cmpstr(schema_find_command(s, "migrate_set_speed")->features[0], ==, "deprecated");
    g_assert_null(schema_find_command(s, "migrate_set_speed")->features[1]);
    g_assert_null(schema_find_command(s, "migrate")->features[0]);
    g_assert_nonnull(schema_find_event(s, "UNPLUG_PRIMARY"));
    /* a flat union's members are its common ones */
    g_assert_cmpuint(schema_object_member_count(schema_find_type(s, "SocketAddress")), ==, 1);
    schema_free(s);
}

static void test_seed_40dev(void)
{
    Schema *s = load_bundle(NULL, "migration-4.0-dev.json");

    g_assert_cmpuint(schema_command_count(s), ==, CORE_COMMANDS + 23);
    g_assert_cmpuint(schema_event_count(s), ==, 3 + 3);
    g_assert_null(schema_find_event(s, "UNPLUG_PRIMARY"));
    g_assert_cmpuint(schema_enum_count(schema_find_type(s, "MigrationCapability")), ==, 17);
    g_assert_true(schema_enum_has(s, "MigrationCapability", "x-multifd"));
    g_assert_false(schema_enum_has(s, "MigrationCapability", "multifd"));
    g_assert_cmpuint(schema_enum_count(schema_find_type(s, "MigrationParameter")), ==, 21);
    g_assert_true(schema_enum_has(s, "MigrationParameter", "x-multifd-channels"));
    g_assert_true(schema_enum_has(s, "MigrationParameter", "x-multifd-page-count"));
    g_assert_false(schema_enum_has(s, "MigrationParameter", "tls-authz"));
    g_assert_false(schema_enum_has(s, "MigrationParameter", "multifd-channels"));
    g_assert_nonnull(schema_object_find_member(schema_find_type(s, "MigrationParameters"),
                                               "x-multifd-page-count"));
    g_assert_null(
        schema_object_find_member(schema_find_type(s, "MigrateSetParameters"), "tls-authz"));
    g_assert_null(schema_find_type(s, "MultiFDCompression"));
    g_assert_false(schema_enum_has(s, "COLOExitReason", "processing"));
    g_assert_null(schema_find_command(s, "migrate_set_speed")->features[0]);
    schema_free(s);
}

static void test_conditions(void)
{
    static const char *const no_zstd[] = { "CONFIG_REPLICATION", NULL };
    static const char *const none[] = { NULL };
    Schema *s = load_bundle(no_zstd, "migration-5.0.json");
    const SchemaType *mc = schema_find_type(s, "MultiFDCompression");

    g_assert_cmpuint(schema_enum_count(mc), ==, 2);
    g_assert_cmpint(schema_enum_lookup(mc, "zstd"), ==, -1);
    g_assert_nonnull(schema_find_command(s, "xen-set-replication"));
    schema_free(s);

    s = load_bundle(none, "migration-5.0.json");
    g_assert_cmpuint(count_prefix(s, "xen-"), ==, 1); /* xen-save-devices-state stays */
    g_assert_null(schema_find_command(s, "xen-set-replication"));
    g_assert_null(schema_find_command(s, "query-xen-replication-status"));
    g_assert_null(schema_find_command(s, "xen-colo-do-checkpoint"));
    g_assert_null(schema_find_type(s, "ReplicationStatus"));
    g_assert_cmpuint(schema_command_count(s), ==, CORE_COMMANDS + 20);
    g_assert_false(schema_enum_has(s, "MultiFDCompression", "zstd"));
    schema_free(s);
}

/* Condition forms on a small schema: list form, negation, && and ||. */
static void test_condition_forms(void)
{
    static const char *const defs[] = { "CONFIG_A", "CONFIG_B", NULL };
    static const char text[] =
        "{ 'enum': 'E', 'data': [ 'always',\n"
        "  { 'name': 'a', 'if': 'defined(CONFIG_A)' },\n"
        "  { 'name': 'c', 'if': 'defined(CONFIG_C)' },\n"
        "  { 'name': 'ab', 'if': [ 'defined(CONFIG_A)', 'defined CONFIG_B' ] },\n"
        "  { 'name': 'ac', 'if': [ 'defined(CONFIG_A)', 'defined(CONFIG_C)' ] },\n"
        "  { 'name': 'notc', 'if': '!defined(CONFIG_C)' },\n"
        "  { 'name': 'cora', 'if': 'defined(CONFIG_C) || (defined(CONFIG_A) && 1)' } ] }\n"
        "{ 'struct': 'S', 'data': { 'x': 'int', 'y': { 'type': 'E', 'if': 'defined(CONFIG_C)' } } "
        "}\n"
        "{ 'command': 'c-only', 'if': 'defined(CONFIG_C)' }\n";
    static const char *const want[] = { "always", "a", "ab", "notc", "cora", NULL };
    Schema *s = schema_new(defs);
    GError *err = NULL;

    g_assert_true(schema_load_buffer(s, "cond.json", text, strlen(text), &err));
    g_assert_true(schema_finish(s, &err));
    g_assert_no_error(err);
    assert_strv(enum_values(s, "E"), want);
    g_assert_cmpuint(schema_object_member_count(schema_find_type(s, "S")), ==, 1);
    g_assert_null(schema_find_command(s, "c-only"));
    g_assert_cmpuint(schema_command_count(s), ==, 0);
    schema_free(s);
}

/* QEMU's own 5.0.0 migration.json, from a directory without common.json or sockets.json. */
static void test_real_qemu_file(void)
{
    Schema *s = schema_new(NULL);
    GError *err = NULL;
    gchar *path = g_build_filename(SCHEMA_TEST_DATA, "qemu-5.0.0-migration.json", NULL);
    gchar *common = g_build_filename(SCHEMA_TEST_DATA, "common.json", NULL);

    g_assert_false(g_file_test(common, G_FILE_TEST_EXISTS));
    g_assert_true(schema_load_builtin(s, "core.json", &err));
    g_assert_true(schema_load_file(s, path, &err));
    g_assert_true(schema_finish(s, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(schema_command_count(s), ==, CORE_COMMANDS + 23);
    g_assert_nonnull(schema_find_type(s, "SocketAddress"));
    g_assert_true(schema_enum_has(s, "MigrationCapability", "validate-uuid"));
    schema_free(s);
    g_free(path);
    g_free(common);
}

static gchar *write_file(const char *dir, const char *name, const char *text)
{
    gchar *path = g_build_filename(dir, name, NULL);
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    return path;
}

/* Includes: relative to the includer, each file once, bundle fallback, loops, absence. */
static void test_includes(void)
{
    gchar *dir = g_dir_make_tmp("schema-test-XXXXXX", NULL);
    gchar *sub = g_build_filename(dir, "sub", NULL);
    gchar *files[6];
    Schema *s = schema_new(NULL);
    GError *err = NULL;

    g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
    files[0] = write_file(dir, "main.json",
                          "{ 'include': 'sub/a.json' }\n{ 'include': 'sub/a.json' }\n"
                          "{ 'include': 'sockets.json' }\n"
                          "{ 'command': 'm', 'data': { 'x': 'A', 'y': 'SocketAddress' } }\n");
    files[1] = write_file(sub, "a.json",
                          "{ 'include': 'b.json' }\n{ 'struct': 'A', 'data': "
                          "{ 'b': 'B' } }\n");
    files[2] = write_file(sub, "b.json", "{ 'enum': 'B', 'data': [ 'one' ] }\n");
    files[3] = write_file(dir, "loop1.json", "{ 'include': 'loop2.json' }\n");
    files[4] = write_file(dir, "loop2.json", "\n{ 'include': 'loop1.json' }\n");
    files[5] = write_file(dir, "missing.json", "{ 'include': 'nowhere.json' }\n");

    g_assert_true(schema_load_file(s, files[0], &err));
    g_assert_no_error(err);
    g_assert_true(schema_load_file(s, files[2], &err)); /* already read: nothing happens */
    g_assert_true(schema_finish(s, &err));
    g_assert_cmpuint(schema_command_count(s), ==, 1);
    g_assert_true(schema_enum_has(s, "B", "one"));
    schema_free(s);

    s = schema_new(NULL);
    g_assert_false(schema_load_file(s, files[3], &err));
    g_assert_nonnull(g_strrstr(err->message, "loop2.json:2:1: inclusion loop for loop1.json"));
    g_clear_error(&err);
    g_assert_false(schema_finish(s, &err)); /* a failed schema stays failed */
    g_clear_error(&err);
    schema_free(s);

    s = schema_new(NULL);
    g_assert_false(schema_load_file(s, files[5], &err));
    g_assert_nonnull(strstr(err->message, "missing.json:1:1: can't read include file '"));
    g_assert_nonnull(strstr(err->message, "nowhere.json': No such file or directory"));
    g_clear_error(&err);
    schema_free(s);

    s = schema_new(NULL);
    g_assert_false(schema_load_file(s, "/nonexistent/x.json", &err));
    g_assert_cmpstr(err->message, ==,
                    "can't read schema file '/nonexistent/x.json': No such file or directory");
    g_clear_error(&err);
    g_assert_false(schema_load_builtin(s, "nope.json", &err));
    g_clear_error(&err);
    schema_free(s);

    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        g_unlink(files[i]);
        g_free(files[i]);
    }
    g_rmdir(sub);
    g_rmdir(dir);
    g_free(sub);
    g_free(dir);
}

/* Pragmas and documentation: doc-required, name-case-whitelist. */
static void test_pragmas(void)
{
    static const char upper[] = "{ 'pragma': { 'name-case-whitelist': [ 'E' ] } }\n"
                                "{ 'enum': 'E', 'data': [ 'Upper' ] }\n";
    static const char docs[] = "{ 'pragma': { 'doc-required': true } }\n"
                               "##\n# @E:\n#\n# Text.\n##\n{ 'enum': 'E', 'data': [ 'a' ] }\n"
                               "{ 'enum': 'F', 'data': [ 'a' ] }\n";
    Schema *s = schema_new(NULL);
    GError *err = NULL;

    g_assert_true(schema_load_buffer(s, "u.json", upper, strlen(upper), &err));
    g_assert_true(schema_finish(s, &err));
    g_assert_true(schema_enum_has(s, "E", "Upper"));
    schema_free(s);

    s = schema_new(NULL);
    g_assert_false(schema_load_buffer(s, "d.json", docs, strlen(docs), &err));
    g_assert_cmpstr(err->message, ==, "d.json:8:1: documentation comment required");
    g_clear_error(&err);
    schema_free(s);
}

/* The API before schema_finish and with NULLs never crashes. */
static void test_unfinished(void)
{
    Schema *s = schema_new(NULL);

    g_assert_true(schema_load_builtin(s, "core.json", NULL));
    g_assert_null(schema_find_command(s, "stop"));
    g_assert_cmpuint(schema_command_count(s), ==, 0);
    g_assert_null(schema_command_at(s, 0));
    g_assert_cmpuint(schema_enum_count(NULL), ==, 0);
    g_assert_cmpuint(schema_object_member_count(NULL), ==, 0);
    g_assert_null(schema_type_name(NULL));
    g_assert_true(schema_finish(s, NULL));
    g_assert_false(schema_finish(s, NULL)); /* only once */
    g_assert_false(schema_load_builtin(s, "common.json", NULL));
    schema_free(s);
    schema_free(NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/schema/load/bundle", test_bundle);
    g_test_add_func("/schema/load/core", test_core);
    g_test_add_func("/schema/load/seed-5.0", test_seed_50);
    g_test_add_func("/schema/load/seed-4.0-dev", test_seed_40dev);
    g_test_add_func("/schema/load/conditions", test_conditions);
    g_test_add_func("/schema/load/condition-forms", test_condition_forms);
    g_test_add_func("/schema/load/real-qemu-file", test_real_qemu_file);
    g_test_add_func("/schema/load/includes", test_includes);
    g_test_add_func("/schema/load/pragmas", test_pragmas);
    g_test_add_func("/schema/load/unfinished", test_unfinished);
    return g_test_run();
}
