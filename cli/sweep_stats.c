/* sweep_stats: Welch's t-test for `migbench compare` (see sweep_stats.h for why it is
 * written here). */
#include "sweep_stats.h"

#include <math.h>

double sweep_mean(const double *x, size_t n)
{
    double s = 0;

    for (size_t i = 0; i < n; i++)
        s += x[i];
    return n ? s / (double)n : 0;
}

double sweep_variance(const double *x, size_t n)
{
    double m = sweep_mean(x, n), s = 0;

    if (n < 2)
        return 0;
    for (size_t i = 0; i < n; i++)
        s += (x[i] - m) * (x[i] - m);
    return s / (double)(n - 1);
}

/* The continued fraction of I_x(a, b) by the modified Lentz method (Numerical Recipes,
 * betacf); converges quickly for x < (a + 1) / (a + b + 2). */
static double betacf(double a, double b, double x)
{
    const double tiny = 1e-300, eps = 1e-15;
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap, h;

    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    h = d;
    for (int m = 1; m <= 10000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < eps)
            break;
    }
    return h;
}

double sweep_betai(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    double bt = exp(lbt);
    /* The symmetry I_x(a,b) = 1 - I_{1-x}(b,a) keeps the fraction in its fast region. */
    if (x < (a + 1) / (a + b + 2))
        return bt * betacf(a, b, x) / a;
    return 1 - bt * betacf(b, a, 1 - x) / b;
}

double sweep_t_pvalue(double t, double df)
{
    if (isinf(t))
        return 0;
    /* P(|T| >= |t|) = I_{df/(df+t^2)}(df/2, 1/2) */
    return sweep_betai(df / 2, 0.5, df / (df + t * t));
}

int sweep_welch(const double *a, size_t na, const double *b, size_t nb, SweepWelch *out)
{
    if (na < 2 || nb < 2)
        return -1;
    double ma = sweep_mean(a, na), mb = sweep_mean(b, nb);
    double qa = sweep_variance(a, na) / (double)na, qb = sweep_variance(b, nb) / (double)nb;
    double se2 = qa + qb;

    if (se2 == 0) {
        out->t = ma == mb ? 0 : (mb > ma ? INFINITY : -INFINITY);
        out->df = (double)(na + nb - 2);
        out->p = ma == mb ? 1 : 0;
        return 0;
    }
    out->t = (mb - ma) / sqrt(se2);
    out->df = se2 * se2 / (qa * qa / (double)(na - 1) + qb * qb / (double)(nb - 1));
    out->p = sweep_t_pvalue(out->t, out->df);
    return 0;
}
