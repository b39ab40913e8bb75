/* trace_record_methods: how the recorder sees a process's writes, three ways, and what it
 * makes of the written pages.
 *
 *   uffd-wp     userfaultfd async write-protect + the PAGEMAP_SCAN ioctl (Linux 6.7+):
 *               exact sets of written pages, re-protected atomically by the scan itself;
 *   soft-dirty  clear_refs + pagemap bit 55, where the kernel has CONFIG_MEM_SOFT_DIRTY;
 *   mem-hash    fingerprints of every present page read through /proc/PID/mem: always
 *               works, sees changed pages only (a same-value rewrite is invisible).
 * Each has a self-test run in the recorder's own process (trace_record_selftest).
 *
 * Written pages are read once to give them a content class for the simulator: zero, sparse
 * (at most 2 of 8 chunks changed since the last look), random (byte entropy > 7 bits) or
 * text (anything compressible).  It is an approximation, documented in docs/trace-format.md. */
#include "trace_record_impl.h"

#include "mb_bitmap.h"
#include "mb_error.h"
#include "mb_util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Newer than the build machine's headers (Debian 12 ships 6.1 uapi headers). */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
struct rec_page_region {
    uint64_t start, end, categories;
};
struct rec_pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted,
        category_mask, category_anyof_mask, return_mask;
};
#define REC_PAGEMAP_SCAN          _IOWR('f', 16, struct rec_pm_scan_arg)
#define REC_PM_SCAN_WP_MATCHING   (1 << 0)
#define REC_PM_SCAN_CHECK_WPASYNC (1 << 1)
#define REC_PAGE_IS_WRITTEN       (1 << 1)
#define REC_PAGE_IS_FILE          (1 << 2)
#define REC_PAGE_IS_PRESENT       (1 << 3)
#define REC_PAGE_IS_PFNZERO       (1 << 5)

#define PAGE        4096u
#define BUF_PAGES   256u /* read buffer: 1 MiB */
#define VEC_LEN     512u
#define PM_PRESENT  (1ULL << 63)
#define PM_SWAPPED  (1ULL << 62)
#define PM_SOFTDIRT (1ULL << 55)

void rec_state_init(RecState *s, pid_t pid, TraceMethod method)
{
    memset(s, 0, sizeof(*s));
    s->pid = pid;
    s->method = method;
    s->mem_fd = s->pagemap_fd = s->clear_refs_fd = s->uffd = -1;
    s->regions = g_array_new(FALSE, FALSE, sizeof(RecRegion));
    s->registered = g_array_new(FALSE, FALSE, sizeof(RecRegion));
    s->extents = g_array_new(FALSE, FALSE, sizeof(RecExtent));
    s->events = g_array_new(FALSE, FALSE, sizeof(TraceEvent));
    s->buf = g_malloc(BUF_PAGES * PAGE);
    s->pm = g_new(uint64_t, BUF_PAGES);
    s->vec = g_new(struct rec_page_region, VEC_LEN);
}

static size_t ext_pages(const RecExtent *e)
{
    return (size_t)((e->end - e->start) / PAGE);
}

void rec_state_clear(RecState *s)
{
    int fds[] = { s->mem_fd, s->pagemap_fd, s->clear_refs_fd, s->uffd };
    for (unsigned i = 0; i < G_N_ELEMENTS(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    for (guint i = 0; s->extents && i < s->extents->len; i++) {
        RecExtent *e = &g_array_index(s->extents, RecExtent, i);
        if (e->fp)
            munmap(e->fp, ext_pages(e) * REC_FP_WORDS * 4);
        g_free(e->seen);
        g_free(e->written);
    }
    if (s->regions) {
        g_array_unref(s->regions);
        g_array_unref(s->registered);
        g_array_unref(s->extents);
        g_array_unref(s->events);
    }
    g_free(s->buf);
    g_free(s->pm);
    g_free(s->vec);
    memset(s, 0, sizeof(*s));
    s->mem_fd = s->pagemap_fd = s->clear_refs_fd = s->uffd = -1;
}

static int open_proc(pid_t pid, const char *what, int flags, GError **err)
{
    char path[64];
    g_snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        mb_error_set(err, "cannot open %s: %s", path, g_strerror(errno));
    return fd;
}

bool rec_open_proc(RecState *s, GError **err)
{
    int *fds[] = { &s->mem_fd, &s->pagemap_fd, &s->clear_refs_fd };
    for (unsigned i = 0; i < G_N_ELEMENTS(fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
    if ((s->mem_fd = open_proc(s->pid, "mem", O_RDONLY, err)) < 0 ||
        (s->pagemap_fd = open_proc(s->pid, "pagemap", O_RDONLY, err)) < 0)
        return false;
    if (s->method == TRACE_METHOD_SOFT_DIRTY &&
        (s->clear_refs_fd = open_proc(s->pid, "clear_refs", O_WRONLY, err)) < 0)
        return false;
    return true;
}

/* ---- the extent map ---- */

static void add_extent(RecState *s, guint at, uint64_t start, uint64_t end, const RecRegion *r)
{
    RecExtent e = { 0 };
    e.start = start;
    e.end = end;
    e.block = r->shared ? REC_BLOCK_SHARED : REC_BLOCK_RAM;
    e.page0 = s->next_page[e.block];
    s->next_page[e.block] += (end - start) / PAGE;
    e.seen = g_new0(uint64_t, MB_BITS_TO_WORDS(ext_pages(&e)));
    e.written = g_new0(uint64_t, MB_BITS_TO_WORDS(ext_pages(&e)));
    g_strlcpy(e.name, r->name, sizeof(e.name));
    g_array_insert_val(s->extents, at, e);
}

/* Covers [r->start, r->end) with extents, creating them for the gaps. */
static void cover(RecState *s, const RecRegion *r)
{
    uint64_t a = r->start;
    guint i = 0;
    while (i < s->extents->len && g_array_index(s->extents, RecExtent, i).end <= a)
        i++;
    while (a < r->end) {
        const RecExtent *e = i < s->extents->len ? &g_array_index(s->extents, RecExtent, i) : NULL;
        if (e && e->start <= a) {
            a = e->end;
            i++;
            continue;
        }
        uint64_t gap_end = e && e->start < r->end ? e->start : r->end;
        add_extent(s, i, a, gap_end, r);
        a = gap_end;
        i++;
    }
}

static RecExtent *find_extent(RecState *s, uint64_t addr)
{
    guint lo = 0, hi = s->extents->len;
    while (lo < hi) {
        guint mid = (lo + hi) / 2;
        RecExtent *e = &g_array_index(s->extents, RecExtent, mid);
        if (addr < e->start)
            hi = mid;
        else if (addr >= e->end)
            lo = mid + 1;
        else
            return e;
    }
    return NULL;
}

void rec_describe_map(const RecState *s, GString *out)
{
    for (guint i = 0; i < s->extents->len; i++) {
        const RecExtent *e = &g_array_index(s->extents, RecExtent, i);
        if (i == 2000) {
            g_string_append_printf(out, "map: ... %u more\n", s->extents->len - i);
            break;
        }
        g_string_append_printf(out,
                               "map: 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER
                               "x block %s page %" G_GUINT64_FORMAT " %s\n",
                               e->start, e->end, e->block == REC_BLOCK_RAM ? "ram" : "shared",
                               e->page0, *e->name ? e->name : "[anon]");
    }
}

bool rec_read_maps(RecState *s, GError **err)
{
    char path[64];
    gchar *text;
    GError *e = NULL;

    g_snprintf(path, sizeof(path), "/proc/%d/maps", (int)s->pid);
    if (!g_file_get_contents(path, &text, NULL, &e)) {
        mb_error_set(err, "cannot read %s: %s", path, e->message);
        g_error_free(e);
        return false;
    }
    g_array_set_size(s->regions, 0);
    gchar **lines = g_strsplit(text, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        unsigned long long a, b;
        char perms[8] = "", name[256] = "";
        int n = sscanf(lines[i], "%llx-%llx %7s %*s %*s %*s %255[^\n]", &a, &b, perms, name);
        if (n < 3 || perms[1] != 'w' || b <= a)
            continue;
        g_strstrip(name);
        /* Kernel-provided or device mappings: not the process's memory to track. */
        if (!strcmp(name, "[vvar]") || !strcmp(name, "[vdso]") || !strcmp(name, "[vsyscall]") ||
            !strcmp(name, "[vvar_vclock]") ||
            (g_str_has_prefix(name, "/dev/") && !g_str_has_prefix(name, "/dev/zero") &&
             !g_str_has_prefix(name, "/dev/shm/")))
            continue;
        RecRegion r = { a, b, perms[3] == 's', "" };
        g_strlcpy(r.name, name, sizeof(r.name));
        g_array_append_val(s->regions, r);
        cover(s, &r);
    }
    g_strfreev(lines);
    g_free(text);
    return true;
}

/* ---- classification ---- */

static void fingerprint(const uint8_t *p, uint32_t *fp)
{
    for (unsigned c = 0; c < REC_FP_WORDS; c++) {
        uint64_t h = 0x9e3779b97f4a7c15ULL * (c + 1);
        const uint8_t *q = p + c * (PAGE / REC_FP_WORDS);
        for (unsigned i = 0; i < PAGE / REC_FP_WORDS; i += 8) {
            uint64_t w;
            memcpy(&w, q + i, 8);
            h = (h ^ w) * 0xff51afd7ed558ccdULL;
            h ^= h >> 29;
        }
        fp[c] = (uint32_t)(h ^ (h >> 32));
    }
}

static int classify(const uint8_t *p, const uint32_t *old_fp, const uint32_t *fp)
{
    if (mb_buffer_is_zero(p, PAGE))
        return TRACE_CLASS_ZERO;
    if (old_fp) {
        unsigned changed = 0;
        for (unsigned c = 0; c < REC_FP_WORDS; c++)
            changed += old_fp[c] != fp[c];
        if (changed <= 2)
            return TRACE_CLASS_SPARSE;
    }
    unsigned hist[256] = { 0 };
    for (unsigned i = 0; i < PAGE; i++)
        hist[p[i]]++;
    double h = 0;
    for (unsigned i = 0; i < 256; i++)
        if (hist[i])
            h -= hist[i] * log2((double)hist[i] / PAGE);
    return h / PAGE > 7.0 ? TRACE_CLASS_RANDOM : TRACE_CLASS_TEXT;
}

static void emit(RecState *s, RecExtent *e, uint64_t idx, int cls)
{
    TraceEvent ev = { e->page0 + idx, 0, (uint16_t)e->block, (uint8_t)cls };
    if (!mb_bit_test(e->written, idx)) {
        mb_bit_set(e->written, idx);
        s->distinct++;
    }
    g_array_append_val(s->events, ev);
}

static uint32_t *fp_of(RecExtent *e, uint64_t idx)
{
    if (!e->fp) {
        void *p = mmap(NULL, ext_pages(e) * REC_FP_WORDS * 4, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        g_assert(p != MAP_FAILED);
        e->fp = p;
    }
    return e->fp + idx * REC_FP_WORDS;
}

/* Reads pages [a, b) of one extent.  With `detect`, pages whose fingerprint changed are
 * reported (mem-hash); otherwise every page is reported as written (uffd, soft-dirty).
 * Unreadable pages are reported with class "keep" when not detecting. */
static void read_pages(RecState *s, RecExtent *e, uint64_t a, uint64_t b, bool detect)
{
    while (a < b) {
        size_t n = (size_t)MIN((b - a) / PAGE, (uint64_t)BUF_PAGES);
        ssize_t got = pread(s->mem_fd, s->buf, n * PAGE, (off_t)a);
        size_t ok = got > 0 ? (size_t)got / PAGE : 0;
        size_t adv = ok ? ok : 1; /* an unreadable page is skipped alone */
        for (size_t i = 0; i < adv; i++) {
            uint64_t idx = (a - e->start) / PAGE + i;
            if (i >= ok) {
                if (!detect && !s->baseline)
                    emit(s, e, idx, TRACE_CLASS_KEEP);
                continue;
            }
            const uint8_t *p = s->buf + i * PAGE;
            uint32_t fp[REC_FP_WORDS], *old = fp_of(e, idx);
            bool had = mb_bit_test(e->seen, idx);
            fingerprint(p, fp);
            bool changed = had ? memcmp(old, fp, sizeof(fp)) != 0 : !mb_buffer_is_zero(p, PAGE);
            if (!s->baseline && (!detect || changed))
                emit(s, e, idx, classify(p, had ? old : NULL, fp));
            memcpy(old, fp, sizeof(fp));
            mb_bit_set(e->seen, idx);
        }
        a += adv * PAGE;
    }
}

/* Reports written pages in [a, b) (any extents). */
static void written_range(RecState *s, uint64_t a, uint64_t b, bool detect)
{
    while (a < b) {
        RecExtent *e = find_extent(s, a);
        if (!e) { /* not covered: skip to the next extent */
            guint i = 0;
            while (i < s->extents->len && g_array_index(s->extents, RecExtent, i).start <= a)
                i++;
            if (i == s->extents->len)
                return;
            a = g_array_index(s->extents, RecExtent, i).start;
            continue;
        }
        uint64_t end = MIN(b, e->end);
        read_pages(s, e, a, end, detect);
        a = end;
    }
}

/* ---- userfaultfd write-protect ---- */

/* One PAGEMAP_SCAN pass over a region: pages matching `mask` (bits in `inverted` must be
 * clear) are reported when `report`, and write-protected again when `protect`. */
static bool scan(RecState *s, const RecRegion *r, uint64_t mask, uint64_t inverted, bool protect,
                 bool report, int *err_no)
{
    uint64_t a = r->start;
    while (a < r->end) {
        struct rec_pm_scan_arg arg = { 0 };
        arg.size = sizeof(arg);
        arg.flags = REC_PM_SCAN_CHECK_WPASYNC | (protect ? REC_PM_SCAN_WP_MATCHING : 0);
        arg.start = a;
        arg.end = r->end;
        arg.vec = (uint64_t)(uintptr_t)s->vec;
        arg.vec_len = VEC_LEN;
        arg.category_mask = mask;
        arg.category_inverted = inverted;
        arg.return_mask = REC_PAGE_IS_WRITTEN;
        long n = ioctl(s->pagemap_fd, REC_PAGEMAP_SCAN, &arg);
        if (n < 0) {
            *err_no = errno;
            return false;
        }
        const struct rec_page_region *v = s->vec;
        for (long i = 0; report && i < n; i++)
            written_range(s, v[i].start, v[i].end, false);
        if (arg.walk_end <= a)
            break;
        a = arg.walk_end;
    }
    return true;
}

/* Pages written since the last scan (a never-populated page counts as written until it is
 * protected once, hence the zero-page exclusion), re-protected by the same ioctl. */
static bool scan_written(RecState *s, const RecRegion *r, bool report, int *err_no)
{
    return scan(s, r, REC_PAGE_IS_WRITTEN | REC_PAGE_IS_PFNZERO, REC_PAGE_IS_PFNZERO, true, report,
                err_no);
}

/* A mapping met after the start: its pages that are present were written since it was
 * mapped (anonymous memory appears on a write; a read maps the zero page, excluded, and so
 * are file pages of private mappings, which a write turns into anonymous ones).  Report
 * those, then protect the whole mapping, holes included.  A write between the two calls
 * (microseconds) is missed: the price of not stopping the process. */
static bool adopt_region(RecState *s, const RecRegion *r, bool report, int *err_no)
{
    uint64_t mask = REC_PAGE_IS_PRESENT | REC_PAGE_IS_WRITTEN | REC_PAGE_IS_PFNZERO;
    uint64_t inverted = REC_PAGE_IS_PFNZERO;
    if (!r->shared) {
        mask |= REC_PAGE_IS_FILE;
        inverted |= REC_PAGE_IS_FILE;
    }
    return scan(s, r, mask, inverted, false, report, err_no) && scan_written(s, r, false, err_no);
}

static bool same_region(const RecRegion *a, const RecRegion *b)
{
    return a->start == b->start && a->end == b->end;
}

/* Registers the mappings not registered yet and adopts them (see adopt_region). */
static void register_new(RecState *s, bool report)
{
    GArray *now = g_array_new(FALSE, FALSE, sizeof(RecRegion));
    for (guint i = 0; i < s->regions->len; i++) {
        RecRegion *r = &g_array_index(s->regions, RecRegion, i);
        bool known = false;
        for (guint j = 0; j < s->registered->len && !known; j++)
            known = same_region(r, &g_array_index(s->registered, RecRegion, j));
        if (!known) {
            struct uffdio_register reg = { .range = { r->start, r->end - r->start },
                                           .mode = UFFDIO_REGISTER_MODE_WP };
            int e;
            if (ioctl(s->uffd, UFFDIO_REGISTER, &reg) != 0 || !adopt_region(s, r, report, &e)) {
                s->register_failures++;
                continue;
            }
        }
        g_array_append_val(now, *r);
    }
    g_array_unref(s->registered);
    s->registered = now;
}

bool rec_uffd_attach(RecState *s, int uffd, GError **err)
{
    struct uffdio_api api = { .api = UFFD_API,
                              .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
    if (s->uffd >= 0)
        close(s->uffd);
    s->uffd = uffd;
    g_array_set_size(s->registered, 0);
    if (ioctl(uffd, UFFDIO_API, &api) != 0) {
        mb_error_set(err, "userfaultfd: async write-protect is not available: %s",
                     g_strerror(errno));
        return false;
    }
    if (!rec_read_maps(s, err))
        return false;
    /* Protect everything present now; what is written from here on is reported. */
    register_new(s, false);
    return true;
}

static bool sample_uffd(RecState *s, GError **err)
{
    guint old = s->registered->len;
    GArray *before = g_array_copy(s->registered);
    register_new(s, !s->baseline);
    for (guint i = 0; i < s->registered->len; i++) {
        int e = 0;
        RecRegion *r = &g_array_index(s->registered, RecRegion, i);
        bool was = false;
        for (guint j = 0; j < old && !was; j++)
            was = same_region(r, &g_array_index(before, RecRegion, j));
        if (!was) /* adopted just now */
            continue;
        if (!scan_written(s, r, !s->baseline, &e)) {
            /* The mapping changed under us (unmapped, remapped) or the process is exiting:
             * register it afresh next time.  Anything else is a real failure. */
            if (e != EPERM && e != EINVAL && e != EFAULT && e != ENOENT && e != ESRCH) {
                mb_error_set(err, "PAGEMAP_SCAN failed: %s", g_strerror(e));
                g_array_unref(before);
                return false;
            }
            g_array_remove_index(s->registered, i--);
        }
    }
    g_array_unref(before);
    return true;
}

/* ---- soft-dirty and page hashing: walk the pagemap ---- */

static bool sample_pagemap(RecState *s, bool soft_dirty, GError **err)
{
    for (guint i = 0; i < s->regions->len; i++) {
        const RecRegion *r = &g_array_index(s->regions, RecRegion, i);
        for (uint64_t a = r->start; a < r->end;) {
            size_t n = (size_t)MIN((r->end - a) / PAGE, (uint64_t)BUF_PAGES);
            ssize_t got = pread(s->pagemap_fd, s->pm, n * 8, (off_t)(a / PAGE * 8));
            if (got <= 0)
                break; /* unmapped meanwhile */
            n = (size_t)got / 8;
            for (size_t k = 0; k < n;) {
                uint64_t want = soft_dirty ? PM_SOFTDIRT : (PM_PRESENT | PM_SWAPPED);
                if (!(s->pm[k] & want)) {
                    k++;
                    continue;
                }
                size_t run = k + 1;
                while (run < n && (s->pm[run] & want))
                    run++;
                written_range(s, a + k * PAGE, a + run * PAGE, !soft_dirty);
                k = run;
            }
            a += n * PAGE;
        }
    }
    if (soft_dirty &&
        (lseek(s->clear_refs_fd, 0, SEEK_SET) != 0 || write(s->clear_refs_fd, "4", 1) != 1)) {
        mb_error_set(err, "cannot clear soft-dirty bits: %s", g_strerror(errno));
        return false;
    }
    return true;
}

bool rec_sample(RecState *s, GError **err)
{
    g_array_set_size(s->events, 0);
    if (!rec_read_maps(s, err))
        return false;
    switch (s->method) {
    case TRACE_METHOD_UFFD_WP: return sample_uffd(s, err);
    case TRACE_METHOD_SOFT_DIRTY: return sample_pagemap(s, true, err);
    default: return sample_pagemap(s, false, err);
    }
}

/* ---- self-tests, in the recorder's own process ---- */

static bool selftest_uffd(GError **err)
{
    uint8_t *m = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    bool ok = false;
    struct uffdio_api api = { .api = UFFD_API,
                              .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
    struct uffdio_register reg = { .range = { (uint64_t)(uintptr_t)m, 8 * PAGE },
                                   .mode = UFFDIO_REGISTER_MODE_WP };
    struct uffdio_writeprotect wp = { .range = reg.range, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
    struct rec_page_region v[8];
    struct rec_pm_scan_arg a = { 0 };

    if (m == MAP_FAILED || uffd < 0 || pm < 0) {
        mb_error_set(err, "uffd-wp: %s",
                     uffd < 0 ? "userfaultfd() failed (not permitted here?)" : "setup failed");
        goto out;
    }
    m[0] = m[2 * PAGE] = 1; /* populated before protection */
    if (ioctl(uffd, UFFDIO_API, &api) != 0 || ioctl(uffd, UFFDIO_REGISTER, &reg) != 0 ||
        ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) != 0) {
        mb_error_set(err, "uffd-wp: async write-protect not supported: %s", g_strerror(errno));
        goto out;
    }
    m[2 * PAGE] = 2; /* written after: pages 2 and 5 */
    m[5 * PAGE] = 3;
    a.size = sizeof(a);
    a.flags = REC_PM_SCAN_WP_MATCHING | REC_PM_SCAN_CHECK_WPASYNC;
    a.start = reg.range.start;
    a.end = reg.range.start + 8 * PAGE;
    a.vec = (uint64_t)(uintptr_t)v;
    a.vec_len = 8;
    a.category_mask = REC_PAGE_IS_WRITTEN;
    a.return_mask = REC_PAGE_IS_WRITTEN;
    long n = ioctl(pm, REC_PAGEMAP_SCAN, &a);
    if (n < 0) {
        mb_error_set(err, "uffd-wp: PAGEMAP_SCAN not supported (Linux 6.7+): %s",
                     g_strerror(errno));
        goto out;
    }
    ok = n == 2 && v[0].start == a.start + 2 * PAGE && v[0].end == a.start + 3 * PAGE &&
         v[1].start == a.start + 5 * PAGE && v[1].end == a.start + 6 * PAGE;
    if (!ok)
        mb_error_set(err, "uffd-wp: PAGEMAP_SCAN reported %ld regions instead of pages 2 and 5", n);
out:
    if (pm >= 0)
        close(pm);
    if (uffd >= 0)
        close(uffd);
    if (m != MAP_FAILED)
        munmap(m, 8 * PAGE);
    return ok;
}

static uint64_t self_pagemap(int pm, const void *p)
{
    uint64_t e = 0;
    if (pread(pm, &e, 8, (off_t)((uintptr_t)p / PAGE * 8)) != 8)
        return 0;
    return e;
}

static bool selftest_soft_dirty(GError **err)
{
    uint8_t *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    int cr = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    bool ok = false;

    if (m != MAP_FAILED && pm >= 0 && cr >= 0) {
        m[0] = m[PAGE] = 1;
        if (write(cr, "4", 1) == 1) {
            m[PAGE] = 2;
            ok = (self_pagemap(pm, m + PAGE) & PM_SOFTDIRT) && !(self_pagemap(pm, m) & PM_SOFTDIRT);
        }
    }
    if (!ok)
        mb_error_set(err, "soft-dirty: the kernel does not set pagemap bit 55 after a write "
                          "(CONFIG_MEM_SOFT_DIRTY is off?)");
    if (cr >= 0)
        close(cr);
    if (pm >= 0)
        close(pm);
    if (m != MAP_FAILED)
        munmap(m, 2 * PAGE);
    return ok;
}

static bool selftest_mem_hash(GError **err)
{
    static const char probe[] = "migbench mem-hash self-test";
    char buf[sizeof(probe)];
    int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && pread(fd, buf, sizeof(buf), (off_t)(uintptr_t)probe) == sizeof(buf) &&
              !memcmp(buf, probe, sizeof(buf));
    if (fd >= 0)
        close(fd);
    if (!ok)
        mb_error_set(err, "mem-hash: cannot read /proc/self/mem");
    return ok;
}

bool trace_record_selftest(TraceMethod method, GError **err)
{
    switch (method) {
    case TRACE_METHOD_UFFD_WP: return selftest_uffd(err);
    case TRACE_METHOD_SOFT_DIRTY: return selftest_soft_dirty(err);
    case TRACE_METHOD_MEM_HASH: return selftest_mem_hash(err);
    default:
        mb_error_set(err, "'%s' is not a recording method (uffd-wp, soft-dirty, mem-hash)",
                     trace_method_name(method) ? trace_method_name(method) : "?");
        return false;
    }
}
