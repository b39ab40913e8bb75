/* cmd_compare: `migbench compare A B`, for people and for CI (docs/sweeps.md).
 *
 * A and B are each a run report, a sweep results directory or a merged results.json.
 * Points are paired by setting (guest, capability set, parameters: sweep_row_key), their
 * seeds being repeated samples of it; two single run reports are paired with each other.
 * For each setting and metric the table shows both means and the change; with at least
 * two samples on each side Welch's t-test gives a p-value (sweep_stats).  A metric
 * regresses when it got worse by more than --threshold percent and, when there is a test,
 * the change is significant (p < --alpha); a setting that converged in A and not in B
 * regresses too.  Exit status: 0 no regression, 1 regression, 2 usage error. */
#include "cli.h"
#include "cli_options.h"
#include "sweep_results.h"
#include "sweep_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gchar *key;
    GPtrArray *a, *b; /* SweepRow* (borrowed) */
} Pair;

static void pair_free(gpointer data)
{
    Pair *p = data;

    g_free(p->key);
    g_ptr_array_free(p->a, TRUE);
    g_ptr_array_free(p->b, TRUE);
    g_free(p);
}

static Pair *pair_get(GPtrArray *pairs, const char *key)
{
    for (guint i = 0; i < pairs->len; i++)
        if (!strcmp(((Pair *)pairs->pdata[i])->key, key))
            return pairs->pdata[i];
    Pair *p = g_new0(Pair, 1);
    p->key = g_strdup(key);
    p->a = g_ptr_array_new();
    p->b = g_ptr_array_new();
    g_ptr_array_add(pairs, p);
    return p;
}

/* Higher is better only for throughput. */
static bool lower_is_better(const char *metric)
{
    return strcmp(metric, "mbps") != 0;
}

static GArray *samples(GPtrArray *rows, const char *metric)
{
    GArray *v = g_array_new(FALSE, FALSE, sizeof(double));

    for (guint i = 0; i < rows->len; i++) {
        double x;
        if (sweep_row_metric(rows->pdata[i], metric, &x))
            g_array_append_val(v, x);
    }
    return v;
}

static guint converged(GPtrArray *rows)
{
    guint n = 0;

    for (guint i = 0; i < rows->len; i++)
        n += sweep_row_converged(rows->pdata[i]);
    return n;
}

int cmd_compare_main(int argc, char **argv)
{
    gchar *threshold_text = NULL, *alpha_text = NULL, **metrics = NULL, **rest = NULL;
    GPtrArray *ra = NULL, *rb = NULL, *pairs = NULL;
    GError *err = NULL;
    GOptionEntry entries[] = {
        { "threshold", 't', 0, G_OPTION_ARG_STRING, &threshold_text,
          "a metric worse by more than PCT percent is a regression (default 5)", "PCT" },
        { "alpha", 0, 0, G_OPTION_ARG_STRING, &alpha_text,
          "significance level of the t-test with repeated seeds (default 0.05)", "P" },
        { "metric", 'm', 0, G_OPTION_ARG_STRING_ARRAY, &metrics,
          "compare only this metric (repeatable; default all)", "NAME" },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL },
        { NULL },
    };
    GOptionContext *ctx = g_option_context_new("A B");
    double threshold = 5, alpha = 0.05;
    int rc;

    g_option_context_set_summary(
        ctx, "Compares B against A (run reports, sweep results directories or results.json)\n"
             "per setting and metric; exit status 1 when a metric regressed.\n"
             "Metrics: total-time-ms, downtime-ms, setup-time-ms, transferred, passes, mbps.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    rc = cli_options_parse(ctx, "compare", &argc, &argv);
    g_option_context_free(ctx);
    if (rc != CLI_OPTIONS_CONTINUE)
        goto out;
    char *end = NULL;
    if (!rest || !rest[0] || !rest[1])
        rc = cli_options_usage_error("compare", "two results are needed: A B");
    else if (rest[2])
        rc = cli_options_usage_error("compare", "unexpected argument '%s'", rest[2]);
    else if (threshold_text && (threshold = strtod(threshold_text, &end),
                                *end || end == threshold_text || !(threshold >= 0)))
        rc = cli_options_usage_error("compare", "--threshold needs a percentage >= 0");
    else if (alpha_text && (alpha = strtod(alpha_text, &end),
                            *end || end == alpha_text || !(alpha > 0 && alpha < 1)))
        rc = cli_options_usage_error("compare", "--alpha needs a number between 0 and 1");
    for (gchar **m = metrics; rc == CLI_OPTIONS_CONTINUE && m && *m; m++) {
        bool known = false;
        for (size_t i = 0; i < sweep_n_metrics; i++)
            known |= !strcmp(*m, sweep_metrics[i]);
        if (!known)
            rc = cli_options_usage_error("compare", "--metric: unknown metric '%s'", *m);
    }
    if (rc != CLI_OPTIONS_CONTINUE)
        goto out;
    rc = 1;
    char *one[2] = { NULL, NULL };
    one[0] = rest[0];
    if (!(ra = sweep_results_load(one, &err)) ||
        (one[0] = rest[1], !(rb = sweep_results_load(one, &err)))) {
        fprintf(stderr, "migbench compare: %s\n", err->message);
        g_error_free(err);
        goto out;
    }
    pairs = g_ptr_array_new_with_free_func(pair_free);
    bool single = ra->len == 1 && rb->len == 1;
    for (int side = 0; side < 2; side++) {
        GPtrArray *rows = side ? rb : ra;
        for (guint i = 0; i < rows->len; i++) {
            SweepRow *row = rows->pdata[i];
            gchar *key = single ? g_strdup("run") : sweep_row_key(row);
            Pair *p = pair_get(pairs, key);
            g_ptr_array_add(side ? p->b : p->a, row);
            g_free(key);
        }
    }
    guint regressions = 0, compared = 0;
    printf("%-8s %-14s %14s %14s %9s %8s  %s\n", "setting", "metric", "A", "B", "change", "p",
           "verdict");
    for (guint i = 0; i < pairs->len; i++) {
        Pair *p = pairs->pdata[i];
        printf("[%u] %s  (A: %u samples, B: %u)\n", i + 1, p->key, p->a->len, p->b->len);
        if (!p->a->len || !p->b->len) {
            printf("%-8s only in %s: not compared\n", "", p->a->len ? "A" : "B");
            continue;
        }
        guint ca = converged(p->a), cb = converged(p->b);
        bool conv_regr = ca == p->a->len && cb < p->b->len;
        printf("%-8s %-14s %11u/%-2u %11u/%-2u %9s %8s  %s\n", "", "converged", ca, p->a->len, cb,
               p->b->len, "", "", conv_regr ? "REGRESSION" : "ok");
        regressions += conv_regr;
        for (size_t m = 0; m < sweep_n_metrics; m++) {
            const char *name = sweep_metrics[m];
            if (metrics && !g_strv_contains((const gchar *const *)metrics, name))
                continue;
            GArray *a = samples(p->a, name), *b = samples(p->b, name);
            if (!a->len || !b->len) {
                g_array_free(a, TRUE);
                g_array_free(b, TRUE);
                continue;
            }
            double ma = sweep_mean((double *)a->data, a->len);
            double mb = sweep_mean((double *)b->data, b->len);
            double change = ma != 0 ? 100 * (mb - ma) / fabs(ma) : (mb == ma ? 0 : INFINITY);
            double worse = lower_is_better(name) ? change : -change;
            SweepWelch w;
            bool tested =
                sweep_welch((double *)a->data, a->len, (double *)b->data, b->len, &w) == 0;
            bool regr = worse > threshold && (!tested || w.p < alpha);
            char pbuf[16] = "-";
            if (tested)
                snprintf(pbuf, sizeof(pbuf), "%.3g", w.p);
            printf("%-8s %-14s %14.6g %14.6g %+8.2f%% %8s  %s\n", "", name, ma, mb, change, pbuf,
                   regr                                             ? "REGRESSION"
                   : worse > threshold                              ? "worse, not significant"
                   : worse < -threshold && (!tested || w.p < alpha) ? "better"
                                                                    : "ok");
            regressions += regr;
            compared++;
            g_array_free(a, TRUE);
            g_array_free(b, TRUE);
        }
    }
    printf("migbench compare: %u settings, %u metric comparisons, %u regressions (threshold "
           "%g%%, alpha %g)\n",
           pairs->len, compared, regressions, threshold, alpha);
    rc = regressions ? 1 : 0;
out:
    if (pairs)
        g_ptr_array_free(pairs, TRUE);
    if (ra)
        g_ptr_array_free(ra, TRUE);
    if (rb)
        g_ptr_array_free(rb, TRUE);
    g_free(threshold_text);
    g_free(alpha_text);
    g_strfreev(metrics);
    g_strfreev(rest);
    return rc;
}
