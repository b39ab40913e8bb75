/* sim_spec: the simulated guest's command-line spec (the text after "sim:").
 *
 *   spec     := [source] {"," option}
 *   source   := WORKLOAD | PATH | "file=" PATH        (default: hotspot)
 *   option   := "seed=" N | "loop=" (on|off) | "warmup=" DUR | "store=" (auto|mem|model)
 *             | "prefault=" (on|off) | "disk-image=" (shared|base|empty)
 *             | "failover=" ID | "unplug-delay=" DUR | generator option
 *
 * A content mix (mix=, init=) joins its parts with '+' here ("init=zero:90+sparse:10"),
 * since commas separate options.  A first word that is not a workload name is a trace
 * file.  Generator options (size=,
 * rate=, ...) are those of `migbench trace gen` and apply to workloads only; seed= sets a
 * workload's seed, or overrides a trace file's content seed. */
#include "sim_internal.h"

#include "mb_error.h"
#include "mb_util.h"

#include <string.h>

static bool parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) {
        *out = true;
        return true;
    }
    if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) {
        *out = false;
        return true;
    }
    return false;
}

void sim_spec_clear(SimSpec *s)
{
    g_free(s->path);
    g_free(s->failover);
    memset(s, 0, sizeof(*s));
}

bool sim_spec_parse(const char *spec, SimSpec *out, GError **err)
{
    SimSpec s = { 0 };
    gchar **parts = g_strsplit(spec ? spec : "", ",", -1);
    GError *e = NULL;
    bool ok = true;
    int first = 0;
    bool has_delay = false;

    s.loop = true;
    s.prefault = true;
    s.unplug_delay_ns = 100 * (int64_t)1000000; /* a guest driver's unplug: ~100 ms */
    trace_gen_params_init(&s.gen, TRACE_GEN_HOTSPOT);
    if (parts[0] && *parts[0] && !strchr(parts[0], '=')) {
        TraceGenKind kind;
        if (trace_gen_kind_from_name(parts[0], &kind)) {
            trace_gen_params_init(&s.gen, kind);
        } else if (g_file_test(parts[0], G_FILE_TEST_EXISTS) || strchr(parts[0], '/') ||
                   g_str_has_suffix(parts[0], ".trace")) {
            s.is_file = true;
            s.path = g_strdup(parts[0]);
        } else {
            mb_error_set(err,
                         "sim: unknown workload or trace file '%s' (workloads: idle, "
                         "uniform, hotspot, zipf, seq, phases; or a trace file path)",
                         parts[0]);
            ok = false;
        }
        first = 1;
    } else if (parts[0] && !*parts[0]) {
        first = parts[1] ? -1 : 1; /* "" is the default; ",x=y" is malformed */
    }
    if (first < 0) {
        mb_error_set(err, "sim: empty workload name in '%s'", spec);
        ok = false;
    }
    /* A mix written with commas ("init=zero:90,sparse:10") was cut by the split: say so,
     * with the '+' form, before the first half is rejected as a mix of 90%. */
    for (int i = first; ok && i >= 0 && parts[i]; i++) {
        if (!g_str_has_prefix(parts[i], "mix=") && !g_str_has_prefix(parts[i], "init="))
            continue;
        int j = i + 1;
        while (parts[j] && !strchr(parts[j], '=') && strchr(parts[j], ':'))
            j++;
        if (j == i + 1)
            continue;
        gchar *joined = g_strjoinv("+", parts + i); /* parts i..end; cut below */
        gchar *stray = parts[i + 1];
        char *end = joined;
        for (int k = i; k < j; k++)
            end += strlen(parts[k]) + (k + 1 < j ? 1 : 0);
        *end = 0;
        mb_error_set(err,
                     "sim: '%s' is not an option: inside a guest spec, join the parts of a "
                     "content mix with '+' (%s)",
                     stray, joined);
        g_free(joined);
        ok = false;
    }
    /* Two passes: file= first (it decides what the other options may be). */
    for (int i = first; ok && parts[i]; i++)
        if (g_str_has_prefix(parts[i], "file=")) {
            if (s.is_file) {
                mb_error_set(err, "sim: two trace files in '%s'", spec);
                ok = false;
            }
            s.is_file = true;
            g_free(s.path);
            s.path = g_strdup(parts[i] + 5);
        }
    for (int i = first; ok && parts[i]; i++) {
        char *eq = strchr(parts[i], '=');
        if (!eq || eq == parts[i]) {
            mb_error_set(err, "sim: expected option=value, got '%s'", parts[i]);
            ok = false;
            break;
        }
        *eq = 0;
        const char *k = parts[i], *v = eq + 1;
        if (!strcmp(k, "file")) {
            /* handled above */
        } else if (!strcmp(k, "seed")) {
            if (!mb_parse_u64(v, &s.seed)) {
                mb_error_set(err, "sim: invalid seed '%s'", v);
                ok = false;
            }
            s.has_seed = true;
            s.gen.seed = s.seed;
        } else if (!strcmp(k, "loop")) {
            if (!parse_bool(v, &s.loop)) {
                mb_error_set(err, "sim: invalid loop '%s' (on or off)", v);
                ok = false;
            }
        } else if (!strcmp(k, "store")) {
            if (!strcmp(v, "auto"))
                s.store = SIM_STORE_AUTO;
            else if (!strcmp(v, "mem"))
                s.store = SIM_STORE_MEM;
            else if (!strcmp(v, "model"))
                s.store = SIM_STORE_MODEL;
            else {
                mb_error_set(err, "sim: invalid store '%s' (auto, mem or model)", v);
                ok = false;
            }
        } else if (!strcmp(k, "prefault")) {
            if (!parse_bool(v, &s.prefault)) {
                mb_error_set(err, "sim: invalid prefault '%s' (on or off)", v);
                ok = false;
            }
        } else if (!strcmp(k, "failover")) {
            /* A device id as QEMU's -device id= takes it: letters, digits, '-', '_', '.'. */
            bool valid = *v && g_ascii_isalpha(*v);
            for (const char *c = v; valid && *c; c++)
                valid = g_ascii_isalnum(*c) || *c == '-' || *c == '_' || *c == '.';
            if (!valid) {
                mb_error_set(err, "sim: invalid failover device id '%s'", v);
                ok = false;
            }
            g_free(s.failover);
            s.failover = g_strdup(v);
        } else if (!strcmp(k, "unplug-delay")) {
            has_delay = true;
            if (!mb_parse_duration(v, &s.unplug_delay_ns, &e)) {
                mb_error_set(err, "sim: unplug-delay: %s", e->message);
                g_clear_error(&e);
                ok = false;
            }
        } else if (!strcmp(k, "disk-image")) {
            if (!strcmp(v, "shared"))
                s.disk_image = SIM_DISK_SHARED;
            else if (!strcmp(v, "base"))
                s.disk_image = SIM_DISK_BASE;
            else if (!strcmp(v, "empty"))
                s.disk_image = SIM_DISK_EMPTY;
            else {
                mb_error_set(err, "sim: invalid disk-image '%s' (shared, base or empty)", v);
                ok = false;
            }
        } else if (!strcmp(k, "warmup")) {
            if (!mb_parse_duration(v, &s.warmup_ns, &e)) {
                mb_error_set(err, "sim: warmup: %s", e->message);
                g_clear_error(&e);
                ok = false;
            }
        } else if (trace_gen_is_option(k)) {
            if (s.is_file) {
                mb_error_set(err,
                             "sim: option '%s' applies to built-in workloads, not to the "
                             "trace file %s",
                             k, s.path);
                ok = false;
            } else if (!trace_gen_params_set(&s.gen, k, v, &e)) {
                mb_error_set(err, "sim: %s", e->message);
                g_clear_error(&e);
                ok = false;
            }
        } else {
            mb_error_set(
                err,
                "sim: unknown option '%s' (common: seed, loop, warmup, store, prefault, "
                "disk-image, failover, unplug-delay; workload: size, rate, vcpus, duration, "
                "epoch, mix, init, hot, share, skew, from, to, phases, ws, disk, disk-rate, "
                "disk-used, disk-ws)",
                k);
            ok = false;
        }
        *eq = '=';
    }
    if (ok && s.is_file && (!s.path || !*s.path)) {
        mb_error_set(err, "sim: empty trace file name");
        ok = false;
    }
    if (ok && has_delay && !s.failover) {
        mb_error_set(err, "sim: unplug-delay needs a failover device (failover=ID)");
        ok = false;
    }
    if (ok && !s.is_file && !trace_gen_params_check(&s.gen, &e)) {
        mb_error_set(err, "sim: %s", e->message);
        g_clear_error(&e);
        ok = false;
    }
    g_strfreev(parts);
    if (!ok) {
        sim_spec_clear(&s);
        return false;
    }
    *out = s;
    return true;
}

TraceSource *sim_spec_open(const SimSpec *s, uint64_t *file_events, GError **err)
{
    *file_events = 0;
    if (!s->is_file)
        return trace_gen_new(&s->gen, err);
    TraceSource *src = trace_open_file(s->path, err);
    if (src && !trace_source_check(src, file_events, NULL, err)) {
        trace_source_free(src);
        return NULL;
    }
    return src;
}
