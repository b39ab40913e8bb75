/* kvm_record: `migbench trace record --kvm`: a real KVM guest's dirty log as a trace.
 *
 * Runs a KVM guest (kvm_guest_new), waits until it reports progress (its RAM is touched
 * and its loop runs), turns dirty logging on and, every interval, syncs the log and
 * appends the pages written since the previous sample as one epoch of the trace format
 * (traces/trace.h).  The simulator can then replay a real run deterministically.
 *
 * A bitmap sample knows which pages were written, not by whom nor how often: each page
 * appears once per epoch, attributed to the vCPU that owns it (every page of the bundled
 * workloads has exactly one writer; the first MiB counts as vCPU 0's), with content class
 * `--class` (default sparse: a few bytes change per write, as in the marker and the
 * stamps).  The header says method "kvm" and carries the guest and the options as
 * provenance.  SIGINT/SIGTERM end the recording cleanly; the flag their handler sets is
 * the file's only process-wide state. */
#include "kvm_int.h"

#include "mb_bitmap.h"
#include "mb_error.h"
#include "mb_progress.h"
#include "mb_util.h"
#include "trace.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

static volatile sig_atomic_t record_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    record_stop = 1;
}

typedef struct {
    int64_t interval_ns, duration_ns, warmup_ns;
    const char *output;
    int cls;
    bool quiet;
    GString *spec;
} RecordOpts;

static void usage(FILE *f)
{
    fprintf(f, "usage: migbench trace record --kvm [--interval 50ms] [--duration 5s] "
               "[--class sparse] [--quiet] -o FILE [kvm options]\n"
               "  kvm options: a guest spec (\"kvm:mem=1G,vcpus=2,workload=random\") or its "
               "key=value parts\n"
               "  (mem, vcpus, slots, workload, hot, hotw, seed, report, dirty, ring, thp; "
               "docs/kvm.md)\n");
}

static bool parse_args(int argc, char **argv, RecordOpts *o, GError **err)
{
    o->interval_ns = 50000000;
    o->duration_ns = 5000000000ll;
    o->warmup_ns = 600000000000ll;
    o->cls = TRACE_CLASS_SPARSE;
    o->spec = g_string_new(NULL);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(a, "--interval") == 0 || strcmp(a, "--duration") == 0 ||
                     strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 ||
                     strcmp(a, "--class") == 0 || strcmp(a, "--guest") == 0;
        if (takes && !v) {
            mb_error_set(err, "%s needs a value", a);
            return false;
        }
        if (strcmp(a, "--kvm") == 0) {
            continue;
        } else if (strcmp(a, "--interval") == 0) {
            if (!mb_parse_duration(v, &o->interval_ns, err))
                return false;
            if (o->interval_ns < 1000000) {
                mb_error_set(err, "--interval must be at least 1ms");
                return false;
            }
        } else if (strcmp(a, "--duration") == 0) {
            if (!mb_parse_duration(v, &o->duration_ns, err))
                return false;
            if (o->duration_ns <= 0) {
                mb_error_set(err, "--duration must be positive");
                return false;
            }
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            o->output = v;
        } else if (strcmp(a, "--class") == 0) {
            o->cls = trace_class_from_name(v);
            if (o->cls <= TRACE_CLASS_KEEP) {
                mb_error_set(err, "unknown content class '%s'", v);
                return false;
            }
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else if (a[0] == '-' && strcmp(a, "--guest") != 0) {
            mb_error_set(err, "unknown option '%s'", a);
            return false;
        } else {
            const char *part = strcmp(a, "--guest") == 0 ? v : a;
            if (g_str_has_prefix(part, "kvm:"))
                part += 4;
            if (o->spec->len)
                g_string_append_c(o->spec, ',');
            g_string_append(o->spec, part);
        }
        if (takes)
            i++;
    }
    if (!o->output) {
        mb_error_set(err, "-o FILE is required");
        return false;
    }
    return true;
}

/* The vCPU that owns guest-physical page `gpa`: a binary search over the vCPUs' ranges
 * (contiguous and ascending, kvm_layout_range); the first MiB counts as vCPU 0's. */
static uint32_t owner(const KvmRange *ranges, unsigned n, uint64_t gpa)
{
    unsigned lo = 0, hi = n; /* the answer is in [lo, hi) */
    while (hi - lo > 1) {
        unsigned mid = (lo + hi) / 2;
        if (gpa >= ranges[mid].first)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static char *provenance(KvmGuest *k, const RecordOpts *o)
{
    struct utsname u;
    uname(&u);
    char iv[32];
    GDateTime *now = g_date_time_new_now_utc();
    gchar *date = g_date_time_format_iso8601(now);
    char *p = g_strdup_printf("recorder: migbench %s trace record --kvm\n"
                              "guest: %s\n"
                              "spec: kvm:%s\n"
                              "dirty-mode: %s\n"
                              "interval: %s\n"
                              "content-class: %s (assumed; a dirty log does not see bytes)\n"
                              "host: %s %s %s\n"
                              "date: %s\n",
                              MB_VERSION, k->desc, o->spec->str, kvm_dirty_mode_name(k->dirty_mode),
                              mb_fmt_duration(iv, sizeof(iv), o->interval_ns),
                              trace_class_name(o->cls), u.sysname, u.release, u.machine, date);
    g_free(date);
    g_date_time_unref(now);
    return p;
}

/* Syncs the log and appends one epoch at t_ns.  Returns the pages logged, -1 on error. */
static int64_t sample(KvmGuest *k, const KvmRange *ranges, TraceWriter *w, uint64_t **bm,
                      TraceEvent *ev, int64_t t_ns, int cls, GError **err)
{
    MbGuest *g = &k->base;
    for (unsigned b = 0; b < g->nblocks; b++)
        mb_bitmap_zero(bm[b], mb_guest_block_pages(g, b));
    g->ops->dirty_log_sync(g, bm);
    int64_t total = 0;
    size_t n = 0;
    for (unsigned b = 0; b < g->nblocks; b++) {
        uint64_t np = mb_guest_block_pages(g, b);
        for (uint64_t p = mb_bitmap_next_set(bm[b], np, 0); p < np;
             p = mb_bitmap_next_set(bm[b], np, p + 1)) {
            ev[n++] = (TraceEvent){
                .page = p,
                .vcpu = owner(ranges, k->spec.vcpus, g->blocks[b].gpa + p * MB_TARGET_PAGE_SIZE),
                .block = (uint16_t)b,
                .cls = (uint8_t)cls,
            };
            if (n == TRACE_EPOCH_MAX_EVENTS) {
                if (!trace_writer_add(w, t_ns, ev, n, err))
                    return -1;
                total += (int64_t)n;
                n = 0;
            }
        }
    }
    if (n && !trace_writer_add(w, t_ns, ev, n, err))
        return -1;
    return total + (int64_t)n;
}

static bool record(const RecordOpts *o, GError **err)
{
    MbGuest *g = kvm_guest_new(o->spec->str, false, err);
    if (!g)
        return false;
    KvmGuest *k = kvm_guest_of(g);
    TraceHeader h;
    trace_header_init(&h);
    h.page_size = MB_TARGET_PAGE_SIZE;
    h.nvcpus = k->spec.vcpus;
    h.duration_ns = o->duration_ns;
    h.method = TRACE_METHOD_KVM;
    h.content_seed = k->spec.seed;
    h.init_mix = (TraceMix){ .pct = { 100, 0, 0, 0 } }; /* untouched guest RAM is zero */
    for (unsigned b = 0; b < g->nblocks; b++)
        trace_header_add_block(&h, g->blocks[b].name, g->blocks[b].size, g->blocks[b].shared);
    char *prov = provenance(k, o);
    trace_header_set_provenance(&h, prov);
    g_free(prov);

    TraceWriter *w = trace_writer_new(o->output, &h, 0, err);
    trace_header_clear(&h); /* the writer keeps its own copy */
    if (!w) {
        mb_guest_free(g);
        return false;
    }
    uint64_t **bm = g_new0(uint64_t *, g->nblocks);
    for (unsigned b = 0; b < g->nblocks; b++)
        bm[b] = mb_bitmap_new(mb_guest_block_pages(g, b));
    TraceEvent *ev = g_new(TraceEvent, TRACE_EPOCH_MAX_EVENTS);
    KvmRange *ranges = g_new(KvmRange, k->spec.vcpus);
    for (unsigned v = 0; v < k->spec.vcpus; v++)
        ranges[v] = kvm_layout_range(&k->spec, v);
    MbProgress prog;
    mb_progress_init(&prog);
    bool ok = false;
    uint64_t samples = 0, events = 0;

    g->ops->run(g);
    if (!kvm_guest_wait_progress(g, 1, o->warmup_ns, err))
        goto out;
    if (!g->ops->dirty_log_start(g, err))
        goto out;
    int64_t t0 = mb_guest_now(g), next = t0;
    while (!record_stop) {
        next = MIN(next + o->interval_ns, t0 + o->duration_ns);
        mb_guest_wait_until(g, next);
        int64_t n = sample(k, ranges, w, bm, ev, next - t0, o->cls, err);
        if (n < 0)
            goto out;
        samples++;
        events += (uint64_t)n;
        const char *gerr = kvm_guest_error(g);
        if (gerr) {
            mb_error_set(err, "the guest stopped: %s", gerr);
            goto out;
        }
        if (!o->quiet)
            mb_progress_update(&prog, "recording %s: %.1f s, %llu samples, %llu page writes",
                               o->output, (double)(next - t0) / 1e9, (unsigned long long)samples,
                               (unsigned long long)events);
        if (next >= t0 + o->duration_ns)
            break;
    }
    ok = true;
out:
    mb_progress_done(&prog);
    g->ops->pause(g);
    g->ops->dirty_log_stop(g);
    if (ok) {
        ok = trace_writer_finish(w, err);
        if (ok && !o->quiet) {
            char d[32];
            printf("recorded %llu samples, %llu page writes over %s from %s into %s\n",
                   (unsigned long long)samples, (unsigned long long)events,
                   mb_fmt_duration(d, sizeof(d), (int64_t)samples * o->interval_ns),
                   g->ops->describe(g), o->output);
        }
    } else {
        trace_writer_abort(w);
    }
    g_free(ev);
    g_free(ranges);
    for (unsigned b = 0; b < g->nblocks; b++)
        g_free(bm[b]);
    g_free(bm);
    mb_guest_free(g);
    return ok;
}

int kvm_trace_record_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
    GError *err = NULL;
    RecordOpts o = { 0 };
    bool usage_error = !parse_args(argc, argv, &o, &err);
    bool ok = !usage_error && kvm_available(&err);
    if (ok) {
        struct sigaction sa = { .sa_handler = on_stop_signal }, old_int, old_term;
        sigemptyset(&sa.sa_mask);
        record_stop = 0;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        ok = record(&o, &err);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (o.spec)
        g_string_free(o.spec, TRUE);
    if (!ok) {
        fprintf(stderr, "migbench trace record: %s\n", err->message);
        if (usage_error)
            usage(stderr);
        g_error_free(err);
        return 1;
    }
    return 0;
}
