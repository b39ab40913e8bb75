/* Unit tests for sweep_spec: the product's size and order, point identities (stable, and
 * different for different definitions), seeds joined to sim guests, the run command of a
 * point, the explicit point list, and a clear error for each kind of bad spec. */
#include "sweep_spec.h"

#include <string.h>

static const char *const SPEC =
    "{\"name\": \"t\", \"guests\": [\"sim:uniform,size=64M\", \"sim:hotspot,size=64M\"],"
    " \"capabilities\": [{}, {\"xbzrle\": true}],"
    " \"parameters\": {\"max-bandwidth\": [\"4M\", \"8M\", 16777216], \"downtime-limit\": [300]},"
    " \"seeds\": [1, 2], \"options\": {\"max-passes\": 20}}";

static void test_product(void)
{
    GError *err = NULL;
    SweepSpec *s = sweep_spec_parse(SPEC, "t.json", &err);

    g_assert_no_error(err);
    g_assert_cmpuint(s->points->len, ==, 24);
    g_assert_cmpuint(s->swept->len, ==, 1);
    g_assert_cmpstr(s->swept->pdata[0], ==, "max-bandwidth");
    SweepPoint *p0 = s->points->pdata[0], *p1 = s->points->pdata[1], *p23 = s->points->pdata[23];
    /* seeds vary fastest, guests slowest */
    g_assert_cmpstr(p0->guest_run, ==, "sim:uniform,size=64M,seed=1");
    g_assert_cmpstr(p1->guest_run, ==, "sim:uniform,size=64M,seed=2");
    g_assert_cmpstr(p23->guest_run, ==, "sim:hotspot,size=64M,seed=2");
    g_assert_cmpstr(p0->caps_label, ==, "none");
    g_assert_cmpstr(p23->caps_label, ==, "xbzrle");
    g_assert_cmpuint(p23->index, ==, 23);
    /* ids: distinct, stable across parses */
    GHashTable *ids = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < s->points->len; i++)
        g_hash_table_add(ids, ((SweepPoint *)s->points->pdata[i])->id);
    g_assert_cmpuint(g_hash_table_size(ids), ==, 24);
    g_hash_table_destroy(ids);
    SweepSpec *again = sweep_spec_parse(SPEC, "t.json", &err);
    g_assert_cmpstr(((SweepPoint *)again->points->pdata[7])->id, ==,
                    ((SweepPoint *)s->points->pdata[7])->id);
    g_assert_cmpuint(strlen(p0->id), ==, 13);
    sweep_spec_free(again);

    gchar **args = sweep_point_run_args(p23, "/r/p.json");
    gchar *line = g_strjoinv(" ", args);
    g_assert_cmpstr(line, ==,
                    "run -q --json /r/p.json --guest sim:hotspot,size=64M,seed=2 --cap xbzrle=on "
                    "--param max-bandwidth=16777216 --param downtime-limit=300 --max-passes 20");
    g_free(line);
    g_strfreev(args);
    sweep_spec_free(s);
}

static void test_point_list(void)
{
    GError *err = NULL;
    SweepSpec *s =
        sweep_spec_parse("{\"points\": [{\"guest\": \"sim:\", \"seed\": 3},"
                         " {\"guest\": \"sim:uniform\", \"capabilities\": {\"compress\": false},"
                         "  \"parameters\": {\"max-bandwidth\": 1}},"
                         " {\"guest\": \"sim:uniform\", \"parameters\": {\"max-bandwidth\": 2}}]}",
                         "l.json", &err);

    g_assert_no_error(err);
    g_assert_cmpuint(s->points->len, ==, 3);
    g_assert_cmpstr(((SweepPoint *)s->points->pdata[0])->guest_run, ==, "sim:seed=3");
    g_assert_cmpstr(((SweepPoint *)s->points->pdata[1])->caps_label, ==, "compress=off");
    g_assert_cmpuint(s->swept->len, ==, 1);
    sweep_spec_free(s);
}

static void test_errors(void)
{
    static const struct {
        const char *text, *message;
    } cases[] = {
        { "[1]", "e.json: a sweep spec is a JSON object" },
        { "{\"guests\": [\"sim:\"]", "e.json: not valid JSON" },
        { "{\"guests\": []}", "e.json: \"guests\" must be a non-empty list of guest specs" },
        { "{\"guests\": [\"sim:\"], \"colour\": 1}", "e.json: unknown member \"colour\"" },
        { "{\"guests\": [\"sim:\"], \"parameters\": {\"max-bandwidth\": []}}",
          "e.json: \"parameters\".\"max-bandwidth\" must be a non-empty list of values" },
        { "{\"guests\": [\"sim:\"], \"capabilities\": [{\"xbzrle\": 1}]}",
          "e.json: \"capabilities\"[0].\"xbzrle\" must be true or false" },
        { "{\"guests\": [\"sim:\"], \"seeds\": [\"a\"]}",
          "e.json: \"seeds\" must be a non-empty list of integers" },
        { "{\"guests\": [\"sim:a,seed=1\"], \"seeds\": [2]}",
          "e.json: guest 'sim:a,seed=1' sets seed= and the spec has \"seeds\"" },
        { "{\"guests\": [\"sim:\"], \"options\": {\"json\": \"x\"}}",
          "e.json: \"options\": 'json' is not a run option a spec may set" },
        { "{\"points\": [{\"guest\": 1}]}",
          "e.json: \"points\"[0] must be an object with a \"guest\" string" },
        { "{\"points\": [{\"guest\": \"sim:\"}], \"seeds\": [1]}",
          "e.json: \"points\" lists the points itself" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        GError *err = NULL;
        SweepSpec *s = sweep_spec_parse(cases[i].text, "e.json", &err);
        g_assert_null(s);
        g_assert_nonnull(err);
        if (!g_str_has_prefix(err->message, cases[i].message))
            g_error("case %zu: got '%s', want '%s...'", i, err->message, cases[i].message);
        g_error_free(err);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sweep/spec/product", test_product);
    g_test_add_func("/sweep/spec/point-list", test_point_list);
    g_test_add_func("/sweep/spec/errors", test_errors);
    return g_test_run();
}
