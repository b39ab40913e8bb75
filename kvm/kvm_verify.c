/* kvm_verify: the integrity check of a (migrated) KVM guest's memory.
 *
 * Run on a paused guest whose registers are loaded (a destination after load_state, or a
 * paused source).  Every page is checked; the error names the first bad page and the
 * count.  The rules, per vCPU range (docs/kvm.md):
 *
 *   first MiB   byte-identical to the image kvm_layout builds (stacks excepted).
 *   marker      QEMU's migration-test rule (all first bytes equal except at most one drop
 *               of exactly 1), made exact with the vCPU's registers: pages before the
 *               sweep cursor hold sweeps+1, the rest hold sweeps (mod 256), the cursor page
 *               may be either (the incb may have run), and bytes 1..4095 are zero.
 *   random,     the write sequence is a pure function of (key, write number), so the host
 *   hotspot     replays the vCPU's completed writes and knows each page's last stamp:
 *               the page must hold exactly that stamp (zero if never written); only the
 *               page of the write in flight may mix the old and new stamp word by word.
 *               A stale page (a dirty page the migration missed), a torn one, one from
 *               another address or any stray byte fails.  Cost: O(writes done + RAM).
 *   idle        pages are zero.   fault: only the first MiB (test-only workload). */
#include "kvm_int.h"

#include "mb_error.h"
#include "mb_util.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

typedef struct {
    KvmGuest *g;
    uint64_t bad;
    uint64_t first_gpa;
    char first[200];
} Report;

static void G_GNUC_PRINTF(3, 4) bad_page(Report *r, uint64_t gpa, const char *fmt, ...)
{
    if (r->bad++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        g_vsnprintf(r->first, sizeof(r->first), fmt, ap);
        va_end(ap);
        r->first_gpa = gpa;
    }
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= KVM_ABI_MIX1;
    x ^= x >> 27;
    x *= KVM_ABI_MIX2;
    x ^= x >> 31;
    return x;
}

static uint64_t mulhi(uint64_t a, uint64_t b)
{
    return (uint64_t)(((unsigned __int128)a * b) >> 64);
}

uint64_t kvm_pick_page(const KvmRange *r, uint64_t s)
{
    uint64_t z = mix(r->key + s * KVM_ABI_GOLD);
    if (!r->nhot)
        return mulhi(z, r->npages);
    if ((uint32_t)z < (uint32_t)r->hotw)
        return mulhi(z, r->nhot);
    return r->nhot + mulhi(z, r->npages - r->nhot);
}

/* The expected u64 at word index w of a page at `gpa` stamped with t (0: never written). */
static uint64_t stamp_word(uint64_t gpa, uint64_t t, unsigned w)
{
    if (t == 0)
        return 0;
    if (w == 0)
        return t;
    if (w == 1)
        return gpa;
    if (w % 64 == 0)
        return mix(((t * KVM_ABI_C1) ^ gpa) + (uint64_t)(w / 64) * KVM_ABI_GOLD);
    return 0;
}

/* Checks one stamped page: every word must match stamp ta, or stamp tb where tb != ta
 * (the write in flight).  Returns the first bad word index or -1. */
static int stamp_check(const uint64_t *p, uint64_t gpa, uint64_t ta, uint64_t tb)
{
    for (unsigned w = 0; w < MB_TARGET_PAGE_SIZE / 8; w++) {
        uint64_t a = stamp_word(gpa, ta, w);
        if (p[w] != a && p[w] != stamp_word(gpa, tb, w))
            return (int)w;
    }
    return -1;
}

static void check_low(Report *r)
{
    KvmGuest *g = r->g;
    uint8_t *img = g_malloc0(KVM_LOW_SIZE);
    kvm_layout_image(&g->spec, img);
    const uint8_t *mem = g->slots[0].hva;
    for (uint64_t page = 0; page < KVM_LOW_SIZE; page += MB_TARGET_PAGE_SIZE) {
        if (memcmp(mem + page, img + page, MB_TARGET_PAGE_SIZE) == 0)
            continue;
        for (uint64_t a = page; a < page + MB_TARGET_PAGE_SIZE; a++)
            if (mem[a] != img[a] && !kvm_layout_volatile(a)) {
                bad_page(r, page,
                         "the first MiB differs from the guest program's image at "
                         "0x%llx (0x%02x, expected 0x%02x)",
                         (unsigned long long)a, mem[a], img[a]);
                break;
            }
    }
    g_free(img);
}

static void check_zero(Report *r, const KvmRange *rg, unsigned v, const char *why)
{
    for (uint64_t i = 0; i < rg->npages; i++) {
        uint64_t gpa = rg->first + i * MB_TARGET_PAGE_SIZE;
        if (!mb_buffer_is_zero(kvm_gpa_host(r->g, gpa), MB_TARGET_PAGE_SIZE))
            bad_page(r, gpa, "vCPU %u %s, but the page is not zero", v, why);
    }
}

static void check_marker(Report *r, const KvmRange *rg, unsigned v, const struct kvm_regs *x)
{
    uint64_t n = rg->npages, end = rg->first + n * MB_TARGET_PAGE_SIZE;
    if (x->r15 != KVM_ABI_LOOP_MAGIC) {
        check_zero(r, rg, v, "had not started its sweep");
        return;
    }
    if (x->r8 != rg->first || x->r9 != end || x->rdi < x->r8 || x->rdi > x->r9 ||
        (x->rdi - x->r8) % MB_TARGET_PAGE_SIZE) {
        bad_page(r, rg->first, "vCPU %u's registers do not describe its marker range", v);
        return;
    }
    uint64_t c = (x->rdi - x->r8) / MB_TARGET_PAGE_SIZE;
    uint8_t hi = (uint8_t)(x->r10 + 1), lo = (uint8_t)x->r10;
    /* Where the +1 prefix may end: the cursor, or one further if the incb already ran;
     * at the end of a sweep, before (all hi) or after (all lo, counter bumped) the inc. */
    uint64_t cand[2] = { c, c + 1 };
    if (c == n) {
        cand[0] = n;
        cand[1] = 0;
    }
    uint64_t miss[2] = { 0, 0 };
    for (uint64_t i = 0; i < n; i++) {
        uint8_t b = kvm_gpa_host(r->g, rg->first + i * MB_TARGET_PAGE_SIZE)[0];
        for (int k = 0; k < 2; k++)
            miss[k] += b != (i < cand[k] ? hi : lo);
    }
    uint64_t bnd = miss[1] < miss[0] ? cand[1] : cand[0];
    for (uint64_t i = 0; i < n; i++) {
        uint64_t gpa = rg->first + i * MB_TARGET_PAGE_SIZE;
        const uint8_t *p = kvm_gpa_host(r->g, gpa);
        uint8_t want = i < bnd ? hi : lo;
        if (p[0] != want)
            bad_page(r, gpa,
                     "marker byte 0x%02x, expected 0x%02x (vCPU %u: %llu sweeps done, "
                     "cursor at page %llu of %llu)",
                     p[0], want, v, (unsigned long long)x->r10, (unsigned long long)c,
                     (unsigned long long)n);
        else if (!mb_buffer_is_zero(p + 1, MB_TARGET_PAGE_SIZE - 1))
            bad_page(r, gpa, "bytes after the marker are not zero (vCPU %u)", v);
    }
}

static void check_random(Report *r, const KvmRange *rg, unsigned v, const struct kvm_regs *x)
{
    if (x->r15 != KVM_ABI_LOOP_MAGIC) {
        check_zero(r, rg, v, "had not started writing");
        return;
    }
    if (x->r8 != rg->first || x->r9 != rg->npages || x->r11 != rg->key || x->r12 != rg->nhot ||
        x->r13 != rg->hotw || x->r14 != rg->mask) {
        bad_page(r, rg->first, "vCPU %u's registers do not describe its workload", v);
        return;
    }
    uint64_t done = x->r10;
    uint64_t *last = g_new0(uint64_t, rg->npages);
    for (uint64_t s = 0; s < done; s++)
        last[kvm_pick_page(rg, s)] = s + 1;
    uint64_t inflight = kvm_pick_page(rg, done);
    for (uint64_t i = 0; i < rg->npages; i++) {
        uint64_t gpa = rg->first + i * MB_TARGET_PAGE_SIZE;
        const uint64_t *p = (const uint64_t *)kvm_gpa_host(r->g, gpa);
        uint64_t tb = i == inflight ? done + 1 : last[i];
        int w = stamp_check(p, gpa, last[i], tb);
        if (w >= 0)
            bad_page(r, gpa,
                     "word %d is 0x%llx, expected 0x%llx (vCPU %u: last write to this "
                     "page was number %llu of %llu)",
                     w, (unsigned long long)p[w],
                     (unsigned long long)stamp_word(gpa, last[i], (unsigned)w), v,
                     (unsigned long long)last[i], (unsigned long long)done);
    }
    g_free(last);
}

bool kvm_verify(KvmGuest *g, GError **err)
{
    if (kvm_vcpus_running(g)) {
        mb_error_set(err, "kvm: verify needs a paused guest");
        return false;
    }
    g_mutex_lock(&g->lock);
    bool ready = g->state_ready;
    g_mutex_unlock(&g->lock);
    if (!ready) {
        mb_error_set(err, "kvm: the guest has no vCPU state yet (load_state first)");
        return false;
    }
    kvm_vcpus_pause(g);
    Report r = { .g = g };
    check_low(&r);
    const KvmSpec *s = &g->spec;
    for (unsigned v = 0; v < s->vcpus; v++) {
        struct kvm_regs x;
        if (ioctl(g->vcpus[v].fd, KVM_GET_REGS, &x) < 0) {
            mb_error_set(err, "kvm: reading vCPU %u's registers failed: %s", v, g_strerror(errno));
            return false;
        }
        KvmRange rg = kvm_layout_range(s, v);
        switch (s->workload) {
        case KVM_ABI_WL_MARKER: check_marker(&r, &rg, v, &x); break;
        case KVM_ABI_WL_RANDOM:
        case KVM_ABI_WL_HOTSPOT: check_random(&r, &rg, v, &x); break;
        case KVM_ABI_WL_IDLE: check_zero(&r, &rg, v, "runs the idle workload"); break;
        default: break;
        }
    }
    if (r.bad == 0)
        return true;
    unsigned slot = (unsigned)(r.first_gpa / g->slots[0].size);
    mb_error_set(err,
                 "kvm: verify found %llu bad page%s; first: block '%s' page 0x%llx "
                 "(guest-physical 0x%llx): %s",
                 (unsigned long long)r.bad, r.bad == 1 ? "" : "s", g->blocks[slot].name,
                 (unsigned long long)((r.first_gpa - g->slots[slot].gpa) / MB_TARGET_PAGE_SIZE),
                 (unsigned long long)r.first_gpa, r.first);
    return false;
}
