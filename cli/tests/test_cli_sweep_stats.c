/* Unit tests for sweep_stats: the incomplete beta function and Student's t p-value against
 * closed forms (df 1 and 2), a tabulated critical value (df 10), and Welch's statistic and
 * degrees of freedom computed by hand. */
#include "sweep_stats.h"

#include <glib.h>
#include <math.h>

static void test_betai(void)
{
    /* I_x(1, b) = 1 - (1 - x)^b */
    for (double x = 0.05; x < 1; x += 0.1)
        g_assert_cmpfloat_with_epsilon(sweep_betai(1, 3.5, x), 1 - pow(1 - x, 3.5), 1e-12);
    /* symmetry I_x(a, b) = 1 - I_{1-x}(b, a) */
    g_assert_cmpfloat_with_epsilon(sweep_betai(2.5, 7, 0.3), 1 - sweep_betai(7, 2.5, 0.7), 1e-12);
    g_assert_cmpfloat(sweep_betai(2, 2, 0), ==, 0);
    g_assert_cmpfloat(sweep_betai(2, 2, 1), ==, 1);
}

static void test_t_pvalue(void)
{
    /* df 1 is Cauchy: P(|T| >= t) = 1 - 2 atan(t) / pi */
    for (double t = 0.25; t < 20; t *= 2)
        g_assert_cmpfloat_with_epsilon(sweep_t_pvalue(t, 1), 1 - 2 * atan(t) / M_PI, 1e-12);
    /* df 2: P(|T| >= t) = 1 - t / sqrt(2 + t^2) */
    for (double t = 0.25; t < 20; t *= 2)
        g_assert_cmpfloat_with_epsilon(sweep_t_pvalue(-t, 2), 1 - t / sqrt(2 + t * t), 1e-12);
    /* the two-sided 5% critical value of df 10 is 2.228138851986274 */
    g_assert_cmpfloat_with_epsilon(sweep_t_pvalue(2.228138851986274, 10), 0.05, 1e-9);
    g_assert_cmpfloat(sweep_t_pvalue(0, 5), ==, 1);
    g_assert_cmpfloat(sweep_t_pvalue(INFINITY, 5), ==, 0);
}

static void test_welch(void)
{
    const double a[] = { 1, 2, 3, 4 }, b[] = { 2, 4, 6, 8, 10 };
    SweepWelch w;

    g_assert_cmpfloat(sweep_mean(a, 4), ==, 2.5);
    g_assert_cmpfloat_with_epsilon(sweep_variance(a, 4), 5.0 / 3, 1e-15);
    g_assert_cmpint(sweep_welch(a, 4, b, 5, &w), ==, 0);
    /* by hand: qa = (5/3)/4 = 5/12, qb = 10/5 = 2; t = 3.5 / sqrt(29/12);
     * df = (29/12)^2 / ((5/12)^2/3 + 2^2/4) */
    double qa = 5.0 / 12, qb = 2;
    g_assert_cmpfloat_with_epsilon(w.t, 3.5 / sqrt(qa + qb), 1e-12);
    g_assert_cmpfloat_with_epsilon(w.df, (qa + qb) * (qa + qb) / (qa * qa / 3 + qb * qb / 4),
                                   1e-12);
    g_assert_cmpfloat_with_epsilon(w.p, sweep_t_pvalue(w.t, w.df), 1e-15);
    g_assert_cmpfloat(w.p, >, 0.01);
    g_assert_cmpfloat(w.p, <, 0.1);
    /* identical samples: no difference; constant but different: certain */
    const double c[] = { 7, 7, 7 }, d[] = { 9, 9 };
    g_assert_cmpint(sweep_welch(c, 3, c, 3, &w), ==, 0);
    g_assert_cmpfloat(w.p, ==, 1);
    g_assert_cmpint(sweep_welch(c, 3, d, 2, &w), ==, 0);
    g_assert_cmpfloat(w.p, ==, 0);
    /* one sample is not enough for a test */
    g_assert_cmpint(sweep_welch(c, 1, d, 2, &w), ==, -1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sweep/stats/betai", test_betai);
    g_test_add_func("/sweep/stats/t-pvalue", test_t_pvalue);
    g_test_add_func("/sweep/stats/welch", test_welch);
    return g_test_run();
}
