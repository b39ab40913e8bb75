/* sweep_model: the analytic pre-copy model (see sweep_model.h; formulas from
 * conformance/tests/test_feature_model.py). */
#include "sweep_model.h"

#include "mb_util.h"
#include "trace.h"

#include <math.h>
#include <string.h>

#define PAGE       4096.0
#define WIRE       (PAGE + 8) /* a full page on the wire: header + data */
#define MAX_ROUNDS 40

void sweep_model_predict(const SweepModelInput *in, SweepModelPrediction *out)
{
    double r = in->max_bandwidth, threshold = r * in->downtime_s;
    double leftover = threshold - r / 10 / 2, total = in->total_pages * PAGE;
    double dirty = total, sent = 0;
    int rounds = 1; /* dirty-set values so far, as len(dirty) in the Python model */

    while (dirty >= threshold && rounds < MAX_ROUNDS) {
        double bytes = (dirty - leftover) / PAGE * WIRE, t = bytes / r, fresh = 0;
        sent += bytes;
        for (int i = 0; i < in->nsets; i++) {
            double n = in->sets[i].pages;
            fresh += n * (1 - exp(-in->sets[i].share * in->writes_per_s * t / n));
        }
        dirty = leftover + fresh * PAGE * (1 - leftover / total);
        rounds++;
    }
    double final = dirty / PAGE * WIRE;
    out->converged = dirty < threshold;
    out->passes = rounds + 1;
    out->transferred = sent + final;
    out->downtime_ms = final / in->link_bandwidth * 1000;
    out->total_time_ms = sent / r * 1000 + out->downtime_ms;
}

bool sweep_value_number(json_object *v, double *out)
{
    uint64_t n;

    if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
        *out = json_object_get_double(v);
        return true;
    }
    if (json_object_is_type(v, json_type_string) &&
        mb_parse_size(json_object_get_string(v), &n, NULL)) {
        *out = (double)n;
        return true;
    }
    return false;
}

/* A parameter as a number of bytes (or a plain number): JSON numbers, or sizes "8M". */
static bool param_number(json_object *params, const char *name, double dflt, double *out)
{
    json_object *v = NULL;

    *out = dflt;
    if (!params || !json_object_object_get_ex(params, name, &v))
        return true;
    return sweep_value_number(v, out);
}

static double amount_pages(const TraceGenAmount *a, double total_pages)
{
    return a->relative ? floor(total_pages * (double)a->value / 10000) : (double)a->value / PAGE;
}

bool sweep_model_input(const char *guest, json_object *params, const char *link,
                       SweepModelInput *in)
{
    TraceGenParams gp;
    TraceGenKind kind;
    bool ok = true;

    memset(in, 0, sizeof(*in));
    if (!guest || !g_str_has_prefix(guest, "sim:"))
        return false;
    gchar **parts = g_strsplit(guest + 4, ",", -1);
    const char *name = parts[0] && *parts[0] && !strchr(parts[0], '=') ? parts[0] : "hotspot";
    if (!trace_gen_kind_from_name(name, &kind) ||
        (kind != TRACE_GEN_UNIFORM && kind != TRACE_GEN_HOTSPOT)) {
        g_strfreev(parts);
        return false;
    }
    trace_gen_params_init(&gp, kind);
    for (gchar **p = parts; *p && ok; p++) {
        gchar *eq = strchr(*p, '=');
        if (!eq)
            continue;
        *eq = 0;
        /* sim options that are not the generator's (seed is both; loop, store...) */
        if (trace_gen_is_option(*p))
            ok = trace_gen_params_set(&gp, *p, eq + 1, NULL);
    }
    g_strfreev(parts);
    double limit_ms;
    uint64_t link_bps = 1250000000; /* run's default link, 10Gbit */
    ok = ok && param_number(params, "max-bandwidth", 33554432, &in->max_bandwidth) &&
         param_number(params, "downtime-limit", 300, &limit_ms) &&
         (!link || mb_parse_bandwidth(link, &link_bps, NULL));
    if (!ok || in->max_bandwidth <= 0 || limit_ms <= 0 || !gp.size || !link_bps)
        return false;
    in->downtime_s = limit_ms / 1000;
    in->link_bandwidth = (double)link_bps;
    /* The link caps the rate limit too. */
    in->max_bandwidth = MIN(in->max_bandwidth, in->link_bandwidth);
    in->total_pages = floor((double)gp.size / PAGE);
    in->writes_per_s = (double)gp.rate / PAGE;
    double n = in->total_pages;
    if (kind == TRACE_GEN_UNIFORM) {
        in->nsets = 1;
        in->sets[0] = (SweepModelSet){ MAX(1, amount_pages(&gp.ws, n)), 1.0 };
    } else {
        /* share% of the writes go to the hot set, the rest anywhere (hot set included) */
        double hot = MAX(1, amount_pages(&gp.hot, n)), s = gp.hot_share / 100.0;
        in->nsets = 2;
        in->sets[0] = (SweepModelSet){ hot, s + (1 - s) * hot / n };
        in->sets[1] = (SweepModelSet){ n - hot, (1 - s) * (n - hot) / n };
        if (n - hot < 1)
            in->nsets = 1;
    }
    return true;
}
