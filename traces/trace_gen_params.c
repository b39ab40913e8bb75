/* trace_gen_params: the synthetic workloads' options, their defaults and their canonical
 * text form.
 *
 * One table of options serves `migbench trace gen --size 1G ...` and the simulator's spec
 * `hotspot,size=1G,...`, so both spell and default everything alike, and the canonical
 * description (written into the trace's provenance) makes a generated trace's header, and
 * therefore its identity digest, a function of the effective options only. */
#include "trace.h"

#include "mb_error.h"
#include "mb_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = { "idle", "uniform", "hotspot", "zipf", "seq", "phases" };

bool trace_gen_kind_from_name(const char *name, TraceGenKind *kind)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(kind_names); i++) {
        if (!strcmp(name, kind_names[i])) {
            *kind = (TraceGenKind)i;
            return true;
        }
    }
    return false;
}

const char *trace_gen_kind_name(TraceGenKind kind)
{
    return (unsigned)kind < G_N_ELEMENTS(kind_names) ? kind_names[kind] : "?";
}

static void set_mix(TraceMix *m, unsigned zero, unsigned random, unsigned text, unsigned sparse)
{
    m->pct[0] = (uint8_t)zero;
    m->pct[1] = (uint8_t)random;
    m->pct[2] = (uint8_t)text;
    m->pct[3] = (uint8_t)sparse;
}

void trace_gen_params_init(TraceGenParams *p, TraceGenKind kind)
{
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    p->size = 1ULL << 30;
    p->rate = 8ULL << 20;
    p->seed = 1;
    p->vcpus = 2;
    p->duration_ns = 10 * 1000000000LL;
    p->epoch_ns = 1000000;
    set_mix(&p->mix, 5, 15, 30, 50);
    set_mix(&p->init, 40, 10, 30, 20);
    p->hot = (TraceGenAmount){ true, 1000 }; /* 10% */
    p->hot_share = 90;
    p->skew_milli = 990;
    p->from = 1ULL << 20;
    p->to = 100ULL << 20;
    p->phases = 4;
    p->ws = (TraceGenAmount){ true, kind == TRACE_GEN_PHASES ? 2500 : 10000 };
    p->disk_rate = 1ULL << 20;
    p->disk_used = 50;
    p->disk_ws = (TraceGenAmount){ true, 1000 }; /* 10% */
    switch (kind) {
    case TRACE_GEN_IDLE: p->rate = 0; break;
    case TRACE_GEN_SEQ:
        /* QEMU's migration-test guest: one vCPU bumping a byte in every page of 1M..100M. */
        p->rate = 64ULL << 20;
        p->vcpus = 1;
        set_mix(&p->mix, 0, 0, 0, 100);
        break;
    default: break;
    }
}

static const char *const option_names[] = { "size",  "rate",      "seed",      "vcpus",  "duration",
                                            "epoch", "mix",       "init",      "hot",    "share",
                                            "skew",  "from",      "to",        "phases", "ws",
                                            "disk",  "disk-rate", "disk-used", "disk-ws" };

bool trace_gen_is_option(const char *key)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(option_names); i++)
        if (!strcmp(key, option_names[i]))
            return true;
    return false;
}

/* "10%", "0.5%" (basis points) or a size ("64M"). */
static bool parse_amount(const char *s, TraceGenAmount *a, GError **err)
{
    size_t len = strlen(s);

    if (len > 1 && s[len - 1] == '%') {
        char *end;
        gchar *num = g_strndup(s, len - 1);
        double v = g_ascii_strtod(num, &end);
        bool ok = *num && !*end && v > 0 && v <= 100;
        g_free(num);
        if (!ok) {
            mb_error_set(err, "invalid share '%s' (expected e.g. 10%%)", s);
            return false;
        }
        a->relative = true;
        a->value = (uint64_t)llround(v * 100);
        if (!a->value)
            a->value = 1;
        return true;
    }
    a->relative = false;
    return mb_parse_size(s, &a->value, err);
}

static bool parse_uint(const char *key, const char *s, unsigned lo, unsigned hi, unsigned *out,
                       GError **err)
{
    uint64_t v;
    if (!mb_parse_u64(s, &v) || v < lo || v > hi) {
        mb_error_set(err, "invalid %s '%s' (expected an integer %u..%u)", key, s, lo, hi);
        return false;
    }
    *out = (unsigned)v;
    return true;
}

bool trace_gen_params_set(TraceGenParams *p, const char *key, const char *value, GError **err)
{
    GError *e = NULL;
    bool ok = true;

    if (!strcmp(key, "size")) {
        ok = mb_parse_size(value, &p->size, &e);
    } else if (!strcmp(key, "rate")) {
        ok = mb_parse_bandwidth(value, &p->rate, &e);
    } else if (!strcmp(key, "seed")) {
        if (!mb_parse_u64(value, &p->seed)) {
            mb_error_set(err, "invalid seed '%s' (expected an unsigned integer)", value);
            return false;
        }
    } else if (!strcmp(key, "vcpus")) {
        return parse_uint(key, value, 1, TRACE_MAX_VCPUS, &p->vcpus, err);
    } else if (!strcmp(key, "duration")) {
        ok = mb_parse_duration(value, &p->duration_ns, &e);
    } else if (!strcmp(key, "epoch")) {
        ok = mb_parse_duration(value, &p->epoch_ns, &e);
    } else if (!strcmp(key, "mix")) {
        ok = trace_mix_parse(value, &p->mix, &e);
    } else if (!strcmp(key, "init")) {
        ok = trace_mix_parse(value, &p->init, &e);
    } else if (!strcmp(key, "hot")) {
        ok = parse_amount(value, &p->hot, &e);
    } else if (!strcmp(key, "ws")) {
        ok = parse_amount(value, &p->ws, &e);
    } else if (!strcmp(key, "share")) {
        size_t len = strlen(value);
        gchar *v = g_strndup(value, len && value[len - 1] == '%' ? len - 1 : len);
        ok = parse_uint(key, v, 1, 100, &p->hot_share, err);
        g_free(v);
        return ok;
    } else if (!strcmp(key, "skew")) {
        char *end;
        double v = g_ascii_strtod(value, &end);
        if (!*value || *end || !(v >= 0.001 && v <= 10)) {
            mb_error_set(err, "invalid skew '%s' (expected a number 0.001..10, e.g. 0.99)", value);
            return false;
        }
        p->skew_milli = (unsigned)llround(v * 1000);
    } else if (!strcmp(key, "from")) {
        ok = mb_parse_size(value, &p->from, &e);
    } else if (!strcmp(key, "to")) {
        ok = mb_parse_size(value, &p->to, &e);
    } else if (!strcmp(key, "phases")) {
        return parse_uint(key, value, 1, 1000000, &p->phases, err);
    } else if (!strcmp(key, "disk")) {
        ok = mb_parse_size(value, &p->disk, &e);
    } else if (!strcmp(key, "disk-rate")) {
        ok = mb_parse_bandwidth(value, &p->disk_rate, &e);
    } else if (!strcmp(key, "disk-used")) {
        size_t len = strlen(value);
        gchar *v = g_strndup(value, len && value[len - 1] == '%' ? len - 1 : len);
        ok = parse_uint(key, v, 0, 100, &p->disk_used, err);
        g_free(v);
        return ok;
    } else if (!strcmp(key, "disk-ws")) {
        ok = parse_amount(value, &p->disk_ws, &e);
    } else {
        mb_error_set(err,
                     "unknown workload option '%s' (options: size, rate, seed, vcpus, "
                     "duration, epoch, mix, init, hot, share, skew, from, to, phases, ws, "
                     "disk, disk-rate, disk-used, disk-ws)",
                     key);
        return false;
    }
    if (!ok) {
        mb_error_set(err, "option %s: %s", key, e->message);
        g_error_free(e);
    }
    return ok;
}

bool trace_gen_params_check(const TraceGenParams *p, GError **err)
{
    if (p->size < 4096 || p->size % 4096 || p->size > (1ULL << 50)) {
        mb_error_set(err,
                     "size %" G_GUINT64_FORMAT " must be a multiple of 4 KiB between 4K and "
                     "1P",
                     p->size);
        return false;
    }
    if (p->duration_ns <= 0 || p->epoch_ns <= 0 || p->epoch_ns > p->duration_ns) {
        mb_error_set(err, "duration and epoch must be positive with epoch <= duration");
        return false;
    }
    if (p->duration_ns / p->epoch_ns > (1LL << 40)) {
        mb_error_set(err, "too many epochs (duration / epoch > 2^40)");
        return false;
    }
    if (p->rate > (1ULL << 50)) {
        mb_error_set(err, "rate %" G_GUINT64_FORMAT " bytes/s is beyond 1 PiB/s", p->rate);
        return false;
    }
    if (p->kind == TRACE_GEN_SEQ && (p->from >= p->to || p->to > p->size)) {
        mb_error_set(err,
                     "seq range from=%" G_GUINT64_FORMAT " to=%" G_GUINT64_FORMAT
                     " must satisfy from < to <= size (%" G_GUINT64_FORMAT ")",
                     p->from, p->to, p->size);
        return false;
    }
    if (p->disk && (p->disk < (1u << 20) || p->disk % 4096 || p->disk > (1ULL << 50))) {
        mb_error_set(err,
                     "disk %" G_GUINT64_FORMAT " must be a multiple of 4 KiB between 1M and 1P",
                     p->disk);
        return false;
    }
    if (p->disk_rate > (1ULL << 50)) {
        mb_error_set(err, "disk-rate %" G_GUINT64_FORMAT " bytes/s is beyond 1 PiB/s",
                     p->disk_rate);
        return false;
    }
    if (p->disk && !p->disk_ws.relative &&
        (p->disk_ws.value < 4096 || p->disk_ws.value > p->disk)) {
        mb_error_set(err, "disk-ws %" G_GUINT64_FORMAT " must be between 4K and the disk size",
                     p->disk_ws.value);
        return false;
    }
    const TraceGenAmount *a = p->kind == TRACE_GEN_HOTSPOT ? &p->hot : &p->ws;
    if (!a->relative && (a->value < 4096 || a->value > p->size)) {
        mb_error_set(err, "%s %" G_GUINT64_FORMAT " must be between 4K and the guest size",
                     p->kind == TRACE_GEN_HOTSPOT ? "hot" : "ws", a->value);
        return false;
    }
    return true;
}

static void amount_str(const TraceGenAmount *a, char *buf, size_t len)
{
    if (a->relative)
        g_snprintf(buf, len, "%" G_GUINT64_FORMAT ".%02u%%", a->value / 100,
                   (unsigned)(a->value % 100));
    else
        g_snprintf(buf, len, "%" G_GUINT64_FORMAT, a->value);
}

char *trace_gen_params_describe(const TraceGenParams *p)
{
    char m1[64], m2[64], a[32];
    GString *s = g_string_new(trace_gen_kind_name(p->kind));

    g_string_append_printf(s, " size=%" G_GUINT64_FORMAT " seed=%" G_GUINT64_FORMAT, p->size,
                           p->seed);
    if (p->kind != TRACE_GEN_IDLE)
        g_string_append_printf(s, " rate=%" G_GUINT64_FORMAT " vcpus=%u", p->rate, p->vcpus);
    g_string_append_printf(s, " duration=%" G_GINT64_FORMAT "ns epoch=%" G_GINT64_FORMAT "ns",
                           p->duration_ns, p->epoch_ns);
    if (p->kind != TRACE_GEN_IDLE)
        g_string_append_printf(s, " mix=%s", trace_mix_format(&p->mix, m1, sizeof(m1)));
    g_string_append_printf(s, " init=%s", trace_mix_format(&p->init, m2, sizeof(m2)));
    switch (p->kind) {
    case TRACE_GEN_HOTSPOT:
        amount_str(&p->hot, a, sizeof(a));
        g_string_append_printf(s, " hot=%s share=%u%%", a, p->hot_share);
        break;
    case TRACE_GEN_ZIPF:
        g_string_append_printf(s, " skew=%u.%03u", p->skew_milli / 1000, p->skew_milli % 1000);
        break;
    case TRACE_GEN_SEQ:
        g_string_append_printf(s, " from=%" G_GUINT64_FORMAT " to=%" G_GUINT64_FORMAT, p->from,
                               p->to);
        break;
    case TRACE_GEN_PHASES:
        amount_str(&p->ws, a, sizeof(a));
        g_string_append_printf(s, " phases=%u ws=%s", p->phases, a);
        break;
    case TRACE_GEN_UNIFORM:
        amount_str(&p->ws, a, sizeof(a));
        g_string_append_printf(s, " ws=%s", a);
        break;
    default: break;
    }
    if (p->disk) { /* only with a disk, so RAM-only descriptions (and digests) stay as they were */
        amount_str(&p->disk_ws, a, sizeof(a));
        g_string_append_printf(s,
                               " disk=%" G_GUINT64_FORMAT " disk-rate=%" G_GUINT64_FORMAT
                               " disk-used=%u%% disk-ws=%s",
                               p->disk, p->disk_rate, p->disk_used, a);
    }
    return g_string_free(s, FALSE);
}

const char *trace_gen_help(void)
{
    return "Workloads (all deterministic by seed):\n"
           "  idle      no writes at all\n"
           "  uniform   writes spread uniformly over a working set (ws=100%)\n"
           "  hotspot   share=90% of the writes go to a hot set of hot=10% of RAM, scattered\n"
           "            in 64 KiB runs; the rest anywhere (the default guest)\n"
           "  zipf      page popularity follows Zipf's law with exponent skew=0.99\n"
           "  seq       one vCPU sweeping pages from=1M to=100M in order, rate=64M, mix=sparse\n"
           "            (QEMU's migration-test guest)\n"
           "  phases    phases=4 equal phases, each writing uniformly in its own working set\n"
           "            of ws=25%, moving across RAM\n"
           "Options (defaults in brackets):\n"
           "  size=SIZE        guest RAM, one block pc.ram [1G]\n"
           "  rate=BYTES/S     page writes per second x 4 KiB, e.g. 8M, 200M, 1Gbit [8M]\n"
           "  seed=N           generator and content seed [1]\n"
           "  vcpus=N          vCPUs the writes are spread over [2; seq 1]\n"
           "  duration=DUR     trace length [10s]\n"
           "  epoch=DUR        time between epochs [1ms]\n"
           "  mix=MIX          class of written pages [zero:5,random:15,text:30,sparse:50]\n"
           "  init=MIX         class of pages before their first write\n"
           "                   [zero:40,random:10,text:30,sparse:20]\n"
           "  hot=SIZE|PCT     hotspot: hot set size [10%]\n"
           "  share=PCT        hotspot: share of writes to the hot set [90]\n"
           "  skew=S           zipf: exponent [0.99]\n"
           "  from=, to=SIZE   seq: byte range swept [1M, 100M]\n"
           "  phases=N, ws=    phases: phase count [4] and working set [25%]; uniform: ws\n"
           "  disk=SIZE        a disk drive0 besides the RAM (block migration) [none]\n"
           "  disk-rate=BYTES/S  4 KiB disk writes per second x 4 KiB [1M]\n"
           "  disk-used=PCT    share of the disk's 1 MiB chunks with data in its base image\n"
           "                   (the rest is zero) [50]\n"
           "  disk-ws=SIZE|PCT working set of the disk writes, at a seed-chosen place [10%];\n"
           "                   they come in sequential runs of 1 MiB from random places in it\n"
           "MIX is percentages of zero, random, text, sparse adding up to 100, e.g.\n"
           "zero:40,random:10,text:30,sparse:20, or one class name; parts may be joined\n"
           "with '+' or '/' too, as they must be inside a guest spec\n"
           "(sim:uniform,init=zero:90+sparse:10).\n";
}
