/* Unit tests for the sim guest spec (sim_spec.c): content mixes inside a spec, whose
 * options are comma-separated, and the errors that name the bad token. */
#include "sim_internal.h"

#include <string.h>

static void spec_ok(const char *text, SimSpec *s)
{
    GError *err = NULL;

    if (!sim_spec_parse(text, s, &err))
        g_error("spec '%s': %s", text, err->message);
}

static void test_mix_in_spec(void)
{
    SimSpec s;

    spec_ok("uniform,init=zero:90+sparse:10,size=64M", &s);
    g_assert_cmpuint(s.gen.init.pct[0], ==, 90);
    g_assert_cmpuint(s.gen.init.pct[3], ==, 10);
    sim_spec_clear(&s);
    spec_ok("uniform,mix=zero:40/random:10/text:30/sparse:20", &s);
    g_assert_cmpuint(s.gen.mix.pct[1], ==, 10);
    g_assert_cmpuint(s.gen.mix.pct[2], ==, 30);
    sim_spec_clear(&s);
    /* The single-class forms still work. */
    spec_ok("uniform,init=text,mix=random", &s);
    g_assert_cmpuint(s.gen.init.pct[2], ==, 100);
    g_assert_cmpuint(s.gen.mix.pct[1], ==, 100);
    sim_spec_clear(&s);
}

static void test_mix_errors(void)
{
    const char *bad[] = {
        "uniform,init=zero:90,sparse:10",
        "uniform,mix=zero:40,random:10,text:30,sparse:20,seed=2",
        "uniform,init=zero:90+blue:10",
        "uniform,init=zero:90+sparse:20",
    };
    const char *want[] = {
        "'sparse:10' is not an option: inside a guest spec, join the parts of a content mix "
        "with '+' (init=zero:90+sparse:10)",
        "'random:10' is not an option: inside a guest spec, join the parts of a content mix "
        "with '+' (mix=zero:40+random:10+text:30+sparse:20)",
        "'blue:10'",
        "add up to 110",
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        SimSpec s;
        GError *err = NULL;
        g_assert_false(sim_spec_parse(bad[i], &s, &err));
        g_assert_nonnull(err);
        if (!strstr(err->message, want[i]))
            g_error("spec '%s': error '%s' lacks '%s'", bad[i], err->message, want[i]);
        g_error_free(err);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sim/spec/mix-in-spec", test_mix_in_spec);
    g_test_add_func("/sim/spec/mix-errors", test_mix_errors);
    return g_test_run();
}
