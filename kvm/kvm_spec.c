/* kvm_spec: parses the option text of a "kvm:" guest spec into a KvmSpec.
 *
 * Options are "key=value" separated by commas, QEMU-style; unknown keys and malformed
 * values are refused with the list of valid choices, because a typo silently ignored
 * would run a different experiment than the one asked for. */
#include "kvm_int.h"

#include "mb_error.h"
#include "mb_util.h"

#include <string.h>

static const char *const workload_names[] = {
    [KVM_ABI_WL_IDLE] = "idle",     [KVM_ABI_WL_MARKER] = "marker",
    [KVM_ABI_WL_RANDOM] = "random", [KVM_ABI_WL_HOTSPOT] = "hotspot",
    [KVM_ABI_WL_FAULT] = "fault",
};

static const char *const fault_names[] = {
    [KVM_ABI_FAULT_UD] = "ud",     [KVM_ABI_FAULT_PF] = "pf",
    [KVM_ABI_FAULT_MMIO] = "mmio", [KVM_ABI_FAULT_SHUTDOWN] = "shutdown",
    [KVM_ABI_FAULT_HLT] = "hlt",   [KVM_ABI_FAULT_PORT] = "port",
    [KVM_ABI_FAULT_SPIN] = "spin",
};

const char *kvm_workload_name(int workload)
{
    if (workload >= 0 && workload < (int)G_N_ELEMENTS(workload_names))
        return workload_names[workload];
    return "?";
}

const char *kvm_fault_name(int fault)
{
    if (fault > 0 && fault < (int)G_N_ELEMENTS(fault_names))
        return fault_names[fault];
    return "none";
}

static int lookup(const char *const *names, int n, const char *v)
{
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], v) == 0)
            return i;
    return -1;
}

static bool parse_uint(const char *key, const char *v, uint64_t min, uint64_t max, uint64_t *out,
                       GError **err)
{
    uint64_t x;
    if (!mb_parse_u64(v, &x) || x < min || x > max) {
        mb_error_set(err, "kvm: %s must be an integer in %llu..%llu, not '%s'", key,
                     (unsigned long long)min, (unsigned long long)max, v);
        return false;
    }
    *out = x;
    return true;
}

static bool set_option(KvmSpec *s, const char *key, const char *v, GError **err)
{
    uint64_t x;
    if (strcmp(key, "mem") == 0) {
        GError *e = NULL;
        if (!mb_parse_size(v, &s->mem, &e)) {
            mb_error_set(err, "kvm: bad mem '%s': %s", v, e->message);
            g_error_free(e);
            return false;
        }
    } else if (strcmp(key, "vcpus") == 0) {
        if (!parse_uint(key, v, 1, KVM_ABI_MAX_VCPUS, &x, err))
            return false;
        s->vcpus = (unsigned)x;
    } else if (strcmp(key, "slots") == 0) {
        if (!parse_uint(key, v, 1, 32, &x, err))
            return false;
        s->slots = (unsigned)x;
    } else if (strcmp(key, "workload") == 0) {
        int w = lookup(workload_names, G_N_ELEMENTS(workload_names), v);
        if (w < 0) {
            mb_error_set(err, "kvm: unknown workload '%s' (marker, random, hotspot, idle)", v);
            return false;
        }
        s->workload = w;
        s->workload_set = true;
    } else if (strcmp(key, "fault") == 0) {
        int f = lookup(fault_names, G_N_ELEMENTS(fault_names), v);
        if (f <= 0) {
            mb_error_set(err,
                         "kvm: unknown fault '%s' (ud, pf, mmio, shutdown, hlt, port, "
                         "spin)",
                         v);
            return false;
        }
        s->fault = f;
    } else if (strcmp(key, "hot") == 0) {
        if (!parse_uint(key, v, 1, 99, &x, err))
            return false;
        s->hot_pct = (unsigned)x;
    } else if (strcmp(key, "hotw") == 0) {
        if (!parse_uint(key, v, 0, 100, &x, err))
            return false;
        s->hotw_pct = (unsigned)x;
    } else if (strcmp(key, "work") == 0) {
        /* The span the workload writes, from 1 MiB: work=99M is QEMU's migration-test
         * guest (1 MiB to 100 MiB); the rest of RAM stays zero. */
        if (!mb_parse_size(v, &s->work, NULL) || s->work < MB_TARGET_PAGE_SIZE) {
            mb_error_set(err, "kvm: work=%s: expected a size of at least 4K", v);
            return false;
        }
    } else if (strcmp(key, "seed") == 0) {
        if (!parse_uint(key, v, 0, UINT64_MAX, &s->seed, err))
            return false;
    } else if (strcmp(key, "report") == 0) {
        if (!parse_uint(key, v, 0, 30, &x, err))
            return false;
        s->report_shift = (unsigned)x;
    } else if (strcmp(key, "dirty") == 0) {
        static const char *const modes[] = { "auto", "get", "log", "ring" };
        int m = lookup(modes, G_N_ELEMENTS(modes), v);
        if (m < 0) {
            mb_error_set(err, "kvm: unknown dirty mode '%s' (auto, log, get, ring)", v);
            return false;
        }
        s->dirty = (KvmDirtyReq)m;
    } else if (strcmp(key, "thp") == 0) {
        if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
            mb_error_set(err, "kvm: thp must be on or off, not '%s'", v);
            return false;
        }
        s->thp = strcmp(v, "on") == 0;
    } else if (strcmp(key, "ring") == 0) {
        if (!parse_uint(key, v, 64, 1u << 20, &x, err))
            return false;
        if (x & (x - 1)) {
            mb_error_set(err, "kvm: ring must be a power of two, not %s", v);
            return false;
        }
        s->ring_entries = (uint32_t)x;
    } else {
        mb_error_set(
            err,
            "kvm: unknown option '%s' (mem, vcpus, slots, workload, work, hot, hotw, seed, "
            "report, dirty, ring, thp, fault)",
            key);
        return false;
    }
    return true;
}

bool kvm_spec_parse(const char *text, KvmSpec *out, GError **err)
{
    KvmSpec s = {
        .mem = 128ull << 20,
        .vcpus = 1,
        .slots = 1,
        .workload = KVM_ABI_WL_MARKER,
        .hot_pct = 10,
        .hotw_pct = 90,
        .seed = 1,
        .report_shift = 12,
        .dirty = KVM_DIRTY_REQ_AUTO,
        .ring_entries = 65536,
        .thp = true,
    };
    if (!text)
        text = "";
    if (g_str_has_prefix(text, "kvm:"))
        text += 4;
    else if (strcmp(text, "kvm") == 0)
        text = "";
    gchar **parts = g_strsplit(text, ",", -1);
    bool ok = true;
    for (gchar **p = parts; ok && *p; p++) {
        if (!**p)
            continue;
        char *eq = strchr(*p, '=');
        if (!eq || eq == *p || !eq[1]) {
            mb_error_set(err, "kvm: option '%s' is not of the form key=value", *p);
            ok = false;
            break;
        }
        *eq = '\0';
        ok = set_option(&s, *p, eq + 1, err);
    }
    g_strfreev(parts);
    if (!ok)
        return false;
    if (s.workload == KVM_ABI_WL_FAULT && !s.fault) {
        mb_error_set(err, "kvm: workload=fault needs fault=KIND (test-only)");
        return false;
    }
    if (s.fault && s.workload != KVM_ABI_WL_FAULT) {
        mb_error_set(err, "kvm: fault= is only valid with workload=fault");
        return false;
    }
    if (!kvm_layout_check(&s, err))
        return false;
    *out = s;
    return true;
}
