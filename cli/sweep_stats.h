/* sweep_stats: the statistics of `migbench compare`: mean, sample variance and Welch's
 * unequal-variances t-test with its two-sided p-value.
 *
 * Written here rather than taken from a library: Debian's standard set has no small C
 * statistics library (GSL would be a large dependency for one test), and the test needs
 * only the Student t distribution, i.e. the regularized incomplete beta function, which is
 * a short continued fraction (Numerical Recipes 3rd ed., section 6.4; Lentz's method). */
#ifndef SWEEP_STATS_H
#define SWEEP_STATS_H

#include <stddef.h>

/* Mean of n >= 1 values. */
double sweep_mean(const double *x, size_t n);
/* Unbiased sample variance (n - 1 in the denominator); 0 for n < 2. */
double sweep_variance(const double *x, size_t n);

/* The regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1. */
double sweep_betai(double a, double b, double x);
/* Two-sided p-value of Student's t with `df` > 0 degrees of freedom: P(|T| >= |t|). */
double sweep_t_pvalue(double t, double df);

typedef struct {
    double t;  /* (mean b - mean a) / standard error */
    double df; /* Welch-Satterthwaite degrees of freedom */
    double p;  /* two-sided p-value */
} SweepWelch;

/* Welch's t-test of samples a (na >= 2) and b (nb >= 2).  When both variances are 0 the
 * test is decided by the means alone: p = 1 when they are equal, else 0 (identical
 * repeated results, as a deterministic sim gives for identical inputs).  Returns 0, or -1
 * when a sample has fewer than 2 values. */
int sweep_welch(const double *a, size_t na, const double *b, size_t nb, SweepWelch *out);

#endif
