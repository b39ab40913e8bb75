/* Unit tests for run_report: the final query-migrate replies go into the run report
 * verbatim (member names, order and number texts as on the wire), and the golden check
 * compares them only when the golden file has them. */
#include "qmp_stream.h"
#include "run.h"

#include <glib/gstdio.h>
#include <string.h>

/* A completed query-migrate reply as QEMU 5.0 writes it (QDict member order, "%f"
 * doubles without trailing zeros). */
static const char *const REPLY =
    "{\"status\": \"completed\", \"setup-time\": 0, \"downtime\": 3, \"total-time\": 203, "
    "\"ram\": {\"total\": 16777216, \"postcopy-requests\": 0, \"dirty-sync-count\": 3, "
    "\"multifd-bytes\": 0, \"pages-per-second\": 13230, \"page-size\": 4096, \"remaining\": 0, "
    "\"mbps\": 432.579232, \"transferred\": 10975847, \"duplicate\": 1560, "
    "\"dirty-pages-rate\": 0, \"skipped\": 0, \"normal-bytes\": 10940416, \"normal\": 2671}, "
    "\"compression\": {\"compression-rate\": 0.5, \"busy-rate\": 1.25}}";

static char *without_spaces(const char *s)
{
    GString *g = g_string_new(NULL);

    for (; *s; s++)
        if (*s != ' ' && *s != '\n')
            g_string_append_c(g, *s);
    return g_string_free(g, FALSE);
}

static char *json_c_text(json_object *v)
{
    return without_spaces(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY));
}

static void test_verbatim(void)
{
    json_object *plain, *v;
    char *want = without_spaces(REPLY), *got;

    g_assert_true(qmp_json_parse(REPLY, strlen(REPLY), &plain, NULL));
    /* Without it, json-c prints its own "%.17g" text for the doubles. */
    got = json_c_text(plain);
    g_assert_cmpstr(got, !=, want);
    g_free(got);
    json_object_put(plain);

    g_assert_true(qmp_json_parse(REPLY, strlen(REPLY), &v, NULL));
    g_assert_true(run_report_verbatim(v) == v);
    got = json_c_text(v);
    g_assert_cmpstr(got, ==, want);
    g_free(got);
    /* Still a number for programs. */
    g_assert_cmpfloat(
        json_object_get_double(json_object_object_get(json_object_object_get(v, "ram"), "mbps")),
        ==, 432.579232);
    json_object_put(v);
    g_free(want);
}

static json_object *report_with(const char *status)
{
    json_object *r = json_object_new_object(), *res = json_object_new_object();
    json_object *qm = json_object_new_object(), *src = json_object_new_object();

    json_object_object_add(res, "status", json_object_new_string("completed"));
    json_object_object_add(r, "settings", json_object_new_object());
    json_object_object_add(r, "result", res);
    json_object_object_add(src, "status", json_object_new_string(status));
    json_object_object_add(qm, "source", src);
    json_object_object_add(r, "query-migrate", qm);
    return r;
}

static void test_check_compares_replies_when_golden_has_them(void)
{
    char *dir = g_dir_make_tmp("cli-report-XXXXXX", NULL);
    char *path = g_build_filename(dir, "golden.json", NULL);
    json_object *golden = report_with("completed"), *now = report_with("failed");
    FILE *out = fopen("/dev/null", "w");

    g_assert_nonnull(out);
    json_object_to_file(path, golden);
    g_assert_true(run_report_check(out, golden, path));
    g_assert_false(run_report_check(out, now, path)); /* query-migrate.source.status */
    /* An older golden file without the replies: only settings and result count. */
    json_object_object_del(golden, "query-migrate");
    json_object_to_file(path, golden);
    g_assert_true(run_report_check(out, now, path));
    fclose(out);
    json_object_put(golden);
    json_object_put(now);
    g_unlink(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/run-report/verbatim", test_verbatim);
    g_test_add_func("/cli/run-report/check-replies",
                    test_check_compares_replies_when_golden_has_them);
    return g_test_run();
}
