/* kvm_state: the vCPU state of a KVM guest as a versioned blob (save_state/load_state).
 *
 * The blob carries everything but RAM: the guest configuration that RAM alone does not
 * tell (vCPU count, RAM size and slots, workload parameters, needed by verify) and, per
 * vCPU, general registers, special registers, FPU/XSAVE state, XCRs, pending events and
 * the MSRs a 64-bit guest can touch.  Layout, all integers big-endian except the raw KVM
 * structures (native x86-64 layout, sizes checked on load):
 *
 *   "MBKVMST\0"  u32 version  u32 guest-program ABI version
 *   sections: u32 tag  u32 vcpu  u32 length  bytes[length]   ... ending with tag "END!"
 *
 * load_state checks everything before touching a vCPU and refuses mismatches with a
 * sentence naming both sides, because a half-loaded guest would fail later and obscurely. */
#include "kvm_int.h"

#include "mb_error.h"
#include "mb_util.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#define STATE_MAGIC     "MBKVMST"
#define STATE_VERSION   2
#define TAG(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define TAG_CONF        TAG('C', 'O', 'N', 'F')
#define TAG_REGS        TAG('R', 'E', 'G', 'S')
#define TAG_SREG        TAG('S', 'R', 'E', 'G')
#define TAG_XSAV        TAG('X', 'S', 'A', 'V')
#define TAG_FPU         TAG('F', 'P', 'U', ' ')
#define TAG_XCRS        TAG('X', 'C', 'R', 'S')
#define TAG_EVNT        TAG('E', 'V', 'N', 'T')
#define TAG_MSRS        TAG('M', 'S', 'R', 'S')
#define TAG_END         TAG('E', 'N', 'D', '!')
#define CONF_LEN        52
#define MAX_MSRS        32

/* MSRs a long-mode guest may use; saved when KVM lists them. */
static const uint32_t wanted_msrs[] = {
    0x00000010,                                     /* TSC */
    0x00000174, 0x00000175, 0x00000176,             /* SYSENTER_CS/ESP/EIP */
    0x00000277,                                     /* PAT */
    0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, /* STAR, LSTAR, CSTAR, FMASK */
    0xc0000102, 0xc0000103,                         /* KERNEL_GS_BASE, TSC_AUX */
};

typedef struct {
    struct kvm_msrs hdr;
    struct kvm_msr_entry e[MAX_MSRS];
} MsrBuf;

static size_t xsave_size(KvmGuest *g)
{
    int n = ioctl(g->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
    if (n >= (int)sizeof(struct kvm_xsave))
        return (size_t)n;
    if (ioctl(g->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0)
        return sizeof(struct kvm_xsave);
    return 0;
}

static bool has_cap(KvmGuest *g, int cap)
{
    return ioctl(g->vm_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

/* The wanted MSRs this KVM can save and restore. */
static unsigned msr_list(KvmGuest *g, uint32_t *out)
{
    struct kvm_msr_list probe = { .nmsrs = 0 };
    ioctl(g->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe); /* E2BIG, sets nmsrs */
    struct kvm_msr_list *l = g_malloc0(sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
    l->nmsrs = probe.nmsrs;
    unsigned n = 0;
    if (ioctl(g->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) == 0)
        for (size_t w = 0; w < G_N_ELEMENTS(wanted_msrs); w++)
            for (uint32_t i = 0; i < l->nmsrs; i++)
                if (l->indices[i] == wanted_msrs[w]) {
                    out[n++] = wanted_msrs[w];
                    break;
                }
    g_free(l);
    return n;
}

static void put_section(GByteArray *b, uint32_t tag, uint32_t vcpu, const void *p, size_t len)
{
    uint8_t h[12];
    mb_st_be32(h, tag);
    mb_st_be32(h + 4, vcpu);
    mb_st_be32(h + 8, (uint32_t)len);
    g_byte_array_append(b, h, sizeof(h));
    if (len)
        g_byte_array_append(b, p, (guint)len);
}

static void conf_encode(const KvmSpec *s, uint8_t *c)
{
    mb_st_be32(c, s->vcpus);
    mb_st_be32(c + 4, s->slots);
    mb_st_be64(c + 8, s->mem);
    mb_st_be32(c + 16, (uint32_t)s->workload);
    mb_st_be32(c + 20, (uint32_t)s->fault);
    mb_st_be32(c + 24, s->hot_pct);
    mb_st_be32(c + 28, s->hotw_pct);
    mb_st_be64(c + 32, s->seed);
    mb_st_be32(c + 40, s->report_shift);
    mb_st_be64(c + 44, s->work);
}

static bool save_vcpu(KvmGuest *g, KvmVcpu *c, GByteArray *b, size_t xs, const uint32_t *msrs,
                      unsigned nmsrs)
{
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    if (ioctl(c->fd, KVM_GET_REGS, &regs) < 0 || ioctl(c->fd, KVM_GET_SREGS, &sregs) < 0)
        return false;
    put_section(b, TAG_REGS, c->index, &regs, sizeof(regs));
    put_section(b, TAG_SREG, c->index, &sregs, sizeof(sregs));
    if (xs) {
        void *x = g_malloc0(xs);
        unsigned long req = xs > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;
        bool ok = ioctl(c->fd, req, x) == 0;
        if (ok)
            put_section(b, TAG_XSAV, c->index, x, xs);
        g_free(x);
        if (!ok)
            return false;
    } else {
        struct kvm_fpu fpu;
        if (ioctl(c->fd, KVM_GET_FPU, &fpu) < 0)
            return false;
        put_section(b, TAG_FPU, c->index, &fpu, sizeof(fpu));
    }
    if (has_cap(g, KVM_CAP_XCRS)) {
        struct kvm_xcrs xcrs;
        if (ioctl(c->fd, KVM_GET_XCRS, &xcrs) < 0)
            return false;
        put_section(b, TAG_XCRS, c->index, &xcrs, sizeof(xcrs));
    }
    if (has_cap(g, KVM_CAP_VCPU_EVENTS)) {
        struct kvm_vcpu_events ev;
        if (ioctl(c->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
            return false;
        put_section(b, TAG_EVNT, c->index, &ev, sizeof(ev));
    }
    MsrBuf m;
    memset(&m, 0, sizeof(m));
    m.hdr.nmsrs = nmsrs;
    for (unsigned i = 0; i < nmsrs; i++)
        m.e[i].index = msrs[i];
    int got = ioctl(c->fd, KVM_GET_MSRS, &m);
    if (got < 0)
        return false;
    uint8_t mb[4 + MAX_MSRS * 12];
    mb_st_be32(mb, (uint32_t)got);
    for (int i = 0; i < got; i++) {
        mb_st_be32(mb + 4 + 12 * i, m.e[i].index);
        mb_st_be64(mb + 8 + 12 * i, m.e[i].data);
    }
    put_section(b, TAG_MSRS, c->index, mb, 4 + 12 * (size_t)got);
    return true;
}

GBytes *kvm_state_save(KvmGuest *g)
{
    kvm_vcpus_pause(g); /* registers are only consistent with every vCPU parked */
    GByteArray *b = g_byte_array_new();
    uint8_t h[16];
    memcpy(h, STATE_MAGIC, 8);
    mb_st_be32(h + 8, STATE_VERSION);
    mb_st_be32(h + 12, KVM_ABI_VERSION);
    g_byte_array_append(b, h, sizeof(h));
    uint8_t conf[CONF_LEN];
    conf_encode(&g->spec, conf);
    put_section(b, TAG_CONF, 0, conf, sizeof(conf));
    uint32_t msrs[G_N_ELEMENTS(wanted_msrs)];
    unsigned nmsrs = msr_list(g, msrs);
    size_t xs = xsave_size(g);
    for (unsigned v = 0; v < g->spec.vcpus; v++) {
        if (!save_vcpu(g, &g->vcpus[v], b, xs, msrs, nmsrs)) {
            int e = errno;
            g_byte_array_unref(b);
            g_mutex_lock(&g->lock);
            kvm_guest_fail_locked(g, g_error_new(MB_ERROR, MB_ERR_GENERIC,
                                                 "kvm: reading the state of vCPU %u failed: %s", v,
                                                 g_strerror(e)));
            g_mutex_unlock(&g->lock);
            return g_bytes_new(NULL, 0); /* guest.h: never NULL; load_state refuses it */
        }
    }
    put_section(b, TAG_END, 0, NULL, 0);
    return g_byte_array_free_to_bytes(b);
}

/* ---- load ---- */

typedef struct {
    const uint8_t *regs, *sregs, *xsave, *fpu, *xcrs, *events, *msrs;
    size_t msrs_len;
} VcpuSections;

static bool expect_len(uint32_t tag, uint32_t v, size_t len, size_t want, GError **err)
{
    if (len == want)
        return true;
    mb_error_set(err, "kvm: state section %c%c%c%c of vCPU %u has %zu bytes, expected %zu",
                 (char)(tag >> 24), (char)(tag >> 16), (char)(tag >> 8), (char)tag, v, len, want);
    return false;
}

static bool check_conf(KvmGuest *g, const uint8_t *c, KvmSpec *out, GError **err)
{
    KvmSpec s = g->spec;
    uint32_t vcpus = mb_ld_be32(c), slots = mb_ld_be32(c + 4);
    uint64_t mem = mb_ld_be64(c + 8);
    uint32_t workload = mb_ld_be32(c + 16);
    if (vcpus != s.vcpus) {
        mb_error_set(err, "kvm: vCPU count mismatch: the source has %u, this guest %u", vcpus,
                     s.vcpus);
        return false;
    }
    if (mem != s.mem || slots != s.slots) {
        char a[32], b[32];
        mb_error_set(err,
                     "kvm: RAM layout mismatch: the source has %s in %u slots, this "
                     "guest %s in %u",
                     mb_fmt_bytes(a, sizeof(a), (double)mem), slots,
                     mb_fmt_bytes(b, sizeof(b), (double)s.mem), s.slots);
        return false;
    }
    if (workload > KVM_ABI_WL_FAULT) {
        mb_error_set(err, "kvm: the source runs unknown workload %u", workload);
        return false;
    }
    if (g->incoming && s.workload_set && (int)workload != s.workload) {
        mb_error_set(err,
                     "kvm: workload mismatch: the source runs %s, this guest was created "
                     "for %s",
                     kvm_workload_name((int)workload), kvm_workload_name(s.workload));
        return false;
    }
    s.workload = (int)workload;
    s.fault = (int)mb_ld_be32(c + 20);
    s.hot_pct = mb_ld_be32(c + 24);
    s.hotw_pct = mb_ld_be32(c + 28);
    s.seed = mb_ld_be64(c + 32);
    s.report_shift = mb_ld_be32(c + 40);
    s.work = mb_ld_be64(c + 44);
    if (s.report_shift > 30 || s.hot_pct > 99 || s.hotw_pct > 100) {
        mb_error_set(err, "kvm: the state carries invalid workload parameters");
        return false;
    }
    *out = s;
    return true;
}

static bool parse(KvmGuest *g, const uint8_t *d, size_t len, KvmSpec *spec, VcpuSections *vs,
                  size_t xs, GError **err)
{
    if (len < 16 || memcmp(d, STATE_MAGIC, 8) != 0) {
        mb_error_set(err, "kvm: this is not a KVM guest state (bad magic)");
        return false;
    }
    if (mb_ld_be32(d + 8) != STATE_VERSION) {
        mb_error_set(err, "kvm: guest state version %u, this migbench reads version %u",
                     mb_ld_be32(d + 8), STATE_VERSION);
        return false;
    }
    if (mb_ld_be32(d + 12) != KVM_ABI_VERSION) {
        mb_error_set(err, "kvm: the source runs guest program ABI %u, this build has %u",
                     mb_ld_be32(d + 12), KVM_ABI_VERSION);
        return false;
    }
    bool conf = false, end = false;
    for (size_t off = 16; !end;) {
        if (len - off < 12) {
            mb_error_set(err, "kvm: the guest state is truncated");
            return false;
        }
        uint32_t tag = mb_ld_be32(d + off), v = mb_ld_be32(d + off + 4);
        size_t n = mb_ld_be32(d + off + 8);
        const uint8_t *p = d + off + 12;
        if (n > len - off - 12) {
            mb_error_set(err, "kvm: the guest state is truncated");
            return false;
        }
        off += 12 + n;
        if (tag == TAG_END) {
            end = true;
            continue;
        }
        if (tag == TAG_CONF) {
            if (!expect_len(tag, v, n, CONF_LEN, err) || !check_conf(g, p, spec, err))
                return false;
            conf = true;
            continue;
        }
        if (!conf || v >= g->spec.vcpus) {
            mb_error_set(err, "kvm: the guest state has a vCPU section out of place");
            return false;
        }
        VcpuSections *s = &vs[v];
        bool ok = true;
        switch (tag) {
        case TAG_REGS:
            ok = expect_len(tag, v, n, sizeof(struct kvm_regs), err);
            s->regs = p;
            break;
        case TAG_SREG:
            ok = expect_len(tag, v, n, sizeof(struct kvm_sregs), err);
            s->sregs = p;
            break;
        case TAG_XSAV:
            ok = expect_len(tag, v, n, xs, err);
            s->xsave = p;
            break;
        case TAG_FPU:
            ok = expect_len(tag, v, n, sizeof(struct kvm_fpu), err);
            s->fpu = p;
            break;
        case TAG_XCRS:
            ok = expect_len(tag, v, n, sizeof(struct kvm_xcrs), err);
            s->xcrs = p;
            break;
        case TAG_EVNT:
            ok = expect_len(tag, v, n, sizeof(struct kvm_vcpu_events), err);
            s->events = p;
            break;
        case TAG_MSRS:
            ok = n >= 4 && mb_ld_be32(p) <= MAX_MSRS &&
                 expect_len(tag, v, n, 4 + 12 * (size_t)mb_ld_be32(p), err);
            if (!ok && n < 4)
                mb_error_set(err, "kvm: the MSR section of vCPU %u is malformed", v);
            s->msrs = p;
            s->msrs_len = n;
            break;
        default: mb_error_set(err, "kvm: unknown guest state section 0x%08x", tag); return false;
        }
        if (!ok)
            return false;
    }
    if (!conf) {
        mb_error_set(err, "kvm: the guest state has no configuration section");
        return false;
    }
    for (unsigned v = 0; v < g->spec.vcpus; v++)
        if (!vs[v].regs || !vs[v].sregs || !vs[v].msrs || !(vs[v].xsave || vs[v].fpu)) {
            mb_error_set(err, "kvm: the guest state lacks registers of vCPU %u", v);
            return false;
        }
    return true;
}

static bool load_vcpu(KvmVcpu *c, const VcpuSections *s, size_t xs, GError **err)
{
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    memcpy(&regs, s->regs, sizeof(regs));
    memcpy(&sregs, s->sregs, sizeof(sregs));
    const char *what = NULL;
    if (ioctl(c->fd, KVM_SET_SREGS, &sregs) < 0)
        what = "KVM_SET_SREGS";
    else if (ioctl(c->fd, KVM_SET_REGS, &regs) < 0)
        what = "KVM_SET_REGS";
    if (!what && s->xsave) {
        void *x = g_malloc(xs);
        memcpy(x, s->xsave, xs);
        if (ioctl(c->fd, KVM_SET_XSAVE, x) < 0)
            what = "KVM_SET_XSAVE";
        g_free(x);
    } else if (!what && s->fpu) {
        struct kvm_fpu fpu;
        memcpy(&fpu, s->fpu, sizeof(fpu));
        if (ioctl(c->fd, KVM_SET_FPU, &fpu) < 0)
            what = "KVM_SET_FPU";
    }
    if (!what && s->xcrs) {
        struct kvm_xcrs xcrs;
        memcpy(&xcrs, s->xcrs, sizeof(xcrs));
        if (ioctl(c->fd, KVM_SET_XCRS, &xcrs) < 0)
            what = "KVM_SET_XCRS";
    }
    if (!what) {
        MsrBuf m;
        memset(&m, 0, sizeof(m));
        m.hdr.nmsrs = mb_ld_be32(s->msrs);
        for (unsigned i = 0; i < m.hdr.nmsrs; i++) {
            m.e[i].index = mb_ld_be32(s->msrs + 4 + 12 * i);
            m.e[i].data = mb_ld_be64(s->msrs + 8 + 12 * i);
        }
        int n = ioctl(c->fd, KVM_SET_MSRS, &m);
        if (n != (int)m.hdr.nmsrs) {
            mb_error_set(err, "kvm: vCPU %u: KVM refused MSR 0x%x of the source", c->index,
                         n >= 0 && (unsigned)n < m.hdr.nmsrs ? m.e[n].index : 0);
            return false;
        }
    }
    if (!what && s->events) {
        struct kvm_vcpu_events ev;
        memcpy(&ev, s->events, sizeof(ev));
        if (ioctl(c->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
            what = "KVM_SET_VCPU_EVENTS";
    }
    if (what) {
        mb_error_set(err, "kvm: vCPU %u: %s failed: %s", c->index, what, g_strerror(errno));
        return false;
    }
    /* The guest's progress counter lives in R10 once the loop runs: continue from it. */
    if (regs.r15 == KVM_ABI_LOOP_MAGIC)
        c->progress = regs.r10;
    return true;
}

bool kvm_state_load(KvmGuest *g, const uint8_t *data, size_t len, GError **err)
{
    if (kvm_vcpus_running(g)) {
        mb_error_set(err, "kvm: cannot load state into a running guest");
        return false;
    }
    kvm_vcpus_pause(g);
    size_t xs = xsave_size(g);
    KvmSpec spec;
    VcpuSections *vs = g_new0(VcpuSections, g->spec.vcpus);
    bool ok = parse(g, data, len, &spec, vs, xs, err);
    g_mutex_lock(&g->lock);
    for (unsigned v = 0; ok && v < g->spec.vcpus; v++)
        ok = load_vcpu(&g->vcpus[v], &vs[v], xs, err);
    if (ok) {
        g->spec = spec;
        g->state_ready = true;
    }
    g_mutex_unlock(&g->lock);
    g_free(vs);
    if (ok)
        kvm_guest_describe_update(g);
    return ok;
}
