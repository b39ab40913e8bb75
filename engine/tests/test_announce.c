/* Unit tests for the self-announce schedule (QEMU's net/announce.c timing). */
#include "mig_announce.h"

#include <glib.h>

static void test_defaults(void)
{
    int64_t at[16];
    unsigned n = mig_announce_schedule(50, 550, 5, 100, at, 16);
    const int64_t want[] = { 0, 50, 200, 450, 800 };
    g_assert_cmpuint(n, ==, 5);
    for (unsigned i = 0; i < n; i++)
        g_assert_cmpint(at[i], ==, want[i]);
}

static void test_cap_and_none(void)
{
    int64_t at[16];
    g_assert_cmpuint(mig_announce_schedule(50, 550, 0, 100, at, 16), ==, 0);
    g_assert_cmpuint(mig_announce_schedule(50, 550, 1, 100, at, 16), ==, 1);
    /* delays grow by step until they hit max: 100, 300, 300, ... */
    unsigned n = mig_announce_schedule(100, 300, 5, 200, at, 16);
    const int64_t want[] = { 0, 100, 400, 700, 1000 };
    g_assert_cmpuint(n, ==, 5);
    for (unsigned i = 0; i < n; i++)
        g_assert_cmpint(at[i], ==, want[i]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/announce/defaults", test_defaults);
    g_test_add_func("/announce/cap-and-none", test_cap_and_none);
    return g_test_run();
}
