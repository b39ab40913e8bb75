/* run_report: the result of a `migbench run` as JSON, as a table for people, and compared
 * with a golden file (see run.h). */
#include "mb_util.h"
#include "qmp_json.h"
#include "run.h"

#include <glib.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

static void free_text(json_object *o, void *text)
{
    g_free(text);
}

static json_object *get(json_object *o, const char *k)
{
    return o ? json_object_object_get(o, k) : NULL;
}

static void copy(json_object *dst, json_object *src, const char *from, const char *to)
{
    json_object *v = get(src, from);
    if (v)
        json_object_object_add(dst, to, json_object_get(v));
}

json_object *run_report_build(json_object *settings, json_object *src, json_object *dst)
{
    json_object *report = json_object_new_object(), *r = json_object_new_object();
    json_object *qm = get(src, "query-migrate"), *ram = get(qm, "ram");

    json_object_object_add(report, "settings", json_object_get(settings));
    copy(r, qm, "status", "status");
    copy(r, qm, "error-desc", "error-desc");
    copy(r, src, "guest", "guest");
    copy(r, qm, "total-time", "total-time-ms");
    copy(r, qm, "setup-time", "setup-time-ms");
    copy(r, qm, "downtime", "downtime-ms");
    if (ram) {
        static const char *const keys[] = { "total",         "transferred",
                                            "duplicate",     "normal",
                                            "normal-bytes",  "dirty-sync-count",
                                            "mbps",          "pages-per-second",
                                            "multifd-bytes", "postcopy-requests" };
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
            copy(r, ram, keys[i], keys[i]);
    }
    copy(r, qm, "xbzrle-cache", "xbzrle-cache");
    copy(r, qm, "compression", "compression");
    copy(r, src, "passes", "passes");
    copy(r, src, "timeline", "timeline");
    copy(r, src, "scenario-errors", "scenario-errors");
    copy(r, src, "guest-info", "guest-info");
    copy(r, src, "colo", "colo");
    json_object *d = json_object_new_object();
    if (dst) {
        copy(d, dst, "status", "status");
        copy(d, dst, "verified", "verified");
        copy(d, dst, "error-desc", "error-desc");
        copy(d, dst, "announce", "announce");
        copy(d, dst, "guest-info", "guest-info");
        copy(d, dst, "colo", "colo");
    } else {
        json_object_object_add(d, "status", json_object_new_string("not completed"));
        json_object_object_add(d, "verified", json_object_new_boolean(false));
    }
    json_object_object_add(r, "destination", d);
    /* A migration is only good if the destination verified what it received. */
    if (!dst || !json_object_get_boolean(get(dst, "verified"))) {
        const char *st = json_object_get_string(get(r, "status"));
        if (st && !strcmp(st, "completed"))
            json_object_object_add(r, "status", json_object_new_string("failed-verification"));
    }
    json_object_object_add(report, "result", r);
    return report;
}

json_object *run_report_verbatim(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_object: {
        json_object_object_foreach(v, k, m)
        {
            (void)k;
            run_report_verbatim(m);
        }
        break;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(v); i++)
            run_report_verbatim(json_object_array_get_idx(v, i));
        break;
    case json_type_double: {
        char *text = qmp_json_to_string(v, 0);
        json_object_set_serializer(v, json_object_userdata_to_json_string, text, free_text);
        break;
    }
    default: break;
    }
    return v;
}

static int64_t num(json_object *o, const char *k)
{
    return json_object_get_int64(get(o, k));
}

void run_report_print(FILE *out, json_object *report)
{
    json_object *s = get(report, "settings"), *r = get(report, "result");
    char a[32], b[32], c[32];

    fprintf(out, "migbench run: %s over %s (schema %s)\n", json_object_get_string(get(r, "guest")),
            json_object_get_string(get(s, "transport")), json_object_get_string(get(s, "schema")));
    json_object *caps = get(s, "capabilities"), *params = get(s, "parameters");
    if (caps && json_object_object_length(caps))
        fprintf(out, "  capabilities: %s\n", json_object_to_json_string(caps));
    if (params && json_object_object_length(params))
        fprintf(out, "  parameters:   %s\n", json_object_to_json_string(params));

    json_object *passes = get(r, "passes");
    if (passes && json_object_array_length(passes)) {
        fprintf(out, "\n  %5s %10s %12s %12s %14s %9s\n", "pass", "time", "sent", "remaining",
                "dirty pages/s", "throttle");
        size_t n = json_object_array_length(passes);
        for (size_t i = 0; i < n; i++) {
            /* Long runs: the first and last ten passes tell the story. */
            if (n > 24 && i == 10) {
                fprintf(out, "  %5s ... %zu passes ...\n", "", n - 20);
                i = n - 10;
            }
            json_object *p = json_object_array_get_idx(passes, i);
            fprintf(out, "  %5" PRId64 " %10s %12s %12s %14" PRId64 " %8" PRId64 "%%\n",
                    num(p, "pass"), mb_fmt_duration(a, sizeof(a), num(p, "time-ms") * 1000000),
                    mb_fmt_bytes(b, sizeof(b), (double)num(p, "transferred")),
                    mb_fmt_bytes(c, sizeof(c), (double)num(p, "remaining")),
                    num(p, "dirty-pages-rate"), num(p, "cpu-throttle-percentage"));
        }
    }
    fprintf(out, "\n  status          %s\n", json_object_get_string(get(r, "status")));
    const char *st = json_object_get_string(get(r, "status"));
    if (st && !strcmp(st, "cancelled"))
        fprintf(out,
                "  note            did not converge within the limits (--max-passes %" PRId64
                ", --max-time %" PRId64 " ms)\n",
                num(s, "max-passes"), num(s, "max-time-ms"));
    if (get(r, "error-desc"))
        fprintf(out, "  error           %s\n", json_object_get_string(get(r, "error-desc")));
    json_object *serr = get(r, "scenario-errors");
    for (size_t i = 0; serr && i < json_object_array_length(serr); i++)
        fprintf(out, "  scenario error  %s\n",
                json_object_get_string(json_object_array_get_idx(serr, i)));
    if (get(r, "total-time-ms")) {
        fprintf(out, "  total time      %s (setup %s, downtime %s)\n",
                mb_fmt_duration(a, sizeof(a), num(r, "total-time-ms") * 1000000),
                mb_fmt_duration(b, sizeof(b), num(r, "setup-time-ms") * 1000000),
                mb_fmt_duration(c, sizeof(c), num(r, "downtime-ms") * 1000000));
        fprintf(out, "  transferred     %s of %s RAM at %.1f Mbit/s, %" PRId64 " passes\n",
                mb_fmt_bytes(a, sizeof(a), (double)num(r, "transferred")),
                mb_fmt_bytes(b, sizeof(b), (double)num(r, "total")),
                json_object_get_double(get(r, "mbps")), num(r, "dirty-sync-count"));
        fprintf(out, "  pages           %" PRId64 " full, %" PRId64 " zero\n", num(r, "normal"),
                num(r, "duplicate"));
    }
    json_object *x = get(r, "xbzrle-cache");
    if (x)
        fprintf(out,
                "  xbzrle          %" PRId64 " pages, %s, cache misses %" PRId64
                ", overflows %" PRId64 "\n",
                num(x, "pages"), mb_fmt_bytes(a, sizeof(a), (double)num(x, "bytes")),
                num(x, "cache-miss"), num(x, "overflow"));
    json_object *cm = get(r, "compression");
    if (cm)
        fprintf(out, "  compression     %" PRId64 " pages, %s, busy %" PRId64 ", rate %.2f\n",
                num(cm, "pages"), mb_fmt_bytes(a, sizeof(a), (double)num(cm, "compressed-size")),
                num(cm, "busy"), json_object_get_double(get(cm, "compression-rate")));
    json_object *colo = get(r, "colo");
    if (colo && get(colo, "size")) {
        json_object *t = get(colo, "time-ms"), *sz = get(colo, "size");
        fprintf(out,
                "  COLO            %" PRId64 " checkpoints (%s), size p50 %s p99 %s, "
                "time p50 %.3f ms p99 %.3f ms\n",
                num(colo, "checkpoints"), json_object_get_string(get(colo, "exit-reason")),
                mb_fmt_bytes(a, sizeof(a), json_object_get_double(get(sz, "p50"))),
                mb_fmt_bytes(b, sizeof(b), json_object_get_double(get(sz, "p99"))),
                json_object_get_double(get(t, "p50")), json_object_get_double(get(t, "p99")));
    }
    json_object *d = get(r, "destination");
    fprintf(out, "  destination     %s, %s%s%s\n", json_object_get_string(get(d, "status")),
            json_object_get_boolean(get(d, "verified")) ? "every page verified" : "NOT verified",
            get(d, "error-desc") ? ": " : "",
            get(d, "error-desc") ? json_object_get_string(get(d, "error-desc")) : "");
    json_object *an = get(d, "announce");
    if (an) {
        GString *times = g_string_new(NULL);
        json_object *rounds = get(an, "rounds");
        for (size_t i = 0; rounds && i < json_object_array_length(rounds); i++)
            g_string_append_printf(times, "%s%" PRId64, i ? ", " : "",
                                   num(json_object_array_get_idx(rounds, i), "time-ms"));
        fprintf(out, "  announce        %" PRId64 " rounds at %s ms\n", num(an, "frames"),
                times->len ? times->str : "-");
        g_string_free(times, TRUE);
    }
    json_object *w = get(report, "wall");
    if (w)
        fprintf(out, "  wall clock      %s\n",
                mb_fmt_duration(a, sizeof(a), num(w, "elapsed-ms") * 1000000));
    if (w && get(w, "source-cpu-ms") && get(w, "destination-cpu-ms"))
        /* what the migration cost the host, all threads: the source from `migrate` to its
         * end, the destination from its start (prefaulting included) to the end of the load */
        fprintf(out, "  host CPU        source %.2f s, destination %.2f s\n",
                json_object_get_double(get(w, "source-cpu-ms")) / 1e3,
                json_object_get_double(get(w, "destination-cpu-ms")) / 1e3);
    if (w && get(w, "source-peak-rss-bytes") && get(w, "destination-peak-rss-bytes")) {
        char rss_d[32];
        fprintf(out, "  peak RSS        source %s, destination %s\n",
                mb_fmt_bytes(a, sizeof(a), (double)num(w, "source-peak-rss-bytes")),
                mb_fmt_bytes(rss_d, sizeof(rss_d), (double)num(w, "destination-peak-rss-bytes")));
    }
}

/* ---- golden comparison ---- */

static void diff(FILE *out, const char *path, json_object *want, json_object *got, int *n)
{
    enum json_type tw = json_object_get_type(want), tg = json_object_get_type(got);

    if (tw == json_type_object && tg == json_type_object) {
        json_object_object_foreach(want, k, v)
        {
            gchar *p = g_strdup_printf("%s.%s", path, k);
            json_object *o;
            if (!json_object_object_get_ex(got, k, &o)) {
                fprintf(out, "  %s: missing (golden %s)\n", p, json_object_to_json_string(v));
                (*n)++;
            } else {
                diff(out, p, v, o, n);
            }
            g_free(p);
        }
        json_object_object_foreach(got, k2, v2)
        {
            if (!json_object_object_get_ex(want, k2, NULL)) {
                fprintf(out, "  %s.%s: new (%s)\n", path, k2, json_object_to_json_string(v2));
                (*n)++;
            }
        }
        return;
    }
    if (tw == json_type_array && tg == json_type_array) {
        size_t lw = json_object_array_length(want), lg = json_object_array_length(got);
        for (size_t i = 0; i < MAX(lw, lg); i++) {
            gchar *p = g_strdup_printf("%s[%zu]", path, i);
            if (i >= lw || i >= lg) {
                fprintf(out, "  %s: %s\n", p, i >= lw ? "new" : "missing");
                (*n)++;
            } else {
                diff(out, p, json_object_array_get_idx(want, i), json_object_array_get_idx(got, i),
                     n);
            }
            g_free(p);
        }
        return;
    }
    if (!json_object_equal(want, got)) {
        fprintf(out, "  %s: golden %s, now %s\n", path, json_object_to_json_string(want),
                json_object_to_json_string(got));
        (*n)++;
    }
}

bool run_report_check(FILE *out, json_object *report, const char *golden_path)
{
    json_object *golden = json_object_from_file(golden_path);
    int n = 0;

    if (!golden) {
        fprintf(out, "check: cannot read golden file %s\n", golden_path);
        return false;
    }
    diff(out, "settings", get(golden, "settings"), get(report, "settings"), &n);
    diff(out, "result", get(golden, "result"), get(report, "result"), &n);
    /* The verbatim replies are a pure function of the inputs in sim mode too (virtual
     * times, no ports: a destination that completed reports only its status).  Golden
     * files written before the replies were in the report have none: not a difference. */
    if (get(golden, "query-migrate"))
        diff(out, "query-migrate", get(golden, "query-migrate"), get(report, "query-migrate"), &n);
    if (n)
        fprintf(out, "check: %d difference%s from %s\n", n, n == 1 ? "" : "s", golden_path);
    else
        fprintf(out, "check: identical to %s\n", golden_path);
    json_object_put(golden);
    return n == 0;
}
