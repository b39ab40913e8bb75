/* Unit tests for introspection: query-qmp-schema of core.json + migration-5.0.json compared
 * with what a real QEMU 5.0.0 answered (tests/data, captured by libvirt), structure by
 * structure after resolving masked names on both sides; plus masking, conditions and the
 * order of query-commands. */
#include "schema.h"

#include <string.h>

#ifndef SCHEMA_TEST_DATA
#error "SCHEMA_TEST_DATA must name schema/tests/data"
#endif

static Schema *load(const char *const *defines)
{
    Schema *s = schema_new(defines);
    GError *err = NULL;

    g_assert_true(schema_load_builtin(s, "core.json", &err));
    g_assert_true(schema_load_builtin(s, "migration-5.0.json", &err));
    g_assert_true(schema_finish(s, &err));
    g_assert_no_error(err);
    return s;
}

static GHashTable *by_name(json_object *list)
{
    GHashTable *h = g_hash_table_new(g_str_hash, g_str_equal);

    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *e = json_object_array_get_idx(list, i), *name;
        g_assert_true(json_object_object_get_ex(e, "name", &name));
        g_assert_false(g_hash_table_contains(h, json_object_get_string(name)));
        g_hash_table_insert(h, (gpointer)json_object_get_string(name), e);
    }
    return h;
}

static const char *str(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;
    json_object_object_get_ex(o, key, &v);
    return v;
}

/* ---- structural comparison ---- */

typedef struct {
    GHashTable *ours, *ref;
    GHashTable *memo; /* "ours|ref" pairs already compared */
    int zstd_extra;   /* enums that differ only by a trailing "zstd" in ours */
} Cmp;

static bool fail(const char *path, const char *what)
{
    g_test_message("difference at %s: %s", path, what);
    return false;
}

static bool same_json(json_object *a, json_object *b)
{
    return json_object_equal(a, b) != 0;
}

static bool cmp_type(Cmp *c, const char *a, const char *b, const char *path);

static bool cmp_values(Cmp *c, json_object *va, json_object *vb, const char *path)
{
    size_t na = json_object_array_length(va), nb = json_object_array_length(vb);

    for (size_t i = 0; i < nb; i++)
        if (i >= na || strcmp(json_object_get_string(json_object_array_get_idx(va, i)),
                              json_object_get_string(json_object_array_get_idx(vb, i))) != 0)
            return fail(path, "enum values");
    if (na == nb)
        return true;
    /* our build has CONFIG_ZSTD, the captured one had not */
    if (na == nb + 1 &&
        strcmp(json_object_get_string(json_object_array_get_idx(va, nb)), "zstd") == 0) {
        c->zstd_extra++;
        return true;
    }
    return fail(path, "enum values");
}

static bool cmp_members(Cmp *c, json_object *ma, json_object *mb, const char *path)
{
    if (json_object_array_length(ma) != json_object_array_length(mb))
        return fail(path, "member count");
    for (size_t i = 0; i < json_object_array_length(mb); i++) {
        json_object *x = json_object_array_get_idx(ma, i), *y = json_object_array_get_idx(mb, i);
        const char *name = str(y, "name");
        gchar *sub = g_strdup_printf("%s.%s", path, name ? name : "|");
        bool ok = g_strcmp0(str(x, "name"), name) == 0 &&
                  json_object_object_get_ex(x, "default", NULL) ==
                      json_object_object_get_ex(y, "default", NULL) &&
                  same_json(get(x, "features"), get(y, "features"));
        ok = ok ? cmp_type(c, str(x, "type"), str(y, "type"), sub) : fail(sub, "member");
        g_free(sub);
        if (!ok)
            return false;
    }
    return true;
}

static bool cmp_variants(Cmp *c, json_object *va, json_object *vb, const char *path)
{
    if (!va || !vb)
        return va == vb || fail(path, "variants");
    if (json_object_array_length(va) != json_object_array_length(vb))
        return fail(path, "variant count");
    for (size_t i = 0; i < json_object_array_length(vb); i++) {
        json_object *x = json_object_array_get_idx(va, i), *y = json_object_array_get_idx(vb, i);
        gchar *sub = g_strdup_printf("%s|%s", path, str(y, "case"));
        bool ok = g_strcmp0(str(x, "case"), str(y, "case")) == 0
                      ? cmp_type(c, str(x, "type"), str(y, "type"), sub)
                      : fail(sub, "case");
        g_free(sub);
        if (!ok)
            return false;
    }
    return true;
}

static bool cmp_entry(Cmp *c, json_object *ea, json_object *eb, const char *path)
{
    const char *meta = str(eb, "meta-type");

    if (g_strcmp0(str(ea, "meta-type"), meta) != 0)
        return fail(path, "meta-type");
    if (!same_json(get(ea, "features"), get(eb, "features")))
        return fail(path, "features");
    if (strcmp(meta, "builtin") == 0)
        return g_strcmp0(str(ea, "json-type"), str(eb, "json-type")) == 0 ||
               fail(path, "json-type");
    if (strcmp(meta, "enum") == 0)
        return cmp_values(c, get(ea, "values"), get(eb, "values"), path);
    if (strcmp(meta, "array") == 0)
        return cmp_type(c, str(ea, "element-type"), str(eb, "element-type"), path);
    if (strcmp(meta, "alternate") == 0)
        return cmp_members(c, get(ea, "members"), get(eb, "members"), path);
    return cmp_members(c, get(ea, "members"), get(eb, "members"), path) &&
           (g_strcmp0(str(ea, "tag"), str(eb, "tag")) == 0 || fail(path, "tag")) &&
           cmp_variants(c, get(ea, "variants"), get(eb, "variants"), path);
}

/* Masked names differ between the builds; what they name must not. */
static bool cmp_type(Cmp *c, const char *a, const char *b, const char *path)
{
    gchar *key = g_strdup_printf("%s|%s", a, b);
    json_object *ea = g_hash_table_lookup(c->ours, a), *eb = g_hash_table_lookup(c->ref, b);

    if (g_hash_table_contains(c->memo, key)) {
        g_free(key);
        return true;
    }
    g_hash_table_add(c->memo, key);
    if (!ea || !eb)
        return fail(path, "unresolved type name");
    return cmp_entry(c, ea, eb, path);
}

static bool cmp_entity(Cmp *c, json_object *ours, json_object *ref)
{
    const char *name = str(ref, "name");

    g_assert_nonnull(ours);
    if (g_strcmp0(str(ours, "meta-type"), str(ref, "meta-type")) != 0 ||
        !same_json(get(ours, "allow-oob"), get(ref, "allow-oob")) ||
        !same_json(get(ours, "features"), get(ref, "features")))
        return fail(name, "command/event flags");
    if (!cmp_type(c, str(ours, "arg-type"), str(ref, "arg-type"), name))
        return false;
    return !get(ref, "ret-type") || cmp_type(c, str(ours, "ret-type"), str(ref, "ret-type"), name);
}

/* Compares every command and event of a reference file; returns how many. */
static int compare_with(json_object *ours, const char *ref_file, int *zstd_extra)
{
    gchar *path = g_build_filename(SCHEMA_TEST_DATA, ref_file, NULL);
    json_object *ref = json_object_from_file(path);
    Cmp c = { by_name(ours), NULL, g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL) };
    int n = 0;

    g_assert_nonnull(ref);
    c.ref = by_name(ref);
    for (size_t i = 0; i < json_object_array_length(ref); i++) {
        json_object *e = json_object_array_get_idx(ref, i);
        const char *meta = str(e, "meta-type");
        if (strcmp(meta, "command") && strcmp(meta, "event"))
            continue;
        g_assert_true(cmp_entity(&c, g_hash_table_lookup(c.ours, str(e, "name")), e));
        n++;
    }
    *zstd_extra = c.zstd_extra;
    g_hash_table_destroy(c.ours);
    g_hash_table_destroy(c.ref);
    g_hash_table_destroy(c.memo);
    json_object_put(ref);
    g_free(path);
    return n;
}

static void test_vs_qemu(void)
{
    static const char *const no_zstd[] = { "CONFIG_REPLICATION", NULL };
    Schema *s = load(NULL);
    json_object *ours = schema_introspect(s, true);
    int zstd;

    /* 23 commands and 4 events of migration.json; MultiFDCompression is reached twice */
    g_assert_cmpint(compare_with(ours, "qemu-5.0.0.query-qmp-schema.migration-subset.json", &zstd),
                    ==, 27);
    g_assert_cmpint(zstd, ==, 1);
    g_assert_cmpint(compare_with(ours, "qemu-5.0.0.query-qmp-schema.core-subset.json", &zstd), ==,
                    13);
    g_assert_cmpint(zstd, ==, 0);
    json_object_put(ours);
    schema_free(s);

    s = load(no_zstd); /* like the captured build: no difference at all */
    ours = schema_introspect(s, true);
    g_assert_cmpint(compare_with(ours, "qemu-5.0.0.query-qmp-schema.migration-subset.json", &zstd),
                    ==, 27);
    g_assert_cmpint(zstd, ==, 0);
    json_object_put(ours);
    schema_free(s);
}

/* Every type name an entry mentions is itself an entry. */
static void assert_closed(json_object *list)
{
    GHashTable *h = by_name(list);

    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *e = json_object_array_get_idx(list, i);
        static const char *const refs[] = { "arg-type", "ret-type", "element-type" };
        for (size_t k = 0; k < G_N_ELEMENTS(refs); k++)
            if (str(e, refs[k]))
                g_assert_true(g_hash_table_contains(h, str(e, refs[k])));
        for (size_t k = 0; get(e, "members") && k < json_object_array_length(get(e, "members"));
             k++)
            g_assert_true(g_hash_table_contains(
                h, str(json_object_array_get_idx(get(e, "members"), k), "type")));
    }
    g_hash_table_destroy(h);
}

static void test_masking(void)
{
    Schema *s = load(NULL);
    json_object *masked = schema_introspect(s, true), *plain = schema_introspect(s, false);
    GHashTable *m = by_name(masked), *p = by_name(plain);
    json_object *e;

    g_assert_cmpuint(json_object_array_length(masked), ==, json_object_array_length(plain));
    assert_closed(masked);
    assert_closed(plain);
    e = g_hash_table_lookup(m, "0"); /* q_empty, as in QEMU */
    g_assert_nonnull(e);
    g_assert_cmpuint(json_object_array_length(get(e, "members")), ==, 0);
    g_assert_cmpstr(str(g_hash_table_lookup(m, "query-status"), "arg-type"), ==, "0");
    g_assert_nonnull(g_hash_table_lookup(p, "q_empty"));
    g_assert_nonnull(g_hash_table_lookup(p, "q_obj_migrate-arg"));
    g_assert_nonnull(g_hash_table_lookup(p, "[MigrationCapabilityStatus]"));
    g_assert_cmpstr(str(g_hash_table_lookup(p, "query-migrate"), "ret-type"), ==, "MigrationInfo");
    g_assert_cmpstr(str(g_hash_table_lookup(p, "migrate-set-parameters"), "arg-type"), ==,
                    "MigrateSetParameters");
    g_assert_null(g_hash_table_lookup(m, "MigrationInfo"));
    g_assert_null(g_hash_table_lookup(p, "uint8")); /* integers all appear as int */
    g_assert_nonnull(g_hash_table_lookup(p, "int"));
    g_assert_true(get(g_hash_table_lookup(p, "migrate-pause"), "allow-oob") != NULL);
    g_assert_false(json_object_object_get_ex(g_hash_table_lookup(p, "migrate"), "allow-oob", NULL));
    /* commands and events come first */
    g_assert_cmpstr(str(json_object_array_get_idx(plain, 0), "name"), ==, "query-status");
    size_t first_type = 0;
    while (first_type < json_object_array_length(plain)) {
        const char *mt = str(json_object_array_get_idx(plain, first_type), "meta-type");
        if (strcmp(mt, "command") && strcmp(mt, "event"))
            break;
        first_type++;
    }
    g_assert_cmpuint(first_type, ==, (size_t)(schema_command_count(s) + schema_event_count(s)));
    g_assert_cmpstr(str(json_object_array_get_idx(plain, first_type), "meta-type"), ==, "object");
    g_hash_table_destroy(m);
    g_hash_table_destroy(p);
    json_object_put(masked);
    json_object_put(plain);
    schema_free(s);
}

static void test_conditions(void)
{
    static const char *const none[] = { NULL };
    Schema *s = load(none);
    json_object *plain = schema_introspect(s, false);
    GHashTable *p = by_name(plain);

    assert_closed(plain);
    g_assert_null(g_hash_table_lookup(p, "xen-set-replication"));
    g_assert_null(g_hash_table_lookup(p, "ReplicationStatus"));
    g_assert_nonnull(g_hash_table_lookup(p, "xen-save-devices-state"));
    g_assert_cmpuint(
        json_object_array_length(get(g_hash_table_lookup(p, "MultiFDCompression"), "values")), ==,
        2);
    g_hash_table_destroy(p);
    json_object_put(plain);
    schema_free(s);
}

/* query-commands: QEMU lists its registry backwards, hand-written commands registered last. */
static void test_query_commands(void)
{
    Schema *s = load(NULL);
    json_object *list = schema_query_commands(s);
    size_t n = json_object_array_length(list);

    g_assert_cmpuint(n, ==, schema_command_count(s));
    g_assert_cmpstr(str(json_object_array_get_idx(list, 0), "name"), ==, "query-qmp-schema");
    g_assert_cmpstr(str(json_object_array_get_idx(list, 1), "name"), ==, "migrate-pause");
    g_assert_cmpstr(str(json_object_array_get_idx(list, n - 1), "name"), ==, "query-status");
    for (size_t i = 0; i < n; i++)
        g_assert_nonnull(schema_find_command(s, str(json_object_array_get_idx(list, i), "name")));
    json_object_put(list);
    schema_free(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/schema/introspect/vs-qemu-5.0", test_vs_qemu);
    g_test_add_func("/schema/introspect/masking", test_masking);
    g_test_add_func("/schema/introspect/conditions", test_conditions);
    g_test_add_func("/schema/introspect/query-commands", test_query_commands);
    return g_test_run();
}
