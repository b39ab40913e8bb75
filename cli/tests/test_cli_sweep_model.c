/* Unit tests for sweep_model: the C model gives the figures of the Python model of
 * conformance/tests/test_feature_model.py (values computed with that code), and reads a
 * point's guest spec and parameters with the simulator's own defaults. */
#include "sweep_model.h"

#include <glib.h>

static void test_uniform_matches_python(void)
{
    /* model([(n, 1.0)], n, 2M/4096) for a 64 MiB guest, R = 8 MiB/s, downtime 300 ms:
     * dirty = [67108864, 16104718.39, 5408904.86, 2895837.10, 2290672.74],
     * sum(sent) + final = 85587225.80 */
    SweepModelInput in;
    SweepModelPrediction p;
    json_object *params = json_tokener_parse("{\"max-bandwidth\": \"8M\"}");

    g_assert_true(sweep_model_input("sim:uniform,size=64M,rate=2M,seed=1", params, NULL, &in));
    g_assert_cmpint(in.nsets, ==, 1);
    g_assert_cmpfloat(in.total_pages, ==, 16384);
    g_assert_cmpfloat(in.writes_per_s, ==, 512);
    g_assert_cmpfloat(in.max_bandwidth, ==, 8388608);
    g_assert_cmpfloat(in.downtime_s, ==, 0.3);
    sweep_model_predict(&in, &p);
    g_assert_true(p.converged);
    g_assert_cmpint(p.passes, ==, 6);
    g_assert_cmpfloat_with_epsilon(p.transferred, 85587225.80013031, 1e-3);
    /* the final round, 2290672.74 bytes as pages on the wire, at 10 Gbit/s */
    g_assert_cmpfloat_with_epsilon(p.downtime_ms, 2290672.7441139724 / 4096 * 4104 / 1.25e6, 1e-6);
    json_object_put(params);
}

static void test_hotspot_not_converging(void)
{
    /* test_hot_set_larger_than_the_downtime_budget_never_converges: 1 GiB, 128M/s, 10% hot */
    SweepModelInput in;
    SweepModelPrediction p;

    g_assert_true(
        sweep_model_input("sim:hotspot,size=1G,rate=128M,hot=10%,share=90%", NULL, NULL, &in));
    g_assert_cmpint(in.nsets, ==, 2);
    g_assert_cmpfloat(in.sets[0].pages, ==, 26214);
    g_assert_cmpfloat(in.max_bandwidth, ==, 33554432);
    sweep_model_predict(&in, &p);
    g_assert_false(p.converged);
    g_assert_cmpint(p.passes, ==, 41);
}

static void test_not_applicable(void)
{
    SweepModelInput in;
    json_object *bad = json_tokener_parse("{\"max-bandwidth\": \"lots\"}");

    g_assert_false(sweep_model_input("sim:zipf,size=64M", NULL, NULL, &in));
    g_assert_false(sweep_model_input("kvm:mem=1G", NULL, NULL, &in));
    g_assert_false(sweep_model_input("sim:traces/xz-compress.trace", NULL, NULL, &in));
    g_assert_false(sweep_model_input("sim:uniform", bad, NULL, &in));
    g_assert_false(sweep_model_input("sim:uniform", NULL, "fast", &in));
    /* plain sim: is the default hotspot guest; a slow link caps the rate */
    g_assert_true(sweep_model_input("sim:", NULL, "100Mbit", &in));
    g_assert_cmpint(in.nsets, ==, 2);
    g_assert_cmpfloat(in.max_bandwidth, ==, 12500000);
    json_object_put(bad);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sweep/model/uniform-matches-python", test_uniform_matches_python);
    g_test_add_func("/sweep/model/hotspot-not-converging", test_hotspot_not_converging);
    g_test_add_func("/sweep/model/not-applicable", test_not_applicable);
    return g_test_run();
}
