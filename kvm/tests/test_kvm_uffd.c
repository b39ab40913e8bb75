/* Tests of kvm_uffd on plain anonymous memory and plain threads standing in for vCPUs (so
 * they run without /dev/kvm): a touch of a missing page blocks in the kernel until it is
 * placed, each page is requested once, pages placed ahead are never requested, zero pages,
 * blocktime as QEMU defines it, and a free that releases a thread still waiting.
 *
 * Synchronisation is by the module's own request callback and GLib queues, never by
 * sleeping: a "placer" thread answers requests, the way the incoming migration would. */
#include "kvm_uffd.h"

#include <string.h>
#include <sys/mman.h>

#define PAGE  4096u
#define NPAGE 64u

typedef struct {
    GAsyncQueue *req; /* requested pages, as page + 1 */
    uint8_t *mem;
    KvmUffd *u;
    guint64 asked; /* pages requested, bit per page */
} Fix;

static void on_request(void *opaque, unsigned range, uint64_t page)
{
    Fix *f = opaque;
    g_assert_cmpuint(range, ==, 0);
    g_assert_cmpuint(page, <, NPAGE);
    /* once per page; atomic: the test reads it from another thread */
    g_assert_false(__atomic_fetch_or(&f->asked, 1ULL << page, __ATOMIC_SEQ_CST) & (1ULL << page));
    g_async_queue_push(f->req, GSIZE_TO_POINTER(page + 1));
}

static const KvmUffdOps ops = { on_request };

static void fill_pattern(uint8_t *buf, uint64_t page)
{
    for (unsigned i = 0; i < PAGE; i++)
        buf[i] = (uint8_t)(page * 7 + i);
}

static bool setup(Fix *f, unsigned nvcpus)
{
    GError *err = NULL;
    if (!kvm_uffd_available(&err)) {
        g_test_skip(err->message);
        g_error_free(err);
        return false;
    }
    memset(f, 0, sizeof(*f));
    f->req = g_async_queue_new();
    f->mem = mmap(NULL, NPAGE * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_assert_true(f->mem != MAP_FAILED);
    f->u = kvm_uffd_new(nvcpus, &ops, f, &err);
    g_assert_no_error(err);
    g_assert_true(kvm_uffd_register(f->u, f->mem, NPAGE * PAGE, &err));
    g_assert_cmpuint(kvm_uffd_nranges(f->u), ==, 1);
    g_assert_true(kvm_uffd_start(f->u, &err));
    return true;
}

static void teardown(Fix *f)
{
    kvm_uffd_free(f->u);
    munmap(f->mem, NPAGE * PAGE);
    g_async_queue_unref(f->req);
}

/* Answers each request with the page's pattern (odd pages as zero pages) until told to
 * stop. */
static gpointer placer(gpointer data)
{
    Fix *f = data;
    uint8_t buf[PAGE];
    GError *err = NULL;

    for (;;) {
        gpointer p = g_async_queue_pop(f->req);
        if (p == GSIZE_TO_POINTER(G_MAXSIZE))
            break;
        uint64_t page = GPOINTER_TO_SIZE(p) - 1;
        if (page % 2) {
            g_assert_true(kvm_uffd_place_zero(f->u, 0, page, &err));
        } else {
            fill_pattern(buf, page);
            g_assert_true(kvm_uffd_place(f->u, 0, page, buf, &err));
        }
        g_assert_no_error(err);
    }
    return NULL;
}

typedef struct {
    Fix *f;
    unsigned vcpu, first, step;
    bool name;
} Toucher;

/* Reads every step-th page from `first` and checks its content. */
static gpointer toucher(gpointer data)
{
    Toucher *t = data;
    uint8_t want[PAGE];

    if (t->name)
        kvm_uffd_name_vcpu(t->f->u, t->vcpu);
    for (unsigned p = t->first; p < NPAGE; p += t->step) {
        const uint8_t *got = t->f->mem + (size_t)p * PAGE;
        if (p % 2)
            memset(want, 0, PAGE);
        else
            fill_pattern(want, p);
        g_assert_cmpmem(got, PAGE, want, PAGE); /* the first read blocks until placed */
    }
    return NULL;
}

static void stop_placer(Fix *f, GThread *pl)
{
    g_async_queue_push(f->req, GSIZE_TO_POINTER(G_MAXSIZE));
    g_thread_join(pl);
}

/* Two threads read every page: each page is requested exactly once and arrives intact;
 * pages placed before anyone touched them are never requested. */
static void test_missing_pages_block_until_placed(void)
{
    Fix f;
    if (!setup(&f, 2))
        return;
    uint8_t buf[PAGE];
    GError *err = NULL;
    for (unsigned p = 0; p < NPAGE; p += 4) { /* a quarter arrives ahead of any touch */
        fill_pattern(buf, p);
        g_assert_true(kvm_uffd_place(f.u, 0, p, buf, &err));
    }
    g_assert_cmpuint(kvm_uffd_placed(f.u), ==, NPAGE / 4);
    GThread *pl = g_thread_new("placer", placer, &f);
    Toucher t[2] = { { &f, 0, 0, 1, true }, { &f, 1, 1, 2, true } };
    GThread *th[2] = { g_thread_new("vcpu0", toucher, &t[0]),
                       g_thread_new("vcpu1", toucher, &t[1]) };
    for (unsigned i = 0; i < 2; i++)
        g_thread_join(th[i]);
    stop_placer(&f, pl);
    g_assert_cmpuint(kvm_uffd_requests(f.u), ==, NPAGE - NPAGE / 4);
    for (unsigned p = 0; p < NPAGE; p++)
        g_assert_cmpint(!!(__atomic_load_n(&f.asked, __ATOMIC_SEQ_CST) & (1ULL << p)), ==,
                        p % 4 != 0);
    g_assert_cmpuint(kvm_uffd_placed(f.u), ==, NPAGE);
    for (unsigned p = 0; p < NPAGE; p++)
        g_assert_true(kvm_uffd_is_placed(f.u, 0, p));
    /* placing again keeps the first copy */
    memset(buf, 0xee, PAGE);
    g_assert_true(kvm_uffd_place(f.u, 0, 2, buf, &err));
    fill_pattern(buf, 2);
    g_assert_cmpmem(f.mem + 2 * PAGE, PAGE, buf, PAGE);
    teardown(&f);
}

/* Blocktime as QEMU defines it.  Both vCPUs block on their own page; once both requests
 * are in (a request is made after its block is recorded), both are blocked at once, and
 * stay so for 20 ms before the pages are placed: that stretch is the quantity under test,
 * measured by the module with the monotonic clock, so the sleep here is the workload, not
 * a synchronisation.  Total >= 20 ms, each vCPU's sum >= the total.  Then a thread that is
 * no vCPU blocks and gets its page, and no figure moves. */
static void test_blocktime(void)
{
    Fix f;
    if (!setup(&f, 2))
        return;
    Toucher t[2] = { { &f, 0, 40, NPAGE, true }, { &f, 1, 50, NPAGE, true } };
    GThread *th[2] = { g_thread_new("vcpu0", toucher, &t[0]),
                       g_thread_new("vcpu1", toucher, &t[1]) };
    gpointer pages[2] = { g_async_queue_pop(f.req), g_async_queue_pop(f.req) };
    g_usleep(20000);
    uint8_t buf[PAGE];
    GError *err = NULL;
    for (unsigned i = 0; i < 2; i++) {
        uint64_t p = GPOINTER_TO_SIZE(pages[i]) - 1;
        fill_pattern(buf, p);
        g_assert_true(kvm_uffd_place(f.u, 0, p, buf, &err));
    }
    g_thread_join(th[0]);
    g_thread_join(th[1]);
    uint32_t per[2];
    uint32_t all = kvm_uffd_blocktime(f.u, per);
    g_assert_cmpuint(all, >=, 20);
    g_assert_cmpuint(per[0], >=, all);
    g_assert_cmpuint(per[1], >=, all);
    g_assert_cmpuint(kvm_uffd_requests(f.u), ==, 2);

    GThread *pl = g_thread_new("placer", placer, &f);
    Toucher x = { &f, 0, 30, NPAGE, false };
    g_thread_join(g_thread_new("other", toucher, &x));
    stop_placer(&f, pl);
    uint32_t per2[2];
    g_assert_cmpuint(kvm_uffd_blocktime(f.u, per2), ==, all);
    g_assert_cmpmem(per2, sizeof(per2), per, sizeof(per));
    g_assert_cmpuint(kvm_uffd_requests(f.u), ==, 3);
    teardown(&f);
}

static gpointer read_byte(gpointer data)
{
    return GUINT_TO_POINTER(*(volatile uint8_t *)data + 1u);
}

/* Freeing the module while a thread waits for a page releases that thread, which then
 * finds zeros (the kernel's ordinary fault): an owner giving up cannot hang. */
static void test_free_releases_waiters(void)
{
    Fix f;
    if (!setup(&f, 1))
        return;
    GThread *th = g_thread_new("vcpu0", read_byte, f.mem + 2 * PAGE);
    g_assert_cmpuint(GPOINTER_TO_SIZE(g_async_queue_pop(f.req)), ==, 3); /* it waits */
    kvm_uffd_free(f.u);
    g_assert_cmpuint(GPOINTER_TO_UINT(g_thread_join(th)), ==, 1); /* read a zero */
    munmap(f.mem, NPAGE * PAGE);
    g_async_queue_unref(f.req);
}

/* A range the kernel cannot register is a clear error, not a crash. */
static void test_register_errors(void)
{
    Fix f;
    if (!setup(&f, 1))
        return;
    GError *err = NULL;
    KvmUffd *u = kvm_uffd_new(1, &ops, &f, &err);
    g_assert_no_error(err);
    void *ro = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(ro, PAGE); /* nothing mapped there any more */
    g_assert_false(kvm_uffd_register(u, ro, PAGE, &err));
    g_assert_nonnull(strstr(err->message, "cannot register 4096 bytes"));
    g_clear_error(&err);
    g_assert_cmpuint(kvm_uffd_nranges(u), ==, 0);
    kvm_uffd_free(u);
    teardown(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/kvm-uffd/missing-pages-block-until-placed",
                    test_missing_pages_block_until_placed);
    g_test_add_func("/kvm-uffd/blocktime", test_blocktime);
    g_test_add_func("/kvm-uffd/register-errors", test_register_errors);
    g_test_add_func("/kvm-uffd/free-releases-waiters", test_free_releases_waiters);
    return g_test_run();
}
